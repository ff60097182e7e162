// The usual engine worker's first script (a classic worker: the page starts it with
// `new Worker("worker-boot.js?name=...")`): its life told to the page (`worker-life.js`), then the
// engine's WebAssembly (one thread, WebGPU and the CPU).
importScripts("./worker-life.js");
importScripts("./worker.js");
wasm_bindgen("./worker_bg.wasm");

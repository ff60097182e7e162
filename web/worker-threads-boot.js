// The threaded CPU worker's first script (a module worker: the page starts it with
// `new Worker("worker-threads-boot.js?name=...&threads=N", { type: "module" })` on a cross-origin
// isolated page only). Its life is told to the page as the usual worker's is (`worker-life.js`);
// then it instantiates the engine built with shared memory (`crates/engine-threads`), starts a pool
// of N threads (Web Workers sharing that memory, wasm-bindgen-rayon), and only then the engine, so
// that no command runs before the pool is there. Whatever fails here ends the worker with a reason,
// and the page goes on with the usual single-threaded worker.
import "./worker-life.js";

const threads = Number(new URLSearchParams(self.location.search).get("threads"));

async function startThreaded() {
  if (!self.crossOriginIsolated) {
    throw new Error("this page is not cross-origin isolated, so it cannot share memory between threads");
  }
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`the page asked for ${threads} threads`);
  }
  const engine = await import("./worker-threads.js");
  await engine.default({ module_or_path: new URL("./worker-threads_bg.wasm", import.meta.url) });
  // The pool's threads are Web Workers that load this module again: one that cannot never answers,
  // so the pool is given a minute.
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`its ${threads} threads did not start within a minute`)), 60_000);
  });
  await Promise.race([engine.initThreadPool(threads), late]);
  clearTimeout(timer);
  engine.start(self.tripletlabName, threads);
}

startThreaded().catch((err) => {
  self.tripletlabEnd(`The threaded CPU engine could not start (${err && err.message ? err.message : err}).`);
});

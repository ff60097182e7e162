//! The threaded CPU worker: the same engine as the usual worker (`crates/engine`), built without
//! WebGPU and with burn flex's parallel loops (and our depthwise kernels) on a rayon thread pool
//! whose threads are Web Workers sharing this module's memory.
//!
//! `web/worker-threads-boot.js` starts it only on a cross-origin isolated page (shared memory
//! needs it): it instantiates the module, calls [`init_thread_pool`] with the browser's core
//! count, and then [`start`]. The usual single-threaded worker is the page's fallback.

#[cfg(target_arch = "wasm32")]
use wasm_bindgen::prelude::wasm_bindgen;

#[cfg(target_arch = "wasm32")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Start the engine once the thread pool of `threads` threads is up: from here on the worker
/// answers the page's commands, and names its backend with the pool's size.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub fn start(threads: usize) {
    tripletlab_engine::events::set_cpu_threads(threads);
    tripletlab_engine::run();
}

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

/// Start the engine once the thread pool is up (`threads` asked for): from here on the worker
/// answers the page's commands, and names its backend with the pool's own size. `name` is the
/// worker's (its Web Lock and BroadcastChannel): a panic on one of the pool's threads, which have
/// no page script of their own, is told to the page on that channel.
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen]
pub fn start(name: String, threads: usize) {
    let pool = rayon::current_num_threads();
    if pool != threads {
        console_warning(&format!("the thread pool has {pool} threads, {threads} were asked for"));
    }
    tripletlab_engine::events::set_cpu_threads(pool);
    tripletlab_engine::run_named(name);
}

/// A line in the worker's console.
#[cfg(target_arch = "wasm32")]
fn console_warning(text: &str) {
    #[wasm_bindgen]
    extern "C" {
        #[wasm_bindgen(js_namespace = console, js_name = warn)]
        fn console_warn(text: &str);
    }
    console_warn(text);
}

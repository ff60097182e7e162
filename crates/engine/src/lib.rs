//! The engine: a dedicated Web Worker that owns the burn devices and every tensor. Trunk builds
//! it as the page's worker (see `index.html`).
//!
//! Each command runs as its own future on the worker's event loop, so a long computation never
//! blocks the page, and the worker can answer a command with several events over time.
//!
//! - `events` needs no browser: the loop's state, failures, and every event made from the core's
//!   results. It compiles natively too, and its tests run with the native suite.
//! - The rest is the browser's host, built for wasm32 only: `worker` (the commands), `session`
//!   (a run's context, the channel to the page, the pretrained weights' download), `devices` (the burn devices), `training` (how a run starts, full or
//!   fast, and what it does to evaluate and save), `drive` (the one run loop), `explore` (the
//!   map and searches), `dataset`, `store` (IndexedDB), `cache` and `net` (downloads), `adapter`
//!   (WebGPU's adapter), `warm` (a run's GPU kernels compiled ahead).

pub mod events;

#[cfg(target_arch = "wasm32")]
mod adapter;
#[cfg(target_arch = "wasm32")]
mod cache;
#[cfg(target_arch = "wasm32")]
mod dataset;
#[cfg(target_arch = "wasm32")]
mod devices;
#[cfg(target_arch = "wasm32")]
mod drive;
#[cfg(target_arch = "wasm32")]
mod explore;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
mod pictures;
#[cfg(target_arch = "wasm32")]
mod session;
#[cfg(target_arch = "wasm32")]
mod store;
#[cfg(target_arch = "wasm32")]
mod training;
#[cfg(target_arch = "wasm32")]
mod warm;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
pub use worker::Engine;

/// The worker's name (its Web Lock and BroadcastChannel), where its threads need it: set by the
/// threaded worker, whose pool threads have no `tripletlabEnd` of their own.
#[cfg(target_arch = "wasm32")]
static WORKER_NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// [`run`] in the threaded worker, which knows its name: a panic on one of its pool's threads is
/// told to the page on the worker's BroadcastChannel (the engine's thread waits for that thread
/// for ever, so the page must end it).
#[cfg(target_arch = "wasm32")]
pub fn run_named(name: String) {
    let _ = WORKER_NAME.set(name);
    run();
}

/// Start the engine in this worker: the usual worker's `main` (`src/main.rs`) and the threaded
/// worker's `start` (`crates/engine-threads`, once its thread pool is up) both call it.
#[cfg(target_arch = "wasm32")]
pub fn run() {
    use gloo_worker::Registrable;
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        end_worker(&format!("The engine hit an internal error and stopped: {info}"));
    }));
    Engine::registrar().register();
}

/// After a panic the WebAssembly instance cannot go on: the worker's boot script
/// (`web/worker-life.js`) tells the page why and closes this worker, and the page starts a fresh
/// one.
#[cfg(target_arch = "wasm32")]
fn end_worker(reason: &str) {
    use wasm_bindgen::{JsCast, JsValue};
    let end = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("tripletlabEnd"))
        .ok()
        .and_then(|end| end.dyn_into::<js_sys::Function>().ok());
    if let Some(end) = end {
        let _ = end.call1(&JsValue::NULL, &JsValue::from_str(reason));
    } else if let Some(name) = WORKER_NAME.get() {
        // A thread of the pool: tell the page on the worker's channel.
        let global = js_sys::global();
        let channel = js_sys::Reflect::get(&global, &JsValue::from_str("BroadcastChannel"))
            .ok()
            .and_then(|constructor| constructor.dyn_into::<js_sys::Function>().ok())
            .and_then(|constructor| {
                js_sys::Reflect::construct(&constructor, &js_sys::Array::of1(&JsValue::from_str(name))).ok()
            });
        let post = channel.as_ref().and_then(|channel| {
            js_sys::Reflect::get(channel, &JsValue::from_str("postMessage"))
                .ok()
                .and_then(|post| post.dyn_into::<js_sys::Function>().ok())
        });
        if let (Some(channel), Some(post)) = (channel, post) {
            let message = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&message, &JsValue::from_str("reason"), &JsValue::from_str(reason));
            let _ = post.call1(&channel, &message);
        }
    }
}

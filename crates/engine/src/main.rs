//! The engine worker's entry point: Trunk builds it as a Web Worker (see `index.html`), started by
//! `web/worker-boot.js`.

#[cfg(target_arch = "wasm32")]
fn main() {
    use gloo_worker::Registrable;
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        end_worker(&format!("The engine hit an internal error and stopped: {info}"));
    }));
    tripletlab_engine::Engine::registrar().register();
}

/// After a panic the WebAssembly instance cannot go on: `worker-boot.js` tells the page why and
/// closes this worker, and the page starts a fresh one.
#[cfg(target_arch = "wasm32")]
fn end_worker(reason: &str) {
    use wasm_bindgen::{JsCast, JsValue};
    let end = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("tripletlabEnd"))
        .ok()
        .and_then(|end| end.dyn_into::<js_sys::Function>().ok());
    if let Some(end) = end {
        let _ = end.call1(&JsValue::NULL, &JsValue::from_str(reason));
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the Triplet Lab worker is built for wasm32 by Trunk: run `cargo xtask serve`");
}

//! The engine worker's entry point: Trunk builds it as a Web Worker (see `index.html`).

#[cfg(target_arch = "wasm32")]
fn main() {
    use gloo_worker::Registrable;
    console_error_panic_hook::set_once();
    tripletlab_engine::Engine::registrar().register();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the Triplet Lab worker is built for wasm32 by Trunk: run `cargo xtask serve`");
}

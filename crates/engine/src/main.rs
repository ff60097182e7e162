//! The usual engine worker's entry point: Trunk builds it as a Web Worker (see `index.html`),
//! started by `web/worker-boot.js`. The threaded CPU worker is `crates/engine-threads`.

#[cfg(target_arch = "wasm32")]
fn main() {
    tripletlab_engine::run();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the Triplet Lab worker is built for wasm32 by Trunk: run `cargo xtask serve`");
}

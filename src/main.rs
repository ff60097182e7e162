//! The page's entry point: mounts the Leptos app. Trunk builds it (see `index.html`).

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(tripletlab_web::app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the Triplet Lab page is built for wasm32 by Trunk: run `cargo xtask serve`");
}

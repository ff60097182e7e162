//! `cargo xtask threads-worker`: the threaded CPU worker (`crates/engine-threads`), the engine
//! built a second time for WebAssembly with shared memory and atomics, so that burn flex's
//! parallel loops and our depthwise kernels run on a rayon pool of Web Workers (wasm-bindgen-rayon).
//!
//! The standard library of the wasm target is built without atomics, so this build rebuilds it
//! (`-Z build-std`), which needs the pinned nightly toolchain ([`tools::NIGHTLY`]) and its
//! `rust-src`; the rest of the project stays on the pinned stable toolchain. It is built without
//! burn's wgpu backend (the page starts it for the CPU only), which keeps the second build to
//! burn flex alone. Trunk runs this after every build (the `post_build` hook in `Trunk.toml`),
//! writing next to the usual worker; `--out DIR` writes elsewhere.

use std::path::{Path, PathBuf};

use crate::run::{self, Failure, command};
use crate::tools;

/// What every crate of the build adds to Rust's wasm32 defaults: atomics and bulk memory (what
/// threads need), simd128 (as the usual worker, `.cargo/config.toml`).
const RUSTFLAGS: &str = "-C target-feature=+atomics,+bulk-memory,+simd128";
/// The link of the module itself (given to that crate alone, so changing them rebuilds nothing
/// else): a memory imported and shared between the threads, room for 4 GiB of it (a shared memory
/// declares its maximum up front; training at width 1.0 needs over 1 GiB), and the thread-local
/// storage symbols wasm-bindgen sets up in each thread. rustc 1.97 passes none of these for
/// `+atomics` (measured: without them the module exported an unshared memory, and the pool's
/// `postMessage` of it failed with "#<Memory> could not be cloned").
const LINK_ARGS: [&str; 7] = [
    "--shared-memory",
    "--import-memory",
    "--max-memory=4294967296",
    "--export=__wasm_init_tls",
    "--export=__tls_size",
    "--export=__tls_align",
    "--export=__tls_base",
];
/// The package, and the name its files get next to the page (`worker-threads.js`, `_bg.wasm`).
const PACKAGE: &str = "tripletlab-engine-threads";
/// Set (to anything), the build is skipped: a Trunk build without the nightly toolchain or the
/// network it needs. The page then finds no threaded worker and says so, on one thread.
const SKIP_ENV: &str = "TRIPLETLAB_NO_THREADS";
const OUT_NAME: &str = "worker-threads";

/// `cargo xtask threads-worker [--out DIR]`: DIR defaults to Trunk's staging folder when Trunk
/// runs it, else `dist/`.
pub fn threads_worker(root: &Path, args: &[String]) -> Result<(), Failure> {
    let out = match args {
        [] => std::env::var_os("TRUNK_STAGING_DIR").map_or_else(|| root.join("dist"), PathBuf::from),
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => return Err(Failure::new("usage: cargo xtask threads-worker [--out DIR]")),
    };
    if std::env::var_os(SKIP_ENV).is_some() {
        println!("xtask: {SKIP_ENV} is set: no threaded worker (the page runs its single-threaded one)");
        return Ok(());
    }
    // Not `ensure_web_tools`: from Trunk's hook, reinstalling Trunk itself is not ours to do.
    tools::ensure_wasm_bindgen(root)?;
    tools::ensure_nightly(root, true)?;
    build(root, &out)
}

fn build(root: &Path, out: &Path) -> Result<(), Failure> {
    // A target folder of its own: another compiler and other flags share nothing with the rest.
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from).join("threads");
    let nightly = format!("+{}", tools::NIGHTLY);
    run::status(
        command("cargo", root)
            .args([nightly.as_str(), "rustc", "--package", PACKAGE, "--lib", "--release"])
            .args(["--target", tools::WASM_TARGET, "-Z", "build-std=panic_abort,std", "--"])
            .args(LINK_ARGS.iter().flat_map(|arg| ["-C".to_string(), format!("link-arg={arg}")]))
            .env("RUSTFLAGS", RUSTFLAGS)
            .env("CARGO_TARGET_DIR", &target),
    )?;
    let wasm = target.join(tools::WASM_TARGET).join("release").join(format!("{}.wasm", PACKAGE.replace('-', "_")));
    run::status(
        command("wasm-bindgen", root)
            .args(["--target", "web", "--no-typescript", "--out-name", OUT_NAME, "--out-dir"])
            .arg(out)
            .arg(&wasm),
    )
}

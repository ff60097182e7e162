//! Installing what the commands need, only when it is missing: idempotent by construction.

use std::fs;
use std::path::Path;

use crate::run::{self, Failure, command, stdout_of};

/// Trunk 0.22 needs rustc >= 1.96.1; 0.21.14 builds with the pinned toolchain.
const TRUNK_VERSION: &str = "0.21.14";
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The one nightly toolchain the project uses, pinned: the threaded worker's build of the standard
/// library with atomics (`xtask/src/threads.rs`, with `rust-src`) and cargo-fuzz's sanitizers.
pub const NIGHTLY: &str = "nightly-2026-05-20";
/// The Vulkan driver (lavapipe) for the native wgpu tests.
const LAVAPIPE_ICD: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";
pub const CHROMIUM: &str = "/usr/bin/chromium";
const VULKAN_LOADER: &str = "/usr/lib/x86_64-linux-gnu/libvulkan.so.1";
const CXX: &str = "/usr/bin/g++";

/// The wasm target, Trunk, and the wasm-bindgen CLI of exactly the lockfile's version.
pub fn ensure_web_tools(root: &Path) -> Result<(), Failure> {
    let installed = stdout_of(command("rustup", root).args(["target", "list", "--installed"]));
    if !installed.is_some_and(|list| list.lines().any(|line| line.trim() == WASM_TARGET)) {
        run::status(command("rustup", root).args(["target", "add", WASM_TARGET]))?;
    }

    let trunk = stdout_of(command("trunk", root).arg("--version"));
    if trunk.as_deref().map(str::trim) != Some(&format!("trunk {TRUNK_VERSION}")) {
        run::status(command("cargo", root).args([
            "install",
            "trunk",
            "--version",
            TRUNK_VERSION,
            "--locked",
            "--force",
        ]))?;
    }

    ensure_wasm_bindgen(root)
}

/// The wasm-bindgen CLI of exactly the lockfile's version.
pub fn ensure_wasm_bindgen(root: &Path) -> Result<(), Failure> {
    let wanted = lockfile_version(root, "wasm-bindgen")?;
    let bindgen = stdout_of(command("wasm-bindgen", root).arg("--version"));
    if bindgen.as_deref().map(str::trim) != Some(&format!("wasm-bindgen {wanted}")) {
        // `--locked` fails for this crate: one locked dependency is no longer on crates.io.
        run::status(command("cargo", root).args(["install", "wasm-bindgen-cli", "--version", &wanted, "--force"]))?;
    }
    Ok(())
}

/// The pinned nightly toolchain, with the standard library's sources when `rust_src`.
pub fn ensure_nightly(root: &Path, rust_src: bool) -> Result<(), Failure> {
    let installed =
        stdout_of(command("rustup", root).args(["component", "list", "--installed", "--toolchain", NIGHTLY]));
    let has =
        |component: &str| installed.as_ref().is_some_and(|list| list.lines().any(|line| line.starts_with(component)));
    if !has("rustc") || (rust_src && !has("rust-src")) {
        let mut install = command("rustup", root);
        install.args(["toolchain", "install", NIGHTLY, "--profile", "minimal"]);
        if rust_src {
            install.args(["--component", "rust-src"]);
        }
        run::status(&mut install)?;
    }
    Ok(())
}

/// Chromium, Mesa's Vulkan drivers and a C++ compiler from apt, and the npm packages of `tests/`.
pub fn ensure_test_tools(root: &Path) -> Result<(), Failure> {
    let missing: Vec<&str> = [
        (CHROMIUM, "chromium"),
        (LAVAPIPE_ICD, "mesa-vulkan-drivers"),
        (VULKAN_LOADER, "libvulkan1"),
        // libfuzzer-sys compiles libFuzzer (C++) even for the corpus replay on stable.
        (CXX, "g++"),
    ]
    .into_iter()
    .filter(|(path, _)| !Path::new(path).exists())
    .map(|(_, package)| package)
    .collect();
    if !missing.is_empty() {
        apt_install(root, &missing)?;
    }

    ensure_npm_packages(root)
}

/// The npm packages of `tests/` (playwright-core, axe-core, binaryen's wasm-opt), exactly as
/// `tests/package-lock.json` pins them.
pub fn ensure_npm_packages(root: &Path) -> Result<(), Failure> {
    let tests = root.join("tests");
    for package in ["playwright-core", "axe-core", "binaryen"] {
        let wanted = npm_locked_version(&tests, package)?;
        let have = fs::read_to_string(tests.join("node_modules").join(package).join("package.json")).ok();
        if !have.is_some_and(|manifest| manifest.contains(&format!("\"version\": \"{wanted}\""))) {
            return run::status(command("npm", &tests).args(["ci", "--no-audit", "--no-fund"]));
        }
    }
    Ok(())
}

/// binaryen's `wasm-opt` from npm (a WebAssembly build of it, run by Node), after
/// [`ensure_npm_packages`].
pub fn wasm_opt(root: &Path) -> std::process::Command {
    let mut node = command("node", root);
    node.arg("--max-old-space-size=8192").arg(root.join("tests/node_modules/binaryen/bin/wasm-opt"));
    node
}

fn apt_install(root: &Path, packages: &[&str]) -> Result<(), Failure> {
    let is_root = stdout_of(command("id", root).arg("-u")).is_some_and(|uid| uid.trim() == "0");
    let apt = |args: &[&str]| {
        let mut cmd = if is_root { command("apt-get", root) } else { command("sudo", root) };
        if !is_root {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        run::status(&mut cmd)
    };
    apt(&["update"])?;
    let mut args = vec!["install", "-y"];
    args.extend_from_slice(packages);
    apt(&args)
        .map_err(|err| Failure::new(format!("{err}\ninstall these Debian packages by hand: {}", packages.join(" "))))
}

/// The version of `package` that `Cargo.lock` resolved.
fn lockfile_version(root: &Path, package: &str) -> Result<String, Failure> {
    let lock = fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|err| Failure::new(format!("cannot read Cargo.lock: {err}")))?;
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == name_line
            && let Some(version) = lines.next().and_then(|next| next.strip_prefix("version = "))
        {
            return Ok(version.trim_matches('"').to_string());
        }
    }
    Err(Failure::new(format!("Cargo.lock has no package {package}")))
}

/// The version of `package` pinned in `dir/package-lock.json`.
fn npm_locked_version(dir: &Path, package: &str) -> Result<String, Failure> {
    let lock = fs::read_to_string(dir.join("package-lock.json"))
        .map_err(|err| Failure::new(format!("cannot read tests/package-lock.json: {err}")))?;
    let key = format!("\"node_modules/{package}\": {{");
    lock.split_once(&key)
        .and_then(|(_, rest)| rest.split_once("\"version\": \""))
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(version, _)| version.to_string())
        .ok_or_else(|| Failure::new(format!("tests/package-lock.json does not pin {package}")))
}

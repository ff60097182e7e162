//! `cargo xtask site --out DIR`: the page as a folder of static files that any web host serves,
//! at a root or under a sub-path, offline after the first visit.
//!
//! The folder is the release build (`dist/`, relative URLs), the datasets (real CIFAR-10 by the
//! same rules as `serve`, and the synthetic set), the pretrained weights with their `weights.json`
//! (other weights with `TRIPLETLAB_WEIGHTS=FILE`), a `_headers` file for Netlify/Cloudflare-style
//! hosts, and the service worker (`web/sw.js`) with this build's version and files written in.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::run::{self, Failure, command};
use crate::{data, tools};

/// Other weights for the site (a safetensors file in our layout), instead of the shipped ones.
const WEIGHTS_ENV: &str = "TRIPLETLAB_WEIGHTS";
/// What those weights are, in a sentence the page shows; required with `TRIPLETLAB_WEIGHTS`.
const WEIGHTS_DESCRIPTION_ENV: &str = "TRIPLETLAB_WEIGHTS_DESCRIPTION";
/// The service worker, as Trunk copies it from `web/sw.js`.
const SERVICE_WORKER: &str = "sw.js";
const HEADERS: &str = "_headers";

/// `cargo xtask site --out DIR`.
pub fn site(root: &Path, args: &[String]) -> Result<(), Failure> {
    let (out, as_built) = match args {
        [flag, dir] if flag == "--out" => (PathBuf::from(dir), false),
        [flag, dir, as_built] if flag == "--out" && as_built == "--as-built" => (PathBuf::from(dir), true),
        _ => return Err(Failure::new("usage: cargo xtask site --out DIR [--as-built]")),
    };
    let out = std::path::absolute(&out).map_err(Failure::at(&out))?;
    if !as_built {
        tools::ensure_web_tools(root)?;
        // The datasets by `serve`'s rules, into public/data/ (where a downloaded archive stays for
        // the next build), which Trunk copies into dist/.
        data::prepare_for_serving(root, &root.join(data::PUBLIC_DATA))?;
        run::status(command("trunk", root).args(["build", "--release"]))?;
    }
    let built = assemble(root, &out)?;
    println!(
        "xtask: the site is in {} ({} files, {:.1} MB, version {}).\n\
         Copy the folder's contents to any static web host, at its root or under a sub-path; a \
         _headers file is there for Netlify and Cloudflare Pages (nginx: see the README).",
        out.display(),
        built.files,
        built.bytes as f64 / 1e6,
        built.version
    );
    if !built.real_cifar {
        println!(
            "xtask: this site serves the SYNTHETIC dataset only (generated shapes, not CIFAR-10): set \
             {} to a cifar-10-binary.tar.gz and build it again for real CIFAR-10",
            data::CIFAR_ENV
        );
    }
    Ok(())
}

/// What [`assemble`] made.
pub struct Built {
    pub files: usize,
    pub bytes: u64,
    pub version: String,
    pub real_cifar: bool,
}

/// Make the site in `out` from the release build in `dist/` (built already) and the datasets in
/// `dist/public/data`, without a downloaded archive (not for visitors).
pub fn assemble(root: &Path, out: &Path) -> Result<Built, Failure> {
    let dist = root.join("dist");
    if !dist.join("index.html").is_file() {
        return Err(Failure::new("dist/index.html is missing: run `trunk build --release` first"));
    }
    let e2e = dist.join("e2e");
    if out.starts_with(&dist) && !out.starts_with(&e2e) || dist.starts_with(out) {
        return Err(Failure::new(format!("{}: choose a folder outside dist/ (Trunk clears dist/)", out.display())));
    }
    clear(out)?;
    let built = fill(root, &dist, out);
    if built.is_err() {
        // Half a site is no site: leave no folder that a host could serve, or that the next
        // build would refuse to clear.
        let _ = fs::remove_dir_all(out);
    }
    built
}

fn fill(root: &Path, dist: &Path, out: &Path) -> Result<Built, Failure> {
    copy_tree(dist, out, &[dist.join("e2e"), dist.join(data::PUBLIC_DATA).join("downloads")])?;
    let real_cifar = out.join(data::PUBLIC_DATA).join("cifar-10/manifest.json").is_file();
    other_weights(root, out)?;
    only_the_sent_weights(out)?;
    optimise_worker(root, out)?;
    let files = shell_files(out)?;
    let version = version_of(&files);
    write_service_worker(out, &version, &files)?;
    write(&out.join(HEADERS), &headers(&files))?;
    let (count, bytes) = totals(out)?;
    Ok(Built { files: count, bytes, version, real_cifar })
}

/// An empty `out`, refusing to delete a folder that is not an earlier site.
fn clear(out: &Path) -> Result<(), Failure> {
    let entries = match fs::read_dir(out) {
        Ok(entries) => entries.count(),
        Err(_) => 0,
    };
    if entries > 0 {
        let earlier_site = [SERVICE_WORKER, HEADERS, "index.html"].iter().all(|name| out.join(name).is_file());
        if !earlier_site {
            return Err(Failure::new(format!(
                "{} is not empty and not an earlier site build: choose an empty or new folder",
                out.display()
            )));
        }
        fs::remove_dir_all(out).map_err(|err| Failure::new(format!("cannot clear {}: {err}", out.display())))?;
    }
    fs::create_dir_all(out).map_err(|err| Failure::new(format!("cannot create {}: {err}", out.display())))
}

fn copy_tree(from: &Path, to: &Path, skip: &[PathBuf]) -> Result<(), Failure> {
    fs::create_dir_all(to).map_err(Failure::at(&to))?;
    for entry in fs::read_dir(from).map_err(Failure::at(&from))? {
        let path = entry.map_err(Failure::at(&from))?.path();
        if skip.contains(&path) {
            continue;
        }
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_tree(&path, &target, skip)?;
        } else {
            fs::copy(&path, &target).map_err(Failure::at(&path))?;
        }
    }
    Ok(())
}

/// wasm-opt's level for the worker (the engine, with burn): measured in docs/performance.md.
const WASM_OPT_LEVEL: &str = "-Oz";
/// Another level for a measurement (`-O3`, `-Os`, `-Oz`, or `none`), as the benchmark compares them.
const WASM_OPT_ENV: &str = "TRIPLETLAB_WASM_OPT";
/// The WebAssembly features the worker is built with (Rust's wasm32 defaults and +simd128).
const WASM_FEATURES: [&str; 7] = [
    "--enable-simd",
    "--enable-bulk-memory",
    "--enable-nontrapping-float-to-int",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-reference-types",
    "--enable-multivalue",
];

/// The worker's WebAssembly through binaryen's wasm-opt. It takes minutes on burn's code, so the
/// result is kept in the target directory under the input's SHA-256 and reused while the worker
/// is unchanged. (The page's own wasm is left as Trunk wrote it: index.html carries its
/// integrity hash, and it is 0.3 MB compressed.)
fn optimise_worker(root: &Path, out: &Path) -> Result<(), Failure> {
    let level = std::env::var(WASM_OPT_ENV).unwrap_or_else(|_| WASM_OPT_LEVEL.to_string());
    match level.as_str() {
        "none" => return Ok(()),
        "-O1" | "-O2" | "-O3" | "-O4" | "-Os" | "-Oz" => {}
        other => return Err(Failure::new(format!("{WASM_OPT_ENV}={other}: use -O1 to -O4, -Os, -Oz or none"))),
    }
    let worker = out.join("worker_bg.wasm");
    let bytes = fs::read(&worker).map_err(Failure::at(&worker))?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let cache = target.join("wasm-opt");
    let key = &hex(&Sha256::digest(&bytes))[..16];
    let optimised = cache.join(format!("worker_bg-{key}{level}.wasm"));
    if !optimised.is_file() {
        tools::ensure_npm_packages(root)?;
        fs::create_dir_all(&cache).map_err(Failure::at(&cache))?;
        let partial = optimised.with_extension("partial");
        run::status(tools::wasm_opt(root).arg(&level).args(WASM_FEATURES).arg(&worker).arg("-o").arg(&partial))?;
        fs::rename(&partial, &optimised).map_err(Failure::at(&optimised))?;
    }
    fs::copy(&optimised, &worker).map_err(Failure::at(&worker))?;
    let after = fs::metadata(&worker).map_err(Failure::at(&worker))?.len();
    println!(
        "xtask: worker wasm {:.1} MB -> {:.1} MB (wasm-opt {level})",
        bytes.len() as f64 / 1e6,
        after as f64 / 1e6
    );
    Ok(())
}

/// `TRIPLETLAB_WEIGHTS=FILE`: FILE replaces the shipped weights, checked by the CLI, which writes
/// an f16 copy (`tripletlab weights --half`, what the page downloads) and the `weights.json`
/// that names it.
fn other_weights(root: &Path, out: &Path) -> Result<(), Failure> {
    let Ok(file) = std::env::var(WEIGHTS_ENV) else { return Ok(()) };
    let Ok(description) = std::env::var(WEIGHTS_DESCRIPTION_ENV) else {
        return Err(Failure::new(format!(
            "{WEIGHTS_ENV} is set: set {WEIGHTS_DESCRIPTION_ENV} too, to say what the weights are \
             (the page shows it: where they were trained, on what, at which size)"
        )));
    };
    let source = PathBuf::from(&file);
    let name = source.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_string();
    // The shipped files beside it go in `only_the_sent_weights`, with FILE's f32 copy.
    let target = out.join("public/weights").join(&name);
    fs::copy(&source, &target).map_err(|err| Failure::new(format!("{WEIGHTS_ENV}={file}: {err}")))?;
    let target_text = target.display().to_string();
    let mut cmd = command("cargo", root);
    cmd.args(["run", "--quiet", "-p", "tripletlab-cli", "--", "weights", &target_text, "--description", &description]);
    run::status(cmd.arg("--half"))
}

/// The site keeps only the weights file its `weights.json` names (the f16 copy): the f32 file
/// beside it in `public/weights/` is the CLI's, and no page fetches it.
fn only_the_sent_weights(out: &Path) -> Result<(), Failure> {
    let sent = out.join(data::page_weights(out)?);
    let folder = out.join("public/weights");
    for entry in fs::read_dir(&folder).map_err(Failure::at(&folder))? {
        let path = entry.map_err(Failure::at(&folder))?.path();
        if path.extension().is_some_and(|ext| ext == "safetensors") && path != sent {
            fs::remove_file(&path).map_err(Failure::at(&path))?;
        }
    }
    Ok(())
}

/// Every file the service worker precaches, as (path relative to the site, SHA-256): all but the
/// worker itself, `_headers`, the weights and the shards (the engine caches those, verified).
fn shell_files(out: &Path) -> Result<Vec<(String, String)>, Failure> {
    let mut files = Vec::new();
    walk(out, out, &mut |path, relative| {
        let skipped = relative == SERVICE_WORKER
            || relative == HEADERS
            || relative.ends_with(".safetensors")
            || relative.starts_with("public/data/") && !relative.ends_with(".json");
        if !skipped {
            let bytes = fs::read(path).map_err(Failure::at(&path))?;
            files.push((relative.to_string(), hex(&Sha256::digest(&bytes))));
        }
        Ok(())
    })?;
    files.sort();
    Ok(files)
}

fn walk(root: &Path, dir: &Path, visit: &mut dyn FnMut(&Path, &str) -> Result<(), Failure>) -> Result<(), Failure> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(Failure::at(dir))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(Failure::at(dir))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(root, &path, visit)?;
        } else {
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            visit(&path, &relative)?;
        }
    }
    Ok(())
}

fn totals(out: &Path) -> Result<(usize, u64), Failure> {
    let (mut count, mut bytes) = (0, 0);
    walk(out, out, &mut |path, _| {
        count += 1;
        bytes += fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
        Ok(())
    })?;
    Ok((count, bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The build's version: a hash of every precached file's name and hash, so any change to the page,
/// the datasets' manifests or the weights' manifest makes a new one.
fn version_of(files: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    for (path, sha) in files {
        hasher.update(format!("{path} {sha}\n"));
    }
    hex(&hasher.finalize())[..16].to_string()
}

fn write_service_worker(out: &Path, version: &str, files: &[(String, String)]) -> Result<(), Failure> {
    let path = out.join(SERVICE_WORKER);
    let template = fs::read_to_string(&path)
        .map_err(|err| Failure::new(format!("{}: {err} (index.html copies web/sw.js)", path.display())))?;
    let list = serde_json::to_string(&files.iter().map(|(path, sha)| [path, sha]).collect::<Vec<_>>())
        .map_err(|err| Failure::new(err.to_string()))?;
    let (empty_version, empty_files) = ("const VERSION = \"\";", "const FILES = [];");
    if !template.contains(empty_version) || !template.contains(empty_files) {
        return Err(Failure::new(format!("web/sw.js no longer has `{empty_version}` and `{empty_files}` to fill in")));
    }
    let filled = template
        .replace(empty_version, &format!("const VERSION = \"{version}\";"))
        .replace(empty_files, &format!("const FILES = {list};"));
    write(&path, &filled)
}

/// Netlify/Cloudflare Pages headers: Trunk's hashed files never change under their name (a year,
/// immutable); everything else keeps the hosts' default, which revalidates on each use (the service
/// worker included, so a new deployment is seen on the next visit). COOP and COEP on every file:
/// the page is cross-origin isolated, so on the CPU it can train with a thread per core (the
/// threaded worker shares its memory between threads).
fn headers(files: &[(String, String)]) -> String {
    let mut text = String::from(
        "# Written by `cargo xtask site` for Netlify and Cloudflare Pages (paths from the site's root).\n\
         /*\n  X-Content-Type-Options: nosniff\n  Cross-Origin-Opener-Policy: same-origin\n  \
         Cross-Origin-Embedder-Policy: require-corp\n",
    );
    for (path, _) in files.iter().filter(|(path, _)| is_hashed(path)) {
        text.push_str(&format!("/{path}\n  Cache-Control: public, max-age=31536000, immutable\n"));
    }
    text
}

/// Trunk's content-hashed names: `name-<hash>.ext` or `name-<hash>_bg.wasm`, at the top, where the
/// hash is a u64 in hex without leading zeros (so 8 to 16 digits in practice).
fn is_hashed(path: &str) -> bool {
    let stem = path.rsplit_once('.').map_or(path, |(stem, _)| stem);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    !path.contains('/')
        && stem
            .rsplit_once('-')
            .is_some_and(|(_, hash)| (8..=16).contains(&hash.len()) && hash.chars().all(|c| c.is_ascii_hexdigit()))
}

fn write(path: &Path, text: &str) -> Result<(), Failure> {
    fs::write(path, text).map_err(Failure::at(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunks_hashed_names_are_told_from_the_rest() {
        for hashed in [
            "tripletlab-web-33b3c40e8da88a4f.js",
            "tripletlab-web-33b3c40e8da88a4f_bg.wasm",
            "main-a1edb1429a075519.css",
            "main-c47e2ef96d38712.css",
        ] {
            assert!(is_hashed(hashed), "{hashed}");
        }
        for plain in [
            "worker.js",
            "worker_bg.wasm",
            "index.html",
            "public/boot.js",
            "public/data/x-33b3c40e8da88a4f.json",
            "shapes.json",
        ] {
            assert!(!is_hashed(plain), "{plain}");
        }
    }

    #[test]
    fn the_version_changes_with_any_file() {
        let files = vec![("a.js".to_string(), "00".to_string()), ("b.wasm".to_string(), "11".to_string())];
        let mut changed = files.clone();
        changed[1].1 = "12".into();
        assert_eq!(version_of(&files).len(), 16);
        assert_eq!(version_of(&files), version_of(&files.clone()));
        assert_ne!(version_of(&files), version_of(&changed));
    }

    #[test]
    fn the_headers_isolate_every_file_and_keep_hashed_ones_a_year() {
        let files = vec![
            ("tripletlab-web-33b3c40e8da88a4f_bg.wasm".to_string(), "00".to_string()),
            ("worker-threads_bg.wasm".to_string(), "11".to_string()),
        ];
        let text = headers(&files);
        let all = text.split("/*\n").nth(1).and_then(|rest| rest.split("\n/").next()).unwrap_or_default();
        for line in [
            "X-Content-Type-Options: nosniff",
            "Cross-Origin-Opener-Policy: same-origin",
            "Cross-Origin-Embedder-Policy: require-corp",
        ] {
            assert!(all.lines().any(|l| l.trim() == line), "{line} for every path in:\n{text}");
        }
        assert!(text.contains(
            "/tripletlab-web-33b3c40e8da88a4f_bg.wasm\n  Cache-Control: public, max-age=31536000, immutable"
        ));
        assert!(!text.contains("/worker-threads_bg.wasm"), "an unhashed name is revalidated:\n{text}");
    }
}

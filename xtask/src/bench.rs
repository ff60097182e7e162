//! `cargo xtask bench`: the same workload on every backend it can reach, as one table (and JSON in
//! target/bench/bench.json). It prints figures; it never passes or fails on them.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use crate::run::{self, Failure, command};
use crate::{data, quality, site, tools};

/// One row of the table.
struct Row {
    name: String,
    config: String,
    triplets_per_second: f64,
    ms_per_step: f64,
    gflop_per_second: f64,
    images_per_second: Option<f64>,
    /// Kernel dispatches (none on the CPU) and host read-backs per training step, where the row's
    /// script counts them (native: both; page: dispatches on WebGPU).
    per_step: Option<(Option<f64>, Option<f64>)>,
}

pub fn bench(root: &Path) -> Result<(), Failure> {
    tools::ensure_web_tools(root)?;
    // Chromium, the lavapipe Vulkan driver and the npm packages of tests/, as for the tests.
    tools::ensure_test_tools(root)?;
    let out = root.join("target").join("bench");
    fs::create_dir_all(&out).map_err(Failure::at(&out))?;
    let mut rows = Vec::new();
    let mut flops = std::collections::BTreeMap::new();

    // Native: the CLI's `speed`, release build (what a training run should use: the dev profile of
    // the tests is about half as fast), flex and wgpu at the recipe's size, flex also at the page's
    // WebGPU-row size (for comparison and its FLOP count); flex in the dev profile, for the
    // difference; and flex on one thread (`RAYON_NUM_THREADS=1`), what a second core gives, beside
    // the page's one and several threads below.
    for (backend, width, batch, steps, release, one_thread) in [
        ("flex", "1", "64", "5", true, false),
        ("flex", "1", "64", "5", true, true),
        ("wgpu", "1", "64", "2", true, false),
        ("flex", "0.35", "16", "5", true, false),
        ("flex", "1", "64", "5", false, false),
    ] {
        let profile = if release { "release" } else { "dev" };
        let threads = if one_thread { "-1-thread" } else { "" };
        let json = out.join(format!("native-{backend}-{width}-{batch}-{profile}{threads}.json"));
        let json_text = json.display().to_string();
        let args = ["--backend", backend, "--width", width, "--batch", batch, "--steps", steps, "--json", &json_text];
        let mut cargo = command("cargo", root);
        cargo.args(["run", "--quiet"]);
        if release {
            cargo.arg("--release");
        }
        if one_thread {
            cargo.env("RAYON_NUM_THREADS", "1");
        }
        let ran = run::status(cargo.args(["-p", "tripletlab-cli", "--", "speed"]).args(args));
        if let Err(err) = ran {
            println!("xtask: native {backend} skipped: {err}");
            continue;
        }
        let report = read_json(&json)?;
        let per_triplet = number(&report, &["training_gflops_per_triplet"]);
        flops.insert(width.to_string(), per_triplet);
        rows.push(Row {
            name: format!(
                "native {backend}{}{}",
                if release { "" } else { ", dev profile (the tests' build)" },
                if one_thread { ", one thread" } else { "" }
            ),
            config: format!("width {width}, batch {batch}"),
            triplets_per_second: number(&report, &["triplets_per_second"]),
            ms_per_step: number(&report, &["ms_per_step", "median"]),
            gflop_per_second: number(&report, &["training_gflop_per_second"]),
            images_per_second: Some(number(&report, &["inference_images_per_second"])),
            per_step: Some((report["dispatches_per_step"].as_f64(), report["readbacks_per_step"].as_f64())),
        });
    }

    // The tutorial's own Keras code on the same machine, when a Python with TensorFlow is there.
    if let Some(row) = keras_row(root, &out, flops.get("1").copied().unwrap_or(f64::NAN))? {
        rows.push(row);
    }

    // In the page: the built site with 2,000 synthetic images, driven by tests/bench/studio-speed.mjs.
    // The same build as a hosted site (`cargo xtask site`: the worker through wasm-opt), for its
    // transfer sizes and a CPU row of its own. The CPU once more on a cross-origin isolated page: the
    // threaded worker, a thread per core.
    run::status(command("trunk", root).args(["build", "--release"]))?;
    data::prepare_synthetic(root, "dist/public/data/synthetic-shapes", 2, 1000)?;
    let site_dir = out.join("site");
    site::assemble(root, &site_dir)?;
    let site_text = site_dir.display().to_string();
    let mut page = Vec::new();
    for (backend, width, batch, steps, site, isolated) in [
        ("cpu", "1", "64", "3", false, false),
        ("cpu", "1", "64", "3", false, true),
        ("cpu", "1", "64", "3", true, false),
        ("webgpu", "0.35", "16", "2", false, false),
    ] {
        let mut node = command("node", &root.join("tests"));
        node.args([
            "bench/studio-speed.mjs",
            "--backend",
            backend,
            "--width",
            width,
            "--batch",
            batch,
            "--steps",
            steps,
        ]);
        if site {
            node.args(["--root", &site_text]);
        }
        if isolated {
            node.arg("--isolated");
        }
        let Some(stdout) = run::stdout_of(&mut node) else {
            println!("xtask: page {backend} skipped: the benchmark script failed");
            continue;
        };
        for line in stdout.lines().filter(|line| line.starts_with('{')) {
            let report: Value = serde_json::from_str(line).map_err(|err| Failure::new(format!("page bench: {err}")))?;
            let tps = number(&report, &["triplets_per_second", "median"]);
            let threads = report["cpu_threads"].as_u64().unwrap_or(1);
            rows.push(Row {
                name: format!(
                    "page {}{}",
                    match (backend, threads) {
                        ("cpu", 1) => "CPU (flex in wasm, one thread)".to_string(),
                        ("cpu", threads) => format!("CPU (flex in wasm, {threads} threads: isolated page)"),
                        _ => "WebGPU (SwiftShader)".to_string(),
                    },
                    if site { ", site build (wasm-opt)" } else { "" }
                ),
                config: format!("width {width}, batch {batch}"),
                triplets_per_second: tps,
                ms_per_step: 1e3 * batch.parse::<f64>().unwrap_or(1.0) / tps,
                gflop_per_second: tps * flops.get(width).copied().unwrap_or(f64::NAN),
                images_per_second: None,
                per_step: Some((report["dispatches_per_step"].as_f64(), None)),
            });
            page.push(report);
        }
    }

    let sizes = transfer_sizes(root, &site_dir);
    println!(
        "\n| row | config | triplets/s | ms/step | GFLOP/s | inference images/s | dispatches / read-backs a step |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for row in &rows {
        let images = row.images_per_second.map_or("-".to_string(), |v| format!("{v:.0}"));
        let per_step = row.per_step.map_or("-".to_string(), |(dispatches, readbacks)| {
            let dispatches = dispatches.map_or("none (CPU)".to_string(), |d| format!("{d:.0}"));
            format!("{dispatches} / {}", readbacks.map_or("-".to_string(), |r| format!("{r:.1}")))
        });
        println!(
            "| {} | {} | {:.1} | {:.0} | {:.2} | {images} | {per_step} |",
            row.name, row.config, row.triplets_per_second, row.ms_per_step, row.gflop_per_second
        );
    }
    println!("\n| file | raw bytes | gzip -9 bytes |\n|---|---:|---:|");
    for (file, raw, gzip) in &sizes {
        println!("| {file} | {raw} | {gzip} |");
    }
    let (raw, gzip) = sizes.iter().fold((0, 0), |(raw, gzip), (_, r, g)| (raw + r, gzip + g));
    println!("| total (the site's first visit) | {raw} | {gzip} |");
    for report in &page {
        println!(
            "page {}: first step {} ms after navigation (first visit), {} ms (second visit)",
            report["backend"], report["first_step_ms_first_visit"], report["first_step_ms_second_visit"]
        );
    }
    let summary = json!({
        "rows": rows.iter().map(|row| json!({
            "name": row.name,
            "config": row.config,
            "triplets_per_second": row.triplets_per_second,
            "ms_per_step": row.ms_per_step,
            "gflop_per_second": row.gflop_per_second,
            "inference_images_per_second": row.images_per_second,
            "dispatches_per_step": row.per_step.and_then(|(dispatches, _)| dispatches),
            "readbacks_per_step": row.per_step.and_then(|(_, readbacks)| readbacks),
        })).collect::<Vec<_>>(),
        "training_gflops_per_triplet": flops,
        "page": page,
        "transfer": sizes.iter().map(|(file, raw, gzip)| json!({"file": file, "raw": raw, "gzip": gzip})).collect::<Vec<_>>(),
    });
    let path = out.join("bench.json");
    let text = serde_json::to_string_pretty(&summary).map_err(|err| Failure::new(err.to_string()))?;
    fs::write(&path, text).map_err(Failure::at(&path))?;
    println!("xtask: wrote {}", path.display());
    Ok(())
}

/// `tools/keras_speed.py` at the recipe's size, with the Python of `cargo xtask bench quality`
/// (`TRIPLETLAB_PYTHON`, else `python3`); `None`, said, when it has no TensorFlow.
fn keras_row(root: &Path, out: &Path, gflops_per_triplet: f64) -> Result<Option<Row>, Failure> {
    let Some(python) = quality::python_with_keras(root, "the Keras row") else { return Ok(None) };
    let json = out.join("keras.json");
    let json_text = json.display().to_string();
    run::status(command(&python, root).args([
        "tools/keras_speed.py",
        "--batch",
        "64",
        "--steps",
        "20",
        "--json",
        &json_text,
    ]))?;
    let report = read_json(&json)?;
    let tps = number(&report, &["triplets_per_second"]);
    Ok(Some(Row {
        name: format!("Keras {} (TensorFlow CPU)", report["tensorflow"].as_str().unwrap_or("?")),
        config: "width 1, batch 64".to_string(),
        triplets_per_second: tps,
        ms_per_step: number(&report, &["ms_per_step"]),
        gflop_per_second: tps * gflops_per_triplet,
        images_per_second: None,
        per_step: None,
    }))
}

fn read_json(path: &Path) -> Result<Value, Failure> {
    let text = fs::read_to_string(path).map_err(Failure::at(&path))?;
    serde_json::from_str(&text).map_err(Failure::at(&path))
}

fn number(value: &Value, path: &[&str]) -> f64 {
    path.iter().fold(value, |value, key| &value[*key]).as_f64().unwrap_or(f64::NAN)
}

/// The wasm, JS and weights a first visit of the site transfers: raw and gzip -9 sizes.
fn transfer_sizes(root: &Path, dist: &Path) -> Vec<(String, u64, u64)> {
    let mut files: Vec<_> = fs::read_dir(dist)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wasm" || ext == "js"))
        .collect();
    if let Ok(weights) = data::page_weights(dist) {
        files.push(dist.join(weights));
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let raw = fs::metadata(&path).ok()?.len();
            let gzip = run::stdout_bytes(command("gzip", root).arg("-9c").arg(&path))?.len() as u64;
            let name = path.strip_prefix(dist).unwrap_or(&path).display().to_string();
            Some((name, raw, gzip))
        })
        .collect()
}

/// `bench pictures`: a folder of your own pictures imported in the page (tests/bench/pictures.mjs),
/// on the built site (trunk, release).
pub fn pictures(root: &Path, args: &[String]) -> Result<(), Failure> {
    run::status(command("trunk", root).args(["build", "--release"]))?;
    run::status(command("node", &root.join("tests")).arg("bench/pictures.mjs").args(args))
}

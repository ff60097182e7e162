//! Preparing the datasets the page serves, through the CLI's `prepare` command.

use std::fs;
use std::path::Path;

use crate::run::{self, Failure, command};

/// Where the page finds its datasets (Trunk copies `public/` into `dist/public/`).
pub const PUBLIC_DATA: &str = "public/data";
/// An archive or folder of CIFAR-10 to prepare, when set.
pub const CIFAR_ENV: &str = "TRIPLETLAB_CIFAR";

/// Run `tripletlab prepare` with `args`.
pub fn prepare(root: &Path, args: &[&str]) -> Result<(), Failure> {
    let mut cmd = command("cargo", root);
    cmd.args(["run", "--quiet", "-p", "tripletlab-cli", "--", "prepare"]).args(args);
    run::status(&mut cmd)
}

/// Generate the synthetic shapes set into `out`: `shards` batch files of `per_shard` images.
pub fn prepare_synthetic(root: &Path, out: &str, shards: usize, per_shard: usize) -> Result<(), Failure> {
    let (shards, per_shard) = (shards.to_string(), per_shard.to_string());
    prepare(root, &["--from", "synthetic", "--out", out, "--shards", &shards, "--images-per-shard", &per_shard])
}

/// Train a few steps with the native CLI, so the browser tests can import a checkpoint made by it.
pub fn cli_checkpoint(root: &Path, data: &str, out: &str) -> Result<(), Failure> {
    let report = format!("{out}.report.json");
    let mut cmd = command("cargo", root);
    cmd.args(["run", "--quiet", "-p", "tripletlab-cli", "--", "train", "--data", data, "--report", &report])
        .args(["--checkpoint", out, "--no-pretrained", "--width", "0.35", "--bn-momentum", "0.9", "--batch", "4"])
        .args(["--epochs", "2", "--max-steps", "2", "--held-out", "0.2", "--lr", "1e-3"]);
    run::status(&mut cmd)
}

/// The pretrained weights the page loads, relative to `folder` (the repository or a build of the
/// site): the file its `public/weights/weights.json` names (the f16 copy, `tripletlab weights --half`).
pub fn page_weights(folder: &Path) -> Result<String, Failure> {
    let manifest = folder.join("public/weights/weights.json");
    let text = fs::read_to_string(&manifest).map_err(Failure::at(&manifest))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(Failure::at(&manifest))?;
    let file =
        value["file"].as_str().ok_or_else(|| Failure::new(format!("{} names no \"file\"", manifest.display())))?;
    Ok(format!("public/weights/{file}"))
}

/// The run the page's "recipe's settings" browser test makes, made by the native CLI on the same
/// data with the same settings, so the test can check that the page shows the recipe's numbers:
/// the recipe (width 1.0 from the shipped weights, Adam 1e-4, batch 64, BatchNorm momentum 0.999,
/// margin 0.4, seed 42) on the first 200 images, 25% held out, 2 epochs (keep in step with
/// `tests/e2e/studio.test.mjs`), from the weights the page loads.
pub fn cli_recipe_run(root: &Path, data: &str, report: &str) -> Result<(), Failure> {
    let checkpoint = format!("{report}.checkpoint.safetensors");
    let weights = page_weights(root)?;
    let mut cmd = command("cargo", root);
    cmd.args(["run", "--quiet", "-p", "tripletlab-cli", "--", "train", "--data", data, "--report", report]).args([
        "--weights",
        &weights,
        "--checkpoint",
        &checkpoint,
        "--images",
        "200",
        "--held-out",
        "0.25",
        "--epochs",
        "2",
    ]);
    run::status(&mut cmd)
}

/// The tiny run the page's WebGPU test makes (the recipe from the pretrained encoder on the first
/// 48 images, 60% of the triplets held out so the held-out loss averages 12 of them, batches of
/// 4: two steps, one epoch), trained natively on burn's flex (CPU) and on native wgpu (Mesa's
/// lavapipe here): how far our two native backends end apart is the spread the page's WebGPU run
/// is held to against its CPU run. A third run on flex at a learning rate of 1e-7 (the same steps
/// updating nothing) says how far the held-out loss moves when the steps learn, so the test shows
/// its limit could tell the two apart. Reports at `{prefix}flex.json`, `{prefix}wgpu.json` and
/// `{prefix}still.json`.
pub fn cli_tiny_backends(root: &Path, data: &str, prefix: &str) -> Result<(), Failure> {
    let weights = page_weights(root)?;
    for (name, backend, learning_rate) in
        [("flex", "flex", "1e-4"), ("wgpu", "wgpu", "1e-4"), ("still", "flex", "1e-7")]
    {
        let report = format!("{prefix}{name}.json");
        let checkpoint = format!("{prefix}{name}.checkpoint.safetensors");
        let mut cmd = command("cargo", root);
        cmd.args(["run", "--quiet", "-p", "tripletlab-cli", "--", "train", "--data", data, "--report", &report]).args(
            [
                "--backend",
                backend,
                "--lr",
                learning_rate,
                "--weights",
                &weights,
                "--checkpoint",
                &checkpoint,
                "--images",
                "48",
                "--held-out",
                "0.6",
                "--batch",
                "4",
                "--epochs",
                "1",
                "--patience",
                "1",
            ],
        );
        run::status(&mut cmd)?;
    }
    Ok(())
}

/// Real CIFAR-10 in `data` when it can be had (the archive named by `TRIPLETLAB_CIFAR`, an earlier
/// preparation, or a download), and the synthetic set in any case. Says which it serves, and
/// returns whether real CIFAR-10 is there.
pub fn prepare_for_serving(root: &Path, data: &Path) -> Result<bool, Failure> {
    let cifar_out = data.join("cifar-10");
    let cifar_out_text = cifar_out.display().to_string();
    let real = if let Ok(source) = std::env::var(CIFAR_ENV) {
        prepare(root, &["--from", &source, "--out", &cifar_out_text])?;
        format!("real CIFAR-10 from {source}")
    } else if cifar_out.join("manifest.json").is_file() {
        "real CIFAR-10, prepared earlier".to_string()
    } else {
        match prepare(root, &["--from", "download", "--out", &cifar_out_text]) {
            Ok(()) => "real CIFAR-10, downloaded from the official address".to_string(),
            Err(err) => {
                println!(
                    "xtask: real CIFAR-10 is not available ({err}); set {CIFAR_ENV} to a \
                     cifar-10-binary.tar.gz to serve it"
                );
                String::new()
            }
        }
    };
    let synthetic_out = data.join("synthetic-shapes");
    if !synthetic_out.join("manifest.json").is_file() {
        let out = synthetic_out.display().to_string();
        prepare(root, &["--from", "synthetic", "--out", &out])?;
    }
    if real.is_empty() {
        println!("xtask: serving the SYNTHETIC dataset only (generated shapes, not CIFAR-10)");
    } else {
        println!("xtask: serving {real}, and the SYNTHETIC shapes dataset");
    }
    Ok(!real.is_empty())
}

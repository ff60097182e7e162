//! `cargo xtask bench quality`: `tripletlab quality` (the recipe once per seed: held-out loss per
//! epoch, AUC with DeLong's 95% interval, the spread over seeds) and, on the very same images and
//! triplets, the tutorial's own Keras code (`tools/keras_quality.py`) when a Python with
//! TensorFlow, Keras and safetensors is found. It prints figures; it never passes or fails on them.

use std::path::Path;

use crate::data;
use crate::run::{self, Failure, command};

/// Python used for the Keras side: `TRIPLETLAB_PYTHON`, else `python3`.
const PYTHON_ENV: &str = "TRIPLETLAB_PYTHON";

pub fn bench_quality(root: &Path, args: &[String]) -> Result<(), Failure> {
    let mut data_dir: Option<String> = None;
    let (mut shards, mut epochs, mut seeds, mut held_out) = (None, "3".to_string(), "3".to_string(), "0.2".to_string());
    let mut sets: Vec<String> = Vec::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| Failure::new(format!("{flag} needs a value")))?.clone();
        match flag.as_str() {
            "--data" => data_dir = Some(value),
            "--shards" => shards = Some(value),
            "--epochs" => epochs = value,
            "--seeds" => seeds = value,
            "--held-out" => held_out = value,
            "--set" => sets.push(value),
            other => return Err(Failure::new(format!("bench quality: unknown option {other}"))),
        }
    }
    let out = root.join("target").join("bench").join("quality");
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => {
            let dir = out.join("synthetic-2000").display().to_string();
            data::prepare_synthetic(root, &dir, 2, 1000)?;
            dir
        }
    };
    let export = out.join("export").display().to_string();
    // A changed recipe gets a report of its own (`tripletlab-loss-contrastive.json`).
    let name = std::iter::once("tripletlab".to_string())
        .chain(sets.iter().map(|set| set.replace(['=', '.', '/'], "-")))
        .collect::<Vec<_>>()
        .join("-");
    let ours = out.join(format!("{name}.json")).display().to_string();
    let mut cli = command("cargo", root);
    cli.args(["run", "--quiet", "-p", "tripletlab-cli", "--", "quality", "--data", &data_dir])
        .args(["--epochs", &epochs, "--seeds", &seeds, "--held-out", &held_out, "--export", &export])
        .args(["--report", &ours]);
    if let Some(shards) = &shards {
        cli.args(["--shards", shards]);
    }
    sets.iter().for_each(|set| {
        cli.args(["--set", set]);
    });
    run::status(&mut cli)?;
    if !sets.is_empty() {
        println!("the tutorial's Keras code trains the recipe as published only: no Keras side for --set");
        return Ok(());
    }

    let Some(python) = python_with_keras(root, "the Keras side") else { return Ok(()) };
    let keras = out.join("keras.json").display().to_string();
    run::status(command(&python, root).args([
        "tools/keras_quality.py",
        "--data",
        &export,
        "--seeds",
        &seeds,
        "--report",
        &keras,
    ]))
}

/// The Python for the Keras tools (`TRIPLETLAB_PYTHON`, else `python3`), when it has TensorFlow,
/// Keras and safetensors; otherwise `None`, after saying that `what` is skipped and how to get it.
pub fn python_with_keras(root: &Path, what: &str) -> Option<String> {
    let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_string());
    let has_keras = command(&python, root)
        .args(["-c", "import tensorflow, keras, safetensors"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_keras {
        println!(
            "xtask: {what} is skipped: {python} has no TensorFlow/Keras/safetensors (pip install \
             tensorflow-cpu==2.21.* keras==3.15.* safetensors, then set {PYTHON_ENV})"
        );
    }
    has_keras.then_some(python)
}

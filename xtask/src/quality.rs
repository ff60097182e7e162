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

/// `cargo xtask bench demo`: the class demo ("Try it", `preset=demo`) trained by the CLI once
/// per seed on the synthetic set of 2,000 images (or `--data DIR`, any prepared CIFAR-10-format
/// set): the held-out AUC and precision@1 before training and after, and the seconds each run
/// took (the command's wall time, data reading and the frozen encoder's features included).
pub fn bench_demo(root: &Path, args: &[String]) -> Result<(), Failure> {
    let (mut data_dir, mut seeds) = (None, 3u64);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| Failure::new(format!("{flag} needs a value")))?.clone();
        match flag.as_str() {
            "--data" => data_dir = Some(value),
            "--seeds" => seeds = value.parse().map_err(|_| Failure::new(format!("--seeds {value}: not a count")))?,
            other => return Err(Failure::new(format!("bench demo: unknown option {other}"))),
        }
    }
    let out = root.join("target").join("bench").join("demo");
    let data_dir = match data_dir {
        Some(dir) => dir,
        None => {
            let dir = root.join("target").join("bench").join("quality").join("synthetic-2000").display().to_string();
            data::prepare_synthetic(root, &dir, 2, 1000)?;
            dir
        }
    };
    // Build first, so the first seed's seconds are the run's alone.
    run::status(command("cargo", root).args(["build", "--quiet", "-p", "tripletlab-cli"]))?;
    let mut lines = Vec::new();
    for seed in 1..=seeds {
        let report = out.join(format!("seed-{seed}.json"));
        let started = std::time::Instant::now();
        let mut cli = command("cargo", root);
        cli.args(["run", "--quiet", "-p", "tripletlab-cli", "--", "train", "--data", &data_dir])
            .args(["--settings", "preset=demo", "--set", &format!("seed={seed}")])
            .args(["--report", &report.display().to_string()]);
        run::status(&mut cli)?;
        let seconds = started.elapsed().as_secs_f64();
        let text = std::fs::read_to_string(&report).map_err(Failure::at(&report))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(Failure::at(&report))?;
        let at = |path: &[&str]| path.iter().fold(&json, |value, key| &value[*key]).as_f64().unwrap_or(f64::NAN);
        lines.push(format!(
            "| {seed} | {:.4} | {:.4} | {:.4} | {:.4} | {seconds:.1} |",
            at(&["before_training", "auc"]),
            at(&["held_out", "summary", "auc"]),
            at(&["before_training", "precision_at_1"]),
            at(&["retrieval", "precision_at_1"]),
        ));
    }
    println!("\nclass demo (preset=demo) on {data_dir}:");
    println!("| seed | AUC before | AUC after | precision@1 before | precision@1 after | seconds |");
    println!("|---|---|---|---|---|---|");
    lines.iter().for_each(|line| println!("{line}"));
    Ok(())
}

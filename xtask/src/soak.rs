//! The soak stages of `cargo xtask test --long`: a long training run in the page (tests/soak/,
//! headless Chromium) and one with the native CLI, memory sampled throughout; each must stay
//! flat after its first epoch. Minutes from `TRIPLETLAB_SOAK_MINUTES` (default 30).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::data;
use crate::run::{self, Failure, command};

pub const MINUTES_ENV: &str = "TRIPLETLAB_SOAK_MINUTES";
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
/// Memory may move this much (or 10%) after epoch 1 and still be flat: allocator noise.
const SLACK_BYTES: u64 = 16 * 1024 * 1024;

pub fn minutes() -> f64 {
    std::env::var(MINUTES_ENV).ok().and_then(|text| text.parse().ok()).unwrap_or(30.0)
}

/// The page soak (`tests/soak/page-soak.mjs`), against the build in dist/, on 5,000 synthetic
/// images served beside the tests' small set (long epochs: early stopping cannot end the soak).
pub fn page(root: &Path) -> Result<(), Failure> {
    data::prepare_synthetic(root, "dist/public/data/soak-shapes", 2, 2500)?;
    run::status(command("node", &root.join("tests")).arg("soak/page-soak.mjs"))
}

/// The page soak on WebGPU (SwiftShader on a machine without a GPU): the tests' small synthetic
/// set, steps of 4, the GPU process's memory sampled too. Writes target/soak/page-webgpu.json.
pub fn page_webgpu(root: &Path) -> Result<(), Failure> {
    run::status(command("node", &root.join("tests")).args(["soak/page-soak.mjs", "--webgpu"]))
}

/// Train with the CLI (flex, synthetic data, width 0.35, steps of 16) for the soak's minutes,
/// sampling its resident memory every 10 s. Writes target/soak/cli.json.
pub fn cli(root: &Path) -> Result<(), Failure> {
    let data_dir = "target/soak/synthetic";
    data::prepare_synthetic(root, data_dir, 2, 200)?;
    run::status(command("cargo", root).args(["build", "--quiet", "-p", "tripletlab-cli"]))?;
    let mut child = command("cargo", root)
        .args(["run", "--quiet", "-p", "tripletlab-cli", "--", "train", "--data", data_dir])
        .args(["--report", "target/soak/cli-report.json", "--no-pretrained", "--width", "0.35"])
        .args(["--bn-momentum", "0.9", "--batch", "16", "--lr", "1e-3", "--held-out", "0.2"])
        .args(["--epochs", "100000", "--patience", "100000"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|err| Failure::new(format!("could not start the CLI: {err}")))?;
    // `cargo run` replaces itself with the program on Unix: this pid is the CLI's.
    let pid = child.id();
    let epochs = Arc::new(Mutex::new(0u32));
    if let Some(stdout) = child.stdout.take() {
        let epochs = Arc::clone(&epochs);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("Epoch ") {
                    println!("soak cli: {line}");
                    if let Ok(mut count) = epochs.lock() {
                        *count += 1;
                    }
                }
            }
        });
    }

    let started = Instant::now();
    let limit = Duration::from_secs_f64(minutes() * 60.0);
    let mut samples: Vec<(f64, u32, u64)> = Vec::new();
    let outcome = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Err(Failure::new(format!("the CLI ended early ({status})")));
        }
        let rss = resident_bytes(pid).unwrap_or(0);
        let epochs_done = epochs.lock().map(|count| *count).unwrap_or(0);
        let seconds = started.elapsed().as_secs_f64();
        println!("soak cli: {seconds:.0} s, {epochs_done} epochs, RSS {:.1} MB", rss as f64 / 1e6);
        samples.push((seconds, epochs_done, rss));
        if started.elapsed() >= limit {
            break Ok(());
        }
        std::thread::sleep(SAMPLE_EVERY);
    };
    let _ = child.kill();
    let _ = child.wait();
    outcome?;

    let summary = flatness(&samples).ok_or_else(|| Failure::new("the CLI finished no epoch during the soak"))?;
    let json = serde_json::json!({
        "minutes": minutes(),
        "epochs": samples.last().map_or(0, |s| s.1),
        "rss": { "start": samples[0].2, "afterEpoch1": summary.0, "end": summary.1, "max": summary.2, "flat": summary.3 },
        "samples": samples.iter().map(|(s, e, r)| serde_json::json!({ "seconds": s, "epochs": e, "rssBytes": r })).collect::<Vec<_>>(),
    });
    let out = root.join("target/soak/cli.json");
    let text = serde_json::to_string_pretty(&json).map_err(|err| Failure::new(err.to_string()))?;
    std::fs::write(&out, text).map_err(Failure::at(&out))?;
    println!("soak cli summary: {}", json["rss"]);
    if summary.3 { Ok(()) } else { Err(Failure::new(format!("the CLI's memory grew after epoch 1: {}", json["rss"]))) }
}

/// (after epoch 1, end, max after epoch 1, flat) of RSS samples (seconds, epochs, bytes).
fn flatness(samples: &[(f64, u32, u64)]) -> Option<(u64, u64, u64, bool)> {
    let settled: Vec<u64> = samples.iter().filter(|s| s.1 >= 1).map(|s| s.2).collect();
    let after = *settled.first()?;
    let end = *settled.last()?;
    let max = settled.iter().copied().max()?;
    let allowed = after + (after / 10).max(SLACK_BYTES);
    Some((after, end, max, end <= allowed && max <= allowed + SLACK_BYTES))
}

/// VmRSS of a process, bytes (Linux).
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

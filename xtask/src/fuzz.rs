//! `cargo xtask fuzz [--seconds N]`: every cargo-fuzz target in `fuzz/` for N seconds each
//! (default 60), its corpus minimised afterwards, and a table of inputs run and crashes found
//! (also `target/fuzz/fuzz.json`). Installs the nightly toolchain and cargo-fuzz when missing.
//!
//! A crash leaves its input in `fuzz/artifacts/<target>/`: fix the reader, then move the file to
//! `fuzz/regressions/<target>/`, where `cargo xtask test` replays it on stable for good.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use crate::run::{self, Failure, command, stdout_of};
use crate::tools;

/// Must match `fuzz/src/lib.rs`'s `TARGETS`.
const TARGETS: [&str; 6] = ["cifar_batch", "cifar_meta", "tar_gz", "manifest", "safetensors", "protocol"];
const CARGO_FUZZ_VERSION: &str = "0.13.2";

pub fn fuzz(root: &Path, args: &[String]) -> Result<(), Failure> {
    let seconds: u64 = match args {
        [] => 60,
        [flag, value] if flag == "--seconds" => {
            value.parse().map_err(|_| Failure::new(format!("--seconds wants a whole number, not '{value}'")))?
        }
        _ => return Err(Failure::new("usage: cargo xtask fuzz [--seconds N]")),
    };
    ensure_fuzz_tools(root)?;
    let nightly = format!("+{}", tools::NIGHTLY);
    let fuzz_dir = root.join("fuzz");
    let mut rows = Vec::new();
    for target in TARGETS {
        let artifacts = fuzz_dir.join("artifacts").join(target);
        let before = count_files(&artifacts);
        println!("xtask: fuzzing {target} for {seconds} s");
        let output = command("cargo", &fuzz_dir)
            .args([
                nightly.as_str(),
                "fuzz",
                "run",
                target,
                "--",
                &format!("-max_total_time={seconds}"),
                "-rss_limit_mb=4096",
            ])
            .stdout(Stdio::inherit())
            .output()
            .map_err(|err| Failure::new(format!("could not run cargo fuzz: {err}")))?;
        let log = String::from_utf8_lossy(&output.stderr);
        let runs = runs_done(&log);
        let crashes = count_files(&artifacts).saturating_sub(before);
        if !output.status.success() {
            eprintln!(
                "{}",
                log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        run::status(command("cargo", &fuzz_dir).args([nightly.as_str(), "fuzz", "cmin", target]))?;
        let corpus = count_files(&fuzz_dir.join("corpus").join(target));
        rows.push((target, runs, crashes, corpus, output.status.success()));
    }

    println!("\n| target | seconds | inputs run | crashes | corpus after cmin |\n|---|---|---|---|---|");
    for (target, runs, crashes, corpus, _) in &rows {
        println!(
            "| {target} | {seconds} | {} | {crashes} | {corpus} |",
            runs.map_or("?".to_string(), |n| n.to_string())
        );
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|(target, runs, crashes, corpus, ok)| {
            serde_json::json!({ "target": target, "seconds": seconds, "runs": runs, "crashes": crashes, "corpus": corpus, "ok": ok })
        })
        .collect();
    let out = root.join("target/fuzz");
    fs::create_dir_all(&out).map_err(Failure::at(&out))?;
    let text = serde_json::to_string_pretty(&json).map_err(|err| Failure::new(err.to_string()))?;
    fs::write(out.join("fuzz.json"), text).map_err(|err| Failure::new(format!("fuzz.json: {err}")))?;
    let crashed: Vec<&str> = rows.iter().filter(|row| !row.4).map(|row| row.0).collect();
    if crashed.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(format!("crashes in {}: inputs under fuzz/artifacts/", crashed.join(", "))))
    }
}

/// The nightly toolchain (cargo-fuzz needs its sanitizer flags) and cargo-fuzz itself.
fn ensure_fuzz_tools(root: &Path) -> Result<(), Failure> {
    tools::ensure_nightly(root, false)?;
    let installed = stdout_of(command("cargo", root).args(["fuzz", "--version"]));
    if !installed.is_some_and(|version| version.contains(CARGO_FUZZ_VERSION)) {
        run::status(command("cargo", root).args([
            "install",
            "cargo-fuzz",
            "--version",
            CARGO_FUZZ_VERSION,
            "--locked",
        ]))?;
    }
    Ok(())
}

/// libFuzzer's last "Done N runs" line.
fn runs_done(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|line| line.strip_prefix("Done ")?.split_whitespace().next()?.parse().ok())
}

fn count_files(dir: &Path) -> usize {
    fs::read_dir(dir).map(|entries| entries.filter_map(Result::ok).filter(|e| e.path().is_file()).count()).unwrap_or(0)
}

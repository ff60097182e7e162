//! `cargo xtask mutants [FILE ...]`: mutation testing of the numeric core with cargo-mutants
//! (installed at a pinned version when missing). Each mutant (an operator swapped, a function's
//! body replaced by a constant, a condition forced) is built and the core's unit tests and its
//! reference-fixture tests are run against it; a mutant no test fails is *missed*: a bug the
//! suite would not catch. Prints the counts and every missed mutant, and writes cargo-mutants'
//! own report to `target/mutants/mutants.out/` (`missed.txt`, `caught.txt`, `outcomes.json`).
//!
//! Without files: the core's host-side numeric code (the loss's f64 forms, the schedule, the
//! metrics, mining). One mutant costs one rebuild of the core (about 30 s here), so a run over
//! every default file takes hours on two cores: name files to take one at a time.

use std::fs;
use std::path::Path;

use crate::run::{self, Failure, command, stdout_of};

const CARGO_MUTANTS_VERSION: &str = "27.1.0";

/// The numeric core's host code: what has known answers to be checked against.
const DEFAULT_FILES: [&str; 7] = [
    "crates/core/src/loss/mod.rs",
    "crates/core/src/train/schedule.rs",
    "crates/core/src/metrics/verification.rs",
    "crates/core/src/metrics/auc_interval.rs",
    "crates/core/src/metrics/retrieval.rs",
    "crates/core/src/mining.rs",
    "crates/core/src/random.rs",
];

pub fn mutants(root: &Path, args: &[String]) -> Result<(), Failure> {
    if args.iter().any(|arg| arg.starts_with('-')) {
        return Err(Failure::new("usage: cargo xtask mutants [FILE ...] (files under crates/core/src)"));
    }
    let files: Vec<&str> =
        if args.is_empty() { DEFAULT_FILES.to_vec() } else { args.iter().map(String::as_str).collect() };
    for file in &files {
        if !root.join(file).is_file() {
            return Err(Failure::new(format!("{file}: no such file")));
        }
    }
    ensure_cargo_mutants(root)?;
    let out = root.join("target/mutants");
    fs::create_dir_all(&out).map_err(Failure::at(&out))?;
    // A report left by an earlier run must not pass for this one's.
    let report = out.join("mutants.out");
    if report.exists() {
        fs::remove_dir_all(&report).map_err(Failure::at(&report))?;
    }
    let mut cmd = command("cargo", root);
    cmd.args(["mutants", "--package", "tripletlab-core", "--jobs", "1", "--no-shuffle"]);
    for file in &files {
        cmd.args(["--file", file]);
    }
    // The unit tests and the scikit-learn / Keras reference fixtures; the long training tests
    // (minutes each) are left to `cargo xtask test`.
    for arg in ["--lib", "--test", "metrics_reference", "--test", "delong_reference", "--test", "keras_parity"] {
        cmd.arg(format!("--cargo-test-arg={arg}"));
    }
    cmd.arg("--output").arg(&out);
    // cargo-mutants exits non-zero when a mutant is missed: the report below is the result, and
    // only a run that wrote none (a usage error, a baseline that failed) is a failure.
    let ran = run::status(&mut cmd);
    if !report.join("outcomes.json").is_file() {
        return Err(ran.err().unwrap_or_else(|| Failure::new("cargo mutants wrote no report")));
    }
    let read = |name: &str| fs::read_to_string(report.join(name)).unwrap_or_default();
    let count = |text: &str| text.lines().filter(|line| !line.trim().is_empty()).count();
    let (caught, missed, timeout, unviable) =
        (read("caught.txt"), read("missed.txt"), read("timeout.txt"), read("unviable.txt"));
    println!(
        "\nmutants: {} caught, {} missed, {} timed out, {} unviable (did not build)",
        count(&caught),
        count(&missed),
        count(&timeout),
        count(&unviable)
    );
    for line in missed.lines().filter(|line| !line.trim().is_empty()) {
        println!("  missed: {line}");
    }
    println!("report: {}", report.display());
    Ok(())
}

fn ensure_cargo_mutants(root: &Path) -> Result<(), Failure> {
    let installed = stdout_of(command("cargo", root).args(["mutants", "--version"]));
    if installed.as_deref().map(str::trim) != Some(&format!("cargo-mutants {CARGO_MUTANTS_VERSION}")) {
        run::status(command("cargo", root).args([
            "install",
            "cargo-mutants",
            "--version",
            CARGO_MUTANTS_VERSION,
            "--locked",
            "--force",
        ]))?;
    }
    Ok(())
}

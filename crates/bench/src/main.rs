//! `tripletlab-bench`: benchmarks that print figures (never pass/fail).
//! `cargo run --release -p tripletlab-bench -- metrics`

use std::fmt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use serde::Serialize;
use tripletlab_core::loss::Distance;
use tripletlab_core::metrics::{RetrievalConfig, Verification, retrieval};
use tripletlab_core::random::SeededRng;

/// A benchmark that could not run.
#[derive(Debug)]
struct BenchError(String);

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Parser)]
#[command(name = "tripletlab-bench", about = "Benchmarks that print figures")]
struct BenchArgs {
    #[command(subcommand)]
    what: BenchTarget,
}

#[derive(Subcommand)]
enum BenchTarget {
    /// Verification metrics on many pair scores and retrieval metrics on many embeddings.
    Metrics {
        /// Pair scores for the ROC curve, AUC, EER and operating points.
        #[arg(long, default_value_t = 1_000_000)]
        scores: usize,
        /// Embeddings for the retrieval metrics.
        #[arg(long, default_value_t = 10_000)]
        embeddings: usize,
        /// Dimensions of each embedding (MobileNetV2's template has 1280).
        #[arg(long, default_value_t = 1280)]
        dims: usize,
        /// Repetitions of each measurement (the median is reported).
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Also write the figures as JSON here.
        #[arg(long)]
        json: Option<std::path::PathBuf>,
    },
}

#[derive(Serialize)]
struct Figure {
    name: String,
    median_seconds: f64,
    min_seconds: f64,
    max_seconds: f64,
    /// Peak resident memory of the process after the measurement (Linux), MiB.
    peak_rss_mib: Option<f64>,
}

fn main() -> ExitCode {
    let outcome = match BenchArgs::parse().what {
        BenchTarget::Metrics { scores, embeddings, dims, repeat, json } => {
            metrics(scores, embeddings, dims, repeat.max(1)).and_then(|figures| match json {
                Some(path) => write_json(&path, &figures),
                None => Ok(()),
            })
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn write_json(path: &Path, figures: &[Figure]) -> Result<(), BenchError> {
    let text = serde_json::to_string_pretty(figures).map_err(|err| BenchError(err.to_string()))?;
    std::fs::write(path, text).map_err(|err| BenchError(format!("{}: {err}", path.display())))
}

fn metrics(scores: usize, embeddings: usize, dims: usize, repeat: usize) -> Result<Vec<Figure>, BenchError> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("metrics benchmark: {threads} threads, median of {repeat}");
    let mut rng = SeededRng::new(1);
    // Pair scores as the recipe's: genuine pairs a little more alike, many near-ties.
    let labels: Vec<bool> = (0..scores).map(|at| at % 2 == 0).collect();
    let values: Vec<f64> =
        labels.iter().map(|&genuine| f64::from(rng.unit_f32()) * 0.5 + if genuine { 0.35 } else { 0.25 }).collect();
    let mut figures = Vec::new();
    let mut summary = None;
    figures.push(measure(&format!("ROC curve + AUC + EER + FMR points, {scores} scores"), repeat, || {
        let set = Verification::new(&values, &labels).map_err(|err| BenchError(err.to_string()))?;
        let roc = set.roc(true);
        summary = Some((set.summary(), roc.fpr.len()));
        Ok(())
    })?);
    if let Some((summary, points)) = summary {
        println!("    AUC {:.6}, EER {:.6}, {points} ROC points kept", summary.auc, summary.eer.rate);
    }

    let classes = 10u32;
    let labels: Vec<u32> = (0..embeddings).map(|at| at as u32 % classes).collect();
    // Class centres plus noise, so the rankings are neither trivial nor random.
    let centres: Vec<f32> = (0..classes as usize * dims).map(|_| rng.unit_f32() - 0.5).collect();
    let rows: Vec<f32> = labels
        .iter()
        .flat_map(|&label| {
            let centre = &centres[label as usize * dims..(label as usize + 1) * dims];
            centre.iter().map(|&c| c + 12.0 * (rng.unit_f32() - 0.5)).collect::<Vec<_>>()
        })
        .collect();
    for distance in [Distance::Cosine, Distance::Euclidean] {
        let config = RetrievalConfig { distance, ..RetrievalConfig::default() };
        let mut outcome = None;
        let name = format!("retrieval ({distance:?}), {embeddings} x {dims} embeddings, {classes} classes");
        figures.push(measure(&name, repeat, || {
            outcome = Some(retrieval(&rows, dims, &labels, &config).map_err(|err| BenchError(err.to_string()))?);
            Ok(())
        })?);
        if let Some(result) = outcome {
            println!(
                "    precision@1 {:.4}, R-precision {:.4}, MAP@R {:.4}",
                result.precision_at_1, result.r_precision, result.map_at_r
            );
        }
    }
    let input_mib = (rows.len() * 4) as f64 / (1 << 20) as f64;
    let block_mib = (RetrievalConfig::default().block_rows * embeddings * 4 * threads) as f64 / (1 << 20) as f64;
    println!(
        "    memory: the embeddings {input_mib:.1} MiB, one normalised copy {input_mib:.1} MiB, similarity blocks \
         {block_mib:.1} MiB ({} rows x {embeddings} f32 per thread); an n x n f64 matrix would be {:.0} MiB",
        RetrievalConfig::default().block_rows,
        (embeddings * embeddings * 8) as f64 / (1 << 20) as f64
    );
    Ok(figures)
}

fn measure(name: &str, repeat: usize, mut work: impl FnMut() -> Result<(), BenchError>) -> Result<Figure, BenchError> {
    let mut seconds = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let started = Instant::now();
        work()?;
        seconds.push(started.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let figure = Figure {
        name: name.to_string(),
        median_seconds: seconds[seconds.len() / 2],
        min_seconds: seconds[0],
        max_seconds: seconds[seconds.len() - 1],
        peak_rss_mib: peak_rss_mib(),
    };
    println!(
        "{name}: median {:.3} s (min {:.3}, max {:.3}); peak RSS {}",
        figure.median_seconds,
        figure.min_seconds,
        figure.max_seconds,
        figure.peak_rss_mib.map_or("unknown".to_string(), |mib| format!("{mib:.0} MiB"))
    );
    Ok(figure)
}

/// The process's peak resident set (VmHWM) on Linux.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

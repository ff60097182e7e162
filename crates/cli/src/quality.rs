//! `tripletlab quality`: the recipe on a prepared dataset, once per seed, with the held-out loss of
//! every epoch and the held-out ROC AUC with DeLong's 95% interval; with several seeds, the spread
//! over them, so a difference can be called noise or not. A benchmark, not a test.
//!
//! The data (images, triplets and split) are the same for every seed: the triplets are built with
//! the recipe's seed 42; the seed given to each run moves only the order of the training triplets.
//! `--export DIR` writes those data for `tools/keras_quality.py`, which runs the tutorial's own
//! Keras code on them.

use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::{Deserialize, Serialize};
use tripletlab_core::data::Batch;
use tripletlab_core::data::manifest::sha256_hex;
use tripletlab_core::data::triplets::{HeldOutSplit, Triplet, TripletConfig, TripletSet, held_out_classes};
use tripletlab_core::metrics::{AucInterval, delong_difference, delong_interval};
use tripletlab_core::model::weights;
use tripletlab_core::run::RunSpec;
use tripletlab_core::train::{EpochRecord, TrainError};
use tripletlab_core::training::Training;

use crate::backend::BackendName;
use crate::dataset::read_prepared;
use crate::error::CliError;
use crate::settings::{DEFAULT_WEIGHTS, SplitArg, apply_pairs, key_value};
use crate::train::write;

#[derive(Args)]
pub struct QualityArgs {
    /// A prepared dataset folder (from `tripletlab prepare`).
    #[arg(long)]
    pub data: PathBuf,
    /// Use only the first N shards of the dataset.
    #[arg(long)]
    pub shards: Option<usize>,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Runs, with seeds first-seed, first-seed + 1, ...
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    #[arg(long, default_value_t = 1)]
    pub first_seed: u64,
    #[arg(long, default_value_t = 0.05)]
    pub held_out: f64,
    #[arg(long, value_enum, default_value_t = SplitArg::Triplet)]
    pub split: SplitArg,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Stop each epoch after this many steps (quick trials).
    #[arg(long)]
    pub max_steps: Option<usize>,
    #[arg(long, value_enum, default_value_t = BackendName::Flex)]
    pub backend: BackendName,
    /// Pretrained weights (width 1.0).
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub weights: PathBuf,
    /// Write the images and the split here for `tools/keras_quality.py`.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// Write the figures as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Change the recipe: any setting as `key=value` (`tripletlab settings` lists them), e.g.
    /// `--set loss=contrastive`. Repeatable. The split stays the recipe's (`--held-out`,
    /// `--split`), the epochs and batch these flags'.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// The triplets' split seed: the recipe's, the same for every run.
const SPLIT_SEED: u64 = 42;

#[derive(Serialize, Deserialize)]
pub struct RunFigures {
    pub seed: u64,
    pub history: Vec<EpochRecord>,
    pub best_epoch: Option<usize>,
    /// The held-out AUC before the first step (the untrained model, or fast mode's untrained head).
    #[serde(default)]
    pub auc_before: f64,
    /// DeLong's interval of the held-out AUC, after restore-best.
    pub auc: AucInterval,
    /// The held-out pairs' similarities after restore-best (the report's `labels` say which are
    /// genuine): `tripletlab compare` tests two reports' AUCs on them.
    #[serde(default)]
    pub held_out_scores: Vec<f64>,
    pub seconds: f64,
}

#[derive(Serialize, Deserialize)]
pub struct Spread {
    pub runs: usize,
    pub mean: f64,
    /// Sample standard deviation (divisor n - 1); 0 for one run.
    pub standard_deviation: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let squares = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>();
        let standard_deviation = if values.len() > 1 { (squares / (n - 1.0)).sqrt() } else { 0.0 };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self { runs: values.len(), mean, standard_deviation, min, max }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    trainer: &'static str,
    dataset: &'a str,
    synthetic: bool,
    images: usize,
    train_triplets: usize,
    held_out_triplets: usize,
    epochs: usize,
    /// The recipe as a lesson link's settings (`--set` changes it).
    settings: String,
    interval: &'static str,
    /// Which held-out pairs are genuine (the same for every run: the split is fixed).
    labels: Vec<bool>,
    /// SHA-256 of the held-out triplets: two reports with the same scored the same pairs.
    held_out_sha256: String,
    runs: Vec<RunFigures>,
    auc: Spread,
}

#[derive(Serialize)]
struct Export<'a> {
    made_by: &'static str,
    dataset: &'a str,
    synthetic: bool,
    images: &'static str,
    epochs: usize,
    batch_size: usize,
    learning_rate: f64,
    margin: f64,
    patience: usize,
    train: Vec<[u32; 3]>,
    held_out: Vec<[u32; 3]>,
}

fn as_lists(triplets: &[Triplet]) -> Vec<[u32; 3]> {
    triplets.iter().map(|t| [t.anchor, t.positive, t.negative]).collect()
}

pub fn run(args: QualityArgs) -> Result<(), CliError> {
    if args.seeds == 0 || args.epochs == 0 {
        return Err(CliError::Source("--seeds and --epochs must be at least 1".into()));
    }
    let data = read_prepared(&args.data, args.shards)?;
    let triplet_config =
        TripletConfig { seed: SPLIT_SEED, held_out_fraction: args.held_out, split: args.split.into_split() };
    let triplets = TripletSet::build(&data.labels, &triplet_config).map_err(|err| CliError::Source(err.to_string()))?;
    let mut recipe = RunSpec { batch_size: args.batch.max(1), epochs: args.epochs, ..RunSpec::default() };
    let pairs = args.set.iter().map(|pair| key_value(pair)).collect::<Result<Vec<_>, _>>()?;
    apply_pairs(&mut recipe, pairs)?;
    recipe.check().map_err(|err| CliError::Usage(err.to_string()))?;
    if !recipe.pretrained {
        return Err(CliError::Usage(
            "quality starts every run from the pretrained encoder (--weights): pretrained=0 is not offered here".into(),
        ));
    }
    let kind = if data.synthetic { "SYNTHETIC shapes, not CIFAR-10" } else { "real images" };
    println!(
        "{} ({kind}): {} images, {} training and {} held-out triplets (split seed {SPLIT_SEED}); the recipe ({}), {} epochs, batch {}, on {}",
        data.name,
        data.len(),
        triplets.train.len(),
        triplets.held_out.len(),
        if args.set.is_empty() { "as published".to_string() } else { args.set.join(", ") },
        args.epochs,
        recipe.batch_size,
        args.backend.describe()
    );
    if triplet_config.split == HeldOutSplit::ByClass {
        let names: Vec<String> = held_out_classes(&data.labels, &triplet_config)
            .iter()
            .map(|&class| data.class_name(usize::from(class)))
            .collect();
        println!("held out, never trained on: the classes {}", names.join(" and "));
    }
    if let Some(dir) = &args.export {
        let batch = Batch { labels: data.labels.clone(), pixels: data.pixels.clone() };
        write(&dir.join("images.bin"), &batch.to_bytes())?;
        let export = Export {
            made_by: "tripletlab quality --export",
            dataset: &data.name,
            synthetic: data.synthetic,
            images: "images.bin",
            epochs: args.epochs,
            batch_size: recipe.batch_size,
            learning_rate: recipe.learning_rate,
            margin: recipe.loss.margin,
            patience: recipe.patience,
            train: as_lists(&triplets.train),
            held_out: as_lists(&triplets.held_out),
        };
        let json = serde_json::to_string(&export).map_err(|err| CliError::Source(err.to_string()))?;
        write(&dir.join("split.json"), json.as_bytes())?;
        println!("exported the images and the split to {}", dir.display());
    }

    let device = args.backend.init()?;
    let pretrained = fs::read(&args.weights).map_err(CliError::io(&args.weights))?;
    let mut runs = Vec::new();
    let mut labels = Vec::new();
    for seed in (0..args.seeds as u64).map(|at| args.first_seed + at) {
        let started = Instant::now();
        let config = RunSpec { seed, ..recipe.clone() };
        let model = weights::load(&args.weights.display().to_string(), &pretrained, &config.model, &device)?;
        // The split is fixed (seed 42) and only the order's seed varies: the triplets are built
        // above, not from each run's seed. Full or fast, as the description says.
        let mut training = pollster::block_on(Training::start_on(config, model, &data, &triplets, &device))?;
        let before = pollster::block_on(training.held_out_scores(&data, &triplets.held_out))?;
        let mut history = Vec::new();
        while !training.is_finished() {
            let record = pollster::block_on(training.train_epoch(&data, &triplets, args.max_steps, |_| {}))?;
            history.push(record);
        }
        let scores = pollster::block_on(training.held_out_scores(&data, &triplets.held_out))?;
        let auc = delong_interval(&scores.scores, &scores.labels).map_err(TrainError::from)?;
        let run = RunFigures {
            seed,
            history,
            best_epoch: training.state().best_epoch,
            auc_before: before.summary.auc,
            auc,
            held_out_scores: scores.scores.clone(),
            seconds: started.elapsed().as_secs_f64(),
        };
        labels = scores.labels;
        println!("{}", run_line(&run));
        println!("  before training: held-out AUC {:.4}", run.auc_before);
        runs.push(run);
    }
    let spread = Spread::of(&runs.iter().map(|run| run.auc.auc).collect::<Vec<_>>());
    println!("{}", spread_line(&spread));
    if let Some(path) = &args.report {
        let report = Report {
            trainer: "tripletlab",
            dataset: &data.name,
            synthetic: data.synthetic,
            images: data.len(),
            train_triplets: triplets.train.len(),
            held_out_triplets: triplets.held_out.len(),
            epochs: args.epochs,
            settings: tripletlab_protocol::lesson::run_query(&recipe),
            interval: "DeLong 95%",
            labels,
            held_out_sha256: sha256_hex(
                &serde_json::to_vec(&triplets.held_out).map_err(|err| CliError::Source(err.to_string()))?,
            ),
            runs,
            auc: spread,
        };
        let json = serde_json::to_string_pretty(&report).map_err(|err| CliError::Source(err.to_string()))?;
        write(path, json.as_bytes())?;
    }
    Ok(())
}

/// `tripletlab seed 1: val_loss 0.2750 0.2450 (best epoch 2) - held-out AUC 0.8450 [0.8100, 0.8800] - 95 s`
/// (`tools/keras_quality.py` prints the same line, starting "keras").
fn run_line(run: &RunFigures) -> String {
    let losses: Vec<String> = run.history.iter().map(|record| format!("{:.4}", record.val_loss)).collect();
    let best = run.best_epoch.map_or("none".to_string(), |epoch| epoch.to_string());
    format!(
        "tripletlab seed {}: val_loss {} (best epoch {best}) - held-out AUC {:.4} [{:.4}, {:.4}] (DeLong 95%) - {:.0} s",
        run.seed,
        losses.join(" "),
        run.auc.auc,
        run.auc.low,
        run.auc.high,
        run.seconds
    )
}

fn spread_line(spread: &Spread) -> String {
    format!(
        "tripletlab over {} seeds: held-out AUC mean {:.4}, sd {:.4}, min {:.4}, max {:.4}",
        spread.runs, spread.mean, spread.standard_deviation, spread.min, spread.max
    )
}

#[cfg(test)]
mod tests {
    use super::Spread;

    #[test]
    fn spread_of_known_values() {
        let spread = Spread::of(&[0.8, 0.9, 1.0]);
        assert!((spread.mean - 0.9).abs() < 1e-12);
        assert!((spread.standard_deviation - 0.1).abs() < 1e-12);
        assert_eq!((spread.min, spread.max), (0.8, 1.0));
        assert_eq!(Spread::of(&[0.7]).standard_deviation, 0.0);
    }
}

#[derive(Args)]
pub struct CompareArgs {
    /// The first recipe's report (`tripletlab quality --report`).
    pub first: PathBuf,
    /// The second recipe's report, on the same data and split.
    pub second: PathBuf,
}

/// A `tripletlab quality` report, as `compare` reads it.
#[derive(Deserialize)]
struct ReadReport {
    dataset: String,
    held_out_triplets: usize,
    settings: String,
    #[serde(default)]
    labels: Vec<bool>,
    #[serde(default)]
    held_out_sha256: String,
    runs: Vec<RunFigures>,
}

/// `tripletlab compare A.json B.json`: two recipes' `quality` reports on the same held-out pairs,
/// seed by seed: each AUC, the difference (second - first) with its 95% interval and DeLong's
/// paired p-value, then the mean difference over the seeds against the seeds' spread.
pub fn compare(args: CompareArgs) -> Result<(), CliError> {
    let read = |path: &PathBuf| -> Result<ReadReport, CliError> {
        let text = fs::read_to_string(path).map_err(CliError::io(path))?;
        serde_json::from_str(&text)
            .map_err(|err| CliError::Source(format!("{}: not a quality report: {err}", path.display())))
    };
    let (first, second) = (read(&args.first)?, read(&args.second)?);
    if first.labels.is_empty() || first.held_out_sha256.is_empty() || second.held_out_sha256.is_empty() {
        return Err(CliError::Source(
            "a report without held-out scores or triplets (made before they were written): run it again".into(),
        ));
    }
    // The same pairs: the same held-out triplets (data, images, split and its seed), not only as many.
    if first.dataset != second.dataset
        || first.held_out_sha256 != second.held_out_sha256
        || first.labels != second.labels
    {
        return Err(CliError::Source(format!(
            "the reports scored different held-out pairs ({} with {} held-out triplets, {} with {}): run both on the \
             same data and split",
            first.dataset, first.held_out_triplets, second.dataset, second.held_out_triplets
        )));
    }
    println!("first:  {}", first.settings);
    println!("second: {}", second.settings);
    println!("| seed | first AUC | second AUC | second - first [DeLong 95%] | p |");
    println!("|---|---|---|---|---|");
    let mut differences = Vec::new();
    for a in &first.runs {
        let Some(b) = second.runs.iter().find(|b| b.seed == a.seed) else { continue };
        let test =
            delong_difference(&a.held_out_scores, &b.held_out_scores, &first.labels).map_err(TrainError::from)?;
        // delong_difference(first, second) is first - second: the table shows second - first.
        println!(
            "| {} | {:.4} | {:.4} | {:+.4} [{:+.4}, {:+.4}] | {:.2e} |",
            a.seed, test.first, test.second, -test.difference, -test.high, -test.low, test.p_value
        );
        differences.push(-test.difference);
    }
    if differences.is_empty() {
        return Err(CliError::Source("the reports share no seed".into()));
    }
    // Over the seeds both reports ran.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for run in &first.runs {
        if let Some(other) = second.runs.iter().find(|other| other.seed == run.seed) {
            a.push(run.auc.auc);
            b.push(other.auc.auc);
        }
    }
    let (a, b, d) = (Spread::of(&a), Spread::of(&b), Spread::of(&differences));
    println!(
        "over {} seeds: first AUC mean {:.4} (sd {:.4}), second {:.4} (sd {:.4}); difference mean {:+.4} (sd {:.4}, \
         {:+.4} to {:+.4})",
        d.runs, a.mean, a.standard_deviation, b.mean, b.standard_deviation, d.mean, d.standard_deviation, d.min, d.max
    );
    Ok(())
}

//! `tripletlab train`: the recipe, headless, on a native backend.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde::Serialize;
use tripletlab_core::data::augment::Augmentation;
use tripletlab_core::data::triplets::{HeldOutSplit, TripletConfig, TripletSet};
use tripletlab_core::loss::{Distance, Reduction, TripletLoss};
use tripletlab_core::metrics::{
    Retrieval, RetrievalConfig, RocCurve, Verification, VerificationSummary, cosine_of_angular,
};
use tripletlab_core::mining::{Mining, MiningConfig};
use tripletlab_core::model::{InputScaling, MobileNetV2Config, weights};
use tripletlab_core::train::{BranchPasses, EpochRecord, HeldOutScores, TrainError, Trainer, TrainerConfig};

use crate::backend::BackendName;
use crate::dataset::read_prepared;
use crate::error::CliError;

pub const DEFAULT_WEIGHTS: &str = "public/weights/mobilenetv2_1.0.safetensors";

#[derive(Args)]
pub struct TrainArgs {
    /// A prepared dataset folder (from `tripletlab prepare`).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value_t = BackendName::Flex)]
    pub backend: BackendName,
    /// Where to write the JSON report (config, per-epoch history, held-out scores, AUC).
    #[arg(long)]
    pub report: PathBuf,
    /// Checkpoint file, rewritten after every epoch [default: next to the report].
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Resume from a checkpoint instead of starting fresh (its settings win).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Pretrained weights for width 1.0 (other widths start from random weights).
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub weights: PathBuf,
    /// Start from random weights even at width 1.0.
    #[arg(long)]
    pub no_pretrained: bool,
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// BatchNorm momentum (Keras' meaning); use e.g. 0.9 when training from random weights.
    #[arg(long, default_value_t = 0.999)]
    pub bn_momentum: f64,
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.4)]
    pub margin: f64,
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = DistanceArg::Cosine)]
    pub distance: DistanceArg,
    #[arg(long, value_enum, default_value_t = ReductionArg::MeanWithZeros)]
    pub reduction: ReductionArg,
    #[arg(long, value_enum, default_value_t = PassesArg::Separate)]
    pub passes: PassesArg,
    #[arg(long, value_enum, default_value_t = ScalingArg::Unit)]
    pub scaling: ScalingArg,
    /// Hold out triplets (the recipe) or images (no held-out image is ever trained on).
    #[arg(long, value_enum, default_value_t = SplitArg::Triplet)]
    pub split: SplitArg,
    #[arg(long, default_value_t = 0.05)]
    pub held_out: f64,
    /// Use only the first N shards of the dataset.
    #[arg(long)]
    pub shards: Option<usize>,
    /// Build triplets from the first N images only (the page's "Images" setting).
    #[arg(long)]
    pub images: Option<usize>,
    /// Random horizontal flips and 4-pixel-padded random crops.
    #[arg(long)]
    pub augment: bool,
    /// Stop each epoch after this many steps (quick trials); the epoch is still evaluated.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Online mining instead of the recipe's fixed triplets: P x K batches, triplets chosen in each.
    #[arg(long, value_enum, default_value_t = MiningArg::None)]
    pub mining: MiningArg,
    /// P: classes in each mined batch.
    #[arg(long, default_value_t = 5)]
    pub classes_per_batch: usize,
    /// K: images of each class in a mined batch.
    #[arg(long, default_value_t = 4)]
    pub images_per_class: usize,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum MiningArg {
    None,
    BatchAll,
    BatchHard,
    SemiHard,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DistanceArg {
    Cosine,
    Euclidean,
}
#[derive(Clone, Copy, ValueEnum)]
pub enum ReductionArg {
    MeanWithZeros,
    MeanOverActive,
}
#[derive(Clone, Copy, ValueEnum)]
pub enum PassesArg {
    Separate,
    Concatenated,
}
#[derive(Clone, Copy, ValueEnum)]
pub enum ScalingArg {
    Unit,
    Symmetric,
}
#[derive(Clone, Copy, ValueEnum)]
pub enum SplitArg {
    Triplet,
    Image,
}

impl SplitArg {
    pub fn into_split(self) -> HeldOutSplit {
        match self {
            Self::Triplet => HeldOutSplit::ByTriplet,
            Self::Image => HeldOutSplit::ByImage,
        }
    }
}

impl ScalingArg {
    pub fn into_scaling(self) -> InputScaling {
        match self {
            Self::Unit => InputScaling::Unit,
            Self::Symmetric => InputScaling::Symmetric,
        }
    }
}

#[derive(Serialize)]
struct Report<'a> {
    dataset: &'a str,
    synthetic: bool,
    images: usize,
    train_triplets: usize,
    held_out_triplets: usize,
    backend: &'static str,
    config: &'a TrainerConfig,
    pretrained: bool,
    /// The loss of this run's first step (before any update): what the page's first step must show.
    first_step_loss: Option<f32>,
    history: Vec<EpochLine>,
    best_epoch: Option<usize>,
    held_out: &'a HeldOutScores,
    /// The ROC curve of the held-out pairs (scikit-learn's points, intermediate ones dropped).
    roc: RocCurve,
    /// 1:N search among the held-out images by cosine similarity.
    retrieval: Retrieval,
}

#[derive(Serialize)]
struct EpochLine {
    #[serde(flatten)]
    record: EpochRecord,
    seconds: f64,
    triplets_per_second: f64,
}

pub fn run(args: TrainArgs) -> Result<(), CliError> {
    let data = read_prepared(&args.data, args.shards)?;
    let triplet_config =
        TripletConfig { seed: args.seed, held_out_fraction: args.held_out, split: args.split.into_split() };
    let count = args.images.filter(|&n| n > 0).map_or(data.len(), |n| n.min(data.len()));
    let triplets =
        TripletSet::build(&data.labels[..count], &triplet_config).map_err(|err| CliError::Source(err.to_string()))?;
    let device = args.backend.init()?;

    let (mut trainer, pretrained) = match &args.resume {
        Some(path) => {
            let bytes = fs::read(path).map_err(CliError::io(path))?;
            (Trainer::resume(&path.display().to_string(), &bytes, &device)?, false)
        }
        None => {
            let config = trainer_config(&args);
            let use_pretrained = config.model.width == 1.0 && !args.no_pretrained;
            let model = if use_pretrained {
                let bytes = fs::read(&args.weights).map_err(CliError::io(&args.weights))?;
                weights::load(&args.weights.display().to_string(), &bytes, &config.model, &device)?
            } else {
                eprintln!("note: width {} has no pretrained weights; starting from random weights", config.model.width);
                weights::seeded_init(&config.model, config.seed, &device)?
            };
            (Trainer::new(model, config, &device), use_pretrained)
        }
    };
    let checkpoint_path =
        args.checkpoint.clone().unwrap_or_else(|| args.report.with_extension("checkpoint.safetensors"));
    let kind = if data.synthetic { "SYNTHETIC shapes, not CIFAR-10" } else { "real images" };
    println!(
        "{} ({kind}): {count} of its {} images, {} training and {} held-out triplets; {} on {}",
        data.name,
        data.len(),
        triplets.train.len(),
        triplets.held_out.len(),
        if pretrained { "pretrained MobileNetV2" } else { "MobileNetV2" },
        args.backend.describe()
    );

    let mut history = Vec::new();
    let mut first_step_loss = None;
    let epochs = trainer.config().epochs;
    while !trainer.is_finished() {
        let started = Instant::now();
        let mut triplets_done = 0;
        let mut train_seconds = 0.0;
        let record = pollster::block_on(trainer.train_epoch(
            &data,
            &triplets.train,
            &triplets.held_out,
            args.max_steps,
            |report| {
                if report.epoch == 1 && report.step == 1 {
                    first_step_loss = Some(report.loss);
                }
                triplets_done += report.triplets;
                train_seconds = started.elapsed().as_secs_f64();
                if report.step % 50 == 0 {
                    eprintln!("  step {}/{}: loss {:.4}", report.step, report.steps_per_epoch, report.loss);
                }
            },
        ))?;
        let seconds = started.elapsed().as_secs_f64();
        let per_second = triplets_done as f64 / train_seconds.max(1e-9);
        println!(
            "Epoch {}/{epochs} - {seconds:.1}s - loss: {:.4} - val_loss: {:.4} - {per_second:.1} triplets/s{}",
            record.epoch,
            record.loss,
            record.val_loss,
            if record.improved { " (best)" } else { "" }
        );
        history.push(EpochLine { record, seconds, triplets_per_second: per_second });
        let bytes = pollster::block_on(trainer.checkpoint())?;
        write(&checkpoint_path, &bytes)?;
    }
    let scores = pollster::block_on(trainer.held_out_scores(&data, &triplets.held_out))?;
    print_summary(&scores.summary, trainer.state().best_epoch);
    let roc = Verification::new(&scores.scores, &scores.labels).map_err(TrainError::from)?.roc(true);
    let retrieval =
        pollster::block_on(trainer.held_out_retrieval(&data, &triplets.held_out, &RetrievalConfig::default()))?;
    println!(
        "  1:N search among {} held-out images: precision@1 {:.4}, R-precision {:.4}, MAP@R {:.4}",
        retrieval.queries + retrieval.lone_queries,
        retrieval.precision_at_1,
        retrieval.r_precision,
        retrieval.map_at_r
    );
    let report = Report {
        dataset: &data.name,
        synthetic: data.synthetic,
        images: data.len(),
        train_triplets: triplets.train.len(),
        held_out_triplets: triplets.held_out.len(),
        backend: args.backend.describe(),
        config: trainer.config(),
        pretrained,
        first_step_loss,
        history,
        best_epoch: trainer.state().best_epoch,
        held_out: &scores,
        roc,
        retrieval,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|err| CliError::Source(err.to_string()))?;
    write(&args.report, json.as_bytes())?;
    println!("report: {}; checkpoint: {}", args.report.display(), checkpoint_path.display());
    Ok(())
}

fn print_summary(summary: &VerificationSummary, best_epoch: Option<usize>) {
    let best = best_epoch.map_or("none".to_string(), |epoch| format!("{epoch}, weights restored"));
    println!(
        "held-out pairs ({} genuine, {} impostor): ROC AUC {:.4}; EER {:.4} (threshold {:.4}); best epoch {best}",
        summary.positives, summary.negatives, summary.auc, summary.eer.rate, summary.eer.threshold
    );
    for point in &summary.at_fmr {
        let caveat = if point.resolvable { "" } else { " (too few impostor pairs to measure this rate)" };
        println!(
            "  at FMR {:.0e}: TMR {:.4}, threshold {:.4} (cosine {:.4}){caveat}",
            point.target,
            point.tmr,
            point.threshold,
            cosine_of_angular(point.threshold)
        );
    }
    let f1 = summary.best_f1;
    println!(
        "  best F1 {:.4} at threshold {:.4}: precision {:.4}, recall {:.4}",
        f1.f1, f1.threshold, f1.precision, f1.recall
    );
}

fn trainer_config(args: &TrainArgs) -> TrainerConfig {
    TrainerConfig {
        learning_rate: args.lr,
        batch_size: args.batch.max(1),
        epochs: args.epochs.max(1),
        patience: args.patience.max(1),
        seed: args.seed,
        loss: TripletLoss {
            margin: args.margin,
            distance: match args.distance {
                DistanceArg::Cosine => Distance::Cosine,
                DistanceArg::Euclidean => Distance::Euclidean,
            },
            reduction: match args.reduction {
                ReductionArg::MeanWithZeros => Reduction::MeanWithZeros,
                ReductionArg::MeanOverActive => Reduction::MeanOverActive,
            },
        },
        passes: match args.passes {
            PassesArg::Separate => BranchPasses::Separate,
            PassesArg::Concatenated => BranchPasses::Concatenated,
        },
        scaling: args.scaling.into_scaling(),
        augmentation: if args.augment { Augmentation { flip: true, crop_padding: 4 } } else { Augmentation::default() },
        model: MobileNetV2Config { width: args.width, bn_momentum: args.bn_momentum },
        adam: Default::default(),
        mining: {
            let strategy = match args.mining {
                MiningArg::None => None,
                MiningArg::BatchAll => Some(Mining::BatchAll),
                MiningArg::BatchHard => Some(Mining::BatchHard),
                MiningArg::SemiHard => Some(Mining::SemiHard),
            };
            strategy.map(|strategy| MiningConfig {
                strategy,
                classes: args.classes_per_batch,
                per_class: args.images_per_class,
            })
        },
    }
}

/// Write through a temporary file, so an interrupted write never leaves half a checkpoint.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(CliError::io(parent))?;
    }
    let partial = path.with_extension("partial");
    fs::write(&partial, bytes).map_err(CliError::io(&partial))?;
    fs::rename(&partial, path).map_err(CliError::io(path))
}

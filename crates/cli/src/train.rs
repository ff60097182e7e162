//! `tripletlab train`: the recipe, headless, on a native backend.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde::Serialize;
use tripletlab_core::data::augment::Augmentation;
use tripletlab_core::data::triplets::HeldOutSplit;
use tripletlab_core::metrics::{
    Retrieval, RetrievalConfig, RocCurve, Verification, VerificationSummary, cosine_of_angular,
};
use tripletlab_core::mining::{Mining, MiningConfig};
use tripletlab_core::model::{InputScaling, weights};
use tripletlab_core::run::query::DEFAULT_PK;
use tripletlab_core::run::{BranchPasses, Distance, Reduction, RunSpec};
use tripletlab_core::train::{EpochRecord, HeldOutScores, TrainError, Trainer};

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
    /// Every setting of the run at once, as a lesson link writes them (the page's "Link to these
    /// settings": `preset=tutorial&margin=0.2&...`, with or without the page's address before
    /// `?`). The flags below change it further. Without it: the recipe.
    #[arg(long)]
    pub settings: Option<String>,
    /// Start from random weights even at width 1.0.
    #[arg(long)]
    pub no_pretrained: bool,
    #[arg(long)]
    pub width: Option<f64>,
    /// BatchNorm momentum (Keras' meaning); use e.g. 0.9 when training from random weights.
    #[arg(long)]
    pub bn_momentum: Option<f64>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub margin: Option<f64>,
    #[arg(long)]
    pub patience: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum)]
    pub distance: Option<DistanceArg>,
    #[arg(long, value_enum)]
    pub reduction: Option<ReductionArg>,
    #[arg(long, value_enum)]
    pub passes: Option<PassesArg>,
    #[arg(long, value_enum)]
    pub scaling: Option<ScalingArg>,
    /// Hold out triplets (the recipe) or images (no held-out image is ever trained on).
    #[arg(long, value_enum)]
    pub split: Option<SplitArg>,
    /// Share held out, in (0, 1).
    #[arg(long)]
    pub held_out: Option<f64>,
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
    #[arg(long, value_enum)]
    pub mining: Option<MiningArg>,
    /// P: classes in each mined batch [default: 5].
    #[arg(long)]
    pub classes_per_batch: Option<usize>,
    /// K: images of each class in a mined batch [default: 4].
    #[arg(long)]
    pub images_per_class: Option<usize>,
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
    /// The run's description (the same as the checkpoint's and the page's).
    run: &'a RunSpec,
    /// The run's settings as a lesson link's query: `--settings` and the page read it back.
    settings: String,
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
    let device = args.backend.init()?;
    let mut trainer = match &args.resume {
        Some(path) => {
            let bytes = fs::read(path).map_err(CliError::io(path))?;
            Trainer::resume(&path.display().to_string(), &bytes, &device)?
        }
        None => {
            let spec = args.spec()?;
            let model = if spec.pretrained {
                let bytes = fs::read(&args.weights).map_err(CliError::io(&args.weights))?;
                weights::load(&args.weights.display().to_string(), &bytes, &spec.model, &device)?
            } else {
                if spec.model.width != 1.0 && !args.no_pretrained {
                    eprintln!(
                        "note: width {} has no pretrained weights; starting from random weights",
                        spec.model.width
                    );
                }
                weights::seeded_init(&spec.model, spec.seed, &device)?
            };
            Trainer::new(model, spec, &device)
        }
    };
    // A resumed run trains on exactly its own split, or is refused with what differs.
    let triplets = trainer.triplets(&data)?;
    let count = trainer.run_data().map_or(data.len(), |record| record.images);
    let pretrained = trainer.spec().pretrained;
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
    let epochs = trainer.spec().epochs;
    while !trainer.is_finished() {
        let started = Instant::now();
        let mut triplets_done = 0;
        let mut train_seconds = 0.0;
        let record = pollster::block_on(trainer.train_epoch(&data, &triplets, args.max_steps, |report| {
            if report.epoch == 1 && report.step == 1 {
                first_step_loss = Some(report.loss);
            }
            triplets_done += report.triplets;
            train_seconds = started.elapsed().as_secs_f64();
            if report.step % 50 == 0 {
                eprintln!("  step {}/{}: loss {:.4}", report.step, report.steps_per_epoch, report.loss);
            }
        }))?;
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
        run: trainer.spec(),
        settings: tripletlab_protocol::lesson::run_query(trainer.spec()),
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

impl TrainArgs {
    /// The run these arguments describe: `--settings` (or the recipe), then every flag given.
    pub fn spec(&self) -> Result<RunSpec, CliError> {
        let mut spec = match &self.settings {
            Some(link) => {
                let query = link.split_once('?').map_or(link.as_str(), |(_, query)| query);
                let parsed = tripletlab_protocol::lesson::Lesson::from_query(query);
                if !parsed.problems.is_empty() {
                    return Err(CliError::Usage(format!("--settings: {}", parsed.problems.join("; "))));
                }
                parsed.lesson.settings.run
            }
            None => RunSpec::tutorial(),
        };
        if self.no_pretrained {
            spec.pretrained = false;
        }
        if let Some(width) = self.width {
            spec.model.width = width;
            spec.pretrained &= width == 1.0;
        }
        if self.augment {
            spec.augmentation = Augmentation { flip: true, crop_padding: 4 };
        }
        if let Some(v) = self.bn_momentum {
            spec.model.bn_momentum = v;
        }
        if let Some(v) = self.epochs {
            spec.epochs = v;
        }
        if let Some(v) = self.batch {
            spec.batch_size = v;
        }
        if let Some(v) = self.lr {
            spec.learning_rate = v;
        }
        if let Some(v) = self.margin {
            spec.loss.margin = v;
        }
        if let Some(v) = self.patience {
            spec.patience = v;
        }
        if let Some(v) = self.seed {
            spec.seed = v;
        }
        if let Some(v) = self.held_out {
            spec.data.held_out = v;
        }
        if let Some(v) = self.images {
            spec.data.images = v;
        }
        if let Some(v) = self.split {
            spec.data.split = v.into_split();
        }
        if let Some(v) = self.scaling {
            spec.scaling = v.into_scaling();
        }
        if let Some(v) = self.distance {
            spec.loss.distance = match v {
                DistanceArg::Cosine => Distance::Cosine,
                DistanceArg::Euclidean => Distance::Euclidean,
            };
        }
        if let Some(v) = self.reduction {
            spec.loss.reduction = match v {
                ReductionArg::MeanWithZeros => Reduction::MeanWithZeros,
                ReductionArg::MeanOverActive => Reduction::MeanOverActive,
            };
        }
        if let Some(v) = self.passes {
            spec.passes = match v {
                PassesArg::Separate => BranchPasses::Separate,
                PassesArg::Concatenated => BranchPasses::Concatenated,
            };
        }
        if let Some(v) = self.mining {
            let (classes, per_class) = spec.mining.map_or(DEFAULT_PK, |m| (m.classes, m.per_class));
            spec.mining = v.strategy().map(|strategy| MiningConfig { strategy, classes, per_class });
        }
        for (count, is_p) in [(self.classes_per_batch, true), (self.images_per_class, false)] {
            let Some(count) = count else { continue };
            let Some(mining) = spec.mining.as_mut() else {
                return Err(CliError::Usage(
                    "--classes-per-batch and --images-per-class need --mining (batch-all, batch-hard or semi-hard)"
                        .into(),
                ));
            };
            if is_p {
                mining.classes = count;
            } else {
                mining.per_class = count;
            }
        }
        spec.check().map_err(|err| CliError::Usage(err.to_string()))?;
        Ok(spec)
    }
}

impl MiningArg {
    fn strategy(self) -> Option<Mining> {
        match self {
            Self::None => None,
            Self::BatchAll => Some(Mining::BatchAll),
            Self::BatchHard => Some(Mining::BatchHard),
            Self::SemiHard => Some(Mining::SemiHard),
        }
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

#[cfg(test)]
mod tests {
    use clap::Parser;
    use tripletlab_core::data::augment::Augmentation;
    use tripletlab_core::data::triplets::HeldOutSplit;
    use tripletlab_core::mining::{Mining, MiningConfig};
    use tripletlab_core::run::{
        AdamSettings, BranchPasses, DataSpec, Distance, InputScaling, MobileNetV2Config, Reduction, RunSpec,
        TripletLoss,
    };

    use super::TrainArgs;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: TrainArgs,
    }

    fn spec_of(flags: &[&str]) -> Result<RunSpec, String> {
        let argv = ["tripletlab", "--data", "d", "--report", "r.json"].iter().chain(flags);
        let command = Command::try_parse_from(argv).map_err(|err| err.to_string())?;
        command.args.spec().map_err(|err| err.to_string())
    }

    /// Every flag reaches its field of the run description, and nothing else changes.
    #[test]
    fn flags_make_the_run_description() {
        assert_eq!(spec_of(&[]), Ok(RunSpec::tutorial()), "no flags: the recipe");
        let flags = [
            "--no-pretrained",
            "--width",
            "0.5",
            "--bn-momentum",
            "0.9",
            "--epochs",
            "3",
            "--batch",
            "16",
            "--lr",
            "0.002",
            "--margin",
            "0.3",
            "--patience",
            "5",
            "--seed",
            "9",
            "--distance",
            "euclidean",
            "--reduction",
            "mean-over-active",
            "--passes",
            "concatenated",
            "--scaling",
            "symmetric",
            "--split",
            "image",
            "--held-out",
            "0.25",
            "--images",
            "500",
            "--augment",
            "--mining",
            "batch-hard",
            "--classes-per-batch",
            "6",
            "--images-per-class",
            "3",
        ];
        let expected = RunSpec {
            data: DataSpec { images: 500, held_out: 0.25, split: HeldOutSplit::ByImage },
            pretrained: false,
            model: MobileNetV2Config { width: 0.5, bn_momentum: 0.9 },
            scaling: InputScaling::Symmetric,
            passes: BranchPasses::Concatenated,
            loss: TripletLoss { margin: 0.3, distance: Distance::Euclidean, reduction: Reduction::MeanOverActive },
            learning_rate: 0.002,
            adam: AdamSettings::default(),
            batch_size: 16,
            epochs: 3,
            patience: 5,
            seed: 9,
            augmentation: Augmentation { flip: true, crop_padding: 4 },
            mining: Some(MiningConfig { strategy: Mining::BatchHard, classes: 6, per_class: 3 }),
            fast_mode: false,
        };
        assert_eq!(spec_of(&flags), Ok(expected.clone()));
        // The same run as a link's query, as the report writes it and the page links it.
        let query = tripletlab_protocol::lesson::run_query(&expected);
        assert_eq!(spec_of(&["--settings", &query]), Ok(expected.clone()));
        let link = format!("https://example.org/lab/?{query}&hide=settings&title=A%20lesson");
        assert_eq!(spec_of(&["--settings", &link]), Ok(expected.clone()), "a whole page link works too");
        // Flags change a link's settings.
        let changed = spec_of(&["--settings", &query, "--margin", "0.5"]).map(|spec| spec.loss.margin);
        assert_eq!(changed, Ok(0.5));
    }

    #[test]
    fn bad_settings_are_refused_with_what_is_wrong() {
        let err = spec_of(&["--settings", "preset=quick&margin=9&colour=red"]).expect_err("refused");
        assert!(err.contains("margin=9 is outside 0..=2") && err.contains("'colour' is not a setting"), "{err}");
        let err = spec_of(&["--classes-per-batch", "4"]).expect_err("refused");
        assert!(err.contains("need --mining"), "{err}");
        let err = spec_of(&["--epochs", "0"]).expect_err("refused");
        assert!(err.contains("epochs 0 is outside"), "{err}");
        let err =
            spec_of(&["--width", "0.75", "--settings", "preset=tutorial&fast=1&mining=batch-all"]).expect_err("no");
        assert!(err.contains("fast mode"), "{err}");
    }
}

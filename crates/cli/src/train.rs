//! `tripletlab train`: the recipe, headless, on a native backend.

use std::fs;
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use serde::Serialize;
use tripletlab_core::metrics::{Retrieval, RetrievalConfig, RocCurve, Verification, VerificationSummary};
use tripletlab_core::model::{MobileNetV2, weights};
use tripletlab_core::run::{Distance, RunSpec};
use tripletlab_core::train::{EpochRecord, HeldOutScores, StepReport, TrainError};
use tripletlab_core::training::Training;

use crate::dataset::read_prepared;
use crate::error::CliError;
use crate::settings::TrainArgs;

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
    /// The held-out pairs' ROC AUC and 1:N precision@1 before the first step of a new run (the
    /// untrained model: pretrained or random weights, fast mode's untrained head): what training
    /// changed is the final figures against these. `None` for a resumed run.
    before_training: Option<Before>,
    history: Vec<EpochLine>,
    best_epoch: Option<usize>,
    held_out: &'a HeldOutScores,
    /// The ROC curve of the held-out pairs (scikit-learn's points, intermediate ones dropped).
    roc: RocCurve,
    /// 1:N search among the held-out images by the run's distance.
    retrieval: Retrieval,
}

#[derive(Serialize)]
struct Before {
    auc: f64,
    precision_at_1: f64,
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
    let (mut training, triplets) = match &args.resume {
        Some(path) => {
            let bytes = fs::read(path).map_err(CliError::io(path))?;
            // A resumed run trains on exactly its own split, or is refused with what differs.
            Training::resume(&path.display().to_string(), &bytes, &data, &device)?
        }
        None => {
            let spec = args.spec()?;
            let model = initial_model(&args, &spec, &device)?;
            pollster::block_on(Training::start(spec, model, &data, &device))?
        }
    };
    if let Training::Fast(_) = &training {
        println!("{}", training.describe());
    }
    let spec = training.spec().clone();
    let count = match &training {
        Training::Full(trainer) => trainer.run_data().map_or(data.len(), |record| record.images),
        Training::Fast(_) => spec.image_count(data.len()),
    };
    let checkpoint_path =
        args.checkpoint.clone().unwrap_or_else(|| args.report.with_extension("checkpoint.safetensors"));
    let kind = if data.synthetic { "SYNTHETIC shapes, not CIFAR-10" } else { "real images" };
    println!(
        "{} ({kind}): {count} of its {} images, {} training and {} held-out triplets; {} on {}; {} over {} distance",
        data.name,
        data.len(),
        triplets.train.len(),
        triplets.held_out.len(),
        if spec.pretrained { "pretrained MobileNetV2" } else { "MobileNetV2" },
        args.backend.describe(),
        spec.loss.kind.name(),
        spec.loss.distance.name(),
    );

    // Searched by the run's own distance, as the page searches.
    let config = RetrievalConfig { distance: spec.loss.distance, ..RetrievalConfig::default() };
    let new_run = training.state().epoch == 0 && training.state().step_in_epoch == 0;
    let before_training = if new_run {
        let scores = pollster::block_on(training.held_out_scores(&data, &triplets.held_out))?;
        let retrieval = pollster::block_on(training.held_out_retrieval(&data, &triplets.held_out, &config))?;
        println!(
            "Before training - held-out ROC AUC {:.4} - precision@1 {:.4}",
            scores.summary.auc, retrieval.precision_at_1
        );
        Some(Before { auc: scores.summary.auc, precision_at_1: retrieval.precision_at_1 })
    } else {
        None
    };
    let mut history = Vec::new();
    let mut first_step_loss = None;
    loop {
        if training.is_finished() {
            break;
        }
        let started = Instant::now();
        let mut triplets_done = 0;
        let mut train_seconds = 0.0;
        let on_step = |report: &StepReport| {
            if report.epoch == 1 && report.step == 1 {
                first_step_loss = Some(report.loss);
            }
            triplets_done += report.triplets;
            train_seconds = started.elapsed().as_secs_f64();
            if report.step % 50 == 0 {
                eprintln!("  step {}/{}: loss {:.4}", report.step, report.steps_per_epoch, report.loss);
            }
        };
        let record = pollster::block_on(training.train_epoch(&data, &triplets, args.max_steps, on_step))?;
        let seconds = started.elapsed().as_secs_f64();
        let per_second = triplets_done as f64 / train_seconds.max(1e-9);
        println!(
            "Epoch {}/{} - {seconds:.1}s - loss: {:.4} - val_loss: {:.4} - {per_second:.1} triplets/s{}",
            record.epoch,
            spec.epochs,
            record.loss,
            record.val_loss,
            if record.improved { " (best)" } else { "" }
        );
        history.push(EpochLine { record, seconds, triplets_per_second: per_second });
        // Fast mode keeps no checkpoint: its head is cheap to train again (as in the page).
        if let Some(bytes) = pollster::block_on(training.checkpoint()) {
            write(&checkpoint_path, &bytes?)?;
        }
    }
    let scores = pollster::block_on(training.held_out_scores(&data, &triplets.held_out))?;
    let retrieval = pollster::block_on(training.held_out_retrieval(&data, &triplets.held_out, &config))?;
    let best_epoch = training.state().best_epoch;
    print_summary(&scores.summary, best_epoch, spec.loss.distance);
    let roc = Verification::new(&scores.scores, &scores.labels).map_err(TrainError::from)?.roc(true);
    println!(
        "  1:N search among {} held-out images by {} distance: precision@1 {:.4}, R-precision {:.4}, MAP@R {:.4}",
        retrieval.queries + retrieval.lone_queries,
        spec.loss.distance.name(),
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
        run: &spec,
        settings: tripletlab_protocol::lesson::run_query(&spec),
        first_step_loss,
        before_training,
        history,
        best_epoch,
        held_out: &scores,
        roc,
        retrieval,
    };
    let json = serde_json::to_string_pretty(&report).map_err(|err| CliError::Source(err.to_string()))?;
    write(&args.report, json.as_bytes())?;
    match training {
        Training::Fast(_) => println!("report: {} (fast mode keeps no checkpoint)", args.report.display()),
        Training::Full(_) => println!("report: {}; checkpoint: {}", args.report.display(), checkpoint_path.display()),
    }
    Ok(())
}

/// The encoder a new run starts from: the pretrained weights, or seeded random ones.
fn initial_model(args: &TrainArgs, spec: &RunSpec, device: &Device) -> Result<MobileNetV2, CliError> {
    if spec.pretrained {
        let bytes = fs::read(&args.weights).map_err(CliError::io(&args.weights))?;
        return Ok(weights::load(&args.weights.display().to_string(), &bytes, &spec.model, device)?);
    }
    if spec.model.width != 1.0 && !args.no_pretrained {
        eprintln!("note: width {} has no pretrained weights; starting from random weights", spec.model.width);
    }
    Ok(weights::seeded_init(&spec.model, spec.seed, device)?)
}

/// The held-out pairs' figures; thresholds are on the run's similarity scale, with the distance
/// each one means beside it.
fn print_summary(summary: &VerificationSummary, best_epoch: Option<usize>, distance: Distance) {
    let best = best_epoch.map_or("none".to_string(), |epoch| format!("{epoch}, weights restored"));
    println!(
        "held-out pairs ({} genuine, {} impostor): ROC AUC {:.4}; EER {:.4} (threshold {:.4}); best epoch {best}",
        summary.positives, summary.negatives, summary.auc, summary.eer.rate, summary.eer.threshold
    );
    println!("  thresholds are on the {} scale (higher is more alike)", distance.similarity_name());
    for point in &summary.at_fmr {
        let caveat = if point.resolvable { "" } else { " (too few impostor pairs to measure this rate)" };
        println!(
            "  at FMR {:.0e}: TMR {:.4}, threshold {:.4} ({} distance {:.4}){caveat}",
            point.target,
            point.tmr,
            point.threshold,
            distance.name(),
            distance.distance_of(point.threshold)
        );
    }
    let f1 = summary.best_f1;
    println!(
        "  best F1 {:.4} at threshold {:.4}: precision {:.4}, recall {:.4}",
        f1.f1, f1.threshold, f1.precision, f1.recall
    );
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

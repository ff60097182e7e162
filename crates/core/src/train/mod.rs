//! The trainer: the recipe's loop as a step-by-step API, so a browser worker can interleave
//! messages between steps. Every read-back is asynchronous.
//!
//! - this file: the trainer, its state and errors, and the run's triplets ([`Trainer::triplets`]);
//! - `step`: one step on fixed triplets or on a mined P x K batch, and the end of an epoch (held-out
//!   loss, early stopping, restore-best);
//! - `evaluate`: held-out loss, templates, the recipe's scores and retrieval (shared with fast
//!   mode's head);
//! - `checkpoint`: a run as one safetensors file, and reading it back (checked before any step);
//! - `run_loop`: what every face's loop does next ([`Steps`], [`advance`]).
//!
//! One step: a batch of triplets through the backbone (three passes, as the recipe's Keras model
//! calls one backbone three times, so BatchNorm normalises each branch with its own batch; or one
//! concatenated pass), the triplet loss, `backward()`, Adam. At the end of an epoch: the held-out
//! loss in inference mode, and early stopping with restore-best.

mod checkpoint;
mod evaluate;
pub mod launches;
mod run_loop;
mod schedule;
mod step;

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

pub use checkpoint::{CHECKPOINT_FORMAT, LoadedEncoder, load_encoder};
pub(crate) use evaluate::retrieval_among;
pub use evaluate::{HeldOutScores, embed, embed_images, held_out_scores};
pub use run_loop::{Next, Steps, advance, train_epoch};
pub use schedule::{EpochEnd, Limits, Schedule};
pub use step::readbacks;
pub(crate) use step::{BatchLoss, MinedLoss, read_f32};

use crate::data::Dataset;
use crate::data::triplets::TripletSet;
use crate::mining::{MinedCounts, MinedMatrix};
use crate::model::safetensors::TensorFile;
use crate::model::{InputScaling, MobileNetV2, weights};
use crate::optim::KerasAdam;
pub use crate::run::{BranchPasses, RunData, RunDataError, RunSpec, SpecError};

/// What one step did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// 1-based epoch and step within it.
    pub epoch: usize,
    pub step: usize,
    pub steps_per_epoch: usize,
    pub triplets: usize,
    pub loss: f32,
    /// Fraction of triplets with a positive loss (still violating the margin).
    pub active_fraction: f32,
    pub mean_positive_distance: f32,
    pub mean_negative_distance: f32,
    /// With online mining: what the batch offered and what was chosen.
    #[serde(default)]
    pub mined: Option<MinedCounts>,
}

/// One finished epoch, as Keras logs it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    /// Mean training loss over the epoch's triplets.
    pub loss: f64,
    /// Held-out loss in inference mode.
    pub val_loss: f64,
    pub improved: bool,
}

/// Why training could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("there are no training triplets")]
    NoTriplets,
    #[error("this epoch's steps are done: end the epoch before the next step")]
    EpochComplete,
    #[error("the run is finished: there is no next epoch")]
    Finished,
    #[error("image {0} has no cached features (fast mode embeds the run's images only)")]
    NotEmbedded(u32),
    #[error("this fast-mode head kept no encoder, so it cannot embed a new picture")]
    NoEncoder,
    #[error("the device failed to read back a result: {0}")]
    Readback(String),
    #[error("the loss became {0}: lower the learning rate")]
    NotFinite(f32),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("held-out evaluation: {0}")]
    Metric(#[from] crate::metrics::MetricError),
    #[error("online mining: {0}")]
    Mining(#[from] crate::mining::MiningError),
    #[error("{0}")]
    Spec(#[from] SpecError),
    #[error("data: {0}")]
    Data(#[from] RunDataError),
}

/// A training run in progress.
pub struct Trainer {
    spec: RunSpec,
    /// The data the run trains on, once [`Self::triplets`] has built (or a checkpoint has named)
    /// it.
    data: Option<RunData>,
    /// The autodiff device the model trains on.
    device: Device,
    model: MobileNetV2,
    optim: KerasAdam,
    state: Schedule,
    /// Weights of the best epoch so far, for restore-best.
    best: Option<TensorFile>,
    /// The dataset images the last step trained on (anchors, positives and negatives, or the
    /// mined batch), for the tests that prove no held-out image is ever trained on.
    last_images: Vec<u32>,
    /// The pixels the last mined step's batch trained on, augmented when the run augments (empty
    /// after a step on fixed triplets).
    last_mined_pixels: Vec<Vec<u8>>,
    /// The last mined step's batch and distances (the page's heat map); `None` after a step on
    /// fixed triplets.
    last_mined: Option<MinedMatrix>,
}

impl Trainer {
    /// Start training `model` (built on a plain device, e.g. by [`weights::load`]) on `device`.
    /// The run is not checked here but by [`Self::triplets`], before its first step.
    pub fn new(model: MobileNetV2, spec: RunSpec, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let model = weights::with_named_ids(model).fork(&device).train();
        let state = Schedule::new(spec.seed);
        let optim = KerasAdam::new(spec.adam.clone());
        Self {
            optim,
            spec,
            data: None,
            device,
            model,
            state,
            best: None,
            last_images: Vec::new(),
            last_mined_pixels: Vec::new(),
            last_mined: None,
        }
    }

    /// The run's description.
    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// The run's schedule: epochs and steps done, early stopping, its history.
    pub fn state(&self) -> &Schedule {
        &self.state
    }

    /// The model for inference: no autodiff, BatchNorm on its running statistics.
    pub fn inference_model(&self) -> MobileNetV2 {
        self.model.valid()
    }

    /// The training device without autodiff, where inference runs.
    pub fn plain_device(&self) -> Device {
        self.device.clone().inner()
    }

    /// The batch size, epoch limit and patience the run's schedule follows.
    pub fn limits(&self) -> Limits {
        Limits::of(&self.spec)
    }

    pub fn steps_per_epoch(&self, train_triplets: usize) -> usize {
        self.limits().steps_per_epoch(train_triplets)
    }

    /// Whether early stopping or the epoch limit ended the run.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished(self.limits())
    }

    /// Whether the current epoch's steps are all done (call [`Self::end_epoch`]).
    pub fn epoch_done(&self, train_triplets: usize) -> bool {
        self.state.epoch_done(self.limits(), train_triplets)
    }

    /// The input scaling the run trains with.
    pub fn scaling(&self) -> InputScaling {
        self.spec.scaling
    }

    /// The run's triplets on `data`, built from its description. The first call of a new run
    /// records which data they are; a resumed run must find exactly its own split again (the
    /// same images, the same held-out triplets), else this says what differs. Also checks the
    /// description ([`RunSpec::check`]) and the checkpoint's epoch position against the set.
    pub fn triplets(&mut self, data: &Dataset) -> Result<TripletSet, TrainError> {
        self.spec.check()?;
        let set = match &self.data {
            Some(record) => record.rebuild(&self.spec, data)?,
            None => {
                let (set, record) = self.spec.triplets(data)?;
                self.data = Some(record);
                set
            }
        };
        let order = self.state.order.len();
        if order != 0 && order != set.train.len() {
            return Err(TrainError::Checkpoint(format!(
                "its epoch order covers {order} triplets; the run has {}",
                set.train.len()
            )));
        }
        if self.state.step_in_epoch > self.steps_per_epoch(set.train.len()) {
            return Err(TrainError::Checkpoint(format!(
                "it stopped at step {} of an epoch of {} steps",
                self.state.step_in_epoch,
                self.steps_per_epoch(set.train.len())
            )));
        }
        Ok(set)
    }

    /// The dataset images the last step trained on (every image of its triplets, or its mined
    /// P x K batch).
    pub fn last_step_images(&self) -> &[u32] {
        &self.last_images
    }

    /// The pixels of the last mined step's batch, in [`Self::last_step_images`]'s order, as they
    /// were trained on (augmented when the run augments); empty after a step on fixed triplets.
    pub fn last_mined_pixels(&self) -> &[Vec<u8>] {
        &self.last_mined_pixels
    }

    /// The last step's mined batch, if it was one: its images, labels and distance matrix.
    pub fn last_mined(&self) -> Option<&MinedMatrix> {
        self.last_mined.as_ref()
    }

    /// What identifies the data of the run (after [`Self::triplets`]).
    pub fn run_data(&self) -> Option<&RunData> {
        self.data.as_ref()
    }
}

//! The trainer: the recipe's loop as a step-by-step API, so a browser worker can interleave
//! messages between steps. Every read-back is asynchronous.
//!
//! One step: a batch of triplets through the backbone (three passes, as the recipe's Keras model
//! calls one backbone three times, so BatchNorm normalises each branch with its own batch; or one
//! concatenated pass), the triplet loss, `backward()`, Adam. At the end of an epoch: the held-out
//! loss in inference mode, and early stopping with restore-best.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::data::augment::Augmentation;
use crate::data::triplets::{Triplet, distinct_images, mining_images};
use crate::loss::{TripletLoss, TripletLossOutput};
use crate::metrics::{
    Retrieval, RetrievalConfig, Verification, VerificationSummary, angular_similarity, cosine_similarity, retrieval,
};
use crate::mining::{MinedCounts, MiningConfig, PkSampler, mine};
use crate::model::input::images_to_tensor;
use crate::model::safetensors::TensorFile;
use crate::model::weights;
use crate::model::{InputScaling, MobileNetV2, MobileNetV2Config};
use crate::optim::{AdamSettings, KerasAdam};
use crate::random::SeededRng;

/// How a step runs the backbone over anchors, positives and negatives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BranchPasses {
    /// Three passes, each with its own BatchNorm batch statistics: the recipe.
    #[default]
    Separate,
    /// One pass over all 3 x batch images: a different model (shared batch statistics), faster
    /// on a GPU.
    Concatenated,
}

/// Every setting of a training run; the defaults are the recipe's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerConfig {
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    /// Epochs without a better held-out loss before stopping (the best weights are restored).
    pub patience: usize,
    pub seed: u64,
    pub loss: TripletLoss,
    pub passes: BranchPasses,
    pub scaling: InputScaling,
    pub augmentation: Augmentation,
    pub model: MobileNetV2Config,
    #[serde(default)]
    pub adam: AdamSettings,
    /// Online mining instead of the fixed triplets: P x K batches of the training triplets'
    /// images, triplets chosen in each batch. `None` is the recipe.
    #[serde(default)]
    pub mining: Option<MiningConfig>,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-4,
            batch_size: 64,
            epochs: 50,
            patience: 2,
            seed: 42,
            loss: TripletLoss::default(),
            passes: BranchPasses::Separate,
            scaling: InputScaling::Unit,
            augmentation: Augmentation::default(),
            model: MobileNetV2Config::default(),
            adam: AdamSettings::default(),
            mining: None,
        }
    }
}

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

/// The counters a checkpoint must carry to resume exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Epochs finished.
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// This epoch's order of the training triplets.
    pub order: Vec<u32>,
    pub rng: SeededRng,
    pub history: Vec<EpochRecord>,
    pub best_val_loss: Option<f64>,
    pub best_epoch: Option<usize>,
    pub epochs_without_improvement: usize,
    pub finished: bool,
    loss_sum: f64,
    loss_triplets: usize,
}

/// Why training could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("there are no training triplets")]
    NoTriplets,
    #[error("this epoch's steps are done: end the epoch before the next step")]
    EpochComplete,
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
}

/// A training run in progress.
pub struct Trainer {
    config: TrainerConfig,
    /// The autodiff device the model trains on.
    device: Device,
    model: MobileNetV2,
    optim: KerasAdam,
    state: TrainerState,
    /// Weights of the best epoch so far, for restore-best.
    best: Option<TensorFile>,
    /// Online mining's pool of training images, built on the first mined step for a training set
    /// of this many triplets (like `state.order`), not again at every step.
    mining_pool: Option<(usize, PkSampler)>,
}

impl Trainer {
    /// Start training `model` (built on a plain device, e.g. by [`weights::load`]) on `device`.
    pub fn new(model: MobileNetV2, config: TrainerConfig, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let model = weights::with_named_ids(model).fork(&device).train();
        let state = TrainerState {
            epoch: 0,
            step_in_epoch: 0,
            order: Vec::new(),
            rng: SeededRng::new(config.seed),
            history: Vec::new(),
            best_val_loss: None,
            best_epoch: None,
            epochs_without_improvement: 0,
            finished: false,
            loss_sum: 0.0,
            loss_triplets: 0,
        };
        Self { optim: KerasAdam::new(config.adam.clone()), config, device, model, state, best: None, mining_pool: None }
    }

    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    pub fn state(&self) -> &TrainerState {
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

    pub fn steps_per_epoch(&self, train_triplets: usize) -> usize {
        train_triplets.div_ceil(self.config.batch_size.max(1))
    }

    /// Whether early stopping or the epoch limit ended the run.
    pub fn is_finished(&self) -> bool {
        self.state.finished || self.state.epoch >= self.config.epochs
    }

    /// Whether the current epoch's steps are all done (call [`Self::end_epoch`]).
    pub fn epoch_done(&self, train_triplets: usize) -> bool {
        self.state.step_in_epoch >= self.steps_per_epoch(train_triplets)
    }

    /// One optimisation step on the next batch of `train`.
    pub async fn step(&mut self, data: &Dataset, train: &[Triplet]) -> Result<StepReport, TrainError> {
        if train.is_empty() {
            return Err(TrainError::NoTriplets);
        }
        if let Some(mining) = self.config.mining {
            return self.mined_step(data, train, mining).await;
        }
        if self.state.order.len() != train.len() {
            self.state.order = (0..train.len() as u32).collect();
            self.state.rng.shuffle(&mut self.state.order);
        }
        let steps = self.steps_per_epoch(train.len());
        let batch = self.config.batch_size.max(1);
        let start = self.state.step_in_epoch * batch;
        if start >= train.len() {
            return Err(TrainError::EpochComplete);
        }
        let end = (start + batch).min(train.len());
        let chosen: Vec<Triplet> = self.state.order[start..end].iter().map(|&at| train[at as usize]).collect();
        self.train_batch(data, &chosen, steps).await
    }

    /// One optimisation step on exactly `chosen` (the next batch of the epoch, in the given order):
    /// the three branch passes (or one concatenated pass), the triplet loss, its gradients, and
    /// Adam. The loss is checked before the update: a batch whose loss is not finite changes
    /// nothing. Used by [`Self::step`], and by the Keras training parity test to feed the
    /// tutorial's batches in the tutorial's order.
    pub async fn train_batch(
        &mut self,
        data: &Dataset,
        chosen: &[Triplet],
        steps_per_epoch: usize,
    ) -> Result<StepReport, TrainError> {
        if chosen.is_empty() {
            return Err(TrainError::NoTriplets);
        }
        let augment = (!self.config.augmentation.is_off()).then_some((&self.config.augmentation, &mut self.state.rng));
        let [anchors, positives, negatives] = triplet_images(data, chosen, self.config.scaling, &self.device, augment);
        let (anchor, positive, negative) = match self.config.passes {
            BranchPasses::Separate => {
                (self.model.forward(anchors), self.model.forward(positives), self.model.forward(negatives))
            }
            BranchPasses::Concatenated => {
                let all = self.model.forward(Tensor::cat(vec![anchors, positives, negatives], 0));
                let n = chosen.len();
                let mut parts = all.split(n, 0).into_iter();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(a), Some(p), Some(n)) => (a, p, n),
                    _ => return Err(TrainError::Readback("the concatenated pass lost its shape".into())),
                }
            }
        };
        let n = chosen.len();
        let output = self.config.loss.forward(anchor, positive, negative);
        let loss = output.loss.clone();
        let batch = BatchLoss::read(output, n).await?;
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.config.learning_rate, self.model.clone(), grads);
        self.state.step_in_epoch += 1;
        self.state.loss_sum += f64::from(batch.loss) * n as f64;
        self.state.loss_triplets += n;
        Ok(batch.report((self.state.epoch + 1, self.state.step_in_epoch, steps_per_epoch), n))
    }

    /// One step of online mining: a P x K batch of the training triplets' anchors and positives
    /// (never their negatives, which may be held-out images: [`mining_images`]; drawn with the
    /// trainer's seeded random numbers), one forward pass, its distance matrix read back, triplets
    /// chosen by the strategy, and the loss over them. An epoch has as many steps as with fixed
    /// triplets. A batch with nothing to learn (batch-all, every hinge 0) makes no update.
    async fn mined_step(
        &mut self,
        data: &Dataset,
        train: &[Triplet],
        mining: MiningConfig,
    ) -> Result<StepReport, TrainError> {
        let steps = self.steps_per_epoch(train.len());
        if self.state.step_in_epoch >= steps {
            return Err(TrainError::EpochComplete);
        }
        let sampler = match self.mining_pool.take() {
            Some((built_for, sampler)) if built_for == train.len() => sampler,
            _ => {
                let pool: Vec<(u32, u8)> =
                    mining_images(train).into_iter().map(|image| (image, data.labels[image as usize])).collect();
                PkSampler::new(&pool, mining.classes, mining.per_class)?
            }
        };
        let images = sampler.sample(mining.classes, &mut self.state.rng);
        self.mining_pool = Some((train.len(), sampler));
        let labels: Vec<u8> = images.iter().map(|&image| data.labels[image as usize]).collect();
        let n = images.len();
        // Augmented as the fixed triplets are (it was silently left out here once).
        let mut augment =
            (!self.config.augmentation.is_off()).then_some((&self.config.augmentation, &mut self.state.rng));
        let pixels = image_pixels(data, images.iter().copied(), &mut augment);
        let batch = images_to_tensor(pixels.iter().map(Vec::as_slice), self.config.scaling, &self.device);
        let embeddings = self.model.forward(batch);
        let matrix = self.config.loss.distance.pairwise(embeddings.clone().detach());
        let distances = read_f32(matrix.reshape([n * n])).await?;
        let margin = self.config.loss.margin as f32;
        let chosen = mine(&distances, &labels, margin, mining.strategy)?;
        let counts = MinedCounts {
            mined: chosen.triplets.len() as u32,
            valid: chosen.valid as u32,
            active: chosen.active as u32,
            mean_distance: chosen.mean_distance,
        };
        self.state.step_in_epoch += 1;
        let report = |loss: f32, positive: f32, negative: f32, triplets: usize| StepReport {
            epoch: self.state.epoch + 1,
            step: self.state.step_in_epoch,
            steps_per_epoch: steps,
            triplets,
            loss,
            active_fraction: counts.active as f32 / counts.valid.max(1) as f32,
            mean_positive_distance: positive,
            mean_negative_distance: negative,
            mined: Some(counts),
        };
        let m = chosen.triplets.len();
        if m == 0 {
            return Ok(report(0.0, 0.0, 0.0, 0));
        }
        let device = self.device.clone();
        let rows = |pick: fn(&crate::mining::Mined) -> usize| {
            let ids: Vec<i64> = chosen.triplets.iter().map(|t| pick(t) as i64).collect();
            embeddings.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(ids, [m]), &device))
        };
        let output = self.config.loss.forward(rows(|t| t.anchor), rows(|t| t.positive), rows(|t| t.negative));
        let loss = output.loss.clone();
        // Read (and check) the loss before the update: a non-finite batch changes nothing.
        let batch = BatchLoss::read(output, m).await?;
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.config.learning_rate, self.model.clone(), grads);
        self.state.loss_sum += f64::from(batch.loss) * m as f64;
        self.state.loss_triplets += m;
        Ok(report(batch.loss, batch.mean_positive_distance, batch.mean_negative_distance, m))
    }

    /// One whole epoch: every step (or the first `max_steps`, for quick trials), `on_step` after
    /// each, then [`Self::end_epoch`].
    pub async fn train_epoch(
        &mut self,
        data: &Dataset,
        train: &[Triplet],
        held_out: &[Triplet],
        max_steps: Option<usize>,
        mut on_step: impl FnMut(&StepReport),
    ) -> Result<EpochRecord, TrainError> {
        let mut steps = 0;
        while !self.epoch_done(train.len()) && max_steps.is_none_or(|max| steps < max) {
            let report = self.step(data, train).await?;
            steps += 1;
            on_step(&report);
        }
        self.end_epoch(data, held_out).await
    }

    /// Close the epoch: held-out loss in inference mode, then early stopping (restoring the best
    /// weights when it stops).
    pub async fn end_epoch(&mut self, data: &Dataset, held_out: &[Triplet]) -> Result<EpochRecord, TrainError> {
        let val_loss = self.held_out_loss(data, held_out).await?;
        let loss = self.state.loss_sum / self.state.loss_triplets.max(1) as f64;
        let improved = is_improvement(val_loss, self.state.best_val_loss);
        self.state.epoch += 1;
        if improved {
            self.state.best_val_loss = Some(val_loss);
            self.state.best_epoch = Some(self.state.epoch);
            self.state.epochs_without_improvement = 0;
            self.best = Some(weights::export(&self.inference_model()).await.map_err(TrainError::Readback)?);
        } else {
            self.state.epochs_without_improvement += 1;
        }
        let record = EpochRecord { epoch: self.state.epoch, loss, val_loss, improved };
        self.state.history.push(record.clone());
        self.state.step_in_epoch = 0;
        self.state.order.clear();
        self.state.loss_sum = 0.0;
        self.state.loss_triplets = 0;
        let out_of_patience = self.state.epochs_without_improvement >= self.config.patience.max(1);
        if out_of_patience || self.state.epoch >= self.config.epochs {
            self.state.finished = true;
            self.restore_best()?;
        }
        Ok(record)
    }

    fn restore_best(&mut self) -> Result<(), TrainError> {
        let Some(best) = &self.best else { return Ok(()) };
        let plain = self.plain_device();
        let restored = weights::apply("best weights", best, self.config.model.init(&plain), &plain)
            .map_err(|err| TrainError::Checkpoint(err.to_string()))?;
        self.model = restored.fork(&self.device).train();
        Ok(())
    }

    /// The mean loss over `held_out` in inference mode, in batches.
    pub async fn held_out_loss(&self, data: &Dataset, held_out: &[Triplet]) -> Result<f64, TrainError> {
        let model = self.inference_model();
        let device = self.plain_device();
        let mut sum = 0.0;
        for chunk in held_out.chunks(self.config.batch_size.max(1)) {
            let [a, p, n] = triplet_images(data, chunk, self.config.scaling, &device, None);
            let output = self.config.loss.forward(model.forward(a), model.forward(p), model.forward(n));
            let loss = read_f32(output.loss).await?;
            sum += f64::from(loss[0]) * chunk.len() as f64;
        }
        Ok(sum / held_out.len().max(1) as f64)
    }

    /// The configuration the trainer runs with.
    pub fn scaling(&self) -> InputScaling {
        self.config.scaling
    }

    /// Templates of the images at `indices`, in inference mode: `indices.len()` rows of 1280.
    pub async fn embed(&self, data: &Dataset, indices: &[u32]) -> Result<Vec<Vec<f32>>, TrainError> {
        let device = self.plain_device();
        embed(&self.inference_model(), data, indices, self.config.scaling, self.config.batch_size, &device).await
    }

    /// The recipe's held-out evaluation with the current model.
    pub async fn held_out_scores(&self, data: &Dataset, held_out: &[Triplet]) -> Result<HeldOutScores, TrainError> {
        let device = self.plain_device();
        held_out_scores(&self.inference_model(), data, held_out, self.config.scaling, self.config.batch_size, &device)
            .await
    }

    /// 1:N retrieval over the distinct images of the held-out triplets, each labelled by its class.
    pub async fn held_out_retrieval(
        &self,
        data: &Dataset,
        held_out: &[Triplet],
        config: &RetrievalConfig,
    ) -> Result<Retrieval, TrainError> {
        let images = distinct_images(held_out);
        let rows = self.embed(data, &images).await?;
        let dims = rows.first().map_or(0, Vec::len);
        let labels: Vec<u32> = images.iter().map(|&at| u32::from(data.labels[at as usize])).collect();
        Ok(retrieval(&rows.concat(), dims, &labels, config)?)
    }
}

/// Anchor, positive and negative images of `triplets` as three `[n, 3, 32, 32]` tensors, each image
/// augmented first when `augment` is given.
fn triplet_images(
    data: &Dataset,
    triplets: &[Triplet],
    scaling: InputScaling,
    device: &Device,
    mut augment: Option<(&Augmentation, &mut SeededRng)>,
) -> [Tensor<4>; 3] {
    let pick: [fn(&Triplet) -> u32; 3] = [|t| t.anchor, |t| t.positive, |t| t.negative];
    pick.map(|which| {
        let images = image_pixels(data, triplets.iter().map(which), &mut augment);
        images_to_tensor(images.iter().map(Vec::as_slice), scaling, device)
    })
}

/// The images at `indices`, in order, each augmented first when `augment` is given.
fn image_pixels(
    data: &Dataset,
    indices: impl Iterator<Item = u32>,
    augment: &mut Option<(&Augmentation, &mut SeededRng)>,
) -> Vec<Vec<u8>> {
    indices
        .map(|at| {
            let image = data.image(at as usize);
            match augment.as_mut() {
                Some((augmentation, rng)) => augmentation.apply(image, rng),
                None => image.to_vec(),
            }
        })
        .collect()
}

/// Whether a held-out loss beats the best so far: never when it is not finite (a NaN loss must
/// not become the "best" weights restored at the end).
fn is_improvement(val_loss: f64, best: Option<f64>) -> bool {
    val_loss.is_finite() && best.is_none_or(|best| val_loss < best)
}

/// An epoch order read from a checkpoint must be a permutation of `0..len`: every step indexes the
/// training triplets with it.
fn check_order(order: &[u32]) -> Result<(), String> {
    let mut seen = vec![false; order.len()];
    for &at in order {
        match seen.get_mut(at as usize) {
            Some(seen) if !*seen => *seen = true,
            Some(_) => return Err(format!("the epoch order lists triplet {at} twice")),
            None => return Err(format!("the epoch order names triplet {at} of {}", order.len())),
        }
    }
    Ok(())
}

/// `__metadata__` format tag of checkpoints.
pub const CHECKPOINT_FORMAT: &str = "tripletlab-checkpoint-v1";
const BEST_PREFIX: &str = "best.";

impl Trainer {
    /// Everything needed to resume: model weights (under the same names as the pretrained file,
    /// so a checkpoint is also a weights file), the best weights so far (`best.*`), Adam's moments
    /// (`adam.*`), the configuration and the counters. Every tensor is read back asynchronously,
    /// so it works on WebGPU in a browser; the bytes are the same natively and in wasm.
    pub async fn checkpoint(&self) -> Result<Vec<u8>, TrainError> {
        let mut file = weights::export(&self.inference_model()).await.map_err(TrainError::Readback)?;
        if let Some(best) = &self.best {
            for (name, tensor) in &best.tensors {
                file.tensors.insert(format!("{BEST_PREFIX}{name}"), tensor.clone());
            }
        }
        self.optim.export(&mut file).await.map_err(TrainError::Readback)?;
        let json = |value: serde_json::Result<String>| value.map_err(|err| TrainError::Checkpoint(err.to_string()));
        file.metadata.insert("format".into(), CHECKPOINT_FORMAT.into());
        file.metadata.insert("config".into(), json(serde_json::to_string(&self.config))?);
        file.metadata.insert("state".into(), json(serde_json::to_string(&self.state))?);
        Ok(file.to_bytes())
    }

    /// Continue a run from [`Self::checkpoint`] bytes on `device`.
    pub fn resume(file: &str, bytes: &[u8], device: &Device) -> Result<Self, TrainError> {
        let fail = |reason: String| TrainError::Checkpoint(format!("{file}: {reason}"));
        let mut tensors = TensorFile::parse(file, bytes).map_err(|err| fail(err.to_string()))?;
        if tensors.metadata.get("format").map(String::as_str) != Some(CHECKPOINT_FORMAT) {
            return Err(fail("not a Triplet Lab checkpoint (no checkpoint format tag)".into()));
        }
        let config: TrainerConfig = serde_json::from_str(tensors.metadata.get("config").map_or("", String::as_str))
            .map_err(|err| fail(format!("unreadable config: {err}")))?;
        let state: TrainerState = serde_json::from_str(tensors.metadata.get("state").map_or("", String::as_str))
            .map_err(|err| fail(format!("unreadable trainer state: {err}")))?;
        let optim = KerasAdam::import(&mut tensors, &device.clone().inner()).map_err(fail)?;
        let mut best = TensorFile::default();
        let names: Vec<String> = tensors.tensors.keys().filter(|name| name.starts_with(BEST_PREFIX)).cloned().collect();
        for name in names {
            if let Some(tensor) = tensors.tensors.remove(&name) {
                best.tensors.insert(name[BEST_PREFIX.len()..].to_string(), tensor);
            }
        }
        let plain = device.clone().inner();
        let model =
            weights::apply(file, &tensors, config.model.init(&plain), &plain).map_err(|err| fail(err.to_string()))?;
        // Everything the first step will index with, checked now (the weights were, by `apply`).
        let sizes: std::collections::BTreeMap<u64, usize> = weights::tensor_names(&model)
            .into_iter()
            .filter(|name| !name.ends_with("running_mean") && !name.ends_with("running_var"))
            .filter_map(|name| {
                let size = tensors.tensors.get(&name)?.values.len();
                Some((weights::named_id(&name).val(), size))
            })
            .collect();
        optim.check_against(&sizes).map_err(fail)?;
        check_order(&state.order).map_err(fail)?;
        let mut trainer = Self::new(model, config, device);
        trainer.optim = optim;
        trainer.state = state;
        trainer.best = (!best.tensors.is_empty()).then_some(best);
        Ok(trainer)
    }
}

/// An encoder read from either the shipped pretrained file or a checkpoint.
pub struct LoadedEncoder {
    pub model: MobileNetV2,
    pub config: MobileNetV2Config,
    /// What the checkpoint was trained with; `None` for the pretrained file.
    pub trained_scaling: Option<InputScaling>,
}

/// Read weights: a checkpoint (its model config and scaling come with it) or a pretrained
/// width-1.0 MobileNetV2 file.
pub fn load_encoder(file: &str, bytes: &[u8], device: &Device) -> Result<LoadedEncoder, TrainError> {
    let fail = |reason: String| TrainError::Checkpoint(reason);
    let mut tensors = TensorFile::parse(file, bytes).map_err(|err| fail(err.to_string()))?;
    if tensors.metadata.get("format").map(String::as_str) == Some(CHECKPOINT_FORMAT) {
        let config: TrainerConfig = serde_json::from_str(tensors.metadata.get("config").map_or("", String::as_str))
            .map_err(|err| fail(format!("{file}: unreadable config: {err}")))?;
        tensors.tensors.retain(|name, _| !name.starts_with(BEST_PREFIX) && !name.starts_with("adam."));
        let model =
            weights::apply(file, &tensors, config.model.init(device), device).map_err(|err| fail(err.to_string()))?;
        return Ok(LoadedEncoder { model, config: config.model, trained_scaling: Some(config.scaling) });
    }
    let config = MobileNetV2Config::default();
    let model = weights::apply(file, &tensors, config.init(device), device).map_err(|err| fail(err.to_string()))?;
    Ok(LoadedEncoder { model, config, trained_scaling: None })
}

/// Templates of the images at `indices` with `model` (inference mode), in batches.
pub async fn embed(
    model: &MobileNetV2,
    data: &Dataset,
    indices: &[u32],
    scaling: InputScaling,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let images: Vec<&[u8]> = indices.iter().map(|&at| data.image(at as usize)).collect();
    embed_images(model, &images, scaling, batch_size, device).await
}

/// Templates of `images` (each `IMAGE_BYTES` of planar RGB, as in a CIFAR record) with `model`.
pub async fn embed_images(
    model: &MobileNetV2,
    images: &[&[u8]],
    scaling: InputScaling,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Vec<f32>>, TrainError> {
    let mut rows = Vec::with_capacity(images.len());
    for chunk in images.chunks(batch_size.max(1)) {
        let templates = model.forward(images_to_tensor(chunk.iter().copied(), scaling, device));
        let [_, width] = templates.dims();
        let values = read_f32(templates.reshape([chunk.len() * width])).await?;
        rows.extend(values.chunks_exact(width).map(<[f32]>::to_vec));
    }
    Ok(rows)
}

/// The recipe's evaluation: angular similarities of the held-out (anchor, positive) pairs,
/// labelled genuine, then of the (anchor, negative) pairs,
/// labelled impostor, with their verification summary (ROC AUC, EER, operating points).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutScores {
    pub scores: Vec<f64>,
    pub labels: Vec<bool>,
    pub summary: VerificationSummary,
}

/// Embed the held-out triplets with `model` (inference mode) and score them as the recipe does.
pub async fn held_out_scores(
    model: &MobileNetV2,
    data: &Dataset,
    held_out: &[Triplet],
    scaling: InputScaling,
    batch_size: usize,
    device: &Device,
) -> Result<HeldOutScores, TrainError> {
    let embed_all = |pick: fn(&Triplet) -> u32| {
        let indices: Vec<u32> = held_out.iter().map(pick).collect();
        async move { embed(model, data, &indices, scaling, batch_size, device).await }
    };
    let anchors = embed_all(|t| t.anchor).await?;
    let positives = embed_all(|t| t.positive).await?;
    let negatives = embed_all(|t| t.negative).await?;
    let mut scores = Vec::with_capacity(2 * held_out.len());
    scores.extend(anchors.iter().zip(&positives).map(|(a, p)| angular_similarity(cosine_similarity(a, p))));
    scores.extend(anchors.iter().zip(&negatives).map(|(a, n)| angular_similarity(cosine_similarity(a, n))));
    let labels: Vec<bool> = (0..2 * held_out.len()).map(|at| at < held_out.len()).collect();
    let summary = Verification::new(&scores, &labels)?.summary();
    Ok(HeldOutScores { scores, labels, summary })
}

/// A batch's loss and distances, read back from a [`TripletLossOutput`] in one transfer.
pub(crate) struct BatchLoss {
    pub loss: f32,
    pub active_fraction: f32,
    pub mean_positive_distance: f32,
    pub mean_negative_distance: f32,
}

impl BatchLoss {
    /// The step's report: `(epoch, step, steps per epoch)`, 1-based, and `n` triplets.
    pub(crate) fn report(&self, (epoch, step, steps_per_epoch): (usize, usize, usize), n: usize) -> StepReport {
        StepReport {
            epoch,
            step,
            steps_per_epoch,
            triplets: n,
            loss: self.loss,
            active_fraction: self.active_fraction,
            mean_positive_distance: self.mean_positive_distance,
            mean_negative_distance: self.mean_negative_distance,
            mined: None,
        }
    }

    /// Read `output` of `n` triplets; a loss that is not finite is [`TrainError::NotFinite`].
    pub(crate) async fn read(output: TripletLossOutput, n: usize) -> Result<Self, TrainError> {
        let summary = Tensor::cat(
            vec![output.loss.detach(), output.positive_distance, output.negative_distance, output.per_triplet],
            0,
        );
        let values = read_f32(summary).await?;
        let loss = values[0];
        if !loss.is_finite() {
            return Err(TrainError::NotFinite(loss));
        }
        let mean = |slice: &[f32]| slice.iter().sum::<f32>() / n.max(1) as f32;
        let per = &values[1 + 2 * n..1 + 3 * n];
        Ok(Self {
            loss,
            active_fraction: per.iter().filter(|&&l| l > 0.0).count() as f32 / n.max(1) as f32,
            mean_positive_distance: mean(&values[1..1 + n]),
            mean_negative_distance: mean(&values[1 + n..1 + 2 * n]),
        })
    }
}

pub(crate) async fn read_f32(tensor: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    let data = tensor.into_data_async().await.map_err(|err| TrainError::Readback(err.to_string()))?;
    data.convert::<f32>().try_into_vec::<f32>().map_err(|err| TrainError::Readback(format!("{err:?}")))
}

#[cfg(test)]
mod tests {
    use super::is_improvement;

    #[test]
    fn an_epoch_order_must_be_a_permutation() {
        assert!(super::check_order(&[2, 0, 1]).is_ok());
        assert!(super::check_order(&[]).is_ok());
        assert!(super::check_order(&[0, 3, 1]).is_err_and(|e| e.contains("names triplet 3 of 3")));
        assert!(super::check_order(&[0, 0, 1]).is_err_and(|e| e.contains("twice")));
    }

    #[test]
    fn a_non_finite_held_out_loss_is_never_an_improvement() {
        assert!(is_improvement(0.3, None));
        assert!(is_improvement(0.2, Some(0.3)));
        assert!(!is_improvement(0.3, Some(0.3)));
        assert!(!is_improvement(f64::NAN, None));
        assert!(!is_improvement(f64::NAN, Some(0.3)));
        assert!(!is_improvement(f64::INFINITY, None));
    }
}

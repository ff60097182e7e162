//! One step (fixed triplets or a mined batch) and the end of an epoch.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{BranchPasses, EpochRecord, StepReport, TrainError, Trainer};
use crate::data::Dataset;
use crate::data::augment::Augmentation;
use crate::data::triplets::{Triplet, mining_images};
use crate::loss::{LossOutput, LossSpec};
use crate::mining::{MinedCounts, MinedMatrix, Mining, MiningConfig, PkSampler, mine};
use crate::model::InputScaling;
use crate::model::input::images_to_tensor;
use crate::model::weights;
use crate::random::SeededRng;

impl Trainer {
    /// One optimisation step on the next batch of `train`.
    pub async fn step(&mut self, data: &Dataset, train: &[Triplet]) -> Result<StepReport, TrainError> {
        if train.is_empty() {
            return Err(TrainError::NoTriplets);
        }
        if let Some(mining) = self.spec.mining {
            return self.mined_step(data, train, mining).await;
        }
        let steps = self.steps_per_epoch(train.len());
        let positions = self.state.next_batch(self.limits(), train.len())?;
        let chosen: Vec<Triplet> = positions.iter().map(|&at| train[at as usize]).collect();
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
        let undo = self.before_a_step();
        let result = self.unguarded_batch(data, chosen, steps_per_epoch).await;
        self.undo_if_refused(undo, result)
    }

    /// What a step changes before its loss is known: BatchNorm's running statistics (the training
    /// pass updates them itself), the random numbers (augmentation, mining) and the step count.
    /// Kept as tensor handles and counters (nothing is read back), and put back by
    /// [`Self::undo_if_refused`] when the step fails, so a refused batch changes nothing.
    fn before_a_step(&self) -> Undo {
        Undo {
            statistics: weights::running_statistics(&self.model),
            rng: self.state.rng.clone(),
            step_in_epoch: self.state.step_in_epoch,
        }
    }

    fn undo_if_refused(
        &mut self,
        undo: Undo,
        result: Result<StepReport, TrainError>,
    ) -> Result<StepReport, TrainError> {
        if result.is_err() {
            self.model = weights::with_running_statistics(self.model.clone(), undo.statistics);
            self.state.rng = undo.rng;
            self.state.step_in_epoch = undo.step_in_epoch;
        }
        result
    }

    async fn unguarded_batch(
        &mut self,
        data: &Dataset,
        chosen: &[Triplet],
        steps_per_epoch: usize,
    ) -> Result<StepReport, TrainError> {
        if chosen.is_empty() {
            return Err(TrainError::NoTriplets);
        }
        self.last_images = chosen.iter().flat_map(|t| [t.anchor, t.positive, t.negative]).collect();
        self.last_mined_pixels.clear();
        self.last_mined = None;
        let augment = (!self.spec.augmentation.is_off()).then_some((&self.spec.augmentation, &mut self.state.rng));
        let [anchors, positives, negatives] = triplet_images(data, chosen, self.spec.scaling, &self.device, augment);
        let (anchor, positive, negative) = match self.spec.passes {
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
        let output = self.spec.loss.forward(anchor, positive, negative);
        let loss = output.loss.clone();
        let batch = BatchLoss::read(output, n).await?;
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.spec.learning_rate, self.model.clone(), grads);
        let (epoch, step) = self.state.record_step(batch.loss, n);
        Ok(batch.report((epoch, step, steps_per_epoch), n))
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
        let undo = self.before_a_step();
        let result = self.unguarded_mined_step(data, train, mining).await;
        self.undo_if_refused(undo, result)
    }

    async fn unguarded_mined_step(
        &mut self,
        data: &Dataset,
        train: &[Triplet],
        mining: MiningConfig,
    ) -> Result<StepReport, TrainError> {
        let steps = self.steps_per_epoch(train.len());
        if self.state.step_in_epoch >= steps {
            return Err(TrainError::EpochComplete);
        }
        // Built at every step (milliseconds against the step's seconds), so it always fits `train`.
        let pool: Vec<(u32, u8)> =
            mining_images(train).into_iter().map(|image| (image, data.labels[image as usize])).collect();
        let images =
            PkSampler::new(&pool, mining.classes, mining.per_class)?.sample(mining.classes, &mut self.state.rng);
        let labels: Vec<u8> = images.iter().map(|&image| data.labels[image as usize]).collect();
        self.last_images.clone_from(&images);
        // Augmented as the fixed triplets are (it was silently left out here once).
        let mut augment = (!self.spec.augmentation.is_off()).then_some((&self.spec.augmentation, &mut self.state.rng));
        let pixels = image_pixels(data, images.iter().copied(), &mut augment);
        let batch = images_to_tensor(pixels.iter().map(Vec::as_slice), self.spec.scaling, &self.device);
        self.last_mined_pixels = pixels;
        let embeddings = self.model.forward(batch);
        let mined = MinedLoss::of(embeddings, images, labels, &self.spec.loss, mining.strategy, &self.device).await?;
        self.last_mined = Some(mined.matrix.clone());
        let Some(loss) = mined.loss.clone() else {
            return Ok(mined.report(self.state.record_step(0.0, 0), steps));
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.model);
        self.model = self.optim.step(self.spec.learning_rate, self.model.clone(), grads);
        let position = self.state.record_step(mined.batch.loss, mined.chosen);
        Ok(mined.report(position, steps))
    }

    /// Close the epoch: held-out loss in inference mode, then early stopping (restoring the best
    /// weights when it stops).
    pub async fn end_epoch(&mut self, data: &Dataset, held_out: &[Triplet]) -> Result<EpochRecord, TrainError> {
        let val_loss = self.held_out_loss(data, held_out).await?;
        let end = self.state.close_epoch(val_loss, self.limits());
        if end.keep_best {
            self.best = Some(weights::export(&self.inference_model()).await.map_err(TrainError::Readback)?);
        }
        if end.restore_best {
            self.restore_best()?;
        }
        Ok(end.record)
    }

    fn restore_best(&mut self) -> Result<(), TrainError> {
        let Some(best) = &self.best else { return Ok(()) };
        let plain = self.plain_device();
        let restored = weights::apply("best weights", best, self.spec.model.init(&plain), &plain)
            .map_err(|err| TrainError::Checkpoint(err.to_string()))?;
        self.model = restored.fork(&self.device).train();
        Ok(())
    }
}

/// Anchor, positive and negative images of `triplets` as three `[n, 3, 32, 32]` tensors, each image
/// augmented first when `augment` is given.
pub(super) fn triplet_images(
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

/// One mined batch's loss, from its embeddings (the encoder's, or fast mode's head's): the
/// distance matrix read back, triplets chosen by the strategy, and the loss over them, for both
/// trainers. `loss` is `None` when nothing was chosen (batch-all with every hinge 0): the step
/// makes no update.
pub(crate) struct MinedLoss {
    pub matrix: MinedMatrix,
    pub counts: MinedCounts,
    pub chosen: usize,
    pub loss: Option<Tensor<1>>,
    pub batch: BatchLoss,
}

impl MinedLoss {
    pub(crate) async fn of(
        embeddings: Tensor<2>,
        images: Vec<u32>,
        labels: Vec<u8>,
        spec: &LossSpec,
        strategy: Mining,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let n = labels.len();
        let matrix = spec.distance.pairwise(embeddings.clone());
        let distances = read_f32(matrix.clone().detach().reshape([n * n])).await?;
        let chosen = mine(&distances, &labels, spec, strategy)?;
        let m = chosen.chosen(strategy);
        let counts = MinedCounts {
            mined: m as u32,
            valid: chosen.valid as u32,
            active: chosen.active as u32,
            mean_distance: chosen.mean_distance,
        };
        let nothing =
            BatchLoss { loss: 0.0, active_fraction: 0.0, mean_positive_distance: 0.0, mean_negative_distance: 0.0 };
        let (loss, batch) = if m == 0 {
            (None, nothing)
        } else if strategy == Mining::BatchAll {
            // Every active triplet, from the masked distance matrix: memory n x (K - 1) x n, never
            // 3 x (active triplets) rows of embeddings.
            let loss = batch_all_loss(matrix, &labels, spec, chosen.active, device);
            let value = read_f32(loss.clone().detach()).await?[0];
            if !value.is_finite() {
                return Err(TrainError::NotFinite(value));
            }
            let (positive, negative) = chosen.active_means;
            let batch = BatchLoss {
                loss: value,
                active_fraction: 1.0,
                mean_positive_distance: positive,
                mean_negative_distance: negative,
            };
            (Some(loss), batch)
        } else {
            drop(matrix);
            let rows = |pick: fn(&crate::mining::Mined) -> usize| {
                let ids: Vec<i64> = chosen.triplets.iter().map(|t| pick(t) as i64).collect();
                embeddings.clone().select(0, Tensor::<1, Int>::from_data(TensorData::new(ids, [m]), device))
            };
            let output = spec.forward(rows(|t| t.anchor), rows(|t| t.positive), rows(|t| t.negative));
            let loss = output.loss.clone();
            // Read (and check) the loss before the update: a non-finite batch changes nothing.
            (Some(loss), BatchLoss::read(output, m).await?)
        };
        let matrix = MinedMatrix::new(images, labels, distances)?;
        Ok(Self { matrix, counts, chosen: m, loss, batch })
    }

    /// The step's report at `(epoch, step)` of an epoch of `steps` steps: the loss, the distances
    /// and the mined counts (the active fraction of all valid triplets).
    pub(crate) fn report(&self, (epoch, step): (usize, usize), steps: usize) -> StepReport {
        StepReport {
            epoch,
            step,
            steps_per_epoch: steps,
            triplets: self.chosen,
            loss: self.batch.loss,
            active_fraction: self.counts.active as f32 / self.counts.valid.max(1) as f32,
            mean_positive_distance: self.batch.mean_positive_distance,
            mean_negative_distance: self.batch.mean_negative_distance,
            mined: Some(self.counts),
        }
    }
}

/// Batch-all's loss from the `[n, n]` distance matrix of a batch labelled `labels`: the mean
/// per-triplet loss of the run's kind over its `active` triplets (anchor and positive of one
/// class, negative of another, loss above 0), as `[1]`. Each anchor's positives are
/// gathered into `[n, K - 1]` and set against its row of negatives: the largest tensors are
/// `[n, K - 1, n]`, never a row of embeddings per triplet.
pub(crate) fn batch_all_loss(
    matrix: Tensor<2>,
    labels: &[u8],
    loss: &LossSpec,
    active: usize,
    device: &Device,
) -> Tensor<1> {
    let n = labels.len();
    let positives: Vec<Vec<usize>> =
        (0..n).map(|a| (0..n).filter(|&p| p != a && labels[p] == labels[a]).collect()).collect();
    let width = positives.iter().map(Vec::len).max().unwrap_or(0).max(1);
    let mut index = Vec::with_capacity(n * width);
    let mut real = Vec::with_capacity(n * width);
    for (a, list) in positives.iter().enumerate() {
        for slot in 0..width {
            // Padding points at the anchor itself, masked out.
            index.push(list.get(slot).copied().unwrap_or(a) as i64);
            real.push(if slot < list.len() { 1.0f32 } else { 0.0 });
        }
    }
    let negatives: Vec<f32> =
        (0..n).flat_map(|a| (0..n).map(move |x| (a, x))).map(|(a, x)| f32::from(labels[x] != labels[a])).collect();
    let index = Tensor::<2, Int>::from_data(TensorData::new(index, [n, width]), device);
    let real = Tensor::<2>::from_data(TensorData::new(real, [n, width]), device);
    let negatives = Tensor::<2>::from_data(TensorData::new(negatives, [n, n]), device);
    let positive_distances = matrix.clone().gather(1, index);
    let hinges =
        loss.kind.per_triplet(positive_distances.unsqueeze_dim::<3>(2), matrix.unsqueeze_dim::<3>(1), loss.margin);
    let mask = real.unsqueeze_dim::<3>(2) * negatives.unsqueeze_dim::<3>(1);
    (hinges * mask).sum().div_scalar(active.max(1) as f64)
}

/// What [`Trainer::undo_if_refused`] puts back.
struct Undo {
    statistics: Vec<(Tensor<1>, Tensor<1>)>,
    rng: SeededRng,
    step_in_epoch: usize,
}

/// A batch's loss and distances, read back from a [`LossOutput`] in one transfer.
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
    pub(crate) async fn read(output: LossOutput, n: usize) -> Result<Self, TrainError> {
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

/// Host read-backs the trainers have made in this process: every one goes through [`read_f32`]
/// (the step's loss, a mined batch's distances, held-out losses and embeddings), so this is what
/// a training step makes the host wait for. `tripletlab speed` reports it per step.
static READBACKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Read-backs so far (see [`READBACKS`]): subtract two readings for a stretch of work.
pub fn readbacks() -> u64 {
    READBACKS.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) async fn read_f32(tensor: Tensor<1>) -> Result<Vec<f32>, TrainError> {
    READBACKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data = tensor.into_data_async().await.map_err(|err| TrainError::Readback(err.to_string()))?;
    let mut values =
        data.convert::<f32>().try_into_vec::<f32>().map_err(|err| TrainError::Readback(format!("{err:?}")))?;
    // Inside a warm-up ([`crate::training::warm_up`]) GPU kernels are compiled and not run, so
    // their buffers hold whatever was there before: read as zeros, so that nothing downstream
    // (the finite-loss check, mining's choices) branches on garbage.
    if cubecl_runtime::dry_run::dry_run() {
        values.fill(0.0);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::batch_all_loss;
    use crate::loss::{LossKind, LossSpec};

    fn triplet(margin: f64) -> LossSpec {
        LossSpec { margin, ..LossSpec::default() }
    }

    /// The hand-worked batch of `mining`'s tests: four images, two classes, margin 0.25; the five
    /// active triplets' hinges are 0.55, 0.05, 0.45, 0.45, 0.35: mean 0.37.
    #[test]
    fn batch_all_averages_the_active_hinges_of_the_masked_matrix() {
        let d = [0.0f32, 0.5, 0.2, 0.9, 0.5, 0.0, 0.7, 0.3, 0.2, 0.7, 0.0, 0.4, 0.9, 0.3, 0.4, 0.0];
        let device = Device::flex();
        let matrix = Tensor::<2>::from_data(TensorData::new(d.to_vec(), [4, 4]), &device);
        let loss = batch_all_loss(matrix, &[0, 0, 1, 1], &triplet(0.25), 5, &device);
        let value = loss.into_data().try_into_vec::<f32>().expect("f32")[0];
        assert!((value - 0.37).abs() < 1e-6, "{value}");
        // Three classes of unequal size: anchor 4 has no positive (padding only, masked out).
        // Classes: {0, 1, 2}, {3}, {4}... a lone image is never an anchor with a positive.
        let labels = [0u8, 0, 0, 1, 2];
        let values: Vec<f32> = (0..25).map(|i| ((i * 7) % 11) as f32 / 10.0).collect();
        let mut expected = 0.0f64;
        let mut active = 0;
        for a in 0..5 {
            for p in (0..5).filter(|&p| p != a && labels[p] == labels[a]) {
                for x in (0..5).filter(|&x| labels[x] != labels[a]) {
                    let hinge = f64::from(values[a * 5 + p]) - f64::from(values[a * 5 + x]) + 0.1;
                    if hinge > 0.0 {
                        expected += hinge;
                        active += 1;
                    }
                }
            }
        }
        let matrix = Tensor::<2>::from_data(TensorData::new(values.clone(), [5, 5]), &device);
        let value = batch_all_loss(matrix.clone(), &labels, &triplet(0.1), active, &device)
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32")[0];
        assert!((f64::from(value) - expected / active as f64).abs() < 1e-6, "{value} vs {}", expected / active as f64);
        // The contrastive loss through the same masked matrix: every valid triplet, each its two
        // pairs' costs, worked on the host.
        let contrastive = LossSpec { kind: LossKind::Contrastive, margin: 0.5, ..LossSpec::default() };
        let (mut sum, mut count) = (0.0f64, 0);
        for a in 0..5 {
            for p in (0..5).filter(|&p| p != a && labels[p] == labels[a]) {
                for x in (0..5).filter(|&x| labels[x] != labels[a]) {
                    let cost = contrastive.of_triplet(f64::from(values[a * 5 + p]), f64::from(values[a * 5 + x]));
                    sum += cost;
                    count += usize::from(cost > 0.0);
                }
            }
        }
        let value = batch_all_loss(matrix, &labels, &contrastive, count, &device)
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32")[0];
        assert!((f64::from(value) - sum / count as f64).abs() < 1e-6, "{value} vs {}", sum / count as f64);
    }
}

//! Fast mode: freeze the backbone, embed every image once, and train only a small projection head
//! (a linear layer, 1280 -> 128) with the same triplet loss. A step is a matrix product on cached
//! features instead of three MobileNetV2 passes, so a class sees results in seconds on a CPU.

use std::collections::HashMap;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use crate::data::Dataset;
use crate::data::triplets::{Triplet, distinct_images, mining_images};
use crate::metrics::{Retrieval, RetrievalConfig, Verification};
use crate::mining::{MinedMatrix, MiningConfig, PkSampler};
use crate::model::{InputScaling, MobileNetV2};
use crate::optim::KerasAdam;
use crate::random::SeededRng;
use crate::run::RunSpec;
use crate::train::{
    BatchLoss, EpochRecord, HeldOutScores, Limits, MinedLoss, Schedule, StepReport, TrainError, embed_images, read_f32,
    retrieval_among,
};

/// The backbone's templates of a set of images, computed once.
pub struct Features {
    rows: Vec<f32>,
    pub dims: usize,
    index: HashMap<u32, usize>,
    /// Each embedded image's class, by row (online mining draws its P x K batches by class).
    labels: Vec<u8>,
}

impl Features {
    /// Embed the distinct images of `triplets` with the frozen `model` (inference mode).
    pub async fn embed(
        model: &MobileNetV2,
        data: &Dataset,
        triplets: &[Triplet],
        scaling: InputScaling,
        batch_size: usize,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let images = distinct_images(triplets);
        let pictures: Vec<&[u8]> = images.iter().map(|&image| data.image(image as usize)).collect();
        let embedded = embed_images(model, &pictures, scaling, batch_size, device).await?;
        let dims = embedded.first().map_or(0, Vec::len);
        let mut rows = Vec::with_capacity(embedded.len() * dims);
        embedded.into_iter().for_each(|row| rows.extend(row));
        let index = images.iter().enumerate().map(|(at, &image)| (image, at)).collect();
        let labels = images.iter().map(|&image| data.labels[image as usize]).collect();
        Ok(Self { rows, dims, index, labels })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The row of `image`; an image that was not embedded is an error, never another's row.
    fn row(&self, image: u32) -> Result<&[f32], TrainError> {
        let at = self.index.get(&image).copied().ok_or(TrainError::NotEmbedded(image))?;
        Ok(&self.rows[at * self.dims..(at + 1) * self.dims])
    }

    /// The class of an embedded image.
    fn label(&self, image: u32) -> Result<u8, TrainError> {
        let at = self.index.get(&image).copied().ok_or(TrainError::NotEmbedded(image))?;
        Ok(self.labels[at])
    }

    /// `[n, dims]` of `images`, in order.
    fn rows_of(&self, images: &[u32], device: &Device) -> Result<Tensor<2>, TrainError> {
        let mut values = Vec::with_capacity(images.len() * self.dims);
        for &image in images {
            values.extend_from_slice(self.row(image)?);
        }
        Ok(Tensor::from_data(TensorData::new(values, [images.len(), self.dims]), device))
    }

    /// `[n, dims]` of the images picked from `triplets`.
    fn batch(&self, triplets: &[Triplet], pick: fn(&Triplet) -> u32, device: &Device) -> Result<Tensor<2>, TrainError> {
        let mut values = Vec::with_capacity(triplets.len() * self.dims);
        for triplet in triplets {
            values.extend_from_slice(self.row(pick(triplet))?);
        }
        Ok(Tensor::from_data(TensorData::new(values, [triplets.len(), self.dims]), device))
    }
}

/// A linear projection `x W + b`.
#[derive(Module, Debug)]
pub struct ProjectionHead {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl ProjectionHead {
    /// Weights uniform in +-1/sqrt(input) from `seed`, zero bias.
    pub fn seeded(input: usize, output: usize, seed: u64, device: &Device) -> Self {
        let mut rng = SeededRng::new(seed);
        let bound = 1.0 / (input.max(1) as f32).sqrt();
        let values: Vec<f32> = (0..input * output).map(|_| (2.0 * rng.unit_f32() - 1.0) * bound).collect();
        Self {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(values, [input, output]), device)),
            bias: Param::from_tensor(Tensor::zeros([output], device)),
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.matmul(self.weight.val()) + self.bias.val().unsqueeze()
    }
}

pub use crate::run::HEAD_OUTPUT;

/// Trains a [`ProjectionHead`] on cached [`Features`] with the run's loss, learning rate, Adam,
/// batch size, epochs and early stopping (patience, restore-best): the full trainer's
/// [`Schedule`], with a head instead of the encoder.
pub struct HeadTrainer {
    head: ProjectionHead,
    /// The head of the best epoch so far, restored when the run ends.
    best: Option<ProjectionHead>,
    optim: KerasAdam,
    device: Device,
    spec: RunSpec,
    features: Features,
    schedule: Schedule,
    /// The frozen encoder the features came from, kept to embed pictures outside the run.
    encoder: Option<MobileNetV2>,
    /// The last mined batch (the page's heat map).
    last_mined: Option<MinedMatrix>,
}

impl HeadTrainer {
    pub fn new(features: Features, spec: RunSpec, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let head = ProjectionHead::seeded(features.dims, HEAD_OUTPUT, spec.seed, &device);
        Self {
            head,
            best: None,
            optim: KerasAdam::new(spec.adam.clone()),
            schedule: Schedule::new(spec.seed),
            device,
            spec,
            features,
            encoder: None,
            last_mined: None,
        }
    }

    /// Keep the frozen `encoder` the features came from, so pictures outside the run (a search
    /// with one's own picture) go through the same encoder and head.
    pub fn with_encoder(self, encoder: MobileNetV2) -> Self {
        Self { encoder: Some(encoder), ..self }
    }

    /// The frozen encoder, where it was kept.
    pub fn encoder(&self) -> Option<&MobileNetV2> {
        self.encoder.as_ref()
    }

    /// The device the head trains on, without autodiff (where the frozen encoder runs).
    pub fn plain_device(&self) -> Device {
        self.device.clone().inner()
    }

    /// The run's schedule: epochs and steps done, early stopping, its history.
    pub fn state(&self) -> &Schedule {
        &self.schedule
    }

    /// The run's description.
    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// The features the head trains on.
    pub fn features(&self) -> &Features {
        &self.features
    }

    fn limits(&self) -> Limits {
        Limits::of(&self.spec)
    }

    pub fn steps_per_epoch(&self, train: usize) -> usize {
        self.limits().steps_per_epoch(train)
    }

    pub fn epoch_done(&self, train: usize) -> bool {
        self.schedule.epoch_done(self.limits(), train)
    }

    pub fn is_finished(&self) -> bool {
        self.schedule.is_finished(self.limits())
    }

    /// The last step's mined batch, if it was one.
    pub fn last_mined(&self) -> Option<&MinedMatrix> {
        self.last_mined.as_ref()
    }

    /// One optimisation step of the head on the next batch of `train` (or, with online mining,
    /// on triplets mined from a P x K batch of its images).
    pub async fn step(&mut self, train: &[Triplet]) -> Result<StepReport, TrainError> {
        if let Some(mining) = self.spec.mining {
            return self.mined_step(train, mining).await;
        }
        self.last_mined = None;
        // The order is drawn from the schedule's random numbers; a step refused below (an image
        // without features, a loss that is not finite) leaves the position where it was.
        let positions = self.schedule.next_batch(self.limits(), train.len())?;
        let chosen: Vec<Triplet> = positions.iter().map(|&at| train[at as usize]).collect();
        let n = chosen.len();
        let a = self.head.forward(self.features.batch(&chosen, |t| t.anchor, &self.device)?);
        let p = self.head.forward(self.features.batch(&chosen, |t| t.positive, &self.device)?);
        let neg = self.head.forward(self.features.batch(&chosen, |t| t.negative, &self.device)?);
        let output = self.spec.loss.forward(a, p, neg);
        let loss = output.loss.clone();
        // Read (and check) the loss before the update: a non-finite batch changes nothing.
        let batch = BatchLoss::read(output, n).await?;
        let grads = GradientsParams::from_grads(loss.backward(), &self.head);
        self.head = self.optim.step(self.spec.learning_rate, self.head.clone(), grads);
        let (epoch, step) = self.schedule.record_step(batch.loss, n);
        Ok(batch.report((epoch, step, self.steps_per_epoch(train.len())), n))
    }

    /// One mined step, as the full trainer's ([`crate::train::Trainer::step`]) on the head's
    /// embeddings of the cached features: a P x K batch of the training triplets' anchors and
    /// positives drawn with the schedule's random numbers, triplets chosen from its distance
    /// matrix, the loss over them ([`MinedLoss`]). A refused step leaves the position and the
    /// random numbers where they were.
    async fn mined_step(&mut self, train: &[Triplet], mining: MiningConfig) -> Result<StepReport, TrainError> {
        let steps = self.steps_per_epoch(train.len());
        if train.is_empty() {
            return Err(TrainError::NoTriplets);
        }
        if self.schedule.step_in_epoch >= steps {
            return Err(TrainError::EpochComplete);
        }
        // Built at every step, as the encoder's trainer does, so it always fits `train`.
        let pool = mining_images(train)
            .into_iter()
            .map(|image| Ok((image, self.features.label(image)?)))
            .collect::<Result<Vec<(u32, u8)>, TrainError>>()?;
        let sampler = PkSampler::new(&pool, mining.classes, mining.per_class)?;
        let rng = self.schedule.rng.clone();
        let images = sampler.sample(mining.classes, &mut self.schedule.rng);
        let result = self.train_mined(images, mining, steps).await;
        if result.is_err() {
            self.schedule.rng = rng;
        }
        result
    }

    async fn train_mined(
        &mut self,
        images: Vec<u32>,
        mining: MiningConfig,
        steps: usize,
    ) -> Result<StepReport, TrainError> {
        let labels = images.iter().map(|&image| self.features.label(image)).collect::<Result<Vec<u8>, _>>()?;
        let embeddings = self.head.forward(self.features.rows_of(&images, &self.device)?);
        let mined = MinedLoss::of(embeddings, images, labels, &self.spec.loss, mining.strategy, &self.device).await?;
        self.last_mined = Some(mined.matrix.clone());
        let Some(loss) = mined.loss.clone() else {
            return Ok(mined.report(self.schedule.record_step(0.0, 0), steps));
        };
        let grads = GradientsParams::from_grads(loss.backward(), &self.head);
        self.head = self.optim.step(self.spec.learning_rate, self.head.clone(), grads);
        let position = self.schedule.record_step(mined.batch.loss, mined.chosen);
        Ok(mined.report(position, steps))
    }

    /// Close the epoch: the held-out loss with the run's distance and reduction, then the
    /// schedule's early stopping (a non-finite loss is never the best; the best head is restored
    /// when the run ends).
    pub async fn end_epoch(&mut self, held_out: &[Triplet]) -> Result<EpochRecord, TrainError> {
        let distances = self.held_out_distances(held_out).await?;
        let val_loss = self.spec.loss.of_distances(&distances);
        let end = self.schedule.close_epoch(val_loss, self.limits());
        if end.keep_best {
            self.best = Some(self.head.clone());
        }
        if end.restore_best
            && let Some(best) = self.best.take()
        {
            self.head = best;
        }
        Ok(end.record)
    }

    /// The recipe's evaluation with the head, scored as the full trainer scores (see
    /// [`crate::run::Distance::similarity`]): the held-out (anchor, positive) pairs, then (anchor, negative).
    pub async fn held_out_scores(&self, held_out: &[Triplet]) -> Result<HeldOutScores, TrainError> {
        let distances = self.held_out_distances(held_out).await?;
        let distance = self.spec.loss.distance;
        let mut scores: Vec<f64> = distances.iter().map(|(ap, _)| distance.similarity(*ap)).collect();
        scores.extend(distances.iter().map(|(_, an)| distance.similarity(*an)));
        let labels: Vec<bool> = (0..2 * held_out.len()).map(|at| at < held_out.len()).collect();
        let summary = Verification::new(&scores, &labels)?.summary();
        Ok(HeldOutScores { scores, labels, summary })
    }

    /// 1:N search among the distinct held-out images through the head, by the run's distance (as
    /// the full trainer's `held_out_retrieval`).
    pub async fn held_out_retrieval(
        &self,
        data: &Dataset,
        held_out: &[Triplet],
        config: &RetrievalConfig,
    ) -> Result<Retrieval, TrainError> {
        let images = distinct_images(held_out);
        let rows = self.project(&images).await?;
        retrieval_among(data, &images, &rows, config)
    }

    /// Distances (d(a,p), d(a,n)) of each held-out triplet through the head, by the run's distance.
    async fn held_out_distances(&self, held_out: &[Triplet]) -> Result<Vec<(f64, f64)>, TrainError> {
        let project = self.projection().await?;
        let distance = self.spec.loss.distance;
        held_out
            .iter()
            .map(|t| {
                let a = project(t.anchor)?;
                let p = project(t.positive)?;
                let n = project(t.negative)?;
                Ok((distance.of_rows(&a, &p), distance.of_rows(&a, &n)))
            })
            .collect()
    }

    /// The head as a function of an embedded image (its weights read back once, the projection
    /// on the CPU).
    async fn projection(&self) -> Result<impl Fn(u32) -> Result<Vec<f32>, TrainError> + '_, TrainError> {
        let head = self.host_head().await?;
        Ok(move |image: u32| -> Result<Vec<f32>, TrainError> { Ok(head.apply(self.features.row(image)?)) })
    }

    /// The head's current weights, read back to the CPU.
    pub async fn host_head(&self) -> Result<HostHead, TrainError> {
        let [input, out] = self.head.weight.val().dims();
        let weight = read_f32(self.head.weight.val().reshape([input * out])).await?;
        let bias = read_f32(self.head.bias.val()).await?;
        Ok(HostHead { weight, bias })
    }

    /// The head's output for each of `images` (each must have features).
    pub async fn project(&self, images: &[u32]) -> Result<Vec<Vec<f32>>, TrainError> {
        let project = self.projection().await?;
        images.iter().map(|&image| project(image)).collect()
    }
}

/// A projection head's weights on the CPU: `y = x W + b`, with `W` row-major `[input, output]`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostHead {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl HostHead {
    /// `x W + b` for one row `x` (of `weight.len() / bias.len()` values).
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let out = self.bias.len();
        let mut y = self.bias.clone();
        for (xi, row) in x.iter().zip(self.weight.chunks_exact(out.max(1))) {
            for (yj, &w) in y.iter_mut().zip(row) {
                *yj += xi * w;
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use burn::module::Param;
    use burn::tensor::{Device, Tensor, TensorData};

    use super::{Features, HEAD_OUTPUT, HeadTrainer, ProjectionHead};
    use crate::data::triplets::Triplet;
    use crate::run::{Distance, LossSpec, RunSpec};
    use crate::train::TrainError;

    /// A head trainer over three 2-D features, a = (1, 0), p = (0, 1), n = (-1, 0) (images 0, 1,
    /// 2), whose head copies its input into the first two outputs: every distance is known.
    fn known_head(distance: Distance) -> HeadTrainer {
        let device = Device::flex();
        let features = Features {
            rows: vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0],
            dims: 2,
            index: [(0, 0), (1, 1), (2, 2)].into_iter().collect(),
            labels: vec![0, 0, 1],
        };
        let loss = LossSpec { margin: 0.4, distance, ..LossSpec::default() };
        let mut trainer = HeadTrainer::new(features, RunSpec { loss, epochs: 3, ..RunSpec::default() }, &device);
        let mut weight = vec![0.0f32; 2 * HEAD_OUTPUT];
        weight[0] = 1.0;
        weight[HEAD_OUTPUT + 1] = 1.0;
        let device = trainer.device.clone();
        trainer.head = ProjectionHead {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, [2, HEAD_OUTPUT]), &device)),
            bias: Param::from_tensor(Tensor::zeros([HEAD_OUTPUT], &device)),
        };
        trainer
    }

    const TRIPLET: Triplet = Triplet { anchor: 0, positive: 1, negative: 2 };

    /// Fast mode scores and stops by the run's distance (it scored by cosine even for a euclidean
    /// run): d(a,p) = sqrt 2 and d(a,n) = 2 euclidean, 1 and 2 by cosine.
    #[test]
    fn fast_mode_scores_and_stops_by_the_runs_distance() {
        let euclidean = known_head(Distance::Euclidean);
        let scores = pollster::block_on(euclidean.held_out_scores(&[TRIPLET])).expect("scores").scores;
        let expected = [1.0 / (1.0 + 2f64.sqrt()), 1.0 / 3.0];
        assert!(scores.iter().zip(expected).all(|(s, e)| (s - e).abs() < 1e-6), "{scores:?} vs {expected:?}");
        let cosine = known_head(Distance::Cosine);
        let scores = pollster::block_on(cosine.held_out_scores(&[TRIPLET])).expect("scores").scores;
        // Angular similarity: 90 degrees apart is 0.5, opposite is 0.
        assert!((scores[0] - 0.5).abs() < 1e-6 && scores[1].abs() < 1e-6, "{scores:?}");

        // Held-out loss max(0, d(a,p) - d(a,n) + 0.4): euclidean sqrt 2 - 2 + 0.4 < 0 -> 0; cosine
        // 1 - 2 + 0.4 < 0 -> 0. A triplet the other way round (p and n swapped) is 2 - sqrt 2 + 0.4.
        let mut euclidean = euclidean;
        let swapped = Triplet { anchor: 0, positive: 2, negative: 1 };
        let first = pollster::block_on(euclidean.end_epoch(&[swapped])).expect("epoch");
        assert!((first.val_loss - (2.0 - 2f64.sqrt() + 0.4)).abs() < 1e-6, "{first:?}");
        assert!(first.improved, "the first finite held-out loss is the best so far");
        let same = pollster::block_on(euclidean.end_epoch(&[swapped])).expect("epoch");
        assert!(!same.improved, "an equal loss is no improvement: {same:?}");
    }

    /// An image that was not embedded is an error naming it, never another image's row (it fell
    /// back to row 0).
    #[test]
    fn a_triplet_naming_an_image_not_embedded_is_an_error() {
        let mut trainer = known_head(Distance::Cosine);
        let stranger = Triplet { anchor: 0, positive: 1, negative: 7 };
        let step = pollster::block_on(trainer.step(&[stranger]));
        assert!(matches!(step, Err(TrainError::NotEmbedded(7))), "{step:?}");
        let scores = pollster::block_on(trainer.held_out_scores(&[stranger]));
        assert!(matches!(scores, Err(TrainError::NotEmbedded(7))), "{:?}", scores.map(|s| s.scores));
        assert_eq!(trainer.schedule.step_in_epoch, 0, "nothing was trained");
    }
}

//! Fast mode: freeze the backbone, embed every image once, and train only a small projection head
//! (a linear layer, 1280 -> 128) with the same triplet loss. A step is a matrix product on cached
//! features instead of three MobileNetV2 passes, so a class sees results in seconds on a CPU.

use std::collections::HashMap;

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use crate::data::Dataset;
use crate::data::triplets::{Triplet, distinct_images};
use crate::loss::TripletLoss;
use crate::metrics::{Verification, angular_similarity, cosine_similarity};
use crate::model::{InputScaling, MobileNetV2};
use crate::optim::{AdamSettings, KerasAdam};
use crate::random::SeededRng;
use crate::train::{BatchLoss, EpochRecord, HeldOutScores, StepReport, TrainError, embed_images, read_f32};

/// The backbone's templates of a set of images, computed once.
pub struct Features {
    rows: Vec<f32>,
    pub dims: usize,
    index: HashMap<u32, usize>,
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
        Ok(Self { rows, dims, index })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn row(&self, image: u32) -> &[f32] {
        let at = self.index.get(&image).copied().unwrap_or(0);
        &self.rows[at * self.dims..(at + 1) * self.dims]
    }

    /// `[n, dims]` of the images picked from `triplets`.
    fn batch(&self, triplets: &[Triplet], pick: fn(&Triplet) -> u32, device: &Device) -> Tensor<2> {
        let mut values = Vec::with_capacity(triplets.len() * self.dims);
        for triplet in triplets {
            values.extend_from_slice(self.row(pick(triplet)));
        }
        Tensor::from_data(TensorData::new(values, [triplets.len(), self.dims]), device)
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

/// Settings of a fast-mode run.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadConfig {
    pub learning_rate: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub loss: TripletLoss,
    pub output: usize,
    pub seed: u64,
}

/// Trains a [`ProjectionHead`] on cached [`Features`], epoch by epoch (no early stopping).
pub struct HeadTrainer {
    head: ProjectionHead,
    optim: KerasAdam,
    device: Device,
    config: HeadConfig,
    features: Features,
    order: Vec<u32>,
    rng: SeededRng,
    epoch: usize,
    step_in_epoch: usize,
    loss_sum: f64,
    loss_triplets: usize,
}

impl HeadTrainer {
    pub fn new(features: Features, config: HeadConfig, device: &Device) -> Self {
        let device = device.clone().autodiff();
        let head = ProjectionHead::seeded(features.dims, config.output, config.seed, &device);
        Self {
            head,
            optim: KerasAdam::new(AdamSettings::default()),
            rng: SeededRng::new(config.seed),
            device,
            config,
            features,
            order: Vec::new(),
            epoch: 0,
            step_in_epoch: 0,
            loss_sum: 0.0,
            loss_triplets: 0,
        }
    }

    pub fn epoch(&self) -> usize {
        self.epoch
    }

    pub fn steps_per_epoch(&self, train: usize) -> usize {
        train.div_ceil(self.config.batch_size.max(1))
    }

    pub fn epoch_done(&self, train: usize) -> bool {
        self.step_in_epoch >= self.steps_per_epoch(train)
    }

    pub fn is_finished(&self) -> bool {
        self.epoch >= self.config.epochs
    }

    /// One optimisation step of the head on the next batch of `train`.
    pub async fn step(&mut self, train: &[Triplet]) -> Result<StepReport, TrainError> {
        if train.is_empty() {
            return Err(TrainError::NoTriplets);
        }
        if self.order.len() != train.len() {
            self.order = (0..train.len() as u32).collect();
            self.rng.shuffle(&mut self.order);
        }
        let batch = self.config.batch_size.max(1);
        let start = self.step_in_epoch * batch;
        if start >= train.len() {
            return Err(TrainError::EpochComplete);
        }
        let chosen: Vec<Triplet> =
            self.order[start..(start + batch).min(train.len())].iter().map(|&at| train[at as usize]).collect();
        let n = chosen.len();
        let [a, p, neg] = [|t: &Triplet| t.anchor, |t: &Triplet| t.positive, |t: &Triplet| t.negative]
            .map(|pick| self.head.forward(self.features.batch(&chosen, pick, &self.device)));
        let output = self.config.loss.forward(a, p, neg);
        let grads = GradientsParams::from_grads(output.loss.clone().backward(), &self.head);
        self.head = self.optim.step(self.config.learning_rate, self.head.clone(), grads);
        let batch = BatchLoss::read(output, n).await?;
        self.step_in_epoch += 1;
        self.loss_sum += f64::from(batch.loss) * n as f64;
        self.loss_triplets += n;
        Ok(batch.report((self.epoch + 1, self.step_in_epoch, self.steps_per_epoch(train.len())), n))
    }

    /// Close the epoch with the held-out loss.
    pub async fn end_epoch(&mut self, held_out: &[Triplet]) -> Result<EpochRecord, TrainError> {
        let scores = self.held_out_distances(held_out).await?;
        let margin = self.config.loss.margin;
        let val_loss = if held_out.is_empty() {
            0.0
        } else {
            scores.iter().map(|(ap, an)| (ap - an + margin).max(0.0)).sum::<f64>() / held_out.len() as f64
        };
        let record = EpochRecord {
            epoch: self.epoch + 1,
            loss: self.loss_sum / self.loss_triplets.max(1) as f64,
            val_loss,
            improved: true,
        };
        self.epoch += 1;
        self.step_in_epoch = 0;
        self.loss_sum = 0.0;
        self.loss_triplets = 0;
        self.rng.shuffle(&mut self.order);
        Ok(record)
    }

    /// The recipe's evaluation with the head: angular similarities of the held-out (anchor,
    /// positive) pairs, then (anchor, negative).
    pub async fn held_out_scores(&self, held_out: &[Triplet]) -> Result<HeldOutScores, TrainError> {
        let distances = self.held_out_distances(held_out).await?;
        let similarity = |distance: f64| angular_similarity(1.0 - distance);
        let mut scores: Vec<f64> = distances.iter().map(|(ap, _)| similarity(*ap)).collect();
        scores.extend(distances.iter().map(|(_, an)| similarity(*an)));
        let labels: Vec<bool> = (0..2 * held_out.len()).map(|at| at < held_out.len()).collect();
        let summary = Verification::new(&scores, &labels)?.summary();
        Ok(HeldOutScores { scores, labels, summary })
    }

    /// Cosine distances (d(a,p), d(a,n)) of each held-out triplet through the head (the head's
    /// weights read back once, the projection on the CPU).
    async fn held_out_distances(&self, held_out: &[Triplet]) -> Result<Vec<(f64, f64)>, TrainError> {
        let [input, out] = self.head.weight.val().dims();
        let weight = read_f32(self.head.weight.val().reshape([input * out])).await?;
        let bias = read_f32(self.head.bias.val()).await?;
        let out = bias.len();
        let project = |image: u32| -> Vec<f32> {
            let x = self.features.row(image);
            let mut y = bias.clone();
            for (i, &xi) in x.iter().enumerate() {
                for (yj, &w) in y.iter_mut().zip(&weight[i * out..(i + 1) * out]) {
                    *yj += xi * w;
                }
            }
            y
        };
        Ok(held_out
            .iter()
            .map(|t| {
                let a = project(t.anchor);
                let d = |other: u32| 1.0 - cosine_similarity(&a, &project(other));
                (d(t.positive), d(t.negative))
            })
            .collect())
    }
}

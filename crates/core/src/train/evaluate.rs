//! Evaluation with the current weights: the held-out loss, templates, the recipe's scores and
//! retrieval. The free functions take any encoder (fast mode's head scores its own rows).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::step::triplet_images;
use super::{TrainError, Trainer, read_f32};
use crate::data::Dataset;
use crate::data::triplets::{Triplet, distinct_images};
use crate::metrics::{Retrieval, RetrievalConfig, Verification, VerificationSummary, retrieval};
use crate::model::input::images_to_tensor;
use crate::model::{InputScaling, MobileNetV2};
use crate::run::Distance;

impl Trainer {
    /// The mean loss over `held_out` in inference mode, in batches.
    pub async fn held_out_loss(&self, data: &Dataset, held_out: &[Triplet]) -> Result<f64, TrainError> {
        let model = self.inference_model();
        let device = self.plain_device();
        let mut sum = 0.0;
        for chunk in held_out.chunks(self.spec.batch_size.max(1)) {
            let [a, p, n] = triplet_images(data, chunk, self.spec.scaling, &device, None);
            let output = self.spec.loss.forward(model.forward(a), model.forward(p), model.forward(n));
            let loss = read_f32(output.loss).await?;
            sum += f64::from(loss[0]) * chunk.len() as f64;
        }
        Ok(sum / held_out.len().max(1) as f64)
    }

    /// Templates of the images at `indices`, in inference mode: `indices.len()` rows of 1280.
    pub async fn embed(&self, data: &Dataset, indices: &[u32]) -> Result<Vec<Vec<f32>>, TrainError> {
        let device = self.plain_device();
        embed(&self.inference_model(), data, indices, self.spec.scaling, self.spec.batch_size, &device).await
    }

    /// The recipe's held-out evaluation with the current model.
    pub async fn held_out_scores(&self, data: &Dataset, held_out: &[Triplet]) -> Result<HeldOutScores, TrainError> {
        let device = self.plain_device();
        let (scaling, batch, distance) = (self.spec.scaling, self.spec.batch_size, self.spec.loss.distance);
        held_out_scores(&self.inference_model(), data, held_out, scaling, batch, distance, &device).await
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
        retrieval_among(data, &images, &rows, config)
    }
}

/// 1:N search figures among `images` of `data`, given their templates `rows` in the same order
/// (the full trainer's and fast mode's held-out retrieval).
pub(crate) fn retrieval_among(
    data: &Dataset,
    images: &[u32],
    rows: &[Vec<f32>],
    config: &RetrievalConfig,
) -> Result<Retrieval, TrainError> {
    let dims = rows.first().map_or(0, Vec::len);
    let labels: Vec<u32> = images.iter().map(|&at| u32::from(data.labels[at as usize])).collect();
    Ok(retrieval(&rows.concat(), dims, &labels, config)?)
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

/// The recipe's evaluation: similarities ([`Distance::similarity`]) of the held-out (anchor, positive)
/// pairs, labelled genuine, then of the (anchor, negative) pairs, labelled impostor, with their
/// verification summary (ROC AUC, EER, operating points).
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
    distance: Distance,
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
    scores.extend(anchors.iter().zip(&positives).map(|(a, p)| distance.similarity(distance.of_rows(a, p))));
    scores.extend(anchors.iter().zip(&negatives).map(|(a, n)| distance.similarity(distance.of_rows(a, n))));
    let labels: Vec<bool> = (0..2 * held_out.len()).map(|at| at < held_out.len()).collect();
    let summary = Verification::new(&scores, &labels)?.summary();
    Ok(HeldOutScores { scores, labels, summary })
}

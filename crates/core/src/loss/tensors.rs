//! The loss on burn tensors: distances between templates, each kind's per-triplet cost, and the
//! reduced, differentiable batch loss. The host-side twins of these formulas are in the parent
//! module; the tests below hold both to the same hand-worked answers.

use burn::tensor::Tensor;

use super::{Distance, LossKind, LossSpec, Reduction};

/// Keras' `l2_normalize` floor on the squared norm, so an all-zero template does not divide by 0.
const NORM_EPSILON: f64 = 1e-12;

/// Row-wise cosine distance `1 - <x/|x|, y/|y|>` of `[batch, dim]` inputs: `[batch]`.
pub fn cosine_distance(x: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    let dot = (normalize(x) * normalize(y)).sum_dim(1);
    dot.neg().add_scalar(1.0).squeeze_dim(1)
}

/// Row-wise euclidean distance of `[batch, dim]` inputs: `[batch]`.
pub fn euclidean_distance(x: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    (x - y).powi_scalar(2).sum_dim(1).clamp_min(NORM_EPSILON).sqrt().squeeze_dim(1)
}

fn normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).clamp_min(NORM_EPSILON).sqrt();
    x / norm
}

impl Distance {
    pub fn between(self, x: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
        match self {
            Self::Cosine => cosine_distance(x, y),
            Self::Euclidean => euclidean_distance(x, y),
        }
    }

    /// Every pair's distance of a `[n, dim]` batch: `[n, n]`, for online mining.
    pub fn pairwise(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Self::Cosine => {
                let unit = normalize(x);
                unit.clone().matmul(unit.transpose()).neg().add_scalar(1.0)
            }
            Self::Euclidean => {
                let squares = x.clone().powi_scalar(2).sum_dim(1);
                let dots = x.clone().matmul(x.transpose());
                (squares.clone() + squares.transpose() - dots.mul_scalar(2.0)).clamp_min(NORM_EPSILON).sqrt()
            }
        }
    }
}

/// The loss of one batch, with what explains it.
pub struct LossOutput {
    /// `[1]`: the reduced loss (differentiable).
    pub loss: Tensor<1>,
    /// `[batch]`: d(anchor, positive), detached.
    pub positive_distance: Tensor<1>,
    /// `[batch]`: d(anchor, negative), detached.
    pub negative_distance: Tensor<1>,
    /// `[batch]`: the per-triplet losses, detached.
    pub per_triplet: Tensor<1>,
}

impl LossKind {
    /// Each triplet's cost from its distances d(a,p) and d(a,n), element-wise (the two may be of
    /// shapes that broadcast, as batch-all's `[n, K - 1, 1]` against `[n, 1, n]`). The f64 twin is
    /// [`LossKind::of_triplet`].
    pub fn per_triplet<const D: usize>(self, positive: Tensor<D>, negative: Tensor<D>, margin: f64) -> Tensor<D> {
        match self {
            Self::Triplet => (positive - negative).add_scalar(margin).clamp_min(0.0),
            Self::Contrastive => {
                let pulled = positive.powi_scalar(2);
                let pushed = negative.neg().add_scalar(margin).clamp_min(0.0).powi_scalar(2);
                (pulled + pushed).mul_scalar(0.5)
            }
        }
    }
}

impl LossSpec {
    /// Templates `[batch, dim]` of anchors, positives and negatives.
    pub fn forward(&self, anchor: Tensor<2>, positive: Tensor<2>, negative: Tensor<2>) -> LossOutput {
        let d_ap = self.distance.between(anchor.clone(), positive);
        let d_an = self.distance.between(anchor, negative);
        let per_triplet = self.kind.per_triplet(d_ap.clone(), d_an.clone(), self.margin);
        let loss = match self.reduction {
            Reduction::MeanWithZeros => per_triplet.clone().mean(),
            Reduction::MeanOverActive => {
                let active = per_triplet.clone().greater_elem(0.0).float().sum().clamp_min(1.0);
                per_triplet.clone().sum() / active
            }
        };
        LossOutput {
            loss,
            positive_distance: d_ap.detach(),
            negative_distance: d_an.detach(),
            per_triplet: per_triplet.detach(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn rows(values: &[[f32; 2]]) -> Tensor<2> {
        Tensor::from_floats(
            burn::tensor::TensorData::new(values.iter().flatten().copied().collect::<Vec<_>>(), [values.len(), 2]),
            &Device::flex(),
        )
    }

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().expect("f32")
    }

    #[test]
    fn cosine_distance_known_answers() {
        let x = rows(&[[1.0, 0.0], [1.0, 1.0], [3.0, 4.0], [0.0, 0.0]]);
        let y = rows(&[[0.0, 2.0], [2.0, 2.0], [-3.0, -4.0], [1.0, 0.0]]);
        let d = values(cosine_distance(x, y));
        let want = [1.0, 0.0, 2.0, 1.0];
        for (got, want) in d.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{d:?}");
        }
    }

    #[test]
    fn euclidean_distance_known_answers() {
        let d = values(euclidean_distance(rows(&[[0.0, 0.0], [1.0, 1.0]]), rows(&[[3.0, 4.0], [1.0, 1.0]])));
        assert!((d[0] - 5.0).abs() < 1e-6 && d[1] < 1e-5, "{d:?}");
    }

    fn matrix(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_into_vec::<f32>().expect("f32")
    }

    /// Every pair of three points whose distances all differ, so a wrong sign, a missing transpose
    /// or a lost factor 2 in `|a|^2 + |b|^2 - 2ab` shows in some cell.
    #[test]
    fn pairwise_euclidean_known_answers() {
        let d = matrix(Distance::Euclidean.pairwise(rows(&[[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]])));
        let twenty = 20f32.sqrt();
        let want = [0.0, 5.0, 1.0, 5.0, 0.0, twenty, 1.0, twenty, 0.0];
        for (got, want) in d.iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{d:?}");
        }
    }

    #[test]
    fn pairwise_cosine_known_answers() {
        let d = matrix(Distance::Cosine.pairwise(rows(&[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])));
        let half = 1.0 - std::f32::consts::FRAC_1_SQRT_2;
        let want = [0.0, 1.0, half, 1.0, 0.0, half, half, half, 0.0];
        for (got, want) in d.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{d:?}");
        }
    }

    #[test]
    fn triplet_loss_reductions() {
        // d(a,p), d(a,n) (cosine): (0, 1) -> max(0 - 1 + 0.4, 0) = 0; (1, 0) -> 1.4; (0, 0) -> 0.4.
        let anchor = rows(&[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]);
        let positive = rows(&[[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]);
        let negative = rows(&[[0.0, 1.0], [5.0, 0.0], [1.0, 0.0]]);
        let recipe = LossSpec::default().forward(anchor.clone(), positive.clone(), negative.clone());
        assert!((values(recipe.loss)[0] - 1.8 / 3.0).abs() < 1e-6);
        let per = values(recipe.per_triplet);
        assert!((per[0]).abs() < 1e-6 && (per[1] - 1.4).abs() < 1e-6 && (per[2] - 0.4).abs() < 1e-6, "{per:?}");
        let active = LossSpec { reduction: Reduction::MeanOverActive, ..LossSpec::default() };
        assert!((values(active.forward(anchor, positive, negative).loss)[0] - 0.9).abs() < 1e-6);
    }

    /// The tensor form agrees with the host form on the hand-worked cases of both kinds.
    #[test]
    fn contrastive_loss_on_tensors_matches_the_host_formula() {
        // Cosine distances (0, 1), (1, 0), (0, 0) as in the triplet test above, margin 0.4:
        // contrastive 0 + 0.5 * 0 = 0; 0.5 + 0.5 * 0.16 = 0.58; 0 + 0.5 * 0.16 = 0.08.
        let anchor = rows(&[[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]]);
        let positive = rows(&[[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]]);
        let negative = rows(&[[0.0, 1.0], [5.0, 0.0], [1.0, 0.0]]);
        let spec = LossSpec { kind: LossKind::Contrastive, ..LossSpec::default() };
        let output = spec.forward(anchor, positive, negative);
        let per = values(output.per_triplet);
        for (got, (ap, an)) in per.iter().zip([(0.0, 1.0), (1.0, 0.0), (0.0, 0.0)]) {
            let want = spec.of_triplet(ap, an);
            assert!((f64::from(*got) - want).abs() < 1e-6, "{per:?}");
        }
        assert!((per[1] - 0.58).abs() < 1e-6 && (per[2] - 0.08).abs() < 1e-6, "{per:?}");
        assert!((values(output.loss)[0] - 0.66 / 3.0).abs() < 1e-6);
    }
}

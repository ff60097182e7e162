//! The loss: how far apart two templates are ([`Distance`]), what one triplet costs
//! ([`LossKind`]), and how a batch's costs become one number ([`Reduction`]), composed by
//! [`LossSpec`], the run description's `loss`.
//!
//! Written once, in two forms that must agree: here on the host in f64 (fast mode's held-out
//! loss, mining's "active" count, the page's triplet anatomy) and in [`tensors`] on burn tensors
//! (the trainers' differentiable loss, batch-all's masked matrix). A new loss is a new
//! [`LossKind`] variant with its formula in both places, and its key in the settings table
//! (`run::settings`).
//!
//! Free of burn (the page's UI reads these types); the tensor code is behind the `tensors`
//! feature.

use std::f64::consts::PI;

use serde::{Deserialize, Serialize};

#[cfg(feature = "tensors")]
mod tensors;
#[cfg(feature = "tensors")]
pub use tensors::{LossOutput, cosine_distance, euclidean_distance};

/// How far apart two templates are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Distance {
    /// 1 - cos(x, y), in [0, 2] (in [0, 1] for the non-negative templates here): the recipe.
    #[default]
    Cosine,
    /// |x - y|.
    Euclidean,
}

impl Distance {
    /// How similar two templates are, from their distance: for cosine the recipe's angular
    /// similarity `1 - acos(1 - d) / pi`; for euclidean `1 / (1 + d)`. Both lie in [0, 1], higher is
    /// more alike, and the ROC curve of either is that of its distance.
    pub fn similarity(self, d: f64) -> f64 {
        match self {
            Self::Cosine => angular_similarity(1.0 - d),
            Self::Euclidean => 1.0 / (1.0 + d.max(0.0)),
        }
    }

    /// The distance between two templates (in f64), as the loss measures it.
    pub fn of_rows(self, a: &[f32], b: &[f32]) -> f64 {
        match self {
            Self::Cosine => 1.0 - cosine_similarity(a, b),
            Self::Euclidean => {
                a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum::<f64>().sqrt()
            }
        }
    }

    /// The distance a [`Self::similarity`] came from (its inverse).
    pub fn distance_of(self, similarity: f64) -> f64 {
        match self {
            Self::Cosine => 1.0 - cosine_of_angular(similarity),
            Self::Euclidean if similarity > 0.0 => 1.0 / similarity - 1.0,
            Self::Euclidean => f64::INFINITY,
        }
    }

    /// Its name in plain words: "cosine" or "euclidean" (the settings table's words).
    pub fn name(self) -> &'static str {
        match self {
            Self::Cosine => "cosine",
            Self::Euclidean => "euclidean",
        }
    }

    /// What the page and the CLI call its similarity.
    pub fn similarity_name(self) -> &'static str {
        match self {
            Self::Cosine => "angular similarity",
            Self::Euclidean => "similarity 1 / (1 + d)",
        }
    }
}

/// What one triplet (anchor, positive, negative) costs, from d(a,p), d(a,n) and the margin m.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LossKind {
    /// The triplet loss (Schroff et al. 2015), the recipe: `max(d(a,p) - d(a,n) + m, 0)`. Zero once
    /// the negative is at least m farther from the anchor than the positive.
    #[default]
    Triplet,
    /// The contrastive loss (Hadsell, Chopra and LeCun 2006) of the triplet's two pairs: the
    /// genuine pair (a, p) costs `d(a,p)^2 / 2` (pulled together, always), the impostor pair
    /// (a, n) costs `max(m - d(a,n), 0)^2 / 2` (pushed until it is at least m apart). Each pair is
    /// judged on its own distance, never against the other.
    Contrastive,
}

impl LossKind {
    /// Every kind, in the order the page offers them.
    pub const ALL: [Self; 2] = [Self::Triplet, Self::Contrastive];

    /// The cost of one triplet, in f64 (the tensor form is [`LossSpec::forward`]).
    pub fn of_triplet(self, positive_distance: f64, negative_distance: f64, margin: f64) -> f64 {
        match self {
            Self::Triplet => (positive_distance - negative_distance + margin).max(0.0),
            Self::Contrastive => 0.5 * positive_distance.powi(2) + 0.5 * (margin - negative_distance).max(0.0).powi(2),
        }
    }

    /// The formula in words and symbols, for the page and the CLI.
    pub fn formula(self) -> &'static str {
        match self {
            Self::Triplet => "max(d(a,p) - d(a,n) + margin, 0)",
            Self::Contrastive => "d(a,p)^2 / 2 + max(margin - d(a,n), 0)^2 / 2",
        }
    }

    /// Its name in plain words.
    pub fn name(self) -> &'static str {
        match self {
            Self::Triplet => "triplet loss",
            Self::Contrastive => "contrastive loss",
        }
    }
}

/// How per-triplet losses become the batch loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reduction {
    /// The plain mean, zeros included: the recipe (Keras' default).
    #[default]
    MeanWithZeros,
    /// The mean over triplets that still cost something (loss > 0); 0 when none does.
    MeanOverActive,
}

impl Reduction {
    /// Per-triplet losses reduced to one number, in f64.
    pub fn reduce(self, losses: &[f64]) -> f64 {
        let count = match self {
            Self::MeanWithZeros => losses.len(),
            Self::MeanOverActive => losses.iter().filter(|&&loss| loss > 0.0).count(),
        };
        losses.iter().sum::<f64>() / count.max(1) as f64
    }
}

/// The run's loss: a kind, over a distance, with a margin, reduced over the batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossSpec {
    /// Checkpoints made before there was a choice are triplet runs.
    #[serde(default)]
    pub kind: LossKind,
    pub margin: f64,
    pub distance: Distance,
    pub reduction: Reduction,
}

impl Default for LossSpec {
    /// The recipe's: the triplet loss, cosine distance, margin 0.4, the plain mean.
    fn default() -> Self {
        Self { kind: LossKind::Triplet, margin: 0.4, distance: Distance::Cosine, reduction: Reduction::MeanWithZeros }
    }
}

impl LossSpec {
    /// The cost of one triplet from its two distances, in f64.
    pub fn of_triplet(&self, positive_distance: f64, negative_distance: f64) -> f64 {
        self.kind.of_triplet(positive_distance, negative_distance, self.margin)
    }

    /// The loss of triplets given as (d(a,p), d(a,n)) pairs, reduced as a batch is.
    pub fn of_distances(&self, distances: &[(f64, f64)]) -> f64 {
        let losses: Vec<f64> = distances.iter().map(|&(ap, an)| self.of_triplet(ap, an)).collect();
        self.reduction.reduce(&losses)
    }
}

/// Angular similarity `1 - arccos(clamp(cos, -1, 1)) / pi`, in [0, 1].
pub fn angular_similarity(cosine: f64) -> f64 {
    1.0 - cosine.clamp(-1.0, 1.0).acos() / PI
}

/// The cosine whose angular similarity is `similarity` (clamped to [0, 1]): shows an angular
/// threshold as the cosine value it stands for.
pub fn cosine_of_angular(similarity: f64) -> f64 {
    (PI * (1.0 - similarity.clamp(0.0, 1.0))).cos()
}

/// Cosine similarity of two vectors, accumulated in f64; 0 when either is all zeros.
pub fn cosine_similarity(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norms = (aa * bb).sqrt();
    if norms > 0.0 { dot / norms } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_triplet_hinge_known_answers() {
        let triplet = LossKind::Triplet;
        assert_eq!(triplet.of_triplet(0.0, 1.0, 0.4), 0.0);
        assert!((triplet.of_triplet(1.0, 0.0, 0.4) - 1.4).abs() < 1e-15);
        assert!((triplet.of_triplet(0.3, 0.5, 0.4) - 0.2).abs() < 1e-15);
        // Exactly at the margin: nothing left to learn.
        assert_eq!(triplet.of_triplet(0.25, 0.75, 0.5), 0.0);
    }

    /// Worked by hand from Hadsell, Chopra and LeCun (2006), eq. 4 with the pair's label Y = 0
    /// (similar) for (a, p) and Y = 1 (dissimilar) for (a, n).
    #[test]
    fn the_contrastive_loss_known_answers() {
        let contrastive = LossKind::Contrastive;
        // d(a,p) = 0.6: 0.18; d(a,n) = 0.1 < m = 0.5: (0.4)^2 / 2 = 0.08.
        assert!((contrastive.of_triplet(0.6, 0.1, 0.5) - 0.26).abs() < 1e-15);
        // The impostor beyond the margin costs nothing; the genuine pair still does.
        assert!((contrastive.of_triplet(0.2, 0.9, 0.5) - 0.02).abs() < 1e-15);
        // Unlike the triplet loss, it does not compare the two pairs: a far negative does not
        // excuse a far positive.
        assert_eq!(LossKind::Triplet.of_triplet(0.8, 2.0, 0.5), 0.0);
        assert!((contrastive.of_triplet(0.8, 2.0, 0.5) - 0.32).abs() < 1e-15);
        assert_eq!(contrastive.of_triplet(0.0, 0.5, 0.5), 0.0);
    }

    #[test]
    fn reductions_known_answers() {
        let losses = [0.0, 0.3, 0.0, 0.5];
        assert!((Reduction::MeanWithZeros.reduce(&losses) - 0.2).abs() < 1e-12);
        assert!((Reduction::MeanOverActive.reduce(&losses) - 0.4).abs() < 1e-12);
        // Three active of four (not as many as the zeros): 1.2 / 3, and 1.2 / 4.
        let uneven = [0.0, 0.3, 0.6, 0.3];
        assert!((Reduction::MeanOverActive.reduce(&uneven) - 0.4).abs() < 1e-12);
        assert!((Reduction::MeanWithZeros.reduce(&uneven) - 0.3).abs() < 1e-12);
        assert_eq!(Reduction::MeanOverActive.reduce(&[0.0, 0.0]), 0.0);
        assert_eq!(Reduction::MeanWithZeros.reduce(&[]), 0.0);
        let spec = LossSpec { kind: LossKind::Contrastive, margin: 0.5, ..LossSpec::default() };
        assert!((spec.of_distances(&[(0.6, 0.1), (0.2, 0.9)]) - 0.14).abs() < 1e-12);
    }

    /// A checkpoint written before the loss had a kind reads as a triplet run.
    #[test]
    fn a_loss_without_a_kind_is_the_triplet_loss() {
        let old = r#"{"margin":0.3,"distance":"Euclidean","reduction":"MeanOverActive"}"#;
        let read: LossSpec = serde_json::from_str(old).expect("old loss");
        assert_eq!(
            read,
            LossSpec {
                kind: LossKind::Triplet,
                margin: 0.3,
                distance: Distance::Euclidean,
                reduction: Reduction::MeanOverActive
            }
        );
    }

    #[test]
    fn similarities_follow_the_distance() {
        // Orthogonal rows: cosine distance 1, angular similarity 0.5; euclidean sqrt(2).
        let (a, b) = ([1.0f32, 0.0], [0.0f32, 1.0]);
        assert!((Distance::Cosine.of_rows(&a, &b) - 1.0).abs() < 1e-12);
        assert!((Distance::Cosine.similarity(1.0) - 0.5).abs() < 1e-12);
        assert!((Distance::Euclidean.of_rows(&a, &b) - 2f64.sqrt()).abs() < 1e-12);
        assert!((Distance::Euclidean.similarity(2f64.sqrt()) - 1.0 / (1.0 + 2f64.sqrt())).abs() < 1e-12);
        assert_eq!(Distance::Euclidean.similarity(0.0), 1.0);
        assert_eq!(Distance::Cosine.similarity(0.0), 1.0);
        for distance in [Distance::Cosine, Distance::Euclidean] {
            for d in [0.0, 0.25, 0.9, 1.7] {
                let back = distance.distance_of(distance.similarity(d));
                assert!((back - d).abs() < 1e-9, "{distance:?} {d} -> {back}");
            }
        }
    }

    #[test]
    fn angular_similarity_known_values() {
        assert!((angular_similarity(1.0) - 1.0).abs() < 1e-15);
        assert!((angular_similarity(0.0) - 0.5).abs() < 1e-15);
        assert!(angular_similarity(-1.0).abs() < 1e-15);
        assert!((angular_similarity(0.5) - 2.0 / 3.0).abs() < 1e-15, "arccos(1/2) = pi/3");
        assert!((angular_similarity(1.0 + 1e-7) - 1.0).abs() < 1e-15, "clamped");
    }

    #[test]
    fn cosine_of_angular_inverts_angular_similarity() {
        for cosine in [-1.0, -0.73, -0.2, 0.0, 0.31, 0.5, 0.999] {
            assert!((cosine_of_angular(angular_similarity(cosine)) - cosine).abs() < 1e-12, "{cosine}");
        }
        assert_eq!(cosine_of_angular(2.0), 1.0, "clamped");
    }

    /// The words the page, the CLI and the settings table show for each distance and loss.
    #[test]
    fn the_names_and_formulas_shown_to_people() {
        assert_eq!([Distance::Cosine.name(), Distance::Euclidean.name()], ["cosine", "euclidean"]);
        let similarities = [Distance::Cosine.similarity_name(), Distance::Euclidean.similarity_name()];
        assert_eq!(similarities, ["angular similarity", "similarity 1 / (1 + d)"]);
        assert_eq!(LossKind::ALL.map(LossKind::name), ["triplet loss", "contrastive loss"]);
        let formulas = LossKind::ALL.map(LossKind::formula);
        assert_eq!(formulas, ["max(d(a,p) - d(a,n) + margin, 0)", "d(a,p)^2 / 2 + max(margin - d(a,n), 0)^2 / 2"]);
    }

    /// A threshold at or below the bottom of the euclidean scale (an operating point that accepts
    /// every pair can sit at -infinity) stands for an infinite distance, never a negative one.
    /// (`similarity >= 0.0` in the guard would be the same function: at 0 both give infinity.)
    #[test]
    fn a_threshold_below_the_euclidean_scale_is_an_infinite_distance() {
        let euclidean = Distance::Euclidean;
        assert_eq!(euclidean.distance_of(0.25), 3.0);
        assert_eq!(euclidean.distance_of(0.0), f64::INFINITY);
        assert_eq!(euclidean.distance_of(-0.5), f64::INFINITY);
        assert_eq!(euclidean.distance_of(f64::NEG_INFINITY), f64::INFINITY);
    }

    /// A template of zeros has no direction: its cosine with anything is 0, never NaN.
    /// (`cosine_of_angular`'s `1 - s` written `1 + s` is the same function: cos(pi (1 + s)) =
    /// cos(pi (1 - s)), so mutation testing cannot tell them apart.)
    #[test]
    fn the_cosine_of_a_zero_template_is_zero() {
        assert_eq!(cosine_similarity(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        assert_eq!(cosine_similarity(&[3.0, 4.0], &[0.0, 0.0]), 0.0);
        assert!((cosine_similarity(&[3.0, 4.0], &[4.0, 3.0]) - 24.0 / 25.0).abs() < 1e-12);
        assert_eq!(Distance::Cosine.of_rows(&[0.0, 0.0], &[1.0, 0.0]), 1.0);
    }
}

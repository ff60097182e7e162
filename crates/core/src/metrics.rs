//! Evaluation metrics on plain slices, shared by the page, the worker and the CLI.
//!
//! - [`Verification`]: scores of pairs labelled genuine or impostor, sorted once; the ROC curve and
//!   its AUC exactly as scikit-learn computes them, the threshold for a target false match rate,
//!   the equal error rate, precision / recall / F1 against the threshold, and the counts at any
//!   threshold.
//! - [`retrieval`](retrieval::retrieval): 1:N search over labelled embeddings: precision@1,
//!   R-precision and MAP@R (Musgrave et al., "A Metric Learning Reality Check", 2020), recall@k,
//!   per class; computed in blocks, never as an n x n matrix.
//!
//! A pair is a *match* at threshold `t` when its score is `>= t` (scikit-learn's convention).

mod auc_interval;
mod retrieval;
mod verification;

pub use auc_interval::{AucInterval, delong_interval};

pub use retrieval::{ClassRetrieval, Neighbour, Retrieval, RetrievalConfig, nearest, retrieval};
pub use verification::{Confusion, Eer, FmrPoint, PrPoint, RocCurve, Verification, VerificationSummary, roc_auc};

use std::f64::consts::PI;

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

/// Inputs for which a metric does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    #[error("there are no scores")]
    Empty,
    #[error("scores and labels differ in length ({scores} and {labels})")]
    LengthMismatch { scores: usize, labels: usize },
    #[error("only one class is present ({positives} positives, {negatives} negatives): the ROC curve is undefined")]
    OneClass { positives: usize, negatives: usize },
    #[error("an AUC interval needs at least 2 genuine and 2 impostor scores ({positives} and {negatives})")]
    TooFewForInterval { positives: usize, negatives: usize },
    #[error("score {index} is not a number")]
    NotANumber { index: usize },
    #[error("embeddings need at least one dimension")]
    NoDimensions,
    #[error("{values} values do not make whole embeddings of {dims} dimensions")]
    RaggedEmbeddings { values: usize, dims: usize },
    #[error("{embeddings} embeddings but {labels} labels")]
    LabelCount { embeddings: usize, labels: usize },
    #[error("embedding {index} holds a value that is not finite")]
    NotFinite { index: usize },
    #[error("no query has another embedding of its class: retrieval metrics are undefined")]
    NoRelevantItems,
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

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

mod atlas;
mod auc_interval;
mod retrieval;
mod verification;

pub use atlas::{ClassRates, class_rates, worst_impostors};
pub use auc_interval::{AucDifference, AucInterval, delong_difference, delong_interval};

pub use retrieval::{ClassRetrieval, Neighbour, Retrieval, RetrievalConfig, nearest, retrieval};
pub use verification::{Confusion, Eer, FmrPoint, PrPoint, RocCurve, Verification, VerificationSummary, roc_auc};

// The similarities of the distances live with the distance (`crate::loss`); here for every
// metric's caller.
pub use crate::loss::{angular_similarity, cosine_of_angular, cosine_similarity};

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

//! Looking inside a trained encoder: 2-D maps of its embeddings (principal components).

pub mod pca;

pub use pca::{PcaError, Projection, pca};

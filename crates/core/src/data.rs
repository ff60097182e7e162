//! Images in, triplets out: the CIFAR-10 binary format, its archive, the recipe's triplet sets,
//! a synthetic stand-in dataset, augmentation, and the manifest of the shards the page fetches.
//!
//! Everything here parses and produces bytes; reading files or fetching is the caller's job.

pub mod archive;
pub mod augment;
pub mod cifar;
mod error;
#[cfg(feature = "import")]
pub mod import;
pub mod manifest;
pub mod pictures;
pub mod synthetic;
pub mod triplets;

pub use cifar::{Batch, CifarFiles, Dataset};
pub use error::DataError;

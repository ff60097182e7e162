//! Triplet Lab's core: everything that touches a tensor, for every face of the project
//! (the browser worker, the native CLI, tests and benchmarks).
//!
//! The core takes a burn [`Device`](burn::tensor::Device) and never chooses one; it does no
//! network or file-system I/O of its own and never reads a tensor synchronously, so the same code
//! runs natively and in a browser worker.
//!
//! Without its default `tensors` feature the crate is only the data formats (the safetensors
//! reader included), metrics and random numbers: what the page's UI shares with the worker, and
//! what the fuzz targets read, without linking burn.

pub mod data;
pub mod explore;
#[cfg(feature = "tensors")]
pub mod head;
pub mod loss;
pub mod metrics;
pub mod mining;
pub mod model;
pub mod optim;
#[cfg(feature = "projector")]
pub mod projector;
pub mod random;
pub mod run;
pub mod selfcheck;
#[cfg(feature = "tensors")]
pub mod train;
#[cfg(feature = "tensors")]
pub mod training;

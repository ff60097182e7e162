//! Triplet Lab's core: everything that touches a tensor, for every face of the project
//! (the browser worker, the native CLI, tests and benchmarks).
//!
//! The core takes a burn [`Device`](burn::tensor::Device) and never chooses one; it does no
//! network or file-system I/O of its own and never reads a tensor synchronously, so the same code
//! runs natively and in a browser worker.

pub mod data;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod random;
pub mod selfcheck;
pub mod train;

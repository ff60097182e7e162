//! Kernel launches counted for the process: the dispatches a step costs a CubeCL backend (wgpu,
//! WebGPU). `tripletlab speed` and the page's worker both report them.

use std::sync::atomic::{AtomicU64, Ordering};

pub use cubecl_runtime::logging::LaunchObservation;
use cubecl_runtime::logging::LaunchObserver;

/// Counts every kernel launch while installed with [`LaunchObservation::new`] (process-wide).
/// The flex backend is not CubeCL and launches none.
#[derive(Debug, Default)]
pub struct Launches(AtomicU64);

impl Launches {
    /// Launches counted so far: subtract two readings for a stretch of work.
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl LaunchObserver for Launches {
    fn launched(&self, _kernel: &'static str) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

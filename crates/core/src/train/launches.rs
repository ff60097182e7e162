//! Kernel launches counted for the process: the dispatches a step costs a CubeCL backend (wgpu,
//! WebGPU). `tripletlab speed` and the page's worker both report them; the worker also reports a
//! step's launches while it runs (a first step on WebGPU compiles each kernel before its first
//! dispatch, and takes its time).

use std::sync::atomic::{AtomicU64, Ordering};

pub use cubecl_runtime::logging::LaunchObservation;
use cubecl_runtime::logging::LaunchObserver;

/// Counts every kernel launch while installed with [`LaunchObservation::new`] (process-wide), and
/// calls its report, if any, with the count at every `every`-th launch. The flex backend is not
/// CubeCL and launches none.
#[derive(Debug, Default)]
pub struct Launches {
    count: AtomicU64,
    report: Option<(u64, fn(u64))>,
}

impl Launches {
    /// Counting, and calling `report` with the count at every `every`-th launch (on the thread
    /// that launches: a plain function, which any thread may call).
    pub fn reporting(every: u64, report: fn(u64)) -> Self {
        Self { count: AtomicU64::new(0), report: Some((every.max(1), report)) }
    }

    /// Launches counted so far: subtract two readings for a stretch of work.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl LaunchObserver for Launches {
    fn launched(&self, _kernel: &'static str) {
        let count = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some((every, report)) = self.report
            && count % every == 0
        {
            report(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    static REPORTED: AtomicU64 = AtomicU64::new(0);
    static REPORTS: AtomicU64 = AtomicU64::new(0);

    fn remember(count: u64) {
        REPORTED.fetch_add(count, Ordering::Relaxed);
        REPORTS.fetch_add(1, Ordering::Relaxed);
    }

    /// Ten launches reported every fourth: twice, at 4 and 8 (their sum, 12), counted all ten.
    /// (Counting from 0 would report at 0, 4 and 8: the same sum, three reports.)
    #[test]
    fn every_nth_launch_is_reported_with_the_count() {
        let launches = Launches::reporting(4, remember);
        for _ in 0..10 {
            launches.launched("kernel");
        }
        assert_eq!(launches.count(), 10);
        assert_eq!((REPORTS.load(Ordering::Relaxed), REPORTED.load(Ordering::Relaxed)), (2, 12));
    }
}

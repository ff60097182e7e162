//! What a run does next, one call at a time, for every face's loop (the page's worker in full and
//! fast mode, the CLI): end the run when it is finished, else close the epoch when its steps are
//! done, else take a step. Each face only adds what is its own between calls (messages, pauses,
//! checkpoints, printing).

use std::future::Future;

use super::{EpochRecord, StepReport, TrainError};

/// A run that can be driven by [`advance`]: either kind of run on its data
/// (`crate::training::On`).
pub trait Steps {
    /// Early stopping or the epoch limit ended it.
    fn is_finished(&self) -> bool;
    /// This epoch's steps are all done.
    fn epoch_done(&self) -> bool;
    fn step(&mut self) -> impl Future<Output = Result<StepReport, TrainError>>;
    /// Close the epoch now (also before its last step, for quick trials).
    fn end_epoch(&mut self) -> impl Future<Output = Result<EpochRecord, TrainError>>;
}

/// What [`advance`] did.
#[derive(Debug)]
pub enum Next {
    Step(StepReport),
    Epoch(EpochRecord),
    /// Nothing: the run is over.
    Finished,
}

/// One move of a run: the only place the order step / end of epoch / end of run is decided.
pub async fn advance(run: &mut impl Steps) -> Result<Next, TrainError> {
    if run.is_finished() {
        return Ok(Next::Finished);
    }
    if run.epoch_done() {
        return run.end_epoch().await.map(Next::Epoch);
    }
    run.step().await.map(Next::Step)
}

/// One whole epoch of any run (the full trainer or fast mode's head): every step (or the first
/// `max_steps`, for quick trials), `on_step` after each, then the end of the epoch, driven by
/// [`advance`]. A run that is already over is [`TrainError::Finished`].
pub async fn train_epoch(
    run: &mut impl Steps,
    max_steps: Option<usize>,
    mut on_step: impl FnMut(&StepReport),
) -> Result<EpochRecord, TrainError> {
    let mut steps = 0;
    loop {
        if max_steps.is_some_and(|max| steps >= max) {
            return run.end_epoch().await;
        }
        match advance(run).await? {
            Next::Step(report) => {
                steps += 1;
                on_step(&report);
            }
            Next::Epoch(record) => return Ok(record),
            Next::Finished => return Err(TrainError::Finished),
        }
    }
}

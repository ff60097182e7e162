//! The worker's one run loop, for a full run and fast mode alike: between two moves of the run
//! ([`advance`]) it yields to the worker's event loop, so pause, stop and "evaluate now" are
//! heard; it evaluates after each epoch and at the end, stores checkpoints (where the run has
//! them), and sends the page an event for everything.

use std::rc::Rc;
use std::sync::Arc;

use gloo_timers::future::TimeoutFuture;
use tripletlab_core::train::launches::{LaunchObservation, Launches};
use tripletlab_core::train::{Next, StepReport, Steps, advance};
use tripletlab_protocol::{Event, MinedBatchView, RunHistory, StepProgress};
use web_time::Instant;

use crate::events::{Failure, LoopState, epoch_event, step_event};
use crate::session::{Responder, Run};

/// Seconds between two mined batches sent to the page (each carries its images' pixels).
const HEAT_MAP_EVERY_S: f64 = 0.5;

/// A run the loop can drive: its steps, and what it does to evaluate and to save.
pub(crate) trait Driven {
    /// The run's next moves ([`advance`] takes one).
    fn steps(&mut self) -> impl Steps;
    /// Score the held-out pairs with the current weights and send them.
    async fn evaluate(&mut self, history: &mut RunHistory) -> Result<(), Failure>;
    /// Store a checkpoint `now`, or when one is due: `None` when none was due, else whether it
    /// was stored (fast mode stores none).
    async fn save(&mut self, history: &RunHistory, now: bool) -> Option<bool>;
    /// The epoch whose weights the run keeps.
    fn best_epoch(&self) -> Option<u32>;
    /// The last step's mined batch for the heat map, if it was one.
    fn mined_batch(&self, report: &StepReport, global_step: u32) -> Option<MinedBatchView>;
    /// The kernels a step dispatched when this run's settings were warmed up on its GPU, if they
    /// were: what its first step's progress is told against.
    fn warmed_step_dispatches(&self) -> Option<u32>;
}

/// A step's progress is reported every this many kernel launches (a first step on WebGPU
/// dispatches thousands; SwiftShader runs a few hundred a second).
const PROGRESS_EVERY: u64 = 250;

/// The step under way, for [`report_progress`].
struct StepUnderWay {
    respond: Responder,
    global_step: u32,
    launched_before: u64,
    expected: Option<u32>,
}

thread_local! {
    static UNDER_WAY: std::cell::RefCell<Option<StepUnderWay>> = const { std::cell::RefCell::new(None) };
}

/// Called by the launch counter (on the worker's one thread, inside the step): tells the page
/// how far the step under way has got. Launches outside a step (evaluations) report nothing.
fn report_progress(count: u64) {
    UNDER_WAY.with(|slot| {
        if let Some(step) = slot.borrow().as_ref() {
            step.respond.send(Event::StepProgress(StepProgress {
                global_step: step.global_step,
                dispatched: count.saturating_sub(step.launched_before),
                expected: step.expected,
            }));
        }
    });
}

/// Run until finished, stopped or failed. Every run is evaluated first, so the page shows where
/// it stands before it moves on: a new run's evaluation at step 0 is the "before training" the
/// page compares with (the AUC and the map of the untrained model).
pub(crate) async fn drive(run: &Run, driven: &mut impl Driven, mut history: RunHistory) -> Result<(), Failure> {
    let session = Rc::clone(&run.session);
    // Every kernel the GPU runtime dispatches while this run goes (the CPU backend dispatches
    // none): the page shows the count of each step.
    let launches = Arc::new(Launches::reporting(PROGRESS_EVERY, report_progress));
    let _watching = LaunchObservation::new(launches.clone());
    let mut last_dispatches: Option<u32> = driven.warmed_step_dispatches();
    let elapsed_before = history.elapsed_s;
    let mut session_started = Instant::now();
    let mut heat_map_sent: Option<Instant> = None;
    if !driven.steps().is_finished() {
        driven.evaluate(&mut history).await?;
    }
    loop {
        // Let the worker handle the visitor's commands between moves.
        TimeoutFuture::new(0).await;
        history.elapsed_s = elapsed_before + session_started.elapsed().as_secs_f64();
        match session.control.get() {
            LoopState::StopRequested => {
                let saved = driven.save(&history, true).await.unwrap_or(false);
                run.respond.send(Event::TrainingStopped { saved });
                return Ok(());
            }
            LoopState::PauseRequested => {
                let saved = driven.save(&history, true).await.unwrap_or(false);
                session.control.set(LoopState::Paused);
                run.respond.send(Event::TrainingPaused { saved });
                let paused_at = Instant::now();
                while session.control.get() == LoopState::Paused {
                    if session.evaluate_now.take() {
                        driven.evaluate(&mut history).await?;
                    }
                    TimeoutFuture::new(50).await;
                }
                // Time spent paused is not training time.
                session_started += paused_at.elapsed();
                if session.control.get() == LoopState::Running {
                    run.respond.send(Event::TrainingResumed);
                }
                continue;
            }
            _ => {}
        }
        if session.evaluate_now.take() {
            driven.evaluate(&mut history).await?;
        }
        let started = Instant::now();
        let launched_before = launches.count();
        let step_under_way = StepUnderWay {
            respond: run.respond.clone(),
            global_step: history.global_step + 1,
            launched_before,
            expected: last_dispatches,
        };
        UNDER_WAY.with(|slot| *slot.borrow_mut() = Some(step_under_way));
        let next = advance(&mut driven.steps()).await;
        UNDER_WAY.with(|slot| slot.borrow_mut().take());
        let next = next?;
        let dispatches = u32::try_from(launches.count() - launched_before).ok().filter(|&count| count > 0);
        if matches!(next, Next::Step(_)) && dispatches.is_some() {
            last_dispatches = dispatches;
        }
        match next {
            Next::Finished => {
                driven.evaluate(&mut history).await?;
                let saved = driven.save(&history, true).await.unwrap_or(false);
                run.respond.send(Event::TrainingFinished { best_epoch: driven.best_epoch(), saved });
                return Ok(());
            }
            Next::Epoch(record) => {
                let event = epoch_event(&record);
                history.epochs.push(event.clone());
                run.respond.send(Event::EpochDone(event));
                // The last epoch is evaluated (once) as the run finishes.
                if !driven.steps().is_finished() {
                    driven.evaluate(&mut history).await?;
                    driven.save(&history, true).await;
                }
            }
            Next::Step(report) => {
                let seconds = started.elapsed().as_secs_f64().max(1e-9);
                let global_step = history.global_step + 1;
                history.push_step(global_step, report.loss);
                let elapsed_s = elapsed_before + session_started.elapsed().as_secs_f64();
                let memory = core::arch::wasm32::memory_size(0) as u64 * 65_536;
                let event = step_event(&report, global_step, (seconds, elapsed_s), dispatches, memory);
                run.respond.send(Event::Step(event));
                // The heat map at most every HEAT_MAP_EVERY_S, and at each epoch's last step.
                let due = heat_map_sent.is_none_or(|sent| sent.elapsed().as_secs_f64() >= HEAT_MAP_EVERY_S)
                    || report.step == report.steps_per_epoch;
                if due && let Some(view) = driven.mined_batch(&report, global_step) {
                    run.respond.send(Event::MinedBatch(view));
                    heat_map_sent = Some(Instant::now());
                }
                driven.save(&history, false).await;
            }
        }
    }
}

//! The GPU kernels of a run compiled ahead, while the visitor loads data and chooses settings
//! ([`Command::WarmUp`](tripletlab_protocol::Command::WarmUp)): the core's
//! [`warm_up`](tripletlab_core::training::warm_up) launches the first step's kernels dry on
//! WebGPU, so the run's first step finds them compiled instead of compiling each before its
//! first dispatch.
//!
//! A warm-up is CubeCL's dry run, which holds for the whole worker: while it goes, nothing else
//! may compute with burn. Every command that computes first calls [`WarmUps::quiet`], which stops
//! it at its next pass (or lets it finish, for a WebGPU run of the settings it warms) and waits.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use gloo_timers::future::TimeoutFuture;
use tripletlab_core::run::RunSpec;
use tripletlab_core::train::launches::{LaunchObservation, Launches};
use tripletlab_core::training::warm_up;
use tripletlab_protocol::{BackendChoice, Event, WarmUpReport, WarmUpState};
use web_time::Instant;

use crate::devices::Devices;
use crate::events::LoopState;
use crate::session::{Responder, Session};

/// The worker's warm-ups: the one under way, the one asked for next, and those done.
#[derive(Default)]
pub struct WarmUps {
    /// The settings being warmed now ([`RunSpec::warm_up_spec`]).
    running: RefCell<Option<RunSpec>>,
    /// Asked for while another ran: warmed after it (the latest request only).
    next: RefCell<Option<RunSpec>>,
    /// The one under way stops at its next pass.
    stop: Cell<bool>,
    /// Settings warmed in this worker: their seconds and the kernels of their step.
    done: RefCell<Vec<(RunSpec, f64, u32)>>,
    /// The pretrained weights were fetched ahead into the browser's cache (or tried).
    weights_fetched: Cell<bool>,
    /// Commands computing with burn now ([`WarmUps::computing`]): no warm-up starts meanwhile.
    computing: Rc<Cell<u32>>,
    /// A warm-up's turns are being taken ([`warm`]): a request joins them as the next.
    turns: Cell<bool>,
    /// A request [`WarmUps::quiet`] took back before it started: told the page as stopped, so
    /// that the page asks again.
    dropped: RefCell<Option<RunSpec>>,
}

/// A command computing with burn, for as long as it lives ([`WarmUps::computing`]).
pub struct Computing(Rc<Cell<u32>>);

impl Drop for Computing {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

impl WarmUps {
    /// The kernels a step of `spec` dispatched when it was warmed in this worker, if it was:
    /// about what a run's step dispatches.
    pub fn step_dispatches(&self, spec: &RunSpec) -> Option<u32> {
        let key = spec.warm_up_spec();
        self.done.borrow().iter().find(|(done, ..)| *done == key).map(|&(_, _, step)| step)
    }

    /// Let burn compute again: the warm-up under way stops at its next pass, unless it warms
    /// `keep`'s settings (a WebGPU run that needs its kernels), and none waiting starts; returns
    /// when none runs.
    pub async fn quiet(&self, keep: Option<&RunSpec>) {
        if let Some(next) = self.next.borrow_mut().take() {
            *self.dropped.borrow_mut() = Some(next);
        }
        let keep = keep.map(RunSpec::warm_up_spec);
        if keep.is_none() || *self.running.borrow() != keep {
            self.stop.set(true);
        }
        while self.running.borrow().is_some() {
            TimeoutFuture::new(20).await;
        }
    }

    /// Mark a command as computing until the guard drops (after [`Self::quiet`]): a warm-up
    /// asked for meanwhile waits for it, since the dry run would empty its read-backs.
    pub fn computing(&self) -> Computing {
        self.computing.set(self.computing.get() + 1);
        Computing(Rc::clone(&self.computing))
    }
}

/// Warm the kernels of `spec` (the form's settings) on WebGPU (or say at once that they are), then
/// any settings asked for meanwhile; each ends in an [`Event::WarmUp`]. A request while another runs replaces what
/// waits and stops the one under way, unless it is the same.
pub(crate) async fn warm(devices: &Devices, session: &Session, spec: &RunSpec, respond: &Responder) {
    let warm = &session.warm;
    // The run will read the shipped weights: downloaded (once) into the browser's cache now, beside
    // the kernels (no burn in it, so not under the dry run). A failure is the run's to report.
    if spec.pretrained && !warm.weights_fetched.replace(true) {
        wasm_bindgen_futures::spawn_local(async {
            let _ = crate::session::pretrained_weights(&|_| {}).await;
        });
    }
    let key = spec.warm_up_spec();
    if session.control.get() != LoopState::Idle {
        return respond.send(report(key, WarmUpState::Stopped));
    }
    if warm.turns.get() {
        // The worker's warm-ups take turns: this one is next (the one under way stops, unless
        // it is the same).
        let running = warm.running.borrow().clone();
        if running.as_ref() != Some(&key) {
            *warm.next.borrow_mut() = Some(key);
            if running.is_some() {
                warm.stop.set(true);
            }
        }
        return;
    }
    warm.turns.set(true);
    take_turns(devices, session, key, respond).await;
    warm.turns.set(false);
}

/// `key`'s warm-up, then each asked for meanwhile, one at a time.
async fn take_turns(devices: &Devices, session: &Session, mut key: RunSpec, respond: &Responder) {
    let warm = &session.warm;
    loop {
        let known =
            warm.done.borrow().iter().find(|(done, ..)| *done == key).map(|&(_, seconds, step)| (seconds, step));
        let state = match known {
            Some((seconds, step_dispatches)) => WarmUpState::Ready { seconds, step_dispatches },
            None => {
                // Not while a command computes (its read-backs would read zeros).
                while warm.computing.get() > 0 {
                    TimeoutFuture::new(50).await;
                }
                // Meanwhile newer settings were asked for, or a run began.
                let newer = warm.next.borrow_mut().take();
                if let Some(newer) = newer {
                    respond.send(report(std::mem::replace(&mut key, newer), WarmUpState::Stopped));
                    continue;
                }
                if session.control.get() != LoopState::Idle {
                    return respond.send(report(key, WarmUpState::Stopped));
                }
                // No await between the checks above and `running`: a command that comes later
                // finds it set, and waits.
                *warm.running.borrow_mut() = Some(key.clone());
                warm.stop.set(false);
                let state = warm_one(devices, &key, respond, &warm.stop).await;
                if let WarmUpState::Ready { seconds, step_dispatches } = state {
                    warm.done.borrow_mut().push((key.clone(), seconds, step_dispatches));
                }
                *warm.running.borrow_mut() = None;
                state
            }
        };
        // What was taken back goes first: the page's last word is this warm-up's.
        let dropped = warm.dropped.borrow_mut().take();
        if let Some(dropped) = dropped {
            respond.send(report(dropped, WarmUpState::Stopped));
        }
        respond.send(report(key, state));
        let next = warm.next.borrow_mut().take();
        match next {
            Some(next) if session.control.get() == LoopState::Idle => key = next,
            Some(next) => return respond.send(report(next, WarmUpState::Stopped)),
            None => return,
        }
    }
}

fn report(spec: RunSpec, state: WarmUpState) -> Event {
    Event::WarmUp(WarmUpReport { spec, state })
}

/// Kernels between two progress reports (SwiftShader compiles a few dozen a second).
const PROGRESS_EVERY: u64 = 100;

thread_local! {
    /// The warm-up under way, for [`report_progress`].
    static UNDER_WAY: RefCell<Option<(Responder, RunSpec)>> = const { RefCell::new(None) };
}

/// Called by the launch counter, on the worker's one thread, inside the warm-up.
fn report_progress(count: u64) {
    UNDER_WAY.with(|slot| {
        if let Some((respond, spec)) = slot.borrow().as_ref() {
            respond.send(report(spec.clone(), WarmUpState::Compiling { dispatched: count }));
        }
    });
}

async fn warm_one(devices: &Devices, key: &RunSpec, respond: &Responder, stop: &Cell<bool>) -> WarmUpState {
    let device = match devices.get_or_start(BackendChoice::WebGpu).await {
        Ok(device) => device,
        Err(message) => return WarmUpState::Failed { message },
    };
    respond.send(report(key.clone(), WarmUpState::Compiling { dispatched: 0 }));
    let started = Instant::now();
    let launches = Arc::new(Launches::reporting(PROGRESS_EVERY, report_progress));
    let watching = LaunchObservation::new(launches.clone());
    UNDER_WAY.with(|slot| *slot.borrow_mut() = Some((respond.clone(), key.clone())));
    let result = warm_up(key, &device, || launches.count(), || !stop.get()).await;
    UNDER_WAY.with(|slot| slot.borrow_mut().take());
    drop(watching);
    match result {
        // A step that launched nothing (a mined batch that chose no triplet on its zeros) prepared
        // nothing of the step: not ready, whatever its evaluation compiled.
        Ok(Some(done)) if done.step_dispatches == 0 => {
            WarmUpState::Failed { message: "its step launched no kernel to compile".into() }
        }
        Ok(Some(done)) => WarmUpState::Ready {
            seconds: started.elapsed().as_secs_f64(),
            step_dispatches: u32::try_from(done.step_dispatches).unwrap_or(u32::MAX),
        },
        Ok(None) => WarmUpState::Stopped,
        Err(err) => WarmUpState::Failed { message: err.to_string() },
    }
}

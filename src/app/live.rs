//! The live view of a run: counters and the loss chart.

use leptos::prelude::*;

use super::charts::{Axes, Frame, downsample, smooth};
use super::studio::{Phase, TrainState};
use tripletlab_protocol::{RunHistory, RunInfo, StepEvent, StepProgress};

/// Points drawn per series at most, however long the run.
const MAX_DRAWN: usize = 600;

#[component]
pub fn LiveView(state: TrainState) -> impl IntoView {
    let step = state.last_step;
    let run = state.run;
    let stat =
        move |f: fn(&StepEvent) -> String| move || step.with(|s| s.as_ref().map(f).unwrap_or_else(|| "-".into()));
    view! {
        <section class="card" aria-labelledby="live-title">
            <h3 id="live-title">"Live"</h3>
            <Show when=move || run.with(Option::is_some)>
                <div class="progress" data-testid="progress">
                    <progress
                        max="1000"
                        value=move || (1000.0 * progress(state).0).round().to_string()
                        aria-label="Training progress"
                    ></progress>
                    <span data-testid="progress-text">{move || progress(state).1}</span>
                </div>
            </Show>
            <p class="run-line" data-testid="run-line">{move || run.with(|r| r.as_ref().map(run_line).unwrap_or_default())}</p>
            <p class="hint" data-testid="counts-line">{move || run.with(|r| r.as_ref().map(counts_line).unwrap_or_default())}</p>
            <Show when=move || state.step_progress.with(Option::is_some) && state.phase.get().is_active()>
                <p class="hint" data-testid="step-progress" aria-live="polite">
                    {move || state.step_progress.with(|p| p.as_ref().map(step_progress_line).unwrap_or_default())}
                </p>
            </Show>
            <Show when=move || collapsed(state).is_some()>
                <p class="collapse" role="alert" data-testid="collapse-warning">{move || collapsed(state).unwrap_or_default()}</p>
            </Show>
            <dl class="stats" data-testid="stats">
                <div><dt>"Epoch"</dt><dd data-testid="stat-epoch">{move || epoch_counter(run.get().as_ref(), step.get().as_ref())}</dd></div>
                <div><dt>"Step"</dt><dd data-testid="stat-step">{stat(|s| format!("{} / {}", s.step, s.steps_per_epoch))}</dd></div>
                <div><dt>"Total steps"</dt><dd data-testid="stat-global-step">{move || state.history.with(|h| h.global_step.to_string())}</dd></div>
                <div><dt>"Loss"</dt><dd data-testid="stat-loss">{stat(|s| format!("{:.4}", s.loss))}</dd></div>
                <div><dt>"Active triplets"</dt><dd>{stat(|s| format!("{:.0}%", 100.0 * s.active_fraction))}</dd></div>
                <Show when=move || step.with(|s| s.as_ref().is_some_and(|s| s.mined.is_some()))>
                    <div><dt>"Mined"</dt><dd data-testid="stat-mined">{stat(|s| s.mined.map(|m| format!("{} of {} valid ({} active)", m.mined, m.valid, m.active)).unwrap_or_default())}</dd></div>
                </Show>
                <div><dt>"d(a,p) / d(a,n)"</dt><dd>{stat(|s| format!("{:.3} / {:.3}", s.mean_positive_distance, s.mean_negative_distance))}</dd></div>
                <div><dt>"Triplets/s"</dt><dd data-testid="stat-speed">{stat(|s| format!("{:.1}", s.triplets_per_second))}</dd></div>
                <div><dt>"ms/step"</dt><dd>{stat(|s| format!("{:.0}", s.ms_per_step))}</dd></div>
                <div><dt>"Elapsed"</dt><dd>{stat(|s| clock(s.elapsed_s))}</dd></div>
                <Show when=move || step.with(|s| s.as_ref().is_some_and(|s| s.dispatches.is_some()))>
                    <div><dt>"GPU kernels a step"</dt><dd data-testid="stat-dispatches">{stat(|s| s.dispatches.map(|d| d.to_string()).unwrap_or_default())}</dd></div>
                </Show>
                <div><dt>"Engine memory"</dt><dd data-testid="stat-memory" data-bytes=move || step.get().map(|s| s.memory_bytes.to_string())>{stat(|s| format!("{:.0} MB", s.memory_bytes as f64 / 1e6))}</dd></div>
                <div><dt>"Remaining"</dt><dd>{move || remaining(run.get().as_ref(), step.get().as_ref())}</dd></div>
            </dl>
            <LossChart history=state.history steps_per_epoch=Signal::derive(move || run.with(|r| r.as_ref().map_or(0, |r| r.steps_per_epoch))) />
        </section>
    }
}

/// A GPU step under way, in words: how many kernels it has dispatched, of about how many.
fn step_progress_line(progress: &StepProgress) -> String {
    let of = progress.expected.map(|expected| format!(" of about {expected}")).unwrap_or_default();
    // A step whose kernels were compiled ahead (a warm-up) knows how many there will be.
    let first = if progress.expected.is_none() {
        " The first step compiles each GPU kernel before its first run, so it is the slowest."
    } else {
        ""
    };
    format!(
        "Step {} under way on the GPU: {} kernels dispatched{of}.{first}",
        progress.global_step, progress.dispatched
    )
}

/// The run's share done, and a line with the time left at the current speed (early stopping may
/// end it sooner).
fn progress(state: TrainState) -> (f64, String) {
    let finished = matches!(state.phase.get(), Phase::Finished { .. });
    let (run, step) = (state.run.get(), state.last_step.get());
    let Some(run) = run else { return (0.0, String::new()) };
    if finished {
        return (1.0, "Done.".into());
    }
    let Some(step) = step else { return (0.0, "Preparing the run...".into()) };
    let total = (run.settings.run.epochs as u32 * step.steps_per_epoch).max(1);
    let done = ((step.epoch - 1) * step.steps_per_epoch + step.step).min(total);
    let share = f64::from(done) / f64::from(total);
    (share, format!("{:.0}% done, about {} left (at most)", 100.0 * share, clock(left_seconds(&run, &step))))
}

/// Below this, two embeddings are "the same point".
const COLLAPSED_DISTANCE: f32 = 1e-3;

/// Held-out similarities bunched closer than this (the middle 90% of them) mean a collapsed map:
/// every search answers with nearly the same score.
const BUNCHED_SPREAD: f64 = 0.05;

/// The width of the middle 90% of `scores` (5th to 95th percentile); `None` when empty.
fn middle_spread(scores: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = scores.iter().copied().filter(|s| s.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    Some(at(0.95) - at(0.05))
}

/// A warning when the embedding has collapsed (every image mapped to nearly one point, so every
/// triplet's hinge is the margin and the loss is stuck there), in training or on the held-out pairs.
fn collapsed(state: TrainState) -> Option<String> {
    let margin = state.run.with(|run| run.as_ref().map(|run| run.settings.run.loss.margin))?;
    let in_training = state.last_step.with(|step| {
        step.as_ref().is_some_and(|s| {
            s.mean_positive_distance < COLLAPSED_DISTANCE && s.mean_negative_distance < COLLAPSED_DISTANCE
        })
    });
    let held_out =
        state.evaluations.with(|all| all.last().filter(|e| e.global_step > 0).and_then(|e| middle_spread(&e.scores)));
    let place = match (in_training, held_out) {
        (true, _) => "in training".to_string(),
        (false, Some(spread)) if spread < BUNCHED_SPREAD => format!(
            "on the held-out images: 90% of their pair similarities lie within {spread:.3} of each other (with the \
             running BatchNorm statistics)"
        ),
        _ => return None,
    };
    Some(format!(
        "The embedding has collapsed {place}. Nearly every image lands on the same point, so the model cannot tell \
         pictures apart and every triplet's hinge is near the margin ({margin}). Lower the learning rate, start from \
         the pretrained weights, or use a smaller margin; with random weights, a BatchNorm momentum of 0.9 helps."
    ))
}

fn run_line(info: &RunInfo) -> String {
    let data = if info.synthetic {
        format!("{} (SYNTHETIC shapes, not CIFAR-10)", info.dataset)
    } else {
        info.dataset.clone()
    };
    let resumed = match info.resumed_at {
        Some((epochs, steps)) => format!(
            " Resumed after {epochs} epoch{} and {steps} step{}.",
            if epochs == 1 { "" } else { "s" },
            if steps == 1 { "" } else { "s" }
        ),
        None => String::new(),
    };
    format!(
        "{data}: {} training and {} held-out triplets, {} steps an epoch, on {} ({}).{resumed}",
        info.train_triplets,
        info.held_out_triplets,
        info.steps_per_epoch,
        info.backend.label(),
        info.device
    )
}

/// How images become triplets become scored pairs, in the run's own numbers.
fn counts_line(info: &RunInfo) -> String {
    if info.images == 0 {
        return String::new();
    }
    format!(
        "How the numbers come about: {} images make {} training and {} held-out triplets (anchor, positive of its \
         class, negative of another). Each held-out triplet gives two pairs to score, one same-class and one \
         different-class: {} pairs, among {} distinct held-out images.",
        info.images,
        info.train_triplets,
        info.held_out_triplets,
        2 * info.held_out_triplets,
        info.held_out_images
    ) + &unseen_line(&info.unseen_classes)
}

/// With the class split, which classes the held-out pairs come from.
fn unseen_line(classes: &[String]) -> String {
    if classes.is_empty() {
        return String::new();
    }
    format!(
        " The held-out triplets are all of classes the model never trains on ({}): their AUC is the AUC on unseen \
         classes.",
        classes.join(" and ")
    )
}

fn epoch_counter(run: Option<&RunInfo>, step: Option<&StepEvent>) -> String {
    match (run, step) {
        (Some(run), Some(step)) => format!("{} / {}", step.epoch, run.settings.run.epochs),
        (Some(run), None) => {
            format!("{} / {}", run.resumed_at.map_or(1, |(epochs, _)| epochs + 1), run.settings.run.epochs)
        }
        _ => "-".into(),
    }
}

fn clock(seconds: f64) -> String {
    let total = seconds.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 { format!("{h}:{m:02}:{s:02}") } else { format!("{m}:{s:02}") }
}

/// The steps left at the current speed, if all epochs run (early stopping may end sooner).
fn remaining(run: Option<&RunInfo>, step: Option<&StepEvent>) -> String {
    let (Some(run), Some(step)) = (run, step) else { return "-".into() };
    format!("{} (at most)", clock(left_seconds(run, step)))
}

fn left_seconds(run: &RunInfo, step: &StepEvent) -> f64 {
    let done = (step.epoch - 1) * step.steps_per_epoch + step.step;
    let total = run.settings.run.epochs as u32 * step.steps_per_epoch;
    total.saturating_sub(done) as f64 * step.ms_per_step / 1000.0
}

#[component]
fn LossChart(history: RwSignal<RunHistory>, steps_per_epoch: Signal<u32>) -> impl IntoView {
    let chart = move || {
        let history = history.get();
        let per_epoch = f64::from(steps_per_epoch.get().max(1));
        let raw: Vec<(f64, f64)> =
            history.steps.iter().map(|&(step, loss)| (f64::from(step), f64::from(loss))).collect();
        let smoothed = downsample(&smooth(&raw, 0.9), MAX_DRAWN);
        let raw = downsample(&raw, MAX_DRAWN);
        let epoch_points: Vec<(f64, f64, f64)> =
            history.epochs.iter().map(|e| (f64::from(e.epoch) * per_epoch, e.loss, e.val_loss)).collect();
        let x_max = raw.last().map_or(1.0, |p| p.0).max(epoch_points.last().map_or(1.0, |p| p.0));
        let y_max = raw
            .iter()
            .map(|p| p.1)
            .chain(epoch_points.iter().flat_map(|p| [p.1, p.2]))
            .fold(0.0f64, f64::max)
            .max(0.05)
            * 1.05;
        let frame = Frame::new(640.0, 240.0, (0.0, x_max), (0.0, y_max));
        // What the tests (and a curious reader of the DOM) can check without parsing the drawing.
        let epoch_losses: Vec<String> =
            history.epochs.iter().map(|e| format!("{:.5}/{:.5}", e.loss, e.val_loss)).collect();
        let summary = format!(
            "{} {:.5} {:.5} {} {}",
            history.global_step,
            raw.first().map_or(0.0, |p| p.1),
            smoothed.last().map_or(0.0, |p| p.1),
            history.epochs.len(),
            epoch_losses.join(",")
        );
        let epochs = epoch_points
            .into_iter()
            .map(|(x, loss, val)| {
                view! {
                    <circle class="epoch-loss" cx=frame.px(x) cy=frame.py(loss) r=4.0>
                        <title>{format!("epoch loss {loss:.4}")}</title>
                    </circle>
                    <rect class="epoch-val" x=frame.px(x) - 4.0 y=frame.py(val) - 4.0 width=8.0 height=8.0>
                        <title>{format!("held-out loss {val:.4}")}</title>
                    </rect>
                }
            })
            .collect_view();
        view! {
            <svg class="chart" viewBox=frame.view_box() role="img" aria-label="Training loss by step" data-summary=summary>
                <Axes frame=frame x_label="step" y_label="loss" />
                <path class="series raw" d=frame.path(&raw) />
                <path class="series smooth" d=frame.path(&smoothed) />
                {epochs}
            </svg>
        }
    };
    view! {
        <figure class="figure" data-testid="loss-chart">
            {chart}
            <figcaption>
                <span class="key raw">"loss per step"</span>
                <span class="key smooth">"smoothed"</span>
                <span class="key epoch-loss">"epoch loss"</span>
                <span class="key epoch-val">"held-out loss"</span>
            </figcaption>
        </figure>
    }
}

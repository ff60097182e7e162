//! Runs compared: every finished run is kept in this browser (its settings, held-out losses and
//! the held-out pairs' final scores; the last few, in `localStorage`), and any two are drawn
//! together: their ROC curves and held-out losses overlaid, and DeLong's test of their AUC
//! difference when they scored the same held-out pairs (the core's `delong_difference`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use tripletlab_core::metrics::{Verification, delong_difference};
use tripletlab_core::run::RunSpec;
use tripletlab_core::run::presets::matching;
use tripletlab_protocol::EpochEvent;

use super::charts::{Axes, Frame};
use super::results::roc_points;
use super::studio::TrainState;

/// Finished runs kept, newest last.
const KEPT_RUNS: usize = 6;
const STORAGE_KEY: &str = "tripletlab.finished-runs";

/// A finished run, as much as a comparison needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeptRun {
    pub number: u32,
    pub dataset: String,
    pub run: RunSpec,
    pub epochs: Vec<EpochEvent>,
    /// The held-out pairs' similarities with the run's final weights, and which are genuine.
    pub scores: Vec<f64>,
    pub labels: Vec<bool>,
    pub auc: f64,
}

impl KeptRun {
    /// "Run 3: Try it, cosine, triplet loss (AUC 0.997)".
    pub fn name(&self) -> String {
        let preset = matching(&self.run).map_or("own settings", |preset| preset.label);
        format!(
            "Run {}: {preset}, {}, {} (AUC {:.3})",
            self.number,
            self.run.loss.distance.name(),
            self.run.loss.kind.name(),
            self.auc
        )
    }

    /// Whether two runs scored the same held-out pairs: the same data, the same images, split
    /// and seed (so the same triplets), and the same labels.
    fn same_pairs(&self, other: &KeptRun) -> bool {
        self.dataset == other.dataset
            && self.run.image_count(usize::MAX) == other.run.image_count(usize::MAX)
            && self.run.triplet_config() == other.run.triplet_config()
            && self.labels == other.labels
    }
}

/// The kept runs and the two chosen for the comparison (by number).
#[derive(Clone, Copy)]
pub struct CompareState {
    pub runs: RwSignal<Vec<KeptRun>>,
    pub first: RwSignal<Option<u32>>,
    pub second: RwSignal<Option<u32>>,
}

impl CompareState {
    /// The runs this browser kept (none when storage is unavailable or holds something else).
    pub fn load() -> Self {
        let runs: Vec<KeptRun> = storage()
            .and_then(|storage| storage.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        let state = Self { runs: RwSignal::new(Vec::new()), first: RwSignal::new(None), second: RwSignal::new(None) };
        state.set_runs(runs);
        state
    }

    /// Keep the run that just finished (its last evaluation is its final one), and compare it
    /// with the one before.
    pub fn keep_finished(self, train: TrainState) {
        let Some(info) = train.run.get_untracked() else { return };
        let Some(evaluation) = train.evaluations.with_untracked(|all| all.last().cloned()) else { return };
        let mut runs = self.runs.get_untracked();
        let number = runs.last().map_or(1, |run| run.number + 1);
        runs.push(KeptRun {
            number,
            dataset: info.dataset,
            run: info.settings.run,
            epochs: train.history.with_untracked(|history| history.epochs.clone()),
            scores: evaluation.scores,
            labels: evaluation.labels,
            auc: evaluation.auc,
        });
        let excess = runs.len().saturating_sub(KEPT_RUNS);
        runs.drain(..excess);
        if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(&runs)) {
            // Best effort: a full or blocked storage keeps the runs for this visit only.
            let _ = storage.set_item(STORAGE_KEY, &text);
        }
        self.set_runs(runs);
    }

    fn set_runs(self, runs: Vec<KeptRun>) {
        let count = runs.len();
        self.first.set(count.checked_sub(2).map(|at| runs[at].number));
        self.second.set(runs.last().map(|run| run.number));
        self.runs.set(runs);
    }

    fn chosen(self, which: RwSignal<Option<u32>>) -> Option<KeptRun> {
        let number = which.get()?;
        self.runs.with(|runs| runs.iter().find(|run| run.number == number).cloned())
    }
}

fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

/// DeLong's verdict on two runs, in words.
fn delong_line(first: &KeptRun, second: &KeptRun) -> String {
    if !first.same_pairs(second) {
        return format!(
            "Run {} and run {} scored different held-out pairs (other data, images, split or seed): DeLong's \
             paired test does not apply. Train both on the same data with the same seed to test the difference.",
            first.number, second.number
        );
    }
    match delong_difference(&second.scores, &first.scores, &second.labels) {
        Ok(test) => {
            let verdict = if test.p_value < 0.05 {
                "a clear difference (p < 0.05)"
            } else {
                "not a clear difference: the two could be equally good (p >= 0.05)"
            };
            format!(
                "Run {}'s AUC minus run {}'s: {:+.3} (95% interval {:+.3} to {:+.3}). DeLong's test on the same {} \
                 held-out pairs: p = {:.3}, {verdict}.",
                second.number,
                first.number,
                test.difference,
                test.low,
                test.high,
                second.labels.len(),
                test.p_value
            )
        }
        Err(err) => format!("DeLong's test cannot be made on these pairs: {err}."),
    }
}

#[component]
pub fn CompareView(state: CompareState) -> impl IntoView {
    let pair = move || state.chosen(state.first).zip(state.chosen(state.second));
    let options = move |which: RwSignal<Option<u32>>| {
        move || {
            state.runs.with(|runs| {
                runs.iter()
                    .map(|run| {
                        let number = run.number;
                        view! {
                            <option value=number.to_string() selected=move || which.get() == Some(number)>
                                {run.name()}
                            </option>
                        }
                    })
                    .collect_view()
            })
        }
    };
    let choose = move |which: RwSignal<Option<u32>>| {
        move |ev: leptos::ev::Event| which.set(event_target_value(&ev).parse().ok())
    };
    let roc = Frame::new(340.0, 320.0, (0.0, 1.0), (0.0, 1.0));
    let roc_path = move |run: &KeptRun| {
        Verification::new(&run.scores, &run.labels).map(|set| roc.path(&roc_points(&set))).unwrap_or_default()
    };
    let losses = move || {
        let (first, second) = pair()?;
        let points = |run: &KeptRun| -> Vec<(f64, f64)> {
            run.epochs.iter().map(|e| (f64::from(e.epoch), e.val_loss)).collect()
        };
        let (a, b) = (points(&first), points(&second));
        let x_max = a.iter().chain(&b).map(|p| p.0).fold(1.0, f64::max);
        let y_max = a.iter().chain(&b).map(|p| p.1).filter(|v| v.is_finite()).fold(0.01, f64::max) * 1.1;
        let frame = Frame::new(340.0, 320.0, (0.0, x_max), (0.0, y_max));
        Some(view! {
            <svg class="chart" viewBox=frame.view_box() role="img" aria-label="Held-out loss by epoch of the two runs">
                <Axes frame=frame x_label="epoch" y_label="held-out loss" />
                <path class="series compare-first" d=frame.path(&a) data-testid="compare-loss-first" />
                <path class="series compare-second" d=frame.path(&b) data-testid="compare-loss-second" />
            </svg>
        })
    };
    view! {
        <Show when=move || state.runs.with(|runs| runs.len() >= 2)>
            <section class="card" aria-labelledby="compare-title" data-testid="compare">
                <h3 id="compare-title">"Compare runs"</h3>
                <p class="hint">"Every finished run is kept in this browser (the last six). Choose two:"</p>
                <div class="row compare-choice">
                    <label>
                        <span class="key compare-first">"First"</span>
                        <select data-testid="compare-first" on:change=choose(state.first)>{options(state.first)}</select>
                    </label>
                    <label>
                        <span class="key compare-second">"Second"</span>
                        <select data-testid="compare-second" on:change=choose(state.second)>{options(state.second)}</select>
                    </label>
                </div>
                <p class="auc" data-testid="compare-delong">
                    {move || pair().map(|(first, second)| delong_line(&first, &second)).unwrap_or_default()}
                </p>
                <div class="figures">
                    <figure class="figure">
                        <svg class="chart" viewBox=roc.view_box() role="img" aria-label="ROC curves of the two runs">
                            <Axes frame=roc x_label="false match rate" y_label="true match rate" />
                            <path class="diagonal" d=roc.path(&[(0.0, 0.0), (1.0, 1.0)]) />
                            <path class="series compare-first" data-testid="compare-roc-first" d=move || pair().map(|(first, _)| roc_path(&first)).unwrap_or_default() />
                            <path class="series compare-second" data-testid="compare-roc-second" d=move || pair().map(|(_, second)| roc_path(&second)).unwrap_or_default() />
                        </svg>
                        <figcaption>"ROC curves of the held-out pairs"</figcaption>
                    </figure>
                    <figure class="figure">
                        {losses}
                        <figcaption>"Held-out loss after each epoch (on each run's own distance and margin: compare its fall, not its level, across distances)"</figcaption>
                    </figure>
                </div>
            </section>
        </Show>
    }
}

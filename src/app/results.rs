//! What the model learned: the ROC curve with its AUC (earlier epochs faint; the AUC before
//! training and the tutorial's 0.899 in the headline), the score distributions, a threshold with
//! its counts and rates, and a gallery of held-out pairs. Every figure comes from the core's metrics; nothing is computed twice.

use leptos::prelude::*;
use tripletlab_core::metrics::Verification;
use tripletlab_core::run::Distance;

use super::charts::{Axes, Frame, image_url};
use super::studio::TrainState;
use tripletlab_protocol::Evaluation;

/// The tutorial's held-out ROC AUC (docs/recipe.md).
const TUTORIAL_AUC: f64 = 0.899;

#[component]
pub fn ResultsView(
    state: TrainState,
    /// Precision@1 of each class on the latest map, by label (the failure atlas).
    precision: Signal<Vec<(u8, f64)>>,
) -> impl IntoView {
    let latest = Memo::new(move |_| state.evaluations.with(|all| all.last().cloned()));
    let verification =
        Memo::new(move |_| latest.with(|e| e.as_ref().and_then(|e| Verification::new(&e.scores, &e.labels).ok())));
    let threshold = RwSignal::new(0.5);
    // Scores are similarities by the run's distance (angular for cosine, the recipe's).
    let measure = Signal::derive(move || {
        state.run.with(|run| run.as_ref().map_or(Distance::Cosine, |run| run.settings.run.loss.distance))
    });
    // A new evaluation moves the threshold to its best F1, as the tutorial's plot picks it.
    Effect::new(move |_| {
        if let Some(set) = verification.get() {
            threshold.set(round3(set.best_f1().threshold));
        }
    });
    view! {
        <Show
            when=move || latest.with(Option::is_some)
            fallback=|| view! {
                <p class="placeholder">
                    "After each epoch the held-out pairs are scored: the ROC curve with its AUC, the "
                    "score distributions, a threshold to try, and sample pairs appear here."
                </p>
            }
        >
            <section class="card" aria-labelledby="roc-title">
                <h3 id="roc-title">"ROC curve"</h3>
                <p class="auc" data-testid="auc">
                    {move || {
                        let before = state.history.with(|h| h.auc_before);
                        latest.with(|e| e.as_ref().map(|e| auc_line(e, before)).unwrap_or_default())
                    }}
                </p>
                <div class="figures">
                    <RocChart state=state verification=verification threshold=threshold />
                    <Distributions latest=latest threshold=threshold measure=measure />
                </div>
            </section>
            <ThresholdPanel verification=verification threshold=threshold measure=measure />
            <Gallery latest=latest threshold=threshold />
            <super::atlas::FailureAtlas latest=latest threshold=threshold precision=precision />
        </Show>
    }
}

/// The ROC curve of `set` as (false match rate, true match rate) points (scikit-learn's, the
/// intermediate ones dropped): what the ROC charts draw.
pub fn roc_points(set: &Verification) -> Vec<(f64, f64)> {
    let roc = set.roc(true);
    roc.fpr.into_iter().zip(roc.tpr).collect()
}

fn round3(value: f64) -> f64 {
    if value.is_finite() { (value * 1000.0).round() / 1000.0 } else { 1.0 }
}

/// The headline: this evaluation's AUC, which weights were scored (a finished run may hold an
/// earlier epoch's), and the AUC of the same pairs before training, when the run has one.
fn auc_line(evaluation: &Evaluation, before: Option<f64>) -> String {
    let pairs = evaluation.labels.len();
    if evaluation.global_step == 0 {
        return format!(
            "AUC {:.3} before training, {pairs} held-out pairs: how well the untrained model already tells them \
             apart (0.5 is chance, 1 is perfect).",
            evaluation.auc
        );
    }
    let restored = evaluation.restored_epoch.map_or(String::new(), |best| format!("; best: epoch {best}, restored"));
    let change = before.map_or(String::new(), |before| {
        let word = if evaluation.auc >= before { "up" } else { "down" };
        format!(", {word} from {before:.3} before training")
    });
    format!(
        "AUC {:.3} after {} epoch{} (step {}{restored}), {pairs} held-out pairs{change}. The tutorial reached \
         {TUTORIAL_AUC} with its full recipe on CIFAR-10.",
        evaluation.auc,
        evaluation.epoch,
        if evaluation.epoch == 1 { "" } else { "s" },
        evaluation.global_step
    )
}

#[component]
fn RocChart(state: TrainState, verification: Memo<Option<Verification>>, threshold: RwSignal<f64>) -> impl IntoView {
    let frame = Frame::new(340.0, 320.0, (0.0, 1.0), (0.0, 1.0));
    let earlier = move || {
        state.evaluations.with(|all| {
            let count = all.len().saturating_sub(1);
            all[..count]
                .iter()
                .map(|e| {
                    let d = Verification::new(&e.scores, &e.labels)
                        .map(|set| frame.path(&roc_points(&set)))
                        .unwrap_or_default();
                    view! { <path class="series roc-earlier" d=d><title>{format!("epoch {}", e.epoch)}</title></path> }
                })
                .collect_view()
        })
    };
    // The latest evaluation's curve comes from the `Verification` the threshold panel shares.
    let current =
        move || verification.with(|set| set.as_ref().map(|set| frame.path(&roc_points(set))).unwrap_or_default());
    let point = move || {
        verification.with(|set| {
            set.as_ref().map(|set| {
                let at = set.at(threshold.get());
                view! { <circle class="operating-point" cx=frame.px(at.fmr()) cy=frame.py(at.tmr()) r=5.0 /> }
            })
        })
    };
    view! {
        <figure class="figure roc" data-testid="roc-chart">
            <svg class="chart" viewBox=frame.view_box() role="img" aria-label="ROC curve of the held-out pairs">
                <Axes frame=frame x_label="false match rate" y_label="true match rate" />
                <path class="diagonal" d=frame.path(&[(0.0, 0.0), (1.0, 1.0)]) />
                {earlier}
                <path class="series roc-current" d=current />
                {point}
            </svg>
            <figcaption>
                <span class="key roc-current">"this epoch"</span>
                <span class="key roc-earlier">"earlier epochs"</span>
                <span class="key operating-point">"threshold"</span>
            </figcaption>
        </figure>
    }
}

/// Histograms of the genuine and impostor pairs' similarities.
#[component]
fn Distributions(
    latest: Memo<Option<Evaluation>>,
    threshold: RwSignal<f64>,
    measure: Signal<Distance>,
) -> impl IntoView {
    let chart = move || {
        latest.with(|evaluation| {
            let evaluation = evaluation.as_ref()?;
            Some(histogram(&evaluation.scores, &evaluation.labels, threshold.into(), measure.get_untracked()))
        })
    };
    view! {
        <figure class="figure" data-testid="distributions">
            {chart}
            <figcaption>
                <span class="key genuine">"same class (genuine)"</span>
                <span class="key impostor">"different classes (impostor)"</span>
            </figcaption>
        </figure>
    }
}

/// The outlines of the genuine and impostor scores' histograms (40 bins over their range), with
/// the threshold's line.
pub fn histogram(scores: &[f64], labels: &[bool], threshold: Signal<f64>, measure: Distance) -> impl IntoView + use<> {
    const BINS: usize = 40;
    let (lo, hi) = scores.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| (lo.min(s), hi.max(s)));
    let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 0.01, hi + 0.01) };
    let width = (hi - lo) / BINS as f64;
    let mut counts = [[0u32; BINS]; 2];
    for (&score, &genuine) in scores.iter().zip(labels) {
        let bin = (((score - lo) / width) as usize).min(BINS - 1);
        counts[usize::from(genuine)][bin] += 1;
    }
    let tallest = counts.iter().flatten().copied().max().unwrap_or(1).max(1);
    let frame = Frame::new(340.0, 320.0, (lo, hi), (0.0, f64::from(tallest)));
    let outline = |bins: &[u32; BINS]| {
        let mut points = vec![(lo, 0.0)];
        for (at, &count) in bins.iter().enumerate() {
            let x = lo + at as f64 * width;
            points.push((x, f64::from(count)));
            points.push((x + width, f64::from(count)));
        }
        points.push((hi, 0.0));
        frame.path(&points)
    };
    let line = move || {
        let x = frame.px(threshold.get().clamp(lo, hi));
        view! { <line class="threshold-line" x1=x x2=x y1=frame.top() y2=frame.bottom() /> }
    };
    view! {
        <svg class="chart" viewBox=frame.view_box() role="img" aria-label="Similarity of genuine and impostor pairs">
            <Axes frame=frame x_label=measure.similarity_name() y_label="pairs" />
            <path class="histogram impostor" d=outline(&counts[0]) />
            <path class="histogram genuine" d=outline(&counts[1]) />
            {line}
        </svg>
    }
}

#[component]
fn ThresholdPanel(
    verification: Memo<Option<Verification>>,
    threshold: RwSignal<f64>,
    measure: Signal<Distance>,
) -> impl IntoView {
    let counts = move || verification.with(|set| set.as_ref().map(|set| set.at(threshold.get())));
    let operating = move || {
        verification.with(|set| {
            set.as_ref()
                .map(|set| {
                    let eer = set.eer();
                    let fmr = set.at_fmr(1e-2);
                    let f1 = set.best_f1();
                    vec![
                        ("EER", format!("{:.3} at {:.3}", eer.rate, eer.threshold), eer.threshold),
                        (
                            "TMR at FMR 1%",
                            format!(
                                "{:.3} at {:.3}{}",
                                fmr.tmr,
                                fmr.threshold,
                                if fmr.resolvable { "" } else { " (too few impostor pairs to measure 1%)" }
                            ),
                            fmr.threshold,
                        ),
                        ("Best F1", format!("{:.3} at {:.3}", f1.f1, f1.threshold), f1.threshold),
                    ]
                })
                .unwrap_or_default()
        })
    };
    view! {
        <section class="card" aria-labelledby="threshold-title">
            <h3 id="threshold-title">"Threshold"</h3>
            <p class="hint">
                {move || format!(
                    "A pair is called a match when its {} is at least the threshold. Every pair score on this page \
                     (the ROC curve, the pairs, the search) is this one similarity, from 0 to 1, higher for more alike; \
                     the loss, the triplet anatomy and the mining view measure the {} distance instead, shown in brackets \
                     here.",
                    measure.get().similarity_name(),
                    measure.get().name()
                )}
            </p>
            <div class="row">
                <label for="threshold">"Threshold"</label>
                <input
                    id="threshold"
                    type="range"
                    min="0"
                    max="1"
                    step="0.001"
                    prop:value=move || threshold.get().to_string()
                    on:input=move |ev| {
                        if let Ok(value) = event_target_value(&ev).parse::<f64>() {
                            threshold.set(value);
                        }
                    }
                />
                <output for="threshold" data-testid="threshold-value">
                    {move || {
                        let (measure, at) = (measure.get(), threshold.get());
                        match measure {
                            Distance::Cosine => format!("{at:.3} (cosine distance {:.3})", measure.distance_of(at)),
                            Distance::Euclidean => format!("{at:.3} (euclidean distance {:.3})", measure.distance_of(at)),
                        }
                    }}
                </output>
            </div>
            {move || counts().map(|at| view! {
                <table class="counts" data-testid="counts">
                    <thead><tr><th></th><th scope="col">"called a match"</th><th scope="col">"called a non-match"</th></tr></thead>
                    <tbody>
                        <tr><th scope="row">"genuine pairs"</th><td>{at.true_matches}</td><td>{at.false_non_matches}</td></tr>
                        <tr><th scope="row">"impostor pairs"</th><td>{at.false_matches}</td><td>{at.true_non_matches}</td></tr>
                    </tbody>
                </table>
                <p class="rates" data-testid="rates">
                    {format!(
                        "TMR {:.3} · FMR {:.3} · precision {:.3} · recall {:.3} · F1 {:.3} · accuracy {:.3}",
                        at.tmr(), at.fmr(), at.precision(), at.recall(), at.f1(), at.accuracy()
                    )}
                </p>
            })}
            <ul class="operating">
                {move || operating().into_iter().map(|(name, text, value)| view! {
                    <li>
                        <strong>{name}</strong>": "{text}" "
                        <button class="link" on:click=move |_| threshold.set(round3(value))>"use"</button>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn Gallery(latest: Memo<Option<Evaluation>>, threshold: RwSignal<f64>) -> impl IntoView {
    let pairs = move || latest.with(|e| e.as_ref().map(|e| e.gallery.clone()).unwrap_or_default());
    view! {
        <section class="card" aria-labelledby="gallery-title">
            <h3 id="gallery-title">"Held-out pairs"</h3>
            <p class="hint">"Green: called correctly at the threshold; red: wrongly."</p>
            <ul class="gallery" data-testid="gallery">
                {move || pairs().into_iter().map(|pair| {
                    let kind = if pair.genuine { "genuine" } else { "impostor" };
                    let correct = move || (pair.score >= threshold.get()) == pair.genuine;
                    let caption = format!("{} / {}", pair.first_class, pair.second_class);
                    view! {
                        <li class="pair" class:correct=correct class:wrong=move || !correct() data-kind=kind>
                            <img src=image_url(&pair.first) alt=pair.first_class.clone() width="64" height="64" />
                            <img src=image_url(&pair.second) alt=pair.second_class.clone() width="64" height="64" />
                            <span class="score">{format!("{:.3}", pair.score)}</span>
                            <span class="caption">{format!("{kind}: {caption}")}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}

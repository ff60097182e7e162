//! Triplet anatomy: one held-out triplet (anchor, positive, negative) at a time, its distances,
//! the margin and what the run's loss makes of them (the core's formula: `LossSpec::of_triplet`),
//! epoch by epoch, and why a loss of zero is not a bug.
//!
//! Everything comes from the evaluations the worker already sends: the gallery shows the same
//! evenly spaced held-out triplets (genuine pair k and impostor pair k share the anchor), and the
//! scores hold every held-out pair's similarity by the run's distance, genuine pairs first.

use leptos::prelude::*;
use tripletlab_core::explore::evenly_spaced;
use tripletlab_core::run::{Distance, LossKind, LossSpec};
use tripletlab_protocol::Evaluation;

use super::charts::image_url;
use super::studio::TrainState;

/// (epoch, d(a,p), d(a,n)) of gallery triplet `k` in an evaluation, by the run's distance.
fn distances(evaluation: &Evaluation, k: usize, measure: Distance) -> Option<(u32, f64, f64)> {
    let count = evaluation.scores.len() / 2;
    let shown = evaluation.gallery.len() / 2;
    let index = *evenly_spaced(count, shown).get(k)?;
    let distance = |similarity: f64| measure.distance_of(similarity);
    Some((evaluation.epoch, distance(evaluation.scores[index]), distance(evaluation.scores[count + index])))
}

#[component]
pub fn TripletAnatomy(state: TrainState) -> impl IntoView {
    let chosen = RwSignal::new(0usize);
    let loss =
        move || state.run.with(|run| run.as_ref().map_or_else(LossSpec::default, |run| run.settings.run.loss.clone()));
    let margin = move || loss().margin;
    let measure = move || loss().distance;
    let latest = Memo::new(move |_| state.evaluations.with(|all| all.last().cloned()));
    let shown = move || latest.with(|e| e.as_ref().map_or(0, |e| e.gallery.len() / 2));
    let images = move || {
        latest.with(|e| {
            let e = e.as_ref()?;
            let k = chosen.get();
            let shown = e.gallery.len() / 2;
            let genuine = e.gallery.get(k)?;
            let impostor = e.gallery.get(shown + k)?;
            Some([
                ("anchor", genuine.first.clone(), genuine.first_class.clone()),
                ("positive", genuine.second.clone(), genuine.second_class.clone()),
                ("negative", impostor.second.clone(), impostor.second_class.clone()),
            ])
        })
    };
    let rows = move || {
        let k = chosen.get();
        let loss = loss();
        state.evaluations.with(|all| {
            all.iter()
                .filter_map(|e| distances(e, k, loss.distance))
                .map(|(epoch, ap, an)| (epoch, ap, an, loss.of_triplet(ap, an)))
                .collect::<Vec<_>>()
        })
    };
    let verdict = move || {
        let (_, ap, an, hinge) = rows().last().copied()?;
        let m = margin();
        if loss().kind == LossKind::Contrastive {
            let pull = LossKind::Contrastive.of_triplet(ap, m, m);
            let push = hinge - pull;
            return Some(format!(
                "Contrastive loss: the two pairs are judged apart. The same-class pair (anchor, positive) costs \
                 d(a,p)^2 / 2 = {pull:.3}: it is always pulled closer. The other-class pair (anchor, negative) costs \
                 max(margin - d(a,n), 0)^2 / 2 = {push:.3}: {}",
                if an >= m {
                    format!("it is at least the margin {m} apart, so it is no longer pushed.")
                } else {
                    format!("it is closer than the margin {m}, so it is pushed away.")
                }
            ));
        }
        Some(if hinge > 0.0 {
            format!(
                "Active: the negative is not yet {m} farther than the positive (d(a,n) - d(a,p) = {:.3} < {m}), so this \
                 triplet still pulls the positive closer and pushes the negative away.",
                tidy(an - ap)
            )
        } else {
            format!(
                "Inactive: d(a,n) - d(a,p) = {:.3} is at least the margin {m}; its hinge max(d(a,p) - d(a,n) + margin, 0) \
                 is 0 and it adds nothing to the loss. That is the goal, not a bug.",
                tidy(an - ap)
            )
        })
    };
    let batch_line = move || {
        state.last_step.with(|step| {
            step.as_ref().map(|step| {
                format!(
                    "In the last training batch {:.0}% of the triplets were active. A loss of exactly 0 means every \
                     triplet of the batch already satisfies the margin: there is nothing left to learn from those \
                     triplets (not a bug). Harder triplets (a larger margin, or mining hard negatives) give the model \
                     more to learn.",
                    100.0 * step.active_fraction
                )
            })
        })
    };
    view! {
        <Show when=move || { shown() > 0 }>
            <section class="card" aria-labelledby="anatomy-title" data-testid="anatomy">
                <h3 id="anatomy-title">"Triplet anatomy"</h3>
                <label>
                    "Held-out triplet "
                    <select
                        data-testid="anatomy-select"
                        on:change=move |ev| chosen.set(event_target_value(&ev).parse().unwrap_or(0))
                        prop:value=move || chosen.get().to_string()
                    >
                        {move || (0..shown()).map(|k| view! { <option value=k.to_string()>{format!("{}", k + 1)}</option> }).collect_view()}
                    </select>
                </label>
                <div class="triplet">
                    {move || images().map(|parts| parts.into_iter().map(|(role, chw, class)| view! {
                        <figure>
                            <img src=image_url(&chw) alt=format!("{role}: {class}") width="64" height="64" />
                            <figcaption>{format!("{role}: {class}")}</figcaption>
                        </figure>
                    }).collect_view())}
                </div>
                <table class="anatomy" data-testid="anatomy-table">
                    <thead>
                        <tr><th scope="col" title="0 is before training">"epoch (0: before training)"</th><th scope="col">"d(a,p)"</th><th scope="col">"d(a,n)"</th><th scope="col">"margin"</th><th scope="col">{move || if loss().kind == LossKind::Contrastive { "loss" } else { "hinge" }}</th></tr>
                    </thead>
                    <tbody>
                        {move || {
                            let m = margin();
                            rows().into_iter().map(|(epoch, ap, an, hinge)| view! {
                                <tr>
                                    <td>{epoch}</td>
                                    <td>{format!("{ap:.3}")}</td>
                                    <td>{format!("{an:.3}")}</td>
                                    <td>{format!("{m}")}</td>
                                    <td>{format!("{hinge:.3}")}</td>
                                </tr>
                            }).collect_view()
                        }}
                    </tbody>
                </table>
                <p data-testid="anatomy-verdict">{verdict}</p>
                <p class="hint" data-testid="anatomy-batch">{batch_line}</p>
                <p class="hint">
                    {move || match measure() {
                        Distance::Cosine => "Distances are cosine distances (1 - cosine similarity) of the held-out images, as the recipe's loss measures them.",
                        Distance::Euclidean => "Distances are euclidean (straight-line) distances between the held-out images' embeddings, as this run's loss measures them.",
                    }}
                </p>
            </section>
        </Show>
    }
}

/// `value` rounded to the three decimals shown, without a "-0.000".
fn tidy(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0 + 0.0
}

//! A failure atlas: the held-out pairs class by class at the page's threshold (the core's
//! `class_rates`): how many of a class's same-class pairs are called a match, how many of the
//! other-class pairs it is in are wrongly called one, how often its images' nearest neighbour on
//! the map is of its class; a click on a class shows its worst confusions (its highest-scoring
//! other-class pairs) as pictures.

use leptos::prelude::*;
use tripletlab_core::metrics::class_rates;
use tripletlab_protocol::Evaluation;

use super::charts::image_url;

#[component]
pub fn FailureAtlas(
    latest: Memo<Option<Evaluation>>,
    threshold: RwSignal<f64>,
    /// Precision@1 of each class on the latest map, by label.
    precision: Signal<Vec<(u8, f64)>>,
) -> impl IntoView {
    let chosen = RwSignal::new(None::<u8>);
    let rows = move || {
        latest.with(|e| {
            let Some(e) = e.as_ref() else { return Vec::new() };
            let names: Vec<(u8, String)> = e.worst.iter().map(|w| (w.label, w.class.clone())).collect();
            class_rates(&e.scores, &e.labels, &e.pair_classes, threshold.get())
                .into_iter()
                .map(|rates| {
                    let name = names
                        .iter()
                        .find(|(label, _)| *label == rates.label)
                        .map_or_else(|| format!("class {}", rates.label), |(_, name)| name.clone());
                    (rates, name)
                })
                .collect::<Vec<_>>()
        })
    };
    let percent = |part: usize, whole: usize| {
        if whole == 0 {
            "-".to_string()
        } else {
            format!("{part} of {whole} ({:.0}%)", 100.0 * part as f64 / whole as f64)
        }
    };
    let worst = move || {
        let label = chosen.get()?;
        latest.with(|e| e.as_ref()?.worst.iter().find(|w| w.label == label).cloned())
    };
    view! {
        <Show when=move || latest.with(|e| e.as_ref().is_some_and(|e| !e.pair_classes.is_empty()))>
            <section class="card" aria-labelledby="atlas-title" data-testid="atlas">
                <h3 id="atlas-title">"Each class at this threshold"</h3>
                <p class="hint">
                    {move || format!(
                        "At the threshold {:.3}: of each class's same-class pairs, how many are called a match (higher is \
                         better); of the other-class pairs it is in, how many are wrongly called one (lower is better); and \
                         how often its images' nearest neighbour on the map is of its own class. Choose a class to see the \
                         pairs it is most confused in.",
                        threshold.get()
                    )}
                </p>
                <table class="atlas" data-testid="atlas-table">
                    <thead>
                        <tr>
                            <th scope="col">"class"</th>
                            <th scope="col">"same-class pairs called a match"</th>
                            <th scope="col">"other-class pairs called a match"</th>
                            <th scope="col">"nearest neighbour of its class"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || rows().into_iter().map(|(rates, name)| {
                            let label = rates.label;
                            let p1 = precision.with(|all| all.iter().find(|(l, _)| *l == label).map(|(_, p)| *p));
                            view! {
                                <tr data-testid="atlas-row" data-label=label data-genuine=rates.genuine data-true-matches=rates.true_matches data-impostor=rates.impostor data-false-matches=rates.false_matches>
                                    <th scope="row">
                                        <button type="button" class="link" aria-pressed=move || (chosen.get() == Some(label)).to_string() on:click=move |_| chosen.set(Some(label))>{name.clone()}</button>
                                    </th>
                                    <td>{percent(rates.true_matches, rates.genuine)}</td>
                                    <td>{percent(rates.false_matches, rates.impostor)}</td>
                                    <td>{p1.map_or_else(|| "-".to_string(), |p| format!("{:.0}%", 100.0 * p))}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
                {move || worst().map(|worst| view! {
                    <div data-testid="atlas-worst">
                        <h4>{format!("{}: its most confused other-class pairs", worst.class)}</h4>
                        <ul class="gallery">
                            {worst.pairs.into_iter().map(|pair| {
                                let called = pair.score >= threshold.get_untracked();
                                view! {
                                    <li class:wrong=called class:right=!called data-testid="atlas-pair" data-score=format!("{:.6}", pair.score)>
                                        <div class="pair">
                                            <img src=image_url(&pair.first) alt=pair.first_class.clone() width="64" height="64" />
                                            <img src=image_url(&pair.second) alt=pair.second_class.clone() width="64" height="64" />
                                        </div>
                                        <span class="caption">{format!("{:.3}: {} / {}{}", pair.score, pair.first_class, pair.second_class, if called { " (called a match)" } else { "" })}</span>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    </div>
                })}
            </section>
        </Show>
    }
}

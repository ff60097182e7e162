//! Mining made visible: one mined P x K batch's distance matrix as a heat map (rows are anchors,
//! columns the batch's other images), its same-class blocks outlined, each other-class cell marked
//! hard, semi-hard or easy for the run's margin (the core's [`MinedMatrix::hardness`]); a click
//! holds the batch and shows that cell's triplet and where the anchor's images fall around the
//! margin band; and the batch's mean distance step by step beside the loss, which shows collapse
//! forming (every distance shrinking toward 0) while the loss still sits near the margin.

use leptos::prelude::*;
use tripletlab_core::run::LossSpec;
use tripletlab_protocol::{Hardness, MinedBatchView};

use super::charts::{Axes, Frame, downsample, image_url};
use super::studio::TrainState;

/// Heat-map units a side, whatever the batch size (the SVG scales to the card).
const MAP_SIDE: f64 = 480.0;

/// Viridis (perceptually even, readable without colour vision): dark purple near, yellow far.
const RAMP: [(f64, [f64; 3]); 5] = [
    (0.0, [68.0, 1.0, 84.0]),
    (0.25, [59.0, 82.0, 139.0]),
    (0.5, [33.0, 145.0, 140.0]),
    (0.75, [94.0, 201.0, 98.0]),
    (1.0, [253.0, 231.0, 37.0]),
];

/// The colour of `share` (0 near, 1 far) on the ramp.
fn colour(share: f64) -> String {
    let share = if share.is_finite() { share.clamp(0.0, 1.0) } else { 0.0 };
    let upper = RAMP.iter().position(|&(at, _)| at >= share).unwrap_or(RAMP.len() - 1).max(1);
    let ((a, from), (b, to)) = (RAMP[upper - 1], RAMP[upper]);
    let t = if b > a { (share - a) / (b - a) } else { 0.0 };
    let c = |i: usize| (from[i] + t * (to[i] - from[i])).round() as u8;
    format!("#{:02x}{:02x}{:02x}", c(0), c(1), c(2))
}

fn hardness_name(hardness: Hardness) -> &'static str {
    match hardness {
        Hardness::Itself => "itself",
        Hardness::Positive => "same class",
        Hardness::Hard => "hard",
        Hardness::SemiHard => "semi-hard",
        Hardness::Easy => "easy",
    }
}

#[component]
pub fn MiningView(state: TrainState) -> impl IntoView {
    // A clicked cell holds its batch (training goes on, the map stops following it).
    let held: RwSignal<Option<MinedBatchView>> = RwSignal::new(None);
    let cell: RwSignal<Option<(usize, usize)>> = RwSignal::new(None);
    let shown = Memo::new(move |_| held.get().or_else(|| state.mined.get()));
    let loss =
        move || state.run.with(|run| run.as_ref().map_or_else(LossSpec::default, |run| run.settings.run.loss.clone()));
    // The colour scale: the run's first mined batch's largest distance, kept, so shrinking
    // distances show as the whole map darkening.
    let scale = move || state.mined_scale.get().max(1e-6);
    let select = move |row: usize, col: usize| {
        if held.get_untracked().is_none() {
            held.set(state.mined.get_untracked());
        }
        cell.set(Some((row, col)));
    };
    let follow = move |_| {
        held.set(None);
        cell.set(None);
    };
    let counts_line = move || {
        shown.with(|view| {
            let view = view.as_ref()?;
            let counts = view.matrix.counts(view.margin);
            let first = state.mined_spread.with(|spread| spread.first().map(|&(_, d)| d));
            let mean = state.mined_spread.with(|spread| spread.last().map(|&(_, d)| d));
            Some(format!(
                "Of the {} other-class cells, {} are hard, {} semi-hard and {} easy (margin {}). Mean distance between \
                 two images of the batch: {:.3}{}.",
                counts.hard + counts.semi_hard + counts.easy,
                counts.hard,
                counts.semi_hard,
                counts.easy,
                view.margin,
                mean.unwrap_or(0.0),
                first.map(|first| format!(" (at the first mined step: {first:.3})")).unwrap_or_default(),
            ))
        })
    };
    let shrinking = move || {
        state.mined_spread.with(|spread| {
            let (&(_, first), &(_, last)) = (spread.first()?, spread.last()?);
            (first > 0.0 && last < SHRUNK * first).then(|| {
                format!(
                    "Every distance in the batch has shrunk to under a fifth of where it started ({first:.3} -> \
                     {last:.3}): the encoder is mapping every picture to nearly one point (collapse), whatever the \
                     loss says."
                )
            })
        })
    };
    let heat_map = move || {
        let chosen = cell.get();
        shown.with(|view| {
            let view = view.as_ref()?;
            let label = format!(
                "Distances between the {} images of the batch at step {}: {}",
                view.matrix.len(),
                view.global_step,
                counts_line().unwrap_or_default()
            );
            Some(heat_svg(
                view,
                scale(),
                chosen,
                Some(Callback::new(move |(row, col)| select(row, col))),
                label,
                "heat-map",
            ))
        })
    };
    // The run's first mined batch, small, beside: what the training changed.
    let first_map = move || {
        state.mined_first.with(|first| {
            let first = first.as_ref()?;
            let now = shown.with(|view| view.as_ref().map(|view| view.global_step))?;
            (now != first.global_step).then(|| {
                let counts = first.matrix.counts(first.margin);
                let caption = format!(
                    "The first mined batch (step {}): {} hard, {} semi-hard, {} easy.",
                    first.global_step, counts.hard, counts.semi_hard, counts.easy
                );
                view! {
                    <figure class="heat-first" data-testid="heat-first">
                        {heat_svg(first, scale(), None, None, caption.clone(), "heat-map-first")}
                        <figcaption>{caption}</figcaption>
                    </figure>
                }
            })
        })
    };
    // The clicked cell's triplet, its distances and the anchor's row around the margin band.
    let triplet = move || {
        let (row, col) = cell.get()?;
        shown.with(|view| {
            let view = view.as_ref()?;
            let mined = view.matrix.triplet_at(row, col)?;
            let (ap, an) = (view.matrix.distance(mined.anchor, mined.positive), view.matrix.distance(mined.anchor, mined.negative));
            let loss = loss();
            let cost = loss.of_triplet(f64::from(ap), f64::from(an));
            let hardness = view.matrix.hardness(mined.anchor, mined.negative, view.margin);
            let figures = [("anchor", mined.anchor), ("positive", mined.positive), ("negative", mined.negative)]
                .into_iter()
                .map(|(role, at)| {
                    let class = view.class_names[at].clone();
                    view! {
                        <figure>
                            <img src=image_url(&view.pixels[at]) alt=format!("{role}: {class}") width="64" height="64" />
                            <figcaption>{format!("{role}: {class}")}</figcaption>
                        </figure>
                    }
                })
                .collect_view();
            let why = match hardness {
                Hardness::Hard => "hard: the negative is nearer to the anchor than its farthest positive, so the loss is more than the margin.",
                Hardness::SemiHard => "semi-hard: the negative is farther than the positive but inside the margin band, so the loss is still above 0.",
                _ => "easy: the negative is at least the margin farther than the positive; this triplet costs nothing.",
            };
            Some(view! {
                <div class="mined-triplet" data-testid="mined-triplet" data-ap=format!("{ap:.6}") data-an=format!("{an:.6}") data-hardness=hardness_name(hardness)>
                    <div class="triplet">{figures}</div>
                    <p data-testid="mined-triplet-line">
                        {format!(
                            "From step {}: d(a,p) = {ap:.3}, d(a,n) = {an:.3}, loss {} = {cost:.3}. This triplet is {why}",
                            view.global_step,
                            loss.kind.formula()
                        )}
                    </p>
                    {band(view, mined.anchor, mined.positive, mined.negative, scale())}
                </div>
            })
        })
    };
    let spread_chart = move || spread_chart(state);
    view! {
        <Show when=move || shown.with(Option::is_some)>
            <section class="card" aria-labelledby="mining-title" data-testid="mining">
                <h3 id="mining-title">{move || shown.with(|v| v.as_ref().map(|v| format!("Mining: one batch, step {}", v.global_step)).unwrap_or_default())}</h3>
                <p class="hint">
                    "Each row is an anchor, each column another picture of the same mined batch (P classes x K pictures). \
                     Dark means near, yellow far. The outlined squares hold pairs of the same class: training should make \
                     them dark and the rest yellow. On the other-class cells a dot marks a hard negative (nearer than the \
                     anchor's farthest same-class picture) and a ring a semi-hard one (farther, but within the margin); \
                     unmarked cells are easy and cost nothing. Click a cell to see its triplet."
                </p>
                <div class="heat-row">
                    {heat_map}
                    <div class="heat-side">
                        {first_map}
                        <div class="ramp" aria-hidden="true"></div>
                        <p class="hint" data-testid="heat-scale">{move || format!("Colour scale: 0 (dark) to {:.3} (yellow), the first mined batch's largest distance.", scale())}</p>
                        <p data-testid="heat-counts">{counts_line}</p>
                        <Show when=move || shrinking().is_some()>
                            <p class="collapse" role="alert" data-testid="heat-shrinking">{move || shrinking().unwrap_or_default()}</p>
                        </Show>
                        <Show when=move || held.with(Option::is_some)>
                            <button type="button" data-testid="heat-follow" on:click=follow>"Follow training again"</button>
                        </Show>
                    </div>
                </div>
                <HeatKeyboard shown=shown cell=cell select=Callback::new(move |(row, col)| select(row, col)) />
                {triplet}
                {spread_chart}
            </section>
        </Show>
    }
}

/// A batch's heat map: a cell per (anchor, image) coloured by distance on `scale`, marks on the
/// hard and semi-hard cells, the same-class blocks outlined, and the `chosen` cell; `select`
/// (where given) hears clicks.
fn heat_svg(
    view: &MinedBatchView,
    scale: f32,
    chosen: Option<(usize, usize)>,
    select: Option<Callback<(usize, usize)>>,
    label: String,
    test_id: &'static str,
) -> impl IntoView + use<> {
    let n = view.matrix.len();
    let side = MAP_SIDE / n.max(1) as f64;
    let mut cells = Vec::with_capacity(n * n);
    for row in 0..n {
        for col in 0..n {
            let d = view.matrix.distance(row, col);
            let hardness = view.matrix.hardness(row, col, view.margin);
            let (x, y) = (col as f64 * side, row as f64 * side);
            let (cx, cy, r) = (x + side / 2.0, y + side / 2.0, side * 0.22);
            let mark = match hardness {
                Hardness::Hard => Some(view! { <circle class="mark-hard" cx=cx cy=cy r=r /> }.into_any()),
                Hardness::SemiHard => {
                    Some(view! { <circle class="mark-semi" cx=cx cy=cy r=r stroke-width=side * 0.1 /> }.into_any())
                }
                _ => None,
            };
            let title = format!(
                "anchor {} ({}), image {} ({}): distance {d:.3}, {}",
                row + 1,
                view.class_names[row],
                col + 1,
                view.class_names[col],
                hardness_name(hardness)
            );
            cells.push(view! {
                <g
                    class="heat-cell"
                    data-testid=if select.is_some() { "heat-cell" } else { "heat-cell-first" }
                    data-row=row
                    data-col=col
                    data-distance=format!("{d:.6}")
                    data-hardness=hardness_name(hardness)
                    on:click=move |_| {
                        if let Some(select) = select {
                            select.run((row, col));
                        }
                    }
                >
                    <rect x=x y=y width=side height=side fill=colour(f64::from(d) / f64::from(scale)) />
                    {mark}
                    <title>{title}</title>
                </g>
            });
        }
    }
    let blocks = view
        .matrix
        .blocks()
        .into_iter()
        .map(|(start, len)| {
            let (at, size) = (start as f64 * side, len as f64 * side);
            view! { <rect class="heat-block" data-testid=if select.is_some() { "heat-block" } else { "heat-block-first" } x=at y=at width=size height=size /> }
        })
        .collect_view();
    let outline = chosen.map(|(row, col)| {
        view! { <rect class="heat-chosen" x=col as f64 * side y=row as f64 * side width=side height=side /> }
    });
    view! {
        <svg
            class="heat-map"
            class:interactive=select.is_some()
            viewBox=format!("0 0 {MAP_SIDE} {MAP_SIDE}")
            role="img"
            aria-label=label
            data-testid=test_id
            data-images=n
            data-step=view.global_step
        >
            {cells}
            {blocks}
            {outline}
        </svg>
    }
}

/// A shrink below this share of the first mined batch's mean distance is collapse forming.
const SHRUNK: f32 = 0.2;

/// The keyboard's way to a cell: an anchor and another picture, chosen from lists.
#[component]
fn HeatKeyboard(
    shown: Memo<Option<MinedBatchView>>,
    cell: RwSignal<Option<(usize, usize)>>,
    select: Callback<(usize, usize)>,
) -> impl IntoView {
    let options = move || {
        shown.with(|view| {
            view.as_ref().map_or_else(Vec::new, |view| {
                (0..view.matrix.len()).map(|i| (i, format!("{} ({})", i + 1, view.class_names[i]))).collect::<Vec<_>>()
            })
        })
    };
    let pick = move |row: Option<usize>, col: Option<usize>| {
        let (old_row, old_col) = cell.get_untracked().unwrap_or((0, 1));
        select.run((row.unwrap_or(old_row), col.unwrap_or(old_col)));
    };
    view! {
        <div class="heat-keys">
            <label>
                "Anchor "
                <select data-testid="heat-anchor" on:change=move |ev| pick(event_target_value(&ev).parse().ok(), None)
                    prop:value=move || cell.get().map_or(String::new(), |(row, _)| row.to_string())>
                    <option value="" disabled=true>"choose"</option>
                    {move || options().into_iter().map(|(i, name)| view! { <option value=i.to_string()>{name}</option> }).collect_view()}
                </select>
            </label>
            <label>
                "Other picture "
                <select data-testid="heat-other" on:change=move |ev| pick(None, event_target_value(&ev).parse().ok())
                    prop:value=move || cell.get().map_or(String::new(), |(_, col)| col.to_string())>
                    <option value="" disabled=true>"choose"</option>
                    {move || options().into_iter().map(|(i, name)| view! { <option value=i.to_string()>{name}</option> }).collect_view()}
                </select>
            </label>
        </div>
    }
}

/// The anchor's row on a distance line: its same-class pictures, its other-class pictures
/// coloured by what they are, and the margin band beyond its farthest positive.
fn band(view: &MinedBatchView, anchor: usize, positive: usize, negative: usize, scale: f32) -> impl IntoView + use<> {
    let n = view.matrix.len();
    let far = view.matrix.farthest_positive(anchor).map_or(0.0, |p| view.matrix.distance(anchor, p));
    let top = f64::from(scale.max(far + view.margin)) * 1.05;
    let frame = Frame { margin_bottom: 58.0, ..Frame::new(640.0, 150.0, (0.0, top), (0.0, 1.0)) };
    let (band_from, band_to) = (frame.px(f64::from(far)), frame.px(f64::from(far + view.margin)));
    let dots = (0..n)
        .filter(|&x| x != anchor)
        .map(|x| {
            let d = view.matrix.distance(anchor, x);
            let hardness = view.matrix.hardness(anchor, x, view.margin);
            let y = if hardness == Hardness::Positive { 0.7 } else { 0.3 };
            let chosen = x == positive || x == negative;
            view! {
                <circle
                    class=format!("band-dot {}", hardness_name(hardness).replace(' ', "-"))
                    class:chosen=chosen
                    cx=frame.px(f64::from(d))
                    cy=frame.py(y)
                    r=if chosen { 9.0 } else { 6.0 }
                >
                    <title>{format!("{} ({}): {d:.3}, {}", x + 1, view.class_names[x], hardness_name(hardness))}</title>
                </circle>
            }
        })
        .collect_view();
    view! {
        <figure class="figure" data-testid="margin-band">
            <svg class="chart" viewBox=frame.view_box() role="img" aria-label="The anchor's distances to every other picture of the batch, with the margin band">
                <rect class="margin-band" x=band_from y=frame.top() width=(band_to - band_from).max(0.0) height=frame.bottom() - frame.top() />
                <Axes frame=Frame { y: (0.0, 1.0), ..frame } x_label="distance from the anchor" y_label="" />
                {dots}
            </svg>
            <figcaption>
                {format!(
                    "Anchor {}: same-class pictures on the upper line, other classes on the lower. The shaded band runs from \
                     its farthest same-class picture ({far:.3}) to that plus the margin ({:.3}): other-class pictures left of \
                     it are hard, inside it semi-hard, right of it easy.",
                    anchor + 1,
                    far + view.margin
                )}
            </figcaption>
        </figure>
    }
}

/// The mined batches' mean distance beside the loss, step by step: collapse shows as the distance
/// falling toward 0 while the triplet loss stays near the margin.
fn spread_chart(state: TrainState) -> impl IntoView {
    let spread: Vec<(f64, f64)> =
        state.mined_spread.with(|s| s.iter().map(|&(step, d)| (f64::from(step), f64::from(d))).collect());
    let losses: Vec<(f64, f64)> = state.history.with(|h| {
        let first = spread.first().map_or(0.0, |p| p.0);
        h.steps
            .iter()
            .filter(|&&(step, _)| f64::from(step) >= first)
            .map(|&(s, l)| (f64::from(s), f64::from(l)))
            .collect()
    });
    let (spread, losses) = (downsample(&spread, 600), downsample(&losses, 600));
    let x_max = spread.last().map_or(1.0, |p| p.0).max(1.0);
    let y_max = spread.iter().chain(&losses).map(|p| p.1).fold(0.05f64, f64::max) * 1.05;
    let frame = Frame::new(640.0, 220.0, (spread.first().map_or(0.0, |p| p.0), x_max), (0.0, y_max));
    view! {
        <figure class="figure" data-testid="spread-chart">
            <svg class="chart" viewBox=frame.view_box() role="img" aria-label="Mean distance in each mined batch and the loss, by step">
                <Axes frame=frame x_label="step" y_label="distance / loss" />
                <path class="series spread" d=frame.path(&spread) />
                <path class="series raw" d=frame.path(&losses) />
            </svg>
            <figcaption>
                <span class="key spread">"mean distance between two pictures of the batch"</span>
                <span class="key raw">"loss per step"</span>
            </figcaption>
        </figure>
    }
}

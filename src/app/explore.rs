//! The embedding map (held-out images on their first two principal components, coloured by
//! class, redrawn after each evaluation) and 1:N search: click a point, or drop, choose or paste a
//! picture of your own; the worker embeds it and answers with the nearest images.

use std::collections::HashMap;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, HtmlInputElement};

use tripletlab_protocol::{Command, EmbeddingMap, Event, SearchQuery, SearchResults};

use super::charts::image_url;

/// Neighbours asked for in a search.
const HITS: u32 = 8;
/// Canvas size in CSS pixels (drawn at the device's pixel ratio).
const WIDTH: f64 = 520.0;
const HEIGHT: f64 = 380.0;
const MARGIN: f64 = 12.0;
/// A hover or click within this many pixels of a point picks it.
const PICK_RADIUS: f64 = 10.0;
/// One colour per class (Okabe-Ito and Tableau, readable on white, distinct for most eyes).
pub const CLASS_COLOURS: [&str; 10] =
    ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000", "#999999", "#8c564b"];

#[derive(Clone, Debug, PartialEq)]
pub enum SearchState {
    Idle,
    Running(String),
    Done(SearchResults),
    Failed(String),
}

/// The map and search part of the page's state.
#[derive(Clone, Copy)]
pub struct ExploreState {
    pub map: RwSignal<Option<EmbeddingMap>>,
    /// The run's map before its first step (the untrained model), drawn beside the latest.
    pub before: RwSignal<Option<EmbeddingMap>>,
    /// Pictures of the map's images (CIFAR layout), by dataset index.
    pub thumbnails: StoredValue<HashMap<u32, Vec<u8>>, LocalStorage>,
    pub search: RwSignal<SearchState>,
    /// The class enrolled without training (`super::enrol`).
    pub enrol: RwSignal<super::enrol::EnrolState>,
}

impl ExploreState {
    pub fn new() -> Self {
        Self {
            map: RwSignal::new(None),
            before: RwSignal::new(None),
            thumbnails: StoredValue::new_local(HashMap::new()),
            search: RwSignal::new(SearchState::Idle),
            enrol: RwSignal::new(super::enrol::EnrolState::default()),
        }
    }

    /// Fold an explore event in; false when it is not one.
    pub fn apply(self, event: &mut Event) -> bool {
        match event {
            Event::EmbeddingMap(map) => {
                let thumbnails = std::mem::take(&mut map.thumbnails);
                self.thumbnails.update_value(|kept| kept.extend(thumbnails));
                if map.global_step == 0 {
                    self.before.set(Some(map.clone()));
                }
                self.map.set(Some(map.clone()));
            }
            Event::SearchResults(results) => self.search.set(SearchState::Done(results.clone())),
            Event::SearchFailed { message } => self.search.set(SearchState::Failed(message.clone())),
            event => return super::enrol::EnrolState::apply(self.enrol, event),
        }
        true
    }

    /// A new run: no map yet, and no "before" either.
    pub fn clear(self) {
        self.map.set(None);
        self.before.set(None);
        self.search.set(SearchState::Idle);
        super::enrol::EnrolState::new_run(self.enrol);
    }

    fn thumbnail_url(self, image: u32) -> Option<String> {
        self.thumbnails.with_value(|kept| kept.get(&image).map(|chw| image_url(chw)))
    }
}

/// Screen positions of the map's points, and the transform that made them.
fn layout(map: &EmbeddingMap) -> Vec<(f64, f64)> {
    let xs = map.coords.chunks_exact(2).map(|c| f64::from(c[0]));
    let ys = map.coords.chunks_exact(2).map(|c| f64::from(c[1]));
    let range = |values: &mut dyn Iterator<Item = f64>| {
        values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
    };
    let (x_lo, x_hi) = range(&mut xs.clone());
    let (y_lo, y_hi) = range(&mut ys.clone());
    let span = |lo: f64, hi: f64| if hi > lo { hi - lo } else { 1.0 };
    map.coords
        .chunks_exact(2)
        .map(|c| {
            let x = MARGIN + (f64::from(c[0]) - x_lo) / span(x_lo, x_hi) * (WIDTH - 2.0 * MARGIN);
            // Screen y grows downwards; the map's second axis up.
            let y = HEIGHT - MARGIN - (f64::from(c[1]) - y_lo) / span(y_lo, y_hi) * (HEIGHT - 2.0 * MARGIN);
            (x, y)
        })
        .collect()
}

/// Draw every point, one path per class; returns the milliseconds it took.
fn draw(canvas: &HtmlCanvasElement, map: &EmbeddingMap, points: &[(f64, f64)], picked: Option<usize>) -> f64 {
    let started = window().performance().map_or(0.0, |p| p.now());
    let ratio = window().device_pixel_ratio().max(1.0);
    canvas.set_width((WIDTH * ratio) as u32);
    canvas.set_height((HEIGHT * ratio) as u32);
    let Some(context) =
        canvas.get_context("2d").ok().flatten().and_then(|context| context.dyn_into::<CanvasRenderingContext2d>().ok())
    else {
        return 0.0;
    };
    let _ = context.scale(ratio, ratio);
    context.clear_rect(0.0, 0.0, WIDTH, HEIGHT);
    let radius = dot_radius(points.len());
    for (class, colour) in CLASS_COLOURS.iter().enumerate() {
        context.begin_path();
        for (&(x, y), _) in points.iter().zip(&map.labels).filter(|(_, label)| usize::from(**label) == class) {
            context.move_to(x + radius, y);
            let _ = context.arc(x, y, radius, 0.0, std::f64::consts::TAU);
        }
        context.set_fill_style_str(colour);
        context.fill();
    }
    if let Some(&(x, y)) = picked.and_then(|at| points.get(at)) {
        context.begin_path();
        let _ = context.arc(x, y, radius + 4.0, 0.0, std::f64::consts::TAU);
        context.set_stroke_style_str("#111");
        context.set_line_width(2.0);
        context.stroke();
    }
    window().performance().map_or(0.0, |p| p.now()) - started
}

/// Dots sized to their count: large where there are few, small where they would cover each other.
fn dot_radius(count: usize) -> f64 {
    match count {
        0..=300 => 5.0,
        301..=1_000 => 4.0,
        1_001..=3_000 => 2.5,
        _ => 1.5,
    }
}

/// The map's zoom: a scale about the map's top-left, then an offset (CSS pixels of the canvas).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Zoom {
    scale: f64,
    x: f64,
    y: f64,
}

impl Zoom {
    const NONE: Zoom = Zoom { scale: 1.0, x: 0.0, y: 0.0 };
    const MOST: f64 = 20.0;

    fn apply(self, (x, y): (f64, f64)) -> (f64, f64) {
        (x * self.scale + self.x, y * self.scale + self.y)
    }

    /// Zoomed by `factor` about the canvas point (cx, cy), which stays where it is.
    fn about(self, factor: f64, (cx, cy): (f64, f64)) -> Zoom {
        let scale = (self.scale * factor).clamp(1.0, Self::MOST);
        if scale == 1.0 {
            return Self::NONE;
        }
        let kept = scale / self.scale;
        Zoom { scale, x: cx - (cx - self.x) * kept, y: cy - (cy - self.y) * kept }
    }
}

/// The point nearest to (x, y) within [`PICK_RADIUS`].
fn pick(points: &[(f64, f64)], x: f64, y: f64) -> Option<usize> {
    points
        .iter()
        .enumerate()
        .map(|(at, &(px, py))| (at, (px - x).powi(2) + (py - y).powi(2)))
        .filter(|&(_, d2)| d2 <= PICK_RADIUS * PICK_RADIUS)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(at, _)| at)
}

#[component]
pub fn ExploreView(
    state: ExploreState,
    send: Callback<Command>,
    /// The run's threshold on the similarity scale (the latest evaluation's best F1).
    threshold: Signal<Option<f64>>,
) -> impl IntoView {
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    let before_canvas = NodeRef::<leptos::html::Canvas>::new();
    let zoom = RwSignal::new(Zoom::NONE);
    // A new map starts unzoomed.
    Effect::new(move |_| {
        state.map.track();
        zoom.set(Zoom::NONE);
    });
    let points = Memo::new(move |_| {
        let view = zoom.get();
        state.map.with(|map| {
            map.as_ref()
                .map(|map| layout(map).into_iter().map(|p| view.apply(p)).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    // The map before training, beside the latest once the run has moved on.
    let compare = Memo::new(move |_| {
        let moved = state.map.with(|map| map.as_ref().is_some_and(|map| map.global_step > 0));
        moved && state.before.with(Option::is_some)
    });
    Effect::new(move |_| {
        if !compare.get() {
            return;
        }
        let Some(canvas) = before_canvas.get() else { return };
        state.before.with(|map| {
            if let Some(map) = map {
                draw(&canvas, map, &layout(map), None);
            }
        });
    });
    let hovered = RwSignal::new(None::<usize>);
    let draw_ms = RwSignal::new(0.0);
    Effect::new(move |_| {
        let picked = hovered.get();
        let Some(canvas) = canvas.get() else { return };
        let drawn = state.map.with(|map| map.as_ref().map(|map| points.with(|p| draw(&canvas, map, p, picked))));
        if let Some(ms) = drawn {
            draw_ms.set(ms);
        }
    });
    let position = move |ev: &leptos::ev::MouseEvent| {
        let canvas = canvas.get()?;
        let rect = canvas.get_bounding_client_rect();
        let scale = WIDTH / rect.width().max(1.0);
        Some((f64::from(ev.client_x()) - rect.left()) * scale)
            .zip(Some((f64::from(ev.client_y()) - rect.top()) * scale))
    };
    let on_move = move |ev: leptos::ev::MouseEvent| {
        let found = position(&ev).and_then(|(x, y)| points.with(|p| pick(p, x, y)));
        if found != hovered.get_untracked() {
            hovered.set(found);
        }
    };
    let search_image = move |at: usize| {
        let Some(image) = state.map.with_untracked(|map| map.as_ref().and_then(|map| map.images.get(at).copied()))
        else {
            return;
        };
        state.search.set(SearchState::Running(format!("image {image}")));
        send.run(Command::Search { query: SearchQuery::Image(image), k: HITS });
    };
    // The wheel (or a trackpad's pinch) zooms about the pointer; a double click zooms out.
    let on_wheel = move |ev: web_sys::WheelEvent| {
        let Some(at) = position(&ev) else { return };
        ev.prevent_default();
        let factor = (-ev.delta_y() * 0.002).exp();
        zoom.update(|view| *view = view.about(factor, at));
    };
    // A wheel listener that may cancel the page's scroll must not be passive (a delegated one
    // would be): added on the canvas itself, once for each canvas the page mounts.
    Effect::new(move |_| {
        use wasm_bindgen::closure::Closure;
        let Some(canvas) = canvas.get() else { return };
        let handler = Closure::<dyn FnMut(web_sys::WheelEvent)>::new(on_wheel);
        let options = web_sys::AddEventListenerOptions::new();
        options.set_passive(false);
        let _ = canvas.add_event_listener_with_callback_and_add_event_listener_options(
            "wheel",
            handler.as_ref().unchecked_ref(),
            &options,
        );
        // The canvas owns the listener from here; it goes with the canvas.
        handler.forget();
    });
    // Results appear beside the map: brought into view (the least scroll that shows them) when
    // a search started from further down the page (a dropped picture) answers.
    Effect::new(move |_| {
        if !state.search.with(|search| matches!(search, SearchState::Done(_))) {
            return;
        }
        request_animation_frame(|| {
            let found = document().query_selector("[data-testid=\"search-results\"]").ok().flatten();
            if let Some(results) = found {
                let options = web_sys::ScrollIntoViewOptions::new();
                options.set_block(web_sys::ScrollLogicalPosition::Nearest);
                results.scroll_into_view_with_scroll_into_view_options(&options);
            }
        });
    });
    // Two fingers pinch: the map zooms by the change in their distance, about their midpoint.
    let touches: StoredValue<Vec<(i32, (f64, f64))>, LocalStorage> = StoredValue::new_local(Vec::new());
    let pinch_state = move || {
        touches.with_value(|held| match held.as_slice() {
            [(_, a), (_, b), ..] => Some(((a.0 - b.0).hypot(a.1 - b.1), ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0))),
            _ => None,
        })
    };
    let on_pointer_down = move |ev: leptos::ev::PointerEvent| {
        if ev.pointer_type() != "touch" {
            return;
        }
        if let Some(at) = position(&ev) {
            touches.update_value(|held| held.push((ev.pointer_id(), at)));
        }
    };
    let on_pointer_move = move |ev: leptos::ev::PointerEvent| {
        if ev.pointer_type() != "touch" {
            return;
        }
        let Some(at) = position(&ev) else { return };
        let before = pinch_state();
        touches.update_value(|held| {
            if let Some(entry) = held.iter_mut().find(|(id, _)| *id == ev.pointer_id()) {
                entry.1 = at;
            }
        });
        if let (Some((was, _)), Some((now, middle))) = (before, pinch_state())
            && was > 1.0
        {
            ev.prevent_default();
            zoom.update(|view| *view = view.about(now / was, middle));
        }
    };
    let on_pointer_up = move |ev: leptos::ev::PointerEvent| {
        touches.update_value(|held| held.retain(|(id, _)| *id != ev.pointer_id()));
    };
    let on_click = move |ev: leptos::ev::MouseEvent| {
        if let Some(at) = position(&ev).and_then(|(x, y)| points.with(|p| pick(p, x, y))) {
            search_image(at);
        }
    };
    // The keyboard reaches every point too: arrows move through them, Enter searches.
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let count = points.with(Vec::len);
        if count == 0 {
            return;
        }
        let current = hovered.get_untracked();
        let next = match ev.key().as_str() {
            "ArrowRight" | "ArrowDown" => Some(current.map_or(0, |at| (at + 1) % count)),
            "ArrowLeft" | "ArrowUp" => Some(current.map_or(count - 1, |at| (at + count - 1) % count)),
            "Enter" | " " => {
                if let Some(at) = current {
                    search_image(at);
                }
                None
            }
            _ => return,
        };
        ev.prevent_default();
        if let Some(next) = next {
            hovered.set(Some(next));
        }
    };
    let search_file = move |file: web_sys::File| {
        let name = file.name();
        state.search.set(SearchState::Running(name.clone()));
        leptos::task::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => {
                    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                    send.run(Command::Search { query: SearchQuery::Picture { name, bytes }, k: HITS });
                }
                Err(err) => state.search.set(SearchState::Failed(format!("Could not read {name}: {err:?}"))),
            }
        });
    };
    let first_file = move |files: Option<web_sys::FileList>| files.and_then(|files| files.get(0));
    let on_pick = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok());
        if let Some(file) = first_file(input.as_ref().and_then(HtmlInputElement::files)) {
            search_file(file);
        }
        if let Some(input) = input {
            input.set_value("");
        }
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        if let Some(file) = first_file(ev.data_transfer().and_then(|transfer| transfer.files())) {
            search_file(file);
        }
    };
    let on_paste = move |ev: leptos::ev::ClipboardEvent| {
        if let Some(file) = first_file(ev.clipboard_data().and_then(|data| data.files())) {
            ev.prevent_default();
            search_file(file);
        }
    };
    let class_name = move |label: u8| {
        state.map.with(|map| {
            map.as_ref().and_then(|map| map.class_names.get(usize::from(label)).cloned()).unwrap_or_default()
        })
    };
    let hovered_view = move || {
        let at = hovered.get()?;
        let (image, label) = state.map.with(|map| map.as_ref().map(|map| (map.images[at], map.labels[at])))?;
        let url = state.thumbnail_url(image).unwrap_or_default();
        Some(view! {
            <img src=url alt=class_name(label) width="64" height="64" />
            <span>{format!("image {image}: {}", class_name(label))}</span>
        })
    };

    view! {
        <Show when=move || state.map.with(Option::is_some)>
            <section class="card" aria-labelledby="map-title">
                <h3 id="map-title">"Embedding map"</h3>
                <p class="hint" data-testid="map-caption">
                    {move || state.map.with(|map| map.as_ref().map(map_caption).unwrap_or_default())}
                </p>
                <p class="auc" data-testid="retrieval">
                    {move || state.map.with(|map| map.as_ref().map(retrieval_line).unwrap_or_default())}
                </p>
                <div class="map-row" class:compare=compare>
                    <Show when=move || compare.get()>
                        <figure class="map-before" data-testid="map-before">
                            <canvas
                                node_ref=before_canvas
                                class="map"
                                role="img"
                                aria-label="The same held-out images before training, for comparison."
                            ></canvas>
                            <figcaption>{move || state.before.with(|map| map.as_ref().map(|map| map_label("Before training", map)).unwrap_or_default())}</figcaption>
                        </figure>
                    </Show>
                    <figure class="map-now">
                    <canvas
                        node_ref=canvas
                        class="map"
                        data-testid="map"
                        data-points=move || points.with(Vec::len).to_string()
                        data-draw-ms=move || format!("{:.2}", draw_ms.get())
                        data-compute-ms=move || state.map.with(|map| map.as_ref().map_or(String::new(), |map| format!("{:.0}", map.millis)))
                        role="img"
                        aria-label="Held-out images on the first two principal components, coloured by class. Arrow keys move through them, Enter searches with one."
                        on:mousemove=on_move
                        on:mouseleave=move |_| hovered.set(None)
                        on:click=on_click
                        on:dblclick=move |_| zoom.set(Zoom::NONE)
                        on:pointerdown=on_pointer_down
                        on:pointermove=on_pointer_move
                        on:pointerup=on_pointer_up
                        on:pointercancel=on_pointer_up
                        data-zoom=move || format!("{:.2}", zoom.get().scale)
                        on:keydown=on_key
                        tabindex="0"
                    ></canvas>
                    <figcaption data-testid="map-now-label">{move || state.map.with(|map| map.as_ref().map(|map| {
                        let name = if map.global_step == 0 { "Before training".to_string() } else { format!("Now: epoch {}", map.epoch) };
                        map_label(&name, map)
                    }).unwrap_or_default())}</figcaption>
                    </figure>
                    <div class="map-side">
                        <div class="hovered" data-testid="map-hovered">{hovered_view}</div>
                        <ul class="legend" data-testid="map-legend">
                            {move || {
                                // The classes on the map (not every name the dataset's format lists).
                                state.map.with(|map| {
                                    map.as_ref()
                                        .map(|map| {
                                            map.class_names
                                                .iter()
                                                .cloned()
                                                .enumerate()
                                                .filter(|(class, _)| map.labels.iter().any(|&label| usize::from(label) == *class))
                                                .collect::<Vec<_>>()
                                        })
                                        .unwrap_or_default()
                                })
                                    .into_iter()
                                    .map(|(class, name)| {
                                        view! { <li class=format!("legend-{class}")>{name}</li> }
                                    })
                                    .collect_view()
                            }}
                        </ul>
                        <SearchResultsView state=state class_name=Callback::new(class_name) threshold=threshold />
                        <p>
                            <button type="button" data-testid="projector-export" on:click=move |_| send.run(Command::ExportProjector)>
                                "Export for the Embedding Projector"
                            </button>
                            <span class="hint">
                                " vectors.tsv, metadata.tsv, sprite.png and projector_config.json in one .tar: load them at "
                                "projector.tensorflow.org (Load) or in TensorBoard."
                            </span>
                        </p>
                    </div>
                </div>
            </section>
            <section class="card" aria-labelledby="search-title">
                <h3 id="search-title">"Search"</h3>
                <div
                    class="drop search-drop"
                    tabindex="0"
                    data-testid="search-drop"
                    on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default()
                    on:drop=on_drop
                    on:paste=on_paste
                >
                    // One sentence, then the file button on its own line (inside the sentence, the
                    // browser's file widget broke it in two).
                    <p>
                        "Click a point on the map, or drop, paste or choose a picture of your own: it is resized to "
                        "32 x 32 and embedded in this browser; it never leaves it. The nearest pictures appear beside "
                        "the map."
                    </p>
                    <label class="file-button">
                        "Choose a picture"
                        <input type="file" accept="image/*" data-testid="search-file" on:change=on_pick />
                    </label>
                </div>
            </section>
        </Show>
    }
}

#[component]
fn SearchResultsView(
    state: ExploreState,
    class_name: Callback<u8, String>,
    threshold: Signal<Option<f64>>,
) -> impl IntoView {
    move || match state.search.get() {
        SearchState::Idle => ().into_any(),
        SearchState::Running(what) => {
            view! { <p class="hint" data-testid="search-status">{format!("Searching with {what}...")}</p> }.into_any()
        }
        SearchState::Failed(message) => view! { <p class="error" data-testid="search-status">{message}</p> }.into_any(),
        SearchState::Done(results) => {
            let query_class = results.label.map(|label| class_name.run(label));
            let heading = match &query_class {
                Some(class) => format!("Nearest to {} ({class}):", results.query),
                None => format!("Nearest to {}:", results.query),
            };
            // A picture of one's own whose best match is below the run's threshold fits no class.
            let unlike = match (results.label, results.hits.first(), threshold.get()) {
                (None, Some(best), Some(threshold)) if best.similarity < threshold => Some(format!(
                    "Unlike every class: its best match scores {:.3}, below the run's threshold of {threshold:.3}, so \
                     the model would call it none of the classes it knows. The nearest images are shown anyway.",
                    best.similarity
                )),
                _ => None,
            };
            view! {
                {unlike.map(|line| view! { <p class="warning" role="status" data-testid="search-unlike">{line}</p> })}
                <div
                    class="search-results"
                    data-testid="search-results"
                    data-threshold=threshold.get().map(|t| format!("{t:.4}")).unwrap_or_default()
                >
                    <figure class="query">
                        <img src=image_url(&results.picture) alt="the query, as the encoder sees it" width="64" height="64" />
                        <figcaption>{heading}</figcaption>
                    </figure>
                    <ol class="hits">
                        {results
                            .hits
                            .iter()
                            .map(|hit| {
                                let url = state.thumbnail_url(hit.image).unwrap_or_default();
                                let class = class_name.run(hit.label);
                                let same = results.label.map(|label| label == hit.label);
                                let mark = match same {
                                    Some(true) => "hit same-class",
                                    Some(false) => "hit other-class",
                                    None => "hit",
                                };
                                view! {
                                    <li class=mark data-testid="search-hit" data-similarity=format!("{:.4}", hit.similarity) data-image=hit.image.to_string()>
                                        <img src=url alt=class.clone() width="48" height="48" />
                                        <span>{format!("{:.3}", hit.similarity)}</span>
                                        <small>{class}</small>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ol>
                </div>
            }
            .into_any()
        }
    }
}

fn map_caption(map: &EmbeddingMap) -> String {
    let share = |at: usize| map.explained.get(at).map_or(0.0, |share| 100.0 * share);
    let when = if map.global_step == 0 {
        "before training".to_string()
    } else {
        format!("after {} epoch{} (step {})", map.epoch, if map.epoch == 1 { "" } else { "s" }, map.global_step)
    };
    format!(
        "{} held-out images {when}, on their first two principal components ({:.0}% and {:.0}% of the \
         variance){}. Each dot is a picture, coloured by its class: training should gather each colour. Hover for \
         the image; click to search with it; the wheel (or a pinch) zooms, a double click zooms out.",
        map.images.len(),
        share(0),
        share(1),
        if map.cosine { ", as unit vectors (cosine)" } else { " (euclidean)" }
    )
}

/// A map's caption in a comparison: its name and how often an image's nearest neighbour is of its
/// own class.
fn map_label(name: &str, map: &EmbeddingMap) -> String {
    match &map.retrieval {
        Some(r) => format!("{name}: nearest image of the same class {:.0}% of the time", 100.0 * r.precision_at_1),
        None => name.to_string(),
    }
}

fn retrieval_line(map: &EmbeddingMap) -> String {
    match &map.retrieval {
        Some(r) => format!(
            "Retrieval among these images: precision@1 {:.3}, R-precision {:.3}, MAP@R {:.3} ({} queries).",
            r.precision_at_1, r.r_precision, r.map_at_r, r.queries
        ),
        None => "Retrieval: too few images of a class to measure.".into(),
    }
}

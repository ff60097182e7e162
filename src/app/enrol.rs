//! A class the model never saw, enrolled without training: the visitor names it and gives a few
//! pictures (files, the camera, or with the class split one of the classes the run never trained
//! on); the worker embeds them with the latest map's model and scores them against each other
//! (genuine pairs) and against the map's pictures of every other class (impostor pairs). The page
//! shows that class's ROC curve beside the run's held-out one, its scores at the run's threshold,
//! and accepts or rejects a new picture by its mean similarity to the enrolled pictures.

use leptos::prelude::*;
use tripletlab_core::explore::labelled_pairs;
use tripletlab_core::metrics::Verification;
use tripletlab_core::run::Distance;
use tripletlab_protocol::{Command, DroppedFile, EnrolSource, EnrolmentView, Event, VerdictView};
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use super::camera::CameraPictures;
use super::charts::{Axes, Frame, image_url};
use super::dataset_panel::{group, read_file_list};
use super::explore::ExploreState;
use super::results::{histogram, roc_points};
use super::studio::TrainState;

/// What the enrolment card shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnrolState {
    /// What the worker is doing now ("Enrolling my mug...").
    pub busy: Option<String>,
    pub problem: Option<String>,
    pub view: Option<EnrolmentView>,
    pub verdict: Option<VerdictView>,
}

impl EnrolState {
    /// Fold an enrolment event in; false when it is not one.
    pub fn apply(signal: RwSignal<Self>, event: &Event) -> bool {
        match event {
            Event::Enrolled(view) => signal.update(|state| {
                if state.view.as_ref().is_some_and(|old| old.class != view.class) {
                    state.verdict = None;
                }
                state.busy = None;
                state.problem = None;
                state.view = Some(view.clone());
            }),
            Event::Verified(verdict) => signal.update(|state| {
                state.busy = None;
                state.problem = None;
                state.verdict = Some(verdict.clone());
            }),
            Event::EnrolFailed { message } => signal.update(|state| {
                state.busy = None;
                state.problem = Some(message.clone());
            }),
            _ => return false,
        }
        true
    }

    /// A new run: a class enrolled from the last run's map goes (the worker forgets it too); the
    /// visitor's own pictures stay, scored again by the new run's maps.
    pub fn new_run(signal: RwSignal<Self>) {
        signal.update(|state| {
            if state.view.as_ref().is_some_and(|view| view.from_map) {
                *state = Self::default();
            }
            state.verdict = None;
        });
    }
}

#[component]
pub fn EnrolView(
    explore: ExploreState,
    train: TrainState,
    send: Callback<Command>,
    /// The run's threshold on the similarity scale (the latest evaluation's best F1).
    threshold: Signal<Option<f64>>,
) -> impl IntoView {
    let state = explore.enrol;
    let name = RwSignal::new(String::new());
    let busy = Signal::derive(move || state.with(|state| state.busy.is_some()));
    let enrol = move |class: String, source: EnrolSource| {
        state.update(|state| {
            state.busy = Some(format!("Enrolling {class}..."));
            state.problem = None;
        });
        send.run(Command::Enrol { class, source });
    };
    let class_name = move || match name.get_untracked().trim() {
        "" => "my new class".to_string(),
        typed => typed.to_string(),
    };
    let on_files = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok()) else { return };
        let Some(files) = input.files() else { return };
        let class = class_name();
        leptos::task::spawn_local(async move {
            match read_file_list(&files).await {
                Ok(files) => enrol(class, EnrolSource::Pictures(files)),
                Err(message) => state.update(|state| state.problem = Some(message)),
            }
            input.set_value("");
        });
    };
    let on_camera = Callback::new(move |files: Vec<DroppedFile>| {
        // The camera names each file `class/camera-N.png`.
        let class = files.first().and_then(|file| file.name.split('/').next()).map_or_else(class_name, str::to_string);
        enrol(class, EnrolSource::Pictures(files));
    });
    // With the class split: the classes on the map that the run never trained on.
    let unseen = Memo::new(move |_| {
        let names = train.run.with(|run| run.as_ref().map(|run| run.unseen_classes.clone()).unwrap_or_default());
        explore.map.with(|map| {
            map.as_ref()
                .map(|map| {
                    names
                        .iter()
                        .filter_map(|name| {
                            let label = map.class_names.iter().position(|class| class == name)?;
                            let label = u8::try_from(label).ok()?;
                            map.labels.contains(&label).then(|| (label, name.clone()))
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let chosen_unseen = RwSignal::new(None::<u8>);
    let enrol_unseen = move |_| {
        let label = chosen_unseen.get_untracked().or_else(|| unseen.with_untracked(|all| all.first().map(|(l, _)| *l)));
        let Some(label) = label else { return };
        let class = unseen.with_untracked(|all| all.iter().find(|(l, _)| *l == label).map(|(_, n)| n.clone()));
        enrol(class.unwrap_or_default(), EnrolSource::MapClass(label));
    };
    let on_check = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok()) else { return };
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        state.update(|state| state.busy = Some(format!("Checking {}...", file.name())));
        leptos::task::spawn_local(async move {
            let name = file.name();
            match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => send.run(Command::Verify { name, bytes: js_sys::Uint8Array::new(&buffer).to_vec() }),
                Err(err) => state.update(|state| {
                    state.busy = None;
                    state.problem = Some(format!("Could not read {name}: {err:?}"));
                }),
            }
            input.set_value("");
        });
    };
    let measure = Signal::derive(move || {
        train.run.with(|run| run.as_ref().map_or(Distance::Cosine, |run| run.settings.run.loss.distance))
    });
    view! {
        <section class="card" aria-labelledby="enrol-title" data-testid="enrol">
            <h3 id="enrol-title">"A class the model never saw"</h3>
            <p>
                "What metric learning is for: an encoder trained on some classes tells apart pictures of a class it "
                "never trained on, without training again (as a phone learns a new face in seconds). Name a new "
                "class and give it a few pictures (at least 2): they are embedded by the model of the map above and "
                "compared with each other (genuine pairs) and with the map's pictures of every other class "
                "(impostor pairs). Nothing leaves this browser."
            </p>
            <div class="row enrol-inputs">
                <label>
                    "New class "
                    <input type="text" data-testid="enrol-name" placeholder="my new class"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                </label>
                <label class="file-button">
                    "Choose its pictures"
                    <input type="file" accept="image/*" multiple=true data-testid="enrol-files"
                        prop:disabled=move || busy.get() on:change=on_files />
                </label>
            </div>
            <Show when=move || unseen.with(|all| !all.is_empty())>
                <div class="row">
                    <label>
                        "Or a class this run never trained on (the class split) "
                        <select data-testid="enrol-unseen" on:change=move |ev| chosen_unseen.set(event_target_value(&ev).parse().ok())>
                            {move || unseen.get().into_iter().map(|(label, name)| view! {
                                <option value=label.to_string()>{name}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <button type="button" data-testid="enrol-unseen-button" prop:disabled=move || busy.get() on:click=enrol_unseen>
                        "Enrol it"
                    </button>
                </div>
            </Show>
            <details class="enrol-camera">
                <summary>"Or take its pictures with the camera"</summary>
                <CameraPictures on_use=on_camera busy=busy prefix="enrol-" enrol=true />
            </details>
            <p class="hint" data-testid="enrol-status" role="status">
                {move || state.with(|state| state.busy.clone().unwrap_or_default())}
            </p>
            <Show when=move || state.with(|state| state.problem.is_some())>
                <p class="error" data-testid="enrol-problem">{move || state.with(|state| state.problem.clone().unwrap_or_default())}</p>
            </Show>
            {move || state.with(|state| state.view.clone()).map(|view| enrolled(view, train, threshold, measure))}
            <Show when=move || state.with(|state| state.view.is_some())>
                <div class="row enrol-check">
                    <label class="file-button">
                        "Check a new picture"
                        <input type="file" accept="image/*" data-testid="enrol-check" prop:disabled=move || busy.get() on:change=on_check />
                    </label>
                </div>
            </Show>
            {move || {
                let verdict = state.with(|state| state.verdict.clone())?;
                Some(verdict_view(&verdict, threshold.get()))
            }}
        </section>
    }
}

/// The enrolled class's pictures, its AUC beside the run's, its counts at the run's threshold, its
/// ROC curve over the run's and its score histograms.
fn enrolled(
    view: EnrolmentView,
    train: TrainState,
    threshold: Signal<Option<f64>>,
    measure: Signal<Distance>,
) -> impl IntoView {
    let (scores, labels) = labelled_pairs(&view.genuine, &view.impostor);
    let set = Verification::new(&scores, &labels).ok();
    let run_set = train.evaluations.with_untracked(|all| {
        all.iter()
            .rev()
            .find(|e| e.global_step == view.global_step)
            .or(all.last())
            .and_then(|e| Verification::new(&e.scores, &e.labels).ok())
    });
    let pictures = view.pictures.len();
    let model = if view.global_step == 0 {
        "the untrained model (before the first step)".to_string()
    } else {
        format!("the model after epoch {} (step {})", view.epoch, view.global_step)
    };
    let unseen = if view.from_map { "a class held out of training" } else { "pictures the model never trained on" };
    let headline = match &set {
        Some(set) => format!(
            "{}: AUC {:.3} on {unseen}: {} genuine pairs among its {pictures} pictures, {} impostor pairs with {} map \
             pictures of {}.{} Scored by {model}.",
            view.class,
            set.auc(),
            group(view.genuine.len() as u64),
            group(view.impostor.len() as u64),
            group(u64::from(view.gallery)),
            list(&view.gallery_classes),
            run_set.as_ref().map_or(String::new(), |run| format!(" The run's held-out pairs: AUC {:.3}.", run.auc())),
        ),
        None => format!("{}: no AUC ({pictures} pictures).", view.class),
    };
    let rates = {
        let set = set.clone();
        move || {
            let (set, threshold) = (set.as_ref()?, threshold.get()?);
            let at = set.at(threshold);
            let genuine = at.true_matches + at.false_non_matches;
            let impostor = at.false_matches + at.true_non_matches;
            Some(format!(
                "At the run's threshold {threshold:.3} (its best F1 on the held-out pairs): {} of {} genuine pairs \
                 accepted ({:.0}%), {} of {} impostor pairs accepted ({:.1}%).",
                group(at.true_matches),
                group(genuine),
                100.0 * at.tmr(),
                group(at.false_matches),
                group(impostor),
                100.0 * at.fmr(),
            ))
        }
    };
    let frame = Frame::new(340.0, 320.0, (0.0, 1.0), (0.0, 1.0));
    let new_curve = set.as_ref().map(|set| frame.path(&roc_points(set))).unwrap_or_default();
    let run_curve = run_set.as_ref().map(|set| frame.path(&roc_points(set))).unwrap_or_default();
    let point = {
        let set = set.clone();
        move || {
            let (set, threshold) = (set.as_ref()?, threshold.get()?);
            let at = set.at(threshold);
            Some(view! { <circle class="operating-point" cx=frame.px(at.fmr()) cy=frame.py(at.tmr()) r=5.0 /> })
        }
    };
    let skipped =
        (!view.skipped.is_empty()).then(|| format!("Left out (the rest enrolled): {}.", view.skipped.join("; ")));
    let hist_threshold = Signal::derive(move || threshold.get().unwrap_or(0.5));
    view! {
        <div data-testid="enrolled" data-auc=set.as_ref().map(|s| format!("{:.4}", s.auc())).unwrap_or_default()
            data-pictures=pictures.to_string() data-genuine=view.genuine.len().to_string() data-impostor=view.impostor.len().to_string()>
            <ul class="enrolled-pictures" aria-label=format!("The {pictures} pictures of {} as the encoder sees them (32 x 32)", view.class)>
                {view.pictures.iter().map(|chw| view! { <li><img src=image_url(chw) alt="" width="32" height="32" /></li> }).collect_view()}
            </ul>
            <p class="auc" data-testid="enrol-auc">{headline}</p>
            <p data-testid="enrol-rates">{rates}</p>
            {skipped.map(|text| view! { <p class="hint" data-testid="enrol-skipped">{text}</p> })}
            <div class="figures">
                <figure class="figure roc" data-testid="enrol-roc">
                    <svg class="chart" viewBox=frame.view_box() role="img" aria-label=format!("ROC curve of {} beside the run's held-out pairs", view.class)>
                        <Axes frame=frame x_label="false match rate" y_label="true match rate" />
                        <path class="diagonal" d=frame.path(&[(0.0, 0.0), (1.0, 1.0)]) />
                        <path class="series roc-earlier" d=run_curve />
                        <path class="series roc-current" d=new_curve />
                        {point}
                    </svg>
                    <figcaption>
                        <span class="key roc-current">{view.class.clone()}</span>
                        <span class="key roc-earlier">"the run's held-out pairs"</span>
                        <span class="key operating-point">"threshold"</span>
                    </figcaption>
                </figure>
                <figure class="figure" data-testid="enrol-distributions">
                    {histogram(&scores, &labels, hist_threshold, measure.get_untracked())}
                    <figcaption>
                        <span class="key genuine">{format!("{} with itself (genuine)", view.class)}</span>
                        <span class="key impostor">"with the other classes (impostor)"</span>
                    </figcaption>
                </figure>
            </div>
        </div>
    }
}

/// "a, b and c".
fn list(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// A new picture accepted or rejected as the enrolled class.
fn verdict_view(verdict: &VerdictView, threshold: Option<f64>) -> impl IntoView + use<> {
    let accepted = threshold.map(|threshold| verdict.similarity >= threshold);
    let decision = match (accepted, threshold) {
        (Some(true), Some(threshold)) => {
            format!("at least the run's threshold {threshold:.3}: accepted as {}.", verdict.class)
        }
        (Some(false), Some(threshold)) => {
            format!("below the run's threshold {threshold:.3}: rejected, not {}.", verdict.class)
        }
        _ => "no threshold yet (the run has not been scored).".to_string(),
    };
    let nearest = verdict.nearest.as_ref().map_or(String::new(), |(hit, class)| {
        format!(" Its nearest picture on the map is of {class} (similarity {:.3}).", hit.similarity)
    });
    let text = format!(
        "{}: similarity {:.3} to {} (the mean over its {} pictures; the closest one {:.3}), {decision}{nearest}",
        verdict.name, verdict.similarity, verdict.class, verdict.pictures, verdict.best
    );
    let class = match accepted {
        Some(true) => "verdict accepted",
        Some(false) => "verdict rejected",
        None => "verdict",
    };
    view! {
        <div class=class data-testid="enrol-verdict"
            data-accepted=accepted.map(|a| a.to_string()).unwrap_or_default()
            data-similarity=format!("{:.4}", verdict.similarity)>
            <img src=image_url(&verdict.picture) alt=format!("{} as the encoder sees it", verdict.name) width="64" height="64" />
            <p>{text}</p>
        </div>
    }
}

//! The training studio's controls: the run's settings (with the tutorial's preset), start, pause,
//! resume, stop and "evaluate now", the run stored in this browser, and checkpoint export/import.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use tripletlab_core::data::augment::Augmentation;
use tripletlab_core::run::query::{Setting, Values};
use tripletlab_core::run::{RunSpec, query};

use super::recipe::RecipeChoice;
use tripletlab_protocol::{
    BackendChoice, Command, EpochEvent, Evaluation, Event, MinedBatchView, RunHistory, RunInfo, SavedRunInfo,
    StepEvent, StepProgress, TrainSettings, WarmUpReport, WarmUpState,
};

/// Where the run is.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Idle,
    Starting,
    Running,
    Pausing,
    Paused,
    Stopping,
    Stopped,
    Finished { best_epoch: Option<u32> },
    Failed { message: String, hint: String },
}

impl Phase {
    /// A run is in the worker (starting, training or paused).
    pub fn is_active(&self) -> bool {
        matches!(self, Self::Starting | Self::Running | Self::Pausing | Self::Paused | Self::Stopping)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Pausing => "pausing",
            Self::Paused => "paused",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Finished { .. } => "finished",
            Self::Failed { .. } => "failed",
        }
    }
}

/// Everything the page knows about training, as signals.
#[derive(Clone, Copy)]
pub struct TrainState {
    pub settings: RwSignal<TrainSettings>,
    pub phase: RwSignal<Phase>,
    pub run: RwSignal<Option<RunInfo>>,
    pub last_step: RwSignal<Option<StepEvent>>,
    /// A GPU step under way (cleared when it finishes).
    pub step_progress: RwSignal<Option<StepProgress>>,
    pub history: RwSignal<RunHistory>,
    /// The latest evaluation, and the earlier ones (kept for their faint ROC curves).
    pub evaluations: RwSignal<Vec<Evaluation>>,
    pub saved: RwSignal<Option<SavedRunInfo>>,
    /// A one-line note about checkpoints (stored, exported, refused).
    pub notice: RwSignal<String>,
    /// With online mining: the latest mined batch the worker sent (the heat map), the heat map's
    /// colour scale (the first batch's largest distance) and each step's mean batch distance.
    pub mined: RwSignal<Option<MinedBatchView>>,
    pub mined_first: RwSignal<Option<MinedBatchView>>,
    pub mined_scale: RwSignal<f32>,
    pub mined_spread: RwSignal<Vec<(u32, f32)>>,
    /// The latest word on the GPU kernels compiled ahead ([`Command::WarmUp`]).
    pub warm_up: RwSignal<Option<WarmUpReport>>,
}

/// Earlier evaluations kept for the ROC chart.
const KEPT_EVALUATIONS: usize = 8;

impl TrainState {
    pub fn new() -> Self {
        Self {
            // The first screen's choice is the run that visibly learns in a minute ("Try it").
            settings: RwSignal::new(TrainSettings::of(BackendChoice::Cpu, RunSpec::class_demo())),
            phase: RwSignal::new(Phase::Idle),
            run: RwSignal::new(None),
            last_step: RwSignal::new(None),
            step_progress: RwSignal::new(None),
            history: RwSignal::new(RunHistory::default()),
            evaluations: RwSignal::new(Vec::new()),
            saved: RwSignal::new(None),
            notice: RwSignal::new(String::new()),
            mined: RwSignal::new(None),
            mined_first: RwSignal::new(None),
            mined_scale: RwSignal::new(0.0),
            mined_spread: RwSignal::new(Vec::new()),
            warm_up: RwSignal::new(None),
        }
    }

    /// Start a new run with the form's settings on `backend`.
    pub fn start(self, backend: BackendChoice, send: Callback<Command>) {
        let settings = TrainSettings { backend, ..self.settings.get_untracked() };
        self.notice.set(String::new());
        self.phase.set(Phase::Starting);
        send.run(Command::StartTraining(settings));
    }

    /// The current run trains only a head (fast mode).
    fn fast(self) -> bool {
        self.run.with_untracked(|run| run.as_ref().is_some_and(|run| run.settings.run.fast_mode))
    }

    /// The engine worker ended: a run in it is over, its last stored checkpoint is what is kept.
    pub fn engine_lost(self, reason: &str) {
        if self.phase.get_untracked().is_active() {
            self.phase.set(Phase::Failed {
                message: reason.to_string(),
                hint: "What was trained up to the last stored checkpoint is kept: Resume saved run continues from it."
                    .into(),
            });
        }
    }

    /// Fold a training event into the state; false when it is not a training event.
    pub fn apply(self, event: &Event) -> bool {
        match event {
            Event::TrainingStarted(info) => {
                self.history.set(info.history.clone());
                self.last_step.set(None);
                self.step_progress.set(None);
                self.mined.set(None);
                self.mined_first.set(None);
                self.mined_scale.set(0.0);
                self.mined_spread.set(Vec::new());
                if info.resumed_at.is_none() {
                    self.evaluations.set(Vec::new());
                }
                // The form shows the settings in effect (those of a resumed or imported run).
                self.settings.set(info.settings.clone());
                self.run.set(Some(info.clone()));
                self.phase.set(Phase::Running);
            }
            Event::StepProgress(progress) => self.step_progress.set(Some(progress.clone())),
            Event::WarmUp(report) => self.warm_up.set(Some(report.clone())),
            Event::Step(step) => {
                self.step_progress.set(None);
                self.history.update(|history| history.push_step(step.global_step, step.loss));
                self.last_step.set(Some(step.clone()));
                if let Some(mined) = step.mined {
                    self.mined_spread.update(|spread| spread.push((step.global_step, mined.mean_distance)));
                }
            }
            Event::MinedBatch(view) => {
                if self.mined_first.with_untracked(Option::is_none) {
                    self.mined_scale.set(view.matrix.distances.iter().copied().fold(0.0, f32::max));
                    self.mined_first.set(Some(view.clone()));
                }
                self.mined.set(Some(view.clone()));
            }
            Event::EpochDone(epoch) => self.history.update(|history| push_epoch(history, epoch)),
            Event::Evaluated(evaluation) => {
                // The history keeps every evaluation's AUC (the one before training included),
                // however many evaluations the chart keeps.
                self.history.update(|history| {
                    history.record_evaluation(evaluation.epoch, evaluation.global_step, evaluation.auc)
                });
                self.evaluations.update(|kept| {
                    kept.retain(|earlier| earlier.global_step != evaluation.global_step);
                    kept.push(evaluation.clone());
                    let excess = kept.len().saturating_sub(KEPT_EVALUATIONS);
                    kept.drain(..excess);
                });
            }
            Event::TrainingPaused { saved } => {
                self.phase.set(Phase::Paused);
                self.notice.set(checkpoint_note(*saved, self.fast(), "Paused"));
            }
            Event::TrainingResumed => self.phase.set(Phase::Running),
            Event::TrainingStopped { saved } => {
                self.phase.set(Phase::Stopped);
                self.notice.set(checkpoint_note(*saved, self.fast(), "Stopped"));
            }
            Event::TrainingFinished { best_epoch, saved } => {
                self.phase.set(Phase::Finished { best_epoch: *best_epoch });
                self.notice.set(checkpoint_note(*saved, self.fast(), "Finished"));
            }
            Event::TrainingFailed { message, hint } => {
                // A message is a sentence, whatever the error's own text ends with.
                let message = sentence(message);
                if self.phase.get_untracked().is_active() {
                    self.phase.set(Phase::Failed { message, hint: hint.clone() });
                } else {
                    self.notice.set(format!("{message} {hint}"));
                }
            }
            Event::SavedRun(saved) => self.saved.set(saved.clone()),
            Event::Exported { file_name, bytes } => {
                let note = match download(file_name, bytes) {
                    Ok(()) => format!("Exported {file_name} ({:.1} MB).", bytes.len() as f64 / 1e6),
                    Err(err) => format!("Could not export the checkpoint: {err}"),
                };
                self.notice.set(note);
            }
            _ => return false,
        }
        true
    }
}

/// The GPU's kernels compiled ahead, in words; nothing once a warm-up gave way.
fn warm_up_words(state: &WarmUpState) -> Option<String> {
    Some(match state {
        WarmUpState::Compiling { dispatched } => format!(
            "Preparing your GPU for these settings while you get ready: {dispatched} kernels compiled so far. A \
             run's first step needs each of them once."
        ),
        WarmUpState::Ready { seconds, step_dispatches } => format!(
            "Your GPU is ready for these settings: the {step_dispatches} kernels of a step were compiled ahead (in \
             {seconds:.1} s), so the first step does not wait for them."
        ),
        WarmUpState::Stopped => return None,
        WarmUpState::Failed { message } => format!(
            "Your GPU could not be prepared ahead ({}); the first step will compile its kernels itself.",
            message.trim_end_matches('.')
        ),
    })
}

/// `text` with a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let text = text.trim();
    let mut chars = text.chars();
    let Some(first) = chars.next() else { return String::new() };
    let end = if text.ends_with(['.', '!', '?']) { "" } else { "." };
    format!("{}{}{end}", first.to_uppercase(), chars.as_str())
}

fn push_epoch(history: &mut RunHistory, epoch: &EpochEvent) {
    history.epochs.retain(|earlier| earlier.epoch != epoch.epoch);
    history.epochs.push(epoch.clone());
}

fn checkpoint_note(saved: bool, fast: bool, what: &str) -> String {
    if fast {
        format!("{what}. Fast mode stores no checkpoint: it is quick to run again.")
    } else if saved {
        format!("{what}. The checkpoint is stored in this browser: a reload can resume it.")
    } else {
        format!("{what}. The browser refused to store the checkpoint (storage full or blocked); export it to keep it.")
    }
}

/// Offer `bytes` as a file download.
fn download(file_name: &str, bytes: &[u8]) -> Result<(), String> {
    let fail = |err: wasm_bindgen::JsValue| format!("{err:?}");
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("application/octet-stream");
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(fail)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let anchor = document().create_element("a").map_err(fail)?;
    anchor.set_attribute("href", &url).map_err(fail)?;
    anchor.set_attribute("download", file_name).map_err(fail)?;
    anchor.dyn_ref::<web_sys::HtmlElement>().ok_or("no anchor element")?.click();
    web_sys::Url::revoke_object_url(&url).map_err(fail)
}

/// The settings form, the run's buttons, and the stored run.
#[component]
pub fn StudioPanel(
    state: TrainState,
    backend: RwSignal<BackendChoice>,
    dataset_ready: Signal<bool>,
    send: Callback<Command>,
    /// A lesson hides the settings card, or the checkpoint buttons.
    hide_settings: Signal<bool>,
    hide_checkpoints: Signal<bool>,
) -> impl IntoView {
    let phase = state.phase;
    let active = move || phase.get().is_active();
    let start = move |_| state.start(backend.get_untracked(), send);
    // What the GPU has compiled ahead for the form's settings, until their run is under way.
    let warm_up_line = move || {
        let shown = backend.get() == BackendChoice::WebGpu && (phase.get() == Phase::Starting || !active());
        let report = state
            .warm_up
            .get()
            .filter(|report| shown && state.settings.with(|settings| report.spec == settings.run.warm_up_spec()))?;
        warm_up_words(&report.state)
    };
    let resume_saved = move |_| {
        state.notice.set(String::new());
        phase.set(Phase::Starting);
        send.run(Command::ResumeSaved { backend: backend.get_untracked() });
    };
    let pause = move |_| {
        phase.set(Phase::Pausing);
        send.run(Command::Pause);
    };
    let resume = move |_| send.run(Command::Resume);
    let stop = move |_| {
        phase.set(Phase::Stopping);
        send.run(Command::Stop);
    };
    let import = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok()) else { return };
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        let name = file.name();
        state.notice.set(format!("Reading {name}..."));
        leptos::task::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
                Ok(buffer) => {
                    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
                    state.notice.set(format!("Checking {name}..."));
                    send.run(Command::ImportCheckpoint { name, bytes });
                }
                Err(err) => state.notice.set(format!("Could not read {name}: {err:?}")),
            }
        });
        input.set_value("");
    };

    view! {
        <div hidden=hide_settings data-testid="settings-card">
            <RecipeChoice settings=state.settings backend=backend active=Signal::derive(active) />
        </div>
        <section class="card" aria-labelledby="run-title">
            <h3 id="run-title"><span class="step">"4"</span>"Run"</h3>
            <Show when=move || state.saved.get().is_some() && !active()>
                <div class="saved" role="status" data-testid="saved-run">
                    <p>{move || state.saved.get().map(describe_saved).unwrap_or_default()}</p>
                    <div class="row">
                        <button on:click=resume_saved>"Resume saved run"</button>
                        <button class="secondary" on:click=move |_| send.run(Command::ForgetSaved)>
                            "Discard saved run"
                        </button>
                    </div>
                </div>
            </Show>
            <div class="row controls">
                <button disabled=move || active() || !dataset_ready.get() on:click=start>
                    "Start training"
                </button>
                <Show
                    when=move || phase.get() == Phase::Paused
                    fallback=move || {
                        view! {
                            <button disabled=move || phase.get() != Phase::Running on:click=pause>
                                "Pause"
                            </button>
                        }
                    }
                >
                    <button on:click=resume>"Resume"</button>
                </Show>
                <button
                    disabled=move || !matches!(phase.get(), Phase::Running | Phase::Paused)
                    on:click=stop
                >
                    "Stop"
                </button>
                <button
                    class="secondary"
                    disabled=move || !matches!(phase.get(), Phase::Running | Phase::Paused)
                    on:click=move |_| send.run(Command::EvaluateNow)
                >
                    "Evaluate now"
                </button>
            </div>
            <p class="hint" hidden=move || dataset_ready.get() || active()>
                "Load a dataset above to start training."
            </p>
            <p class="hint" data-testid="gpu-warmup" hidden=move || warm_up_line().is_none()>
                {warm_up_line}
            </p>
            <p class="phase" data-testid="phase" data-phase=move || phase.get().name()>
                {move || phase_line(&phase.get())}
            </p>
            <p class="notice" data-testid="notice">{move || state.notice.get()}</p>
            <div class="row" hidden=hide_checkpoints data-testid="checkpoint-row">
                <button
                    class="secondary"
                    disabled=move || state.saved.get().is_none() && state.run.get().is_none()
                    on:click=move |_| send.run(Command::ExportCheckpoint)
                >
                    "Export checkpoint"
                </button>
                <label class="file-button">
                    "Import checkpoint"
                    <input type="file" accept=".safetensors" disabled=active on:change=import />
                </label>
            </div>
        </section>
        // Every setting, one click away: a first visit sees the path, not twenty controls.
        <details class="card all-settings" data-testid="all-settings" hidden=hide_settings>
            <summary>"All settings"</summary>
            <fieldset class="settings" disabled=active>
                <legend class="visually-hidden">"Training settings"</legend>
                <SettingsFields settings=state.settings />
            </fieldset>
        </details>
    }
}

fn describe_saved(saved: SavedRunInfo) -> String {
    let dataset = if saved.dataset.is_empty() { "an imported checkpoint".to_string() } else { saved.dataset };
    let state = if saved.finished {
        "finished".to_string()
    } else {
        format!("{} of {} epochs done", saved.epochs_done, saved.epochs)
    };
    format!(
        "A run is stored in this browser: {dataset}, {state}, step {} ({:.1} MB).",
        saved.global_step,
        saved.bytes as f64 / 1e6
    )
}

fn phase_line(phase: &Phase) -> String {
    match phase {
        Phase::Idle => String::new(),
        Phase::Starting => "Starting: preparing the device, the weights and the triplets...".into(),
        Phase::Running => "Training.".into(),
        Phase::Pausing => "Pausing after this step...".into(),
        Phase::Paused => "Paused.".into(),
        Phase::Stopping => "Stopping after this step...".into(),
        Phase::Stopped => "Stopped.".into(),
        Phase::Finished { best_epoch: Some(epoch) } => {
            format!("Finished: the weights of epoch {epoch} (lowest held-out loss) are restored.")
        }
        Phase::Finished { best_epoch: None } => "Finished.".into(),
        Phase::Failed { message, hint } => format!("Training stopped: {message} {hint}"),
    }
}

/// Online mining: which triplets each step trains on, and the P x K batches they come from.
#[component]
fn MiningFields(settings: RwSignal<TrainSettings>) -> impl IntoView {
    use tripletlab_core::run::query::{mining_name, setting};
    use tripletlab_protocol::MiningConfig;
    let strategy = move || settings.with(|s| s.run.mining.map(|m| m.strategy));
    let on_strategy = move |ev: leptos::ev::Event| {
        let chosen = event_target_value(&ev);
        // The table's rule: P x K is kept when only the strategy changes.
        settings.update(|s| {
            if let Some(mining) = setting("mining") {
                let _ = mining.apply(&mut s.run, &chosen);
            }
        });
    };
    let count = move |pick: fn(&MiningConfig) -> usize| {
        Signal::derive(move || settings.with(|s| s.run.mining.map_or(0.0, |m| pick(&m) as f64)))
    };
    let set_count = move |write: fn(&mut MiningConfig, usize)| {
        Callback::new(move |v: f64| {
            settings.update(|s| {
                if let Some(m) = s.run.mining.as_mut() {
                    write(m, v as usize);
                }
            })
        })
    };
    view! {
        <div class="field">
            <label for="setting-triplets">"Triplets"</label>
            <select
                id="setting-triplets"
                aria-describedby="setting-triplets-help"
                prop:value=move || mining_name(strategy())
                on:change=on_strategy
            >
                <option value="none">"fixed (the recipe)"</option>
                <option value="batch-all">"mined: batch-all"</option>
                <option value="batch-hard">"mined: batch-hard"</option>
                <option value="semi-hard">"mined: semi-hard"</option>
            </select>
            <small id="setting-triplets-help">
                "Fixed: the recipe's precomputed triplets. Mined: each step draws P classes x K images and picks "
                "triplets among them: every active one, each anchor's hardest, or negatives just beyond the positive."
            </small>
        </div>
        <Show when=move || strategy().is_some()>
            <NumberField
                label="Classes per batch (P)"
                help="How many classes each mined batch draws."
                value=count(|m| m.classes)
                set=set_count(|m, v| m.classes = v)
                range=query::PK
                step="1"
            />
            <NumberField
                label="Images per class (K)"
                help="How many images of each class: K - 1 positives for every anchor."
                value=count(|m| m.per_class)
                set=set_count(|m, v| m.per_class = v)
                range=query::PK
                step="1"
            />
        </Show>
    }
}

/// One number input with its label and a sentence a student understands.
#[component]
fn NumberField(
    label: &'static str,
    help: &'static str,
    value: Signal<f64>,
    set: Callback<f64>,
    range: query::Range,
    step: &'static str,
) -> impl IntoView {
    let (min, max) = (range.min, range.max);
    let id = format!("setting-{}", label.to_lowercase().replace([' ', '(', ')', '%', '/'], "-"));
    let help_id = format!("{id}-help");
    let on_change = move |ev: leptos::ev::Event| {
        let Some(input) = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok()) else { return };
        let parsed = input.value().trim().parse::<f64>().ok().filter(|v| v.is_finite());
        match parsed {
            Some(v) => set.run(v.clamp(min, max)),
            // Not a number: show the value that is in effect again.
            None => input.set_value(&value.get_untracked().to_string()),
        }
    };
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                type="number"
                min=min
                max=max
                step=step
                aria-describedby=help_id.clone()
                prop:value=move || value.get().to_string()
                on:change=on_change
            />
            <small id=help_id>{help}</small>
        </div>
    }
}

/// A choice between two values, as a select.
#[component]
fn ChoiceField(
    label: &'static str,
    help: &'static str,
    options: [&'static str; 2],
    second: Signal<bool>,
    set: Callback<bool>,
) -> impl IntoView {
    let id = format!("setting-{}", label.to_lowercase().replace(' ', "-"));
    let help_id = format!("{id}-help");
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <select
                id=id
                aria-describedby=help_id.clone()
                prop:value=move || if second.get() { "1" } else { "0" }
                on:change=move |ev| set.run(event_target_value(&ev) == "1")
            >
                <option value="0">{options[0]}</option>
                <option value="1">{options[1]}</option>
            </select>
            <small id=help_id>{help}</small>
        </div>
    }
}

/// One setting of the table ([`query::SETTINGS`]) as a field: a number input or a select, with
/// its label and help sentence, read and written through the table (so its range, its choices
/// and the rules between settings are the link's and the CLI's).
#[component]
fn TableField(setting: &'static Setting, settings: RwSignal<TrainSettings>) -> impl IntoView {
    let id = field_id(setting.label);
    let help_id = format!("{id}-help");
    let current = move || settings.with(|s| (setting.get)(&s.run).unwrap_or_default());
    let control = match setting.values {
        Values::Choice(options) => view! {
            <select
                id=id.clone()
                aria-describedby=help_id.clone()
                prop:value=current
                on:change=move |ev| {
                    let chosen = event_target_value(&ev);
                    settings.update(|s| {
                        let _ = setting.apply(&mut s.run, &chosen);
                    });
                }
            >
                {options.iter().map(|(word, label)| view! { <option value=*word>{*label}</option> }).collect_view()}
            </select>
        }
        .into_any(),
        Values::Number(range) | Values::Whole(range) => {
            let whole = matches!(setting.values, Values::Whole(_));
            let on_change = move |ev: leptos::ev::Event| {
                let Some(input) = ev.target().and_then(|target| target.dyn_into::<HtmlInputElement>().ok()) else {
                    return;
                };
                let typed = input.value().trim().parse::<f64>().ok().filter(|v| v.is_finite());
                let applied = typed.is_some_and(|v| {
                    let v = v.clamp(range.min, range.max);
                    let text = if whole { (v.round() as u64).to_string() } else { v.to_string() };
                    settings.try_update(|s| setting.apply(&mut s.run, &text).is_ok()).unwrap_or(false)
                });
                if !applied {
                    // Not a number: show the value that is in effect again.
                    input.set_value(&current());
                }
            };
            view! {
                <input
                    id=id.clone()
                    type="number"
                    min=range.min
                    max=range.max
                    step=if whole { "1" } else { "any" }
                    aria-describedby=help_id.clone()
                    prop:value=current
                    on:change=on_change
                />
            }
            .into_any()
        }
    };
    view! {
        <div class="field">
            <label for=id>{setting.label}</label>
            {control}
            <small id=help_id>{setting.help}</small>
        </div>
    }
}

/// A field's id from its label: `Held out (%)` is `setting-held-out----`.
fn field_id(label: &str) -> String {
    format!("setting-{}", label.to_lowercase().replace([' ', '(', ')', '%', '/'], "-"))
}

/// The settings form: every setting the table shows as a field, in the table's order, with
/// augmentation and mining (whose fields join several settings) after them.
#[component]
fn SettingsFields(settings: RwSignal<TrainSettings>) -> impl IntoView {
    let augment = Signal::derive(move || settings.with(|s| !s.run.augmentation.is_off()));
    let set_augment = Callback::new(move |on: bool| {
        settings.update(|s| s.run.augmentation = if on { query::FLIP_AND_SHIFT } else { Augmentation::default() })
    });
    let (last, first): (Vec<&'static Setting>, Vec<&'static Setting>) =
        query::SETTINGS.iter().filter(|setting| setting.in_form).partition(|setting| setting.key == "fast");
    view! {
        <div class="fields">
            {first.into_iter().map(|setting| view! { <TableField setting=setting settings=settings /> }).collect_view()}
            <ChoiceField
                label="Augmentation"
                help="Off (the tutorial), or each training image flipped at random and shifted by up to 4 pixels, so the model sees more variety."
                options=["off (tutorial)", "flip and shift"]
                second=augment
                set=set_augment
            />
            <MiningFields settings=settings />
            {last.into_iter().map(|setting| view! { <TableField setting=setting settings=settings /> }).collect_view()}
        </div>
    }
}

//! The page: controls and results, rendered from the worker's events. It never touches a tensor.

mod anatomy;
mod backend_panel;
mod charts;
mod dataset_panel;
mod engine;
mod explore;
mod lesson;
mod live;
mod results;
mod studio;

use leptos::prelude::*;

use backend_panel::BackendPanel;
use dataset_panel::{DATA_ROOT, DatasetPanel, DatasetState, ListState, LoadState};
use engine::Engine;
use explore::{ExploreState, ExploreView};
use lesson::{LessonBanner, LessonState, LessonsCard};
use live::LiveView;
use results::ResultsView;
use studio::{StudioPanel, TrainState};
use tripletlab_protocol::lesson::Control;
use tripletlab_protocol::{AdapterReport, BackendChoice, Command, Event, PingReport};

/// The last answer to a backend check.
#[derive(Clone, Debug, PartialEq)]
pub enum PingState {
    Idle,
    Running(BackendChoice),
    Done(PingReport),
    Failed { backend: BackendChoice, message: String },
}

/// Everything the page knows about the compute backend, as signals.
#[derive(Clone, Copy)]
pub struct BackendState {
    /// `None` while the worker is still looking for an adapter.
    pub adapter: RwSignal<Option<AdapterReport>>,
    /// The backend the visitor chose (WebGPU when there is an adapter, else the CPU).
    pub choice: RwSignal<BackendChoice>,
    pub ping: RwSignal<PingState>,
}

impl BackendState {
    fn new() -> Self {
        Self {
            adapter: RwSignal::new(None),
            choice: RwSignal::new(BackendChoice::Cpu),
            ping: RwSignal::new(PingState::Idle),
        }
    }
}

/// The page's state and its engine worker.
#[derive(Clone, Copy)]
struct Page {
    backend: BackendState,
    data: DatasetState,
    train: TrainState,
    /// Problems that did not stop the work, and engine ends, newest last, until dismissed.
    alerts: RwSignal<Vec<String>>,
    explore: ExploreState,
    engine: StoredValue<Option<Engine>, LocalStorage>,
    /// The backend a lesson link asks for, if any.
    lesson_backend: Option<BackendChoice>,
}

impl Page {
    fn send(self, command: Command) {
        self.engine.with_value(|engine| {
            if let Some(engine) = engine {
                engine.send(command);
            }
        });
    }

    /// Start an engine worker and ask it what the page needs to know.
    fn start_engine(self) {
        let engine = Engine::start(move |event| apply(self, event), move |reason| self.engine_ended(reason));
        self.engine.set_value(Some(engine));
        self.send(Command::ProbeAdapter);
        self.send(Command::ListDatasets { index_url: format!("{DATA_ROOT}/index.json") });
        self.send(Command::FindSavedRun);
    }

    /// The worker is gone: say why, start a fresh one, and load again the dataset that was loaded.
    /// The checkpoint stored in IndexedDB outlives the worker, so "Resume saved run" continues.
    fn engine_ended(self, reason: String) {
        if let Some(old) = self.engine.try_update_value(Option::take).flatten() {
            old.retire();
        }
        self.train.engine_lost(&reason);
        self.alerts.update(|alerts| {
            alerts.push(format!("{reason} A fresh engine has started; a run stored in this browser can be resumed."))
        });
        self.backend.adapter.set(None);
        self.backend.ping.set(PingState::Idle);
        self.start_engine();
        self.data.restore(Callback::new(move |command| self.send(command)));
    }
}

/// Fold one worker event into the page's state.
fn apply(page: Page, mut event: Event) {
    let Page { backend: state, data, train, alerts, lesson_backend, explore, .. } = page;
    if let Event::TrainingStarted(info) = &event
        && info.resumed_at.is_none()
    {
        explore.map.set(None);
        explore.search.set(explore::SearchState::Idle);
    }
    if train.apply(&event) || explore.apply(&mut event) {
        return;
    }
    match event {
        Event::Adapter(report) => {
            let choice = match (&report, lesson_backend) {
                (_, Some(BackendChoice::Cpu)) | (AdapterReport::Unavailable(_), _) => BackendChoice::Cpu,
                (AdapterReport::Available(_), _) => BackendChoice::WebGpu,
            };
            state.choice.set(choice);
            state.adapter.set(Some(report));
        }
        Event::Pong(report) => state.ping.set(PingState::Done(report)),
        Event::Failed { backend, message } => state.ping.set(PingState::Failed { backend, message }),
        Event::DatasetList { datasets } => data.list.set(ListState::Ready(datasets)),
        Event::DatasetListFailed { message } => data.list.set(ListState::Failed(message)),
        Event::DatasetProgress(progress) => data.load.set(LoadState::Loading(progress)),
        Event::DatasetReady(summary) => data.load.set(LoadState::Ready(summary)),
        Event::DatasetFailed { message } => data.load.set(LoadState::Failed(message)),
        Event::Warning { message } => alerts.update(|alerts| alerts.push(message)),
        // Training events are folded by `TrainState::apply` above.
        _ => {}
    }
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let (lesson, opened_with) = LessonState::from_address();
    let page = Page {
        backend: BackendState::new(),
        data: DatasetState::new(),
        train: TrainState::new(),
        alerts: RwSignal::new(Vec::new()),
        explore: ExploreState::new(),
        engine: StoredValue::new_local(None),
        lesson_backend: opened_with.as_ref().and_then(|lesson| lesson.backend),
    };
    let Page { backend: state, data, train, alerts, explore, .. } = page;
    if let Some(opened) = opened_with {
        train.settings.set(opened.settings);
    }
    page.start_engine();
    let send = move |command: Command| page.send(command);
    // A lesson that hides the dataset card loads the first served dataset for the class.
    Effect::new(move |_| {
        let hidden = lesson.hidden.with(|hidden| hidden.contains(&Control::Dataset));
        let listed = matches!(data.list.get(), ListState::Ready(ref datasets) if !datasets.is_empty());
        if hidden && listed && matches!(data.load.get_untracked(), LoadState::Idle) {
            data.load_selected(Callback::new(send));
        }
    });
    let dataset_ready = Signal::derive(move || matches!(data.load.get(), LoadState::Ready(_)));
    let check_backend = move || {
        let backend = state.choice.get_untracked();
        state.ping.set(PingState::Running(backend));
        send(Command::Ping { backend });
    };
    // Once the adapter is known, check the backend it led to, so the page shows a working
    // device (or why not) without a click; again for each fresh engine.
    Effect::new(move |checked: Option<bool>| {
        let known = state.adapter.with(Option::is_some);
        if known && checked != Some(true) {
            check_backend();
        }
        known
    });

    view! {
        <header class="masthead">
            <h1>"Triplet Lab"</h1>
            <p class="tagline">
                "Train a triplet-loss image encoder (MobileNetV2) in your browser, on your GPU. "
                "Nothing leaves this page."
            </p>
        </header>
        <LessonBanner state=lesson />
        <Alerts alerts=alerts />
        <main class="layout">
            <section class="panel training" aria-labelledby="training-title">
                <h2 id="training-title">"Training"</h2>
                <div hidden=lesson.hides(Control::Backend) data-testid="backend-card">
                    <BackendPanel state=state on_check=Callback::new(move |()| check_backend()) />
                </div>
                <div hidden=lesson.hides(Control::Dataset) data-testid="dataset-card">
                    <DatasetPanel state=data send=Callback::new(send) />
                </div>
                <StudioPanel
                    state=train
                    backend=state.choice
                    dataset_ready=dataset_ready
                    send=Callback::new(send)
                    hide_settings=lesson.hides(Control::Settings)
                    hide_checkpoints=lesson.hides(Control::Checkpoints)
                />
                <LessonsCard state=lesson settings=train.settings />
                <div hidden=lesson.hides(Control::Recipe) data-testid="recipe-card">
                    <RecipeSummary />
                </div>
            </section>
            <section class="panel results" aria-labelledby="results-title">
                <h2 id="results-title">"Results"</h2>
                <LiveView state=train />
                <ResultsView state=train />
                <anatomy::TripletAnatomy state=train />
                <ExploreView state=explore send=Callback::new(send) />
            </section>
        </main>
        <footer class="footer">
            "Rust and WebAssembly: burn on WebGPU (or the CPU) in a Web Worker, Leptos for the page."
        </footer>
    }
}

/// What went wrong without stopping the page, until the visitor dismisses it. Text only: a message
/// may quote a file name the visitor chose.
#[component]
fn Alerts(alerts: RwSignal<Vec<String>>) -> impl IntoView {
    view! {
        <Show when=move || alerts.with(|alerts| !alerts.is_empty())>
            <section class="alerts" role="alert" data-testid="alerts">
                <ul>
                    {move || alerts.get().into_iter().map(|alert| view! { <li>{alert}</li> }).collect_view()}
                </ul>
                <button class="secondary" on:click=move |_| alerts.set(Vec::new())>"Dismiss"</button>
            </section>
        </Show>
    }
}

/// The reference recipe the trainer reproduces, shown so an audience knows what will run. The
/// pretrained weights are described by the site's own `weights.json` (a site may serve others).
#[component]
fn RecipeSummary() -> impl IntoView {
    let weights = LocalResource::new(weights_description);
    // The published recipe's own numbers, from the one description of it.
    let recipe = tripletlab_core::run::RunSpec::tutorial();
    let loss = format!(
        "{}, margin {}, d = {} distance",
        recipe.loss.kind.formula(),
        recipe.loss.margin,
        recipe.loss.distance.name()
    );
    let optimiser = format!("Adam, learning rate {}, {} triplets a step", recipe.learning_rate, recipe.batch_size);
    let described = move || match weights.get() {
        None => "reading this site's weights.json".to_string(),
        Some(Ok(description)) => description,
        Some(Err(problem)) => format!("unknown ({problem})"),
    };
    view! {
        <section class="card" aria-labelledby="recipe-title">
            <h3 id="recipe-title">"Recipe"</h3>
            <dl class="facts">
                <dt>"Data"</dt><dd>"CIFAR-10, 30,000 triplets (anchor, positive, negative)"</dd>
                <dt>"Encoder"</dt><dd data-testid="recipe-encoder">"MobileNetV2 (width 1.0), 1280-d output; pretrained weights: " {described}</dd>
                <dt>"Loss"</dt><dd>{loss}</dd>
                <dt>"Optimiser"</dt><dd>{optimiser}</dd>
            </dl>
        </section>
    }
}

/// What the site's pretrained weights are, from `public/weights/weights.json`.
async fn weights_description() -> Result<String, String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    const URL: &str = "./public/weights/weights.json";
    let text = |err: wasm_bindgen::JsValue| err.as_string().unwrap_or_else(|| format!("{err:?}"));
    let response: web_sys::Response = JsFuture::from(window().fetch_with_str(URL))
        .await
        .map_err(text)?
        .dyn_into()
        .map_err(|_| "not a response".to_string())?;
    if !response.ok() {
        return Err(format!("{URL}: HTTP {}", response.status()));
    }
    let buffer = JsFuture::from(response.array_buffer().map_err(text)?).await.map_err(text)?;
    let bytes = js_sys::Uint8Array::new(&buffer).to_vec();
    tripletlab_core::model::weights_manifest::WeightsManifest::parse(URL, &bytes)
        .map(|manifest| manifest.description)
        .map_err(|err| err.to_string())
}

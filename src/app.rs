//! The page: controls and results, rendered from the worker's events. It never touches a tensor.

mod backend_panel;
mod charts;
mod dataset_panel;
mod live;
mod results;
mod studio;

use gloo_worker::{Spawnable, WorkerBridge};
use leptos::prelude::*;

use backend_panel::BackendPanel;
use dataset_panel::{DATA_ROOT, DatasetPanel, DatasetState, ListState, LoadState};
use live::LiveView;
use results::ResultsView;
use studio::{StudioPanel, TrainState};
use tripletlab_protocol::{AdapterReport, BackendChoice, Command, EngineLink, Event, PingReport};

/// Where Trunk puts the worker's loader (see `index.html`).
const WORKER_LOADER: &str = "./worker_loader.js";

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

/// Fold one worker event into the page's state.
fn apply(state: BackendState, data: DatasetState, train: TrainState, event: Event) {
    if train.apply(&event) {
        return;
    }
    match event {
        Event::Adapter(report) => {
            let choice = match report {
                AdapterReport::Available(_) => BackendChoice::WebGpu,
                AdapterReport::Unavailable(_) => BackendChoice::Cpu,
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
        // Training events are folded by `TrainState::apply` above.
        _ => {}
    }
}

/// The whole page.
#[component]
pub fn App() -> impl IntoView {
    let state = BackendState::new();
    let data = DatasetState::new();
    let train = TrainState::new();
    let bridge: WorkerBridge<EngineLink> = EngineLink::spawner()
        .callback(move |event| apply(state, data, train, event))
        .with_loader(true)
        .as_module(false)
        .spawn(WORKER_LOADER);
    let bridge = StoredValue::new_local(bridge);
    let send = move |command: Command| bridge.with_value(|bridge| bridge.send(command));

    send(Command::ProbeAdapter);
    send(Command::ListDatasets { index_url: format!("{DATA_ROOT}/index.json") });
    send(Command::FindSavedRun);
    let dataset_ready = Signal::derive(move || matches!(data.load.get(), LoadState::Ready(_)));
    let check_backend = move || {
        let backend = state.choice.get_untracked();
        state.ping.set(PingState::Running(backend));
        send(Command::Ping { backend });
    };
    // Once the adapter is known, check the backend it led to, so the page shows a working
    // device (or why not) without a click.
    Effect::new(move |checked: Option<bool>| {
        let known = state.adapter.with(Option::is_some);
        if known && checked != Some(true) {
            check_backend();
            return true;
        }
        checked.unwrap_or(false)
    });

    view! {
        <header class="masthead">
            <h1>"Triplet Lab"</h1>
            <p class="tagline">
                "Train a triplet-loss image encoder (MobileNetV2) in your browser, on your GPU. "
                "Nothing leaves this page."
            </p>
        </header>
        <main class="layout">
            <section class="panel training" aria-labelledby="training-title">
                <h2 id="training-title">"Training"</h2>
                <BackendPanel state=state on_check=Callback::new(move |()| check_backend()) />
                <DatasetPanel state=data send=Callback::new(send) />
                <StudioPanel state=train backend=state.choice dataset_ready=dataset_ready send=Callback::new(send) />
                <RecipeSummary />
            </section>
            <section class="panel results" aria-labelledby="results-title">
                <h2 id="results-title">"Results"</h2>
                <LiveView state=train />
                <ResultsView state=train />
            </section>
        </main>
        <footer class="footer">
            "Rust and WebAssembly: burn on WebGPU (or the CPU) in a Web Worker, Leptos for the page."
        </footer>
    }
}

/// The reference recipe the trainer reproduces, shown so an audience knows what will run.
#[component]
fn RecipeSummary() -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="recipe-title">
            <h3 id="recipe-title">"Recipe"</h3>
            <dl class="facts">
                <dt>"Data"</dt><dd>"CIFAR-10, 30,000 triplets (anchor, positive, negative)"</dd>
                <dt>"Encoder"</dt><dd>"MobileNetV2, ImageNet-pretrained, 1280-d output"</dd>
                <dt>"Loss"</dt><dd>"max(d(a,p) - d(a,n) + 0.4, 0), d = cosine distance"</dd>
                <dt>"Optimiser"</dt><dd>"Adam, learning rate 1e-4, 64 triplets a step"</dd>
            </dl>
        </section>
    }
}

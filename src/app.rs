//! The page: controls and results, rendered from the worker's events. It never touches a tensor.

mod anatomy;
mod atlas;
mod backend_panel;
mod camera;
mod charts;
mod compare;
mod dataset_panel;
mod engine;
mod enrol;
mod explore;
mod glossary;
mod lesson;
mod live;
mod mining;
mod recipe;
mod results;
mod studio;

use leptos::prelude::*;

use backend_panel::BackendPanel;
use compare::{CompareState, CompareView};
use dataset_panel::{DATA_ROOT, DatasetPanel, DatasetState, ListState, LoadState};
use engine::{Engine, EngineKind, browser_offers_webgpu, threads_available};
use explore::{ExploreState, ExploreView};
use lesson::{LessonBanner, LessonState, LessonsCard};
use live::LiveView;
use recipe::{RecipeSummary, TryIt};
use results::ResultsView;
use studio::{StudioPanel, TrainState};
use tripletlab_core::run::RunSpec;
use tripletlab_protocol::lesson::Control;
use tripletlab_protocol::{
    AdapterReport, BackendChoice, Command, Event, NoAdapter, PingReport, TrainSettings, WarmUpState,
};

/// The last answer to a backend check.
#[derive(Clone, Debug, PartialEq)]
pub enum PingState {
    Idle,
    Running(BackendChoice),
    Done(PingReport),
    Failed { backend: BackendChoice, message: String },
}

/// How the CPU trains in this page, as the backend card says it.
#[derive(Clone, Debug, PartialEq)]
pub enum CpuThreads {
    /// One thread, and why.
    One(String),
    /// The usual worker runs (WebGPU is offered); the threaded one, with this many threads, would
    /// start for the CPU on a page without WebGPU.
    Possible(usize),
    /// The threaded worker runs, with this many threads.
    Running(usize),
}

/// Everything the page knows about the compute backend, as signals.
#[derive(Clone, Copy)]
pub struct BackendState {
    /// `None` while the worker is still looking for an adapter.
    pub adapter: RwSignal<Option<AdapterReport>>,
    /// The backend the visitor chose (WebGPU when there is an adapter, else the CPU).
    pub choice: RwSignal<BackendChoice>,
    pub ping: RwSignal<PingState>,
    pub cpu_threads: RwSignal<CpuThreads>,
}

impl BackendState {
    fn new() -> Self {
        Self {
            adapter: RwSignal::new(None),
            choice: RwSignal::new(BackendChoice::Cpu),
            ping: RwSignal::new(PingState::Idle),
            cpu_threads: RwSignal::new(CpuThreads::One(String::new())),
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
    compare: CompareState,
    /// A lesson's second run, started when the first finishes ("Train both").
    next_run: RwSignal<Option<RunSpec>>,
    engine: StoredValue<Option<Engine>, LocalStorage>,
    /// Which worker runs.
    engine_kind: StoredValue<EngineKind>,
    /// Why the threaded worker is not tried again on this page: it ended (or could not start).
    threads_ended: StoredValue<Option<String>>,
    /// The backend a lesson link asks for, if any.
    lesson_backend: Option<BackendChoice>,
    /// The settings whose kernels this page's worker was last asked to compile ahead, and a
    /// count of the wishes, so that only a wish that stood still for a moment is sent.
    warm_up_asked: StoredValue<Option<RunSpec>>,
    warm_up_generation: StoredValue<u64>,
}

impl Page {
    fn send(self, command: Command) {
        self.engine.with_value(|engine| {
            if let Some(engine) = engine {
                engine.send(command);
            }
        });
    }

    /// Start an engine worker of `kind` and ask it what the page needs to know. The threaded
    /// worker is started after the usual one found no WebGPU adapter, so it is not asked again.
    fn start_engine(self, kind: EngineKind) {
        let engine = Engine::start(kind, move |event| apply(self, event), move |reason| self.engine_ended(reason));
        self.engine.set_value(Some(engine));
        self.engine_kind.set_value(kind);
        // A fresh worker has compiled nothing ahead.
        self.warm_up_asked.set_value(None);
        self.train.warm_up.set(None);
        self.backend.cpu_threads.set(match (kind, self.threads_ended.get_value(), threads_available()) {
            (EngineKind::Threaded(threads), _, _) => CpuThreads::Running(threads),
            (EngineKind::Usual, Some(why), _) => CpuThreads::One(why),
            (EngineKind::Usual, None, Err(why)) => CpuThreads::One(why.to_string()),
            (EngineKind::Usual, None, Ok(threads)) => CpuThreads::Possible(threads),
        });
        if kind == EngineKind::Usual {
            self.send(Command::ProbeAdapter);
        }
        self.send(Command::ListDatasets { index_url: format!("{DATA_ROOT}/index.json") });
        self.send(Command::FindSavedRun);
    }

    /// The page's first worker: the threaded one at once where the browser offers no WebGPU at
    /// all (no `navigator.gpu`) and the page can run threads, so that such a visitor downloads one
    /// worker, not two; else the usual one, which looks for an adapter.
    fn start_first_engine(self) {
        match (browser_offers_webgpu(), threads_available()) {
            (false, Ok(threads)) => {
                self.backend.adapter.set(Some(AdapterReport::Unavailable(NoAdapter::NoApi)));
                self.backend.choice.set(BackendChoice::Cpu);
                self.start_engine(EngineKind::Threaded(threads));
            }
            _ => self.start_engine(EngineKind::Usual),
        }
    }

    /// The page trains on the CPU (no WebGPU adapter, or a lesson asks for the CPU): replace the
    /// usual worker by the threaded one where the page can run it, before anything is trained.
    /// Later in the page's life, and after the threaded worker once ended, the usual worker stays.
    fn use_threads_for_the_cpu(self) {
        let CpuThreads::Possible(threads) = self.backend.cpu_threads.get_untracked() else { return };
        // Only where there is no WebGPU to use, or a lesson asks for the CPU: a visitor who picks
        // the CPU beside a working adapter keeps the worker that can go back to WebGPU.
        let cpu_only = matches!(self.backend.adapter.get_untracked(), Some(AdapterReport::Unavailable(_)))
            || self.lesson_backend == Some(BackendChoice::Cpu);
        if !cpu_only
            || self.engine_kind.get_value() != EngineKind::Usual
            || self.train.phase.get_untracked().is_active()
            || !self.data.can_move_to_new_engine()
        {
            return;
        }
        // Not from inside the worker's own event: the old worker's bridge is dropped here.
        leptos::task::spawn_local(async move {
            if let Some(old) = self.engine.try_update_value(Option::take).flatten() {
                old.retire();
            }
            self.start_engine(EngineKind::Threaded(threads));
            self.data.move_to_new_engine(Callback::new(move |command| self.send(command)));
            // The check the page made of the old worker's CPU, made again of the new one's.
            self.backend.ping.set(PingState::Running(BackendChoice::Cpu));
            self.send(Command::Ping { backend: BackendChoice::Cpu });
        });
    }

    /// The settings whose GPU kernels the page wants compiled ahead now (and, for the shipped
    /// weights, downloaded): the form's ("Try it"'s
    /// class demo on a first visit), where a run would go to a working WebGPU device (checked)
    /// and none is under way.
    fn warm_up_wanted(self, given_way: Option<RunSpec>) -> Option<RunSpec> {
        let webgpu = self.backend.choice.get() == BackendChoice::WebGpu
            && matches!(self.backend.ping.get(), PingState::Done(ref report) if report.backend == BackendChoice::WebGpu)
            && !matches!(self.backend.cpu_threads.get(), CpuThreads::Running(_));
        if !webgpu || self.train.phase.get().is_active() {
            return None;
        }
        let spec = self.train.settings.with(|settings| settings.run.check().is_ok().then(|| settings.run.clone()))?;
        let key = spec.warm_up_spec();
        // Asked already, and not given way since: the worker answered, or will.
        (given_way.as_ref() == Some(&key) || self.warm_up_asked.get_value().as_ref() != Some(&key)).then_some(spec)
    }

    /// Compile the GPU kernels of the form's settings while the visitor reads, loads data and
    /// chooses ([`Command::WarmUp`]), once the settings have stood still for a moment: the run's
    /// first step then does not wait for them.
    fn warm_up_the_gpu_ahead(self) {
        const SETTLED: std::time::Duration = std::time::Duration::from_millis(1000);
        // The settings whose warm-up the worker gave up, if its last word says so (a memo: the
        // progress reports in between change nothing here).
        let warm_up = self.train.warm_up;
        let given_way = Memo::new(move |_| {
            warm_up.with(|report| {
                report.as_ref().filter(|report| report.state == WarmUpState::Stopped).map(|report| report.spec.clone())
            })
        });
        Effect::new(move |_| {
            let Some(spec) = self.warm_up_wanted(given_way.get()) else { return };
            let generation = self.warm_up_generation.get_value() + 1;
            self.warm_up_generation.set_value(generation);
            set_timeout(
                move || {
                    // Still wanted, unchanged for the whole moment.
                    if self.warm_up_generation.get_value() == generation
                        && untrack(|| self.warm_up_wanted(given_way.get())) == Some(spec.clone())
                    {
                        self.warm_up_asked.set_value(Some(spec.warm_up_spec()));
                        self.send(Command::WarmUp(spec));
                    }
                },
                SETTLED,
            );
        });
    }

    /// The worker is gone: say why, start a fresh one, and load again the dataset that was loaded.
    /// The checkpoint stored in IndexedDB outlives the worker, so "Resume saved run" continues.
    fn engine_ended(self, reason: String) {
        if let Some(old) = self.engine.try_update_value(Option::take).flatten() {
            old.retire();
        }
        self.train.engine_lost(&reason);
        // A lesson's second run is not started by the next run that happens to finish.
        self.next_run.set(None);
        let threaded = matches!(self.engine_kind.get_value(), EngineKind::Threaded(_));
        self.alerts.update(|alerts| {
            alerts.push(if threaded {
                format!("{reason} The page goes on with its single-threaded engine; a run stored in this browser can be resumed.")
            } else {
                format!("{reason} A fresh engine has started; a run stored in this browser can be resumed.")
            })
        });
        if let EngineKind::Threaded(threads) = self.engine_kind.get_value() {
            self.threads_ended.set_value(Some(format!(
                "the threaded worker ({threads} threads) ended: {}",
                reason.trim_end_matches('.')
            )));
        }
        self.backend.adapter.set(None);
        self.backend.ping.set(PingState::Idle);
        self.start_engine(EngineKind::Usual);
        self.data.restore(Callback::new(move |command| self.send(command)));
    }
}

/// Fold one worker event into the page's state.
fn apply(page: Page, mut event: Event) {
    let Page { backend: state, data, train, alerts, lesson_backend, explore, .. } = page;
    if let Event::TrainingStarted(info) = &event
        && info.resumed_at.is_none()
    {
        explore.clear();
    }
    let finished = matches!(event, Event::TrainingFinished { .. });
    if train.apply(&event) {
        if finished {
            page.compare.keep_finished(train);
            // A lesson's second run follows its first.
            if let Some(next) = page.next_run.try_update(Option::take).flatten() {
                // The second run keeps the first's other page settings (the map's size).
                train.settings.update(|settings| settings.run = next);
                train.start(state.choice.get_untracked(), Callback::new(move |command| page.send(command)));
            }
        } else if matches!(event, Event::TrainingFailed { .. } | Event::TrainingStopped { .. }) {
            page.next_run.set(None);
        }
        return;
    }
    if explore.apply(&mut event) {
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
            if choice == BackendChoice::Cpu {
                page.use_threads_for_the_cpu();
            }
        }
        Event::Pong(report) => state.ping.set(PingState::Done(report)),
        Event::Failed { backend, message } => state.ping.set(PingState::Failed { backend, message }),
        Event::DatasetList { datasets } => data.list.set(ListState::Ready(datasets)),
        Event::DatasetListFailed { message } => data.list.set(ListState::Failed(message)),
        Event::DatasetProgress(progress) => data.load.set(LoadState::Loading(progress)),
        Event::DatasetReady(summary) => {
            data.held.set(Some(summary.clone()));
            data.load.set(LoadState::Ready(summary));
            // A switch to the threaded worker waits for a folder of pictures or dropped files.
            page.use_threads_for_the_cpu();
        }
        Event::DatasetFailed { message } => {
            data.load.set(LoadState::Failed(message));
            page.use_threads_for_the_cpu();
        }
        Event::PicturesPartRead { index } => data.parts_read.set(index + 1),
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
        compare: CompareState::load(),
        next_run: RwSignal::new(None),
        engine: StoredValue::new_local(None),
        engine_kind: StoredValue::new(EngineKind::Usual),
        threads_ended: StoredValue::new(None),
        lesson_backend: opened_with.as_ref().and_then(|lesson| lesson.backend),
        warm_up_asked: StoredValue::new(None),
        warm_up_generation: StoredValue::new(0),
    };
    let Page { backend: state, data, train, alerts, explore, .. } = page;
    if let Some(opened) = opened_with {
        train.settings.set(opened.settings);
    }
    page.start_first_engine();
    let send = move |command: Command| page.send(command);
    // A lesson that hides the dataset card loads the first served dataset for the class.
    Effect::new(move |_| {
        let hidden = lesson.hidden.with(|hidden| hidden.contains(&Control::Dataset));
        let listed = matches!(data.list.get(), ListState::Ready(ref datasets) if !datasets.is_empty());
        if hidden && listed && matches!(data.load.get_untracked(), LoadState::Idle) {
            data.load_selected(Callback::new(send));
        }
    });
    let dataset_ready = Signal::derive(move || data.ready());
    // "Try it": the class demo on the loaded dataset, or on the first served one once it is loaded.
    let try_pending = RwSignal::new(false);
    let try_it = move |()| {
        train.settings.set(TrainSettings::of(state.choice.get_untracked(), RunSpec::class_demo()));
        if dataset_ready.get_untracked() {
            train.start(state.choice.get_untracked(), Callback::new(send));
        } else {
            try_pending.set(true);
            if !matches!(data.load.get_untracked(), LoadState::Loading(_) | LoadState::Reading) {
                data.load_selected(Callback::new(send));
            }
        }
    };
    Effect::new(move |_| {
        if !try_pending.get() {
            return;
        }
        // Another run started meanwhile (a resumed one): "Try it" gives way, and can be pressed again.
        if train.phase.get().is_active() || matches!(data.load.get(), LoadState::Failed(_)) {
            try_pending.set(false);
        } else if dataset_ready.get() {
            try_pending.set(false);
            train.start(state.choice.get_untracked(), Callback::new(send));
        }
    });
    // The run's threshold (best F1 of the latest evaluation): a searched picture below it is
    // unlike every class.
    let run_threshold = Signal::derive(move || {
        train.evaluations.with(|all| {
            let latest = all.last()?;
            let set = tripletlab_core::metrics::Verification::new(&latest.scores, &latest.labels).ok()?;
            Some(set.best_f1().threshold)
        })
    });
    // A lesson's two runs: the first now (the form's settings), the second when it finishes.
    let train_both = move |()| {
        if let Some((first, second)) = lesson.compare.get_untracked() {
            // The lesson's first run, whatever the form holds now (the second, after a first try).
            train.settings.update(|settings| settings.run = first);
            page.next_run.set(Some(second));
            train.start(state.choice.get_untracked(), Callback::new(send));
        }
    };
    let try_disabled = Signal::derive(move || {
        let listed = matches!(data.list.get(), ListState::Ready(ref datasets) if !datasets.is_empty());
        train.phase.get().is_active() || try_pending.get() || !(listed || dataset_ready.get())
    });
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

    page.warm_up_the_gpu_ahead();

    view! {
        <a class="skip-link" href="#results-title">"Skip to the results"</a>
        <header class="masthead">
            <div>
                <h1>"Triplet Lab"</h1>
                <p class="tagline">
                    "Train a triplet-loss image encoder in your browser. Nothing leaves this page."
                </p>
            </div>
            <TryIt disabled=try_disabled on_try=Callback::new(try_it) pending=try_pending.into() />
        </header>
        <LessonBanner
            state=lesson
            can_train=Signal::derive(move || dataset_ready.get() && !train.phase.get().is_active())
            on_train_both=Callback::new(train_both)
        />
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
                    <RecipeSummary settings=train.settings />
                </div>
                <glossary::Glossary />
            </section>
            <section class="panel results" aria-labelledby="results-title">
                <h2 id="results-title" tabindex="-1">"Results"</h2>
                <LiveView state=train />
                <mining::MiningView state=train />
                <ResultsView
                    state=train
                    precision=Signal::derive(move || {
                        explore.map.with(|map| {
                            map.as_ref().and_then(|map| map.retrieval.as_ref()).map(|r| r.per_class.clone()).unwrap_or_default()
                        })
                    })
                />
                <CompareView state=page.compare />
                <anatomy::TripletAnatomy state=train />
                <ExploreView state=explore send=Callback::new(send) threshold=run_threshold />
                <Show when=move || explore.map.with(Option::is_some)>
                    <enrol::EnrolView explore=explore train=train send=Callback::new(send) threshold=run_threshold />
                </Show>
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

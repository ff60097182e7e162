//! The one conversation between the page and the engine worker: commands in, events out.
//! Shared by the page (`tripletlab-web`) and the worker (`tripletlab-engine`), and free of burn, so
//! the page's wasm carries no tensor code.
//!
//! The page never touches a tensor; the worker never touches the DOM. Every message is a serde
//! type below, so the whole conversation can be read in this file.

pub mod lesson;

use serde::{Deserialize, Serialize};
use tripletlab_core::data::Dataset;
use tripletlab_core::data::manifest::IndexEntry;
use tripletlab_core::data::triplets::Triplet;
use tripletlab_core::metrics::Retrieval;
pub use tripletlab_core::mining::{MinedCounts, Mining, MiningConfig};
pub use tripletlab_core::run::RunSpec;
use tripletlab_core::selfcheck::MatmulCheck;

/// Where the worker runs its tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendChoice {
    /// burn's wgpu backend on the browser's WebGPU adapter.
    WebGpu,
    /// burn's flex backend: pure Rust on the CPU, inside WebAssembly.
    Cpu,
}

impl BackendChoice {
    /// Short label for buttons and reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::WebGpu => "WebGPU",
            Self::Cpu => "CPU",
        }
    }
}

/// What the page asks of the worker.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Look for a WebGPU adapter; answered by [`Event::Adapter`].
    ProbeAdapter,
    /// Start `backend` (once) and compute a known matrix product on it; answered by
    /// [`Event::Pong`] or [`Event::Failed`].
    Ping { backend: BackendChoice },
    /// Read the list of datasets served with the page; answered by [`Event::DatasetList`].
    ListDatasets { index_url: String },
    /// Load a dataset into the worker; answered by [`Event::DatasetProgress`] events, then
    /// [`Event::DatasetReady`] or [`Event::DatasetFailed`].
    LoadDataset(DatasetRequest),
    /// Train on the loaded dataset; answered by [`Event::TrainingStarted`], then [`Event::Step`]s,
    /// [`Event::EpochDone`] and [`Event::Evaluated`] per epoch, and one of the end events.
    StartTraining(TrainSettings),
    /// Finish the current step, store a checkpoint, and wait ([`Event::TrainingPaused`]).
    Pause,
    /// Go on after a pause ([`Event::TrainingResumed`]).
    Resume,
    /// Finish the current step, store a checkpoint, and end the run ([`Event::TrainingStopped`]).
    Stop,
    /// Score the held-out pairs with the current weights now ([`Event::Evaluated`]).
    EvaluateNow,
    /// Is there a run stored in this browser? Answered by [`Event::SavedRun`].
    FindSavedRun,
    /// Continue the stored run from its last checkpoint (loading its dataset again if needed).
    ResumeSaved { backend: BackendChoice },
    /// Delete the stored run ([`Event::SavedRun`] with `None`).
    ForgetSaved,
    /// Send the latest checkpoint as a file ([`Event::Exported`]).
    ExportCheckpoint,
    /// Store a checkpoint file (from this page or `tripletlab train`) as the run to resume;
    /// answered by [`Event::SavedRun`] or [`Event::TrainingFailed`].
    ImportCheckpoint { name: String, bytes: Vec<u8> },
    /// The `k` nearest images of the latest embedding map to a query, by the current model;
    /// answered by [`Event::SearchResults`] or [`Event::SearchFailed`].
    Search { query: SearchQuery, k: u32 },
}

/// What to search with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SearchQuery {
    /// An image of the map (a dataset index).
    Image(u32),
    /// The visitor's own picture, any size or format the browser decodes; resized to 32 x 32 in
    /// the worker. It never leaves the browser.
    Picture { name: String, bytes: Vec<u8> },
}

/// A run as the page starts it: the run's description (the one the CLI, the lesson link and the
/// checkpoint carry too), and what is the page's own: the backend and the embedding map's size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub backend: BackendChoice,
    pub run: RunSpec,
    /// Most held-out images on the embedding map (and searched), 100 to 10,000.
    #[serde(default = "default_map_images")]
    pub map_images: u32,
}

/// The embedding map's default size: enough to see classes, quick to embed on a CPU.
pub const DEFAULT_MAP_IMAGES: u32 = 1_500;

fn default_map_images() -> u32 {
    DEFAULT_MAP_IMAGES
}

impl TrainSettings {
    /// The published tutorial's recipe (see docs/recipe.md).
    pub fn tutorial(backend: BackendChoice) -> Self {
        Self { backend, run: RunSpec::tutorial(), map_images: DEFAULT_MAP_IMAGES }
    }

    /// A run that shows something within a minute, even on a CPU: a small random-init model.
    pub fn quick_demo(backend: BackendChoice) -> Self {
        Self { backend, run: RunSpec::quick_demo(), map_images: DEFAULT_MAP_IMAGES }
    }
}

/// Where a dataset comes from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum DatasetRequest {
    /// A dataset prepared by `tripletlab prepare` and served with the page: fetched shard by
    /// shard, verified, and cached in the browser. `max_shards` keeps only the first shards.
    Served { manifest_url: String, max_shards: Option<u32> },
    /// Files the visitor chose: a `cifar-10-binary.tar.gz`, or `.bin` batch files with
    /// `batches.meta.txt`. Read in the worker; nothing is uploaded anywhere.
    Dropped { files: Vec<DroppedFile> },
}

/// One file the visitor chose, read in the page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DroppedFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// What the worker tells the page.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Event {
    /// The result of [`Command::ProbeAdapter`].
    Adapter(AdapterReport),
    /// The result of [`Command::Ping`].
    Pong(PingReport),
    /// A command could not be carried out; `message` says why, for the visitor.
    Failed {
        backend: BackendChoice,
        message: String,
    },
    /// The datasets served with the page (empty when none were prepared).
    DatasetList {
        datasets: Vec<IndexEntry>,
    },
    /// The dataset index could not be read.
    DatasetListFailed {
        message: String,
    },
    /// Loading a dataset moved on.
    DatasetProgress(LoadProgress),
    /// A dataset is loaded, verified and parsed; the worker keeps it for training.
    DatasetReady(DatasetSummary),
    /// Loading failed; nothing partial was kept. `message` names the file and the problem.
    DatasetFailed {
        message: String,
    },
    /// A run began (or resumed: `history` then holds what came before).
    TrainingStarted(RunInfo),
    /// One optimisation step finished.
    Step(StepEvent),
    /// An epoch finished (its held-out loss included).
    EpochDone(EpochEvent),
    /// The held-out pairs were scored.
    Evaluated(Evaluation),
    TrainingPaused {
        saved: bool,
    },
    TrainingResumed,
    /// Stopped by the visitor; the last checkpoint is stored when `saved`.
    TrainingStopped {
        saved: bool,
    },
    /// All epochs ran, or early stopping ended the run (the best weights restored).
    TrainingFinished {
        best_epoch: Option<u32>,
        saved: bool,
    },
    /// Training could not go on. What was trained up to the last checkpoint is kept.
    TrainingFailed {
        message: String,
        hint: String,
    },
    /// The run stored in this browser, if any.
    SavedRun(Option<SavedRunInfo>),
    /// Something went wrong that did not stop the work: a file the browser would not cache, a
    /// checkpoint it would not store. The page shows it until the visitor dismisses it.
    Warning {
        message: String,
    },
    /// The held-out images on a 2-D map (after each evaluation).
    EmbeddingMap(EmbeddingMap),
    SearchResults(SearchResults),
    SearchFailed {
        message: String,
    },
    /// A checkpoint file for the visitor to save.
    Exported {
        file_name: String,
        bytes: Vec<u8>,
    },
}

/// What a run is, as it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub backend: BackendChoice,
    pub device: String,
    pub dataset: String,
    pub synthetic: bool,
    pub train_triplets: u32,
    pub held_out_triplets: u32,
    pub steps_per_epoch: u32,
    pub settings: TrainSettings,
    /// Where a resumed run picks up (epochs done, steps into the next one); `None` for a new run.
    pub resumed_at: Option<(u32, u32)>,
    pub history: RunHistory,
}

/// One step, for the live view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEvent {
    /// 1-based epoch and step within it.
    pub epoch: u32,
    pub step: u32,
    pub steps_per_epoch: u32,
    /// Steps since the run began (across resumes).
    pub global_step: u32,
    pub loss: f32,
    pub active_fraction: f32,
    pub mean_positive_distance: f32,
    pub mean_negative_distance: f32,
    pub triplets_per_second: f64,
    pub ms_per_step: f64,
    /// Training time so far (this session and earlier ones), seconds.
    pub elapsed_s: f64,
    /// The engine's WebAssembly memory after the step, bytes (it only grows; flat once the run
    /// has warmed up, which the soak test checks).
    pub memory_bytes: u64,
    /// With online mining: the batch's valid and active triplets and how many were mined.
    #[serde(default)]
    pub mined: Option<MinedCounts>,
    /// On WebGPU: the kernels the step dispatched (none on the CPU backend, which is not a GPU
    /// runtime).
    #[serde(default)]
    pub dispatches: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochEvent {
    pub epoch: u32,
    pub loss: f64,
    pub val_loss: f64,
    pub improved: bool,
}

/// The held-out pairs scored by angular similarity (genuine pairs first).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Epochs done when scored.
    pub epoch: u32,
    pub global_step: u32,
    pub scores: Vec<f64>,
    pub labels: Vec<bool>,
    pub auc: f64,
    /// Sample pairs to look at, both kinds.
    pub gallery: Vec<GalleryPair>,
}

/// Held-out images projected on the first two principal components of their embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingMap {
    pub epoch: u32,
    pub global_step: u32,
    /// Dataset indices of the images, their classes, and their (x, y) on the map.
    pub images: Vec<u32>,
    pub labels: Vec<u8>,
    pub coords: Vec<f32>,
    /// Share of the variance along each axis.
    pub explained: Vec<f64>,
    /// Projected as unit vectors (cosine geometry) or as they are (euclidean).
    pub cosine: bool,
    pub class_names: Vec<String>,
    /// 1:N retrieval among these images with the current model (cosine).
    pub retrieval: Option<RetrievalSummary>,
    /// Pictures (CIFAR layout) of images this run has not sent before.
    pub thumbnails: Vec<(u32, Vec<u8>)>,
    /// Time to embed and project, milliseconds.
    pub millis: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalSummary {
    pub queries: u32,
    pub precision_at_1: f64,
    pub r_precision: f64,
    pub map_at_r: f64,
}

/// The nearest images to a query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResults {
    /// What was searched for ("image 12 (cat)", "photo.png").
    pub query: String,
    /// The query as the encoder saw it: 32 x 32, CIFAR layout.
    pub picture: Vec<u8>,
    /// Its class, when it is an image of the dataset.
    pub label: Option<u8>,
    pub hits: Vec<SearchHit>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub image: u32,
    pub label: u8,
    /// Similarity to the query by the run's distance, in [0, 1] (angular for cosine, 1 / (1 + d) for
    /// euclidean).
    pub similarity: f64,
}

/// Two held-out images and their similarity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GalleryPair {
    /// 32 x 32 RGB, channel-major (CIFAR's layout).
    pub first: Vec<u8>,
    pub second: Vec<u8>,
    pub first_class: String,
    pub second_class: String,
    pub genuine: bool,
    pub score: f64,
}

impl GalleryPair {
    /// Pairs of each kind shown in the gallery.
    pub const SHOWN: usize = 6;

    /// Up to [`Self::SHOWN`] genuine and as many impostor pairs, spread over the held-out set, from
    /// the recipe's scores (`scores[i]` the genuine pair of held-out triplet `i`, `scores[count + i]`
    /// its impostor pair): genuine pair k and impostor pair k are triplet
    /// `evenly_spaced(count, shown)[k]`'s (anchor, positive) and (anchor, negative), so the page's
    /// triplet anatomy can put them side by side. `None` when the scores are not two per triplet.
    pub fn gallery(data: &Dataset, held_out: &[Triplet], scores: &[f64]) -> Option<Vec<Self>> {
        let count = held_out.len();
        if scores.len() != 2 * count {
            return None;
        }
        let class = |index: u32| {
            let label = data.labels.get(index as usize).map_or(usize::MAX, |&label| label as usize);
            data.class_names.get(label).cloned().unwrap_or_else(|| format!("class {label}"))
        };
        let pair = |first: u32, second: u32, genuine: bool, score: f64| GalleryPair {
            first: data.image(first as usize).to_vec(),
            second: data.image(second as usize).to_vec(),
            first_class: class(first),
            second_class: class(second),
            genuine,
            score,
        };
        let picks = tripletlab_core::explore::evenly_spaced(count, Self::SHOWN);
        let genuine = picks.iter().map(|&at| pair(held_out[at].anchor, held_out[at].positive, true, scores[at]));
        let impostor =
            picks.iter().map(|&at| pair(held_out[at].anchor, held_out[at].negative, false, scores[count + at]));
        Some(genuine.chain(impostor).collect())
    }
}

impl From<&Retrieval> for RetrievalSummary {
    fn from(found: &Retrieval) -> Self {
        Self {
            // `queries` already leaves out lone queries (a class with one image here).
            queries: found.queries as u32,
            precision_at_1: found.precision_at_1,
            r_precision: found.r_precision,
            map_at_r: found.map_at_r,
        }
    }
}

/// What the charts need to show a run's past after a reload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunHistory {
    /// `(global step, loss)`, thinned to at most [`RunHistory::MAX_POINTS`] evenly spaced points.
    pub steps: Vec<(u32, f32)>,
    /// Keep every `stride`-th step.
    pub stride: u32,
    pub epochs: Vec<EpochEvent>,
    /// `(epochs done, AUC)` of each evaluation.
    pub aucs: Vec<(u32, f64)>,
    pub elapsed_s: f64,
    pub global_step: u32,
}

impl RunHistory {
    pub const MAX_POINTS: usize = 2_000;

    /// Record a step's loss, halving the density whenever the history is full.
    pub fn push_step(&mut self, global_step: u32, loss: f32) {
        let stride = self.stride.max(1);
        if global_step.is_multiple_of(stride) {
            self.steps.push((global_step, loss));
        }
        if self.steps.len() > Self::MAX_POINTS {
            self.stride = stride * 2;
            let stride = self.stride;
            self.steps.retain(|(step, _)| step.is_multiple_of(stride));
        }
        self.global_step = global_step;
    }

    /// Record an evaluation's AUC; a second evaluation after the same epochs (evaluate now, a
    /// resume) replaces the first.
    pub fn record_auc(&mut self, epochs_done: u32, auc: f64) {
        self.aucs.retain(|&(done, _)| done != epochs_done);
        self.aucs.push((epochs_done, auc));
    }
}

/// The run stored in this browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedRunInfo {
    pub dataset: String,
    pub epochs_done: u32,
    pub step_in_epoch: u32,
    pub global_step: u32,
    pub epochs: u32,
    pub finished: bool,
    /// Milliseconds since 1970 when it was stored.
    pub saved_at_ms: f64,
    pub bytes: u64,
}

impl SavedRunInfo {
    /// The name an exported checkpoint is offered under: the dataset's first word, the epochs done
    /// and the global step, e.g. `tripletlab-cifar-10-epoch3-step420.safetensors`.
    pub fn file_name(&self) -> String {
        let dataset: String = self
            .dataset
            .split_whitespace()
            .next()
            .unwrap_or("run")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
            .collect();
        format!("tripletlab-{dataset}-epoch{}-step{}.safetensors", self.epochs_done, self.global_step)
    }
}

/// How far loading has come.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadProgress {
    pub shards_done: u32,
    pub shards_total: u32,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Shards found, verified, in the browser's cache (not downloaded).
    pub from_cache: u32,
    /// The file being read now.
    pub current: String,
}

/// What was loaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    pub name: String,
    /// Generated shapes, not CIFAR-10: the page says so.
    pub synthetic: bool,
    pub images: u64,
    pub class_names: Vec<String>,
    pub class_counts: Vec<u64>,
    pub shards: u32,
    pub from_cache: u32,
    pub downloaded_bytes: u64,
    pub millis: f64,
}

/// The WebGPU adapter the browser offers, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AdapterReport {
    Available(AdapterInfo),
    Unavailable(NoAdapter),
}

/// The fields of `GPUAdapterInfo` worth showing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterInfo {
    pub vendor: String,
    pub architecture: String,
    pub device: String,
    pub description: String,
    /// A software or otherwise reduced-capability adapter (e.g. SwiftShader): slow.
    pub is_fallback: bool,
}

/// Why there is no WebGPU adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum NoAdapter {
    /// The browser has no `navigator.gpu` in workers: no WebGPU support, or it is switched off.
    NoApi,
    /// `navigator.gpu.requestAdapter()` returned null: WebGPU exists but offers no adapter
    /// (blocklisted GPU, disabled flag, headless without a GPU).
    NoAdapter,
    /// Asking for an adapter threw an error.
    RequestFailed(String),
}

impl NoAdapter {
    /// A sentence a visitor can act on.
    pub fn explain(&self) -> String {
        match self {
            Self::NoApi => "This browser does not offer WebGPU to web workers (navigator.gpu is \
                 missing). Recent Chrome, Edge and Safari have it; in Firefox it depends on \
                 version and platform."
                .to_string(),
            Self::NoAdapter => "WebGPU is present but returned no adapter: the GPU may be \
                 blocklisted or WebGPU switched off (on Linux, Chrome needs \
                 chrome://flags/#enable-unsafe-webgpu)."
                .to_string(),
            Self::RequestFailed(err) => format!("Asking the browser for a WebGPU adapter failed: {err}"),
        }
    }
}

/// The worker's answer to a ping: which backend ran, and its arithmetic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingReport {
    pub backend: BackendChoice,
    /// The burn backend and device that did the work, as the worker names it.
    pub device: String,
    pub check: MatmulCheck,
    /// Time for the whole ping, including starting the device the first time.
    pub millis: f64,
}

/// The page's name for the engine worker. gloo-worker types a bridge by a `Worker`; this one only
/// fixes the message types (those of `tripletlab_engine::Engine`) and never runs: the worker script
/// registers the real engine. The page names this type, not the engine's, so it links no burn.
#[cfg(target_arch = "wasm32")]
pub struct EngineLink;

#[cfg(target_arch = "wasm32")]
impl gloo_worker::Worker for EngineLink {
    type Message = ();
    type Input = Command;
    type Output = Event;

    fn create(_scope: &gloo_worker::WorkerScope<Self>) -> Self {
        Self
    }

    fn update(&mut self, _scope: &gloo_worker::WorkerScope<Self>, _msg: Self::Message) {}

    fn received(&mut self, _scope: &gloo_worker::WorkerScope<Self>, _msg: Self::Input, _id: gloo_worker::HandlerId) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_history_is_thinned_evenly_and_keeps_the_latest_step() {
        let mut history = RunHistory::default();
        for step in 1..=10_000u32 {
            history.push_step(step, step as f32);
        }
        assert!(history.steps.len() <= RunHistory::MAX_POINTS, "{}", history.steps.len());
        assert!(history.steps.len() > RunHistory::MAX_POINTS / 2, "{}", history.steps.len());
        assert_eq!(history.stride, 8, "10,000 steps need every 8th to fit 2,000");
        assert!(history.steps.iter().all(|(step, _)| step % history.stride == 0));
        assert_eq!(history.global_step, 10_000);
        let gaps: Vec<u32> = history.steps.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(gaps.iter().all(|&gap| gap == history.stride), "evenly spaced");
    }

    /// `n` images whose every pixel is the image's index, labels cycling over three named classes
    /// (the fourth label has no name).
    fn numbered_images(n: usize) -> Dataset {
        use tripletlab_core::data::cifar::IMAGE_BYTES;
        Dataset {
            name: "numbered test images".into(),
            synthetic: true,
            class_names: vec!["cat".into(), "dog".into(), "ship".into()],
            labels: (0..n).map(|i| [0, 1, 2, 3][i % 4]).collect(),
            pixels: (0..n).flat_map(|i| std::iter::repeat_n(i as u8, IMAGE_BYTES)).collect(),
        }
    }

    #[test]
    fn the_gallery_pairs_each_shown_triplet_with_its_own_two_scores() {
        let data = numbered_images(40);
        // Ten held-out triplets: triplet i is (3i, 3i + 1, 3i + 2); genuine scores 0.i, impostor 0.5 + 0.0i.
        let held_out: Vec<Triplet> =
            (0..10u32).map(|i| Triplet { anchor: 3 * i, positive: 3 * i + 1, negative: 3 * i + 2 }).collect();
        let scores: Vec<f64> =
            (0..10).map(|i| f64::from(i) / 10.0).chain((0..10).map(|i| 0.5 + f64::from(i) / 100.0)).collect();
        let gallery = GalleryPair::gallery(&data, &held_out, &scores).expect("two scores a triplet");
        // evenly_spaced(10, 6) = [0, 1, 3, 5, 6, 8]: six genuine pairs, then the same six triplets' impostors.
        let shown = [0u32, 1, 3, 5, 6, 8];
        assert_eq!(gallery.len(), 12);
        for (k, &at) in shown.iter().enumerate() {
            let (genuine, impostor) = (&gallery[k], &gallery[6 + k]);
            assert!(genuine.genuine && !impostor.genuine);
            assert_eq!((genuine.first[0], genuine.second[0]), (3 * at as u8, 3 * at as u8 + 1), "pair {k}");
            assert_eq!((impostor.first[0], impostor.second[0]), (3 * at as u8, 3 * at as u8 + 2), "pair {k}");
            assert_eq!(genuine.score, f64::from(at) / 10.0);
            assert_eq!(impostor.score, 0.5 + f64::from(at) / 100.0);
        }
        // Image 3 is label 3, which has no name; image 0 is a cat, image 1 a dog, image 2 a ship.
        assert_eq!((gallery[0].first_class.as_str(), gallery[0].second_class.as_str()), ("cat", "dog"));
        assert_eq!(gallery[6].second_class, "ship");
        assert_eq!(gallery[1].first_class, "class 3");
        // Fewer triplets than pairs shown: all of them; scores that are not two a triplet: none.
        assert_eq!(GalleryPair::gallery(&data, &held_out[..2], &[0.9, 0.8, 0.1, 0.2]).map(|g| g.len()), Some(4));
        assert_eq!(GalleryPair::gallery(&data, &held_out, &scores[..19]), None);
    }

    /// Five images: two cats close together, two dogs close together, one lone ship. Four queries
    /// count (the ship has no other member), all four find their own class first. The page's line
    /// took the lone queries off a count that had already left them out (4 - 1 = 3).
    #[test]
    fn the_retrieval_summary_counts_the_queries_that_have_a_class_mate() {
        use tripletlab_core::metrics::{RetrievalConfig, retrieval};
        let rows = [1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9, -1.0, -1.0];
        let found = retrieval(&rows, 2, &[0, 0, 1, 1, 2], &RetrievalConfig::default()).expect("retrieval");
        let summary = RetrievalSummary::from(&found);
        assert_eq!((found.queries, found.lone_queries), (4, 1));
        assert_eq!(summary.queries, 4);
        assert_eq!((summary.precision_at_1, summary.r_precision, summary.map_at_r), (1.0, 1.0, 1.0));
    }

    #[test]
    fn an_evaluation_after_the_same_epochs_replaces_the_earlier_auc() {
        let mut history = RunHistory::default();
        history.record_auc(0, 0.70);
        history.record_auc(1, 0.80);
        history.record_auc(1, 0.82);
        history.record_auc(2, 0.85);
        assert_eq!(history.aucs, vec![(0, 0.70), (1, 0.82), (2, 0.85)]);
    }

    #[test]
    fn an_exported_checkpoint_is_named_by_its_dataset_epoch_and_step() {
        let info = |dataset: &str| SavedRunInfo {
            dataset: dataset.into(),
            epochs_done: 3,
            step_in_epoch: 0,
            global_step: 420,
            epochs: 50,
            finished: false,
            saved_at_ms: 0.0,
            bytes: 1,
        };
        assert_eq!(info("cifar-10").file_name(), "tripletlab-cifar-10-epoch3-step420.safetensors");
        assert_eq!(
            info("synthetic-shapes (SYNTHETIC)").file_name(),
            "tripletlab-synthetic-shapes-epoch3-step420.safetensors"
        );
        assert_eq!(info("my/../files").file_name(), "tripletlab-my----files-epoch3-step420.safetensors");
        assert_eq!(info("").file_name(), "tripletlab-run-epoch3-step420.safetensors");
    }

    #[test]
    fn presets_differ_where_a_demo_must_be_fast() {
        let tutorial = TrainSettings::tutorial(BackendChoice::Cpu).run;
        assert_eq!((tutorial.model.width, tutorial.batch_size, tutorial.learning_rate), (1.0, 64, 1e-4));
        assert!(tutorial.pretrained && tutorial.data.held_out == 0.05 && tutorial.loss.margin == 0.4);
        let demo = TrainSettings::quick_demo(BackendChoice::WebGpu);
        assert!(!demo.run.pretrained && demo.run.model.width < 1.0 && demo.run.data.images > 0);
        assert_eq!(demo.backend, BackendChoice::WebGpu);
    }
}

//! The one conversation between the page and the engine worker: commands in, events out.
//! Shared by the page (`tripletlab-web`) and the worker (`tripletlab-engine`), and free of burn, so
//! the page's wasm carries no tensor code.
//!
//! The page never touches a tensor; the worker never touches the DOM. Every message is a serde
//! type below, so the whole conversation can be read in this file.

pub mod lesson;

use serde::{Deserialize, Serialize};
use tripletlab_core::data::manifest::IndexEntry;
pub use tripletlab_core::loss::Distance;
pub use tripletlab_core::mining::{Hardness, HardnessCounts, MinedCounts, MinedMatrix, Mining, MiningConfig};
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
    /// Send the loaded dataset as a CIFAR-10 binary archive ([`Event::Exported`]).
    ExportDataset,
    /// Send the latest map's images, embeddings and classes as the Embedding Projector's files,
    /// in one tar ([`Event::Exported`]).
    ExportProjector,
    /// Store a checkpoint file (from this page or `tripletlab train`) as the run to resume;
    /// answered by [`Event::SavedRun`] or [`Event::TrainingFailed`].
    ImportCheckpoint { name: String, bytes: Vec<u8> },
    /// The `k` nearest images of the latest embedding map to a query, by the current model;
    /// answered by [`Event::SearchResults`] or [`Event::SearchFailed`].
    Search { query: SearchQuery, k: u32 },
    /// Enrol a class the model never trained on, by the latest map's model (nothing is
    /// retrained): its pictures scored against each other and against the map's other classes;
    /// answered by [`Event::Enrolled`] (again after each new map) or [`Event::EnrolFailed`].
    Enrol { class: String, source: EnrolSource },
    /// Score a new picture against the enrolled class ([`Event::Verified`] or
    /// [`Event::EnrolFailed`]).
    Verify { name: String, bytes: Vec<u8> },
    /// Compile on WebGPU, ahead of a run, the kernels a run of these settings dispatches first
    /// (its evaluation and one step, launched dry: compiled, then dropped, nothing computed), so
    /// that its first step does not wait for them, and download the shipped weights it starts
    /// from into the browser's cache; answered by [`Event::WarmUp`] events. Any
    /// command that computes, or a newer request, stops it between its passes (a WebGPU run of
    /// the same settings lets it finish, and waits).
    WarmUp(RunSpec),
}

/// The pictures a class is enrolled with.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum EnrolSource {
    /// The visitor's own pictures (files or the camera's), decoded and made 32 x 32 in the worker.
    Pictures(Vec<DroppedFile>),
    /// The map's images of one of its classes (by label): with the class split, a class the run
    /// never trained on.
    MapClass(u8),
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
        Self::of(backend, RunSpec::quick_demo())
    }

    /// `run` on `backend`, with the page's default map.
    pub fn of(backend: BackendChoice, run: RunSpec) -> Self {
        Self { backend, run, map_images: DEFAULT_MAP_IMAGES }
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
    /// A folder of pictures the visitor chose, its sub-folders the classes: each file's `name` is
    /// its path inside the folder (`cat/1.jpg`); a `.zip` of such a folder is unpacked. Decoded
    /// and made 32 x 32 in the worker. A large folder comes in parts, each answered by
    /// [`Event::PicturesPartRead`] before the page reads the next (the page never holds the
    /// whole folder; the worker keeps only the 32 x 32 pictures); the last part by
    /// [`Event::DatasetReady`] or [`Event::DatasetFailed`].
    Pictures { files: Vec<DroppedFile>, part: PicturesPart },
    /// The last folder of pictures (or camera pictures) that loaded, as the worker kept it in the
    /// browser's cache (its 32 x 32 pictures in the CIFAR-10 format): after a reload, or when a
    /// fresh worker takes over.
    KeptPictures,
}

/// Which part of a folder of pictures a request holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PicturesPart {
    /// 0-based; part 0 starts a new folder.
    pub index: u32,
    pub count: u32,
    /// Files in the parts before this one, and in all parts (for the progress line).
    pub files_before: u32,
    pub files_total: u32,
}

impl PicturesPart {
    /// All `files` in one part.
    pub fn whole(files: usize) -> Self {
        let files = u32::try_from(files).unwrap_or(u32::MAX);
        Self { index: 0, count: 1, files_before: 0, files_total: files }
    }

    pub fn is_last(&self) -> bool {
        self.index + 1 >= self.count
    }
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
    /// How far [`Command::WarmUp`] has got.
    WarmUp(WarmUpReport),
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
    /// A part of a folder of pictures was read (not the last): send the next.
    PicturesPartRead {
        index: u32,
    },
    /// Loading failed; nothing partial was kept. `message` names the file and the problem.
    DatasetFailed {
        message: String,
    },
    /// A run began (or resumed: `history` then holds what came before).
    TrainingStarted(RunInfo),
    /// A step on a GPU backend is under way: the kernels it has dispatched so far (sent every
    /// few hundred dispatches, so a slow step, above all the first, which compiles each kernel
    /// before its first dispatch, shows that it moves).
    StepProgress(StepProgress),
    /// One optimisation step finished.
    Step(StepEvent),
    /// A mined step's batch for the heat map (online mining only; at most a few a second).
    MinedBatch(MinedBatchView),
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
    /// The enrolled class scored by the latest map's model.
    Enrolled(EnrolmentView),
    /// A new picture scored against the enrolled class.
    Verified(VerdictView),
    EnrolFailed {
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
    /// Images the run draws its triplets from, and the distinct images of its held-out triplets.
    #[serde(default)]
    pub images: u32,
    #[serde(default)]
    pub held_out_images: u32,
    /// With the class split: the classes held out whole, never trained on.
    #[serde(default)]
    pub unseen_classes: Vec<String>,
    pub steps_per_epoch: u32,
    pub settings: TrainSettings,
    /// Where a resumed run picks up (epochs done, steps into the next one); `None` for a new run.
    pub resumed_at: Option<(u32, u32)>,
    pub history: RunHistory,
}

/// The GPU kernels of a run's settings compiled ahead ([`Command::WarmUp`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarmUpReport {
    /// The settings as warmed ([`RunSpec::warm_up_spec`]): what decides which kernels a run compiles.
    pub spec: RunSpec,
    pub state: WarmUpState,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WarmUpState {
    /// Under way: kernels compiled (or found compiled) so far.
    Compiling { dispatched: u64 },
    /// Done: the seconds it took and the kernels one step dispatches (what the run's first step
    /// will dispatch).
    Ready { seconds: f64, step_dispatches: u32 },
    /// Given up for a run or for newer settings.
    Stopped,
    /// It failed (the run will compile its kernels itself).
    Failed { message: String },
}

/// A GPU step under way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepProgress {
    /// The step under way (counted since the run began, from 1).
    pub global_step: u32,
    /// Kernels it has dispatched so far.
    pub dispatched: u64,
    /// The kernels the previous step dispatched, when one finished: about what this one will.
    pub expected: Option<u32>,
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

/// One mined P x K batch as the step saw it: its distance matrix with the images' pixels (the
/// page shows a clicked cell's triplet) and class names, and the run's margin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinedBatchView {
    pub epoch: u32,
    pub step: u32,
    pub global_step: u32,
    pub matrix: MinedMatrix,
    /// Each image's pixels, 3 x 32 x 32 channel by channel, and its class name.
    pub pixels: Vec<Vec<u8>>,
    pub class_names: Vec<String>,
    pub margin: f32,
    /// The loss's distance (what the matrix holds).
    pub distance: Distance,
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
    /// Epochs done when scored (0: before training).
    pub epoch: u32,
    pub global_step: u32,
    /// The epoch whose weights were scored, where the run ended by restoring an earlier epoch's
    /// (the lowest held-out loss); `None` when they are the latest.
    #[serde(default)]
    pub restored_epoch: Option<u32>,
    pub scores: Vec<f64>,
    pub labels: Vec<bool>,
    pub auc: f64,
    /// Sample pairs to look at, both kinds.
    pub gallery: Vec<GalleryPair>,
    /// Each scored pair's two classes (labels), in the order of `scores`: the failure atlas
    /// counts each class's pairs at the page's threshold.
    #[serde(default)]
    pub pair_classes: Vec<(u8, u8)>,
    /// Each class's worst impostor pairs (its highest-scoring), with their pictures.
    #[serde(default)]
    pub worst: Vec<ClassWorst>,
}

/// A class's highest-scoring impostor pairs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassWorst {
    pub label: u8,
    pub class: String,
    pub pairs: Vec<GalleryPair>,
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
    /// Precision@1 of each class's queries, by label.
    #[serde(default)]
    pub per_class: Vec<(u8, f64)>,
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

/// A class enrolled without training: its genuine pairs (its pictures with each other) and its
/// impostor pairs (its pictures with the map's images of every other class), scored by the
/// map's model with the run's similarity (the held-out pairs' scale).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnrolmentView {
    pub class: String,
    /// Enrolled from the map's own images (a class held out of training), not the visitor's.
    pub from_map: bool,
    /// Files that could not be read (each with why), when the rest could.
    pub skipped: Vec<String>,
    /// The map whose model scored it.
    pub epoch: u32,
    pub global_step: u32,
    /// The enrolled pictures as the encoder saw them (32 x 32, CIFAR layout).
    pub pictures: Vec<Vec<u8>>,
    pub genuine: Vec<f64>,
    pub impostor: Vec<f64>,
    /// The map's images scored against, and the classes among them.
    pub gallery: u32,
    pub gallery_classes: Vec<String>,
}

/// A new picture against the enrolled class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerdictView {
    pub name: String,
    pub class: String,
    /// The picture as the encoder saw it.
    pub picture: Vec<u8>,
    /// Mean similarity to the enrolled pictures (compared with the threshold), and the highest.
    pub similarity: f64,
    pub best: f64,
    pub pictures: u32,
    /// The nearest image on the map, with its class.
    pub nearest: Option<(SearchHit, String)>,
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
    /// The AUC of the evaluation before the first step (the untrained model); never replaced by
    /// a later evaluation after 0 epochs (evaluate now, a resume within the first epoch).
    #[serde(default)]
    pub auc_before: Option<f64>,
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

    /// Record an evaluation made at `global_step`: its AUC, and at step 0 the AUC before training.
    pub fn record_evaluation(&mut self, epochs_done: u32, global_step: u32, auc: f64) {
        self.record_auc(epochs_done, auc);
        if global_step == 0 {
            self.auc_before = Some(auc);
        }
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
    /// With the visitor's own pictures: one of each class as the encoder sees it (32 x 32).
    #[serde(default)]
    pub samples: Vec<PictureSample>,
}

/// One picture as it was made 32 x 32, and its class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PictureSample {
    pub class: String,
    /// Its file name (in the class's folder).
    pub file: String,
    /// 3 x 32 x 32, channel by channel.
    pub pixels: Vec<u8>,
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
    fn the_auc_before_training_is_kept_apart_from_later_evaluations() {
        let mut history = RunHistory::default();
        history.record_evaluation(0, 0, 0.70);
        // "Evaluate now" within the first epoch: 0 epochs done, but trained.
        history.record_evaluation(0, 12, 0.81);
        assert_eq!(history.aucs, vec![(0, 0.81)]);
        assert_eq!(history.auc_before, Some(0.70));
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

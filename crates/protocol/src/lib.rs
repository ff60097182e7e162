//! The one conversation between the page and the engine worker: commands in, events out.
//! Shared by the page (`tripletlab-web`) and the worker (`tripletlab-engine`), and free of burn, so
//! the page's wasm carries no tensor code.
//!
//! The page never touches a tensor; the worker never touches the DOM. Every message is a serde
//! type below, so the whole conversation can be read in this file.

use serde::{Deserialize, Serialize};
use tripletlab_core::data::manifest::IndexEntry;
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
    Failed { backend: BackendChoice, message: String },
    /// The datasets served with the page (empty when none were prepared).
    DatasetList { datasets: Vec<IndexEntry> },
    /// The dataset index could not be read.
    DatasetListFailed { message: String },
    /// Loading a dataset moved on.
    DatasetProgress(LoadProgress),
    /// A dataset is loaded, verified and parsed; the worker keeps it for training.
    DatasetReady(DatasetSummary),
    /// Loading failed; nothing partial was kept. `message` names the file and the problem.
    DatasetFailed { message: String },
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

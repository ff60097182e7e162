//! The one conversation between the page and the engine worker: commands in, events out.
//!
//! The page never touches a tensor; the worker never touches the DOM. Every message is a serde
//! type below, so the whole conversation can be read in this file.

use serde::{Deserialize, Serialize};
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

//! The engine: a dedicated Web Worker that owns the burn devices and every tensor. Trunk builds
//! it as the page's worker (see `index.html`); it is only meaningful on wasm32.
#![cfg(target_arch = "wasm32")]
//!
//! Each command runs as its own future on the worker's event loop, so a long computation never
//! blocks the page, and the worker can answer a command with several events over time.

mod adapter;
mod cache;
mod dataset;
mod net;

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use gloo_worker::{HandlerId, Worker, WorkerScope};
use tripletlab_core::data::Dataset;
use tripletlab_core::selfcheck::matmul_check;
use web_time::Instant;

use tripletlab_protocol::{AdapterReport, BackendChoice, Command, DatasetRequest, Event, PingReport};

/// The worker's state: the devices it has started (each can only be started once per page) and
/// the dataset it holds.
pub struct Engine {
    devices: Rc<Devices>,
    dataset: Rc<RefCell<Option<Rc<Dataset>>>>,
}

#[derive(Default)]
struct Devices {
    webgpu: RefCell<Option<Device>>,
    cpu: RefCell<Option<Device>>,
    /// WebGPU can be initialised once per page: a second request while the first is pending
    /// must not start another.
    webgpu_starting: std::cell::Cell<bool>,
}

impl Worker for Engine {
    type Message = ();
    type Input = Command;
    type Output = Event;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        Self { devices: Rc::new(Devices::default()), dataset: Rc::new(RefCell::new(None)) }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: Self::Message) {}

    fn received(&mut self, scope: &WorkerScope<Self>, command: Command, id: HandlerId) {
        let scope = scope.clone();
        let devices = Rc::clone(&self.devices);
        let held = Rc::clone(&self.dataset);
        wasm_bindgen_futures::spawn_local(async move {
            let event = match command {
                Command::ProbeAdapter => Event::Adapter(adapter::probe().await),
                Command::Ping { backend } => ping(&devices, backend).await,
                Command::ListDatasets { index_url } => match dataset::list(&index_url).await {
                    Ok(index) => Event::DatasetList { datasets: index.datasets },
                    Err(err) => Event::DatasetListFailed { message: err.to_string() },
                },
                Command::LoadDataset(request) => {
                    let progress =
                        |state: tripletlab_protocol::LoadProgress| scope.respond(id, Event::DatasetProgress(state));
                    let loaded = match request {
                        DatasetRequest::Served { manifest_url, max_shards } => {
                            dataset::load_served(&manifest_url, max_shards, &progress).await
                        }
                        DatasetRequest::Dropped { files } => dataset::load_dropped(files),
                    };
                    match loaded {
                        Ok((data, summary)) => {
                            *held.borrow_mut() = Some(Rc::new(data));
                            Event::DatasetReady(summary)
                        }
                        Err(err) => Event::DatasetFailed { message: err.to_string() },
                    }
                }
            };
            scope.respond(id, event);
        });
    }
}

async fn ping(devices: &Devices, backend: BackendChoice) -> Event {
    let started = Instant::now();
    let failed = |message: String| Event::Failed { backend, message };
    let device = match devices.get_or_start(backend).await {
        Ok(device) => device,
        Err(message) => return failed(message),
    };
    match matmul_check(&device).await {
        Ok(check) => Event::Pong(PingReport {
            backend,
            device: describe(backend),
            check,
            millis: started.elapsed().as_secs_f64() * 1000.0,
        }),
        Err(err) => failed(err.to_string()),
    }
}

fn describe(backend: BackendChoice) -> String {
    match backend {
        BackendChoice::WebGpu => "burn wgpu on the browser's WebGPU adapter".to_string(),
        BackendChoice::Cpu => "burn flex on the CPU (WebAssembly)".to_string(),
    }
}

impl Devices {
    /// The device for `backend`, started on first use.
    async fn get_or_start(&self, backend: BackendChoice) -> Result<Device, String> {
        let slot = match backend {
            BackendChoice::WebGpu => &self.webgpu,
            BackendChoice::Cpu => &self.cpu,
        };
        if let Some(device) = slot.borrow().as_ref() {
            return Ok(device.clone());
        }
        let device = match backend {
            BackendChoice::Cpu => Device::flex(),
            BackendChoice::WebGpu => {
                if self.webgpu_starting.replace(true) {
                    return Err("WebGPU is still starting; try again in a moment".to_string());
                }
                let started = self.start_webgpu().await;
                self.webgpu_starting.set(false);
                started?
            }
        };
        *slot.borrow_mut() = Some(device.clone());
        Ok(device)
    }

    async fn start_webgpu(&self) -> Result<Device, String> {
        if let AdapterReport::Unavailable(why) = adapter::probe().await {
            return Err(why.explain());
        }
        Device::wgpu_options().init_async().await.map_err(|err| format!("burn could not start WebGPU: {err}"))
    }
}

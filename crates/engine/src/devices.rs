//! The burn devices the worker has started: each backend once per page, WebGPU only after its
//! adapter was found.

use std::cell::{Cell, RefCell};

use burn::tensor::Device;
#[cfg(feature = "webgpu")]
use tripletlab_protocol::AdapterReport;
use tripletlab_protocol::BackendChoice;

#[cfg(feature = "webgpu")]
use crate::adapter;

#[derive(Default)]
pub(crate) struct Devices {
    webgpu: RefCell<Option<Device>>,
    cpu: RefCell<Option<Device>>,
    /// WebGPU can be initialised once per page: a second request while the first is pending
    /// must not start another.
    webgpu_starting: Cell<bool>,
}

impl Devices {
    /// The device for `backend`, started on first use.
    pub(crate) async fn get_or_start(&self, backend: BackendChoice) -> Result<Device, String> {
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

    #[cfg(feature = "webgpu")]
    async fn start_webgpu(&self) -> Result<Device, String> {
        if let AdapterReport::Unavailable(why) = adapter::probe().await {
            return Err(why.explain());
        }
        Device::wgpu_options().init_async().await.map_err(|err| format!("burn could not start WebGPU: {err}"))
    }

    /// The threaded CPU worker is built without burn's wgpu backend (a second WebAssembly build
    /// of it would double the page's build time); the page starts it only for the CPU.
    #[cfg(not(feature = "webgpu"))]
    async fn start_webgpu(&self) -> Result<Device, String> {
        Err("This engine is the threaded CPU worker, built without WebGPU: reload the page to train on WebGPU."
            .to_string())
    }
}

//! The native burn backends the CLI can run on, and how each one starts.

use burn::tensor::Device;
use clap::ValueEnum;

/// A backend the user names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendName {
    /// burn's pure-Rust CPU backend.
    Flex,
    /// burn's wgpu backend: Vulkan, Metal or DX12, whichever adapter the system offers
    /// (Mesa's lavapipe on a machine without a GPU).
    Wgpu,
}

/// A backend that did not start.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "no wgpu adapter could be started ({0}); install a Vulkan driver \
         (on Debian: apt-get install mesa-vulkan-drivers) or use --backend flex"
    )]
    Wgpu(String),
}

impl BackendName {
    /// Start the backend and return its device.
    pub fn init(self) -> Result<Device, BackendError> {
        match self {
            Self::Flex => Ok(Device::flex()),
            Self::Wgpu => Device::wgpu_options().init().map_err(|err| BackendError::Wgpu(err.to_string())),
        }
    }

    /// A human description of the backend.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Flex => "flex (CPU)",
            Self::Wgpu => "wgpu (native GPU API)",
        }
    }
}

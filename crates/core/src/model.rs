//! The encoder: MobileNetV2 as Keras builds it, its pretrained weights, and turning images into
//! input tensors.

#[cfg(feature = "tensors")]
pub mod cpu_ops;
#[cfg(feature = "tensors")]
pub mod input;
#[cfg(feature = "tensors")]
pub mod mobilenetv2;
pub mod safetensors;
#[cfg(feature = "tensors")]
pub mod weights;
pub mod weights_manifest;

#[cfg(feature = "tensors")]
pub use mobilenetv2::MobileNetV2;

mod config;

pub use config::{InputScaling, KERAS_BN_MOMENTUM, MobileNetV2Config};

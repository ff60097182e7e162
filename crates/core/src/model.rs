//! The encoder: MobileNetV2 as Keras builds it, its pretrained weights, and turning images into
//! input tensors.

pub mod input;
pub mod mobilenetv2;
pub mod safetensors;
pub mod weights;

pub use input::InputScaling;
pub use mobilenetv2::{MobileNetV2, MobileNetV2Config};

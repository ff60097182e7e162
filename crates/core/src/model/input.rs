//! CIFAR-layout images (planar RGB bytes) to the encoder's input tensor.

use burn::tensor::{Device, Tensor, TensorData};

pub use super::InputScaling;
use crate::data::cifar::{CHANNELS, IMAGE_BYTES, IMAGE_SIDE};

/// Stack images (each `IMAGE_BYTES` planar RGB bytes) into `[n, 3, 32, 32]`.
pub fn images_to_tensor<'a>(
    images: impl IntoIterator<Item = &'a [u8]>,
    scaling: InputScaling,
    device: &Device,
) -> Tensor<4> {
    let mut values = Vec::new();
    let mut count = 0;
    for image in images {
        debug_assert_eq!(image.len(), IMAGE_BYTES);
        values.extend(image.iter().map(|&byte| scaling.scale(byte)));
        count += 1;
    }
    let data = TensorData::new(values, [count, CHANNELS, IMAGE_SIDE, IMAGE_SIDE]);
    Tensor::from_data(data, device)
}

//! CIFAR-layout images (planar RGB bytes) to the encoder's input tensor.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::cifar::{CHANNELS, IMAGE_BYTES, IMAGE_SIDE};

/// How pixel bytes become input values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InputScaling {
    /// x / 255, in [0, 1]: the recipe's choice.
    #[default]
    Unit,
    /// x / 127.5 - 1, in [-1, 1]: what MobileNetV2 was pretrained on.
    Symmetric,
}

impl InputScaling {
    pub fn scale(self, byte: u8) -> f32 {
        match self {
            Self::Unit => f32::from(byte) / 255.0,
            Self::Symmetric => f32::from(byte) / 127.5 - 1.0,
        }
    }
}

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

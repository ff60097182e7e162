//! The encoder's settings and how pixels become its inputs: free of burn, so the page's form and
//! the run description use them without linking tensor code.

use serde::{Deserialize, Serialize};

/// Keras' BatchNormalization momentum in MobileNetV2 (the weight of the old running statistic).
pub const KERAS_BN_MOMENTUM: f64 = 0.999;

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

/// The encoder's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MobileNetV2Config {
    /// Width multiplier (Keras' alpha): 1.0 is the pretrained model; 0.35 is a small one.
    pub width: f64,
    /// BatchNorm momentum in Keras' sense (the weight of the old running statistic): Keras'
    /// 0.999 suits fine-tuning pretrained statistics; a model trained from random weights for a
    /// few hundred steps needs a faster one (e.g. 0.9) or its inference statistics stay at
    /// their initial values.
    #[serde(default = "keras_bn_momentum")]
    pub bn_momentum: f64,
}

fn keras_bn_momentum() -> f64 {
    KERAS_BN_MOMENTUM
}

impl Default for MobileNetV2Config {
    fn default() -> Self {
        Self { width: 1.0, bn_momentum: KERAS_BN_MOMENTUM }
    }
}

impl MobileNetV2Config {
    /// Keras' settings at this width.
    pub fn with_width(width: f64) -> Self {
        Self { width, ..Self::default() }
    }
}

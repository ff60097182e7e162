//! The optimizer: Adam's settings ([`AdamSettings`], free of burn, part of the run description)
//! and, behind the `tensors` feature, Adam exactly as Keras 3 applies it ([`KerasAdam`]).

use serde::{Deserialize, Serialize};

#[cfg(feature = "tensors")]
mod keras_adam;
#[cfg(feature = "tensors")]
pub use keras_adam::*;

/// Adam's hyper-parameters; the defaults are Keras'.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamSettings {
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
}

impl Default for AdamSettings {
    fn default() -> Self {
        Self { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-7 }
    }
}

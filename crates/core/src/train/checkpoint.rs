//! A run as one safetensors file: the weights under the pretrained file's names (so a checkpoint
//! is also a weights file), the best weights so far (`best.*`), Adam's moments (`adam.*`), and
//! in the metadata the format, the run's description, the data it trains on and the counters.
//! Read back, everything a step will index with is checked before the first step.

use burn::tensor::Device;

use super::{RunData, RunSpec, Schedule, TrainError, Trainer};
use crate::model::safetensors::TensorFile;
use crate::model::{InputScaling, MobileNetV2, MobileNetV2Config, weights};
use crate::optim::KerasAdam;

/// An epoch order read from a checkpoint must be a permutation of `0..len`: every step indexes the
/// training triplets with it.
fn check_order(order: &[u32]) -> Result<(), String> {
    let mut seen = vec![false; order.len()];
    for &at in order {
        match seen.get_mut(at as usize) {
            Some(seen) if !*seen => *seen = true,
            Some(_) => return Err(format!("the epoch order lists triplet {at} twice")),
            None => return Err(format!("the epoch order names triplet {at} of {}", order.len())),
        }
    }
    Ok(())
}

/// `__metadata__` format tag of checkpoints. Version 2 carries the run's description and the
/// data it trains on; version 1 ([`CHECKPOINT_FORMAT_V1`]) did not record its split.
pub const CHECKPOINT_FORMAT: &str = "tripletlab-checkpoint-v2";
/// The first format: weights, Adam and counters, but not the held-out split. Its weights are
/// read ([`load_encoder`]); resuming it is refused, since its split cannot be known.
pub const CHECKPOINT_FORMAT_V1: &str = "tripletlab-checkpoint-v1";
const BEST_PREFIX: &str = "best.";

impl Trainer {
    /// Everything needed to resume: model weights (under the same names as the pretrained file,
    /// so a checkpoint is also a weights file), the best weights so far (`best.*`), Adam's moments
    /// (`adam.*`), the run's description, its data and the counters. Every tensor is read back
    /// asynchronously, so it works on WebGPU in a browser; the bytes are the same natively and in
    /// wasm.
    pub async fn checkpoint(&self) -> Result<Vec<u8>, TrainError> {
        let mut file = weights::export(&self.inference_model()).await.map_err(TrainError::Readback)?;
        if let Some(best) = &self.best {
            for (name, tensor) in &best.tensors {
                file.tensors.insert(format!("{BEST_PREFIX}{name}"), tensor.clone());
            }
        }
        self.optim.export(&mut file).await.map_err(TrainError::Readback)?;
        let json = |value: serde_json::Result<String>| value.map_err(|err| TrainError::Checkpoint(err.to_string()));
        file.metadata.insert("format".into(), CHECKPOINT_FORMAT.into());
        file.metadata.insert("run".into(), json(serde_json::to_string(&self.spec))?);
        // A trainer stepped on triplets given by hand (the Keras parity test) has no data record:
        // its checkpoint holds the weights and Adam's state, and is refused for resuming.
        if let Some(data) = &self.data {
            file.metadata.insert("data".into(), json(serde_json::to_string(data))?);
        }
        file.metadata.insert("state".into(), json(serde_json::to_string(&self.state))?);
        file.to_bytes().map_err(|err| TrainError::Checkpoint(err.to_string()))
    }

    /// Continue a run from [`Self::checkpoint`] bytes on `device`. Its triplets come from
    /// [`Self::triplets`], which rebuilds exactly the split it trained with.
    pub fn resume(file: &str, bytes: &[u8], device: &Device) -> Result<Self, TrainError> {
        let fail = |reason: String| TrainError::Checkpoint(format!("{file}: {reason}"));
        // The format's errors name the file already.
        let mut tensors = TensorFile::parse(file, bytes).map_err(|err| TrainError::Checkpoint(err.to_string()))?;
        match tensors.metadata.get("format").map(String::as_str) {
            Some(CHECKPOINT_FORMAT) => {}
            Some(CHECKPOINT_FORMAT_V1) => {
                return Err(fail(format!(
                    "written by an earlier Triplet Lab ({CHECKPOINT_FORMAT_V1}), which did not record its held-out \
                     split: it cannot be resumed without risking training on held-out images. Its weights can \
                     still be used (`tripletlab embed --weights`)."
                )));
            }
            Some(other) if other.starts_with("tripletlab-checkpoint-") => {
                return Err(fail(format!("checkpoint format '{other}' is not one this version reads")));
            }
            Some(other) => {
                return Err(fail(format!(
                    "not a Triplet Lab checkpoint (its format tag is '{other}': a weights file?)"
                )));
            }
            None => return Err(fail("not a Triplet Lab checkpoint (no checkpoint format tag)".into())),
        }
        let read = |key: &str| tensors.metadata.get(key).map_or("", String::as_str);
        let spec: RunSpec =
            serde_json::from_str(read("run")).map_err(|err| fail(format!("unreadable run description: {err}")))?;
        let data: RunData = match tensors.metadata.get("data") {
            Some(text) => serde_json::from_str(text).map_err(|err| fail(format!("unreadable data record: {err}")))?,
            None => {
                return Err(fail(
                    "it records no data (saved before its run built its triplets), so its held-out split cannot be \
                     rebuilt: it cannot be resumed"
                        .into(),
                ));
            }
        };
        let state: Schedule =
            serde_json::from_str(read("state")).map_err(|err| fail(format!("unreadable trainer state: {err}")))?;
        let optim = KerasAdam::import(&mut tensors, &device.clone().inner()).map_err(fail)?;
        let mut best = TensorFile::default();
        let names: Vec<String> = tensors.tensors.keys().filter(|name| name.starts_with(BEST_PREFIX)).cloned().collect();
        for name in names {
            if let Some(tensor) = tensors.tensors.remove(&name) {
                best.tensors.insert(name[BEST_PREFIX.len()..].to_string(), tensor);
            }
        }
        let plain = device.clone().inner();
        // The weights' errors name the file already.
        let model = weights::apply(file, &tensors, spec.model.init(&plain), &plain)
            .map_err(|err| TrainError::Checkpoint(err.to_string()))?;
        if !best.tensors.is_empty() {
            // The best weights are restored at the end: checked now, not then.
            weights::apply(file, &best, spec.model.init(&plain), &plain)
                .map_err(|err| TrainError::Checkpoint(format!("{err} (in the best epoch's weights)")))?;
        }
        // Everything the first step will index with, checked now (the weights were, by `apply`;
        // the epoch order against the triplets by `triplets`).
        let sizes: std::collections::BTreeMap<u64, usize> = weights::tensor_names(&model)
            .into_iter()
            .filter(|name| !name.ends_with("running_mean") && !name.ends_with("running_var"))
            .filter_map(|name| {
                let size = tensors.tensors.get(&name)?.values.len();
                Some((weights::named_id(&name).val(), size))
            })
            .collect();
        optim.check_against(&sizes).map_err(fail)?;
        check_order(&state.order).map_err(fail)?;
        let mut trainer = Self::new(model, spec, device);
        trainer.optim = optim;
        trainer.state = state;
        trainer.data = Some(data);
        trainer.best = (!best.tensors.is_empty()).then_some(best);
        Ok(trainer)
    }
}

/// An encoder read from either the shipped pretrained file or a checkpoint.
pub struct LoadedEncoder {
    pub model: MobileNetV2,
    pub config: MobileNetV2Config,
    /// What the checkpoint was trained with; `None` for the pretrained file.
    pub trained_scaling: Option<InputScaling>,
}

/// The part of a checkpoint's description (`run` in version 2, `config` in version 1: the same
/// two fields) that says how to use its weights.
#[derive(serde::Deserialize)]
struct EncoderPart {
    model: MobileNetV2Config,
    scaling: InputScaling,
}

/// Read weights: a checkpoint of either format (its model config and scaling come with it) or a
/// pretrained width-1.0 MobileNetV2 file.
pub fn load_encoder(file: &str, bytes: &[u8], device: &Device) -> Result<LoadedEncoder, TrainError> {
    let fail = |reason: String| TrainError::Checkpoint(reason);
    let mut tensors = TensorFile::parse(file, bytes).map_err(|err| fail(err.to_string()))?;
    let key = match tensors.metadata.get("format").map(String::as_str) {
        Some(CHECKPOINT_FORMAT) => Some("run"),
        Some(CHECKPOINT_FORMAT_V1) => Some("config"),
        Some(other) if other.starts_with("tripletlab-checkpoint-") => {
            return Err(fail(format!("{file}: checkpoint format '{other}' is not one this version reads")));
        }
        // A weights file (the shipped one is tagged `tripletlab-mobilenetv2-v1`), or another's.
        _ => None,
    };
    if let Some(key) = key {
        let part: EncoderPart = serde_json::from_str(tensors.metadata.get(key).map_or("", String::as_str))
            .map_err(|err| fail(format!("{file}: unreadable run description: {err}")))?;
        tensors.tensors.retain(|name, _| !name.starts_with(BEST_PREFIX) && !name.starts_with("adam."));
        let model =
            weights::apply(file, &tensors, part.model.init(device), device).map_err(|err| fail(err.to_string()))?;
        return Ok(LoadedEncoder { model, config: part.model, trained_scaling: Some(part.scaling) });
    }
    let config = MobileNetV2Config::default();
    let model = weights::apply(file, &tensors, config.init(device), device).map_err(|err| fail(err.to_string()))?;
    Ok(LoadedEncoder { model, config, trained_scaling: None })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_epoch_order_must_be_a_permutation() {
        assert!(super::check_order(&[2, 0, 1]).is_ok());
        assert!(super::check_order(&[]).is_ok());
        assert!(super::check_order(&[0, 3, 1]).is_err_and(|e| e.contains("names triplet 3 of 3")));
        assert!(super::check_order(&[0, 0, 1]).is_err_and(|e| e.contains("twice")));
    }
}

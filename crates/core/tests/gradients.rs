//! Autodiff through the encoder and the triplet loss agrees with finite differences, and the
//! flex CPU backend agrees with native wgpu (Mesa's lavapipe here).

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use tripletlab_core::data::synthetic;
use tripletlab_core::loss::TripletLoss;
use tripletlab_core::model::input::images_to_tensor;
use tripletlab_core::model::safetensors::TensorFile;
use tripletlab_core::model::weights;
use tripletlab_core::model::{InputScaling, MobileNetV2, MobileNetV2Config};

const WIDTH: MobileNetV2Config = MobileNetV2Config { width: 0.35 };

/// Two triplets of synthetic images: (anchor, positive, negative) image bytes.
fn batch() -> [Vec<Vec<u8>>; 3] {
    let data = synthetic::batch(3, 40);
    let of_class = |class: u8, nth: usize| {
        let at = data.labels.iter().enumerate().filter(|(_, &l)| l == class).nth(nth).map(|(i, _)| i).expect("present");
        data.pixels[at * 3072..(at + 1) * 3072].to_vec()
    };
    [
        vec![of_class(0, 0), of_class(4, 0)],
        vec![of_class(0, 1), of_class(4, 1)],
        vec![of_class(6, 0), of_class(2, 0)],
    ]
}

/// Fixed random weights, the same in every run.
fn initial_weights() -> TensorFile {
    let device = Device::flex();
    pollster::block_on(weights::export(&WIDTH.init(&device))).expect("export")
}

fn model_on(weights: &TensorFile, device: &Device) -> MobileNetV2 {
    let plain = device.clone().inner();
    weights::apply("w", weights, WIDTH.init(&plain), &plain).expect("apply").fork(device).train()
}

/// The training-mode loss of the batch (BatchNorm on batch statistics, three passes).
fn loss(model: &MobileNetV2, device: &Device) -> Tensor<1> {
    let [a, p, n] = batch().map(|images| images_to_tensor(images.iter().map(Vec::as_slice), InputScaling::Unit, device));
    TripletLoss::default().forward(model.forward(a), model.forward(p), model.forward(n)).loss
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_data().try_into_vec::<f32>().expect("f32")[0])
}

#[test]
fn autodiff_matches_finite_differences() {
    let device = Device::flex().autodiff();
    let start = initial_weights();
    let model = model_on(&start, &device);
    let grads = loss(&model, &device).backward();
    let analytic: Vec<f32> = model.head.norm.gamma.val().grad(&grads).expect("gradient").into_data().try_into_vec().expect("f32");

    // The four largest gradients of the last BatchNorm's scale, checked by central differences.
    let mut order: Vec<usize> = (0..analytic.len()).collect();
    order.sort_by(|&a, &b| analytic[b].abs().total_cmp(&analytic[a].abs()));
    let h = 1e-2f32;
    for &at in &order[..4] {
        let shifted = |delta: f32| {
            let mut w = start.clone();
            w.tensors.get_mut("head.norm.gamma").expect("present").values[at] += delta;
            scalar(loss(&model_on(&w, &device), &device))
        };
        let numeric = (shifted(h) - shifted(-h)) / (2.0 * f64::from(h));
        let exact = f64::from(analytic[at]);
        println!("head.norm.gamma[{at}]: autodiff {exact:.6e}, finite difference {numeric:.6e}");
        assert!((numeric - exact).abs() <= 0.05 * exact.abs() + 1e-5, "gamma[{at}]: {exact} vs {numeric}");
    }
}

#[test]
#[ignore = "needs a Vulkan driver (lavapipe: apt-get install mesa-vulkan-drivers); cargo xtask test runs it"]
fn flex_and_native_wgpu_agree() {
    let start = initial_weights();
    let run = |device: Device| {
        let device = device.autodiff();
        let model = model_on(&start, &device);
        let loss = loss(&model, &device);
        let grads = loss.backward();
        let grad: Vec<f32> = model.stem.conv.weight.val().grad(&grads).expect("gradient").into_data().try_into_vec().expect("f32");
        (scalar(loss), grad)
    };
    let (flex_loss, flex_grad) = run(Device::flex());
    let wgpu = Device::wgpu_options().init().expect("a wgpu adapter (lavapipe)");
    let (wgpu_loss, wgpu_grad) = run(wgpu);
    let scale = flex_grad.iter().map(|g| g.abs()).fold(0.0, f32::max);
    let grad_diff = flex_grad.iter().zip(&wgpu_grad).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    println!("loss flex {flex_loss:.7} wgpu {wgpu_loss:.7}; stem gradient max diff {grad_diff:e} (max |grad| {scale:e})");
    assert!((flex_loss - wgpu_loss).abs() < 1e-4, "{flex_loss} vs {wgpu_loss}");
    assert!(grad_diff <= 1e-3 * scale, "{grad_diff} vs scale {scale}");
}

//! Our CPU operations (`model/cpu_ops.rs`) against burn's own: the depthwise convolution against
//! burn's grouped convolution, forward and both gradients, on the model's shapes, equal to
//! float32 rounding; ReLU6 against burn's clamp, exactly.

use burn::tensor::module;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use tripletlab_core::model::cpu_ops;

/// Values in [-1, 1) from a fixed linear congruential sequence.
fn values(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..count)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn tensor(shape: [usize; 4], seed: u64, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values(shape.iter().product(), seed), shape), device)
}

fn floats(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().expect("f32")
}

/// Every element within float32 rounding of the reference: 1e-6 of the reference's largest
/// magnitude (sums of up to a few thousand products).
fn assert_close(what: &str, ours: &[f32], reference: &[f32]) {
    assert_eq!(ours.len(), reference.len(), "{what}: sizes");
    let largest = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(largest > 0.0, "{what}: the reference is all zeros, nothing is compared");
    for (at, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert!((a - b).abs() <= 1e-6 * largest.max(1.0) * 4.0, "{what}: element {at}: ours {a}, burn's {b}");
    }
}

/// One case: forward on flex, then the gradients of `sum(y * r)` through the autodiff backend.
fn check(batch: usize, channels: usize, side: usize, stride: usize, padding: [(usize, usize); 2]) {
    let what = format!("batch {batch}, {channels} channels, {side} px, stride {stride}, padding {padding:?}");
    let options = ConvOptions::new_with_padding([stride, stride], padding, [1, 1], channels);
    let plain = Device::flex();
    let x = tensor([batch, channels, side, side], 1, &plain);
    let weight = tensor([channels, 1, 3, 3], 2, &plain);

    let ours = cpu_ops::depthwise_conv2d(x.clone(), weight.clone(), options.clone());
    let burns = module::conv2d(x.clone(), weight.clone(), None, options.clone());
    assert_eq!(ours.dims(), burns.dims(), "{what}: output shape");
    let out_dims = burns.dims();
    assert_close(&format!("{what}: forward"), &floats(ours), &floats(burns));

    let device = Device::flex().autodiff();
    let upstream = tensor(out_dims, 3, &device);
    let gradients = |direct: bool| {
        let x = Tensor::<4>::from_data(x.to_data(), &device).require_grad();
        let weight = Tensor::<4>::from_data(weight.to_data(), &device).require_grad();
        let y = if direct {
            cpu_ops::depthwise_conv2d(x.clone(), weight.clone(), options.clone())
        } else {
            module::conv2d(x.clone(), weight.clone(), None, options.clone())
        };
        let grads = (y * upstream.clone()).sum().backward();
        let dx = floats(x.grad(&grads).expect("input gradient"));
        let dw = floats(weight.grad(&grads).expect("weight gradient"));
        (dx, dw)
    };
    let (our_dx, our_dw) = gradients(true);
    let (burn_dx, burn_dw) = gradients(false);
    assert_close(&format!("{what}: input gradient"), &our_dx, &burn_dx);
    assert_close(&format!("{what}: weight gradient"), &our_dw, &burn_dw);
}

/// MobileNetV2's depthwise layers: "same" stride 1, and TensorFlow's stride 2 on even sides (no
/// row or column before, one after), at channel counts and sides the recipe meets.
#[test]
fn the_model_s_depthwise_layers_equal_burn_s_grouped_convolution() {
    check(2, 32, 16, 1, [(1, 1), (1, 1)]);
    check(3, 96, 16, 2, [(0, 1), (0, 1)]);
    check(2, 144, 8, 2, [(0, 1), (0, 1)]);
    check(1, 960, 5, 1, [(1, 1), (1, 1)]);
    // The last blocks of a 32 x 32 image: 2 x 2 planes halved to 1 x 1, then 1 x 1 planes.
    check(4, 96, 2, 2, [(0, 1), (0, 1)]);
    check(4, 56, 1, 1, [(1, 1), (1, 1)]);
}

/// Odd sides, even padding on both sides, no padding: the loops' edges in every direction.
#[test]
fn other_paddings_and_odd_sides_equal_burn_s_grouped_convolution() {
    check(2, 8, 7, 2, [(1, 1), (1, 1)]);
    check(2, 8, 9, 1, [(0, 0), (0, 0)]);
    check(1, 4, 6, 3, [(2, 0), (0, 2)]);
}

/// What the loops do not do (a dilated convolution) still gives burn's answer: it takes burn's path.
#[test]
fn a_dilated_convolution_takes_burn_s_path() {
    let device = Device::flex();
    let options = ConvOptions::new_with_padding([1, 1], [(2, 2), (2, 2)], [2, 2], 4);
    let x = tensor([1, 4, 8, 8], 4, &device);
    let weight = tensor([4, 1, 3, 3], 5, &device);
    let ours = floats(cpu_ops::depthwise_conv2d(x.clone(), weight.clone(), options.clone()));
    assert_close("dilated", &ours, &floats(module::conv2d(x, weight, None, options)));
}

/// ReLU6 forward and backward equal burn's clamp exactly (one comparison a number either way),
/// through the ends 0 and 6, on a tensor of the model's shapes with values from -8 to 8.
#[test]
fn relu6_equals_burn_s_clamp() {
    let plain = Device::flex();
    let shape = [3, 144, 8, 8];
    let x = tensor(shape, 7, &plain).mul_scalar(8.0);
    // Exactly 0 and 6 somewhere: the ends, where the gradient passes (as burn's clamp lets it).
    let x = x.slice_assign(
        [0..1, 0..1, 0..1, 0..2],
        Tensor::from_data(TensorData::new(vec![0.0f32, 6.0], [1, 1, 1, 2]), &plain),
    );
    assert_eq!(floats(cpu_ops::relu6(x.clone())), floats(burn::tensor::activation::relu6(x.clone())), "forward");
    // A view whose layout is not contiguous (a transpose) is read in its logical order.
    let view = x.clone().swap_dims(1, 3);
    assert_eq!(
        floats(cpu_ops::relu6(view.clone())),
        floats(burn::tensor::activation::relu6(view)),
        "a transposed view"
    );

    let device = Device::flex().autodiff();
    let upstream = tensor(shape, 8, &device);
    let gradient = |ours: bool| {
        let x = Tensor::<4>::from_data(x.to_data(), &device).require_grad();
        let y = if ours { cpu_ops::relu6(x.clone()) } else { burn::tensor::activation::relu6(x.clone()) };
        let grads = (y * upstream.clone()).sum().backward();
        floats(x.grad(&grads).expect("input gradient"))
    };
    let (ours, burns) = (gradient(true), gradient(false));
    assert_eq!(ours, burns, "backward");
    assert!(ours.iter().any(|g| *g == 0.0) && ours.iter().any(|g| *g != 0.0), "the test saw one side only");
}

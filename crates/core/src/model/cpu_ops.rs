//! Our own operations on burn's CPU backend (flex), where burn's general ones cost a training
//! step most: MobileNetV2's 17 depthwise 3 x 3 convolutions (forward and both gradients) and its
//! 35 ReLU6 activations.
//!
//! burn computes a depthwise convolution's input gradient through a grouped transposed
//! convolution (after padding the input of the stride-2 layers, whose padding is uneven, and
//! cropping the result) and its weight gradient one convolution per channel; ReLU6 is a clamp made
//! of two comparisons and two masked fills, each a pass over the tensor, forward and backward.
//! The loops that replace them are in `crates/kernels` (in parallel with its `rayon` feature: the
//! CLI; the page's worker has one thread). docs/performance.md has the measurements.
//!
//! They are a burn backend extension ([`CpuOps`]): the flex backend runs the loops; the autodiff
//! backend over flex records backward steps that call them. Every other case (another backend,
//! another dtype, a dilated or not-depthwise convolution) takes burn's own path, so
//! [`depthwise_conv2d`] and [`relu6`] are always the same functions as burn's `conv2d` and
//! `relu6`: `crates/core/tests/cpu_ops.rs` holds them to float32 rounding, forward and gradients.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, FloatDType, Shape, Tensor, TensorData};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use tripletlab_kernels::depthwise::{self, Geometry};
use tripletlab_kernels::relu6 as relu6_loops;

/// Our forward operations as backend operations (dispatched through burn's `Dispatch`). The
/// depthwise convolution's default body is burn's grouped convolution; flex overrides both.
#[backend_extension(Flex, Autodiff)]
pub trait CpuOps: Backend {
    /// `x` `[batch, channels, h, w]`, `weight` `[channels, 1, kh, kw]`: `[batch, channels, oh, ow]`.
    fn depthwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

    /// `min(max(x, 0), 6)` element-wise.
    fn relu6(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The gradients of [`CpuOps`], on the backends that run their forward (flex): the autodiff
/// backend's backward steps call them. Not dispatched: nothing else needs them. The depthwise
/// defaults are burn's own gradients of a grouped convolution.
pub trait CpuGradients: Backend {
    /// The gradient of the loss with respect to `x`, given the output's gradient.
    fn depthwise_conv2d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, output_grad, options)
    }

    /// The gradient of the loss with respect to `weight`, given the output's gradient.
    fn depthwise_conv2d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d_weight_backward(x, weight, output_grad, options)
    }

    /// The gradient through ReLU6 at `x`: `upstream` where `0 <= x <= 6` (as burn's clamp), else 0.
    fn relu6_backward(x: FloatTensor<Self>, upstream: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Whether [`depthwise_conv2d`] and [`relu6`] take our loops on flex (the default) or burn's own
/// operations everywhere: `tripletlab speed --cpu-ops burn` measures the two in one binary.
static OURS: AtomicBool = AtomicBool::new(true);

/// Chooses the path of every later [`depthwise_conv2d`] and [`relu6`] in this process (for
/// benchmarks: both paths give the same numbers, `crates/core/tests/cpu_ops.rs`).
pub fn use_ours(ours: bool) {
    OURS.store(ours, Ordering::Relaxed);
}

/// Whether a tensor on `device` takes our operations.
fn ours_on(device: &Device) -> bool {
    OURS.load(Ordering::Relaxed) && device.clone().without_autodiff() == Device::flex()
}

/// burn's `conv2d` without bias, through the direct loops where they apply (flex, with or without
/// autodiff) and burn's own convolution everywhere else.
pub fn depthwise_conv2d(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    if ours_on(&x.device()) {
        Tensor::from_dispatch(<Dispatch as CpuOps>::depthwise_conv2d(
            x.into_dispatch(),
            weight.into_dispatch(),
            options,
        ))
    } else {
        burn::tensor::module::conv2d(x, weight, None, options)
    }
}

/// burn's `relu6`, through one loop each way on flex and burn's clamp everywhere else.
pub fn relu6<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if ours_on(&x.device()) {
        Tensor::from_dispatch(<Dispatch as CpuOps>::relu6(x.into_dispatch()))
    } else {
        burn::tensor::activation::relu6(x)
    }
}

/// The loops' geometry for this convolution, `None` where they do not apply.
fn geometry(x: &Shape, weight: &Shape, options: &ConvOptions<2>) -> Option<Geometry> {
    let x = <[usize; 4]>::try_from(x.as_slice()).ok()?;
    let weight = <[usize; 4]>::try_from(weight.as_slice()).ok()?;
    Geometry::new(x, weight, options.stride, options.padding, options.dilation, options.groups)
}

/// A flex tensor's f32 values in order (a copy only when its layout is not contiguous), `None`
/// for another dtype.
fn values(tensor: &FlexTensor) -> Option<Cow<'_, [f32]>> {
    if tensor.dtype() != DType::F32 {
        return None;
    }
    match tensor.as_slice::<f32>() {
        Some(slice) => Some(Cow::Borrowed(slice)),
        None => tensor.to_contiguous().as_slice::<f32>().map(|slice| Cow::Owned(slice.to_vec())),
    }
}

fn flex_tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

/// The tensor as f32 (itself when it is).
fn as_f32(tensor: FlexTensor) -> FlexTensor {
    if tensor.dtype() == DType::F32 { tensor } else { Flex::float_cast(tensor, FloatDType::F32) }
}

/// `f` on the f32 values of `tensor` (cast there and back for another float dtype).
fn elementwise(tensor: FlexTensor, f: impl FnOnce(&[f32]) -> Vec<f32>) -> FlexTensor {
    let dtype = tensor.dtype();
    let tensor = as_f32(tensor);
    let shape = tensor.shape();
    let out = match values(&tensor) {
        Some(values) => flex_tensor(f(&values), shape),
        // Not reached: the tensor was just made f32.
        None => tensor,
    };
    if dtype == DType::F32 { out } else { Flex::float_cast(out, FloatDType::from(dtype)) }
}

impl CpuOps for Flex {
    fn depthwise_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let direct = geometry(&x.shape(), &weight.shape(), &options)
            .and_then(|g| Some(flex_tensor(depthwise::forward(&values(&x)?, &values(&weight)?, &g), g.output_shape())));
        direct.unwrap_or_else(|| Self::conv2d(x, weight, None, options))
    }

    fn relu6(x: FlexTensor) -> FlexTensor {
        elementwise(x, relu6_loops::forward)
    }
}

impl CpuGradients for Flex {
    fn depthwise_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let direct = geometry(&x.shape(), &weight.shape(), &options).and_then(|g| {
            let grad = depthwise::input_grad(&values(&output_grad)?, &values(&weight)?, &g);
            Some(flex_tensor(grad, [g.batch, g.channels, g.height, g.width]))
        });
        direct.unwrap_or_else(|| Self::conv2d_x_backward(x, weight, output_grad, options))
    }

    fn depthwise_conv2d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let direct = geometry(&x.shape(), &weight.shape(), &options).and_then(|g| {
            let grad = depthwise::weight_grad(&values(&x)?, &values(&output_grad)?, &g);
            Some(flex_tensor(grad, [g.channels, 1, g.kernel[0], g.kernel[1]]))
        });
        direct.unwrap_or_else(|| Self::conv2d_weight_backward(x, weight, output_grad, options))
    }

    fn relu6_backward(x: FlexTensor, upstream: FlexTensor) -> FlexTensor {
        let upstream = as_f32(upstream);
        match values(&upstream) {
            Some(upstream) => elementwise(x, |x| relu6_loops::backward(x, &upstream)),
            // Not reached: `as_f32` made it f32.
            None => upstream,
        }
    }
}

/// The backward step recorded by the autodiff backend: both gradients through the inner
/// backend's depthwise operations.
#[derive(Debug)]
struct DepthwiseBackward;

impl<B: CpuGradients> Backward<B, 2> for DepthwiseBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, options) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);
        if let Some(node) = node_x {
            let dx = B::depthwise_conv2d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            grads.register::<B>(node.id, B::depthwise_conv2d_weight_backward(x, weight, grad, options));
        }
    }
}

/// ReLU6's backward step: the gradient through the inner backend's one loop, at the input.
#[derive(Debug)]
struct Relu6Backward;

impl<B: CpuGradients> Backward<B, 1> for Relu6Backward {
    type State = NodeId;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state);
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::relu6_backward(x, grad));
        }
    }
}

impl<B: CpuOps + CpuGradients, C: CheckpointStrategy> CpuOps for Autodiff<B, C> {
    fn depthwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        match DepthwiseBackward.prepare::<C>([x.node(), weight.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let output = B::depthwise_conv2d(x.into_primitive(), weight.into_primitive(), options.clone());
                prep.finish((x_state, weight_state, options), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::depthwise_conv2d(x.into_primitive(), weight.into_primitive(), options))
            }
        }
    }

    fn relu6(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match Relu6Backward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                prep.finish(x_state, B::relu6(x.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::relu6(x.into_primitive())),
        }
    }
}

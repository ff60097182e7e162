//! A direct depthwise convolution for burn's CPU backend (flex), forward and both gradients.
//!
//! MobileNetV2 has 17 depthwise 3x3 convolutions (`groups == channels`). burn computes their
//! input gradient through a grouped transposed convolution (after padding the input of the
//! stride-2 layers, whose padding is uneven, and cropping the result) and their weight gradient
//! one convolution per channel: on the CPU those two took a large share of a training step
//! (docs/performance.md). The loops themselves, one image plane of one channel at a time, are in
//! `crates/kernels` (planes in parallel with its `rayon` feature: the CLI; the page's worker has
//! one thread).
//!
//! It is a burn backend extension ([`DepthwiseOps`]): the flex backend runs the loops below; the
//! autodiff backend over flex records a backward step that calls them. Every other case (another
//! backend, another dtype, a dilated or not-depthwise convolution) takes burn's own path, so
//! [`conv2d`] is always the same function as burn's `conv2d`; `crates/core/tests/depthwise.rs`
//! holds the two to float32 rounding on the model's shapes, forward and gradients.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Shape, Tensor, TensorData};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use tripletlab_kernels::{Geometry, forward, input_grad, weight_grad};

/// The depthwise convolution as a backend operation. The default bodies are burn's own grouped
/// convolution and its gradients; flex overrides them with the direct loops.
#[backend_extension(Flex, Autodiff)]
pub trait DepthwiseOps: Backend {
    /// `x` `[batch, channels, h, w]`, `weight` `[channels, 1, kh, kw]`: `[batch, channels, oh, ow]`.
    fn depthwise_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, options: ConvOptions<2>) -> FloatTensor<Self> {
        Self::conv2d(x, weight, None, options)
    }

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
}

/// Whether [`conv2d`] takes the direct loops on flex (the default) or burn's own grouped
/// convolution everywhere: `tripletlab speed --depthwise burn` measures the two in one binary.
static DIRECT: AtomicBool = AtomicBool::new(true);

/// Chooses the path of every later [`conv2d`] in this process (for benchmarks: both paths give
/// the same numbers, `crates/core/tests/depthwise.rs`).
pub fn use_direct(direct: bool) {
    DIRECT.store(direct, Ordering::Relaxed);
}

/// burn's `conv2d` without bias, through the direct loops where they apply (flex, with or without
/// autodiff) and burn's own convolution everywhere else.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, options: ConvOptions<2>) -> Tensor<4> {
    if DIRECT.load(Ordering::Relaxed) && x.device().without_autodiff() == Device::flex() {
        Tensor::from_dispatch(<Dispatch as DepthwiseOps>::depthwise_conv2d(
            x.into_dispatch(),
            weight.into_dispatch(),
            options,
        ))
    } else {
        burn::tensor::module::conv2d(x, weight, None, options)
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

fn flex_tensor(values: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl DepthwiseOps for Flex {
    fn depthwise_conv2d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let direct = geometry(&x.shape(), &weight.shape(), &options)
            .and_then(|g| Some(flex_tensor(forward(&values(&x)?, &values(&weight)?, &g), g.output_shape())));
        direct.unwrap_or_else(|| Self::conv2d(x, weight, None, options))
    }

    fn depthwise_conv2d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<2>,
    ) -> FlexTensor {
        let direct = geometry(&x.shape(), &weight.shape(), &options).and_then(|g| {
            let grad = input_grad(&values(&output_grad)?, &values(&weight)?, &g);
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
            let grad = weight_grad(&values(&x)?, &values(&output_grad)?, &g);
            Some(flex_tensor(grad, [g.channels, 1, g.kernel[0], g.kernel[1]]))
        });
        direct.unwrap_or_else(|| Self::conv2d_weight_backward(x, weight, output_grad, options))
    }
}

/// The backward step recorded by the autodiff backend: both gradients through the inner
/// backend's depthwise operations.
#[derive(Debug)]
struct DepthwiseBackward;

impl<B: Backend + DepthwiseOps> Backward<B, 2> for DepthwiseBackward {
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

impl<B: Backend + DepthwiseOps, C: CheckpointStrategy> DepthwiseOps for Autodiff<B, C> {
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
}

//! MobileNetV2 (Sandler et al., 2018) exactly as `keras.applications.MobileNetV2` builds it:
//! stride-2 3x3 convolutions pad 0 on top/left and 1 on bottom/right (TensorFlow "same" on even
//! inputs), BatchNorm epsilon 1e-3 and momentum 0.999, ReLU6, no convolution biases, a first
//! block without expansion, and a 1280-channel last convolution for width <= 1.
//!
//! The output is the template the recipe uses: the last ReLU6's map, averaged over space (at
//! 32x32 input the map is already 1x1), so it is never negative.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::ops::ConvOptions;

use super::cpu_ops;
use burn::tensor::{Device, Tensor};

/// The paper's table 2: expansion t, output channels c, repeats n, first stride s.
pub const INVERTED_RESIDUAL_TABLE: [(usize, usize, usize, usize); 7] = [
    // t,  c,  n, s
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];
pub const STEM_CHANNELS: usize = 32;
pub const TEMPLATE_CHANNELS: usize = 1280;
/// Keras' BatchNormalization settings in MobileNetV2.
pub const BN_EPSILON: f64 = 1e-3;
pub use super::{KERAS_BN_MOMENTUM, MobileNetV2Config};

/// Keras' `_make_divisible`: round to a multiple of 8, never more than 10% down.
pub fn make_divisible(value: f64, divisor: usize) -> usize {
    let divisor_f = divisor as f64;
    let rounded = ((value + divisor_f / 2.0) / divisor_f).floor() as usize * divisor;
    let rounded = rounded.max(divisor);
    if (rounded as f64) < 0.9 * value { rounded + divisor } else { rounded }
}

/// One block's shape, from the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockShape {
    pub input: usize,
    /// Channels after expansion (= input when t is 1: no expansion layer).
    pub expanded: usize,
    pub output: usize,
    pub stride: usize,
}

impl MobileNetV2Config {
    pub fn stem_channels(&self) -> usize {
        make_divisible(STEM_CHANNELS as f64 * self.width, 8)
    }

    /// Keras keeps 1280 channels for width <= 1 and scales them above.
    pub fn head_channels(&self) -> usize {
        if self.width > 1.0 { make_divisible(TEMPLATE_CHANNELS as f64 * self.width, 8) } else { TEMPLATE_CHANNELS }
    }

    /// The 17 blocks, in order.
    pub fn blocks(&self) -> Vec<BlockShape> {
        let mut blocks = Vec::new();
        let mut input = self.stem_channels();
        for (t, c, n, s) in INVERTED_RESIDUAL_TABLE {
            let output = make_divisible(c as f64 * self.width, 8);
            for repeat in 0..n {
                let stride = if repeat == 0 { s } else { 1 };
                blocks.push(BlockShape { input, expanded: input * t, output, stride });
                input = output;
            }
        }
        blocks
    }

    /// Multiply-accumulates of the convolutions in one forward pass of a `side` x `side` image (the
    /// count the MobileNetV2 paper reports as "MAdds"; BatchNorm, ReLU6 and pooling are left out).
    /// Stride-2 layers output `ceil(side / 2)`, as TensorFlow's "same" padding does.
    pub fn forward_macs(&self, side: usize) -> u64 {
        let mut side = side.div_ceil(2) as u64;
        let area = |side: u64| side * side;
        let mut macs = area(side) * self.stem_channels() as u64 * 3 * 9;
        for block in self.blocks() {
            let (input, expanded, output) = (block.input as u64, block.expanded as u64, block.output as u64);
            if expanded != input {
                macs += area(side) * input * expanded;
            }
            if block.stride == 2 {
                side = side.div_ceil(2);
            }
            macs += area(side) * expanded * 9 + area(side) * expanded * output;
        }
        let last = self.blocks().last().map_or(self.stem_channels(), |block| block.output) as u64;
        macs + area(side) * last * self.head_channels() as u64
    }

    /// Floating-point operations of one training triplet: three images through the backbone,
    /// forward (2 x MACs) and backward (about twice the forward: gradients of the inputs and of
    /// the weights), so `3 x 3 x 2 x forward_macs`.
    pub fn training_flops_per_triplet(&self, side: usize) -> f64 {
        9.0 * 2.0 * self.forward_macs(side) as f64
    }

    pub fn init(&self, device: &Device) -> MobileNetV2 {
        let blocks = self.blocks();
        let last = blocks.last().map_or(self.stem_channels(), |block| block.output);
        let momentum = self.bn_momentum;
        MobileNetV2 {
            stem: ConvNorm::new(3, self.stem_channels(), 3, 2, 1, true, momentum, device),
            blocks: blocks.iter().map(|shape| InvertedResidual::new(*shape, momentum, device)).collect(),
            head: ConvNorm::new(last, self.head_channels(), 1, 1, 1, true, momentum, device),
        }
    }
}

/// The zero padding, `[(top, bottom), (left, right)]`, of a `kernel` x `kernel` convolution of
/// `stride` in Keras' MobileNetV2: a stride-2 layer has `ZeroPadding2D(((0, 1), (0, 1)))` before a
/// "valid" convolution (even inputs), which is also TensorFlow's "same" for Conv1; a stride-1
/// layer pads `kernel / 2` on every side ("same").
pub fn keras_padding(kernel: usize, stride: usize) -> [(usize, usize); 2] {
    let half = kernel / 2;
    if stride == 2 { [(0, half), (0, half)] } else { [(half, half), (half, half)] }
}

/// One of the model's 17 depthwise 3 x 3 convolutions as the operation sees it: its channels,
/// the side of its (square) input, and its options (stride, [`keras_padding`], one group per
/// channel).
#[derive(Clone, Debug)]
pub struct DepthwiseLayer {
    pub channels: usize,
    pub side: usize,
    pub options: ConvOptions<2>,
}

impl MobileNetV2Config {
    /// The depthwise layers of the 17 blocks, in order, for `image_side` x `image_side` images
    /// (the stem halves the image; a stride-2 layer halves its input, rounding up).
    pub fn depthwise_layers(&self, image_side: usize) -> Vec<DepthwiseLayer> {
        let mut side = image_side.div_ceil(2);
        self.blocks()
            .iter()
            .map(|block| {
                let options = ConvOptions::new_with_padding(
                    [block.stride; 2],
                    keras_padding(3, block.stride),
                    [1, 1],
                    block.expanded,
                );
                let layer = DepthwiseLayer { channels: block.expanded, side, options };
                if block.stride == 2 {
                    side = side.div_ceil(2);
                }
                layer
            })
            .collect()
    }
}

/// Convolution (no bias), BatchNorm, then ReLU6 when `activate`.
#[derive(Module, Debug)]
pub struct ConvNorm {
    pub conv: Conv2d,
    pub norm: BatchNorm,
    pub activate: bool,
}

impl ConvNorm {
    #[allow(clippy::too_many_arguments)]
    fn new(
        input: usize,
        output: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        activate: bool,
        keras_momentum: f64,
        device: &Device,
    ) -> Self {
        let padding = if kernel == 1 {
            PaddingConfig2d::Valid
        } else {
            let [(top, bottom), (left, right)] = keras_padding(kernel, stride);
            PaddingConfig2d::Explicit(top, left, bottom, right)
        };
        let conv = Conv2dConfig::new([input, output], [kernel, kernel])
            .with_stride([stride, stride])
            .with_groups(groups)
            .with_padding(padding)
            .with_bias(false)
            .init(device);
        let norm = BatchNormConfig::new(output)
            .with_epsilon(BN_EPSILON)
            // burn's momentum weighs the new batch: Keras' 0.999 on the old value is 0.001 here.
            .with_momentum((1.0 - keras_momentum).clamp(0.0, 1.0))
            .init(device);
        Self { conv, norm, activate }
    }

    /// `[batch, input, h, w]` to `[batch, output, h / stride, w / stride]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = if self.conv.groups > 1 { self.depthwise(input) } else { self.conv.forward(input) };
        let x = self.norm.forward(x);
        if self.activate { cpu_ops::relu6(x) } else { x }
    }
}

impl ConvNorm {
    /// `self.conv.forward` through the direct depthwise convolution where it applies (the CPU).
    fn depthwise(&self, input: Tensor<4>) -> Tensor<4> {
        let conv = &self.conv;
        let padding = match conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
            PaddingConfig2d::Valid => [(0, 0), (0, 0)],
            // Not built by `ConvNorm::new`; burn's own convolution works it out.
            PaddingConfig2d::Same => return conv.forward(input),
        };
        let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
        cpu_ops::depthwise_conv2d(input, conv.weight.val(), options)
    }
}

/// Expand (1x1), depthwise 3x3, project (1x1, linear); a residual when shapes allow.
#[derive(Module, Debug)]
pub struct InvertedResidual {
    pub expand: Option<ConvNorm>,
    pub depthwise: ConvNorm,
    pub project: ConvNorm,
    pub residual: bool,
}

impl InvertedResidual {
    fn new(shape: BlockShape, momentum: f64, device: &Device) -> Self {
        let expand = (shape.expanded != shape.input)
            .then(|| ConvNorm::new(shape.input, shape.expanded, 1, 1, 1, true, momentum, device));
        Self {
            expand,
            depthwise: ConvNorm::new(
                shape.expanded,
                shape.expanded,
                3,
                shape.stride,
                shape.expanded,
                true,
                momentum,
                device,
            ),
            project: ConvNorm::new(shape.expanded, shape.output, 1, 1, 1, false, momentum, device),
            residual: shape.stride == 1 && shape.input == shape.output,
        }
    }

    /// `[batch, input, h, w]` to `[batch, output, h / stride, w / stride]`.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = match &self.expand {
            Some(expand) => expand.forward(input.clone()),
            None => input.clone(),
        };
        let x = self.project.forward(self.depthwise.forward(x));
        if self.residual { x + input } else { x }
    }
}

/// The encoder.
#[derive(Module, Debug)]
pub struct MobileNetV2 {
    pub stem: ConvNorm,
    pub blocks: Vec<InvertedResidual>,
    pub head: ConvNorm,
}

impl MobileNetV2 {
    /// `[batch, 3, h, w]` images to `[batch, 1280]` templates (non-negative).
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(images);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x = self.head.forward(x);
        let [batch, channels, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([batch, channels])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_channel_counts() {
        let full = MobileNetV2Config::default();
        assert_eq!(full.stem_channels(), 32);
        let blocks = full.blocks();
        assert_eq!(blocks.len(), 17);
        assert_eq!(blocks[0], BlockShape { input: 32, expanded: 32, output: 16, stride: 1 });
        // The paper (Sandler et al. 2018, table 6): MobileNetV2 1.0 at 224 x 224 is 300M multiply-adds.
        let macs = MobileNetV2Config::default().forward_macs(224);
        assert!((macs as f64 / 300e6 - 1.0).abs() < 0.01, "{macs}");
        assert_eq!(blocks[1], BlockShape { input: 16, expanded: 96, output: 24, stride: 2 });
        assert_eq!(blocks[16], BlockShape { input: 160, expanded: 960, output: 320, stride: 1 });
        assert_eq!(full.head_channels(), 1280);

        // Keras' alpha 0.35: 16-channel stem, block outputs 8, 8, 16, 24, 32, 56, 112.
        let small = MobileNetV2Config::with_width(0.35);
        assert_eq!(small.stem_channels(), 16);
        let outputs: Vec<usize> = small.blocks().iter().map(|b| b.output).collect();
        assert_eq!(outputs, vec![8, 8, 8, 16, 16, 16, 24, 24, 24, 24, 32, 32, 32, 56, 56, 56, 112]);
        assert_eq!(small.head_channels(), 1280);
        assert_eq!(MobileNetV2Config::with_width(1.4).head_channels(), 1792);
    }

    /// The 17 depthwise layers of a 32 x 32 image, worked by hand from the paper's table: the
    /// stem halves 32 to 16, and each stride-2 block halves its input (2 -> 1 at the end).
    #[test]
    fn the_depthwise_layers_of_a_32_pixel_image() {
        let layers = MobileNetV2Config::default().depthwise_layers(32);
        let channels: Vec<usize> = layers.iter().map(|layer| layer.channels).collect();
        let sides: Vec<usize> = layers.iter().map(|layer| layer.side).collect();
        assert_eq!(channels, [32, 96, 144, 144, 192, 192, 192, 384, 384, 384, 384, 576, 576, 576, 960, 960, 960]);
        assert_eq!(sides, [16, 16, 8, 8, 4, 4, 4, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1]);
        let strides: Vec<usize> = layers.iter().map(|layer| layer.options.stride[0]).collect();
        assert_eq!(strides, [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]);
        assert_eq!(layers[1].options.padding, [(0, 1), (0, 1)], "TensorFlow's stride 2: one row and column after");
        assert_eq!(layers[0].options.padding, [(1, 1), (1, 1)]);
        assert!(layers.iter().all(|layer| layer.options.groups == layer.channels));
    }

    #[test]
    fn the_full_model_has_keras_tensors_and_parameter_count() {
        let model = MobileNetV2Config::default().init(&Device::flex());
        let tensors = pollster::block_on(crate::model::weights::export(&model)).expect("export");
        // Keras: 260 weight tensors, 2,257,984 numbers (34,112 of them BatchNorm moving statistics).
        assert_eq!(tensors.tensors.len(), 260);
        let numbers: usize = tensors.tensors.values().map(|t| t.values.len()).sum();
        assert_eq!(numbers, 2_257_984);
    }
}

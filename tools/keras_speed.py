"""Keras' training speed on the tutorial's model, for `cargo xtask bench` (docs/performance.md).

The tutorial's triplet model (`keras_recipe.build`: MobileNetV2 width 1.0 at 32x32 with the
shipped weights, the cosine triplet loss, Adam 1e-4) trained with `model.fit` at a batch of 64 on
random images (the data does not change the work): one epoch to trace and warm up, then one
timed epoch of `--steps` steps. TensorFlow's defaults (oneDNN on), as a user of the tutorial gets
them. Prints one JSON line; `--json FILE` writes it too.

    pip install tensorflow-cpu==2.21.* keras==3.15.* safetensors
    python3 tools/keras_speed.py --batch 64 --steps 20
"""
import argparse
import json
import os
import time

# The speed a user gets: oneDNN as TensorFlow ships it (keras_recipe turns it off for exactness).
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_recipe import build, shipped_weights  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--json")
    args = parser.parse_args()

    triplets = args.batch * args.steps
    rng = np.random.default_rng(42)
    branches = [rng.random((triplets, 32, 32, 3), dtype=np.float32) for _ in range(3)]
    targets = np.ones(triplets, dtype=np.float32)
    _, model = build(shipped_weights())
    model.fit(branches, targets, batch_size=args.batch, epochs=1, shuffle=False, verbose=0)
    started = time.perf_counter()
    model.fit(branches, targets, batch_size=args.batch, epochs=1, shuffle=False, verbose=0)
    seconds = time.perf_counter() - started
    report = {
        "backend": "Keras (TensorFlow CPU)",
        "tensorflow": tf.__version__,
        "threads": os.cpu_count(),
        "width": 1.0,
        "batch": args.batch,
        "steps": args.steps,
        "triplets_per_second": triplets / seconds,
        "ms_per_step": 1000 * seconds / args.steps,
    }
    line = json.dumps(report)
    print(line)
    if args.json:
        with open(args.json, "w") as out:
            out.write(line + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The tutorial's own Keras code on the data `tripletlab quality --export DIR` wrote: once per
seed, the held-out loss of every epoch and the held-out ROC AUC with DeLong's 95% interval, and
the spread over seeds, printed in the same lines as `tripletlab quality` (`cargo xtask bench
quality` runs both). A benchmark: nothing here is a test.

Per seed: `keras.utils.set_random_seed(seed)`, the tutorial's model from the shipped weights
(tools/keras_recipe.py), `fit` with batch 64, shuffling, validation on the held-out triplets and
`EarlyStopping(patience=2, restore_best_weights=True, monitor="val_loss")`, as the tutorial (Keras 3
restores the best weights when `fit` ends, early or at the epoch limit, as our trainer does).
Scoring is the tutorial's: the backbone in inference mode, angular similarity
1 - arccos(cos)/pi, genuine (anchor, positive) then impostor (anchor, negative) pairs.

    python3 tools/keras_quality.py --data /tmp/quality-export --seeds 3 [--report FILE]
"""
import argparse
import json
import math
import time
from pathlib import Path

from keras_recipe import build, nhwc, read_records, shipped_weights

import keras
import numpy as np


def delong(scores, labels):
    """AUC, its standard error (DeLong 1988) and the 95% interval, from midranks."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    genuine, impostor = np.sort(scores[labels]), np.sort(scores[~labels])
    m, n = len(genuine), len(impostor)
    below = np.searchsorted(impostor, genuine, side="left")
    not_above = np.searchsorted(impostor, genuine, side="right")
    v10 = (below + 0.5 * (not_above - below)) / n
    g_below = np.searchsorted(genuine, impostor, side="left")
    g_not_above = np.searchsorted(genuine, impostor, side="right")
    v01 = ((m - g_not_above) + 0.5 * (g_not_above - g_below)) / m
    auc = float(v10.mean())
    se = math.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    z = 1.959963984540054
    return {"auc": auc, "standard_error": se, "low": max(0.0, auc - z * se), "high": min(1.0, auc + z * se)}


def angular(a, b):
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    cos = np.clip(np.sum(a * b, axis=1), -1.0, 1.0)
    return 1.0 - np.arccos(cos) / np.pi


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--report", type=Path)
    args = parser.parse_args()

    split = json.loads((args.data / "split.json").read_text())
    _, planes = read_records((args.data / split["images"]).read_bytes())
    images = nhwc(planes)
    train, held = np.array(split["train"]), np.array(split["held_out"])
    branches = lambda t: [images[t[:, 0]], images[t[:, 1]], images[t[:, 2]]]  # noqa: E731
    shipped = shipped_weights()
    kind = "SYNTHETIC shapes, not CIFAR-10" if split["synthetic"] else "real images"
    print(f"{split['dataset']} ({kind}): {len(images)} images, {len(train)} training and {len(held)} held-out "
          f"triplets; the tutorial's Keras code (Keras {keras.__version__}), {split['epochs']} epochs, "
          f"batch {split['batch_size']}")
    runs = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        started = time.time()
        keras.utils.set_random_seed(seed)
        backbone, model = build(shipped, split["learning_rate"], split["margin"])
        stop = keras.callbacks.EarlyStopping(patience=split["patience"], restore_best_weights=True, monitor="val_loss")
        history = model.fit(branches(train), np.ones(len(train)), epochs=split["epochs"],
                            batch_size=split["batch_size"], shuffle=True, verbose=0, callbacks=[stop],
                            validation_data=(branches(held), np.ones(len(held))))
        val = [float(v) for v in history.history["val_loss"]]
        embed = lambda at: backbone.predict(images[held[:, at]], batch_size=64, verbose=0).reshape(len(held), -1)  # noqa: E731
        anchors, positives, negatives = embed(0), embed(1), embed(2)
        scores = np.concatenate([angular(anchors, positives), angular(anchors, negatives)])
        labels = np.arange(2 * len(held)) < len(held)
        auc = delong(scores, labels)
        best = int(np.argmin(val)) + 1
        run = {"seed": seed, "val_loss": val, "loss": [float(v) for v in history.history["loss"]],
               "best_epoch": best, "auc": auc, "seconds": time.time() - started}
        print(f"keras seed {seed}: val_loss {' '.join(f'{v:.4f}' for v in val)} (best epoch {best}) - held-out AUC "
              f"{auc['auc']:.4f} [{auc['low']:.4f}, {auc['high']:.4f}] (DeLong 95%) - {run['seconds']:.0f} s")
        runs.append(run)
    aucs = np.array([run["auc"]["auc"] for run in runs])
    sd = float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0
    print(f"keras over {len(runs)} seeds: held-out AUC mean {aucs.mean():.4f}, sd {sd:.4f}, "
          f"min {aucs.min():.4f}, max {aucs.max():.4f}")
    if args.report:
        args.report.write_text(json.dumps({"trainer": "keras", "keras": keras.__version__, "runs": runs,
                                           "auc": {"mean": float(aucs.mean()), "standard_deviation": sd,
                                                   "min": float(aucs.min()), "max": float(aucs.max())}}, indent=1))


if __name__ == "__main__":
    main()

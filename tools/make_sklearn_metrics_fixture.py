"""Reference values for the verification metrics, computed with scikit-learn and scipy.

Writes crates/core/tests/fixtures/sklearn-metrics/cases.json, read by crates/core/tests/metrics_reference.rs.
Run: pip install scikit-learn scipy numpy && python3 tools/make_sklearn_metrics_fixture.py

The ROC curve, AUC, precision/recall curve and confusion counts come from scikit-learn. The equal
error rate is the usual `brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)`. The FMR operating
point and the best F1 are read off scikit-learn's curves by the rules our docs state.
Every float is written as a string (Python's shortest round-trip repr, which Rust's `str::parse`
reads back exactly); +infinity (the first ROC threshold) as "inf".
"""

import json
import pathlib

import numpy as np
import scipy
import sklearn
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_auc_score, roc_curve

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/sklearn-metrics/cases.json"
FMR_TARGETS = [1e-1, 1e-2, 1e-3]


def exact(value):
    """A float as the string that parses back to exactly the same double."""
    return repr(float(value)) if np.isfinite(value) else ("inf" if value > 0 else "-inf")


def exacts(values):
    return [exact(v) for v in values]


def case(name, scores, labels):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    out = {"name": name, "scores": exacts(scores), "labels": labels.tolist()}
    out["auc"] = exact(roc_auc_score(labels, scores))
    for drop in (True, False):
        fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=drop)
        out["roc_drop" if drop else "roc_all"] = {
            "fpr": exacts(fpr), "tpr": exacts(tpr), "thresholds": exacts(thr)}
    precision, recall, pr_thresholds = precision_recall_curve(labels, scores)
    out["pr"] = {"precision": exacts(precision), "recall": exacts(recall), "thresholds": exacts(pr_thresholds)}

    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False)
    out["eer"] = exact(brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0, xtol=1e-15))
    points = []
    for target in FMR_TARGETS:
        at = int(np.nonzero(fpr <= target)[0].max())
        points.append({"target": exact(target), "threshold": exact(thr[at]), "fmr": exact(fpr[at]),
                       "tmr": exact(tpr[at])})
    out["at_fmr"] = points
    # Best F1 over the curve's thresholds (not its final (1, 0) point); ties to the highest threshold.
    p, r = precision[:-1], recall[:-1]
    f1 = np.where(p + r > 0, 2 * p * r / np.where(p + r > 0, p + r, 1), 0.0)
    best = int(np.nonzero(f1 == f1.max())[0].max())
    out["best_f1"] = {"threshold": exact(pr_thresholds[best]), "f1": exact(f1[best])}

    confusion = []
    for t in np.quantile(scores, [0.0, 0.1, 0.5, 0.9, 1.0]).tolist() + [float(scores.max()) + 1.0]:
        tn, fp, fn, tp = confusion_matrix(labels, (scores >= t).astype(np.int64), labels=[0, 1]).ravel()
        confusion.append({"threshold": exact(t), "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn)})
    out["confusion"] = confusion
    return out


def main():
    rng = np.random.default_rng(20261129)
    cases = [
        case("scikit-learn docs example", [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]),
        case("small with ties", [0.9, 0.8, 0.8, 0.8, 0.6, 0.6, 0.5, 0.3, 0.3, 0.1], [1, 1, 0, 1, 0, 1, 0, 0, 1, 0]),
        case("all scores equal", [0.42] * 10, [1, 0] * 5),
        case("perfectly separated", [0.95, 0.9, 0.85, 0.2, 0.1], [1, 1, 1, 0, 0]),
        case("inverted", [0.95, 0.9, 0.85, 0.2, 0.1], [0, 0, 0, 1, 1]),
        case("few impostors", list(rng.uniform(size=40)), [1] * 35 + [0] * 5),
    ]
    # The recipe's held-out set size: 1,500 genuine and 1,500 impostor angular similarities.
    genuine = np.clip(rng.normal(0.72, 0.08, 1500), 0, 1)
    impostor = np.clip(rng.normal(0.58, 0.09, 1500), 0, 1)
    labels = [1] * 1500 + [0] * 1500
    continuous = np.concatenate([genuine, impostor]).astype(np.float32).astype(np.float64)
    cases.append(case("3000 pairs, float32 scores", continuous, labels))
    cases.append(case("3000 pairs, rounded to 3 decimals (many ties)", np.round(continuous, 3), labels))
    cases.append(case("3000 pairs, 8 distinct scores", np.floor(continuous * 8) / 8, labels))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"generator": f"scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, "
                                            f"numpy {np.__version__}", "cases": cases}))
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(cases)} cases)")


if __name__ == "__main__":
    main()

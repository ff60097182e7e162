"""Reference values for DeLong's AUC interval and DeLong's test of two correlated AUCs.

Writes crates/core/tests/fixtures/delong/cases.json, read by crates/core/tests/metrics_reference.rs.
Run: pip install numpy scipy && python3 tools/make_delong_fixture.py

Independent of the Rust code's method: the Rust side counts placements on sorted scores (midranks);
this script builds the full m x n matrix of psi(x_i, y_j) (1 above, 1/2 tied, 0 below) for each
score list and takes DeLong, DeLong and Clarke-Pearson (1988) literally: V10 = row means, V01 =
column means, the covariance matrices of (V10_A, V10_B) and (V01_A, V01_B) with numpy.cov
(divisor n - 1), and the p-value from scipy.stats.norm. Every float is written as a string
(Python's shortest round-trip repr).
"""

import json
import pathlib

import numpy as np
import scipy
from scipy.stats import norm

OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/core/tests/fixtures/delong/cases.json"
Z_95 = norm.ppf(0.975)


def exact(value):
    return repr(float(value))


def components(scores, labels):
    genuine = scores[labels]
    impostor = scores[~labels]
    psi = (genuine[:, None] > impostor[None, :]).astype(float) + 0.5 * (genuine[:, None] == impostor[None, :])
    return psi.mean(axis=1), psi.mean(axis=0), psi.mean()


def case(name, first, second, labels):
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    m, n = labels.sum(), (~labels).sum()
    v10a, v01a, auc_a = components(first, labels)
    v10b, v01b, auc_b = components(second, labels)
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    se_a = np.sqrt(s10[0, 0] / m + s01[0, 0] / n)
    var_diff = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    se_diff = np.sqrt(max(var_diff, 0.0))
    diff = auc_a - auc_b
    z = diff / se_diff
    return {
        "name": name,
        "first": [exact(v) for v in first],
        "second": [exact(v) for v in second],
        "labels": labels.astype(int).tolist(),
        "first_auc": exact(auc_a),
        "first_se": exact(se_a),
        "first_low": exact(max(auc_a - Z_95 * se_a, 0.0)),
        "first_high": exact(min(auc_a + Z_95 * se_a, 1.0)),
        "second_auc": exact(auc_b),
        "difference": exact(diff),
        "difference_se": exact(se_diff),
        "difference_low": exact(diff - Z_95 * se_diff),
        "difference_high": exact(diff + Z_95 * se_diff),
        "z": exact(z),
        "p_value": exact(2 * norm.sf(abs(z))),
    }


def main():
    rng = np.random.default_rng(20261205)
    cases = []
    # Two models scoring the same 60 genuine and 60 impostor pairs: the second separates them
    # better, and its scores are correlated with the first's (a shared pair difficulty).
    labels = np.array([True] * 60 + [False] * 60)
    difficulty = rng.normal(size=120)
    first = np.where(labels, 0.6, 0.4) + 0.15 * difficulty + 0.15 * rng.normal(size=120)
    second = np.where(labels, 0.7, 0.3) + 0.15 * difficulty + 0.1 * rng.normal(size=120)
    cases.append(case("correlated, the second better", first, second, labels))
    # Scores rounded to two decimals: many ties, within and across the classes.
    cases.append(case("ties", np.round(first, 1), np.round(second, 1), labels))
    # Unequal sides, close AUCs: a difference the test does not call significant.
    labels = np.array([True] * 25 + [False] * 70)
    base = rng.normal(size=95)
    first = np.where(labels, 0.3, 0.0) + base + 0.3 * rng.normal(size=95)
    second = np.where(labels, 0.3, 0.0) + base + 0.3 * rng.normal(size=95)
    cases.append(case("unequal sides, close", first, second, labels))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"made_by": f"numpy {np.__version__}, scipy {scipy.__version__}", "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

//! DeLong's confidence interval for a ROC AUC (DeLong, DeLong and Clarke-Pearson, "Comparing the
//! areas under two or more correlated receiver operating characteristic curves: a nonparametric
//! approach", Biometrics 44, 1988).
//!
//! With m genuine scores x_i and n impostor scores y_j, and psi(x, y) = 1 when x > y, 1/2 when
//! x = y, 0 otherwise: the AUC is the mean of psi over all pairs; V10(x_i) is the mean of
//! psi(x_i, y_j) over j, V01(y_j) the mean over i; their sample variances S10 and S01 (divisor
//! m - 1 and n - 1) give `Var(AUC) = S10 / m + S01 / n`, and the interval is AUC +- 1.96 SE,
//! clipped to [0, 1]. Computed from sorted scores (midranks), O((m + n) log(m + n)).

use serde::{Deserialize, Serialize};

use super::MetricError;

/// The AUC with its standard error and 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AucInterval {
    pub auc: f64,
    pub standard_error: f64,
    pub low: f64,
    pub high: f64,
}

/// z for a two-sided 95% normal interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// DeLong's AUC, standard error and 95% interval for `scores` labelled genuine (`true`) or
/// impostor. Needs at least two of each (a variance needs two values).
pub fn delong_interval(scores: &[f64], labels: &[bool]) -> Result<AucInterval, MetricError> {
    let parts = Components::of(scores, labels)?;
    let (m, n) = (parts.v10.len() as f64, parts.v01.len() as f64);
    let standard_error = (covariance(&parts.v10, &parts.v10) / m + covariance(&parts.v01, &parts.v01) / n).sqrt();
    let auc = parts.auc;
    Ok(AucInterval {
        auc,
        standard_error,
        low: (auc - Z_95 * standard_error).max(0.0),
        high: (auc + Z_95 * standard_error).min(1.0),
    })
}

/// Two AUCs on the same pairs compared (DeLong's test for correlated ROC curves): the difference
/// `first - second`, its standard error, z, the two-sided p-value and a 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AucDifference {
    pub first: f64,
    pub second: f64,
    pub difference: f64,
    pub standard_error: f64,
    pub z: f64,
    pub p_value: f64,
    pub low: f64,
    pub high: f64,
}

/// DeLong's test of `first`'s AUC against `second`'s, both scoring the same pairs (`labels`, in
/// the same order): `Var(A - B) = (S10_AA + S10_BB - 2 S10_AB) / m + (S01_AA + S01_BB - 2
/// S01_AB) / n`, with the S the sample covariances of the two runs' placements. Two identical
/// score lists differ by 0 with p = 1.
pub fn delong_difference(first: &[f64], second: &[f64], labels: &[bool]) -> Result<AucDifference, MetricError> {
    if first.len() != second.len() {
        return Err(MetricError::LengthMismatch { scores: second.len(), labels: first.len() });
    }
    let a = Components::of(first, labels)?;
    let b = Components::of(second, labels)?;
    let (m, n) = (a.v10.len() as f64, a.v01.len() as f64);
    let side = |x: &[f64], y: &[f64]| covariance(x, x) + covariance(y, y) - 2.0 * covariance(x, y);
    let variance = (side(&a.v10, &b.v10) / m + side(&a.v01, &b.v01) / n).max(0.0);
    let standard_error = variance.sqrt();
    let difference = a.auc - b.auc;
    let z = if standard_error > 0.0 {
        difference / standard_error
    } else if difference == 0.0 {
        0.0
    } else {
        difference.signum() * f64::INFINITY
    };
    Ok(AucDifference {
        first: a.auc,
        second: b.auc,
        difference,
        standard_error,
        z,
        p_value: libm::erfc(z.abs() / std::f64::consts::SQRT_2),
        low: difference - Z_95 * standard_error,
        high: difference + Z_95 * standard_error,
    })
}

/// DeLong's structural components: each genuine score's share of impostors below it (ties half)
/// and each impostor's share of genuine scores above it, in the order the scores came.
struct Components {
    v10: Vec<f64>,
    v01: Vec<f64>,
    auc: f64,
}

impl Components {
    fn of(scores: &[f64], labels: &[bool]) -> Result<Self, MetricError> {
        if scores.is_empty() {
            return Err(MetricError::Empty);
        }
        if scores.len() != labels.len() {
            return Err(MetricError::LengthMismatch { scores: scores.len(), labels: labels.len() });
        }
        if let Some(index) = scores.iter().position(|score| score.is_nan()) {
            return Err(MetricError::NotANumber { index });
        }
        let genuine: Vec<f64> = scores.iter().zip(labels).filter(|&(_, &l)| l).map(|(&s, _)| s).collect();
        let impostor: Vec<f64> = scores.iter().zip(labels).filter(|&(_, &l)| !l).map(|(&s, _)| s).collect();
        let (m, n) = (genuine.len(), impostor.len());
        if m < 2 || n < 2 {
            return Err(MetricError::TooFewForInterval { positives: m, negatives: n });
        }
        let sorted = |values: &[f64]| {
            let mut sorted = values.to_vec();
            sorted.sort_by(f64::total_cmp);
            sorted
        };
        let (genuine_sorted, impostor_sorted) = (sorted(&genuine), sorted(&impostor));
        // psi summed over the other side: how many are below, plus half of the ties.
        let placement = |value: f64, others: &[f64], above: bool| -> f64 {
            let below = others.partition_point(|&o| o < value);
            let not_above = others.partition_point(|&o| o <= value);
            let ties = (not_above - below) as f64;
            if above { below as f64 + 0.5 * ties } else { (others.len() - not_above) as f64 + 0.5 * ties }
        };
        let v10: Vec<f64> = genuine.iter().map(|&x| placement(x, &impostor_sorted, true) / n as f64).collect();
        let v01: Vec<f64> = impostor.iter().map(|&y| placement(y, &genuine_sorted, false) / m as f64).collect();
        let auc = v10.iter().sum::<f64>() / m as f64;
        Ok(Self { v10, v01, auc })
    }
}

/// Sample covariance (divisor n - 1) of two equally long lists of at least two values.
fn covariance(x: &[f64], y: &[f64]) -> f64 {
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let (mx, my) = (mean(x), mean(y));
    x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum::<f64>() / (x.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_by_hand() {
        // Genuine 0.9, 0.8; impostor 0.7, 0.85. psi: (0.9, 0.7) 1, (0.9, 0.85) 1, (0.8, 0.7) 1,
        // (0.8, 0.85) 0: AUC 3/4. V10 = [1, 1/2], V01 = [1, 1/2] (for 0.7 and 0.85): S10 = S01 =
        // 1/8, Var = 1/16 + 1/16 = 1/8.
        let interval = delong_interval(&[0.9, 0.8, 0.7, 0.85], &[true, true, false, false]).expect("interval");
        assert!((interval.auc - 0.75).abs() < 1e-12);
        assert!((interval.standard_error - 0.125f64.sqrt()).abs() < 1e-12);
        assert_eq!(interval.high, 1.0);
        assert!((interval.low - (0.75 - Z_95 * 0.125f64.sqrt())).abs() < 1e-12);
    }

    #[test]
    fn ties_count_half_and_the_auc_is_scikit_learns() {
        // Genuine 0.5, 0.5, 0.9; impostor 0.5, 0.1, 0.2. psi rows: 0.5 -> (1/2, 1, 1), twice;
        // 0.9 -> (1, 1, 1). AUC = (2.5 + 2.5 + 3) / 9 = 8/9. V10 = [5/6, 5/6, 1];
        // V01 (0.1, 0.2, 0.5) = [1, 1, 2/3]. S10 = var(5/6, 5/6, 1) = 1/108; S01 = 1/27.
        let scores = [0.5, 0.5, 0.9, 0.5, 0.1, 0.2];
        let labels = [true, true, true, false, false, false];
        let interval = delong_interval(&scores, &labels).expect("interval");
        assert!((interval.auc - 8.0 / 9.0).abs() < 1e-12);
        let auc = super::super::roc_auc(&scores, &labels).expect("auc");
        assert!((interval.auc - auc).abs() < 1e-12, "DeLong's AUC is the Mann-Whitney one: {auc}");
        let want = (1.0 / 108.0 / 3.0 + 1.0 / 27.0 / 3.0f64).sqrt();
        assert!((interval.standard_error - want).abs() < 1e-12, "{} vs {want}", interval.standard_error);
    }

    /// Eight genuine scores 0.2, 0.4, ..., 1.6 between eight impostors 0.1, 0.3, ..., 1.5: genuine
    /// k (1-based) beats k impostors, AUC = 36/64; V10 = k/8 and V01 = (9 - j)/8, each with sample
    /// variance (42/64)/7 = 0.09375: Var = 2 x 0.09375/8, and an interval clipped at neither end.
    /// (The covariance written with one factor uncentred, `sum (x + mean_x)(y - mean_y)` or
    /// `sum (x - mean_x)(y + mean_y)`, is the same number: the other factor sums to zero, so the
    /// added mean contributes nothing. Mutation testing cannot tell them apart.)
    #[test]
    fn an_interval_inside_zero_and_one_worked_by_hand() {
        let genuine = (1..=8).map(|k| 0.2 * f64::from(k));
        let impostor = (1..=8).map(|k| 0.2 * f64::from(k) - 0.1);
        let scores: Vec<f64> = genuine.chain(impostor).collect();
        let labels: Vec<bool> = (0..16).map(|at| at < 8).collect();
        let interval = delong_interval(&scores, &labels).expect("interval");
        let se = (2.0 * 0.09375 / 8.0f64).sqrt();
        assert!((interval.auc - 36.0 / 64.0).abs() < 1e-12, "{interval:?}");
        assert!((interval.standard_error - se).abs() < 1e-12, "{interval:?}");
        assert!((interval.low - (36.0 / 64.0 - Z_95 * se)).abs() < 1e-12, "{interval:?}");
        assert!((interval.high - (36.0 / 64.0 + Z_95 * se)).abs() < 1e-12, "{interval:?}");
        assert!(interval.low > 0.26 && interval.high < 0.87, "neither end clipped: {interval:?}");
    }

    #[test]
    fn refuses_what_has_no_variance() {
        assert!(matches!(
            delong_interval(&[0.9, 0.1], &[true, false]),
            Err(MetricError::TooFewForInterval { positives: 1, negatives: 1 })
        ));
        // One side alone too small is enough to refuse (each side's variance needs two values).
        assert!(matches!(
            delong_interval(&[0.9, 0.1, 0.2, 0.3], &[true, false, false, false]),
            Err(MetricError::TooFewForInterval { positives: 1, negatives: 3 })
        ));
        assert!(matches!(
            delong_interval(&[0.9, 0.8, 0.7, 0.1], &[true, true, true, false]),
            Err(MetricError::TooFewForInterval { positives: 3, negatives: 1 })
        ));
        assert!(matches!(delong_interval(&[], &[]), Err(MetricError::Empty)));
        assert!(matches!(
            delong_interval(&[f64::NAN, 0.1, 0.2, 0.3], &[true, true, false, false]),
            Err(MetricError::NotANumber { index: 0 })
        ));
    }
}

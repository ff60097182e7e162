//! Verification (1:1) metrics: the ROC curve, AUC, operating thresholds and counts.

use serde::{Deserialize, Serialize};

use super::MetricError;

/// Labelled pair scores, sorted once by descending score and grouped at equal scores.
///
/// Every distinct score is a threshold; at each one the counts of genuine (`tps`) and impostor
/// (`fps`) pairs scoring at or above it are kept, as scikit-learn's `_binary_clf_curve` does.
#[derive(Clone, Debug, PartialEq)]
pub struct Verification {
    thresholds: Vec<f64>,
    tps: Vec<u64>,
    fps: Vec<u64>,
}

/// A ROC curve as scikit-learn's `roc_curve` returns it: the first point is (0, 0) at threshold
/// +infinity, then one point per kept threshold in decreasing order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocCurve {
    pub fpr: Vec<f64>,
    pub tpr: Vec<f64>,
    pub thresholds: Vec<f64>,
}

/// Counts at one threshold: a pair is a match when its score is at or above it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub threshold: f64,
    /// Genuine pairs accepted.
    pub true_matches: u64,
    /// Impostor pairs accepted.
    pub false_matches: u64,
    /// Impostor pairs rejected.
    pub true_non_matches: u64,
    /// Genuine pairs rejected.
    pub false_non_matches: u64,
}

/// The operating point for a target false match rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FmrPoint {
    pub target: f64,
    /// The lowest threshold whose false match rate does not exceed the target (+infinity when even
    /// the highest score is an impostor's and one false match is already too many).
    pub threshold: f64,
    /// The false match rate reached there (at most `target`).
    pub fmr: f64,
    /// The true match rate there.
    pub tmr: f64,
    /// False when there are too few impostor pairs to measure the target (`target < 1 / negatives`).
    pub resolvable: bool,
}

/// The equal error rate: where the false match rate equals the false non-match rate on the ROC
/// curve, its points joined by straight lines.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Eer {
    pub rate: f64,
    /// The threshold of the first ROC point (from the highest threshold down) where the false
    /// match rate reaches the false non-match rate.
    pub threshold: f64,
}

/// Precision, recall and F1 at one threshold.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrPoint {
    pub threshold: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The figures a report shows for a set of pair scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerificationSummary {
    pub positives: u64,
    pub negatives: u64,
    pub auc: f64,
    pub eer: Eer,
    /// The operating points at false match rates 1e-1, 1e-2 and 1e-3.
    pub at_fmr: Vec<FmrPoint>,
    pub best_f1: PrPoint,
}

impl Verification {
    /// The false match rates a summary reports operating points for.
    pub const SUMMARY_FMRS: [f64; 3] = [1e-1, 1e-2, 1e-3];

    /// AUC, EER, the operating points at [`Self::SUMMARY_FMRS`] and the best F1.
    pub fn summary(&self) -> VerificationSummary {
        VerificationSummary {
            positives: self.positives(),
            negatives: self.negatives(),
            auc: self.auc(),
            eer: self.eer(),
            at_fmr: Self::SUMMARY_FMRS.iter().map(|&target| self.at_fmr(target)).collect(),
            best_f1: self.best_f1(),
        }
    }

    /// `labels[i]` is true for a genuine (matching) pair. Errors: empty input, lengths that
    /// differ, a NaN score, or only one class present.
    pub fn new(scores: &[f64], labels: &[bool]) -> Result<Self, MetricError> {
        if scores.len() != labels.len() {
            return Err(MetricError::LengthMismatch { scores: scores.len(), labels: labels.len() });
        }
        if scores.is_empty() {
            return Err(MetricError::Empty);
        }
        if let Some(index) = scores.iter().position(|score| score.is_nan()) {
            return Err(MetricError::NotANumber { index });
        }
        let positives = labels.iter().filter(|&&label| label).count();
        let negatives = labels.len() - positives;
        if positives == 0 || negatives == 0 {
            return Err(MetricError::OneClass { positives, negatives });
        }
        let mut pairs: Vec<(f64, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
        pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        let (mut thresholds, mut tps, mut fps) = (Vec::new(), Vec::new(), Vec::new());
        let (mut tp, mut fp) = (0u64, 0u64);
        for (at, &(score, genuine)) in pairs.iter().enumerate() {
            if genuine {
                tp += 1;
            } else {
                fp += 1;
            }
            // `==` groups -0.0 with 0.0, as numpy's `diff` does.
            if pairs.get(at + 1).is_none_or(|next| next.0 != score) {
                thresholds.push(score);
                tps.push(tp);
                fps.push(fp);
            }
        }
        Ok(Self { thresholds, tps, fps })
    }

    pub fn positives(&self) -> u64 {
        self.tps.last().copied().unwrap_or(0)
    }

    pub fn negatives(&self) -> u64 {
        self.fps.last().copied().unwrap_or(0)
    }

    /// The ROC curve; `drop_intermediate` drops the points that lie on a straight line between
    /// their neighbours, as scikit-learn's default does (the area is unchanged).
    pub fn roc(&self, drop_intermediate: bool) -> RocCurve {
        let kept: Vec<usize> = if drop_intermediate && self.thresholds.len() > 2 {
            let last = self.thresholds.len() - 1;
            let second_difference =
                |values: &[u64], at: usize| values[at + 1] as i128 - 2 * values[at] as i128 + values[at - 1] as i128;
            (0..=last)
                .filter(|&at| {
                    at == 0
                        || at == last
                        || second_difference(&self.fps, at) != 0
                        || second_difference(&self.tps, at) != 0
                })
                .collect()
        } else {
            (0..self.thresholds.len()).collect()
        };
        let (positives, negatives) = (self.positives() as f64, self.negatives() as f64);
        let mut curve = RocCurve {
            fpr: Vec::with_capacity(kept.len() + 1),
            tpr: Vec::with_capacity(kept.len() + 1),
            thresholds: Vec::with_capacity(kept.len() + 1),
        };
        curve.fpr.push(0.0);
        curve.tpr.push(0.0);
        curve.thresholds.push(f64::INFINITY);
        for at in kept {
            curve.fpr.push(self.fps[at] as f64 / negatives);
            curve.tpr.push(self.tps[at] as f64 / positives);
            curve.thresholds.push(self.thresholds[at]);
        }
        curve
    }

    /// The area under the ROC curve by the trapezoidal rule, summed in exact integer counts and
    /// divided once: scikit-learn's `roc_auc_score`, and the Mann-Whitney statistic with ties
    /// counted half.
    pub fn auc(&self) -> f64 {
        let (mut twice_area, mut tp_before, mut fp_before) = (0u128, 0u64, 0u64);
        for (&tp, &fp) in self.tps.iter().zip(&self.fps) {
            twice_area += (fp - fp_before) as u128 * (tp + tp_before) as u128;
            (tp_before, fp_before) = (tp, fp);
        }
        twice_area as f64 / (2.0 * self.positives() as f64 * self.negatives() as f64)
    }

    /// The counts at `threshold` (a pair matches when its score is `>= threshold`; a NaN
    /// threshold accepts nothing).
    pub fn at(&self, threshold: f64) -> Confusion {
        // Thresholds are decreasing: the accepted groups are the prefix at or above `threshold`.
        let accepted = self.thresholds.partition_point(|&score| score >= threshold);
        let (tp, fp) = match accepted {
            0 => (0, 0),
            count => (self.tps[count - 1], self.fps[count - 1]),
        };
        Confusion {
            threshold,
            true_matches: tp,
            false_matches: fp,
            true_non_matches: self.negatives() - fp,
            false_non_matches: self.positives() - tp,
        }
    }

    /// The operating point for a target false match rate (e.g. 1e-3): the lowest threshold whose
    /// false match rate is at most `target`, with the true match rate there.
    pub fn at_fmr(&self, target: f64) -> FmrPoint {
        let negatives = self.negatives() as f64;
        let within = self.fps.partition_point(|&fp| fp as f64 / negatives <= target);
        let (threshold, tp, fp) = match within {
            0 => (f64::INFINITY, 0, 0),
            count => (self.thresholds[count - 1], self.tps[count - 1], self.fps[count - 1]),
        };
        FmrPoint {
            target,
            threshold,
            fmr: fp as f64 / negatives,
            tmr: tp as f64 / self.positives() as f64,
            resolvable: target * negatives >= 1.0,
        }
    }

    /// The equal error rate, where the ROC curve (points joined by straight lines, starting at
    /// (0, 0)) crosses the line `tpr = 1 - fpr`.
    pub fn eer(&self) -> Eer {
        let (positives, negatives) = (self.positives() as f64, self.negatives() as f64);
        // g = fpr + tpr - 1 rises from -1 at (0, 0) to +1 at (1, 1); the first point with g >= 0
        // closes the segment that crosses the line.
        let (mut fpr_before, mut g_before) = (0.0, -1.0);
        for at in 0..self.thresholds.len() {
            let fpr = self.fps[at] as f64 / negatives;
            let g = fpr + self.tps[at] as f64 / positives - 1.0;
            if g >= 0.0 {
                let along = -g_before / (g - g_before);
                return Eer { rate: fpr_before + along * (fpr - fpr_before), threshold: self.thresholds[at] };
            }
            (fpr_before, g_before) = (fpr, g);
        }
        // Unreachable: the last point is (1, 1), where g = 1.
        Eer { rate: fpr_before, threshold: f64::NEG_INFINITY }
    }

    /// Precision, recall and F1 at every distinct threshold, highest first (scikit-learn's
    /// `precision_recall_curve` without its final (1, 0) point, reversed).
    pub fn precision_recall(&self) -> Vec<PrPoint> {
        let positives = self.positives() as f64;
        (0..self.thresholds.len())
            .map(|at| {
                let (tp, fp) = (self.tps[at] as f64, self.fps[at] as f64);
                let precision = tp / (tp + fp);
                let recall = tp / positives;
                PrPoint { threshold: self.thresholds[at], precision, recall, f1: f1(precision, recall) }
            })
            .collect()
    }

    /// The threshold with the highest F1; among equal F1 values, the highest threshold.
    pub fn best_f1(&self) -> PrPoint {
        self.precision_recall()
            .into_iter()
            .reduce(|best, point| if point.f1 > best.f1 { point } else { best })
            .unwrap_or(PrPoint { threshold: f64::INFINITY, precision: 1.0, recall: 0.0, f1: 0.0 })
    }
}

impl Confusion {
    /// True match rate (recall, sensitivity): accepted genuine pairs over all genuine pairs.
    pub fn tmr(&self) -> f64 {
        ratio(self.true_matches, self.true_matches + self.false_non_matches)
    }

    /// False match rate: accepted impostor pairs over all impostor pairs.
    pub fn fmr(&self) -> f64 {
        ratio(self.false_matches, self.false_matches + self.true_non_matches)
    }

    /// False non-match rate: `1 - tmr`.
    pub fn fnmr(&self) -> f64 {
        ratio(self.false_non_matches, self.true_matches + self.false_non_matches)
    }

    /// Accepted genuine pairs over all accepted pairs; 1 when nothing is accepted (scikit-learn's
    /// curve convention at its end point).
    pub fn precision(&self) -> f64 {
        match self.true_matches + self.false_matches {
            0 => 1.0,
            accepted => self.true_matches as f64 / accepted as f64,
        }
    }

    pub fn recall(&self) -> f64 {
        self.tmr()
    }

    pub fn f1(&self) -> f64 {
        f1(self.precision(), self.recall())
    }

    pub fn accuracy(&self) -> f64 {
        let total = self.true_matches + self.false_matches + self.true_non_matches + self.false_non_matches;
        ratio(self.true_matches + self.true_non_matches, total)
    }
}

/// The area under the ROC curve of `scores` (higher = more alike) for genuine (`true`) and impostor
/// pairs, as scikit-learn's `roc_auc_score`.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64, MetricError> {
    Ok(Verification::new(scores, labels)?.auc())
}

fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 }
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verification(scores: &[f64], labels: &[u8]) -> Verification {
        let labels: Vec<bool> = labels.iter().map(|&label| label == 1).collect();
        Verification::new(scores, &labels).expect("valid input")
    }

    /// Three genuine pairs (0.9, 0.8, 0.4) and four impostors (0.7, 0.3, 0.2, 0.1), at the
    /// threshold 0.5: 2 true matches, 1 false match, 3 true non-matches, 1 false non-match. Every
    /// rate by hand: each is a different fraction, so no rate can stand in for another.
    #[test]
    fn the_confusion_at_a_threshold_has_its_hand_worked_rates() {
        let v = verification(&[0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1], &[1, 1, 1, 0, 0, 0, 0]);
        let at = v.at(0.5);
        assert_eq!((at.true_matches, at.false_matches, at.true_non_matches, at.false_non_matches), (2, 1, 3, 1));
        assert_eq!(at.tmr(), 2.0 / 3.0);
        assert_eq!(at.recall(), 2.0 / 3.0);
        assert_eq!(at.fnmr(), 1.0 / 3.0);
        assert_eq!(at.fmr(), 1.0 / 4.0);
        assert_eq!(at.precision(), 2.0 / 3.0);
        assert_eq!(at.accuracy(), 5.0 / 7.0);
        assert!((at.f1() - 2.0 / 3.0).abs() < 1e-15, "{}", at.f1());
        // Precision and recall apart: F1 = 2 p r / (p + r) = 2 (1)(1/3) / (4/3) = 1/2.
        let strict = v.at(0.85);
        assert_eq!((strict.precision(), strict.recall(), strict.fnmr()), (1.0, 1.0 / 3.0, 2.0 / 3.0));
        assert!((strict.f1() - 0.5).abs() < 1e-15, "{}", strict.f1());
        // Nothing accepted: no recall, F1 0.
        let none = v.at(0.95);
        assert_eq!((none.recall(), none.f1(), none.fnmr(), none.accuracy()), (0.0, 0.0, 1.0, 4.0 / 7.0));
    }

    /// Two thresholds with the same best F1 (2/3 at 0.9: precision 1, recall 1/2; and at 0.6:
    /// precision 1/2, recall 1): the higher one is chosen, as documented.
    #[test]
    fn the_best_f1_among_equals_is_the_highest_threshold() {
        let v = verification(&[0.9, 0.6, 0.8, 0.7], &[1, 1, 0, 0]);
        let f1s: Vec<f64> = v.precision_recall().iter().map(|point| point.f1).collect();
        assert_eq!(f1s[0], f1s[3], "the fixture's two best F1 values are equal: {f1s:?}");
        let best = v.best_f1();
        assert_eq!((best.threshold, best.precision, best.recall), (0.9, 1.0, 0.5));
    }

    #[test]
    fn scikit_learn_documentation_example() {
        // roc_curve([1, 1, 2, 2], [0.1, 0.4, 0.35, 0.8], pos_label=2) in scikit-learn's docs.
        let set = verification(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1]);
        let roc = set.roc(true);
        assert_eq!(roc.fpr, [0.0, 0.0, 0.5, 0.5, 1.0]);
        assert_eq!(roc.tpr, [0.0, 0.5, 0.5, 1.0, 1.0]);
        assert_eq!(roc.thresholds, [f64::INFINITY, 0.8, 0.4, 0.35, 0.1]);
        assert_eq!(set.auc(), 0.75);
    }

    #[test]
    fn ties_count_half() {
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Ok(0.5));
        // One positive above both negatives, one tied with a negative: (1 + 1 + 1 + 0.5) / 4.
        assert_eq!(verification(&[0.9, 0.5, 0.5, 0.1], &[1, 1, 0, 0]).auc(), 0.875);
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        assert_eq!(roc_auc(&[], &[]), Err(MetricError::Empty));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), Err(MetricError::OneClass { positives: 2, negatives: 0 }));
        assert_eq!(roc_auc(&[0.1, f64::NAN], &[true, false]), Err(MetricError::NotANumber { index: 1 }));
        assert!(matches!(roc_auc(&[0.1], &[true, false]), Err(MetricError::LengthMismatch { .. })));
    }

    #[test]
    fn counts_at_a_threshold() {
        let set = verification(&[0.9, 0.8, 0.7, 0.6, 0.5, 0.4], &[1, 0, 1, 1, 0, 0]);
        let at = set.at(0.7);
        assert_eq!((at.true_matches, at.false_matches, at.true_non_matches, at.false_non_matches), (2, 1, 2, 1));
        assert!((at.precision() - 2.0 / 3.0).abs() < 1e-15);
        assert!((at.tmr() - 2.0 / 3.0).abs() < 1e-15);
        assert!((at.fmr() - 1.0 / 3.0).abs() < 1e-15);
        assert!((at.accuracy() - 4.0 / 6.0).abs() < 1e-15);
        assert_eq!(set.at(0.65).true_matches, 2, "between scores");
        assert_eq!(set.at(1.0).true_matches + set.at(1.0).false_matches, 0);
        assert_eq!(set.at(f64::NEG_INFINITY).false_matches, 3);
        assert_eq!(set.at(f64::NAN).true_matches, 0);
    }

    #[test]
    fn fmr_operating_point() {
        // Impostors at 0.8, 0.5, 0.4, 0.2; genuines at 0.9, 0.7, 0.6, 0.3.
        let set = verification(&[0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2], &[1, 0, 1, 1, 0, 0, 1, 0]);
        let point = set.at_fmr(0.25);
        assert_eq!((point.threshold, point.fmr, point.tmr, point.resolvable), (0.6, 0.25, 0.75, true));
        let strict = set.at_fmr(0.1);
        assert_eq!((strict.threshold, strict.fmr, strict.tmr, strict.resolvable), (0.9, 0.0, 0.25, false));
        let top_impostor = verification(&[0.9, 0.1], &[0, 1]).at_fmr(0.0);
        assert_eq!((top_impostor.threshold, top_impostor.tmr), (f64::INFINITY, 0.0));
    }

    #[test]
    fn equal_error_rate() {
        // Perfect separation: EER 0 at the lowest genuine score.
        let perfect = verification(&[0.9, 0.8, 0.2, 0.1], &[1, 1, 0, 0]).eer();
        assert_eq!((perfect.rate, perfect.threshold), (0.0, 0.8));
        // Fully inverted: EER 1.
        assert_eq!(verification(&[0.9, 0.8, 0.2, 0.1], &[0, 0, 1, 1]).eer().rate, 1.0);
        // All scores equal: the curve is the diagonal, crossed at 0.5.
        assert_eq!(verification(&[0.5; 4], &[1, 0, 1, 0]).eer().rate, 0.5);
        // (0,0) -> (0,1/2) -> (1/2,1/2) -> (1/2,1) -> (1,1): the line tpr = 1 - fpr meets the
        // horizontal segment at fpr = 1/2.
        assert_eq!(verification(&[0.8, 0.4, 0.35, 0.1], &[1, 0, 1, 0]).eer().rate, 0.5);
    }

    #[test]
    fn best_f1_prefers_the_highest_threshold_among_ties() {
        // F1 at 0.9: P 1, R 1/2 -> 2/3; at 0.8: 1/2; at 0.7: P 2/3, R 1 -> 4/5; at 0.1: 2/3.
        let set = verification(&[0.9, 0.8, 0.7, 0.1], &[1, 0, 1, 0]);
        let points = set.precision_recall();
        assert_eq!(points.len(), 4);
        assert!((points[0].f1 - 2.0 / 3.0).abs() < 1e-15);
        assert!((points[2].f1 - 0.8).abs() < 1e-15, "P 2/3, R 1 at 0.7");
        assert_eq!(set.best_f1().threshold, 0.7);
        let tied = verification(&[0.9, 0.5, 0.4], &[1, 0, 0]).best_f1();
        assert_eq!(tied.threshold, 0.9);
    }
}

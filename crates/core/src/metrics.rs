//! Verification metrics on plain slices: angular similarity and ROC AUC.

/// Angular similarity `1 - arccos(clamp(cos, -1, 1)) / pi`, in [0, 1].
pub fn angular_similarity(cosine: f32) -> f32 {
    1.0 - cosine.clamp(-1.0, 1.0).acos() / std::f32::consts::PI
}

/// Inputs for which no AUC exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricError {
    #[error("there are no scores")]
    Empty,
    #[error("scores and labels differ in length ({scores} and {labels})")]
    LengthMismatch { scores: usize, labels: usize },
    #[error("only one class is present ({positives} positives, {negatives} negatives): ROC AUC is undefined")]
    OneClass { positives: usize, negatives: usize },
    #[error("score {index} is not a number")]
    NotANumber { index: usize },
}

/// Area under the ROC curve by the trapezoidal rule over thresholds grouped at equal scores, as
/// scikit-learn's `roc_auc_score` computes it (equal to the Mann-Whitney statistic with ties
/// counted half). `labels[i]` is true for a genuine (matching) pair.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Result<f64, MetricError> {
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
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut area) = (0u64, 0u64, 0.0f64);
    let mut at = 0;
    while at < order.len() {
        let (tp_before, fp_before) = (tp, fp);
        let score = scores[order[at]];
        while at < order.len() && scores[order[at]] == score {
            if labels[order[at]] {
                tp += 1
            } else {
                fp += 1
            }
            at += 1;
        }
        area += (fp - fp_before) as f64 * (tp + tp_before) as f64 / 2.0;
    }
    Ok(area / (positives as f64 * negatives as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scikit_learn_documentation_example() {
        // sklearn.metrics.roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
        let auc = roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).expect("defined");
        assert!((auc - 0.75).abs() < 1e-12);
    }

    #[test]
    fn ties_count_half() {
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Ok(0.5));
        // One positive above both negatives, one tied with a negative: (1 + 1 + 1 + 0.5) / 4.
        let auc = roc_auc(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]).expect("defined");
        assert!((auc - 0.875).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        assert_eq!(roc_auc(&[], &[]), Err(MetricError::Empty));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), Err(MetricError::OneClass { positives: 2, negatives: 0 }));
        assert_eq!(roc_auc(&[0.1, f32::NAN], &[true, false]), Err(MetricError::NotANumber { index: 1 }));
        assert!(matches!(roc_auc(&[0.1], &[true, false]), Err(MetricError::LengthMismatch { .. })));
    }

    #[test]
    fn angular_similarity_known_values() {
        assert!((angular_similarity(1.0) - 1.0).abs() < 1e-7);
        assert!((angular_similarity(0.0) - 0.5).abs() < 1e-7);
        assert!(angular_similarity(-1.0).abs() < 1e-7);
        assert!((angular_similarity(1.0000001) - 1.0).abs() < 1e-7, "clamped");
    }
}

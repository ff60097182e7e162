//! A failure atlas: the held-out pairs class by class at one threshold. A genuine pair counts
//! for its class; an impostor pair for both of its classes (each of them was confused with the
//! other). The page shows each class's true-match and false-match rates beside its retrieval
//! precision, and the class's worst impostor pairs (its highest-scoring ones).

/// One class's pairs at a threshold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassRates {
    pub label: u8,
    /// Genuine pairs of the class, and those scored at or above the threshold.
    pub genuine: usize,
    pub true_matches: usize,
    /// Impostor pairs with an image of the class, and those at or above the threshold.
    pub impostor: usize,
    pub false_matches: usize,
}

impl ClassRates {
    /// True-match rate: genuine pairs called a match (0 when the class has none).
    pub fn tmr(&self) -> f64 {
        ratio(self.true_matches, self.genuine)
    }

    /// False-match rate: impostor pairs called a match (0 when the class has none).
    pub fn fmr(&self) -> f64 {
        ratio(self.false_matches, self.impostor)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// Each class's rates at `threshold` (a score at or above it is a match), by label, for the
/// classes that have a pair. `genuine[i]` says whether pair i is genuine, `classes[i]` are its
/// two images' classes. Pairs beyond the shorter list are ignored.
pub fn class_rates(scores: &[f64], genuine: &[bool], classes: &[(u8, u8)], threshold: f64) -> Vec<ClassRates> {
    let mut by_label: std::collections::BTreeMap<u8, ClassRates> = std::collections::BTreeMap::new();
    for ((&score, &is_genuine), &(first, second)) in scores.iter().zip(genuine).zip(classes) {
        let matched = score >= threshold;
        if is_genuine {
            let rates = by_label.entry(first).or_insert_with(|| ClassRates { label: first, ..ClassRates::default() });
            rates.genuine += 1;
            rates.true_matches += usize::from(matched);
        } else {
            let mut count = |label: u8| {
                let rates = by_label.entry(label).or_insert_with(|| ClassRates { label, ..ClassRates::default() });
                rates.impostor += 1;
                rates.false_matches += usize::from(matched);
            };
            count(first);
            if second != first {
                count(second);
            }
        }
    }
    by_label.into_values().collect()
}

/// The positions of `label`'s `count` highest-scoring impostor pairs (the worst confusions), best
/// score first; ties keep the pairs' order.
pub fn worst_impostors(scores: &[f64], genuine: &[bool], classes: &[(u8, u8)], label: u8, count: usize) -> Vec<usize> {
    let mut found: Vec<usize> = (0..scores.len().min(genuine.len()).min(classes.len()))
        .filter(|&at| !genuine[at] && (classes[at].0 == label || classes[at].1 == label))
        .collect();
    found.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    found.truncate(count);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two genuine cats (0.9, 0.4), a genuine dog (0.8); impostors cat-dog 0.7, dog-bird 0.2,
    /// cat-bird 0.6.
    const SCORES: [f64; 6] = [0.9, 0.4, 0.8, 0.7, 0.2, 0.6];
    const GENUINE: [bool; 6] = [true, true, true, false, false, false];
    const CLASSES: [(u8, u8); 6] = [(0, 0), (0, 0), (1, 1), (0, 1), (1, 2), (0, 2)];

    #[test]
    fn each_class_counts_its_genuine_pairs_and_every_impostor_pair_it_is_in() {
        let rates = class_rates(&SCORES, &GENUINE, &CLASSES, 0.65);
        // Cat: genuine 0.9 (match), 0.4 (not); impostors 0.7 (match), 0.6 (not).
        assert_eq!(rates[0], ClassRates { label: 0, genuine: 2, true_matches: 1, impostor: 2, false_matches: 1 });
        // Dog: genuine 0.8 (match); impostors 0.7 (match), 0.2 (not).
        assert_eq!(rates[1], ClassRates { label: 1, genuine: 1, true_matches: 1, impostor: 2, false_matches: 1 });
        // Bird: no genuine pair; impostors 0.2, 0.6: neither a match.
        assert_eq!(rates[2], ClassRates { label: 2, genuine: 0, true_matches: 0, impostor: 2, false_matches: 0 });
        assert_eq!((rates[0].tmr(), rates[0].fmr(), rates[2].tmr()), (0.5, 0.5, 0.0));
        // At exactly a score, the pair is a match.
        let at = class_rates(&SCORES, &GENUINE, &CLASSES, 0.6);
        assert_eq!((at[0].false_matches, at[2].false_matches), (2, 1));
    }

    #[test]
    fn the_worst_impostors_are_a_class_s_highest_scoring_ones() {
        assert_eq!(worst_impostors(&SCORES, &GENUINE, &CLASSES, 0, 5), vec![3, 5]);
        assert_eq!(worst_impostors(&SCORES, &GENUINE, &CLASSES, 2, 1), vec![5]);
        assert_eq!(worst_impostors(&SCORES, &GENUINE, &CLASSES, 1, 5), vec![3, 4]);
        assert_eq!(worst_impostors(&SCORES, &GENUINE, &CLASSES, 7, 5), Vec::<usize>::new());
        // An impostor pair of one class with itself counts once.
        let rates = class_rates(&[0.5], &[false], &[(3, 3)], 0.4);
        assert_eq!(rates, vec![ClassRates { label: 3, genuine: 0, true_matches: 0, impostor: 1, false_matches: 1 }]);
    }
}

//! The recipe's triplet set, and an image-level split that keeps held-out images out of training.
//!
//! Recipe (see `docs/recipe.md` of the project): for each class in turn, its images in dataset
//! order are cut into consecutive (anchor, positive) pairs; each pair gets one negative drawn
//! uniformly, with replacement, from all images of the other classes; then a seeded shuffle holds
//! out `ceil(5%)` of the triplets. The pairing is identical to the recipe's; the random draws are
//! ours ([`SeededRng`]), since numpy's generator cannot be reproduced bit for bit here: the same
//! seed gives the same set on every platform, but not the tutorial's exact negatives.

use serde::{Deserialize, Serialize};

use super::cifar::CLASS_COUNT;
use crate::random::SeededRng;

/// Three image indices into a dataset: anchor and positive share a class, the negative does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triplet {
    pub anchor: u32,
    pub positive: u32,
    pub negative: u32,
}

/// The distinct images of `triplets` (anchors, positives and negatives), sorted.
pub fn distinct_images(triplets: &[Triplet]) -> Vec<u32> {
    let mut images: Vec<u32> = triplets.iter().flat_map(|t| [t.anchor, t.positive, t.negative]).collect();
    images.sort_unstable();
    images.dedup();
    images
}

/// The images online mining may draw from: the anchors and positives of the training triplets,
/// sorted, never their negatives. Under the recipe's by-triplet split a training negative is drawn
/// from all images, held-out anchors and positives included; since the recipe pairs every image
/// once, anchors and positives of training triplets are never in a held-out triplet's pair, so no
/// held-out anchor or positive is ever trained on by mining.
pub fn mining_images(train: &[Triplet]) -> Vec<u32> {
    let mut images: Vec<u32> = train.iter().flat_map(|t| [t.anchor, t.positive]).collect();
    images.sort_unstable();
    images.dedup();
    images
}

/// How the held-out set is separated from the training set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HeldOutSplit {
    /// The recipe: build all triplets, then hold out a fraction of them. Held-out negatives
    /// (about 95% of them) also appear in training triplets.
    #[default]
    ByTriplet,
    /// Hold out a fraction of each class's images first, then build training triplets from the
    /// remaining images and held-out triplets from the held-out images only: no held-out image is
    /// ever trained on.
    ByImage,
    /// Hold out whole classes (the fraction of the classes present, at least two so held-out
    /// triplets have negatives, and at most all but two): training triplets come from the other
    /// classes only, held-out triplets from the held-out classes only. The held-out AUC is then
    /// the AUC on classes the model never saw: what metric learning is for.
    ByClass,
}

/// The classes a class split holds out, in ascending order: the seeded shuffle's first
/// `round(present x fraction)` of the classes present, at least two and leaving at least two.
/// Empty when fewer than four classes are present (no class split is possible).
pub fn held_out_classes(labels: &[u8], config: &TripletConfig) -> Vec<u8> {
    let classes = labels_by_class(labels, 0..labels.len());
    let mut present: Vec<u8> =
        (0..CLASS_COUNT as u8).filter(|&class| !classes[usize::from(class)].is_empty()).collect();
    if present.len() < 4 {
        return Vec::new();
    }
    let count = ((present.len() as f64 * config.held_out_fraction).round() as usize).clamp(2, present.len() - 2);
    SeededRng::new(config.seed).shuffle(&mut present);
    let mut held = present[..count].to_vec();
    held.sort_unstable();
    held
}

/// Settings of [`TripletSet::build`]; the defaults are the recipe's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TripletConfig {
    pub seed: u64,
    /// Fraction held out, in `(0, 1)`. The recipe: 0.05.
    pub held_out_fraction: f64,
    pub split: HeldOutSplit,
}

impl Default for TripletConfig {
    fn default() -> Self {
        Self { seed: 42, held_out_fraction: 0.05, split: HeldOutSplit::ByTriplet }
    }
}

/// Why no triplet set could be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TripletError {
    #[error("the held-out fraction must lie strictly between 0 and 1, not {0}")]
    Fraction(f64),
    #[error("triplets need images of at least two classes; this dataset has {0}")]
    TooFewClasses(usize),
    #[error("the split leaves no {which} triplets ({images} images); use more data or another fraction")]
    EmptySide { which: &'static str, images: usize },
    #[error(
        "holding out whole classes needs at least four classes (two to train on, two to test on); this dataset has {0}"
    )]
    TooFewClassesToHoldOut(usize),
}

/// Training and held-out triplets over one dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TripletSet {
    pub train: Vec<Triplet>,
    pub held_out: Vec<Triplet>,
}

impl TripletSet {
    /// Build the triplets of a dataset with these `labels` (each below 10).
    pub fn build(labels: &[u8], config: &TripletConfig) -> Result<Self, TripletError> {
        let fraction = config.held_out_fraction;
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(TripletError::Fraction(fraction));
        }
        let classes = labels_by_class(labels, 0..labels.len());
        let present = classes.iter().filter(|images| !images.is_empty()).count();
        if present < 2 {
            return Err(TripletError::TooFewClasses(present));
        }
        let set = match config.split {
            HeldOutSplit::ByTriplet => {
                let mut triplets = recipe_triplets(&classes, &mut SeededRng::new(config.seed));
                // A fresh generator with the same seed, as the recipe seeds its split separately.
                let mut split_rng = SeededRng::new(config.seed);
                split_rng.shuffle(&mut triplets);
                let held = held_out_count(triplets.len(), fraction);
                let train = triplets.split_off(held);
                Self { train, held_out: triplets }
            }
            HeldOutSplit::ByImage => {
                let mut split_rng = SeededRng::new(config.seed);
                let (mut train_pool, mut held_pool) = (Vec::new(), Vec::new());
                for images in &classes {
                    let mut shuffled = images.clone();
                    split_rng.shuffle(&mut shuffled);
                    let held = held_out_count(shuffled.len(), fraction).min(shuffled.len());
                    held_pool.extend_from_slice(&shuffled[..held]);
                    train_pool.extend_from_slice(&shuffled[held..]);
                }
                // Back to dataset order, so pairs are consecutive images as in the recipe.
                train_pool.sort_unstable();
                held_pool.sort_unstable();
                let mut draw = SeededRng::new(config.seed);
                let mut train =
                    recipe_triplets(&labels_by_class(labels, train_pool.iter().map(|&i| i as usize)), &mut draw);
                let held_out =
                    recipe_triplets(&labels_by_class(labels, held_pool.iter().map(|&i| i as usize)), &mut draw);
                split_rng.shuffle(&mut train);
                Self { train, held_out }
            }
            HeldOutSplit::ByClass => {
                let held = held_out_classes(labels, config);
                if held.is_empty() {
                    return Err(TripletError::TooFewClassesToHoldOut(present));
                }
                let is_held = |index: &usize| held.contains(&labels[*index]);
                let mut draw = SeededRng::new(config.seed);
                let mut train =
                    recipe_triplets(&labels_by_class(labels, (0..labels.len()).filter(|i| !is_held(i))), &mut draw);
                let held_out = recipe_triplets(&labels_by_class(labels, (0..labels.len()).filter(is_held)), &mut draw);
                SeededRng::new(config.seed).shuffle(&mut train);
                Self { train, held_out }
            }
        };
        for (which, side) in [("training", &set.train), ("held-out", &set.held_out)] {
            if side.is_empty() {
                return Err(TripletError::EmptySide { which, images: labels.len() });
            }
        }
        Ok(set)
    }
}

/// `sklearn.model_selection.train_test_split`'s test size for a float fraction: `ceil(n * f)`.
fn held_out_count(total: usize, fraction: f64) -> usize {
    (total as f64 * fraction).ceil() as usize
}

/// The image indices of each class, in the order given.
fn labels_by_class(labels: &[u8], indices: impl IntoIterator<Item = usize>) -> Vec<Vec<u32>> {
    let mut classes = vec![Vec::new(); CLASS_COUNT];
    for index in indices {
        classes[usize::from(labels[index])].push(index as u32);
    }
    classes
}

/// Class by class: consecutive pairs, each with one negative drawn from the other classes.
fn recipe_triplets(classes: &[Vec<u32>], rng: &mut SeededRng) -> Vec<Triplet> {
    let mut triplets = Vec::new();
    for (class, images) in classes.iter().enumerate() {
        let mut others: Vec<u32> = classes
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != class)
            .flat_map(|(_, images)| images.iter().copied())
            .collect();
        if others.is_empty() {
            continue;
        }
        // Dataset order, as `np.where(labels != c)` would list them.
        others.sort_unstable();
        for pair in images.chunks_exact(2) {
            let negative = others[rng.index(others.len())];
            triplets.push(Triplet { anchor: pair[0], positive: pair[1], negative });
        }
    }
    triplets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mining_never_draws_a_held_out_anchor_or_positive() {
        // 600 images of 10 classes, the recipe's by-triplet split (5% held out).
        let labels: Vec<u8> = (0..600u32).map(|at| (at % 10) as u8).collect();
        let set = TripletSet::build(&labels, &TripletConfig::default()).expect("triplets");
        let pool = mining_images(&set.train);
        let held: Vec<u32> = set.held_out.iter().flat_map(|t| [t.anchor, t.positive]).collect();
        assert!(!held.is_empty());
        assert!(held.iter().all(|image| pool.binary_search(image).is_err()), "a held-out image in the mining pool");
        // Some held-out anchors and positives are training negatives here: the old pool (every
        // image of the training triplets) took them.
        let every = distinct_images(&set.train);
        assert!(held.iter().any(|image| every.binary_search(image).is_ok()), "the test would not see the old pool");
        // Nothing else is lost: every training anchor and positive is in the pool.
        assert!(
            set.train.iter().all(|t| pool.binary_search(&t.anchor).is_ok() && pool.binary_search(&t.positive).is_ok())
        );
    }

    #[test]
    fn distinct_images_are_sorted_once_each() {
        let t = |anchor, positive, negative| Triplet { anchor, positive, negative };
        assert_eq!(distinct_images(&[t(5, 1, 9), t(1, 5, 2), t(9, 9, 0)]), vec![0, 1, 2, 5, 9]);
        assert_eq!(distinct_images(&[]), Vec::<u32>::new());
    }
    use std::collections::HashSet;

    /// 60,000 labels, 6,000 a class, in a scrambled order as in CIFAR-10.
    fn cifar_like_labels() -> Vec<u8> {
        let mut labels: Vec<u8> = (0..60_000).map(|i| (i % 10) as u8).collect();
        SeededRng::new(7).shuffle(&mut labels);
        labels
    }

    fn check_invariants(labels: &[u8], triplets: &[Triplet]) {
        for t in triplets {
            assert_eq!(labels[t.anchor as usize], labels[t.positive as usize]);
            assert_ne!(labels[t.anchor as usize], labels[t.negative as usize]);
        }
    }

    #[test]
    fn the_recipe_shape() {
        let labels = cifar_like_labels();
        let set = TripletSet::build(&labels, &TripletConfig::default()).expect("builds");
        assert_eq!(set.train.len() + set.held_out.len(), 30_000);
        assert_eq!(set.held_out.len(), 1_500);
        assert_eq!(set.train.len(), 28_500);
        let mut per_class = [0usize; 10];
        for t in set.train.iter().chain(&set.held_out) {
            per_class[usize::from(labels[t.anchor as usize])] += 1;
        }
        assert_eq!(per_class, [3_000; 10]);
        check_invariants(&labels, &set.train);
        check_invariants(&labels, &set.held_out);
    }

    #[test]
    fn pairs_are_consecutive_images_of_a_class() {
        let labels = cifar_like_labels();
        let set = TripletSet::build(&labels, &TripletConfig::default()).expect("builds");
        let class0: Vec<u32> = (0..labels.len() as u32).filter(|&i| labels[i as usize] == 0).collect();
        let pairs: HashSet<(u32, u32)> =
            set.train.iter().chain(&set.held_out).map(|t| (t.anchor, t.positive)).collect();
        for pair in class0.chunks_exact(2) {
            assert!(pairs.contains(&(pair[0], pair[1])));
        }
        // Every image is used exactly once as anchor or positive.
        let mut used: Vec<u32> = set.train.iter().chain(&set.held_out).flat_map(|t| [t.anchor, t.positive]).collect();
        used.sort_unstable();
        assert_eq!(used, (0..60_000).collect::<Vec<_>>());
    }

    #[test]
    fn same_seed_same_set_other_seed_other_set() {
        let labels = cifar_like_labels();
        let config = TripletConfig::default();
        let a = TripletSet::build(&labels, &config).expect("builds");
        assert_eq!(a, TripletSet::build(&labels, &config).expect("builds"));
        let b = TripletSet::build(&labels, &TripletConfig { seed: 43, ..config }).expect("builds");
        assert_ne!(a, b);
    }

    #[test]
    fn negatives_are_spread_over_the_other_classes() {
        let labels = cifar_like_labels();
        let set = TripletSet::build(&labels, &TripletConfig::default()).expect("builds");
        let mut negative_class = [0usize; 10];
        for t in set.train.iter().chain(&set.held_out).filter(|t| labels[t.anchor as usize] == 3) {
            negative_class[usize::from(labels[t.negative as usize])] += 1;
        }
        // 3,000 draws over 9 classes: about 333 each.
        assert_eq!(negative_class[3], 0);
        for (class, &count) in negative_class.iter().enumerate().filter(|(c, _)| *c != 3) {
            assert!((250..420).contains(&count), "class {class}: {count}");
        }
    }

    #[test]
    fn the_recipe_split_leaks_held_out_negatives_and_the_image_split_does_not() {
        let labels = cifar_like_labels();
        let recipe = TripletSet::build(&labels, &TripletConfig::default()).expect("builds");
        let trained = |set: &TripletSet| -> HashSet<u32> {
            set.train.iter().flat_map(|t| [t.anchor, t.positive, t.negative]).collect()
        };
        let seen = trained(&recipe);
        let leaked = recipe.held_out.iter().filter(|t| seen.contains(&t.negative)).count();
        assert!(leaked as f64 / recipe.held_out.len() as f64 > 0.9, "{leaked}");

        let config = TripletConfig { split: HeldOutSplit::ByImage, ..TripletConfig::default() };
        let clean = TripletSet::build(&labels, &config).expect("builds");
        let seen = trained(&clean);
        for t in &clean.held_out {
            assert!(!seen.contains(&t.anchor) && !seen.contains(&t.positive) && !seen.contains(&t.negative));
        }
        assert_eq!(clean.held_out.len(), 1_500);
        assert_eq!(clean.train.len(), 28_500);
        check_invariants(&labels, &clean.train);
        check_invariants(&labels, &clean.held_out);
    }

    #[test]
    fn the_class_split_holds_out_whole_classes_never_seen_in_training() {
        let labels = cifar_like_labels();
        let config = TripletConfig { split: HeldOutSplit::ByClass, held_out_fraction: 0.2, ..TripletConfig::default() };
        let held = held_out_classes(&labels, &config);
        assert_eq!(held.len(), 2, "a fifth of 10 classes: {held:?}");
        assert_eq!(held, held_out_classes(&labels, &config), "the seed decides");
        let other = held_out_classes(&labels, &TripletConfig { seed: 7, ..config.clone() });
        assert_eq!(other.len(), 2);
        let set = TripletSet::build(&labels, &config).expect("builds");
        let class_of = |image: u32| labels[image as usize];
        for t in &set.train {
            assert!([t.anchor, t.positive, t.negative].iter().all(|&i| !held.contains(&class_of(i))), "{t:?}");
        }
        for t in &set.held_out {
            assert!([t.anchor, t.positive, t.negative].iter().all(|&i| held.contains(&class_of(i))), "{t:?}");
            assert_ne!(class_of(t.anchor), class_of(t.negative));
        }
        // 6,000 images a class, a triplet for each two: 8 classes train, 2 are held out.
        assert_eq!((set.train.len(), set.held_out.len()), (24_000, 6_000));
        check_invariants(&labels, &set.train);
        check_invariants(&labels, &set.held_out);
        // Fractions round to a whole number of classes, never fewer than two on either side.
        let most = TripletConfig { held_out_fraction: 0.95, ..config.clone() };
        assert_eq!(held_out_classes(&labels, &most).len(), 8);
        let least = TripletConfig { held_out_fraction: 0.01, ..config.clone() };
        assert_eq!(held_out_classes(&labels, &least).len(), 2);
        // Three classes cannot be split so.
        let three: Vec<u8> = (0..30).map(|at| (at % 3) as u8).collect();
        assert_eq!(TripletSet::build(&three, &config), Err(TripletError::TooFewClassesToHoldOut(3)));
        // Four can, the fewest that can: two held out, two trained on.
        let four: Vec<u8> = (0..40).map(|at| (at % 4) as u8).collect();
        assert_eq!(held_out_classes(&four, &config).len(), 2);
        assert!(TripletSet::build(&four, &config).is_ok());
    }

    #[test]
    fn bad_settings_and_data_are_rejected() {
        let labels = cifar_like_labels();
        for fraction in [0.0, 1.0, -0.1, f64::NAN] {
            let config = TripletConfig { held_out_fraction: fraction, ..TripletConfig::default() };
            assert!(matches!(TripletSet::build(&labels, &config), Err(TripletError::Fraction(_))));
        }
        let one_class = vec![4u8; 100];
        assert_eq!(TripletSet::build(&one_class, &TripletConfig::default()), Err(TripletError::TooFewClasses(1)));
        assert!(matches!(TripletSet::build(&[0, 1], &TripletConfig::default()), Err(TripletError::EmptySide { .. })));
    }
}

//! Online triplet mining (beyond the recipe's fixed triplets): batches of P classes x K images
//! drawn at random, and the triplets chosen inside a batch from its distance matrix.
//!
//! - batch-all (Hermans et al. 2017, "In Defense of the Triplet Loss"): every valid triplet whose
//!   hinge is positive; the loss averages over those. There are up to n (K - 1) (n - K) of them, so
//!   they are never listed: the trainer computes their loss from the masked distance matrix.
//! - batch-hard (same paper): for each anchor, its farthest positive and its nearest negative.
//! - semi-hard (Schroff et al. 2015, FaceNet): for each anchor-positive pair, the nearest negative
//!   that is still farther than the positive; where none is (the positive is farther than every
//!   negative), the farthest negative, as TensorFlow Addons' `triplet_semihard_loss` does.
//!
//! Plain Rust on a row-major distance matrix, so the choice is testable by hand; the trainer
//! computes the matrix on the device, reads it back, and gathers the chosen triplets.

use crate::loss::LossSpec;
use crate::random::SeededRng;

/// How triplets are chosen inside a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Mining {
    BatchAll,
    BatchHard,
    SemiHard,
}

/// A triplet of batch positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mined {
    pub anchor: usize,
    pub positive: usize,
    pub negative: usize,
}

/// The triplets chosen in one batch, and how many there were to choose from.
#[derive(Debug, Clone, PartialEq)]
pub struct MinedBatch {
    /// The chosen triplets; empty for batch-all, whose choice is every active triplet (`active`
    /// of them), too many to list.
    pub triplets: Vec<Mined>,
    /// Valid triplets in the batch (anchor and positive of one class, negative of another).
    pub valid: usize,
    /// Valid triplets whose loss (of the run's kind) is positive: for the triplet loss, those whose
    /// hinge `d(a,p) - d(a,n) + margin` is.
    pub active: usize,
    /// Mean distance between two different images of the batch: near zero when the embedding has
    /// collapsed (every image mapped to the same point).
    pub mean_distance: f32,
    /// Mean d(a, p) and d(a, n) over the active triplets (batch-all's choice), 0 when none is.
    pub active_means: (f32, f32),
}

impl MinedBatch {
    /// How many triplets the step trains on.
    pub fn chosen(&self, mining: Mining) -> usize {
        match mining {
            Mining::BatchAll => self.active,
            Mining::BatchHard | Mining::SemiHard => self.triplets.len(),
        }
    }
}

/// Why a batch cannot be mined.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MiningError {
    #[error("a {n} x {n} distance matrix needs {expected} values, not {found}")]
    Shape { n: usize, expected: usize, found: usize },
    #[error("the batch has no anchor with both a positive and a negative: it needs two classes with two images each")]
    NoValidTriplet,
    #[error(
        "P x K batches need at least {k} images in each of {p} classes (P and K at least 2); {classes} classes have them"
    )]
    TooFewImages { p: usize, k: usize, classes: usize },
}

/// Choose triplets in a batch with labels `labels` and distances `distances` (n x n, row-major);
/// `loss` decides which valid triplets are active (cost something).
pub fn mine(distances: &[f32], labels: &[u8], loss: &LossSpec, mining: Mining) -> Result<MinedBatch, MiningError> {
    let n = labels.len();
    if distances.len() != n * n {
        return Err(MiningError::Shape { n, expected: n * n, found: distances.len() });
    }
    let d = |i: usize, j: usize| distances[i * n + j];
    let mut valid = 0;
    let mut active = 0;
    let (mut positive_sum, mut negative_sum) = (0.0f64, 0.0f64);
    for a in 0..n {
        for p in (0..n).filter(|&p| p != a && labels[p] == labels[a]) {
            for neg in (0..n).filter(|&x| labels[x] != labels[a]) {
                valid += 1;
                if loss.of_triplet(f64::from(d(a, p)), f64::from(d(a, neg))) > 0.0 {
                    active += 1;
                    positive_sum += f64::from(d(a, p));
                    negative_sum += f64::from(d(a, neg));
                }
            }
        }
    }
    if valid == 0 {
        return Err(MiningError::NoValidTriplet);
    }
    let active_means = if active == 0 {
        (0.0, 0.0)
    } else {
        ((positive_sum / active as f64) as f32, (negative_sum / active as f64) as f32)
    };
    let triplets = match mining {
        Mining::BatchAll => Vec::new(),
        Mining::BatchHard => (0..n)
            .filter_map(|a| {
                let positive = farthest((0..n).filter(|&p| p != a && labels[p] == labels[a]), |p| d(a, p))?;
                let negative = nearest((0..n).filter(|&x| labels[x] != labels[a]), |x| d(a, x))?;
                Some(Mined { anchor: a, positive, negative })
            })
            .collect(),
        Mining::SemiHard => {
            let mut chosen = Vec::new();
            for a in 0..n {
                for p in (0..n).filter(|&p| p != a && labels[p] == labels[a]) {
                    let negatives = || (0..n).filter(|&x| labels[x] != labels[a]);
                    let semi_hard = nearest(negatives().filter(|&x| d(a, x) > d(a, p)), |x| d(a, x));
                    if let Some(negative) = semi_hard.or_else(|| farthest(negatives(), |x| d(a, x))) {
                        chosen.push(Mined { anchor: a, positive: p, negative });
                    }
                }
            }
            chosen
        }
    };
    let pairs = n * (n - 1);
    let mean_distance = if pairs == 0 {
        0.0
    } else {
        (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| d(i, j)).sum::<f32>()
            / pairs as f32
    };
    Ok(MinedBatch { triplets, valid, active, mean_distance, active_means })
}

/// The position with the largest key; ties go to the first.
fn farthest(items: impl Iterator<Item = usize>, key: impl Fn(usize) -> f32) -> Option<usize> {
    items.fold(None, |best: Option<usize>, i| match best {
        Some(b) if key(b) >= key(i) => Some(b),
        _ => Some(i),
    })
}

/// The position with the smallest key; ties go to the first.
fn nearest(items: impl Iterator<Item = usize>, key: impl Fn(usize) -> f32) -> Option<usize> {
    items.fold(None, |best: Option<usize>, i| match best {
        Some(b) if key(b) <= key(i) => Some(b),
        _ => Some(i),
    })
}

/// One mined batch as the trainer saw it: its images (dataset indices, class by class, as
/// [`PkSampler::sample`] draws them), their labels and their distance matrix (n x n, row-major).
/// The page draws it as a heat map; [`Self::hardness`] says what each cell is to the loss.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinedMatrix {
    pub images: Vec<u32>,
    pub labels: Vec<u8>,
    pub distances: Vec<f32>,
}

/// What a cell (anchor a, image x) of a mined batch is to the triplet loss with margin m, against
/// the anchor's farthest positive p (the one batch-hard trains on), as FaceNet names them:
/// a negative nearer than p is hard, one within the margin beyond p semi-hard, the rest easy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Hardness {
    /// The anchor itself (the diagonal).
    Itself,
    /// Another image of the anchor's class.
    Positive,
    /// A negative with d(a,n) < d(a,p): the loss is above the margin.
    Hard,
    /// A negative with d(a,p) <= d(a,n) < d(a,p) + m: inside the margin band, the loss positive.
    SemiHard,
    /// A negative with d(a,n) >= d(a,p) + m: costs nothing.
    Easy,
}

/// How many negatives of a batch are hard, semi-hard and easy ([`MinedMatrix::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HardnessCounts {
    pub hard: usize,
    pub semi_hard: usize,
    pub easy: usize,
}

impl MinedMatrix {
    /// A batch from its parts, checked: one label an image, n x n distances.
    pub fn new(images: Vec<u32>, labels: Vec<u8>, distances: Vec<f32>) -> Result<Self, MiningError> {
        let n = labels.len();
        if distances.len() != n * n || images.len() != n {
            return Err(MiningError::Shape { n, expected: n * n, found: distances.len() });
        }
        Ok(Self { images, labels, distances })
    }

    /// Images in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// d(i, j).
    pub fn distance(&self, i: usize, j: usize) -> f32 {
        self.distances[i * self.len() + j]
    }

    /// The anchor's farthest positive, if it has any.
    pub fn farthest_positive(&self, anchor: usize) -> Option<usize> {
        let label = self.labels[anchor];
        farthest((0..self.len()).filter(|&p| p != anchor && self.labels[p] == label), |p| self.distance(anchor, p))
    }

    /// The anchor's nearest negative, if it has any.
    pub fn nearest_negative(&self, anchor: usize) -> Option<usize> {
        let label = self.labels[anchor];
        nearest((0..self.len()).filter(|&x| self.labels[x] != label), |x| self.distance(anchor, x))
    }

    /// What cell (anchor, x) is, for margin `margin` ([`Hardness`]). A negative of an anchor with
    /// no positive is easy (no triplet has it).
    pub fn hardness(&self, anchor: usize, x: usize, margin: f32) -> Hardness {
        if x == anchor {
            return Hardness::Itself;
        }
        if self.labels[x] == self.labels[anchor] {
            return Hardness::Positive;
        }
        let Some(positive) = self.farthest_positive(anchor) else { return Hardness::Easy };
        let (ap, an) = (self.distance(anchor, positive), self.distance(anchor, x));
        if an < ap {
            Hardness::Hard
        } else if an < ap + margin {
            Hardness::SemiHard
        } else {
            Hardness::Easy
        }
    }

    /// The triplet a click on cell (anchor, x) shows: for a negative x, the anchor's farthest
    /// positive with it; for a positive x, the anchor's nearest negative. None on the diagonal or
    /// where the anchor lacks the other kind.
    pub fn triplet_at(&self, anchor: usize, x: usize) -> Option<Mined> {
        if x == anchor || anchor >= self.len() || x >= self.len() {
            return None;
        }
        if self.labels[x] == self.labels[anchor] {
            Some(Mined { anchor, positive: x, negative: self.nearest_negative(anchor)? })
        } else {
            Some(Mined { anchor, positive: self.farthest_positive(anchor)?, negative: x })
        }
    }

    /// Every negative cell counted by its [`Hardness`].
    pub fn counts(&self, margin: f32) -> HardnessCounts {
        let mut counts = HardnessCounts::default();
        for a in 0..self.len() {
            for x in 0..self.len() {
                match self.hardness(a, x, margin) {
                    Hardness::Hard => counts.hard += 1,
                    Hardness::SemiHard => counts.semi_hard += 1,
                    Hardness::Easy => counts.easy += 1,
                    Hardness::Itself | Hardness::Positive => {}
                }
            }
        }
        counts
    }

    /// The runs of equal labels along the batch, as (first position, length): the same-class
    /// blocks of the heat map (one per class, as the sampler draws class by class).
    pub fn blocks(&self) -> Vec<(usize, usize)> {
        let mut blocks: Vec<(usize, usize)> = Vec::new();
        for (i, &label) in self.labels.iter().enumerate() {
            match blocks.last_mut() {
                Some((start, len)) if self.labels[*start] == label => *len += 1,
                _ => blocks.push((i, 1)),
            }
        }
        blocks
    }
}

/// What online mining trains with: the selection, and P classes x K images per batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MiningConfig {
    pub strategy: Mining,
    /// P: classes per batch.
    pub classes: usize,
    /// K: images of each class per batch.
    pub per_class: usize,
}

/// What a mined step chose, for the page's live view.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MinedCounts {
    /// Triplets trained on.
    pub mined: u32,
    pub valid: u32,
    pub active: u32,
    pub mean_distance: f32,
}

/// Draws P x K batches from a pool of images (Hermans et al.: P classes at random, then K images
/// of each at random), with the caller's seeded random numbers, so a resumed run draws the same.
#[derive(Debug, Clone, PartialEq)]
pub struct PkSampler {
    /// Images of each class that has at least K of them.
    by_class: Vec<Vec<u32>>,
    per_class: usize,
}

impl PkSampler {
    /// The classes of `pool` (image index, label) with at least `per_class` images.
    pub fn new(pool: &[(u32, u8)], classes: usize, per_class: usize) -> Result<Self, MiningError> {
        let mut by_label: std::collections::BTreeMap<u8, Vec<u32>> = std::collections::BTreeMap::new();
        for &(image, label) in pool {
            by_label.entry(label).or_default().push(image);
        }
        let by_class: Vec<Vec<u32>> = by_label.into_values().filter(|images| images.len() >= per_class).collect();
        if classes < 2 || per_class < 2 || by_class.len() < classes {
            return Err(MiningError::TooFewImages { p: classes, k: per_class, classes: by_class.len() });
        }
        Ok(Self { by_class, per_class })
    }

    /// One batch: `classes` distinct classes, `per_class` distinct images of each, class by class.
    pub fn sample(&self, classes: usize, rng: &mut SeededRng) -> Vec<u32> {
        let mut order: Vec<usize> = (0..self.by_class.len()).collect();
        rng.shuffle(&mut order);
        let mut batch = Vec::with_capacity(classes * self.per_class);
        for &class in order.iter().take(classes) {
            let images = &self.by_class[class];
            // A partial Fisher-Yates draw of K positions.
            let mut positions: Vec<usize> = (0..images.len()).collect();
            for at in 0..self.per_class {
                let pick = at + rng.index(images.len() - at);
                positions.swap(at, pick);
                batch.push(images[positions[at]]);
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The triplet loss with margin `m`, which decides what is active.
    fn margin(m: f64) -> LossSpec {
        LossSpec { margin: m, ..LossSpec::default() }
    }

    /// Four images: 0 and 1 of class 0, 2 and 3 of class 1. Distances chosen by hand:
    ///        0    1    2    3
    ///   0  0.0  0.5  0.2  0.9
    ///   1  0.5  0.0  0.7  0.3
    ///   2  0.2  0.7  0.0  0.4
    ///   3  0.9  0.3  0.4  0.0
    const D: [f32; 16] = [0.0, 0.5, 0.2, 0.9, 0.5, 0.0, 0.7, 0.3, 0.2, 0.7, 0.0, 0.4, 0.9, 0.3, 0.4, 0.0];
    const LABELS: [u8; 4] = [0, 0, 1, 1];

    fn t(anchor: usize, positive: usize, negative: usize) -> Mined {
        Mined { anchor, positive, negative }
    }

    #[test]
    fn batch_hard_takes_the_farthest_positive_and_the_nearest_negative() {
        let mined = mine(&D, &LABELS, &margin(0.2), Mining::BatchHard).expect("mined");
        // Anchor 0: its only positive is 1 (0.5); nearest negative 2 (0.2). Anchor 1: positive 0
        // (0.5), nearest negative 3 (0.3). Anchor 2: positive 3 (0.4), nearest negative 0 (0.2).
        // Anchor 3: positive 2 (0.4), nearest negative 1 (0.3).
        assert_eq!(mined.triplets, vec![t(0, 1, 2), t(1, 0, 3), t(2, 3, 0), t(3, 2, 1)]);
        // 4 anchors x 1 positive x 2 negatives.
        assert_eq!(mined.valid, 8);
    }

    #[test]
    fn batch_all_keeps_the_triplets_with_a_positive_hinge() {
        let mined = mine(&D, &LABELS, &margin(0.25), Mining::BatchAll).expect("mined");
        // Hinges d(a,p) - d(a,n) + 0.25: (0,1,2) 0.55; (0,1,3) -0.15; (1,0,2) 0.05; (1,0,3) 0.45;
        // (2,3,0) 0.45; (2,3,1) -0.05; (3,2,0) -0.25; (3,2,1) 0.35. The five active ones are the
        // choice, never listed.
        assert_eq!(mined.triplets, vec![]);
        assert_eq!((mined.valid, mined.active, mined.chosen(Mining::BatchAll)), (8, 5, 5));
        // d(a,p) of the active: 0.5, 0.5, 0.5, 0.4, 0.4; d(a,n): 0.2, 0.7, 0.3, 0.2, 0.3.
        let (positive, negative) = mined.active_means;
        assert!((positive - 2.3 / 5.0).abs() < 1e-6 && (negative - 1.7 / 5.0).abs() < 1e-6, "{positive} {negative}");
    }

    #[test]
    fn semi_hard_takes_the_nearest_negative_beyond_the_positive() {
        let mined = mine(&D, &LABELS, &margin(0.2), Mining::SemiHard).expect("mined");
        // Anchor 0, positive 1 (0.5): negatives 2 (0.2) and 3 (0.9); only 3 is beyond 0.5.
        // Anchor 1, positive 0 (0.5): negatives 2 (0.7), 3 (0.3): 2. Anchor 2, positive 3 (0.4):
        // negatives 0 (0.2), 1 (0.7): 1. Anchor 3, positive 2 (0.4): negatives 0 (0.9), 1 (0.3): 0.
        assert_eq!(mined.triplets, vec![t(0, 1, 3), t(1, 0, 2), t(2, 3, 1), t(3, 2, 0)]);
    }

    #[test]
    fn semi_hard_falls_back_to_the_farthest_negative() {
        // The positive (0.9) is farther than both negatives (0.2, 0.4): take the farther one, 3.
        let d = [0.0, 0.9, 0.2, 0.4, 0.9, 0.0, 0.5, 0.5, 0.2, 0.5, 0.0, 0.1, 0.4, 0.5, 0.1, 0.0];
        let mined = mine(&d, &LABELS, &margin(0.2), Mining::SemiHard).expect("mined");
        assert_eq!(mined.triplets[0], t(0, 1, 3));
    }

    /// Six images, 0-2 of class 0 and 3-5 of class 1; for anchor 0 a negative (3) exactly as far
    /// as its farther positive (1, 0.5), and that positive listed before the nearer one (2, 0.3).
    fn six() -> ([f32; 36], [u8; 6]) {
        let pairs = [
            ((0, 1), 0.5),
            ((0, 2), 0.3),
            ((1, 2), 0.4),
            ((3, 4), 0.2),
            ((3, 5), 0.3),
            ((4, 5), 0.25),
            ((0, 3), 0.5),
            ((0, 4), 0.8),
            ((0, 5), 0.6),
            ((1, 3), 0.7),
            ((1, 4), 0.9),
            ((1, 5), 0.65),
            ((2, 3), 0.45),
            ((2, 4), 0.35),
            ((2, 5), 0.95),
        ];
        let mut d = [0.0f32; 36];
        for ((i, j), value) in pairs {
            d[i * 6 + j] = value;
            d[j * 6 + i] = value;
        }
        (d, [0, 0, 0, 1, 1, 1])
    }

    /// Semi-hard means strictly farther than the positive: with positive 1 at 0.5, the negative
    /// at exactly 0.5 (3) is not semi-hard, the nearest beyond it is (5, 0.6); with positive 2 at
    /// 0.3, the nearest beyond is 3 (0.5).
    #[test]
    fn a_negative_exactly_as_far_as_the_positive_is_not_semi_hard() {
        let (d, labels) = six();
        let mined = mine(&d, &labels, &margin(0.2), Mining::SemiHard).expect("mined");
        assert_eq!(&mined.triplets[..2], &[t(0, 1, 5), t(0, 2, 3)]);
    }

    /// Batch-hard's farthest positive is the farthest, not the last listed: anchor 0's positives
    /// are 1 (0.5) then 2 (0.3); its nearest negative is 3 (0.5).
    #[test]
    fn batch_hard_finds_the_farthest_positive_wherever_it_is_listed() {
        let (d, labels) = six();
        let mined = mine(&d, &labels, &margin(0.2), Mining::BatchHard).expect("mined");
        assert_eq!(mined.triplets[0], t(0, 1, 3));
        // Anchor 2: positives 0 (0.3), 1 (0.4): the later one is the farther; negatives 3 (0.45),
        // 4 (0.35), 5 (0.95): the nearest is in the middle.
        assert_eq!(mined.triplets[2], t(2, 1, 4));
    }

    #[test]
    fn a_collapsed_embedding_shows_in_the_mean_distance() {
        let collapsed = [0.0f32; 16];
        let mined = mine(&collapsed, &LABELS, &margin(0.2), Mining::BatchAll).expect("mined");
        assert_eq!(mined.mean_distance, 0.0);
        assert_eq!(mined.active, mined.valid, "every hinge is the margin");
        let spread = mine(&D, &LABELS, &margin(0.2), Mining::BatchAll).expect("mined");
        assert!((spread.mean_distance - 3.0 / 6.0).abs() < 1e-6, "{}", spread.mean_distance);
    }

    #[test]
    fn bad_batches_are_typed_errors() {
        assert_eq!(
            mine(&D[..15], &LABELS, &margin(0.2), Mining::BatchHard),
            Err(MiningError::Shape { n: 4, expected: 16, found: 15 })
        );
        assert_eq!(mine(&[0.0; 4], &[0, 0], &margin(0.2), Mining::BatchHard), Err(MiningError::NoValidTriplet));
    }

    fn matrix() -> MinedMatrix {
        MinedMatrix::new(vec![10, 11, 12, 13], LABELS.to_vec(), D.to_vec()).expect("4 x 4")
    }

    #[test]
    fn each_cell_is_itself_a_positive_or_a_hard_semi_hard_or_easy_negative() {
        let m = matrix();
        // Margin 0.25. Anchor 0: positive 1 at 0.5; negative 2 at 0.2 < 0.5 (hard), 3 at 0.9
        // (>= 0.5 + 0.25: easy). Anchor 1: positive 0 at 0.5; 2 at 0.7 (in [0.5, 0.75): semi-hard),
        // 3 at 0.3 (hard). Anchor 2: positive 3 at 0.4; 0 at 0.2 (hard), 1 at 0.7 (>= 0.65: easy).
        // Anchor 3: positive 2 at 0.4; 0 at 0.9 (easy), 1 at 0.3 (hard).
        use Hardness::*;
        let expected = [
            [Itself, Positive, Hard, Easy],
            [Positive, Itself, SemiHard, Hard],
            [Hard, Easy, Itself, Positive],
            [Easy, Hard, Positive, Itself],
        ];
        for (a, row) in expected.iter().enumerate() {
            for (x, &want) in row.iter().enumerate() {
                assert_eq!(m.hardness(a, x, 0.25), want, "cell ({a}, {x})");
            }
        }
        assert_eq!(m.counts(0.25), HardnessCounts { hard: 4, semi_hard: 1, easy: 3 });
        // Margin 0.6 turns every easy one semi-hard (0.9 < 0.5 + 0.6, 0.7 < 0.4 + 0.6, 0.9 < 0.4 + 0.6).
        assert_eq!(m.counts(0.6), HardnessCounts { hard: 4, semi_hard: 4, easy: 0 });
        // No margin: nothing is semi-hard.
        assert_eq!(m.counts(0.0), HardnessCounts { hard: 4, semi_hard: 0, easy: 4 });
    }

    #[test]
    fn a_click_shows_the_triplet_of_its_cell() {
        let m = matrix();
        // A negative cell: the anchor's farthest positive with it.
        assert_eq!(m.triplet_at(1, 2), Some(t(1, 0, 2)));
        // A positive cell: the anchor's nearest negative with it (anchor 2's is 0, at 0.2).
        assert_eq!(m.triplet_at(2, 3), Some(t(2, 3, 0)));
        assert_eq!(m.triplet_at(3, 3), None, "the diagonal");
        assert_eq!(m.triplet_at(0, 4), None, "outside the batch");
        assert_eq!(m.triplet_at(4, 0), None, "outside the batch");
        // With three images of class 0, the farthest positive of anchor 0 is the farther one.
        let three = MinedMatrix::new(
            vec![0, 1, 2, 3],
            vec![0, 0, 0, 1],
            vec![0.0, 0.1, 0.6, 0.4, 0.1, 0.0, 0.2, 0.3, 0.6, 0.2, 0.0, 0.5, 0.4, 0.3, 0.5, 0.0],
        )
        .expect("4 x 4");
        assert_eq!(three.farthest_positive(0), Some(2));
        assert_eq!(three.nearest_negative(0), Some(3));
        assert_eq!(three.hardness(0, 3, 0.1), Hardness::Hard, "0.4 < 0.6");
        assert_eq!(three.triplet_at(0, 3), Some(t(0, 2, 3)));
        assert_eq!(three.blocks(), vec![(0, 3), (3, 1)]);
        // An anchor with no positive: its negatives are in no triplet.
        assert_eq!(three.hardness(3, 0, 0.1), Hardness::Easy);
        assert_eq!(three.triplet_at(3, 0), None);
    }

    #[test]
    fn blocks_follow_the_labels_and_shapes_are_checked() {
        assert_eq!(matrix().blocks(), vec![(0, 2), (2, 2)]);
        assert_eq!((matrix().len(), matrix().is_empty(), matrix().distance(1, 2)), (4, false, 0.7));
        // The band's edges, exactly: d(a,n) = d(a,p) is semi-hard (no longer nearer than the
        // positive), d(a,n) = d(a,p) + margin is easy (the hinge is 0 there).
        let edges = MinedMatrix::new(
            vec![0, 1, 2, 3],
            vec![0, 0, 1, 1],
            vec![0.0, 0.5, 0.5, 0.75, 0.5, 0.0, 0.1, 0.1, 0.5, 0.1, 0.0, 0.1, 0.75, 0.1, 0.1, 0.0],
        )
        .expect("4 x 4");
        assert_eq!((edges.hardness(0, 2, 0.25), edges.hardness(0, 3, 0.25)), (Hardness::SemiHard, Hardness::Easy));
        let empty = MinedMatrix::new(vec![], vec![], vec![]).expect("0 x 0");
        assert_eq!((empty.len(), empty.is_empty(), empty.blocks()), (0, true, vec![]));
        assert_eq!(
            MinedMatrix::new(vec![0, 1], vec![0, 1], vec![0.0; 3]),
            Err(MiningError::Shape { n: 2, expected: 4, found: 3 })
        );
        assert!(MinedMatrix::new(vec![0], vec![0, 1], vec![0.0; 4]).is_err(), "one image a label");
    }

    #[test]
    fn pk_samples_hold_p_classes_of_k_distinct_images() {
        // 5 classes of 6 images, one class of 1 image (too few for K = 2).
        let mut pool: Vec<(u32, u8)> = (0..30).map(|i| (i, (i % 5) as u8)).collect();
        pool.push((30, 9));
        let sampler = PkSampler::new(&pool, 3, 2).expect("enough classes");
        let mut rng = SeededRng::new(7);
        for _ in 0..20 {
            let batch = sampler.sample(3, &mut rng);
            assert_eq!(batch.len(), 6);
            let labels: Vec<u8> = batch.iter().map(|&image| (image % 5) as u8).collect();
            for pair in labels.chunks(2) {
                assert_eq!(pair[0], pair[1], "K images of one class together: {batch:?}");
            }
            let mut classes = labels.clone();
            classes.dedup();
            assert_eq!(classes.len(), 3, "P distinct classes: {batch:?}");
            assert!(!batch.contains(&30), "a class with fewer than K images is never drawn");
            let mut distinct = batch.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 6);
        }
        let again = PkSampler::new(&pool, 3, 2).expect("enough").sample(3, &mut SeededRng::new(7));
        assert_eq!(again, sampler.sample(3, &mut SeededRng::new(7)), "seeded");
        assert_eq!(PkSampler::new(&pool, 6, 2), Err(MiningError::TooFewImages { p: 6, k: 2, classes: 5 }));
    }
}

//! Enrolling a class the model never trained on, as a face unlock enrols a new face: a few
//! pictures of it go through the trained encoder (nothing is retrained), and their embeddings are
//! scored against each other (the genuine pairs) and against the map's images of every other
//! class (the impostor pairs). The ROC curve of those scores says how well the encoder tells the
//! new class apart; a new picture is then accepted as the class when its mean similarity to the
//! enrolled pictures reaches the run's threshold.

use super::{MapIndex, evenly_spaced};
use crate::metrics::MetricError;

/// At most this many pictures are enrolled (evenly spaced when a class of the map has more):
/// `n (n - 1) / 2` genuine pairs, 780 at 40.
pub const MAX_ENROLLED: usize = 40;
/// At most this many of the map's images (evenly spaced) are scored against the enrolled
/// pictures: 80,000 impostor pairs at 40 pictures.
pub const MAX_GALLERY: usize = 2_000;

/// Why a class cannot be enrolled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnrolError {
    #[error(
        "enrol at least 2 pictures of the class ({pictures} given): its genuine pairs are pairs of its own pictures"
    )]
    TooFew { pictures: usize },
    #[error("the map holds no image of another class to score the new class against")]
    NoImpostors,
    #[error(transparent)]
    Embeddings(#[from] MetricError),
}

/// The enrolled class's pair scores, each the run's similarity (`Distance::similarity` of the
/// distance the loss uses), as the held-out pairs are scored.
#[derive(Clone, Debug, PartialEq)]
pub struct Enrolment {
    /// Every pair of enrolled pictures: (0, 1), (0, 2), ... (1, 2), ...: `n (n - 1) / 2` scores.
    pub genuine: Vec<f64>,
    /// Each enrolled picture against each gallery image, picture by picture.
    pub impostor: Vec<f64>,
    /// The class of each impostor score's map image.
    pub impostor_labels: Vec<u8>,
    /// How many of the map's images were scored against.
    pub gallery: usize,
}

impl Enrolment {
    /// All scores with their labels (genuine first), as `Verification::new` takes them.
    pub fn scores_and_labels(&self) -> (Vec<f64>, Vec<bool>) {
        labelled_pairs(&self.genuine, &self.impostor)
    }
}

/// `genuine` then `impostor` scores, with their labels (true for genuine): what
/// `Verification::new` takes (the page's enrolment card uses it on the scores the worker sent).
pub fn labelled_pairs(genuine: &[f64], impostor: &[f64]) -> (Vec<f64>, Vec<bool>) {
    let scores = genuine.iter().chain(impostor).copied().collect();
    let labels = genuine.iter().map(|_| true).chain(impostor.iter().map(|_| false)).collect();
    (scores, labels)
}

impl MapIndex {
    /// The map's positions of class `label`, at most [`MAX_ENROLLED`], evenly spaced: the
    /// pictures that enrol one of the map's own classes.
    pub fn class_positions(&self, label: u8) -> Vec<usize> {
        let all: Vec<usize> = (0..self.images.len()).filter(|&at| self.labels[at] == label).collect();
        evenly_spaced(all.len(), MAX_ENROLLED).into_iter().map(|at| all[at]).collect()
    }

    /// The run's similarity of two embeddings.
    pub fn similarity(&self, a: &[f32], b: &[f32]) -> f64 {
        self.distance.similarity(self.distance.of_rows(a, b))
    }

    /// Score the new class whose embeddings are `rows` (`dims` values each; at most
    /// [`MAX_ENROLLED`] are used): its genuine pairs, and its impostor pairs with the map's images
    /// (at most [`MAX_GALLERY`], evenly spaced) not of class `label` (the class itself when it is
    /// one of the map's: its own images are neither impostors nor gallery).
    pub fn enrol(&self, rows: &[f32], label: Option<u8>) -> Result<Enrolment, EnrolError> {
        let pictures = self.check_rows(rows)?.min(MAX_ENROLLED);
        if pictures < 2 {
            return Err(EnrolError::TooFew { pictures });
        }
        let row = |at: usize| &rows[at * self.dims..(at + 1) * self.dims];
        let others: Vec<usize> = (0..self.images.len()).filter(|&at| Some(self.labels[at]) != label).collect();
        let gallery: Vec<usize> = evenly_spaced(others.len(), MAX_GALLERY).into_iter().map(|at| others[at]).collect();
        if gallery.is_empty() {
            return Err(EnrolError::NoImpostors);
        }
        let mut genuine = Vec::with_capacity(pictures * (pictures - 1) / 2);
        for first in 0..pictures {
            for second in first + 1..pictures {
                genuine.push(self.similarity(row(first), row(second)));
            }
        }
        let mut impostor = Vec::with_capacity(pictures * gallery.len());
        let mut impostor_labels = Vec::with_capacity(pictures * gallery.len());
        for picture in 0..pictures {
            for &at in &gallery {
                impostor.push(self.similarity(row(picture), self.row(at)));
                impostor_labels.push(self.labels[at]);
            }
        }
        Ok(Enrolment { genuine, impostor, impostor_labels, gallery: gallery.len() })
    }

    /// A new picture's similarity to an enrolled class: the mean of its similarities to the
    /// enrolled pictures `enrolled` (each one pair score, so the run's threshold for a pair applies
    /// to it as it does to one pair), and the highest of them.
    pub fn verify(&self, enrolled: &[f32], probe: &[f32]) -> Result<(f64, f64), EnrolError> {
        let pictures = self.check_rows(enrolled)?.min(MAX_ENROLLED);
        if pictures == 0 {
            return Err(EnrolError::TooFew { pictures });
        }
        if self.check_rows(probe)? != 1 {
            return Err(MetricError::RaggedEmbeddings { values: probe.len(), dims: self.dims }.into());
        }
        let scores: Vec<f64> =
            enrolled.chunks_exact(self.dims).take(pictures).map(|row| self.similarity(row, probe)).collect();
        let mean = scores.iter().sum::<f64>() / scores.len() as f64;
        let best = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok((mean, best))
    }

    /// How many whole, finite rows of the map's width `rows` holds.
    fn check_rows(&self, rows: &[f32]) -> Result<usize, MetricError> {
        if self.dims == 0 {
            return Err(MetricError::NoDimensions);
        }
        if !rows.len().is_multiple_of(self.dims) {
            return Err(MetricError::RaggedEmbeddings { values: rows.len(), dims: self.dims });
        }
        if let Some(at) = rows.iter().position(|value| !value.is_finite()) {
            return Err(MetricError::NotFinite { index: at / self.dims });
        }
        Ok(rows.len() / self.dims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Distance;

    /// Five map images of three classes in the plane: 0 (1, 0) and 1 (0, 1) of class 0, 2 (-1, 0)
    /// of class 1, 3 (0, -1) and 4 (1, 1) of class 2.
    fn map(distance: Distance) -> MapIndex {
        MapIndex {
            images: vec![10, 11, 12, 13, 14],
            labels: vec![0, 0, 1, 2, 2],
            rows: vec![1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0, 1.0, 1.0],
            dims: 2,
            distance,
        }
    }

    #[test]
    fn a_new_class_is_scored_against_every_map_image() {
        // Three new pictures at 0, 90 and 45 degrees: angles between them 90, 45, 45 degrees,
        // angular similarities 1 - angle / 180: 0.5, 0.75, 0.75.
        let index = map(Distance::Cosine);
        let new = [1.0f32, 0.0, 0.0, 2.0, 3.0, 3.0];
        let enrolment = index.enrol(&new, None).expect("enrol");
        let near = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(near(&enrolment.genuine, &[0.5, 0.75, 0.75]), "{:?}", enrolment.genuine);
        assert_eq!(enrolment.gallery, 5);
        // Picture 0 (0 degrees) against 0, 90, 180, 270 (= 90), 45 degrees.
        assert!(near(&enrolment.impostor[..5], &[1.0, 0.5, 0.0, 0.5, 0.75]), "{:?}", enrolment.impostor);
        // Picture 2 (45 degrees) against the same: 45, 45, 135, 135, 0 degrees.
        assert!(near(&enrolment.impostor[10..], &[0.75, 0.75, 0.25, 0.25, 1.0]), "{:?}", enrolment.impostor);
        assert_eq!(enrolment.impostor_labels, [0, 0, 1, 2, 2].repeat(3));
        let (scores, labels) = enrolment.scores_and_labels();
        assert_eq!(scores.len(), 18);
        assert_eq!(labels.iter().filter(|&&genuine| genuine).count(), 3);
        assert_eq!(&scores[..3], &enrolment.genuine[..]);
        assert!(labels[..3].iter().all(|&genuine| genuine) && !labels[3..].iter().any(|&genuine| genuine));
    }

    #[test]
    fn a_class_of_the_map_is_not_its_own_impostor() {
        let index = map(Distance::Euclidean);
        assert_eq!(index.class_positions(2), vec![3, 4]);
        assert_eq!(index.class_positions(7), Vec::<usize>::new());
        let rows: Vec<f32> = index.class_positions(2).into_iter().flat_map(|at| index.row(at).to_vec()).collect();
        let enrolment = index.enrol(&rows, Some(2)).expect("enrol");
        // (0, -1) to (1, 1): distance sqrt(5), similarity 1 / (1 + sqrt 5).
        assert_eq!(enrolment.genuine.len(), 1);
        assert!((enrolment.genuine[0] - 1.0 / (1.0 + 5f64.sqrt())).abs() < 1e-12);
        assert_eq!(enrolment.gallery, 3, "images 0, 1, 2: class 2's own are left out");
        assert_eq!(enrolment.impostor_labels, vec![0, 0, 1, 0, 0, 1]);
        // (0, -1) to (1, 0): sqrt 2; to (0, 1): 2; to (-1, 0): sqrt 2.
        let expected = [2f64.sqrt(), 2.0, 2f64.sqrt()].map(|d| 1.0 / (1.0 + d));
        assert!(enrolment.impostor[..3].iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12));
    }

    #[test]
    fn bad_enrolments_are_refused_by_name() {
        let index = map(Distance::Cosine);
        assert_eq!(index.enrol(&[1.0, 0.0], None), Err(EnrolError::TooFew { pictures: 1 }));
        assert_eq!(index.enrol(&[], None), Err(EnrolError::TooFew { pictures: 0 }));
        assert_eq!(
            index.enrol(&[1.0, 0.0, 1.0], None),
            Err(EnrolError::Embeddings(MetricError::RaggedEmbeddings { values: 3, dims: 2 }))
        );
        assert_eq!(
            index.enrol(&[1.0, 0.0, f32::NAN, 1.0], None),
            Err(EnrolError::Embeddings(MetricError::NotFinite { index: 1 }))
        );
        let one_class = MapIndex { labels: vec![3; 5], ..map(Distance::Cosine) };
        assert_eq!(one_class.enrol(&[1.0, 0.0, 0.0, 1.0], Some(3)), Err(EnrolError::NoImpostors));
        let no_dims = MapIndex { dims: 0, rows: Vec::new(), ..map(Distance::Cosine) };
        assert_eq!(no_dims.enrol(&[], None), Err(EnrolError::Embeddings(MetricError::NoDimensions)));
        assert!(
            EnrolError::TooFew { pictures: 1 }
                .to_string()
                .starts_with("enrol at least 2 pictures of the class (1 given)")
        );
    }

    #[test]
    fn at_most_forty_pictures_and_two_thousand_map_images_are_scored() {
        let count = 2_500;
        let index = MapIndex {
            images: (0..count as u32).collect(),
            labels: (0..count).map(|at| (at % 2) as u8).collect(),
            rows: (0..count).flat_map(|at| [1.0, at as f32]).collect(),
            dims: 2,
            distance: Distance::Cosine,
        };
        let positions = index.class_positions(1);
        assert_eq!(positions.len(), MAX_ENROLLED);
        assert_eq!(&positions[..3], &[1, 63, 125], "evenly spaced over class 1's 1,250 images (every 31.25th)");
        let rows: Vec<f32> = (0..50).flat_map(|at| [at as f32, 1.0]).collect();
        let new = index.enrol(&rows, None).expect("enrol");
        assert_eq!(new.genuine.len(), 40 * 39 / 2, "the first 40 of 50 pictures");
        assert_eq!((new.gallery, new.impostor.len()), (MAX_GALLERY, 40 * MAX_GALLERY));
        let own = index.enrol(&rows, Some(0)).expect("enrol");
        assert_eq!(own.gallery, 1_250, "class 1's images only");
        assert!(own.impostor_labels.iter().all(|&label| label == 1));
    }

    #[test]
    fn a_new_picture_is_scored_by_its_mean_similarity_to_the_enrolled_pictures() {
        let index = map(Distance::Cosine);
        // Enrolled at 0 and 90 degrees; the probe at 0 degrees: similarities 1 and 0.5.
        let (mean, best) = index.verify(&[1.0, 0.0, 0.0, 1.0], &[2.0, 0.0]).expect("verify");
        assert!((mean - 0.75).abs() < 1e-12 && (best - 1.0).abs() < 1e-12, "{mean} {best}");
        // At 180 degrees: 0 and 0.5.
        let (mean, best) = index.verify(&[1.0, 0.0, 0.0, 1.0], &[-1.0, 0.0]).expect("verify");
        assert!((mean - 0.25).abs() < 1e-12 && (best - 0.5).abs() < 1e-12, "{mean} {best}");
        assert_eq!(index.verify(&[], &[1.0, 0.0]), Err(EnrolError::TooFew { pictures: 0 }));
        assert!(index.verify(&[1.0, 0.0], &[1.0, 0.0, 1.0, 0.0]).is_err(), "two probes");
        assert!(index.verify(&[1.0, 0.0], &[1.0]).is_err(), "a ragged probe");
    }
}

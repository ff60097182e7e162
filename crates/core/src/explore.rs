//! Looking inside a trained encoder: 2-D maps of its embeddings (principal components), and a
//! visitor's own picture turned into an image the encoder reads.

pub mod enrol;
pub mod pca;

pub use enrol::{EnrolError, Enrolment, MAX_ENROLLED, MAX_GALLERY, labelled_pairs};
pub use pca::{PcaError, Projection, pca};

use crate::data::cifar::{IMAGE_BYTES, IMAGE_SIDE};
use crate::data::triplets::{Triplet, distinct_images};
use crate::metrics::{MetricError, Retrieval, RetrievalConfig, nearest, retrieval};
use crate::run::Distance;

/// The embedding map's size limits: at least this many images (when there are), at most this many.
pub const MAP_IMAGES: (usize, usize) = (100, 10_000);

/// The images of the map: the distinct images of `held_out`, sorted, at most `limit` (clamped to
/// [`MAP_IMAGES`]), evenly spaced.
pub fn map_images(held_out: &[Triplet], limit: usize) -> Vec<u32> {
    let images = distinct_images(held_out);
    evenly_spaced(images.len(), limit.clamp(MAP_IMAGES.0, MAP_IMAGES.1)).into_iter().map(|at| images[at]).collect()
}

/// The map's images, their labels and embeddings, and the run's distance: what the map shows,
/// its retrieval figures and the searches, all by the distance the run trained with.
#[derive(Clone, Debug, PartialEq)]
pub struct MapIndex {
    /// Dataset indices, sorted.
    pub images: Vec<u32>,
    pub labels: Vec<u8>,
    /// `images.len()` rows of `dims` values.
    pub rows: Vec<f32>,
    pub dims: usize,
    pub distance: Distance,
}

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub image: u32,
    pub label: u8,
    /// [`Distance::similarity`] to the query, in [0, 1].
    pub similarity: f64,
}

impl MapIndex {
    /// Where `image` is on the map.
    pub fn position(&self, image: u32) -> Option<usize> {
        self.images.binary_search(&image).ok()
    }

    /// The row of the image at `position`.
    pub fn row(&self, position: usize) -> &[f32] {
        &self.rows[position * self.dims..(position + 1) * self.dims]
    }

    /// Retrieval figures (each image a query against the others) over at most `limit` of the
    /// map's images, evenly spaced: every query ranks every image, so the cost is `limit^2`.
    pub fn retrieval(&self, limit: usize) -> Result<Retrieval, MetricError> {
        let kept = evenly_spaced(self.images.len(), limit);
        let labels: Vec<u32> = kept.iter().map(|&at| u32::from(self.labels[at])).collect();
        let rows: Vec<f32> = kept.iter().flat_map(|&at| self.row(at).iter().copied()).collect();
        let config = RetrievalConfig { distance: self.distance, ..RetrievalConfig::default() };
        retrieval(&rows, self.dims, &labels, &config)
    }

    /// The `k` images nearest to `query` by the run's distance, nearest first (ties by position),
    /// leaving out the image at `exclude` (the query itself, when it is on the map).
    pub fn search(&self, query: &[f32], k: usize, exclude: Option<usize>) -> Result<Vec<Hit>, MetricError> {
        let found = nearest(&self.rows, self.dims, query, k, self.distance, exclude)?;
        Ok(found
            .into_iter()
            .map(|hit| {
                let distance = match self.distance {
                    Distance::Cosine => 1.0 - hit.score,
                    Distance::Euclidean => hit.score,
                };
                Hit {
                    image: self.images[hit.index],
                    label: self.labels[hit.index],
                    similarity: self.distance.similarity(distance),
                }
            })
            .collect())
    }
}

/// At most `wanted` indices of `0..count`, evenly spread and in order (all of them when
/// `count <= wanted`): index `at * count / n` for `at` in `0..n`, `n = min(count, wanted)`.
pub fn evenly_spaced(count: usize, wanted: usize) -> Vec<usize> {
    let n = count.min(wanted);
    (0..n).map(|at| at * count / n).collect()
}

/// The 2-D map of `rows` (each `dims` values): principal components of the embeddings as they
/// are (`cosine` false: euclidean geometry) or of their unit-length versions (`cosine` true: the
/// geometry cosine distance sees; the rows are scaled to unit length in place, which changes no
/// cosine between them). All-zero rows stay at the origin.
pub fn embedding_map(rows: &mut [f32], dims: usize, cosine: bool, seed: u64) -> Result<Projection, PcaError> {
    if cosine && dims > 0 {
        for row in rows.chunks_exact_mut(dims) {
            let norm = row.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
            }
        }
    }
    pca(rows, dims, 2.min(dims.max(1)), seed)
}

/// A 32 x 32 RGBA picture (canvas `ImageData`, row by row, 4 bytes a pixel) as a CIFAR image:
/// the red plane, then green, then blue; alpha is dropped. `None` unless exactly 32 x 32 x 4 bytes.
pub fn rgba_to_planar(rgba: &[u8]) -> Option<Vec<u8>> {
    let pixels = IMAGE_SIDE * IMAGE_SIDE;
    if rgba.len() != pixels * 4 {
        return None;
    }
    let mut planar = vec![0u8; IMAGE_BYTES];
    for (at, pixel) in rgba.chunks_exact(4).enumerate() {
        for channel in 0..3 {
            planar[channel * pixels + at] = pixel[channel];
        }
    }
    Some(planar)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four images, two classes: 10 (1, 0) and 20 (10, 1) of class 0, 30 (0, 1) and 40 (1.2, 0.9)
    /// of class 1. The angle and the straight line rank them differently (worked out by hand and
    /// checked with a few lines of plain Python): a search or a retrieval figure that ignored the
    /// run's distance would give the other answer.
    fn index(distance: Distance) -> MapIndex {
        MapIndex {
            images: vec![10, 20, 30, 40],
            labels: vec![0, 0, 1, 1],
            rows: vec![1.0, 0.0, 10.0, 1.0, 0.0, 1.0, 1.2, 0.9],
            dims: 2,
            distance,
        }
    }

    #[test]
    fn searches_rank_by_the_runs_distance() {
        let query = [2.0f32, 0.0];
        // Cosines 1, 0.995, 0, 0.8; distances 1, 8.06, 2.24, 1.20.
        let cosine = index(Distance::Cosine).search(&query, 4, None).expect("search");
        assert_eq!(cosine.iter().map(|hit| hit.image).collect::<Vec<_>>(), vec![10, 20, 40, 30]);
        let euclidean = index(Distance::Euclidean).search(&query, 4, None).expect("search");
        assert_eq!(euclidean.iter().map(|hit| hit.image).collect::<Vec<_>>(), vec![10, 40, 30, 20]);
        assert!(euclidean.windows(2).all(|pair| pair[0].similarity >= pair[1].similarity));
        assert!((euclidean[0].similarity - 0.5).abs() < 1e-9, "distance 1: 1 / (1 + 1)");
        assert!((cosine[0].similarity - 1.0).abs() < 1e-9, "the same direction");
        let searched = index(Distance::Cosine);
        let at = searched.position(30).expect("on the map");
        // From 30 (0, 1): cosines 0 (10), 0.0995 (20), 0.6 (40).
        let without_itself = searched.search(searched.row(at), 2, Some(at)).expect("search");
        assert_eq!(without_itself.iter().map(|hit| hit.image).collect::<Vec<_>>(), vec![40, 20]);
        assert_eq!(searched.position(31), None);
    }

    #[test]
    fn retrieval_follows_the_runs_distance() {
        // Nearest other image by angle: 20, 10, 40, 20 (right, right, right, wrong); by straight
        // line: 40, 40, 40, 10 (wrong, wrong, right, wrong).
        let cosine = index(Distance::Cosine).retrieval(2_000).expect("retrieval");
        let euclidean = index(Distance::Euclidean).retrieval(2_000).expect("retrieval");
        assert_eq!((cosine.queries, cosine.precision_at_1), (4, 0.75));
        assert_eq!((euclidean.queries, euclidean.precision_at_1), (4, 0.25));
        // At most the limit: 3 of the 4 (10, 20 and 30; 30 is then alone in its class).
        let limited = index(Distance::Euclidean).retrieval(3).expect("retrieval");
        assert_eq!((limited.queries, limited.lone_queries), (2, 1));
    }

    #[test]
    fn the_map_holds_the_distinct_held_out_images_within_its_limits() {
        let triplets: Vec<Triplet> =
            (0..300u32).map(|at| Triplet { anchor: 3 * at, positive: 3 * at + 1, negative: 3 * at + 2 }).collect();
        let all = map_images(&triplets, 10_000);
        assert_eq!(all.len(), 900);
        assert!(all.windows(2).all(|pair| pair[0] < pair[1]), "sorted and distinct");
        assert_eq!(map_images(&triplets, 10).len(), 100, "never fewer than 100 when there are");
        assert_eq!(
            map_images(&triplets, 450),
            evenly_spaced(900, 450).into_iter().map(|at| at as u32).collect::<Vec<_>>()
        );
    }

    #[test]
    fn evenly_spaced_indices_are_spread_and_in_range() {
        assert_eq!(evenly_spaced(10, 6), vec![0, 1, 3, 5, 6, 8]);
        assert_eq!(evenly_spaced(3, 6), vec![0, 1, 2], "fewer than wanted: all of them");
        assert_eq!(evenly_spaced(0, 6), Vec::<usize>::new());
        assert_eq!(evenly_spaced(5, 0), Vec::<usize>::new());
    }

    #[test]
    fn rgba_becomes_cifar_planes() {
        let mut rgba = vec![0u8; 32 * 32 * 4];
        // Pixel 0 is (1, 2, 3, 255); the last pixel is (7, 8, 9, 0).
        rgba[..4].copy_from_slice(&[1, 2, 3, 255]);
        rgba[4 * 1023..].copy_from_slice(&[7, 8, 9, 0]);
        let planar = rgba_to_planar(&rgba).expect("32 x 32");
        assert_eq!((planar[0], planar[1024], planar[2048]), (1, 2, 3));
        assert_eq!((planar[1023], planar[2047], planar[3071]), (7, 8, 9));
        assert_eq!(rgba_to_planar(&rgba[4..]), None);
    }

    #[test]
    fn the_cosine_map_ignores_length() {
        // Two directions, each at several lengths: on the cosine map, each direction is one point.
        let rows: Vec<f32> = [1.0f32, 2.0, 5.0].iter().flat_map(|&s| [s, 0.0, s, s]).collect();
        let map = embedding_map(&mut rows.clone(), 2, true, 1).expect("map");
        let points: Vec<(f32, f32)> = map.coords.chunks(2).map(|c| (c[0], c[1])).collect();
        for pair in [(0, 2), (2, 4), (1, 3), (3, 5)] {
            let (a, b) = (points[pair.0], points[pair.1]);
            assert!((a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6, "{points:?}");
        }
        let euclidean = embedding_map(&mut rows.clone(), 2, false, 1).expect("map");
        assert_ne!(euclidean.coords[0], euclidean.coords[4], "lengths count on the euclidean map");
    }
}

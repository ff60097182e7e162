//! Looking inside a trained encoder: 2-D maps of its embeddings (principal components), and a
//! visitor's own picture turned into an image the encoder reads.

pub mod pca;

pub use pca::{PcaError, Projection, pca};

use crate::data::cifar::{IMAGE_BYTES, IMAGE_SIDE};

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

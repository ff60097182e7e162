//! Principal component analysis of embeddings, for the page's 2-D embedding map.
//!
//! Block power iteration on the centred data (never a d x d covariance matrix): each iteration
//! multiplies by `X^T X` as two passes over the n x d rows, so 10,000 embeddings of 1,280 floats
//! cost tens of millions of multiply-adds per iteration, not billions. The components are
//! orthonormalised (Gram-Schmidt) every iteration and iteration stops when the subspace stops
//! moving. Each component's sign is fixed (its largest-magnitude coordinate positive), so the map
//! does not flip from one epoch to the next for no reason.

use crate::random::SeededRng;

/// Why a projection cannot be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PcaError {
    #[error("no embeddings to project")]
    Empty,
    #[error("{values} values do not make rows of {dims} dimensions")]
    Ragged { values: usize, dims: usize },
    #[error("{wanted} components asked of {dims}-dimensional embeddings")]
    TooManyComponents { wanted: usize, dims: usize },
    #[error("embedding {row} holds a value that is not finite")]
    NotFinite { row: usize },
}

/// Embeddings projected on their first principal components.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    /// `components` coordinates per embedding, row by row.
    pub coords: Vec<f32>,
    pub components: usize,
    /// The components themselves, `dims` values each (unit length, orthogonal).
    pub axes: Vec<Vec<f64>>,
    /// The variance along each component, and its share of the total variance.
    pub variance: Vec<f64>,
    pub explained: Vec<f64>,
    /// Power iterations run.
    pub iterations: usize,
}

const MAX_ITERATIONS: usize = 300;
/// Converged when no component moves by more than this (1 - |cos| between iterations).
const TOLERANCE: f64 = 1e-10;

/// Project `embeddings` (rows of `dims` values) on their first `components` principal axes.
/// Rows are centred (the mean removed) but not scaled. `seed` fixes the starting vectors.
pub fn pca(embeddings: &[f32], dims: usize, components: usize, seed: u64) -> Result<Projection, PcaError> {
    if embeddings.is_empty() || dims == 0 {
        return Err(PcaError::Empty);
    }
    if !embeddings.len().is_multiple_of(dims) {
        return Err(PcaError::Ragged { values: embeddings.len(), dims });
    }
    if components == 0 || components > dims {
        return Err(PcaError::TooManyComponents { wanted: components, dims });
    }
    if let Some(at) = embeddings.iter().position(|value| !value.is_finite()) {
        return Err(PcaError::NotFinite { row: at / dims });
    }
    let rows = embeddings.len() / dims;
    let mut mean = vec![0.0f64; dims];
    for row in embeddings.chunks_exact(dims) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += f64::from(x);
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let total_variance: f64 = embeddings
        .chunks_exact(dims)
        .map(|row| row.iter().zip(&mean).map(|(&x, m)| (f64::from(x) - m).powi(2)).sum::<f64>())
        .sum::<f64>()
        / rows as f64;

    let mut rng = SeededRng::new(seed);
    let mut axes: Vec<Vec<f64>> =
        (0..components).map(|_| (0..dims).map(|_| f64::from(rng.unit_f32()) - 0.5).collect()).collect();
    orthonormalise(&mut axes);
    let mut iterations = 0;
    let mut scores = vec![0.0f64; rows * components];
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        project(embeddings, dims, &mean, &axes, &mut scores);
        // Next axes: X^T (X axes), over the centred rows.
        let mut next = vec![vec![0.0f64; dims]; components];
        for (row, row_scores) in embeddings.chunks_exact(dims).zip(scores.chunks_exact(components)) {
            for (axis, &score) in next.iter_mut().zip(row_scores) {
                for ((value, &x), m) in axis.iter_mut().zip(row).zip(&mean) {
                    *value += (f64::from(x) - m) * score;
                }
            }
        }
        orthonormalise(&mut next);
        let moved = axes.iter().zip(&next).map(|(old, new)| 1.0 - dot(old, new).abs()).fold(0.0f64, f64::max);
        axes = next;
        if moved < TOLERANCE {
            break;
        }
    }
    for axis in &mut axes {
        let largest = axis.iter().copied().fold(0.0f64, |best, v| if v.abs() > best.abs() { v } else { best });
        if largest < 0.0 {
            axis.iter_mut().for_each(|v| *v = -*v);
        }
    }
    project(embeddings, dims, &mean, &axes, &mut scores);
    let variance: Vec<f64> = (0..components)
        .map(|c| scores.chunks_exact(components).map(|row| row[c] * row[c]).sum::<f64>() / rows as f64)
        .collect();
    let explained = variance.iter().map(|v| if total_variance > 0.0 { v / total_variance } else { 0.0 }).collect();
    Ok(Projection {
        coords: scores.iter().map(|&s| s as f32).collect(),
        components,
        axes,
        variance,
        explained,
        iterations,
    })
}

/// Scores of every centred row on every axis.
fn project(embeddings: &[f32], dims: usize, mean: &[f64], axes: &[Vec<f64>], scores: &mut [f64]) {
    let components = axes.len();
    for (row, out) in embeddings.chunks_exact(dims).zip(scores.chunks_exact_mut(components)) {
        for (score, axis) in out.iter_mut().zip(axes) {
            *score = row.iter().zip(mean).zip(axis).map(|((&x, m), a)| (f64::from(x) - m) * a).sum();
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Modified Gram-Schmidt; a vector that vanishes (rank-deficient data) is replaced by a unit
/// vector orthogonal to the others, so the axes always stay orthonormal.
fn orthonormalise(axes: &mut [Vec<f64>]) {
    for i in 0..axes.len() {
        for j in 0..i {
            let (done, rest) = axes.split_at_mut(i);
            let projection = dot(&rest[0], &done[j]);
            rest[0].iter_mut().zip(&done[j]).for_each(|(v, u)| *v -= projection * u);
        }
        let mut norm = dot(&axes[i], &axes[i]).sqrt();
        if norm < 1e-300 {
            // Any basis vector the earlier axes leave room for.
            let dims = axes[i].len();
            for basis in 0..dims {
                let mut candidate = vec![0.0; dims];
                candidate[basis] = 1.0;
                for earlier in &axes[..i] {
                    let projection = dot(&candidate, earlier);
                    candidate.iter_mut().zip(earlier).for_each(|(v, u)| *v -= projection * u);
                }
                norm = dot(&candidate, &candidate).sqrt();
                if norm > 1e-6 {
                    axes[i] = candidate;
                    break;
                }
            }
        }
        if norm > 0.0 {
            axes[i].iter_mut().for_each(|v| *v /= norm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn points_on_a_line_project_onto_it() {
        // x = t * (1, 2, 2) / 3 + (5, 5, 5) for t = -4..=4: one direction holds all the variance.
        let rows: Vec<f32> = (-4..=4)
            .flat_map(|t| {
                let t = t as f32;
                [5.0 + t / 3.0, 5.0 + 2.0 * t / 3.0, 5.0 + 2.0 * t / 3.0]
            })
            .collect();
        let projection = pca(&rows, 3, 2, 1).expect("projects");
        let axis = &projection.axes[0];
        for (value, expected) in axis.iter().zip([1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0]) {
            assert!(close(*value, expected, 1e-6), "{axis:?}");
        }
        // Variance of t over -4..=4 (population): 60 / 9.
        // (The inputs are f32, so the agreement is to f32 precision.)
        assert!(close(projection.variance[0], 60.0 / 9.0, 1e-5), "{:?}", projection.variance);
        assert!(close(projection.explained[0], 1.0, 1e-12));
        assert!(projection.variance[1].abs() < 1e-9);
        // The coordinates are t itself (the sign makes the largest coordinate positive).
        let first: Vec<f32> = projection.coords.chunks(2).map(|c| c[0]).collect();
        for (t, x) in (-4..=4).zip(first) {
            assert!((x - t as f32).abs() < 1e-5, "t {t}: {x}");
        }
    }

    #[test]
    fn a_rotated_ellipse_gives_its_axes_in_order() {
        // Points (3 cos, 1 sin) at 8 angles, rotated by 30 degrees: axes at 30 and 120 degrees,
        // variances 9/2 and 1/2.
        let (sin, cos) = 30f64.to_radians().sin_cos();
        let rows: Vec<f32> = (0..8)
            .flat_map(|k| {
                let angle = f64::from(k) * std::f64::consts::PI / 4.0;
                let (x, y) = (3.0 * angle.cos(), angle.sin());
                [(x * cos - y * sin) as f32, (x * sin + y * cos) as f32]
            })
            .collect();
        let projection = pca(&rows, 2, 2, 3).expect("projects");
        assert!(close(projection.variance[0], 4.5, 1e-5), "{:?}", projection.variance);
        assert!(close(projection.variance[1], 0.5, 1e-5), "{:?}", projection.variance);
        assert!(close(projection.axes[0][0].abs(), cos, 1e-6) && close(projection.axes[0][1].abs(), sin, 1e-6));
        assert!(close(dot(&projection.axes[0], &projection.axes[1]), 0.0, 1e-12));
        assert!(close(projection.explained[0] + projection.explained[1], 1.0, 1e-9));
    }

    #[test]
    fn the_same_seed_gives_the_same_map() {
        let mut rng = SeededRng::new(9);
        let rows: Vec<f32> = (0..50 * 16).map(|_| rng.unit_f32()).collect();
        assert_eq!(pca(&rows, 16, 2, 4), pca(&rows, 16, 2, 4));
        // Another start converges to the same axes (up to the fixed sign).
        let (a, b) = (pca(&rows, 16, 2, 4).expect("a"), pca(&rows, 16, 2, 5).expect("b"));
        for (x, y) in a.coords.iter().zip(&b.coords) {
            assert!((x - y).abs() < 1e-3, "{x} vs {y}");
        }
    }

    #[test]
    fn bad_input_is_a_typed_error() {
        assert_eq!(pca(&[], 3, 2, 0), Err(PcaError::Empty));
        assert_eq!(pca(&[1.0; 5], 3, 2, 0), Err(PcaError::Ragged { values: 5, dims: 3 }));
        assert_eq!(pca(&[1.0; 6], 3, 4, 0), Err(PcaError::TooManyComponents { wanted: 4, dims: 3 }));
        assert_eq!(pca(&[1.0, f32::NAN, 0.0, 1.0, 2.0, 3.0], 3, 2, 0), Err(PcaError::NotFinite { row: 0 }));
        // All points equal: no variance, still orthonormal axes and zero coordinates.
        let flat = pca(&[2.0; 12], 3, 2, 0).expect("degenerate but defined");
        assert!(flat.coords.iter().all(|&c| c == 0.0));
        assert!(close(dot(&flat.axes[0], &flat.axes[1]), 0.0, 1e-12));
    }
}

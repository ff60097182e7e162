//! ReLU6, `min(max(x, 0), 6)`, and its gradient in one pass each (burn builds them from two
//! comparisons and two masked fills, each a pass over the tensor, forward and backward).

use crate::for_each_chunk;

/// Numbers a parallel task takes at a time.
const CHUNK: usize = 1 << 14;

/// `min(max(x, 0), 6)` of every number (NaN stays NaN, as burn's clamp leaves it).
pub fn forward(x: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    for_each_chunk(&mut out, CHUNK, 0, |k, out, _| {
        for (o, v) in out.iter_mut().zip(&x[k * CHUNK..]) {
            *o = if *v < 0.0 {
                0.0
            } else if *v > 6.0 {
                6.0
            } else {
                *v
            };
        }
    });
    out
}

/// The gradient through ReLU6 at `x`: the upstream gradient where `0 <= x <= 6` (burn's clamp
/// passes it at the two ends too), 0 elsewhere.
pub fn backward(x: &[f32], upstream: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len().min(upstream.len())];
    for_each_chunk(&mut out, CHUNK, 0, |k, out, _| {
        let at = k * CHUNK;
        for ((o, v), g) in out.iter_mut().zip(&x[at..]).zip(&upstream[at..]) {
            *o = if *v < 0.0 || *v > 6.0 { 0.0 } else { *g };
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_to_zero_and_six_worked_by_hand() {
        let x = [-2.0, -0.0, 0.0, 0.5, 6.0, 6.5, 1e9, f32::NAN];
        let y = forward(&x);
        assert_eq!(&y[..7], &[0.0, -0.0, 0.0, 0.5, 6.0, 6.0, 6.0]);
        // -0.0 is kept as it is (burn's clamp keeps it: -0.0 < 0 is false), bit for bit.
        assert_eq!(y[1].to_bits(), (-0.0f32).to_bits());
        assert!(y[7].is_nan());
        let upstream = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        // Passed at 0 and 6 inclusive; NaN compares false both ways, so it passes too.
        assert_eq!(backward(&x, &upstream), vec![0.0, 2.0, 3.0, 4.0, 5.0, 0.0, 0.0, 8.0]);
    }

    /// Longer than one parallel chunk, and not a multiple of it: every number is reached.
    #[test]
    fn every_chunk_is_reached() {
        let count = 3 * CHUNK + 17;
        let x: Vec<f32> = (0..count).map(|i| (i % 11) as f32 - 3.0).collect();
        let y = forward(&x);
        let dy = backward(&x, &vec![1.0; count]);
        for (i, v) in x.iter().enumerate() {
            assert_eq!(y[i], v.clamp(0.0, 6.0), "forward at {i}");
            assert_eq!(dy[i], if (0.0..=6.0).contains(v) { 1.0 } else { 0.0 }, "backward at {i}");
        }
    }
}

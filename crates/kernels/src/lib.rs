//! CPU kernels of our own: plain loops over slices, no burn. `tripletlab-core` wraps them as burn
//! operations (`crates/core/src/model/depthwise.rs`). A crate of its own so that dev builds (the
//! tests') compile it optimised like the dependencies (the root `Cargo.toml`'s dev profile): at
//! opt-level 0 these loops are tens of times slower.
//!
//! The depthwise convolution (`groups == channels`, one filter per channel, dilation 1) of an
//! NCHW `f32` tensor, forward and both gradients. Each is a loop over one image plane of one
//! channel (over one channel, for the weight gradient), written for the compiler to vectorise
//! along the output row, the planes in parallel when the `rayon` feature is on.

/// The sizes one plane loop needs, checked: `None` where the direct loops do not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Zeros before the first row and column (TensorFlow's uneven "same" padding adds its extra
    /// row and column after the last; the loops only need the leading side).
    pub pad_begin: [usize; 2],
    pub out_height: usize,
    pub out_width: usize,
}

impl Geometry {
    /// The geometry of a depthwise convolution of `x` `[batch, channels, h, w]` by `weight`
    /// `[filters, per_group, kh, kw]` with `padding` as (before, after) rows, then columns; `None`
    /// unless groups equal the channels, each filter has one input channel, the dilation is 1,
    /// no stride is 0 and the output is not empty.
    pub fn new(
        x: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Option<Self> {
        let [batch, channels, height, width] = x;
        let [filters, per_group, kh, kw] = weight;
        let depthwise = groups == channels && filters == channels && per_group == 1;
        if !depthwise || dilation != [1, 1] || stride.contains(&0) {
            return None;
        }
        let [(top, bottom), (left, right)] = padding;
        let padded = [height + top + bottom, width + left + right];
        if padded[0] < kh || padded[1] < kw || kh == 0 || kw == 0 {
            return None;
        }
        Some(Self {
            batch,
            channels,
            height,
            width,
            kernel: [kh, kw],
            stride,
            pad_begin: [top, left],
            out_height: (padded[0] - kh) / stride[0] + 1,
            out_width: (padded[1] - kw) / stride[1] + 1,
        })
    }

    /// `[batch, channels, out_height, out_width]`.
    pub fn output_shape(&self) -> [usize; 4] {
        [self.batch, self.channels, self.out_height, self.out_width]
    }

    fn plane(&self) -> usize {
        self.height * self.width
    }

    fn out_plane(&self) -> usize {
        self.out_height * self.out_width
    }

    fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    /// The input row read by output row `oy` through kernel row `ky`, if inside the image.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride[0] + ky).checked_sub(self.pad_begin[0]).filter(|&iy| iy < self.height)
    }

    /// The output columns `ox` whose input column `ox * stride + kx - pad` lies inside the image.
    fn columns(&self, kx: usize) -> std::ops::Range<usize> {
        let (stride, pad) = (self.stride[1], self.pad_begin[1]);
        // First ox with ox * stride + kx >= pad; last with ox * stride + kx - pad <= width - 1.
        let first = pad.saturating_sub(kx).div_ceil(stride);
        let end = match (self.width + pad).checked_sub(kx + 1) {
            Some(last_reach) => (last_reach / stride + 1).min(self.out_width),
            None => 0,
        };
        first..end.max(first)
    }
}

/// `y[n, c]` = the plane `x[n, c]` correlated with the filter `weight[c]`.
pub fn forward(x: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let mut out = vec![0.0f32; g.batch * g.channels * g.out_plane()];
    for_each_chunk(&mut out, g.out_plane(), |plane, out| {
        let c = plane % g.channels;
        let input = &x[plane * g.plane()..][..g.plane()];
        let filter = &weight[c * g.taps()..][..g.taps()];
        for oy in 0..g.out_height {
            let out_row = &mut out[oy * g.out_width..][..g.out_width];
            for ky in 0..g.kernel[0] {
                let Some(iy) = g.input_row(oy, ky) else { continue };
                let in_row = &input[iy * g.width..][..g.width];
                for kx in 0..g.kernel[1] {
                    let tap = filter[ky * g.kernel[1] + kx];
                    let columns = g.columns(kx);
                    if g.stride[1] == 1 {
                        let start = columns.start + kx - g.pad_begin[1];
                        let source = &in_row[start..start + columns.len()];
                        for (o, i) in out_row[columns].iter_mut().zip(source) {
                            *o += tap * i;
                        }
                    } else {
                        for ox in columns {
                            out_row[ox] += tap * in_row[ox * g.stride[1] + kx - g.pad_begin[1]];
                        }
                    }
                }
            }
        }
    });
    out
}

/// The gradient with respect to the input: each output gradient sent back through the taps that
/// produced it.
pub fn input_grad(output_grad: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let mut grad = vec![0.0f32; g.batch * g.channels * g.plane()];
    for_each_chunk(&mut grad, g.plane(), |plane, grad| {
        let c = plane % g.channels;
        let upstream = &output_grad[plane * g.out_plane()..][..g.out_plane()];
        let filter = &weight[c * g.taps()..][..g.taps()];
        for oy in 0..g.out_height {
            let up_row = &upstream[oy * g.out_width..][..g.out_width];
            for ky in 0..g.kernel[0] {
                let Some(iy) = g.input_row(oy, ky) else { continue };
                let grad_row = &mut grad[iy * g.width..][..g.width];
                for kx in 0..g.kernel[1] {
                    let tap = filter[ky * g.kernel[1] + kx];
                    let columns = g.columns(kx);
                    if g.stride[1] == 1 {
                        let start = columns.start + kx - g.pad_begin[1];
                        let target = &mut grad_row[start..start + columns.len()];
                        for (t, u) in target.iter_mut().zip(&up_row[columns]) {
                            *t += tap * u;
                        }
                    } else {
                        for ox in columns {
                            grad_row[ox * g.stride[1] + kx - g.pad_begin[1]] += tap * up_row[ox];
                        }
                    }
                }
            }
        }
    });
    grad
}

/// The gradient with respect to the filters: for each channel, each tap's input values times the
/// output gradients they met, summed over every image (rows in f32, the rest in f64).
pub fn weight_grad(x: &[f32], output_grad: &[f32], g: &Geometry) -> Vec<f32> {
    let mut grad = vec![0.0f32; g.channels * g.taps()];
    for_each_chunk(&mut grad, g.taps(), |c, grad| {
        let mut sums = vec![0.0f64; g.taps()];
        for n in 0..g.batch {
            let plane = n * g.channels + c;
            let input = &x[plane * g.plane()..][..g.plane()];
            let upstream = &output_grad[plane * g.out_plane()..][..g.out_plane()];
            for oy in 0..g.out_height {
                let up_row = &upstream[oy * g.out_width..][..g.out_width];
                for ky in 0..g.kernel[0] {
                    let Some(iy) = g.input_row(oy, ky) else { continue };
                    let in_row = &input[iy * g.width..][..g.width];
                    for kx in 0..g.kernel[1] {
                        let columns = g.columns(kx);
                        let row: f32 = if g.stride[1] == 1 {
                            let start = columns.start + kx - g.pad_begin[1];
                            in_row[start..start + columns.len()].iter().zip(&up_row[columns]).map(|(i, u)| i * u).sum()
                        } else {
                            columns.map(|ox| in_row[ox * g.stride[1] + kx - g.pad_begin[1]] * up_row[ox]).sum()
                        };
                        sums[ky * g.kernel[1] + kx] += f64::from(row);
                    }
                }
            }
        }
        for (out, sum) in grad.iter_mut().zip(sums) {
            *out = sum as f32;
        }
    });
    grad
}

/// `f(k, chunk)` for each `len`-long chunk of `out`, in parallel where the `rayon` feature is on.
fn for_each_chunk(out: &mut [f32], len: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if len == 0 {
        return;
    }
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each(|(k, chunk)| f(k, chunk));
    }
    #[cfg(not(feature = "rayon"))]
    out.chunks_mut(len).enumerate().for_each(|(k, chunk)| f(k, chunk));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(h: usize, w: usize, stride: usize, padding: [(usize, usize); 2]) -> Geometry {
        Geometry::new([1, 1, h, w], [1, 1, 3, 3], [stride, stride], padding, [1, 1], 1).expect("depthwise")
    }

    /// One 4 x 4 plane, values 1..16, the 3 x 3 filter of ones: each output is the sum of the
    /// inputs under the window, worked by hand.
    #[test]
    fn forward_sums_the_window_worked_by_hand() {
        let x: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let ones = [1.0f32; 9];
        // "Same" padding, stride 1: the corner sees 1 + 2 + 5 + 6 = 14, the centre (1, 1) sees
        // 1 + 2 + 3 + 5 + 6 + 7 + 9 + 10 + 11 = 54.
        let same = forward(&x, &ones, &geometry(4, 4, 1, [(1, 1), (1, 1)]));
        assert_eq!(same.len(), 16);
        assert_eq!((same[0], same[5], same[15]), (14.0, 54.0, 54.0));
        // TensorFlow's stride 2: no row or column before, one after: windows at rows and columns
        // 0 and 2, e.g. (0, 1) = 3 + 4 + 7 + 8 + 11 + 12, (1, 0) = 9 + 10 + 11 + 13 + 14 + 15.
        let strided = forward(&x, &ones, &geometry(4, 4, 2, [(0, 1), (0, 1)]));
        assert_eq!(strided, vec![54.0, 45.0, 72.0, 54.0]);
    }

    /// With a filter and output gradient of ones, an input's gradient counts the windows that
    /// cover it: 4 at a corner, 6 on an edge, 9 inside ("same", stride 1); with stride 2 and the
    /// padding after, rows (and columns) 0, 1, 2, 3 lie in 1, 1, 2, 1 windows.
    #[test]
    fn input_grad_counts_the_windows_worked_by_hand() {
        let ones = [1.0f32; 16];
        let same = input_grad(&ones, &[1.0; 9], &geometry(4, 4, 1, [(1, 1), (1, 1)]));
        let want: Vec<f32> = [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4].iter().map(|&v| v as f32).collect();
        assert_eq!(same, want);
        let strided = input_grad(&ones[..4], &[1.0; 9], &geometry(4, 4, 2, [(0, 1), (0, 1)]));
        let per_side = [1.0f32, 1.0, 2.0, 1.0];
        let want: Vec<f32> = per_side.iter().flat_map(|r| per_side.iter().map(move |c| r * c)).collect();
        assert_eq!(strided, want);
        // A filter that is not symmetric shows which way the taps are read: a single 1 at tap
        // (0, 0) multiplies the input one row up and one column left of each output, so the
        // gradient lands there: every input but the last row and column gets exactly one.
        let mut corner = [0.0f32; 9];
        corner[0] = 1.0;
        let shifted = input_grad(&ones, &corner, &geometry(4, 4, 1, [(1, 1), (1, 1)]));
        let want: Vec<f32> = (0..16).map(|i| if i % 4 < 3 && i / 4 < 3 { 1.0 } else { 0.0 }).collect();
        assert_eq!(shifted, want);
    }

    /// Inputs 1..16, output gradient of ones ("same", stride 1): tap (1, 1) meets every input
    /// (136), tap (0, 0) the top-left 3 x 3 (54), tap (2, 2) the bottom-right 3 x 3 (99); two
    /// images add up.
    #[test]
    fn weight_grad_sums_what_each_tap_met_worked_by_hand() {
        let x: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let dw = weight_grad(&x, &[1.0; 16], &geometry(4, 4, 1, [(1, 1), (1, 1)]));
        assert_eq!((dw[4], dw[0], dw[8]), (136.0, 54.0, 99.0));
        // Stride 2, padding after: tap (0, 0) meets inputs (0, 0), (0, 2), (2, 0), (2, 2).
        let g = geometry(4, 4, 2, [(0, 1), (0, 1)]);
        let dw = weight_grad(&x, &[1.0; 4], &g);
        assert_eq!(dw[0], 1.0 + 3.0 + 9.0 + 11.0);
        let two = Geometry { batch: 2, ..g };
        let doubled: Vec<f32> = x.iter().chain(&x).copied().collect();
        assert_eq!(weight_grad(&doubled, &[1.0; 8], &two)[0], 2.0 * 24.0);
    }

    #[test]
    fn geometry_refuses_what_the_loops_do_not_do() {
        let same = [(1, 1), (1, 1)];
        assert!(Geometry::new([1, 4, 8, 8], [4, 1, 3, 3], [1, 1], same, [1, 1], 4).is_some());
        assert!(Geometry::new([1, 4, 8, 8], [4, 1, 3, 3], [1, 1], same, [2, 2], 4).is_none(), "dilated");
        assert!(Geometry::new([1, 4, 8, 8], [4, 2, 3, 3], [1, 1], same, [1, 1], 2).is_none(), "grouped");
        assert!(Geometry::new([1, 4, 8, 8], [4, 1, 3, 3], [0, 1], same, [1, 1], 4).is_none(), "stride 0");
        assert!(Geometry::new([1, 1, 2, 2], [1, 1, 3, 3], [1, 1], [(0, 0), (0, 0)], [1, 1], 1).is_none(), "empty");
    }
}

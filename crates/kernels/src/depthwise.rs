//! The depthwise convolution (`groups == channels`, one filter per channel, dilation 1) of an
//! NCHW `f32` tensor, forward and both gradients. Each is a loop over one zero-padded image plane
//! of one channel (over one channel's planes, for the weight gradient), the planes in parallel
//! when the `rayon` feature is on.

use crate::for_each_chunk;

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

    /// Rows and columns of the zero-padded plane the loops read: the image with its padding
    /// before, and after as far as the last window reaches.
    fn padded(&self) -> [usize; 2] {
        let reach = |out: usize, stride: usize, kernel: usize| (out - 1) * stride + kernel;
        [
            reach(self.out_height, self.stride[0], self.kernel[0]).max(self.height + self.pad_begin[0]),
            reach(self.out_width, self.stride[1], self.kernel[1]).max(self.width + self.pad_begin[1]),
        ]
    }

    /// Copies one image plane into `padded` (`padded()` rows and columns), zeros around it.
    fn pad_into(&self, plane: &[f32], padded: &mut [f32]) {
        let [_, width] = self.padded();
        padded.fill(0.0);
        for (row, source) in plane.chunks_exact(self.width).enumerate() {
            let at = (row + self.pad_begin[0]) * width + self.pad_begin[1];
            padded[at..at + self.width].copy_from_slice(source);
        }
    }
}

/// `y[n, c]` = the plane `x[n, c]` correlated with the filter `weight[c]`.
pub fn forward(x: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let [rows, width] = g.padded();
    let (out_width, stride) = (g.out_width, g.stride[1]);
    let mut out = vec![0.0f32; g.batch * g.channels * g.out_plane()];
    for_each_chunk(&mut out, g.out_plane(), rows * width, |plane, out, padded| {
        g.pad_into(&x[plane * g.plane()..][..g.plane()], padded);
        let filter = &weight[(plane % g.channels) * g.taps()..][..g.taps()];
        for (oy, out_row) in out.chunks_exact_mut(out_width).enumerate() {
            for (ky, taps) in filter.chunks_exact(g.kernel[1]).enumerate() {
                let row = &padded[(oy * g.stride[0] + ky) * width..][..width];
                for (kx, &tap) in taps.iter().enumerate() {
                    if stride == 1 {
                        let source = &row[kx..kx + out_width];
                        out_row.iter_mut().zip(source).for_each(|(o, i)| *o += tap * i);
                    } else {
                        let source = row[kx..].iter().step_by(stride);
                        out_row.iter_mut().zip(source).for_each(|(o, i)| *o += tap * i);
                    }
                }
            }
        }
    });
    out
}

/// The gradient with respect to the input: each output gradient sent back through the taps that
/// produced it (into a padded plane, whose image part is the gradient).
pub fn input_grad(output_grad: &[f32], weight: &[f32], g: &Geometry) -> Vec<f32> {
    let [rows, width] = g.padded();
    let (out_width, stride) = (g.out_width, g.stride[1]);
    let mut grad = vec![0.0f32; g.batch * g.channels * g.plane()];
    for_each_chunk(&mut grad, g.plane(), rows * width, |plane, grad, padded| {
        padded.fill(0.0);
        let upstream = &output_grad[plane * g.out_plane()..][..g.out_plane()];
        let filter = &weight[(plane % g.channels) * g.taps()..][..g.taps()];
        for (oy, up_row) in upstream.chunks_exact(out_width).enumerate() {
            for (ky, taps) in filter.chunks_exact(g.kernel[1]).enumerate() {
                let row = &mut padded[(oy * g.stride[0] + ky) * width..][..width];
                for (kx, &tap) in taps.iter().enumerate() {
                    if stride == 1 {
                        let target = &mut row[kx..kx + out_width];
                        target.iter_mut().zip(up_row).for_each(|(t, u)| *t += tap * u);
                    } else {
                        let target = row[kx..].iter_mut().step_by(stride);
                        target.zip(up_row).for_each(|(t, u)| *t += tap * u);
                    }
                }
            }
        }
        for (y, grad_row) in grad.chunks_exact_mut(g.width).enumerate() {
            let at = (y + g.pad_begin[0]) * width + g.pad_begin[1];
            grad_row.copy_from_slice(&padded[at..at + g.width]);
        }
    });
    grad
}

/// The gradient with respect to the filters: for each channel, each tap's input values times the
/// output gradients they met, summed over every image (each image in f32, the images in f64).
pub fn weight_grad(x: &[f32], output_grad: &[f32], g: &Geometry) -> Vec<f32> {
    let [rows, width] = g.padded();
    let (out_width, stride) = (g.out_width, g.stride[1]);
    let mut grad = vec![0.0f32; g.channels * g.taps()];
    for_each_chunk(&mut grad, g.taps(), rows * width, |c, grad, padded| {
        let mut sums = vec![0.0f64; g.taps()];
        let mut image = vec![0.0f32; g.taps()];
        for n in 0..g.batch {
            let plane = n * g.channels + c;
            g.pad_into(&x[plane * g.plane()..][..g.plane()], padded);
            let upstream = &output_grad[plane * g.out_plane()..][..g.out_plane()];
            image.fill(0.0);
            for (oy, up_row) in upstream.chunks_exact(out_width).enumerate() {
                for (ky, taps) in image.chunks_exact_mut(g.kernel[1]).enumerate() {
                    let row = &padded[(oy * g.stride[0] + ky) * width..][..width];
                    for (kx, tap) in taps.iter_mut().enumerate() {
                        *tap += if stride == 1 {
                            up_row.iter().zip(&row[kx..kx + out_width]).map(|(u, i)| u * i).sum::<f32>()
                        } else {
                            up_row.iter().zip(row[kx..].iter().step_by(stride)).map(|(u, i)| u * i).sum::<f32>()
                        };
                    }
                }
            }
            sums.iter_mut().zip(&image).for_each(|(sum, part)| *sum += f64::from(*part));
        }
        grad.iter_mut().zip(sums).for_each(|(out, sum)| *out = sum as f32);
    });
    grad
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

    /// The convolution by its definition, in f64, with every bound checked: an independent
    /// reference for the loops above.
    struct Naive<'a> {
        g: &'a Geometry,
    }

    impl Naive<'_> {
        /// The input position tap (ky, kx) of output (oy, ox) reads, if inside the image.
        fn at(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
            let g = self.g;
            let iy = (oy * g.stride[0] + ky).checked_sub(g.pad_begin[0]).filter(|&iy| iy < g.height)?;
            let ix = (ox * g.stride[1] + kx).checked_sub(g.pad_begin[1]).filter(|&ix| ix < g.width)?;
            Some((iy, ix))
        }

        /// Calls `f(n, c, oy, ox, ky, kx, iy, ix)` for every tap that lands inside the image.
        fn each(&self, mut f: impl FnMut([usize; 8])) {
            let g = self.g;
            for n in 0..g.batch {
                for c in 0..g.channels {
                    for oy in 0..g.out_height {
                        for ox in 0..g.out_width {
                            for ky in 0..g.kernel[0] {
                                for kx in 0..g.kernel[1] {
                                    if let Some((iy, ix)) = self.at(oy, ox, ky, kx) {
                                        f([n, c, oy, ox, ky, kx, iy, ix]);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        fn input(&self, n: usize, c: usize, y: usize, x: usize) -> usize {
            ((n * self.g.channels + c) * self.g.height + y) * self.g.width + x
        }
        fn output(&self, n: usize, c: usize, y: usize, x: usize) -> usize {
            ((n * self.g.channels + c) * self.g.out_height + y) * self.g.out_width + x
        }
        fn tap(&self, c: usize, ky: usize, kx: usize) -> usize {
            (c * self.g.kernel[0] + ky) * self.g.kernel[1] + kx
        }
    }

    /// Numbers in [-1, 1) from a fixed sequence.
    fn numbers(count: usize, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        (0..count)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn assert_close(what: &str, ours: &[f32], reference: &[f64]) {
        assert_eq!(ours.len(), reference.len(), "{what}: sizes");
        for (at, (a, b)) in ours.iter().zip(reference).enumerate() {
            assert!((f64::from(*a) - b).abs() < 1e-5 * (1.0 + b.abs()), "{what}: element {at}: {a} against {b}");
        }
    }

    /// Several images and channels, every stride from 1 to 3, uneven padding on either side, odd
    /// and even sides and a filter that is not square: forward and both gradients against the
    /// definition.
    #[test]
    fn the_loops_equal_the_definition() {
        let cases = [
            ([2, 3, 5, 6], [3, 3], [1, 1], [(1, 1), (1, 1)]),
            ([2, 3, 6, 6], [3, 3], [2, 2], [(0, 1), (0, 1)]),
            ([3, 2, 7, 5], [3, 3], [2, 1], [(1, 0), (2, 1)]),
            ([1, 4, 8, 7], [2, 3], [3, 2], [(0, 0), (1, 2)]),
            ([2, 2, 1, 1], [3, 3], [1, 1], [(1, 1), (1, 1)]),
        ];
        for (seed, (x_shape, kernel, stride, padding)) in cases.into_iter().enumerate() {
            let [_, channels, _, _] = x_shape;
            let g = Geometry::new(x_shape, [channels, 1, kernel[0], kernel[1]], stride, padding, [1, 1], channels)
                .expect("depthwise");
            let naive = Naive { g: &g };
            let what = format!("{x_shape:?}, kernel {kernel:?}, stride {stride:?}, padding {padding:?}");
            let x = numbers(x_shape.iter().product(), 3 * seed as u64);
            let w = numbers(channels * g.taps(), 3 * seed as u64 + 1);
            let dy = numbers(g.output_shape().iter().product(), 3 * seed as u64 + 2);
            let (mut y, mut dx, mut dw) = (vec![0.0f64; dy.len()], vec![0.0f64; x.len()], vec![0.0f64; w.len()]);
            naive.each(|[n, c, oy, ox, ky, kx, iy, ix]| {
                let (i, o, t) = (naive.input(n, c, iy, ix), naive.output(n, c, oy, ox), naive.tap(c, ky, kx));
                y[o] += f64::from(w[t]) * f64::from(x[i]);
                dx[i] += f64::from(w[t]) * f64::from(dy[o]);
                dw[t] += f64::from(dy[o]) * f64::from(x[i]);
            });
            assert_close(&format!("{what}: forward"), &forward(&x, &w, &g), &y);
            assert_close(&format!("{what}: input gradient"), &input_grad(&dy, &w, &g), &dx);
            assert_close(&format!("{what}: weight gradient"), &weight_grad(&x, &dy, &g), &dw);
        }
    }

    /// The output's shape, and the padded plane the loops read: exactly as far as the last window
    /// reaches, or the image and its leading padding where that is further.
    #[test]
    fn output_and_padded_sizes_worked_by_hand() {
        let g = geometry(4, 4, 2, [(0, 1), (0, 1)]);
        assert_eq!((g.output_shape(), g.padded()), ([1, 1, 2, 2], [5, 5]));
        let g = geometry(4, 4, 1, [(1, 1), (1, 1)]);
        assert_eq!((g.output_shape(), g.padded()), ([1, 1, 4, 4], [6, 6]));
        // 8 x 7, no padding, stride 2: windows at 0, 2, 4 (reach 7) and 0, 2 (reach 5); the
        // image (8 rows, 7 columns) is further.
        let g = Geometry::new([2, 3, 8, 7], [3, 1, 3, 3], [2, 2], [(0, 0), (0, 0)], [1, 1], 3).expect("depthwise");
        assert_eq!((g.output_shape(), g.padded()), ([2, 3, 3, 3], [8, 7]));
        // Padding before only: one row and two columns of zeros lead, the windows reach 6 and 9.
        let g = Geometry::new([1, 1, 5, 7], [1, 1, 2, 3], [1, 1], [(1, 0), (2, 0)], [1, 1], 1).expect("depthwise");
        assert_eq!((g.output_shape(), g.padded()), ([1, 1, 5, 7], [6, 9]));
        // 9 x 9 with one leading row and column, stride 2: windows at 0, 2, 4, 6 reach 9, the
        // image and its leading padding 10.
        let g = Geometry::new([1, 1, 9, 9], [1, 1, 3, 3], [2, 2], [(1, 0), (1, 0)], [1, 1], 1).expect("depthwise");
        assert_eq!((g.output_shape(), g.padded()), ([1, 1, 4, 4], [10, 10]));
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

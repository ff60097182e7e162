//! Charts drawn as SVG by us: a frame that maps data to pixels, axes with ticks and labels, and
//! downsampling so long runs draw as fast as short ones.

use base64::Engine as _;
use leptos::prelude::*;

/// A plot area inside an SVG of `width` x `height`, mapping `x` and `y` ranges onto it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub width: f64,
    pub height: f64,
    pub margin_left: f64,
    pub margin_bottom: f64,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

const MARGIN_TOP: f64 = 10.0;
const MARGIN_RIGHT: f64 = 12.0;

impl Frame {
    pub fn new(width: f64, height: f64, x: (f64, f64), y: (f64, f64)) -> Self {
        let widen = |(lo, hi): (f64, f64)| if hi > lo { (lo, hi) } else { (lo, lo + 1.0) };
        Self { width, height, margin_left: 70.0, margin_bottom: 58.0, x: widen(x), y: widen(y) }
    }

    pub fn px(&self, x: f64) -> f64 {
        let span = self.width - self.margin_left - MARGIN_RIGHT;
        self.margin_left + (x - self.x.0) / (self.x.1 - self.x.0) * span
    }

    pub fn py(&self, y: f64) -> f64 {
        let span = self.height - MARGIN_TOP - self.margin_bottom;
        MARGIN_TOP + (1.0 - (y - self.y.0) / (self.y.1 - self.y.0)) * span
    }

    pub fn left(&self) -> f64 {
        self.margin_left
    }

    pub fn right(&self) -> f64 {
        self.width - MARGIN_RIGHT
    }

    pub fn top(&self) -> f64 {
        MARGIN_TOP
    }

    pub fn bottom(&self) -> f64 {
        self.height - self.margin_bottom
    }

    /// An SVG path through `points` (data coordinates).
    pub fn path(&self, points: &[(f64, f64)]) -> String {
        let mut path = String::with_capacity(points.len() * 16);
        for (at, &(x, y)) in points.iter().enumerate() {
            let command = if at == 0 { 'M' } else { 'L' };
            path.push_str(&format!("{command}{:.1} {:.1} ", self.px(x), self.py(y)));
        }
        path
    }

    pub fn view_box(&self) -> String {
        format!("0 0 {} {}", self.width, self.height)
    }
}

/// About `count` round tick values covering `lo..=hi`.
pub fn ticks(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    if hi <= lo || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / count.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&s| s >= raw).unwrap_or(raw);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// A tick label: short, without trailing zeros.
pub fn tick_label(value: f64) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let text = if value.abs() >= 1000.0 { format!("{:.0}", value) } else { format!("{:.3}", value) };
    let trimmed = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    trimmed.to_string()
}

/// At most `max` points: the mean of each equal run of consecutive points (the first and last kept).
pub fn downsample(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let per = points.len().div_ceil(max);
    points
        .chunks(per)
        .map(|chunk| {
            let n = chunk.len() as f64;
            (chunk.iter().map(|p| p.0).sum::<f64>() / n, chunk.iter().map(|p| p.1).sum::<f64>() / n)
        })
        .collect()
}

/// An exponential moving average, as TensorBoard smooths (debiased at the start).
pub fn smooth(points: &[(f64, f64)], weight: f64) -> Vec<(f64, f64)> {
    let mut last = 0.0;
    points
        .iter()
        .enumerate()
        .map(|(at, &(x, y))| {
            last = last * weight + (1.0 - weight) * y;
            (x, last / (1.0 - weight.powi(at as i32 + 1)))
        })
        .collect()
}

/// Axes with ticks, grid lines and labels.
#[component]
pub fn Axes(frame: Frame, x_label: &'static str, y_label: &'static str) -> impl IntoView {
    let x_ticks = ticks(frame.x.0, frame.x.1, 6);
    let y_ticks = ticks(frame.y.0, frame.y.1, 5);
    let (left, right, top, bottom) = (frame.left(), frame.right(), frame.top(), frame.bottom());
    view! {
        <g class="axes">
            {y_ticks
                .into_iter()
                .map(|y| {
                    let py = frame.py(y);
                    view! {
                        <line class="grid" x1=left x2=right y1=py y2=py />
                        <text class="tick" x=left - 6.0 y=py + 6.0 text-anchor="end">{tick_label(y)}</text>
                    }
                })
                .collect_view()}
            {x_ticks
                .into_iter()
                .map(|x| {
                    let px = frame.px(x);
                    view! {
                        <line class="tick-mark" x1=px x2=px y1=bottom y2=bottom + 4.0 />
                        <text class="tick" x=px y=bottom + 22.0 text-anchor="middle">{tick_label(x)}</text>
                    }
                })
                .collect_view()}
            <line class="axis" x1=left x2=right y1=bottom y2=bottom />
            <line class="axis" x1=left x2=left y1=top y2=bottom />
            <text class="axis-label" x=(left + right) / 2.0 y=frame.height - 9.0 text-anchor="middle">{x_label}</text>
            <text
                class="axis-label"
                x=16.0
                y=(top + bottom) / 2.0
                text-anchor="middle"
                transform=format!("rotate(-90 16 {})", (top + bottom) / 2.0)
            >
                {y_label}
            </text>
        </g>
    }
}

/// A 32 x 32 CIFAR image (channel-major RGB) as a `data:` URL of a 24-bit BMP, drawn crisply
/// scaled up by CSS (`image-rendering: pixelated`).
pub fn image_url(chw: &[u8]) -> String {
    const SIDE: usize = 32;
    const PLANE: usize = SIDE * SIDE;
    let pixels = PLANE * 3;
    let mut bmp = Vec::with_capacity(54 + pixels);
    let file_size = (54 + pixels) as u32;
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&file_size.to_le_bytes());
    bmp.extend_from_slice(&[0, 0, 0, 0]);
    bmp.extend_from_slice(&54u32.to_le_bytes());
    bmp.extend_from_slice(&40u32.to_le_bytes());
    bmp.extend_from_slice(&(SIDE as i32).to_le_bytes());
    bmp.extend_from_slice(&(SIDE as i32).to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&24u16.to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&(pixels as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 16]);
    // Rows bottom-up, pixels as B, G, R; a row of 96 bytes needs no padding.
    for row in (0..SIDE).rev() {
        for column in 0..SIDE {
            let at = row * SIDE + column;
            let channel = |c: usize| chw.get(c * PLANE + at).copied().unwrap_or(0);
            bmp.extend_from_slice(&[channel(2), channel(1), channel(0)]);
        }
    }
    format!("data:image/bmp;base64,{}", base64::engine::general_purpose::STANDARD.encode(&bmp))
}

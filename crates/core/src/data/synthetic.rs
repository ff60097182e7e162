//! A deterministic synthetic dataset in the CIFAR-10 binary layout, for offline demos and tests.
//!
//! Ten shape classes, each varied in position, scale, colour and noise, so a small encoder can
//! learn them in minutes. It is NOT CIFAR-10: its name, its class names and the `synthetic` flag
//! say so wherever it goes.

use super::cifar::{Batch, CHANNELS, CLASS_COUNT, IMAGE_BYTES, IMAGE_SIDE};
use crate::random::SeededRng;

/// The dataset's name in manifests, the page and reports.
pub const NAME: &str = "synthetic-shapes";

/// The class names, one a shape.
pub const CLASS_NAMES: [&str; CLASS_COUNT] = [
    "synthetic disc",
    "synthetic square",
    "synthetic triangle",
    "synthetic plus",
    "synthetic horizontal stripes",
    "synthetic vertical stripes",
    "synthetic ring",
    "synthetic checkerboard",
    "synthetic diagonal bar",
    "synthetic two dots",
];

/// `batches.meta.txt` for the synthetic classes.
pub fn meta_text() -> String {
    CLASS_NAMES.iter().map(|name| format!("{name}\n")).collect()
}

/// `count` images with balanced labels in a shuffled order; the same `seed` gives the same bytes.
pub fn batch(seed: u64, count: usize) -> Batch {
    let mut rng = SeededRng::new(seed);
    let mut labels = Vec::with_capacity(count);
    while labels.len() < count {
        let mut block: Vec<u8> = (0..CLASS_COUNT as u8).collect();
        rng.shuffle(&mut block);
        labels.extend(block.into_iter().take(count - labels.len()));
    }
    let mut pixels = Vec::with_capacity(count * IMAGE_BYTES);
    for &label in &labels {
        pixels.extend(render(label, &mut rng));
    }
    Batch { labels, pixels }
}

/// The official file names paired with synthetic batches of `per_batch` images each.
pub fn batches(seed: u64, per_batch: usize, files: usize) -> Vec<(&'static str, Batch)> {
    super::cifar::BATCH_FILES
        .iter()
        .take(files)
        .enumerate()
        .map(|(at, file)| (*file, batch(seed.wrapping_add(at as u64 * 1_000_003), per_batch)))
        .collect()
}

/// One planar RGB image of class `label`.
fn render(label: u8, rng: &mut SeededRng) -> Vec<u8> {
    let side = IMAGE_SIDE as f32;
    let center_x = 10.0 + 12.0 * rng.unit_f32();
    let center_y = 10.0 + 12.0 * rng.unit_f32();
    let scale = 6.0 + 5.0 * rng.unit_f32();
    let period = 3.0 + 3.0 * rng.unit_f32();
    let phase = side * rng.unit_f32();
    let foreground = bright_colour(rng);
    let background = dark_colour(rng);
    let mut image = vec![0u8; IMAGE_BYTES];
    for y in 0..IMAGE_SIDE {
        for x in 0..IMAGE_SIDE {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let (u, v) = ((px - center_x) / scale, (py - center_y) / scale);
            let stripe = |t: f32| ((t + phase) / period).floor().rem_euclid(2.0) < 1.0;
            let inside = match label {
                0 => u * u + v * v <= 1.0,
                1 => u.abs() <= 0.8 && v.abs() <= 0.8,
                2 => (-0.9..=0.8).contains(&v) && u.abs() <= (v + 0.9) * 0.55,
                3 => (u.abs() <= 0.28 && v.abs() <= 1.0) || (v.abs() <= 0.28 && u.abs() <= 1.0),
                4 => stripe(py),
                5 => stripe(px),
                6 => (0.3..=1.0).contains(&(u * u + v * v)),
                7 => stripe(px) ^ stripe(py),
                8 => (u - v).abs() <= 0.35 && u.abs() <= 1.0 && v.abs() <= 1.0,
                _ => (u - 0.55).powi(2) + v * v <= 0.16 || (u + 0.55).powi(2) + v * v <= 0.16,
            };
            let colour = if inside { foreground } else { background };
            for channel in 0..CHANNELS {
                let noise = (rng.unit_f32() - 0.5) * 40.0;
                let value = (colour[channel] + noise).clamp(0.0, 255.0);
                image[channel * IMAGE_SIDE * IMAGE_SIDE + y * IMAGE_SIDE + x] = value as u8;
            }
        }
    }
    image
}

fn bright_colour(rng: &mut SeededRng) -> [f32; 3] {
    let mut colour = [0.0; 3];
    for value in &mut colour {
        *value = 90.0 + 165.0 * rng.unit_f32();
    }
    colour[rng.index(3)] = 255.0;
    colour
}

fn dark_colour(rng: &mut SeededRng) -> [f32; 3] {
    let mut colour = [0.0; 3];
    for value in &mut colour {
        *value = 70.0 * rng.unit_f32();
    }
    colour
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_balanced_and_in_the_official_layout() {
        let a = batch(5, 1_000);
        assert_eq!(a, batch(5, 1_000));
        assert_ne!(a.pixels, batch(6, 1_000).pixels);
        let mut counts = [0; CLASS_COUNT];
        a.labels.iter().for_each(|&l| counts[usize::from(l)] += 1);
        assert_eq!(counts, [100; CLASS_COUNT]);
        let reparsed = Batch::parse("synthetic.bin", &a.to_bytes()).expect("official layout");
        assert_eq!(reparsed, a);
    }

    #[test]
    fn meta_names_ten_synthetic_classes() {
        let names = super::super::cifar::parse_class_names("meta", meta_text().as_bytes()).expect("ten");
        assert!(names.iter().all(|name| name.starts_with("synthetic ")));
    }
}

//! Simple training-time augmentation of CIFAR-layout images: a random horizontal flip and a
//! random crop of the image padded by 4 black pixels on every side (the classic CIFAR recipe).
//! Off by default: the reference recipe does not augment.

use serde::{Deserialize, Serialize};

use super::cifar::{CHANNELS, IMAGE_BYTES, IMAGE_SIDE};
use crate::random::SeededRng;

/// Which augmentations to apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Augmentation {
    pub flip: bool,
    /// Pad by this many pixels and crop back to 32x32 at a random offset (0 = off; the
    /// classic value is 4).
    pub crop_padding: u8,
}

impl Augmentation {
    pub fn is_off(&self) -> bool {
        !self.flip && self.crop_padding == 0
    }

    /// An augmented copy of one planar RGB image.
    pub fn apply(&self, image: &[u8], rng: &mut SeededRng) -> Vec<u8> {
        debug_assert_eq!(image.len(), IMAGE_BYTES);
        let flip = self.flip && rng.coin();
        let pad = i64::from(self.crop_padding);
        let (dx, dy) = if pad > 0 {
            let span = (2 * pad + 1) as u64;
            (rng.below(span) as i64 - pad, rng.below(span) as i64 - pad)
        } else {
            (0, 0)
        };
        let side = IMAGE_SIDE as i64;
        let mut out = vec![0u8; IMAGE_BYTES];
        for channel in 0..CHANNELS {
            let plane = channel * IMAGE_SIDE * IMAGE_SIDE;
            for y in 0..side {
                for x in 0..side {
                    let source_x = if flip { side - 1 - x } else { x } + dx;
                    let source_y = y + dy;
                    if (0..side).contains(&source_x) && (0..side).contains(&source_y) {
                        out[plane + (y * side + x) as usize] = image[plane + (source_y * side + source_x) as usize];
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient() -> Vec<u8> {
        (0..IMAGE_BYTES).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn off_is_the_identity() {
        let image = gradient();
        let mut rng = SeededRng::new(1);
        assert_eq!(Augmentation::default().apply(&image, &mut rng), image);
    }

    #[test]
    fn flip_mirrors_rows_and_twice_is_identity() {
        let image = gradient();
        let flip = Augmentation { flip: true, crop_padding: 0 };
        // Find a seed whose first coin is heads.
        let seed = (0..).find(|&s| SeededRng::new(s).coin()).expect("some seed flips");
        let once = flip.apply(&image, &mut SeededRng::new(seed));
        assert_eq!(once[0], image[31]);
        assert_eq!(once[32 * 32 + 5], image[32 * 32 + 26]);
        assert_eq!(flip.apply(&once, &mut SeededRng::new(seed)), image);
    }

    #[test]
    fn crop_shifts_within_the_padding_and_fills_black() {
        let image = vec![255u8; IMAGE_BYTES];
        let crop = Augmentation { flip: false, crop_padding: 4 };
        let mut rng = SeededRng::new(3);
        let mut saw_shift = false;
        for _ in 0..50 {
            let out = crop.apply(&image, &mut rng);
            let black = out.iter().filter(|&&b| b == 0).count();
            // At most 4 rows and 4 columns per plane are uncovered.
            assert!(black <= CHANNELS * (4 * 32 + 4 * 32), "{black}");
            saw_shift |= black > 0;
        }
        assert!(saw_shift);
    }
}

//! The named starting points of a run, once: their link key (`preset=demo`), the page's button
//! and the sentence that says what each is for. The page's recipe buttons, the lesson link's
//! `preset` and the CLI's `--settings` all read this table.

use super::RunSpec;

/// A named run description.
pub struct Preset {
    /// The lesson link's value (`preset=KEY`).
    pub key: &'static str,
    /// The page's button.
    pub label: &'static str,
    /// What it is for, in one plain sentence.
    pub what: &'static str,
    pub spec: fn() -> RunSpec,
}

/// Every preset, the page's first choice first.
pub const PRESETS: [Preset; 3] = [
    Preset {
        key: "demo",
        label: "Try it (1 minute)",
        what: "The pretrained encoder stays frozen and a small head on top learns, from 1,000 images: results in \
               a minute, even without a GPU.",
        spec: RunSpec::class_demo,
    },
    Preset {
        key: "tutorial",
        label: "Reproduce the tutorial",
        what: "The published recipe: the whole pretrained encoder trained on every image for up to 50 epochs. \
               Hours on a CPU, far less on a GPU.",
        spec: RunSpec::tutorial,
    },
    Preset {
        key: "quick",
        label: "From scratch (small)",
        what: "A small encoder (width 0.35) from random weights on 400 images for 3 epochs: it shows how little \
               a network learns in a minute without pretraining.",
        spec: RunSpec::quick_demo,
    },
];

/// The preset a link names.
pub fn named(key: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| preset.key == key)
}

/// The preset that `spec` is exactly, if any (the page shows it pressed).
pub fn matching(spec: &RunSpec) -> Option<&'static Preset> {
    PRESETS.iter().find(|preset| (preset.spec)() == *spec)
}

/// The keys, for messages: "'demo', 'tutorial' or 'quick'".
pub fn keys() -> String {
    let quoted: Vec<String> = PRESETS.iter().map(|preset| format!("'{}'", preset.key)).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{PRESETS, keys, matching, named};
    use crate::run::RunSpec;

    #[test]
    fn each_preset_is_found_by_its_key_and_by_its_description() {
        for preset in &PRESETS {
            let spec = (preset.spec)();
            assert_eq!(spec.check(), Ok(()), "{} must run", preset.key);
            assert_eq!(named(preset.key).map(|found| found.key), Some(preset.key));
            assert_eq!(matching(&spec).map(|found| found.key), Some(preset.key));
        }
        assert!(named("nope").is_none());
        let changed = RunSpec { epochs: 7, ..RunSpec::class_demo() };
        assert!(matching(&changed).is_none(), "a changed setting is no preset");
        assert_eq!(keys(), "'demo', 'tutorial' or 'quick'");
    }

    #[test]
    fn the_class_demo_is_fast_mode_on_the_pretrained_encoder() {
        let demo = RunSpec::class_demo();
        assert!(demo.fast_mode && demo.pretrained && demo.model.width == 1.0);
        assert!(demo.augmentation.is_off() && demo.mining.is_none(), "fast mode's own rules");
        assert_eq!((demo.data.images, demo.epochs), (1000, 5));
    }
}

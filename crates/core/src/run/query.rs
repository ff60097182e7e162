//! A [`RunSpec`] as `key=value` pairs, made from the settings table ([`SETTINGS`], in
//! `settings.rs`): the lesson link's pairs (`?preset=quick&margin=0.1`: [`to_pairs`],
//! [`from_pairs`]), which the page's "Link to these settings" writes and the CLI's `--settings`
//! and `--set` read, and the range checks every face shares ([`check_ranges`]). Values are plain
//! text here; percent-encoding is the link's business. `preset` (`tutorial` | `quick`) is not a
//! setting but the base the others change.

use super::RunSpec;
use super::settings::one_of;
pub use super::settings::{SETTINGS, Setting, Value, Values, setting};
use crate::data::augment::Augmentation;
use crate::mining::Mining;

/// The smallest and largest value a number may take.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

const fn range(min: f64, max: f64) -> Range {
    Range { min, max }
}

pub const IMAGES: Range = range(0.0, 1e7);
/// In percent.
pub const HELD_OUT_PERCENT: Range = range(1.0, 90.0);
pub const MARGIN: Range = range(0.0, 2.0);
pub const LEARNING_RATE: Range = range(1e-7, 1.0);
pub const BETA: Range = range(0.0, 0.99999);
pub const EPSILON: Range = range(1e-12, 1.0);
pub const BATCH: Range = range(1.0, 1024.0);
pub const EPOCHS: Range = range(1.0, 1000.0);
pub const PATIENCE: Range = range(1.0, 100.0);
pub const BN_MOMENTUM: Range = range(0.0, 0.9999);
/// Up to 2^53: a seed survives a round trip through JavaScript's numbers.
pub const SEED: Range = range(0.0, 9_007_199_254_740_992.0);
pub const CROP: Range = range(0.0, 8.0);
/// Classes per mined batch (P) and images per class (K).
pub const PK: Range = range(2.0, 64.0);
/// The widths the encoder is offered at.
pub const WIDTHS: [f64; 4] = [0.35, 0.5, 0.75, 1.0];

/// P x K when a link turns mining on without saying: 5 classes x 4 images.
pub const DEFAULT_PK: (usize, usize) = (5, 4);

/// The held-out share in percent, as the form and the link show it (`0.07` is `7`, not
/// `7.000000000000001`).
pub fn percent(fraction: f64) -> f64 {
    (fraction * 100.0 * 1e9).round() / 1e9
}

/// The flip and shift the page's "Augmentation" switch and the CLI's `--augment` turn on.
pub const FLIP_AND_SHIFT: Augmentation = Augmentation { flip: true, crop_padding: 4 };

/// The link's name for a mining strategy (`none`: the recipe's fixed triplets).
pub fn mining_name(strategy: Option<Mining>) -> &'static str {
    match strategy {
        None => "none",
        Some(Mining::BatchAll) => "batch-all",
        Some(Mining::BatchHard) => "batch-hard",
        Some(Mining::SemiHard) => "semi-hard",
    }
}

/// The base a link's `preset` names.
/// A link without one starts from the quick demo, as every link made so far expects.
pub fn preset(name: Option<&str>) -> Result<RunSpec, String> {
    match name {
        None => Ok(RunSpec::quick_demo()),
        Some(key) => super::presets::named(key)
            .map(|preset| (preset.spec)())
            .ok_or_else(|| format!("preset '{key}' is not {}", super::presets::keys())),
    }
}

/// Every setting of `spec` as pairs, in the table's order, which reads back to the same
/// description on the quick demo's base; the rarely changed ones only where they differ from it.
pub fn to_pairs(spec: &RunSpec) -> Vec<(&'static str, String)> {
    let base = RunSpec::quick_demo();
    SETTINGS
        .iter()
        .filter_map(|setting| {
            let value = (setting.get)(spec)?;
            (setting.always || Some(&value) != (setting.get)(&base).as_ref()).then_some((setting.key, value))
        })
        .collect()
}

/// The settings where `second` differs from `first`, as `second`'s pairs (a lesson's second run).
pub fn differences(first: &RunSpec, second: &RunSpec) -> Vec<(&'static str, String)> {
    SETTINGS
        .iter()
        .filter_map(|setting| {
            let value = (setting.get)(second)?;
            ((setting.get)(first).as_ref() != Some(&value)).then_some((setting.key, value))
        })
        .collect()
}

/// Where a key is applied: in the table's order (see [`SETTINGS`]), `preset` first, keys that
/// are not run settings last.
pub fn application_order(key: &str) -> usize {
    match key {
        "preset" => 0,
        key => SETTINGS.iter().position(|setting| setting.key == key).map_or(SETTINGS.len() + 1, |at| at + 1),
    }
}

/// Apply one pair to `spec`: `None` when `key` is not a run setting (the caller may know it),
/// else whether the value could be used.
pub fn apply(spec: &mut RunSpec, key: &str, value: &str) -> Option<Result<(), String>> {
    setting(key).map(|setting| setting.apply(spec, value))
}

/// A description from pairs on a `preset` base, and what in them could not be used (`other`
/// takes the keys that are not run settings and says whether it knew them).
pub fn from_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    mut other: impl FnMut(&str, &str) -> Option<Result<(), String>>,
) -> (RunSpec, Vec<String>) {
    let mut pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    pairs.sort_by_key(|(key, _)| application_order(key));
    let mut problems = Vec::new();
    let preset_name = pairs.iter().find(|(key, _)| *key == "preset").map(|(_, value)| *value);
    let mut spec = preset(preset_name).unwrap_or_else(|problem| {
        problems.push(problem);
        RunSpec::quick_demo()
    });
    for (key, value) in pairs.into_iter().filter(|(key, _)| *key != "preset") {
        let outcome = apply(&mut spec, key, value)
            .or_else(|| other(key, value))
            .unwrap_or_else(|| Err(format!("'{key}' is not a setting")));
        if let Err(problem) = outcome {
            problems.push(problem);
        }
    }
    (spec, problems)
}

/// Every setting of `spec` inside its range or among its choices (the first one that is not,
/// named by its key).
pub fn check_ranges(spec: &RunSpec) -> Result<(), String> {
    for setting in SETTINGS {
        let Some(value) = (setting.get)(spec) else { continue };
        if setting.parse(&value).is_err() {
            return Err(match setting.values {
                Values::Number(range) | Values::Whole(range) => format!("{} {value} is not {range}", setting.key),
                Values::Choice(options) => {
                    let words: Vec<String> = options.iter().map(|(word, _)| word.to_string()).collect();
                    format!("{} {value} is not {}", setting.key, one_of(&words))
                }
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod differences_tests {
    use super::{apply, differences};
    use crate::run::{Distance, RunSpec};

    #[test]
    fn a_second_run_is_its_differences_applied_to_the_first() {
        let first = RunSpec::class_demo();
        let mut second = first.clone();
        second.loss.distance = Distance::Euclidean;
        second.loss.margin = 0.2;
        let changed = differences(&first, &second);
        let keys: Vec<&str> = changed.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys, ["margin", "distance"]);
        let mut rebuilt = first.clone();
        for (key, value) in &changed {
            assert_eq!(apply(&mut rebuilt, key, value), Some(Ok(())));
        }
        assert_eq!(rebuilt, second);
        assert!(differences(&first, &first).is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::augment::Augmentation;
    use crate::data::triplets::HeldOutSplit;
    use crate::mining::MiningConfig;
    use crate::run::{
        AdamSettings, BranchPasses, DataSpec, Distance, InputScaling, LossKind, LossSpec, MobileNetV2Config, Reduction,
    };

    /// A description in which every field differs from both presets.
    pub(crate) fn every_field_changed() -> RunSpec {
        RunSpec {
            data: DataSpec { images: 1234, held_out: 0.07, split: HeldOutSplit::ByImage },
            pretrained: false,
            model: MobileNetV2Config { width: 0.75, bn_momentum: 0.95 },
            scaling: InputScaling::Symmetric,
            passes: BranchPasses::Concatenated,
            loss: LossSpec {
                kind: LossKind::Contrastive,
                margin: 0.25,
                distance: Distance::Euclidean,
                reduction: Reduction::MeanOverActive,
            },
            learning_rate: 2.5e-4,
            adam: AdamSettings { beta_1: 0.8, beta_2: 0.99, epsilon: 1e-6 },
            batch_size: 48,
            epochs: 7,
            patience: 4,
            seed: 9_007_199_254_740_991,
            augmentation: Augmentation { flip: true, crop_padding: 3 },
            mining: Some(MiningConfig { strategy: Mining::SemiHard, classes: 6, per_class: 3 }),
            fast_mode: true,
        }
    }

    fn round_trip(spec: &RunSpec) -> RunSpec {
        let pairs = to_pairs(spec);
        let (read, problems) = from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())), |_, _| None);
        assert!(problems.is_empty(), "{problems:?}");
        read
    }

    #[test]
    fn every_field_survives_pairs_and_back() {
        let changed = every_field_changed();
        let fresh = RunSpec::default();
        // Field by field, so a new field that the pairs forget is named here.
        let json = |spec: &RunSpec| serde_json::to_value(spec).expect("json");
        let (changed_json, fresh_json) = (json(&changed), json(&fresh));
        for (field, value) in changed_json.as_object().expect("object") {
            assert_ne!(Some(value), fresh_json.get(field), "every_field_changed() must change '{field}'");
        }
        assert_eq!(round_trip(&changed), changed);
        for spec in [RunSpec::tutorial(), RunSpec::quick_demo(), RunSpec { pretrained: true, ..RunSpec::tutorial() }] {
            assert_eq!(round_trip(&spec), spec);
        }
    }

    #[test]
    fn bad_pairs_are_named_and_ignored() {
        let pairs = [("preset", "tutorial"), ("margin", "3"), ("batch", "x"), ("k", "4"), ("color", "red")];
        let (spec, problems) = from_pairs(pairs, |_, _| None);
        assert_eq!(spec, RunSpec::tutorial());
        assert_eq!(
            problems,
            vec![
                "margin=3 is not between 0 and 2",
                "batch=x is not a whole number",
                "k=4 needs mining=batch-all, batch-hard or semi-hard",
                "'color' is not a setting",
            ]
        );
        // `pretrained` before `width` in the link still gets width 1.0's weights.
        let (spec, problems) = from_pairs([("pretrained", "1"), ("width", "1")], |_, _| None);
        assert!(problems.is_empty() && spec.pretrained && spec.model.width == 1.0);
    }

    /// A link without a preset starts from the quick demo; a named preset from that preset.
    #[test]
    fn the_base_is_the_preset_named_or_the_quick_demo() {
        assert_eq!(preset(None), Ok(RunSpec::quick_demo()));
        assert_eq!(preset(Some("demo")), Ok(RunSpec::class_demo()));
        assert_eq!(preset(Some("tutorial")), Ok(RunSpec::tutorial()));
        let (spec, problems) = from_pairs([("epochs", "2")], |_, _| None);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(spec, RunSpec { epochs: 2, ..RunSpec::quick_demo() });
    }

    /// Keys that are not run settings come last, after the last setting of the table, whatever
    /// their place in the link: so their problems are listed last.
    #[test]
    fn keys_that_are_not_settings_are_applied_last() {
        let last = SETTINGS.last().expect("settings").key;
        let (_, problems) = from_pairs([("colour", "red"), (last, "not a value")], |_, _| None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with(&format!("{last}=")), "{problems:?}");
        assert_eq!(problems[1], "'colour' is not a setting");
    }

    #[test]
    fn ranges_are_checked_by_name() {
        assert_eq!(check_ranges(&every_field_changed()), Ok(()));
        let spec = RunSpec { epochs: 0, ..RunSpec::tutorial() };
        assert_eq!(check_ranges(&spec), Err("epochs 0 is not between 1 and 1000".into()));
        let spec = RunSpec { learning_rate: f64::NAN, ..RunSpec::tutorial() };
        assert!(check_ranges(&spec).is_err_and(|why| why.starts_with("lr NaN")));
        assert_eq!(percent(0.07), 7.0);
    }

    /// Every leaf of a description's JSON, by its path (`loss.kind`, `model.width`, ...).
    fn leaves(spec: &RunSpec) -> Vec<(String, serde_json::Value)> {
        fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
            match value {
                serde_json::Value::Object(fields) => {
                    fields.iter().for_each(|(key, value)| walk(&format!("{prefix}{key}."), value, out))
                }
                leaf => out.push((prefix.trim_end_matches('.').to_string(), leaf.clone())),
            }
        }
        let mut out = Vec::new();
        walk("", &serde_json::to_value(spec).expect("json"), &mut out);
        out
    }

    /// The table covers the description: every field of it is written by some setting's key (so
    /// the link, the CLI's `--set` and the checks reach it), and no two settings share a key.
    #[test]
    fn the_table_reaches_every_field_of_the_description() {
        let changed = every_field_changed();
        // Mining on, with another strategy and P x K, so `p` and `k` apply and change something.
        let other_mining = Some(MiningConfig { strategy: Mining::BatchAll, classes: 2, per_class: 2 });
        let mut reached = std::collections::BTreeSet::new();
        for base in [RunSpec::quick_demo(), RunSpec::tutorial()] {
            let mined_base = RunSpec { mining: other_mining, ..base };
            for setting in SETTINGS {
                assert_eq!(SETTINGS.iter().filter(|other| other.key == setting.key).count(), 1, "{}", setting.key);
                assert!(!setting.label.is_empty() && setting.help.ends_with('.'), "{}: label and help", setting.key);
                let value = (setting.get)(&changed).expect("every setting applies to every_field_changed()");
                let mut spec = mined_base.clone();
                setting.apply(&mut spec, &value).unwrap_or_else(|why| panic!("{}: {why}", setting.key));
                for ((path, old), (_, new)) in leaves(&mined_base).iter().zip(leaves(&spec)) {
                    if *old != new {
                        reached.insert(path.clone());
                    }
                }
            }
        }
        for (path, _) in leaves(&changed) {
            let covered = reached.contains(&path);
            assert!(covered, "no setting writes '{path}': add it to SETTINGS");
        }
        // Only the page's own keys (backend, map, hide, title, intro) are not in the table.
        assert!(setting("preset").is_none() && setting("loss").is_some());
    }

    #[test]
    fn choices_are_read_by_their_word_and_numbers_by_value() {
        let width = setting("width").expect("width");
        assert_eq!(width.parse("1.0"), Ok(Value::Choice(3)));
        assert_eq!(width.parse("0.6"), Err("width=0.6 is not '0.35', '0.5', '0.75' or '1'".into()));
        let mut spec = RunSpec::tutorial();
        width.apply(&mut spec, "0.5").expect("width");
        assert!(!spec.pretrained, "pretrained weights exist at width 1.0 only");
        assert_eq!(
            setting("loss").expect("loss").parse("hinge"),
            Err("loss=hinge is not 'triplet' or 'contrastive'".into())
        );
        assert_eq!(
            check_ranges(&RunSpec { model: MobileNetV2Config::with_width(0.6), ..RunSpec::tutorial() }),
            Err("width 0.6 is not 0.35, 0.5, 0.75 or 1".into())
        );
    }
}

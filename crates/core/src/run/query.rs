//! A [`RunSpec`] as `key=value` pairs: the keys of a lesson link (`?preset=quick&margin=0.1`),
//! which the page's "Link to these settings" writes and the CLI's `--settings` reads, and the
//! ranges the page's form, the link and the CLI all check against ([`check_ranges`]).
//!
//! Keys: `preset` (`tutorial` | `quick`: the base the other keys change), `images` (first N, 0 =
//! all), `held_out` (percent), `split` (`triplet` | `image`), `width` (0.35, 0.5, 0.75, 1),
//! `pretrained` (`0` | `1`), `inputs` (`unit` | `symmetric`), `margin`, `lr`, `beta1`, `beta2`,
//! `epsilon`, `batch`, `epochs`, `patience`, `distance` (`cosine` | `euclidean`), `reduction`
//! (`mean` | `active`), `passes` (`separate` | `concatenated`), `bn_momentum`, `seed`, `flip`
//! (`0` | `1`), `crop` (pixels of padding, 0 to 8), `mining` (`none` | `batch-all` | `batch-hard`
//! | `semi-hard`), `p` and `k` (classes per mined batch and images per class, default 5 x 4),
//! `fast` (`0` | `1`). Values are plain text here; percent-encoding is the link's business.

use super::{BranchPasses, Distance, InputScaling, Reduction, RunSpec};
use crate::data::triplets::HeldOutSplit;
use crate::mining::{Mining, MiningConfig};

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

/// The link's name for a mining strategy (`none`: the recipe's fixed triplets).
pub fn mining_name(strategy: Option<Mining>) -> &'static str {
    match strategy {
        None => "none",
        Some(Mining::BatchAll) => "batch-all",
        Some(Mining::BatchHard) => "batch-hard",
        Some(Mining::SemiHard) => "semi-hard",
    }
}

/// The strategy a link names.
pub fn mining_of(name: &str) -> Option<Option<Mining>> {
    match name {
        "none" => Some(None),
        "batch-all" => Some(Some(Mining::BatchAll)),
        "batch-hard" => Some(Some(Mining::BatchHard)),
        "semi-hard" => Some(Some(Mining::SemiHard)),
        _ => None,
    }
}

/// The base a link's `preset` names.
pub fn preset(name: Option<&str>) -> Result<RunSpec, String> {
    match name {
        Some("tutorial") => Ok(RunSpec::tutorial()),
        None | Some("quick") => Ok(RunSpec::quick_demo()),
        Some(other) => Err(format!("preset '{other}' is not 'tutorial' or 'quick'")),
    }
}

fn flag(on: bool) -> String {
    u8::from(on).to_string()
}

/// Every setting of `spec` as pairs, in an order that reads back to the same description on the
/// quick demo's base; the rarely changed ones (split, reduction, Adam's betas and epsilon,
/// augmentation, fast mode, mining) only where they differ from it.
pub fn to_pairs(spec: &RunSpec) -> Vec<(&'static str, String)> {
    let base = RunSpec::quick_demo();
    let mut pairs: Vec<(&'static str, String)> = vec![
        ("images", spec.data.images.to_string()),
        ("held_out", percent(spec.data.held_out).to_string()),
        ("width", spec.model.width.to_string()),
        ("pretrained", flag(spec.pretrained)),
        ("inputs", if spec.scaling == InputScaling::Symmetric { "symmetric" } else { "unit" }.into()),
        ("margin", spec.loss.margin.to_string()),
        ("lr", spec.learning_rate.to_string()),
        ("batch", spec.batch_size.to_string()),
        ("epochs", spec.epochs.to_string()),
        ("patience", spec.patience.to_string()),
        ("distance", if spec.loss.distance == Distance::Euclidean { "euclidean" } else { "cosine" }.into()),
        ("passes", if spec.passes == BranchPasses::Concatenated { "concatenated" } else { "separate" }.into()),
        ("bn_momentum", spec.model.bn_momentum.to_string()),
        ("seed", spec.seed.to_string()),
    ];
    let mut differing = |key: &'static str, value: String, same: bool| {
        if !same {
            pairs.push((key, value));
        }
    };
    differing(
        "split",
        if spec.data.split == HeldOutSplit::ByImage { "image" } else { "triplet" }.into(),
        spec.data.split == base.data.split,
    );
    differing(
        "reduction",
        if spec.loss.reduction == Reduction::MeanOverActive { "active" } else { "mean" }.into(),
        spec.loss.reduction == base.loss.reduction,
    );
    differing("beta1", spec.adam.beta_1.to_string(), spec.adam.beta_1 == base.adam.beta_1);
    differing("beta2", spec.adam.beta_2.to_string(), spec.adam.beta_2 == base.adam.beta_2);
    differing("epsilon", spec.adam.epsilon.to_string(), spec.adam.epsilon == base.adam.epsilon);
    differing("flip", flag(spec.augmentation.flip), spec.augmentation.flip == base.augmentation.flip);
    differing(
        "crop",
        spec.augmentation.crop_padding.to_string(),
        spec.augmentation.crop_padding == base.augmentation.crop_padding,
    );
    differing("fast", flag(spec.fast_mode), spec.fast_mode == base.fast_mode);
    if let Some(mining) = spec.mining {
        pairs.push(("mining", mining_name(Some(mining.strategy)).into()));
        pairs.push(("p", mining.classes.to_string()));
        pairs.push(("k", mining.per_class.to_string()));
    }
    pairs
}

/// The order in which keys must be applied: `mining` before `p` and `k` (they change it), and
/// `width` before `pretrained` (pretrained weights exist at width 1.0 only), wherever they are in
/// the link.
pub fn application_order(key: &str) -> u8 {
    match key {
        "preset" => 0,
        "mining" | "width" => 1,
        _ => 2,
    }
}

/// Apply one pair to `spec`: `None` when `key` is not a run setting (the caller may know it),
/// else whether the value could be used.
pub fn apply(spec: &mut RunSpec, key: &str, value: &str) -> Option<Result<(), String>> {
    let outcome = match key {
        "images" => number(key, value, IMAGES).map(|n| spec.data.images = n as usize),
        "held_out" => number(key, value, HELD_OUT_PERCENT).map(|p| spec.data.held_out = p / 100.0),
        "split" => choice(key, value, ["triplet", "image"])
            .map(|by_image| spec.data.split = if by_image { HeldOutSplit::ByImage } else { HeldOutSplit::ByTriplet }),
        "width" => number(key, value, range(WIDTHS[0], WIDTHS[3])).and_then(|width| {
            if !WIDTHS.contains(&width) {
                return Err(format!("width={value} is not 0.35, 0.5, 0.75 or 1"));
            }
            spec.model.width = width;
            spec.pretrained &= width == 1.0;
            Ok(())
        }),
        "pretrained" => {
            choice(key, value, ["0", "1"]).map(|pretrained| spec.pretrained = pretrained && spec.model.width == 1.0)
        }
        "inputs" => choice(key, value, ["unit", "symmetric"])
            .map(|symmetric| spec.scaling = if symmetric { InputScaling::Symmetric } else { InputScaling::Unit }),
        "margin" => number(key, value, MARGIN).map(|v| spec.loss.margin = v),
        "lr" => number(key, value, LEARNING_RATE).map(|v| spec.learning_rate = v),
        "beta1" => number(key, value, BETA).map(|v| spec.adam.beta_1 = v),
        "beta2" => number(key, value, BETA).map(|v| spec.adam.beta_2 = v),
        "epsilon" => number(key, value, EPSILON).map(|v| spec.adam.epsilon = v),
        "batch" => whole(key, value, BATCH).map(|v| spec.batch_size = v as usize),
        "epochs" => whole(key, value, EPOCHS).map(|v| spec.epochs = v as usize),
        "patience" => whole(key, value, PATIENCE).map(|v| spec.patience = v as usize),
        "distance" => choice(key, value, ["cosine", "euclidean"])
            .map(|euclidean| spec.loss.distance = if euclidean { Distance::Euclidean } else { Distance::Cosine }),
        "reduction" => choice(key, value, ["mean", "active"]).map(|active| {
            spec.loss.reduction = if active { Reduction::MeanOverActive } else { Reduction::MeanWithZeros }
        }),
        "passes" => choice(key, value, ["separate", "concatenated"])
            .map(|one| spec.passes = if one { BranchPasses::Concatenated } else { BranchPasses::Separate }),
        "bn_momentum" => number(key, value, BN_MOMENTUM).map(|v| spec.model.bn_momentum = v),
        "seed" => whole(key, value, SEED).map(|v| spec.seed = v),
        "flip" => choice(key, value, ["0", "1"]).map(|flip| spec.augmentation.flip = flip),
        "crop" => whole(key, value, CROP).map(|v| spec.augmentation.crop_padding = v as u8),
        "fast" => choice(key, value, ["0", "1"]).map(|fast| spec.fast_mode = fast),
        "mining" => match mining_of(value) {
            Some(strategy) => {
                let (classes, per_class) = spec.mining.map_or(DEFAULT_PK, |m| (m.classes, m.per_class));
                spec.mining = strategy.map(|strategy| MiningConfig { strategy, classes, per_class });
                Ok(())
            }
            None => Err(format!("mining={value} is not none, batch-all, batch-hard or semi-hard")),
        },
        "p" | "k" => whole(key, value, PK).and_then(|count| {
            let Some(mining) = spec.mining.as_mut() else {
                return Err(format!("{key}={value} needs mining=batch-all, batch-hard or semi-hard"));
            };
            if key == "p" {
                mining.classes = count as usize;
            } else {
                mining.per_class = count as usize;
            }
            Ok(())
        }),
        _ => return None,
    };
    Some(outcome)
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

/// Every number of `spec` inside its range (the first one that is not, named by its link key).
pub fn check_ranges(spec: &RunSpec) -> Result<(), String> {
    let mut checks: Vec<(&str, f64, Range)> = vec![
        ("images", spec.data.images as f64, IMAGES),
        ("held_out", percent(spec.data.held_out), HELD_OUT_PERCENT),
        ("margin", spec.loss.margin, MARGIN),
        ("lr", spec.learning_rate, LEARNING_RATE),
        ("beta1", spec.adam.beta_1, BETA),
        ("beta2", spec.adam.beta_2, BETA),
        ("epsilon", spec.adam.epsilon, EPSILON),
        ("batch", spec.batch_size as f64, BATCH),
        ("epochs", spec.epochs as f64, EPOCHS),
        ("patience", spec.patience as f64, PATIENCE),
        ("bn_momentum", spec.model.bn_momentum, BN_MOMENTUM),
        ("seed", spec.seed as f64, SEED),
        ("crop", f64::from(spec.augmentation.crop_padding), CROP),
    ];
    if let Some(mining) = spec.mining {
        checks.push(("p", mining.classes as f64, PK));
        checks.push(("k", mining.per_class as f64, PK));
    }
    for (key, value, range) in checks {
        if !(value >= range.min && value <= range.max) {
            return Err(format!("{key} {value} is outside {}..={}", range.min, range.max));
        }
    }
    if !WIDTHS.contains(&spec.model.width) {
        return Err(format!("width {} is not 0.35, 0.5, 0.75 or 1", spec.model.width));
    }
    Ok(())
}

fn number(key: &str, value: &str, range: Range) -> Result<f64, String> {
    let parsed: f64 = value.trim().parse().map_err(|_| format!("{key}={value} is not a number"))?;
    if !(parsed >= range.min && parsed <= range.max) {
        return Err(format!("{key}={value} is outside {}..={}", range.min, range.max));
    }
    Ok(parsed)
}

/// A whole number in range (read as an integer, so a seed keeps every digit).
fn whole(key: &str, value: &str, range: Range) -> Result<u64, String> {
    let parsed: u64 = value.trim().parse().map_err(|_| format!("{key}={value} is not a whole number"))?;
    if !(parsed as f64 >= range.min && parsed as f64 <= range.max) {
        return Err(format!("{key}={value} is outside {}..={}", range.min, range.max));
    }
    Ok(parsed)
}

fn choice(key: &str, value: &str, options: [&str; 2]) -> Result<bool, String> {
    match value {
        v if v == options[0] => Ok(false),
        v if v == options[1] => Ok(true),
        _ => Err(format!("{key}={value} is not '{}' or '{}'", options[0], options[1])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::augment::Augmentation;
    use crate::run::{AdamSettings, DataSpec, MobileNetV2Config, TripletLoss};

    /// A description in which every field differs from both presets.
    pub(crate) fn every_field_changed() -> RunSpec {
        RunSpec {
            data: DataSpec { images: 1234, held_out: 0.07, split: HeldOutSplit::ByImage },
            pretrained: false,
            model: MobileNetV2Config { width: 0.75, bn_momentum: 0.95 },
            scaling: InputScaling::Symmetric,
            passes: BranchPasses::Concatenated,
            loss: TripletLoss { margin: 0.25, distance: Distance::Euclidean, reduction: Reduction::MeanOverActive },
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
                "margin=3 is outside 0..=2",
                "batch=x is not a whole number",
                "k=4 needs mining=batch-all, batch-hard or semi-hard",
                "'color' is not a setting",
            ]
        );
        // `pretrained` before `width` in the link still gets width 1.0's weights.
        let (spec, problems) = from_pairs([("pretrained", "1"), ("width", "1")], |_, _| None);
        assert!(problems.is_empty() && spec.pretrained && spec.model.width == 1.0);
    }

    #[test]
    fn ranges_are_checked_by_name() {
        assert_eq!(check_ranges(&every_field_changed()), Ok(()));
        let spec = RunSpec { epochs: 0, ..RunSpec::tutorial() };
        assert_eq!(check_ranges(&spec), Err("epochs 0 is outside 1..=1000".into()));
        let spec = RunSpec { learning_rate: f64::NAN, ..RunSpec::tutorial() };
        assert!(check_ranges(&spec).is_err_and(|why| why.starts_with("lr NaN")));
        assert_eq!(percent(0.07), 7.0);
    }
}

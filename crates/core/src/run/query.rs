//! The settings table: every setting of a [`RunSpec`] once ([`SETTINGS`]), with its key, its
//! label and help sentence, its range or choices, how it reads and writes the description, and
//! the rules between settings (width and pretrained weights, P x K and mining). From it come the
//! lesson link's `key=value` pairs (`?preset=quick&margin=0.1`: [`to_pairs`], [`from_pairs`]),
//! which the page's "Link to these settings" writes and the CLI's `--settings` and `--set` read,
//! the range checks every face shares ([`check_ranges`]), and the page's settings form.
//!
//! A new setting is one row here (and its field in the description); a test walks the table so
//! none can be missing from the link, the checks or the form. Values are plain text here;
//! percent-encoding is the link's business. `preset` (`tutorial` | `quick`) is not a setting but
//! the base the others change.

use super::{BranchPasses, Distance, InputScaling, LossKind, Reduction, RunSpec};
use crate::data::augment::Augmentation;
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

/// What values a setting takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Values {
    /// Any number in the range.
    Number(Range),
    /// A whole number in the range (read as an integer, so a seed keeps every digit).
    Whole(Range),
    /// One of these: (the link's word, the page's label).
    Choice(&'static [(&'static str, &'static str)]),
}

/// A value read from text, checked against its [`Values`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Number(f64),
    Whole(u64),
    /// The position of the choice.
    Choice(usize),
}

impl Value {
    fn number(self) -> f64 {
        match self {
            Self::Number(v) => v,
            Self::Whole(v) => v as f64,
            Self::Choice(at) => at as f64,
        }
    }

    fn whole(self) -> u64 {
        match self {
            Self::Whole(v) => v,
            Self::Number(v) => v as u64,
            Self::Choice(at) => at as u64,
        }
    }

    fn choice(self) -> usize {
        match self {
            Self::Choice(at) => at,
            other => other.whole() as usize,
        }
    }

    fn on(self) -> bool {
        self.choice() == 1
    }
}

/// One setting of a run.
pub struct Setting {
    /// Its key in a lesson link and in the CLI's `--set key=value`.
    pub key: &'static str,
    /// Its name on the page's form.
    pub label: &'static str,
    /// One sentence a student understands.
    pub help: &'static str,
    pub values: Values,
    /// Written in every link; otherwise only where it differs from the quick demo's.
    pub always: bool,
    /// The page's form shows it as a field of its own (augmentation and mining have their own
    /// fields there).
    pub in_form: bool,
    /// Its value in `spec`, as the link writes it; `None` where it does not apply (P and K
    /// without mining).
    pub get: fn(&RunSpec) -> Option<String>,
    /// Write a checked value into `spec`, with the rules between settings.
    pub set: fn(&mut RunSpec, Value) -> Result<(), String>,
}

impl Setting {
    /// `value` checked against the setting's range or choices.
    pub fn parse(&self, value: &str) -> Result<Value, String> {
        let key = self.key;
        match self.values {
            Values::Number(range) => {
                let parsed: f64 = value.trim().parse().map_err(|_| format!("{key}={value} is not a number"))?;
                range.check(parsed).map(Value::Number).map_err(|()| format!("{key}={value} is outside {range}"))
            }
            Values::Whole(range) => {
                let parsed: u64 = value.trim().parse().map_err(|_| format!("{key}={value} is not a whole number"))?;
                range
                    .check(parsed as f64)
                    .map(|_| Value::Whole(parsed))
                    .map_err(|()| format!("{key}={value} is outside {range}"))
            }
            Values::Choice(options) => {
                let same = |word: &str| {
                    word == value
                        || matches!((word.parse::<f64>(), value.trim().parse::<f64>()), (Ok(a), Ok(b)) if a == b)
                };
                options.iter().position(|(word, _)| same(word)).map(Value::Choice).ok_or_else(|| {
                    let words: Vec<String> = options.iter().map(|(word, _)| format!("'{word}'")).collect();
                    format!("{key}={value} is not {}", one_of(&words))
                })
            }
        }
    }

    /// Read `value` and write it into `spec`.
    pub fn apply(&self, spec: &mut RunSpec, value: &str) -> Result<(), String> {
        let value = self.parse(value)?;
        (self.set)(spec, value)
    }
}

impl Range {
    fn check(self, value: f64) -> Result<f64, ()> {
        if value >= self.min && value <= self.max { Ok(value) } else { Err(()) }
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}

fn one_of(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [first @ .., last] => format!("{} or {last}", first.join(", ")),
    }
}

const OFF_ON: &[(&str, &str)] = &[("0", "off"), ("1", "on")];

/// Every setting, in the order a link's keys are applied: `width` before `pretrained`
/// (pretrained weights exist at width 1.0 only) and `mining` before `p` and `k` (they change
/// it), wherever they are in the link.
pub static SETTINGS: &[Setting] = &[
    Setting {
        key: "images",
        label: "Images",
        help: "Train on the first N images of the dataset (0 = all). Fewer is faster.",
        values: Values::Whole(IMAGES),
        always: true,
        in_form: true,
        get: |s| Some(s.data.images.to_string()),
        set: |s, v| Ok(s.data.images = v.whole() as usize),
    },
    Setting {
        key: "held_out",
        label: "Held out (%)",
        help: "Share of triplets kept aside to check the model on images it never trained on.",
        values: Values::Number(HELD_OUT_PERCENT),
        always: true,
        in_form: true,
        get: |s| Some(percent(s.data.held_out).to_string()),
        set: |s, v| Ok(s.data.held_out = v.number() / 100.0),
    },
    Setting {
        key: "split",
        label: "Held out by",
        help: "Hold out whole triplets (the tutorial: a held-out image may also appear in training) or whole images (never trained on).",
        values: Values::Choice(&[("triplet", "triplet (tutorial)"), ("image", "image")]),
        always: false,
        in_form: false,
        get: |s| Some(if s.data.split == HeldOutSplit::ByImage { "image" } else { "triplet" }.into()),
        set: |s, v| Ok(s.data.split = if v.on() { HeldOutSplit::ByImage } else { HeldOutSplit::ByTriplet }),
    },
    Setting {
        key: "width",
        label: "Width",
        help: "How many channels each layer has: wider sees more, trains slower.",
        values: Values::Choice(&[
            ("0.35", "0.35 (small, fast)"),
            ("0.5", "0.5"),
            ("0.75", "0.75"),
            ("1", "1.0 (the tutorial's)"),
        ]),
        always: true,
        in_form: true,
        get: |s| Some(s.model.width.to_string()),
        set: |s, v| {
            s.model.width = WIDTHS[v.choice().min(WIDTHS.len() - 1)];
            // The shipped pretrained weights exist at width 1.0 only.
            s.pretrained &= s.model.width == 1.0;
            Ok(())
        },
    },
    Setting {
        key: "pretrained",
        label: "Start from",
        help: "Pretrained weights (width 1.0 only) already know edges and textures: they learn far faster.",
        values: Values::Choice(&[("0", "random weights"), ("1", "Pretrained (this site's weights)")]),
        always: true,
        in_form: true,
        get: |s| Some(flag(s.pretrained)),
        set: |s, v| Ok(s.pretrained = v.on() && s.model.width == 1.0),
    },
    Setting {
        key: "inputs",
        label: "Inputs",
        help: "Pixels scaled to [0, 1] as the tutorial does, or [-1, 1] as MobileNetV2 was pretrained.",
        values: Values::Choice(&[("unit", "[0, 1] (tutorial)"), ("symmetric", "[-1, 1]")]),
        always: true,
        in_form: true,
        get: |s| Some(if s.scaling == InputScaling::Symmetric { "symmetric" } else { "unit" }.into()),
        set: |s, v| Ok(s.scaling = if v.on() { InputScaling::Symmetric } else { InputScaling::Unit }),
    },
    Setting {
        key: "loss",
        label: "Loss",
        help: "Triplet: the negative must end up a margin farther from the anchor than the positive (the tutorial). Contrastive: each pair on its own, same-class pairs pulled together, other pairs pushed at least a margin apart.",
        values: Values::Choice(&[("triplet", "triplet (tutorial)"), ("contrastive", "contrastive")]),
        always: false,
        in_form: true,
        get: |s| Some(if s.loss.kind == LossKind::Contrastive { "contrastive" } else { "triplet" }.into()),
        set: |s, v| Ok(s.loss.kind = LossKind::ALL[v.choice().min(LossKind::ALL.len() - 1)]),
    },
    Setting {
        key: "margin",
        label: "Margin",
        help: "How much farther the negative must be than the positive before a triplet stops counting.",
        values: Values::Number(MARGIN),
        always: true,
        in_form: true,
        get: |s| Some(s.loss.margin.to_string()),
        set: |s, v| Ok(s.loss.margin = v.number()),
    },
    Setting {
        key: "distance",
        label: "Distance",
        help: "How far apart two embeddings are: by angle (cosine) or straight line (euclidean).",
        values: Values::Choice(&[("cosine", "cosine (tutorial)"), ("euclidean", "euclidean")]),
        always: true,
        in_form: true,
        get: |s| Some(if s.loss.distance == Distance::Euclidean { "euclidean" } else { "cosine" }.into()),
        set: |s, v| Ok(s.loss.distance = if v.on() { Distance::Euclidean } else { Distance::Cosine }),
    },
    Setting {
        key: "reduction",
        label: "Averaged over",
        help: "The batch's loss is the mean over every triplet (the tutorial) or over the triplets that still cost something.",
        values: Values::Choice(&[("mean", "every triplet (tutorial)"), ("active", "active triplets")]),
        always: false,
        in_form: false,
        get: |s| Some(if s.loss.reduction == Reduction::MeanOverActive { "active" } else { "mean" }.into()),
        set: |s, v| {
            s.loss.reduction = if v.on() { Reduction::MeanOverActive } else { Reduction::MeanWithZeros };
            Ok(())
        },
    },
    Setting {
        key: "lr",
        label: "Learning rate",
        help: "The size of each update. Too large and the loss jumps; too small and it crawls.",
        values: Values::Number(LEARNING_RATE),
        always: true,
        in_form: true,
        get: |s| Some(s.learning_rate.to_string()),
        set: |s, v| Ok(s.learning_rate = v.number()),
    },
    Setting {
        key: "beta1",
        label: "Adam beta 1",
        help: "How long Adam remembers past gradients' direction (Keras: 0.9).",
        values: Values::Number(BETA),
        always: false,
        in_form: false,
        get: |s| Some(s.adam.beta_1.to_string()),
        set: |s, v| Ok(s.adam.beta_1 = v.number()),
    },
    Setting {
        key: "beta2",
        label: "Adam beta 2",
        help: "How long Adam remembers past gradients' size (Keras: 0.999).",
        values: Values::Number(BETA),
        always: false,
        in_form: false,
        get: |s| Some(s.adam.beta_2.to_string()),
        set: |s, v| Ok(s.adam.beta_2 = v.number()),
    },
    Setting {
        key: "epsilon",
        label: "Adam epsilon",
        help: "Keeps Adam's steps finite where gradients are tiny (Keras: 1e-7).",
        values: Values::Number(EPSILON),
        always: false,
        in_form: false,
        get: |s| Some(s.adam.epsilon.to_string()),
        set: |s, v| Ok(s.adam.epsilon = v.number()),
    },
    Setting {
        key: "batch",
        label: "Batch size",
        help: "Triplets per step. Larger is smoother and uses more memory.",
        values: Values::Whole(BATCH),
        always: true,
        in_form: true,
        get: |s| Some(s.batch_size.to_string()),
        set: |s, v| Ok(s.batch_size = v.whole() as usize),
    },
    Setting {
        key: "epochs",
        label: "Epochs",
        help: "Passes over all training triplets (at most).",
        values: Values::Whole(EPOCHS),
        always: true,
        in_form: true,
        get: |s| Some(s.epochs.to_string()),
        set: |s, v| Ok(s.epochs = v.whole() as usize),
    },
    Setting {
        key: "patience",
        label: "Patience",
        help: "Stop after this many epochs without a better held-out loss; keep the best.",
        values: Values::Whole(PATIENCE),
        always: true,
        in_form: true,
        get: |s| Some(s.patience.to_string()),
        set: |s, v| Ok(s.patience = v.whole() as usize),
    },
    Setting {
        key: "passes",
        label: "BatchNorm passes",
        help: "Three passes (each branch its own batch statistics, the tutorial) or one pass over all images.",
        values: Values::Choice(&[("separate", "three (tutorial)"), ("concatenated", "one concatenated")]),
        always: true,
        in_form: true,
        get: |s| Some(if s.passes == BranchPasses::Concatenated { "concatenated" } else { "separate" }.into()),
        set: |s, v| Ok(s.passes = if v.on() { BranchPasses::Concatenated } else { BranchPasses::Separate }),
    },
    Setting {
        key: "bn_momentum",
        label: "BatchNorm momentum",
        help: "How slowly BatchNorm's running statistics move: 0.999 to fine-tune, 0.9 from random weights.",
        values: Values::Number(BN_MOMENTUM),
        always: true,
        in_form: true,
        get: |s| Some(s.model.bn_momentum.to_string()),
        set: |s, v| Ok(s.model.bn_momentum = v.number()),
    },
    Setting {
        key: "seed",
        label: "Seed",
        help: "Fixes the triplets, their order and the random weights: the same seed repeats the run.",
        values: Values::Whole(SEED),
        always: true,
        in_form: true,
        get: |s| Some(s.seed.to_string()),
        set: |s, v| Ok(s.seed = v.whole()),
    },
    Setting {
        key: "flip",
        label: "Flip",
        help: "Flip each training image left to right at random.",
        values: Values::Choice(OFF_ON),
        always: false,
        in_form: false,
        get: |s| Some(flag(s.augmentation.flip)),
        set: |s, v| Ok(s.augmentation.flip = v.on()),
    },
    Setting {
        key: "crop",
        label: "Shift (pixels)",
        help: "Pad each training image by this many pixels and crop it back at random (0: off).",
        values: Values::Whole(CROP),
        always: false,
        in_form: false,
        get: |s| Some(s.augmentation.crop_padding.to_string()),
        set: |s, v| Ok(s.augmentation.crop_padding = v.whole() as u8),
    },
    Setting {
        key: "mining",
        label: "Triplets",
        help: "The tutorial's fixed triplets, or triplets chosen in each batch of P classes x K images.",
        values: Values::Choice(&[
            ("none", "fixed (tutorial)"),
            ("batch-all", "batch-all"),
            ("batch-hard", "batch-hard"),
            ("semi-hard", "semi-hard"),
        ]),
        always: false,
        in_form: false,
        get: |s| Some(mining_name(s.mining.map(|m| m.strategy)).into()),
        set: |s, v| {
            let strategy = [None, Some(Mining::BatchAll), Some(Mining::BatchHard), Some(Mining::SemiHard)]
                .get(v.choice())
                .copied()
                .flatten();
            // P x K is kept when only the strategy changes.
            let (classes, per_class) = s.mining.map_or(DEFAULT_PK, |m| (m.classes, m.per_class));
            s.mining = strategy.map(|strategy| MiningConfig { strategy, classes, per_class });
            Ok(())
        },
    },
    Setting {
        key: "p",
        label: "Classes per batch (P)",
        help: "How many classes each mined batch draws.",
        values: Values::Whole(PK),
        always: false,
        in_form: false,
        get: |s| s.mining.map(|m| m.classes.to_string()),
        set: |s, v| mined(s, "p", v, |m, count| m.classes = count),
    },
    Setting {
        key: "k",
        label: "Images per class (K)",
        help: "How many images of each class: K - 1 positives for every anchor.",
        values: Values::Whole(PK),
        always: false,
        in_form: false,
        get: |s| s.mining.map(|m| m.per_class.to_string()),
        set: |s, v| mined(s, "k", v, |m, count| m.per_class = count),
    },
    Setting {
        key: "fast",
        label: "Train",
        help: "The whole encoder (the recipe), or fast mode: the encoder frozen, every image embedded once, and only a small projection head trained: an epoch in seconds, even on a CPU. Fast mode uses the fixed triplets without augmentation.",
        values: Values::Choice(&[("0", "the whole encoder"), ("1", "a head on frozen features (fast)")]),
        always: false,
        in_form: true,
        get: |s| Some(flag(s.fast_mode)),
        set: |s, v| Ok(s.fast_mode = v.on()),
    },
];

/// P or K of a mined batch; an error without mining.
fn mined(spec: &mut RunSpec, key: &str, value: Value, write: fn(&mut MiningConfig, usize)) -> Result<(), String> {
    let Some(mining) = spec.mining.as_mut() else {
        return Err(format!("{key}={} needs mining=batch-all, batch-hard or semi-hard", value.whole()));
    };
    write(mining, value.whole() as usize);
    Ok(())
}

/// The setting a key names.
pub fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
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
                Values::Number(range) | Values::Whole(range) => format!("{} {value} is outside {range}", setting.key),
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
mod tests {
    use super::*;
    use crate::data::augment::Augmentation;
    use crate::run::{AdamSettings, DataSpec, LossSpec, MobileNetV2Config};

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

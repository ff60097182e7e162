//! The settings table: every setting of a run once ([`SETTINGS`]), with its key, its label and
//! help sentence, its range or choices, how it reads and writes the description, and the rules
//! between settings (width and pretrained weights, P x K and mining). The lesson link and the
//! range checks (`query`), the page's settings form, the CLI's `--set` and `tripletlab settings`
//! are all made from it. A new setting is one row here (and its field in the description); a test
//! walks the table (`query`'s tests) so none can be missing from any of them.

use super::query::{
    BATCH, BETA, BN_MOMENTUM, CROP, DEFAULT_PK, EPOCHS, EPSILON, HELD_OUT_PERCENT, IMAGES, LEARNING_RATE, MARGIN,
    PATIENCE, PK, Range, SEED, WIDTHS, mining_name, percent,
};
use super::{BranchPasses, Distance, InputScaling, LossKind, Reduction, RunSpec};
use crate::data::triplets::HeldOutSplit;
use crate::mining::{Mining, MiningConfig};

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
                range.check(parsed).map(Value::Number).map_err(|()| format!("{key}={value} is not {range}"))
            }
            Values::Whole(range) => {
                let parsed: u64 = value.trim().parse().map_err(|_| format!("{key}={value} is not a whole number"))?;
                range
                    .check(parsed as f64)
                    .map(|_| Value::Whole(parsed))
                    .map_err(|()| format!("{key}={value} is not {range}"))
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
        write!(f, "between {} and {}", self.min, self.max)
    }
}

pub(super) fn one_of(words: &[String]) -> String {
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
        set: |s, v| {
            s.data.images = v.whole() as usize;
            Ok(())
        },
    },
    Setting {
        key: "held_out",
        label: "Held out (%)",
        help: "Share kept aside to check the model on images it never trained on: of the triplets, of each class's images, or (held out by class) of the classes, rounded to whole classes, at least two.",
        values: Values::Number(HELD_OUT_PERCENT),
        always: true,
        in_form: true,
        get: |s| Some(percent(s.data.held_out).to_string()),
        set: |s, v| {
            s.data.held_out = v.number() / 100.0;
            Ok(())
        },
    },
    Setting {
        key: "split",
        label: "Held out by",
        help: "Hold out whole triplets (the tutorial: a held-out image may also appear in training), whole images (never trained on), or whole classes (the held-out AUC is then on classes the model never saw).",
        values: Values::Choice(&[
            ("triplet", "triplet (tutorial)"),
            ("image", "image"),
            ("class", "class (unseen classes)"),
        ]),
        always: false,
        in_form: true,
        get: |s| {
            Some(
                match s.data.split {
                    HeldOutSplit::ByTriplet => "triplet",
                    HeldOutSplit::ByImage => "image",
                    HeldOutSplit::ByClass => "class",
                }
                .into(),
            )
        },
        set: |s, v| {
            s.data.split =
                [HeldOutSplit::ByTriplet, HeldOutSplit::ByImage, HeldOutSplit::ByClass][(v.number() as usize).min(2)];
            Ok(())
        },
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
        set: |s, v| {
            s.pretrained = v.on() && s.model.width == 1.0;
            Ok(())
        },
    },
    Setting {
        key: "inputs",
        label: "Inputs",
        help: "Pixels scaled to [0, 1] as the tutorial does, or [-1, 1] as MobileNetV2 was pretrained.",
        values: Values::Choice(&[("unit", "[0, 1] (tutorial)"), ("symmetric", "[-1, 1]")]),
        always: true,
        in_form: true,
        get: |s| Some(if s.scaling == InputScaling::Symmetric { "symmetric" } else { "unit" }.into()),
        set: |s, v| {
            s.scaling = if v.on() { InputScaling::Symmetric } else { InputScaling::Unit };
            Ok(())
        },
    },
    Setting {
        key: "loss",
        label: "Loss",
        help: "Triplet: the negative must end up a margin farther from the anchor than the positive (the tutorial). Contrastive: each pair on its own, same-class pairs pulled together, other pairs pushed at least a margin apart.",
        values: Values::Choice(&[("triplet", "triplet (tutorial)"), ("contrastive", "contrastive")]),
        always: false,
        in_form: true,
        get: |s| Some(if s.loss.kind == LossKind::Contrastive { "contrastive" } else { "triplet" }.into()),
        set: |s, v| {
            s.loss.kind = LossKind::ALL[v.choice().min(LossKind::ALL.len() - 1)];
            Ok(())
        },
    },
    Setting {
        key: "margin",
        label: "Margin",
        help: "How much farther the negative must be than the positive before a triplet stops counting.",
        values: Values::Number(MARGIN),
        always: true,
        in_form: true,
        get: |s| Some(s.loss.margin.to_string()),
        set: |s, v| {
            s.loss.margin = v.number();
            Ok(())
        },
    },
    Setting {
        key: "distance",
        label: "Distance",
        help: "How far apart two embeddings are: by angle (cosine) or straight line (euclidean).",
        values: Values::Choice(&[("cosine", "cosine (tutorial)"), ("euclidean", "euclidean")]),
        always: true,
        in_form: true,
        get: |s| Some(if s.loss.distance == Distance::Euclidean { "euclidean" } else { "cosine" }.into()),
        set: |s, v| {
            s.loss.distance = if v.on() { Distance::Euclidean } else { Distance::Cosine };
            Ok(())
        },
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
        set: |s, v| {
            s.learning_rate = v.number();
            Ok(())
        },
    },
    Setting {
        key: "beta1",
        label: "Adam beta 1",
        help: "How long Adam remembers past gradients' direction (Keras: 0.9).",
        values: Values::Number(BETA),
        always: false,
        in_form: false,
        get: |s| Some(s.adam.beta_1.to_string()),
        set: |s, v| {
            s.adam.beta_1 = v.number();
            Ok(())
        },
    },
    Setting {
        key: "beta2",
        label: "Adam beta 2",
        help: "How long Adam remembers past gradients' size (Keras: 0.999).",
        values: Values::Number(BETA),
        always: false,
        in_form: false,
        get: |s| Some(s.adam.beta_2.to_string()),
        set: |s, v| {
            s.adam.beta_2 = v.number();
            Ok(())
        },
    },
    Setting {
        key: "epsilon",
        label: "Adam epsilon",
        help: "Keeps Adam's steps finite where gradients are tiny (Keras: 1e-7).",
        values: Values::Number(EPSILON),
        always: false,
        in_form: false,
        get: |s| Some(s.adam.epsilon.to_string()),
        set: |s, v| {
            s.adam.epsilon = v.number();
            Ok(())
        },
    },
    Setting {
        key: "batch",
        label: "Batch size",
        help: "Triplets per step. Larger is smoother and uses more memory.",
        values: Values::Whole(BATCH),
        always: true,
        in_form: true,
        get: |s| Some(s.batch_size.to_string()),
        set: |s, v| {
            s.batch_size = v.whole() as usize;
            Ok(())
        },
    },
    Setting {
        key: "epochs",
        label: "Epochs",
        help: "Passes over all training triplets (at most).",
        values: Values::Whole(EPOCHS),
        always: true,
        in_form: true,
        get: |s| Some(s.epochs.to_string()),
        set: |s, v| {
            s.epochs = v.whole() as usize;
            Ok(())
        },
    },
    Setting {
        key: "patience",
        label: "Patience",
        help: "Stop after this many epochs without a better held-out loss; keep the best.",
        values: Values::Whole(PATIENCE),
        always: true,
        in_form: true,
        get: |s| Some(s.patience.to_string()),
        set: |s, v| {
            s.patience = v.whole() as usize;
            Ok(())
        },
    },
    Setting {
        key: "passes",
        label: "BatchNorm passes",
        help: "Three passes (each branch its own batch statistics, the tutorial) or one pass over all images.",
        values: Values::Choice(&[("separate", "three (tutorial)"), ("concatenated", "one concatenated")]),
        always: true,
        in_form: true,
        get: |s| Some(if s.passes == BranchPasses::Concatenated { "concatenated" } else { "separate" }.into()),
        set: |s, v| {
            s.passes = if v.on() { BranchPasses::Concatenated } else { BranchPasses::Separate };
            Ok(())
        },
    },
    Setting {
        key: "bn_momentum",
        label: "BatchNorm momentum",
        help: "How slowly BatchNorm's running statistics move: 0.999 to fine-tune, 0.9 from random weights.",
        values: Values::Number(BN_MOMENTUM),
        always: true,
        in_form: true,
        get: |s| Some(s.model.bn_momentum.to_string()),
        set: |s, v| {
            s.model.bn_momentum = v.number();
            Ok(())
        },
    },
    Setting {
        key: "seed",
        label: "Seed",
        help: "Fixes the triplets, their order and the random weights: the same seed repeats the run.",
        values: Values::Whole(SEED),
        always: true,
        in_form: true,
        get: |s| Some(s.seed.to_string()),
        set: |s, v| {
            s.seed = v.whole();
            Ok(())
        },
    },
    Setting {
        key: "flip",
        label: "Flip",
        help: "Flip each training image left to right at random.",
        values: Values::Choice(OFF_ON),
        always: false,
        in_form: false,
        get: |s| Some(flag(s.augmentation.flip)),
        set: |s, v| {
            s.augmentation.flip = v.on();
            Ok(())
        },
    },
    Setting {
        key: "crop",
        label: "Shift (pixels)",
        help: "Pad each training image by this many pixels and crop it back at random (0: off).",
        values: Values::Whole(CROP),
        always: false,
        in_form: false,
        get: |s| Some(s.augmentation.crop_padding.to_string()),
        set: |s, v| {
            s.augmentation.crop_padding = v.whole() as u8;
            Ok(())
        },
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
        help: "The whole encoder (the recipe), or fast mode: the encoder frozen, every image embedded once, and only a small projection head trained: an epoch in seconds, even on a CPU. Fast mode trains without augmentation (each image is embedded once); it can mine P x K batches like the whole encoder.",
        values: Values::Choice(&[("0", "the whole encoder"), ("1", "a head on frozen features (fast)")]),
        always: false,
        in_form: true,
        get: |s| Some(flag(s.fast_mode)),
        set: |s, v| {
            s.fast_mode = v.on();
            Ok(())
        },
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

fn flag(on: bool) -> String {
    u8::from(on).to_string()
}

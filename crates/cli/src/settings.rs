//! The run a command line describes: `tripletlab train`'s flags (each a key of the core's
//! settings table), `--settings` (a lesson link), `--set key=value`, and `tripletlab settings`,
//! which prints the table.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use tripletlab_core::data::triplets::HeldOutSplit;
use tripletlab_core::model::InputScaling;
use tripletlab_core::run::{RunSpec, query};

use crate::backend::BackendName;
use crate::error::CliError;

pub const DEFAULT_WEIGHTS: &str = "public/weights/mobilenetv2_1.0.safetensors";

#[derive(Args)]
pub struct TrainArgs {
    /// A prepared dataset folder (from `tripletlab prepare`).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value_t = BackendName::Flex)]
    pub backend: BackendName,
    /// Where to write the JSON report (config, per-epoch history, held-out scores, AUC).
    #[arg(long)]
    pub report: PathBuf,
    /// Checkpoint file, rewritten after every epoch [default: next to the report].
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Resume from a checkpoint instead of starting fresh (its settings win).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Pretrained weights for width 1.0 (other widths start from random weights).
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    pub weights: PathBuf,
    /// Every setting of the run at once, as a lesson link writes them (the page's "Link to these
    /// settings": `preset=tutorial&margin=0.2&...`, with or without the page's address before
    /// `?`). The flags below change it further. Without it: the recipe.
    #[arg(long)]
    pub settings: Option<String>,
    /// Any setting of the run as `key=value`, with the keys and values of a lesson link
    /// (`tripletlab settings` lists them): `--set loss=contrastive --set beta1=0.8`. Repeatable;
    /// applied after `--settings`, with the flags below.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Start from random weights even at width 1.0.
    #[arg(long)]
    pub no_pretrained: bool,
    /// 0.35, 0.5, 0.75 or 1 (other widths than 1 start from random weights).
    #[arg(long)]
    pub width: Option<String>,
    /// BatchNorm momentum (Keras' meaning); use e.g. 0.9 when training from random weights.
    #[arg(long)]
    pub bn_momentum: Option<String>,
    #[arg(long)]
    pub epochs: Option<String>,
    #[arg(long)]
    pub batch: Option<String>,
    #[arg(long)]
    pub lr: Option<String>,
    /// triplet (the recipe) or contrastive.
    #[arg(long)]
    pub loss: Option<String>,
    #[arg(long)]
    pub margin: Option<String>,
    #[arg(long)]
    pub patience: Option<String>,
    #[arg(long)]
    pub seed: Option<String>,
    /// cosine (the recipe) or euclidean.
    #[arg(long)]
    pub distance: Option<String>,
    /// mean (every triplet, the recipe) or active (the triplets that still cost something).
    #[arg(long)]
    pub reduction: Option<String>,
    /// separate (three passes, the recipe) or concatenated.
    #[arg(long)]
    pub passes: Option<String>,
    /// Input scaling: unit ([0, 1], the recipe) or symmetric ([-1, 1]).
    #[arg(long)]
    pub scaling: Option<String>,
    /// Hold out triplets (triplet, the recipe) or images (image: no held-out image is ever
    /// trained on).
    #[arg(long)]
    pub split: Option<String>,
    /// Share held out, in (0, 1).
    #[arg(long)]
    pub held_out: Option<f64>,
    /// Use only the first N shards of the dataset.
    #[arg(long)]
    pub shards: Option<usize>,
    /// Build triplets from the first N images only (the page's "Images" setting).
    #[arg(long)]
    pub images: Option<String>,
    /// Random horizontal flips and 4-pixel-padded random crops.
    #[arg(long)]
    pub augment: bool,
    /// Fast mode: the encoder frozen, every image embedded once, only a projection head trained
    /// (the page's "a head on frozen features"); also `fast=1` in `--settings`.
    #[arg(long)]
    pub fast: bool,
    /// Stop each epoch after this many steps (quick trials); the epoch is still evaluated.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Online mining instead of the recipe's fixed triplets: none, batch-all, batch-hard or
    /// semi-hard (P x K batches, triplets chosen in each).
    #[arg(long)]
    pub mining: Option<String>,
    /// P: classes in each mined batch [default: 5].
    #[arg(long)]
    pub classes_per_batch: Option<String>,
    /// K: images of each class in a mined batch [default: 4].
    #[arg(long)]
    pub images_per_class: Option<String>,
}

/// Input scaling, for the commands that only embed (`train` reads it from the settings table).
#[derive(Clone, Copy, ValueEnum)]
pub enum ScalingArg {
    Unit,
    Symmetric,
}

impl ScalingArg {
    pub fn into_scaling(self) -> InputScaling {
        match self {
            Self::Unit => InputScaling::Unit,
            Self::Symmetric => InputScaling::Symmetric,
        }
    }
}

/// How `quality` holds pairs out.
#[derive(Clone, Copy, ValueEnum)]
pub enum SplitArg {
    Triplet,
    Image,
    /// Whole classes held out: the held-out AUC is on classes never trained on.
    Class,
}

impl SplitArg {
    pub fn into_split(self) -> HeldOutSplit {
        match self {
            Self::Triplet => HeldOutSplit::ByTriplet,
            Self::Image => HeldOutSplit::ByImage,
            Self::Class => HeldOutSplit::ByClass,
        }
    }
}

impl TrainArgs {
    /// The run these arguments describe: `--settings` (or the recipe), then every flag and
    /// `--set` given, each read and checked by the settings table as a link's key would be.
    pub fn spec(&self) -> Result<RunSpec, CliError> {
        let mut spec = match &self.settings {
            Some(link) => {
                let query = link.split_once('?').map_or(link.as_str(), |(_, query)| query);
                let parsed = tripletlab_protocol::lesson::Lesson::from_query(query);
                if !parsed.problems.is_empty() {
                    return Err(CliError::Usage(format!("--settings: {}", parsed.problems.join("; "))));
                }
                parsed.lesson.settings.run
            }
            None => RunSpec::tutorial(),
        };
        if self.augment {
            spec.augmentation = query::FLIP_AND_SHIFT;
        }
        let flags = [
            ("width", &self.width),
            ("bn_momentum", &self.bn_momentum),
            ("epochs", &self.epochs),
            ("batch", &self.batch),
            ("lr", &self.lr),
            ("loss", &self.loss),
            ("margin", &self.margin),
            ("patience", &self.patience),
            ("seed", &self.seed),
            ("distance", &self.distance),
            ("reduction", &self.reduction),
            ("passes", &self.passes),
            ("inputs", &self.scaling),
            ("split", &self.split),
            ("images", &self.images),
            ("mining", &self.mining),
            ("p", &self.classes_per_batch),
            ("k", &self.images_per_class),
        ];
        let mut pairs: Vec<(String, String)> =
            flags.iter().filter_map(|(key, value)| Some((key.to_string(), (*value).clone()?))).collect();
        if let Some(fraction) = self.held_out {
            pairs.push(("held_out".into(), query::percent(fraction).to_string()));
        }
        if self.no_pretrained {
            pairs.push(("pretrained".into(), "0".into()));
        }
        if self.fast {
            pairs.push(("fast".into(), "1".into()));
        }
        for pair in &self.set {
            pairs.push(key_value(pair)?);
        }
        apply_pairs(&mut spec, pairs)?;
        spec.check().map_err(|err| CliError::Usage(err.to_string()))?;
        Ok(spec)
    }
}

/// The settings table as text: one line per key with its values and what it does, and the
/// tutorial's value.
pub fn settings_help() -> String {
    let tutorial = RunSpec::tutorial();
    let mut text = String::from("train --set key=value (and a lesson link's keys); the tutorial's value in brackets\n");
    for setting in query::SETTINGS {
        let values = match setting.values {
            query::Values::Number(range) => format!("a number, {} to {}", range.min, range.max),
            query::Values::Whole(range) => format!("a whole number, {} to {}", range.min, range.max),
            query::Values::Choice(options) => options.iter().map(|(word, _)| *word).collect::<Vec<_>>().join(" | "),
        };
        let default = (setting.get)(&tutorial).map_or(String::new(), |value| format!(" [{value}]"));
        text.push_str(&format!("  {:<12} {values}{default}\n      {}: {}\n", setting.key, setting.label, setting.help));
    }
    text
}

/// A `--set` argument's key and value.
pub fn key_value(pair: &str) -> Result<(String, String), CliError> {
    let Some((key, value)) = pair.split_once('=') else {
        return Err(CliError::Usage(format!("--set {pair}: write it as key=value (e.g. --set loss=contrastive)")));
    };
    Ok((key.trim().to_string(), value.trim().to_string()))
}

/// Apply settings to `spec` through the settings table, in the table's order (as a link's keys
/// are: width before pretrained, mining before P and K); every problem named at once.
pub fn apply_pairs(spec: &mut RunSpec, mut pairs: Vec<(String, String)>) -> Result<(), CliError> {
    pairs.sort_by_key(|(key, _)| query::application_order(key));
    let problems: Vec<String> = pairs
        .iter()
        .filter_map(|(key, value)| {
            query::apply(spec, key, value)
                .unwrap_or_else(|| Err(format!("'{key}' is not a setting (the keys: {})", setting_keys())))
                .err()
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(CliError::Usage(problems.join("; "))) }
}

/// Every key `--set` takes.
fn setting_keys() -> String {
    query::SETTINGS.iter().map(|setting| setting.key).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use tripletlab_core::data::augment::Augmentation;
    use tripletlab_core::data::triplets::HeldOutSplit;
    use tripletlab_core::mining::{Mining, MiningConfig};
    use tripletlab_core::run::{
        AdamSettings, BranchPasses, DataSpec, Distance, InputScaling, LossKind, LossSpec, MobileNetV2Config, Reduction,
        RunSpec,
    };

    use super::TrainArgs;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: TrainArgs,
    }

    fn spec_of(flags: &[&str]) -> Result<RunSpec, String> {
        let argv = ["tripletlab", "--data", "d", "--report", "r.json"].iter().chain(flags);
        let command = Command::try_parse_from(argv).map_err(|err| err.to_string())?;
        command.args.spec().map_err(|err| err.to_string())
    }

    /// Every flag reaches its field of the run description, and nothing else changes.
    #[test]
    fn flags_make_the_run_description() {
        assert_eq!(spec_of(&[]), Ok(RunSpec::tutorial()), "no flags: the recipe");
        let flags = [
            "--no-pretrained",
            "--width",
            "0.5",
            "--bn-momentum",
            "0.9",
            "--epochs",
            "3",
            "--batch",
            "16",
            "--lr",
            "0.002",
            "--margin",
            "0.3",
            "--patience",
            "5",
            "--seed",
            "9",
            "--distance",
            "euclidean",
            "--reduction",
            "active",
            "--loss",
            "contrastive",
            "--passes",
            "concatenated",
            "--scaling",
            "symmetric",
            "--split",
            "image",
            "--held-out",
            "0.25",
            "--images",
            "500",
            "--augment",
            "--mining",
            "batch-hard",
            "--classes-per-batch",
            "6",
            "--images-per-class",
            "3",
        ];
        let expected = RunSpec {
            data: DataSpec { images: 500, held_out: 0.25, split: HeldOutSplit::ByImage },
            pretrained: false,
            model: MobileNetV2Config { width: 0.5, bn_momentum: 0.9 },
            scaling: InputScaling::Symmetric,
            passes: BranchPasses::Concatenated,
            loss: LossSpec {
                kind: LossKind::Contrastive,
                margin: 0.3,
                distance: Distance::Euclidean,
                reduction: Reduction::MeanOverActive,
            },
            learning_rate: 0.002,
            adam: AdamSettings::default(),
            batch_size: 16,
            epochs: 3,
            patience: 5,
            seed: 9,
            augmentation: Augmentation { flip: true, crop_padding: 4 },
            mining: Some(MiningConfig { strategy: Mining::BatchHard, classes: 6, per_class: 3 }),
            fast_mode: false,
        };
        assert_eq!(spec_of(&flags), Ok(expected.clone()));
        // The same run as a link's query, as the report writes it and the page links it.
        let query = tripletlab_protocol::lesson::run_query(&expected);
        assert_eq!(spec_of(&["--settings", &query]), Ok(expected.clone()));
        let link = format!("https://example.org/lab/?{query}&hide=settings&title=A%20lesson");
        assert_eq!(spec_of(&["--settings", &link]), Ok(expected.clone()), "a whole page link works too");
        // Flags change a link's settings.
        let changed = spec_of(&["--settings", &query, "--margin", "0.5"]).map(|spec| spec.loss.margin);
        assert_eq!(changed, Ok(0.5));
    }

    /// `--set` reaches every setting of the table, and `--fast` is fast mode (it was silently
    /// ignored: `fast=1` trained the whole encoder).
    #[test]
    fn set_reaches_every_setting_and_fast_is_fast_mode() {
        let target = RunSpec {
            fast_mode: true,
            loss: LossSpec { kind: LossKind::Contrastive, ..LossSpec::default() },
            adam: AdamSettings { beta_1: 0.8, ..AdamSettings::default() },
            ..RunSpec::quick_demo()
        };
        let sets = ["--set", "loss=contrastive", "--set", "beta1=0.8", "--settings", "preset=quick", "--fast"];
        assert_eq!(spec_of(&sets), Ok(target.clone()));
        assert_eq!(spec_of(&["--settings", "preset=quick&fast=1&loss=contrastive&beta1=0.8"]), Ok(target));
        for setting in tripletlab_core::run::query::SETTINGS {
            let Some(value) = (setting.get)(&RunSpec::tutorial()) else { continue };
            let pair = format!("{}={value}", setting.key);
            assert_eq!(spec_of(&["--set", &pair]), Ok(RunSpec::tutorial()), "--set {pair}");
        }
    }

    #[test]
    fn the_settings_help_lists_every_key() {
        let help = super::settings_help();
        for setting in tripletlab_core::run::query::SETTINGS {
            assert!(help.contains(&format!("  {:<12} ", setting.key)), "{} missing:\n{help}", setting.key);
        }
        assert!(help.contains("triplet | contrastive [triplet]"), "{help}");
    }

    #[test]
    fn bad_settings_are_refused_with_what_is_wrong() {
        let err = spec_of(&["--settings", "preset=quick&margin=9&colour=red"]).expect_err("refused");
        assert!(err.contains("margin=9 is not between 0 and 2") && err.contains("'colour' is not a setting"), "{err}");
        let err = spec_of(&["--classes-per-batch", "4"]).expect_err("refused");
        assert!(err.contains("p=4 needs mining=batch-all"), "{err}");
        let err = spec_of(&["--set", "colour=red", "--set", "loss"]).expect_err("refused");
        assert!(err.contains("write it as key=value"), "{err}");
        let err = spec_of(&["--set", "colour=red"]).expect_err("refused");
        assert!(err.contains("'colour' is not a setting (the keys: images, held_out"), "{err}");
        let err = spec_of(&["--epochs", "0"]).expect_err("refused");
        assert!(err.contains("epochs=0 is not between 1 and 1000"), "{err}");
        let err = spec_of(&["--width", "0.75", "--settings", "preset=tutorial&fast=1&flip=1"]).expect_err("no");
        assert!(err.contains("fast mode"), "{err}");
    }
}

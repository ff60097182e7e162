//! Fast mode in the worker: the encoder frozen, every image of the run embedded once, and only a
//! projection head trained on those features with the run's loss. Steps are matrix products on
//! cached rows, so an epoch takes seconds on a CPU. Nothing is checkpointed: a fast run is cheap
//! to repeat, and the stored full run (if any) is left as it was.

use std::rc::Rc;

use burn::tensor::Device;
use gloo_timers::future::TimeoutFuture;
use tripletlab_core::data::Dataset;
use tripletlab_core::data::triplets::{Triplet, TripletSet};
use tripletlab_core::head::{Features, HeadConfig, HeadTrainer};
use web_time::Instant;

use crate::describe;
use crate::training::{Control, Failure, Run, gallery, step_event, trainer_config};
use tripletlab_protocol::{EpochEvent, Evaluation, Event, RunHistory, RunInfo, TrainSettings};

/// Width of the projection head's output.
const HEAD_OUTPUT: usize = 128;
/// Images embedded per forward pass of the frozen encoder.
const EMBED_BATCH: usize = 64;

pub async fn train(
    run: &Run,
    settings: &TrainSettings,
    data: Rc<Dataset>,
    triplets: TripletSet,
    device: &Device,
) -> Result<(), Failure> {
    let config = trainer_config(settings);
    let encoder = run.initial_model(settings, device).await?;
    let embedding_started = Instant::now();
    let all: Vec<Triplet> = triplets.train.iter().chain(&triplets.held_out).copied().collect();
    let features = Features::embed(&encoder, &data, &all, config.scaling, EMBED_BATCH, device).await?;
    let embed_seconds = embedding_started.elapsed().as_secs_f64();
    drop(encoder);
    let images = features.len();
    let head = HeadConfig {
        learning_rate: settings.learning_rate,
        batch_size: settings.batch_size.max(1) as usize,
        epochs: settings.epochs.max(1) as usize,
        loss: config.loss.clone(),
        output: HEAD_OUTPUT,
        seed: settings.seed,
    };
    let mut trainer = HeadTrainer::new(features, head, device);
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
    let mut history = RunHistory::default();
    let started = Instant::now();
    let session = &run.session;
    loop {
        TimeoutFuture::new(0).await;
        match session.control.get() {
            Control::StopRequested => {
                run.respond.send(Event::TrainingStopped { saved: false });
                return Ok(());
            }
            Control::PauseRequested => {
                session.control.set(Control::Paused);
                run.respond.send(Event::TrainingPaused { saved: false });
                while session.control.get() == Control::Paused {
                    TimeoutFuture::new(50).await;
                }
                if session.control.get() == Control::Running {
                    run.respond.send(Event::TrainingResumed);
                }
                continue;
            }
            _ => {}
        }
        if trainer.is_finished() {
            run.respond.send(Event::TrainingFinished { best_epoch: None, saved: false });
            return Ok(());
        }
        if trainer.epoch_done(train_count) {
            let record = trainer.end_epoch(&triplets.held_out).await?;
            let event = EpochEvent {
                epoch: record.epoch as u32,
                loss: record.loss,
                val_loss: record.val_loss,
                improved: record.improved,
            };
            history.epochs.push(event.clone());
            run.respond.send(Event::EpochDone(event));
            let scores = trainer.held_out_scores(&triplets.held_out).await?;
            let gallery = gallery(&data, &triplets.held_out, &scores.scores);
            run.respond.send(Event::Evaluated(Evaluation {
                epoch: trainer.epoch() as u32,
                global_step: history.global_step,
                scores: scores.scores,
                labels: scores.labels,
                auc: scores.summary.auc,
                gallery,
            }));
            continue;
        }
        let step_started = Instant::now();
        let report = trainer.step(&triplets.train).await?;
        let seconds = step_started.elapsed().as_secs_f64().max(1e-9);
        let global_step = history.global_step + 1;
        history.push_step(global_step, report.loss);
        run.respond.send(Event::Step(step_event(&report, global_step, seconds, started.elapsed().as_secs_f64())));
    }
}

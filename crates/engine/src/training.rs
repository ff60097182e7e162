//! A run's life in the worker: how it starts (new, full or fast, through the core's one entry
//! [`Training::start`]; or the stored run resumed), which data it trains on, and what it does
//! between the moves of the one loop (`drive`): evaluate and draw the embedding map, and store
//! a checkpoint in IndexedDB after each epoch, on pause and on stop (a full run:
//! fast mode keeps none, its head is cheap to train again).

use std::rc::Rc;

use tripletlab_core::data::Dataset;
use tripletlab_core::data::triplets::TripletSet;
use tripletlab_core::train::{StepReport, Steps, TrainError};
use tripletlab_core::training::Training;
use web_time::Instant;

use crate::dataset;
use crate::drive::{Driven, drive};
use crate::events::{Failure, LoopState, checkpoint_file_name, evaluation, run_info, saved_run_info};
use crate::explore::{Explorer, map_event};
use crate::session::Run;
use crate::store::{self, SavedMeta};
use tripletlab_core::explore::{MapIndex, map_images};
use tripletlab_protocol::{BackendChoice, Event, MinedBatchView, RunHistory, TrainSettings};

/// How a run begins.
pub enum Start {
    New(TrainSettings),
    Saved { backend: BackendChoice },
}

impl Run {
    /// Run until finished, stopped or failed; every outcome ends in an event.
    pub async fn go(self, start: Start) {
        if self.session.control.get() != LoopState::Idle {
            self.respond.send(Event::TrainingFailed {
                message: "A run is already in progress.".into(),
                hint: "Stop it first.".into(),
            });
            return;
        }
        self.session.control.set(LoopState::Running);
        // A request made before this run (or during the last) is not this run's.
        self.session.evaluate_now.set(false);
        if let Err(failure) = self.prepare_and_train(start).await {
            self.respond.send(Event::TrainingFailed { message: failure.message, hint: failure.hint });
        }
        self.session.control.set(LoopState::Idle);
    }

    async fn prepare_and_train(&self, start: Start) -> Result<(), Failure> {
        let (settings, resumed) = match start {
            Start::New(settings) => (settings, None),
            Start::Saved { backend } => {
                let (meta, bytes) = store::get()
                    .await
                    .map_err(|err| Failure::new(format!("Could not read the stored run: {err}"), "Start a new run."))?
                    .ok_or_else(|| Failure::new("No run is stored in this browser.", "Start a new run."))?;
                (TrainSettings { backend, ..meta.settings.clone() }, Some((meta, bytes)))
            }
        };
        settings.run.check().map_err(|err| Failure::from(TrainError::from(err)))?;
        let data = self.dataset_for(resumed.as_ref().map(|(meta, _)| meta)).await?;
        let device = self
            .devices
            .get_or_start(settings.backend)
            .await
            .map_err(|message| Failure::new(message, "Choose the CPU backend and start again."))?;
        let ((training, triplets), mut history, setup_s) = match resumed {
            // A resumed or imported run trains on exactly its own split, or is refused here.
            Some((meta, bytes)) => (Training::resume("the stored run", &bytes, &data, &device)?, meta.history, 0.0),
            None => {
                let encoder = self.initial_model(&settings.run, &device).await?;
                // Fast mode embeds every image of the run here.
                let started = Instant::now();
                let training = Training::start(settings.run.clone(), encoder, &data, &device).await?;
                (training, RunHistory::default(), started.elapsed().as_secs_f64())
            }
        };
        let info = run_info(&settings, &training, (&data, &triplets), setup_s, &mut history);
        // What is in effect is the run's own description (an imported checkpoint's included).
        let settings = info.settings.clone();
        self.respond.send(Event::TrainingStarted(info));
        self.session.sent_thumbnails.borrow_mut().clear();
        // A class enrolled from the last map's images belongs to that run's split; the visitor's
        // own pictures are scored again by the new run's maps.
        let mut enrolled = self.session.enrolled.borrow_mut();
        if enrolled.as_ref().is_some_and(|enrolled| enrolled.label.is_some()) {
            *enrolled = None;
        }
        drop(enrolled);
        let now = Instant::now();
        let mut driving = Driving { run: self, data, triplets, training, settings, last_saved: now };
        drive(self, &mut driving, history).await
    }

    /// The dataset to train on: the loaded one, or for a stored run its own (loaded again when it
    /// was served and is not the one in memory).
    async fn dataset_for(&self, meta: Option<&SavedMeta>) -> Result<Rc<Dataset>, Failure> {
        let held = self.dataset.borrow().clone();
        let wanted = meta.map(|meta| meta.dataset.as_str()).filter(|name| !name.is_empty());
        match (held, wanted) {
            (Some(data), None) => Ok(data),
            (Some(data), Some(name)) if data.name == name => Ok(data),
            (_, Some(name)) => match meta.and_then(|meta| meta.source.clone()) {
                Some((manifest_url, max_shards)) => {
                    let progress = |state| self.respond.send(Event::DatasetProgress(state));
                    let warn = |message| self.respond.send(Event::Warning { message });
                    let (data, summary) = dataset::load_served(&manifest_url, max_shards, &progress, &warn)
                        .await
                        .map_err(|err| Failure::new(err.to_string(), "Retry, or start a new run."))?;
                    let data = Rc::new(data);
                    *self.dataset.borrow_mut() = Some(Rc::clone(&data));
                    *self.session.source.borrow_mut() = Some((manifest_url, max_shards));
                    self.respond.send(Event::DatasetReady(summary));
                    Ok(data)
                }
                None => Err(Failure::new(
                    format!("The stored run trained on '{name}', which is not loaded."),
                    "Load the same files again, then resume.",
                )),
            },
            (None, None) => Err(Failure::new("No dataset is loaded.", "Load a dataset first (above).")),
        }
    }
}

/// A run in the worker (full or fast) on its data, driven by [`drive`].
struct Driving<'a> {
    run: &'a Run,
    data: Rc<Dataset>,
    triplets: TripletSet,
    training: Training,
    settings: TrainSettings,
    /// When a checkpoint was last stored: a long epoch is saved along the way too.
    last_saved: Instant,
}

/// Store a checkpoint at least this often while training, so a reload, a crash or a lost device
/// in the middle of a long epoch costs at most this much training.
const AUTOSAVE_EVERY_S: f64 = 120.0;

impl Driven for Driving<'_> {
    fn steps(&mut self) -> impl Steps {
        self.training.on(&self.data, &self.triplets)
    }

    async fn evaluate(&mut self, history: &mut RunHistory) -> Result<(), Failure> {
        self.evaluate_and_map(history).await
    }

    async fn save(&mut self, history: &RunHistory, now: bool) -> Option<bool> {
        if let Training::Fast(_) = self.training {
            return now.then_some(false);
        }
        if now || self.last_saved.elapsed().as_secs_f64() >= AUTOSAVE_EVERY_S {
            Some(self.store_checkpoint(history).await)
        } else {
            None
        }
    }

    fn best_epoch(&self) -> Option<u32> {
        self.training.state().best_epoch.map(|epoch| epoch as u32)
    }

    fn warmed_step_dispatches(&self) -> Option<u32> {
        (self.settings.backend == BackendChoice::WebGpu)
            .then(|| self.run.session.warm.step_dispatches(&self.settings.run))
            .flatten()
    }

    fn mined_batch(&self, report: &StepReport, global_step: u32) -> Option<MinedBatchView> {
        let matrix = self.training.last_mined()?.clone();
        let (pixels, class_names) = matrix
            .images
            .iter()
            .map(|&image| {
                let image = image as usize;
                (self.data.image(image).to_vec(), self.data.class_name(usize::from(self.data.labels[image])))
            })
            .unzip();
        let loss = &self.settings.run.loss;
        Some(MinedBatchView {
            epoch: report.epoch as u32,
            step: report.step as u32,
            global_step,
            matrix,
            pixels,
            class_names,
            margin: loss.margin as f32,
            distance: loss.distance,
        })
    }
}

impl Driving<'_> {
    /// Score the held-out pairs with the current weights (or head), send them with a gallery, and
    /// draw the map.
    async fn evaluate_and_map(&mut self, history: &mut RunHistory) -> Result<(), Failure> {
        let held_out = &self.triplets.held_out;
        let scores = self.training.held_out_scores(&self.data, held_out).await?;
        let epoch = self.training.state().epoch as u32;
        let mut event = evaluation(history, &self.data, held_out, epoch, scores);
        // A finished run holds its best epoch's weights, which need not be the last epoch's.
        let state = self.training.state();
        event.restored_epoch = state.best_epoch.map(|best| best as u32).filter(|&best| state.finished && best != epoch);
        self.run.respond.send(Event::Evaluated(event));
        self.draw_map(epoch, history.global_step).await
    }

    /// Embed the held-out images, project them to 2-D, send the map, and keep the embeddings and
    /// the run's encoder (with fast mode's head) for searches.
    async fn draw_map(&mut self, epoch: u32, global_step: u32) -> Result<(), Failure> {
        let started = Instant::now();
        // The previous map's embeddings and model go first: never two maps in memory at once.
        self.run.session.explorer.borrow_mut().take();
        let images = map_images(&self.triplets.held_out, self.settings.map_images as usize);
        let (rows, dims) = {
            let rows = self.training.embed(&self.data, &images).await?;
            let dims = rows.first().map_or(0, Vec::len);
            let mut flat = Vec::with_capacity(rows.len() * dims);
            rows.into_iter().for_each(|row| flat.extend(row));
            (flat, dims)
        };
        let mut explorer = Explorer {
            embedder: self.training.embedder().await?,
            data: Rc::clone(&self.data),
            index: MapIndex {
                labels: images.iter().map(|&image| self.data.labels[image as usize]).collect(),
                images,
                rows,
                dims,
                distance: self.settings.run.loss.distance,
            },
            epoch,
            global_step,
        };
        let embed_millis = started.elapsed().as_secs_f64() * 1000.0;
        let mut sent = self.run.session.sent_thumbnails.borrow_mut();
        let map = map_event(&mut explorer, self.settings.run.seed, (epoch, global_step), &mut sent, embed_millis);
        drop(sent);
        *self.run.session.explorer.borrow_mut() = Some(Rc::new(explorer));
        match map {
            Ok(map) => self.run.respond.send(Event::EmbeddingMap(map)),
            Err(message) => self.run.respond.send(Event::Warning { message: format!("No embedding map: {message}") }),
        }
        if let Some(event) = crate::explore::rescore(&self.run.session).await {
            self.run.respond.send(event);
        }
        Ok(())
    }

    /// Store a checkpoint and the history; false when the browser refused (training goes on).
    async fn store_checkpoint(&mut self, history: &RunHistory) -> bool {
        self.last_saved = Instant::now();
        // The previous checkpoint's bytes go before the new ones are made (it is in IndexedDB).
        self.run.session.last_checkpoint.borrow_mut().take();
        let bytes = match self.training.checkpoint().await {
            Some(Ok(bytes)) => bytes,
            None => return false,
            Some(Err(err)) => {
                self.run.respond.send(Event::Warning { message: format!("The checkpoint could not be made: {err}") });
                return false;
            }
        };
        let schedule = (self.training.state(), self.training.spec());
        let info = saved_run_info(&self.data.name, schedule, history.global_step, bytes.len(), js_sys::Date::now());
        let file_name = checkpoint_file_name(&info);
        let meta = SavedMeta {
            settings: self.settings.clone(),
            dataset: self.data.name.clone(),
            source: self.run.session.source.borrow().clone(),
            history: history.clone(),
            info: info.clone(),
        };
        let stored = store::put(&meta, &bytes).await;
        *self.run.session.last_checkpoint.borrow_mut() = Some((file_name, bytes));
        match stored {
            Ok(()) => {
                self.run.respond.send(Event::SavedRun(Some(info)));
                true
            }
            Err(err) => {
                self.run.respond.send(Event::Warning {
                    message: format!(
                        "The browser refused to store the checkpoint of step {} ({err}). The one stored before \
                         is kept; export this one to keep it.",
                        info.global_step
                    ),
                });
                false
            }
        }
    }
}

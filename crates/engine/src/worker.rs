//! The worker itself: the devices it has started, the dataset it holds, the training session,
//! and how each command of the page is answered.

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use gloo_worker::{HandlerId, Worker, WorkerScope};
use tripletlab_core::data::Dataset;
use tripletlab_core::selfcheck::matmul_check;
use web_time::Instant;

use tripletlab_core::train::Trainer;
use tripletlab_protocol::{BackendChoice, Command, DatasetRequest, Event, PingReport, TrainSettings};

use crate::dataset::LoadError;
use crate::devices::Devices;
use crate::events::{checkpoint_file_name, describe, imported_history, saved_run_info};
use crate::pictures;
use crate::session::{Responder, Run, Session};
use crate::training::Start;
use crate::{adapter, dataset, explore, store, warm};

/// The worker's state: the devices it has started (each can only be started once per page), the
/// dataset it holds, and the training session.
pub struct Engine {
    devices: Rc<Devices>,
    dataset: Rc<RefCell<Option<Rc<Dataset>>>>,
    session: Rc<Session>,
}

impl Worker for Engine {
    type Message = ();
    type Input = Command;
    type Output = Event;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        Self {
            devices: Rc::new(Devices::default()),
            dataset: Rc::new(RefCell::new(None)),
            session: Rc::new(Session::default()),
        }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: Self::Message) {}

    fn received(&mut self, scope: &WorkerScope<Self>, command: Command, id: HandlerId) {
        let respond = {
            let scope = scope.clone();
            Responder::new(move |event| scope.respond(id, event))
        };
        let session = Rc::clone(&self.session);
        // Commands that steer a running loop take effect at its next move.
        if let Some(state) = session.control.get().after(&command) {
            return session.control.set(state);
        }
        if let Command::EvaluateNow = command {
            if session.control.get().has_run() {
                session.evaluate_now.set(true);
            }
            return;
        }
        let devices = Rc::clone(&self.devices);
        let held = Rc::clone(&self.dataset);
        wasm_bindgen_futures::spawn_local(async move {
            // A warm-up's dry run holds for the whole worker: what computes waits for its end,
            // and no warm-up starts until it is done.
            let _computing = match &command {
                Command::ProbeAdapter
                | Command::ListDatasets { .. }
                | Command::LoadDataset(_)
                | Command::FindSavedRun
                | Command::ForgetSaved
                | Command::ExportDataset
                | Command::ExportProjector
                | Command::WarmUp(_) => None,
                Command::StartTraining(settings) if settings.backend == BackendChoice::WebGpu => {
                    session.warm.quiet(Some(&settings.run)).await;
                    Some(session.warm.computing())
                }
                _ => {
                    session.warm.quiet(None).await;
                    Some(session.warm.computing())
                }
            };
            let event = match command {
                Command::ProbeAdapter => Event::Adapter(adapter::probe().await),
                Command::Ping { backend } => ping(&devices, backend).await,
                Command::ListDatasets { index_url } => match dataset::list(&index_url).await {
                    Ok(index) => Event::DatasetList { datasets: index.datasets },
                    Err(err) => Event::DatasetListFailed { message: err.to_string() },
                },
                Command::LoadDataset(request) => {
                    let progress = |state| respond.send(Event::DatasetProgress(state));
                    let loaded = match request {
                        DatasetRequest::Served { manifest_url, max_shards } => {
                            let warn = |message| respond.send(Event::Warning { message });
                            let loaded = dataset::load_served(&manifest_url, max_shards, &progress, &warn).await;
                            if loaded.is_ok() {
                                *session.source.borrow_mut() = Some((manifest_url, max_shards));
                            }
                            loaded
                        }
                        DatasetRequest::KeptPictures => match pictures::kept().await {
                            Some(file) => {
                                let loaded = dataset::load_dropped(vec![file]);
                                if loaded.is_ok() {
                                    *session.source.borrow_mut() = None;
                                }
                                loaded
                            }
                            None => Err(LoadError::Request(
                                "no pictures are kept in this browser yet: choose a folder of pictures (they are kept \
                                 once they load)"
                                    .into(),
                            )),
                        },
                        DatasetRequest::Dropped { files } => {
                            let loaded = dataset::load_dropped(files);
                            if loaded.is_ok() {
                                *session.source.borrow_mut() = None;
                            }
                            loaded
                        }
                        DatasetRequest::Pictures { files, part } => {
                            // Part 0 starts a folder; a later part goes on with the one kept.
                            let reading = if part.index == 0 {
                                Some(pictures::PicturesIn::default())
                            } else {
                                session.pictures_in.borrow_mut().take()
                            };
                            let read = match reading {
                                None => Err(LoadError::Request(
                                    "the folder's first pictures were not kept (another folder was chosen meanwhile): \
                                     choose it again"
                                        .into(),
                                )),
                                Some(mut reading) => reading.read_part(files, &part, &progress).await.map(|()| reading),
                            };
                            match read {
                                Ok(reading) if !part.is_last() => {
                                    *session.pictures_in.borrow_mut() = Some(reading);
                                    return respond.send(Event::PicturesPartRead { index: part.index });
                                }
                                Ok(reading) => match reading.finish() {
                                    Ok((data, summary, skipped)) => {
                                        *session.source.borrow_mut() = None;
                                        if let Err(message) = pictures::keep(&data).await {
                                            respond.send(Event::Warning { message });
                                        }
                                        if !skipped.is_empty() {
                                            respond.send(Event::Warning { message: skipped_message(&skipped) });
                                        }
                                        Ok((data, summary))
                                    }
                                    Err(err) => Err(err),
                                },
                                Err(err) => Err(err),
                            }
                        }
                    };
                    match loaded {
                        Ok((data, summary)) => {
                            *held.borrow_mut() = Some(Rc::new(data));
                            Event::DatasetReady(summary)
                        }
                        Err(err) => Event::DatasetFailed { message: err.to_string() },
                    }
                }
                Command::StartTraining(settings) => {
                    let run = Run { devices, dataset: held, session, respond };
                    return run.go(Start::New(settings)).await;
                }
                Command::ResumeSaved { backend } => {
                    let run = Run { devices, dataset: held, session, respond };
                    return run.go(Start::Saved { backend }).await;
                }
                Command::FindSavedRun => match store::get().await {
                    Ok(saved) => Event::SavedRun(saved.map(|(meta, _)| meta.info)),
                    Err(err) => {
                        respond.send(Event::Warning {
                            message: format!("The run stored in this browser cannot be read: {err}"),
                        });
                        Event::SavedRun(None)
                    }
                },
                Command::ForgetSaved => {
                    if let Err(err) = store::forget().await {
                        respond.send(Event::Warning { message: format!("The stored run could not be deleted: {err}") });
                    }
                    Event::SavedRun(None)
                }
                Command::Search { query, k } => {
                    let explorer = session.explorer.borrow().clone();
                    explore::search(explorer.as_deref(), query, k).await
                }
                Command::Enrol { class, source } => explore::enrol(&session, class, source).await,
                Command::Verify { name, bytes } => explore::verify(&session, name, bytes).await,
                Command::ExportCheckpoint => export(&session).await,
                Command::ExportDataset => export_dataset(held.borrow().as_deref()),
                Command::ExportProjector => explore::export_projector(session.explorer.borrow().as_deref()),
                Command::ImportCheckpoint { name, bytes } => import(&name, bytes).await,
                Command::WarmUp(spec) => return warm::warm(&devices, &session, &spec, &respond).await,
                Command::Pause | Command::Resume | Command::Stop | Command::EvaluateNow => return,
            };
            respond.send(event);
        });
    }
}

/// The latest checkpoint as a file: this session's, else the stored run's.
async fn export(session: &Session) -> Event {
    if let Some((file_name, bytes)) = session.last_checkpoint.borrow().clone() {
        return Event::Exported { file_name, bytes };
    }
    match store::get().await {
        Ok(Some((meta, bytes))) => Event::Exported { file_name: checkpoint_file_name(&meta.info), bytes },
        Ok(None) => Event::TrainingFailed {
            message: "There is no checkpoint to export yet.".into(),
            hint: "Train until the first epoch ends, or pause.".into(),
        },
        Err(err) => {
            Event::TrainingFailed { message: format!("Could not read the stored run: {err}"), hint: String::new() }
        }
    }
}

/// Check a checkpoint file fully (it must rebuild a trainer) and store it as the run to resume.
async fn import(name: &str, bytes: Vec<u8>) -> Event {
    let trainer = match Trainer::resume(name, &bytes, &Device::flex()) {
        Ok(trainer) => trainer,
        Err(err) => {
            return Event::TrainingFailed {
                message: err.to_string(),
                hint:
                    "Choose a .safetensors checkpoint saved by Triplet Lab (the page's \"Export checkpoint\", or the \
                       command tripletlab train)."
                        .into(),
            };
        }
    };
    let history = imported_history(trainer.state());
    let info = saved_run_info("", (trainer.state(), trainer.spec()), 0, bytes.len(), js_sys::Date::now());
    let meta = store::SavedMeta {
        // The run's own description, split included: resuming rebuilds exactly its held-out set
        // on the loaded data, or says what differs.
        settings: TrainSettings {
            backend: BackendChoice::Cpu,
            run: trainer.spec().clone(),
            map_images: tripletlab_protocol::DEFAULT_MAP_IMAGES,
        },
        dataset: String::new(),
        source: None,
        history,
        info: info.clone(),
    };
    match store::put(&meta, &bytes).await {
        Ok(()) => Event::SavedRun(Some(info)),
        Err(err) => Event::TrainingFailed {
            message: format!("Could not store the imported checkpoint in this browser: {err}"),
            hint: "Free some browser storage for this site and try again.".into(),
        },
    }
}

async fn ping(devices: &Devices, backend: BackendChoice) -> Event {
    let started = Instant::now();
    let failed = |message: String| Event::Failed { backend, message };
    let device = match devices.get_or_start(backend).await {
        Ok(device) => device,
        Err(message) => return failed(message),
    };
    match matmul_check(&device).await {
        Ok(check) => Event::Pong(PingReport {
            backend,
            device: describe(backend),
            check,
            millis: started.elapsed().as_secs_f64() * 1000.0,
        }),
        Err(err) => failed(err.to_string()),
    }
}

/// The files a folder of pictures loaded without, in one message (the first few named).
fn skipped_message(skipped: &[String]) -> String {
    const NAMED: usize = 5;
    let named: Vec<&str> = skipped.iter().take(NAMED).map(String::as_str).collect();
    let more = skipped.len().saturating_sub(NAMED);
    format!(
        "{} file{} left out of your pictures (the rest loaded): {}{}",
        skipped.len(),
        if skipped.len() == 1 { " was" } else { "s were" },
        named.join("; "),
        if more > 0 { format!("; and {more} more.") } else { ".".into() }
    )
}

/// The loaded dataset as a CIFAR-10 binary archive, for `tripletlab prepare --from`.
fn export_dataset(data: Option<&Dataset>) -> Event {
    let Some(data) = data else {
        return Event::Warning { message: "No dataset is loaded: load one (step 2) before saving it.".into() };
    };
    match tripletlab_core::data::pictures::to_cifar_tar_gz(data) {
        Ok(bytes) => {
            let stem: String = data
                .name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
                .collect();
            Event::Exported { file_name: format!("{stem}-cifar10-binary.tar.gz"), bytes }
        }
        Err(err) => Event::Warning { message: format!("The dataset could not be written as an archive: {err}.") },
    }
}

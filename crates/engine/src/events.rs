//! Everything of the worker that needs no browser, so it compiles and is tested natively: the
//! run loop's state and how the visitor's commands move it ([`LoopState`]), failures with what to
//! do next ([`Failure`]), and the events made from what the core computed (the run's start, a
//! step, an epoch, an evaluation with its gallery, a retrieval summary, a stored run). The
//! browser modules (`session`, `training`, `drive`, `store`) call these and only add the browser:
//! timers, IndexedDB, the worker's messages.

use std::sync::atomic::{AtomicUsize, Ordering};

use tripletlab_core::data::Dataset;
use tripletlab_core::data::triplets::{HeldOutSplit, Triplet, TripletSet, distinct_images, held_out_classes};
use tripletlab_core::explore::evenly_spaced;
use tripletlab_core::metrics::{Retrieval, worst_impostors};
use tripletlab_core::run::{RunDataError, RunSpec};
use tripletlab_core::train::{EpochRecord, HeldOutScores, Limits, Schedule, StepReport, TrainError};
use tripletlab_core::training::Training;
use tripletlab_protocol::{
    BackendChoice, ClassWorst, Command, EpochEvent, Evaluation, GalleryPair, RetrievalSummary, RunHistory, RunInfo,
    SavedRunInfo, StepEvent, TrainSettings,
};

/// Where the run loop stands, as the visitor's commands leave it (they take effect at its next
/// move).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopState {
    Idle,
    Running,
    PauseRequested,
    Paused,
    StopRequested,
}

impl LoopState {
    /// The state after a command that steers the loop (`Pause`, `Resume`, `Stop`): a pause only
    /// from running, a resume only from paused, a stop from any state with a run; anything else is
    /// a stale click and changes nothing. `None` for commands that do not steer the loop.
    pub fn after(self, command: &Command) -> Option<Self> {
        Some(match (command, self) {
            (Command::Pause, Self::Running) => Self::PauseRequested,
            (Command::Resume, Self::Paused) => Self::Running,
            (Command::Stop, Self::Running | Self::Paused | Self::PauseRequested) => Self::StopRequested,
            (Command::Pause | Command::Resume | Command::Stop, unchanged) => unchanged,
            _ => return None,
        })
    }

    /// Whether "evaluate now" has a run to evaluate.
    pub fn has_run(self) -> bool {
        self != Self::Idle
    }
}

/// A failure the page shows, with what to do about it.
#[derive(Debug, PartialEq)]
pub struct Failure {
    pub message: String,
    pub hint: String,
}

impl Failure {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { message: message.into(), hint: hint.into() }
    }
}

impl From<TrainError> for Failure {
    fn from(err: TrainError) -> Self {
        let hint = match &err {
            TrainError::NotFinite(_) => "Lower the learning rate and start again.",
            TrainError::Readback(_) => {
                "The device stopped answering (lost, or out of memory). Resume from the last checkpoint, \
                 on the CPU if WebGPU keeps failing, or with a smaller batch."
            }
            TrainError::Checkpoint(_) => "Start a new run, or import a checkpoint made by Triplet Lab.",
            TrainError::Data(RunDataError::EmptySide { .. } | RunDataError::Triplets(_)) => {
                "Use more images or a larger held-out share."
            }
            TrainError::Data(_) => "Load the dataset the run was trained on, then resume.",
            TrainError::Spec(_) => "Change the setting named above and start again.",
            TrainError::NoTriplets
            | TrainError::EpochComplete
            | TrainError::Finished
            | TrainError::NotEmbedded(_)
            | TrainError::NoEncoder
            | TrainError::Metric(_) => "Use more images or a larger held-out share.",
            TrainError::Mining(_) => "Use more images, or fewer classes (P) or images per class (K) in each batch.",
        };
        Self::new(err.to_string(), hint)
    }
}

/// How many threads burn flex computes with in this worker: 1 in the usual worker, the thread
/// pool's size in the threaded one (set once as it starts).
static CPU_THREADS: AtomicUsize = AtomicUsize::new(1);

/// The threaded worker's pool has `threads` threads (see `crates/engine-threads`).
pub fn set_cpu_threads(threads: usize) {
    CPU_THREADS.store(threads.max(1), Ordering::Relaxed);
}

/// The threads burn flex computes with in this worker.
pub fn cpu_threads() -> usize {
    CPU_THREADS.load(Ordering::Relaxed)
}

/// The backend and device, as the page names them.
pub fn describe(backend: BackendChoice) -> String {
    match (backend, cpu_threads()) {
        (BackendChoice::WebGpu, _) => "burn wgpu on the browser's WebGPU adapter".to_string(),
        (BackendChoice::Cpu, 1) => "burn flex on the CPU (WebAssembly, one thread)".to_string(),
        (BackendChoice::Cpu, threads) => format!("burn flex on the CPU (WebAssembly, {threads} threads)"),
    }
}

/// What the page learns as a run starts (new, resumed or imported; full or fast): the settings in
/// effect are the run's own description. An imported checkpoint carries no step count, so the
/// history's is counted here on this triplet set. `setup_s`: the seconds fast mode took to embed
/// its images.
pub fn run_info(
    settings: &TrainSettings,
    training: &Training,
    (data, triplets): (&Dataset, &TripletSet),
    setup_s: f64,
    history: &mut RunHistory,
) -> RunInfo {
    let state = training.state();
    let steps_per_epoch = training.steps_per_epoch(triplets.train.len());
    if history.global_step == 0 {
        history.global_step = (state.epoch * steps_per_epoch + state.step_in_epoch) as u32;
    }
    let resumed_at =
        (history.global_step > 0 || state.epoch > 0).then_some((state.epoch as u32, state.step_in_epoch as u32));
    let device = match training {
        Training::Full(_) => describe(settings.backend),
        Training::Fast(_) => {
            format!("{}; {}, embedded in {setup_s:.1} s", describe(settings.backend), training.describe())
        }
    };
    RunInfo {
        backend: settings.backend,
        device,
        dataset: data.name.clone(),
        synthetic: data.synthetic,
        train_triplets: triplets.train.len() as u32,
        held_out_triplets: triplets.held_out.len() as u32,
        images: training.spec().image_count(data.len()) as u32,
        held_out_images: distinct_images(&triplets.held_out).len() as u32,
        unseen_classes: unseen_classes(training.spec(), data),
        steps_per_epoch: steps_per_epoch as u32,
        settings: TrainSettings { run: training.spec().clone(), ..settings.clone() },
        resumed_at,
        history: history.clone(),
    }
}

/// The classes a class split holds out whole, by name (none for the other splits).
fn unseen_classes(spec: &RunSpec, data: &Dataset) -> Vec<String> {
    if spec.data.split != HeldOutSplit::ByClass {
        return Vec::new();
    }
    let count = spec.image_count(data.len());
    held_out_classes(&data.labels[..count], &spec.triplet_config())
        .iter()
        .map(|&class| data.class_name(usize::from(class)))
        .collect()
}

/// The page's view of a finished epoch.
pub fn epoch_event(record: &EpochRecord) -> EpochEvent {
    EpochEvent { epoch: record.epoch as u32, loss: record.loss, val_loss: record.val_loss, improved: record.improved }
}

/// The page's view of one step (`seconds` it took, `elapsed_s` of training so far, the kernels it
/// `dispatched`, the worker's `memory_bytes`).
pub fn step_event(
    report: &StepReport,
    global_step: u32,
    (seconds, elapsed_s): (f64, f64),
    dispatches: Option<u32>,
    memory_bytes: u64,
) -> StepEvent {
    StepEvent {
        epoch: report.epoch as u32,
        step: report.step as u32,
        steps_per_epoch: report.steps_per_epoch as u32,
        global_step,
        loss: report.loss,
        active_fraction: report.active_fraction,
        mean_positive_distance: report.mean_positive_distance,
        mean_negative_distance: report.mean_negative_distance,
        triplets_per_second: report.triplets as f64 / seconds,
        ms_per_step: seconds * 1000.0,
        elapsed_s,
        memory_bytes,
        mined: report.mined,
        dispatches,
    }
}

/// An evaluation after `epoch` epochs, recorded in the run's `history`, with its gallery.
pub fn evaluation(
    history: &mut RunHistory,
    data: &Dataset,
    held_out: &[Triplet],
    epoch: u32,
    scores: HeldOutScores,
) -> Evaluation {
    history.record_evaluation(epoch, history.global_step, scores.summary.auc);
    // The recipe's scores are two a triplet; a gallery is only left out if they were not.
    let gallery = gallery(data, held_out, &scores.scores).unwrap_or_default();
    let worst = worst_pairs(data, held_out, &scores.scores, &scores.labels);
    Evaluation {
        epoch,
        global_step: history.global_step,
        restored_epoch: None,
        scores: scores.scores,
        labels: scores.labels,
        auc: scores.summary.auc,
        worst,
        pair_classes: pair_classes(data, held_out),
        gallery,
    }
}

/// Impostor pairs shown for each class in the failure atlas.
pub const WORST_SHOWN: usize = 3;

/// Each held-out pair's two classes, in the recipe's score order: the (anchor, positive) pairs,
/// then the (anchor, negative) pairs.
pub fn pair_classes(data: &Dataset, held_out: &[Triplet]) -> Vec<(u8, u8)> {
    let label = |image: u32| data.labels.get(image as usize).copied().unwrap_or(u8::MAX);
    let genuine = held_out.iter().map(|t| (label(t.anchor), label(t.positive)));
    let impostor = held_out.iter().map(|t| (label(t.anchor), label(t.negative)));
    genuine.chain(impostor).collect()
}

/// Each class's [`WORST_SHOWN`] highest-scoring impostor pairs, with their pictures.
pub fn worst_pairs(data: &Dataset, held_out: &[Triplet], scores: &[f64], genuine: &[bool]) -> Vec<ClassWorst> {
    let count = held_out.len();
    if scores.len() != 2 * count {
        return Vec::new();
    }
    let classes = pair_classes(data, held_out);
    let mut labels: Vec<u8> = classes.iter().flat_map(|&(a, b)| [a, b]).collect();
    labels.sort_unstable();
    labels.dedup();
    labels
        .into_iter()
        .map(|label| {
            let pairs = worst_impostors(scores, genuine, &classes, label, WORST_SHOWN)
                .into_iter()
                .filter(|&at| at >= count)
                .map(|at| {
                    let triplet = held_out[at - count];
                    GalleryPair {
                        first: data.image(triplet.anchor as usize).to_vec(),
                        second: data.image(triplet.negative as usize).to_vec(),
                        first_class: data.class_name(usize::from(classes[at].0)),
                        second_class: data.class_name(usize::from(classes[at].1)),
                        genuine: false,
                        score: scores[at],
                    }
                })
                .collect();
            ClassWorst { label, class: data.class_name(usize::from(label)), pairs }
        })
        .collect()
}

/// Pairs of each kind shown in the gallery.
pub const GALLERY_SHOWN: usize = 6;

/// Up to [`GALLERY_SHOWN`] genuine and as many impostor pairs, spread over the held-out set, from
/// the recipe's scores (`scores[i]` the genuine pair of held-out triplet `i`, `scores[count + i]`
/// its impostor pair): genuine pair k and impostor pair k are triplet
/// `evenly_spaced(count, shown)[k]`'s (anchor, positive) and (anchor, negative), so the page's
/// triplet anatomy can put them side by side. `None` when the scores are not two per triplet.
pub fn gallery(data: &Dataset, held_out: &[Triplet], scores: &[f64]) -> Option<Vec<GalleryPair>> {
    let count = held_out.len();
    if scores.len() != 2 * count {
        return None;
    }
    let class = |index: u32| {
        let label = data.labels.get(index as usize).map_or(usize::MAX, |&label| label as usize);
        data.class_name(label)
    };
    let pair = |first: u32, second: u32, genuine: bool, score: f64| GalleryPair {
        first: data.image(first as usize).to_vec(),
        second: data.image(second as usize).to_vec(),
        first_class: class(first),
        second_class: class(second),
        genuine,
        score,
    };
    let picks = evenly_spaced(count, GALLERY_SHOWN);
    let genuine = picks.iter().map(|&at| pair(held_out[at].anchor, held_out[at].positive, true, scores[at]));
    let impostor = picks.iter().map(|&at| pair(held_out[at].anchor, held_out[at].negative, false, scores[count + at]));
    Some(genuine.chain(impostor).collect())
}

/// The page's line of a 1:N search.
pub fn retrieval_summary(found: &Retrieval) -> RetrievalSummary {
    RetrievalSummary {
        // `queries` already leaves out lone queries (a class with one image here).
        queries: found.queries as u32,
        precision_at_1: found.precision_at_1,
        r_precision: found.r_precision,
        map_at_r: found.map_at_r,
        per_class: found.per_class.iter().map(|class| (class.label as u8, class.precision_at_1)).collect(),
    }
}

/// What the page shows of a run stored in this browser, `bytes` long, stored at `saved_at_ms`.
pub fn saved_run_info(
    dataset: &str,
    (state, spec): (&Schedule, &RunSpec),
    global_step: u32,
    bytes: usize,
    saved_at_ms: f64,
) -> SavedRunInfo {
    SavedRunInfo {
        dataset: dataset.to_string(),
        epochs_done: state.epoch as u32,
        step_in_epoch: state.step_in_epoch as u32,
        global_step,
        epochs: spec.epochs as u32,
        finished: state.is_finished(Limits::of(spec)),
        saved_at_ms,
        bytes: bytes as u64,
    }
}

/// The charts' history of an imported checkpoint: its epochs (it carries no steps).
pub fn imported_history(state: &Schedule) -> RunHistory {
    RunHistory { epochs: state.history.iter().map(epoch_event).collect(), ..RunHistory::default() }
}

/// The name an exported checkpoint is offered under: the dataset's first word, the epochs done
/// and the global step, e.g. `tripletlab-cifar-10-epoch3-step420.safetensors`.
pub fn checkpoint_file_name(info: &SavedRunInfo) -> String {
    let dataset: String = info
        .dataset
        .split_whitespace()
        .next()
        .unwrap_or("run")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    format!("tripletlab-{dataset}-epoch{}-step{}.safetensors", info.epochs_done, info.global_step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tripletlab_core::metrics::{RetrievalConfig, Verification, retrieval};

    /// `n` images whose every pixel is the image's index, labels cycling over three named classes
    /// (the fourth label has no name).
    fn numbered_images(n: usize) -> Dataset {
        use tripletlab_core::data::cifar::IMAGE_BYTES;
        Dataset {
            name: "numbered test images".into(),
            synthetic: true,
            class_names: vec!["cat".into(), "dog".into(), "ship".into()],
            labels: (0..n).map(|i| [0, 1, 2, 3][i % 4]).collect(),
            pixels: (0..n).flat_map(|i| std::iter::repeat_n(i as u8, IMAGE_BYTES)).collect(),
        }
    }

    /// Ten held-out triplets: triplet i is (3i, 3i + 1, 3i + 2).
    fn ten_triplets() -> Vec<Triplet> {
        (0..10u32).map(|i| Triplet { anchor: 3 * i, positive: 3 * i + 1, negative: 3 * i + 2 }).collect()
    }

    #[test]
    fn the_gallery_pairs_each_shown_triplet_with_its_own_two_scores() {
        let data = numbered_images(40);
        let held_out = ten_triplets();
        // Genuine scores 0.i, impostor 0.5 + 0.0i.
        let scores: Vec<f64> =
            (0..10).map(|i| f64::from(i) / 10.0).chain((0..10).map(|i| 0.5 + f64::from(i) / 100.0)).collect();
        let shown = gallery(&data, &held_out, &scores).expect("two scores a triplet");
        // evenly_spaced(10, 6) = [0, 1, 3, 5, 6, 8]: six genuine pairs, then the same six triplets' impostors.
        let picks = [0u32, 1, 3, 5, 6, 8];
        assert_eq!(shown.len(), 12);
        for (k, &at) in picks.iter().enumerate() {
            let (genuine, impostor) = (&shown[k], &shown[6 + k]);
            assert!(genuine.genuine && !impostor.genuine);
            assert_eq!((genuine.first[0], genuine.second[0]), (3 * at as u8, 3 * at as u8 + 1), "pair {k}");
            assert_eq!((impostor.first[0], impostor.second[0]), (3 * at as u8, 3 * at as u8 + 2), "pair {k}");
            assert_eq!(genuine.score, f64::from(at) / 10.0);
            assert_eq!(impostor.score, 0.5 + f64::from(at) / 100.0);
        }
        // Image 3 is label 3, which has no name; image 0 is a cat, image 1 a dog, image 2 a ship.
        assert_eq!((shown[0].first_class.as_str(), shown[0].second_class.as_str()), ("cat", "dog"));
        assert_eq!(shown[6].second_class, "ship");
        assert_eq!(shown[1].first_class, "class 3");
        // Fewer triplets than pairs shown: all of them; scores that are not two a triplet: none.
        assert_eq!(gallery(&data, &held_out[..2], &[0.9, 0.8, 0.1, 0.2]).map(|g| g.len()), Some(4));
        assert_eq!(gallery(&data, &held_out, &scores[..19]), None);
    }

    /// The failure atlas' inputs: each pair's classes in score order, and each class's worst
    /// impostor pairs. Label 0's impostor pairs are triplets 0, 2, 4, 6 and 8 (anchor 3i of label
    /// 3i mod 4, or negative 3i + 2); the highest scores are triplets 8, 6 and 4.
    #[test]
    fn each_class_keeps_its_worst_impostor_pairs_and_every_pair_its_classes() {
        let data = numbered_images(40);
        let held_out = ten_triplets();
        let scores: Vec<f64> =
            (0..10).map(|i| f64::from(i) / 10.0).chain((0..10).map(|i| 0.5 + f64::from(i) / 100.0)).collect();
        let genuine: Vec<bool> = (0..20).map(|at| at < 10).collect();
        let classes = pair_classes(&data, &held_out);
        assert_eq!(classes.len(), 20);
        assert_eq!((classes[0], classes[10]), ((0, 1), (0, 2)), "triplet 0: images 0, 1, 2");
        assert_eq!(classes[13], (1, 3), "triplet 3: anchor 9 (label 1), negative 11 (label 3)");
        let worst = worst_pairs(&data, &held_out, &scores, &genuine);
        assert_eq!(worst.iter().map(|w| w.label).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let cat = &worst[0];
        assert_eq!(cat.class, "cat");
        let shown: Vec<(u8, u8, f64)> = cat.pairs.iter().map(|p| (p.first[0], p.second[0], p.score)).collect();
        assert_eq!(shown, [(24, 26, 0.58), (18, 20, 0.56), (12, 14, 0.54)]);
        assert!(cat.pairs.iter().all(|p| !p.genuine));
        assert_eq!(worst_pairs(&data, &held_out, &scores[..19], &genuine), vec![], "not two scores a triplet");
    }

    /// An evaluation records its AUC in the history (replacing one after the same epochs) and
    /// carries the scores, the labels and the gallery.
    #[test]
    fn an_evaluation_is_recorded_and_carries_its_gallery() {
        let data = numbered_images(40);
        let held_out = ten_triplets();
        // Genuine 0.60..0.69, impostors 0.0..0.9 in steps of 0.1.
        let scores: Vec<f64> =
            (0..10).map(|i| 0.6 + f64::from(i) / 100.0).chain((0..10).map(|i| f64::from(i) / 10.0)).collect();
        let labels: Vec<bool> = (0..20).map(|i| i < 10).collect();
        let summary = Verification::new(&scores, &labels).expect("scores").summary();
        let mut history = RunHistory { global_step: 42, ..RunHistory::default() };
        history.record_auc(3, 0.1);
        let scores = HeldOutScores { scores, labels, summary };
        let auc = scores.summary.auc;
        // Impostors 0.0..0.5 lose to all ten genuine pairs (60); 0.6 ties genuine 0.60 (half a
        // pair) and loses to the other nine (9.5); 0.7, 0.8, 0.9 beat all ten: AUC 69.5/100.
        assert!((auc - 0.695).abs() < 1e-12, "{auc}");
        let event = evaluation(&mut history, &data, &held_out, 3, scores);
        assert_eq!((event.epoch, event.global_step, event.auc), (3, 42, auc));
        assert_eq!(history.aucs, vec![(3, auc)], "the second evaluation after epoch 3 replaces the first");
        assert_eq!(event.gallery.len(), 12);
        assert_eq!(event.scores.len(), 20);
    }

    /// Five images: two cats close together, two dogs close together, one lone ship. Four queries
    /// count (the ship has no other member), all four find their own class first. The page's line
    /// took the lone queries off a count that had already left them out (4 - 1 = 3).
    #[test]
    fn the_retrieval_summary_counts_the_queries_that_have_a_class_mate() {
        let rows = [1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9, -1.0, -1.0];
        let found = retrieval(&rows, 2, &[0, 0, 1, 1, 2], &RetrievalConfig::default()).expect("retrieval");
        let summary = retrieval_summary(&found);
        assert_eq!((found.queries, found.lone_queries), (4, 1));
        assert_eq!(summary.queries, 4);
        assert_eq!((summary.precision_at_1, summary.r_precision, summary.map_at_r), (1.0, 1.0, 1.0));
    }

    #[test]
    fn an_exported_checkpoint_is_named_by_its_dataset_epoch_and_step() {
        let info = |dataset: &str| SavedRunInfo {
            dataset: dataset.into(),
            epochs_done: 3,
            step_in_epoch: 0,
            global_step: 420,
            epochs: 50,
            finished: false,
            saved_at_ms: 0.0,
            bytes: 1,
        };
        assert_eq!(checkpoint_file_name(&info("cifar-10")), "tripletlab-cifar-10-epoch3-step420.safetensors");
        assert_eq!(
            checkpoint_file_name(&info("synthetic-shapes (SYNTHETIC)")),
            "tripletlab-synthetic-shapes-epoch3-step420.safetensors"
        );
        assert_eq!(checkpoint_file_name(&info("my/../files")), "tripletlab-my----files-epoch3-step420.safetensors");
        assert_eq!(checkpoint_file_name(&info("")), "tripletlab-run-epoch3-step420.safetensors");
    }

    /// A stored run says how far it came and whether it is finished (by its own epoch limit); an
    /// imported checkpoint's history holds its epochs.
    #[test]
    fn a_stored_run_says_how_far_it_came() {
        let spec = RunSpec { epochs: 2, ..RunSpec::default() };
        let mut state = Schedule::new(1);
        state.record_step(0.5, 4);
        let info = saved_run_info("cifar-10", (&state, &spec), 7, 1_000, 5.0);
        let figures = (info.epochs_done, info.step_in_epoch, info.global_step, info.epochs, info.finished, info.bytes);
        assert_eq!(figures, (0, 1, 7, 2, false, 1_000));
        assert_eq!((info.dataset.as_str(), info.saved_at_ms), ("cifar-10", 5.0));
        state.close_epoch(0.3, Limits::of(&spec));
        state.close_epoch(0.2, Limits::of(&spec));
        let info = saved_run_info("cifar-10", (&state, &spec), 9, 1_000, 6.0);
        assert!(info.finished && info.epochs_done == 2 && info.step_in_epoch == 0, "{info:?}");
        let history = imported_history(&state);
        let epochs: Vec<(u32, bool)> = history.epochs.iter().map(|e| (e.epoch, e.improved)).collect();
        assert_eq!(epochs, [(1, true), (2, true)]);
        assert_eq!((history.global_step, history.steps.len()), (0, 0));
    }

    /// Pause only from running, resume only from paused, stop from any state with a run; a stale
    /// click changes nothing, and other commands do not steer.
    #[test]
    fn the_visitors_commands_move_the_loop_only_where_they_mean_something() {
        use LoopState::*;
        let states = [Idle, Running, PauseRequested, Paused, StopRequested];
        let after = |command: Command| states.map(|state| state.after(&command));
        assert_eq!(
            after(Command::Pause),
            [Some(Idle), Some(PauseRequested), Some(PauseRequested), Some(Paused), Some(StopRequested)]
        );
        assert_eq!(
            after(Command::Resume),
            [Some(Idle), Some(Running), Some(PauseRequested), Some(Running), Some(StopRequested)]
        );
        assert_eq!(
            after(Command::Stop),
            [Some(Idle), Some(StopRequested), Some(StopRequested), Some(StopRequested), Some(StopRequested)]
        );
        assert_eq!(after(Command::EvaluateNow), [None; 5]);
        assert_eq!(after(Command::ProbeAdapter), [None; 5]);
        assert_eq!(states.map(LoopState::has_run), [false, true, true, true, true]);
    }

    /// Each way training can fail reaches the page with a hint that says what to do.
    #[test]
    fn failures_say_what_to_do() {
        let failure = Failure::from(TrainError::NotFinite(f32::NAN));
        assert_eq!(failure.message, "the loss became NaN: lower the learning rate");
        assert_eq!(failure.hint, "Lower the learning rate and start again.");
        let failure = Failure::from(TrainError::Data(RunDataError::OtherSplit));
        assert_eq!(failure.hint, "Load the dataset the run was trained on, then resume.");
        let failure = Failure::from(TrainError::Readback("lost".into()));
        assert!(failure.hint.starts_with("The device stopped answering"), "{failure:?}");
    }

    /// A step's event: its rate from the triplets and seconds, its position and figures as the
    /// core reported them.
    #[test]
    fn a_step_event_carries_the_steps_figures() {
        let report = StepReport {
            epoch: 2,
            step: 3,
            steps_per_epoch: 5,
            triplets: 64,
            loss: 0.25,
            active_fraction: 0.5,
            mean_positive_distance: 0.3,
            mean_negative_distance: 0.6,
            mined: None,
        };
        let event = step_event(&report, 8, (0.5, 12.0), Some(900), 1 << 20);
        assert_eq!((event.epoch, event.step, event.steps_per_epoch, event.global_step), (2, 3, 5, 8));
        assert_eq!((event.triplets_per_second, event.ms_per_step, event.elapsed_s), (128.0, 500.0, 12.0));
        assert_eq!(
            (event.loss, event.active_fraction, event.dispatches, event.memory_bytes),
            (0.25, 0.5, Some(900), 1 << 20)
        );
        let record = EpochRecord { epoch: 4, loss: 0.2, val_loss: 0.3, improved: true };
        assert_eq!(epoch_event(&record), EpochEvent { epoch: 4, loss: 0.2, val_loss: 0.3, improved: true });
    }
}

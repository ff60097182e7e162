//! A run's schedule, whatever it trains (the whole encoder, or fast mode's head): the epoch order
//! of the training triplets and each step's batch of it, the loss sums of the epoch, early
//! stopping and which epoch is the best so far. The model-specific part of restore-best (keeping
//! and putting back weights) is the trainer's; when to do it is decided here. The schedule is
//! what a checkpoint stores besides the weights and Adam's state (serialised as JSON, field names
//! unchanged since the first checkpoints).

use serde::{Deserialize, Serialize};

use super::{EpochRecord, TrainError};
use crate::random::SeededRng;
use crate::run::RunSpec;

/// The counters a checkpoint must carry to resume exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Epochs finished.
    pub epoch: usize,
    pub step_in_epoch: usize,
    /// This epoch's order of the training triplets (empty until the epoch's first step).
    pub order: Vec<u32>,
    pub rng: SeededRng,
    pub history: Vec<EpochRecord>,
    pub best_val_loss: Option<f64>,
    pub best_epoch: Option<usize>,
    pub epochs_without_improvement: usize,
    pub finished: bool,
    loss_sum: f64,
    loss_triplets: usize,
}

/// What closing an epoch decided.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochEnd {
    pub record: EpochRecord,
    /// The held-out loss is the best so far: keep these weights for restore-best.
    pub keep_best: bool,
    /// The run is over (patience or the epoch limit): put the kept weights back.
    pub restore_best: bool,
}

/// The batch size and epoch limits a schedule runs under (from the run's description).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub batch_size: usize,
    pub epochs: usize,
    pub patience: usize,
}

impl Limits {
    /// The run's limits.
    pub fn of(spec: &RunSpec) -> Self {
        Self { batch_size: spec.batch_size, epochs: spec.epochs, patience: spec.patience }
    }

    /// Steps in an epoch of `train` triplets (the last batch may be short).
    pub fn steps_per_epoch(&self, train: usize) -> usize {
        train.div_ceil(self.batch_size.max(1))
    }
}

impl Schedule {
    /// A new run's schedule: its random numbers (epoch orders, augmentation, mining) from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            epoch: 0,
            step_in_epoch: 0,
            order: Vec::new(),
            rng: SeededRng::new(seed),
            history: Vec::new(),
            best_val_loss: None,
            best_epoch: None,
            epochs_without_improvement: 0,
            finished: false,
            loss_sum: 0.0,
            loss_triplets: 0,
        }
    }

    /// Whether early stopping or the epoch limit ended the run.
    pub fn is_finished(&self, limits: Limits) -> bool {
        self.finished || self.epoch >= limits.epochs
    }

    /// Whether the current epoch's steps are all done (close it with [`Self::close_epoch`]).
    pub fn epoch_done(&self, limits: Limits, train: usize) -> bool {
        self.step_in_epoch >= limits.steps_per_epoch(train)
    }

    /// The positions in `0..train` of the next step's triplets: the epoch's order is drawn on its
    /// first step (a permutation from the run's random numbers), then cut into batches.
    pub fn next_batch(&mut self, limits: Limits, train: usize) -> Result<Vec<u32>, TrainError> {
        if train == 0 {
            return Err(TrainError::NoTriplets);
        }
        if self.order.len() != train {
            self.order = (0..train as u32).collect();
            self.rng.shuffle(&mut self.order);
        }
        let batch = limits.batch_size.max(1);
        let start = self.step_in_epoch * batch;
        if start >= train {
            return Err(TrainError::EpochComplete);
        }
        Ok(self.order[start..(start + batch).min(train)].to_vec())
    }

    /// Count a step that trained on `triplets` with mean loss `loss`; its (1-based epoch, step).
    pub fn record_step(&mut self, loss: f32, triplets: usize) -> (usize, usize) {
        self.step_in_epoch += 1;
        self.loss_sum += f64::from(loss) * triplets as f64;
        self.loss_triplets += triplets;
        (self.epoch + 1, self.step_in_epoch)
    }

    /// Close the epoch with its held-out loss: the epoch's record (its mean training loss over the
    /// triplets it trained on), whether it is the best so far (never when the loss is not finite),
    /// and whether the run stops here (patience or the epoch limit). The next epoch draws a new
    /// order.
    pub fn close_epoch(&mut self, val_loss: f64, limits: Limits) -> EpochEnd {
        let loss = self.loss_sum / self.loss_triplets.max(1) as f64;
        let improved = is_improvement(val_loss, self.best_val_loss);
        self.epoch += 1;
        if improved {
            self.best_val_loss = Some(val_loss);
            self.best_epoch = Some(self.epoch);
            self.epochs_without_improvement = 0;
        } else {
            self.epochs_without_improvement += 1;
        }
        let record = EpochRecord { epoch: self.epoch, loss, val_loss, improved };
        self.history.push(record.clone());
        self.step_in_epoch = 0;
        self.order.clear();
        self.loss_sum = 0.0;
        self.loss_triplets = 0;
        let out_of_patience = self.epochs_without_improvement >= limits.patience.max(1);
        let stops = out_of_patience || self.epoch >= limits.epochs;
        if stops {
            self.finished = true;
        }
        EpochEnd { record, keep_best: improved, restore_best: stops }
    }
}

/// Whether a held-out loss beats the best so far: never when it is not finite (a NaN loss must
/// not become the "best" weights restored at the end).
pub(crate) fn is_improvement(val_loss: f64, best: Option<f64>) -> bool {
    val_loss.is_finite() && best.is_none_or(|best| val_loss < best)
}

#[cfg(test)]
mod tests {
    use super::{Limits, Schedule, is_improvement};
    use crate::train::TrainError;

    const LIMITS: Limits = Limits { batch_size: 4, epochs: 5, patience: 2 };

    /// Ten triplets in batches of four: three steps (4, 4, 2), every triplet once an epoch, then
    /// the epoch is complete until it is closed; the next epoch draws another order.
    #[test]
    fn an_epoch_covers_every_triplet_once_in_batches() {
        let mut schedule = Schedule::new(7);
        assert_eq!(LIMITS.steps_per_epoch(10), 3);
        let mut seen = Vec::new();
        for expected in [4, 4, 2] {
            let batch = schedule.next_batch(LIMITS, 10).expect("a batch");
            assert_eq!(batch.len(), expected);
            seen.extend(batch);
            schedule.record_step(0.5, expected);
        }
        let first_order = schedule.order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<u32>>());
        assert!(schedule.epoch_done(LIMITS, 10));
        assert!(matches!(schedule.next_batch(LIMITS, 10), Err(TrainError::EpochComplete)));
        schedule.close_epoch(1.0, LIMITS);
        assert!(schedule.order.is_empty(), "the next epoch draws its own order");
        schedule.next_batch(LIMITS, 10).expect("a batch");
        assert_ne!(schedule.order, first_order, "a new permutation (seed 7)");
        assert!(matches!(Schedule::new(7).next_batch(LIMITS, 0), Err(TrainError::NoTriplets)));
    }

    /// A new run is neither finished nor at the end of an epoch; the epoch limit alone finishes a
    /// run (5 of 5), one epoch short does not; an epoch is done after its last step, not before.
    #[test]
    fn finished_and_epoch_done_are_exact_at_their_limits() {
        let schedule = Schedule::new(1);
        assert!(!schedule.is_finished(LIMITS));
        assert!(!schedule.epoch_done(LIMITS, 10));
        let at_the_limit = Schedule { epoch: 5, ..Schedule::new(1) };
        assert!(at_the_limit.is_finished(LIMITS) && !at_the_limit.finished, "epoch 5 of 5");
        assert!(!Schedule { epoch: 4, ..Schedule::new(1) }.is_finished(LIMITS), "epoch 4 of 5");
        assert!(Schedule { finished: true, ..Schedule::new(1) }.is_finished(LIMITS), "stopped early");
        let mut schedule = Schedule::new(1);
        for step in 1..=3 {
            assert!(!schedule.epoch_done(LIMITS, 10), "before step {step} of 3");
            schedule.record_step(0.1, 4);
        }
        assert!(schedule.epoch_done(LIMITS, 10), "after step 3 of 3");
        assert!(!schedule.epoch_done(LIMITS, 13), "13 triplets make 4 steps");
    }

    /// The epoch's loss is the mean over its triplets (a short last batch weighs less): (0.5 x 4 +
    /// 0.2 x 4 + 0.8 x 2) / 10 = 0.44.
    #[test]
    fn the_epoch_loss_is_the_mean_over_its_triplets() {
        let mut schedule = Schedule::new(1);
        assert_eq!(schedule.record_step(0.5, 4), (1, 1));
        assert_eq!(schedule.record_step(0.2, 4), (1, 2));
        assert_eq!(schedule.record_step(0.8, 2), (1, 3));
        let end = schedule.close_epoch(0.3, LIMITS);
        assert!((end.record.loss - 0.44).abs() < 1e-7, "{end:?}");
        assert_eq!((end.record.epoch, end.record.val_loss), (1, 0.3));
        // The sums start again: an epoch of one step at 0.1 has loss 0.1.
        schedule.record_step(0.1, 3);
        assert!((schedule.close_epoch(0.3, LIMITS).record.loss - 0.1).abs() < 1e-7);
    }

    /// Patience 2: val losses 0.5, 0.4 (best), 0.45, 0.41 stop the run after epoch 4, restoring
    /// epoch 2; a NaN is never the best; the epoch limit stops a run that keeps improving.
    #[test]
    fn early_stopping_keeps_and_restores_the_best_epoch() {
        let mut schedule = Schedule::new(1);
        let ends: Vec<_> = [0.5, 0.4, 0.45, 0.41].into_iter().map(|v| schedule.close_epoch(v, LIMITS)).collect();
        let kept: Vec<bool> = ends.iter().map(|end| end.keep_best).collect();
        assert_eq!(kept, [true, true, false, false]);
        let restored: Vec<bool> = ends.iter().map(|end| end.restore_best).collect();
        assert_eq!(restored, [false, false, false, true]);
        assert_eq!((schedule.best_epoch, schedule.best_val_loss), (Some(2), Some(0.4)));
        assert!(schedule.is_finished(LIMITS) && schedule.finished);
        assert_eq!(schedule.history.len(), 4);

        let mut schedule = Schedule::new(1);
        assert!(!schedule.close_epoch(f64::NAN, LIMITS).keep_best, "NaN is never the best");
        assert!(schedule.close_epoch(0.9, LIMITS).keep_best, "then the first finite loss is");
        assert_eq!(schedule.best_epoch, Some(2));

        let mut schedule = Schedule::new(1);
        let limit = Limits { epochs: 3, ..LIMITS };
        let ends: Vec<_> = [0.5, 0.4, 0.3].into_iter().map(|v| schedule.close_epoch(v, limit)).collect();
        assert_eq!(ends.iter().map(|e| e.restore_best).collect::<Vec<_>>(), [false, false, true]);
        assert!(ends[2].keep_best, "the last epoch may itself be the best");
        // Patience 0 is read as 1: one epoch without improvement stops the run.
        let mut schedule = Schedule::new(1);
        let impatient = Limits { patience: 0, ..LIMITS };
        schedule.close_epoch(0.5, impatient);
        assert!(schedule.close_epoch(0.6, impatient).restore_best);
    }

    /// A checkpoint written before the schedule had its own type reads back the same.
    #[test]
    fn the_stored_form_is_the_checkpoints_trainer_state() {
        let mut schedule = Schedule::new(3);
        schedule.next_batch(LIMITS, 6).expect("a batch");
        schedule.record_step(0.25, 4);
        let json = serde_json::to_value(&schedule).expect("json");
        let keys: Vec<&str> = json.as_object().expect("an object").keys().map(String::as_str).collect();
        let mut expected = [
            "best_epoch",
            "best_val_loss",
            "epoch",
            "epochs_without_improvement",
            "finished",
            "history",
            "loss_sum",
            "loss_triplets",
            "order",
            "rng",
            "step_in_epoch",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        let back: Schedule = serde_json::from_value(json).expect("read back");
        assert_eq!(back, schedule);
    }

    #[test]
    fn a_non_finite_held_out_loss_is_never_an_improvement() {
        assert!(is_improvement(0.3, None));
        assert!(is_improvement(0.2, Some(0.3)));
        assert!(!is_improvement(0.3, Some(0.3)));
        assert!(!is_improvement(f64::NAN, None));
        assert!(!is_improvement(f64::NAN, Some(0.3)));
        assert!(!is_improvement(f64::INFINITY, None));
    }
}

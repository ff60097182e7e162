//! Training parity with the tutorial's own Keras code, step by step (fixture made by
//! `tools/make_keras_training_fixture.py`, TensorFlow 2.21 / Keras 3.15).
//!
//! Keras trained the tutorial's model (one MobileNetV2 called on anchor, positive and negative,
//! the cosine triplet loss with margin 0.4, the batch mean, Adam 1e-4) from the shipped weights on
//! fixed batches of real CIFAR-10 and synthetic images, in a fixed order, in float64. Our trainer
//! gets the identical batches in the identical order, and this test compares, in order:
//!
//! 1. the held-out loss in inference mode before training (the forward pass and the loss);
//! 2. each step's training loss (training mode: BatchNorm on each branch's batch statistics) and
//!    the held-out loss in inference mode after it;
//! 3. after step 1 and after step 2, layer by layer in the model's order: every BatchNorm gamma,
//!    beta, moving mean and moving variance, every tensor of at most 4,096 elements and Adam's
//!    moments of every BatchNorm vector, element by element; larger kernels and their moments at
//!    256 evenly spaced elements; and every tensor's signed sum and sum of squares.
//!
//! Each quantity's limit is Keras' own spread for it, measured by the fixture script: how far the
//! same steps land in Keras from weights perturbed by float32's rounding (four runs) and in
//! TensorFlow's float32 (one run, float32 arithmetic throughout, as ours is). Ours may be
//! [`SPREADS`] times that spread away, plus float32's rounding of the value itself; a quantity
//! whose spread is zero (the shipped weights' untouched values) is held to rounding alone.
//!
//! The first quantity out of its limit fails the test, named, with its spread.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::Device;
use serde::Deserialize;
use tripletlab_core::data::triplets::Triplet;
use tripletlab_core::data::{Batch, Dataset};
use tripletlab_core::model::MobileNetV2;
use tripletlab_core::model::safetensors::TensorFile;
use tripletlab_core::model::weights::{self, named_id};
use tripletlab_core::optim::AdamSettings;
use tripletlab_core::run::RunSpec;
use tripletlab_core::train::Trainer;

/// How many times Keras' own spread ours may be from the float64 reference.
const SPREADS: f64 = 4.0;
/// Float32's rounding of a value (2^-23 relative), twice: ours and the fixture's stored copy.
const F32_RELATIVE: f64 = 2.4e-7;
/// Under this, relative to its tensor's largest value, an element is at rounding level (a
/// gradient whose true value is zero, e.g. the BatchNorm beta of every "project" layer, which
/// the next BatchNorm makes shift-free: float64 gives ~1e-17, float32 ~1e-7 of noise): it is held
/// to this floor, not to its own spread.
const ROUNDING_LEVEL: f64 = 1e-4;
/// A zero gradient's Adam moments in float32: noise under these (measured: ~5e-9 and ~1e-18).
const NOISE_M: f64 = 1e-6;
const NOISE_V: f64 = 1e-12;
/// A weight whose Keras first moment is under this fraction of its tensor's largest has a
/// gradient at rounding level.
const COIN_FLIP: f64 = 1e-3;
/// After step 2, the share of quantities that may lie past their limits. Measured: 0.27% (741 of
/// 278,610), in the top layers' moments (blocks 16 and the head, where the step's 4-triplet batch
/// normalises 4 values a channel at 1 x 1) and weights whose step-1 update was a coin flip. Our
/// own runs from weights perturbed by 1e-7 land inside Keras' spread there (head.norm.gamma's
/// first moment [5]: Keras -7.09e-4; ours -1.16e-4 unperturbed, -7.17e-4, -7.16e-4, -7.07e-4
/// perturbed), so the unperturbed run is one draw of the chaos, not a different computation. A
/// step 2 that updated nothing leaves most quantities past their limits
/// (`a_second_step_that_updated_nothing_is_caught`).
const STEP_2_BEYOND: f64 = 0.005;
/// Losses: float32 sums over 1,280 channels, accumulated in another order than float64, are ~1e-6
/// apart even where Keras' own runs agree to 1e-8.
const LOSS_FLOOR: f64 = 1e-5;

#[derive(Deserialize)]
struct Fixture {
    learning_rate: f64,
    margin: f64,
    adam: AdamFixture,
    batch_norm: BatchNormFixture,
    batches: Vec<Vec<[u32; 3]>>,
    held_out: Vec<[u32; 3]>,
    step_losses: Vec<f64>,
    held_out_losses: Vec<f64>,
    spread: SpreadFixture,
    samples_per_tensor: usize,
    states: Vec<StateFixture>,
}

#[derive(Deserialize)]
struct AdamFixture {
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
}

#[derive(Deserialize)]
struct BatchNormFixture {
    momentum: f64,
    epsilon: f64,
}

/// Keras' own spread of the losses (see the module doc).
#[derive(Deserialize)]
struct SpreadFixture {
    step_losses: Vec<f64>,
    held_out_losses: Vec<f64>,
}

#[derive(Deserialize)]
struct StateFixture {
    after_step: usize,
    tensors: BTreeMap<String, TensorEntry>,
}

#[derive(Deserialize)]
struct TensorEntry {
    shape: Vec<usize>,
    offset: usize,
    count: usize,
    /// Present when only evenly spaced elements are stored.
    samples: Option<usize>,
    sum: f64,
    sum_of_squares: f64,
    spread_sum: f64,
    spread_sum_of_squares: f64,
}

/// The stored values and their spreads, at the same offsets.
struct Stored {
    values: Vec<f32>,
    spreads: Vec<f32>,
}

fn repo_file(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read(&full).unwrap_or_else(|err| panic!("{}: {err}", full.display()))
}

fn fixture_file(name: &str) -> Vec<u8> {
    repo_file(&format!("tests/fixtures/keras-training/{name}"))
}

fn triplets(list: &[[u32; 3]]) -> Vec<Triplet> {
    list.iter().map(|&[anchor, positive, negative]| Triplet { anchor, positive, negative }).collect()
}

fn load() -> (Fixture, Dataset, Stored) {
    let fixture: Fixture = serde_json::from_slice(&fixture_file("fixture.json")).expect("fixture.json");
    let batch = Batch::parse("images.bin", &fixture_file("images.bin")).expect("CIFAR-10 records");
    let names = (0..10).map(|class| format!("class {class}")).collect();
    let data = Dataset::from_batches("keras-training", false, names, [batch]);
    let floats = |name: &str| -> Vec<f32> {
        fixture_file(name).chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
    };
    let stored = Stored { values: floats("tensors.f32"), spreads: floats("spread.f32") };
    assert_eq!(stored.values.len(), stored.spreads.len(), "a spread for every stored value");
    (fixture, data, stored)
}

/// The trainer as the Keras fixture was made: the recipe with its batch size; `mutate` changes
/// the run before it starts (the tests that show the comparison can fail).
fn trainer(fixture: &Fixture, batch_size: usize, mutate: &dyn Fn(&mut RunSpec)) -> Trainer {
    let device = Device::flex();
    let mut config = RunSpec {
        learning_rate: fixture.learning_rate,
        batch_size,
        adam: AdamSettings { beta_1: fixture.adam.beta_1, beta_2: fixture.adam.beta_2, epsilon: fixture.adam.epsilon },
        ..RunSpec::tutorial()
    };
    assert_eq!(config.loss.margin, fixture.margin, "the recipe's margin");
    assert_eq!(config.model.bn_momentum, fixture.batch_norm.momentum, "Keras' BatchNorm momentum");
    mutate(&mut config);
    assert_eq!(tripletlab_core::model::mobilenetv2::BN_EPSILON, fixture.batch_norm.epsilon);
    let model: MobileNetV2 = weights::load(
        "mobilenetv2_1.0.safetensors",
        &repo_file("../../public/weights/mobilenetv2_1.0.safetensors"),
        &config.model,
        &device,
    )
    .expect("shipped weights");
    Trainer::new(model, config, &device)
}

/// What the comparison of one stored state found.
#[derive(Default)]
struct Tally {
    /// Elements and sums compared, and those past their limits (named, in order).
    compared: usize,
    beyond: Vec<String>,
    /// The compared quantity closest to its limit (or furthest past it): (|diff| / limit,
    /// |diff| / Keras' spread, what).
    worst: (f64, f64, String),
}

impl Tally {
    /// `|ours - keras|` against its limit: [`SPREADS`] times Keras' spread plus `floor`.
    fn check(&mut self, what: impl Fn() -> String, ours: f64, keras: f64, spread: f64, floor: f64) {
        let diff = (ours - keras).abs();
        let limit = SPREADS * spread + floor;
        let ratio = diff / limit;
        self.compared += 1;
        if ratio > self.worst.0 {
            let spreads = if spread > 0.0 { diff / spread } else { f64::INFINITY };
            self.worst = (ratio, spreads, what());
        }
        if ratio > 1.0 {
            self.beyond.push(format!(
                "{}: ours {ours:e}, Keras {keras:e} (|diff| {diff:e}; Keras' spread {spread:e}, limit {limit:e})",
                what()
            ));
        }
    }
}

/// Compare our tensor with the fixture's entry, element by element and by its sums.
/// `moment` is Keras' first moment of the same tensor (for a weight): where it is at rounding level
/// the gradient's sign is a coin flip of the arithmetic, and Adam moves the weight by up to the
/// learning rate either way.
fn compare(
    name: &str,
    ours: &[f32],
    entry: &TensorEntry,
    stored: &Stored,
    moment: Option<&TensorEntry>,
    (learning_rate, steps): (f64, usize),
    tally: &mut Tally,
) {
    let count: usize = entry.shape.iter().product();
    if ours.len() != count {
        tally.beyond.push(format!("{name}: {} values, Keras has {count} (shape {:?})", ours.len(), entry.shape));
        return;
    }
    let values = &stored.values[entry.offset..entry.offset + entry.count];
    let spreads = &stored.spreads[entry.offset..entry.offset + entry.count];
    let positions: Vec<usize> = match entry.samples {
        Some(samples) => (0..samples).map(|i| i * count / samples).collect(),
        None => (0..count).collect(),
    };
    let keras_max = values.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max);
    // A BatchNorm beta whose gradient is exactly zero (see ROUNDING_LEVEL): its moments are
    // float32 noise, and Adam moves it by at most the learning rate a step, whichever way.
    if name.ends_with("project.norm.beta") {
        for ((&at, &want), &spread) in positions.iter().zip(values).zip(spreads) {
            let (got, want, spread) = (f64::from(ours[at]), f64::from(want), f64::from(spread));
            // After step 1 Keras' own runs keep these moments at noise; after step 2 they do not
            // (Keras' spread there is ~1e-4): its spread is the limit then.
            let what = || format!("{name}[{at}] (a zero gradient)");
            match name.split('.').nth(1).filter(|_| name.starts_with("adam.")) {
                Some("m") => tally.check(what, got, want, spread, NOISE_M),
                Some(_) => tally.check(what, got, want, spread, NOISE_V),
                None => tally.check(what, got, want, spread, learning_rate * steps as f64 + F32_RELATIVE * want.abs()),
            }
        }
        return;
    }
    let moments = moment.map(|m| {
        let stored_m = &stored.values[m.offset..m.offset + m.count];
        let largest = stored_m.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max);
        (stored_m, largest)
    });
    for (i, ((&at, &want), &spread)) in positions.iter().zip(values).zip(spreads).enumerate() {
        let (got, want, spread) = (f64::from(ours[at]), f64::from(want), f64::from(spread));
        let mut floor = F32_RELATIVE * want.abs() + ROUNDING_LEVEL * keras_max;
        if let Some((stored_m, largest)) = moments
            && f64::from(stored_m[i].abs()) < COIN_FLIP * largest
        {
            floor += 2.0 * learning_rate * steps as f64;
        }
        tally.check(|| format!("{name}[{at}]"), got, want, spread, floor);
    }
    // The whole tensor: its signed sum and its sum of squares, against their own spreads, with
    // the elements' floors added as independent errors (sqrt(n) of them).
    let sum: f64 = ours.iter().map(|&v| f64::from(v)).sum();
    let squares: f64 = ours.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let element_floor = (count as f64).sqrt() * ROUNDING_LEVEL * keras_max;
    let rms = (entry.sum_of_squares / count as f64).sqrt();
    tally.check(
        || format!("{name} sum"),
        sum,
        entry.sum,
        entry.spread_sum,
        element_floor + F32_RELATIVE * rms * count as f64,
    );
    tally.check(
        || format!("{name} sum of squares"),
        squares,
        entry.sum_of_squares,
        entry.spread_sum_of_squares,
        2.0 * rms * element_floor + 2.0 * F32_RELATIVE * entry.sum_of_squares,
    );
}

#[test]
fn training_steps_match_keras() {
    let problems = differences_from_keras(&|_| {});
    assert!(
        problems.is_empty(),
        "{} differences from Keras; the first: {}\nall:\n{}",
        problems.len(),
        problems[0],
        problems.join("\n")
    );
}

/// The comparison can fail, and says where first: with Keras' BatchNorm momentum 0.99 instead of
/// its 0.999 (a moving statistic updated ten times too fast, the bug burn's momentum convention
/// invites), the held-out loss after step 1 is the first difference (0.285464 against 0.291473:
/// the held-out pass reads the moving statistics) and 106 quantities differ in all.
#[test]
fn a_wrong_batchnorm_momentum_is_caught_at_the_first_held_out_loss() {
    let problems = differences_from_keras(&|run| run.model.bn_momentum = 0.99);
    assert!(problems.len() > 50, "{} differences: {}", problems.len(), problems.join("\n"));
    assert!(problems[0].starts_with("held-out loss after step 1: 0.285"), "the first: {}", problems[0]);
    assert!(
        problems.iter().any(|p| p.contains("running_mean") || p.contains("running_var")),
        "the moving statistics differ"
    );
}

/// The step-2 comparison can tell a second step that updated nothing: our state after step 1,
/// held against Keras' state after step 2, is past its limits in most quantities (the moments
/// and every weight the second step moved).
#[test]
fn a_second_step_that_updated_nothing_is_caught() {
    let (fixture, data, stored) = load();
    let mut trainer = trainer(&fixture, 8, &|_| {});
    pollster::block_on(trainer.train_batch(&data, &triplets(&fixture.batches[0]), 2)).expect("step 1");
    let mut file = TensorFile::parse("checkpoint", &pollster::block_on(trainer.checkpoint()).expect("checkpoint"))
        .expect("parses");
    // Keras' step-2 state is compared as a second step's (Adam's step count says which).
    file.metadata.insert("adam.step".into(), "2".into());
    let unchanged = file.to_bytes().expect("writes");
    let names = weights::tensor_names(&trainer.inference_model());
    let state = fixture.states.iter().find(|state| state.after_step == 2).expect("the state after step 2");
    let tally = tally_state(&unchanged, state, &names, &stored, fixture.learning_rate);
    let beyond = tally.beyond.len() as f64 / tally.compared as f64;
    println!("step 1's state as step 2's: {:.1}% of {} quantities beyond their limits", 100.0 * beyond, tally.compared);
    assert!(beyond > 10.0 * STEP_2_BEYOND, "only {:.2}% beyond", 100.0 * beyond);
}

/// Our checkpoint against one stored Keras state, every stored quantity.
fn tally_state(
    checkpoint: &[u8],
    state: &StateFixture,
    names: &[String],
    stored: &Stored,
    learning_rate: f64,
) -> Tally {
    let file = TensorFile::parse("checkpoint", checkpoint).expect("checkpoint parses");
    let steps: usize = file.metadata.get("adam.step").and_then(|step| step.parse().ok()).expect("adam.step");
    let mut tally = Tally::default();
    for name in names {
        let mut pairs = vec![(name.clone(), name.clone())];
        if !name.ends_with("running_mean") && !name.ends_with("running_var") {
            let id = named_id(name).val();
            pairs.push((format!("adam.m.{name}"), format!("adam.m.{id}")));
            pairs.push((format!("adam.v.{name}"), format!("adam.v.{id}")));
        }
        for (keras_name, our_name) in pairs {
            let entry = state.tensors.get(&keras_name).unwrap_or_else(|| panic!("fixture lacks {keras_name}"));
            let ours = &file.tensors.get(&our_name).unwrap_or_else(|| panic!("checkpoint lacks {our_name}")).values;
            let moment = (!keras_name.starts_with("adam."))
                .then(|| state.tensors.get(&format!("adam.m.{keras_name}")))
                .flatten();
            compare(&keras_name, ours, entry, stored, moment, (learning_rate, steps), &mut tally);
        }
    }
    let stored_tensors = state.tensors.len();
    let named = names.len() * 3
        - names.iter().filter(|n| n.ends_with("running_mean") || n.ends_with("running_var")).count() * 2;
    assert_eq!(stored_tensors, named, "every stored tensor compared");
    tally
}

/// Train the fixture's steps with the recipe (changed by `mutate`) and compare every loss and the
/// state after each stored step with Keras': each difference past its limit, in order.
fn differences_from_keras(mutate: &dyn Fn(&mut RunSpec)) -> Vec<String> {
    let (fixture, data, stored) = load();
    let batch_size = fixture.batches.iter().map(Vec::len).max().expect("batches");
    let mut trainer = trainer(&fixture, batch_size, mutate);
    let held_out = triplets(&fixture.held_out);
    let steps = fixture.batches.len();

    let mut problems = Vec::new();
    let mut check_loss = |what: String, ours: f64, keras: f64, spread: f64| {
        let diff = (ours - keras).abs();
        println!(
            "{what}: ours {ours:.7}, Keras {keras:.7}, Keras' spread {spread:.1e} (ours {:.1} spreads away)",
            diff / spread
        );
        if diff > SPREADS * spread + LOSS_FLOOR {
            problems.push(format!("{what}: {ours} vs Keras {keras} (Keras' spread {spread:e})"));
        }
    };
    let before = pollster::block_on(trainer.held_out_loss(&data, &held_out)).expect("held-out loss");
    check_loss(
        "held-out loss before training".into(),
        before,
        fixture.held_out_losses[0],
        fixture.spread.held_out_losses[0],
    );
    let mut states = Vec::new();
    for (at, batch) in fixture.batches.iter().enumerate() {
        let report = pollster::block_on(trainer.train_batch(&data, &triplets(batch), steps)).expect("step");
        let val = pollster::block_on(trainer.held_out_loss(&data, &held_out)).expect("held-out loss");
        let step = at + 1;
        check_loss(
            format!("step {step} training loss"),
            f64::from(report.loss),
            fixture.step_losses[at],
            fixture.spread.step_losses[at],
        );
        check_loss(
            format!("held-out loss after step {step}"),
            val,
            fixture.held_out_losses[step],
            fixture.spread.held_out_losses[step],
        );
        if fixture.states.iter().any(|state| state.after_step == step) {
            states.push((step, pollster::block_on(trainer.checkpoint()).expect("checkpoint")));
        }
    }
    assert_eq!(states.len(), fixture.states.len(), "a checkpoint for every stored state");
    assert_eq!(fixture.samples_per_tensor, 256);

    let names = weights::tensor_names(&trainer.inference_model());
    for ((step, checkpoint), state) in states.iter().zip(&fixture.states) {
        assert_eq!(*step, state.after_step);
        let tally = tally_state(checkpoint, state, &names, &stored, fixture.learning_rate);
        let beyond = tally.beyond.len() as f64 / tally.compared as f64;
        let (ratio, spreads, what) = &tally.worst;
        println!(
            "after step {step}: {} of {} quantities within their limits ({:.2}% beyond); the furthest: {what} at {ratio:.2} of its limit ({spreads:.1} spreads)",
            tally.compared - tally.beyond.len(),
            tally.compared,
            100.0 * beyond
        );
        for line in tally.beyond.iter().take(10) {
            println!("  beyond: {line}");
        }
        if *step == 1 {
            problems.extend(tally.beyond.iter().map(|p| format!("after step 1: {p}")));
        } else if beyond > STEP_2_BEYOND {
            problems.push(format!(
                "after step {step}: {:.2}% of {} quantities beyond their limits (at most {:.1}%); the first: {}",
                100.0 * beyond,
                tally.compared,
                100.0 * STEP_2_BEYOND,
                tally.beyond[0]
            ));
        }
    }
    problems
}

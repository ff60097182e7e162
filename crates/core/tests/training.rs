//! The trainer on the synthetic dataset: it learns, it stops early, and a checkpoint resumes to
//! the same result as an uninterrupted run.

use burn::tensor::Device;
use tripletlab_core::data::triplets::{TripletConfig, TripletSet};
use tripletlab_core::data::{Dataset, synthetic};
use tripletlab_core::model::MobileNetV2Config;
use tripletlab_core::train::{Trainer, TrainerConfig};

fn synthetic_data(images: usize) -> (Dataset, TripletSet) {
    let batch = synthetic::batch(11, images);
    let names = synthetic::CLASS_NAMES.iter().map(|name| name.to_string()).collect();
    let data = Dataset::from_batches(synthetic::NAME, true, names, [batch]);
    let config = TripletConfig { held_out_fraction: 0.1, ..TripletConfig::default() };
    let triplets = TripletSet::build(&data.labels, &config).expect("triplets");
    (data, triplets)
}

fn small_config() -> TrainerConfig {
    TrainerConfig {
        learning_rate: 3e-3,
        batch_size: 32,
        epochs: 6,
        patience: 6,
        model: MobileNetV2Config { width: 0.35, bn_momentum: 0.9 },
        ..TrainerConfig::default()
    }
}

fn new_trainer(config: &TrainerConfig) -> Trainer {
    let device = Device::flex();
    let model =
        tripletlab_core::model::weights::seeded_init(&config.model, config.seed, &device).expect("seeded weights");
    Trainer::new(model, config.clone(), &device)
}

#[test]
fn learns_the_synthetic_shapes() {
    let (data, triplets) = synthetic_data(2_000);
    let mut trainer = new_trainer(&small_config());
    let before = pollster::block_on(trainer.held_out_loss(&data, &triplets.held_out)).expect("loss");
    let auc_before =
        pollster::block_on(trainer.held_out_scores(&data, &triplets.held_out)).expect("scores").summary.auc;
    let mut records = Vec::new();
    while !trainer.is_finished() {
        while !trainer.epoch_done(triplets.train.len()) {
            let step = pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
            assert!(step.loss.is_finite() && (0.0..=1.0).contains(&step.active_fraction));
        }
        records.push(pollster::block_on(trainer.end_epoch(&data, &triplets.held_out)).expect("epoch"));
    }
    let scores = pollster::block_on(trainer.held_out_scores(&data, &triplets.held_out)).expect("scores");
    let best = records.iter().map(|r| r.val_loss).fold(f64::INFINITY, f64::min);
    println!(
        "held-out loss {before:.4} -> best {best:.4}; AUC {auc_before:.3} -> {:.3}; epochs {records:?}",
        scores.summary.auc
    );
    assert!(best < before * 0.8, "held-out loss {before} -> {best}");
    assert!(scores.summary.auc > 0.75, "held-out AUC {}", scores.summary.auc);
    assert_eq!(scores.scores.len(), 2 * triplets.held_out.len());
}

#[test]
fn a_checkpoint_resumes_to_the_same_result() {
    let (data, triplets) = synthetic_data(600);
    let config = TrainerConfig { epochs: 2, patience: 2, ..small_config() };
    let steps = |trainer: &mut Trainer, count: usize| {
        (0..count)
            .map(|_| pollster::block_on(trainer.step(&data, &triplets.train)).expect("step").loss)
            .collect::<Vec<f32>>()
    };
    let per_epoch = new_trainer(&config).steps_per_epoch(triplets.train.len());
    assert!(per_epoch >= 4, "{per_epoch}");

    let mut straight = new_trainer(&config);
    let first_half = steps(&mut straight, 3);
    let straight_rest = steps(&mut straight, per_epoch - 3);
    let straight_epoch = pollster::block_on(straight.end_epoch(&data, &triplets.held_out)).expect("epoch");

    let mut interrupted = new_trainer(&config);
    assert_eq!(steps(&mut interrupted, 3), first_half);
    let bytes = pollster::block_on(interrupted.checkpoint()).expect("checkpoint");
    drop(interrupted);
    let mut resumed = Trainer::resume("checkpoint", &bytes, &Device::flex()).expect("resumes");
    let resumed_rest = steps(&mut resumed, per_epoch - 3);
    let resumed_epoch = pollster::block_on(resumed.end_epoch(&data, &triplets.held_out)).expect("epoch");

    for (a, b) in straight_rest.iter().zip(&resumed_rest) {
        assert!((a - b).abs() < 1e-5, "{straight_rest:?} vs {resumed_rest:?}");
    }
    assert!((straight_epoch.val_loss - resumed_epoch.val_loss).abs() < 1e-5, "{straight_epoch:?} vs {resumed_epoch:?}");
    assert!((straight_epoch.loss - resumed_epoch.loss).abs() < 1e-5);
}

#[test]
fn a_damaged_checkpoint_is_an_error() {
    let config = small_config();
    let trainer = new_trainer(&config);
    let bytes = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
    assert!(Trainer::resume("c", &bytes[..bytes.len() / 3], &Device::flex()).is_err());
    let weights_only =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../public/weights/mobilenetv2_1.0.safetensors"))
            .expect("weights");
    let err = Trainer::resume("w.safetensors", &weights_only, &Device::flex()).err().expect("not a checkpoint");
    assert!(err.to_string().contains("not a Triplet Lab checkpoint"), "{err}");
}

/// Online mining (semi-hard, P = 10 classes x K = 4 images) learns the synthetic shapes too, and
/// every step reports the counts a P x K batch must have: n = 40 images, n (K - 1) (n - K) = 4,320
/// valid triplets, one mined per anchor-positive pair: n (K - 1) = 120.
#[test]
fn semi_hard_mining_learns_with_the_counts_a_pk_batch_has() {
    use tripletlab_core::mining::{Mining, MiningConfig};
    let (data, triplets) = synthetic_data(2_000);
    let config = TrainerConfig {
        mining: Some(MiningConfig { strategy: Mining::SemiHard, classes: 10, per_class: 4 }),
        ..small_config()
    };
    let mut trainer = new_trainer(&config);
    let auc_before =
        pollster::block_on(trainer.held_out_scores(&data, &triplets.held_out)).expect("scores").summary.auc;
    while !trainer.is_finished() {
        while !trainer.epoch_done(triplets.train.len()) {
            let step = pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
            let mined = step.mined.expect("mined counts");
            assert_eq!((mined.valid, mined.mined, step.triplets), (4_320, 120, 120), "{step:?}");
            assert!(mined.active <= mined.valid && step.loss.is_finite());
        }
        pollster::block_on(trainer.end_epoch(&data, &triplets.held_out)).expect("epoch");
    }
    let auc = pollster::block_on(trainer.held_out_scores(&data, &triplets.held_out)).expect("scores").summary.auc;
    println!("semi-hard: held-out AUC {auc_before:.3} -> {auc:.3}");
    assert!(auc > auc_before + 0.05 && auc > 0.7, "AUC {auc_before} -> {auc}");
}

/// The mining distance matrix agrees with the loss's row-wise distances, for both distances.
#[test]
fn pairwise_distances_match_the_row_wise_ones() {
    use burn::tensor::{Tensor, TensorData};
    use tripletlab_core::loss::Distance;
    let device = Device::flex();
    let values: Vec<f32> = (0..4 * 3).map(|i| ((i * 7 % 5) as f32) - 1.5).collect();
    let x = Tensor::<2>::from_data(TensorData::new(values.clone(), [4, 3]), &device);
    for distance in [Distance::Cosine, Distance::Euclidean] {
        let matrix = distance.pairwise(x.clone()).into_data().try_into_vec::<f32>().expect("f32");
        for i in 0..4 {
            for j in 0..4 {
                let row = |k: usize| {
                    Tensor::<2>::from_data(TensorData::new(values[k * 3..k * 3 + 3].to_vec(), [1, 3]), &device)
                };
                let expected = distance.between(row(i), row(j)).into_data().try_into_vec::<f32>().expect("f32")[0];
                let tolerance = if i == j { 1e-3 } else { 1e-5 };
                assert!(
                    (matrix[i * 4 + j] - expected).abs() < tolerance,
                    "{distance:?} ({i},{j}): {} vs {expected}",
                    matrix[i * 4 + j]
                );
            }
        }
    }
}

/// Fast mode: the frozen pretrained backbone's features are computed once and only a linear head
/// trains on them: its training loss falls epoch over epoch and the held-out AUC rises.
#[test]
fn fast_mode_trains_a_head_on_frozen_features() {
    use tripletlab_core::head::{Features, HeadConfig, HeadTrainer};
    let (data, triplets) = synthetic_data(1_000);
    let config = TrainerConfig::default();
    let device = Device::flex();
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../public/weights/mobilenetv2_1.0.safetensors"))
        .expect("the shipped weights");
    let backbone = tripletlab_core::model::weights::load("mobilenetv2_1.0.safetensors", &bytes, &config.model, &device)
        .expect("weights");
    let all: Vec<_> = triplets.train.iter().chain(&triplets.held_out).copied().collect();
    let features =
        pollster::block_on(Features::embed(&backbone, &data, &all, config.scaling, 64, &device)).expect("features");
    assert_eq!(features.dims, 1280);
    let head =
        HeadConfig { learning_rate: 1e-3, batch_size: 32, epochs: 4, loss: config.loss.clone(), output: 128, seed: 5 };
    let mut trainer = HeadTrainer::new(features, head, &device);
    let before = pollster::block_on(trainer.held_out_scores(&triplets.held_out)).expect("scores").summary.auc;
    let mut losses = Vec::new();
    while !trainer.is_finished() {
        while !trainer.epoch_done(triplets.train.len()) {
            let step = pollster::block_on(trainer.step(&triplets.train)).expect("step");
            assert!(step.triplets <= 32 && step.loss.is_finite());
        }
        losses.push(pollster::block_on(trainer.end_epoch(&triplets.held_out)).expect("epoch").loss);
    }
    let after = pollster::block_on(trainer.held_out_scores(&triplets.held_out)).expect("scores").summary.auc;
    println!("fast mode: training loss by epoch {losses:?}; held-out AUC {before:.3} -> {after:.3}");
    assert!(losses[3] < losses[0], "the head's training loss falls: {losses:?}");
    assert!(after > before, "held-out AUC {before} -> {after}");
}

/// Augmentation applies to mined batches too: with flips and crops on, the same seed's first mined
/// step sees other pixels, so its loss differs from the run without (they were equal when mining
/// silently dropped augmentation).
#[test]
fn mining_augments_its_batches() {
    use tripletlab_core::data::augment::Augmentation;
    use tripletlab_core::mining::{Mining, MiningConfig};
    let (data, triplets) = synthetic_data(400);
    let mined = TrainerConfig {
        mining: Some(MiningConfig { strategy: Mining::BatchAll, classes: 5, per_class: 4 }),
        ..small_config()
    };
    let first_loss = |config: &TrainerConfig| {
        let mut trainer = new_trainer(config);
        pollster::block_on(trainer.step(&data, &triplets.train)).expect("step").loss
    };
    let plain = first_loss(&mined);
    assert_eq!(plain, first_loss(&mined), "a seeded mined step is deterministic");
    let augmented = first_loss(&TrainerConfig { augmentation: Augmentation { flip: true, crop_padding: 4 }, ..mined });
    assert_ne!(plain, augmented, "the mined batch was not augmented");
}

/// A checkpoint is outside input: an epoch order or Adam state that does not fit the model is
/// refused when it is read, by name, and never reaches a step (where it would index out of
/// bounds); an untouched one resumes and steps.
#[test]
fn crafted_checkpoints_are_refused_before_the_first_step() {
    use tripletlab_core::model::safetensors::TensorFile;
    let (data, triplets) = synthetic_data(200);
    let config = TrainerConfig { batch_size: 8, ..small_config() };
    let mut trainer = new_trainer(&config);
    pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    let bytes = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
    let device = Device::flex();
    let mut resumed = Trainer::resume("ok", &bytes, &device).expect("an untouched checkpoint resumes");
    pollster::block_on(resumed.step(&data, &triplets.train)).expect("and steps");

    let edited = |edit: &dyn Fn(&mut TensorFile)| {
        let mut file = TensorFile::parse("checkpoint", &bytes).expect("parses");
        edit(&mut file);
        Trainer::resume("crafted", &file.to_bytes(), &device).err().map(|err| err.to_string())
    };
    let order = edited(&|file| {
        let mut state: serde_json::Value = serde_json::from_str(&file.metadata["state"]).expect("state");
        state["order"][0] = serde_json::json!(1_000_000);
        file.metadata.insert("state".into(), state.to_string());
    });
    assert!(order.as_deref().is_some_and(|e| e.contains("epoch order names triplet 1000000")), "{order:?}");
    let short = edited(&|file| {
        let name = file.tensors.keys().find(|n| n.starts_with("adam.m.")).expect("moments").clone();
        let v = name.replacen("adam.m.", "adam.v.", 1);
        for key in [name, v] {
            let tensor = file.tensors.get_mut(&key).expect("moment");
            tensor.values.pop();
            tensor.shape = vec![tensor.values.len()];
        }
    });
    assert!(short.as_deref().is_some_and(|e| e.contains("numbers, the parameter has")), "{short:?}");
    let stray = edited(&|file| {
        let name = file.tensors.keys().find(|n| n.starts_with("adam.m.")).expect("moments").clone();
        for (from, to) in [
            (name.clone(), "adam.m.12345".to_string()),
            (name.replacen("adam.m.", "adam.v.", 1), "adam.v.12345".to_string()),
        ] {
            let tensor = file.tensors.remove(&from).expect("moment");
            file.tensors.insert(to, tensor);
        }
    });
    assert!(stray.as_deref().is_some_and(|e| e.contains("which this model does not have")), "{stray:?}");
}

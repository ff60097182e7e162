//! The trainer on the synthetic dataset: it learns, it stops early, and a checkpoint resumes to
//! the same result as an uninterrupted run.

use burn::tensor::Device;
use tripletlab_core::data::triplets::TripletSet;
use tripletlab_core::data::{Dataset, synthetic};
use tripletlab_core::model::MobileNetV2Config;
use tripletlab_core::run::{DataSpec, RunSpec};
use tripletlab_core::train::Trainer;

fn synthetic_images(seed: u64, images: usize) -> Dataset {
    let batch = synthetic::batch(seed, images);
    let names = synthetic::CLASS_NAMES.iter().map(|name| name.to_string()).collect();
    Dataset::from_batches(synthetic::NAME, true, names, [batch])
}

/// The synthetic set and the small run's triplets on it (10% held out, seed 42).
fn synthetic_data(images: usize) -> (Dataset, TripletSet) {
    let data = synthetic_images(11, images);
    let (triplets, _) = small_config().triplets(&data).expect("triplets");
    (data, triplets)
}

fn small_config() -> RunSpec {
    RunSpec {
        data: DataSpec { held_out: 0.1, ..DataSpec::default() },
        pretrained: false,
        learning_rate: 3e-3,
        batch_size: 32,
        epochs: 6,
        patience: 6,
        model: MobileNetV2Config { width: 0.35, bn_momentum: 0.9 },
        ..RunSpec::default()
    }
}

/// The rows of a `[count, width]` tensor, read back.
fn host_rows(rows: burn::tensor::Tensor<2>) -> Vec<Vec<f32>> {
    let [count, width] = rows.dims();
    let values = rows.into_data().try_into_vec::<f32>().expect("f32");
    (0..count).map(|row| values[row * width..(row + 1) * width].to_vec()).collect()
}

fn new_trainer(config: &RunSpec) -> Trainer {
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
            // The active share is a count of the batch's triplets.
            let active = step.active_fraction * step.triplets as f32;
            assert!(step.loss.is_finite() && (active - active.round()).abs() < 1e-4, "{step:?}");
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
    // Measured: 0.627 before (random weights); after six epochs 0.743 with the direct depthwise
    // convolution and 0.777 with burn's (the same function: they differ by float32 rounding at
    // step 1, 2e-3 in the loss at step 2, and the run goes its own way from there; the Keras
    // parity test sees the same chaos). An untrained or frozen model stays at 0.627.
    assert!(scores.summary.auc > auc_before + 0.08, "held-out AUC {auc_before} -> {}", scores.summary.auc);
    assert_eq!(scores.scores.len(), 2 * triplets.held_out.len());
}

#[test]
fn a_checkpoint_resumes_to_the_same_result() {
    let (data, triplets) = synthetic_data(600);
    let config = RunSpec { epochs: 2, patience: 2, ..small_config() };
    let steps = |trainer: &mut Trainer, count: usize| {
        (0..count)
            .map(|_| pollster::block_on(trainer.step(&data, &triplets.train)).expect("step").loss)
            .collect::<Vec<f32>>()
    };
    let per_epoch = new_trainer(&config).steps_per_epoch(triplets.train.len());
    assert!(per_epoch >= 4, "{per_epoch}");

    let mut straight = new_trainer(&config);
    assert_eq!(straight.triplets(&data).expect("triplets"), triplets);
    let first_half = steps(&mut straight, 3);
    let straight_rest = steps(&mut straight, per_epoch - 3);
    let straight_epoch = pollster::block_on(straight.end_epoch(&data, &triplets.held_out)).expect("epoch");

    let mut interrupted = new_trainer(&config);
    interrupted.triplets(&data).expect("triplets");
    assert_eq!(steps(&mut interrupted, 3), first_half);
    let bytes = pollster::block_on(interrupted.checkpoint()).expect("checkpoint");
    drop(interrupted);
    let mut resumed = Trainer::resume("checkpoint", &bytes, &Device::flex()).expect("resumes");
    assert_eq!(resumed.spec(), &config, "the checkpoint carries the run's description");
    assert_eq!(resumed.triplets(&data).expect("its own split"), triplets);
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
    let (data, _) = synthetic_data(100);
    let config = small_config();
    let mut trainer = new_trainer(&config);
    trainer.triplets(&data).expect("triplets");
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
    let config = RunSpec {
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
            // The batch kept for the page's heat map is the one trained on: its images, their
            // labels, a symmetric 40 x 40 matrix with zeros on the diagonal whose mining gives the
            // step's own counts.
            let batch = trainer.last_mined().expect("the mined batch");
            assert_eq!(batch.images, trainer.last_step_images());
            let labels: Vec<u8> = batch.images.iter().map(|&i| data.labels[i as usize]).collect();
            assert_eq!(batch.labels, labels);
            assert_eq!(batch.blocks().len(), 10, "class by class: {:?}", batch.labels);
            for i in 0..40 {
                assert!(batch.distance(i, i).abs() < 1e-5, "d({i},{i}) = {}", batch.distance(i, i));
                for j in 0..i {
                    assert!((batch.distance(i, j) - batch.distance(j, i)).abs() < 1e-5);
                }
            }
            let again = tripletlab_core::mining::mine(&batch.distances, &batch.labels, &config.loss, Mining::SemiHard)
                .expect("mined again");
            assert_eq!((again.valid, again.active), (mined.valid as usize, mined.active as usize));
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

/// The shipped weights' features of every image of `triplets` (fast mode's input).
fn pretrained_features(
    config: &RunSpec,
    data: &tripletlab_core::data::Dataset,
    triplets: &tripletlab_core::data::triplets::TripletSet,
) -> tripletlab_core::head::Features {
    let device = Device::flex();
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../public/weights/mobilenetv2_1.0.safetensors"))
        .expect("the shipped weights");
    let backbone = tripletlab_core::model::weights::load("mobilenetv2_1.0.safetensors", &bytes, &config.model, &device)
        .expect("weights");
    let all: Vec<_> = triplets.train.iter().chain(&triplets.held_out).copied().collect();
    pollster::block_on(tripletlab_core::head::Features::embed(&backbone, data, &all, config.scaling, 64, &device))
        .expect("features")
}

/// Fast mode mines too: batch-hard on P = 5 classes x K = 4 images of the frozen features, each
/// step with the counts a P x K batch has (n = 20: 20 x 3 x 16 = 960 valid triplets, one mined
/// per anchor), its batch kept for the heat map, and the held-out AUC rising; the same seed
/// trains the same steps.
#[test]
fn fast_mode_mines_pk_batches_of_frozen_features() {
    use tripletlab_core::head::HeadTrainer;
    use tripletlab_core::mining::{Mining, MiningConfig};
    let (data, triplets) = synthetic_data(600);
    let config = RunSpec {
        learning_rate: 1e-3,
        batch_size: 32,
        epochs: 3,
        patience: 3,
        seed: 9,
        fast_mode: true,
        mining: Some(MiningConfig { strategy: Mining::BatchHard, classes: 5, per_class: 4 }),
        ..RunSpec::default()
    };
    assert_eq!(config.check(), Ok(()));
    let run = || {
        let mut trainer =
            HeadTrainer::new(pretrained_features(&config, &data, &triplets), config.clone(), &Device::flex());
        let before = pollster::block_on(trainer.held_out_scores(&triplets.held_out)).expect("scores").summary.auc;
        let mut losses = Vec::new();
        while !trainer.is_finished() {
            while !trainer.epoch_done(triplets.train.len()) {
                let step = pollster::block_on(trainer.step(&triplets.train)).expect("step");
                let mined = step.mined.expect("mined counts");
                assert_eq!((mined.valid, mined.mined, step.triplets), (960, 20, 20), "{step:?}");
                let batch = trainer.last_mined().expect("the mined batch");
                let labels: Vec<u8> = batch.images.iter().map(|&i| data.labels[i as usize]).collect();
                assert_eq!((batch.labels.clone(), batch.blocks().len()), (labels, 5));
                let again =
                    tripletlab_core::mining::mine(&batch.distances, &batch.labels, &config.loss, Mining::BatchHard)
                        .expect("mined again");
                assert_eq!(again.active, mined.active as usize);
                losses.push(step.loss);
            }
            pollster::block_on(trainer.end_epoch(&triplets.held_out)).expect("epoch");
        }
        let after = pollster::block_on(trainer.held_out_scores(&triplets.held_out)).expect("scores").summary.auc;
        (before, after, losses)
    };
    let (before, after, losses) = run();
    println!("fast mode, batch-hard: held-out AUC {before:.4} -> {after:.4} over {} steps", losses.len());
    assert!(after > before, "held-out AUC {before} -> {after}");
    assert_eq!(run().2, losses, "seeded: the same batches and steps");
}

/// Fast mode: the frozen pretrained backbone's features are computed once and only a linear head
/// trains on them: its training loss falls epoch over epoch and the held-out AUC rises.
#[test]
fn fast_mode_trains_a_head_on_frozen_features() {
    use tripletlab_core::head::HeadTrainer;
    let (data, triplets) = synthetic_data(1_000);
    let config = RunSpec { learning_rate: 1e-3, batch_size: 32, epochs: 4, patience: 4, seed: 5, ..RunSpec::default() };
    let device = Device::flex();
    let features = pretrained_features(&config, &data, &triplets);
    assert_eq!(features.dims, 1280);
    let mut trainer = HeadTrainer::new(features, config, &device);
    let before = pollster::block_on(trainer.held_out_scores(&triplets.held_out)).expect("scores").summary.auc;
    let mut records = Vec::new();
    while !trainer.is_finished() {
        while !trainer.epoch_done(triplets.train.len()) {
            let step = pollster::block_on(trainer.step(&triplets.train)).expect("step");
            assert!(step.triplets <= 32 && step.loss.is_finite());
        }
        records.push(pollster::block_on(trainer.end_epoch(&triplets.held_out)).expect("epoch"));
    }
    let losses: Vec<f64> = records.iter().map(|r| r.loss).collect();
    let after = pollster::block_on(trainer.held_out_scores(&triplets.held_out)).expect("scores").summary.auc;
    println!("fast mode: epochs {records:?}; held-out AUC {before:.3} -> {after:.3}");
    assert!(losses[3] < losses[0], "the head's training loss falls: {losses:?}");
    assert!(after > before, "held-out AUC {before} -> {after}");
    // The improvement test is the full trainer's: an epoch is "improved" only when its held-out
    // loss beats every earlier one, and the best one's head is what the run ends with.
    let mut best = f64::INFINITY;
    for record in &records {
        assert_eq!(record.improved, record.val_loss < best, "{records:?}");
        best = best.min(record.val_loss);
    }
    let best_epoch = records.iter().filter(|r| r.improved).map(|r| r.epoch).max();
    assert_eq!(trainer.state().best_epoch, best_epoch);
}

/// Augmentation applies to mined batches too: with flips and crops on, the same seed's first mined
/// step sees other pixels, so its loss differs from the run without (they were equal when mining
/// silently dropped augmentation).
/// Every flip and shift of the CIFAR recipe (pad 4, crop back to 32 x 32, black outside) of one
/// planar 32 x 32 RGB image, written here independently of `data::augment`.
fn every_flip_and_crop(image: &[u8]) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for flip in [false, true] {
        for dy in -4i64..=4 {
            for dx in -4i64..=4 {
                let mut out = vec![0u8; image.len()];
                for (c, y, x) in (0..3).flat_map(|c| (0..32).flat_map(move |y| (0..32).map(move |x| (c, y, x)))) {
                    let sx = if flip { 31 - x } else { x } + dx;
                    let sy = y + dy;
                    if (0..32).contains(&sx) && (0..32).contains(&sy) {
                        out[(c * 1024 + y * 32 + x) as usize] = image[(c * 1024 + sy * 32 + sx) as usize];
                    }
                }
                all.push(out);
            }
        }
    }
    all
}

/// The mined batch is augmented, checked on its pixels: a seeded run with and without
/// augmentation samples the same P x K images; without it the batch's pixels are the dataset's,
/// with it each image is one of the 162 flips and crops of the same dataset image, and most are
/// not the image itself.
#[test]
fn mining_augments_its_batches() {
    use tripletlab_core::data::augment::Augmentation;
    use tripletlab_core::mining::{Mining, MiningConfig};
    let (data, triplets) = synthetic_data(400);
    let mined = RunSpec {
        mining: Some(MiningConfig { strategy: Mining::BatchAll, classes: 5, per_class: 4 }),
        ..small_config()
    };
    let first_batch = |config: &RunSpec| {
        let mut trainer = new_trainer(config);
        pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
        // The batch's distance matrix is kept for the page's heat map: its images and labels.
        let matrix = trainer.last_mined().expect("a mined step keeps its matrix");
        assert_eq!(matrix.images, trainer.last_step_images());
        let labels: Vec<u8> = matrix.images.iter().map(|&at| data.labels[at as usize]).collect();
        assert_eq!((&matrix.labels, matrix.distances.len()), (&labels, 20 * 20));
        (trainer.last_step_images().to_vec(), trainer.last_mined_pixels().to_vec())
    };
    // The step's mined counts, worked out from its kept matrix: every (anchor, positive,
    // negative) of the 5 x 4 batch is valid (20 anchors x 3 positives x 16 negatives), and active
    // where the positive is farther than the negative less the margin; the report's active
    // fraction is the one over the other. Margin 0: the seeded model's distances are all alike,
    // so at the recipe's 0.4 every triplet would be active.
    let counted = RunSpec { loss: tripletlab_core::loss::LossSpec { margin: 0.0, ..mined.loss }, ..mined.clone() };
    let mut trainer = new_trainer(&counted);
    let report = pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    let counts = report.mined.expect("a mined step reports its counts");
    let matrix = trainer.last_mined().expect("its matrix");
    let (n, margin) = (matrix.labels.len(), counted.loss.margin);
    let d = |a: usize, b: usize| matrix.distances[a * n + b];
    let mut active = 0u32;
    for a in 0..n {
        for p in (0..n).filter(|&p| p != a && matrix.labels[p] == matrix.labels[a]) {
            active += (0..n)
                .filter(|&x| matrix.labels[x] != matrix.labels[a])
                .filter(|&x| f64::from(d(a, p)) - f64::from(d(a, x)) + margin > 0.0)
                .count() as u32;
        }
    }
    assert_eq!(counts.valid, 20 * 3 * 16, "{counts:?}");
    assert_eq!(counts.active, active, "{counts:?}");
    assert!(active > 0 && active < counts.valid, "{active} of {} active: the test needs both kinds", counts.valid);
    assert_eq!(report.active_fraction, active as f32 / counts.valid as f32, "{report:?}");
    let (images, plain) = first_batch(&mined);
    assert_eq!(images.len(), 20);
    assert_eq!(plain.len(), 20);
    for (at, pixels) in images.iter().zip(&plain) {
        assert_eq!(pixels.as_slice(), data.image(*at as usize), "image {at} changed without augmentation");
    }
    let augmented_run = RunSpec { augmentation: Augmentation { flip: true, crop_padding: 4 }, ..mined };
    let (same_images, augmented) = first_batch(&augmented_run);
    assert_eq!(same_images, images, "the augmentation changed which images were sampled");
    let mut changed = 0;
    for (at, pixels) in images.iter().zip(&augmented) {
        let raw = data.image(*at as usize);
        assert!(every_flip_and_crop(raw).contains(pixels), "image {at} is not a flip and crop of itself");
        changed += usize::from(pixels.as_slice() != raw);
    }
    assert!(changed >= 15, "only {changed} of 20 images were augmented (1 in 162 is the identity)");
}

/// A checkpoint is outside input: an epoch order or Adam state that does not fit the model is
/// refused when it is read, by name, and never reaches a step (where it would index out of
/// bounds); an untouched one resumes and steps.
#[test]
fn crafted_checkpoints_are_refused_before_the_first_step() {
    use tripletlab_core::model::safetensors::TensorFile;
    let (data, triplets) = synthetic_data(200);
    let config = RunSpec { batch_size: 8, ..small_config() };
    let mut trainer = new_trainer(&config);
    assert_eq!(trainer.triplets(&data).expect("triplets"), triplets);
    pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    let bytes = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
    let device = Device::flex();
    let mut resumed = Trainer::resume("ok", &bytes, &device).expect("an untouched checkpoint resumes");
    let own = resumed.triplets(&data).expect("its split");
    pollster::block_on(resumed.step(&data, &own.train)).expect("and steps");

    let edited = |edit: &dyn Fn(&mut TensorFile)| {
        let mut file = TensorFile::parse("checkpoint", &bytes).expect("parses");
        edit(&mut file);
        Trainer::resume("crafted", &file.to_bytes().expect("writes"), &device).err().map(|err| err.to_string())
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
    // A weight that is not finite is refused, the file named once.
    let poisoned = edited(&|file| {
        let kernel = file.tensors.keys().find(|n| n.ends_with("depthwise.conv.weight")).expect("a kernel").clone();
        file.tensors.get_mut(&kernel).expect("kernel").values[0] = f32::NAN;
    });
    assert!(
        poisoned.as_deref().is_some_and(|e| e.contains("crafted: tensor ") && !e.contains("crafted: crafted")),
        "{poisoned:?}"
    );
}

/// A batch whose loss is not finite is refused before Adam's update: the trainer after the
/// refused step is, to the byte, the trainer before it (weights, moments, counters, epoch order).
/// The loss was read after the update, so a NaN batch corrupted the weights and moments first.
/// (A checkpoint with a NaN weight is refused when read, so the NaN comes from a learning rate
/// of 1e38: the first update sends weights to +-1e38 and the next forward pass overflows.)
#[test]
fn a_non_finite_loss_is_refused_before_the_update() {
    use tripletlab_core::train::TrainError;
    let (data, triplets) = synthetic_data(200);
    let mut trainer = new_trainer(&RunSpec { batch_size: 8, learning_rate: 1e38, ..small_config() });
    for _ in 0..6 {
        let before = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
        let step_in_epoch = trainer.state().step_in_epoch;
        match pollster::block_on(trainer.step(&data, &triplets.train)) {
            Ok(report) => assert!(report.loss.is_finite(), "{report:?}"),
            Err(TrainError::NotFinite(_)) => {
                let after = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
                // Byte for byte, BatchNorm's running statistics included (the pass updated them).
                assert!(before == after, "the refused step changed the trainer");
                assert_eq!(trainer.state().step_in_epoch, step_in_epoch, "the refused step is not counted");
                return;
            }
            Err(other) => panic!("{other}"),
        }
    }
    panic!("six steps at a learning rate of 1e38 never gave a non-finite loss");
}

/// A held-out loss that is not finite is never the best, through whole `end_epoch`s: at a
/// learning rate of 1e38, epoch 1 closes before any step with the initial weights' finite loss
/// and keeps them; one step then sends the weights to +-1e38 and epoch 2's held-out loss is not
/// finite. That epoch is not kept, patience (1) stops the run, and the weights restored are
/// epoch 1's: the held-out loss after the restore is epoch 1's to the last bit. (A "best" NaN
/// would have restored the overflowed weights.)
#[test]
fn a_non_finite_held_out_loss_is_never_kept_through_end_epoch() {
    let (data, triplets) = synthetic_data(200);
    let config = RunSpec { batch_size: 8, epochs: 5, patience: 1, learning_rate: 1e38, ..small_config() };
    let mut trainer = new_trainer(&config);
    let first = pollster::block_on(trainer.end_epoch(&data, &triplets.held_out)).expect("epoch 1");
    assert!(first.val_loss.is_finite() && first.improved, "{first:?}");
    let report = pollster::block_on(trainer.step(&data, &triplets.train)).expect("a finite step");
    assert!(report.loss.is_finite());
    let overflowed = pollster::block_on(trainer.held_out_loss(&data, &triplets.held_out)).expect("held-out loss");
    assert!(!overflowed.is_finite(), "weights at +-1e38 still gave a finite loss: {overflowed}");

    let second = pollster::block_on(trainer.end_epoch(&data, &triplets.held_out)).expect("epoch 2");
    assert!(!second.val_loss.is_finite() && !second.improved, "{second:?}");
    assert_eq!(trainer.state().best_epoch, Some(1));
    assert_eq!(trainer.state().best_val_loss, Some(first.val_loss));
    assert!(trainer.is_finished(), "patience 1 stops the run after an epoch without improvement");
    let restored = pollster::block_on(trainer.held_out_loss(&data, &triplets.held_out)).expect("held-out loss");
    assert_eq!(restored, first.val_loss, "the restored weights are not epoch 1's");

    // And as the very first epoch (no best yet, so `NaN < best` cannot refuse it): not kept.
    let mut trainer = new_trainer(&RunSpec { patience: 2, ..config });
    pollster::block_on(trainer.step(&data, &triplets.train)).expect("a finite step");
    let first = pollster::block_on(trainer.end_epoch(&data, &triplets.held_out)).expect("epoch 1");
    assert!(!first.val_loss.is_finite() && !first.improved, "{first:?}");
    assert_eq!((trainer.state().best_epoch, trainer.state().best_val_loss), (None, None));
    let bytes = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
    let file = tripletlab_core::model::safetensors::TensorFile::parse("checkpoint", &bytes).expect("parses");
    assert!(!file.tensors.keys().any(|name| name.starts_with("best.")), "non-finite weights kept as the best");
}

/// A checkpoint carries its run: the description, the images it used and its exact held-out set.
/// Resumed on the same data it rebuilds that split (even with more images loaded, or other
/// settings given now); on other images, too few of them, or a split that cannot be rebuilt bit
/// for bit, it is refused with what differs. A version-1 checkpoint is refused by name.
#[test]
fn a_checkpoint_carries_its_run_and_split() {
    use tripletlab_core::data::triplets::HeldOutSplit;
    use tripletlab_core::model::safetensors::TensorFile;
    let data = synthetic_images(11, 200);
    let spec = RunSpec {
        data: DataSpec { images: 150, held_out: 0.2, split: HeldOutSplit::ByImage },
        batch_size: 8,
        ..small_config()
    };
    let mut trainer = new_trainer(&spec);
    let triplets = trainer.triplets(&data).expect("triplets");
    let held_out_images = tripletlab_core::data::triplets::distinct_images(&triplets.held_out);
    assert!(held_out_images.iter().all(|&image| image < 150), "only the first 150 images");
    pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    let bytes = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
    let device = Device::flex();

    let mut resumed = Trainer::resume("run", &bytes, &device).expect("resumes");
    assert_eq!(resumed.spec(), &spec);
    let more = {
        let names = synthetic::CLASS_NAMES.iter().map(|name| name.to_string()).collect();
        let extra = synthetic::batch(99, 100);
        let mut first = Dataset::from_batches(synthetic::NAME, true, names, [synthetic::batch(11, 200), extra]);
        first.name = "more".into();
        first
    };
    assert_eq!(resumed.triplets(&more).expect("the same split on more images"), triplets);
    assert_eq!(resumed.triplets(&data).expect("the same split"), triplets);

    let refusal = |data: &Dataset| {
        let mut resumed = Trainer::resume("run", &bytes, &device).expect("resumes");
        resumed.triplets(data).err().map(|err| err.to_string()).unwrap_or_default()
    };
    assert!(refusal(&synthetic_images(11, 120)).contains("first 150 images of its dataset; the dataset given has 120"));
    assert!(refusal(&synthetic_images(12, 200)).contains("are not the ones the run trained on"));

    let edited = |edit: &dyn Fn(&mut TensorFile)| {
        let mut file = TensorFile::parse("checkpoint", &bytes).expect("parses");
        edit(&mut file);
        file.to_bytes().expect("writes")
    };
    let reseeded = edited(&|file| {
        let mut run: serde_json::Value = serde_json::from_str(&file.metadata["run"]).expect("run");
        run["seed"] = serde_json::json!(7);
        file.metadata.insert("run".into(), run.to_string());
    });
    let mut crafted = Trainer::resume("crafted", &reseeded, &device).expect("reads");
    let err = crafted.triplets(&data).err().map(|err| err.to_string()).unwrap_or_default();
    assert!(err.contains("could not be rebuilt bit for bit"), "{err}");
    // A version-1 checkpoint: its settings under "config", no run, no data record.
    let old = edited(&|file| {
        file.metadata.insert("format".into(), "tripletlab-checkpoint-v1".into());
        let run = file.metadata.remove("run").expect("a run");
        file.metadata.insert("config".into(), run);
        file.metadata.remove("data");
    });
    let err = Trainer::resume("old.safetensors", &old, &device).err().map(|err| err.to_string()).unwrap_or_default();
    assert!(err.contains("tripletlab-checkpoint-v1") && err.contains("cannot be resumed"), "{err}");
    let undated = edited(&|file| {
        file.metadata.remove("data");
    });
    let err = Trainer::resume("undated", &undated, &device).err().map(|err| err.to_string()).unwrap_or_default();
    assert!(err.contains("records no data"), "{err}");
    // Its weights still load, as a version-1 file's did.
    assert!(tripletlab_core::train::load_encoder("old.safetensors", &old, &device).is_ok());
}

/// No held-out image is ever trained on, over whole runs: split by image, no held-out image at all
/// (with mining and augmentation too); split by triplet and mined, no held-out anchor or positive.
/// (The recipe's own fixed triplets, split by triplet, draw each negative from every image of
/// the other classes, held-out ones included, as the tutorial does: `docs/recipe.md`.)
#[test]
fn no_held_out_image_is_ever_trained_on() {
    use std::collections::HashSet;
    use tripletlab_core::data::augment::Augmentation;
    use tripletlab_core::data::triplets::{HeldOutSplit, distinct_images};
    use tripletlab_core::mining::{Mining, MiningConfig};
    let data = synthetic_images(21, 240);
    let mining = Some(MiningConfig { strategy: Mining::BatchAll, classes: 4, per_class: 3 });
    let augmentation = Augmentation { flip: true, crop_padding: 4 };
    for (split, mining, augmentation) in [
        (HeldOutSplit::ByImage, None, Augmentation::default()),
        (HeldOutSplit::ByImage, mining, augmentation),
        (HeldOutSplit::ByTriplet, mining, augmentation),
        (HeldOutSplit::ByClass, mining, augmentation),
    ] {
        let spec = RunSpec {
            data: DataSpec { held_out: 0.25, split, ..DataSpec::default() },
            batch_size: 16,
            epochs: 2,
            patience: 2,
            mining,
            augmentation,
            ..small_config()
        };
        let mut trainer = new_trainer(&spec);
        let triplets = trainer.triplets(&data).expect("triplets");
        let forbidden: HashSet<u32> = match split {
            HeldOutSplit::ByImage | HeldOutSplit::ByClass => distinct_images(&triplets.held_out).into_iter().collect(),
            HeldOutSplit::ByTriplet => triplets.held_out.iter().flat_map(|t| [t.anchor, t.positive]).collect(),
        };
        let mut trained = HashSet::new();
        while !trainer.is_finished() {
            while !trainer.epoch_done(triplets.train.len()) {
                pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
                trained.extend(trainer.last_step_images().iter().copied());
            }
            pollster::block_on(trainer.end_epoch(&data, &triplets.held_out)).expect("epoch");
        }
        let leaked: Vec<&u32> = trained.intersection(&forbidden).collect();
        assert!(leaked.is_empty(), "{split:?}, mining {mining:?}: held-out images trained on: {leaked:?}");
        assert!(trained.len() > 40, "{split:?}: the run trained on {} images", trained.len());
    }
}

/// The one entry to a run: the description decides full or fast. A fast run trains a head on
/// the frozen encoder's features (no checkpoint), a full run the encoder (a checkpoint that
/// resumes on exactly the same triplets); both follow the same schedule (epochs, history).
#[test]
fn the_description_decides_full_or_fast_through_one_entry() {
    use tripletlab_core::training::Training;
    let data = synthetic_images(3, 300);
    let device = Device::flex();
    let start = |fast_mode: bool| {
        let spec = RunSpec { fast_mode, epochs: 2, ..small_config() };
        let encoder =
            tripletlab_core::model::weights::seeded_init(&spec.model, spec.seed, &device).expect("seeded weights");
        pollster::block_on(Training::start(spec, encoder, &data, &device)).expect("a run")
    };
    let (mut fast, triplets) = start(true);
    assert!(matches!(fast, Training::Fast(_)), "fast=1 is fast mode");
    assert!(fast.describe().starts_with("fast mode: a 1280 -> 128 head on frozen features of "), "{}", fast.describe());
    let record = pollster::block_on(fast.train_epoch(&data, &triplets, Some(2), |_| {})).expect("an epoch");
    assert_eq!((record.epoch, fast.state().epoch, fast.state().history.len()), (1, 1, 1));
    assert!(pollster::block_on(fast.checkpoint()).is_none(), "fast mode keeps no checkpoint");

    let (mut full, full_triplets) = start(false);
    assert!(matches!(full, Training::Full(_)));
    assert_eq!(full_triplets.held_out, triplets.held_out, "the same description, the same split");
    let mut steps = 0;
    pollster::block_on(full.train_epoch(&data, &full_triplets, Some(1), |_| steps += 1)).expect("an epoch");
    assert_eq!(steps, 1);
    let bytes = pollster::block_on(full.checkpoint()).expect("a full run keeps a checkpoint").expect("bytes");
    let (resumed, resumed_triplets) = Training::resume("test", &bytes, &data, &device).expect("resumes");
    assert_eq!(resumed_triplets.train, full_triplets.train);
    assert_eq!(resumed.state(), full.state(), "the schedule comes back as it was");
    // A description the settings table refuses is refused before anything trains.
    let bad = RunSpec { batch_size: 0, ..small_config() };
    let encoder = tripletlab_core::model::weights::seeded_init(&bad.model, 1, &device).expect("seeded weights");
    assert!(pollster::block_on(Training::start(bad, encoder, &data, &device)).is_err());
}

/// Fixed triplets are augmented too: from the same seed, a first step with flips and crops picks
/// the same triplets as one without, and its loss differs (it is the same every time it runs).
#[test]
fn fixed_triplet_steps_are_augmented() {
    use tripletlab_core::data::augment::Augmentation;
    let (data, triplets) = synthetic_data(200);
    let plain = RunSpec { batch_size: 8, ..small_config() };
    let first_step = |config: &RunSpec| {
        let mut trainer = new_trainer(config);
        let report = pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
        (trainer.last_step_images().to_vec(), report.loss)
    };
    let (images, loss) = first_step(&plain);
    assert_eq!(first_step(&plain), (images.clone(), loss), "a seeded first step is not repeatable");
    let augmented = RunSpec { augmentation: Augmentation { flip: true, crop_padding: 4 }, ..plain };
    let (same_images, augmented_loss) = first_step(&augmented);
    assert_eq!(same_images, images, "the augmentation changed which triplets were picked");
    assert!((augmented_loss - loss).abs() > 1e-4, "augmented loss {augmented_loss} = plain loss {loss}");
}

/// With `passes: Concatenated` the three branches go through the encoder as one batch, so
/// BatchNorm normalises with the statistics of all 3n images: the step's loss is that of the
/// concatenated pass worked out here from the same weights and images, and not the separate passes'.
#[test]
fn a_concatenated_step_normalises_over_all_three_branches() {
    use burn::module::Module;
    use burn::tensor::Tensor;
    use tripletlab_core::model::input::images_to_tensor;
    use tripletlab_core::run::BranchPasses;
    let (data, triplets) = synthetic_data(200);
    let separate = RunSpec { batch_size: 8, ..small_config() };
    let concatenated = RunSpec { passes: BranchPasses::Concatenated, ..separate.clone() };
    let mut trainer = new_trainer(&concatenated);
    let report = pollster::block_on(trainer.step(&data, &triplets.train)).expect("concatenated step");
    let images = trainer.last_step_images().to_vec();
    assert_eq!(images.len(), 24);

    let device = Device::flex().autodiff();
    let model = tripletlab_core::model::weights::seeded_init(&concatenated.model, concatenated.seed, &Device::flex())
        .expect("seeded weights")
        .fork(&device)
        .train();
    let branch = |offset: usize| {
        let pixels: Vec<&[u8]> = images.iter().skip(offset).step_by(3).map(|&at| data.image(at as usize)).collect();
        images_to_tensor(pixels, concatenated.scaling, &device)
    };
    let all = model.forward(Tensor::cat(vec![branch(0), branch(1), branch(2)], 0));
    let [anchor, positive, negative]: [Tensor<2>; 3] = all.split(8, 0).try_into().expect("three parts");
    let by_hand: f32 = concatenated.loss.forward(anchor, positive, negative).loss.into_scalar();
    assert!((report.loss - by_hand).abs() < 1e-5, "step {} vs by hand {by_hand}", report.loss);

    let mut separately = new_trainer(&separate);
    let separate_loss = pollster::block_on(separately.step(&data, &triplets.train)).expect("separate step").loss;
    assert_eq!(separately.last_step_images(), images.as_slice(), "the two runs picked different triplets");
    assert!((separate_loss - report.loss).abs() > 1e-4, "separate {separate_loss} = concatenated {}", report.loss);
}

/// A checkpoint read back: saved again, it holds the same tensors (the best epoch's weights
/// included, after an epoch that improved); its weights load with the run's model and input
/// scaling; a newer checkpoint format is refused by name; an Adam state for a tensor that is not
/// trained (a BatchNorm running statistic), even of the right size, is refused before any step.
#[test]
fn a_checkpoint_read_back_is_the_checkpoint_saved() {
    use tripletlab_core::model::safetensors::{F32Tensor, TensorFile};
    let data = synthetic_images(11, 200);
    let spec = RunSpec { batch_size: 8, ..small_config() };
    let mut trainer = new_trainer(&spec);
    let triplets = trainer.triplets(&data).expect("triplets");
    pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    let record = pollster::block_on(trainer.end_epoch(&data, &triplets.held_out)).expect("epoch");
    assert!(record.improved, "the first epoch is the best so far");
    let bytes = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
    let device = Device::flex();
    let names = |bytes: &[u8]| {
        let file = TensorFile::parse("checkpoint", bytes).expect("parses");
        file.tensors.keys().cloned().collect::<Vec<String>>()
    };
    let saved = names(&bytes);
    assert!(saved.iter().any(|name| name.starts_with("best.")), "the best epoch's weights are saved");
    let resumed = Trainer::resume("run", &bytes, &device).expect("resumes");
    assert_eq!(names(&pollster::block_on(resumed.checkpoint()).expect("saved again")), saved);

    let encoder = tripletlab_core::train::load_encoder("run", &bytes, &device).expect("weights");
    assert_eq!((encoder.config, encoder.trained_scaling), (spec.model.clone(), Some(spec.scaling)));
    // The shipped weights (tagged `tripletlab-mobilenetv2-v1`) load as weights: width 1.0, no run.
    let shipped =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../public/weights/mobilenetv2_1.0.safetensors"))
            .expect("the shipped weights");
    let encoder = tripletlab_core::train::load_encoder("shipped", &shipped, &device).expect("shipped weights");
    assert_eq!((encoder.config.width, encoder.trained_scaling), (1.0, None));

    let edited = |edit: &dyn Fn(&mut TensorFile)| {
        let mut file = TensorFile::parse("checkpoint", &bytes).expect("parses");
        edit(&mut file);
        file.to_bytes().expect("writes")
    };
    let newer = edited(&|file| {
        file.metadata.insert("format".into(), "tripletlab-checkpoint-v9".into());
    });
    for err in [
        Trainer::resume("newer", &newer, &device).err().map(|err| err.to_string()),
        tripletlab_core::train::load_encoder("newer", &newer, &device).err().map(|err| err.to_string()),
    ] {
        let err = err.unwrap_or_default();
        assert!(err.contains("'tripletlab-checkpoint-v9' is not one this version reads"), "{err}");
    }
    let statistic = "stem.norm.running_mean";
    let size = TensorFile::parse("checkpoint", &bytes).expect("parses").tensors[statistic].values.len();
    let id = tripletlab_core::model::weights::named_id(statistic).val();
    let stray = edited(&|file| {
        for kind in ["m", "v"] {
            file.tensors.insert(format!("adam.{kind}.{id}"), F32Tensor { shape: vec![size], values: vec![0.0; size] });
        }
    });
    assert!(Trainer::resume("stray", &stray, &device).is_err(), "an Adam state for a running statistic was accepted");
}

/// The held-out evaluation, worked out independently: with BatchNorm on its running statistics an
/// image's template does not depend on the batch it is in, so one pass over all the held-out
/// images gives what the trainer computes in batches of 8 with a short last one: the templates,
/// the mean loss (each batch weighted by its size), the recipe's scores (each pair's similarity,
/// the (anchor, positive) pairs first and labelled genuine) with the AUC counted here pair by pair
/// (ties half), and the 1:N retrieval among the distinct held-out images by class.
#[test]
fn held_out_evaluation_in_batches_is_one_pass_over_all_of_it() {
    use burn::tensor::Tensor;
    use tripletlab_core::data::triplets::{Triplet, distinct_images};
    use tripletlab_core::metrics::{RetrievalConfig, retrieval};
    use tripletlab_core::model::input::images_to_tensor;
    let (data, triplets) = synthetic_data(300);
    let spec = RunSpec { batch_size: 8, ..small_config() };
    let mut trainer = new_trainer(&spec);
    // One step first: the model is no longer the seeded one and its running statistics moved.
    pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    let held_out = &triplets.held_out;
    let n = held_out.len();
    assert!(n > 8 && n % 8 != 0, "{n} held-out triplets do not make uneven batches of 8");

    let model = trainer.inference_model();
    let device = Device::flex();
    let rows_of = |images: &[u32]| -> Tensor<2> {
        let pixels: Vec<&[u8]> = images.iter().map(|&at| data.image(at as usize)).collect();
        model.forward(images_to_tensor(pixels, spec.scaling, &device))
    };
    let branch = |which: fn(&Triplet) -> u32| rows_of(&held_out.iter().map(which).collect::<Vec<_>>());
    let (anchors, positives, negatives) = (branch(|t| t.anchor), branch(|t| t.positive), branch(|t| t.negative));
    let host = |rows: &Tensor<2>| host_rows(rows.clone());
    let close = |a: &[f32], b: &[f32]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);

    // The mean loss over all held-out triplets at once.
    let one_pass: f32 = spec.loss.forward(anchors.clone(), positives.clone(), negatives.clone()).loss.into_scalar();
    let batched = pollster::block_on(trainer.held_out_loss(&data, held_out)).expect("held-out loss");
    assert!(one_pass > 0.01, "a loss of {one_pass} cannot tell a weighting from another");
    assert!((batched - f64::from(one_pass)).abs() < 1e-5, "in batches {batched}, in one pass {one_pass}");

    // Templates, in the order asked.
    let anchor_images: Vec<u32> = held_out.iter().map(|t| t.anchor).collect();
    let embedded = pollster::block_on(trainer.embed(&data, &anchor_images)).expect("embed");
    let expected = host(&anchors);
    assert_eq!(embedded.len(), n);
    assert!(embedded.iter().zip(&expected).all(|(a, b)| close(a, b)), "templates differ from one pass");

    // The recipe's scores and their AUC.
    let scores = pollster::block_on(trainer.held_out_scores(&data, held_out)).expect("scores");
    let distance = spec.loss.distance;
    let (a, p, x) = (host(&anchors), host(&positives), host(&negatives));
    let genuine: Vec<f64> = a.iter().zip(&p).map(|(a, p)| distance.similarity(distance.of_rows(a, p))).collect();
    let impostor: Vec<f64> = a.iter().zip(&x).map(|(a, x)| distance.similarity(distance.of_rows(a, x))).collect();
    let labels: Vec<bool> = (0..2 * n).map(|at| at < n).collect();
    assert_eq!(scores.labels, labels, "genuine pairs first, then impostors");
    let by_hand: Vec<f64> = genuine.iter().chain(&impostor).copied().collect();
    assert_eq!(scores.scores.len(), 2 * n);
    assert!(
        scores.scores.iter().zip(&by_hand).all(|(s, h)| (s - h).abs() < 1e-5),
        "{:?} vs {by_hand:?}",
        scores.scores
    );
    // Each (genuine, impostor) pair ordered right counts 1, a tie a half.
    let pairs = genuine.iter().flat_map(|g| impostor.iter().map(move |i| (*g, *i)));
    let ordered: f64 = pairs.map(|(g, i)| f64::from(u8::from(g > i)) + 0.5 * f64::from(u8::from(g == i))).sum();
    let auc = ordered / (n * n) as f64;
    // Measured 0.478: pairs ordered both ways, and far enough from 0.5 that swapped labels
    // (0.522) show.
    assert!(auc > 0.0 && auc < 1.0 && (auc - 0.5).abs() > 0.01, "AUC {auc}: the test needs pairs ordered both ways");
    assert!((scores.summary.auc - auc).abs() < 1e-9, "summary AUC {} vs pair by pair {auc}", scores.summary.auc);
    assert_eq!((scores.summary.positives, scores.summary.negatives), (n as u64, n as u64));

    // Retrieval among the distinct held-out images, labelled by class.
    let config = RetrievalConfig::default();
    let images = distinct_images(held_out);
    let rows = host(&rows_of(&images)).concat();
    let labels: Vec<u32> = images.iter().map(|&at| u32::from(data.labels[at as usize])).collect();
    let expected = retrieval(&rows, rows.len() / images.len(), &labels, &config).expect("retrieval");
    let batched = pollster::block_on(trainer.held_out_retrieval(&data, held_out, &config)).expect("retrieval");
    assert_eq!(batched.queries, images.len());
    assert_eq!(batched, expected);
}

/// A checkpoint's place in its epoch is checked against the run's triplets when the run finds
/// its data again: one saved after the epoch's last step and before its end (a pause there)
/// resumes with the epoch done and ends it; one a step further than the epoch has, or whose epoch
/// order covers one triplet fewer than the run has (a permutation still, so the reader passes
/// it), is refused by name before any step.
#[test]
fn a_checkpoint_s_place_in_its_epoch_is_checked_against_the_run() {
    use tripletlab_core::model::safetensors::TensorFile;
    let (data, triplets) = synthetic_data(200);
    let spec = RunSpec { batch_size: 8, ..small_config() };
    let mut trainer = new_trainer(&spec);
    let per_epoch = trainer.steps_per_epoch(triplets.train.len());
    assert_eq!(per_epoch, triplets.train.len().div_ceil(8));
    trainer.triplets(&data).expect("triplets");
    for _ in 0..per_epoch {
        pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    }
    assert!(trainer.epoch_done(triplets.train.len()) && !trainer.is_finished());
    let bytes = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
    let device = Device::flex();

    let mut resumed = Trainer::resume("paused", &bytes, &device).expect("resumes");
    // What identifies the run's data comes back with it: the images, the split's sizes.
    let run_data = trainer.run_data().expect("a run that found its data records which");
    assert_eq!((run_data.images, run_data.train_triplets), (data.labels.len(), triplets.train.len()));
    assert_eq!(run_data.held_out_triplets, triplets.held_out.len());
    assert_eq!(resumed.run_data(), Some(run_data));
    assert_eq!(resumed.triplets(&data).expect("a pause after the last step"), triplets);
    assert!(resumed.epoch_done(triplets.train.len()));
    let record = pollster::block_on(resumed.end_epoch(&data, &triplets.held_out)).expect("ends the epoch");
    assert_eq!(record.epoch, 1);
    assert!(!resumed.epoch_done(triplets.train.len()), "a new epoch begins");

    let crafted = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut file = TensorFile::parse("checkpoint", &bytes).expect("parses");
        let mut state: serde_json::Value = serde_json::from_str(&file.metadata["state"]).expect("state");
        edit(&mut state);
        file.metadata.insert("state".into(), state.to_string());
        let mut trainer = Trainer::resume("crafted", &file.to_bytes().expect("writes"), &device).expect("reads");
        trainer.triplets(&data).err().map(|err| err.to_string())
    };
    let beyond = crafted(&|state| state["step_in_epoch"] = serde_json::json!(per_epoch + 1));
    let expected = format!("it stopped at step {} of an epoch of {per_epoch} steps", per_epoch + 1);
    assert!(beyond.as_deref().is_some_and(|e| e.contains(&expected)), "{beyond:?}");
    let last = triplets.train.len() - 1;
    let short = crafted(&|state| {
        let order: Vec<u64> = state["order"]
            .as_array()
            .expect("order")
            .iter()
            .filter_map(|at| at.as_u64())
            .filter(|&at| at != last as u64)
            .collect();
        state["order"] = serde_json::json!(order);
    });
    let expected = format!("its epoch order covers {last} triplets; the run has {}", triplets.train.len());
    assert!(short.as_deref().is_some_and(|e| e.contains(&expected)), "{short:?}");
}

/// A step's report is its batch's, worked out here from the same weights and images before the
/// update (BatchNorm in training mode, each branch its own batch, as the step runs it): the mean
/// hinge, the share of triplets whose hinge is above 0 (a hinge of exactly 0 is not active), the
/// mean anchor-positive and anchor-negative distances, and its place in the epoch. Margin 0, so
/// part of the batch is active and part is not.
#[test]
fn a_step_reports_its_batch_worked_out_by_hand() {
    use burn::module::Module;
    use tripletlab_core::loss::LossSpec;
    use tripletlab_core::model::input::images_to_tensor;
    let (data, triplets) = synthetic_data(200);
    let spec = RunSpec { batch_size: 16, loss: LossSpec { margin: 0.0, ..LossSpec::default() }, ..small_config() };
    let mut trainer = new_trainer(&spec);
    let report = pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    let images = trainer.last_step_images().to_vec();
    assert_eq!(images.len(), 3 * 16);

    let device = Device::flex().autodiff();
    let model = tripletlab_core::model::weights::seeded_init(&spec.model, spec.seed, &Device::flex())
        .expect("seeded weights")
        .fork(&device)
        .train();
    let branch = |offset: usize| -> Vec<Vec<f32>> {
        let pixels: Vec<&[u8]> = images.iter().skip(offset).step_by(3).map(|&at| data.image(at as usize)).collect();
        host_rows(model.forward(images_to_tensor(pixels, spec.scaling, &device)))
    };
    let (anchors, positives, negatives) = (branch(0), branch(1), branch(2));
    let distance = spec.loss.distance;
    let to = |others: &[Vec<f32>]| -> Vec<f64> {
        anchors.iter().zip(others).map(|(a, other)| distance.of_rows(a, other)).collect()
    };
    let (dp, dn) = (to(&positives), to(&negatives));
    assert!(dp.iter().zip(&dn).all(|(p, n)| (p - n).abs() > 1e-5), "a near tie: {dp:?} {dn:?}");
    let hinges: Vec<f64> = dp.iter().zip(&dn).map(|(p, n)| (p - n).max(0.0)).collect();
    let active = hinges.iter().filter(|&&h| h > 0.0).count();
    assert!(active > 0 && active < 16, "{active} of 16 active: the test needs both kinds");
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;

    assert_eq!(report.triplets, 16);
    let per_epoch = triplets.train.len().div_ceil(16);
    assert_eq!((report.epoch, report.step, report.steps_per_epoch), (1, 1, per_epoch));
    assert_eq!(report.active_fraction, active as f32 / 16.0, "{report:?}");
    assert!((f64::from(report.loss) - mean(&hinges)).abs() < 1e-5, "{report:?} vs {}", mean(&hinges));
    assert!((f64::from(report.mean_positive_distance) - mean(&dp)).abs() < 1e-5, "{report:?} vs {}", mean(&dp));
    assert!((f64::from(report.mean_negative_distance) - mean(&dn)).abs() < 1e-5, "{report:?} vs {}", mean(&dn));
    assert!(report.mined.is_none());
}

/// With a margin of 2, the widest a cosine distance (in [0, 2]) allows, every triplet of a batch
/// is active: the report's active fraction is exactly 1, counted over every triplet of the batch
/// (the last one too), and the loss is the mean positive distance less the mean negative one plus
/// 2. The step also reads its results back to the host (`readbacks`, what `tripletlab speed`
/// reports per step): the process-wide count grows (other tests run beside this one in the same
/// process, so only its growth is certain, not by how much).
#[test]
fn with_the_widest_margin_every_triplet_of_a_step_is_active() {
    use tripletlab_core::loss::{Distance, LossSpec};
    let (data, triplets) = synthetic_data(200);
    let loss = LossSpec { margin: 2.0, ..LossSpec::default() };
    assert_eq!(loss.distance, Distance::Cosine);
    let spec = RunSpec { batch_size: 16, loss, ..small_config() };
    let mut trainer = new_trainer(&spec);
    let before = tripletlab_core::train::readbacks();
    let report = pollster::block_on(trainer.step(&data, &triplets.train)).expect("step");
    assert!(tripletlab_core::train::readbacks() > before, "a step made no read-back");
    assert_eq!(report.active_fraction, 1.0, "{report:?}");
    let expected = report.mean_positive_distance - report.mean_negative_distance + 2.0;
    assert!((report.loss - expected).abs() < 1e-5, "{report:?} vs {expected}");
}

/// A picture from outside a full run (a search with one's own picture) is embedded as the run
/// embeds its own images: with the run's input scaling, here the symmetric one rather than the
/// default, so the embedder's row of a dataset image is the run's row of it (and not the row of
/// the same image scaled the default way).
#[test]
fn the_embedder_scales_pictures_as_the_run_does() {
    use tripletlab_core::model::InputScaling;
    use tripletlab_core::training::Training;
    let data = synthetic_images(3, 200);
    let device = Device::flex();
    let spec = RunSpec { scaling: InputScaling::Symmetric, ..small_config() };
    let encoder =
        tripletlab_core::model::weights::seeded_init(&spec.model, spec.seed, &device).expect("seeded weights");
    let (training, _) = pollster::block_on(Training::start(spec, encoder, &data, &device)).expect("a run");
    let images = [0u32, 1, 2];
    let own = pollster::block_on(training.embed(&data, &images)).expect("the run's rows");
    let pictures: Vec<&[u8]> = images.iter().map(|&at| data.image(at as usize)).collect();
    let embedder = pollster::block_on(training.embedder()).expect("an embedder");
    let outside = pollster::block_on(embedder.embed(&pictures)).expect("the embedder's rows");
    // Relative: the seeded model's templates are small numbers.
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-4 * x.abs().max(y.abs()));
    let largest = own.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(largest > 0.0, "the seeded model's templates are all 0: the test cannot tell scalings apart");
    assert_eq!(outside.len(), 3);
    assert!(own.iter().zip(&outside).all(|(a, b)| close(a, b)), "the embedder scales pictures its own way");
    let Training::Full(trainer) = &training else { panic!("a full run") };
    let (model, plain) = (trainer.inference_model(), trainer.plain_device());
    let unit = tripletlab_core::train::embed_images(&model, &pictures, InputScaling::Unit, 8, &plain);
    let unit = pollster::block_on(unit).expect("rows scaled the default way");
    assert!(!unit.iter().zip(&own).all(|(a, b)| close(a, b)), "the scaling makes no difference here");
}

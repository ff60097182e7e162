//! Mutation fuzzing of every reader of outside bytes: valid inputs, truncated, bit-flipped,
//! spliced and random, from a fixed seed. Any panic fails the test; every input must give a value
//! or a typed error. Prints how many inputs ran.

use std::path::PathBuf;

use tripletlab_core::data::archive::read_tar_gz;
use tripletlab_core::data::cifar::{Batch, parse_class_names};
use tripletlab_core::data::import::{UnzipLimits, check_picture_size, unzip_folder};
use tripletlab_core::data::manifest::{DatasetIndex, Manifest, Shard};
use tripletlab_core::model::safetensors::TensorFile;
use tripletlab_core::random::SeededRng;

const INPUTS_PER_READER: usize = 3_000;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cifar10-foolbox").join(name))
        .expect("fixture")
}

/// One mutation of `seed_input`.
fn mutate(seed_input: &[u8], rng: &mut SeededRng) -> Vec<u8> {
    let mut bytes = seed_input.to_vec();
    match rng.index(6) {
        0 => bytes.truncate(rng.index(bytes.len() + 1)),
        1 => {
            for _ in 0..=rng.index(8) {
                if !bytes.is_empty() {
                    let at = rng.index(bytes.len());
                    bytes[at] ^= 1 << rng.index(8);
                }
            }
        }
        2 => {
            let at = rng.index(bytes.len() + 1);
            let junk: Vec<u8> = (0..rng.index(64)).map(|_| rng.next_u64() as u8).collect();
            bytes.splice(at..at, junk);
        }
        3 => {
            let len = rng.index(bytes.len().min(4096) + 1);
            bytes = (0..len).map(|_| rng.next_u64() as u8).collect();
        }
        4 => {
            if !bytes.is_empty() {
                let at = rng.index(bytes.len());
                let len = rng.index(bytes.len() - at) + 1;
                bytes.drain(at..at + len.min(bytes.len() - at));
            }
        }
        _ => {
            // Overwrite a run with one of the "interesting" bytes.
            let value = [0u8, 0xff, b'0', b'7', b' ', b'"', b'{'][rng.index(7)];
            if !bytes.is_empty() {
                let at = rng.index(bytes.len());
                let end = (at + rng.index(16) + 1).min(bytes.len());
                bytes[at..end].fill(value);
            }
        }
    }
    bytes
}

fn fuzz(name: &str, seed_input: &[u8], seed: u64, read: impl Fn(&[u8]) -> bool) -> usize {
    let mut rng = SeededRng::new(seed);
    let mut accepted = 0;
    for _ in 0..INPUTS_PER_READER {
        if read(&mutate(seed_input, &mut rng)) {
            accepted += 1;
        }
    }
    println!("{name}: {INPUTS_PER_READER} inputs, no panic, {accepted} accepted as valid");
    INPUTS_PER_READER
}

#[test]
fn readers_never_panic_on_damaged_input() {
    let batch = fixture("test_batch.bin");
    let small_batch = batch[..3 * 3073].to_vec();
    let meta = fixture("batches.meta.txt");
    let archive = fixture("cifar-10-binary.tar.gz");
    let manifest = Manifest {
        format: 1,
        name: "x".into(),
        synthetic: false,
        class_names: (0..10).map(|i| format!("c{i}")).collect(),
        shards: vec![Shard::describe("test_batch.bin", &small_batch)],
    }
    .to_json();
    let mut tensors = TensorFile::default();
    tensors.tensors.insert(
        "stem.conv.weight".into(),
        tripletlab_core::model::safetensors::F32Tensor { shape: vec![2, 2], values: vec![1.0, 2.0, 3.0, 4.0] },
    );
    tensors.blobs.insert("optimizer".into(), vec![9; 40]);
    tensors.metadata.insert("format".into(), "x".into());
    let weights = tensors.to_bytes().expect("writes");

    let mut total = 0;
    total += fuzz("cifar batch", &small_batch, 1, |b| Batch::parse("f.bin", b).is_ok());
    total += fuzz("meta file", &meta, 2, |b| parse_class_names("meta", b).is_ok());
    total += fuzz("tar.gz archive", &archive, 3, |b| read_tar_gz("a.tar.gz", b, |_| true).is_ok());
    total += fuzz("manifest", manifest.as_bytes(), 4, |b| Manifest::parse("m.json", b).is_ok());
    total += fuzz(
        "dataset index",
        br#"{"datasets":[{"name":"a","synthetic":true,"manifest":"a/manifest.json","images":1,"bytes":3073}]}"#,
        5,
        |b| DatasetIndex::parse("index.json", b).is_ok(),
    );
    total += fuzz("safetensors", &weights, 6, |b| TensorFile::parse("w.safetensors", b).is_ok());
    // A zipped folder of two pictures (one stored, one deflated), unpacked within small limits,
    // and a picture's header read for its size.
    let zip = {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, method) in
            [("pets/cat/1.png", zip::CompressionMethod::Stored), ("pets/dog/2.png", zip::CompressionMethod::Deflated)]
        {
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            writer.start_file(name, options).expect("entry");
            writer.write_all(&small_batch[..600]).expect("write");
        }
        writer.finish().expect("zip").into_inner()
    };
    let limits = UnzipLimits { files: 100, file_bytes: 100_000, total_bytes: 200_000 };
    total += fuzz("zip of pictures", &zip, 7, |b| unzip_folder("p.zip", b, limits).is_ok());
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    png.extend(b"IHDR");
    png.extend(6_000u32.to_be_bytes());
    png.extend(4_000u32.to_be_bytes());
    png.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    total += fuzz("picture header", &png, 8, |b| check_picture_size("p.png", b).is_ok());
    println!("{total} fuzzed inputs in all, none panicked");
}

/// Checkpoints are read by burn code (the trainer's resume), which cargo-fuzz cannot build
/// cheaply with sanitizers: they are mutated here instead, half of the mutations aimed at the JSON
/// header (names, shapes, offsets, the run's description, data record and state), half anywhere.
/// Each must be refused while it is read (before the first step), or take a step: a checkpoint is
/// checked before the first step, not by it (an error raised by the step itself fails the test).
#[test]
fn damaged_checkpoints_are_errors_never_panics() {
    use burn::tensor::Device;
    use tripletlab_core::data::{Dataset, synthetic};
    use tripletlab_core::model::MobileNetV2Config;
    use tripletlab_core::run::{DataSpec, RunSpec};
    use tripletlab_core::train::Trainer;

    const INPUTS: usize = 300;
    let config = RunSpec {
        data: DataSpec { held_out: 0.2, ..DataSpec::default() },
        pretrained: false,
        batch_size: 4,
        model: MobileNetV2Config { width: 0.35, bn_momentum: 0.9 },
        ..RunSpec::default()
    };
    let names = synthetic::CLASS_NAMES.iter().map(|name| name.to_string()).collect();
    let data = Dataset::from_batches(synthetic::NAME, true, names, [synthetic::batch(3, 40)]);
    let device = Device::flex();
    let model = tripletlab_core::model::weights::seeded_init(&config.model, 1, &device).expect("weights");
    let mut trainer = Trainer::new(model, config, &device);
    let triplets = trainer.triplets(&data).expect("triplets");
    pollster::block_on(trainer.step(&data, &triplets.train)).expect("a step");
    let checkpoint = pollster::block_on(trainer.checkpoint()).expect("checkpoint");
    // Refused while it is read (resume, or its split on the data: before any step), or accepted;
    // an accepted checkpoint must then step.
    let resume_and_step = |bytes: &[u8]| -> Result<Outcome, String> {
        let mut trainer = match Trainer::resume("damaged.safetensors", bytes, &device) {
            Ok(trainer) => trainer,
            Err(_) => return Ok(Outcome::Refused),
        };
        let Ok(triplets) = trainer.triplets(&data) else { return Ok(Outcome::Refused) };
        pollster::block_on(trainer.step(&data, &triplets.train)).map_err(|err| err.to_string())?;
        Ok(Outcome::Stepped)
    };
    assert_eq!(resume_and_step(&checkpoint), Ok(Outcome::Stepped), "the undamaged checkpoint resumes and steps");
    let header_end = 8 + u64::from_le_bytes(checkpoint[..8].try_into().expect("8 bytes")) as usize;

    let mut rng = SeededRng::new(7);
    let (mut refused, mut stepped, mut failed_at_the_step) = (0, 0, Vec::new());
    for at in 0..INPUTS {
        let damaged = if at % 2 == 0 {
            let mut header = mutate(&checkpoint[..header_end], &mut rng);
            header.extend_from_slice(&checkpoint[header_end..]);
            header
        } else {
            mutate(&checkpoint, &mut rng)
        };
        match resume_and_step(&damaged) {
            Ok(Outcome::Refused) => refused += 1,
            Ok(Outcome::Stepped) => stepped += 1,
            Err(err) => failed_at_the_step.push(format!("input {at}: {err}")),
        }
    }
    println!(
        "checkpoint: {INPUTS} inputs, no panic, {refused} refused before the first step, {stepped} resumed and stepped"
    );
    // The damage a reader must see is seen while reading: no accepted checkpoint fails its step.
    assert!(failed_at_the_step.is_empty(), "accepted, then failed at the step: {failed_at_the_step:?}");
    // Both ways were taken (a mutation that only changes a value inside a weight is a valid file).
    assert!(refused > INPUTS / 2 && stepped > 0, "{refused} refused, {stepped} stepped");
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Refused,
    Stepped,
}

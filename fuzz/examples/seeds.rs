//! Writes the seed inputs of every fuzz target into `corpus/<target>/seed-*`: valid files of each
//! format (from the project's fixtures, and made by the project's own writers), so fuzzing starts
//! from what the readers accept. `cargo run --example seeds` (in fuzz/).

use std::path::Path;

use tripletlab_core::data::cifar::Batch;
use tripletlab_core::data::manifest::{DatasetIndex, IndexEntry, Manifest, Shard};
use tripletlab_core::model::safetensors::{F32Tensor, TensorFile};
use tripletlab_protocol::{BackendChoice, Command, DatasetRequest, DroppedFile, Event, TrainSettings};

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = root.join("../crates/core/tests/fixtures/cifar10-foolbox");
    let batch = std::fs::read(fixtures.join("test_batch.bin"))?;
    let three = batch[..3 * 3073].to_vec();
    let meta = std::fs::read(fixtures.join("batches.meta.txt"))?;
    let archive = std::fs::read(fixtures.join("cifar-10-binary.tar.gz"))?;

    let parsed = Batch::parse("seed.bin", &three).map_err(std::io::Error::other)?;
    let manifest = Manifest {
        format: 1,
        name: "seed".into(),
        synthetic: false,
        class_names: meta
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| String::from_utf8_lossy(l).into())
            .collect(),
        shards: vec![Shard::describe("data_batch_1.bin", &parsed.to_bytes())],
    };
    let index = DatasetIndex {
        datasets: vec![IndexEntry {
            name: "seed".into(),
            synthetic: true,
            manifest: "seed/manifest.json".into(),
            images: 3,
            bytes: 3 * 3073,
        }],
    };
    let mut tensors = TensorFile::default();
    tensors
        .tensors
        .insert("stem.conv.weight".into(), F32Tensor { shape: vec![2, 2], values: vec![1.0, -2.0, 0.5, 4.0] });
    tensors.tensors.insert("head.bias".into(), F32Tensor { shape: vec![3], values: vec![0.0, 1.0, 2.0] });
    tensors.blobs.insert("adam.state".into(), vec![7; 24]);
    tensors.metadata.insert("format".into(), "tripletlab-checkpoint-v1".into());
    tensors.metadata.insert("state".into(), r#"{"epoch":1,"step_in_epoch":0}"#.into());

    let commands = [
        Command::ProbeAdapter,
        Command::Ping { backend: BackendChoice::WebGpu },
        Command::StartTraining(TrainSettings::tutorial(BackendChoice::Cpu)),
        Command::LoadDataset(DatasetRequest::Served {
            manifest_url: "./public/data/x/manifest.json".into(),
            max_shards: Some(2),
        }),
        Command::LoadDataset(DatasetRequest::Dropped {
            files: vec![DroppedFile { name: "batches.meta.txt".into(), bytes: meta.clone() }],
        }),
        Command::ImportCheckpoint { name: "run.safetensors".into(), bytes: tensors.to_bytes().expect("writes") },
    ];
    let events = [
        Event::Warning { message: "the cache is full".into() },
        Event::TrainingFailed { message: "failed".into(), hint: "retry".into() },
        Event::SavedRun(None),
        Event::DatasetList { datasets: index.datasets.clone() },
    ];

    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join("corpus").join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)
    };
    write("cifar_batch", "three-records", &three)?;
    write("cifar_batch", "one-record", &batch[..3073])?;
    write("cifar_meta", "batches.meta.txt", &meta)?;
    write("tar_gz", "cifar-10-binary.tar.gz", &archive)?;
    write("manifest", "manifest.json", manifest.to_json().as_bytes())?;
    write("manifest", "index.json", index.to_json().as_bytes())?;
    write("safetensors", "checkpoint-like", &tensors.to_bytes().expect("writes"))?;
    for (at, command) in commands.iter().enumerate() {
        write("protocol", &format!("command-{at}"), &bincode::serialize(command).map_err(std::io::Error::other)?)?;
    }
    for (at, event) in events.iter().enumerate() {
        write("protocol", &format!("event-{at}"), &bincode::serialize(event).map_err(std::io::Error::other)?)?;
    }
    // A zipped folder of two pictures (stored and deflated), and a picture's header alone.
    let zip = {
        use std::io::Write;
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, method) in
            [("pets/cat/1.png", zip::CompressionMethod::Stored), ("pets/dog/2.png", zip::CompressionMethod::Deflated)]
        {
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            writer.start_file(name, options).map_err(std::io::Error::other)?;
            writer.write_all(&three[..600])?;
        }
        writer.finish().map_err(std::io::Error::other)?.into_inner()
    };
    write("zip_folder", "two-pictures.zip", &zip)?;
    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    png.extend(b"IHDR");
    png.extend(8_160u32.to_be_bytes());
    png.extend(6_120u32.to_be_bytes());
    png.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    write("zip_folder", "png-header", &png)?;
    println!("seeds written under {}", root.join("corpus").display());
    Ok(())
}

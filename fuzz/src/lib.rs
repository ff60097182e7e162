//! What each fuzz target checks, shared by the libFuzzer targets (`fuzz_targets/`, nightly) and
//! the replay of their corpora and crash files on stable (`tests/replay.rs`).
//!
//! Every reader must return a value or a typed error for any bytes, never panic, never allocate
//! what the input merely claims; what it accepts must survive a round trip through its writer.

use tripletlab_core::data::archive::{MAX_KEPT_BYTES, read_cifar_tar_gz, read_tar_gz};
use tripletlab_core::data::cifar::{Batch, CifarFiles, parse_class_names};
use tripletlab_core::data::import::{MAX_PICTURE_PIXELS, UnzipLimits, check_picture_size, unzip_folder};
use tripletlab_core::data::manifest::{DatasetIndex, Manifest};
use tripletlab_core::model::safetensors::TensorFile;
use tripletlab_protocol::{Command, Event};

/// The fuzz targets, by name (as `cargo fuzz run` knows them).
pub const TARGETS: [&str; 7] =
    ["cifar_batch", "cifar_meta", "tar_gz", "manifest", "safetensors", "protocol", "zip_folder"];

/// Run the check of the target named `name` on `data`; false for an unknown name.
pub fn check(name: &str, data: &[u8]) -> bool {
    match name {
        "cifar_batch" => cifar_batch(data),
        "cifar_meta" => cifar_meta(data),
        "tar_gz" => tar_gz(data),
        "manifest" => manifest(data),
        "safetensors" => safetensors(data),
        "protocol" => protocol(data),
        "zip_folder" => zip_folder(data),
        _ => return false,
    }
    true
}

/// A CIFAR-10 batch file: accepted bytes are written back exactly; with a meta file, the pair
/// reads as a dataset.
pub fn cifar_batch(data: &[u8]) {
    if let Ok(batch) = Batch::parse("fuzz.bin", data) {
        assert_eq!(batch.to_bytes(), data, "a batch is written back byte for byte");
        let meta = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n";
        let files = [("data_batch_1.bin", data), ("batches.meta.txt", meta.as_slice())];
        if let Ok(parsed) = CifarFiles::parse("fuzz", files.into_iter()) {
            assert_eq!(parsed.into_dataset("fuzz", false).len(), batch.len());
        }
    }
}

/// `batches.meta.txt`: ten class names or an error.
pub fn cifar_meta(data: &[u8]) {
    if let Ok(names) = parse_class_names("batches.meta.txt", data) {
        assert!(names.iter().all(|name| !name.is_empty()));
    }
}

/// A gzipped tar, read as CIFAR-10 and as any archive.
pub fn tar_gz(data: &[u8]) {
    let _ = read_cifar_tar_gz("fuzz.tar.gz", data);
    if let Ok(members) = read_tar_gz("fuzz.tar.gz", data, |_| true) {
        let kept: u64 = members.iter().map(|(_, bytes)| bytes.len() as u64).sum();
        assert!(kept <= MAX_KEPT_BYTES, "kept {kept} bytes");
    }
}

/// A dataset manifest and the index of datasets: accepted ones survive their JSON writer.
pub fn manifest(data: &[u8]) {
    if let Ok(manifest) = Manifest::parse("manifest.json", data) {
        let again = Manifest::parse("manifest.json", manifest.to_json().as_bytes());
        assert_eq!(again.as_ref(), Ok(&manifest), "a manifest survives its writer");
    }
    if let Ok(index) = DatasetIndex::parse("index.json", data) {
        let again = DatasetIndex::parse("index.json", index.to_json().as_bytes());
        assert_eq!(again.as_ref(), Ok(&index), "an index survives its writer");
    }
}

/// A safetensors file (the pretrained weights, a checkpoint's tensors and metadata): what is
/// accepted is written in a form that reads back to the same bytes.
pub fn safetensors(data: &[u8]) {
    if let Ok(file) = TensorFile::parse("fuzz.safetensors", data) {
        let written = file.to_bytes().expect("what was read can be written");
        let again = TensorFile::parse("fuzz.safetensors", &written).expect("our own writing reads back");
        assert_eq!(again.to_bytes().ok(), Some(written), "writing is stable");
    }
}

/// The page <-> worker messages as gloo-worker encodes them (bincode): garbage is an error.
pub fn protocol(data: &[u8]) {
    if let Ok(command) = bincode::deserialize::<Command>(data) {
        let bytes = bincode::serialize(&command).expect("a decoded command encodes");
        assert!(bincode::deserialize::<Command>(&bytes).is_ok());
    }
    if let Ok(event) = bincode::deserialize::<Event>(data) {
        let bytes = bincode::serialize(&event).expect("a decoded event encodes");
        assert!(bincode::deserialize::<Event>(&bytes).is_ok());
    }
}

/// A `.zip` of a folder of pictures (unpacked within small limits: what is kept never passes them,
/// whatever the archive claims), and each file read as a picture's header (what passes is at most
/// 100 megapixels).
pub fn zip_folder(data: &[u8]) {
    let limits = UnzipLimits { files: 64, file_bytes: 1 << 20, total_bytes: 4 << 20 };
    if let Ok(files) = unzip_folder("fuzz.zip", data, limits) {
        assert!(files.len() <= limits.files);
        let kept: u64 = files.iter().map(|(_, bytes)| bytes.len() as u64).sum();
        assert!(kept <= limits.total_bytes, "kept {kept} bytes");
        for (name, bytes) in &files {
            assert!(bytes.len() as u64 <= limits.file_bytes && !name.split('/').any(|part| part == ".."));
        }
    }
    if let Ok(Some((width, height))) = check_picture_size("fuzz.png", data) {
        assert!(width * height <= MAX_PICTURE_PIXELS);
    }
}

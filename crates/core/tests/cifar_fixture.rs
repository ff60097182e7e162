//! Real CIFAR-10 records: the first 20 test images (from foolbox 3.3.4, written in the official
//! layout by `tools/make_foolbox_cifar_fixture.py`), checked against pixel values read from the
//! original PNGs by Pillow.

use std::path::PathBuf;

use serde::Deserialize;
use tripletlab_core::data::archive::read_cifar_tar_gz;
use tripletlab_core::data::cifar::{IMAGE_SIDE, RECORD_BYTES};
use tripletlab_core::data::{CifarFiles, DataError, Dataset};

#[derive(Deserialize)]
struct Expected {
    label: u8,
    class: String,
    plane_sums: [u64; 3],
    top_left_rgb: [u8; 3],
    bottom_right_rgb: [u8; 3],
    row_5_col_17_rgb: [u8; 3],
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cifar10-foolbox").join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn expected() -> Vec<Expected> {
    serde_json::from_slice(&fixture("expected.json")).expect("expected.json parses")
}

fn from_folder() -> Dataset {
    let (batch, meta) = (fixture("test_batch.bin"), fixture("batches.meta.txt"));
    let files = [("test_batch.bin", batch.as_slice()), ("batches.meta.txt", meta.as_slice())];
    CifarFiles::parse("fixture folder", files).expect("fixture reads").into_dataset("cifar-10", false)
}

fn rgb(dataset: &Dataset, image: usize, row: usize, col: usize) -> [u8; 3] {
    let pixels = dataset.image(image);
    let plane = IMAGE_SIDE * IMAGE_SIDE;
    [0, 1, 2].map(|c| pixels[c * plane + row * IMAGE_SIDE + col])
}

#[test]
fn labels_and_pixels_match_the_original_pngs() {
    let dataset = from_folder();
    let expected = expected();
    assert_eq!(dataset.len(), 20);
    for (index, want) in expected.iter().enumerate() {
        assert_eq!(dataset.labels[index], want.label, "image {index}");
        assert_eq!(dataset.class_names[usize::from(want.label)], want.class);
        let pixels = dataset.image(index);
        let sums = [0, 1, 2].map(|c| pixels[c * 1024..(c + 1) * 1024].iter().map(|&b| u64::from(b)).sum::<u64>());
        assert_eq!(sums, want.plane_sums, "image {index}");
        assert_eq!(rgb(&dataset, index, 0, 0), want.top_left_rgb, "image {index}");
        assert_eq!(rgb(&dataset, index, 31, 31), want.bottom_right_rgb, "image {index}");
        assert_eq!(rgb(&dataset, index, 5, 17), want.row_5_col_17_rgb, "image {index}");
    }
    // The CIFAR-10 test set famously opens with a cat, two ships and an airplane.
    assert_eq!(&dataset.labels[..4], &[3, 8, 8, 0]);
}

#[test]
fn the_archive_and_the_extracted_folder_give_the_same_dataset() {
    let archive = fixture("cifar-10-binary.tar.gz");
    let from_archive = read_cifar_tar_gz("cifar-10-binary.tar.gz", archive.as_slice())
        .expect("archive reads")
        .into_dataset("cifar-10", false);
    assert_eq!(from_archive, from_folder());
}

#[test]
fn a_truncated_batch_file_is_named_in_the_error() {
    let mut batch = fixture("test_batch.bin");
    batch.truncate(batch.len() - 100);
    let meta = fixture("batches.meta.txt");
    let files = [("cifar-10-batches-bin/test_batch.bin", batch.as_slice()), ("batches.meta.txt", meta.as_slice())];
    let err = CifarFiles::parse("folder", files).unwrap_err();
    assert_eq!(
        err,
        DataError::NotWholeRecords {
            file: "cifar-10-batches-bin/test_batch.bin".into(),
            len: 20 * RECORD_BYTES - 100,
            records: 19,
            extra: RECORD_BYTES - 100,
        }
    );
}

#[test]
fn a_truncated_or_corrupt_archive_is_an_error_never_a_smaller_dataset() {
    let archive = fixture("cifar-10-binary.tar.gz");
    for cut in [10, 100, archive.len() / 2, archive.len() - 8, archive.len() - 1] {
        let result = read_cifar_tar_gz("cifar-10-binary.tar.gz", &archive[..cut]);
        let err = result.expect_err(&format!("cut at {cut} must fail"));
        assert!(err.to_string().starts_with("cifar-10-binary.tar.gz"), "{err}");
    }
    let mut flipped = archive.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    assert!(read_cifar_tar_gz("cifar-10-binary.tar.gz", flipped.as_slice()).is_err());
}

//! `tripletlab prepare` end to end: sources in, shards and manifest out, errors with file names.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tripletlab_core::data::manifest::Manifest;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/cifar10-foolbox")
}

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("prepare").join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn prepare(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tripletlab")).arg("prepare").args(args).output().expect("runs")
}

fn manifest(dir: &Path) -> Manifest {
    let bytes = fs::read(dir.join("manifest.json")).expect("manifest written");
    Manifest::parse("manifest.json", &bytes).expect("manifest valid")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn synthetic_shards_verify_against_their_manifest() {
    let root = scratch("synthetic");
    let out = root.join("synthetic-shapes");
    let run = prepare(&[
        "--from",
        "synthetic",
        "--out",
        out.to_str().expect("utf-8"),
        "--shards",
        "2",
        "--images-per-shard",
        "50",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let manifest = manifest(&out);
    assert!(manifest.synthetic);
    assert_eq!(manifest.name, "synthetic-shapes");
    assert_eq!(manifest.shards.len(), 2);
    assert_eq!(manifest.total_images(), 100);
    for shard in &manifest.shards {
        shard.verify(&fs::read(out.join(&shard.file)).expect("shard written")).expect("hash matches");
    }
    let index = fs::read_to_string(root.join("index.json")).expect("index written");
    assert!(index.contains("\"synthetic-shapes/manifest.json\""), "{index}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("synthetic (generated shapes, not CIFAR-10)"));
}

#[test]
fn archive_and_folder_give_identical_shards() {
    let root = scratch("archive-vs-folder");
    let (from_archive, from_folder) = (root.join("a"), root.join("f"));
    let archive = fixture_dir().join("cifar-10-binary.tar.gz");
    for (source, out) in [(archive.as_path(), &from_archive), (fixture_dir().as_path(), &from_folder)] {
        let run = prepare(&["--from", source.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
        assert!(run.status.success(), "{}", stderr(&run));
    }
    let (a, f) = (manifest(&from_archive), manifest(&from_folder));
    assert_eq!(a, f);
    assert!(!a.synthetic);
    assert_eq!(a.class_names[3], "cat");
    assert_eq!(a.shards.len(), 1);
    assert_eq!(a.shards[0].file, "test_batch.bin");
    assert_eq!(a.shards[0].images, 20);
    let original = fs::read(fixture_dir().join("test_batch.bin")).expect("fixture");
    assert_eq!(fs::read(from_archive.join("test_batch.bin")).expect("shard"), original);
}

#[test]
fn a_missing_source_says_what_to_give() {
    let run = prepare(&["--from", "/no/such/cifar.tar.gz", "--out", "/tmp/never"]);
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    assert!(err.starts_with("error: /no/such/cifar.tar.gz does not exist"), "{err}");
    assert!(err.contains("synthetic"), "{err}");
}

#[test]
fn a_truncated_batch_in_a_folder_is_named_and_nothing_is_written() {
    let root = scratch("truncated");
    let source = root.join("source");
    fs::create_dir_all(&source).expect("mkdir");
    let batch = fs::read(fixture_dir().join("test_batch.bin")).expect("fixture");
    fs::write(source.join("test_batch.bin"), &batch[..batch.len() - 1]).expect("write");
    fs::copy(fixture_dir().join("batches.meta.txt"), source.join("batches.meta.txt")).expect("copy");
    let out = root.join("out");
    let run = prepare(&["--from", source.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    assert!(err.contains("test_batch.bin is 61459 bytes: not a whole number of 3,073-byte records"), "{err}");
    assert!(!out.join("manifest.json").exists());
}

#[test]
fn a_corrupt_archive_is_an_error() {
    let root = scratch("corrupt");
    let mut archive = fs::read(fixture_dir().join("cifar-10-binary.tar.gz")).expect("fixture");
    archive.truncate(archive.len() / 2);
    let path = root.join("cifar-10-binary.tar.gz");
    fs::write(&path, archive).expect("write");
    let run = prepare(&["--from", path.to_str().expect("utf-8"), "--out", root.join("out").to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(1));
    let err = stderr(&run);
    assert!(err.contains("cifar-10-binary.tar.gz is not a valid"), "{err}");
}

/// `--from-folders`: a folder of class sub-folders of pictures (PNG and JPEG of several sizes,
/// written here) becomes CIFAR-10 shards; each picture's centred square is what is kept; a file
/// that is not a picture is named and left out; a folder that cannot train is refused by name.
#[test]
fn own_pictures_become_cifar_shards_of_their_centred_squares() {
    let root = scratch("pictures");
    let pictures = root.join("pets");
    for class in ["cat", "dog"] {
        fs::create_dir_all(pictures.join(class)).expect("class folder");
    }
    // Cats: 60 x 20, red | green | blue thirds: the centred square is all green.
    let thirds = image::RgbImage::from_fn(60, 20, |x, _| match x {
        0..20 => image::Rgb([200, 0, 0]),
        20..40 => image::Rgb([0, 200, 0]),
        _ => image::Rgb([0, 0, 200]),
    });
    for i in 0..4 {
        thirds.save(pictures.join("cat").join(format!("{i}.png"))).expect("png");
    }
    // Dogs: portrait JPEGs of other sizes, one grey.
    for (i, (w, h)) in [(30, 50), (64, 64), (33, 40), (100, 120)].into_iter().enumerate() {
        image::RgbImage::from_pixel(w, h, image::Rgb([90, 90, 90]))
            .save(pictures.join("dog").join(format!("{i}.jpg")))
            .expect("jpeg");
    }
    fs::write(pictures.join("dog").join("notes.txt"), "not a picture").expect("text");
    let out = root.join("out");
    let run = prepare(&["--from-folders", pictures.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8")]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("skipped dog/notes.txt: not a picture this tool reads"), "{}", stderr(&run));
    let manifest = manifest(&out);
    assert_eq!((manifest.name.as_str(), manifest.synthetic, manifest.total_images()), ("pets", false, 8));
    assert_eq!(&manifest.class_names[..3], ["cat", "dog", "unused class 2"]);
    let batch = tripletlab_core::data::Batch::parse(
        "data_batch_1.bin",
        &fs::read(out.join("data_batch_1.bin")).expect("shard"),
    )
    .expect("a CIFAR-10 batch");
    assert_eq!(batch.labels, [0, 0, 0, 0, 1, 1, 1, 1]);
    let cat = &batch.pixels[..3072];
    assert!(
        cat[..1024].iter().all(|&r| r == 0)
            && cat[1024..2048].iter().all(|&g| g == 200)
            && cat[2048..].iter().all(|&b| b == 0)
    );
    let dog = &batch.pixels[4 * 3072..5 * 3072];
    assert!(dog.iter().all(|&v| v.abs_diff(90) <= 2), "a grey JPEG stays grey (to JPEG's rounding)");

    // A class with too few pictures: refused, naming it and what to do.
    fs::remove_file(pictures.join("dog").join("0.jpg")).expect("remove");
    let run = prepare(&[
        "--from-folders",
        pictures.to_str().expect("utf-8"),
        "--out",
        root.join("out2").to_str().expect("utf-8"),
    ]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("class dog has 3 pictures; each class needs at least 4"), "{}", stderr(&run));
    let run = prepare(&["--from-folders", root.join("nowhere").to_str().expect("utf-8")]);
    assert!(!run.status.success() && stderr(&run).contains("is not a folder"), "{}", stderr(&run));
}

/// `--from-folders X.zip`: the same folder zipped (as a file manager zips it, under its own
/// name) gives the same shards; a picture whose header says 120 megapixels is left out before
/// it is decoded; a zip bomb is refused whole.
#[test]
fn a_zipped_folder_gives_the_folders_shards_and_a_zip_bomb_is_refused() {
    use std::io::Write;
    let root = scratch("zipped");
    let folder = root.join("pets");
    for class in ["cat", "dog"] {
        fs::create_dir_all(folder.join(class)).expect("class folder");
        for i in 0..4u8 {
            image::RgbImage::from_pixel(40 + u32::from(i), 30, image::Rgb([i * 50, 100, 200 - i * 40]))
                .save(folder.join(class).join(format!("{i}.png")))
                .expect("png");
        }
    }
    // A PNG header (signature and IHDR) of 12,000 x 10,000 pixels: nothing past it.
    let mut header = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    header.extend(b"IHDR");
    header.extend(12_000u32.to_be_bytes());
    header.extend(10_000u32.to_be_bytes());
    header.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    let zip_path = root.join("pets.zip");
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut zip = zip::ZipWriter::new(fs::File::create(&zip_path).expect("zip"));
    for class in ["cat", "dog"] {
        for i in 0..4 {
            zip.start_file(format!("pets/{class}/{i}.png"), options).expect("entry");
            zip.write_all(&fs::read(folder.join(class).join(format!("{i}.png"))).expect("read")).expect("write");
        }
    }
    zip.start_file("pets/cat/huge.png", options).expect("entry");
    zip.write_all(&header).expect("write");
    zip.finish().expect("finish");
    let (from_folder, from_zip) = (root.join("from-folder"), root.join("from-zip"));
    let run =
        prepare(&["--from-folders", folder.to_str().expect("utf-8"), "--out", from_folder.to_str().expect("utf-8")]);
    assert!(run.status.success(), "{}", stderr(&run));
    let run =
        prepare(&["--from-folders", zip_path.to_str().expect("utf-8"), "--out", from_zip.to_str().expect("utf-8")]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains(
            "skipped cat/huge.png: cat/huge.png is 12000 x 10000 pixels (120 megapixels); pictures up to 100 megapixels \
             are read"
        ),
        "{}",
        stderr(&run)
    );
    let shard = |dir: &Path| fs::read(dir.join("data_batch_1.bin")).expect("shard");
    assert_eq!(shard(&from_folder), shard(&from_zip), "the zipped folder gives the folder's pictures");
    assert_eq!(manifest(&from_zip).total_images(), 8);

    // 30 MB of zeros deflate to ~30 KB: refused before any picture is read.
    let bomb = root.join("bomb.zip");
    let mut zip = zip::ZipWriter::new(fs::File::create(&bomb).expect("zip"));
    zip.start_file("pets/cat/0.png", options).expect("entry");
    zip.write_all(&vec![0u8; 30_000_000]).expect("write");
    zip.finish().expect("finish");
    assert!(fs::metadata(&bomb).expect("size").len() < 100_000);
    let run = prepare(&[
        "--from-folders",
        bomb.to_str().expect("utf-8"),
        "--out",
        root.join("bombed").to_str().expect("utf-8"),
    ]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains(
            "bomb.zip: pets/cat/0.png unpacks to more than 25 MB, more than any picture read here (a zip bomb?)"
        ),
        "{}",
        stderr(&run)
    );
    assert!(!root.join("bombed").exists(), "nothing written");
}

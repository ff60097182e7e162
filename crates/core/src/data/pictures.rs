//! Your own pictures as a dataset: pictures sorted into classes by their folder (a folder whose
//! sub-folders are the classes), each decoded and made 32 x 32 by the host (the browser's canvas
//! in the page's worker, the `image` crate in the CLI) after the same centre crop
//! ([`centre_square`]), then checked and turned into a dataset like CIFAR-10's, which
//! [`to_cifar_files`] writes in the CIFAR-10 binary format `tripletlab` reads.

use std::collections::BTreeMap;

use super::Dataset;
use super::cifar::{Batch, CLASS_COUNT, IMAGE_BYTES, META_FILE};

/// Each class needs this many pictures: two to make a training pair, two more to hold out.
pub const MIN_PICTURES_PER_CLASS: usize = 4;

/// One picture, decoded: its class (the folder it was in), its file, and its 32 x 32 pixels as
/// R, G, B planes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    pub class: String,
    pub file: String,
    pub pixels: Vec<u8>,
}

/// Why a set of pictures cannot be a dataset; each says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PicturesError {
    #[error("no picture could be read: choose a folder whose sub-folders (one a class) hold pictures")]
    NoPictures,
    #[error(
        "every picture is in one class ({class}): a triplet needs a picture of another class, so put at least \
         two sub-folders (one a class) in the folder"
    )]
    OneClass { class: String },
    #[error(
        "the folder has {found} classes; the CIFAR-10 format holds at most {CLASS_COUNT}: keep {CLASS_COUNT} sub-folders or fewer"
    )]
    TooManyClasses { found: usize },
    #[error(
        "class {class} has {found} picture{s}; each class needs at least {MIN_PICTURES_PER_CLASS} (two to train on, \
         two to test): add pictures to it or remove it",
        s = if *found == 1 { "" } else { "s" }
    )]
    TooFewPictures { class: String, found: usize },
    #[error("{file}: {found} bytes of pixels, not a 32 x 32 colour picture ({IMAGE_BYTES})")]
    NotThirtyTwo { file: String, found: usize },
}

/// The class and file name of a picture from its path inside the chosen folder: the sub-folder
/// it is in is its class (`cat/1.jpg` and `cat/old/1.jpg` are `cat`s). `None` for a file directly
/// in the chosen folder (no class), or a hidden file (`.DS_Store`).
pub fn class_of_path(path: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = path.split(['/', '\\']).filter(|part| !part.is_empty()).collect();
    let (file, folders) = parts.split_last()?;
    let class = folders.first()?;
    if file.starts_with('.') || class.starts_with('.') {
        return None;
    }
    Some(((*class).to_string(), (*file).to_string()))
}

/// The centred square of a `width` x `height` picture, as (x, y, side): what is kept before the
/// picture is scaled to 32 x 32 (the longer side is cut evenly at both ends).
pub fn centre_square(width: u32, height: u32) -> (u32, u32, u32) {
    let side = width.min(height);
    ((width - side) / 2, (height - side) / 2, side)
}

/// The dataset of `pictures`: classes sorted by name (label 0 the first), pictures by class and
/// file, so the same folder always gives the same dataset.
pub fn pictures_dataset(name: &str, mut pictures: Vec<Picture>) -> Result<Dataset, PicturesError> {
    if let Some(bad) = pictures.iter().find(|picture| picture.pixels.len() != IMAGE_BYTES) {
        return Err(PicturesError::NotThirtyTwo { file: bad.file.clone(), found: bad.pixels.len() });
    }
    let mut by_class: BTreeMap<String, usize> = BTreeMap::new();
    for picture in &pictures {
        *by_class.entry(picture.class.clone()).or_default() += 1;
    }
    match by_class.len() {
        0 => return Err(PicturesError::NoPictures),
        1 => return Err(PicturesError::OneClass { class: by_class.into_keys().next().unwrap_or_default() }),
        found if found > CLASS_COUNT => return Err(PicturesError::TooManyClasses { found }),
        _ => {}
    }
    if let Some((class, &found)) = by_class.iter().find(|(_, count)| **count < MIN_PICTURES_PER_CLASS) {
        return Err(PicturesError::TooFewPictures { class: class.clone(), found });
    }
    let class_names: Vec<String> = by_class.into_keys().collect();
    pictures.sort_by(|a, b| (&a.class, &a.file).cmp(&(&b.class, &b.file)));
    let mut batch = Batch { labels: Vec::with_capacity(pictures.len()), pixels: Vec::new() };
    for picture in pictures {
        let label = class_names.iter().position(|name| *name == picture.class).unwrap_or(0);
        batch.labels.push(label as u8);
        batch.pixels.extend_from_slice(&picture.pixels);
    }
    Ok(Dataset::from_batches(name, false, class_names, [batch]))
}

/// `dataset` as CIFAR-10 binary files: `batches.meta.txt` (ten names a line, the unused ones
/// named "unused class N") and `data_batch_1.bin`, which `tripletlab prepare` and the page read.
pub fn to_cifar_files(dataset: &Dataset) -> Vec<(String, Vec<u8>)> {
    let names: Vec<String> = (0..CLASS_COUNT)
        .map(|class| dataset.class_names.get(class).cloned().unwrap_or_else(|| format!("unused class {class}")))
        .collect();
    let meta = names.join("\n") + "\n";
    let batch = Batch { labels: dataset.labels.clone(), pixels: dataset.pixels.clone() };
    vec![(META_FILE.to_string(), meta.into_bytes()), ("data_batch_1.bin".to_string(), batch.to_bytes())]
}

/// `dataset` as a CIFAR-10 binary archive (`cifar-10-batches-bin/` with the files of
/// [`to_cifar_files`], tarred and gzipped), as the official archive is laid out: `tripletlab
/// prepare --from` and the page's "your own CIFAR-10 files" read it.
pub fn to_cifar_tar_gz(dataset: &Dataset) -> std::io::Result<Vec<u8>> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(gzip);
    for (name, bytes) in to_cifar_files(dataset) {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, format!("cifar-10-batches-bin/{name}"), bytes.as_slice())?;
    }
    archive.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::CifarFiles;

    fn picture(class: &str, file: &str, shade: u8) -> Picture {
        Picture { class: class.into(), file: file.into(), pixels: vec![shade; IMAGE_BYTES] }
    }

    #[test]
    fn a_picture_is_of_the_folder_it_is_in() {
        assert_eq!(class_of_path("cat/1.jpg"), Some(("cat".into(), "1.jpg".into())));
        assert_eq!(class_of_path("cat/old/1.jpg"), Some(("cat".into(), "1.jpg".into())), "the top sub-folder");
        assert_eq!(class_of_path("dog\\2.png"), Some(("dog".into(), "2.png".into())));
        assert_eq!(class_of_path(".git/config"), None, "hidden folders are not classes");
        assert_eq!(class_of_path("1.jpg"), None, "no folder, no class");
        assert_eq!(class_of_path("pets/cat/.DS_Store"), None, "hidden files are not pictures");
        assert_eq!(class_of_path(""), None);
    }

    #[test]
    fn the_centre_square_cuts_the_longer_side_evenly() {
        assert_eq!(centre_square(640, 480), (80, 0, 480));
        assert_eq!(centre_square(480, 640), (0, 80, 480));
        assert_eq!(centre_square(32, 32), (0, 0, 32));
        assert_eq!(centre_square(5, 2), (1, 0, 2), "an odd remainder: the extra pixel at the far end");
    }

    #[test]
    fn pictures_become_a_dataset_sorted_by_class_and_file_and_round_trip_as_cifar() {
        let pictures = vec![
            picture("dog", "b.png", 20),
            picture("cat", "2.jpg", 11),
            picture("dog", "a.png", 21),
            picture("cat", "1.jpg", 10),
            picture("cat", "3.jpg", 12),
            picture("cat", "4.jpg", 13),
            picture("dog", "c.png", 22),
            picture("dog", "d.png", 23),
        ];
        let data = pictures_dataset("your pictures", pictures).expect("a dataset");
        assert_eq!(data.class_names, ["cat", "dog"]);
        assert_eq!(data.labels, [0, 0, 0, 0, 1, 1, 1, 1]);
        let first_bytes: Vec<u8> = (0..8).map(|i| data.image(i)[0]).collect();
        assert_eq!(first_bytes, [10, 11, 12, 13, 21, 20, 22, 23], "by class, then file name");
        assert!(!data.synthetic);
        let files = to_cifar_files(&data);
        let read = CifarFiles::parse("export", files.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())))
            .expect("CIFAR-10 files");
        assert_eq!(&read.class_names[..3], ["cat", "dog", "unused class 2"]);
        let again = read.into_dataset("your pictures", false);
        assert_eq!((&again.labels, &again.pixels), (&data.labels, &data.pixels));
        // The archive reads back through the reader of the official one.
        let archive = to_cifar_tar_gz(&data).expect("archive");
        let read = crate::data::archive::read_cifar_tar_gz("export.tar.gz", archive.as_slice()).expect("read back");
        assert_eq!(&read.class_names[..2], ["cat", "dog"]);
        let again = read.into_dataset("your pictures", false);
        assert_eq!((again.labels, again.pixels), (data.labels, data.pixels));
    }

    #[test]
    fn too_few_classes_or_pictures_are_named() {
        let four = |class: &str| (0..4).map(|i| picture(class, &format!("{i}.png"), 0)).collect::<Vec<_>>();
        assert_eq!(pictures_dataset("x", vec![]), Err(PicturesError::NoPictures));
        assert_eq!(pictures_dataset("x", four("cat")), Err(PicturesError::OneClass { class: "cat".into() }));
        let mut short = four("cat");
        short.push(picture("dog", "only.png", 0));
        let err = pictures_dataset("x", short).expect_err("dog has one picture");
        assert_eq!(err, PicturesError::TooFewPictures { class: "dog".into(), found: 1 });
        assert!(err.to_string().starts_with("class dog has 1 picture; each class needs at least 4"), "{err}");
        let eleven: Vec<Picture> = (0..11).flat_map(|c| four(&format!("c{c:02}"))).collect();
        assert_eq!(pictures_dataset("x", eleven), Err(PicturesError::TooManyClasses { found: 11 }));
        // Ten, the format's all, are a dataset.
        let ten: Vec<Picture> = (0..10).flat_map(|c| four(&format!("c{c:02}"))).collect();
        let dataset = pictures_dataset("x", ten).expect("ten classes fit");
        assert_eq!((dataset.class_names.len(), dataset.labels.len()), (10, 40));
        let mut odd = four("cat");
        odd.extend(four("dog"));
        odd[2].pixels.truncate(100);
        assert_eq!(pictures_dataset("x", odd), Err(PicturesError::NotThirtyTwo { file: "2.png".into(), found: 100 }));
    }
}

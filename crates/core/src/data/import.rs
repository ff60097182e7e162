//! What guards the reading of pictures a visitor brings, before any is decoded: a picture's size
//! read from its header (a small file can hold a picture too large to decode: a "decompression
//! bomb"), and a `.zip` of a folder of classes unpacked within limits (a small `.zip` can unpack
//! to gigabytes: a zip bomb). The `zip` crate reads the archive; the limits are ours, counted on
//! the bytes actually unpacked, never on the sizes the archive claims.

use std::io::{Cursor, Read};

/// Pictures up to this many pixels are decoded: a 48-50 megapixel phone photo is read; a
/// picture past it would take gigabytes to decode (4 bytes a pixel) for a 32 x 32 result.
pub const MAX_PICTURE_PIXELS: u64 = 100_000_000;

/// Why a picture or a `.zip` is not read; each names the file and says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error(
        "{file} is {width} x {height} pixels ({megapixels:.0} megapixels); pictures up to {} megapixels are read: \
         make it smaller first",
        MAX_PICTURE_PIXELS / 1_000_000,
        megapixels = (*width as f64) * (*height as f64) / 1e6
    )]
    TooManyPixels { file: String, width: u64, height: u64 },
    #[error("{zip} is not a .zip this page can read ({reason}): zip the folder again, or choose the folder itself")]
    NotAZip { zip: String, reason: String },
    #[error(
        "{zip}: {entry} unpacks to more than {} MB, more than any picture read here (a zip bomb?); nothing was \
         loaded from it",
        limit / 1_000_000
    )]
    EntryTooLarge { zip: String, entry: String, limit: u64 },
    #[error(
        "{zip} unpacks to more than {} MB in all; at most that is read at once: split it, or choose the folder \
         itself",
        limit / 1_000_000
    )]
    TooLarge { zip: String, limit: u64 },
    #[error("{zip} holds more than {limit} files; at most that many are read: split it")]
    TooManyFiles { zip: String, limit: usize },
}

/// A picture's width and height from its header, when the format is one `imagesize` knows (PNG,
/// JPEG, WebP, GIF, BMP, AVIF...); refused when it has more than [`MAX_PICTURE_PIXELS`]. A file
/// whose header is not read passes (its decoder says what it is).
pub fn check_picture_size(file: &str, bytes: &[u8]) -> Result<Option<(u64, u64)>, ImportError> {
    let Ok(size) = imagesize::blob_size(bytes) else { return Ok(None) };
    let (width, height) = (size.width as u64, size.height as u64);
    if width.saturating_mul(height) > MAX_PICTURE_PIXELS {
        return Err(ImportError::TooManyPixels { file: file.to_string(), width, height });
    }
    Ok(Some((width, height)))
}

/// How much a `.zip` may unpack to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnzipLimits {
    pub files: usize,
    /// Bytes of one file, unpacked.
    pub file_bytes: u64,
    /// Bytes of all files, unpacked.
    pub total_bytes: u64,
}

/// A picture file past this many bytes is not read (a phone's 50 megapixel JPEG is 10-20 MB).
pub const MAX_PICTURE_BYTES: u64 = 25_000_000;

impl UnzipLimits {
    /// In the page: what a browser tab holds beside the page (the chosen folder's limits too).
    pub const PAGE: Self = Self { files: 10_000, file_bytes: MAX_PICTURE_BYTES, total_bytes: 400_000_000 };
    /// In the CLI.
    pub const CLI: Self = Self { files: 100_000, file_bytes: MAX_PICTURE_BYTES, total_bytes: 4_000_000_000 };
}

/// The files of a `.zip` of a folder of classes, named by their paths inside the folder: when
/// every file is under one top folder (a zipped folder: `pets/cat/1.jpg`), that folder is left
/// out of each path (`cat/1.jpg`), as a chosen folder's files are named. Folders, and the files a
/// Mac adds (`__MACOSX/`), are skipped. An entry or a total past `limits` refuses the whole
/// `.zip`: nothing is returned from a zip bomb.
pub fn unzip_folder(zip: &str, bytes: &[u8], limits: UnzipLimits) -> Result<Vec<(String, Vec<u8>)>, ImportError> {
    let not_a_zip = |reason: String| ImportError::NotAZip { zip: zip.to_string(), reason };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|err| not_a_zip(err.to_string()))?;
    let mut files = Vec::new();
    let mut total = 0u64;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|err| not_a_zip(err.to_string()))?;
        let name = entry.name().map_err(|err| not_a_zip(err.to_string()))?.replace('\\', "/");
        if entry.is_dir() || name.starts_with("__MACOSX/") || name.split('/').any(|part| part == "..") {
            continue;
        }
        if files.len() == limits.files {
            return Err(ImportError::TooManyFiles { zip: zip.to_string(), limit: limits.files });
        }
        // Read one byte past the limit: the sizes in the archive's headers are not trusted.
        let mut unpacked = Vec::new();
        (&mut entry)
            .take(limits.file_bytes + 1)
            .read_to_end(&mut unpacked)
            .map_err(|err| not_a_zip(format!("{name}: {err}")))?;
        if unpacked.len() as u64 > limits.file_bytes {
            return Err(ImportError::EntryTooLarge { zip: zip.to_string(), entry: name, limit: limits.file_bytes });
        }
        total += unpacked.len() as u64;
        if total > limits.total_bytes {
            return Err(ImportError::TooLarge { zip: zip.to_string(), limit: limits.total_bytes });
        }
        files.push((name, unpacked));
    }
    let top = |name: &str| name.split('/').next().map(str::to_string);
    let first_top = files.first().and_then(|(name, _)| top(name));
    let one_folder = files.iter().all(|(name, _)| name.contains('/') && top(name) == first_top);
    if one_folder && files.iter().any(|(name, _)| name.matches('/').count() >= 2) {
        for (name, _) in &mut files {
            if let Some((_, rest)) = name.split_once('/') {
                *name = rest.to_string();
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;

    const LIMITS: UnzipLimits = UnzipLimits { files: 10, file_bytes: 1_000, total_bytes: 2_500 };

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            if name.ends_with('/') {
                writer.add_directory(*name, options).expect("folder");
            } else {
                writer.start_file(*name, options).expect("file");
                writer.write_all(bytes).expect("write");
            }
        }
        writer.finish().expect("finish").into_inner()
    }

    /// A PNG header (signature and IHDR) of a `width` x `height` picture: all `imagesize` reads.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
        bytes.extend(b"IHDR");
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
        bytes
    }

    #[test]
    fn a_zipped_folder_gives_its_files_by_class_path() {
        let zip = zip_of(&[
            ("pets/", b""),
            ("pets/cat/", b""),
            ("pets/cat/1.png", b"one"),
            ("pets/dog/2.jpg", b"two"),
            ("__MACOSX/pets/cat/._1.png", b"resource fork"),
        ]);
        let files = unzip_folder("pets.zip", &zip, LIMITS).expect("unzip");
        assert_eq!(files, vec![("cat/1.png".to_string(), b"one".to_vec()), ("dog/2.jpg".to_string(), b"two".to_vec())]);
        // Zipped from inside the folder: the classes are the top folders already.
        let inside = zip_of(&[("cat/1.png", b"one"), ("dog/2.jpg", b"two")]);
        let files = unzip_folder("inside.zip", &inside, LIMITS).expect("unzip");
        assert_eq!(files.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["cat/1.png", "dog/2.jpg"]);
        // One class folder at the top is a class, not a folder to strip.
        let one = zip_of(&[("cat/1.png", b"one"), ("cat/2.png", b"two")]);
        let files = unzip_folder("one.zip", &one, LIMITS).expect("unzip");
        assert_eq!(files[0].0, "cat/1.png");
        // A file beside the folder, even one named as the folder, means the top is not one folder.
        let beside = zip_of(&[("pets/cat/1.png", b"one"), ("pets/dog/2.png", b"two"), ("pets", b"a file")]);
        let files = unzip_folder("beside.zip", &beside, LIMITS).expect("unzip");
        assert_eq!(
            files.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(),
            ["pets/cat/1.png", "pets/dog/2.png", "pets"]
        );
    }

    #[test]
    fn a_zip_bomb_is_refused_whole() {
        // 1,001 zero bytes deflate to a few bytes: one past the limit on one entry.
        let bomb = zip_of(&[("a/1.png", b"fine"), ("b/2.png", &[0u8; 1_001])]);
        assert!(bomb.len() < 300, "{} bytes", bomb.len());
        assert_eq!(
            unzip_folder("bomb.zip", &bomb, LIMITS),
            Err(ImportError::EntryTooLarge { zip: "bomb.zip".into(), entry: "b/2.png".into(), limit: 1_000 })
        );
        let exactly = zip_of(&[("b/2.png", &[0u8; 1_000])]);
        assert_eq!(unzip_folder("ok.zip", &exactly, LIMITS).expect("at the limit")[0].1.len(), 1_000);
        // Up to the limit in all is read (1,000 + 1,000 + 500 = 2,500).
        let full = zip_of(&[("a/1", &[1u8; 1_000]), ("a/2", &[2u8; 1_000]), ("b/3", &[3u8; 500])]);
        assert_eq!(unzip_folder("full.zip", &full, LIMITS).expect("at the limit").len(), 3);
        // Three entries of 900 bytes pass one by one but not together (2,500).
        let wide = zip_of(&[("a/1", &[1u8; 900]), ("a/2", &[2u8; 900]), ("b/3", &[3u8; 900])]);
        assert_eq!(
            unzip_folder("wide.zip", &wide, LIMITS),
            Err(ImportError::TooLarge { zip: "wide.zip".into(), limit: 2_500 })
        );
        let names: Vec<String> = (0..11).map(|at| format!("a/{at}")).collect();
        let many: Vec<(&str, &[u8])> = names.iter().map(|name| (name.as_str(), &b"x"[..])).collect();
        assert_eq!(
            unzip_folder("many.zip", &zip_of(&many), LIMITS),
            Err(ImportError::TooManyFiles { zip: "many.zip".into(), limit: 10 })
        );
        let message = ImportError::EntryTooLarge { zip: "bomb.zip".into(), entry: "b/2.png".into(), limit: 25_000_000 };
        assert_eq!(
            message.to_string(),
            "bomb.zip: b/2.png unpacks to more than 25 MB, more than any picture read here (a zip bomb?); nothing was \
             loaded from it"
        );
    }

    #[test]
    fn what_is_not_a_zip_is_named() {
        let Err(ImportError::NotAZip { zip, .. }) = unzip_folder("notes.zip", b"just words", LIMITS) else {
            panic!("words are not a zip");
        };
        assert_eq!(zip, "notes.zip");
    }

    #[test]
    fn pictures_past_a_hundred_megapixels_are_refused_from_their_header() {
        assert_eq!(check_picture_size("photo.png", &png_header(8_160, 6_120)), Ok(Some((8_160, 6_120))), "50 MP");
        assert_eq!(
            check_picture_size("bomb.png", &png_header(12_000, 10_000)),
            Err(ImportError::TooManyPixels { file: "bomb.png".into(), width: 12_000, height: 10_000 })
        );
        assert_eq!(check_picture_size("edge.png", &png_header(10_000, 10_000)), Ok(Some((10_000, 10_000))));
        assert!(check_picture_size("edge.png", &png_header(10_000, 10_001)).is_err());
        assert_eq!(check_picture_size("notes.txt", b"not a picture"), Ok(None));
        assert_eq!(
            ImportError::TooManyPixels { file: "bomb.png".into(), width: 12_000, height: 10_000 }.to_string(),
            "bomb.png is 12000 x 10000 pixels (120 megapixels); pictures up to 100 megapixels are read: make it \
             smaller first"
        );
    }
}

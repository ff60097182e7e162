//! The CIFAR-10 binary format: batch files of 3,073-byte records and the class-name meta file.
//!
//! A record is one label byte (0-9) followed by a 32x32 image as three planes, red, green then
//! blue, each stored row by row. A batch file is records back to back and nothing else. Any file in
//! this layout is accepted; the class names come from `batches.meta.txt`.

use super::DataError;

pub const IMAGE_SIDE: usize = 32;
pub const CHANNELS: usize = 3;
/// Bytes of one image: three 32x32 planes.
pub const IMAGE_BYTES: usize = CHANNELS * IMAGE_SIDE * IMAGE_SIDE;
/// Bytes of one record: the label, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
pub const CLASS_COUNT: usize = 10;
/// The official batch files, in the order the recipe merges them.
pub const BATCH_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];
pub const META_FILE: &str = "batches.meta.txt";

/// The images of one batch file: labels, and pixels in the file's planar layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub labels: Vec<u8>,
    /// `labels.len() * IMAGE_BYTES` bytes, image after image, each as R, G, B planes.
    pub pixels: Vec<u8>,
}

impl Batch {
    /// Parse a batch file; `file` names it in errors.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, DataError> {
        if bytes.is_empty() {
            return Err(DataError::EmptyBatch { file: file.to_string() });
        }
        if !bytes.len().is_multiple_of(RECORD_BYTES) {
            return Err(DataError::NotWholeRecords {
                file: file.to_string(),
                len: bytes.len(),
                records: bytes.len() / RECORD_BYTES,
                extra: bytes.len() % RECORD_BYTES,
            });
        }
        let count = bytes.len() / RECORD_BYTES;
        let mut labels = Vec::with_capacity(count);
        let mut pixels = Vec::with_capacity(count * IMAGE_BYTES);
        for (record, chunk) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
            let label = chunk[0];
            if usize::from(label) >= CLASS_COUNT {
                return Err(DataError::LabelOutOfRange { file: file.to_string(), record, label });
            }
            labels.push(label);
            pixels.extend_from_slice(&chunk[1..]);
        }
        Ok(Self { labels, pixels })
    }

    /// The batch in the file format, record after record.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.labels.len() * RECORD_BYTES);
        for (label, image) in self.labels.iter().zip(self.pixels.chunks_exact(IMAGE_BYTES)) {
            bytes.push(*label);
            bytes.extend_from_slice(image);
        }
        bytes
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Parse `batches.meta.txt`: one class name a line, blank lines ignored, exactly ten names.
pub fn parse_class_names(file: &str, bytes: &[u8]) -> Result<Vec<String>, DataError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|err| DataError::NotText { file: file.to_string(), reason: err.to_string() })?;
    let names: Vec<String> = text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_string).collect();
    if names.len() != CLASS_COUNT {
        return Err(DataError::ClassCount { file: file.to_string(), found: names.len() });
    }
    Ok(names)
}

/// The files of a CIFAR-10 release, parsed: the class names and the batch files present, in
/// the official order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CifarFiles {
    pub class_names: Vec<String>,
    pub batches: Vec<(&'static str, Batch)>,
}

impl CifarFiles {
    /// Parse named files (as found in a folder or an archive): `batches.meta.txt` and any of the
    /// official batch files; other files are ignored. `source_name` names the folder or archive.
    pub fn parse<'a>(
        source_name: &str,
        files: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, DataError> {
        let mut meta = None;
        let mut batches: Vec<Option<Batch>> = vec![None; BATCH_FILES.len()];
        for (file, bytes) in files {
            let base = file.rsplit('/').next().unwrap_or(file);
            if base == META_FILE {
                meta = Some(parse_class_names(file, bytes)?);
            } else if let Some(slot) = BATCH_FILES.iter().position(|known| *known == base) {
                batches[slot] = Some(Batch::parse(file, bytes)?);
            }
        }
        let class_names = meta.ok_or_else(|| DataError::MissingMeta { source_name: source_name.to_string() })?;
        let batches: Vec<(&'static str, Batch)> =
            BATCH_FILES.iter().zip(batches).filter_map(|(file, batch)| batch.map(|batch| (*file, batch))).collect();
        if batches.is_empty() {
            return Err(DataError::NoBatches { source_name: source_name.to_string() });
        }
        Ok(Self { class_names, batches })
    }

    /// Merge the batches, in order, into one dataset.
    pub fn into_dataset(self, name: impl Into<String>, synthetic: bool) -> Dataset {
        let batches = self.batches.into_iter().map(|(_, batch)| batch);
        Dataset::from_batches(name, synthetic, self.class_names, batches)
    }
}

/// A labelled image set: batches merged in order, with the class names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// What to call it in the page and reports (e.g. "cifar-10").
    pub name: String,
    /// Generated images, not photographs: never to be shown as CIFAR-10.
    pub synthetic: bool,
    pub class_names: Vec<String>,
    pub labels: Vec<u8>,
    /// Image after image, each as R, G, B planes of 32x32 bytes.
    pub pixels: Vec<u8>,
}

impl Dataset {
    /// The name of class `class` ("class 7" when the dataset names fewer classes).
    pub fn class_name(&self, class: usize) -> String {
        self.class_names.get(class).cloned().unwrap_or_else(|| format!("class {class}"))
    }

    /// Merge batches in the order given.
    pub fn from_batches(
        name: impl Into<String>,
        synthetic: bool,
        class_names: Vec<String>,
        batches: impl IntoIterator<Item = Batch>,
    ) -> Self {
        let mut labels = Vec::new();
        let mut pixels = Vec::new();
        for batch in batches {
            labels.extend_from_slice(&batch.labels);
            pixels.extend_from_slice(&batch.pixels);
        }
        Self { name: name.into(), synthetic, class_names, labels, pixels }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of image `index` (R, G, B planes).
    pub fn image(&self, index: usize) -> &[u8] {
        &self.pixels[index * IMAGE_BYTES..(index + 1) * IMAGE_BYTES]
    }

    /// How many images each class has.
    pub fn class_counts(&self) -> [usize; CLASS_COUNT] {
        let mut counts = [0; CLASS_COUNT];
        for &label in &self.labels {
            counts[usize::from(label)] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(label: u8, fill: u8) -> Vec<u8> {
        let mut bytes = vec![label];
        bytes.extend(std::iter::repeat_n(fill, IMAGE_BYTES));
        bytes
    }

    #[test]
    fn parses_records_and_round_trips() {
        let mut bytes = record(3, 7);
        bytes.extend(record(9, 200));
        let batch = Batch::parse("two.bin", &bytes).expect("valid");
        assert_eq!(batch.labels, vec![3, 9]);
        assert_eq!(batch.pixels.len(), 2 * IMAGE_BYTES);
        assert_eq!(batch.pixels[IMAGE_BYTES], 200);
        assert_eq!(batch.to_bytes(), bytes);
    }

    #[test]
    fn a_truncated_batch_names_file_and_sizes() {
        let mut bytes = record(1, 0);
        bytes.extend(record(2, 0));
        bytes.pop();
        let err = Batch::parse("test_batch.bin", &bytes).unwrap_err();
        assert_eq!(
            err,
            DataError::NotWholeRecords { file: "test_batch.bin".into(), len: 6145, records: 1, extra: 3072 }
        );
        assert!(err.to_string().starts_with("test_batch.bin is 6145 bytes: not a whole number of 3,073-byte records"));
    }

    #[test]
    fn a_label_above_nine_is_rejected_with_its_record() {
        let mut bytes = record(1, 0);
        bytes.extend(record(10, 0));
        let err = Batch::parse("data_batch_1.bin", &bytes).unwrap_err();
        assert_eq!(err, DataError::LabelOutOfRange { file: "data_batch_1.bin".into(), record: 1, label: 10 });
    }

    #[test]
    fn an_empty_batch_is_rejected() {
        assert_eq!(Batch::parse("x.bin", &[]).unwrap_err(), DataError::EmptyBatch { file: "x.bin".into() });
    }

    #[test]
    fn meta_needs_exactly_ten_names() {
        let ten = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
        let names = parse_class_names("batches.meta.txt", ten.as_bytes()).expect("ten");
        assert_eq!(names[0], "airplane");
        assert_eq!(names[9], "truck");
        let err = parse_class_names("batches.meta.txt", b"cat\ndog\n").unwrap_err();
        assert_eq!(err, DataError::ClassCount { file: "batches.meta.txt".into(), found: 2 });
        assert!(matches!(parse_class_names("batches.meta.txt", &[0xff, 0xfe]), Err(DataError::NotText { .. })));
    }

    #[test]
    fn files_merge_in_official_order_whatever_order_they_come_in() {
        let meta = b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n".to_vec();
        let test = record(5, 1);
        let first = record(0, 2);
        let files = [
            ("dir/test_batch.bin", test.as_slice()),
            ("dir/readme.html", b"<html>".as_slice()),
            ("dir/batches.meta.txt", meta.as_slice()),
            ("dir/data_batch_1.bin", first.as_slice()),
        ];
        let dataset = CifarFiles::parse("dir", files).expect("valid").into_dataset("d", false);
        assert_eq!(dataset.labels, vec![0, 5]);
        assert_eq!(dataset.image(1)[0], 1);
        assert_eq!(dataset.class_counts()[5], 1);
    }

    #[test]
    fn files_without_meta_or_batches_are_rejected() {
        let meta = b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n".to_vec();
        let batch = record(0, 0);
        let no_meta = CifarFiles::parse("src", [("test_batch.bin", batch.as_slice())]);
        assert_eq!(no_meta.unwrap_err(), DataError::MissingMeta { source_name: "src".into() });
        let no_batch = CifarFiles::parse("src", [("batches.meta.txt", meta.as_slice())]);
        assert_eq!(no_batch.unwrap_err(), DataError::NoBatches { source_name: "src".into() });
    }
}

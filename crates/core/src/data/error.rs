//! What can be wrong with a dataset, each error naming the file and the problem.

/// A dataset file that cannot be used, and why. Every message names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    #[error("{file} is empty: a CIFAR-10 batch holds at least one 3,073-byte record")]
    EmptyBatch { file: String },
    #[error(
        "{file} is {len} bytes: not a whole number of 3,073-byte records \
         ({records} records and {extra} bytes left over; the file is truncated or not a CIFAR-10 batch)"
    )]
    NotWholeRecords { file: String, len: usize, records: usize, extra: usize },
    #[error("{file}: record {record} has label {label}, but CIFAR-10 labels are 0 to 9")]
    LabelOutOfRange { file: String, record: usize, label: u8 },
    #[error("{file} names {found} classes; a CIFAR-10 meta file names 10, one a line")]
    ClassCount { file: String, found: usize },
    #[error("{file} is not UTF-8 text: {reason}")]
    NotText { file: String, reason: String },
    #[error("{file} is not a valid gzip file: {reason}")]
    Gzip { file: String, reason: String },
    #[error("{file} is not a valid tar archive: {reason}")]
    Tar { file: String, reason: String },
    #[error("{source_name} has no batches.meta.txt: the class names come from it")]
    MissingMeta { source_name: String },
    #[error("{source_name} has no CIFAR-10 batch files (data_batch_1.bin to data_batch_5.bin, test_batch.bin)")]
    NoBatches { source_name: String },
    #[error("{file}: {reason}")]
    Manifest { file: String, reason: String },
    #[error("{file} is {actual} bytes, but the manifest says {expected}")]
    SizeMismatch { file: String, expected: u64, actual: u64 },
    #[error("{file} has SHA-256 {actual}, but the manifest says {expected}: the download is corrupt")]
    HashMismatch { file: String, expected: String, actual: String },
}

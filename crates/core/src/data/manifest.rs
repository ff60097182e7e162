//! `manifest.json`: what a prepared dataset folder holds, so the page can fetch, verify and
//! cache its shards. The shards are the CIFAR-10 batch files themselves (10,000 images each for
//! the real dataset).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DataError;
use super::cifar::{CLASS_COUNT, RECORD_BYTES};

pub const MANIFEST_FILE: &str = "manifest.json";
/// The list of prepared datasets, in the folder holding their folders; the page reads it.
pub const INDEX_FILE: &str = "index.json";
/// Bumped when the manifest's meaning changes.
pub const FORMAT_VERSION: u32 = 1;

/// A prepared dataset: its identity and its shards, in training order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub name: String,
    /// Generated images (see `data::synthetic`): never to be shown as CIFAR-10.
    pub synthetic: bool,
    pub class_names: Vec<String>,
    pub shards: Vec<Shard>,
}

/// One batch file of a prepared dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// File name, relative to the manifest.
    pub file: String,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    pub images: u64,
}

/// `index.json`: the datasets prepared side by side, real ones first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetIndex {
    pub datasets: Vec<IndexEntry>,
}

/// One prepared dataset in the index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub name: String,
    pub synthetic: bool,
    /// The manifest's path, relative to the index.
    pub manifest: String,
    pub images: u64,
    pub bytes: u64,
}

impl DatasetIndex {
    /// Parse an index; `file` names it in errors.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, DataError> {
        serde_json::from_slice(bytes).map_err(|err| DataError::Manifest {
            file: file.to_string(),
            reason: format!("not a valid dataset index: {err}"),
        })
    }

    /// Add or replace the entry for `manifest`, whose folder is `folder` next to the index.
    pub fn upsert(&mut self, folder: &str, manifest: &Manifest) {
        self.datasets.retain(|entry| entry.name != manifest.name);
        self.datasets.push(IndexEntry {
            name: manifest.name.clone(),
            synthetic: manifest.synthetic,
            manifest: format!("{folder}/{MANIFEST_FILE}"),
            images: manifest.total_images(),
            bytes: manifest.total_bytes(),
        });
        self.datasets.sort_by(|a, b| a.synthetic.cmp(&b.synthetic).then(a.name.cmp(&b.name)));
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl Manifest {
    /// Parse and check a manifest; `file` names it in errors.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, DataError> {
        let error = |reason: String| DataError::Manifest { file: file.to_string(), reason };
        let manifest: Self =
            serde_json::from_slice(bytes).map_err(|err| error(format!("not a valid manifest: {err}")))?;
        if manifest.format != FORMAT_VERSION {
            return Err(error(format!(
                "format {} is not the supported format {FORMAT_VERSION}; prepare the data again",
                manifest.format
            )));
        }
        if manifest.class_names.len() != CLASS_COUNT {
            return Err(error(format!("it names {} classes, not 10", manifest.class_names.len())));
        }
        if manifest.shards.is_empty() {
            return Err(error("it lists no shards".to_string()));
        }
        for shard in &manifest.shards {
            let whole = shard.bytes > 0 && shard.bytes % RECORD_BYTES as u64 == 0;
            if !whole || shard.images != shard.bytes / RECORD_BYTES as u64 {
                return Err(error(format!(
                    "shard {} claims {} bytes and {} images, which is not a whole number of records",
                    shard.file, shard.bytes, shard.images
                )));
            }
            let plain =
                !shard.file.is_empty() && !shard.file.contains(['/', '\\']) && shard.file != ".." && shard.file != ".";
            if !plain {
                return Err(error(format!("shard name {:?} is not a plain file name", shard.file)));
            }
            if shard.sha256.len() != 64 || !shard.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(error(format!("shard {} has no valid SHA-256", shard.file)));
            }
        }
        Ok(manifest)
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serialises.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The first `max` shards (at least one), or all of them: a smaller dataset for quick demos.
    pub fn first_shards(&self, max: Option<usize>) -> &[Shard] {
        let all = self.shards.len();
        &self.shards[..max.map_or(all, |max| max.clamp(1, all))]
    }

    pub fn total_bytes(&self) -> u64 {
        self.shards.iter().map(|shard| shard.bytes).sum()
    }

    pub fn total_images(&self) -> u64 {
        self.shards.iter().map(|shard| shard.images).sum()
    }
}

impl Shard {
    /// Describe the bytes of a shard file.
    pub fn describe(file: impl Into<String>, bytes: &[u8]) -> Self {
        Self {
            file: file.into(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            images: (bytes.len() / RECORD_BYTES) as u64,
        }
    }

    /// Check downloaded bytes against the manifest: size first, then SHA-256.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), DataError> {
        if bytes.len() as u64 != self.bytes {
            return Err(DataError::SizeMismatch {
                file: self.file.clone(),
                expected: self.bytes,
                actual: bytes.len() as u64,
            });
        }
        let actual = sha256_hex(bytes);
        if !actual.eq_ignore_ascii_case(&self.sha256) {
            return Err(DataError::HashMismatch { file: self.file.clone(), expected: self.sha256.clone(), actual });
        }
        Ok(())
    }
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let shard = vec![0u8; 2 * RECORD_BYTES];
        Manifest {
            format: FORMAT_VERSION,
            name: "t".into(),
            synthetic: true,
            class_names: (0..10).map(|i| format!("c{i}")).collect(),
            shards: vec![Shard::describe("test_batch.bin", &shard)],
        }
    }

    #[test]
    fn sha256_of_abc_is_the_fips_180_value() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn round_trips_through_json() {
        let original = manifest();
        let parsed = Manifest::parse("manifest.json", original.to_json().as_bytes()).expect("valid");
        assert_eq!(parsed, original);
        assert_eq!(parsed.total_images(), 2);
    }

    #[test]
    fn first_shards_keeps_at_least_one_and_at_most_all() {
        let mut m = manifest();
        m.shards.push(m.shards[0].clone());
        assert_eq!(m.first_shards(None).len(), 2);
        assert_eq!(m.first_shards(Some(0)).len(), 1);
        assert_eq!(m.first_shards(Some(1)).len(), 1);
        assert_eq!(m.first_shards(Some(9)).len(), 2);
    }

    #[test]
    fn verify_checks_size_then_hash() {
        let shard = &manifest().shards[0];
        assert!(shard.verify(&vec![0u8; 2 * RECORD_BYTES]).is_ok());
        assert!(matches!(shard.verify(&[0u8; 5]), Err(DataError::SizeMismatch { .. })));
        let mut changed = vec![0u8; 2 * RECORD_BYTES];
        changed[100] = 1;
        let err = shard.verify(&changed).unwrap_err();
        assert!(matches!(err, DataError::HashMismatch { .. }));
        assert!(err.to_string().starts_with("test_batch.bin has SHA-256"), "{err}");
    }

    /// A change to a valid manifest and the words its error must contain.
    type Damage = (Box<dyn Fn(&mut Manifest)>, &'static str);

    #[test]
    fn rejects_bad_manifests_with_reasons() {
        let cases: Vec<Damage> = vec![
            (Box::new(|m| m.format = 9), "format 9"),
            (Box::new(|m| m.class_names.pop().map(drop).unwrap_or(())), "9 classes"),
            (Box::new(|m| m.shards.clear()), "no shards"),
            (Box::new(|m| m.shards[0].bytes += 1), "whole number"),
            (Box::new(|m| m.shards[0].file = "../etc/passwd".into()), "plain file name"),
            (Box::new(|m| m.shards[0].sha256 = "xyz".into()), "SHA-256"),
        ];
        for (change, expected) in cases {
            let mut m = manifest();
            change(&mut m);
            let err = Manifest::parse("manifest.json", m.to_json().as_bytes()).unwrap_err();
            assert!(err.to_string().contains(expected), "{err} (wanted {expected})");
            assert!(err.to_string().starts_with("manifest.json: "), "{err}");
        }
        assert!(Manifest::parse("manifest.json", b"{").is_err());
    }
}

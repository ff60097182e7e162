//! `weights.json`: which pretrained weights a site serves, next to them in `public/weights/`.
//! The page reads it before it downloads the weights, so a site built with other weights (a
//! conversion of Keras' own 224 px ImageNet file, say) works without rebuilding the page: the
//! download is named, capped and checked by what this file says, never by a compiled-in constant.

use serde::{Deserialize, Serialize};

use crate::data::manifest::sha256_hex;

/// The manifest's file name, in the folder of the weights.
pub const WEIGHTS_MANIFEST: &str = "weights.json";
/// Bumped when the manifest's meaning changes.
pub const WEIGHTS_MANIFEST_FORMAT: u32 = 1;
/// No MobileNetV2 of width 1.0 comes near this (f32: 9 MB): a larger claim is refused before
/// anything is downloaded.
pub const MAX_WEIGHTS_BYTES: u64 = 64 << 20;

/// What a site's pretrained weights are and how to check them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightsManifest {
    pub format: u32,
    /// The safetensors file, a plain name in the manifest's folder.
    pub file: String,
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// What the weights are, in a sentence the page shows (where they were trained, on what).
    pub description: String,
}

/// A `weights.json` that cannot be used, naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightsManifestError {
    #[error("{file} is not a weights manifest: {reason}")]
    Invalid { file: String, reason: String },
}

impl WeightsManifest {
    /// The manifest of `bytes`, to be served as `file` beside it.
    pub fn describe(file: &str, bytes: &[u8], description: &str) -> Self {
        Self {
            format: WEIGHTS_MANIFEST_FORMAT,
            file: file.to_string(),
            bytes: bytes.len() as u64,
            sha256: sha256_hex(bytes),
            description: description.to_string(),
        }
    }

    /// Parse and check a manifest; `file` names it in errors.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, WeightsManifestError> {
        let invalid = |reason: String| WeightsManifestError::Invalid { file: file.to_string(), reason };
        let manifest: Self = serde_json::from_slice(bytes).map_err(|err| invalid(err.to_string()))?;
        if manifest.format != WEIGHTS_MANIFEST_FORMAT {
            return Err(invalid(format!(
                "its format is {}, this page reads format {WEIGHTS_MANIFEST_FORMAT}",
                manifest.format
            )));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if manifest.file.is_empty() || manifest.file.starts_with('.') || !manifest.file.chars().all(plain) {
            return Err(invalid(format!("\"{}\" is not a plain file name in its folder", manifest.file)));
        }
        if manifest.bytes == 0 || manifest.bytes > MAX_WEIGHTS_BYTES {
            return Err(invalid(format!(
                "a size of {} bytes is not a MobileNetV2's (at most {MAX_WEIGHTS_BYTES})",
                manifest.bytes
            )));
        }
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        if manifest.sha256.len() != 64 || !manifest.sha256.chars().all(hex) {
            return Err(invalid(format!("\"{}\" is not a lower-case hex SHA-256", manifest.sha256)));
        }
        Ok(manifest)
    }

    /// Whether `bytes` are the file this manifest names.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.bytes && sha256_hex(bytes) == self.sha256
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_described_file_round_trips_and_matches_only_itself() {
        let manifest = WeightsManifest::describe("w.safetensors", b"abc", "test weights");
        // SHA-256("abc"), the FIPS 180-2 example.
        assert_eq!(manifest.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let parsed = WeightsManifest::parse("weights.json", manifest.to_json().as_bytes()).expect("parses");
        assert_eq!(parsed, manifest);
        assert!(manifest.matches(b"abc"));
        assert!(!manifest.matches(b"abd"));
        assert!(!manifest.matches(b"abcd"));
    }

    #[test]
    fn a_manifest_that_names_another_folder_or_an_impossible_size_is_refused() {
        let good = WeightsManifest::describe("w.safetensors", b"abc", "test weights");
        let cases: [(WeightsManifest, &str); 6] = [
            (WeightsManifest { file: "../secret".into(), ..good.clone() }, "not a plain file name"),
            (WeightsManifest { file: "".into(), ..good.clone() }, "not a plain file name"),
            (WeightsManifest { bytes: 0, ..good.clone() }, "a size of 0 bytes"),
            (WeightsManifest { bytes: MAX_WEIGHTS_BYTES + 1, ..good.clone() }, "is not a MobileNetV2's"),
            (WeightsManifest { sha256: "ABC".into(), ..good.clone() }, "not a lower-case hex SHA-256"),
            (WeightsManifest { format: 2, ..good.clone() }, "its format is 2"),
        ];
        for (manifest, expected) in cases {
            let err = WeightsManifest::parse("weights.json", manifest.to_json().as_bytes()).expect_err("refused");
            assert!(err.to_string().starts_with("weights.json is not a weights manifest"), "{err}");
            assert!(err.to_string().contains(expected), "{err} should say {expected}");
        }
        let err = WeightsManifest::parse("weights.json", b"{").expect_err("refused");
        assert!(err.to_string().contains("EOF"), "{err}");
    }
}

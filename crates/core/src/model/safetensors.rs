//! The safetensors format, read and written in a few lines: an 8-byte little-endian header
//! length, a JSON header naming each tensor's dtype, shape and byte range, then the data.
//! Only f32 tensors are used here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A safetensors file that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetensorsError {
    #[error("{file} is too short to be a safetensors file ({len} bytes)")]
    TooShort { file: String, len: usize },
    #[error("{file} has a header of {header} bytes but is only {len} bytes long")]
    BadHeaderLength { file: String, header: u64, len: usize },
    #[error("{file} has an unreadable header: {reason}")]
    BadHeader { file: String, reason: String },
    #[error("{file}: tensor {name} is {dtype}; only F32 (and U8 blobs) are supported")]
    DType { file: String, name: String, dtype: String },
    #[error(
        "{file}: tensor {name} has byte range {start}..{end}, which does not fit shape {shape:?} in a {data_len}-byte data section"
    )]
    BadRange { file: String, name: String, start: usize, end: usize, shape: Vec<usize>, data_len: usize },
}

#[derive(Serialize, Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// One f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct F32Tensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Tensors by name, raw byte blobs (stored as U8 tensors) by name, and the file's free-form
/// metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TensorFile {
    pub tensors: BTreeMap<String, F32Tensor>,
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub metadata: BTreeMap<String, String>,
}

impl TensorFile {
    /// Parse a safetensors file; `file` names it in errors.
    pub fn parse(file: &str, bytes: &[u8]) -> Result<Self, SafetensorsError> {
        let name = || file.to_string();
        let len_bytes: [u8; 8] = bytes
            .get(..8)
            .and_then(|head| head.try_into().ok())
            .ok_or(SafetensorsError::TooShort { file: name(), len: bytes.len() })?;
        let header_len = u64::from_le_bytes(len_bytes);
        let header_end = usize::try_from(header_len)
            .ok()
            .and_then(|len| len.checked_add(8))
            .filter(|end| *end <= bytes.len())
            .ok_or(SafetensorsError::BadHeaderLength { file: name(), header: header_len, len: bytes.len() })?;
        let header: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&bytes[8..header_end])
            .map_err(|err| SafetensorsError::BadHeader { file: name(), reason: err.to_string() })?;
        let data = &bytes[header_end..];
        let mut out = Self::default();
        for (key, value) in header {
            if key == "__metadata__" {
                out.metadata = serde_json::from_value(value).map_err(|err| SafetensorsError::BadHeader {
                    file: name(),
                    reason: format!("__metadata__: {err}"),
                })?;
                continue;
            }
            let entry: Entry = serde_json::from_value(value)
                .map_err(|err| SafetensorsError::BadHeader { file: name(), reason: format!("{key}: {err}") })?;
            let width = match entry.dtype.as_str() {
                "F32" => 4,
                "U8" => 1,
                _ => return Err(SafetensorsError::DType { file: name(), name: key, dtype: entry.dtype }),
            };
            let [start, end] = entry.data_offsets;
            let count = entry.shape.iter().try_fold(1usize, |acc, &dim| acc.checked_mul(dim));
            let fits =
                start <= end && end <= data.len() && count.and_then(|n| n.checked_mul(width)) == Some(end - start);
            if !fits {
                return Err(SafetensorsError::BadRange {
                    file: name(),
                    name: key,
                    start,
                    end,
                    shape: entry.shape,
                    data_len: data.len(),
                });
            }
            if width == 1 {
                out.blobs.insert(key, data[start..end].to_vec());
                continue;
            }
            let values = data[start..end]
                .chunks_exact(4)
                .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                .collect();
            out.tensors.insert(key, F32Tensor { shape: entry.shape, values });
        }
        Ok(out)
    }

    /// Serialise, tensors in name order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        let mut offset = 0;
        for (name, tensor) in &self.tensors {
            let len = tensor.values.len() * 4;
            let entry =
                Entry { dtype: "F32".into(), shape: tensor.shape.clone(), data_offsets: [offset, offset + len] };
            header.insert(name.clone(), serde_json::to_value(entry).unwrap_or_default());
            offset += len;
        }
        for (name, blob) in &self.blobs {
            let entry =
                Entry { dtype: "U8".into(), shape: vec![blob.len()], data_offsets: [offset, offset + blob.len()] };
            header.insert(name.clone(), serde_json::to_value(entry).unwrap_or_default());
            offset += blob.len();
        }
        if !self.metadata.is_empty() {
            header.insert("__metadata__".into(), serde_json::to_value(&self.metadata).unwrap_or_default());
        }
        let mut json = serde_json::to_vec(&header).unwrap_or_default();
        json.resize(json.len().div_ceil(8) * 8, b' ');
        let mut bytes = Vec::with_capacity(8 + json.len() + offset);
        bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&json);
        for tensor in self.tensors.values() {
            for value in &tensor.values {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
        for blob in self.blobs.values() {
            bytes.extend_from_slice(blob);
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TensorFile {
        let mut file = TensorFile::default();
        file.tensors
            .insert("a.weight".into(), F32Tensor { shape: vec![2, 3], values: vec![1.0, -2.0, 3.5, 0.0, 5.0, 6.25] });
        file.tensors.insert("b".into(), F32Tensor { shape: vec![1], values: vec![7.0] });
        file.metadata.insert("format".into(), "test".into());
        file.blobs.insert("raw".into(), vec![1, 2, 3]);
        file
    }

    #[test]
    fn round_trips() {
        let original = sample();
        assert_eq!(TensorFile::parse("t", &original.to_bytes()).expect("valid"), original);
    }

    #[test]
    fn the_layout_is_the_published_one() {
        let bytes = sample().to_bytes();
        let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        assert_eq!(header_len % 8, 0);
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).expect("json");
        assert_eq!(header["a.weight"]["data_offsets"], serde_json::json!([0, 24]));
        assert_eq!(header["b"]["data_offsets"], serde_json::json!([24, 28]));
        assert_eq!(&bytes[8 + header_len + 24..8 + header_len + 28], &7.0f32.to_le_bytes());
        assert_eq!(header["raw"]["dtype"], "U8");
        assert_eq!(&bytes[8 + header_len + 28..], &[1, 2, 3]);
    }

    #[test]
    fn damage_is_reported_not_panicked_on() {
        let bytes = sample().to_bytes();
        assert!(matches!(TensorFile::parse("w", &bytes[..4]), Err(SafetensorsError::TooShort { .. })));
        assert!(matches!(TensorFile::parse("w", &bytes[..bytes.len() - 1]), Err(SafetensorsError::BadRange { .. })));
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(TensorFile::parse("w", &huge), Err(SafetensorsError::BadHeaderLength { .. })));
        let mut garbled = bytes;
        garbled[10] = b'!';
        assert!(matches!(TensorFile::parse("w", &garbled), Err(SafetensorsError::BadHeader { .. })));
    }
}

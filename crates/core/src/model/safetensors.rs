//! Safetensors files (an 8-byte little-endian header length, a JSON header naming each tensor's
//! dtype, shape and byte range, then the data), read by the `safetensors` crate, the format's
//! reference implementation: its checks (header size, offsets that cover the data exactly, no
//! overflow) are the ones every other reader applies. Written here in a few lines, so that the
//! same file always gives the same bytes (see [`TensorFile::to_bytes`]). Tensors are f32 in
//! memory; a file may store them as F32 or as F16 (widened to f32 when read: the site sends its
//! pretrained kernels as f16, [`TensorFile::to_bytes_with_f16`]), and raw blobs as U8. Errors name
//! the file.

use std::collections::BTreeMap;

use half::f16;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

/// A safetensors file that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SafetensorsError {
    #[error("{file} is too short to be a safetensors file ({len} bytes)")]
    TooShort { file: String, len: usize },
    #[error("{file} has a header of {header} bytes but is only {len} bytes long")]
    BadHeaderLength { file: String, header: u64, len: usize },
    #[error("{file} has an unreadable header: {reason}")]
    BadHeader { file: String, reason: String },
    #[error("{file}: tensor {name} is {dtype}; only F32, F16 (widened to f32) and U8 blobs are read")]
    DType { file: String, name: String, dtype: String },
    #[error("{file}: its tensors do not lie in its data as its header says ({reason})")]
    BadLayout { file: String, reason: String },
    #[error("tensor {name} has shape {shape:?} but {values} values: it cannot be written")]
    Inconsistent { name: String, shape: Vec<usize>, values: usize },
    #[error("tensor {name} holds {value}, beyond f16's range (±65504): it cannot be stored as f16")]
    BeyondHalf { name: String, value: String },
}

/// How a tensor's values are stored in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    F32,
    /// Rounded to the nearest f16 (ties to even).
    F16,
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
        let fail = |err: SafeTensorError| describe(file, bytes, err);
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(fail)?;
        let parsed = SafeTensors::deserialize(bytes).map_err(fail)?;
        let mut out = Self::default();
        if let Some(map) = metadata.metadata() {
            out.metadata = map.iter().map(|(key, value)| (key.clone(), value.clone())).collect();
        }
        for (name, view) in parsed.tensors() {
            match view.dtype() {
                Dtype::F32 => {
                    let values = view
                        .data()
                        .chunks_exact(4)
                        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
                        .collect();
                    out.tensors.insert(name, F32Tensor { shape: view.shape().to_vec(), values });
                }
                Dtype::F16 => {
                    let values = view
                        .data()
                        .chunks_exact(2)
                        .map(|chunk| f16::from_le_bytes([chunk[0], chunk[1]]).to_f32())
                        .collect();
                    out.tensors.insert(name, F32Tensor { shape: view.shape().to_vec(), values });
                }
                Dtype::U8 => {
                    out.blobs.insert(name, view.data().to_vec());
                }
                other => {
                    return Err(SafetensorsError::DType { file: file.to_string(), name, dtype: format!("{other:?}") });
                }
            }
        }
        Ok(out)
    }

    /// Serialise: f32 tensors, then blobs, each in name order, and the metadata in key order.
    ///
    /// Written here, not by the crate: `safetensors::serialize` takes the metadata as a hash map,
    /// whose order changes from one write to the next, so the same checkpoint gave other bytes
    /// each time (the fuzz check "writing is stable" caught it). The crate reads what this writes
    /// (`round_trips`, and every checkpoint resumed in the tests).
    pub fn to_bytes(&self) -> Result<Vec<u8>, SafetensorsError> {
        self.write(|_, _| Stored::F32)
    }

    /// Serialise as [`to_bytes`](Self::to_bytes) does, but with the tensors `half` names
    /// rounded to the nearest f16 (ties to even): half their bytes. [`parse`](Self::parse)
    /// widens them back to f32 (exactly: every f16 is an f32). A value beyond f16's range is an
    /// error. Which tensors can take it is the model's call (`weights::to_half_bytes`).
    pub fn to_bytes_with_f16(&self, half: impl Fn(&str, &F32Tensor) -> bool) -> Result<Vec<u8>, SafetensorsError> {
        for (name, tensor) in &self.tensors {
            if half(name, tensor)
                && let Some(&value) = tensor.values.iter().find(|value| f16::from_f32(**value).is_infinite())
                && value.is_finite()
            {
                return Err(SafetensorsError::BeyondHalf { name: name.clone(), value: value.to_string() });
            }
        }
        self.write(|name, tensor| if half(name, tensor) { Stored::F16 } else { Stored::F32 })
    }

    fn write(&self, stored: impl Fn(&str, &F32Tensor) -> Stored) -> Result<Vec<u8>, SafetensorsError> {
        let mut header = serde_json::Map::new();
        let mut offset = 0;
        let mut entry = |name: &str, dtype: &str, shape: &[usize], len: usize| {
            let value = serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len] });
            header.insert(name.to_string(), value);
            offset += len;
        };
        for (name, tensor) in &self.tensors {
            let count = tensor.shape.iter().try_fold(1usize, |acc, &dim| acc.checked_mul(dim));
            if count != Some(tensor.values.len()) {
                return Err(SafetensorsError::Inconsistent {
                    name: name.clone(),
                    shape: tensor.shape.clone(),
                    values: tensor.values.len(),
                });
            }
            match stored(name, tensor) {
                Stored::F32 => entry(name, "F32", &tensor.shape, tensor.values.len() * 4),
                Stored::F16 => entry(name, "F16", &tensor.shape, tensor.values.len() * 2),
            }
        }
        for (name, blob) in &self.blobs {
            entry(name, "U8", &[blob.len()], blob.len());
        }
        if !self.metadata.is_empty() {
            let metadata = self.metadata.iter().map(|(key, value)| (key.clone(), value.clone().into())).collect();
            header.insert("__metadata__".into(), serde_json::Value::Object(metadata));
        }
        let mut json = serde_json::to_vec(&header)
            .map_err(|err| SafetensorsError::BadHeader { file: "(writing)".into(), reason: err.to_string() })?;
        json.resize(json.len().div_ceil(8) * 8, b' ');
        let mut bytes = Vec::with_capacity(8 + json.len() + offset);
        bytes.extend_from_slice(&(json.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&json);
        for (name, tensor) in &self.tensors {
            match stored(name, tensor) {
                Stored::F32 => tensor.values.iter().for_each(|value| bytes.extend_from_slice(&value.to_le_bytes())),
                Stored::F16 => {
                    tensor.values.iter().for_each(|value| bytes.extend_from_slice(&f16::from_f32(*value).to_le_bytes()))
                }
            }
        }
        for blob in self.blobs.values() {
            bytes.extend_from_slice(blob);
        }
        Ok(bytes)
    }
}

/// The crate's error, said of `file`.
fn describe(file: &str, bytes: &[u8], err: SafeTensorError) -> SafetensorsError {
    let file = file.to_string();
    match err {
        SafeTensorError::HeaderTooSmall => SafetensorsError::TooShort { file, len: bytes.len() },
        SafeTensorError::InvalidHeaderLength | SafeTensorError::HeaderTooLarge => {
            let header = bytes.get(..8).and_then(|head| head.try_into().ok()).map_or(0, u64::from_le_bytes);
            SafetensorsError::BadHeaderLength { file, header, len: bytes.len() }
        }
        SafeTensorError::InvalidHeader(_)
        | SafeTensorError::InvalidHeaderDeserialization(_)
        | SafeTensorError::JsonError(_) => SafetensorsError::BadHeader { file, reason: err.to_string() },
        other => SafetensorsError::BadLayout { file, reason: other.to_string() },
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
        assert_eq!(TensorFile::parse("t", &original.to_bytes().expect("writes")).expect("valid"), original);
    }

    #[test]
    fn the_layout_is_the_published_one() {
        let bytes = sample().to_bytes().expect("writes");
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
        let bytes = sample().to_bytes().expect("writes");
        assert!(matches!(TensorFile::parse("w", &bytes[..4]), Err(SafetensorsError::TooShort { .. })));
        let cut = TensorFile::parse("w.safetensors", &bytes[..bytes.len() - 1]);
        assert!(matches!(cut, Err(SafetensorsError::BadLayout { ref file, .. }) if file == "w.safetensors"), "{cut:?}");
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(TensorFile::parse("w", &huge), Err(SafetensorsError::BadHeaderLength { .. })));
        let mut garbled = bytes;
        garbled[10] = b'!';
        assert!(matches!(TensorFile::parse("w", &garbled), Err(SafetensorsError::BadHeader { .. })));
        let mut wrong = sample();
        wrong.tensors.insert("c".into(), F32Tensor { shape: vec![2, 2], values: vec![1.0] });
        assert!(matches!(wrong.to_bytes(), Err(SafetensorsError::Inconsistent { values: 1, .. })));
    }

    #[test]
    fn tensors_written_as_f16_read_back_as_the_nearest_f16() {
        let kernels = |name: &str, _: &F32Tensor| name != "b";
        let mut original = sample();
        original.tensors.insert("c.kernel".into(), F32Tensor { shape: vec![1, 3], values: vec![0.1, 1.0e-8, 65519.0] });
        let bytes = original.to_bytes_with_f16(kernels).expect("writes");
        let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).expect("json");
        assert_eq!(header["a.weight"]["dtype"], "F16");
        assert_eq!(header["a.weight"]["data_offsets"], serde_json::json!([0, 12]));
        assert_eq!(header["b"]["dtype"], "F32");
        assert_eq!(header["c.kernel"]["data_offsets"], serde_json::json!([16, 22]));
        let read = TensorFile::parse("half", &bytes).expect("valid");
        // Values an f16 holds exactly come back exactly; the rest as the nearest f16: 0.1 is
        // 0x2E66 = 0.0999755859375, 1e-8 is below the smallest subnormal's half (2^-25) and
        // rounds to 0, and 65519 is the largest value that rounds down to f16's maximum, 65504.
        assert_eq!(read.tensors["a.weight"], original.tensors["a.weight"]);
        assert_eq!(read.tensors["b"], original.tensors["b"]);
        assert_eq!(read.tensors["c.kernel"].values, vec![0.099_975_586, 0.0, 65504.0]);
        assert_eq!((read.blobs.clone(), read.metadata.clone()), (original.blobs.clone(), original.metadata.clone()));
        // Read back and written again, the file is the same bytes.
        assert_eq!(read.to_bytes_with_f16(kernels).expect("writes"), bytes);

        original.tensors.insert("d.kernel".into(), F32Tensor { shape: vec![2, 1], values: vec![1.0, -65520.0] });
        let beyond = original.to_bytes_with_f16(kernels).unwrap_err();
        assert_eq!(beyond, SafetensorsError::BeyondHalf { name: "d.kernel".into(), value: "-65520".into() });
    }

    /// A file written by Python's `safetensors` (the shipped weights) reads, and reads back the
    /// same after our writing; writing twice gives the same bytes.
    #[test]
    fn the_shipped_weights_read_and_round_trip() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../public/weights/mobilenetv2_1.0.safetensors");
        let bytes = std::fs::read(path).expect("the shipped weights");
        let file = TensorFile::parse("mobilenetv2_1.0.safetensors", &bytes).expect("valid");
        assert!(file.tensors.len() > 200, "{}", file.tensors.len());
        let written = file.to_bytes().expect("writes");
        let again = TensorFile::parse("again", &written).expect("valid");
        assert_eq!(again, file);
        assert_eq!(again.to_bytes().expect("writes"), written, "the same bytes every time");
    }
}

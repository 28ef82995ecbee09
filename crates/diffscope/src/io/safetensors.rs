//! The safetensors format (an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
//! shape and byte range, then the raw little-endian data), for f32 tensors with string metadata. Files
//! written here load with `safetensors.numpy.load_file` / `safe_open`; the metadata (`__metadata__`) carries
//! the model config as JSON.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One named f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Shape (row-major).
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: Vec<f32>,
}

/// Tensors and string metadata of a safetensors file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SafeTensors {
    /// Tensors by name (sorted, as the format stores them).
    pub tensors: BTreeMap<String, Tensor>,
    /// `__metadata__` strings.
    pub metadata: BTreeMap<String, String>,
}

impl SafeTensors {
    /// Adds a tensor.
    pub fn insert(&mut self, name: impl Into<String>, shape: Vec<usize>, data: Vec<f32>) {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        self.tensors.insert(name.into(), Tensor { shape, data });
    }

    /// The tensor `name` of the given shape, or an error naming the file, tensor and shapes.
    pub fn take(&mut self, path: &Path, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| Error::format(path, format!("tensor `{name}` is missing")))?;
        if t.shape != shape {
            return Err(Error::format(
                path,
                format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?}",
                    t.shape
                ),
            ));
        }
        if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(Error::format(
                path,
                format!("tensor `{name}` holds a non-finite value at flat index {i}"),
            ));
        }
        Ok(t.data)
    }

    /// The metadata entry `key`, or an error naming the file.
    pub fn meta(&self, path: &Path, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::format(path, format!("metadata `{key}` is missing")))
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut header = serde_json::Map::new();
        if !self.metadata.is_empty() {
            header.insert(
                "__metadata__".into(),
                serde_json::to_value(&self.metadata).expect("string map serialises"),
            );
        }
        let mut offset = 0usize;
        for (name, t) in &self.tensors {
            let len = t.data.len() * 4;
            header.insert(
                name.clone(),
                serde_json::json!({"dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + len]}),
            );
            offset += len;
        }
        let mut head = serde_json::to_string(&header).expect("header serialises");
        // Pad the header with spaces to a multiple of 8 bytes (the format allows it; keeps data aligned).
        while !head.len().is_multiple_of(8) {
            head.push(' ');
        }
        crate::io::write_atomic(path, |w| {
            w.write_all(&(head.len() as u64).to_le_bytes())?;
            w.write_all(head.as_bytes())?;
            for t in self.tensors.values() {
                for v in &t.data {
                    w.write_all(&v.to_le_bytes())?;
                }
            }
            Ok(())
        })
    }

    /// Reads a file; only F32 tensors are accepted. Truncated files, bad headers and byte ranges that do
    /// not match the shapes are errors naming the file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |msg: String| Error::format(path, msg);
        if bytes.len() < 8 {
            return Err(bad(format!(
                "{} bytes: too short for a safetensors header (empty or truncated file)",
                bytes.len()
            )));
        }
        let hlen = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        if hlen > bytes.len() - 8 {
            return Err(bad(format!(
                "header length {hlen} exceeds the file ({} bytes): truncated or not safetensors",
                bytes.len()
            )));
        }
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..8 + hlen])
                .map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
        let data = &bytes[8 + hlen..];
        let mut out = SafeTensors::default();
        for (name, v) in header {
            if name == "__metadata__" {
                out.metadata = serde_json::from_value(v)
                    .map_err(|e| bad(format!("__metadata__ is not a string map: {e}")))?;
                continue;
            }
            let dtype = v.get("dtype").and_then(|d| d.as_str()).unwrap_or("?");
            if dtype != "F32" {
                return Err(bad(format!(
                    "tensor `{name}` has dtype {dtype}; only F32 is supported"
                )));
            }
            let shape: Vec<usize> = v
                .get("shape")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .ok_or_else(|| bad(format!("tensor `{name}` has no valid shape")))?;
            let range: [usize; 2] = v
                .get("data_offsets")
                .and_then(|s| serde_json::from_value(s.clone()).ok())
                .ok_or_else(|| bad(format!("tensor `{name}` has no valid data_offsets")))?;
            let bytes_needed = shape
                .iter()
                .try_fold(4usize, |a, &s| a.checked_mul(s))
                .ok_or_else(|| {
                    bad(format!(
                        "tensor `{name}`: shape {shape:?} declares more bytes than can exist"
                    ))
                })?;
            if range[1] < range[0] || range[1] - range[0] != bytes_needed || range[1] > data.len() {
                return Err(bad(format!(
                    "tensor `{name}`: byte range {range:?} does not hold shape {shape:?} within {} data bytes (truncated?)",
                    data.len()
                )));
            }
            let vals = data[range[0]..range[1]]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect();
            out.tensors.insert(name, Tensor { shape, data: vals });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let dir = std::env::temp_dir().join(format!("ds-st-{}", std::process::id()));
        let p = dir.join("m.safetensors");
        let mut st = SafeTensors::default();
        st.insert("a", vec![2, 3], (0..6).map(|i| i as f32 * 0.5).collect());
        st.insert("b", vec![1], vec![-1.0]);
        st.metadata.insert("config".into(), "{\"x\":1}".into());
        st.write(&p).unwrap();
        let mut back = SafeTensors::read(&p).unwrap();
        assert_eq!(back, st);
        assert_eq!(back.take(&p, "a", &[2, 3]).unwrap()[5], 2.5);
        let e = back.take(&p, "b", &[2]).unwrap_err().to_string();
        assert!(e.contains("shape [1], expected [2]"), "{e}");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        let e = SafeTensors::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("m.safetensors") && e.contains("truncated"),
            "{e}"
        );
        std::fs::write(&p, b"").unwrap();
        assert!(SafeTensors::read(&p).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

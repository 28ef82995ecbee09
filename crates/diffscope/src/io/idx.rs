//! IDX files (the MNIST / Fashion-MNIST format), optionally gzipped: a big-endian header
//! `0x00 0x00 <type> <ndim>`, ndim u32 sizes, then the values in C order. Only unsigned bytes (type
//! 0x08) occur in those data sets and are supported here.

use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes: its shape and values.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// Sizes per dimension (the first is the number of items).
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: Vec<u8>,
}

/// Reads an IDX file (gzip when the name ends in `.gz`). Errors name the file and what is wrong: a bad
/// magic number, an unsupported type, or a file shorter than its header says (truncated).
///
/// Reading is bounded by the header: after the 4 + 4·ndim header bytes, at most the declared values
/// plus one byte are read, so a decompression bomb behind a small declared shape stops there, and a
/// header that declares more than the stream holds costs what the stream holds.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let read_err =
        |e: std::io::Error| Error::format(path, format!("cannot decompress or read: {e}"));
    let mut bytes = Vec::new();
    r.by_ref()
        .take(4)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let ndim = bytes.get(3).copied().unwrap_or(0) as u64;
    r.by_ref()
        .take(4 * ndim)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    let declared = (0..ndim as usize)
        .filter_map(|i| bytes.get(4 + 4 * i..8 + 4 * i))
        .try_fold(1u64, |a, s| {
            a.checked_mul(u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as u64)
        })
        .unwrap_or(u64::MAX);
    r.take(declared.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    parse_idx(path, &bytes)
}

/// Parses the bytes of an IDX file (`path` only names it in errors).
pub fn parse_idx(path: &Path, b: &[u8]) -> Result<IdxArray> {
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        return Err(Error::format(
            path,
            "not an IDX file: the first two bytes of the magic number must be 0",
        ));
    }
    if b[2] != 0x08 {
        return Err(Error::format(
            path,
            format!(
                "IDX type 0x{:02x} is not supported (only unsigned bytes, 0x08)",
                b[2]
            ),
        ));
    }
    let ndim = b[3] as usize;
    if ndim == 0 || b.len() < 4 + 4 * ndim {
        return Err(Error::format(
            path,
            format!("IDX header of {ndim} dimensions is truncated"),
        ));
    }
    let shape: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize
        })
        .collect();
    let count = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s));
    let start = 4 + 4 * ndim;
    match count {
        Some(c) if b.len() - start == c => Ok(IdxArray {
            shape,
            data: b[start..].to_vec(),
        }),
        _ => Err(Error::format(
            path,
            format!(
                "IDX shape {shape:?} needs {} values but the file holds {} (truncated or trailing bytes)",
                count.map_or("too many".to_string(), |c| c.to_string()),
                b.len() - start
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(shape: &[u32], data: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 8, shape.len() as u8];
        for s in shape {
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn parses_a_hand_built_file_and_rejects_broken_ones() {
        let p = Path::new("x.idx");
        let a = parse_idx(
            p,
            &idx(&[2, 2, 3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]),
        )
        .unwrap();
        assert_eq!(a.shape, vec![2, 2, 3]);
        assert_eq!(a.data[11], 255);
        let short = idx(&[2, 2, 3], &[0; 11]);
        assert!(parse_idx(p, &short)
            .unwrap_err()
            .to_string()
            .contains("truncated"));
        let mut wrong = idx(&[3], &[1, 2, 3]);
        wrong[2] = 0x0d;
        assert!(parse_idx(p, &wrong)
            .unwrap_err()
            .to_string()
            .contains("0x0d"));
        assert!(parse_idx(p, &[1, 2, 3]).is_err());
    }
}

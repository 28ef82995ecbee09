//! NumPy `.npy` (format versions 1–3) and `.npz` (a zip of `.npy` members).
//!
//! Reads little- and big-endian `f4, f8, i1..i8, u1..u8, b1` in C or Fortran order; writes little-endian C
//! order. Errors name the file and say what is wrong (bad magic, unsupported dtype, truncated data...).

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::path::Path;

/// Typed payload of an array, in C (row-major) order.
#[derive(Clone, Debug, PartialEq)]
pub enum NpyData {
    /// `<f4`
    F32(Vec<f32>),
    /// `<f8`
    F64(Vec<f64>),
    /// Any integer or boolean dtype, widened.
    I64(Vec<i64>),
}

/// An n-dimensional array read from or written to `.npy`.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The shape; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The values in C order.
    pub data: NpyData,
}

impl NpyArray {
    /// A 2-D f32 array.
    pub fn f32(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(rows * cols, data.len());
        NpyArray {
            shape: vec![rows, cols],
            data: NpyData::F32(data),
        }
    }
    /// A 1-D f64 array.
    pub fn f64_1d(data: Vec<f64>) -> Self {
        NpyArray {
            shape: vec![data.len()],
            data: NpyData::F64(data),
        }
    }
    /// A 2-D f64 array.
    pub fn f64(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(rows * cols, data.len());
        NpyArray {
            shape: vec![rows, cols],
            data: NpyData::F64(data),
        }
    }
    /// A 1-D i64 array.
    pub fn i64_1d(data: Vec<i64>) -> Self {
        NpyArray {
            shape: vec![data.len()],
            data: NpyData::I64(data),
        }
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether the array has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The values converted to f32.
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NpyData::F32(v) => v.clone(),
            NpyData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            NpyData::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
    /// The values converted to f64.
    pub fn to_f64(&self) -> Vec<f64> {
        match &self.data {
            NpyData::F32(v) => v.iter().map(|&x| x as f64).collect(),
            NpyData::F64(v) => v.clone(),
            NpyData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
    /// Whether the dtype is floating point.
    pub fn is_float(&self) -> bool {
        !matches!(self.data, NpyData::I64(_))
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|msg| Error::format(path, msg))
}

/// Reads every member of a `.npz` file, in archive order, as `(name without .npy, array)`.
pub fn read_npz(path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| Error::format(path, format!("not a valid .npz (zip) archive: {e}")))?;
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let mut member = zip
            .by_index(i)
            .map_err(|e| Error::format(path, format!("member {i}: {e}")))?;
        let name = member.name().to_string();
        // Not `member.size()`: the archive's declared size is not trusted for an allocation.
        let bytes = read_npy_bounded(&mut member)
            .map_err(|msg| Error::format(path, format!("member `{name}`: {msg}")))?;
        let arr = parse_npy(&bytes)
            .map_err(|msg| Error::format(path, format!("member `{name}`: {msg}")))?;
        out.push((name.trim_end_matches(".npy").to_string(), arr));
    }
    Ok(out)
}

/// Writes a `.npy` file atomically.
pub fn write_npy(path: &Path, arr: &NpyArray) -> Result<()> {
    super::write_atomic(path, |w| w.write_all(&encode_npy(arr)))
}

/// Writes a `.npz` file (deflated members) atomically.
pub fn write_npz(path: &Path, arrays: &[(&str, &NpyArray)]) -> Result<()> {
    super::write_atomic(path, |w| {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut zip = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(true);
            for (name, arr) in arrays {
                zip.start_file(format!("{name}.npy"), opts)
                    .map_err(std::io::Error::other)?;
                zip.write_all(&encode_npy(arr))?;
            }
            zip.finish().map_err(std::io::Error::other)?;
        }
        w.write_all(buf.get_ref())
    })
}

fn encode_npy(arr: &NpyArray) -> Vec<u8> {
    let descr = match arr.data {
        NpyData::F32(_) => "<f4",
        NpyData::F64(_) => "<f8",
        NpyData::I64(_) => "<i8",
    };
    let shape = match arr.shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", arr.shape[0]),
        _ => format!(
            "({})",
            arr.shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that magic(6) + version(2) + len(2) + header + '\n' is a multiple of 64.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + arr.len() * 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    match &arr.data {
        NpyData::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::F64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        NpyData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
    }
    out
}

/// Element kind of a dtype string.
#[derive(Clone, Copy, Debug)]
enum Kind {
    F,
    I,
    U,
    B,
}

/// The header of a .npy file: dtype string, Fortran order, shape and the offset of the data.
struct Header {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
    data_start: usize,
}

fn parse_header(bytes: &[u8]) -> std::result::Result<Header, String> {
    if bytes.is_empty() {
        return Err("empty file (0 bytes), expected a .npy array".into());
    }
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file (missing the \\x93NUMPY magic)".into());
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(format!("unsupported .npy format version {v}")),
    };
    let header = bytes.get(start..start + hlen).ok_or("truncated header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr'")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"').to_string();
    let fortran = dict_value(header, "fortran_order").ok_or("header has no 'fortran_order'")?;
    let fortran = match fortran.trim() {
        "True" => true,
        "False" => false,
        other => return Err(format!("bad fortran_order `{other}`")),
    };
    let shape_txt = dict_value(header, "shape").ok_or("header has no 'shape'")?;
    let shape: Vec<usize> = shape_txt
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("bad shape entry `{s}`"))
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(Header {
        descr,
        fortran,
        shape,
        data_start: start + hlen,
    })
}

/// The element count and data bytes a header declares, checked for overflow (a shape whose product
/// exceeds the address space is an error, not a wrapped small number).
fn declared_size(
    shape: &[usize],
    size: usize,
    descr: &str,
) -> std::result::Result<(usize, usize), String> {
    let too_big =
        || format!("shape {shape:?} of dtype '{descr}' declares more bytes than can exist");
    // The product of the non-zero axes too: with a zero axis the count is 0 whatever the others are,
    // but a row of the others' product must still exist (found by AFL++: (0, 6, …, 3·10²¹, 4)
    // overflowed the row length downstream).
    let nonzero = (shape.iter().filter(|&&s| s > 0)).try_fold(1usize, |a, &s| a.checked_mul(s));
    let count = shape.iter().try_fold(1usize, |a, &s| a.checked_mul(s));
    match (nonzero.and_then(|n| n.checked_mul(size)), count) {
        (Some(_), Some(c)) => c.checked_mul(size).map(|b| (c, b)).ok_or_else(too_big),
        _ => Err(too_big()),
    }
}

/// The bytes of a .npy stream read with a bound: the header first, then exactly the data its shape
/// declares (plus one byte, to see trailing data), never more than the stream holds. A header that
/// declares 2^40 elements in a small (or compressed) stream costs what the stream holds, not 2^40.
fn read_npy_bounded(r: &mut dyn Read) -> std::result::Result<Vec<u8>, String> {
    let mut bytes = vec![0u8; 12];
    let got = read_up_to(r, &mut bytes)?;
    bytes.truncate(got);
    if got < 10 || &bytes[..6] != MAGIC {
        return Err(if got == 0 {
            "empty (0 bytes), expected a .npy array".into()
        } else {
            "not a .npy file (missing the \\x93NUMPY magic)".into()
        });
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if got >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err("truncated header".into()),
    };
    // The header is text of at most a few hundred bytes in practice; 1 MB bounds a hostile one.
    if hlen > 1 << 20 {
        return Err(format!("header length {hlen} bytes is not plausible"));
    }
    let mut rest = vec![0u8; (start + hlen).saturating_sub(got)];
    let n = read_up_to(r, &mut rest)?;
    bytes.extend_from_slice(&rest[..n]);
    let h = parse_header(&bytes)?;
    let (_, _, size) = parse_descr(h.descr.trim())?;
    let (_, need) = declared_size(&h.shape, size, &h.descr)?;
    let want = (h.data_start + need + 1).saturating_sub(bytes.len());
    r.take(want as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read ({e}); the file may be truncated"))?;
    Ok(bytes)
}

/// Reads until `buf` is full or the stream ends; the count read.
fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> std::result::Result<usize, String> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read ({e}); the file may be truncated")),
        }
    }
    Ok(n)
}

fn parse_npy(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    let Header {
        descr,
        fortran,
        shape,
        data_start,
    } = parse_header(bytes)?;
    let descr = descr.as_str();
    let (big, kind, size) = parse_descr(descr)?;
    let (count, need) = declared_size(&shape, size, descr)?;
    let payload = &bytes[data_start..];
    if payload.len() < need {
        return Err(format!(
            "truncated data: shape {shape:?} of dtype '{descr}' needs {need} bytes, the file has {}",
            payload.len()
        ));
    }
    let payload = &payload[..need];
    let elem = |i: usize| -> [u8; 8] {
        let mut b = [0u8; 8];
        let chunk = &payload[i * size..(i + 1) * size];
        if big {
            for (j, &c) in chunk.iter().rev().enumerate() {
                b[j] = c;
            }
        } else {
            b[..size].copy_from_slice(chunk);
        }
        b
    };
    // C-order position i ← file position (Fortran: reversed strides).
    let src_index = |i: usize| -> usize {
        if !fortran || shape.len() < 2 {
            return i;
        }
        let mut rem = i;
        let mut idx = vec![0usize; shape.len()];
        for k in (0..shape.len()).rev() {
            idx[k] = rem % shape[k];
            rem /= shape[k];
        }
        let mut pos = 0;
        for k in (0..shape.len()).rev() {
            pos = pos * shape[k] + idx[k];
        }
        pos
    };
    let data = match (kind, size) {
        (Kind::F, 4) => NpyData::F32(
            (0..count)
                .map(|i| {
                    let b = elem(src_index(i));
                    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
                })
                .collect(),
        ),
        (Kind::F, 8) => NpyData::F64(
            (0..count)
                .map(|i| f64::from_le_bytes(elem(src_index(i))))
                .collect(),
        ),
        (Kind::I, s) => NpyData::I64(
            (0..count)
                .map(|i| {
                    let b = elem(src_index(i));
                    let raw = i64::from_le_bytes(b);
                    let shift = 64 - 8 * s as u32;
                    if shift == 0 {
                        raw
                    } else {
                        (raw << shift) >> shift
                    }
                })
                .collect(),
        ),
        (Kind::U, _) | (Kind::B, _) => NpyData::I64(
            (0..count)
                .map(|i| i64::from_le_bytes(elem(src_index(i))))
                .collect(),
        ),
        (Kind::F, s) => {
            return Err(format!(
                "unsupported float width {s} bytes in dtype '{descr}' (use float32 or float64)"
            ))
        }
    };
    Ok(NpyArray { shape, data })
}

fn parse_descr(descr: &str) -> std::result::Result<(bool, Kind, usize), String> {
    let unsupported =
        || format!("unsupported dtype '{descr}': expected a float (f4, f8), integer or bool array");
    let mut chars = descr.chars();
    let (big, rest) = match chars.next() {
        Some('<') | Some('|') | Some('=') => (false, chars.as_str()),
        Some('>') => (true, chars.as_str()),
        _ => (false, descr),
    };
    let mut rc = rest.chars();
    let kind = match rc.next() {
        Some('f') => Kind::F,
        Some('i') => Kind::I,
        Some('u') => Kind::U,
        Some('b') => Kind::B,
        _ => return Err(unsupported()),
    };
    let size: usize = rc.as_str().parse().map_err(|_| unsupported())?;
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(unsupported());
    }
    Ok((big, kind, size))
}

/// The raw text of `key`'s value in a Python dict literal (good enough for .npy headers).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let pos = header.find(&pat1).or_else(|| header.find(&pat2))? + pat1.len();
    let rest = header[pos..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(&rest[..end])
}

/// A 2-D `.npy` file of little-endian f32 in C order, memory-mapped: nothing is read until rows are asked
/// for, and then only their pages, so a rank that reads its shard of the rows touches only those
/// (distributed.md, "Bigger than memory"). The file must not change while it is mapped.
pub struct NpyMap {
    path: std::path::PathBuf,
    map: memmap2::Mmap,
    start: usize,
    rows: usize,
    cols: usize,
}

impl NpyMap {
    /// Maps `path`; rejects other dtypes, Fortran order, shapes other than 2-D and truncated data, naming
    /// the file.
    pub fn open(path: &Path) -> Result<NpyMap> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only; the type's contract (documented) is that the file is not
        // modified while mapped, as with any memory-mapped input.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let h = parse_header(&map[..map.len().min(1 << 20)]).map_err(|m| Error::format(path, m))?;
        let bad = |m: String| Error::format(path, m);
        if h.descr != "<f4" {
            return Err(bad(format!(
                "dtype '{}': memory mapping needs little-endian float32 ('<f4'); read the file instead",
                h.descr
            )));
        }
        if h.fortran {
            return Err(bad("Fortran order: memory mapping needs C order".into()));
        }
        let [rows, cols] = h.shape[..] else {
            return Err(bad(format!("shape {:?}: expected 2-D (n, d)", h.shape)));
        };
        let need = h.data_start + rows * cols * 4;
        if map.len() < need || rows == 0 || cols == 0 {
            return Err(bad(format!(
                "shape ({rows}, {cols}) needs {need} bytes, the file has {}",
                map.len()
            )));
        }
        Ok(NpyMap {
            path: path.to_path_buf(),
            map,
            start: h.data_start,
            rows,
            cols,
        })
    }

    /// (n, d).
    pub fn shape(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Rows `lo..hi`, row-major: borrowed from the map when aligned (the .npy format aligns the data to
    /// 16 or 64 bytes), else copied. Checked for NaN/Inf.
    pub fn rows(&self, lo: usize, hi: usize) -> Result<std::borrow::Cow<'_, [f32]>> {
        if lo > hi || hi > self.rows {
            return Err(Error::param(
                "rows",
                format!("{lo}..{hi}"),
                format!("a range within 0..{} of {}", self.rows, self.path.display()),
            ));
        }
        let bytes = &self.map[self.start + lo * self.cols * 4..self.start + hi * self.cols * 4];
        let rows: std::borrow::Cow<'_, [f32]> = if cfg!(target_endian = "little")
            && (bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<f32>())
        {
            // SAFETY: in bounds (sliced above), aligned (checked), any bit pattern is an f32, and the
            // map outlives the borrow.
            std::borrow::Cow::Borrowed(unsafe {
                std::slice::from_raw_parts(bytes.as_ptr() as *const f32, bytes.len() / 4)
            })
        } else {
            std::borrow::Cow::Owned(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            )
        };
        crate::error::check_finite_f32(&self.path.display().to_string(), &rows, self.cols)
            .map_err(|e| match e {
                Error::NonFinite {
                    source_name,
                    row,
                    col,
                    value,
                } => Error::NonFinite {
                    source_name,
                    row: row + lo,
                    col,
                    value,
                },
                e => e,
            })?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("diffscope-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn roundtrip_f32_f64_i64_exact() {
        let a = NpyArray::f32(2, 3, vec![1.5, -2.25, f32::MIN_POSITIVE, 1e30, 0.1, 7.0]);
        let b = NpyArray::f64(3, 1, vec![std::f64::consts::PI, -1e-300, 0.1]);
        let c = NpyArray::i64_1d(vec![0, -5, i64::MAX]);
        for (i, arr) in [&a, &b, &c].into_iter().enumerate() {
            let p = tmp(&format!("r{i}.npy"));
            write_npy(&p, arr).unwrap();
            assert_eq!(&read_npy(&p).unwrap(), arr);
        }
        let p = tmp("r.npz");
        write_npz(&p, &[("a", &a), ("b", &b), ("c", &c)]).unwrap();
        let back = read_npz(&p).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], ("a".to_string(), a));
        assert_eq!(back[1], ("b".to_string(), b));
        assert_eq!(back[2], ("c".to_string(), c));
    }

    #[test]
    fn fortran_order_and_big_endian_are_transposed_and_swapped() {
        // A 2x3 matrix [[1,2,3],[4,5,6]] stored in Fortran order as big-endian f8.
        let header = "{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0] {
            bytes.extend_from_slice(&v.to_be_bytes());
        }
        let arr = parse_npy(&bytes).unwrap();
        assert_eq!(arr.shape, vec![2, 3]);
        assert_eq!(arr.data, NpyData::F64(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    }

    #[test]
    fn truncated_empty_and_foreign_files_are_named() {
        let a = NpyArray::f32(10, 10, vec![1.0; 100]);
        let p = tmp("t.npy");
        write_npy(&p, &a).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 7]).unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("t.npy") && e.contains("truncated data"), "{e}");
        std::fs::write(&p, b"").unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("empty file"), "{e}");
        std::fs::write(&p, b"hello world, not numpy").unwrap();
        let e = read_npy(&p).unwrap_err().to_string();
        assert!(e.contains("not a .npy file"), "{e}");
        let e = read_npy(&tmp("missing.npy")).unwrap_err().to_string();
        assert!(e.contains("missing.npy"), "{e}");
    }

    #[test]
    fn unsupported_dtype_is_reported() {
        let header = "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 16]);
        let e = parse_npy(&bytes).unwrap_err();
        assert!(e.contains("unsupported dtype '<c16'"), "{e}");
    }
}

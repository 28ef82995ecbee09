//! Hostile headers (issue #27, bounded allocation): for each format a small file (about 1 KB) whose header
//! declares about 2^40 elements, or a size past the address space, is rejected with an error naming the
//! file, in well under a second, by a process whose peak memory stays under 50 MB (the CLI's own
//! footprint is ~10 MB). Before the fixes, the .npy shape product wrapped around in release builds (a
//! small "need" passed the length check), a safetensors shape did likewise, and a .npz member's declared
//! size went straight into an allocation.
//!
//! One test function, run in its own binary: the peak memory is the maximum over this binary's children
//! (`getrusage(RUSAGE_CHILDREN)`), so no other test's child may run beside it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A .npy v1 file: the header dict padded to a multiple of 64 bytes, then `data`.
fn npy(shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A .npz holding `x.npy` = `member` (stored), with the archive's declared uncompressed size of the
/// member forged to 0xFFFFFFFF in both headers.
fn npz_forged(member: &[u8]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        z.start_file("x.npy", opts).unwrap();
        z.write_all(member).unwrap();
        z.finish().unwrap();
    }
    let mut b = buf.into_inner();
    let forge = |b: &mut Vec<u8>, sig: [u8; 4], off: usize| {
        let at = b.windows(4).position(|w| w == sig).expect("zip header");
        b[at + off..at + off + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    };
    forge(&mut b, [0x50, 0x4b, 0x03, 0x04], 22); // local header: uncompressed size
    forge(&mut b, [0x50, 0x4b, 0x01, 0x02], 24); // central directory: uncompressed size
    b
}

/// An IDX image file of unsigned bytes with dimensions `dims`, then `data`.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A safetensors file with one F32 tensor `w` of `shape` at byte range `range`, then `data`.
fn safetensors(shape: &str, range: &str, data: &[u8]) -> Vec<u8> {
    let h =
        format!("{{\"w\": {{\"dtype\": \"F32\", \"shape\": {shape}, \"data_offsets\": {range}}}}}");
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

/// A PNG whose IHDR declares `w` × `h` RGBA pixels (valid CRC), then a tiny IDAT and IEND.
fn png(w: u32, h: u32) -> Vec<u8> {
    let chunk = |b: &mut Vec<u8>, kind: &[u8], body: &[u8]| {
        b.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(body);
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b.extend_from_slice(&crc.sum().to_be_bytes());
    };
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut b, b"IHDR", &ihdr);
    chunk(
        &mut b,
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut b, b"IEND", &[]);
    b
}

/// Peak resident memory of the children waited for so far, in MB.
fn children_peak_mb() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) },
        0
    );
    ru.ru_maxrss as f64 / 1024.0
}

fn run(args: &[&str], dir: &Path) -> (bool, String, Duration) {
    let t0 = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_diffscope"))
        .current_dir(dir)
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        t0.elapsed(),
    )
}

#[test]
fn headers_declaring_2_pow_40_elements_are_rejected_fast_and_small() {
    let dir: PathBuf = std::env::temp_dir().join(format!("ds-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("pngs/a")).unwrap();
    let kb = vec![0x3fu8; 1000];
    let two40 = "(1048576, 1048576)";
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("big.npy", npy(two40, &kb)),
        ("wrap.npy", npy("(1099511627776, 1099511627776, 16)", &kb)),
        ("big.npz", npz_forged(&npy(two40, &kb))),
        (
            "train-images-idx3-ubyte",
            idx(&[1 << 20, 1 << 10, 1 << 10], &kb),
        ),
        (
            "gz/train-images-idx3-ubyte.gz",
            gzip(&idx(&[1 << 20, 1 << 10, 1 << 10], &kb)),
        ),
        (
            "big.safetensors",
            safetensors("[1048576, 1048576]", "[0, 4398046511104]", &kb),
        ),
        (
            "wrap.safetensors",
            safetensors("[4611686018427387904, 4]", "[0, 0]", &kb),
        ),
        ("pngs/a/x.png", png(1 << 20, 1 << 20)),
    ];
    std::fs::create_dir_all(dir.join("gz")).unwrap();
    for (name, bytes) in &files {
        assert!(bytes.len() < 2048, "{name}: {} bytes", bytes.len());
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    // (command, the file the error must name, what it must say)
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["spectrum", "big.npy"],
            "big.npy",
            "needs 4398046511104 bytes",
        ),
        (
            vec!["spectrum", "wrap.npy"],
            "wrap.npy",
            "declares more bytes than can exist",
        ),
        (
            vec!["spectrum", "big.npz"],
            "big.npz",
            "member `x.npy`: truncated",
        ),
        (
            vec!["spectrum", "train-images-idx3-ubyte"],
            "train-images-idx3-ubyte",
            "needs 1099511627776 values",
        ),
        (
            vec!["spectrum", "gz/train-images-idx3-ubyte.gz"],
            "train-images-idx3-ubyte.gz",
            "needs 1099511627776 values",
        ),
        (
            vec!["sample", "--score", "big.safetensors", "-o", "o.npz"],
            "big.safetensors",
            "does not hold shape",
        ),
        (
            vec!["sample", "--score", "wrap.safetensors", "-o", "o.npz"],
            "wrap.safetensors",
            "declares more bytes than can exist",
        ),
        (vec!["spectrum", "pngs"], "x.png", "exceeds limit"),
    ];
    for (args, names, says) in cases {
        let (ok, err, took) = run(&args, &dir);
        assert!(!ok, "{args:?} was accepted");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            err.contains(names),
            "{args:?}: the error does not name {names}: {err}"
        );
        assert!(
            err.contains(says),
            "{args:?}: the error does not say {says:?}: {err}"
        );
        assert!(took < Duration::from_secs(1), "{args:?} took {took:?}");
        eprintln!("{args:?}: {took:?}: {}", err.trim());
    }
    let peak = children_peak_mb();
    eprintln!("peak memory of the children: {peak:.1} MB");
    assert!(peak < 50.0, "a child peaked at {peak:.1} MB");
    let _ = std::fs::remove_dir_all(&dir);
}

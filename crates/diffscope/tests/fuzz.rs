//! A structure-aware mutation fuzzer over every parser (issue #27, part 1), on stable Rust.
//!
//! Why not coverage-guided: cargo-fuzz needs nightly; afl.rs and honggfuzz-rs need their own toolchains
//! built on the machine (AFL++ / honggfuzz from source) and a session's time to set up. This harness
//! needs nothing: per target it takes the valid files of `fuzz/corpus/<target>/`, applies 1–4 mutations
//! (bit flips, interesting bytes, truncation, insertion, duplication and swaps of slices, and, for text
//! formats, numbers replaced by 0, -1, huge or non-numbers), writes the result where the loader expects
//! it and calls the public loader. A finding is a panic, a call slower than 1 s, or an allocation over
//! 256 MB for an input under 64 KB (a counting global allocator); each is printed with its input saved.
//!
//! The targets themselves (`fuzz/targets.rs`) are shared with the coverage-guided AFL++ binaries of
//! `fuzz/` (`scripts/fuzz-afl.sh`), which run the long campaigns.
//!
//! CI runs every target for `DIFFSCOPE_FUZZ_SECONDS` (default 2) and fails on any finding;
//! `scripts/fuzz.sh SECONDS` runs the long campaign and prints executions per target.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live bytes and their peak; a single request over 4 GB is refused (the process aborts there,
/// with the input of the current execution already saved as `current.bin`).
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if l.size() > 1 << 32 {
            eprintln!("FINDING: a single allocation of {} bytes", l.size());
            return std::ptr::null_mut();
        }
        let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// xorshift64*: the mutations' random numbers (deterministic per target and run).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: [u8; 8] = [0, 1, 0x7f, 0x80, 0xff, b'-', b'9', b'\n'];
const NUMBERS: [&str; 7] = [
    "0",
    "-1",
    "99999999999999999999",
    "4294967296",
    "1e308",
    "nan",
    "",
];

fn mutate(seed: &[u8], r: &mut Rng, text: bool) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + r.below(4) {
        let n = b.len();
        match r.below(if text { 8 } else { 7 }) {
            0 if n > 0 => {
                let i = r.below(n);
                b[i] ^= 1 << r.below(8);
            }
            1 if n > 0 => {
                let i = r.below(n);
                b[i] = INTERESTING[r.below(INTERESTING.len())];
            }
            2 => b.truncate(r.below(n + 1)),
            3 => {
                let i = r.below(n + 1);
                let k = 1 + r.below(16);
                let ins: Vec<u8> = (0..k).map(|_| r.next() as u8).collect();
                b.splice(i..i, ins);
            }
            4 if n > 1 => {
                let (i, k) = (r.below(n), 1 + r.below(64));
                let piece: Vec<u8> = b[i..(i + k).min(n)].to_vec();
                let at = r.below(n + 1);
                b.splice(at..at, piece);
            }
            5 if n > 8 => {
                // Overwrite 4 or 8 bytes with a little- or big-endian extreme (header fields).
                let i = r.below(n - 8);
                let v: u64 = [u64::MAX, 1 << 40, 1 << 31, 0][r.below(4)];
                let bytes = if r.below(2) == 0 {
                    v.to_le_bytes()
                } else {
                    v.to_be_bytes()
                };
                let w = if r.below(2) == 0 { 4 } else { 8 };
                b[i..i + w].copy_from_slice(&bytes[..w]);
            }
            6 if n > 1 => {
                let (i, j) = (r.below(n), r.below(n));
                b.swap(i, j);
            }
            7 => {
                // Replace a run of digits with another number.
                let starts: Vec<usize> = (0..n)
                    .filter(|&i| b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()))
                    .collect();
                if !starts.is_empty() {
                    let s = starts[r.below(starts.len())];
                    let e = (s..n).find(|&i| !b[i].is_ascii_digit()).unwrap_or(n);
                    let num = NUMBERS[r.below(NUMBERS.len())].as_bytes().to_vec();
                    b.splice(s..e, num);
                }
            }
            _ => {}
        }
    }
    b
}

include!("../../../fuzz/targets.rs");

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

/// Fuzzes one target for `budget`; returns (executions, accepted inputs, findings).
fn fuzz(t: &Target, budget: Duration, work: &Path, seed: u64) -> (u64, u64, Vec<String>) {
    let dir = work.join(t.name);
    let path = prepare(t, &dir, &corpus_root());
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(corpus_root().join(t.name))
        .unwrap_or_else(|e| panic!("corpus of {}: {e}", t.name))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert!(!seeds.is_empty(), "{}: empty corpus", t.name);
    // Every seed must load: a corpus of rejected files would fuzz only the error paths.
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(&path, s).unwrap();
        assert!((t.run)(&path), "{}: corpus file {i} does not load", t.name);
    }
    // Panics are findings, caught and reported: keep the default hook's messages out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut r = Rng(seed | 1);
    let (mut execs, mut ok) = (0u64, 0u64);
    let mut findings = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget {
        let input = mutate(&seeds[r.below(seeds.len())], &mut r, t.text);
        std::fs::write(&path, &input).unwrap();
        std::fs::write(dir.join("current.bin"), &input).unwrap();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t0 = Instant::now();
        let res = std::panic::catch_unwind(|| (t.run)(&path));
        let took = t0.elapsed();
        let grew = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        execs += 1;
        let finding = match res {
            Err(p) => Some(format!(
                "panic: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
            Ok(_) if took > Duration::from_secs(1) => Some(format!("slow: {took:?}")),
            Ok(_) if grew > 256 << 20 && input.len() < 64 << 10 => {
                Some(format!("allocated {grew} bytes"))
            }
            Ok(accepted) => {
                ok += accepted as u64;
                None
            }
        };
        if let Some(f) = finding {
            let saved = dir.join(format!("finding-{}.bin", findings.len()));
            std::fs::write(&saved, &input).unwrap();
            findings.push(format!("{}: {f} (input {})", t.name, saved.display()));
        }
    }
    std::panic::set_hook(hook);
    (execs, ok, findings)
}

#[test]
fn every_parser_survives_mutated_inputs() {
    let secs: f64 = std::env::var("DIFFSCOPE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let only = std::env::var("DIFFSCOPE_FUZZ_TARGET")
        .ok()
        .filter(|s| !s.is_empty());
    let work = std::env::var_os("DIFFSCOPE_FUZZ_WORK")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ds-fuzz-{}", std::process::id())));
    let mut all = Vec::new();
    for (i, t) in targets().iter().enumerate() {
        if only.as_deref().is_some_and(|o| o != t.name) {
            continue;
        }
        let (execs, ok, findings) =
            fuzz(t, Duration::from_secs_f64(secs), &work, 0x5eed + i as u64);
        eprintln!(
            "{:12} {execs:>9} executions in {secs} s ({:.0}/s), {ok} accepted, {} findings",
            t.name,
            execs as f64 / secs,
            findings.len()
        );
        all.extend(findings);
    }
    for f in &all {
        eprintln!("FINDING {f}");
    }
    assert!(all.is_empty(), "{} findings", all.len());
    if std::env::var_os("DIFFSCOPE_FUZZ_WORK").is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
}

/// Every finding of the AFL++ campaigns, kept in `fuzz/regressions/<target>-<what>.<ext>`, is rejected by
/// its target with an error: no panic (the campaign's binaries abort on one, with overflow checks on).
#[test]
fn every_fuzz_finding_is_rejected_cleanly() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let work = std::env::temp_dir().join(format!("ds-fuzz-reg-{}", std::process::id()));
    let mut checked = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let target = name.split('-').next().unwrap();
        let t = targets()
            .into_iter()
            .find(|t| t.name == target)
            .unwrap_or_else(|| panic!("{name}: no target {target}"));
        let path = prepare(&t, &work.join(t.name), &corpus_root());
        std::fs::copy(&p, &path).unwrap();
        let t0 = Instant::now();
        let res = std::panic::catch_unwind(|| (t.run)(&path));
        assert_eq!(res.ok(), Some(false), "{name}: not rejected cleanly");
        // A hang finding (the 401-byte JPEG that declared 7688 × 32776 pixels took 10 s) is a finding
        // until it is refused fast.
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "{name}: {:?}",
            t0.elapsed()
        );
        checked += 1;
    }
    assert!(checked >= 1);
    let _ = std::fs::remove_dir_all(&work);
}

/// AFL++'s npy finding: shape (0, 6, 33, 33333, …, 3·10²¹, 4) holds no element, but its rows would hold
/// more than can exist; the row length overflowed (a panic with overflow checks, a wrapped d without).
/// It must be refused by name, whatever the build's overflow checks.
#[test]
fn a_zero_axis_does_not_hide_an_impossible_row() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/npy-zero-axis-row-overflow.npy");
    let e = diffscope::data::DataFileSpec::as_stored(&p)
        .load()
        .unwrap_err()
        .to_string();
    assert!(e.contains("than can exist") && e.contains("shape"), "{e}");
}

//! Faults while writing (issue #27, part 3): a run killed with SIGKILL at any moment leaves at its output
//! path either the previous complete run directory or the new complete one, never a torn one and never
//! none (`io::write_run_dir`: the new directory is written aside and exchanged in one atomic step).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn regimes(out: &Path, seed: u64) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_diffscope"));
    c.args([
        "--quiet",
        "--seed",
        &seed.to_string(),
        "regimes",
        "--d",
        "8",
        "--n",
        "200",
    ])
    .args(["--batch", "20", "--pairs", "10", "--out"])
    .arg(out)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    c
}

/// The seed of the complete run directory at `out`: its 16 files present, summary.json and config.toml
/// parse and name the same seed. Panics on anything else.
fn complete_seed(out: &Path, files: usize) -> u64 {
    let n = std::fs::read_dir(out).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, files, "{} holds {n} files", out.display());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let c: toml::Value =
        toml::from_str(&std::fs::read_to_string(out.join("config.toml")).unwrap()).unwrap();
    let seed = s["seed"].as_u64().unwrap();
    assert_eq!(
        c["seed"].as_integer(),
        Some(seed as i64),
        "summary and config disagree"
    );
    seed
}

/// 100 runs, each killed (SIGKILL) after a pseudo-random delay spread over a run's duration (some before
/// any output, some while the directory is replaced, some after it finished): after every kill the output
/// is the last complete run's or the killed run's, whole.
#[test]
fn sigkill_at_random_points_leaves_the_old_or_the_new_run_directory() {
    let dir = std::env::temp_dir().join(format!("ds-faults-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("run");
    let t0 = Instant::now();
    assert!(regimes(&out, 1000).status().unwrap().success());
    let full = t0.elapsed();
    let files = std::fs::read_dir(&out).unwrap().count();
    let mut last = complete_seed(&out, files);
    let mut lcg = 0x2545_f491_4f6c_dd1du64;
    let (mut old, mut new) = (0, 0);
    for i in 0..100u64 {
        lcg = lcg
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let frac = (lcg >> 11) as f64 / (1u64 << 53) as f64;
        let delay = full.mul_f64(1.3 * frac);
        let seed = 2000 + i;
        let mut child = regimes(&out, seed).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let now = complete_seed(&out, files);
        assert!(
            now == last || now == seed,
            "kill {i} after {delay:?}: seed {now}, expected {last} or {seed}"
        );
        if now == seed {
            new += 1;
        } else {
            old += 1;
        }
        last = now;
    }
    eprintln!("100 kills over {full:?} runs: {old} left the old directory, {new} the new one");
    assert!(
        old > 0 && new > 0,
        "the delays missed one side ({old} old, {new} new)"
    );
    assert!(t0.elapsed() < Duration::from_secs(120));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two shards that finish together both merge the sweep: 20 rounds of two `merge` processes started at
/// once leave the sweep's tables complete and byte-identical to a lone merge's, and no temporary file
/// behind (each table is written to a per-process temporary name and renamed over the old one). Found
/// by this test: the figures' PNG went through one shared temporary name, so one merge renamed the
/// other's away and failed ("t_s_vs_d.png: No such file or directory").
#[test]
fn concurrent_merges_leave_complete_identical_tables() {
    let dir = std::env::temp_dir().join(format!("ds-merge-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("sweep");
    let bin = env!("CARGO_BIN_EXE_diffscope");
    let sweep = Command::new(bin)
        .args([
            "--quiet",
            "regimes",
            "--sweep-d",
            "8,16",
            "--n",
            "200",
            "--batch",
            "20",
            "--pairs",
            "10",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        sweep.status.success(),
        "{}",
        String::from_utf8_lossy(&sweep.stderr)
    );
    let tables = ["sweep_d.csv", "t_s_vs_d.svg", "index.html"];
    let read = |f: &str| std::fs::read(out.join(f)).unwrap();
    let want: Vec<Vec<u8>> = tables.iter().map(|f| read(f)).collect();
    for round in 0..20 {
        let merge = || {
            Command::new(bin)
                .args(["--quiet", "merge"])
                .arg(&out)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut a, mut b) = (merge(), merge());
        assert!(
            a.wait().unwrap().success() && b.wait().unwrap().success(),
            "round {round}"
        );
        for (f, w) in tables.iter().zip(&want) {
            // Byte for byte: merge re-reads every run's summary, timings included.
            assert!(read(f) == *w, "round {round}: {f} differs");
        }
        let tmp: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(
            tmp.is_empty(),
            "round {round}: temporary files left: {tmp:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

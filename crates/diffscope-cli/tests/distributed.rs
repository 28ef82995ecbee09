//! The exact score sharded over ranks, end to end: `--ranks R` (thread-simulated ranks) and, with the
//! `mpi` feature, `mpirun -n R` (2 and 3 ranks) give the same files bit for bit; a memory-mapped .npy
//! training set gives the same samples as a read one.

use diffscope::io::{write_npy, NpyArray};
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_diffscope")
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("diffscope-dist-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn run(mut cmd: impl std::borrow::BorrowMut<Command>) {
    let cmd = cmd.borrow_mut();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn diffscope(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(["--threads", "1"]).args(args).env("CI", "1");
    c
}

/// A 2-D float32 .npy of n points in two clusters (n × d).
fn write_points(path: &Path, n: usize, d: usize) {
    let x: Vec<f32> = (0..n * d)
        .map(|i| {
            let (mu, j) = (i / d, i % d);
            let sign = if mu % 2 == 0 { 1.0 } else { -1.0 };
            sign + ((mu * 7919 + j * 104_729) % 1000) as f32 / 700.0 - 0.7
        })
        .collect();
    write_npy(path, &NpyArray::f32(n, d, x)).unwrap();
}

fn npz_member(path: &Path, name: &str) -> Vec<u8> {
    let members = diffscope::io::read_npz(path).unwrap();
    let arr = &members.iter().find(|m| m.0 == name).unwrap().1;
    arr.to_f64().iter().flat_map(|v| v.to_le_bytes()).collect()
}

const SAMPLE: &[&str] = &["sample", "--steps", "25", "-b", "40"];

#[test]
fn simulated_ranks_shard_the_score_and_mmap_reads_the_same_points() {
    let dir = tmp("sim");
    let data = dir.join("points.npy");
    write_points(&data, 301, 12);
    let d = data.to_str().unwrap();
    let out = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (read1, map1, read3, map3) = (out("r1.npz"), out("m1.npz"), out("r3.npz"), out("m3.npz"));
    run(diffscope(&[SAMPLE, &["--data", d, "-o", &read1]].concat()).arg("-q"));
    run(diffscope(
        &[SAMPLE, &["--data", d, "--mmap", "-o", &map1]].concat(),
    ));
    run(diffscope(
        &[&["--ranks", "3"], SAMPLE, &["--data", d, "-o", &read3]].concat(),
    ));
    run(diffscope(
        &[
            &["--ranks", "3"],
            SAMPLE,
            &["--data", d, "--mmap", "-o", &map3],
        ]
        .concat(),
    ));
    let x = |p: &str| npz_member(Path::new(p), "x");
    // One process: the mapped rows build the same kernel as the read ones.
    assert_eq!(x(&read1), x(&map1));
    // Three ranks: each maps only its rows; same shards, same bits as reading the file on every rank.
    assert_eq!(x(&read3), x(&map3));
    // Sharding changes the centre's summation order and the tiles, not the samples beyond f32 noise,
    // and the end points' nearest training points not at all.
    let (a, b) = (
        diffscope::io::read_npz(Path::new(&read1)).unwrap(),
        diffscope::io::read_npz(Path::new(&read3)).unwrap(),
    );
    let get =
        |m: &Vec<(String, NpyArray)>, k: &str| m.iter().find(|e| e.0 == k).unwrap().1.to_f64();
    for (u, v) in get(&a, "x").iter().zip(get(&b, "x")) {
        // 25 EM steps of an f32 score within 1e-5·|S| of each other: a few 1e-5 at O(1) coordinates
        // (measured: 4.4e-6 at most); a shard that dropped or double-counted a point moves them by ≳ 1e-2.
        assert!((u - v).abs() < 5e-5, "{u} vs {v}");
    }
    assert_eq!(get(&a, "nearest"), get(&b, "nearest"));
    // A mapped file of the wrong dtype is refused with its name.
    let bad = dir.join("ints.npy");
    write_npy(&bad, &NpyArray::i64_1d(vec![1, 2, 3])).unwrap();
    let o = diffscope(
        &[
            SAMPLE,
            &[
                "--data",
                bad.to_str().unwrap(),
                "--mmap",
                "-o",
                &out("x.npz"),
            ],
        ]
        .concat(),
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("ints.npy") && err.contains("float32"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every file of a run directory, summary.json without its wall times.
#[cfg(feature = "mpi")]
fn run_dir(root: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap();
            let bytes = if name == "summary.json" {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                v.as_object_mut().unwrap().remove("timings_s");
                v.to_string().into_bytes()
            } else {
                bytes
            };
            (name, bytes)
        })
        .collect()
}

/// `mpirun -n 2` and `-n 3`: sample and regimes runs bit-identical to the thread-simulated runs with the
/// same rank count (MPI only moves bytes; the fold order is fixed).
#[cfg(feature = "mpi")]
#[test]
fn mpirun_runs_equal_the_thread_simulated_runs() {
    let dir = tmp("mpi");
    for ranks in ["2", "3"] {
        let mpirun = |args: &[&str]| {
            let mut c = Command::new("mpirun");
            c.args([
                "--allow-run-as-root",
                "--oversubscribe",
                "--bind-to",
                "none",
                "-n",
                ranks,
            ])
            .arg(bin())
            .args(["--threads", "1"])
            .args(args)
            .env("CI", "1");
            c
        };
        let p = |name: &str| {
            dir.join(format!("{name}{ranks}"))
                .to_str()
                .unwrap()
                .to_string()
        };
        let sample = [SAMPLE, &["--d", "16", "--n", "500"]].concat();
        run(mpirun(&[&sample[..], &["-o", &p("mpi.npz")]].concat()));
        run(diffscope(
            &[&["--ranks", ranks], &sample[..], &["-o", &p("sim.npz")]].concat(),
        ));
        assert_eq!(
            std::fs::read(p("mpi.npz")).unwrap(),
            std::fs::read(p("sim.npz")).unwrap(),
            "sample, {ranks} ranks"
        );
        let regimes = [
            "regimes", "--d", "16", "--n", "400", "--batch", "60", "--pairs", "20",
        ];
        run(mpirun(&[&regimes[..], &["-o", &p("mpi_run")]].concat()));
        run(diffscope(
            &[&["--ranks", ranks], &regimes[..], &["-o", &p("sim_run")]].concat(),
        ));
        let (a, b) = (
            run_dir(Path::new(&p("mpi_run"))),
            run_dir(Path::new(&p("sim_run"))),
        );
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (k, v) in &a {
            assert!(v == &b[k], "regimes {k} differs, {ranks} ranks");
        }
        let s: serde_json::Value = serde_json::from_slice(&a["summary.json"]).unwrap();
        assert_eq!(s["ranks"].as_u64(), Some(ranks.parse().unwrap()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

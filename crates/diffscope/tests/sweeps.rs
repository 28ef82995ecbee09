//! Sharded sweeps: a sweep split into shards and merged equals the unsharded sweep; a killed shard rerun
//! finishes without redoing its complete runs; `merge` names what is missing.

use diffscope::distributed::sweep::Shard;
use diffscope::experiments::regimes::{self as exp, RegimesConfig, SweepOver, SweepPlacement};
use diffscope::progress::{Monitor, Silent};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

fn config() -> RegimesConfig {
    RegimesConfig::from_toml(
        "seed = 3\nn = 200\n[params]\nbatch = 30\npairs = 10\nsteps = 60\n",
        Path::new("<test>"),
    )
    .unwrap()
}

fn over() -> SweepOver {
    SweepOver::D(vec![6, 8, 10, 12])
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("diffscope-sweeps-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn placed(shard: Shard) -> SweepPlacement {
    SweepPlacement { shard, comm: None }
}

/// Every file under `root` by relative path, with run timings removed: summary.json without
/// `timings_s`, sweep_d.csv without its `wall_s` column.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap();
            let bytes = if rel.ends_with("summary.json") {
                let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                v.as_object_mut().unwrap().remove("timings_s");
                v.to_string().into_bytes()
            } else if rel == "sweep_d.csv" {
                let text = String::from_utf8(bytes).unwrap();
                let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
                let wall = rows[0].iter().position(|c| *c == "wall_s").unwrap();
                rows.iter()
                    .map(|r| {
                        let mut r = r.clone();
                        r.remove(wall);
                        r.join(",")
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
                    .into_bytes()
            } else {
                bytes
            };
            out.insert(rel, bytes);
        }
    }
    out
}

#[test]
fn a_sweep_split_in_three_shards_and_merged_equals_the_unsharded_sweep() {
    let (cfg, over) = (config(), over());
    let whole = tmp("whole");
    let r = exp::sweep(&cfg, &over, &whole, &placed(Shard::ALL), &Silent).unwrap();
    assert_eq!(r.outcome.ran.len(), 4);
    assert_eq!(r.table.len(), 4);
    let split = tmp("split");
    for i in 0..3 {
        let r = exp::sweep(
            &cfg,
            &over,
            &split,
            &placed(Shard::new(i, 3).unwrap()),
            &Silent,
        )
        .unwrap();
        // Run k belongs to shard k mod 3: shard 0 runs d = 6 and 12.
        assert_eq!(r.outcome.ran.len(), if i == 0 { 2 } else { 1 });
        assert_eq!(
            r.outcome.summaries.is_some(),
            i == 2,
            "only the last shard completes it"
        );
    }
    assert!(split.join("sweep_d.csv").exists());
    let (a, b) = (tree(&whole), tree(&split));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(
            v == &b[k],
            "{k} differs between the unsharded and the sharded sweep"
        );
    }
    // `merge` rebuilds the same tables from the run directories.
    std::fs::remove_file(split.join("sweep_d.csv")).unwrap();
    let m = exp::merge(&split).unwrap();
    assert_eq!(m.table, r_table(&whole));
    assert_eq!(tree(&split)["sweep_d.csv"], a["sweep_d.csv"]);
    let _ = std::fs::remove_dir_all(&whole);
    let _ = std::fs::remove_dir_all(&split);
}

fn r_table(dir: &Path) -> Vec<[String; 4]> {
    exp::merge(dir).unwrap().table
}

/// Stops the sweep after its first complete run (as a kill between runs would).
struct StopAfterFirstRun(AtomicBool);

impl Monitor for StopAfterFirstRun {
    fn advance(&self, _: u64, _: u64) {}
    fn should_stop(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    fn note(&self, msg: &str) {
        if msg.starts_with("d = ") {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_killed_shard_rerun_finishes_without_redoing_complete_runs() {
    let (cfg, over) = (config(), over());
    let out = tmp("killed");
    let stop = StopAfterFirstRun(AtomicBool::new(false));
    let err = exp::sweep(&cfg, &over, &out, &placed(Shard::ALL), &stop)
        .err()
        .unwrap();
    assert!(matches!(err, diffscope::Error::Interrupted), "{err}");
    let first = std::fs::read(out.join("d_6/summary.json")).unwrap();
    assert!(
        !out.join("d_8").exists(),
        "nothing of the interrupted run is left"
    );
    // merge says what is missing.
    let e = exp::merge(&out).err().unwrap().to_string();
    assert!(e.contains("d_8, d_10, d_12"), "{e}");
    let r = exp::sweep(&cfg, &over, &out, &placed(Shard::ALL), &Silent).unwrap();
    assert_eq!(r.outcome.skipped, vec!["d_6"]);
    assert_eq!(r.outcome.ran, vec!["d_8", "d_10", "d_12"]);
    // The complete run was not redone: its summary (with its wall times) is byte for byte the same.
    assert_eq!(std::fs::read(out.join("d_6/summary.json")).unwrap(), first);
    assert!(out.join("sweep_d.csv").exists());
    // A changed config is a different run: nothing is skipped.
    let mut other = cfg.clone();
    other.seed = 4;
    let r = exp::sweep(
        &other,
        &over,
        &out,
        &placed(Shard::new(0, 4).unwrap()),
        &Silent,
    )
    .unwrap();
    assert_eq!((r.outcome.ran.len(), r.outcome.skipped.len()), (1, 0));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn shards_parse_from_flags_and_from_slurm_or_mpi_variables() {
    assert_eq!(
        "1/3".parse::<Shard>().unwrap(),
        Shard { index: 1, count: 3 }
    );
    for bad in ["3/3", "1/0", "a/2", "2"] {
        let e = bad.parse::<Shard>().err().unwrap().to_string();
        assert!(e.contains("shard") && e.contains(bad), "{e}");
    }
    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.to_string())
    }
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "5"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "8"),
    ];
    assert_eq!(
        Shard::from_vars(vars(&slurm)).unwrap(),
        Some(Shard { index: 4, count: 8 })
    );
    let ompi = [("OMPI_COMM_WORLD_RANK", "2"), ("OMPI_COMM_WORLD_SIZE", "3")];
    assert_eq!(
        Shard::from_vars(vars(&ompi)).unwrap(),
        Some(Shard { index: 2, count: 3 })
    );
    assert_eq!(Shard::from_vars(vars(&[])).unwrap(), None);
    let bad = [("PMI_RANK", "x"), ("PMI_SIZE", "2")];
    assert!(Shard::from_vars(vars(&bad)).is_err());
}

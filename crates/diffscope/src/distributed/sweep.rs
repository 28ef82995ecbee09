//! Sweeps split into independent shards (distributed.md, "Sweeps"): no MPI needed. Run k of a sweep
//! belongs to shard `k mod count`; each run writes its own run directory (atomically), and a run whose
//! directory already holds the same resolved config and a summary is skipped, so an interrupted or
//! killed shard is completed by running it again. A run's seed comes from the sweep's config and the run's
//! identity (its parameter value), never from the shard count, so any split gives the same runs.

use crate::error::{Error, Result};
use crate::progress::{self, Monitor};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Which runs of a sweep this process does: run k when `k % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index of this shard.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// The whole sweep in one process.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether run k belongs to this shard.
    pub fn owns(&self, k: usize) -> bool {
        k % self.count == self.index
    }

    /// The shard of a Slurm array task (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` of
    /// `SLURM_ARRAY_TASK_COUNT`) or of an MPI rank (`OMPI_COMM_WORLD_RANK`/`_SIZE`, `PMI_RANK`/`PMI_SIZE`),
    /// from `var` (the process environment in [`Shard::from_env`]).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let num = |name: &str| -> Result<Option<usize>> {
            var(name)
                .map(|v| {
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| Error::param(name, &v, "a non-negative integer"))
                })
                .transpose()
        };
        let pairs = [
            ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"),
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            ("PMI_RANK", "PMI_SIZE"),
        ];
        for (idx, cnt) in pairs {
            if let (Some(mut index), Some(count)) = (num(idx)?, num(cnt)?) {
                if idx.starts_with("SLURM") {
                    index -= num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0).min(index);
                }
                return Shard::new(index, count).map(Some);
            }
        }
        Ok(None)
    }

    /// [`Shard::from_vars`] on this process's environment.
    pub fn from_env() -> Result<Option<Shard>> {
        Shard::from_vars(|k| std::env::var(k).ok())
    }

    /// Shard `index` of `count`, checked.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 || index >= count {
            return Err(Error::param(
                "shard",
                format!("{index}/{count}"),
                "i/n with 0 ≤ i < n",
            ));
        }
        Ok(Shard { index, count })
    }
}

impl std::str::FromStr for Shard {
    type Err = Error;
    /// `i/n` (0-based), or `auto` for the Slurm array task or MPI rank of this process ([`Shard::from_env`];
    /// the whole sweep when neither is set).
    fn from_str(s: &str) -> Result<Shard> {
        if s == "auto" {
            return Ok(Shard::from_env()?.unwrap_or(Shard::ALL));
        }
        let bad = || Error::param("shard", s, "i/n with 0 ≤ i < n, or auto");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (i, n) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(i, n).map_err(|_| bad())
    }
}

/// One run of a sweep: its directory under the sweep's folder and its resolved config as written to the
/// run directory's config.toml (the identity that skip-if-done compares).
#[derive(Clone, Debug)]
pub struct SweepRun {
    /// Directory name under the sweep folder (`beta_0.5`, `d_100`).
    pub name: String,
    /// The resolved config, as text.
    pub config_text: String,
}

/// What one shard of a sweep found and did.
#[derive(Clone, Debug)]
pub struct ShardOutcome<S> {
    /// Runs this shard ran.
    pub ran: Vec<String>,
    /// Runs this shard owns that were already complete.
    pub skipped: Vec<String>,
    /// Runs of other shards not complete yet.
    pub waiting: Vec<String>,
    /// Every run's summary, in sweep order, once all runs are complete.
    pub summaries: Option<Vec<S>>,
}

impl<S> Default for ShardOutcome<S> {
    fn default() -> Self {
        ShardOutcome {
            ran: Vec::new(),
            skipped: Vec::new(),
            waiting: Vec::new(),
            summaries: None,
        }
    }
}

/// The summary of a complete run directory with this config, read as the experiment's typed summary
/// `S`, or None (missing, another config, or a summary that does not parse).
pub fn completed<S: DeserializeOwned>(dir: &Path, config_text: &str) -> Option<S> {
    let cfg = std::fs::read_to_string(dir.join("config.toml")).ok()?;
    if cfg != config_text {
        return None;
    }
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// Runs this shard's runs of `runs` under `out` (skipping complete ones) with `run_one(k, dir)`, which
/// writes the run directory `dir` atomically; then collects every run's summary when all are complete.
pub fn run_shard<S: DeserializeOwned>(
    runs: &[SweepRun],
    out: &Path,
    shard: Shard,
    monitor: &dyn Monitor,
    mut run_one: impl FnMut(usize, &Path) -> Result<()>,
) -> Result<ShardOutcome<S>> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut o = ShardOutcome::default();
    for (k, run) in runs.iter().enumerate() {
        let dir = out.join(&run.name);
        if !shard.owns(k) {
            continue;
        }
        if completed::<S>(&dir, &run.config_text).is_some() {
            monitor.note(&format!("{}: complete, skipped", run.name));
            o.skipped.push(run.name.clone());
            continue;
        }
        progress::check(monitor)?;
        run_one(k, &dir)?;
        o.ran.push(run.name.clone());
    }
    (o.summaries, o.waiting) = collect(runs, out);
    Ok(o)
}

/// Every run's summary in sweep order when all runs under `out` are complete (else None), and the names
/// of the runs that are not.
pub fn collect<S: DeserializeOwned>(
    runs: &[SweepRun],
    out: &Path,
) -> (Option<Vec<S>>, Vec<String>) {
    let mut all = Vec::new();
    let mut waiting = Vec::new();
    for run in runs {
        match completed(&out.join(&run.name), &run.config_text) {
            Some(s) => all.push(s),
            None => waiting.push(run.name.clone()),
        }
    }
    (waiting.is_empty().then_some(all), waiting)
}

/// `<out>/sweep.json`, the description of a sweep that `merge` rebuilds it from.
pub fn manifest_path(out: &Path) -> PathBuf {
    out.join("sweep.json")
}

//! Sweeps of the regimes experiment over β or d: one run directory per value, split into shards when
//! asked ([`crate::distributed::sweep`]), assembled into tables, figures and index.html once complete
//! ([`merge`] does it from the run directories).

use super::{fmt, fmt_ci, run_placed, RegimesConfig, RegimesSummary};
use crate::data::{DataModel, ManifoldSpec};
use crate::distributed::sweep::{self as sweeps, Shard, ShardOutcome, SweepRun};
use crate::distributed::Comm;
use crate::error::{Error, Result};
use crate::io;
use crate::progress::Monitor;
use crate::report::regimes::{assemble_beta, assemble_d, write_run_dir};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// The runs of a sweep: one per β (manifold model) or per ambient dimension d (two-class or manifold
/// model), everything else fixed. Every run keeps the sweep's seed (common random numbers: differences
/// between runs are not noise of different draws), so a run is the same whichever shard does it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "over", content = "values")]
pub enum SweepOver {
    /// Latent fractions β of the manifold model, run directories `beta_<β>`.
    Beta(Vec<f64>),
    /// Ambient dimensions d, run directories `d_<d>`.
    D(Vec<usize>),
}

/// How a sweep is placed: which of its runs this process does, and the ranks each run's exact score is
/// sharded over (the run directories and tables are written by rank 0 only).
#[derive(Clone)]
pub struct SweepPlacement {
    /// The runs of this process ([`Shard::ALL`]: every run).
    pub shard: Shard,
    /// Ranks sharing each run's exact score.
    pub comm: Option<Arc<dyn Comm>>,
}

impl Default for SweepPlacement {
    fn default() -> Self {
        SweepPlacement {
            shard: Shard::ALL,
            comm: None,
        }
    }
}

/// What [`sweep`] or [`merge`] did: the shard's runs and, once every run is complete, the assembled
/// sweep's table (its tables, figures and index.html are in the sweep folder).
pub struct SweepReport {
    /// What the sweep runs over.
    pub over: SweepOver,
    /// Runs run, skipped and still missing; every run's summary once complete.
    pub outcome: ShardOutcome<RegimesSummary>,
    /// The d sweep's table rows (quantity, theory, measured, note) as in its index.html, once complete
    /// (empty for a β sweep, whose rows are its summaries).
    pub table: Vec<[String; 4]>,
}

/// The description of a sweep in `<out>/sweep.json`, from which [`merge`] rebuilds it.
#[derive(Serialize, Deserialize)]
struct SweepManifest {
    version: String,
    #[serde(flatten)]
    over: SweepOver,
    config: RegimesConfig,
}

fn sweep_runs(cfg: &RegimesConfig, over: &SweepOver) -> Result<Vec<(SweepRun, RegimesConfig)>> {
    // Each run's config as its run directory records it (spacing resolved), the identity of skip-if-done.
    let cfg = &cfg.with_resolved_spacing(false);
    let configs: Vec<(String, RegimesConfig)> = match over {
        SweepOver::Beta(betas) => {
            let Some(DataModel::Manifold(spec)) = &cfg.model else {
                return Err(Error::param(
                    "sweep_beta",
                    format!("{betas:?}"),
                    "the manifold model (model.kind = \"manifold\", or --manifold ACTIVATION)",
                ));
            };
            betas
                .iter()
                .map(|&beta| {
                    let mut c = cfg.clone();
                    c.model = Some(DataModel::Manifold(ManifoldSpec {
                        beta,
                        ..spec.clone()
                    }));
                    (format!("beta_{beta}"), c)
                })
                .collect()
        }
        SweepOver::D(dims) => {
            if !matches!(
                cfg.model,
                Some(DataModel::TwoClass(_)) | Some(DataModel::Manifold(_))
            ) {
                return Err(Error::param(
                    "sweep_d",
                    format!("{dims:?}"),
                    "the two-class model (the default) or the manifold model",
                ));
            }
            dims.iter()
                .map(|&d| {
                    let mut c = cfg.clone();
                    match c.model.as_mut() {
                        Some(DataModel::TwoClass(m)) => m.d = d,
                        Some(DataModel::Manifold(m)) => m.d = d,
                        _ => {}
                    }
                    (format!("d_{d}"), c)
                })
                .collect()
        }
    };
    configs
        .into_iter()
        .map(|(name, c)| {
            let config_text =
                toml::to_string(&c).map_err(|e| Error::format(name.as_str(), e.to_string()))?;
            Ok((SweepRun { name, config_text }, c))
        })
        .collect()
}

/// Runs the sweep's runs of this placement's shard into `<out>/<run>/` (complete runs with the same
/// config are skipped, so rerunning a killed shard finishes it), writes `<out>/sweep.json`, and, once
/// every run of the sweep is complete, assembles the sweep's table, figures and index.html (so the last
/// shard to finish, or a rerun, or [`merge`], produces them).
pub fn sweep(
    cfg: &RegimesConfig,
    over: &SweepOver,
    out: &Path,
    place: &SweepPlacement,
    monitor: &dyn Monitor,
) -> Result<SweepReport> {
    let runs = sweep_runs(cfg, over)?;
    let writer = place.comm.as_ref().is_none_or(|c| c.rank() == 0);
    if writer {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let manifest = SweepManifest {
            version: crate::VERSION.into(),
            over: over.clone(),
            config: cfg.clone(),
        };
        io::write_json(&sweeps::manifest_path(out), &manifest)?;
    }
    let list: Vec<SweepRun> = runs.iter().map(|r| r.0.clone()).collect();
    let outcome = sweeps::run_shard(&list, out, place.shard, monitor, |k, dir| {
        let (run, c) = &runs[k];
        monitor.note(&run.name);
        let report = run_placed(c, place.comm.clone(), monitor)?;
        if writer {
            write_run_dir(&report, dir)?;
        }
        monitor.note(&run_line(over, k, &report.summary));
        Ok(())
    })?;
    assemble(cfg, over, out, outcome, writer)
}

/// Assembles a sweep from its run directories (`<out>/sweep.json` says which): its table, figures and
/// index.html. Fails naming the missing runs when some shard has not finished.
pub fn merge(out: &Path) -> Result<SweepReport> {
    let path = sweeps::manifest_path(out);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let m: SweepManifest =
        serde_json::from_str(&text).map_err(|e| Error::format(&path, e.to_string()))?;
    let runs = sweep_runs(&m.config, &m.over)?;
    let list: Vec<SweepRun> = runs.into_iter().map(|r| r.0).collect();
    let (summaries, waiting) = sweeps::collect(&list, out);
    let outcome = ShardOutcome {
        summaries,
        waiting,
        ..ShardOutcome::default()
    };
    if !outcome.waiting.is_empty() {
        return Err(Error::param(
            "merge",
            out.display(),
            format!(
                "every run of the sweep complete; missing: {}",
                outcome.waiting.join(", ")
            ),
        ));
    }
    assemble(&m.config, &m.over, out, outcome, true)
}

fn run_line(over: &SweepOver, k: usize, s: &RegimesSummary) -> String {
    match over {
        SweepOver::Beta(b) => sweep_beta_line(b[k], s),
        SweepOver::D(dims) => format!(
            "d = {}: t_S measured {} {} (theory {}, ½ log Λ_data {}), {:.1} s",
            dims[k],
            fmt(s.t_s.measured),
            fmt_ci(s.t_s.ci),
            fmt(Some(s.t_s.theory)),
            fmt(Some(s.t_s.theory_from_data_lambda)),
            s.timings_s.total
        ),
    }
}

fn assemble(
    cfg: &RegimesConfig,
    over: &SweepOver,
    out: &Path,
    outcome: ShardOutcome<RegimesSummary>,
    writer: bool,
) -> Result<SweepReport> {
    let table = match (&outcome.summaries, writer) {
        (Some(rows), true) => match over {
            SweepOver::Beta(betas) => {
                assemble_beta(cfg, betas, rows, out)?;
                Vec::new()
            }
            SweepOver::D(dims) => assemble_d(cfg, dims, rows, out)?,
        },
        _ => Vec::new(),
    };
    Ok(SweepReport {
        over: over.clone(),
        outcome,
        table,
    })
}

/// One line of a β sweep: t_S and t_C measured beside the theory.
pub fn sweep_beta_line(beta: f64, s: &RegimesSummary) -> String {
    format!(
        "β = {beta}: t_S measured {} (theory {}), t_C φ_C=½ {} / mean t̂_C {} (GLM {})",
        fmt(s.t_s.measured),
        fmt(Some(s.t_s.theory)),
        fmt(s.t_c.phi_c_half),
        fmt(s.t_c.mean_last_change),
        fmt(s.t_c.theory)
    )
}

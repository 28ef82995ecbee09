//! The regimes experiment as a whole: config → run → report → run directory (science.md §6).
//!
//! [`RegimesConfig`] is what a TOML file or a Python call describes (every field has a default); [`run`]
//! loads or draws the data, measures by cloning ([`crate::regimes::run`]), evaluates the theory and
//! assembles the summary; [`write_run_dir`] writes config.toml, summary.json, curves (CSV, .npy), figures
//! (PNG, SVG) and index.html atomically. [`sweep`] repeats it over β or d, split into shards when asked
//! ([`crate::distributed::sweep`]); [`merge`] assembles a sweep's tables from its run directories.
//! [`run_placed`] runs the exact score sharded over the ranks of a communicator.

use crate::config::{self, Table};
use crate::data::DataFileSpec;
use crate::data::{DataModel, Dataset, ManifoldSpec, TwoClassGmm};
use crate::distributed::sweep::{self as sweeps, Shard, ShardOutcome, SweepRun};
use crate::distributed::{Comm, ShardedScore};
use crate::error::{Error, Result};
use crate::io::{self, NpyArray};
use crate::progress::Monitor;
use crate::regimes::{self, RegimesInput, RegimesParams, RegimesResult};
use crate::report::{html_report, Plot, Series};
use crate::sampler::Spacing;
use crate::score::Score;
use crate::theory;
use crate::theory::manifold::{self, ManifoldTheory};

mod summary;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
pub use summary::{
    fmt, fmt_ci, CollapseSummary, PhiAtT, PhiVsTheory, RegimesSummary, RegimesTimings,
    SpeciationSummary,
};

/// The resolved configuration of a run (what `config.toml` in the run directory holds). Every field has a
/// default, so a partial TOML table works; with neither `model` nor `data` the run uses the built-in
/// two-class GMM (μ̃ = σ = 1, d = 100).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegimesConfig {
    /// Master seed (data draw, noise, bootstrap).
    #[serde(default)]
    pub seed: u64,
    /// Training-set size drawn from the model (ignored with a data file).
    #[serde(default = "default_n")]
    pub n: usize,
    /// The data model.
    #[serde(default)]
    pub model: Option<DataModel>,
    /// A data file instead of a model.
    #[serde(default)]
    pub data: Option<DataFileSpec>,
    /// The experiment's parameters.
    #[serde(default)]
    pub params: RegimesParams,
    /// A trained score network (`model.safetensors` from `train`) driving the backward runs instead of
    /// `params.score`: cloning on a learned score (Biroli et al.'s protocol on trained networks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_model: Option<PathBuf>,
}

fn default_n() -> usize {
    10_000
}

impl Default for RegimesConfig {
    /// The README's main job: the two-class GMM at d = 100, n = 10⁴, exact empirical score, seed 0.
    fn default() -> Self {
        RegimesConfig {
            seed: 0,
            n: default_n(),
            model: Some(DataModel::TwoClass(TwoClassGmm::standard(100))),
            data: None,
            params: RegimesParams::default(),
            score_model: None,
        }
    }
}

impl RegimesConfig {
    /// Parses a TOML description (unknown keys are errors naming `origin`) and fills the default model
    /// when neither a model nor a data file is given.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Self> {
        let mut cfg: RegimesConfig = toml::from_str(text).map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            msg: e.to_string(),
        })?;
        cfg.fill_default_model();
        Ok(cfg)
    }

    /// The config of a run: the file's table (or none) with the keys a door set laid over it
    /// ([`crate::config::overlay`]), read once into the typed config (its defaults fill the rest). A
    /// source in `set` replaces the file's: a data file drops the file's model (and a model with a
    /// `kind`, the file's model and data). Without any source, and without data the caller supplies in
    /// memory (`supplied_data`), the built-in two-class model is the base, so `model.d` alone resizes it.
    pub fn resolve(file: Option<&Path>, set: Table, supplied_data: bool) -> Result<Self> {
        let mut base = match file {
            Some(p) => config::read_table(p)?,
            None => Table::new(),
        };
        let new_model =
            (set.get("model").and_then(|m| m.as_table())).is_some_and(|m| m.contains_key("kind"));
        if set.contains_key("data") {
            base.remove("model");
        }
        if new_model {
            base.remove("model");
            base.remove("data");
        }
        let has_source = |t: &Table| t.contains_key("model") || t.contains_key("data");
        let sets_source = new_model || set.contains_key("data");
        if !supplied_data && !has_source(&base) && !sets_source {
            if let Some(m) = RegimesConfig::default().model {
                config::set(&mut base, &["model"], m)?;
            }
        }
        let resizes =
            (set.get("model").and_then(|m| m.as_table())).is_some_and(|m| !m.contains_key("kind"));
        if resizes && !base.contains_key("model") {
            return Err(Error::param(
                "model.d (--d)",
                "given",
                "a data model to resize: this run reads a data file, whose d is its own",
            ));
        }
        config::overlay(&mut base, set);
        let origin = file.unwrap_or(Path::new("(flags)"));
        config::from_table(base, origin)
    }

    /// The built-in two-class model when neither a model nor a data file is set.
    pub fn fill_default_model(&mut self) {
        if self.model.is_none() && self.data.is_none() {
            self.model = RegimesConfig::default().model;
        }
    }

    /// The config with the grid spacing filled in when it is not set: log for real data (a data file, or
    /// `supplied_data`: on Fashion-MNIST the uniform grid's branch times stop at 0.3, above the collapse),
    /// uniform for a generated model (the reference experiment's grid).
    pub fn with_resolved_spacing(&self, supplied_data: bool) -> RegimesConfig {
        let mut cfg = self.clone();
        if cfg.params.spacing.is_none() {
            cfg.params.spacing = Some(if supplied_data || cfg.data.is_some() {
                Spacing::Log
            } else {
                Spacing::Uniform
            });
        }
        cfg
    }

    /// Checks that the run is well posed: a source of data and valid parameters.
    pub fn validate(&self) -> Result<()> {
        if self.model.is_none() && self.data.is_none() {
            return Err(Error::param(
                "model/data",
                "none",
                "a data model or a data file",
            ));
        }
        if self.data.is_none() && self.n < 2 {
            return Err(Error::param("n", self.n, "at least 2 training points"));
        }
        self.params.validate()
    }
}

/// The theory a run is compared with.
#[derive(Clone, Debug, Default)]
pub struct RegimesTheory {
    /// Predicted t_S (the model's Λ, or ½ log Λ of the data without a model).
    pub t_s: f64,
    /// ½ log Λ of the data (v∞ = 1), whatever the model.
    pub t_s_data: f64,
    /// Predicted t_C (when the model has one).
    pub t_c: Option<f64>,
    /// Theory curve of f/α at the entropy times.
    pub entropy: Option<Vec<f64>>,
}

/// Everything a regimes run produces: the resolved config, the summary (as in summary.json), the measured
/// curves and the theory beside them.
#[derive(Clone, Debug)]
pub struct RegimesReport {
    /// The resolved configuration.
    pub config: RegimesConfig,
    /// summary.json: t_S and t_C (theory and measured, CIs), f_mem, n, d, α, seed, version, timings.
    pub summary: RegimesSummary,
    /// The measured curves (curves.json).
    pub result: RegimesResult,
    /// The theory values and curves.
    pub theory: RegimesTheory,
    /// α = ln n / d.
    pub alpha: f64,
    /// samples.png: a few end points per class beside their nearest training images, for image data.
    pub sample_grid: Option<Vec<u8>>,
}

/// End points per class in the sample grid of image data.
pub const SAMPLES_PER_CLASS: usize = 6;

/// Loads the data file or draws n points from the model, with the class centroids of the class rule.
pub fn load_data(cfg: &RegimesConfig) -> Result<(Dataset, Vec<Vec<f64>>)> {
    match (&cfg.data, &cfg.model) {
        (Some(spec), _) => {
            let ds = spec.load()?;
            let c = ds.class_means()?;
            Ok((ds, c))
        }
        (None, Some(model)) => Ok((
            model.sample(cfg.n, cfg.seed)?,
            model.class_centres(cfg.seed)?,
        )),
        (None, None) => Err(Error::param(
            "model/data",
            "none",
            "a data model or a data file",
        )),
    }
}

/// Runs one configuration: data, measurement, theory, summary. Nothing is written.
pub fn run(cfg: &RegimesConfig, monitor: &dyn Monitor) -> Result<RegimesReport> {
    run_on(cfg, None, None, monitor)
}

/// [`run`] on caller-supplied data and/or score: `data` replaces the config's data source (with the
/// nearest-centroid class rule of its labels; the model, when set, still gives the theory), and `score`
/// replaces `params.score` for the backward runs (a trained network, a Python callable).
pub fn run_on(
    cfg: &RegimesConfig,
    data: Option<&Dataset>,
    score: Option<&dyn Score>,
    monitor: &dyn Monitor,
) -> Result<RegimesReport> {
    run_inner(cfg, data, score, None, monitor)
}

/// [`run`] with the exact empirical score (`params.score = "empirical"`, no trained model) sharded over
/// the ranks of `comm` ([`ShardedScore`]): every rank calls it with the same config and gets the same
/// report, bit for bit; the caller writes the run directory on one rank. Other scores run unsharded on
/// every rank. The summary records the rank count (`ranks`).
pub fn run_placed(
    cfg: &RegimesConfig,
    comm: Option<Arc<dyn Comm>>,
    monitor: &dyn Monitor,
) -> Result<RegimesReport> {
    run_inner(cfg, None, None, comm, monitor)
}

fn run_inner(
    cfg: &RegimesConfig,
    data: Option<&Dataset>,
    score: Option<&dyn Score>,
    comm: Option<Arc<dyn Comm>>,
    monitor: &dyn Monitor,
) -> Result<RegimesReport> {
    let t0 = Instant::now();
    // The report's config states the spacing used.
    let log_by_default = cfg.params.spacing.is_none() && (data.is_some() || cfg.data.is_some());
    let cfg = &cfg.with_resolved_spacing(data.is_some());
    if data.is_none() {
        cfg.validate()?;
    } else {
        cfg.params.validate()?;
    }
    // Phase 1: the training set and the class rule.
    let loaded;
    let (ds, centroids) = match data {
        Some(ds) => (ds, ds.class_means()?),
        None => {
            loaded = load_data(cfg)?;
            (&loaded.0, loaded.1.clone())
        }
    };
    let t_data = t0.elapsed().as_secs_f64();
    let (n, d) = (ds.n, ds.d);
    let alpha = (n as f64).ln() / d as f64;
    monitor.note(&format!(
        "regimes: {} (n = {n}, d = {d}, α = {alpha:.4}), score {:?}",
        ds.provenance, cfg.params.score
    ));
    // Phase 2: the trunk, the clones and the observables (crate::regimes::run), with the supplied score,
    // the trained model of the config, or `params.score`.
    let trained = match (&cfg.score_model, score) {
        (Some(path), None) => Some(crate::experiments::train::load_trained(path)?.net),
        _ => None,
    };
    let sharded = match (&comm, &trained, score, cfg.params.score) {
        (Some(c), None, None, regimes::ScoreChoice::Empirical) => {
            Some(ShardedScore::from_dataset(ds, c.clone())?)
        }
        _ => None,
    };
    let supplied = score.is_some();
    let score: Option<&dyn Score> = match (&trained, &sharded) {
        (Some(net), _) => Some(net),
        (None, Some(sh)) => Some(sh),
        (None, None) => score,
    };
    let input = RegimesInput {
        data: ds,
        model: cfg.model.as_ref(),
        centroids,
        seed: cfg.seed,
        score,
    };
    // Λ first: data without variance have nothing to speciate and no t_S (½ log 0), refused before the run.
    let lambda = ds.top_covariance_eigenvalue()?;
    if ds.variance_is_negligible(lambda) {
        return Err(Error::param(
            "data",
            &ds.provenance,
            "data that vary: every coordinate is constant (the top covariance eigenvalue Λ is 0), so t_S = ½ log Λ is undefined and there is nothing to speciate",
        ));
    }
    let t1 = Instant::now();
    let r = regimes::run(&input, &cfg.params, monitor)?;
    let t_run = t1.elapsed().as_secs_f64();
    // Phase 3: the theory beside the measurement.
    let (th, variants) = theory_for(cfg.model.as_ref(), lambda, alpha, n, &r, monitor)?;
    // Phase 4: the summary.
    let mut summary = summarise(cfg, ds, &r, &th, variants, lambda, alpha);
    if let (Some(path), Some(_)) = (&cfg.score_model, &trained) {
        summary.score = format!("model {}", path.display());
    } else if supplied {
        summary.score = "supplied".into();
    }
    summary.ranks = comm.as_ref().map(|c| c.size());
    if log_by_default {
        summary.grid_spacing =
            Some("log: the default for real data (branch times reach down towards t_min)".into());
    }
    // Phase 5: the sample grid (image data only).
    let sample_grid = if r.samples.is_empty() {
        None
    } else {
        crate::report::sample_grid_png(
            ds,
            &r.samples,
            &r.sample_class,
            r.sample_nearest.as_deref(),
            SAMPLES_PER_CLASS,
        )?
    };
    summary.timings_s = RegimesTimings {
        data: t_data,
        experiment: t_run,
        total: t0.elapsed().as_secs_f64(),
    };
    Ok(RegimesReport {
        // The written config states the n that ran: a data file's own, not the model default.
        config: RegimesConfig {
            n: if data.is_some() || cfg.data.is_some() {
                ds.n
            } else {
                cfg.n
            },
            ..cfg.clone()
        },
        summary,
        result: r,
        theory: th,
        alpha,
        sample_grid,
    })
}

/// The predicted t_S, t_C and f/α curve for the data model (two-class GMM: closed forms; manifold: the
/// GE coefficients and the GLM replica-symmetric t_C, with every variant in the second value), or ½ log Λ
/// of the data without a model.
fn theory_for(
    model: Option<&DataModel>,
    lambda: f64,
    alpha: f64,
    n: usize,
    r: &RegimesResult,
    monitor: &dyn Monitor,
) -> Result<(RegimesTheory, Option<ManifoldTheory>)> {
    let t_s_data = theory::t_speciation(lambda, theory::V_INF)?;
    Ok(match model {
        Some(DataModel::TwoClass(m)) => {
            let l = m.d as f64 * m.mu_tilde.powi(2) + m.sigma.powi(2);
            let s2 = m.sigma.powi(2);
            let curve: Vec<f64> = r
                .entropy_t
                .iter()
                .map(|&t| theory::excess_entropy_gmm(t, alpha, s2))
                .collect();
            let th = RegimesTheory {
                t_s: theory::t_speciation(l, 1.0)?,
                t_s_data,
                t_c: Some(theory::t_collapse_gmm(n, m.d, s2)?),
                entropy: Some(curve),
            };
            (th, None)
        }
        Some(DataModel::Manifold(spec)) => {
            monitor.note(
                "manifold theory (GLM replica-symmetric, with and without latent centres)...",
            );
            let mt = manifold::manifold_theory(spec, alpha, true)?;
            let ch = manifold::GlmChannel {
                phi: spec.activation,
                kappa: spec.kappa(),
                offset_var: 0.0,
            };
            let curve: Vec<f64> = r
                .entropy_t
                .iter()
                .map(|&t| manifold::excess_entropy_from_mi(ch.mi_per_d(t, spec.beta).0, alpha))
                .collect();
            let th = RegimesTheory {
                t_s: mt.t_s,
                t_s_data,
                t_c: mt.t_c_glm,
                entropy: Some(curve),
            };
            (th, Some(mt))
        }
        _ => (
            RegimesTheory {
                t_s: t_s_data,
                t_s_data,
                t_c: None,
                entropy: None,
            },
            None,
        ),
    })
}

/// summary.json without the timings and the facts only the run knows (score override, ranks, grid
/// note: set by `run_inner`).
fn summarise(
    cfg: &RegimesConfig,
    ds: &Dataset,
    r: &RegimesResult,
    th: &RegimesTheory,
    variants: Option<ManifoldTheory>,
    lambda: f64,
    alpha: f64,
) -> RegimesSummary {
    let lc = r
        .last_change
        .as_ref()
        .map(|v| regimes::observables::mean_sd_median(v));
    // f^e/α is ≈ 0 below t_C and rises to 1 at large t: the library scans from T downwards for the first
    // time it reaches 0 (resp. 0.05), with a 95 % interval from the standard-error bands.
    let (entropy_zero, entropy_005) = (r.t_c_entropy.value, r.t_c_entropy_005.value);
    // A fraction of `pairs` pairs moves in steps of 1/pairs: a band that collapsed to a point (all pairs
    // agree) is widened by that resolution before comparing.
    let res = 1.0 / cfg.params.pairs as f64;
    let outside = |th: &[f64], lo: &[f64], hi: &[f64]| {
        th.iter()
            .zip(lo)
            .zip(hi)
            .filter(|((t, l), h)| **t < **l - res || **t > **h + res)
            .count()
    };
    RegimesSummary {
        alpha,
        class_rule: cfg.params.class_rule.describe().into(),
        d: ds.d,
        data: ds.provenance.clone(),
        end_points: r.end_points.clone(),
        f_mem: r.f_mem,
        f_mem_at_t_min: r.f_mem_at_t_min,
        grid_spacing: None,
        n: ds.n,
        phi_at_t: phi_at_t(r),
        phi_vs_theory: r.phi_theory.as_ref().map(|th| PhiVsTheory {
            branch_times: th.len(),
            outside_pointwise_95: outside(th, &r.phi_lo, &r.phi_hi),
            outside_simultaneous_95: outside(th, &r.phi_sim_lo, &r.phi_sim_hi),
        }),
        ranks: None,
        score: cfg.params.score.name().into(),
        seed: cfg.seed,
        t_c: CollapseSummary {
            effective_n_below_2: r.posterior.as_ref().and_then(|p| p.t_collapse.value),
            effective_n_below_2_ci: r.posterior.as_ref().and_then(|p| p.t_collapse.ci),
            entropy_below_0_05: entropy_005,
            entropy_below_0_05_ci: r.t_c_entropy_005.ci,
            entropy_zero,
            entropy_zero_ci: r.t_c_entropy.ci,
            mean_last_change: lc.map(|x| x.0),
            median_last_change: lc.map(|x| x.2),
            phi_c_half: r.t_c_phi_half.value,
            phi_c_half_ci: r.t_c_phi_half.ci,
            sd_last_change: lc.map(|x| x.1),
            theory: th.t_c,
        },
        t_s: SpeciationSummary {
            ci: r.t_s.ci,
            lambda_data: lambda,
            measured: r.t_s.value,
            theory: th.t_s,
            theory_from_data_lambda: th.t_s_data,
        },
        theory_variants: variants,
        timings_s: RegimesTimings::default(),
        version: crate::VERSION.into(),
    }
}

/// Writes the run directory of `report` atomically (built beside `out`, then renamed over it):
/// config.toml, summary.json, curves.json, speciation.csv, commitment.csv, entropy.csv, last_change.npy,
/// the figures (PNG + SVG) and index.html.
pub fn write_run_dir(report: &RegimesReport, out: &Path) -> Result<()> {
    let th = &report.theory;
    io::write_run_dir(out, |tmp| {
        io::write_text(
            &tmp.join("config.toml"),
            &toml::to_string(&report.config)
                .map_err(|e| Error::format(tmp.join("config.toml"), e.to_string()))?,
        )?;
        io::write_json_sorted(&tmp.join("summary.json"), &report.summary)?;
        io::write_json(&tmp.join("curves.json"), &report.result)?;
        let mut extra = Vec::new();
        if let Some(png) = &report.sample_grid {
            io::write_atomic(&tmp.join("samples.png"), |f| f.write_all(png))?;
            extra.push((
                "samples.png".to_string(),
                "End points (denoised) per class, each beside its nearest training image"
                    .to_string(),
            ));
        }
        write_outputs(
            tmp,
            &report.result,
            &report.summary,
            th.t_s,
            th.t_c,
            th.entropy.as_deref(),
            report.alpha,
            extra,
        )
    })
}

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
/// sweep (its printed lines; the tables, figures and index.html are in the sweep folder).
pub struct SweepReport {
    /// Runs run, skipped and still missing.
    pub outcome: ShardOutcome<RegimesSummary>,
    /// The sweep's lines as `diffscope regimes` prints them (empty until complete).
    pub lines: Vec<String>,
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
    let lines = match (&outcome.summaries, writer) {
        (Some(rows), true) => match over {
            SweepOver::Beta(betas) => {
                assemble_beta(cfg, betas, rows, out)?;
                betas
                    .iter()
                    .zip(rows)
                    .map(|(b, s)| sweep_beta_line(*b, s))
                    .collect()
            }
            SweepOver::D(dims) => assemble_d(cfg, dims, rows, out)?
                .iter()
                .map(|row| {
                    format!(
                        "{:<16} theory {:>8}  measured {:<24} {}",
                        row[0], row[1], row[2], row[3]
                    )
                })
                .collect(),
        },
        _ => Vec::new(),
    };
    Ok(SweepReport { outcome, lines })
}

/// The β sweep's sweep.csv, figures of measured t_S and t_C vs β beside the theory curves, and index.html.
fn assemble_beta(
    cfg: &RegimesConfig,
    betas: &[f64],
    rows: &[RegimesSummary],
    out: &Path,
) -> Result<()> {
    let Some(DataModel::Manifold(spec)) = &cfg.model else {
        return Err(Error::param("sweep_beta", "", "the manifold model"));
    };
    let get = |f: &dyn Fn(&RegimesSummary) -> Option<f64>| {
        rows.iter()
            .map(|r| f(r).unwrap_or(f64::NAN))
            .collect::<Vec<f64>>()
    };
    let cols: Vec<(&str, Vec<f64>)> = vec![
        ("beta", betas.to_vec()),
        ("t_s_measured", get(&|r| r.t_s.measured)),
        ("t_s_theory", get(&|r| Some(r.t_s.theory))),
        (
            "t_s_printed",
            get(&|r| Some(r.variant(|v| Some(v.t_s_printed)))),
        ),
        (
            "t_s_data_lambda",
            get(&|r| Some(r.t_s.theory_from_data_lambda)),
        ),
        ("t_c_phi_c_half", get(&|r| r.t_c.phi_c_half)),
        ("t_c_mean_last_change", get(&|r| r.t_c.mean_last_change)),
        ("t_c_entropy_zero", get(&|r| r.t_c.entropy_zero)),
        ("t_c_glm", get(&|r| Some(r.variant(|v| v.t_c_glm)))),
        (
            "t_c_glm_centres",
            get(&|r| Some(r.variant(|v| v.t_c_glm_centres))),
        ),
        ("t_c_linear", get(&|r| Some(r.variant(|v| v.t_c_linear)))),
        (
            "t_c_linear_mp",
            get(&|r| Some(r.variant(|v| v.t_c_linear_mp))),
        ),
        ("f_mem", get(&|r| r.f_mem)),
    ];
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let refs: Vec<&[f64]> = cols.iter().map(|c| &c.1[..]).collect();
    io::write_csv(&out.join("sweep.csv"), &names, &refs)?;
    let col = |name: &str| {
        cols.iter()
            .find(|c| c.0 == name)
            .map(|c| c.1.clone())
            .unwrap_or_default()
    };
    let series = |items: &[(&str, &str, bool)]| -> Vec<Series> {
        items
            .iter()
            .map(|&(key, label, markers)| Series {
                name: label.into(),
                x: betas.to_vec(),
                y: col(key),
                band: None,
                markers,
            })
            .collect()
    };
    let tail = format!("{:?}, d = {}, n = {}", spec.activation, spec.d, cfg.n).to_lowercase();
    Plot {
        title: format!("Speciation time vs β ({tail})"),
        x_label: "β = p/d".into(),
        y_label: "t_S (OU time)".into(),
        series: series(&[
            ("t_s_measured", "measured (φ = 0.775)", true),
            ("t_s_theory", "theory ½ log Λ_GE (v∞ = 1)", false),
            ("t_s_printed", "paper's printed form (v∞ = ½)", false),
            ("t_s_data_lambda", "½ log Λ of the data", false),
        ]),
        ..Default::default()
    }
    .render(&out.join("t_s_vs_beta"))?;
    Plot {
        title: format!("Collapse time vs β ({tail})"),
        x_label: "β = p/d".into(),
        y_label: "t_C (OU time)".into(),
        series: series(&[
            ("t_c_phi_c_half", "measured φ_C = ½", true),
            ("t_c_mean_last_change", "measured mean t̂_C", true),
            ("t_c_glm", "GLM-RS", false),
            ("t_c_glm_centres", "GLM-RS + centres", false),
            ("t_c_linear", "linear closed form", false),
            ("t_c_linear_mp", "linear, MP", false),
        ]),
        ..Default::default()
    }
    .render(&out.join("t_c_vs_beta"))?;
    let table: Vec<[String; 4]> = rows
        .iter()
        .zip(betas)
        .flat_map(|(r, b)| {
            [
                [
                    format!("t_S, β = {b}"),
                    fmt(Some(r.t_s.theory)),
                    fmt(r.t_s.measured),
                    format!("printed {}", fmt(Some(r.variant(|v| Some(v.t_s_printed))))),
                ],
                [
                    format!("t_C, β = {b}"),
                    fmt(r.t_c.theory),
                    fmt(r.t_c.phi_c_half),
                    format!(
                        "mean t̂_C {}; +centres {}; linear {}; MP {}",
                        fmt(r.t_c.mean_last_change),
                        fmt(Some(r.variant(|v| v.t_c_glm_centres))),
                        fmt(Some(r.variant(|v| v.t_c_linear))),
                        fmt(Some(r.variant(|v| v.t_c_linear_mp)))
                    ),
                ],
            ]
        })
        .collect();
    let figs = [
        ("t_s_vs_beta.png".to_string(), "t_S vs β".to_string()),
        ("t_c_vs_beta.png".into(), "t_C vs β".into()),
    ];
    io::write_text(
        &out.join("index.html"),
        &html_report(
            "diffscope regimes: β sweep",
            &format!("Hidden-manifold mixture {tail}; one run directory per β beside this page."),
            &table,
            &figs,
        ),
    )?;
    Ok(())
}

/// A run's summary as the lines `diffscope regimes` prints: the data, n, d, α, the table of
/// [`RegimesSummary::table_rows`] and the wall time.
pub fn summary_lines(s: &RegimesSummary) -> Vec<String> {
    let mut v = vec![
        s.data.clone(),
        format!("n = {}, d = {}, α = {}", s.n, s.d, fmt(Some(s.alpha))),
    ];
    if let Some(g) = &s.grid_spacing {
        v.push(format!("grid: {g}"));
    }
    v.extend([format!(
        "{:<30} {:>8} {:>9}   note",
        "quantity", "theory", "measured"
    )]);
    v.extend(
        s.table_rows()
            .into_iter()
            .map(|r| format!("{:<30} {:>8} {:>9}   {}", r[0], r[1], r[2], r[3])),
    );
    v.push(format!("time: {} s", fmt(Some(s.timings_s.total))));
    v
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

fn write_outputs(
    dir: &Path,
    r: &regimes::RegimesResult,
    s: &RegimesSummary,
    t_s: f64,
    t_c: Option<f64>,
    entropy_theory: Option<&[f64]>,
    alpha: f64,
    extra_figures: Vec<(String, String)>,
) -> Result<()> {
    let mut cols: Vec<(&str, Vec<f64>)> = vec![
        ("t_branch", r.t_branch.clone()),
        ("phi", r.phi.clone()),
        ("phi_lo", r.phi_lo.clone()),
        ("phi_hi", r.phi_hi.clone()),
    ];
    if let Some(pc) = &r.phi_c {
        cols.push(("phi_c", pc.clone()));
    }
    if let Some(pt) = &r.phi_theory {
        cols.push(("phi_theory", pt.clone()));
    }
    let names: Vec<&str> = cols.iter().map(|c| c.0).collect();
    let refs: Vec<&[f64]> = cols.iter().map(|c| &c.1[..]).collect();
    io::write_csv(&dir.join("speciation.csv"), &names, &refs)?;
    io::write_csv(
        &dir.join("commitment.csv"),
        &["t", "p_same_class"],
        &[&r.commit_t, &r.commit_p],
    )?;
    let mut figures = Vec::new();
    let mut series = vec![Series {
        name: "φ(t_b) measured (95% CI)".into(),
        x: r.t_branch.clone(),
        y: r.phi.clone(),
        band: Some((r.phi_lo.clone(), r.phi_hi.clone())),
        markers: true,
    }];
    if let Some(pc) = &r.phi_c {
        series.push(Series {
            name: "φ_C(t_b): same training point".into(),
            x: r.t_branch.clone(),
            y: pc.clone(),
            band: None,
            markers: true,
        });
    }
    if let Some(pt) = &r.phi_theory {
        series.push(Series {
            name: "φ(t) theory (population score)".into(),
            x: r.t_branch.clone(),
            y: pt.clone(),
            band: None,
            markers: false,
        });
    }
    let mut vlines = vec![(t_s, "t_S theory".to_string())];
    if let Some(tc) = t_c {
        vlines.push((tc, "t_C theory".into()));
    }
    Plot {
        title: "Cloning: agreement of clone pairs vs branch time".into(),
        x_label: "branch time t_b (OU time)".into(),
        y_label: "fraction of pairs".into(),
        series,
        vlines: vlines.clone(),
        hlines: vec![(0.775, "φ = 0.775".into()), (0.5, "½".into())],
        y_range: Some((0.0, 1.05)),
        ..Default::default()
    }
    .render(&dir.join("speciation"))?;
    figures.push((
        "speciation.png".to_string(),
        "φ(t_b) and φ_C(t_b) with 95% bootstrap bands, theory curve, t_S and t_C marked"
            .to_string(),
    ));
    if let Some(lc) = &r.last_change {
        io::write_npy(&dir.join("last_change.npy"), &NpyArray::f64_1d(lc.clone()))?;
        let mut v = Vec::new();
        if let Some(tc) = t_c {
            v.push((tc, "t_C theory".to_string()));
        }
        if let Some(m) = s.t_c.mean_last_change {
            v.push((m, "mean t̂_C".into()));
        }
        Plot {
            title: "Last change of the nearest training point per trajectory".into(),
            x_label: "t̂_C (OU time)".into(),
            y_label: "trajectories".into(),
            histogram: Some((lc.clone(), 30)),
            vlines: v,
            ..Default::default()
        }
        .render(&dir.join("last_change"))?;
        figures.push((
            "last_change.png".into(),
            "Histogram of t̂_C with the analytic t_C".into(),
        ));
    }
    if let (Some(e), Some(se)) = (&r.entropy, &r.entropy_se) {
        let band = |k: f64| {
            e.iter()
                .zip(se)
                .map(|(f, s)| f + k * s)
                .collect::<Vec<f64>>()
        };
        let mut cols = vec![r.entropy_t.clone(), e.clone(), se.clone()];
        let mut series = vec![Series {
            name: "f^e/α measured (forward samples, ±1.96 SE)".into(),
            x: r.entropy_t.clone(),
            y: e.clone(),
            band: Some((band(-1.96), band(1.96))),
            markers: true,
        }];
        if let Some(th) = entropy_theory {
            let th = th.to_vec();
            series.push(Series {
                name: "f/α theory".into(),
                x: r.entropy_t.clone(),
                y: th.clone(),
                band: None,
                markers: false,
            });
            cols.push(th);
        }
        let names: Vec<&str> = ["t", "fe_over_alpha", "se", "theory"][..cols.len()].to_vec();
        let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        io::write_csv(&dir.join("entropy.csv"), &names, &refs)?;
        Plot {
            title: "Excess entropy".into(),
            x_label: "t (OU time)".into(),
            y_label: "f^e(t) / α".into(),
            series,
            vlines: t_c
                .map(|tc| vec![(tc, "t_C theory".to_string())])
                .unwrap_or_default(),
            hlines: vec![(0.0, "0".into())],
            ..Default::default()
        }
        .render(&dir.join("entropy"))?;
        figures.push((
            "entropy.png".into(),
            "Excess entropy f^e/α from forward samples (band: ±1.96 standard errors), with the theory curve".into(),
        ));
    }
    if let Some(p) = &r.posterior {
        figures.push(write_posterior(dir, p, Some(s.n as f64), t_c)?);
    }
    Plot {
        title: "Commitment along the trunk".into(),
        x_label: "t (OU time)".into(),
        y_label: "P[class(x_t) = class(x_end)]".into(),
        series: vec![Series {
            name: "trunk".into(),
            x: r.commit_t.clone(),
            y: r.commit_p.clone(),
            band: None,
            markers: false,
        }],
        vlines: vec![(t_s, "t_S theory".into())],
        y_range: Some((0.4, 1.02)),
        ..Default::default()
    }
    .render(&dir.join("commitment"))?;
    figures.push((
        "commitment.png".into(),
        "Probability that the class at time t equals the final class".into(),
    ));
    figures.extend(extra_figures);
    let intro = format!("{} — n = {}, d = {}, α = {:.4}, seed {}, diffscope {}. Times are OU times (x_t = e^(-t) x_0 + sqrt(1 - e^(-2t)) z).", s.data, s.n, s.d, alpha, s.seed, crate::VERSION);
    io::write_text(
        &dir.join("index.html"),
        &html_report("diffscope regimes", &intro, &s.table_rows(), &figures),
    )?;
    Ok(())
}

/// posterior.csv (entropy quantiles, median N_eff and the fraction collapsed per trunk time),
/// collapse_times.csv (per trajectory; empty when not before t_min) and the figure of the entropy's
/// distribution over t; returns the figure's entry for index.html.
fn write_posterior(
    dir: &Path,
    p: &regimes::posterior::PosteriorCurves,
    n: Option<f64>,
    t_c: Option<f64>,
) -> Result<(String, String)> {
    io::write_csv(
        &dir.join("posterior.csv"),
        &[
            "t",
            "entropy_q10",
            "entropy_q50",
            "entropy_q90",
            "effective_n_q50",
            "collapsed",
        ],
        &[
            &p.t,
            &p.entropy_q10,
            &p.entropy_q50,
            &p.entropy_q90,
            &p.effective_n_q50,
            &p.collapsed,
        ],
    )?;
    let tau: Vec<f64> = p.collapse_t.iter().map(|v| v.unwrap_or(f64::NAN)).collect();
    io::write_csv(&dir.join("collapse_times.csv"), &["t_collapse"], &[&tau])?;
    let mut vlines = Vec::new();
    if let Some(tc) = t_c {
        vlines.push((tc, "t_C theory".to_string()));
    }
    if let Some(m) = p.t_collapse.value {
        vlines.push((m, "median N_eff < 2".to_string()));
    }
    let hlines = n
        .map(|n| vec![(n.ln(), "ln N".to_string()), (2f64.ln(), "ln 2".into())])
        .unwrap_or_default();
    Plot {
        title: "Posterior entropy over the training points along the trunk".into(),
        x_label: "t (OU time)".into(),
        y_label: "H = −Σ w ln w (nats)".into(),
        series: vec![Series {
            name: "median H over trajectories (band: 10–90 %)".into(),
            x: p.t.clone(),
            y: p.entropy_q50.clone(),
            band: Some((p.entropy_q10.clone(), p.entropy_q90.clone())),
            markers: false,
        }],
        vlines,
        hlines,
        log_x: true,
        // The entropy rises from 0 at small t to ln N at large t: the upper left is free.
        legend: crate::report::LegendAt::UpperLeft,
        ..Default::default()
    }
    .render(&dir.join("posterior"))?;
    Ok((
        "posterior.png".into(),
        "Entropy of the exact score's softmax weights along the trunk (median, 10–90 % band), ln N and ln 2 marked, with t_C and the median per-trajectory collapse time (N_eff < 2)".into(),
    ))
}

/// φ at t = 2.5, 3.0, …, 5.0 (Biroli et al.'s table), linearly interpolated between the branch times,
/// with the interpolated pointwise 95 % CIs and the theory; null outside the branch range.
fn phi_at_t(r: &regimes::RegimesResult) -> PhiAtT {
    let at = |y: &[f64], t: f64| -> Option<f64> {
        let tb = &r.t_branch;
        let j = tb.windows(2).position(|w| w[0] <= t && t <= w[1])?;
        let f = (t - tb[j]) / (tb[j + 1] - tb[j]);
        Some(y[j] + f * (y[j + 1] - y[j]))
    };
    let ts: Vec<f64> = (0..6).map(|k| 2.5 + 0.5 * k as f64).collect();
    let col = |y: &[f64]| ts.iter().map(|&t| at(y, t)).collect::<Vec<Option<f64>>>();
    PhiAtT {
        hi: col(&r.phi_hi),
        lo: col(&r.phi_lo),
        phi: col(&r.phi),
        theory: r.phi_theory.as_deref().map(col),
        t: ts,
    }
}

/// The d sweep's sweep_d.csv, the figure of the measured t_S with its CI vs d beside ½ log Λ of the data
/// and the theory (and the printed form for the manifold model), and index.html; returns the table.
fn assemble_d(
    cfg: &RegimesConfig,
    dims: &[usize],
    rows: &[RegimesSummary],
    out: &Path,
) -> Result<Vec<[String; 4]>> {
    let num = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let at = |v: &[Option<f64>], k: usize| v.get(k).copied().flatten();
    let get = |f: &dyn Fn(&RegimesSummary) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let mut cols: Vec<(String, Vec<f64>)> = vec![
        ("d".into(), dims.iter().map(|&d| d as f64).collect()),
        ("t_s_measured".into(), get(&|r| num(r.t_s.measured))),
        ("t_s_ci_lo".into(), get(&|r| num(r.t_s.ci.map(|c| c.0)))),
        ("t_s_ci_hi".into(), get(&|r| num(r.t_s.ci.map(|c| c.1)))),
        ("t_s_theory".into(), get(&|r| r.t_s.theory)),
        (
            "t_s_printed".into(),
            get(&|r| r.variant(|v| Some(v.t_s_printed))),
        ),
        (
            "t_s_data_lambda".into(),
            get(&|r| r.t_s.theory_from_data_lambda),
        ),
        (
            "t_s_total_var".into(),
            get(&|r| r.variant(|v| Some(v.t_s_total_var))),
        ),
        ("f_mem".into(), get(&|r| num(r.f_mem))),
        ("wall_s".into(), get(&|r| r.timings_s.total)),
    ];
    for k in 0..6 {
        let t = 2.5 + 0.5 * k as f64;
        cols.push((format!("phi_t{t}"), get(&|r| num(at(&r.phi_at_t.phi, k)))));
        cols.push((format!("phi_t{t}_lo"), get(&|r| num(at(&r.phi_at_t.lo, k)))));
        cols.push((format!("phi_t{t}_hi"), get(&|r| num(at(&r.phi_at_t.hi, k)))));
        cols.push((
            format!("phi_t{t}_theory"),
            get(&|r| num(r.phi_at_t.theory.as_deref().and_then(|th| at(th, k)))),
        ));
    }
    let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
    let refs: Vec<&[f64]> = cols.iter().map(|c| &c.1[..]).collect();
    io::write_csv(&out.join("sweep_d.csv"), &names, &refs)?;
    let col = |name: &str| {
        cols.iter()
            .find(|c| c.0 == name)
            .map(|c| c.1.clone())
            .unwrap_or_default()
    };
    let xs: Vec<f64> = col("d");
    let line = |key: &str, label: &str| Series {
        name: label.into(),
        x: xs.clone(),
        y: col(key),
        band: None,
        markers: false,
    };
    let mut series = vec![
        Series {
            name: "measured (φ = 0.775, 95% CI)".into(),
            x: xs.clone(),
            y: col("t_s_measured"),
            band: Some((col("t_s_ci_lo"), col("t_s_ci_hi"))),
            markers: true,
        },
        line("t_s_data_lambda", "½ log Λ of the data"),
        line("t_s_theory", "theory ½ log Λ (v∞ = 1)"),
    ];
    if matches!(cfg.model, Some(DataModel::Manifold(_))) {
        series.push(line("t_s_printed", "paper's printed form (v∞ = ½)"));
        series.push(line("t_s_total_var", "GE with ϱ at κ(1 + ‖μ̃‖²)"));
    }
    Plot {
        title: format!(
            "Speciation time vs d (n = {}, score {:?})",
            cfg.n, cfg.params.score
        ),
        x_label: "d".into(),
        y_label: "t_S (OU time)".into(),
        series,
        log_x: true,
        ..Default::default()
    }
    .render(&out.join("t_s_vs_d"))?;
    let table: Vec<[String; 4]> = rows
        .iter()
        .zip(dims)
        .map(|(r, d)| {
            [
                format!("t_S, d = {d}"),
                fmt(Some(r.t_s.theory)),
                format!("{} {}", fmt(r.t_s.measured), fmt_ci(r.t_s.ci)),
                format!(
                    "½ log Λ_data {}; printed {}; GE at κ(1 + ‖μ̃‖²) {}; φ(2.5…5.0) = {}",
                    fmt(Some(r.t_s.theory_from_data_lambda)),
                    fmt(Some(r.variant(|v| Some(v.t_s_printed)))),
                    fmt(Some(r.variant(|v| Some(v.t_s_total_var)))),
                    (0..6)
                        .map(|k| fmt(at(&r.phi_at_t.phi, k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ]
        })
        .collect();
    io::write_text(
        &out.join("index.html"),
        &html_report(
            "diffscope regimes: d sweep",
            &format!(
                "t_S vs d at n = {}; one run directory per d beside this page.",
                cfg.n
            ),
            &table,
            &[("t_s_vs_d.png".to_string(), "t_S vs d".to_string())],
        ),
    )?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlay: flags set only their keys over the file's (the file's others stay, nested tables
    /// merge), `model.d` alone resizes the file's or the built-in model, a data file replaces the file's
    /// model, and resizing a data file's run is refused.
    #[test]
    fn flags_lay_only_their_keys_over_the_file() {
        let dir = std::env::temp_dir().join(format!("ds-overlay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("run.toml");
        std::fs::write(
            &file,
            "seed = 4\nn = 300\n[model]\nkind = \"two-class\"\nd = 8\nsigma = 2.0\n[params]\nbatch = 10\npairs = 4\n",
        )
        .unwrap();
        let mut set = Table::new();
        config::set(&mut set, &["params", "pairs"], 9).unwrap();
        config::set(&mut set, &["model", "d"], 12).unwrap();
        let c = RegimesConfig::resolve(Some(&file), set, false).unwrap();
        assert_eq!(
            (c.seed, c.n, c.params.batch, c.params.pairs),
            (4, 300, 10, 9)
        );
        let Some(DataModel::TwoClass(m)) = &c.model else {
            panic!("{:?}", c.model)
        };
        assert_eq!((m.d, m.sigma), (12, 2.0));
        // No file: the library's defaults, the built-in model resized.
        let mut set = Table::new();
        config::set(&mut set, &["model", "d"], 20).unwrap();
        let c = RegimesConfig::resolve(None, set, false).unwrap();
        let mut want = RegimesConfig::default();
        if let Some(DataModel::TwoClass(m)) = want.model.as_mut() {
            m.d = 20;
        }
        assert_eq!(c, want);
        // A data file replaces the file's model; --d on a data file's run is an error naming it.
        let mut set = Table::new();
        config::set(&mut set, &["data"], DataFileSpec::new("x.csv")).unwrap();
        let c = RegimesConfig::resolve(Some(&file), set, false).unwrap();
        assert!(c.model.is_none() && c.data.is_some() && c.params.batch == 10);
        std::fs::write(&file, "[data]\npath = \"x.csv\"\n").unwrap();
        let mut set = Table::new();
        config::set(&mut set, &["model", "d"], 20).unwrap();
        let e = RegimesConfig::resolve(Some(&file), set, false).unwrap_err();
        assert!(e.to_string().contains("--d"), "{e}");
        // A model of another kind replaces the built-in one whole (no key of it is kept).
        let mut set = Table::new();
        let spec = ManifoldSpec {
            d: 16,
            beta: 0.5,
            activation: crate::data::Activation::Tanh,
            mu2: 1.0,
            kappa: None,
            embedding: Default::default(),
        };
        config::set(&mut set, &["model"], DataModel::Manifold(spec.clone())).unwrap();
        let c = RegimesConfig::resolve(None, set, false).unwrap();
        assert_eq!(c.model, Some(DataModel::Manifold(spec)));
        // Unknown keys from a door are named.
        let mut set = Table::new();
        config::set(&mut set, &["params", "batchsize"], 3).unwrap();
        let e = RegimesConfig::resolve(None, set, false).unwrap_err();
        assert!(e.to_string().contains("batchsize"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn partial_configs_take_defaults_and_unknown_keys_are_named() {
        let origin = Path::new("run.toml");
        // An empty file is the main job's default; a partial [params] table keeps the other defaults.
        assert_eq!(
            RegimesConfig::from_toml("", origin).unwrap(),
            RegimesConfig::default()
        );
        let c = RegimesConfig::from_toml("[params]\nbatch = 30\n", origin).unwrap();
        assert_eq!(c.params.batch, 30);
        assert_eq!(
            c.params,
            RegimesParams {
                batch: 30,
                ..RegimesParams::default()
            }
        );
        assert_eq!((c.seed, c.n), (0, 10_000));
        // A data file replaces the default model, and its own fields default too.
        let c = RegimesConfig::from_toml("[data]\npath = \"x.csv\"\n", origin).unwrap();
        assert!(c.model.is_none());
        assert_eq!(c.data, Some(DataFileSpec::new("x.csv")));
        for (text, key) in [
            ("[params]\nbatchh = 3\n", "batchh"),
            ("seeed = 1\n", "seeed"),
            ("[data]\npath = \"x\"\ncentr = true\n", "centr"),
        ] {
            let e = RegimesConfig::from_toml(text, origin)
                .unwrap_err()
                .to_string();
            assert!(e.contains("run.toml") && e.contains(key), "{e}");
        }
        // The resolved config round-trips through the TOML written to config.toml.
        let c = RegimesConfig {
            score_model: Some("m.safetensors".into()),
            ..RegimesConfig::default()
        };
        let text = toml::to_string(&c).unwrap();
        assert_eq!(RegimesConfig::from_toml(&text, origin).unwrap(), c);
    }
}

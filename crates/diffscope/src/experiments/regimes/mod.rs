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
use crate::data::{DataModel, Dataset, TwoClassGmm};
use crate::distributed::{Comm, ShardedScore};
use crate::error::{Error, Result};
use crate::progress::Monitor;
use crate::regimes::{self, RegimesInput, RegimesParams, RegimesResult};
use crate::sampler::Spacing;
use crate::score::Score;
use crate::theory;
use crate::theory::manifold::{self, ManifoldTheory};

mod summary;
mod sweep;
pub use crate::report::regimes::write_run_dir;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
pub use summary::{
    fmt, fmt_ci, CollapseSummary, PhiAtT, PhiVsTheory, RegimesSummary, RegimesTimings,
    SpeciationSummary,
};
pub use sweep::{merge, sweep, sweep_beta_line, SweepOver, SweepPlacement, SweepReport};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ManifoldSpec;

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

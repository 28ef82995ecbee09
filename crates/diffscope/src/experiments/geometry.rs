//! The geometry of a score field along backward trajectories (geometry.md) as a library call: local
//! dimension by five estimators, the asymmetry split, subspace overlaps and the normal-projection error at
//! probed times, then the run directory (points.csv, by_time.csv, spectra, figures, summary.json).

use crate::data::{DataModel, Dataset};
use crate::error::{Error, Result};
use crate::geometry::{self, quartiles, PointGeometry, ProbeOptions};
use crate::progress::Monitor;
use crate::report::{Plot, Series};
use crate::sampler::{SamplerKind, TimeGrid};
use crate::score::{EmpiricalScore, Precision, Score};
use faer::Par;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Parameters of the probe run (every field defaulted).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GeometryParams {
    /// Backward trajectories probed.
    pub trajectories: usize,
    /// Sampler steps (log-spaced grid from t_max to t_min).
    pub steps: usize,
    /// Start time.
    pub t_max: f64,
    /// End time.
    pub t_min: f64,
    /// Probed steps, evenly spaced in grid index (so log-spaced in t), first and last included.
    pub probes: usize,
    /// Copies per point for the Stanczuk estimator (e); None: 4d; 0 turns it off.
    pub stanczuk: Option<usize>,
    /// Tangent dimension for the subspace split (None: the model's intrinsic dimension, else estimator (a)).
    pub tangent_dim: Option<usize>,
    /// Matrix-free mode with this rank (randomized SVD and Hutch++ by JVPs / VJPs).
    pub matrix_free: Option<usize>,
    /// Threshold c of estimator (a).
    pub threshold: f64,
    /// The sampler of the backward runs.
    pub sampler: SamplerKind,
}

impl Default for GeometryParams {
    fn default() -> Self {
        GeometryParams {
            trajectories: 32,
            steps: 200,
            t_max: 4.0,
            t_min: 1e-3,
            probes: 10,
            stanczuk: None,
            tangent_dim: None,
            matrix_free: None,
            threshold: 0.5,
            sampler: SamplerKind::EulerMaruyama,
        }
    }
}

/// The score under study, its training data and (where known) the data model and the seed it was drawn
/// with (for the true tangent spaces).
pub struct GeometryInput<'a> {
    /// The score.
    pub score: &'a dyn Score,
    /// A description for the report.
    pub what: String,
    /// The training data (the reference exact score is built from it).
    pub data: &'a Dataset,
    /// The data model, when known.
    pub model: Option<&'a DataModel>,
    /// The seed the model's quenched parameters were drawn with.
    pub model_seed: u64,
}

/// summary.json of `geometry`: the score, the data, the run's settings and the quartiles of every
/// per-point quantity at each probed time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GeometrySummary {
    /// Quartiles per probed time.
    pub by_time: Vec<TimeQuartiles>,
    /// The trajectories and the probe.
    pub config: GeometryRunConfig,
    /// Dimension.
    pub d: usize,
    /// The data's provenance.
    pub data: String,
    /// The data model, when known.
    pub data_model: Option<DataModel>,
    /// Number of reference points.
    pub n: usize,
    /// The score probed.
    pub score: String,
    /// The seed.
    pub seed: u64,
    /// Wall time of the probing.
    pub timings: ProbeTimings,
    /// diffscope's version.
    pub version: String,
}

/// The settings of a geometry run as summary.json records them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GeometryRunConfig {
    /// Always "log": the trajectories' time grid.
    pub grid: String,
    /// The probe's options.
    pub probe: ProbeOptions,
    /// Grid steps probed.
    pub probe_steps: Vec<usize>,
    /// The sampler of the trajectories.
    pub sampler: SamplerKind,
    /// Grid steps.
    pub steps: usize,
    /// Last time.
    pub t_max: f64,
    /// First time.
    pub t_min: f64,
    /// Number of trajectories.
    pub trajectories: usize,
}

/// Quartiles of one quantity over the probed points (null where not finite).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Quartiles {
    /// Median.
    pub median: Option<f64>,
    /// Lower quartile.
    pub q25: Option<f64>,
    /// Upper quartile.
    pub q75: Option<f64>,
}

/// Every column's quartiles at one probed step (keys: the names of [`COLUMNS`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TimeQuartiles {
    /// The grid step.
    pub step: usize,
    /// Its time.
    pub t: f64,
    /// Per column name.
    #[serde(flatten)]
    pub columns: std::collections::BTreeMap<String, Quartiles>,
}

/// Wall time of a geometry run.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct ProbeTimings {
    /// Seconds spent probing.
    pub probe_wall_s: f64,
}

/// Per-point geometry, its summary per probed time, and summary.json.
#[derive(Clone, Debug)]
pub struct GeometryReport {
    /// summary.json.
    pub summary: GeometrySummary,
    /// One row per probed point.
    pub rows: Vec<PointGeometry>,
    /// Quartiles per probed time.
    pub by_time: ByTime,
    /// The probe options used.
    pub probe: ProbeOptions,
    /// Dimension d.
    pub d: usize,
    pub(crate) what: String,
    pub(crate) provenance: String,
    pub(crate) n: usize,
}

/// Probes the score along `p.trajectories` backward runs.
pub fn run(
    input: &GeometryInput<'_>,
    p: &GeometryParams,
    seed: u64,
    monitor: &dyn Monitor,
) -> Result<GeometryReport> {
    if p.trajectories == 0 || p.probes == 0 {
        return Err(Error::param(
            "trajectories/probes",
            format!("{}/{}", p.trajectories, p.probes),
            "both positive",
        ));
    }
    let d = input.score.dim();
    if input.data.d != d {
        return Err(Error::shape(
            "geometry",
            format!(
                "the data have d = {} but the score has d = {d}",
                input.data.d
            ),
        ));
    }
    let grid = TimeGrid::log(p.t_max, p.t_min, p.steps)?;
    let n_steps = grid.n_steps();
    let probes = p.probes.min(n_steps);
    let mut steps: Vec<usize> = (0..probes)
        .map(|j| {
            if probes == 1 {
                n_steps - 1
            } else {
                (j * (n_steps - 1) + (probes - 1) / 2) / (probes - 1)
            }
        })
        .collect();
    steps.dedup();
    let k = p
        .tangent_dim
        .or_else(|| input.model.and_then(DataModel::intrinsic_dim));
    let opts = ProbeOptions {
        threshold: p.threshold,
        k,
        stanczuk_samples: p.stanczuk.unwrap_or(4 * d),
        matrix_free: p.matrix_free,
        ..ProbeOptions::default()
    };
    let tangent = input.model.and_then(|m| m.tangent(input.model_seed));
    let reference = EmpiricalScore::new(input.data, Precision::F32)?;
    monitor.note(&format!(
        "geometry of {} along {} trajectories, {} probes; reference: exact empirical score of {} points",
        input.what, p.trajectories, steps.len(), input.data.n
    ));
    let t0 = Instant::now();
    let rows = geometry::along_trajectories(
        input.score,
        Some(&reference),
        tangent.as_deref().map(|t| t as _),
        p.sampler,
        &grid,
        p.trajectories,
        &steps,
        &opts,
        seed,
        monitor,
        Par::rayon(0),
    )?;
    let wall = t0.elapsed().as_secs_f64();
    let bt = by_time(&rows);
    let finite = |v: f64| v.is_finite().then_some(v);
    let summary = GeometrySummary {
        by_time: (bt.t.iter().enumerate())
            .map(|(i, &t)| TimeQuartiles {
                step: bt.steps[i],
                t,
                columns: (COLUMNS.iter().enumerate())
                    .map(|(c, (n, _))| {
                        let q = bt.q[i][c];
                        let (q25, median, q75) = (finite(q[0]), finite(q[1]), finite(q[2]));
                        ((*n).to_string(), Quartiles { median, q25, q75 })
                    })
                    .collect(),
            })
            .collect(),
        config: GeometryRunConfig {
            grid: "log".into(),
            probe: opts.clone(),
            probe_steps: bt.steps.clone(),
            sampler: p.sampler,
            steps: p.steps,
            t_max: p.t_max,
            t_min: p.t_min,
            trajectories: p.trajectories,
        },
        d,
        data: input.data.provenance.clone(),
        data_model: input.model.cloned(),
        n: input.data.n,
        score: input.what.clone(),
        seed,
        timings: ProbeTimings { probe_wall_s: wall },
        version: crate::VERSION.into(),
    };
    Ok(GeometryReport {
        summary,
        rows,
        by_time: bt,
        probe: opts,
        d,
        what: input.what.clone(),
        provenance: input.data.provenance.clone(),
        n: input.data.n,
    })
}

/// One quantity of [`PointGeometry`] as f64 (NaN where absent).
pub type Getter = fn(&PointGeometry) -> f64;

/// The per-point quantities written to points.csv and summarised per probed time.
pub const COLUMNS: [(&str, Getter); 14] = [
    ("dim_threshold", |p| p.dim_threshold as f64),
    ("dim_trace", |p| p.dim_trace),
    ("dim_participation", |p| p.dim_participation),
    ("dim_flipd", |p| p.dim_flipd),
    ("dim_stanczuk", |p| {
        p.dim_stanczuk.map_or(f64::NAN, |v| v as f64)
    }),
    ("k", |p| p.k as f64),
    ("asym", |p| p.asym),
    ("asym_tt", |p| p.asym_tt),
    ("asym_nn", |p| p.asym_nn),
    ("asym_tn", |p| p.asym_tn),
    ("normal_projection_error", |p| p.normal_projection_error),
    ("overlap_reference", |p| {
        p.overlap_reference.unwrap_or(f64::NAN)
    }),
    ("overlap_true", |p| p.overlap_true.unwrap_or(f64::NAN)),
    ("min_cosine_true", |p| p.min_cosine_true.unwrap_or(f64::NAN)),
];

/// Per probed step: (step, t, quartiles of every column).
#[derive(Clone, Debug)]
pub struct ByTime {
    /// Probed grid steps.
    pub steps: Vec<usize>,
    /// Their times.
    pub t: Vec<f64>,
    /// Quartiles (q25, median, q75) of every column of [`COLUMNS`] per probed step.
    pub q: Vec<Vec<[f64; 3]>>,
}

/// Quartiles of every column per probed step.
pub fn by_time(rows: &[PointGeometry]) -> ByTime {
    let mut steps: Vec<usize> = rows.iter().map(|r| r.step).collect();
    steps.sort_unstable();
    steps.dedup();
    let mut t = Vec::new();
    let mut q = Vec::new();
    for &s in &steps {
        let at: Vec<&PointGeometry> = rows.iter().filter(|r| r.step == s).collect();
        t.push(at[0].t);
        q.push(
            COLUMNS
                .iter()
                .map(|(_, g)| quartiles(&at.iter().map(|p| g(p)).collect::<Vec<_>>()))
                .collect(),
        );
    }
    ByTime { steps, t, q }
}

impl ByTime {
    /// The medians per probed time as the table `diffscope geometry` prints: local dimension (a)–(e),
    /// A_TT, A_NN, the overlap (with the true tangent space when known) and the normal-projection error.
    pub fn table_lines(&self, k: Option<usize>) -> Vec<String> {
        let mut v = vec![format!(
            "{:>9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8}",
            "t", "(a)", "(b)", "(c)", "(d)", "(e)", "A_TT", "A_NN", "overlap", "NP err"
        )];
        let idx = |n: &str| COLUMNS.iter().position(|(c, _)| *c == n).expect("column");
        for (i, t) in self.t.iter().enumerate() {
            let m = |n: &str| self.q[i][idx(n)][1];
            let ov = if m("overlap_true").is_nan() {
                m("overlap_reference")
            } else {
                m("overlap_true")
            };
            v.push(format!(
                "{t:>9.4} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
                m("dim_threshold"),
                m("dim_trace"),
                m("dim_participation"),
                m("dim_flipd"),
                m("dim_stanczuk"),
                m("asym_tt"),
                m("asym_nn"),
                ov,
                m("normal_projection_error")
            ));
        }
        if let Some(k) = k {
            v.push(format!(
                "(true intrinsic dimension k = {k}; medians over trajectories)"
            ));
        }
        v
    }

    fn series(&self, name: &str, label: &str) -> Option<Series> {
        let c = COLUMNS.iter().position(|(n, _)| *n == name)?;
        let med: Vec<f64> = self.q.iter().map(|q| q[c][1]).collect();
        if med.iter().all(|v| v.is_nan()) {
            return None;
        }
        Some(Series {
            name: format!("{label} (median, IQR band)"),
            x: self.t.clone(),
            y: med,
            band: Some((
                self.q.iter().map(|q| q[c][0]).collect(),
                self.q.iter().map(|q| q[c][2]).collect(),
            )),
            markers: true,
        })
    }

    pub(crate) fn plot(&self, title: &str, y_label: &str, cols: &[(&str, &str)]) -> Plot {
        Plot {
            title: title.into(),
            x_label: "t (OU time, log scale; backward runs go right to left)".into(),
            y_label: y_label.into(),
            series: cols.iter().filter_map(|(c, l)| self.series(c, l)).collect(),
            log_x: true,
            ..Plot::default()
        }
    }
}

pub use crate::report::geometry::write_run_dir;

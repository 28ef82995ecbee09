//! The memorisation study as a library call: train on nested subsets of growing size n, measure f_mem of the
//! learned sampler along training, τ_mem per size and its growth in n; then the run directory.

use crate::data::{DataModel, Dataset};
use crate::error::Result;
use crate::memorisation::{self, MemorisationCurve, MemorisationParams, TauFit, TauStat};
use crate::progress::Monitor;
use faer::Par;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// summary.json of `memorise`: the parameters, every curve, τ_mem per size and the τ_mem ∝ n fit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MemoriseSummary {
    /// f_mem and loss along training, per size and replicate.
    pub curves: Vec<MemorisationCurve>,
    /// Dimension.
    pub d: usize,
    /// The data's provenance.
    pub data: String,
    /// The data model, when known.
    pub data_model: Option<DataModel>,
    /// What the end points are.
    pub end_points: String,
    /// The study's parameters.
    pub params: MemorisationParams,
    /// The seed.
    pub seed: u64,
    /// τ_mem per size.
    pub tau: Vec<TauStat>,
    /// The τ_mem ∝ n fit.
    pub tau_fit: Option<TauFit>,
    /// Its slope in steps per training point and the points it used.
    pub tau_slope: Option<TauSlope>,
    /// Wall time.
    pub timings: WallTime,
    /// diffscope's version.
    pub version: String,
}

/// The slope of τ_mem against n.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct TauSlope {
    /// Training steps per training point.
    pub steps_per_point: f64,
    /// Sizes used by the fit.
    pub points_used: usize,
}

/// A run's wall time in seconds.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct WallTime {
    /// Seconds.
    pub wall_s: f64,
}

/// The study's curves, τ statistics, fit, and summary.json.
#[derive(Clone, Debug)]
pub struct MemoriseReport {
    /// summary.json.
    pub summary: MemoriseSummary,
    /// f_mem and loss along training, per size and replicate.
    pub curves: Vec<MemorisationCurve>,
    /// τ_mem per size (mean and 95 % interval over replicates).
    pub stats: Vec<TauStat>,
    /// τ_mem ∝ n fit.
    pub fit: Option<TauFit>,
    /// The parameters.
    pub params: MemorisationParams,
    pub(crate) provenance: String,
}

/// Runs the study on the first n points of `data` for each size in `p.n`.
pub fn run(
    data: &Dataset,
    model: Option<&DataModel>,
    p: &MemorisationParams,
    seed: u64,
    monitor: &dyn Monitor,
) -> Result<MemoriseReport> {
    p.validate(data.n)?;
    let t0 = Instant::now();
    let curves = memorisation::run(data, p, seed, monitor, Par::rayon(0))?;
    let wall = t0.elapsed().as_secs_f64();
    let fit = memorisation::tau_fit(&curves);
    let stats = memorisation::tau_stats(&curves);
    let slope = fit.as_ref().map(|f| (f.slope, f.points));
    let summary = MemoriseSummary {
        curves: curves.clone(),
        d: data.d,
        data: data.provenance.clone(),
        data_model: model.cloned(),
        end_points: p.final_step.describe().into(),
        params: p.clone(),
        seed,
        tau: stats.clone(),
        tau_fit: fit.clone(),
        tau_slope: slope.map(|(s, k)| TauSlope {
            steps_per_point: s,
            points_used: k,
        }),
        timings: WallTime { wall_s: wall },
        version: crate::VERSION.into(),
    };
    Ok(MemoriseReport {
        summary,
        curves,
        stats,
        fit,
        params: p.clone(),
        provenance: data.provenance.clone(),
    })
}

pub use crate::report::memorise::write_run_dir;

//! The memorisation study as a library call: train on nested subsets of growing size n, measure f_mem of the
//! learned sampler along training, τ_mem per size and its growth in n; then the run directory.

use crate::data::{DataModel, Dataset};
use crate::error::Result;
use crate::io;
use crate::memorisation::{self, MemorisationCurve, MemorisationParams, TauFit, TauStat};
use crate::progress::Monitor;
use crate::report::{html_report, Plot, Series};
use faer::Par;
use serde::{Deserialize, Serialize};
use std::path::Path;
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
    provenance: String,
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

/// Writes curves.csv, f_mem and tau_mem figures (PNG + SVG), summary.json and index.html.
pub fn write_run_dir(r: &MemoriseReport, out: &Path) -> Result<()> {
    let (curves, stats, p) = (&r.curves, &r.stats, &r.params);
    let slope = r.fit.as_ref().map(|f| (f.slope, f.points));
    io::write_run_dir(out, |dir| {
        let mut cols: [Vec<f64>; 5] = Default::default();
        for c in curves {
            for i in 0..c.steps.len() {
                cols[0].push(c.n as f64);
                cols[1].push(c.replicate as f64);
                cols[2].push(c.steps[i] as f64);
                cols[3].push(c.f_mem[i]);
                cols[4].push(c.loss[i]);
            }
        }
        io::write_csv(
            &dir.join("curves.csv"),
            &["n", "replicate", "step", "f_mem", "loss"],
            &[&cols[0], &cols[1], &cols[2], &cols[3], &cols[4]],
        )?;
        Plot {
            title: "Memorisation: fraction of samples copying a training point".into(),
            x_label: "training step".into(),
            y_label: "f_mem (d₁ < d₂/3)".into(),
            series: curves
                .iter()
                .filter(|c| c.replicate == 0)
                .map(|c| Series {
                    name: format!("n = {}", c.n),
                    x: c.steps.iter().map(|&s| s as f64).collect(),
                    y: c.f_mem.clone(),
                    band: None,
                    markers: true,
                })
                .collect(),
            hlines: vec![(p.level, format!("level {} defining τ_mem", p.level))],
            y_range: Some((0.0, 1.0)),
            ..Plot::default()
        }
        .render(&dir.join("f_mem"))?;
        let mem: Vec<_> = stats.iter().filter(|s| s.mean.is_some()).collect();
        let ci = |k: usize| -> Vec<f64> {
            mem.iter()
                .map(|s| {
                    s.ci.map_or(
                        s.mean.unwrap_or(f64::NAN),
                        |c| if k == 0 { c.0 } else { c.1 },
                    )
                })
                .collect()
        };
        let mut series = vec![Series {
            name: format!("measured τ_mem (mean over {} seeds, 95% CI)", p.seeds),
            x: mem.iter().map(|s| s.n as f64).collect(),
            y: mem.iter().map(|s| s.mean.unwrap_or(f64::NAN)).collect(),
            band: (p.seeds > 1).then(|| (ci(0), ci(1))),
            markers: true,
        }];
        if let Some((s, _)) = slope {
            let nmax = p.n.iter().copied().max().unwrap_or(1) as f64;
            series.push(Series {
                name: format!("τ = {s:.1} n (least squares through 0)"),
                x: vec![0.0, nmax],
                y: vec![0.0, s * nmax],
                band: None,
                markers: false,
            });
        }
        Plot {
            title: "Memorisation time against training-set size".into(),
            x_label: "n".into(),
            y_label: "τ_mem (steps)".into(),
            series,
            ..Plot::default()
        }
        .render(&dir.join("tau_mem"))?;
        io::write_json_sorted(&dir.join("summary.json"), &r.summary)?;
        let table: Vec<[String; 4]> = stats
            .iter()
            .map(|st| {
                let last: Vec<String> = curves
                    .iter()
                    .filter(|c| c.n == st.n)
                    .map(|c| format!("{:.2}", c.f_mem.last().copied().unwrap_or(f64::NAN)))
                    .collect();
                [
                    format!("n = {}", st.n),
                    slope.map_or("—".into(), |(s, _)| {
                        format!("τ ∝ n: {:.0}", s * st.n as f64)
                    }),
                    match (st.mean, st.ci) {
                        (Some(m), Some((lo, hi))) => format!("τ_mem = {m:.0} [{lo:.0}, {hi:.0}]"),
                        (Some(m), None) => format!("τ_mem = {m:.0}"),
                        _ => "not memorised".into(),
                    },
                    format!(
                        "memorised in {}/{} seeds; final f_mem {}",
                        st.memorised.0,
                        st.memorised.1,
                        last.join(", ")
                    ),
                ]
            })
            .collect();
        io::write_text(
            &dir.join("index.html"),
            &html_report(
                "diffscope memorise",
                &r.provenance,
                &table,
                &[
                    (
                        "f_mem.png".into(),
                        "f_mem against training steps, one curve per n".into(),
                    ),
                    ("tau_mem.png".into(), "memorisation time against n".into()),
                ],
            ),
        )
    })
}

//! The memorisation study's run directory: curves.csv, the f_mem and τ_mem figures (PNG + SVG),
//! summary.json and index.html.

use crate::error::Result;
use crate::experiments::memorise::MemoriseReport;
use crate::io;
use crate::report::{html_report, Plot, Series};
use std::path::Path;

/// Writes curves.csv, f_mem and tau_mem figures (PNG + SVG), summary.json and index.html.
pub fn write_run_dir(r: &MemoriseReport, out: &Path) -> Result<()> {
    io::write_run_dir(out, |dir| {
        write_curves(r, &dir.join("curves.csv"))?;
        f_mem_figure(r).render(&dir.join("f_mem"))?;
        tau_figure(r).render(&dir.join("tau_mem"))?;
        io::write_json_sorted(&dir.join("summary.json"), &r.summary)?;
        io::write_text(
            &dir.join("index.html"),
            &html_report(
                "diffscope memorise",
                &r.provenance,
                &table(r),
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

/// The slope of τ_mem ∝ n (least squares through 0) and the points it was fitted on, if fitted.
fn slope(r: &MemoriseReport) -> Option<(f64, usize)> {
    r.fit.as_ref().map(|f| (f.slope, f.points))
}

/// curves.csv: n, replicate, step, f_mem and loss, one row per evaluated step of every run.
fn write_curves(r: &MemoriseReport, path: &Path) -> Result<()> {
    let mut cols: [Vec<f64>; 5] = Default::default();
    for c in &r.curves {
        for i in 0..c.steps.len() {
            cols[0].push(c.n as f64);
            cols[1].push(c.replicate as f64);
            cols[2].push(c.steps[i] as f64);
            cols[3].push(c.f_mem[i]);
            cols[4].push(c.loss[i]);
        }
    }
    io::write_csv(
        path,
        &["n", "replicate", "step", "f_mem", "loss"],
        &[&cols[0], &cols[1], &cols[2], &cols[3], &cols[4]],
    )
}

/// f_mem against training steps, one curve per n (replicate 0), with the level that defines τ_mem.
fn f_mem_figure(r: &MemoriseReport) -> Plot {
    Plot {
        title: "Memorisation: fraction of samples copying a training point".into(),
        x_label: "training step".into(),
        y_label: "f_mem (d₁ < d₂/3)".into(),
        series: r
            .curves
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
        hlines: vec![(
            r.params.level,
            format!("level {} defining τ_mem", r.params.level),
        )],
        y_range: Some((0.0, 1.0)),
        ..Plot::default()
    }
}

/// τ_mem against n (mean over seeds with its 95 % CI) and the fitted line τ = slope · n.
fn tau_figure(r: &MemoriseReport) -> Plot {
    let p = &r.params;
    let mem: Vec<_> = r.stats.iter().filter(|s| s.mean.is_some()).collect();
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
    if let Some((s, _)) = slope(r) {
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
}

/// index.html's table: per n, the fitted and measured τ_mem and the final f_mem of every seed.
fn table(r: &MemoriseReport) -> Vec<[String; 4]> {
    r.stats
        .iter()
        .map(|st| {
            let last: Vec<String> = r
                .curves
                .iter()
                .filter(|c| c.n == st.n)
                .map(|c| format!("{:.2}", c.f_mem.last().copied().unwrap_or(f64::NAN)))
                .collect();
            [
                format!("n = {}", st.n),
                slope(r).map_or("—".into(), |(s, _)| {
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
        .collect()
}

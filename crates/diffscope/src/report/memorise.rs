//! The memorisation study's run directory: curves.csv, the f_mem and τ_mem figures (PNG + SVG),
//! summary.json and index.html.

use crate::error::Result;
use crate::experiments::memorise::MemoriseReport;
use crate::io;
use crate::report::{html_report, Plot, Series};
use std::path::Path;

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

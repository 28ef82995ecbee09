//! The run directories of the data statistics: spectrum, concentration and universality (tables, figures
//! as [`Plot`]s, summary.json and index.html, each written atomically).

use crate::error::Result;
use crate::experiments::stats::{ConcentrationRun, SpectrumReport, UniversalityReport};
use crate::io;
use crate::report::{html_report, Plot, Series};
use crate::spectrum::{self, MarchenkoPastur};
use std::path::Path;

/// Writes eigenvalues_i.csv, min_nonzero_vs_n_over_d_i.csv, spectrum_i.png/svg, summary.json, index.html.
pub fn write_spectrum(r: &SpectrumReport, out: &Path) -> Result<()> {
    let results = &r.parts;
    io::write_run_dir(out, |dir| {
        let mut figs = Vec::new();
        let mut table = Vec::new();
        for (i, (name, s, mv)) in results.iter().enumerate() {
            io::write_csv(
                &dir.join(format!("eigenvalues_{i}.csv")),
                &["eigenvalue"],
                &[&s.eigenvalues],
            )?;
            let (m, v): (Vec<f64>, Vec<f64>) = mv
                .iter()
                .map(|&(m, v, _)| (m as f64 / s.d as f64, v))
                .unzip();
            io::write_csv(
                &dir.join(format!("min_nonzero_vs_n_over_d_{i}.csv")),
                &["n_over_d", "min_nonzero"],
                &[&m, &v],
            )?;
            spectrum_plot(name, s).render(&dir.join(format!("spectrum_{i}")))?;
            figs.push((
                format!("spectrum_{i}.png"),
                format!("{name}: eigenvalues by rank with the MP reference and the rank bound"),
            ));
            table.push([
                name.clone(),
                format!("rank bound {}", s.rank_bound),
                format!(
                    "numerical rank {}, λ_max {:.4}, λ_min>0 {:.4e}",
                    s.numerical_rank, s.eigenvalues[0], s.min_nonzero
                ),
                format!(
                    "participation ratio {:.2}, entropy rank {:.2}",
                    s.participation_ratio, s.entropy_rank
                ),
            ]);
        }
        io::write_json_sorted(&dir.join("summary.json"), &r.summary)?;
        io::write_text(
            &dir.join("index.html"),
            &html_report("diffscope spectrum", &r.provenance, &table, &figs),
        )
    })
}

fn spectrum_plot(name: &str, s: &spectrum::Spectrum) -> Plot {
    let mp = MarchenkoPastur {
        gamma: s.d as f64 / s.n as f64,
        sigma2: s.eigenvalues.iter().sum::<f64>() / s.d as f64,
    };
    let k = s.eigenvalues.len();
    // Rank-ordered eigenvalues beside the MP quantiles of a Gaussian with the same n/d and mean variance.
    let mp_q: Vec<f64> = (0..k)
        .map(|i| {
            let target = 1.0 - (i as f64 + 0.5) / k as f64;
            let (a, b) = mp.edges();
            let (mut lo, mut hi) = (a.min(0.0), b);
            for _ in 0..60 {
                let m = 0.5 * (lo + hi);
                if mp.cdf(m) < target {
                    lo = m
                } else {
                    hi = m
                }
            }
            0.5 * (lo + hi)
        })
        .collect();
    let idx: Vec<f64> = (1..=k).map(|i| i as f64).collect();
    Plot {
        title: format!(
            "Covariance spectrum: {name} (n = {}, d = {}, rank bound {})",
            s.n, s.d, s.rank_bound
        ),
        x_label: "rank i".into(),
        y_label: "eigenvalue (log scale)".into(),
        series: vec![
            Series {
                name: "data".into(),
                x: idx.clone(),
                y: s.eigenvalues.clone(),
                band: None,
                markers: true,
            },
            Series {
                name: "Marchenko–Pastur (same n/d, same trace)".into(),
                x: idx,
                y: mp_q,
                band: None,
                markers: false,
            },
        ],
        vlines: vec![(s.rank_bound as f64, "rank bound min(n−1, d)".into())],
        log_y: true,
        ..Default::default()
    }
}

/// Writes summary.json, functionals.json, tails.csv, tails.png/svg and index.html.
pub fn write_concentration(rep: &ConcentrationRun, out: &Path) -> Result<()> {
    let r = &rep.result;
    io::write_run_dir(out, |dir| {
        io::write_json_sorted(&dir.join("summary.json"), &rep.summary)?;
        io::write_json(&dir.join("functionals.json"), &r.functionals)?;
        let s = &r.functionals[0].s;
        let worst = r
            .functionals
            .iter()
            .max_by(|x, y| x.v_fit_over_var.total_cmp(&y.v_fit_over_var))
            .unwrap_or(&r.functionals[0]);
        let bound = |v: f64| {
            s.iter()
                .map(|&x| (2.0 * (-x * x / (2.0 * v)).exp()).min(1.0))
                .collect::<Vec<f64>>()
        };
        let norm = &r.functionals[0];
        let mut cols = vec![s.clone()];
        let mut names = vec!["s_over_sd".to_string()];
        for f in &r.functionals {
            names.push(format!("{:?}_{}", f.kind, f.index).to_lowercase());
            cols.push(f.tail.clone());
        }
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let col_refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
        io::write_csv(&dir.join("tails.csv"), &name_refs, &col_refs)?;
        Plot {
            title: format!(
                "Tails of 1-Lipschitz functionals (n = {}, d = {})",
                r.n, r.d
            ),
            x_label: "s / sd(f)".into(),
            y_label: "P(|f − E f| > s) (log scale)".into(),
            series: vec![
                Series {
                    name: "|x|".into(),
                    x: s.clone(),
                    y: norm.tail.clone(),
                    band: None,
                    markers: true,
                },
                Series {
                    name: format!("worst functional ({:?})", worst.kind),
                    x: s.clone(),
                    y: worst.tail.clone(),
                    band: None,
                    markers: true,
                },
                Series {
                    name: "Gaussian bound 2 exp(−s²/2)".into(),
                    x: s.clone(),
                    y: bound(1.0),
                    band: None,
                    markers: false,
                },
                Series {
                    name: format!("fitted bound, v = {:.2}·Var", worst.v_fit_over_var),
                    x: s.clone(),
                    y: bound(worst.v_fit_over_var),
                    band: None,
                    markers: false,
                },
            ],
            // From below the smallest non-zero empirical tail (1/n) to just above 1.
            y_range: Some((0.6 / r.n as f64, 1.26)),
            log_y: true,
            ..Default::default()
        }
        .render(&dir.join("tails"))?;
        let verdict = if r.sub_gaussian {
            "sub-Gaussian (every functional within 1.5 × its variance)"
        } else {
            "NOT sub-Gaussian at proxy 1.5 × variance"
        };
        let table = vec![[
            "worst v / Var f".into(),
            format!("≤ {}", r.threshold),
            format!("{:.3}", r.worst_v_ratio),
            verdict.into(),
        ]];
        io::write_text(
            &dir.join("index.html"),
            &html_report(
                "diffscope concentration",
                &rep.provenance,
                &table,
                &[(
                    "tails.png".into(),
                    "Empirical tails with the Gaussian and fitted sub-Gaussian bounds".into(),
                )],
            ),
        )
    })
}

/// Writes summary.json, curves.json, error_vs_n.csv, per-class errors, error_vs_n.png/svg, index.html.
pub fn write_universality(rep: &UniversalityReport, out: &Path) -> Result<()> {
    let r = &rep.result;
    let ns: Vec<f64> = r.ns.iter().map(|&n| n as f64).collect();
    io::write_run_dir(out, |dir| {
        io::write_json_sorted(&dir.join("summary.json"), &rep.summary)?;
        io::write_json(&dir.join("curves.json"), r)?;
        let lo = |c: &[(f64, f64)]| c.iter().map(|x| x.0).collect::<Vec<f64>>();
        let hi = |c: &[(f64, f64)]| c.iter().map(|x| x.1).collect::<Vec<f64>>();
        io::write_csv(
            &dir.join("error_vs_n.csv"),
            &[
                "n_per_class",
                "err_data",
                "err_data_lo",
                "err_data_hi",
                "err_surrogate",
                "err_surrogate_lo",
                "err_surrogate_hi",
                "err_data_on_surrogate",
                "err_surrogate_on_surrogate",
            ],
            &[
                &ns,
                &r.err_data,
                &lo(&r.ci_data),
                &hi(&r.ci_data),
                &r.err_surrogate,
                &lo(&r.ci_surrogate),
                &hi(&r.ci_surrogate),
                &r.err_data_on_surrogate,
                &r.err_surrogate_on_surrogate,
            ],
        )?;
        let k = rep.class_names.len();
        for (tag, m) in [
            ("data", &r.per_class_data),
            ("surrogate", &r.per_class_surrogate),
        ] {
            let cols: Vec<Vec<f64>> = (0..k)
                .map(|c| m.iter().map(|row| row[c]).collect())
                .collect();
            let mut names = vec!["n_per_class".to_string()];
            names.extend(rep.class_names.iter().map(|c| format!("class_{c}")));
            let mut all = vec![ns.clone()];
            all.extend(cols);
            let nr: Vec<&str> = names.iter().map(String::as_str).collect();
            let cr: Vec<&[f64]> = all.iter().map(|c| &c[..]).collect();
            io::write_csv(&dir.join(format!("per_class_error_{tag}.csv")), &nr, &cr)?;
        }
        Plot {
            title: format!(
                "Test error on real data vs n per class ({})",
                rep.classifier
            ),
            x_label: "training samples per class".into(),
            y_label: "test error".into(),
            series: vec![
                Series {
                    name: "trained on data (95% CI over seeds)".into(),
                    x: ns.clone(),
                    y: r.err_data.clone(),
                    band: Some((lo(&r.ci_data), hi(&r.ci_data))),
                    markers: true,
                },
                Series {
                    name: "trained on Gaussian surrogate".into(),
                    x: ns.clone(),
                    y: r.err_surrogate.clone(),
                    band: Some((lo(&r.ci_surrogate), hi(&r.ci_surrogate))),
                    markers: true,
                },
            ],
            ..Default::default()
        }
        .render(&dir.join("error_vs_n"))?;
        let table: Vec<[String; 4]> =
            r.ns.iter()
                .enumerate()
                .map(|(i, n)| {
                    [
                        format!("n = {n} per class"),
                        format!(
                            "surrogate {:.3} [{:.3}, {:.3}]",
                            r.err_surrogate[i], r.ci_surrogate[i].0, r.ci_surrogate[i].1
                        ),
                        format!(
                            "data {:.3} [{:.3}, {:.3}]",
                            r.err_data[i], r.ci_data[i].0, r.ci_data[i].1
                        ),
                        format!(
                            "cross: data→surrogate test {:.3}, surrogate→surrogate {:.3}",
                            r.err_data_on_surrogate[i], r.err_surrogate_on_surrogate[i]
                        ),
                    ]
                })
                .collect();
        let verdict = if r.agree {
            "the two curves agree within their 95% CIs at every n"
        } else {
            "the curves do NOT agree within their 95% CIs at every n"
        };
        io::write_text(
            &dir.join("index.html"),
            &html_report(
                "diffscope universality",
                &format!("{} — {verdict}.", rep.provenance),
                &table,
                &[(
                    "error_vs_n.png".into(),
                    "Test error vs n per class, data vs surrogate".into(),
                )],
            ),
        )
    })
}

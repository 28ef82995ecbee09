//! The regimes experiment's run directory and a sweep's tables: config.toml, summary.json, curves
//! (JSON, CSV, .npy), the figures (PNG + SVG, described as [`Plot`]s) and index.html, written atomically
//! from a [`RegimesReport`]; the β and d sweeps' tables, figures and index.html from their summaries.

use crate::data::DataModel;
use crate::error::{Error, Result};
use crate::experiments::regimes::{fmt, fmt_ci, RegimesConfig, RegimesReport, RegimesSummary};
use crate::io::{self, NpyArray};
use crate::regimes;
use crate::report::{html_report, Plot, Series};
use crate::theory::manifold::ManifoldTheory;
use std::path::Path;

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
    let mut figures = vec![write_speciation(dir, r, t_s, t_c)?];
    if let Some(lc) = &r.last_change {
        figures.push(write_last_change(dir, lc, s, t_c)?);
    }
    if let (Some(e), Some(se)) = (&r.entropy, &r.entropy_se) {
        figures.push(write_entropy(
            dir,
            &r.entropy_t,
            e,
            se,
            entropy_theory,
            t_c,
        )?);
    }
    if let Some(p) = &r.posterior {
        figures.push(write_posterior(dir, p, Some(s.n as f64), t_c)?);
    }
    figures.push(write_commitment(dir, r, t_s)?);
    figures.extend(extra_figures);
    let intro = format!("{} — n = {}, d = {}, α = {:.4}, seed {}, diffscope {}. Times are OU times (x_t = e^(-t) x_0 + sqrt(1 - e^(-2t)) z).", s.data, s.n, s.d, alpha, s.seed, crate::VERSION);
    io::write_text(
        &dir.join("index.html"),
        &html_report("diffscope regimes", &intro, &s.table_rows(), &figures),
    )
}

/// A figure's file name and caption for index.html.
type Figure = (String, String);

/// speciation.csv and the figure of φ, φ_C and the theory curve against the branch time.
fn write_speciation(
    dir: &Path,
    r: &regimes::RegimesResult,
    t_s: f64,
    t_c: Option<f64>,
) -> Result<Figure> {
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
    Ok((
        "speciation.png".to_string(),
        "φ(t_b) and φ_C(t_b) with 95% bootstrap bands, theory curve, t_S and t_C marked"
            .to_string(),
    ))
}

/// last_change.npy and the histogram of the per-trajectory last change t̂_C.
fn write_last_change(
    dir: &Path,
    lc: &[f64],
    s: &RegimesSummary,
    t_c: Option<f64>,
) -> Result<Figure> {
    io::write_npy(&dir.join("last_change.npy"), &NpyArray::f64_1d(lc.to_vec()))?;
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
        histogram: Some((lc.to_vec(), 30)),
        vlines: v,
        ..Default::default()
    }
    .render(&dir.join("last_change"))?;
    Ok((
        "last_change.png".into(),
        "Histogram of t̂_C with the analytic t_C".into(),
    ))
}

/// entropy.csv and the figure of the measured excess entropy f^e/α beside the theory curve.
fn write_entropy(
    dir: &Path,
    t: &[f64],
    e: &[f64],
    se: &[f64],
    entropy_theory: Option<&[f64]>,
    t_c: Option<f64>,
) -> Result<Figure> {
    let band = |k: f64| {
        e.iter()
            .zip(se)
            .map(|(f, s)| f + k * s)
            .collect::<Vec<f64>>()
    };
    let mut cols = vec![t.to_vec(), e.to_vec(), se.to_vec()];
    let mut series = vec![Series {
        name: "f^e/α measured (forward samples, ±1.96 SE)".into(),
        x: t.to_vec(),
        y: e.to_vec(),
        band: Some((band(-1.96), band(1.96))),
        markers: true,
    }];
    if let Some(th) = entropy_theory {
        let th = th.to_vec();
        series.push(Series {
            name: "f/α theory".into(),
            x: t.to_vec(),
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
    Ok((
        "entropy.png".into(),
        "Excess entropy f^e/α from forward samples (band: ±1.96 standard errors), with the theory curve".into(),
    ))
}

/// commitment.csv and the figure of the trunk's agreement with its final class along t.
fn write_commitment(dir: &Path, r: &regimes::RegimesResult, t_s: f64) -> Result<Figure> {
    io::write_csv(
        &dir.join("commitment.csv"),
        &["t", "p_same_class"],
        &[&r.commit_t, &r.commit_p],
    )?;
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
    Ok((
        "commitment.png".into(),
        "Probability that the class at time t equals the final class".into(),
    ))
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

/// A sweep table's named columns, one value per run: written as a CSV and read back by name for figures.
struct Columns(Vec<(String, Vec<f64>)>);

impl Columns {
    /// The column `name` (empty if there is none).
    fn get(&self, name: &str) -> Vec<f64> {
        self.0
            .iter()
            .find(|c| c.0 == name)
            .map(|c| c.1.clone())
            .unwrap_or_default()
    }

    /// A line of the column `key` against the column `x`, labelled `label`.
    fn line(&self, x: &str, key: &str, label: &str, markers: bool) -> Series {
        Series {
            name: label.into(),
            x: self.get(x),
            y: self.get(key),
            band: None,
            markers,
        }
    }

    fn write_csv(&self, path: &Path) -> Result<()> {
        let names: Vec<&str> = self.0.iter().map(|c| c.0.as_str()).collect();
        let refs: Vec<&[f64]> = self.0.iter().map(|c| &c.1[..]).collect();
        io::write_csv(path, &names, &refs)
    }
}

/// The β sweep's sweep.csv, figures of measured t_S and t_C vs β beside the theory curves, and index.html.
pub(crate) fn assemble_beta(
    cfg: &RegimesConfig,
    betas: &[f64],
    rows: &[RegimesSummary],
    out: &Path,
) -> Result<()> {
    let Some(DataModel::Manifold(spec)) = &cfg.model else {
        return Err(Error::param("sweep_beta", "", "the manifold model"));
    };
    let cols = beta_columns(betas, rows);
    cols.write_csv(&out.join("sweep.csv"))?;
    let tail = format!("{:?}, d = {}, n = {}", spec.activation, spec.d, cfg.n).to_lowercase();
    for (plot, name) in beta_figures(&cols, &tail) {
        plot.render(&out.join(name))?;
    }
    let figs = [
        ("t_s_vs_beta.png".to_string(), "t_S vs β".to_string()),
        ("t_c_vs_beta.png".into(), "t_C vs β".into()),
    ];
    io::write_text(
        &out.join("index.html"),
        &html_report(
            "diffscope regimes: β sweep",
            &format!("Hidden-manifold mixture {tail}; one run directory per β beside this page."),
            &beta_table(betas, rows),
            &figs,
        ),
    )
}

/// sweep.csv of a β sweep: β, the measured and theoretical t_S and t_C of each run, and f_mem.
fn beta_columns(betas: &[f64], rows: &[RegimesSummary]) -> Columns {
    let get = |f: &dyn Fn(&RegimesSummary) -> Option<f64>| {
        rows.iter()
            .map(|r| f(r).unwrap_or(f64::NAN))
            .collect::<Vec<f64>>()
    };
    let variant = |f: fn(&ManifoldTheory) -> Option<f64>| get(&|r| Some(r.variant(f)));
    let cols: Vec<(&str, Vec<f64>)> = vec![
        ("beta", betas.to_vec()),
        ("t_s_measured", get(&|r| r.t_s.measured)),
        ("t_s_theory", get(&|r| Some(r.t_s.theory))),
        ("t_s_printed", variant(|v| Some(v.t_s_printed))),
        (
            "t_s_data_lambda",
            get(&|r| Some(r.t_s.theory_from_data_lambda)),
        ),
        ("t_c_phi_c_half", get(&|r| r.t_c.phi_c_half)),
        ("t_c_mean_last_change", get(&|r| r.t_c.mean_last_change)),
        ("t_c_entropy_zero", get(&|r| r.t_c.entropy_zero)),
        ("t_c_glm", variant(|v| v.t_c_glm)),
        ("t_c_glm_centres", variant(|v| v.t_c_glm_centres)),
        ("t_c_linear", variant(|v| v.t_c_linear)),
        ("t_c_linear_mp", variant(|v| v.t_c_linear_mp)),
        ("f_mem", get(&|r| r.f_mem)),
    ];
    Columns(cols.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

/// The β sweep's two figures (t_S and t_C vs β, measured beside theory) and their file stems.
fn beta_figures(cols: &Columns, tail: &str) -> [(Plot, &'static str); 2] {
    let series = |items: &[(&str, &str, bool)]| -> Vec<Series> {
        items
            .iter()
            .map(|&(key, label, markers)| cols.line("beta", key, label, markers))
            .collect()
    };
    let t_s = Plot {
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
    };
    let t_c = Plot {
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
    };
    [(t_s, "t_s_vs_beta"), (t_c, "t_c_vs_beta")]
}

/// index.html's table of a β sweep: t_S and t_C per β, theory beside measured.
fn beta_table(betas: &[f64], rows: &[RegimesSummary]) -> Vec<[String; 4]> {
    rows.iter()
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
        .collect()
}

/// The d sweep's sweep_d.csv, the figure of the measured t_S with its CI vs d beside ½ log Λ of the data
/// and the theory (and the printed form for the manifold model), and index.html; returns the table.
pub(crate) fn assemble_d(
    cfg: &RegimesConfig,
    dims: &[usize],
    rows: &[RegimesSummary],
    out: &Path,
) -> Result<Vec<[String; 4]>> {
    let cols = d_columns(dims, rows);
    cols.write_csv(&out.join("sweep_d.csv"))?;
    d_figure(cfg, &cols).render(&out.join("t_s_vs_d"))?;
    let table = d_table(dims, rows);
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

/// The φ at t = 2.5, 3.0, …, 5.0 that a d sweep tabulates (index k).
fn phi_at(v: &[Option<f64>], k: usize) -> Option<f64> {
    v.get(k).copied().flatten()
}

/// sweep_d.csv of a d sweep: d, the measured t_S with its CI beside the theory forms, f_mem, wall time,
/// and φ at t = 2.5 … 5.0 with its CI and theory.
fn d_columns(dims: &[usize], rows: &[RegimesSummary]) -> Columns {
    let num = |v: Option<f64>| v.unwrap_or(f64::NAN);
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
        cols.push((
            format!("phi_t{t}"),
            get(&|r| num(phi_at(&r.phi_at_t.phi, k))),
        ));
        cols.push((
            format!("phi_t{t}_lo"),
            get(&|r| num(phi_at(&r.phi_at_t.lo, k))),
        ));
        cols.push((
            format!("phi_t{t}_hi"),
            get(&|r| num(phi_at(&r.phi_at_t.hi, k))),
        ));
        cols.push((
            format!("phi_t{t}_theory"),
            get(&|r| num(r.phi_at_t.theory.as_deref().and_then(|th| phi_at(th, k)))),
        ));
    }
    Columns(cols)
}

/// The d sweep's figure: the measured t_S with its CI vs d beside the theory forms.
fn d_figure(cfg: &RegimesConfig, cols: &Columns) -> Plot {
    let mut series = vec![
        Series {
            name: "measured (φ = 0.775, 95% CI)".into(),
            x: cols.get("d"),
            y: cols.get("t_s_measured"),
            band: Some((cols.get("t_s_ci_lo"), cols.get("t_s_ci_hi"))),
            markers: true,
        },
        cols.line("d", "t_s_data_lambda", "½ log Λ of the data", false),
        cols.line("d", "t_s_theory", "theory ½ log Λ (v∞ = 1)", false),
    ];
    if matches!(cfg.model, Some(DataModel::Manifold(_))) {
        series.push(cols.line("d", "t_s_printed", "paper's printed form (v∞ = ½)", false));
        series.push(cols.line("d", "t_s_total_var", "GE with ϱ at κ(1 + ‖μ̃‖²)", false));
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
}

/// index.html's table of a d sweep (also what the CLI prints): t_S per d, theory beside measured.
fn d_table(dims: &[usize], rows: &[RegimesSummary]) -> Vec<[String; 4]> {
    rows.iter()
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
                        .map(|k| fmt(phi_at(&r.phi_at_t.phi, k)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ]
        })
        .collect()
}

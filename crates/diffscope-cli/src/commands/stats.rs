//! `diffscope spectrum` and `diffscope concentration`: spectra and tails of a data set, a data model, or
//! samples written by `diffscope sample`.

use crate::commands::data::TwoClassArgs;
use crate::ui::Ctx;
use anyhow::Result;
use clap::Args;
use diffscope::concentration;
use diffscope::data::{self, Dataset, LoadOptions};
use diffscope::io;
use diffscope::report::{html_report, Plot, Series};
use diffscope::spectrum::{self, MarchenkoPastur};
use serde_json::json;
use std::path::PathBuf;

/// Where the samples come from.
#[derive(Args, Debug)]
pub struct SourceArgs {
    /// Data file (CSV, .npy, .npz — e.g. the output of `diffscope sample` — or a class folder).
    /// Without it, --n samples of the two-class GMM (or of --student-t) are drawn.
    pub file: Option<PathBuf>,
    /// CSV label column of FILE.
    #[arg(long, allow_hyphen_values = true)]
    pub label_col: Option<i64>,
    /// Keep only these classes of FILE.
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Centre FILE per feature.
    #[arg(long)]
    pub centre: bool,
    /// Draw from a multivariate Student-t with this many degrees of freedom (heavy tails) instead of the GMM.
    #[arg(long, allow_hyphen_values = true)]
    pub student_t: Option<f64>,
    #[command(flatten)]
    pub two_class: TwoClassArgs,
    /// Samples drawn from a model.
    #[arg(long, default_value_t = 5000)]
    pub n: usize,
}

impl SourceArgs {
    fn load(&self, seed: u64) -> Result<Dataset> {
        Ok(match (&self.file, self.student_t) {
            (Some(f), _) => data::load(
                f,
                &LoadOptions {
                    label_col: self.label_col,
                    header: None,
                    classes: self.classes.clone(),
                    centre: self.centre,
                },
            )?,
            (None, Some(nu)) => concentration::student_t(self.n, self.two_class.d, nu, seed)?,
            (None, None) => self.two_class.model().sample(self.n, seed)?,
        })
    }
}

#[derive(Args, Debug)]
pub struct SpectrumArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Also the spectrum of each class separately (labelled data).
    #[arg(long)]
    pub per_class: bool,
    /// Output run directory.
    #[arg(long, short, default_value = "runs/spectrum")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct ConcentrationArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Random functionals of each kind (projection, |projection|, distance to a point).
    #[arg(long, default_value_t = 16)]
    pub functionals: usize,
    /// Output run directory.
    #[arg(long, short, default_value = "runs/concentration")]
    pub out: PathBuf,
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

pub fn run_spectrum(a: SpectrumArgs, ctx: &Ctx) -> Result<()> {
    let ds = a.source.load(ctx.seed)?;
    let mut parts = vec![("all".to_string(), ds.clone())];
    if a.per_class {
        for c in &ds.class_names {
            parts.push((
                format!("class {c}"),
                ds.select_classes(std::slice::from_ref(c))?,
            ));
        }
    }
    let mut results = Vec::new();
    for (name, part) in &parts {
        let s = spectrum::covariance_spectrum(part)?;
        let ms: Vec<usize> = (1..=10).map(|i| (part.n * i / 10).max(2)).collect();
        let min_vs_n = spectrum::min_nonzero_vs_n(part, &ms)?;
        results.push((name.clone(), s, min_vs_n));
    }
    io::write_run_dir(&a.out, |dir| {
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
        let summary = json!({
            "data": ds.provenance, "n": ds.n, "d": ds.d, "seed": ctx.seed, "version": diffscope::VERSION,
            "spectra": results.iter().map(|(name, s, mv)| json!({"name": name, "rank_bound": s.rank_bound, "numerical_rank": s.numerical_rank, "top": s.eigenvalues[0], "min_nonzero": s.min_nonzero, "participation_ratio": s.participation_ratio, "entropy_rank": s.entropy_rank, "min_nonzero_vs_n": mv})).collect::<Vec<_>>(),
        });
        io::write_json(&dir.join("summary.json"), &summary)?;
        io::write_text(
            &dir.join("index.html"),
            &html_report("diffscope spectrum", &ds.provenance, &table, &figs),
        )
    })?;
    for (name, s, _) in &results {
        println!("{name:>10}: n = {}, d = {}, rank bound {}, numerical rank {}, λ_max {:.4}, λ_min>0 {:.4e}, participation ratio {:.2}", s.n, s.d, s.rank_bound, s.numerical_rank, s.eigenvalues[0], s.min_nonzero, s.participation_ratio);
    }
    println!("run directory: {}", a.out.display());
    Ok(())
}

pub fn run_concentration(a: ConcentrationArgs, ctx: &Ctx) -> Result<()> {
    let ds = a.source.load(ctx.seed)?;
    let r = concentration::concentration(&ds, a.functionals, ctx.seed)?;
    io::write_run_dir(&a.out, |dir| {
        io::write_json(
            &dir.join("summary.json"),
            &json!({
                "data": ds.provenance, "n": r.n, "d": r.d, "seed": ctx.seed, "version": diffscope::VERSION,
                "sub_gaussian": r.sub_gaussian, "worst_v_over_var": r.worst_v_ratio, "threshold": r.threshold,
            }),
        )?;
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
                &ds.provenance,
                &table,
                &[(
                    "tails.png".into(),
                    "Empirical tails with the Gaussian and fitted sub-Gaussian bounds".into(),
                )],
            ),
        )
    })?;
    println!(
        "{}: worst fitted proxy variance / variance = {:.3} over {} functionals → {}",
        ds.provenance,
        r.worst_v_ratio,
        r.functionals.len(),
        if r.sub_gaussian {
            "sub-Gaussian"
        } else {
            "not sub-Gaussian"
        }
    );
    println!("run directory: {}", a.out.display());
    Ok(())
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ClassifierArg {
    /// Closed-form ridge on one-hot targets.
    Ridge,
    /// Softmax + cross-entropy, SGD with cosine warm restarts, early stopping on validation.
    SoftmaxCe,
    /// Softmax + square loss (the reference repository's final recipe), same training.
    SoftmaxSquare,
    /// Softmax + cross-entropy, deterministic full-batch L-BFGS, early stopping on validation.
    SoftmaxCeLbfgs,
    /// Softmax + square loss, deterministic full-batch L-BFGS.
    SoftmaxSquareLbfgs,
}

#[derive(Args, Debug)]
pub struct UniversalityArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Classifier.
    #[arg(long, value_enum, default_value = "ridge")]
    pub classifier: ClassifierArg,
    /// Ridge λ (standardised inputs).
    #[arg(long, default_value_t = 1e-2)]
    pub lambda: f64,
    /// Training samples per class (80 % train, 20 % validation).
    #[arg(long, value_delimiter = ',', default_value = "10,20,40,80")]
    pub ns: Vec<usize>,
    /// Repetitions per n.
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Output run directory.
    #[arg(long, short, default_value = "runs/universality")]
    pub out: PathBuf,
}

pub fn run_universality(a: UniversalityArgs, ctx: &Ctx) -> Result<()> {
    use diffscope::universality::{self, Classifier, SgdParams, UniversalityParams};
    let ds = a.source.load(ctx.seed)?;
    let classifier = match a.classifier {
        ClassifierArg::Ridge => Classifier::Ridge { lambda: a.lambda },
        ClassifierArg::SoftmaxCe => Classifier::SoftmaxCe(SgdParams::default()),
        ClassifierArg::SoftmaxSquare => Classifier::SoftmaxSquare(SgdParams::default()),
        ClassifierArg::SoftmaxCeLbfgs => Classifier::SoftmaxCeLbfgs(Default::default()),
        ClassifierArg::SoftmaxSquareLbfgs => Classifier::SoftmaxSquareLbfgs(Default::default()),
    };
    let p = UniversalityParams {
        ns: a.ns.clone(),
        seeds: a.seeds,
        classifier,
        ..Default::default()
    };
    let bar = ctx.bar((p.ns.len() * p.seeds) as u64, "universality");
    let r = universality::universality(&ds, &p, ctx.seed, &ctx.monitor(&bar))?;
    bar.finish_and_clear();
    let ns: Vec<f64> = r.ns.iter().map(|&n| n as f64).collect();
    io::write_run_dir(&a.out, |dir| {
        io::write_json(
            &dir.join("summary.json"),
            &json!({
                "data": ds.provenance, "n": ds.n, "d": ds.d, "seed": ctx.seed, "version": diffscope::VERSION,
                "params": p, "agree_within_ci": r.agree, "surrogate": r.surrogate,
            }),
        )?;
        io::write_json(&dir.join("curves.json"), &r)?;
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
        let k = ds.class_names.len();
        for (tag, m) in [
            ("data", &r.per_class_data),
            ("surrogate", &r.per_class_surrogate),
        ] {
            let cols: Vec<Vec<f64>> = (0..k)
                .map(|c| m.iter().map(|row| row[c]).collect())
                .collect();
            let mut names = vec!["n_per_class".to_string()];
            names.extend(ds.class_names.iter().map(|c| format!("class_{c}")));
            let mut all = vec![ns.clone()];
            all.extend(cols);
            let nr: Vec<&str> = names.iter().map(String::as_str).collect();
            let cr: Vec<&[f64]> = all.iter().map(|c| &c[..]).collect();
            io::write_csv(&dir.join(format!("per_class_error_{tag}.csv")), &nr, &cr)?;
        }
        Plot {
            title: format!(
                "Test error on real data vs n per class ({:?})",
                a.classifier
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
                &format!("{} — {verdict}.", ds.provenance),
                &table,
                &[(
                    "error_vs_n.png".into(),
                    "Test error vs n per class, data vs surrogate".into(),
                )],
            ),
        )
    })?;
    for (i, n) in r.ns.iter().enumerate() {
        println!(
            "n = {n:>4}/class: data {:.3} [{:.3}, {:.3}]  surrogate {:.3} [{:.3}, {:.3}]",
            r.err_data[i],
            r.ci_data[i].0,
            r.ci_data[i].1,
            r.err_surrogate[i],
            r.ci_surrogate[i].0,
            r.ci_surrogate[i].1
        );
    }
    println!(
        "verdict: {}",
        if r.agree {
            "agree within CIs"
        } else {
            "disagree"
        }
    );
    println!("run directory: {}", a.out.display());
    Ok(())
}

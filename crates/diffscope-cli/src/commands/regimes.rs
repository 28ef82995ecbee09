//! `diffscope regimes`: the main job. Speciation and collapse measured by cloning, beside the theory,
//! written to a run directory with summary.json, curves (CSV, .npy), figures (PNG, SVG) and index.html.

use crate::commands::data::DataFlags;
use crate::ui::Ctx;
use anyhow::Result;
use clap::Args;
use diffscope::data::{
    self, Activation, DataModel, Embedding, LoadOptions, ManifoldSpec, TwoClassGmm,
};
use diffscope::io::{self, NpyArray};
use diffscope::regimes::{self, RegimesInput, RegimesParams, ScoreChoice};
use diffscope::report::{html_report, Plot, Series};
use diffscope::theory::{self, manifold};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A data file for the regimes run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataFileSpec {
    pub path: PathBuf,
    #[serde(default)]
    pub label_col: Option<i64>,
    #[serde(default)]
    pub classes: Option<Vec<String>>,
    /// Centre per feature (default true: science.md §3).
    #[serde(default = "yes")]
    pub centre: bool,
}

fn yes() -> bool {
    true
}

/// The resolved configuration of a run (what `config.toml` in the run directory holds).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegimesConfig {
    pub seed: u64,
    /// Training-set size drawn from the model (ignored with a data file).
    pub n: usize,
    #[serde(default)]
    pub model: Option<DataModel>,
    #[serde(default)]
    pub data: Option<DataFileSpec>,
    #[serde(default)]
    pub params: RegimesParams,
}

#[derive(Args, Debug)]
pub struct RegimesArgs {
    /// A TOML run description (keys: seed, n, model = {kind = "two-class", d = ...} or data = {path,
    /// label_col, classes, centre}, params = {batch, pairs, branch_every, steps, t_max, t_min, score, ...}).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Real data instead of the model (nearest-centroid class rule; centred per feature).
    #[command(flatten)]
    pub data: DataFlags,
    /// Dimension of the default two-class GMM.
    #[arg(long)]
    pub d: Option<usize>,
    /// Training points drawn from the model.
    #[arg(long)]
    pub n: Option<usize>,
    /// Score: empirical (exact, N points) or gmm (population score of the model).
    /// `gmm-projected`: the two-class population score simulated exactly on the projection onto m (O(B)
    /// per step at any d).
    #[arg(long, value_parser = ["empirical", "gmm", "gmm-projected"])]
    pub score: Option<String>,
    /// Trunk trajectories.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Clone pairs per branch time.
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Run on the hidden-manifold mixture with this activation (linear, tanh, relu, sign, erf, erf-sqrt2).
    #[arg(long)]
    pub manifold: Option<String>,
    /// Latent fraction β of --manifold.
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub beta: f64,
    /// The end points' last step: `denoise` (Tweedie at t_min; the default) or `none`.
    #[arg(long, value_enum)]
    pub final_step: Option<crate::commands::sample::FinalStepArg>,
    /// Sweep: one run per β (manifold model), then t_S and t_C vs β beside the theory curves.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub sweep_beta: Option<Vec<f64>>,
    /// Sweep: one run per ambient dimension d at fixed β and n (two-class or manifold model), then the
    /// measured t_S with CIs beside ½ log Λ of the data and the theory, in a table and a figure. With
    /// `--score gmm-projected` this is Biroli et al.'s speciation table (φ at t = 2.5 … 5.0 included).
    #[arg(long, value_delimiter = ',')]
    pub sweep_d: Option<Vec<usize>>,
    /// Output run directory (replaced atomically when the run finishes).
    #[arg(long, short, default_value = "runs/regimes")]
    pub out: PathBuf,
}

fn resolve(a: &RegimesArgs, seed: u64) -> Result<RegimesConfig> {
    let mut cfg = match &a.config {
        Some(path) => crate::ui::read_toml::<RegimesConfig>(path)?,
        None => RegimesConfig {
            seed,
            n: 10_000,
            model: Some(DataModel::TwoClass(TwoClassGmm::standard(100))),
            data: None,
            params: RegimesParams::default(),
        },
    };
    if let Some(f) = a.data.file_args(true) {
        cfg.data = Some(DataFileSpec {
            path: f.file,
            label_col: f.label_col,
            classes: f.classes,
            centre: f.centre,
        });
        cfg.model = None;
    }
    if let Some(name) = &a.manifold {
        cfg.model = Some(DataModel::Manifold(ManifoldSpec {
            d: a.d.unwrap_or(100),
            beta: a.beta,
            activation: Activation::parse(name)?,
            mu2: 1.0,
            kappa: None,
            embedding: Embedding::Gaussian,
        }));
        cfg.data = None;
    }
    match (a.d, cfg.model.as_mut()) {
        (Some(d), Some(DataModel::TwoClass(m))) => m.d = d,
        (Some(d), Some(DataModel::Manifold(m))) => m.d = d,
        _ => {}
    }
    if let Some(n) = a.n {
        cfg.n = n;
    }
    if let Some(f) = a.final_step {
        cfg.params.final_step = f.into();
    }
    if let Some(s) = &a.score {
        cfg.params.score = match s.as_str() {
            "gmm" => ScoreChoice::Gmm,
            "gmm-projected" => ScoreChoice::GmmProjected,
            _ => ScoreChoice::Empirical,
        };
    }
    if let Some(b) = a.batch {
        cfg.params.batch = b;
    }
    if let Some(p) = a.pairs {
        cfg.params.pairs = p;
    }
    if cfg.model.is_none() && cfg.data.is_none() {
        anyhow::bail!(crate::ui::UsageError(
            "the run needs a model or a data file".into()
        ));
    }
    Ok(cfg)
}

pub fn run(a: RegimesArgs, ctx: &Ctx) -> Result<()> {
    let cfg = resolve(&a, ctx.seed)?;
    if let Some(ds) = &a.sweep_d {
        return sweep_d(&cfg, ds, &a.out, ctx);
    }
    match &a.sweep_beta {
        None => {
            let summary = run_one(&cfg, &a.out, ctx)?;
            print_table(&summary);
            println!("run directory: {}", a.out.display());
            Ok(())
        }
        Some(betas) => sweep(&cfg, betas, &a.out, ctx),
    }
}

/// Runs one configuration and writes its run directory (atomically: built beside `out`, then renamed).
fn run_one(cfg: &RegimesConfig, out: &Path, ctx: &Ctx) -> Result<serde_json::Value> {
    let t0 = Instant::now();
    let (ds, centroids) = match (&cfg.data, &cfg.model) {
        (Some(spec), _) => {
            let opts = LoadOptions {
                label_col: spec.label_col,
                header: None,
                classes: spec.classes.clone(),
                centre: spec.centre,
            };
            let ds = data::load(&spec.path, &opts)?;
            let c = regimes::class_centroids(&ds)?;
            (ds, c)
        }
        (None, Some(model)) => (
            model.sample(cfg.n, cfg.seed)?,
            model.class_centres(cfg.seed)?,
        ),
        (None, None) => unreachable!("resolve() checks"),
    };
    let t_data = t0.elapsed().as_secs_f64();
    let (n, d) = (ds.n, ds.d);
    let alpha = (n as f64).ln() / d as f64;
    ctx.note(format!(
        "regimes: {} (n = {n}, d = {d}, α = {alpha:.4}), score {:?}",
        ds.provenance, cfg.params.score
    ));
    let bar = ctx.bar(
        (cfg.params.steps + cfg.params.entropy_times) as u64,
        "regimes",
    );
    let input = RegimesInput {
        data: &ds,
        model: cfg.model.as_ref(),
        centroids,
        seed: cfg.seed,
    };
    let t1 = Instant::now();
    let r = regimes::run(&input, &cfg.params, &ctx.monitor(&bar))?;
    bar.finish_and_clear();
    let t_run = t1.elapsed().as_secs_f64();

    // Theory.
    let lambda = ds.top_covariance_eigenvalue()?;
    let t_s_data = theory::t_speciation(lambda, theory::V_INF)?;
    let mut variants = serde_json::Value::Null;
    let (t_s_theory, t_c_theory, entropy_theory) = match &cfg.model {
        Some(DataModel::TwoClass(m)) => {
            let l = m.d as f64 * m.mu_tilde.powi(2) + m.sigma.powi(2);
            let s2 = m.sigma.powi(2);
            let curve: Vec<f64> = r
                .entropy_t
                .iter()
                .map(|&t| theory::excess_entropy_gmm(t, alpha, s2))
                .collect();
            (
                theory::t_speciation(l, 1.0)?,
                Some(theory::t_collapse_gmm(n, m.d, s2)?),
                Some(curve),
            )
        }
        Some(DataModel::Manifold(spec)) => {
            ctx.note("manifold theory (GLM replica-symmetric, with and without latent centres)...");
            let th = manifold::manifold_theory(spec, alpha, true)?;
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
            variants = serde_json::to_value(&th)?;
            (th.t_s, th.t_c_glm, Some(curve))
        }
        _ => (t_s_data, None, None),
    };
    let lc = r
        .last_change
        .as_ref()
        .map(|v| regimes::observables::mean_sd_median(v));
    // f^e/α is ≈ 0 below t_C and rises to 1 at large t: the library scans from T downwards for the first
    // time it reaches 0 (resp. 0.05), with a 95 % interval from the standard-error bands.
    let (entropy_zero, entropy_005) = (r.t_c_entropy.value, r.t_c_entropy_005.value);
    let summary = json!({
        "t_s": {"theory": t_s_theory, "theory_from_data_lambda": t_s_data, "lambda_data": lambda, "measured": r.t_s.value, "ci": r.t_s.ci},
        "t_c": {
            "theory": t_c_theory,
            "phi_c_half": r.t_c_phi_half.value, "phi_c_half_ci": r.t_c_phi_half.ci,
            "mean_last_change": lc.map(|x| x.0), "sd_last_change": lc.map(|x| x.1), "median_last_change": lc.map(|x| x.2),
            "entropy_zero": entropy_zero, "entropy_zero_ci": r.t_c_entropy.ci,
            "entropy_below_0_05": entropy_005, "entropy_below_0_05_ci": r.t_c_entropy_005.ci,
        },
        "theory_variants": variants,
        "phi_vs_theory": r.phi_theory.as_ref().map(|th| {
            // A fraction of `pairs` pairs moves in steps of 1/pairs: a band that collapsed to a point (all
            // pairs agree) is widened by that resolution before comparing.
            let res = 1.0 / cfg.params.pairs as f64;
            let outside = |lo: &[f64], hi: &[f64]| th.iter().zip(lo).zip(hi).filter(|((t, l), h)| **t < **l - res || **t > **h + res).count();
            json!({"branch_times": th.len(), "outside_pointwise_95": outside(&r.phi_lo, &r.phi_hi), "outside_simultaneous_95": outside(&r.phi_sim_lo, &r.phi_sim_hi)})
        }),
        "phi_at_t": phi_at_t(&r),
        "f_mem": r.f_mem,
        "f_mem_at_t_min": r.f_mem_at_t_min,
        "end_points": r.end_points,
        "n": n, "d": d, "alpha": alpha, "seed": cfg.seed, "version": diffscope::VERSION,
        "data": ds.provenance,
        "score": cfg.params.score,
        "timings_s": {"data": t_data, "experiment": t_run, "total": t0.elapsed().as_secs_f64()},
    });

    // Write everything into a temporary directory, then swap it in.
    io::write_run_dir(out, |tmp| {
        io::write_text(
            &tmp.join("config.toml"),
            &toml::to_string(&cfg)
                .map_err(|e| diffscope::Error::format(tmp.join("config.toml"), e.to_string()))?,
        )?;
        io::write_json(&tmp.join("summary.json"), &summary)?;
        io::write_json(&tmp.join("curves.json"), &r)?;
        write_outputs(
            tmp,
            &r,
            &summary,
            t_s_theory,
            t_c_theory,
            entropy_theory.as_deref(),
            alpha,
        )
    })?;
    Ok(summary)
}

/// One run per β (manifold model), each in `<out>/beta_<β>/`, then `sweep.csv` and figures of measured
/// t_S and t_C vs β beside the theory curves in `<out>/`.
fn sweep(cfg: &RegimesConfig, betas: &[f64], out: &Path, ctx: &Ctx) -> Result<()> {
    let Some(DataModel::Manifold(spec)) = &cfg.model else {
        anyhow::bail!(crate::ui::UsageError(
            "--sweep-beta needs the manifold model (--manifold ACTIVATION)".into()
        ));
    };
    std::fs::create_dir_all(out)?;
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for &beta in betas {
        crate::ui::check_stop(ctx)?;
        let mut c = cfg.clone();
        c.model = Some(DataModel::Manifold(ManifoldSpec {
            beta,
            ..spec.clone()
        }));
        ctx.note(format!("β = {beta}"));
        let s = run_one(&c, &out.join(format!("beta_{beta}")), ctx)?;
        println!(
            "β = {beta}: t_S measured {} (theory {}), t_C φ_C=½ {} / mean t̂_C {} (GLM {})",
            fmt(&s["t_s"]["measured"]),
            fmt(&s["t_s"]["theory"]),
            fmt(&s["t_c"]["phi_c_half"]),
            fmt(&s["t_c"]["mean_last_change"]),
            fmt(&s["t_c"]["theory"])
        );
        rows.push(s);
    }
    let get = |f: &dyn Fn(&serde_json::Value) -> &serde_json::Value| {
        rows.iter()
            .map(|r| f(r).as_f64().unwrap_or(f64::NAN))
            .collect::<Vec<f64>>()
    };
    let cols: Vec<(&str, Vec<f64>)> = vec![
        ("beta", betas.to_vec()),
        ("t_s_measured", get(&|r| &r["t_s"]["measured"])),
        ("t_s_theory", get(&|r| &r["t_s"]["theory"])),
        (
            "t_s_printed",
            get(&|r| &r["theory_variants"]["t_s_printed"]),
        ),
        (
            "t_s_data_lambda",
            get(&|r| &r["t_s"]["theory_from_data_lambda"]),
        ),
        ("t_c_phi_c_half", get(&|r| &r["t_c"]["phi_c_half"])),
        (
            "t_c_mean_last_change",
            get(&|r| &r["t_c"]["mean_last_change"]),
        ),
        ("t_c_entropy_zero", get(&|r| &r["t_c"]["entropy_zero"])),
        ("t_c_glm", get(&|r| &r["theory_variants"]["t_c_glm"])),
        (
            "t_c_glm_centres",
            get(&|r| &r["theory_variants"]["t_c_glm_centres"]),
        ),
        ("t_c_linear", get(&|r| &r["theory_variants"]["t_c_linear"])),
        (
            "t_c_linear_mp",
            get(&|r| &r["theory_variants"]["t_c_linear_mp"]),
        ),
        ("f_mem", get(&|r| &r["f_mem"])),
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
                    fmt(&r["t_s"]["theory"]),
                    fmt(&r["t_s"]["measured"]),
                    format!("printed {}", fmt(&r["theory_variants"]["t_s_printed"])),
                ],
                [
                    format!("t_C, β = {b}"),
                    fmt(&r["t_c"]["theory"]),
                    fmt(&r["t_c"]["phi_c_half"]),
                    format!(
                        "mean t̂_C {}; +centres {}; linear {}; MP {}",
                        fmt(&r["t_c"]["mean_last_change"]),
                        fmt(&r["theory_variants"]["t_c_glm_centres"]),
                        fmt(&r["theory_variants"]["t_c_linear"]),
                        fmt(&r["theory_variants"]["t_c_linear_mp"])
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
    println!("sweep directory: {}", out.display());
    Ok(())
}

fn fmt(v: &serde_json::Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.3}"),
        None => "—".into(),
    }
}

fn fmt_ci(v: &serde_json::Value) -> String {
    match v.as_array() {
        Some(a) if a.len() == 2 => format!("[{}, {}]", fmt(&a[0]), fmt(&a[1])),
        _ => "—".into(),
    }
}

fn table_rows(s: &serde_json::Value) -> Vec<[String; 4]> {
    let mut rows = vec![
        [
            "t_S (φ = 0.775)".into(),
            fmt(&s["t_s"]["theory"]),
            fmt(&s["t_s"]["measured"]),
            format!(
                "95% CI {}; ½ log Λ_data = {}",
                fmt_ci(&s["t_s"]["ci"]),
                fmt(&s["t_s"]["theory_from_data_lambda"])
            ),
        ],
        [
            "t_C (φ_C = 0.5)".into(),
            fmt(&s["t_c"]["theory"]),
            fmt(&s["t_c"]["phi_c_half"]),
            format!("95% CI {}", fmt_ci(&s["t_c"]["phi_c_half_ci"])),
        ],
        [
            "t_C (mean last change)".into(),
            fmt(&s["t_c"]["theory"]),
            fmt(&s["t_c"]["mean_last_change"]),
            format!(
                "sd {}, median {}",
                fmt(&s["t_c"]["sd_last_change"]),
                fmt(&s["t_c"]["median_last_change"])
            ),
        ],
        [
            "t_C (f^e/α = 0)".into(),
            fmt(&s["t_c"]["theory"]),
            fmt(&s["t_c"]["entropy_zero"]),
            format!(
                "95% CI {}; f^e/α < 0.05 from t = {}",
                fmt_ci(&s["t_c"]["entropy_zero_ci"]),
                fmt(&s["t_c"]["entropy_below_0_05"])
            ),
        ],
        [
            "f_mem (d₁/d₂ < 1/3 at the end points)".into(),
            "1 (n = e^{αd}, t → 0)".into(),
            fmt(&s["f_mem"]),
            format!(
                "{}; at t_min before it: {}",
                s["end_points"].as_str().unwrap_or(""),
                fmt(&s["f_mem_at_t_min"])
            ),
        ],
    ];
    if let Some(c) = s["phi_vs_theory"].as_object() {
        rows.push([
            "φ(t_b) vs theory curve".into(),
            format!("{} branch times", c["branch_times"]),
            format!(
                "{} outside (simultaneous 95%)",
                c["outside_simultaneous_95"]
            ),
            format!(
                "{} outside the pointwise 95% CIs",
                c["outside_pointwise_95"]
            ),
        ]);
    }
    let v = &s["theory_variants"];
    if v.is_object() {
        rows.push([
            "t_S variants (manifold)".into(),
            fmt(&v["t_s"]),
            fmt(&s["t_s"]["measured"]),
            format!(
                "printed form (v∞ = ½) {}, bulk edge {}",
                fmt(&v["t_s_printed"]),
                fmt(&v["t_s_bulk_edge"])
            ),
        ]);
        rows.push([
            "t_C variants (manifold)".into(),
            fmt(&v["t_c_glm"]),
            fmt(&s["t_c"]["phi_c_half"]),
            format!(
                "GLM + centres {}, linear {}, linear MP {}",
                fmt(&v["t_c_glm_centres"]),
                fmt(&v["t_c_linear"]),
                fmt(&v["t_c_linear_mp"])
            ),
        ]);
    }
    rows
}

fn print_table(s: &serde_json::Value) {
    println!("{}", s["data"].as_str().unwrap_or(""));
    println!("n = {}, d = {}, α = {}", s["n"], s["d"], fmt(&s["alpha"]));
    println!(
        "{:<30} {:>8} {:>9}   note",
        "quantity", "theory", "measured"
    );
    for r in table_rows(s) {
        println!("{:<30} {:>8} {:>9}   {}", r[0], r[1], r[2], r[3]);
    }
    println!("time: {} s", fmt(&s["timings_s"]["total"]));
}

fn write_outputs(
    dir: &Path,
    r: &regimes::RegimesResult,
    s: &serde_json::Value,
    t_s: f64,
    t_c: Option<f64>,
    entropy_theory: Option<&[f64]>,
    alpha: f64,
) -> diffscope::Result<()> {
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
        if let Some(m) = s["t_c"]["mean_last_change"].as_f64() {
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
    let intro = format!("{} — n = {}, d = {}, α = {:.4}, seed {}, diffscope {}. Times are OU times (x_t = e^(-t) x_0 + sqrt(1 - e^(-2t)) z).", s["data"].as_str().unwrap_or(""), s["n"], s["d"], alpha, s["seed"], diffscope::VERSION);
    io::write_text(
        &dir.join("index.html"),
        &html_report("diffscope regimes", &intro, &table_rows(s), &figures),
    )?;
    Ok(())
}

/// φ at t = 2.5, 3.0, …, 5.0 (Biroli et al.'s table), linearly interpolated between the branch times,
/// with the interpolated pointwise 95 % CIs and the theory; null outside the branch range.
fn phi_at_t(r: &regimes::RegimesResult) -> serde_json::Value {
    let at = |y: &[f64], t: f64| -> Option<f64> {
        let tb = &r.t_branch;
        let j = tb.windows(2).position(|w| w[0] <= t && t <= w[1])?;
        let f = (t - tb[j]) / (tb[j + 1] - tb[j]);
        Some(y[j] + f * (y[j + 1] - y[j]))
    };
    let ts: Vec<f64> = (0..6).map(|k| 2.5 + 0.5 * k as f64).collect();
    let col = |y: &[f64]| ts.iter().map(|&t| at(y, t)).collect::<Vec<Option<f64>>>();
    json!({
        "t": ts, "phi": col(&r.phi), "lo": col(&r.phi_lo), "hi": col(&r.phi_hi),
        "theory": r.phi_theory.as_deref().map(col),
    })
}

/// `--sweep-d`: one run per d (model d replaced; β, n and the rest fixed), then t_S measured with its CI
/// beside ½ log Λ of the data and the theory (and the printed form for the manifold model).
fn sweep_d(cfg: &RegimesConfig, dims: &[usize], out: &Path, ctx: &Ctx) -> Result<()> {
    if !matches!(
        cfg.model,
        Some(DataModel::TwoClass(_)) | Some(DataModel::Manifold(_))
    ) {
        anyhow::bail!(crate::ui::UsageError(
            "--sweep-d needs the two-class model (default) or --manifold ACTIVATION".into()
        ));
    }
    std::fs::create_dir_all(out)?;
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for &d in dims {
        crate::ui::check_stop(ctx)?;
        let mut c = cfg.clone();
        match c.model.as_mut() {
            Some(DataModel::TwoClass(m)) => m.d = d,
            Some(DataModel::Manifold(m)) => m.d = d,
            _ => {}
        }
        ctx.note(format!("d = {d}"));
        let s = run_one(&c, &out.join(format!("d_{d}")), ctx)?;
        println!(
            "d = {d}: t_S measured {} {} (theory {}, ½ log Λ_data {}), {:.1} s",
            fmt(&s["t_s"]["measured"]),
            fmt_ci(&s["t_s"]["ci"]),
            fmt(&s["t_s"]["theory"]),
            fmt(&s["t_s"]["theory_from_data_lambda"]),
            s["timings_s"]["total"].as_f64().unwrap_or(f64::NAN)
        );
        rows.push(s);
    }
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let get = |f: &dyn Fn(&serde_json::Value) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let mut cols: Vec<(String, Vec<f64>)> = vec![
        ("d".into(), dims.iter().map(|&d| d as f64).collect()),
        ("t_s_measured".into(), get(&|r| num(&r["t_s"]["measured"]))),
        ("t_s_ci_lo".into(), get(&|r| num(&r["t_s"]["ci"][0]))),
        ("t_s_ci_hi".into(), get(&|r| num(&r["t_s"]["ci"][1]))),
        ("t_s_theory".into(), get(&|r| num(&r["t_s"]["theory"]))),
        (
            "t_s_printed".into(),
            get(&|r| num(&r["theory_variants"]["t_s_printed"])),
        ),
        (
            "t_s_data_lambda".into(),
            get(&|r| num(&r["t_s"]["theory_from_data_lambda"])),
        ),
        (
            "t_s_total_var".into(),
            get(&|r| num(&r["theory_variants"]["t_s_total_var"])),
        ),
        ("f_mem".into(), get(&|r| num(&r["f_mem"]))),
        ("wall_s".into(), get(&|r| num(&r["timings_s"]["total"]))),
    ];
    for k in 0..6 {
        let t = 2.5 + 0.5 * k as f64;
        cols.push((format!("phi_t{t}"), get(&|r| num(&r["phi_at_t"]["phi"][k]))));
        cols.push((
            format!("phi_t{t}_lo"),
            get(&|r| num(&r["phi_at_t"]["lo"][k])),
        ));
        cols.push((
            format!("phi_t{t}_hi"),
            get(&|r| num(&r["phi_at_t"]["hi"][k])),
        ));
        cols.push((
            format!("phi_t{t}_theory"),
            get(&|r| num(&r["phi_at_t"]["theory"][k])),
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
                fmt(&r["t_s"]["theory"]),
                format!("{} {}", fmt(&r["t_s"]["measured"]), fmt_ci(&r["t_s"]["ci"])),
                format!(
                    "½ log Λ_data {}; printed {}; GE at κ(1 + ‖μ̃‖²) {}; φ(2.5…5.0) = {}",
                    fmt(&r["t_s"]["theory_from_data_lambda"]),
                    fmt(&r["theory_variants"]["t_s_printed"]),
                    fmt(&r["theory_variants"]["t_s_total_var"]),
                    (0..6)
                        .map(|k| fmt(&r["phi_at_t"]["phi"][k]))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ]
        })
        .collect();
    for row in &table {
        println!(
            "{:<16} theory {:>8}  measured {:<24} {}",
            row[0], row[1], row[2], row[3]
        );
    }
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
    println!("sweep directory: {}", out.display());
    Ok(())
}

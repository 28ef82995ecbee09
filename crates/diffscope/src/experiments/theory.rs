//! The theory of the regimes as library calls: one model (two-class GMM or hidden-manifold mixture) at a
//! given α = ln n / d, or the manifold paper's sweep of t_S and t_C over β for every activation, with the
//! sweep's run directory (sweep.csv, sweep.json, figures, index.html).

use crate::data::{Activation, ManifoldSpec, TwoClassGmm};
use crate::error::{Error, Result};
use crate::io;
use crate::progress::{self, Monitor};
use crate::report::{html_report, Plot, Series};
use crate::theory::{self, manifold};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// α from `alpha` or `n` (α = ln n / d); 0.1 when neither is given.
pub fn resolve_alpha(alpha: Option<f64>, n: Option<usize>, d: usize) -> Result<f64> {
    if d == 0 {
        return Err(Error::param("d", 0, "d ≥ 1"));
    }
    let alpha = match (alpha, n) {
        (Some(x), None) => x,
        (None, Some(n)) => {
            if n < 2 {
                return Err(Error::param("n", n, "at least 2 training points"));
            }
            (n as f64).ln() / d as f64
        }
        (None, None) => 0.1,
        (Some(a), Some(n)) => {
            return Err(Error::param(
                "alpha/n",
                format!("{a}/{n}"),
                "one of α and n, not both",
            ))
        }
    };
    manifold::check_alpha(alpha)?;
    Ok(alpha)
}

/// Theory of the two-class GMM ±m + σz: Λ = d μ̃² + σ², t_S = ½ log Λ, t_C at n points.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TwoClassTheory {
    /// Λ.
    pub lambda: f64,
    /// n (given, or e^{αd} rounded).
    pub n: usize,
    /// α = ln n / d.
    pub alpha: f64,
    /// Speciation time.
    pub t_s: f64,
    /// Collapse time.
    pub t_c: f64,
}

/// t_S and t_C of the two-class GMM with n points (or n = round(e^{αd})).
pub fn two_class(m: &TwoClassGmm, alpha: f64, n: Option<usize>) -> Result<TwoClassTheory> {
    let lambda = m.d as f64 * m.mu_tilde.powi(2) + m.sigma.powi(2);
    let n = n.unwrap_or_else(|| (alpha * m.d as f64).exp().round() as usize);
    Ok(TwoClassTheory {
        lambda,
        n,
        alpha: (n as f64).ln() / m.d as f64,
        t_s: theory::t_speciation(lambda, theory::V_INF)?,
        t_c: theory::t_collapse_gmm(n, m.d, m.sigma.powi(2))?,
    })
}

/// theory.json of the two-class GMM (as the CLI writes it): the model and its theory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TwoClassTheoryFile {
    /// α = ln n / d.
    pub alpha: f64,
    /// Dimension.
    pub d: usize,
    /// Λ = d μ̃² + σ².
    pub lambda: f64,
    /// "two-class GMM".
    pub model: String,
    /// μ̃.
    pub mu_tilde: f64,
    /// n.
    pub n: usize,
    /// σ.
    pub sigma: f64,
    /// t_C at n points.
    pub t_c: f64,
    /// t_S = ½ log Λ.
    pub t_s: f64,
}

/// The [`TwoClassTheoryFile`] of a model and its theory.
pub fn two_class_file(m: &TwoClassGmm, th: &TwoClassTheory) -> TwoClassTheoryFile {
    TwoClassTheoryFile {
        alpha: th.alpha,
        d: m.d,
        lambda: th.lambda,
        model: "two-class GMM".into(),
        mu_tilde: m.mu_tilde,
        n: th.n,
        sigma: m.sigma,
        t_c: th.t_c,
        t_s: th.t_s,
    }
}

/// Writes theory.json and theory.csv of the two-class GMM into `out` (created if needed).
pub fn write_two_class(m: &TwoClassGmm, th: &TwoClassTheory, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    io::write_json_sorted(&out.join("theory.json"), &two_class_file(m, th))?;
    io::write_csv(
        &out.join("theory.csv"),
        &["d", "n", "lambda", "t_s", "t_c"],
        &[
            &[m.d as f64],
            &[th.n as f64],
            &[th.lambda],
            &[th.t_s],
            &[th.t_c],
        ],
    )
}

/// A t_C, or "—" and the reason the root search gave.
fn opt_why(v: Option<f64>, why: Option<manifold::NoRoot>) -> String {
    match (v, why) {
        (None, Some(w)) => format!("— ({w})"),
        _ => opt(v),
    }
}

/// The manifold theory as the lines `diffscope theory` prints: the model, the GE coefficients, Λ, every
/// t_S and t_C variant (with the reason when a GLM root does not exist).
pub fn manifold_lines(th: &manifold::ManifoldTheory, alpha: f64, centres: bool) -> Vec<String> {
    let sp = &th.spec;
    let mut v = vec![
        format!(
            "hidden-manifold mixture: d = {}, β = {}, φ = {}, ‖μ̃‖² = {}, κ = {}, α = {alpha:.6}",
            sp.d,
            sp.beta,
            sp.activation.name(),
            sp.mu2,
            sp.kappa()
        ),
        format!(
            "  ϱ₀ = {:.6}  ϱ₁ = {:.6}  ϱ*² = {:.6}",
            th.ge.rho0, th.ge.rho1, th.ge.rho_star2
        ),
        format!(
            "  Λ spike = {:.6}   Λ bulk edge = {:.6}",
            th.lambda_spike, th.lambda_bulk_edge
        ),
        format!("  t_S (v∞ = 1)            {:.6}", th.t_s),
        format!("  t_S printed (v∞ = ½)    {:.6}", th.t_s_printed),
        format!("  t_S of the bulk edge    {:.6}", th.t_s_bulk_edge),
        format!(
            "  t_S, ϱ at κ(1 + ‖μ̃‖²)   {:.6}   (GE at the pre-activation's total variance)",
            th.t_s_total_var
        ),
        format!("  t_C linear closed form   {}", opt(th.t_c_linear)),
        format!("  t_C linear, MP (Gauss F) {}", opt(th.t_c_linear_mp)),
        format!(
            "  t_C GLM-RS               {}",
            opt_why(th.t_c_glm, th.t_c_glm_no_root)
        ),
    ];
    if centres {
        v.push(format!(
            "  t_C GLM-RS + centres     {}",
            opt_why(th.t_c_glm_centres, th.t_c_glm_centres_no_root)
        ));
    }
    v
}

/// The β sweep: `base` with β replaced, for every activation in [`Activation::ALL`] (rows ordered by
/// activation, then β). `monitor` advances per model.
pub fn sweep(
    base: &ManifoldSpec,
    betas: &[f64],
    alpha: f64,
    centres: bool,
    monitor: &dyn Monitor,
) -> Result<Vec<manifold::ManifoldTheory>> {
    let total = (betas.len() * Activation::ALL.len()) as u64;
    let mut rows = Vec::new();
    for phi in Activation::ALL {
        for &beta in betas {
            progress::check(monitor)?;
            let spec = ManifoldSpec {
                beta,
                activation: phi,
                ..base.clone()
            };
            rows.push(manifold::manifold_theory(&spec, alpha, centres)?);
            monitor.advance(rows.len() as u64, total);
        }
    }
    Ok(rows)
}

/// The default β grid of the sweep: 0.05, 0.10, …, 1.
pub fn default_betas() -> Vec<f64> {
    (1..=20).map(|i| 0.05 * i as f64).collect()
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| format!("{x:.6}"))
}

/// Writes the sweep's run directory: sweep.csv, sweep.json, t_s_vs_beta and t_c_vs_beta (PNG + SVG),
/// index.html.
pub fn write_sweep(
    rows: &[manifold::ManifoldTheory],
    base: &ManifoldSpec,
    alpha: f64,
    out: &Path,
) -> Result<()> {
    io::write_run_dir(out, |dir| write_sweep_into(rows, base, alpha, dir))
}

fn write_sweep_into(
    rows: &[manifold::ManifoldTheory],
    base: &ManifoldSpec,
    alpha: f64,
    dir: &Path,
) -> Result<()> {
    let col =
        |f: &dyn Fn(&manifold::ManifoldTheory) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let nan = f64::NAN;
    let names = [
        "activation_index",
        "beta",
        "rho1",
        "rho_star2",
        "t_s",
        "t_s_printed",
        "t_s_bulk_edge",
        "t_c_linear",
        "t_c_linear_mp",
        "t_c_glm",
        "t_c_glm_centres",
    ];
    let act_idx = col(&|r| {
        Activation::ALL
            .iter()
            .position(|&p| p == r.spec.activation)
            .unwrap_or(0) as f64
    });
    let cols = [
        act_idx,
        col(&|r| r.spec.beta),
        col(&|r| r.ge.rho1),
        col(&|r| r.ge.rho_star2),
        col(&|r| r.t_s),
        col(&|r| r.t_s_printed),
        col(&|r| r.t_s_bulk_edge),
        col(&|r| r.t_c_linear.unwrap_or(nan)),
        col(&|r| r.t_c_linear_mp.unwrap_or(nan)),
        col(&|r| r.t_c_glm.unwrap_or(nan)),
        col(&|r| r.t_c_glm_centres.unwrap_or(nan)),
    ];
    let refs: Vec<&[f64]> = cols.iter().map(|c| &c[..]).collect();
    io::write_csv(&dir.join("sweep.csv"), &names, &refs)?;
    io::write_json(&dir.join("sweep.json"), rows)?;
    let per_act = |f: &dyn Fn(&manifold::ManifoldTheory) -> Option<f64>| -> Vec<Series> {
        Activation::ALL
            .iter()
            .map(|&phi| {
                let rs: Vec<&manifold::ManifoldTheory> =
                    rows.iter().filter(|r| r.spec.activation == phi).collect();
                Series {
                    name: format!("{phi:?}").to_lowercase(),
                    x: rs.iter().map(|r| r.spec.beta).collect(),
                    y: rs.iter().map(|r| f(r).unwrap_or(nan)).collect(),
                    band: None,
                    markers: false,
                }
            })
            .collect()
    };
    let title_tail = format!("d = {}, α = {alpha:.3}, ‖μ̃‖² = {}", base.d, base.mu2);
    Plot {
        title: format!("Speciation time vs β ({title_tail})"),
        x_label: "β = p/d".into(),
        y_label: "t_S = ½ log Λ (OU time, v∞ = 1)".into(),
        series: per_act(&|r| Some(r.t_s)),
        ..Default::default()
    }
    .render(&dir.join("t_s_vs_beta"))?;
    Plot {
        title: format!("Collapse time vs β, GLM replica-symmetric ({title_tail})"),
        x_label: "β = p/d".into(),
        y_label: "t_C (OU time)".into(),
        series: per_act(&|r| r.t_c_glm),
        ..Default::default()
    }
    .render(&dir.join("t_c_vs_beta"))?;
    let table: Vec<[String; 4]> = rows
        .iter()
        .filter(|r| {
            [0.1, 0.5, 1.0]
                .iter()
                .any(|b| (r.spec.beta - b).abs() < 1e-9)
        })
        .map(|r| {
            [
                format!("{:?}, β = {}", r.spec.activation, r.spec.beta),
                format!("t_S {:.4} (printed {:.4})", r.t_s, r.t_s_printed),
                format!("t_C GLM {}", opt(r.t_c_glm)),
                format!("linear {} / MP {}", opt(r.t_c_linear), opt(r.t_c_linear_mp)),
            ]
        })
        .collect();
    let intro = format!(
        "Theory of the hidden-manifold mixture, {title_tail}, κ = {}. Full table in sweep.csv.",
        base.kappa.map_or("β".into(), |k| k.to_string())
    );
    io::write_text(
        &dir.join("index.html"),
        &html_report(
            "diffscope theory sweep",
            &intro,
            &table,
            &[
                ("t_s_vs_beta.png".into(), "t_S vs β".into()),
                ("t_c_vs_beta.png".into(), "t_C (GLM-RS) vs β".into()),
            ],
        ),
    )
}

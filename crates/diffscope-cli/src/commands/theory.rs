//! `diffscope theory`: speciation and collapse times from theory, for one model or as a sweep over β.

use crate::ui::Ctx;
use anyhow::Result;
use clap::{Args, ValueEnum};
use diffscope::data::{Activation, Embedding, ManifoldSpec, TwoClassGmm};
use diffscope::experiments;
use diffscope::io;
use diffscope::theory::manifold;
use std::path::PathBuf;
use std::time::Instant;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum TheoryModel {
    /// Two-class GMM ±m + σz (Biroli et al.): t_S = ½ log(d μ̃² + σ²), t_C = ½ log(1 + σ²/(n^{2/d} − 1)).
    TwoClass,
    /// Hidden-manifold mixture (George–Veiga–Macris): every t_S and t_C variant.
    Manifold,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum EmbeddingArg {
    Gaussian,
    Orthonormal,
}

#[derive(Args, Debug)]
pub struct TheoryArgs {
    /// A TOML model description instead of the flags: `kind = "manifold"` (d, beta, activation, mu2, kappa,
    /// embedding) or `kind = "two-class"` (d, mu_tilde, sigma); α or n still come from --alpha / --n.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Which model.
    #[arg(long, value_enum, default_value = "manifold")]
    pub model: TheoryModel,
    /// Ambient dimension d.
    #[arg(long, default_value_t = 100)]
    pub d: usize,
    /// α = ln n / d (give this or --n).
    #[arg(long, allow_hyphen_values = true)]
    pub alpha: Option<f64>,
    /// Number of training points n (α = ln n / d).
    #[arg(long)]
    pub n: Option<usize>,
    /// Manifold: latent fraction β = p/d.
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub beta: f64,
    /// Manifold: activation (linear, tanh, relu, sign, erf, erf-sqrt2).
    #[arg(long, default_value = "tanh")]
    pub activation: String,
    /// Manifold: ‖μ̃‖² per latent component.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub mu2: f64,
    /// Manifold: pre-activation variance κ (default β).
    #[arg(long, allow_hyphen_values = true)]
    pub kappa: Option<f64>,
    /// Manifold: embedding of F.
    #[arg(long, value_enum, default_value = "gaussian")]
    pub embedding: EmbeddingArg,
    /// Manifold: also the GLM t_C with the latent-centre offsets (8× slower).
    #[arg(long)]
    pub centres: bool,
    /// Two-class: μ̃.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub mu_tilde: f64,
    /// Two-class: σ.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub sigma: f64,
    /// Sweep β for every activation (manifold) and write the table and figures of t_S, t_C vs β.
    #[arg(long)]
    pub sweep: bool,
    /// β values of the sweep (default: 20 values from 0.05 to 1).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub betas: Option<Vec<f64>>,
    /// Output directory (JSON + CSV, and figures for a sweep).
    #[arg(long, short, default_value = "runs/theory")]
    pub out: PathBuf,
}

fn alpha_of(a: &TheoryArgs) -> Result<f64> {
    Ok(experiments::theory::resolve_alpha(a.alpha, a.n, a.d)?)
}

fn spec(a: &TheoryArgs, phi: Activation, beta: f64) -> ManifoldSpec {
    ManifoldSpec {
        d: a.d,
        beta,
        activation: phi,
        mu2: a.mu2,
        kappa: a.kappa,
        embedding: match a.embedding {
            EmbeddingArg::Gaussian => Embedding::Gaussian,
            EmbeddingArg::Orthonormal => Embedding::Orthonormal,
        },
    }
}

fn opt(v: Option<f64>) -> String {
    v.map_or("—".into(), |x| format!("{x:.6}"))
}

/// A t_C, or "—" and the reason the root search gave.
fn opt_why(v: Option<f64>, why: Option<manifold::NoRoot>) -> String {
    match (v, why) {
        (None, Some(w)) => format!("— ({w})"),
        _ => opt(v),
    }
}

pub fn run(mut a: TheoryArgs, ctx: &Ctx) -> Result<()> {
    if let Some(path) = &a.config {
        let model: diffscope::data::DataModel = crate::ui::read_toml(path)?;
        match model {
            diffscope::data::DataModel::Manifold(m) => {
                a.model = TheoryModel::Manifold;
                a.d = m.d;
                a.beta = m.beta;
                a.activation = format!("{:?}", m.activation)
                    .to_lowercase()
                    .replace("erfsqrt2", "erf-sqrt2");
                a.mu2 = m.mu2;
                a.kappa = m.kappa;
                a.embedding = match m.embedding {
                    Embedding::Gaussian => EmbeddingArg::Gaussian,
                    Embedding::Orthonormal => EmbeddingArg::Orthonormal,
                };
            }
            diffscope::data::DataModel::TwoClass(m) => {
                a.model = TheoryModel::TwoClass;
                a.d = m.d;
                a.mu_tilde = m.mu_tilde;
                a.sigma = m.sigma;
            }
            other => anyhow::bail!(crate::ui::UsageError(format!(
                "{}: theory covers the two-class and manifold models, not `{}`",
                path.display(),
                other.kind_name()
            ))),
        }
    }
    let alpha = alpha_of(&a)?;
    std::fs::create_dir_all(&a.out)?;
    let t0 = Instant::now();
    if a.model == TheoryModel::TwoClass {
        let m = TwoClassGmm {
            d: a.d,
            mu_tilde: a.mu_tilde,
            sigma: a.sigma,
            direction: Default::default(),
        };
        let th = experiments::theory::two_class(&m, alpha, a.n)?;
        println!(
            "two-class GMM d = {}, n = {}: Λ = {:.4}, t_S = {:.6}, t_C = {:.6}",
            a.d, th.n, th.lambda, th.t_s, th.t_c
        );
        io::write_json(
            &a.out.join("theory.json"),
            &experiments::theory::two_class_json(&m, &th),
        )?;
        io::write_csv(
            &a.out.join("theory.csv"),
            &["d", "n", "lambda", "t_s", "t_c"],
            &[
                &[a.d as f64],
                &[th.n as f64],
                &[th.lambda],
                &[th.t_s],
                &[th.t_c],
            ],
        )?;
        return Ok(());
    }
    if !a.sweep {
        let phi = Activation::parse(&a.activation)?;
        let th = manifold::manifold_theory(&spec(&a, phi, a.beta), alpha, a.centres)?;
        print_manifold(&a, &th, alpha);
        io::write_json(&a.out.join("theory.json"), &th)?;
        ctx.note(format!(
            "{:.2} s; wrote {}",
            t0.elapsed().as_secs_f64(),
            a.out.join("theory.json").display()
        ));
        return Ok(());
    }
    // Sweep over β for every activation.
    let betas = a
        .betas
        .clone()
        .unwrap_or_else(experiments::theory::default_betas);
    let base = spec(&a, Activation::Tanh, a.beta);
    let bar = ctx.bar((betas.len() * Activation::ALL.len()) as u64, "sweep");
    let rows = experiments::theory::sweep(&base, &betas, alpha, a.centres, &ctx.monitor(&bar))?;
    bar.finish_and_clear();
    experiments::theory::write_sweep(&rows, &base, alpha, &a.out)?;
    println!(
        "sweep of {} models in {:.1} s: {}",
        rows.len(),
        t0.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}

fn print_manifold(a: &TheoryArgs, th: &manifold::ManifoldTheory, alpha: f64) {
    println!(
        "hidden-manifold mixture: d = {}, β = {}, φ = {}, ‖μ̃‖² = {}, κ = {}, α = {alpha:.6}",
        a.d,
        a.beta,
        a.activation,
        a.mu2,
        th.spec.kappa()
    );
    println!(
        "  ϱ₀ = {:.6}  ϱ₁ = {:.6}  ϱ*² = {:.6}",
        th.ge.rho0, th.ge.rho1, th.ge.rho_star2
    );
    println!(
        "  Λ spike = {:.6}   Λ bulk edge = {:.6}",
        th.lambda_spike, th.lambda_bulk_edge
    );
    println!("  t_S (v∞ = 1)            {:.6}", th.t_s);
    println!("  t_S printed (v∞ = ½)    {:.6}", th.t_s_printed);
    println!("  t_S of the bulk edge    {:.6}", th.t_s_bulk_edge);
    println!(
        "  t_S, ϱ at κ(1 + ‖μ̃‖²)   {:.6}   (GE at the pre-activation's total variance)",
        th.t_s_total_var
    );
    println!("  t_C linear closed form   {}", opt(th.t_c_linear));
    println!("  t_C linear, MP (Gauss F) {}", opt(th.t_c_linear_mp));
    println!(
        "  t_C GLM-RS               {}",
        opt_why(th.t_c_glm, th.t_c_glm_no_root)
    );
    if a.centres {
        println!(
            "  t_C GLM-RS + centres     {}",
            opt_why(th.t_c_glm_centres, th.t_c_glm_centres_no_root)
        );
    }
}

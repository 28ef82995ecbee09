//! `diffscope theory`: speciation and collapse times from theory, for one model or as a sweep over β.

use crate::ui::Ctx;
use anyhow::Result;
use clap::{Args, ValueEnum};
use diffscope::data::{Activation, DataModel, Embedding, ManifoldSpec, TwoClassGmm};
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

/// The model the flags (or --config) describe: the two-class GMM or the hidden-manifold mixture.
fn model_of(a: &TheoryArgs) -> Result<DataModel> {
    if let Some(path) = &a.config {
        return match crate::ui::read_toml::<DataModel>(path)? {
            m @ (DataModel::TwoClass(_) | DataModel::Manifold(_)) => Ok(m),
            other => anyhow::bail!(crate::ui::UsageError(format!(
                "{}: theory covers the two-class and manifold models, not `{}`",
                path.display(),
                other.kind_name()
            ))),
        };
    }
    Ok(match a.model {
        TheoryModel::TwoClass => DataModel::TwoClass(TwoClassGmm {
            d: a.d,
            mu_tilde: a.mu_tilde,
            sigma: a.sigma,
            direction: Default::default(),
        }),
        TheoryModel::Manifold => DataModel::Manifold(ManifoldSpec {
            d: a.d,
            beta: a.beta,
            activation: Activation::parse(&a.activation)?,
            mu2: a.mu2,
            kappa: a.kappa,
            embedding: match a.embedding {
                EmbeddingArg::Gaussian => Embedding::Gaussian,
                EmbeddingArg::Orthonormal => Embedding::Orthonormal,
            },
        }),
    })
}

pub fn run(a: TheoryArgs, ctx: &Ctx) -> Result<()> {
    let model = model_of(&a)?;
    let d = match &model {
        DataModel::TwoClass(m) => m.d,
        DataModel::Manifold(m) => m.d,
        _ => unreachable!("model_of returns these two"),
    };
    let alpha = experiments::theory::resolve_alpha(a.alpha, a.n, d)?;
    let t0 = Instant::now();
    match &model {
        DataModel::Manifold(spec) if a.sweep => {
            let betas = a
                .betas
                .clone()
                .unwrap_or_else(experiments::theory::default_betas);
            let bar = ctx.bar((betas.len() * Activation::ALL.len()) as u64, "sweep");
            let rows =
                experiments::theory::sweep(spec, &betas, alpha, a.centres, &ctx.monitor(&bar))?;
            bar.finish_and_clear();
            experiments::theory::write_sweep(&rows, spec, alpha, &a.out)?;
            println!(
                "sweep of {} models in {:.1} s: {}",
                rows.len(),
                t0.elapsed().as_secs_f64(),
                a.out.display()
            );
        }
        DataModel::Manifold(spec) => {
            let th = manifold::manifold_theory(spec, alpha, a.centres)?;
            for line in experiments::theory::manifold_lines(&th, alpha, a.centres) {
                println!("{line}");
            }
            std::fs::create_dir_all(&a.out)?;
            io::write_json(&a.out.join("theory.json"), &th)?;
            ctx.note(format!(
                "{:.2} s; wrote {}",
                t0.elapsed().as_secs_f64(),
                a.out.join("theory.json").display()
            ));
        }
        DataModel::TwoClass(m) => {
            let th = experiments::theory::two_class(m, alpha, a.n)?;
            println!(
                "two-class GMM d = {}, n = {}: Λ = {:.4}, t_S = {:.6}, t_C = {:.6}",
                m.d, th.n, th.lambda, th.t_s, th.t_c
            );
            experiments::theory::write_two_class(m, &th, &a.out)?;
        }
        _ => unreachable!("model_of returns these two"),
    }
    Ok(())
}

//! `diffscope spectrum` and `diffscope concentration`: spectra and tails of a data set, a data model, or
//! samples written by `diffscope sample`.

use crate::commands::args::SourceArgs;
use crate::ui::Ctx;
use anyhow::Result;
use clap::Args;
use diffscope::experiments::stats;
use std::path::PathBuf;

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

pub fn run_spectrum(a: SpectrumArgs, ctx: &Ctx) -> Result<()> {
    let ds = a.source.load(ctx.seed)?;
    let r = stats::run_spectrum(&ds, a.per_class, ctx.seed)?;
    stats::write_spectrum(&r, &a.out)?;
    for (name, s, _) in &r.parts {
        println!("{name:>10}: n = {}, d = {}, rank bound {}, numerical rank {}, λ_max {:.4}, λ_min>0 {:.4e}, participation ratio {:.2}", s.n, s.d, s.rank_bound, s.numerical_rank, s.eigenvalues[0], s.min_nonzero, s.participation_ratio);
    }
    println!("run directory: {}", a.out.display());
    Ok(())
}

pub fn run_concentration(a: ConcentrationArgs, ctx: &Ctx) -> Result<()> {
    let ds = a.source.load(ctx.seed)?;
    let rep = stats::run_concentration(&ds, a.functionals, ctx.seed)?;
    stats::write_concentration(&rep, &a.out)?;
    let r = &rep.result;
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
    use diffscope::universality::{Classifier, SgdParams, UniversalityParams};
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
    let rep = stats::run_universality(&ds, &p, ctx.seed, &ctx.monitor(&bar))?;
    bar.finish_and_clear();
    stats::write_universality(&rep, &a.out)?;
    let r = &rep.result;
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

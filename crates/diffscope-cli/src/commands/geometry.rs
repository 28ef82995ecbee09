//! `diffscope geometry`: the score field's geometry along backward trajectories (geometry.md), written to a
//! run directory with summary.json, CSV / .npy per probed time, figures and index.html.

use crate::commands::args::SourceFlags;
use crate::ui::{Ctx, UsageError};
use anyhow::{Context, Result};
use clap::Args;
use diffscope::data::{DataModel, Dataset};
use diffscope::experiments::sample::ScoreSource;
use diffscope::experiments::{
    self,
    geometry::{self, GeometryInput, GeometryParams},
};
use diffscope::score::{EmpiricalScore, GmmScore, Precision, Score};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GeometryArgs {
    /// The score to analyse: a model from `diffscope train` (.safetensors; its data.npz is used unless
    /// --data is given), `empirical` (the exact score of the data) or `population` (exact population
    /// score; Gaussian models such as kind = "subspace").
    #[arg(long, default_value = "runs/train/model.safetensors")]
    pub score: String,
    /// Data for `empirical` / `population`, or to override a model's data.npz.
    #[command(flatten)]
    pub source: SourceFlags,
    /// Backward trajectories probed.
    #[arg(long, default_value_t = 32)]
    pub trajectories: usize,
    /// Sampler steps (log-spaced grid from --t-max to --t-min).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Start time.
    #[arg(long, default_value_t = 4.0)]
    pub t_max: f64,
    /// End time.
    #[arg(long, default_value_t = 1e-3)]
    pub t_min: f64,
    /// Probed steps, evenly spaced in grid index (so log-spaced in t), first and last included.
    #[arg(long, default_value_t = 10)]
    pub probes: usize,
    /// Copies per point for the Stanczuk estimator (e); default 4d; 0 turns it off.
    #[arg(long)]
    pub stanczuk: Option<usize>,
    /// Tangent dimension for the subspace split and overlaps (default: the model's intrinsic dimension,
    /// else estimator (a) at each point).
    #[arg(long)]
    pub tangent_dim: Option<usize>,
    /// Matrix-free mode for large d with this rank: randomized SVD of ∇D and Hutch++ traces by JVPs / VJPs,
    /// no d × d Jacobian (no participation ratio, block split or full spectra then).
    #[arg(long)]
    pub matrix_free: Option<usize>,
    /// Threshold c of estimator (a).
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Sampler of the trajectories: em (euler-maruyama), ode-euler, ode-heun or edm (without churn).
    #[arg(long, default_value = "euler-maruyama", value_parser = crate::commands::args::sampler_names())]
    pub sampler: String,
    /// Output run directory.
    #[arg(long, short, default_value = "runs/geometry")]
    pub out: PathBuf,
}

/// The score under study, its training data and (where known) the data model and its seed.
struct Setup {
    score: Box<dyn Score>,
    data: Dataset,
    model: Option<DataModel>,
    model_seed: u64,
    what: String,
}

fn load_setup(a: &GeometryArgs, ctx: &Ctx) -> Result<Setup> {
    match a.score.as_str() {
        "empirical" | "population" => {
            let (data, model) = a.source.load(ctx.seed)?;
            let score: Box<dyn Score> = if a.score == "empirical" {
                Box::new(EmpiricalScore::on_device(
                    &data,
                    Precision::F32,
                    ctx.device(),
                )?)
            } else {
                let m = model.as_ref().ok_or_else(|| {
                    UsageError("--score population needs a data model (--model or the built-in), not --data".into())
                })?;
                Box::new(GmmScore::new(m.mixture(ctx.seed)?))
            };
            Ok(Setup {
                what: score.describe(),
                score,
                data,
                model,
                model_seed: ctx.seed,
            })
        }
        path => {
            // A trained network: its data.npz (or --data) and the data model in its metadata.
            let data = a.source.data.load(a.source.centre)?;
            let source = ScoreSource::Model(path.into());
            let b = experiments::sample::build(&source, data, None, 0, ctx.seed)
                .with_context(|| format!("--score {path}"))?;
            let (model, model_seed) = match b.model {
                Some((m, s)) => (Some(m), s),
                None => (None, ctx.seed),
            };
            Ok(Setup {
                what: b.what,
                score: b.score,
                data: b.training.expect("a trained network's source has data"),
                model,
                model_seed,
            })
        }
    }
}

pub fn run(a: GeometryArgs, ctx: &Ctx) -> Result<()> {
    let s = load_setup(&a, ctx)?;
    let p = GeometryParams {
        trajectories: a.trajectories,
        steps: a.steps,
        t_max: a.t_max,
        t_min: a.t_min,
        probes: a.probes,
        stanczuk: a.stanczuk,
        tangent_dim: a.tangent_dim,
        matrix_free: a.matrix_free,
        threshold: a.threshold,
        sampler: diffscope::sampler::SamplerKind::from_name(&a.sampler, None)?,
    };
    let input = GeometryInput {
        score: s.score.as_ref(),
        what: s.what.clone(),
        data: &s.data,
        model: s.model.as_ref(),
        model_seed: s.model_seed,
    };
    let bar = ctx.bar(a.probes as u64, "probe");
    let r = geometry::run(&input, &p, ctx.seed, &ctx.monitor(&bar))?;
    bar.finish_and_clear();
    geometry::write_run_dir(&r, &a.out)?;
    for line in r.by_time.table_lines(r.probe.k) {
        println!("{line}");
    }
    println!("run directory: {}", a.out.display());
    Ok(())
}

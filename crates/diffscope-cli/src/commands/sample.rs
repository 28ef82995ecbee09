//! `diffscope sample`: run a reverse-time sampler with a chosen score and write the end points.

use crate::commands::args::{
    sampler_names, DataFlags, EdmArgs, FinalStepArg, GridArgs, TwoClassArgs,
};
use crate::ui::Ctx;
use anyhow::{bail, Result};
use clap::Args;
use diffscope::experiments::{
    self,
    sample::{SampleParams, ScoreSource},
};
use diffscope::io::NpyArray;
use diffscope::sampler::{FinalStep, SamplerKind};
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct SampleArgs {
    /// Training data (without --data, --n points are drawn from the two-class model).
    #[command(flatten)]
    pub data: DataFlags,
    /// Centre --data per feature.
    #[arg(long)]
    pub centre: bool,
    /// The two-class GMM used when no --data is given.
    #[command(flatten)]
    pub two_class: TwoClassArgs,
    /// Training points drawn from the model (when no --data).
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// Which score drives the sampler: empirical (exact, f32 kernel), empirical-f64 (reference path), gmm
    /// (population score of the two-class model; no --data), gmm-fit (population score of the per-class
    /// Gaussians fitted to --data), a closed-form family score of --data (wiener, smoothed:sigma=S,
    /// cfdm:sigma=S[,m=M], knn:k=K, ls:patch=P, els:patch=P[,padding=circular], a patch schedule like ls:patch=3@0.2/7@1/15), or a
    /// model.safetensors from `diffscope train` (its data.npz, or --data, gives the nearest training points
    /// of the denoised end points).
    #[arg(long, default_value = "empirical")]
    pub score: ScoreSource,
    /// Which sampler: em (Euler–Maruyama on the reverse SDE), ode-euler, ode-heun (probability-flow ODE)
    /// or edm (EDM's stochastic sampler: Heun in σ with churn, --churn …).
    #[arg(long, default_value = "em", value_parser = sampler_names())]
    pub sampler: String,
    #[command(flatten)]
    pub edm: EdmArgs,
    /// Number of trajectories B.
    #[arg(long, short = 'b', default_value_t = 1000)]
    pub batch: usize,
    #[command(flatten)]
    pub grid: GridArgs,
    /// The end points' last step: `denoise` (Tweedie at t_min, the default) or `none`.
    #[arg(long, value_enum, default_value = "denoise")]
    pub final_step: FinalStepArg,
    /// Memory-map --data (a 2-D float32 .npy) instead of reading it: under `mpirun` each rank touches
    /// only its shard of the rows. The exact score only; the end points' nearest training points come
    /// from the kernel at t_min (no labels, no image grid).
    #[arg(long, requires = "data")]
    pub mmap: bool,
    /// Record the exact score's posterior along the trajectories: the entropy (nats) and the effective
    /// number 1/Σw² of its softmax weights at every grid time and at t_min, written to the .npz as
    /// `entropy` and `effective_n` ((K + 1) × B) with `collapse_t` (B: the first time N_eff < 2, NaN when
    /// not before t_min). Exact empirical score only.
    #[arg(long)]
    pub posterior: bool,
    /// Output .npz: x (B × d end points) and, for empirical scores, nearest / d1 / d2.
    #[arg(long, short)]
    pub out: PathBuf,
}

pub fn run(a: SampleArgs, ctx: &Ctx) -> Result<()> {
    let grid = a.grid.grid()?;
    if a.batch == 0 {
        bail!(crate::ui::UsageError("--batch must be at least 1".into()));
    }
    let model = a.two_class.model();
    let sampling = if a.mmap {
        if a.score != ScoreSource::Empirical || a.centre {
            bail!(crate::ui::UsageError(
                "--mmap serves the exact f32 score of the file as it is (--score empirical, no --centre)"
                    .into()
            ));
        }
        let path = a.data.data.as_deref().unwrap_or(std::path::Path::new(""));
        experiments::sample::Sampling::without_data(experiments::sample::mapped_score(
            path,
            ctx.comm.clone(),
            ctx.device(),
        )?)
    } else {
        let data = a.data.load(a.centre)?;
        experiments::sample::build_placed(
            &a.score,
            data,
            Some(&model),
            a.n,
            ctx.seed,
            ctx.comm.clone(),
            ctx.device(),
        )?
    };
    let score = &sampling.score;
    let training = &sampling.training;
    let d = score.dim();
    let params = a.grid.over(SampleParams {
        n: a.batch,
        sampler: SamplerKind::from_name(&a.sampler, a.edm.churn())?,
        seed: ctx.seed,
        final_step: FinalStep::from(a.final_step),
        record: false,
        posterior: a.posterior,
        ..SampleParams::default()
    });
    ctx.note(format!(
        "sampling {} trajectories with {} ({:?}, {} steps)",
        a.batch,
        score.describe(),
        params.sampler,
        grid.n_steps()
    ));
    let bar = ctx.bar(grid.n_steps() as u64, "sampling");
    let start = std::time::Instant::now();
    let out = experiments::sample::run(
        score.as_ref(),
        &params,
        training.as_ref(),
        &ctx.monitor(&bar),
    )?;
    bar.finish_and_clear();
    if let Some(line) = score.work_note() {
        ctx.note(line);
    }
    if !ctx.is_writer() {
        return Ok(());
    }
    ctx.note(format!("end points: {}", params.final_step.describe()));
    let labels = experiments::sample::end_point_labels(&out, &sampling);
    let xs = NpyArray::f32(a.batch, d, out.x.clone());
    let mut members: Vec<(&str, NpyArray)> = vec![("x", xs)];
    if let Some((nn, f_mem)) = out.nearest_columns() {
        members.push(("nearest", NpyArray::i64_1d(nn.index)));
        members.push(("d1", NpyArray::f64_1d(nn.d1)));
        members.push(("d2", NpyArray::f64_1d(nn.d2)));
        ctx.note(format!(
            "f_mem (d1/d2 < 1/3 at the end points) = {f_mem:.3}"
        ));
    }
    if let Some((l, names)) = &labels {
        members.push(("y", diffscope::data::label_array(l, names)));
    }
    if let Some(p) = out.posterior_columns() {
        members.push(("entropy", NpyArray::f64(p.rows, a.batch, p.entropy)));
        members.push(("effective_n", NpyArray::f64(p.rows, a.batch, p.effective_n)));
        members.push(("collapse_t", NpyArray::f64_1d(p.collapse_t)));
        ctx.note(format!(
            "collapse (posterior N_eff < 2): median t = {} {}",
            p.t_collapse
                .value
                .map_or("below t_min".into(), |v| format!("{v:.3}")),
            p.t_collapse.ci.map_or(String::new(), |(lo, hi)| format!(
                "(95% CI [{lo:.3}, {hi:.3}])"
            ))
        ));
    }
    members.push(("times", NpyArray::f64_1d(grid.times().to_vec())));
    let refs: Vec<(&str, &NpyArray)> = members.iter().map(|(k, v)| (*k, v)).collect();
    diffscope::io::write_npz(&a.out, &refs)?;
    // Image data: a grid of a few end points per class beside their nearest training images.
    if let (Some(ds), Some((l, _))) = (training.as_ref(), &labels) {
        let grid_path = a.out.with_extension("png");
        let classes: Vec<u16> = l.iter().map(|&c| c as u16).collect();
        let nn: Option<Vec<u32>> = out
            .nearest
            .as_ref()
            .map(|v| v.iter().map(|n| n.index).collect());
        if diffscope::report::sample_grid(&grid_path, ds, &out.x, &classes, nn.as_deref(), 8)? {
            ctx.note(format!("sample grid: {}", grid_path.display()));
        }
    }
    ctx.note(format!(
        "{} steps, {} score evaluations in {:.2} s",
        grid.n_steps(),
        out.score_evals,
        start.elapsed().as_secs_f64()
    ));
    println!("{}", a.out.display());
    Ok(())
}

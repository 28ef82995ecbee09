//! `diffscope sample`: run a reverse-time sampler with a chosen score and write the end points.

use crate::commands::data::{DataFlags, TwoClassArgs};
use crate::ui::Ctx;
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use diffscope::experiments::{self, sample::SampleParams};
use diffscope::io::NpyArray;
use diffscope::sampler::{FinalStep, SamplerKind, Spacing, TimeGrid};
use diffscope::score::{EmpiricalScore, GmmScore, Precision, Score};
use std::path::PathBuf;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum ScoreArg {
    /// Exact empirical score of the training set, f32 fused kernel.
    Empirical,
    /// Exact empirical score, f64 reference path (slow; for checks).
    EmpiricalF64,
    /// Population score of the two-class data model (no --data).
    Gmm,
    /// Population score of the per-class Gaussian mixture fitted to --data (labelled).
    GmmFit,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SamplerArg {
    /// Reverse SDE, Euler–Maruyama.
    Em,
    /// Probability-flow ODE, Euler.
    OdeEuler,
    /// Probability-flow ODE, Heun.
    OdeHeun,
}

/// The end points' last step.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum FinalStepArg {
    /// Tweedie denoising x ← e^t (x + Δ_t S(x, t)) at t_min (as EDM and k-diffusion end).
    Denoise,
    /// Keep the state at t_min (with the last step's noise).
    None,
}

impl From<FinalStepArg> for FinalStep {
    fn from(a: FinalStepArg) -> Self {
        match a {
            FinalStepArg::Denoise => FinalStep::Denoise,
            FinalStepArg::None => FinalStep::None,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SpacingArg {
    Uniform,
    Log,
    Edm,
}

/// Time-grid flags shared by commands that integrate backwards.
#[derive(Args, Debug, Clone)]
pub struct GridArgs {
    /// Number of steps.
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Start time T (x_T ~ N(0, I)).
    #[arg(long = "t-max", default_value_t = 6.0, allow_hyphen_values = true)]
    pub t_max: f64,
    /// End time t_min > 0.
    #[arg(long = "t-min", default_value_t = 0.01, allow_hyphen_values = true)]
    pub t_min: f64,
    /// Grid spacing.
    #[arg(long, value_enum, default_value = "uniform")]
    pub spacing: SpacingArg,
}

impl GridArgs {
    pub fn spacing(&self) -> Spacing {
        match self.spacing {
            SpacingArg::Uniform => Spacing::Uniform,
            SpacingArg::Log => Spacing::Log,
            SpacingArg::Edm => Spacing::Edm,
        }
    }

    pub fn grid(&self) -> Result<TimeGrid> {
        Ok(TimeGrid::new(
            self.spacing(),
            self.t_max,
            self.t_min,
            self.steps,
        )?)
    }
}

#[derive(Args, Debug)]
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
    /// Which score drives the sampler.
    #[arg(long, value_enum, default_value = "empirical")]
    pub score: ScoreArg,
    /// Which sampler.
    #[arg(long, value_enum, default_value = "em")]
    pub sampler: SamplerArg,
    /// Number of trajectories B.
    #[arg(long, short = 'b', default_value_t = 1000)]
    pub batch: usize,
    #[command(flatten)]
    pub grid: GridArgs,
    /// The end points' last step: `denoise` (Tweedie at t_min, the default) or `none`.
    #[arg(long, value_enum, default_value = "denoise")]
    pub final_step: FinalStepArg,
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
    let training = match (a.data.file_args(a.centre), a.score) {
        (Some(file), _) => Some(file.load()?),
        (None, ScoreArg::Gmm) => None,
        (None, ScoreArg::GmmFit) => bail!(crate::ui::UsageError(
            "--score gmm-fit fits a mixture to --data; give --data".into()
        )),
        (None, _) => Some(model.sample(a.n, ctx.seed)?),
    };
    // The score, and how an end point gets a label: the class of its nearest training point (empirical
    // scores) or of the nearest class mean (population scores).
    let mut centroids: Option<(Vec<Vec<f64>>, Vec<String>)> = None;
    let score: Box<dyn Score> = match (a.score, &training) {
        (ScoreArg::Gmm, Some(_)) => bail!(crate::ui::UsageError(
            "--score gmm uses the two-class model; drop --data (or use --score gmm-fit)".into()
        )),
        (ScoreArg::Gmm, None) => {
            let mix = model.mixture(ctx.seed)?;
            centroids = Some((mix.means().to_vec(), mix.class_names().to_vec()));
            Box::new(GmmScore::new(mix))
        }
        (ScoreArg::GmmFit, Some(ds)) => {
            let mix = diffscope::universality::Surrogate::fit(ds)?.mixture()?;
            centroids = Some((mix.means().to_vec(), mix.class_names().to_vec()));
            Box::new(GmmScore::new(mix))
        }
        (kind, Some(ds)) => {
            let precision = if kind == ScoreArg::EmpiricalF64 {
                Precision::F64
            } else {
                Precision::F32
            };
            Box::new(EmpiricalScore::new(ds, precision)?)
        }
        (_, None) => unreachable!("training set drawn above"),
    };
    let d = score.dim();
    let params = SampleParams {
        n: a.batch,
        sampler: match a.sampler {
            SamplerArg::Em => SamplerKind::EulerMaruyama,
            SamplerArg::OdeEuler => SamplerKind::OdeEuler,
            SamplerArg::OdeHeun => SamplerKind::OdeHeun,
        },
        steps: a.grid.steps,
        t_max: a.grid.t_max,
        t_min: a.grid.t_min,
        spacing: a.grid.spacing(),
        seed: ctx.seed,
        final_step: FinalStep::from(a.final_step),
        record: false,
    };
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
    let (x, decay, final_step) = (out.x, out.decay, params.final_step);
    let want_nn = out.nearest.is_some();
    let nn = out.nearest.unwrap_or_default();
    ctx.note(format!("end points: {}", final_step.describe()));
    let xs = NpyArray::f32(a.batch, d, x.clone());
    let mut members: Vec<(&str, NpyArray)> = vec![("x", xs)];
    if want_nn {
        members.push((
            "nearest",
            NpyArray::i64_1d(nn.iter().map(|n| n.index as i64).collect()),
        ));
        members.push((
            "d1",
            NpyArray::f64_1d(nn.iter().map(|n| n.d1 as f64).collect()),
        ));
        members.push((
            "d2",
            NpyArray::f64_1d(nn.iter().map(|n| n.d2 as f64).collect()),
        ));
        if let Some(ds) = training.as_ref().filter(|ds| ds.labels.is_some()) {
            let labels = ds
                .labels
                .as_ref()
                .map(|l| nn.iter().map(|n| l[n.index as usize]).collect::<Vec<u32>>())
                .unwrap_or_default();
            members.push(("y", diffscope::data::label_array(&labels, &ds.class_names)));
        }
        let f_mem = diffscope::memorisation::fraction_copies(&nn);
        ctx.note(format!(
            "f_mem (d1/d2 < 1/3 at the end points) = {f_mem:.3}"
        ));
    }
    if let Some((means, names)) = &centroids {
        let labels: Vec<u32> = x
            .chunks(d)
            .map(|r| diffscope::regimes::observables::nearest_centroid(r, means, decay) as u32)
            .collect();
        members.push(("y", diffscope::data::label_array(&labels, names)));
    }
    members.push(("times", NpyArray::f64_1d(grid.times().to_vec())));
    let refs: Vec<(&str, &NpyArray)> = members.iter().map(|(k, v)| (*k, v)).collect();
    diffscope::io::write_npz(&a.out, &refs)?;
    ctx.note(format!(
        "{} steps, {} score evaluations in {:.2} s",
        grid.n_steps(),
        out.score_evals,
        start.elapsed().as_secs_f64()
    ));
    println!("{}", a.out.display());
    Ok(())
}

//! Sampling as a library call: a reverse-time run from pure noise with any score, ended by the final step,
//! with the end points' nearest training points when the score has a training set. The CLI's `sample` and
//! the Python package's `sample()` both call [`run`], so the same seed gives bit-identical samples.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::progress::Monitor;
use crate::sampler::{self, FinalStep, NoiseKey, Observer, SamplerKind, Spacing, Step, TimeGrid};
use crate::score::{Extras, Nearest, Score};
use faer::Par;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

/// Parameters of a sampling run (every field defaulted).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SampleParams {
    /// Number of trajectories B.
    pub n: usize,
    /// The sampler: Euler–Maruyama on the reverse SDE, or the probability-flow ODE (Euler, Heun).
    pub sampler: SamplerKind,
    /// Time-grid steps.
    pub steps: usize,
    /// Start time T.
    pub t_max: f64,
    /// End time t_min.
    pub t_min: f64,
    /// Grid spacing.
    pub spacing: Spacing,
    /// Seed of the initial noise and of the SDE's noise.
    pub seed: u64,
    /// The end points' last step (default: Tweedie denoising at t_min).
    pub final_step: FinalStep,
    /// Keep the states at every grid time (B·(K+1)·d floats).
    pub record: bool,
}

impl Default for SampleParams {
    fn default() -> Self {
        SampleParams {
            n: 1000,
            sampler: SamplerKind::EulerMaruyama,
            steps: 200,
            t_max: 6.0,
            t_min: 0.01,
            spacing: Spacing::Uniform,
            seed: 0,
            final_step: FinalStep::Denoise,
            record: false,
        }
    }
}

/// The result of a sampling run.
#[derive(Clone, Debug)]
pub struct Samples {
    /// End points (B × d, row-major), after the final step.
    pub x: Vec<f32>,
    /// Dimension d.
    pub d: usize,
    /// The grid times t_0 = T > … > t_K = t_min.
    pub times: Vec<f64>,
    /// Nearest training points of the end points (scores with a training set).
    pub nearest: Option<Vec<Nearest>>,
    /// e^{-t} scale of the end points relative to the data (1 after denoising, e^{-t_min} without).
    pub decay: f64,
    /// States at t_0 … t_{K-1} and the end points before the final step ((K+1) × B × d), when recorded.
    pub trajectory: Option<Vec<f32>>,
    /// Score evaluations made.
    pub score_evals: usize,
}

struct Recorder(Vec<f32>);

impl Observer for Recorder {
    fn on_step(&mut self, step: &Step<'_>) -> ControlFlow<()> {
        self.0.extend_from_slice(step.x);
        ControlFlow::Continue(())
    }
}

/// Runs the sampler from N(0, I) at T to t_min and applies the final step. `training`, when given with a
/// score that has a training set, yields the end points' nearest training points (from the kernel at
/// t_min, or exactly on the denoised points).
pub fn run(
    score: &dyn Score,
    p: &SampleParams,
    training: Option<&Dataset>,
    monitor: &dyn Monitor,
) -> Result<Samples> {
    if p.n == 0 {
        return Err(Error::param("n", p.n, "at least 1 trajectory"));
    }
    let grid = TimeGrid::new(p.spacing, p.t_max, p.t_min, p.steps)?;
    let d = score.dim();
    let key = NoiseKey {
        seed: p.seed,
        first: 0,
    };
    let mut x = sampler::initial_noise(p.n, d, key);
    let mut rec = Recorder(Vec::new());
    let mut none = sampler::NoObserver;
    let obs: &mut dyn Observer = if p.record { &mut rec } else { &mut none };
    let stats = sampler::sample(
        p.sampler,
        score,
        &mut x,
        &grid,
        key,
        obs,
        monitor,
        Par::rayon(0),
    )?;
    crate::progress::check(monitor)?;
    let mut trajectory = p.record.then_some(rec.0);
    if let Some(tr) = trajectory.as_mut() {
        tr.extend_from_slice(&x);
    }
    // The score at t_min (with the kernel's nearest points) when the final step or the outputs need it.
    let want_nn = score.has_training_set() && training.is_some();
    let mut nn = vec![Nearest::default(); if want_nn { p.n } else { 0 }];
    let mut decay = (-grid.t_min()).exp();
    let mut evals = stats.score_evals;
    if want_nn || p.final_step == FinalStep::Denoise {
        let mut s = vec![0.0; x.len()];
        score.eval_into(
            &x,
            grid.t_min(),
            &mut s,
            Extras {
                log_p: None,
                nearest: want_nn.then_some(&mut nn[..]),
            },
            Par::rayon(0),
        );
        evals += 1;
        let train = training.filter(|_| want_nn);
        decay = sampler::finish_evaluated(p.final_step, &mut x, &s, grid.t_min(), train, &mut nn);
    }
    crate::progress::check(monitor)?;
    Ok(Samples {
        x,
        d,
        times: grid.times().to_vec(),
        nearest: want_nn.then_some(nn),
        decay,
        trajectory,
        score_evals: evals,
    })
}

//! Reverse-time samplers over any [`Score`] and any decreasing [`TimeGrid`] (science.md §1).
//!
//! - reverse SDE, Euler–Maruyama: $x \leftarrow x + \delta t\,(x + 2S(x,t)) + \sqrt{2\,\delta t}\,\xi$;
//! - probability-flow ODE: $\dot x = -(x + S(x, t))$ backwards, Euler or Heun;
//! - EDM's stochastic sampler (Heun with churn, in EDM's σ; [`edm`]).
//!
//! Each sampler is a short loop over `grid.steps()`. The noise of trajectory i at step k comes from the
//! stream `(seed, STEP, i, k)` and the start $x_T \sim \mathcal N(0, I)$ from `(seed, INIT, i)`, where i is
//! the trajectory's *global* index, so a run is identical for any thread count and any batch split.
//! Observers receive each step (state, score, extras) and may stop the run.

pub mod edm;
mod grid;

pub use edm::EdmChurn;
pub use grid::{Spacing, TimeGrid};

use crate::error::{Error, Result};
use crate::progress::{self, Monitor};
use crate::rng;
use crate::score::{Extras, Nearest, Posterior, Score};
use faer::Par;
use rand::Rng as _;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

/// Which sampler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SamplerKind {
    /// Reverse SDE, Euler–Maruyama.
    #[default]
    #[serde(alias = "em")]
    EulerMaruyama,
    /// Probability-flow ODE, Euler.
    OdeEuler,
    /// Probability-flow ODE, Heun (2nd order; two score evaluations per step).
    #[serde(alias = "ode", alias = "heun")]
    OdeHeun,
    /// EDM's stochastic sampler (Karras et al. 2022, Algorithm 2) with its churn; Heun in EDM's σ, two
    /// score evaluations per step ([`edm::edm`]).
    Edm(EdmChurn),
}

impl SamplerKind {
    /// Every name a sampler goes by (the CLI's `--sampler`, Python's `sampler=`, config files), each
    /// with the sampler it names ("edm" without churn: EDM's deterministic Heun).
    pub const NAMES: [(&'static str, SamplerKind); 7] = {
        const EDM: SamplerKind = SamplerKind::Edm(EdmChurn::NONE);
        [
            ("em", SamplerKind::EulerMaruyama),
            ("euler-maruyama", SamplerKind::EulerMaruyama),
            ("ode-euler", SamplerKind::OdeEuler),
            ("ode-heun", SamplerKind::OdeHeun),
            ("ode", SamplerKind::OdeHeun),
            ("heun", SamplerKind::OdeHeun),
            ("edm", EDM),
        ]
    };

    /// The sampler called `name` (any of [`SamplerKind::NAMES`]). `churn` belongs to "edm" (None there:
    /// churn 0); given with another sampler it is refused, naming `churn`.
    pub fn from_name(name: &str, churn: Option<EdmChurn>) -> Result<Self> {
        let Some(&(_, kind)) = Self::NAMES.iter().find(|(n, _)| *n == name) else {
            let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
            return Err(Error::param(
                "sampler",
                format!("{name:?}"),
                format!("one of {}", names.join(", ")),
            ));
        };
        match (kind, churn) {
            (SamplerKind::Edm(_), churn) => Ok(SamplerKind::Edm(churn.unwrap_or_default())),
            (kind, None) => Ok(kind),
            (_, Some(c)) => Err(Error::param(
                "churn",
                c.churn,
                format!("no churn (churn, s_tmin, s_tmax and s_noise belong to sampler edm, not {name})"),
            )),
        }
    }
}

/// What a backward run does after its last step, at t_min.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinalStep {
    /// Tweedie's denoising step $x \leftarrow e^{t}(x + \Delta_t S(x, t))$ at t = t_min, the posterior
    /// mean $E[a \mid x_t]$ (EDM and k-diffusion end on it: their last step goes to σ = 0). Without it the
    /// end point keeps the last step's noise, of norm $\approx\sqrt{2\,\delta t\, d}$, which blurs its
    /// class and its nearest training point.
    #[default]
    Denoise,
    /// The end point is the state at t_min.
    None,
}

impl FinalStep {
    /// How the summary states it.
    pub fn describe(self) -> &'static str {
        match self {
            FinalStep::Denoise => "denoised: x <- e^t (x + Delta_t S(x, t)) at t_min (Tweedie)",
            FinalStep::None => "state at t_min (no final denoising step)",
        }
    }
}

/// Tweedie's denoising step on rows x given their score s at time t: $x \leftarrow e^{t}(x + \Delta_t s)$.
pub fn denoise_with(x: &mut [f32], s: &[f32], t: f64) {
    let ou = crate::score::OuTime::new(t);
    let (inv, dl) = (1.0 / ou.decay, ou.delta);
    x.par_iter_mut()
        .zip(s)
        .for_each(|(xv, &sv)| *xv = (inv * (*xv as f64 + dl * sv as f64)) as f32);
}

/// Applies `step` to end points x whose score at `t_min` is `s`. When it denoises and `train` is given,
/// `nearest` (the kernel's |x − e^{-t}a| neighbours at t_min, if any) is replaced by the exact nearest
/// rows of `train` to the denoised points ([`Dataset::nearest`](crate::data::Dataset::nearest)).
/// Returns the scale e^{-t} of the end points for class rules: 1 after denoising (x̂ ≈ a lives at
/// t = 0), e^{-t_min} otherwise.
pub fn finish_evaluated(
    step: FinalStep,
    x: &mut [f32],
    s: &[f32],
    t_min: f64,
    train: Option<&crate::data::Dataset>,
    nearest: &mut Vec<Nearest>,
) -> f64 {
    match step {
        FinalStep::Denoise => {
            denoise_with(x, s, t_min);
            if let Some(ds) = train {
                *nearest = ds.nearest(x);
            }
            1.0
        }
        FinalStep::None => (-t_min).exp(),
    }
}

/// Applies `step` to the end points x at `t_min` (one score evaluation when it denoises).
pub fn finish(step: FinalStep, score: &dyn Score, x: &mut [f32], t_min: f64, par: Par) {
    if step == FinalStep::Denoise {
        let mut s = vec![0.0f32; x.len()];
        score.eval_into(x, t_min, &mut s, Extras::none(), par);
        finish_evaluated(step, x, &s, t_min, None, &mut Vec::new());
    }
}

/// The trajectories' global indices and the seed of their noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseKey {
    /// Master seed.
    pub seed: u64,
    /// Global index of the first row of the batch.
    pub first: u64,
}

/// What an observer sees at each step, before the update from `t_cur` to `t_next`.
pub struct Step<'a> {
    /// Step index k (0-based).
    pub k: usize,
    /// Current time.
    pub t_cur: f64,
    /// Next time.
    pub t_next: f64,
    /// State at `t_cur` (B × d).
    pub x: &'a [f32],
    /// Score at (x, t_cur).
    pub score: &'a [f32],
    /// log p_t(x), when requested.
    pub log_p: Option<&'a [f64]>,
    /// Nearest training points, when requested.
    pub nearest: Option<&'a [Nearest]>,
    /// Posterior entropy and effective number, when requested.
    pub posterior: Option<&'a [Posterior]>,
}

/// The extras an observer asks of a step (each only from scores that provide it: log p from the exact
/// and population scores, the others from scores with a training set).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    /// log p_t(x).
    pub log_p: bool,
    /// Nearest training points.
    pub nearest: bool,
    /// Posterior entropy and effective number ([`Posterior`]).
    pub posterior: bool,
}

/// Receives each step of a sampler.
pub trait Observer {
    /// Extras to compute at step k.
    fn wants(&self, _k: usize) -> Wants {
        Wants::default()
    }
    /// Called at every step; `Break` stops the run.
    fn on_step(&mut self, step: &Step<'_>) -> ControlFlow<()>;
    /// Whether the observer looks at the steps at all: false lets a score with a device loop
    /// ([`Score::euler_maruyama_on_device`]) keep the whole run on its device.
    fn needs_steps(&self) -> bool {
        true
    }
}

/// Observes nothing.
pub struct NoObserver;

impl Observer for NoObserver {
    fn on_step(&mut self, _: &Step<'_>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    fn needs_steps(&self) -> bool {
        false
    }
}

/// Counts of a finished run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunStats {
    /// Steps taken.
    pub steps: usize,
    /// Score evaluations (batches).
    pub score_evals: usize,
    /// Whether an observer stopped the run early.
    pub stopped_early: bool,
}

/// $x_T \sim \mathcal N(0, I)$ for `b` trajectories of dimension d, row i from stream `(seed, INIT, first + i)`.
pub fn initial_noise(b: usize, d: usize, key: NoiseKey) -> Vec<f32> {
    let mut x = vec![0.0f32; b * d];
    x.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
        let mut r = rng::stream(key.seed, &[rng::tag::INIT, key.first + i as u64]);
        row.iter_mut().for_each(|v| *v = r.sample(StandardNormal));
    });
    x
}

/// Adds $\sqrt{2\,\delta t}\,\xi$ with ξ from stream `(seed, STEP, first + i, k)` to each row i of x.
pub fn add_step_noise(x: &mut [f32], d: usize, key: NoiseKey, k: usize, dt: f64) {
    let amp = (2.0 * dt).sqrt() as f32;
    x.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
        let mut r = rng::stream(key.seed, &[rng::tag::STEP, key.first + i as u64, k as u64]);
        row.iter_mut()
            .for_each(|v| *v += amp * r.sample::<f32, _>(StandardNormal));
    });
}

/// One Euler–Maruyama step of the reverse SDE on rows x (score already evaluated at t_cur):
/// $x \leftarrow x + \delta t\,(x + 2S) + \sqrt{2\,\delta t}\,\xi$.
pub fn em_update(x: &mut [f32], score: &[f32], d: usize, key: NoiseKey, k: usize, dt: f64) {
    let h = dt as f32;
    x.par_iter_mut()
        .zip(score)
        .for_each(|(xv, &s)| *xv += h * (*xv + 2.0 * s));
    add_step_noise(x, d, key, k, dt);
}

/// Scratch and bookkeeping shared by the sampler loops.
struct Driver<'a> {
    score: &'a dyn Score,
    obs: &'a mut dyn Observer,
    monitor: &'a dyn Monitor,
    par: Par,
    s: Vec<f32>,
    log_p: Vec<f64>,
    nearest: Vec<Nearest>,
    posterior: Vec<Posterior>,
    stats: RunStats,
    total: u64,
}

impl<'a> Driver<'a> {
    /// Scratch for the B = x.len() / d rows of a run over `grid`.
    fn new(
        score: &'a dyn Score,
        x: &[f32],
        grid: &TimeGrid,
        obs: &'a mut dyn Observer,
        monitor: &'a dyn Monitor,
        par: Par,
    ) -> Self {
        let d = score.dim();
        let b = x.len() / d;
        Driver {
            score,
            obs,
            monitor,
            par,
            s: vec![0.0; b * d],
            log_p: Vec::new(),
            nearest: Vec::new(),
            posterior: Vec::new(),
            stats: RunStats::default(),
            total: grid.n_steps() as u64,
        }
    }

    /// Evaluates the score at (x, t_cur) with the observer's extras and shows it the step.
    fn observe(&mut self, x: &[f32], k: usize, t_cur: f64, t_next: f64) -> Result<ControlFlow<()>> {
        progress::check(self.monitor)?;
        let b = x.len() / self.score.dim();
        let w = self.obs.wants(k);
        self.log_p.resize(if w.log_p { b } else { 0 }, 0.0);
        self.nearest
            .resize(if w.nearest { b } else { 0 }, Nearest::default());
        self.posterior
            .resize(if w.posterior { b } else { 0 }, Posterior::default());
        let extras = Extras {
            log_p: w.log_p.then_some(&mut self.log_p[..]),
            nearest: w.nearest.then_some(&mut self.nearest[..]),
            posterior: w.posterior.then_some(&mut self.posterior[..]),
        };
        self.score
            .eval_into(x, t_cur, &mut self.s, extras, self.par);
        self.stats.score_evals += 1;
        let step = Step {
            k,
            t_cur,
            t_next,
            x,
            score: &self.s,
            log_p: w.log_p.then_some(&self.log_p[..]),
            nearest: w.nearest.then_some(&self.nearest[..]),
            posterior: w.posterior.then_some(&self.posterior[..]),
        };
        let flow = self.obs.on_step(&step);
        self.stats.steps = k + 1;
        self.monitor.advance(k as u64 + 1, self.total);
        if flow.is_break() {
            self.stats.stopped_early = true;
        }
        Ok(flow)
    }
}

/// Reverse SDE by Euler–Maruyama over `grid`, in place on `x` (B × d, state at `grid.t_max()`).
pub fn euler_maruyama(
    score: &dyn Score,
    x: &mut [f32],
    grid: &TimeGrid,
    key: NoiseKey,
    obs: &mut dyn Observer,
    monitor: &dyn Monitor,
    par: Par,
) -> Result<RunStats> {
    let d = score.dim();
    if !obs.needs_steps() {
        let noise_key = rng::derive(key.seed, &[rng::tag::STEP]);
        if score.euler_maruyama_on_device(x, grid.times(), noise_key, key.first, monitor)? {
            let n = grid.n_steps();
            return Ok(RunStats {
                steps: n,
                score_evals: n,
                stopped_early: false,
            });
        }
    }
    let mut drv = Driver::new(score, x, grid, obs, monitor, par);
    for (k, (t_cur, t_next)) in grid.steps().enumerate() {
        if drv.observe(x, k, t_cur, t_next)?.is_break() {
            break;
        }
        em_update(x, &drv.s, d, key, k, t_cur - t_next);
    }
    Ok(drv.stats)
}

/// Probability-flow ODE by Euler: $x \leftarrow x + \delta t\,(x + S(x, t))$.
pub fn ode_euler(
    score: &dyn Score,
    x: &mut [f32],
    grid: &TimeGrid,
    obs: &mut dyn Observer,
    monitor: &dyn Monitor,
    par: Par,
) -> Result<RunStats> {
    let mut drv = Driver::new(score, x, grid, obs, monitor, par);
    for (k, (t_cur, t_next)) in grid.steps().enumerate() {
        if drv.observe(x, k, t_cur, t_next)?.is_break() {
            break;
        }
        let h = (t_cur - t_next) as f32;
        x.par_iter_mut()
            .zip(&drv.s)
            .for_each(|(xv, &s)| *xv += h * (*xv + s));
    }
    Ok(drv.stats)
}

/// Probability-flow ODE by Heun: Euler predictor $\hat x = x + \delta t\, f(x, t)$, then
/// $x \leftarrow x + \tfrac{\delta t}{2}(f(x, t) + f(\hat x, t_{next}))$ with $f(x, t) = x + S(x, t)$.
pub fn ode_heun(
    score: &dyn Score,
    x: &mut [f32],
    grid: &TimeGrid,
    obs: &mut dyn Observer,
    monitor: &dyn Monitor,
    par: Par,
) -> Result<RunStats> {
    let mut drv = Driver::new(score, x, grid, obs, monitor, par);
    let mut x_hat = vec![0.0f32; x.len()];
    let mut s_hat = vec![0.0f32; x.len()];
    for (k, (t_cur, t_next)) in grid.steps().enumerate() {
        if drv.observe(x, k, t_cur, t_next)?.is_break() {
            break;
        }
        let h = (t_cur - t_next) as f32;
        x_hat
            .par_iter_mut()
            .zip(&*x)
            .zip(&drv.s)
            .for_each(|((xh, &xv), &s)| *xh = xv + h * (xv + s));
        score.eval_into(&x_hat, t_next, &mut s_hat, Extras::none(), par);
        drv.stats.score_evals += 1;
        x.par_iter_mut()
            .zip(&drv.s)
            .zip(x_hat.par_iter().zip(&s_hat))
            .for_each(|((xv, &s), (&xh, &sh))| {
                *xv += 0.5 * h * ((*xv + s) + (xh + sh));
            });
    }
    Ok(drv.stats)
}

/// Runs the chosen sampler.
#[allow(clippy::too_many_arguments)]
pub fn sample(
    kind: SamplerKind,
    score: &dyn Score,
    x: &mut [f32],
    grid: &TimeGrid,
    key: NoiseKey,
    obs: &mut dyn Observer,
    monitor: &dyn Monitor,
    par: Par,
) -> Result<RunStats> {
    match kind {
        SamplerKind::EulerMaruyama => euler_maruyama(score, x, grid, key, obs, monitor, par),
        SamplerKind::OdeEuler => ode_euler(score, x, grid, obs, monitor, par),
        SamplerKind::OdeHeun => ode_heun(score, x, grid, obs, monitor, par),
        SamplerKind::Edm(c) => edm::edm(score, x, grid, key, &c, obs, monitor, par),
    }
}

/// Draws $x_T$ for `b` trajectories (global indices 0..b, [`initial_noise`]), runs the sampler from it and
/// applies the final step; returns the end points.
#[allow(clippy::too_many_arguments)]
pub fn sample_from_noise(
    kind: SamplerKind,
    final_step: FinalStep,
    score: &dyn Score,
    b: usize,
    grid: &TimeGrid,
    seed: u64,
    obs: &mut dyn Observer,
    monitor: &dyn Monitor,
    par: Par,
) -> Result<Vec<f32>> {
    let key = NoiseKey { seed, first: 0 };
    let mut x = initial_noise(b, score.dim(), key);
    let stats = sample(kind, score, &mut x, grid, key, obs, monitor, par)?;
    if !stats.stopped_early {
        finish(final_step, score, &mut x, grid.t_min(), par);
    }
    Ok(x)
}

//! The regimes experiment (science.md §6): speciation and collapse measured by cloning backward runs,
//! beside the theory of §4.
//!
//! One trunk batch of B trajectories runs from T to t_min. Every `branch_every` steps, the first `pairs`
//! trunk states are copied twice (a clone pair); all clones run with independent noise, *as one batch
//! together with the trunk* (clones of earlier branch times form a growing prefix of the clone block), so
//! the trunk is never re-simulated. The exact empirical score gives, in the same pass, each trajectory's
//! nearest scaled training point, from which the collapse observables follow.

pub mod observables;
pub mod posterior;

use crate::data::{DataModel, Dataset};
use crate::error::{Error, Result};
use crate::progress::{self, Monitor};
use crate::rng;
use crate::sampler::{self, FinalStep, NoiseKey, Spacing, TimeGrid};
use crate::score::{
    Device, EmpiricalScore, Extras, GmmScore, Nearest, OuTime, Posterior, Precision, Score,
};
use crate::theory;
use faer::Par;
use observables::*;
use rand::Rng as _;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Which score drives the backward runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreChoice {
    /// Exact empirical score of the n training points (f32 kernel).
    #[default]
    Empirical,
    /// Population score of the data model (GMM only): speciation at large d without N points.
    Gmm,
    /// The population score of the two-class isotropic GMM, simulated exactly on the projection
    /// y = m̂·x: its score is $\hat m\cdot S = (|m| e^{-t}/\Gamma_t)\tanh(e^{-t}|m| y/\Gamma_t) - y/\Gamma_t$, a
    /// function of y alone, and m̂·ξ ~ N(0, 1), so the Euler–Maruyama chain of y is the projection of the
    /// d-dimensional one (equal in law; class = sign(m·x) = sign(y)). Cost O(B) per step at any d, for
    /// Biroli et al.'s speciation table up to d = 16384 and beyond. The other observables are those of
    /// the 1-D chain.
    #[serde(rename = "gmm-projected")]
    GmmProjected,
}

impl ScoreChoice {
    /// The name a config, the CLI and summary.json use.
    pub fn name(self) -> &'static str {
        match self {
            ScoreChoice::Empirical => "empirical",
            ScoreChoice::Gmm => "gmm",
            ScoreChoice::GmmProjected => "gmm-projected",
        }
    }
}

/// How the class of a state is decided.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassRule {
    /// The nearest class centroid scaled by e^{-t} (model means, or per-class means of the data).
    #[default]
    Centroid,
    /// A ridge classifier (λ = 10⁻², one-hot targets, standardised inputs) trained on the labelled
    /// training data and applied to x / e^{-t} (the universality experiment's ridge).
    Ridge,
}

impl ClassRule {
    /// Whether this is the default rule (kept out of serialised configs so old ones stay unchanged).
    pub fn is_centroid(&self) -> bool {
        *self == ClassRule::Centroid
    }

    /// A sentence for summaries.
    pub fn describe(&self) -> &'static str {
        match self {
            ClassRule::Centroid => {
                "nearest class centroid (model means, or per-class means of the data), scaled by e^{-t}"
            }
            ClassRule::Ridge => {
                "ridge classifier (λ = 1e-2) trained on the labelled data, applied to x e^{t}"
            }
        }
    }
}

/// Parameters of a regimes run (every field has a default, so a partial `[params]` table works).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RegimesParams {
    /// Trunk trajectories B.
    pub batch: usize,
    /// Clone pairs per branch time (taken from the first trunk trajectories).
    pub pairs: usize,
    /// Branch every this many steps.
    pub branch_every: usize,
    /// Time-grid steps.
    pub steps: usize,
    /// Start time T.
    pub t_max: f64,
    /// End time t_min.
    pub t_min: f64,
    /// Grid spacing (`log` resolves the collapse phase: its branch times reach down towards t_min). None:
    /// the experiment's default, log for real data (a data file or a supplied data set) and uniform, as in
    /// the reference experiment, for a generated model; [`RegimesParams::spacing`] reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spacing: Option<Spacing>,
    /// Score.
    pub score: ScoreChoice,
    /// Forward samples per time for the excess entropy.
    pub entropy_samples: usize,
    /// Number of times (log-spaced on [t_min, T]) for the excess entropy.
    pub entropy_times: usize,
    /// Bootstrap replicates for the CIs.
    pub bootstrap: usize,
    /// The end points' last step (default: Tweedie denoising at t_min). Classes, nearest training points,
    /// φ, φ_C and f_mem are judged on the end points it produces.
    pub final_step: FinalStep,
    /// How states are classified (φ, commitment).
    #[serde(skip_serializing_if = "ClassRule::is_centroid")]
    pub class_rule: ClassRule,
    /// Where the built-in exact score runs (`cpu`, `cuda`, `cuda:N`).
    #[serde(skip_serializing_if = "Device::is_cpu")]
    pub device: Device,
}

impl Default for RegimesParams {
    fn default() -> Self {
        RegimesParams {
            batch: 1000,
            pairs: 500,
            branch_every: 10,
            steps: 200,
            t_max: 6.0,
            t_min: 0.01,
            spacing: None,
            score: ScoreChoice::Empirical,
            entropy_samples: 400,
            entropy_times: 40,
            bootstrap: 400,
            final_step: FinalStep::Denoise,
            class_rule: ClassRule::Centroid,
            device: Device::Cpu,
        }
    }
}

impl RegimesParams {
    /// The grid spacing: the one set, or uniform (the experiment layer sets log for real data first).
    pub fn spacing(&self) -> Spacing {
        self.spacing.unwrap_or(Spacing::Uniform)
    }

    /// Checks ranges; errors name the field.
    pub fn validate(&self) -> Result<()> {
        if self.batch < 2 {
            return Err(Error::param("batch", self.batch, "at least 2 trajectories"));
        }
        if self.pairs == 0 || self.pairs > self.batch {
            return Err(Error::param(
                "pairs",
                self.pairs,
                format!("1..={} (the batch size)", self.batch),
            ));
        }
        if self.branch_every == 0 || self.branch_every >= self.steps {
            return Err(Error::param(
                "branch_every",
                self.branch_every,
                format!("1..{} (the number of steps)", self.steps),
            ));
        }
        if self.entropy_samples < 2 || self.entropy_times < 2 {
            return Err(Error::param(
                "entropy_samples/entropy_times",
                format!("{}/{}", self.entropy_samples, self.entropy_times),
                "at least 2 each",
            ));
        }
        TimeGrid::new(self.spacing(), self.t_max, self.t_min, self.steps)?;
        Ok(())
    }
}

/// Estimate with a 95 % bootstrap interval.
#[derive(Clone, Debug, Serialize, Deserialize, Default)]
pub struct Measured {
    /// Point estimate (None when the curve never crosses the level).
    pub value: Option<f64>,
    /// 95 % interval.
    pub ci: Option<(f64, f64)>,
}

/// Curves and numbers of a regimes run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RegimesResult {
    /// Branch times t_b (increasing).
    pub t_branch: Vec<f64>,
    /// φ(t_b): fraction of clone pairs ending in the same class, with 95 % CIs.
    pub phi: Vec<f64>,
    /// Lower CI of φ.
    pub phi_lo: Vec<f64>,
    /// Upper CI of φ.
    pub phi_hi: Vec<f64>,
    /// Lower simultaneous (Bonferroni, 95 % over all branch times) band of φ.
    pub phi_sim_lo: Vec<f64>,
    /// Upper simultaneous band of φ.
    pub phi_sim_hi: Vec<f64>,
    /// φ_C(t_b): fraction of pairs ending at the same nearest training point (empirical score only).
    pub phi_c: Option<Vec<f64>>,
    /// Theory φ(t_b) (two-class GMM only).
    pub phi_theory: Option<Vec<f64>>,
    /// Measured t_S: φ = 0.775 crossing.
    pub t_s: Measured,
    /// Measured φ_C = 0.5 crossing.
    pub t_c_phi_half: Measured,
    /// Per-trajectory last change of the nearest training point.
    pub last_change: Option<Vec<f64>>,
    /// The posterior's entropy and effective number along the trunk, and the per-trajectory collapse
    /// times N_eff < 2 (empirical score only).
    pub posterior: Option<posterior::PosteriorCurves>,
    /// Fraction of trunk end points with d₁/d₂ < 1/3 (end points after the final step).
    pub f_mem: Option<f64>,
    /// The same for the states at t_min before the final step (equal to `f_mem` without one).
    pub f_mem_at_t_min: Option<f64>,
    /// What the end points are ([`FinalStep::describe`]).
    pub end_points: String,
    /// Times of the commitment curve (the trunk grid, decreasing).
    pub commit_t: Vec<f64>,
    /// P[class(x_t) = class(x_{t_min})] along the trunk.
    pub commit_p: Vec<f64>,
    /// Excess-entropy times (increasing).
    pub entropy_t: Vec<f64>,
    /// f^e(t)/α from forward samples of the training set.
    pub entropy: Option<Vec<f64>>,
    /// Standard error of f^e(t)/α over the forward samples.
    pub entropy_se: Option<Vec<f64>>,
    /// f^e/α = 0 crossing (from the top) with its 95 % interval from the SE bands.
    pub t_c_entropy: Measured,
    /// f^e/α = 0.05 crossing (from the top) with its 95 % interval.
    pub t_c_entropy_005: Measured,
    /// The trunk's end points (B × d, after the final step; empty for the projected chain). Not in
    /// curves.json.
    #[serde(skip)]
    pub samples: Vec<f32>,
    /// Their classes by the class rule.
    #[serde(skip)]
    pub sample_class: Vec<u16>,
    /// Their nearest training points, when known.
    #[serde(skip)]
    pub sample_nearest: Option<Vec<u32>>,
}

/// Everything the experiment needs about its data.
pub struct RegimesInput<'a> {
    /// Training set (the empirical score's points; also the forward samples of the excess entropy).
    pub data: &'a Dataset,
    /// The data model when there is one (GMM score, theory curves).
    pub model: Option<&'a DataModel>,
    /// Class centroids for the class rule (model means, or per-class data means).
    pub centroids: Vec<Vec<f64>>,
    /// Seed.
    pub seed: u64,
    /// A score brought by the caller (a trained network, a Python callable...): drives the backward runs
    /// instead of `params.score`. Collapse observables that need the training set's nearest points are
    /// then judged on the end points only (exactly, by [`Dataset::nearest`]) when they are denoised.
    pub score: Option<&'a dyn Score>,
}

/// Runs the experiment in four phases: [`simulate`] (the trunk, its clones and their end points),
/// [`clone_statistics`] (φ, φ_C and their crossings t_S, t_C with CIs), [`commitment`] (the trunk's class
/// agreement with its end), and [`entropy_curve`] (the excess entropy from forward samples). `monitor`
/// receives progress in steps of the backward run plus entropy times.
pub fn run(
    input: &RegimesInput<'_>,
    p: &RegimesParams,
    monitor: &dyn Monitor,
) -> Result<RegimesResult> {
    p.validate()?;
    if p.score == ScoreChoice::GmmProjected && input.score.is_none() {
        return run_projected(input, p, monitor);
    }
    let owned = built_in_score(input, p)?;
    let score: &dyn Score = match (input.score, &owned) {
        (Some(s), _) => s,
        (None, Some(b)) => b.as_ref(),
        (None, None) => unreachable!("built_in_score returns a score when none is supplied"),
    };
    let empirical = score.has_training_set();
    // Nearest training points of the end points: from the kernel's pass (empirical score), or computed
    // exactly on the denoised end points (a supplied score: φ_C and f_mem judged where it ends).
    let end_nearest = empirical || (input.score.is_some() && p.final_step == FinalStep::Denoise);
    let rule = Classify::new(p.class_rule, input)?;
    let sim = simulate(score, input, p, &rule, end_nearest, monitor)?;
    let clones = clone_statistics(&sim, p, input.seed, end_nearest);
    let phi_theory = match input.model {
        Some(DataModel::TwoClass(m)) => Some(
            clones
                .t_branch
                .iter()
                .map(|&t| {
                    theory::speciation_curve(m.mu_tilde * (m.d as f64).sqrt(), m.sigma * m.sigma, t)
                })
                .collect::<Result<Vec<f64>>>()?,
        ),
        _ => None,
    };
    let b = p.batch;
    let last_change = empirical.then(|| last_change_times(&sim.times, &sim.trunk_nearest));
    let posterior = empirical.then(|| posterior::summarise(&sim.times, &sim.trunk_posterior));
    let f_mem = end_nearest.then(|| crate::memorisation::fraction_copies(&sim.nn[..b]));
    let (commit_t, commit_p) = commitment(&sim.trunk_class, &sim.times, p.t_min, b);
    let ent = if empirical {
        entropy_curve(score, input.data, p, input.seed, monitor)?
    } else {
        EntropyCurve::times_only(p)
    };
    let d = input.data.d;
    Ok(RegimesResult {
        phi_lo: clones.ci_each.iter().map(|c| c.0).collect(),
        phi_hi: clones.ci_each.iter().map(|c| c.1).collect(),
        phi_sim_lo: clones.ci_sim.iter().map(|c| c.0).collect(),
        phi_sim_hi: clones.ci_sim.iter().map(|c| c.1).collect(),
        t_branch: clones.t_branch,
        phi: clones.phi,
        phi_c: clones.phi_c,
        phi_theory,
        t_s: clones.t_s,
        t_c_phi_half: clones.t_c_phi_half,
        last_change,
        posterior,
        f_mem,
        f_mem_at_t_min: sim.f_mem_at_t_min,
        end_points: p.final_step.describe().into(),
        commit_t,
        commit_p,
        entropy_t: ent.t,
        entropy: ent.f,
        entropy_se: ent.se,
        t_c_entropy: ent.t_c_zero,
        t_c_entropy_005: ent.t_c_005,
        samples: sim.x[..b * d].to_vec(),
        sample_class: sim.end_class[..b].to_vec(),
        sample_nearest: end_nearest.then(|| sim.nn[..b].iter().map(|n| n.index).collect()),
    })
}

/// The built-in score of `p.score` (None when the caller supplies one), after checking a supplied
/// score's dimension.
fn built_in_score(input: &RegimesInput<'_>, p: &RegimesParams) -> Result<Option<Box<dyn Score>>> {
    let d = input.data.d;
    match (input.score, p.score) {
        (Some(_), ScoreChoice::GmmProjected) => Err(Error::param(
            "score",
            "gmm-projected",
            "empirical or gmm when a score is supplied (the projected chain has no d-dimensional score)",
        )),
        (Some(s), _) if s.dim() != d => Err(Error::Shape {
            what: "regimes score".into(),
            detail: format!(
                "the score has dimension {} but the data have d = {d}",
                s.dim()
            ),
        }),
        (Some(_), _) => Ok(None),
        (None, ScoreChoice::Empirical) => Ok(Some(Box::new(EmpiricalScore::on_device(
            input.data,
            Precision::F32,
            p.device,
        )?))),
        (None, ScoreChoice::Gmm) => {
            let model = input.model.ok_or_else(|| {
                Error::param(
                    "score",
                    "gmm",
                    "a data model (the population score needs one)",
                )
            })?;
            Ok(Some(Box::new(GmmScore::new(model.mixture(input.seed)?))))
        }
        (None, ScoreChoice::GmmProjected) => unreachable!("run() handles the projected chain"),
    }
}

/// The class rule in use: nearest scaled centroid, or a ridge classifier trained on the labelled data
/// and applied to x / e^{-t}.
struct Classify<'a> {
    centroids: &'a [Vec<f64>],
    ridge: Option<crate::universality::LinearModel>,
    d: usize,
}

impl<'a> Classify<'a> {
    fn new(rule: ClassRule, input: &'a RegimesInput<'_>) -> Result<Self> {
        let ridge = match rule {
            ClassRule::Centroid => None,
            ClassRule::Ridge => Some(
                crate::universality::Classifier::Ridge { lambda: 1e-2 }
                    .train(input.data, input.data, input.seed)?,
            ),
        };
        Ok(Classify {
            centroids: &input.centroids,
            ridge,
            d: input.data.d,
        })
    }

    /// Classes of the rows of x at scale `decay` = e^{-t} (1 for denoised points).
    fn classes(&self, x: &[f32], decay: f64) -> Vec<u16> {
        x.par_chunks(self.d)
            .map(|r| match &self.ridge {
                None => nearest_centroid(r, self.centroids, decay) as u16,
                Some(lm) => {
                    let z: Vec<f32> = r.iter().map(|&v| (v as f64 / decay) as f32).collect();
                    lm.predict(&z) as u16
                }
            })
            .collect()
    }
}

/// The simulated batch: trunk rows [0, B), then clone pairs grouped by branch step (2·pairs rows per
/// branch), with the observables recorded along the way.
struct Simulation {
    /// End points of every row (after the final step).
    x: Vec<f32>,
    /// Nearest training points of every row's end point (when known).
    nn: Vec<Nearest>,
    /// Nearest training point of each trunk row at every grid time and at t_min (empirical scores).
    trunk_nearest: Vec<Vec<u32>>,
    /// Posterior of each trunk row at every grid time and at t_min (empirical scores).
    trunk_posterior: Vec<Vec<Posterior>>,
    /// Class of each trunk row at every grid time, then at the end.
    trunk_class: Vec<Vec<u16>>,
    /// Class of every row's end point.
    end_class: Vec<u16>,
    /// f_mem of the trunk at t_min before the final step (empirical scores).
    f_mem_at_t_min: Option<f64>,
    /// The steps at which clone pairs branch off.
    branch_steps: Vec<usize>,
    /// The grid times.
    times: Vec<f64>,
}

/// Phase 1: the trunk from T to t_min, a clone pair of the first `pairs` trunk rows every `branch_every`
/// steps (all clones run with independent noise in one batch with the trunk), the final step and the
/// classes and nearest training points of every end point.
fn simulate(
    score: &dyn Score,
    input: &RegimesInput<'_>,
    p: &RegimesParams,
    rule: &Classify<'_>,
    end_nearest: bool,
    monitor: &dyn Monitor,
) -> Result<Simulation> {
    let d = input.data.d;
    let empirical = score.has_training_set();
    let grid = TimeGrid::new(p.spacing(), p.t_max, p.t_min, p.steps)?;
    let times = grid.times().to_vec();
    let branch_steps: Vec<usize> = (1..p.steps).filter(|k| k % p.branch_every == 0).collect();
    let total = (p.steps + p.entropy_times) as u64;
    let (b, np) = (p.batch, p.pairs);
    let key = NoiseKey {
        seed: input.seed,
        first: 0,
    };
    let mut x = sampler::initial_noise(b, d, key);
    let mut s = Vec::new();
    let mut trunk_nearest: Vec<Vec<u32>> = Vec::with_capacity(p.steps + 1);
    let mut trunk_class: Vec<Vec<u16>> = Vec::with_capacity(p.steps + 1);
    let mut trunk_posterior: Vec<Vec<Posterior>> = Vec::with_capacity(p.steps + 1);
    let mut nn = Vec::new();
    let mut post = Vec::new();
    // One score pass over all rows at time t, with the nearest points and the posterior when the score
    // has them.
    let mut evaluate = |x: &[f32], t: f64, s: &mut Vec<f32>, nn: &mut Vec<Nearest>| {
        s.resize(x.len(), 0.0);
        let rows = if empirical { x.len() / d } else { 0 };
        nn.resize(rows, Nearest::default());
        post.resize(rows, Posterior::default());
        score.eval_into(
            x,
            t,
            s,
            Extras {
                log_p: None,
                nearest: empirical.then_some(&mut nn[..]),
                posterior: empirical.then_some(&mut post[..]),
            },
            Par::rayon(0),
        );
        if empirical {
            trunk_posterior.push(post[..b].to_vec());
        }
    };
    for (k, (t_cur, t_next)) in grid.steps().enumerate() {
        progress::check(monitor)?;
        if branch_steps.contains(&k) {
            let trunk_part: Vec<f32> = x[..np * d].to_vec();
            x.extend_from_slice(&trunk_part);
            x.extend_from_slice(&trunk_part);
        }
        evaluate(&x, t_cur, &mut s, &mut nn);
        if empirical {
            trunk_nearest.push(nn[..b].iter().map(|n| n.index).collect());
        }
        trunk_class.push(rule.classes(&x[..b * d], (-t_cur).exp()));
        // Row i's global id is i: trunk ids 0..B, clone ids B.. in order of creation.
        sampler::em_update(&mut x, &s, d, key, k, t_cur - t_next);
        monitor.advance(k as u64 + 1, total);
    }
    // End points at t_min.
    evaluate(&x, p.t_min, &mut s, &mut nn);
    if empirical {
        trunk_nearest.push(nn[..b].iter().map(|n| n.index).collect());
    }
    let f_mem_at_t_min = empirical.then(|| crate::memorisation::fraction_copies(&nn[..b]));
    // The end points: denoised (classes and nearest points of x̂ ≈ a, at t = 0) or the states at t_min.
    let decay = sampler::finish_evaluated(
        p.final_step,
        &mut x,
        &s,
        p.t_min,
        end_nearest.then_some(input.data),
        &mut nn,
    );
    let end_class = rule.classes(&x, decay);
    trunk_class.push(end_class[..b].to_vec());
    Ok(Simulation {
        x,
        nn,
        trunk_nearest,
        trunk_posterior,
        trunk_class,
        end_class,
        f_mem_at_t_min,
        branch_steps,
        times,
    })
}

/// Clone-pair agreement per branch time and its crossings.
struct CloneStatistics {
    t_branch: Vec<f64>,
    phi: Vec<f64>,
    ci_each: Vec<(f64, f64)>,
    ci_sim: Vec<(f64, f64)>,
    t_s: Measured,
    phi_c: Option<Vec<f64>>,
    t_c_phi_half: Measured,
}

/// Phase 2: φ(t_b) (same class) and φ_C(t_b) (same nearest training point) per branch time ordered by
/// increasing t_b, with pointwise and simultaneous bootstrap bands, t_S where φ = 0.775 and t_C where
/// φ_C = ½, each with a bootstrap CI.
fn clone_statistics(
    sim: &Simulation,
    p: &RegimesParams,
    seed: u64,
    end_nearest: bool,
) -> CloneStatistics {
    let (b, np) = (p.batch, p.pairs);
    let mut agree_class = Vec::new();
    let mut agree_point = Vec::new();
    let mut t_branch = Vec::new();
    for (j, &kb) in sim.branch_steps.iter().enumerate().rev() {
        let base = b + j * 2 * np;
        t_branch.push(sim.times[kb]);
        agree_class.push(
            (0..np)
                .map(|i| sim.end_class[base + i] == sim.end_class[base + np + i])
                .collect::<Vec<bool>>(),
        );
        if end_nearest {
            agree_point.push(
                (0..np)
                    .map(|i| sim.nn[base + i].index == sim.nn[base + np + i].index)
                    .collect::<Vec<bool>>(),
            );
        }
    }
    let phi: Vec<f64> = agree_class.iter().map(|a| fraction(a)).collect();
    let ci_each: Vec<(f64, f64)> = (0..phi.len())
        .map(|j| {
            let key = rng::sub(seed, rng::purpose::PHI_POINTWISE, j as u64);
            bootstrap_ci(&agree_class[j..=j], p.bootstrap, key, &|f| Some(f[0]))
                .unwrap_or((phi[j], phi[j]))
        })
        .collect();
    // Simultaneous bands over all m branch times (Bonferroni: level 1 − 0.05/m each), so that "the theory
    // curve lies inside the band at every branch time" is a 95 % statement.
    let m_b = phi.len().max(1) as f64;
    let ci_sim: Vec<(f64, f64)> = (0..phi.len())
        .map(|j| {
            bootstrap_interval(
                &agree_class[j..=j],
                (p.bootstrap * 5).max(40 * phi.len()),
                rng::sub(seed, rng::purpose::PHI_SIMULTANEOUS, j as u64),
                &|f| Some(f[0]),
                1.0 - 0.05 / m_b,
            )
            .unwrap_or((phi[j], phi[j]))
        })
        .collect();
    let tb = t_branch.clone();
    let t_s = Measured {
        value: crossing(&t_branch, &phi, 0.775),
        ci: bootstrap_ci(
            &agree_class,
            p.bootstrap,
            rng::sub(seed, rng::purpose::T_S, 0),
            &|f| crossing(&tb, f, 0.775),
        ),
    };
    let (phi_c, t_c_phi_half) = if end_nearest {
        let pc: Vec<f64> = agree_point.iter().map(|a| fraction(a)).collect();
        let m = Measured {
            value: crossing(&t_branch, &pc, 0.5),
            ci: bootstrap_ci(
                &agree_point,
                p.bootstrap,
                rng::sub(seed, rng::purpose::PHI_C, 0),
                &|f| crossing(&tb, f, 0.5),
            ),
        };
        (Some(pc), m)
    } else {
        (None, Measured::default())
    };
    CloneStatistics {
        t_branch,
        phi,
        ci_each,
        ci_sim,
        t_s,
        phi_c,
        t_c_phi_half,
    }
}

/// Phase 3: P[class of the trunk at t = its final class] at every grid time and at t_min.
fn commitment(
    trunk_class: &[Vec<u16>],
    times: &[f64],
    t_min: f64,
    b: usize,
) -> (Vec<f64>, Vec<f64>) {
    let last = trunk_class.last().cloned().unwrap_or_default();
    let commit_p: Vec<f64> = trunk_class
        .iter()
        .map(|c| c.iter().zip(&last).filter(|(a, b)| a == b).count() as f64 / b as f64)
        .collect();
    let mut commit_t = times.to_vec();
    commit_t.push(t_min);
    commit_t.truncate(commit_p.len());
    (commit_t, commit_p)
}

/// The excess entropy f^e/α at log-spaced times with its standard errors and crossings.
struct EntropyCurve {
    t: Vec<f64>,
    f: Option<Vec<f64>>,
    se: Option<Vec<f64>>,
    t_c_zero: Measured,
    t_c_005: Measured,
}

impl EntropyCurve {
    /// The `entropy_times` log-spaced times on [t_min, T].
    fn times(p: &RegimesParams) -> Vec<f64> {
        (0..p.entropy_times)
            .map(|i| {
                (p.t_min.ln()
                    + (p.t_max.ln() - p.t_min.ln()) * i as f64 / (p.entropy_times - 1) as f64)
                    .exp()
            })
            .collect()
    }

    /// No measurement (scores without log p_t): the times only.
    fn times_only(p: &RegimesParams) -> Self {
        EntropyCurve {
            t: Self::times(p),
            f: None,
            se: None,
            t_c_zero: Measured::default(),
            t_c_005: Measured::default(),
        }
    }
}

/// Phase 4: f^e/α from `entropy_samples` forward samples of the training set at each time
/// ([`excess_entropy_at`]), and where it reaches 0 and 0.05 ([`entropy_crossing`]).
fn entropy_curve(
    score: &dyn Score,
    data: &Dataset,
    p: &RegimesParams,
    seed: u64,
    monitor: &dyn Monitor,
) -> Result<EntropyCurve> {
    let t = EntropyCurve::times(p);
    let total = (p.steps + p.entropy_times) as u64;
    let mut out = Vec::with_capacity(t.len());
    for (i, &ti) in t.iter().enumerate() {
        progress::check(monitor)?;
        out.push(excess_entropy_at(
            score,
            data,
            ti,
            p.entropy_samples,
            seed,
            i as u64,
        ));
        monitor.advance((p.steps + i + 1) as u64, total);
    }
    let se: Vec<f64> = out.iter().map(|v| v.1).collect();
    let f: Vec<f64> = out.iter().map(|v| v.0).collect();
    Ok(EntropyCurve {
        t_c_zero: entropy_crossing(&t, &f, &se, 0.0),
        t_c_005: entropy_crossing(&t, &f, &se, 0.05),
        t: t.clone(),
        f: Some(f),
        se: Some(se),
    })
}

/// [`ScoreChoice::GmmProjected`]: the run on the 1-D model ±|m| + σz of y = m̂·x (training set: the
/// projections of the data, centroids ±|m|), with the population score.
fn run_projected(
    input: &RegimesInput<'_>,
    p: &RegimesParams,
    monitor: &dyn Monitor,
) -> Result<RegimesResult> {
    let Some(model @ DataModel::TwoClass(m)) = input.model else {
        return Err(Error::param(
            "score",
            "gmm-projected",
            "the two-class GMM model (the projection onto m is exact only there)",
        ));
    };
    let m_vec = model
        .mixture(input.seed)?
        .means()
        .first()
        .cloned()
        .unwrap_or_default();
    let m_norm = m_vec.iter().map(|v| v * v).sum::<f64>().sqrt();
    let y: Vec<f32> = input
        .data
        .x
        .chunks_exact(input.data.d)
        .map(|r| {
            (r.iter()
                .zip(&m_vec)
                .map(|(&a, b)| a as f64 * b)
                .sum::<f64>()
                / m_norm) as f32
        })
        .collect();
    let data1 = Dataset::new(y, input.data.n, 1, "projection onto m")?;
    let model1 = DataModel::TwoClass(crate::data::TwoClassGmm {
        d: 1,
        mu_tilde: m_norm,
        sigma: m.sigma,
        direction: crate::data::Direction::Ones,
    });
    let centroids = model1.mixture(input.seed)?.means().to_vec();
    let mut r = run(
        &RegimesInput {
            score: None,
            data: &data1,
            model: Some(&model1),
            centroids,
            seed: input.seed,
        },
        &RegimesParams {
            score: ScoreChoice::Gmm,
            class_rule: ClassRule::Centroid,
            ..p.clone()
        },
        monitor,
    )?;
    // The 1-D chain has no d-dimensional end points to show.
    r.samples.clear();
    r.sample_class.clear();
    r.sample_nearest = None;
    Ok(r)
}

/// The excess entropy at time t (science.md §4) from m forward samples $x_j = e^{-t}a_{\mu_j} +
/// \sqrt{\Delta_t} z_j$ of the training set (μ_j uniform; stream `(seed, FORWARD, i, j)`):
/// $f^e(t) = \langle\log P^e_t(x)\rangle/d + \tfrac12 + \tfrac12\log(2\pi\Delta_t) + \alpha$, α = ln n / d,
/// with $\log P^e_t$ from the score's log-sum-exp (f64). Returns $(f^e/\alpha,\ \mathrm{SE})$ with the
/// standard error over the forward samples $\mathrm{SE} = \mathrm{sd}_j(\log P^e_t(x_j)) / (d\,\alpha\sqrt m)$.
pub fn excess_entropy_at(
    score: &dyn Score,
    data: &Dataset,
    t: f64,
    m: usize,
    seed: u64,
    i: u64,
) -> (f64, f64) {
    let d = data.d;
    let alpha = (data.n as f64).ln() / d as f64;
    let ou = OuTime::new(t);
    let mut xf = vec![0.0f32; m * d];
    xf.par_chunks_mut(d).enumerate().for_each(|(j, row)| {
        let mut g = crate::rng::stream(seed, &[crate::rng::tag::FORWARD, i, j as u64]);
        let mu = g.random_range(0..data.n);
        row.iter_mut().zip(data.row(mu)).for_each(|(v, &a)| {
            *v = (ou.decay * a as f64 + ou.delta.sqrt() * g.sample::<f64, _>(StandardNormal)) as f32
        });
    });
    let mut lp = vec![0.0f64; m];
    let mut sc = vec![0.0f32; m * d];
    score.eval_into(
        &xf,
        t,
        &mut sc,
        Extras {
            log_p: Some(&mut lp),
            nearest: None,
            posterior: None,
        },
        Par::rayon(0),
    );
    let mean = lp.iter().sum::<f64>() / m as f64;
    let var = lp.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m as f64 - 1.0).max(1.0);
    let fe = mean / d as f64 + 0.5 + 0.5 * (2.0 * std::f64::consts::PI * ou.delta).ln() + alpha;
    (
        fe / alpha,
        var.sqrt() / (d as f64 * alpha * (m as f64).sqrt()),
    )
}

/// Where $f^e/\alpha$ (≈ 0 below t_C, → 1 at large t) first reaches `level` scanning from the largest t
/// downwards, with a 95 % interval from the curves $f \pm 1.96\,\mathrm{SE}$: the upper curve reaches the
/// level at a smaller t, the lower one at a larger t (pointwise normal bands, linear interpolation
/// between the times). Below t_C the measured curve hovers around 0 within its noise, so the upper curve
/// often never reaches 0: the interval's lower end is then the smallest time measured (the data are
/// consistent with the level all the way down). `t` increasing.
pub fn entropy_crossing(t: &[f64], f: &[f64], se: &[f64], level: f64) -> Measured {
    let from_top = |y: &dyn Fn(usize) -> f64| {
        let t_rev: Vec<f64> = t.iter().rev().map(|t| -t).collect();
        let y_rev: Vec<f64> = (0..t.len()).rev().map(y).collect();
        crossing(&t_rev, &y_rev, level).map(|t| -t)
    };
    let value = from_top(&|i| f[i]);
    let hi = from_top(&|i| f[i] - 1.96 * se[i]);
    let lo = from_top(&|i| f[i] + 1.96 * se[i]).or(t.first().copied());
    Measured {
        value,
        ci: value.and(lo.zip(hi)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::TwoClassGmm;
    use crate::progress::Silent;

    #[test]
    fn ridge_and_centroid_class_rules_agree_on_well_separated_classes() {
        // μ̃ = 2 in d = 10: |m| ≈ 6.3 σ, so the two rules (independent: class means vs a ridge fit)
        // classify the same end points of the same trajectories (the rule does not change the dynamics)
        // alike up to a few borderline points.
        let model = DataModel::TwoClass(TwoClassGmm {
            mu_tilde: 2.0,
            ..TwoClassGmm::standard(10)
        });
        let data = model.sample(300, 3).unwrap();
        let centroids = model.mixture(3).unwrap().means().to_vec();
        let p = RegimesParams {
            batch: 200,
            pairs: 20,
            steps: 40,
            entropy_times: 2,
            entropy_samples: 10,
            bootstrap: 20,
            ..RegimesParams::default()
        };
        let input = RegimesInput {
            score: None,
            data: &data,
            model: Some(&model),
            centroids,
            seed: 5,
        };
        let a = run(&input, &p, &Silent).unwrap();
        let b = run(
            &input,
            &RegimesParams {
                class_rule: ClassRule::Ridge,
                ..p.clone()
            },
            &Silent,
        )
        .unwrap();
        assert_eq!(a.samples, b.samples);
        let agree = a
            .sample_class
            .iter()
            .zip(&b.sample_class)
            .filter(|(x, y)| x == y)
            .count();
        assert!(agree >= 196, "{agree} of 200 agree");
    }

    /// A small run with known answers. n = 200 points in d = 10 (α = 0.53, analytic t_C = 0.49, point
    /// spacing ≈ 4.5), 40 uniform steps from t = 5: every trajectory has collapsed by t_min = 0.01, but the
    /// last EM step (dt = 0.125) adds noise of norm √(2 dt d) ≈ 1.6 > spacing / 3, so the raw states at
    /// t_min, the end points without a final step, are not judged copies: f_mem < ½ (measured 0; a final
    /// step that denoised anyway gives 63/64; the denoised case is `denoised_end_points_of_a_collapsed_run_are_copies`). Clones branched at the
    /// latest time agree on their class. Commitment: at t = T the trunk's class is independent of its final
    /// class (agreement ½, binomial sd 0.0625 at B = 64: within ±0.19 = 3 sd), at t_min it is the final one.
    #[test]
    fn small_run_memorises_and_clones_agree_late() {
        let model = DataModel::TwoClass(TwoClassGmm::standard(10));
        let data = model.sample(200, 3).unwrap();
        let centroids = model.mixture(3).unwrap().means().to_vec();
        let p = RegimesParams {
            batch: 64,
            pairs: 32,
            branch_every: 5,
            steps: 40,
            t_max: 5.0,
            t_min: 0.01,
            spacing: Some(Spacing::Uniform),
            score: ScoreChoice::Empirical,
            entropy_samples: 50,
            entropy_times: 8,
            bootstrap: 50,
            final_step: FinalStep::None,
            class_rule: ClassRule::Centroid,
            device: Device::Cpu,
        };
        let r = run(
            &RegimesInput {
                score: None,
                data: &data,
                model: Some(&model),
                centroids,
                seed: 1,
            },
            &p,
            &Silent,
        )
        .unwrap();
        assert!(r.f_mem.unwrap() < 0.5, "f_mem = {:?}", r.f_mem);
        assert!(r.phi[0] >= 0.9, "φ at the latest branch = {}", r.phi[0]);
        let c = &r.commit_p;
        assert!((c[0] - 0.5).abs() < 0.19, "commitment at T = {}", c[0]);
        assert!(
            c[c.len() - 2] >= 0.95,
            "commitment at t_min = {}",
            c[c.len() - 2]
        );
        assert!(r.t_branch.windows(2).all(|w| w[0] < w[1]));
        let e = r.entropy.unwrap();
        // f^e/α → 1 at large t (the noised empirical density is the noised population) and → 0 at small t.
        assert!(
            e[0].abs() < 0.2 && (e[e.len() - 1] - 1.0).abs() < 0.15,
            "{e:?}"
        );
        assert!(RegimesParams {
            pairs: 100,
            ..p.clone()
        }
        .validate()
        .unwrap_err()
        .to_string()
        .contains("pairs"));
    }

    /// A case whose answer is known: 40 points of N(0, 0.2² I) in d = 50 (spacing |a − a'| ≈ 2.0); the
    /// runs collapse at t_C = ½ log(1 + 0.04/(40^{2/50} − 1)) ≈ 0.11 > t_min = 0.01. On a log grid (last
    /// step dt ≈ 0.001) the state at t_min is e^{-t}a + noise of norm ≈ √(Δ d) ≈ 1.0, so d₁/d₂ ≈
    /// 1/√(1 + 4) ≈ 0.45 > 1/3 for almost every end point; the denoised end point is the posterior mean
    /// Σ w a with runner-up weights ≈ e^{-|a − a'|²/(2Δ)} ≈ e^{-100 ± 14}, i.e. a training point to f32
    /// precision: f_mem = 1 exactly. (With spacing ≈ 1 instead, or a coarse uniform grid whose last EM
    /// step adds noise √(2 dt d) > √(Δ_{t_min} d), some end points are still between two points at t_min
    /// and Tweedie returns a blend: 0.84–0.96 here.)
    #[test]
    fn denoised_end_points_of_a_collapsed_run_are_copies() {
        use rand::SeedableRng;
        let (n, d) = (40usize, 50usize);
        let mut g = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let x: Vec<f32> = (0..n * d)
            .map(|_| 0.2 * g.sample::<f32, _>(StandardNormal))
            .collect();
        let data = Dataset::new(x, n, d, "cloud").unwrap();
        let p = RegimesParams {
            batch: 100,
            pairs: 20,
            branch_every: 10,
            steps: 60,
            t_max: 4.0,
            t_min: 0.01,
            spacing: Some(Spacing::Log),
            entropy_samples: 20,
            entropy_times: 3,
            bootstrap: 20,
            ..RegimesParams::default()
        };
        let input = RegimesInput {
            score: None,
            data: &data,
            model: None,
            centroids: vec![vec![0.0; d]],
            seed: 2,
        };
        let den = run(&input, &p, &Silent).unwrap();
        let raw = run(
            &input,
            &RegimesParams {
                final_step: FinalStep::None,
                ..p.clone()
            },
            &Silent,
        )
        .unwrap();
        assert_eq!(den.f_mem, Some(1.0), "{:?}", den.f_mem);
        assert!(raw.f_mem.unwrap() < 0.2, "raw f_mem = {:?}", raw.f_mem);
        // The state at t_min is the same in both runs; only the judged end point differs.
        assert_eq!(den.f_mem_at_t_min, raw.f_mem);
        assert_eq!(raw.f_mem_at_t_min, raw.f_mem);
        assert!(den.end_points.contains("Tweedie") && raw.end_points.contains("no final"));
    }

    /// Two training points far apart: P^e_t(x) = ½ N(x; e^{-t}a, Δ I) for forward samples of a, so
    /// log P = log ½ − |z|²/2 − (d/2) log(2πΔ) with |z|² ~ χ²_d: f^e = 0 exactly in expectation and
    /// Var(log P) = d/2, hence SE(f^e/α) = √(d/2) / (d α √m) with α = ln 2 / d. The sample sd of m = 4000
    /// draws has a relative error ≈ √((2 + 12/d)/(4m)) ≈ 1.2 %: tolerance 5 %.
    #[test]
    fn entropy_standard_error_matches_the_gaussian_closed_form() {
        let d = 20;
        let mut x = vec![10.0f32; d];
        x.extend(vec![-10.0f32; d]);
        let data = Dataset::new(x, 2, d, "two points").unwrap();
        let score = EmpiricalScore::new(&data, Precision::F32).unwrap();
        let m = 4000;
        let alpha = 2f64.ln() / d as f64;
        let want = (d as f64 / 2.0).sqrt() / (d as f64 * alpha * (m as f64).sqrt());
        for (i, t) in [0.1, 0.5, 1.0].into_iter().enumerate() {
            let (f, se) = excess_entropy_at(&score, &data, t, m, 7, i as u64);
            assert!((se / want - 1.0).abs() < 0.05, "t = {t}: SE {se} vs {want}");
            assert!(f.abs() < 4.0 * want, "t = {t}: f/α = {f} (SE {want})");
        }
    }

    #[test]
    fn entropy_crossing_interval_brackets_the_value() {
        // f/α = t − 1 on t ∈ [0, 2] with SE 0.1: the 0 crossing is 1, its interval 1 ∓ 0.196.
        let t: Vec<f64> = (0..=20).map(|k| k as f64 * 0.1).collect();
        let f: Vec<f64> = t.iter().map(|t| t - 1.0).collect();
        let m = entropy_crossing(&t, &f, &vec![0.1; t.len()], 0.0);
        let (lo, hi) = m.ci.unwrap();
        assert!((m.value.unwrap() - 1.0).abs() < 1e-12);
        assert!(
            (lo - 0.804).abs() < 1e-9 && (hi - 1.196).abs() < 1e-9,
            "{lo} {hi}"
        );
    }

    /// The projected population-score run has the law of the full d-dimensional one: at d = 64 both φ
    /// curves agree with each other and with the theory φ(t_b). Each φ is a fraction of 2000 pairs, sd
    /// ≤ √(0.25/2000) = 0.011; the EM bias at 100 steps is below 0.01 (the theory test of the full run
    /// in the CLI suite). Tolerances: 0.05 against theory (4.5 sd), 0.07 between the runs (4.5 sd of a
    /// difference).
    #[test]
    fn projected_population_run_matches_the_full_one_in_law() {
        let model = DataModel::TwoClass(TwoClassGmm::standard(64));
        let data = model.sample(500, 3).unwrap();
        let centroids = model.mixture(3).unwrap().means().to_vec();
        let p = RegimesParams {
            batch: 2000,
            pairs: 2000,
            branch_every: 10,
            steps: 100,
            t_max: 5.0,
            score: ScoreChoice::Gmm,
            entropy_samples: 2,
            entropy_times: 2,
            bootstrap: 20,
            ..RegimesParams::default()
        };
        let input = RegimesInput {
            score: None,
            data: &data,
            model: Some(&model),
            centroids,
            seed: 4,
        };
        let full = run(&input, &p, &Silent).unwrap();
        let proj = run(
            &input,
            &RegimesParams {
                score: ScoreChoice::GmmProjected,
                ..p.clone()
            },
            &Silent,
        )
        .unwrap();
        let th = proj.phi_theory.as_ref().unwrap();
        assert_eq!(th, full.phi_theory.as_ref().unwrap());
        for j in 0..th.len() {
            assert!(
                (proj.phi[j] - th[j]).abs() < 0.05,
                "t_b = {}: {} vs theory {}",
                proj.t_branch[j],
                proj.phi[j],
                th[j]
            );
            assert!(
                (proj.phi[j] - full.phi[j]).abs() < 0.07,
                "t_b = {}: {} vs {}",
                proj.t_branch[j],
                proj.phi[j],
                full.phi[j]
            );
        }
        // The manifold (or any non-two-class) model has no exact projection.
        let err = run(
            &RegimesInput {
                model: None,
                ..input
            },
            &RegimesParams {
                score: ScoreChoice::GmmProjected,
                ..p
            },
            &Silent,
        )
        .unwrap_err();
        assert!(err.to_string().contains("gmm-projected"), "{err}");
    }
}

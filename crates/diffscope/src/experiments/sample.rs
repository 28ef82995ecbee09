//! Sampling as a library call: a reverse-time run from pure noise with any score, ended by the final step,
//! with the end points' nearest training points when the score has a training set. The CLI's `sample` and
//! the Python package's `sample()` both call [`run`], so the same seed gives bit-identical samples.

use crate::data::{Dataset, NearestColumns};
use crate::error::{Error, Result};
use crate::progress::Monitor;
use crate::regimes::posterior::{self, PosteriorCurves};
use crate::sampler::{
    self, FinalStep, NoiseKey, Observer, SamplerKind, Spacing, Step, TimeGrid, Wants,
};
use crate::score::{Device, Extras, Nearest, Posterior, Score};
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
    /// Record the posterior's entropy and effective number at every grid time and at t_min (scores with a
    /// training set; it makes a GPU score run its steps through the host loop).
    pub posterior: bool,
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
            posterior: false,
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
    /// The posterior at t_0 … t_{K-1} and t_min (`posterior[k][i]` for trajectory i), when recorded.
    pub posterior: Option<Vec<Vec<Posterior>>>,
}

impl Samples {
    /// The posterior curves and per-trajectory collapse times (N_eff < 2) of a run that recorded them.
    pub fn posterior_curves(&self) -> Option<PosteriorCurves> {
        self.posterior
            .as_ref()
            .map(|tr| posterior::summarise(&self.times, tr))
    }

    /// The end points' nearest training points as columns, and f_mem, the fraction of copies
    /// ($3 d_1 < d_2$, [`fraction_copies`](crate::memorisation::fraction_copies)).
    pub fn nearest_columns(&self) -> Option<(NearestColumns, f64)> {
        self.nearest.as_deref().map(|nn| {
            (
                NearestColumns::new(nn),
                crate::memorisation::fraction_copies(nn),
            )
        })
    }

    /// The recorded posterior as the doors write it: entropy and N_eff as (K + 1) × B row-major arrays,
    /// the per-trajectory collapse times (NaN: not before t_min) and their median with its 95 % CI.
    pub fn posterior_columns(&self) -> Option<PosteriorColumns> {
        let (tr, c) = (self.posterior.as_ref()?, self.posterior_curves()?);
        let column = |f: fn(&Posterior) -> f64| tr.iter().flatten().map(f).collect::<Vec<f64>>();
        Some(PosteriorColumns {
            rows: tr.len(),
            entropy: column(|p| p.entropy),
            effective_n: column(|p| p.effective_n),
            collapse_t: c.collapse_t.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            t_collapse: c.t_collapse,
        })
    }
}

/// The posterior along a run's trajectories, as columns ([`Samples::posterior_columns`]).
#[derive(Clone, Debug)]
pub struct PosteriorColumns {
    /// Recorded times K + 1 (the grid's and t_min).
    pub rows: usize,
    /// Entropy of the softmax weights, rows × B row-major.
    pub entropy: Vec<f64>,
    /// Effective number 1/Σw², rows × B row-major.
    pub effective_n: Vec<f64>,
    /// Per trajectory: the first time N_eff < 2 (NaN: not before t_min).
    pub collapse_t: Vec<f64>,
    /// Their median with its 95 % distribution-free CI.
    pub t_collapse: crate::regimes::Measured,
}

/// Keeps what a run records: the states and the posterior, at every step.
struct Recorder {
    states: Option<Vec<f32>>,
    posterior: Option<Vec<Vec<Posterior>>>,
}

impl Observer for Recorder {
    fn wants(&self, _k: usize) -> Wants {
        Wants {
            posterior: self.posterior.is_some(),
            ..Wants::default()
        }
    }
    fn on_step(&mut self, step: &Step<'_>) -> ControlFlow<()> {
        if let Some(s) = self.states.as_mut() {
            s.extend_from_slice(step.x);
        }
        if let (Some(tr), Some(p)) = (self.posterior.as_mut(), step.posterior) {
            tr.push(p.to_vec());
        }
        ControlFlow::Continue(())
    }
    fn needs_steps(&self) -> bool {
        self.states.is_some() || self.posterior.is_some()
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
    if p.posterior && !score.has_training_set() {
        return Err(Error::param(
            "posterior",
            true,
            "a score with a training set (the exact empirical score)",
        ));
    }
    let mut x = sampler::initial_noise(p.n, d, key);
    let mut rec = Recorder {
        states: p.record.then(Vec::new),
        posterior: p.posterior.then(Vec::new),
    };
    let stats = sampler::sample(
        p.sampler,
        score,
        &mut x,
        &grid,
        key,
        &mut rec,
        monitor,
        Par::rayon(0),
    )?;
    crate::progress::check(monitor)?;
    let mut trajectory = rec.states;
    if let Some(tr) = trajectory.as_mut() {
        tr.extend_from_slice(&x);
    }
    // The score at t_min (with the kernel's nearest points) when the final step or the outputs need it.
    // A score without a training set (learned, population) gets the exact nearest training points of its
    // denoised end points.
    // A score with a training set gives its nearest points (exactly, with its data set, on the denoised
    // points; from the kernel at t_min without one).
    let kernel_nn = score.has_training_set();
    let exact_nn = !kernel_nn && training.is_some() && p.final_step == FinalStep::Denoise;
    let want_nn = kernel_nn || exact_nn;
    let mut nn = vec![Nearest::default(); if kernel_nn { p.n } else { 0 }];
    let mut post = vec![Posterior::default(); if p.posterior { p.n } else { 0 }];
    let mut decay = (-grid.t_min()).exp();
    let mut evals = stats.score_evals;
    if want_nn || p.posterior || p.final_step == FinalStep::Denoise {
        let mut s = vec![0.0; x.len()];
        score.eval_into(
            &x,
            grid.t_min(),
            &mut s,
            Extras {
                log_p: None,
                nearest: kernel_nn.then_some(&mut nn[..]),
                posterior: p.posterior.then_some(&mut post[..]),
            },
            Par::rayon(0),
        );
        if let Some(tr) = rec.posterior.as_mut() {
            tr.push(post);
        }
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
        posterior: rec.posterior,
    })
}

/// Where the score of a sampling run comes from (CLI `--score`).
#[derive(Clone, Debug, PartialEq)]
pub enum ScoreSource {
    /// The exact empirical score of the training set, f32 fused kernel.
    Empirical,
    /// The exact empirical score, f64 reference path.
    EmpiricalF64,
    /// The population score of the data model.
    Gmm,
    /// The population score of the per-class Gaussian mixture fitted to the (labelled) data.
    GmmFit,
    /// A trained network (`model.safetensors` from `train`).
    Model(std::path::PathBuf),
    /// A score of the closed-form family on the training data ([`crate::family::FamilySpec`]: `wiener`,
    /// `smoothed:sigma=…`, `cfdm:sigma=…`, `knn:k=…`, `ls:patch=…`, `els:patch=…`).
    Family(crate::family::FamilySpec),
}

impl std::str::FromStr for ScoreSource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "empirical" => ScoreSource::Empirical,
            "empirical-f64" => ScoreSource::EmpiricalF64,
            "gmm" => ScoreSource::Gmm,
            "gmm-fit" => ScoreSource::GmmFit,
            p if p.ends_with(".safetensors") => ScoreSource::Model(p.into()),
            other => match other.parse::<crate::family::FamilySpec>() {
                Ok(crate::family::FamilySpec::Exact) => ScoreSource::Empirical,
                Ok(f) => ScoreSource::Family(f),
                Err(_) if !other.contains(':') && other != "wiener" => {
                    return Err(Error::param(
                        "score",
                        other,
                        "empirical, empirical-f64, gmm, gmm-fit, a model.safetensors file, or a family \
                         score (wiener, smoothed:sigma=S, cfdm:sigma=S, knn:k=K, ls:patch=P, els:patch=P)",
                    ))
                }
                Err(e) => return Err(e),
            },
        })
    }
}

/// A score ready to sample with, its training data (nearest points, labels, grids) and, for population
/// scores, the class means and names that label end points.
pub struct Sampling {
    /// The score.
    pub score: Box<dyn Score>,
    /// The training data, when there are any.
    pub training: Option<Dataset>,
    /// Class means and names (population scores).
    pub centroids: Option<(Vec<Vec<f64>>, Vec<String>)>,
    /// A description for reports ("… from model.safetensors" for a trained network).
    pub what: String,
    /// The data model and the seed it was drawn with, when known (a trained network's metadata).
    pub model: Option<(crate::data::DataModel, u64)>,
}

impl Sampling {
    /// A score with no data set beside it (a memory-mapped training set, [`mapped_score`]).
    pub fn without_data(score: Box<dyn Score>) -> Self {
        Sampling::new(score, None, None)
    }

    fn new(
        score: Box<dyn Score>,
        training: Option<Dataset>,
        centroids: Option<(Vec<Vec<f64>>, Vec<String>)>,
    ) -> Self {
        Sampling {
            what: score.describe(),
            score,
            training,
            centroids,
            model: None,
        }
    }
}

/// Builds the score of `source`: empirical scores on `data` (or n points of `model`), `gmm` on `model`,
/// `gmm-fit` on `data`, a trained network with `data` or the data.npz written beside it.
pub fn build(
    source: &ScoreSource,
    data: Option<Dataset>,
    model: Option<&crate::data::DataModel>,
    n: usize,
    seed: u64,
) -> Result<Sampling> {
    build_placed(source, data, model, n, seed, None, Device::Cpu)
}

/// [`build`] with the exact f32 empirical score sharded over the ranks of `comm`
/// ([`crate::distributed::ShardedScore`]; every rank calls it with the same arguments). Other sources are
/// built unsharded on every rank.
pub fn build_placed(
    source: &ScoreSource,
    data: Option<Dataset>,
    model: Option<&crate::data::DataModel>,
    n: usize,
    seed: u64,
    comm: Option<std::sync::Arc<dyn crate::distributed::Comm>>,
    device: Device,
) -> Result<Sampling> {
    use crate::score::{EmpiricalScore, GmmScore, Precision};
    let need = |what: &str| Error::param("score", what, "--data (a labelled data set) to fit");
    let model = || {
        model.ok_or_else(|| Error::param("score", "a model score", "a data model (or a data file)"))
    };
    Ok(match source {
        ScoreSource::Gmm => {
            if data.is_some() {
                return Err(Error::param(
                    "score",
                    "gmm",
                    "no data file: the population score of the model (use gmm-fit with data)",
                ));
            }
            let mix = model()?.mixture(seed)?;
            let centroids = (mix.means().to_vec(), mix.class_names().to_vec());
            Sampling::new(Box::new(GmmScore::new(mix)), None, Some(centroids))
        }
        ScoreSource::Family(spec) => {
            let ds = match data {
                Some(ds) => ds,
                None => model()?.sample(n, seed)?,
            };
            Sampling::new(spec.build(&ds)?, Some(ds), None)
        }
        ScoreSource::GmmFit => {
            let ds = data.ok_or_else(|| need("gmm-fit"))?;
            let mix = crate::universality::Surrogate::fit(&ds)?.mixture()?;
            let centroids = (mix.means().to_vec(), mix.class_names().to_vec());
            Sampling::new(Box::new(GmmScore::new(mix)), Some(ds), Some(centroids))
        }
        ScoreSource::Empirical | ScoreSource::EmpiricalF64 => {
            let ds = match data {
                Some(ds) => ds,
                None => model()?.sample(n, seed)?,
            };
            let score: Box<dyn Score> = match (source, comm) {
                (ScoreSource::EmpiricalF64, _) => {
                    Box::new(EmpiricalScore::new(&ds, Precision::F64)?)
                }
                (_, Some(_)) if !device.is_cpu() => return Err(sharded_on_gpu(device)),
                (_, Some(c)) => Box::new(crate::distributed::ShardedScore::from_dataset(&ds, c)?),
                (_, None) => Box::new(EmpiricalScore::on_device(&ds, Precision::F32, device)?),
            };
            Sampling::new(score, Some(ds), None)
        }
        ScoreSource::Model(path) => {
            let t = crate::experiments::train::load_trained(path)?;
            let ds = match data {
                Some(ds) => ds,
                None => crate::experiments::train::load_training_data(path)?,
            };
            if ds.d != t.net.config().d {
                return Err(Error::shape(
                    "data",
                    format!(
                        "d = {} but the model {} has d = {}",
                        ds.d,
                        path.display(),
                        t.net.config().d
                    ),
                ));
            }
            Sampling {
                what: format!("{} from {}", t.net.describe(), path.display()),
                score: Box::new(t.net),
                training: Some(ds),
                centroids: None,
                model: t.model.zip(t.seed),
            }
        }
    })
}

/// The exact f32 empirical score of a memory-mapped `.npy` training set (n × d, little-endian f32): each
/// rank of `comm` reads only its shard's rows (without `comm`, every row, into one packed copy). No
/// [`Dataset`] is built, so [`run`] reports the kernel's nearest points at t_min rather than the exact
/// nearest points of the denoised end points.
pub fn mapped_score(
    path: &std::path::Path,
    comm: Option<std::sync::Arc<dyn crate::distributed::Comm>>,
    device: Device,
) -> Result<Box<dyn Score>> {
    let map = crate::io::NpyMap::open(path)?;
    let (n, d) = map.shape();
    Ok(match comm {
        Some(_) if !device.is_cpu() => return Err(sharded_on_gpu(device)),
        Some(c) => {
            let b = crate::distributed::shard_bounds(n, c.size());
            let rows = map.rows(b[c.rank()], b[c.rank() + 1])?;
            Box::new(crate::distributed::ShardedScore::new(&rows, n, d, c)?)
        }
        None => {
            let mut s = crate::score::EmpiricalScore::from_rows(
                &map.rows(0, n)?,
                n,
                d,
                crate::score::Precision::F32,
            )?;
            s.set_device(device)?;
            Box::new(s)
        }
    })
}

/// The error for a sharded score on a GPU: each rank's shard runs on the CPU kernel for now.
fn sharded_on_gpu(device: Device) -> Error {
    Error::device(
        device,
        "the score sharded over MPI ranks runs on the CPU only (one GPU per rank is not built yet): run without mpirun/--ranks, or with --device cpu",
    )
}

/// Labels of the end points: the nearest class mean for population scores (`decay` scales the means),
/// else the class of the nearest training point (when known), else the nearest per-class mean of the
/// labelled training data. None for unlabelled data without a model.
pub fn end_point_labels(samples: &Samples, sampling: &Sampling) -> Option<(Vec<u32>, Vec<String>)> {
    let d = samples.d;
    if let (None, Some(nn), Some(ds)) = (&sampling.centroids, &samples.nearest, &sampling.training)
    {
        if let Some(l) = &ds.labels {
            return Some((
                nn.iter().map(|n| l[n.index as usize]).collect(),
                ds.class_names.clone(),
            ));
        }
    }
    let (means, names) = match (&sampling.centroids, &sampling.training) {
        (Some(c), _) => c.clone(),
        (None, Some(ds)) if ds.labels.is_some() => (ds.class_means().ok()?, ds.class_names.clone()),
        _ => return None,
    };
    let labels = samples
        .x
        .chunks(d)
        .map(|r| crate::regimes::observables::nearest_centroid(r, &means, samples.decay) as u32)
        .collect();
    Some((labels, names))
}

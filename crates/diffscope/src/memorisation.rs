//! When does a learned score memorise? Train MLP scores on n points for growing n and follow the fraction
//! of generated samples that are copies of training points, f_mem, against training time (Bonnaire et
//! al. 2025: the memorisation time grows ∝ n while the generalisation time does not).

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::{TrainConfig, Trainer};
use crate::progress::{self, Monitor};
use crate::sampler::{self, FinalStep, NoObserver, SamplerKind, TimeGrid};
use faer::Par;
use serde::{Deserialize, Serialize};

/// Fraction of samples that copy a training point: $d_1 < d_2/3$ with $d_1 \le d_2$ the distances to the
/// nearest and second-nearest training points (the criterion of science.md §5, Carlini et al. 2023),
/// from [`Dataset::nearest`] (exact, f64); NaN for n < 2 or no samples.
pub fn fraction_memorised(samples: &[f32], train: &Dataset) -> f64 {
    let b = samples.len() / train.d;
    if b == 0 || train.n < 2 {
        return f64::NAN;
    }
    fraction_copies(&train.nearest(samples))
}

/// Fraction of end points whose nearest training point is a copy: $3 d_1 < d_2$.
pub fn fraction_copies(nearest: &[crate::score::Nearest]) -> f64 {
    nearest.iter().filter(|n| 3.0 * n.d1 < n.d2).count() as f64 / nearest.len().max(1) as f64
}

/// The study's settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MemorisationParams {
    /// Training-set sizes (nested: the first n rows of one draw).
    pub n: Vec<usize>,
    /// Network width.
    pub width: usize,
    /// Hidden layers.
    pub depth: usize,
    /// Training hyper-parameters (`steps` is the training length for every n).
    pub train: TrainConfig,
    /// Evaluate f_mem every this many steps.
    pub eval_every: usize,
    /// Generated samples per evaluation.
    pub samples: usize,
    /// Sampler steps (Euler–Maruyama, log-spaced grid from `t_max` to `t_min`).
    pub sampler_steps: usize,
    /// Sampler start time.
    pub t_max: f64,
    /// Sampler end time.
    pub t_min: f64,
    /// f_mem level that defines the memorisation time τ_mem (first evaluation at or above it).
    pub level: f64,
    /// What the sampler does after its last step (default: Tweedie denoising, so that f_mem judges the
    /// model's end point, not the last step's noise).
    pub final_step: FinalStep,
}

impl Default for MemorisationParams {
    fn default() -> Self {
        MemorisationParams {
            n: vec![8, 16, 32, 64],
            width: 256,
            depth: 3,
            train: TrainConfig {
                steps: 8000,
                ..TrainConfig::default()
            },
            eval_every: 500,
            samples: 256,
            sampler_steps: 100,
            t_max: 4.0,
            t_min: 1e-3,
            level: 0.5,
            final_step: FinalStep::Denoise,
        }
    }
}

impl MemorisationParams {
    /// Rejects impossible settings, naming the field.
    pub fn validate(&self, available: usize) -> Result<()> {
        self.train.validate()?;
        if self.n.is_empty() {
            return Err(Error::param("n", "[]", "at least one training-set size"));
        }
        for &n in &self.n {
            if n < 2 || n > available {
                return Err(Error::param(
                    "n",
                    n,
                    format!("between 2 and the {available} available rows"),
                ));
            }
        }
        for (name, v) in [
            ("eval_every", self.eval_every),
            ("samples", self.samples),
            ("sampler_steps", self.sampler_steps),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "a positive integer"));
            }
        }
        if !(0.0..=1.0).contains(&self.level) {
            return Err(Error::param("level", self.level, "a fraction in [0, 1]"));
        }
        Ok(())
    }
}

/// f_mem and loss against training steps for one n.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MemorisationCurve {
    /// Training-set size.
    pub n: usize,
    /// Training steps at the evaluations.
    pub steps: Vec<usize>,
    /// f_mem of the EMA model's samples at each evaluation.
    pub f_mem: Vec<f64>,
    /// Last logged training loss at each evaluation.
    pub loss: Vec<f64>,
    /// First evaluated step with f_mem ≥ level, if any.
    pub tau_mem: Option<usize>,
}

/// Runs the study on the first n rows of `data` for each n. Samples at every evaluation use the same
/// noise (stream `(seed, INIT/STEP, i)`), so the curves differ only through the networks.
pub fn run(
    data: &Dataset,
    p: &MemorisationParams,
    seed: u64,
    monitor: &dyn Monitor,
    par: Par,
) -> Result<Vec<MemorisationCurve>> {
    p.validate(data.n)?;
    let grid = TimeGrid::log(p.t_max, p.t_min, p.sampler_steps)?;
    let evals = p.train.steps.div_ceil(p.eval_every);
    let total = (p.n.len() * evals) as u64;
    let mut done = 0u64;
    let mut out = Vec::new();
    for &n in &p.n {
        let sub = Dataset::new(
            data.x[..n * data.d].to_vec(),
            n,
            data.d,
            format!("first {n} rows of {}", data.provenance),
        )?;
        let mut tr = Trainer::new(&sub, p.width, p.depth, 4, p.train.clone(), seed)?;
        let mut curve = MemorisationCurve {
            n,
            steps: Vec::new(),
            f_mem: Vec::new(),
            loss: Vec::new(),
            tau_mem: None,
        };
        for e in 1..=evals {
            let target = (e * p.eval_every).min(p.train.steps);
            tr.set_total_steps(target);
            tr.train(&sub, &progress::Silent, &mut |_| progress::check(monitor))?;
            let net = tr.model();
            let x = sampler::sample_from_noise(
                SamplerKind::EulerMaruyama,
                p.final_step,
                &net,
                p.samples,
                &grid,
                seed,
                &mut NoObserver,
                &progress::Silent,
                par,
            )?;
            let f = fraction_memorised(&x, &sub);
            if curve.tau_mem.is_none() && f >= p.level {
                curve.tau_mem = Some(target);
            }
            curve.steps.push(target);
            curve.f_mem.push(f);
            curve
                .loss
                .push(tr.log().last().map_or(f64::NAN, |l| l.loss));
            done += 1;
            monitor.advance(done, total);
        }
        out.push(curve);
    }
    Ok(out)
}

/// Least-squares slope of τ_mem = c·n through the origin over the sizes that memorised, with the number
/// of points used; `None` with fewer than two.
pub fn tau_slope(curves: &[MemorisationCurve]) -> Option<(f64, usize)> {
    let pts: Vec<(f64, f64)> = curves
        .iter()
        .filter_map(|c| c.tau_mem.map(|t| (c.n as f64, t as f64)))
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let sxy: f64 = pts.iter().map(|(x, y)| x * y).sum();
    let sxx: f64 = pts.iter().map(|(x, _)| x * x).sum();
    Some((sxy / sxx, pts.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_memorised_known_answers() {
        // Training points on a line at 0, 1, 2, 3 (d = 2).
        let train =
            Dataset::new(vec![0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 3.0, 0.0], 4, 2, "line").unwrap();
        // Copies (d1 = 0), near-copies (d1 = 0.1, d2 = 0.9), a midpoint (d1 = d2) and a far point.
        let s = [0.0, 0.0, 1.1, 0.0, 1.5, 0.0, 10.0, 0.0];
        assert_eq!(fraction_memorised(&s, &train), 0.5);
        // Boundary: d1 = 0.25, d2 = 0.75 is exactly d2/3: not memorised (strict).
        assert_eq!(fraction_memorised(&[0.25, 0.0], &train), 0.0);
        assert!(fraction_memorised(&[], &train).is_nan());
    }

    #[test]
    fn nearest_equals_a_brute_force_f64_search() {
        // N = 2100 spans two point tiles, B = 130 two query blocks; the GEMM form |x|² − 2x·a + |a|² in f64
        // agrees with direct differences to ~1e-12 relative, so indices must match and distances to 1e-6.
        use rand::{Rng, SeedableRng};
        let (n, b, d) = (2100usize, 130usize, 7usize);
        let mut g = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
        let pts: Vec<f32> = (0..n * d).map(|_| g.random_range(-1.0f32..1.0)).collect();
        let q: Vec<f32> = (0..b * d).map(|_| g.random_range(-1.0f32..1.0)).collect();
        let data = Dataset::new(pts, n, d, "cube").unwrap();
        let got = data.nearest(&q);
        for (i, r) in got.iter().enumerate() {
            let mut dist: Vec<(f64, usize)> = (0..n)
                .map(|mu| {
                    let s: f64 = data
                        .row(mu)
                        .iter()
                        .zip(&q[i * d..(i + 1) * d])
                        .map(|(&a, &x)| (a as f64 - x as f64).powi(2))
                        .sum();
                    (s.sqrt(), mu)
                })
                .collect();
            dist.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert_eq!(
                (r.index as usize, r.second as usize),
                (dist[0].1, dist[1].1),
                "row {i}"
            );
            assert!(
                (r.d1 as f64 - dist[0].0).abs() < 1e-6 && (r.d2 as f64 - dist[1].0).abs() < 1e-6
            );
        }
    }

    #[test]
    fn tau_slope_through_the_origin() {
        let c = |n, t| MemorisationCurve {
            n,
            steps: vec![],
            f_mem: vec![],
            loss: vec![],
            tau_mem: t,
        };
        let (s, k) = tau_slope(&[c(10, Some(100)), c(20, Some(200)), c(40, None)]).unwrap();
        assert!((s - 10.0).abs() < 1e-12 && k == 2);
        assert!(tau_slope(&[c(10, Some(100))]).is_none());
    }

    /// Two training points far apart and a wide network trained long enough: the learned sampler copies
    /// them (f_mem ≥ 0.9); evaluations happen at the requested steps.
    #[test]
    fn tiny_training_set_is_memorised() {
        let data = Dataset::new(
            vec![1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0, 1.0],
            4,
            2,
            "square",
        )
        .unwrap();
        let p = MemorisationParams {
            n: vec![4],
            width: 64,
            depth: 2,
            train: TrainConfig {
                steps: 1500,
                batch: 64,
                lr: 3e-3,
                ..TrainConfig::default()
            },
            eval_every: 750,
            samples: 64,
            sampler_steps: 60,
            ..MemorisationParams::default()
        };
        let c = run(&data, &p, 1, &progress::Silent, Par::Seq).unwrap();
        assert_eq!(c[0].steps, vec![750, 1500]);
        assert!(c[0].f_mem[1] >= 0.9, "{:?}", c[0]);
    }
}

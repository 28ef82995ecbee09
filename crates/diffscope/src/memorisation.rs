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
    /// Independent replicates per size (network initialisation, minibatches and sampler noise from the
    /// sub-seed `rng::sub(seed, REPLICATE, r)`; the training set is the same), for confidence intervals
    /// on τ_mem.
    pub seeds: usize,
    /// Training length for size n: max(`train.steps`, `steps_per_point` · n) (0: `train.steps` for every
    /// n), so that larger sets get the time τ_mem ∝ n they need.
    pub steps_per_point: usize,
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
            seeds: 1,
            steps_per_point: 0,
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
            ("seeds", self.seeds),
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
    /// Replicate index r (its seed is `rng::sub(seed, REPLICATE, r)`).
    #[serde(default)]
    pub replicate: usize,
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
    let steps_for = |n: usize| p.train.steps.max(p.steps_per_point * n);
    let total: u64 =
        p.n.iter()
            .map(|&n| steps_for(n).div_ceil(p.eval_every) as u64)
            .sum::<u64>()
            * p.seeds as u64;
    let mut done = 0u64;
    let mut out = Vec::new();
    for r in 0..p.seeds {
        let seed_r = crate::rng::sub(seed, crate::rng::purpose::REPLICATE, r as u64);
        for &n in &p.n {
            let sub = Dataset::new(
                data.x[..n * data.d].to_vec(),
                n,
                data.d,
                format!("first {n} rows of {}", data.provenance),
            )?;
            let steps = steps_for(n);
            let train = TrainConfig {
                steps,
                ..p.train.clone()
            };
            let mut tr = Trainer::new(&sub, p.width, p.depth, 4, train, seed_r)?;
            let mut curve = MemorisationCurve {
                n,
                steps: Vec::new(),
                f_mem: Vec::new(),
                loss: Vec::new(),
                tau_mem: None,
                replicate: r,
            };
            for e in 1..=steps.div_ceil(p.eval_every) {
                let target = (e * p.eval_every).min(steps);
                tr.set_total_steps(target);
                tr.train(&sub, &progress::Silent, &mut |_| progress::check(monitor))?;
                let net = tr.model();
                let x = sampler::sample_from_noise(
                    SamplerKind::EulerMaruyama,
                    p.final_step,
                    &net,
                    p.samples,
                    &grid,
                    seed_r,
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
    }
    Ok(out)
}

/// Two-sided 95 % Student-t quantile for k degrees of freedom (k ≥ 1; 1.96 beyond 30).
pub fn t_quantile_95(k: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    T.get(k.max(1) - 1).copied().unwrap_or(1.96)
}

/// τ_mem of one size over the replicates.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TauStat {
    /// Training-set size.
    pub n: usize,
    /// Replicates that reached the level / all replicates.
    pub memorised: (usize, usize),
    /// Mean τ_mem over the replicates that memorised.
    pub mean: Option<f64>,
    /// 95 % interval of the mean, $\bar\tau \pm t_{0.975,k-1}\, s/\sqrt k$ (k ≥ 2 replicates).
    pub ci: Option<(f64, f64)>,
}

/// [`TauStat`] per size, in the order of first appearance.
pub fn tau_stats(curves: &[MemorisationCurve]) -> Vec<TauStat> {
    let mut sizes: Vec<usize> = Vec::new();
    for c in curves {
        if !sizes.contains(&c.n) {
            sizes.push(c.n);
        }
    }
    sizes
        .into_iter()
        .map(|n| {
            let all: Vec<&MemorisationCurve> = curves.iter().filter(|c| c.n == n).collect();
            let taus: Vec<f64> = all
                .iter()
                .filter_map(|c| c.tau_mem.map(|t| t as f64))
                .collect();
            let k = taus.len();
            let mean = (k > 0).then(|| taus.iter().sum::<f64>() / k as f64);
            let ci = mean.filter(|_| k >= 2).map(|m| {
                let sd =
                    (taus.iter().map(|t| (t - m).powi(2)).sum::<f64>() / (k - 1) as f64).sqrt();
                let h = t_quantile_95(k - 1) * sd / (k as f64).sqrt();
                (m - h, m + h)
            });
            TauStat {
                n,
                memorised: (k, all.len()),
                mean,
                ci,
            }
        })
        .collect()
}

/// The growth of τ_mem with n over every replicate that memorised: the slope c of τ = c·n through the
/// origin and the exponent γ of τ ∝ n^γ (least squares of ln τ on ln n), each with a 95 % t-interval
/// from the residuals, and the number of points and distinct sizes used.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TauFit {
    /// c of τ = c·n.
    pub slope: f64,
    /// 95 % interval of c.
    pub slope_ci: Option<(f64, f64)>,
    /// γ of τ ∝ n^γ (1 for Bonnaire et al.'s τ_mem ∝ n).
    pub exponent: Option<f64>,
    /// 95 % interval of γ.
    pub exponent_ci: Option<(f64, f64)>,
    /// Points (n, τ) used.
    pub points: usize,
    /// Distinct sizes among them.
    pub sizes: usize,
}

/// [`TauFit`]; `None` with fewer than two points.
pub fn tau_fit(curves: &[MemorisationCurve]) -> Option<TauFit> {
    let pts: Vec<(f64, f64)> = curves
        .iter()
        .filter_map(|c| c.tau_mem.map(|t| (c.n as f64, t as f64)))
        .collect();
    let m = pts.len();
    if m < 2 {
        return None;
    }
    let mut sizes: Vec<u64> = pts.iter().map(|p| p.0 as u64).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let sxx: f64 = pts.iter().map(|(x, _)| x * x).sum();
    let slope = pts.iter().map(|(x, y)| x * y).sum::<f64>() / sxx;
    let rss: f64 = pts.iter().map(|(x, y)| (y - slope * x).powi(2)).sum();
    let se = (rss / (m - 1) as f64 / sxx).sqrt();
    let h = t_quantile_95(m - 1) * se;
    let (exponent, exponent_ci) = if sizes.len() >= 2 && m >= 3 {
        let lp: Vec<(f64, f64)> = pts.iter().map(|(x, y)| (x.ln(), y.max(1.0).ln())).collect();
        let (mx, my) = (
            lp.iter().map(|p| p.0).sum::<f64>() / m as f64,
            lp.iter().map(|p| p.1).sum::<f64>() / m as f64,
        );
        let sxx: f64 = lp.iter().map(|(x, _)| (x - mx).powi(2)).sum();
        let g = lp.iter().map(|(x, y)| (x - mx) * (y - my)).sum::<f64>() / sxx;
        let rss: f64 = lp
            .iter()
            .map(|(x, y)| (y - my - g * (x - mx)).powi(2))
            .sum();
        let se = (rss / (m - 2) as f64 / sxx).sqrt();
        let h = t_quantile_95(m - 2) * se;
        (Some(g), Some((g - h, g + h)))
    } else {
        (None, None)
    };
    Some(TauFit {
        slope,
        slope_ci: Some((slope - h, slope + h)),
        exponent,
        exponent_ci,
        points: m,
        sizes: sizes.len(),
    })
}

/// Least-squares slope of τ_mem = c·n through the origin over the sizes that memorised, with the number
/// of points used ([`tau_fit`]); `None` with fewer than two.
pub fn tau_slope(curves: &[MemorisationCurve]) -> Option<(f64, usize)> {
    tau_fit(curves).map(|f| (f.slope, f.points))
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
            replicate: 0,
        };
        let (s, k) = tau_slope(&[c(10, Some(100)), c(20, Some(200)), c(40, None)]).unwrap();
        assert!((s - 10.0).abs() < 1e-12 && k == 2);
        assert!(tau_slope(&[c(10, Some(100))]).is_none());
        // τ = 10 n exactly over three sizes: slope 10 with a zero-width interval, exponent 1.
        let f = tau_fit(&[
            c(10, Some(100)),
            c(20, Some(200)),
            c(40, Some(400)),
            c(80, None),
        ])
        .unwrap();
        assert!((f.slope - 10.0).abs() < 1e-12 && (f.exponent.unwrap() - 1.0).abs() < 1e-12);
        assert!((f.slope_ci.unwrap().1 - 10.0).abs() < 1e-9 && f.sizes == 3 && f.points == 3);
        // τ ∝ n² is told apart: exponent 2.
        let g = tau_fit(&[c(10, Some(100)), c(20, Some(400)), c(40, Some(1600))]).unwrap();
        assert!((g.exponent.unwrap() - 2.0).abs() < 1e-12);
        // Replicates: mean ± t(1)·s/√2 for taus 100 and 200 → 150 ± 12.706·70.71/1.414.
        let mut r = c(10, Some(200));
        r.replicate = 1;
        let st = tau_stats(&[c(10, Some(100)), r, c(20, None)]);
        assert_eq!(st[0].memorised, (2, 2));
        let (lo, hi) = st[0].ci.unwrap();
        assert!(
            (hi - 150.0 - 12.706 * 50.0).abs() < 1e-6 && (150.0 - lo - 12.706 * 50.0).abs() < 1e-6
        );
        assert_eq!((st[1].memorised, st[1].mean), ((0, 1), None));
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

//! EDM's stochastic sampler (Karras et al. 2022, "Elucidating the design space", Algorithm 2), the sampler
//! behind the EDM-generated images that diffusion-gmm studies, for any [`Score`].
//!
//! EDM works in the scaled variable $y = e^{t} x$, a variance-exploding process with
//! $\sigma = \sqrt{e^{2t} - 1}$ ([`sigma_from_t`]). Its denoiser is Tweedie's
//! $D(y; \sigma) = e^{t}(x + \Delta_t S(x, t))$, so the ODE direction is
//! $d(y, \sigma) = (y - D)/\sigma = -\sqrt{\Delta_t}\, S(x, t)$. Step i from $\sigma_i$ to $\sigma_{i+1}$:
//! 1. churn: $\gamma_i = \min(S_\text{churn}/N, \sqrt2 - 1)$ when $\sigma_i \in [S_\text{tmin}, S_\text{tmax}]$,
//!    else 0; $\hat\sigma = \sigma_i(1 + \gamma_i)$, $\hat y = y_i + \sqrt{\hat\sigma^2 - \sigma_i^2}\,
//!    S_\text{noise}\,\varepsilon$;
//! 2. Euler: $y' = \hat y + (\sigma_{i+1} - \hat\sigma)\, d(\hat y, \hat\sigma)$;
//! 3. Heun: $y_{i+1} = \hat y + (\sigma_{i+1} - \hat\sigma)\,\tfrac12 (d(\hat y, \hat\sigma) + d(y', \sigma_{i+1}))$.
//!
//! diffscope's grids end at t_min > 0, so every step takes the Heun correction; the final step
//! ([`super::FinalStep::Denoise`]) is then EDM's last step to σ = 0. With $S_\text{churn} = 0$ (the
//! default) it is EDM's deterministic Heun sampler (Algorithm 1) on the probability-flow ODE.

use super::{Driver, NoiseKey, Observer, RunStats, TimeGrid};
use crate::error::{Error, Result};
use crate::progress::Monitor;
use crate::rng;
use crate::score::convention::{sigma_from_t, t_from_sigma};
use crate::score::{delta, Extras, Score};
use faer::Par;
use rand::Rng as _;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The churn of EDM's stochastic sampler, in EDM's σ units. The default (no churn) is the deterministic
/// Heun sampler; EDM's ImageNet-64 setting is churn 40, s_tmin 0.05, s_tmax 50, s_noise 1.003.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdmChurn {
    /// $S_\text{churn}$: total churn over the run (γ = S_churn / N per step, at most √2 − 1).
    pub churn: f64,
    /// $S_\text{tmin}$: churn only where σ ≥ this.
    pub s_tmin: f64,
    /// $S_\text{tmax}$: churn only where σ ≤ this (None: no upper limit).
    pub s_tmax: Option<f64>,
    /// $S_\text{noise}$: scale of the added noise (slightly above 1 offsets the denoiser's loss of detail).
    pub s_noise: f64,
}

impl EdmChurn {
    /// No churn: EDM's deterministic Heun sampler (the default).
    pub const NONE: EdmChurn = EdmChurn {
        churn: 0.0,
        s_tmin: 0.0,
        s_tmax: None,
        s_noise: 1.0,
    };
}

impl Default for EdmChurn {
    fn default() -> Self {
        EdmChurn::NONE
    }
}

impl EdmChurn {
    /// Checks the ranges: churn ≥ 0, 0 ≤ s_tmin < s_tmax, s_noise > 0, all finite.
    pub fn validate(&self) -> Result<()> {
        if !(self.churn >= 0.0 && self.churn.is_finite()) {
            return Err(Error::param("churn", self.churn, "a finite S_churn ≥ 0"));
        }
        if !(self.s_tmin >= 0.0 && self.s_tmin.is_finite()) {
            return Err(Error::param("s_tmin", self.s_tmin, "a finite σ ≥ 0"));
        }
        if let Some(m) = self.s_tmax {
            if !(m > self.s_tmin && m.is_finite()) {
                return Err(Error::param("s_tmax", m, "a finite σ above s_tmin"));
            }
        }
        if !(self.s_noise > 0.0 && self.s_noise.is_finite()) {
            return Err(Error::param("s_noise", self.s_noise, "a finite scale > 0"));
        }
        Ok(())
    }

    /// $\gamma_i$ of a step from σ on a grid of `steps` steps.
    pub fn gamma(&self, sigma: f64, steps: usize) -> f64 {
        let inside = sigma >= self.s_tmin && self.s_tmax.is_none_or(|m| sigma <= m);
        if inside && self.churn > 0.0 {
            (self.churn / steps as f64).min(std::f64::consts::SQRT_2 - 1.0)
        } else {
            0.0
        }
    }
}

/// Adds EDM's churn to rows x at t (σ): $\hat x = e^{-\hat t}(e^{t} x + a\,\varepsilon)$ with
/// $a = S_\text{noise}\sqrt{\hat\sigma^2 - \sigma^2}$, ε of row i from stream `(seed, CHURN, first + i, k)`.
fn add_churn(x: &mut [f32], d: usize, key: NoiseKey, k: usize, t: f64, t_hat: f64, amp: f64) {
    let (up, down) = (t.exp(), (-t_hat).exp());
    x.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
        let mut r = rng::stream(key.seed, &[rng::tag::CHURN, key.first + i as u64, k as u64]);
        for v in row.iter_mut() {
            let e: f64 = r.sample(StandardNormal);
            *v = (down * (up * *v as f64 + amp * e)) as f32;
        }
    });
}

/// EDM's stochastic sampler (module doc) over `grid`, in place on `x` (B × d, the state at
/// `grid.t_max()`). The observer sees each step at the churned state and time $(\hat x, \hat t)$ (the
/// grid's (x, t) when γ = 0); each step evaluates the score twice.
#[allow(clippy::too_many_arguments)]
pub fn edm(
    score: &dyn Score,
    x: &mut [f32],
    grid: &TimeGrid,
    key: NoiseKey,
    churn: &EdmChurn,
    obs: &mut dyn Observer,
    monitor: &dyn Monitor,
    par: Par,
) -> Result<RunStats> {
    churn.validate()?;
    let d = score.dim();
    let n = grid.n_steps();
    let mut drv = Driver::new(score, x, grid, obs, monitor, par);
    let mut x_hat = vec![0.0f32; x.len()];
    let mut s_next = vec![0.0f32; x.len()];
    for (k, (t_cur, t_next)) in grid.steps().enumerate() {
        let sigma = sigma_from_t(t_cur);
        let gamma = churn.gamma(sigma, n);
        x_hat.copy_from_slice(x);
        let (sigma_hat, t_hat) = if gamma > 0.0 {
            let sh = sigma * (1.0 + gamma);
            let amp = churn.s_noise * (sh * sh - sigma * sigma).sqrt();
            let th = t_from_sigma(sh);
            add_churn(&mut x_hat, d, key, k, t_cur, th, amp);
            (sh, th)
        } else {
            (sigma, t_cur)
        };
        if drv.observe(&x_hat, k, t_hat, t_next)?.is_break() {
            break;
        }
        // In x = e^{-t} y: x' = e^{-t_next}(e^{t̂} x̂ − h √Δ̂ S(x̂, t̂)), h = σ_{i+1} − σ̂.
        let h = sigma_from_t(t_next) - sigma_hat;
        let (up, down) = (t_hat.exp(), (-t_next).exp());
        let (rd_hat, rd_next) = (delta(t_hat).sqrt(), delta(t_next).sqrt());
        x.par_iter_mut()
            .zip(&x_hat)
            .zip(&drv.s)
            .for_each(|((xv, &xh), &s)| {
                *xv = (down * (up * xh as f64 - h * rd_hat * s as f64)) as f32;
            });
        score.eval_into(x, t_next, &mut s_next, Extras::none(), par);
        drv.stats.score_evals += 1;
        x.par_iter_mut()
            .zip(&x_hat)
            .zip(drv.s.par_iter().zip(&s_next))
            .for_each(|((xv, &xh), (&s, &sn))| {
                let dir = 0.5 * (rd_hat * s as f64 + rd_next * sn as f64);
                *xv = (down * (up * xh as f64 - h * dir)) as f32;
            });
    }
    Ok(drv.stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn churn_is_gated_by_sigma_and_capped() {
        let c = EdmChurn {
            churn: 40.0,
            s_tmin: 0.05,
            s_tmax: Some(50.0),
            s_noise: 1.003,
        };
        assert_eq!(c.gamma(1.0, 100), 0.4);
        assert_eq!(c.gamma(1.0, 10), std::f64::consts::SQRT_2 - 1.0);
        assert_eq!(c.gamma(0.01, 100), 0.0);
        assert_eq!(c.gamma(60.0, 100), 0.0);
        assert_eq!(EdmChurn::default().gamma(1.0, 100), 0.0);
        for bad in [
            EdmChurn { churn: -1.0, ..c },
            EdmChurn {
                s_tmax: Some(0.01),
                ..c
            },
            EdmChurn { s_noise: 0.0, ..c },
            EdmChurn {
                s_tmin: f64::NAN,
                ..c
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        c.validate().unwrap();
    }
}

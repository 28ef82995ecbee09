//! The closed-form denoiser family: training-free scores, each a softmax posterior mean over training
//! data or training patches, that explain how trained networks differ from the exact (memorising) score
//! (issue #26; science.md §2 for the exact score they all modify).
//!
//! - [`SmoothedScore`]: the exact score of the training *density* smoothed by a Gaussian of width σ (the
//!   data law $\frac1N\sum_\mu \mathcal N(a_\mu, \sigma^2 I)$, a kernel density estimate), on the fused
//!   kernel;
//! - [`CfdmScore`]: the exact score *field* smoothed by a Gaussian of width σ in its argument, the σ-CFDM
//!   of Scarvelis et al. (arXiv 2310.12395), whose samples are barycentres of nearby training points;
//! - [`KnnScore`]: the softmax restricted to the exact k nearest points (Niedoba et al., arXiv 2402.08018),
//!   with a certified bound on the omitted mass;
//! - [`wiener`]: the linear (Wiener) denoiser, the population score of the Gaussian with the data's mean
//!   and covariance;
//! - [`MaskScore`]: the local score with the data's own receptive fields, masks read off the Wiener
//!   denoiser's sensitivity in the data's principal axes (after Lukoianov et al., arXiv 2509.09672);
//! - [`PatchScore`]: the patch-local (LS) and equivariant-local (ELS) machines of Kamb & Ganguli
//!   (arXiv 2412.20292) for images, with zero or circular padding and a patch-size schedule in t.
//!
//! [`FamilySpec`] names each with its parameters (`knn:k=64`, `els:patch=7,padding=circular`) for the CLI,
//! configs and Python.

mod cfdm;
mod knn;
mod mask;
mod patch;
mod spec;

pub use cfdm::CfdmScore;
pub use knn::KnnScore;
pub use mask::{MaskRule, MaskScore, MASK_CACHE};
pub use patch::{Padding, PatchKind, PatchSchedule, PatchScore};
pub use spec::FamilySpec;

use crate::data::{Covariance, Dataset, GaussianMixture};
use crate::error::{Error, Result};
use crate::score::{check_shapes, EmpiricalScore, Extras, GmmScore, Precision, Score};
use faer::Par;

/// The Wiener (linear) denoiser of a data set: the population score of $\mathcal N(m, C)$ with the data's
/// mean and covariance, $S(x, t) = -(e^{-2t} C + \Delta_t I)^{-1}(x - e^{-t} m)$ (the best linear
/// denoiser in mean square; [`GmmScore`] of one full-covariance component, eigendecomposed once).
pub fn wiener(data: &Dataset) -> Result<GmmScore> {
    let (mean, cov) = crate::linalg::mean_cov(&data.x, data.n, data.d, Par::rayon(0))?;
    let mix = GaussianMixture::new(vec![mean], vec![1.0], Covariance::Full(vec![cov]))?;
    Ok(GmmScore::new(mix))
}

/// The exact score of the training set smoothed by a Gaussian of width σ: the score of
/// $p_{\sigma,t} = \frac1N \sum_\mu \mathcal N(e^{-t} a_\mu, (e^{-2t}\sigma^2 + \Delta_t) I)$,
/// $S = (e^{-t}\sum_\mu w_\mu a_\mu - x)/\Delta'$ with $\Delta' = e^{-2t}\sigma^2 + \Delta_t$ and
/// $w = \mathrm{softmax}(-|x - e^{-t}a_\mu|^2 / 2\Delta')$.
///
/// It runs on the exact kernel: with $c = \sqrt{1 + \sigma^2 e^{-2t}}$ and $t' = t + \ln c$ (so
/// $e^{-t'} = e^{-t}/c$ and $\Delta_{t'} = \Delta'/c^2$), $S_\sigma(x, t) = S^*(x/c, t')/c$; σ = 0 is the
/// exact score, bit for bit. Its posterior weights are those of $S^*$ at $(x/c, t')$, so the nearest
/// points and the posterior come from the same pass (distances scaled back by c).
pub struct SmoothedScore {
    exact: EmpiricalScore,
    sigma: f64,
}

impl SmoothedScore {
    /// The smoothed score of `data` with width σ ≥ 0 (f32 kernel).
    pub fn new(data: &Dataset, sigma: f64) -> Result<Self> {
        if !(sigma >= 0.0 && sigma.is_finite()) {
            return Err(Error::param("sigma", sigma, "a finite width ≥ 0"));
        }
        Ok(SmoothedScore {
            exact: EmpiricalScore::new(data, Precision::F32)?,
            sigma,
        })
    }

    /// c and t' of the module doc.
    fn map(&self, t: f64) -> (f64, f64) {
        let c = (1.0 + self.sigma * self.sigma * (-2.0 * t).exp()).sqrt();
        (c, t + c.ln())
    }
}

impl Score for SmoothedScore {
    fn dim(&self) -> usize {
        self.exact.dim()
    }
    fn has_training_set(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!(
            "σ-smoothed exact score (σ = {}), N = {}",
            self.sigma,
            self.exact.n()
        )
    }
    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        check_shapes(self.dim(), x, t, out, &extras);
        if self.sigma == 0.0 {
            return self.exact.eval_into(x, t, out, extras, par);
        }
        let (c, t2) = self.map(t);
        let y: Vec<f32> = x.iter().map(|&v| (v as f64 / c) as f32).collect();
        let Extras {
            mut log_p,
            mut nearest,
            posterior,
        } = extras;
        let inner = Extras {
            log_p: log_p.as_deref_mut(),
            nearest: nearest.as_deref_mut(),
            posterior,
        };
        self.exact.eval_into(&y, t2, out, inner, par);
        out.iter_mut().for_each(|v| *v = (*v as f64 / c) as f32);
        if let Some(l) = log_p {
            // log p_σ(x) = log p*(x/c) − d ln c (the change of variables y = x/c).
            let shift = self.dim() as f64 * c.ln();
            l.iter_mut().for_each(|v| *v -= shift);
        }
        if let Some(n) = nearest {
            for v in n.iter_mut() {
                v.d1 = (v.d1 as f64 * c) as f32;
                v.d2 = (v.d2 as f64 * c) as f32;
            }
        }
    }
}

/// The score of a denoiser that maps one query to its denoised point D(x) (f64):
/// $S = (e^{-t} D(x) - x)/\Delta_t$ for every query row of `x`, written to `out`.
pub(crate) fn score_from_denoiser(
    x: &[f32],
    t: f64,
    out: &mut [f32],
    d: usize,
    par: Par,
    denoise: impl Fn(&[f32]) -> Vec<f64> + Sync + Send,
) {
    let ou = crate::score::OuTime::new(t);
    crate::score::map_queries(x, out, d, par, |(q, o)| {
        for ((o, &xv), dv) in o.iter_mut().zip(q).zip(denoise(q)) {
            *o = ((ou.decay * dv - xv as f64) / ou.delta) as f32;
        }
    });
}

/// The exact posterior mean $\sum_\mu w_\mu(y) a_\mu$ at one point y, f64 brute force (the family's tests).
#[cfg(test)]
pub(crate) fn posterior_mean_f64(
    a: &[f32],
    d: usize,
    y: &[f64],
    ou: crate::score::OuTime,
) -> Vec<f64> {
    let l: Vec<f64> = a
        .chunks(d)
        .map(|r| {
            -r.iter()
                .zip(y)
                .map(|(&av, &yv)| (yv - ou.decay * av as f64).powi(2))
                .sum::<f64>()
                / (2.0 * ou.delta)
        })
        .collect();
    let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = l.iter().map(|v| (v - m).exp()).collect();
    let z: f64 = w.iter().sum();
    (0..d)
        .map(|j| {
            a.chunks(d)
                .zip(&w)
                .map(|(r, w)| w * r[j] as f64)
                .sum::<f64>()
                / z
        })
        .collect()
}

/// The exact empirical score in f64 by brute force, for the family's tests: $S = (e^{-t}\sum w a - x)/\Delta$.
#[cfg(test)]
pub(crate) fn exact_f64(a: &[f32], d: usize, x: &[f32], t: f64) -> Vec<f64> {
    let ou = crate::score::OuTime::new(t);
    let mut out = Vec::with_capacity(x.len());
    for q in x.chunks(d) {
        let y: Vec<f64> = q.iter().map(|&v| v as f64).collect();
        let mean = posterior_mean_f64(a, d, &y, ou);
        out.extend(
            y.iter()
                .zip(&mean)
                .map(|(&xv, m)| (ou.decay * m - xv) / ou.delta),
        );
    }
    out
}

#[cfg(test)]
mod tests;

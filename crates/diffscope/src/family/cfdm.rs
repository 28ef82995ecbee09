//! The smoothed closed-form score of Scarvelis, Sáez de Ocáriz Borde & Solomon, "Closed-form diffusion
//! models" (σ-CFDM, arXiv 2310.12395): the exact score averaged over Gaussian perturbations of its
//! argument. Unlike [`super::SmoothedScore`] (the score of the smoothed *density*, whose samples are
//! training points plus noise), this smooths the *score field*, and its samples settle on barycentres of
//! nearby training points: new points between the training data.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::{check_shapes, EmpiricalScore, Extras, OuTime, Precision, Score};
use faer::Par;
use rand_distr::{Distribution, StandardNormal};

/// Query rows handed to the exact kernel at once (queries × draws): bounds the perturbed batch's memory.
const ROWS_PER_CALL: usize = 4096;

/// $S_\sigma(x, t) = \mathbb E_{\varepsilon \sim \mathcal N(0, I_d)}\,[S^*(x + \sigma\varepsilon, t)]$, the
/// exact score $S^*$ (science.md §2) convolved with a Gaussian of width σ in the units of x, estimated
/// with M draws $\varepsilon_1 \dots \varepsilon_M$ fixed once for every query and every t (drawn from
/// `seed`; the field is a deterministic function of x and t, as Scarvelis et al.'s estimator fixes its
/// noise):
///
/// $\hat S_\sigma(x, t) = \big(\tfrac1M \sum_m D^*(x + \sigma\varepsilon_m, t) - x\big)/\Delta_t$,
/// with $D^*(y, t) = e^{-t}\sum_\mu w_\mu(y) a_\mu$ the exact denoiser.
///
/// Since $S^*(y) = (D^*(y) - y)/\Delta_t$, this is $\frac1M\sum_m S^*(x + \sigma\varepsilon_m) +
/// \sigma\bar\varepsilon/\Delta_t$: the last term is zero in expectation and keeping x unperturbed in
/// the $-x$ (as their estimator does) removes the variance it would add. σ = 0 is the exact score, bit for
/// bit. Time convention: their flow-matching time perturbs the query by σ in its own units; so does this,
/// at every OU t (the two agree as t → 0, where samples form, and differ by at most √2 in between).
pub struct CfdmScore {
    exact: EmpiricalScore,
    sigma: f64,
    /// The M fixed draws, M × d.
    eps: Vec<f64>,
    m: usize,
}

impl CfdmScore {
    /// The σ-CFDM score of `data` with width σ ≥ 0 and M ≥ 1 fixed draws keyed by `seed`.
    pub fn new(data: &Dataset, sigma: f64, m: usize, seed: u64) -> Result<Self> {
        if !(sigma >= 0.0 && sigma.is_finite()) {
            return Err(Error::param("sigma", sigma, "a finite width ≥ 0"));
        }
        if m == 0 || m > ROWS_PER_CALL {
            return Err(Error::param(
                "m",
                m,
                format!("between 1 and {ROWS_PER_CALL} draws"),
            ));
        }
        let d = data.d;
        let mut eps = Vec::with_capacity(m * d);
        for k in 0..m {
            // One stream per draw, keyed by its index: the draws do not depend on M.
            let mut g = crate::rng::stream(seed, &[crate::rng::tag::SMOOTHING, k as u64]);
            eps.extend((0..d).map(|_| -> f64 { StandardNormal.sample(&mut g) }));
        }
        Ok(CfdmScore {
            exact: EmpiricalScore::new(data, Precision::F32)?,
            sigma,
            eps,
            m,
        })
    }

    /// The fixed draws ε (M × d, row-major).
    pub fn draws(&self) -> &[f64] {
        &self.eps
    }
}

impl Score for CfdmScore {
    fn dim(&self) -> usize {
        self.exact.dim()
    }
    fn describe(&self) -> String {
        format!(
            "σ-CFDM smoothed closed-form score (σ = {}, M = {} draws), N = {}",
            self.sigma,
            self.m,
            self.exact.n()
        )
    }
    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        check_shapes(self.dim(), x, t, out, &extras);
        assert!(
            extras.log_p.is_none() && extras.nearest.is_none() && extras.posterior.is_none(),
            "the σ-CFDM score provides no log p, nearest points or posterior"
        );
        if self.sigma == 0.0 {
            return self.exact.eval_into(x, t, out, Extras::none(), par);
        }
        let (d, m, ou) = (self.dim(), self.m, OuTime::new(t));
        // Whole queries per call, so a query's M rows are never split (the result does not depend on B).
        let per_call = (ROWS_PER_CALL / m).max(1) * d;
        let mut y = Vec::new();
        let mut s = Vec::new();
        for (xc, oc) in x.chunks(per_call).zip(out.chunks_mut(per_call)) {
            y.clear();
            for q in xc.chunks(d) {
                for e in self.eps.chunks(d) {
                    y.extend(
                        q.iter()
                            .zip(e)
                            .map(|(&xv, &ev)| (xv as f64 + self.sigma * ev) as f32),
                    );
                }
            }
            s.resize(y.len(), 0.0);
            self.exact.eval_into(&y, t, &mut s, Extras::none(), par);
            for ((q, o), (yq, sq)) in xc
                .chunks(d)
                .zip(oc.chunks_mut(d))
                .zip(y.chunks(m * d).zip(s.chunks(m * d)))
            {
                for j in 0..d {
                    // D*(y) = y + Δ S*(y) with the y the kernel saw, averaged over the draws.
                    let mean: f64 = (0..m)
                        .map(|k| yq[k * d + j] as f64 + ou.delta * sq[k * d + j] as f64)
                        .sum::<f64>()
                        / m as f64;
                    o[j] = ((mean - q[j] as f64) / ou.delta) as f32;
                }
            }
        }
    }
}

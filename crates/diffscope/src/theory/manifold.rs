//! Speciation and collapse for the hidden-manifold mixture (manifold.md): Gaussian equivalence for t_S,
//! and three routes to t_C — the linear isotropic closed form, the Marchenko–Pastur (Gaussian F)
//! log-det, and the GLM replica-symmetric free energy for any activation.
//!
//! Every convention the paper leaves open is a parameter here: v∞ (ours 1, the paper's printed form ½),
//! κ, the embedding, and whether the latent class centres enter the collapse channel.

use super::optim::{minimize, root};
use super::{ge_coefficients, integrate, Activation, GeCoefficients};
use crate::data::ManifoldSpec;
use crate::error::{Error, Result};
use crate::score::OuTime;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Top eigenvalue of Cov(x) by Gaussian equivalence: $\Lambda \approx \varrho_1^2 \kappa d \|\tilde\mu\|^2 + \varrho_*^2$
/// (the class-mean spike of Cov(u) is κ (d/p)|μ̃|² = κ d ‖μ̃‖²).
pub fn lambda_spike(ge: &GeCoefficients, kappa: f64, d: usize, mu2: f64) -> f64 {
    ge.rho1 * ge.rho1 * kappa * d as f64 * mu2 + ge.rho_star2
}

/// Top of the within-class bulk of Cov(x) by Gaussian equivalence, $\varrho_1^2 \kappa (1+\sqrt\beta)^2/\beta + \varrho_*^2$
/// (Marchenko–Pastur edge of Cov(u) for Gaussian F). When it exceeds [`lambda_spike`] the class structure
/// has no separate speciation transition.
pub fn lambda_bulk_edge(ge: &GeCoefficients, kappa: f64, beta: f64) -> f64 {
    ge.rho1 * ge.rho1 * kappa * (1.0 + beta.sqrt()).powi(2) / beta + ge.rho_star2
}

/// (1/d) I(a; x_t) of a linear manifold whose latent directions all have signal variance λ:
/// $\tfrac\beta2 \log(1 + \lambda e^{-2t}/\Delta_t)$.
pub fn mi_linear_isotropic(t: f64, beta: f64, lambda: f64) -> f64 {
    let ou = OuTime::new(t);
    0.5 * beta * (lambda * ou.decay * ou.decay / ou.delta).ln_1p()
}

/// (1/d) I for a linear manifold with Gaussian F in the limit d → ∞:
/// $\tfrac\beta2 \int \log(1 + s\nu)\, d\rho(\nu)$, s = e^{-2t}/Δ_t, ν = (κ/β)λ with λ ~ Marchenko–Pastur of
/// ratio β (the spectrum of FᵀF/d). Quadrature in θ with λ = c + r cos θ, which removes the edge
/// singularities (also at β = 1).
pub fn mi_linear_mp(t: f64, beta: f64, kappa: f64) -> f64 {
    let ou = OuTime::new(t);
    let s = ou.decay * ou.decay / ou.delta;
    let (a, b) = ((1.0 - beta.sqrt()).powi(2), (1.0 + beta.sqrt()).powi(2));
    let (c, r) = (0.5 * (a + b), 0.5 * (b - a));
    // ρ(λ) dλ = sqrt((b−λ)(λ−a)) / (2πβλ) dλ and (b−λ)(λ−a) = r² sin²θ, dλ = −r sin θ dθ.
    let integrand = |th: f64| {
        let lam = c + r * th.cos();
        let dens = r * r * th.sin().powi(2) / (2.0 * std::f64::consts::PI * beta * lam.max(1e-300));
        dens * (s * kappa / beta * lam).ln_1p()
    };
    0.5 * beta * integrate(&integrand, 0.0, std::f64::consts::PI, 64)
}

/// (1/d) I from an explicit spectrum ν_j of κFᵀF/p (a random-matrix log-det):
/// $\frac{1}{2d}\sum_j \log(1 + s\nu_j)$.
pub fn mi_logdet(t: f64, d: usize, nu: &[f64]) -> f64 {
    let ou = OuTime::new(t);
    let s = ou.decay * ou.decay / ou.delta;
    nu.iter().map(|&v| (s * v.max(0.0)).ln_1p()).sum::<f64>() / (2.0 * d as f64)
}

/// The GLM output channel $y = e^{-t}\varphi(\sqrt\kappa(\sqrt q\, v + \sqrt{1-q}\, w) + b) + \sqrt{\Delta_t}\xi$.
#[derive(Clone, Copy, Debug)]
pub struct GlmChannel {
    /// Activation.
    pub phi: Activation,
    /// Pre-activation variance κ.
    pub kappa: f64,
    /// Variance of the latent-centre offset b ~ N(0, κ‖μ̃‖²) averaged over (0: no offsets).
    pub offset_var: f64,
}

/// Probabilists' Gauss–Hermite nodes and weights (weights sum to 1) by Golub–Welsch.
fn gauss_hermite(n: usize) -> Vec<(f64, f64)> {
    let j = faer::Mat::<f64>::from_fn(n, n, |i, k| {
        if i.abs_diff(k) == 1 {
            (i.max(k) as f64).sqrt()
        } else {
            0.0
        }
    });
    match crate::linalg::sym_eigen(j.as_ref()) {
        Ok((vals, vecs)) => (0..n).map(|i| (vals[i], vecs[(0, i)].powi(2))).collect(),
        Err(_) => vec![(0.0, 1.0)],
    }
}

/// Lipschitz constant of φ (bounds the slope of the channel mean in w).
fn lipschitz(phi: Activation) -> f64 {
    match phi {
        Activation::Linear | Activation::Tanh | Activation::Relu => 1.0,
        Activation::Sign => 0.0,
        Activation::Erf => 2.0 / std::f64::consts::PI.sqrt(),
        Activation::ErfSqrt2 => (2.0 / std::f64::consts::PI).sqrt(),
    }
}

impl GlmChannel {
    /// $h(Y \mid V = v)$ for offset b: the entropy of the Gaussian mixture over w, evaluated on a y-grid of
    /// step √Δ/12 (trapezoid); the w-integral is composite Gauss–Legendre split where the pre-activation
    /// vanishes (ReLU's kink, sign's jump), with panels no wider than the channel's width in w.
    fn entropy_given_v(&self, q: f64, ou: OuTime, v: f64, b: f64) -> f64 {
        const W: f64 = 9.0;
        let sk = self.kappa.sqrt();
        let (sq, sr) = (q.sqrt(), (1.0 - q).max(0.0).sqrt());
        let slope = ou.decay * sk * sr * lipschitz(self.phi);
        let width = if slope > 0.0 {
            ou.delta.sqrt() / slope
        } else {
            f64::INFINITY
        };
        let w0 = if sr > 0.0 {
            ((-b / sk - sq * v) / sr).clamp(-W, W)
        } else {
            0.0
        };
        let mut nodes = Vec::new();
        let dens = |w: f64| (-0.5 * w * w).exp() / (2.0 * std::f64::consts::PI).sqrt();
        for (lo, hi) in [(-W, w0), (w0, W)] {
            if hi <= lo {
                continue;
            }
            let panels = (((hi - lo) / width).ceil() as usize).clamp(6, 400);
            super::quad::nodes(lo, hi, panels, &mut |w, wt| {
                let m = ou.decay * self.phi.apply(sk * (sq * v + sr * w) + b);
                nodes.push((m, wt * dens(w)));
            });
        }
        let (mlo, mhi) = nodes
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), &(m, _)| {
                (a.min(m), c.max(m))
            });
        let sd = ou.delta.sqrt();
        let h = sd / 12.0;
        let (ylo, yhi) = (mlo - 9.0 * sd, mhi + 9.0 * sd);
        let g = ((yhi - ylo) / h).ceil() as usize + 1;
        let norm = 1.0 / (2.0 * std::f64::consts::PI * ou.delta).sqrt();
        let inv2d = 1.0 / (2.0 * ou.delta);
        let total: f64 = nodes.iter().map(|n| n.1).sum();
        // Only nodes with |y − m| < 9 sd contribute (e^{-40.5} < 3e-18): sort by m and sum over a window.
        nodes.sort_by(|a, b| a.0.total_cmp(&b.0));
        let ms: Vec<f64> = nodes.iter().map(|n| n.0).collect();
        let mut ent = 0.0;
        for k in 0..g {
            let y = ylo + k as f64 * h;
            let lo = ms.partition_point(|&m| m < y - 9.0 * sd);
            let hi = ms.partition_point(|&m| m <= y + 9.0 * sd);
            let p: f64 = nodes[lo..hi]
                .iter()
                .map(|&(m, wt)| wt * (-(y - m) * (y - m) * inv2d).exp())
                .sum::<f64>()
                * norm
                / total;
            if p > 0.0 {
                ent -= h * p * p.ln();
            }
        }
        ent
    }

    /// $I_{out}(q; t) = E_V[h(Y|V)] - \tfrac12\log(2\pi e\Delta_t)$, V ~ N(0, 1) by 24-node Gauss–Hermite
    /// (and the offsets b by 12-node Gauss–Hermite when `offset_var > 0`).
    pub fn i_out(&self, q: f64, t: f64) -> f64 {
        let ou = OuTime::new(t);
        let gh_v = gauss_hermite(24);
        let offsets: Vec<(f64, f64)> = if self.offset_var > 0.0 {
            gauss_hermite(12)
                .into_iter()
                .map(|(x, w)| (x * self.offset_var.sqrt(), w))
                .collect()
        } else {
            vec![(0.0, 1.0)]
        };
        let jobs: Vec<(f64, f64, f64)> = offsets
            .iter()
            .flat_map(|&(b, wb)| gh_v.iter().map(move |&(v, wv)| (v, b, wv * wb)))
            .collect();
        let mean_h: f64 = jobs
            .par_iter()
            .map(|&(v, b, w)| w * self.entropy_given_v(q, ou, v, b))
            .sum();
        mean_h - 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E * ou.delta).ln()
    }

    /// The replica-symmetric potential $F_t(q) = -\tfrac12\log(1-q) - q/2 + I_{out}(q;t)/\beta$.
    pub fn potential(&self, q: f64, t: f64, beta: f64) -> f64 {
        -0.5 * (1.0 - q).ln() - 0.5 * q + self.i_out(q, t) / beta
    }

    /// $(1/d)\, I(a; x_t) = \beta \min_{q\in[0,1)} F_t(q)$ and the minimiser q*.
    pub fn mi_per_d(&self, t: f64, beta: f64) -> (f64, f64) {
        // F is quadratic near its minimum, so a tolerance of 1e-5 in q costs ~1e-10 in the value.
        let (q, f) = minimize(&|q| self.potential(q, t, beta), 0.0, 1.0 - 1e-9, 1e-5);
        (beta * f, q)
    }
}

/// Solves (1/d) I(t) = α (I decreases with t). The bracket grows geometrically from [0.25, 1] (small t,
/// where the quadrature is most expensive, is visited only when needed) down to 1e-4 and up to 30;
/// `None` when α exceeds the information the channel carries even at t = 1e-4 (sign φ saturates).
pub fn t_collapse_from_mi(mi: &dyn Fn(f64) -> f64, alpha: f64) -> Option<f64> {
    let g = |t: f64| mi(t) - alpha;
    let (mut lo, mut hi) = (0.25, 1.0);
    let (mut glo, mut ghi) = (g(lo), g(hi));
    while glo < 0.0 {
        if lo <= 1e-4 {
            return None;
        }
        (hi, ghi) = (lo, glo);
        lo = (lo / 4.0).max(1e-4);
        glo = g(lo);
    }
    while ghi > 0.0 {
        if hi >= 30.0 {
            return None;
        }
        (lo, glo) = (hi, ghi);
        hi = (hi * 3.0).min(30.0);
        ghi = g(hi);
    }
    let _ = (glo, ghi);
    root(&g, lo, hi, 1e-6)
}

/// Every theory number of the manifold paper for one model, in diffscope's convention and the paper's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ManifoldTheory {
    /// d, β, φ, ‖μ̃‖², κ as used.
    pub spec: ManifoldSpec,
    /// α = ln n / d.
    pub alpha: f64,
    /// Gaussian-equivalence coefficients at κ.
    pub ge: GeCoefficients,
    /// Λ of the class spike by Gaussian equivalence.
    pub lambda_spike: f64,
    /// Λ of the within-class bulk edge by Gaussian equivalence.
    pub lambda_bulk_edge: f64,
    /// t_S = ½ log(Λ_spike / v∞), v∞ = 1.
    pub t_s: f64,
    /// The paper's printed ½ log[2(ϱ₁²βd‖μ̃‖² + ϱ*²)] (v∞ = ½).
    pub t_s_printed: f64,
    /// ½ log(Λ_bulk / v∞).
    pub t_s_bulk_edge: f64,
    /// Linear isotropic closed form with λ = κ/β (exact for linear φ, orthonormal F).
    pub t_c_linear: Option<f64>,
    /// Linear channel, Gaussian F, Marchenko–Pastur limit.
    pub t_c_linear_mp: Option<f64>,
    /// GLM replica-symmetric formula for φ (no latent centres).
    pub t_c_glm: Option<f64>,
    /// GLM with the latent-centre offsets b ~ N(0, κ‖μ̃‖²) (when computed).
    pub t_c_glm_centres: Option<f64>,
}

/// Computes [`ManifoldTheory`] for `spec` and α; `with_centres` adds the (8× slower) offset variant.
pub fn manifold_theory(
    spec: &ManifoldSpec,
    alpha: f64,
    with_centres: bool,
) -> Result<ManifoldTheory> {
    spec.validate()?;
    crate::error::check_positive("alpha", alpha)?;
    let (beta, kappa) = (spec.beta, spec.kappa());
    let ge = ge_coefficients(spec.activation, kappa)?;
    let spike = lambda_spike(&ge, kappa, spec.d, spec.mu2);
    let bulk = lambda_bulk_edge(&ge, kappa, beta);
    let ch = GlmChannel {
        phi: spec.activation,
        kappa,
        offset_var: 0.0,
    };
    let t_c_glm = t_collapse_from_mi(&|t| ch.mi_per_d(t, beta).0, alpha);
    let t_c_glm_centres = if with_centres && spec.mu2 > 0.0 {
        let chc = GlmChannel {
            offset_var: kappa * spec.mu2,
            ..ch
        };
        t_collapse_from_mi(&|t| chc.mi_per_d(t, beta).0, alpha)
    } else {
        None
    };
    Ok(ManifoldTheory {
        spec: spec.clone(),
        alpha,
        ge,
        lambda_spike: spike,
        lambda_bulk_edge: bulk,
        t_s: 0.5 * spike.ln(),
        t_s_printed: super::t_speciation_printed(ge.rho1, ge.rho_star2, beta, spec.d, spec.mu2),
        t_s_bulk_edge: 0.5 * bulk.ln(),
        t_c_linear: super::t_collapse_linear_manifold(alpha, beta, kappa / beta, 1.0).ok(),
        t_c_linear_mp: t_collapse_from_mi(&|t| mi_linear_mp(t, beta, kappa), alpha),
        t_c_glm,
        t_c_glm_centres,
    })
}

/// The theory curve of the excess entropy $f(t)/\alpha = \max(0, 1 - (1/d) I(t)/\alpha)$ for any of the
/// (1/d) I routes above.
pub fn excess_entropy_from_mi(mi_per_d: f64, alpha: f64) -> f64 {
    (1.0 - mi_per_d / alpha).max(0.0)
}

/// Checks α > 0 for sweeps (named error).
pub fn check_alpha(alpha: f64) -> Result<()> {
    if alpha.is_finite() && alpha > 0.0 {
        Ok(())
    } else {
        Err(Error::param("alpha", alpha, "a number > 0 (α = ln n / d)"))
    }
}

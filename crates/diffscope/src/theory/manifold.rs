//! Speciation and collapse for the hidden-manifold mixture (manifold.md): Gaussian equivalence for t_S,
//! and three routes to t_C — the linear isotropic closed form, the Marchenko–Pastur (Gaussian F)
//! log-det, and the GLM replica-symmetric free energy for any activation.
//!
//! Every convention the paper leaves open is a parameter here: v∞ (ours 1, the paper's printed form ½),
//! κ, the embedding, and whether the latent class centres enter the collapse channel.

pub use super::glm::{solve_collapse, t_collapse_from_mi, GlmChannel, NoRoot};
use super::{ge_coefficients, integrate, GeCoefficients};
use crate::data::ManifoldSpec;
use crate::error::{Error, Result};
use crate::score::OuTime;
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
    /// Λ of the class spike by Gaussian equivalence with the coefficients taken at the pre-activation's
    /// *total* variance κ(1 + ‖μ̃‖²) (the class means are part of u, so u ~ N(0, κ(1 + ‖μ̃‖²)) over the
    /// coordinates): $\varrho_1(\kappa_{tot})^2 \kappa d \|\tilde\mu\|^2 + \varrho_*^2(\kappa_{tot})$. manifold.md (and the
    /// paper's printed form) take ϱ at κ; for a non-linear φ and ‖μ̃‖² = O(1) that overestimates the
    /// spike by a d-independent factor (tanh, β = 1, ‖μ̃‖² = 1: t_S too high by ≈ 0.23 at every d), while
    /// this variant follows the data's top eigenvalue (the README's d sweep). Equal to `lambda_spike`
    /// for linear φ.
    pub lambda_spike_total_var: f64,
    /// ½ log(Λ_spike,total-variance / v∞).
    pub t_s_total_var: f64,
    /// Linear isotropic closed form with λ = κ/β (exact for linear φ, orthonormal F).
    pub t_c_linear: Option<f64>,
    /// Linear channel, Gaussian F, Marchenko–Pastur limit.
    pub t_c_linear_mp: Option<f64>,
    /// GLM replica-symmetric formula for φ (no latent centres).
    pub t_c_glm: Option<f64>,
    /// Why `t_c_glm` has no value (α above the supremum of the information, which it states).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_c_glm_no_root: Option<NoRoot>,
    /// GLM with the latent-centre offsets b ~ N(0, κ‖μ̃‖²) (when computed).
    pub t_c_glm_centres: Option<f64>,
    /// Why `t_c_glm_centres` has no value, when it was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_c_glm_centres_no_root: Option<NoRoot>,
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
    let ge_tot = ge_coefficients(spec.activation, kappa * (1.0 + spec.mu2))?;
    let spike_tot = lambda_spike(&ge_tot, kappa, spec.d, spec.mu2);
    let ch = GlmChannel {
        phi: spec.activation,
        kappa,
        offset_var: 0.0,
    };
    let glm = solve_collapse(&|t| ch.mi_per_d(t, beta).0, alpha);
    let centres = (with_centres && spec.mu2 > 0.0).then(|| {
        let chc = GlmChannel {
            offset_var: kappa * spec.mu2,
            ..ch
        };
        solve_collapse(&|t| chc.mi_per_d(t, beta).0, alpha)
    });
    Ok(ManifoldTheory {
        spec: spec.clone(),
        alpha,
        ge,
        lambda_spike: spike,
        lambda_bulk_edge: bulk,
        t_s: 0.5 * spike.ln(),
        t_s_printed: super::t_speciation_printed(ge.rho1, ge.rho_star2, beta, spec.d, spec.mu2),
        t_s_bulk_edge: 0.5 * bulk.ln(),
        lambda_spike_total_var: spike_tot,
        t_s_total_var: 0.5 * spike_tot.ln(),
        t_c_linear: super::t_collapse_linear_manifold(alpha, beta, kappa / beta, 1.0).ok(),
        t_c_linear_mp: t_collapse_from_mi(&|t| mi_linear_mp(t, beta, kappa), alpha),
        t_c_glm: glm.ok(),
        t_c_glm_no_root: glm.err(),
        t_c_glm_centres: centres.and_then(|r| r.ok()),
        t_c_glm_centres_no_root: centres.and_then(|r| r.err()),
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

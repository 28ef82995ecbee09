//! Speciation and collapse theory (science.md §4; manifold.md "Speciation", "Collapse").
//!
//! Closed forms and one-dimensional quadratures, all in f64:
//! - t_S = ½ log(Λ / v∞) ([`t_speciation`]) and the manifold paper's printed form ([`t_speciation_printed`]);
//! - the two-class GMM speciation curve φ(t) ([`speciation_curve`]);
//! - t_C for the two-class GMM ([`t_collapse_gmm`]) and for the linear isotropic manifold
//!   ([`t_collapse_linear_manifold`]), and the excess-entropy theory curve f(t)/α ([`excess_entropy_gmm`]);
//! - Gaussian-equivalence coefficients ϱ₀, ϱ₁, ϱ*² of an activation ([`ge_coefficients`]).
//!
//! - the hidden-manifold theory ([`manifold`]): Gaussian-equivalence t_S, and t_C by the linear closed form,
//!   the Marchenko–Pastur log-det and the GLM replica-symmetric free energy.

mod glm;
pub mod manifold;
mod optim;
mod quad;

pub use optim::{minimize, root};
pub use quad::integrate;

use crate::error::{check_positive, Error, Result};
use crate::score::convention::delta;
use serde::{Deserialize, Serialize};

pub use crate::data::Activation;

/// The default stationary variance of the OU process in diffscope's convention.
pub const V_INF: f64 = 1.0;

/// Speciation time $t_S = \tfrac12 \log(\Lambda / v_\infty)$, Λ the top eigenvalue of the data covariance.
///
/// # Errors
/// If Λ ≤ 0 or v∞ ≤ 0.
pub fn t_speciation(lambda: f64, v_inf: f64) -> Result<f64> {
    check_positive("Lambda", lambda)?;
    check_positive("v_inf", v_inf)?;
    Ok(0.5 * (lambda / v_inf).ln())
}

/// The manifold paper's printed speciation time $\tfrac12 \log[2(\varrho_1^2 \beta d \|\tilde\mu\|^2 + \varrho_*^2)]$
/// (George–Veiga–Macris 2025), which corresponds to v∞ = ½.
pub fn t_speciation_printed(rho1: f64, rho_star2: f64, beta: f64, d: usize, mu2: f64) -> f64 {
    0.5 * (2.0 * (rho1 * rho1 * beta * d as f64 * mu2 + rho_star2)).ln()
}

/// Collapse time of the two-class GMM with n points in dimension d (Biroli et al. 2024):
/// $t_C = \tfrac12 \log(1 + \sigma^2 / (n^{2/d} - 1))$.
///
/// # Errors
/// If n < 2, d = 0 or σ² ≤ 0.
pub fn t_collapse_gmm(n: usize, d: usize, sigma2: f64) -> Result<f64> {
    if n < 2 {
        return Err(Error::param("n", n, "at least 2 training points"));
    }
    if d == 0 {
        return Err(Error::param("d", 0, "d ≥ 1"));
    }
    check_positive("sigma2", sigma2)?;
    let alpha = (n as f64).ln() / d as f64;
    Ok(0.5 * (sigma2 / (2.0 * alpha).exp_m1()).ln_1p())
}

/// Collapse time of a linear isotropic manifold of relative dimension β whose directions have variance λ:
/// $t_C = \tfrac12 \log(1 + (\lambda / v_\infty) / (e^{2\alpha/\beta} - 1))$, α = ln n / d (manifold.md).
/// β = 1, λ = σ² gives [`t_collapse_gmm`].
///
/// # Errors
/// If β ∉ (0, 1], α ≤ 0, λ ≤ 0 or v∞ ≤ 0.
pub fn t_collapse_linear_manifold(alpha: f64, beta: f64, lambda: f64, v_inf: f64) -> Result<f64> {
    check_beta(beta)?;
    check_positive("alpha", alpha)?;
    check_positive("lambda", lambda)?;
    check_positive("v_inf", v_inf)?;
    Ok(0.5 * ((lambda / v_inf) / (2.0 * alpha / beta).exp_m1()).ln_1p())
}

fn check_beta(beta: f64) -> Result<()> {
    if beta.is_finite() && beta > 0.0 && beta <= 1.0 {
        Ok(())
    } else {
        Err(Error::param("beta", beta, "a number in (0, 1]"))
    }
}

/// Theory curve of the excess entropy for the two-class GMM (science.md §4):
/// $f/\alpha = \max(0, [\alpha + \tfrac12 \log(\Delta_t / (\Delta_t + \sigma^2 e^{-2t}))]/\alpha)$.
/// It vanishes exactly at [`t_collapse_gmm`].
pub fn excess_entropy_gmm(t: f64, alpha: f64, sigma2: f64) -> f64 {
    let dt = delta(t);
    ((alpha + 0.5 * (dt / (dt + sigma2 * (-2.0 * t).exp())).ln()) / alpha).max(0.0)
}

/// Speciation curve of the two-class GMM with population score: the probability that two clones split
/// at time t end in the same class,
/// $\varphi(t) = \tfrac12 \int dy\, \frac{G_+(y)^2 + G_-(y)^2}{G_+(y) + G_-(y)}$, with $G_\pm$ the 1-D
/// Gaussian densities of mean $\pm|m| e^{-t}$ and variance $\Gamma_t = \Delta_t + \sigma^2 e^{-2t}$.
/// Computed by composite Gauss–Legendre quadrature in f64 (error < 1e-12).
pub fn speciation_curve(m_norm: f64, sigma2: f64, t: f64) -> Result<f64> {
    check_positive("t", t)?;
    if !(m_norm.is_finite() && m_norm >= 0.0) {
        return Err(Error::param("|m|", m_norm, "a finite number ≥ 0"));
    }
    let gamma = delta(t) + sigma2 * (-2.0 * t).exp();
    let mu = m_norm * (-t).exp();
    let sd = gamma.sqrt();
    let lg = |y: f64, c: f64| {
        -(y - c).powi(2) / (2.0 * gamma) - 0.5 * (2.0 * std::f64::consts::PI * gamma).ln()
    };
    let h = |y: f64| {
        let (a, b) = (lg(y, mu), lg(y, -mu));
        let m = a.max(b);
        let (ea, eb) = ((a - m).exp(), (b - m).exp());
        m.exp() * (ea * ea + eb * eb) / (ea + eb)
    };
    // The integrand is symmetric in y: integrate [0, mu + 14 sd] with a break at mu, and double.
    let hi = mu + 14.0 * sd;
    let v = integrate(&h, 0.0, mu, 64) + integrate(&h, mu, hi, 128);
    Ok(v) // ½ · 2 · ∫_0^∞
}

/// Gaussian-equivalence coefficients of φ at pre-activation variance κ, for u ~ N(0, κ):
/// ϱ₀ = E φ(u), ϱ₁ = E[u φ(u)]/κ, ϱ*² = E φ(u)² − ϱ₀² − κ ϱ₁².
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeCoefficients {
    /// ϱ₀.
    pub rho0: f64,
    /// ϱ₁.
    pub rho1: f64,
    /// ϱ*².
    pub rho_star2: f64,
}

/// [`GeCoefficients`] of φ at variance κ, by composite Gauss–Legendre quadrature over ±14 sd with a
/// break at 0 (where ReLU and sign are not smooth); error < 1e-12.
///
/// # Errors
/// If κ ≤ 0.
pub fn ge_coefficients(phi: Activation, kappa: f64) -> Result<GeCoefficients> {
    check_positive("kappa", kappa)?;
    let sd = kappa.sqrt();
    let dens =
        |u: f64| (-(u * u) / (2.0 * kappa)).exp() / (2.0 * std::f64::consts::PI * kappa).sqrt();
    let ex = |f: &dyn Fn(f64) -> f64| {
        integrate(&|u| f(u) * dens(u), -14.0 * sd, 0.0, 128)
            + integrate(&|u| f(u) * dens(u), 0.0, 14.0 * sd, 128)
    };
    let rho0 = ex(&|u| phi.apply(u));
    let rho1 = ex(&|u| u * phi.apply(u)) / kappa;
    let second = ex(&|u| phi.apply(u).powi(2));
    Ok(GeCoefficients {
        rho0,
        rho1,
        rho_star2: second - rho0 * rho0 - kappa * rho1 * rho1,
    })
}

#[cfg(test)]
mod tests;

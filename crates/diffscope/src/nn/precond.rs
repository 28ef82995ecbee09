//! EDM preconditioning (Karras et al. 2022, Table 1) written in OU time.

use crate::score::OuTime;

/// Scalars that put the network's input and target at unit variance at every t.
///
/// In OU time the denoising problem is $x = \tilde a + \sqrt{\Delta_t} z$ with $\tilde a = e^{-t} a$ of
/// per-coordinate variance $s^2 = e^{-2t}\sigma_{data}^2$. With $v = s^2 + \Delta_t$:
/// $c_{skip} = s^2/v$, $c_{out} = \sqrt{\Delta_t s^2 / v}$, $c_{in} = 1/\sqrt v$, and the noise feature
/// $c_{noise} = \tfrac14 \ln \sigma_{EDM}$ with $\sigma_{EDM}^2 = e^{2t} - 1$. These are EDM's formulas for
/// the VE variable $x e^{t}$, rescaled by $e^{-t}$.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Precond {
    /// $c_{skip}$.
    pub c_skip: f64,
    /// $c_{out}$.
    pub c_out: f64,
    /// $c_{in}$.
    pub c_in: f64,
    /// $c_{noise}$.
    pub c_noise: f64,
    /// $\Delta_t$.
    pub delta: f64,
    /// $e^{-t}$.
    pub decay: f64,
}

impl Precond {
    /// The scalars at t for data of per-coordinate standard deviation `sigma_data`.
    pub fn new(sigma_data: f64, t: f64) -> Self {
        let ou = OuTime::new(t);
        let s2 = ou.decay * ou.decay * sigma_data * sigma_data;
        let v = s2 + ou.delta;
        Precond {
            c_skip: s2 / v,
            c_out: (ou.delta * s2 / v).sqrt(),
            c_in: 1.0 / v.sqrt(),
            c_noise: 0.125 * (2.0 * t).exp_m1().ln(),
            delta: ou.delta,
            decay: ou.decay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For Gaussian data of variance σ_d², the optimal denoiser is c_skip x (so F = 0 is optimal), and the
    /// training target (ã − c_skip x)/c_out has unit variance: Var = (s² Δ/v) / c_out² = 1 exactly.
    #[test]
    fn unit_variance_target() {
        for &t in &[1e-3, 0.1, 1.0, 5.0] {
            let p = Precond::new(0.7, t);
            let s2 = p.decay * p.decay * 0.49;
            // ã − c_skip x = (1 − c_skip) ã − c_skip √Δ z.
            let var = (1.0 - p.c_skip).powi(2) * s2 + p.c_skip.powi(2) * p.delta;
            assert!((var / p.c_out.powi(2) - 1.0).abs() < 1e-12, "t = {t}");
            // Input variance c_in² (s² + Δ) = 1.
            assert!((p.c_in.powi(2) * (s2 + p.delta) - 1.0).abs() < 1e-12);
        }
    }
}

//! The one place where time conventions are converted (science.md §1).
//!
//! diffscope's time is the OU time t: $x_t = e^{-t} x_0 + \sqrt{\Delta_t} z$, $\Delta_t = 1 - e^{-2t}$.
//! - EDM / VE: $x_t / e^{-t} = x_0 + \sigma z$ with $\sigma^2 = e^{2t} - 1$.
//! - DDPM / VP: $\bar\alpha = e^{-2t}$, so $t = -\tfrac12 \log \bar\alpha$.

/// $\Delta_t = 1 - e^{-2t}$, computed without cancellation at small t.
#[inline]
pub fn delta(t: f64) -> f64 {
    -(-2.0 * t).exp_m1()
}

/// EDM σ of OU time t: $\sigma = \sqrt{e^{2t} - 1}$.
#[inline]
pub fn sigma_from_t(t: f64) -> f64 {
    (2.0 * t).exp_m1().sqrt()
}

/// OU time of EDM σ: $t = \tfrac12 \log(1 + \sigma^2)$.
#[inline]
pub fn t_from_sigma(sigma: f64) -> f64 {
    0.5 * (sigma * sigma).ln_1p()
}

/// DDPM $\bar\alpha$ of OU time t: $e^{-2t}$.
#[inline]
pub fn alpha_bar_from_t(t: f64) -> f64 {
    (-2.0 * t).exp()
}

/// OU time of DDPM $\bar\alpha$: $-\tfrac12 \log \bar\alpha$.
#[inline]
pub fn t_from_alpha_bar(alpha_bar: f64) -> f64 {
    -0.5 * alpha_bar.ln()
}

/// The scalars every OU-time formula needs at one t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OuTime {
    /// t.
    pub t: f64,
    /// $e^{-t}$.
    pub decay: f64,
    /// $\Delta_t = 1 - e^{-2t}$.
    pub delta: f64,
}

impl OuTime {
    /// The scalars at t.
    #[inline]
    pub fn new(t: f64) -> Self {
        OuTime {
            t,
            decay: (-t).exp(),
            delta: delta(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip_from_1e_minus_6_to_250() {
        // e^{2t} overflows f64 past t ≈ 354, so the σ convention is only usable below that.
        for k in 0..=84 {
            let t = 10f64.powf(-6.0 + 0.1 * k as f64);
            assert!(
                (t_from_sigma(sigma_from_t(t)) / t - 1.0).abs() < 1e-12,
                "sigma at t = {t}"
            );
            if t < 300.0 {
                assert!(
                    (t_from_alpha_bar(alpha_bar_from_t(t)) / t - 1.0).abs() < 1e-9,
                    "alpha_bar at t = {t}"
                );
            }
            // Δ_t = σ² e^{-2t}: the VE and VP noise levels agree.
            let s = sigma_from_t(t);
            if t < 300.0 {
                assert!(
                    (delta(t) - s * s * alpha_bar_from_t(t)).abs()
                        <= 1e-12 * delta(t).max(1e-300) + 1e-15
                );
            }
        }
        // Small-t series Δ = 2t − 2t² + O(t³): no cancellation at t = 1e-9.
        assert!((delta(1e-9) - (2e-9 - 2e-18)).abs() < 1e-25);
    }
}

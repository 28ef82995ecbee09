//! Time grids: validated, strictly decreasing lists of OU times from T down to t_min > 0.

use crate::error::{Error, Result};
use crate::score::convention::t_from_sigma;
use serde::{Deserialize, Serialize};

/// How a grid is spaced (for configs).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Spacing {
    /// Equal steps in t.
    #[default]
    Uniform,
    /// Equal steps in log t.
    Log,
    /// EDM ρ-schedule in σ (σ² = e^{2t} − 1), ρ = 7, converted to OU time.
    Edm,
}

/// A strictly decreasing list of OU times $t_0 = T > t_1 > \dots > t_K = t_{\min} > 0$.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeGrid {
    times: Vec<f64>,
}

/// The most steps a grid may have: 10⁷ (80 MB of times; a sampler needs a score evaluation per step, so
/// no run comes near it). A config asking for more is refused before anything is allocated (found by
/// the fuzzer: `steps = 4294967296` allocated 32 GB in `validate`).
pub const MAX_STEPS: usize = 10_000_000;

impl TimeGrid {
    /// A grid from explicit times; they must be finite, > 0 and strictly decreasing, at least two.
    pub fn from_times(times: Vec<f64>) -> Result<Self> {
        if times.len() < 2 {
            return Err(Error::param(
                "grid",
                format!("{} times", times.len()),
                "at least 2 times (T and t_min)",
            ));
        }
        if let Some(&t) = times.iter().find(|t| !(t.is_finite() && **t > 0.0)) {
            return Err(Error::param(
                "grid time",
                t,
                "finite times > 0 (never evaluate a score at t = 0)",
            ));
        }
        if let Some(w) = times.windows(2).position(|w| w[1] >= w[0]) {
            return Err(Error::param(
                "grid",
                format!("t[{}] = {} ≤ t[{}] = {}", w, times[w], w + 1, times[w + 1]),
                "strictly decreasing times",
            ));
        }
        Ok(TimeGrid { times })
    }

    fn check_ends(t_max: f64, t_min: f64, steps: usize) -> Result<()> {
        crate::error::check_positive("t_min", t_min)?;
        crate::error::check_positive("T", t_max)?;
        if t_max <= t_min {
            return Err(Error::param("T", t_max, format!("T > t_min = {t_min}")));
        }
        if steps == 0 {
            return Err(Error::param("steps", 0, "at least 1 step"));
        }
        if steps > MAX_STEPS {
            return Err(Error::param(
                "steps",
                steps,
                format!("at most {MAX_STEPS} steps (a grid holds steps + 1 times)"),
            ));
        }
        Ok(())
    }

    /// `steps` equal steps from `t_max` to `t_min`.
    pub fn uniform(t_max: f64, t_min: f64, steps: usize) -> Result<Self> {
        Self::check_ends(t_max, t_min, steps)?;
        let h = (t_max - t_min) / steps as f64;
        let mut times: Vec<f64> = (0..steps).map(|k| t_max - k as f64 * h).collect();
        times.push(t_min);
        Self::from_times(times)
    }

    /// `steps` steps equally spaced in log t.
    pub fn log(t_max: f64, t_min: f64, steps: usize) -> Result<Self> {
        Self::check_ends(t_max, t_min, steps)?;
        let (a, b) = (t_max.ln(), t_min.ln());
        let mut times: Vec<f64> = (0..steps)
            .map(|k| (a + (b - a) * k as f64 / steps as f64).exp())
            .collect();
        times.push(t_min);
        Self::from_times(times)
    }

    /// The EDM schedule $\sigma_k = (\sigma_{\max}^{1/\rho} + \tfrac{k}{K}(\sigma_{\min}^{1/\rho} - \sigma_{\max}^{1/\rho}))^\rho$
    /// with σ at t_max and t_min, converted to OU time by $t = \tfrac12\log(1+\sigma^2)$.
    pub fn edm(t_max: f64, t_min: f64, steps: usize, rho: f64) -> Result<Self> {
        Self::check_ends(t_max, t_min, steps)?;
        crate::error::check_positive("rho", rho)?;
        let s_max = crate::score::convention::sigma_from_t(t_max).powf(1.0 / rho);
        let s_min = crate::score::convention::sigma_from_t(t_min).powf(1.0 / rho);
        let mut times: Vec<f64> = (0..steps)
            .map(|k| t_from_sigma((s_max + (s_min - s_max) * k as f64 / steps as f64).powf(rho)))
            .collect();
        times[0] = t_max;
        times.push(t_min);
        Self::from_times(times)
    }

    /// A grid of the given spacing.
    pub fn new(spacing: Spacing, t_max: f64, t_min: f64, steps: usize) -> Result<Self> {
        match spacing {
            Spacing::Uniform => Self::uniform(t_max, t_min, steps),
            Spacing::Log => Self::log(t_max, t_min, steps),
            Spacing::Edm => Self::edm(t_max, t_min, steps, 7.0),
        }
    }

    /// The times, decreasing.
    pub fn times(&self) -> &[f64] {
        &self.times
    }

    /// Number of steps (times − 1).
    pub fn n_steps(&self) -> usize {
        self.times.len() - 1
    }

    /// Consecutive pairs `(t_cur, t_next)`.
    pub fn steps(&self) -> impl ExactSizeIterator<Item = (f64, f64)> + '_ {
        self.times.windows(2).map(|w| (w[0], w[1]))
    }

    /// First time T.
    pub fn t_max(&self) -> f64 {
        self.times[0]
    }

    /// Last time t_min.
    pub fn t_min(&self) -> f64 {
        *self.times.last().unwrap_or(&self.times[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzzer finding (toml target): `steps = 4294967296` in a config allocated a 32 GB grid during
    /// validation. Now refused, naming the field, before any allocation.
    #[test]
    fn absurd_step_counts_are_refused_before_allocating() {
        for steps in [MAX_STEPS + 1, 4_294_967_296, usize::MAX] {
            for grid in [
                TimeGrid::uniform(6.0, 0.01, steps),
                TimeGrid::log(6.0, 0.01, steps),
            ] {
                let e = grid.unwrap_err().to_string();
                assert!(e.contains("steps") && e.contains("at most"), "{e}");
            }
        }
        assert_eq!(TimeGrid::uniform(6.0, 0.01, 1000).unwrap().n_steps(), 1000);
    }

    #[test]
    fn grids_have_exact_endpoints_and_decrease() {
        for g in [
            TimeGrid::uniform(6.0, 0.01, 200).unwrap(),
            TimeGrid::log(6.0, 0.01, 50).unwrap(),
            TimeGrid::edm(6.0, 0.01, 40, 7.0).unwrap(),
        ] {
            assert_eq!(g.t_max(), 6.0);
            assert_eq!(g.t_min(), 0.01);
            assert!(g.times().windows(2).all(|w| w[1] < w[0]));
        }
        assert_eq!(TimeGrid::uniform(6.0, 0.01, 200).unwrap().n_steps(), 200);
        assert!(TimeGrid::uniform(1.0, 0.0, 10)
            .unwrap_err()
            .to_string()
            .contains("t_min"));
        assert!(TimeGrid::uniform(0.1, 1.0, 10).is_err());
        assert!(TimeGrid::from_times(vec![1.0, 1.0]).is_err());
    }
}

//! The typed summary of a regimes run: what summary.json holds, what sweeps and `merge` read back, and
//! what Python receives (the same fields, as a dict).
//!
//! Field order is alphabetical at every level, as summary.json has always been written (from a sorted
//! JSON map), so the file keeps its bytes. Numbers that may be missing are `Option` (null in JSON); a
//! non-finite number is written as null and read back as NaN ([`crate::io::f64_or_nan`]).

use crate::io::f64_or_nan;
use crate::theory::manifold::ManifoldTheory;
use serde::{Deserialize, Serialize};

/// summary.json of a regimes run (science.md §6): t_S and t_C from theory and measured, with CIs, the
/// memorised fraction, the data's n, d and α, and the run's identity (seed, version, timings).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RegimesSummary {
    /// α = ln n / d.
    #[serde(deserialize_with = "f64_or_nan")]
    pub alpha: f64,
    /// How end points are classified ([`crate::regimes::ClassRule::describe`]).
    #[serde(default)]
    pub class_rule: String,
    /// Ambient dimension.
    pub d: usize,
    /// The data's provenance.
    pub data: String,
    /// What the end points are ([`crate::regimes::FinalStep::describe`]).
    pub end_points: String,
    /// Fraction of trunk end points with d₁/d₂ < 1/3.
    pub f_mem: Option<f64>,
    /// The same at t_min before the final step.
    pub f_mem_at_t_min: Option<f64>,
    /// Why the branch grid is log-spaced when that was the default for real data (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid_spacing: Option<String>,
    /// Number of training points.
    pub n: usize,
    /// φ at Biroli et al.'s table times.
    pub phi_at_t: PhiAtT,
    /// How many branch times the measured φ band misses the theory curve (two-class GMM only).
    pub phi_vs_theory: Option<PhiVsTheory>,
    /// Ranks the exact score was sharded over (absent for one process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<usize>,
    /// The score that drove the runs: "empirical", "gmm", "gmm-projected", "model <path>" or "supplied".
    pub score: String,
    /// The run's seed.
    pub seed: u64,
    /// Collapse time estimates.
    pub t_c: CollapseSummary,
    /// Speciation time, theory and measured.
    pub t_s: SpeciationSummary,
    /// Every manifold theory variant (manifold model only).
    pub theory_variants: Option<ManifoldTheory>,
    /// Wall times in seconds.
    #[serde(default)]
    pub timings_s: RegimesTimings,
    /// diffscope's version.
    pub version: String,
}

/// t_S: the theory ½ log(Λ / v∞), ½ log Λ of the data, and the φ = 0.775 crossing with its 95 % CI.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeciationSummary {
    /// 95 % bootstrap interval of the measured t_S.
    pub ci: Option<(f64, f64)>,
    /// Top eigenvalue Λ of the data's covariance.
    #[serde(deserialize_with = "f64_or_nan")]
    pub lambda_data: f64,
    /// φ = 0.775 crossing.
    pub measured: Option<f64>,
    /// The model's theory (½ log Λ of the data without a model).
    #[serde(deserialize_with = "f64_or_nan")]
    pub theory: f64,
    /// ½ log Λ of the data (v∞ = 1).
    #[serde(deserialize_with = "f64_or_nan")]
    pub theory_from_data_lambda: f64,
}

/// t_C by every estimator: φ_C = ½, the last change of the nearest point, f^e/α = 0 and 0.05, and the
/// posterior's N_eff < 2, beside the theory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CollapseSummary {
    /// Median per-trajectory first time with N_eff < 2.
    #[serde(default)]
    pub effective_n_below_2: Option<f64>,
    /// Its 95 % distribution-free interval.
    #[serde(default)]
    pub effective_n_below_2_ci: Option<(f64, f64)>,
    /// f^e/α = 0.05 crossing.
    pub entropy_below_0_05: Option<f64>,
    /// Its 95 % interval.
    pub entropy_below_0_05_ci: Option<(f64, f64)>,
    /// f^e/α = 0 crossing.
    pub entropy_zero: Option<f64>,
    /// Its 95 % interval.
    pub entropy_zero_ci: Option<(f64, f64)>,
    /// Mean per-trajectory last change of the nearest training point.
    pub mean_last_change: Option<f64>,
    /// Its median.
    pub median_last_change: Option<f64>,
    /// φ_C = ½ crossing.
    pub phi_c_half: Option<f64>,
    /// Its 95 % interval.
    pub phi_c_half_ci: Option<(f64, f64)>,
    /// Standard deviation of the last change.
    pub sd_last_change: Option<f64>,
    /// The model's t_C (None without a model or without a root).
    pub theory: Option<f64>,
}

/// φ at t = 2.5, 3.0, …, 5.0, interpolated between branch times, with pointwise 95 % CIs and theory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhiAtT {
    /// Upper CI.
    pub hi: Vec<Option<f64>>,
    /// Lower CI.
    pub lo: Vec<Option<f64>>,
    /// Measured φ.
    pub phi: Vec<Option<f64>>,
    /// The times.
    pub t: Vec<f64>,
    /// Theory φ (two-class GMM only).
    pub theory: Option<Vec<Option<f64>>>,
}

/// Branch times where the theory φ lies outside the measured bands (widened by 1/pairs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhiVsTheory {
    /// Branch times compared.
    pub branch_times: usize,
    /// Outside the pointwise 95 % CIs.
    pub outside_pointwise_95: usize,
    /// Outside the simultaneous 95 % band.
    pub outside_simultaneous_95: usize,
}

/// Wall times of a run, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegimesTimings {
    /// Loading or drawing the data.
    pub data: f64,
    /// The cloning experiment.
    pub experiment: f64,
    /// Everything.
    pub total: f64,
}

/// A number with three decimals, or "—" when missing or not finite.
pub fn fmt(v: Option<f64>) -> String {
    match v.filter(|x| x.is_finite()) {
        Some(x) => format!("{x:.3}"),
        None => "—".into(),
    }
}

/// A `[lo, hi]` interval with three decimals, or "—".
pub fn fmt_ci(v: Option<(f64, f64)>) -> String {
    match v {
        Some((lo, hi)) => format!("[{}, {}]", fmt(Some(lo)), fmt(Some(hi))),
        None => "—".into(),
    }
}

impl RegimesSummary {
    /// The rows (quantity, theory, measured, note) of the run's table, as printed and in index.html.
    pub fn table_rows(&self) -> Vec<[String; 4]> {
        let (ts, tc) = (&self.t_s, &self.t_c);
        let mut rows = vec![
            [
                "t_S (φ = 0.775)".into(),
                fmt(Some(ts.theory)),
                fmt(ts.measured),
                format!(
                    "95% CI {}; ½ log Λ_data = {}",
                    fmt_ci(ts.ci),
                    fmt(Some(ts.theory_from_data_lambda))
                ),
            ],
            [
                "t_C (φ_C = 0.5)".into(),
                fmt(tc.theory),
                fmt(tc.phi_c_half),
                format!("95% CI {}", fmt_ci(tc.phi_c_half_ci)),
            ],
            [
                "t_C (mean last change)".into(),
                fmt(tc.theory),
                fmt(tc.mean_last_change),
                format!(
                    "sd {}, median {}",
                    fmt(tc.sd_last_change),
                    fmt(tc.median_last_change)
                ),
            ],
            [
                "t_C (f^e/α = 0)".into(),
                fmt(tc.theory),
                fmt(tc.entropy_zero),
                format!(
                    "95% CI {}; f^e/α < 0.05 from t = {}",
                    fmt_ci(tc.entropy_zero_ci),
                    fmt(tc.entropy_below_0_05)
                ),
            ],
            [
                "t_C (N_eff < 2, median)".into(),
                fmt(tc.theory),
                fmt(tc.effective_n_below_2),
                format!(
                    "95% CI {}; per trajectory, first time the posterior's effective number < 2",
                    fmt_ci(tc.effective_n_below_2_ci)
                ),
            ],
            [
                "f_mem (d₁/d₂ < 1/3 at the end points)".into(),
                "1 (n = e^{αd}, t → 0)".into(),
                fmt(self.f_mem),
                format!(
                    "{}; at t_min before it: {}",
                    self.end_points,
                    fmt(self.f_mem_at_t_min)
                ),
            ],
        ];
        if let Some(c) = &self.phi_vs_theory {
            rows.push([
                "φ(t_b) vs theory curve".into(),
                format!("{} branch times", c.branch_times),
                format!("{} outside (simultaneous 95%)", c.outside_simultaneous_95),
                format!("{} outside the pointwise 95% CIs", c.outside_pointwise_95),
            ]);
        }
        if let Some(v) = &self.theory_variants {
            rows.push([
                "t_S variants (manifold)".into(),
                fmt(Some(v.t_s)),
                fmt(ts.measured),
                format!(
                    "printed form (v∞ = ½) {}, bulk edge {}",
                    fmt(Some(v.t_s_printed)),
                    fmt(Some(v.t_s_bulk_edge))
                ),
            ]);
            rows.push([
                "t_C variants (manifold)".into(),
                fmt(v.t_c_glm),
                fmt(tc.phi_c_half),
                format!(
                    "GLM + centres {}, linear {}, linear MP {}",
                    fmt(v.t_c_glm_centres),
                    fmt(v.t_c_linear),
                    fmt(v.t_c_linear_mp)
                ),
            ]);
        }
        rows
    }

    /// A field of the manifold theory variants, NaN without them (sweep tables).
    pub fn variant(&self, f: impl Fn(&ManifoldTheory) -> Option<f64>) -> f64 {
        self.theory_variants
            .as_ref()
            .and_then(f)
            .unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Activation, ManifoldSpec};

    /// summary.json as written (sorted keys) reads back as the same summary and writes the same text,
    /// with the manifold variants (including their missing roots) and a non-finite number (written as
    /// null, read back as NaN): what sweeps and `merge` rely on. A field renamed on one side only, or an
    /// f64 read without `f64_or_nan`, fails here.
    #[test]
    fn a_written_summary_reads_back_the_same() {
        let spec = ManifoldSpec {
            d: 64,
            beta: 0.5,
            activation: Activation::Tanh,
            mu2: 1.0,
            kappa: None,
            embedding: Default::default(),
        };
        let mt = crate::theory::manifold::manifold_theory(&spec, 0.1, false).unwrap();
        let s = RegimesSummary {
            alpha: 0.1,
            d: 64,
            n: 600,
            score: "empirical".into(),
            t_s: SpeciationSummary {
                theory: f64::NAN,
                measured: Some(1.5),
                ci: Some((1.25, 1.75)),
                ..Default::default()
            },
            t_c: CollapseSummary {
                phi_c_half: Some(0.5),
                ..Default::default()
            },
            phi_at_t: PhiAtT {
                t: vec![2.5, 3.0],
                phi: vec![Some(0.6), None],
                ..Default::default()
            },
            theory_variants: Some(mt),
            ranks: Some(2),
            ..Default::default()
        };
        let text = serde_json::to_string_pretty(&serde_json::to_value(&s).unwrap()).unwrap();
        let back: RegimesSummary = serde_json::from_str(&text).unwrap();
        assert!(back.t_s.theory.is_nan());
        assert_eq!(back.t_s.ci, Some((1.25, 1.75)));
        assert_eq!(back.phi_at_t.phi, vec![Some(0.6), None]);
        assert_eq!(back.ranks, Some(2));
        assert_eq!(back.grid_spacing, None);
        let again = serde_json::to_string_pretty(&serde_json::to_value(&back).unwrap()).unwrap();
        assert_eq!(again, text);
        // Absent optional fields stay absent; the table reads the variants.
        assert!(!text.contains("grid_spacing"));
        assert_eq!(back.table_rows().len(), 8);
        assert_eq!(back.table_rows()[0][1], "—");
    }
}

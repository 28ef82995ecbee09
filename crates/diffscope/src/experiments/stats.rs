//! The data-only experiments as library calls: covariance spectra, concentration of 1-Lipschitz
//! functionals, and Gaussian universality of linear classifiers. Each `run_*` computes a report with its
//! summary (as written to summary.json); each `write_*` writes the run directory atomically.

use crate::concentration;
use crate::data::Dataset;
use crate::error::Result;
use crate::progress::Monitor;
use crate::spectrum::{self, Spectrum};
use crate::universality::{self, UniversalityParams, UniversalityResult};
use serde::{Deserialize, Serialize};

/// summary.json of `spectrum`: the data and, per part (all, then each class), the spectrum's ranks and
/// extremes with the smallest non-zero eigenvalue against the number of samples m.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpectrumSummary {
    /// The data's provenance.
    pub data: String,
    /// Dimension.
    pub d: usize,
    /// Number of points.
    pub n: usize,
    /// The seed.
    pub seed: u64,
    /// One entry per part.
    pub spectra: Vec<SpectrumEntry>,
    /// diffscope's version.
    pub version: String,
}

/// One part's spectrum in [`SpectrumSummary`] (see [`Spectrum`] for each quantity).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpectrumEntry {
    /// Participation-ratio-like entropy rank exp(H(λ/Σλ)).
    pub entropy_rank: f64,
    /// Smallest non-zero eigenvalue.
    pub min_nonzero: f64,
    /// (m, smallest non-zero eigenvalue, numerical rank) at m = n/10 … n.
    pub min_nonzero_vs_n: Vec<(usize, f64, usize)>,
    /// "all" or "class <name>".
    pub name: String,
    /// Numerical rank.
    pub numerical_rank: usize,
    /// (Σλ)² / Σλ².
    pub participation_ratio: f64,
    /// min(n − 1, d).
    pub rank_bound: usize,
    /// Largest eigenvalue.
    pub top: f64,
}

/// Spectra of a data set (and of each class with `per_class`).
#[derive(Clone, Debug)]
pub struct SpectrumReport {
    /// summary.json.
    pub summary: SpectrumSummary,
    /// (name, spectrum, (m, min non-zero eigenvalue, rank) at m = n/10 … n).
    pub parts: Vec<(String, Spectrum, Vec<(usize, f64, usize)>)>,
    pub(crate) provenance: String,
}

/// Covariance spectra, with the smallest non-zero eigenvalue vs the number of samples.
pub fn run_spectrum(ds: &Dataset, per_class: bool, seed: u64) -> Result<SpectrumReport> {
    let mut parts = vec![("all".to_string(), ds.clone())];
    if per_class {
        for c in &ds.class_names {
            parts.push((
                format!("class {c}"),
                ds.select_classes(std::slice::from_ref(c))?,
            ));
        }
    }
    let mut results = Vec::new();
    for (name, part) in &parts {
        let s = spectrum::covariance_spectrum(part)?;
        let ms: Vec<usize> = (1..=10).map(|i| (part.n * i / 10).max(2)).collect();
        let min_vs_n = spectrum::min_nonzero_vs_n(part, &ms)?;
        results.push((name.clone(), s, min_vs_n));
    }
    let summary = SpectrumSummary {
        data: ds.provenance.clone(),
        d: ds.d,
        n: ds.n,
        seed,
        spectra: results
            .iter()
            .map(|(name, s, mv)| SpectrumEntry {
                entropy_rank: s.entropy_rank,
                min_nonzero: s.min_nonzero,
                min_nonzero_vs_n: mv.clone(),
                name: name.clone(),
                numerical_rank: s.numerical_rank,
                participation_ratio: s.participation_ratio,
                rank_bound: s.rank_bound,
                top: s.eigenvalues[0],
            })
            .collect(),
        version: crate::VERSION.into(),
    };
    Ok(SpectrumReport {
        summary,
        parts: results,
        provenance: ds.provenance.clone(),
    })
}

/// summary.json of `concentration`: whether every tail is sub-Gaussian within the threshold.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConcentrationSummary {
    /// Dimension.
    pub d: usize,
    /// The data's provenance.
    pub data: String,
    /// Number of points.
    pub n: usize,
    /// The seed.
    pub seed: u64,
    /// Whether every functional's variance proxy is within `threshold` × its variance.
    pub sub_gaussian: bool,
    /// The threshold on v / Var.
    pub threshold: f64,
    /// diffscope's version.
    pub version: String,
    /// The largest v / Var over the functionals.
    pub worst_v_over_var: f64,
}

/// Tails of |x| and of random 1-Lipschitz functionals against sub-Gaussian bounds.
#[derive(Clone, Debug)]
pub struct ConcentrationRun {
    /// summary.json.
    pub summary: ConcentrationSummary,
    /// The functionals and their tails.
    pub result: concentration::ConcentrationReport,
    pub(crate) provenance: String,
}

/// Runs the concentration analysis with `functionals` random functionals of each kind.
pub fn run_concentration(ds: &Dataset, functionals: usize, seed: u64) -> Result<ConcentrationRun> {
    let r = concentration::concentration(ds, functionals, seed)?;
    let summary = ConcentrationSummary {
        d: r.d,
        data: ds.provenance.clone(),
        n: r.n,
        seed,
        sub_gaussian: r.sub_gaussian,
        threshold: r.threshold,
        version: crate::VERSION.into(),
        worst_v_over_var: r.worst_v_ratio,
    };
    Ok(ConcentrationRun {
        summary,
        result: r,
        provenance: ds.provenance.clone(),
    })
}

/// summary.json of `universality`: whether the data's and the surrogate's error curves agree within
/// their CIs, with the run's parameters and the surrogate fit per class.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UniversalitySummary {
    /// Whether every n's errors agree within the CIs.
    pub agree_within_ci: bool,
    /// Dimension.
    pub d: usize,
    /// The data's provenance.
    pub data: String,
    /// Number of points.
    pub n: usize,
    /// The run's parameters.
    pub params: UniversalityParams,
    /// The seed.
    pub seed: u64,
    /// The surrogate's fit per class.
    pub surrogate: Vec<universality::SurrogateInfo>,
    /// diffscope's version.
    pub version: String,
}

/// Linear classifiers trained on the data vs on its per-class Gaussian surrogate.
#[derive(Clone, Debug)]
pub struct UniversalityReport {
    /// summary.json.
    pub summary: UniversalitySummary,
    /// The error curves.
    pub result: UniversalityResult,
    /// The classifier's name for titles.
    pub classifier: String,
    pub(crate) provenance: String,
    pub(crate) class_names: Vec<String>,
}

/// Test error vs n per class on data and surrogate, with CIs over `p.seeds` repetitions.
pub fn run_universality(
    ds: &Dataset,
    p: &UniversalityParams,
    seed: u64,
    monitor: &dyn Monitor,
) -> Result<UniversalityReport> {
    let r = universality::universality(ds, p, seed, monitor)?;
    let summary = UniversalitySummary {
        agree_within_ci: r.agree,
        d: ds.d,
        data: ds.provenance.clone(),
        n: ds.n,
        params: p.clone(),
        seed,
        surrogate: r.surrogate.clone(),
        version: crate::VERSION.into(),
    };
    Ok(UniversalityReport {
        summary,
        result: r,
        classifier: p.classifier.name().to_string(),
        provenance: ds.provenance.clone(),
        class_names: ds.class_names.clone(),
    })
}

pub use crate::report::stats::{write_concentration, write_spectrum, write_universality};

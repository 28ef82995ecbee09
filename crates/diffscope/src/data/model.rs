//! Data models described by a config (TOML `kind = "two-class"` / `"gmm"`), as used by
//! `diffscope data generate` and the experiments.

use super::{
    Covariance, Dataset, GaussianMixture, ManifoldSpec, SphereSpec, SubspaceSpec, TwoClassGmm,
};
use crate::error::{Error, Result};
use faer::Mat;
use serde::{Deserialize, Serialize};

/// A data model that can be sampled.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DataModel {
    /// The two-class GMM ±m + σz (science.md §3).
    TwoClass(TwoClassGmm),
    /// A K-class GMM with explicit means, weights and covariances.
    Gmm(GmmSpec),
    /// The hidden-manifold mixture (manifold.md).
    Manifold(ManifoldSpec),
    /// A uniform k-sphere randomly embedded in R^d (geometry.md T2).
    Sphere(SphereSpec),
    /// A Gaussian on a random k-dimensional subspace (geometry.md T1).
    Subspace(SubspaceSpec),
}

/// The tangent space of a model at a (clean) point, as an orthonormal d × k basis.
pub type Tangent = Box<dyn Fn(&[f64]) -> Mat<f64> + Send + Sync>;

/// Serialisable description of a K-class Gaussian mixture.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GmmSpec {
    /// K means of length d.
    pub means: Vec<Vec<f64>>,
    /// K positive weights (normalised); equal when omitted.
    #[serde(default)]
    pub weights: Option<Vec<f64>>,
    /// The covariances.
    pub covariance: CovSpec,
}

/// Serialisable covariance description.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CovSpec {
    /// σ_k² I, one variance per class (or one for all).
    Isotropic {
        /// Variances (length 1 or K).
        sigma2: Vec<f64>,
    },
    /// diag(v_k): K vectors of length d.
    Diagonal {
        /// Variances per class and feature.
        variances: Vec<Vec<f64>>,
    },
    /// Full matrices: K nested d × d arrays.
    Full {
        /// Covariance matrices.
        matrices: Vec<Vec<Vec<f64>>>,
    },
}

impl DataModel {
    /// The model as a Gaussian mixture (quenched parameters drawn from `seed`).
    ///
    /// # Errors
    /// For the hidden-manifold mixture, which is not Gaussian.
    pub fn mixture(&self, seed: u64) -> Result<GaussianMixture> {
        match self {
            DataModel::TwoClass(m) => m.mixture(seed),
            DataModel::Gmm(spec) => spec.mixture(),
            DataModel::Subspace(spec) => spec.mixture(seed),
            DataModel::Manifold(_) | DataModel::Sphere(_) => Err(Error::param(
                "model",
                self.kind_name(),
                "a Gaussian model (two-class, gmm or subspace) for a population score",
            )),
        }
    }

    /// Class centres for the nearest-centroid rule (the mixture means; estimated for the manifold model).
    pub fn class_centres(&self, seed: u64) -> Result<Vec<Vec<f64>>> {
        match self {
            DataModel::Manifold(spec) => spec.draw(seed)?.class_means(seed, 20_000),
            _ => Ok(self.mixture(seed)?.means().to_vec()),
        }
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        match self {
            DataModel::TwoClass(m) => m.d,
            DataModel::Gmm(s) => s.means.first().map_or(0, Vec::len),
            DataModel::Manifold(s) => s.d,
            DataModel::Sphere(s) => s.d,
            DataModel::Subspace(s) => s.d,
        }
    }

    /// The `kind` key of the model.
    pub fn kind_name(&self) -> &'static str {
        match self {
            DataModel::TwoClass(_) => "two-class",
            DataModel::Gmm(_) => "gmm",
            DataModel::Manifold(_) => "manifold",
            DataModel::Sphere(_) => "sphere",
            DataModel::Subspace(_) => "subspace",
        }
    }

    /// Intrinsic dimension, where the model has one (sphere and subspace).
    pub fn intrinsic_dim(&self) -> Option<usize> {
        match self {
            DataModel::Sphere(s) => Some(s.k),
            DataModel::Subspace(s) => Some(s.k),
            _ => None,
        }
    }

    /// The known tangent space at a clean point (sphere: at the nearest sphere point; subspace: U).
    pub fn tangent(&self, seed: u64) -> Option<Tangent> {
        match self {
            DataModel::Sphere(s) => {
                let (s, q) = (s.clone(), s.basis(seed));
                Some(Box::new(move |a: &[f64]| s.tangent(&q, a)))
            }
            DataModel::Subspace(s) => {
                let u = s.basis(seed);
                Some(Box::new(move |_: &[f64]| u.clone()))
            }
            _ => None,
        }
    }

    /// Draws n samples: the model's quenched parameters from `seed`, the samples from `seed` too (on a
    /// different stream).
    pub fn sample(&self, n: usize, seed: u64) -> Result<Dataset> {
        let mut ds = match self {
            DataModel::Manifold(spec) => spec.draw(seed)?.sample(n, seed)?,
            DataModel::Sphere(spec) => spec.sample(n, seed)?,
            DataModel::Subspace(spec) => spec.sample(n, seed)?,
            _ => self.mixture(seed)?.sample(n, seed)?,
        };
        ds.provenance = format!("{} (n = {n}, seed {seed})", self.describe());
        Ok(ds)
    }

    /// One-line description.
    pub fn describe(&self) -> String {
        match self {
            DataModel::TwoClass(m) => format!(
                "two-class GMM d = {}, mu_tilde = {}, sigma = {}, direction = {:?}",
                m.d, m.mu_tilde, m.sigma, m.direction
            ),
            DataModel::Gmm(s) => format!("GMM K = {}, d = {}", s.means.len(), self.dim()),
            DataModel::Manifold(s) => format!(
                "hidden-manifold mixture d = {}, beta = {}, phi = {:?}, mu2 = {}, kappa = {}, {:?} F",
                s.d, s.beta, s.activation, s.mu2, s.kappa(), s.embedding
            ),
            DataModel::Sphere(s) => format!(
                "uniform {}-sphere of radius {} randomly embedded in d = {}",
                s.k, s.radius, s.d
            ),
            DataModel::Subspace(s) => format!(
                "Gaussian on a random {}-dim subspace of d = {}, variances {:?}",
                s.k, s.d, s.variances
            ),
        }
    }
}

impl GmmSpec {
    /// Builds the mixture, checking shapes.
    pub fn mixture(&self) -> Result<GaussianMixture> {
        let k = self.means.len();
        let weights = self.weights.clone().unwrap_or_else(|| vec![1.0; k]);
        let cov = match &self.covariance {
            CovSpec::Isotropic { sigma2 } if sigma2.len() == 1 => {
                Covariance::Isotropic(vec![sigma2[0]; k])
            }
            CovSpec::Isotropic { sigma2 } => Covariance::Isotropic(sigma2.clone()),
            CovSpec::Diagonal { variances } => Covariance::Diagonal(variances.clone()),
            CovSpec::Full { matrices } => {
                let mut out = Vec::with_capacity(matrices.len());
                for (ci, m) in matrices.iter().enumerate() {
                    let d = m.len();
                    if m.iter().any(|r| r.len() != d) {
                        return Err(Error::shape(
                            format!("covariance.matrices[{ci}]"),
                            "rows of unequal length",
                        ));
                    }
                    out.push(Mat::from_fn(d, d, |i, j| m[i][j]));
                }
                Covariance::Full(out)
            }
        };
        GaussianMixture::new(self.means.clone(), weights, cov)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_round_trip_and_unknown_keys() {
        let m: DataModel =
            toml::from_str("kind = \"two-class\"\nd = 10\nmu_tilde = 2.0\n").unwrap();
        assert_eq!(
            m,
            DataModel::TwoClass(TwoClassGmm {
                d: 10,
                mu_tilde: 2.0,
                sigma: 1.0,
                direction: Default::default()
            })
        );
        let e = toml::from_str::<DataModel>("kind = \"two-class\"\nd = 10\nmu = 2.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `mu`"), "{e}");
        let g: DataModel = toml::from_str(
            "kind = \"gmm\"\nmeans = [[0.0, 1.0], [1.0, 0.0]]\ncovariance = { kind = \"full\", matrices = [[[1.0, 0.2], [0.2, 1.0]], [[2.0, 0.0], [0.0, 1.0]]] }\n",
        )
        .unwrap();
        assert_eq!(g.mixture(0).unwrap().n_components(), 2);
    }
}

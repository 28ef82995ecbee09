//! Data on known low-dimensional sets randomly embedded in $\mathbb R^d$ (geometry.md oracles T1, T2):
//! a uniform k-sphere and a Gaussian on a k-dimensional subspace. Both know their tangent spaces.

use super::{Covariance, Dataset, GaussianMixture};
use crate::error::{Error, Result};
use crate::rng;
use faer::Mat;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

fn one() -> f64 {
    1.0
}

fn ones() -> Vec<f64> {
    vec![1.0]
}

/// A random d × m matrix with orthonormal columns (Gram–Schmidt, twice, on Gaussian columns) from stream
/// `(seed, MODEL, tag)`.
pub fn random_orthonormal(d: usize, m: usize, seed: u64, tag: u64) -> Mat<f64> {
    let mut r = rng::stream(seed, &[rng::tag::MODEL, tag]);
    let mut q = Mat::<f64>::from_fn(d, m, |_, _| StandardNormal.sample(&mut r));
    for c in 0..m {
        for _ in 0..2 {
            for p in 0..c {
                let dot: f64 = (0..d).map(|i| q[(i, c)] * q[(i, p)]).sum();
                for i in 0..d {
                    q[(i, c)] -= dot * q[(i, p)];
                }
            }
        }
        let n: f64 = (0..d).map(|i| q[(i, c)].powi(2)).sum::<f64>().sqrt();
        for i in 0..d {
            q[(i, c)] /= n;
        }
    }
    q
}

/// The uniform k-sphere of radius R in a random (k+1)-dimensional subspace of $\mathbb R^d$ (centred at
/// 0): $a = R\,Q g/|g|$, $g \sim \mathcal N(0, I_{k+1})$, Q a random d × (k+1) orthonormal matrix.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SphereSpec {
    /// Ambient dimension d.
    pub d: usize,
    /// Intrinsic dimension k (the sphere lives in k + 1 dimensions).
    pub k: usize,
    /// Radius R.
    #[serde(default = "one")]
    pub radius: f64,
}

impl SphereSpec {
    /// Checks 1 ≤ k < d and R > 0.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k >= self.d {
            return Err(Error::param(
                "k",
                self.k,
                format!(
                    "1 ≤ k ≤ d − 1 = {} (a k-sphere needs k + 1 ≤ d dimensions)",
                    self.d.saturating_sub(1)
                ),
            ));
        }
        crate::error::check_positive("radius", self.radius)
    }

    /// The embedding Q (d × (k+1)).
    pub fn basis(&self, seed: u64) -> Mat<f64> {
        random_orthonormal(self.d, self.k + 1, seed, 0x5748)
    }

    /// n points, rows from stream `(seed, DATA, i)`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Dataset> {
        self.validate()?;
        let q = self.basis(seed);
        let m = self.k + 1;
        let mut x = vec![0.0f32; n * self.d];
        for (i, row) in x.chunks_mut(self.d).enumerate() {
            let mut r = rng::stream(seed, &[rng::tag::DATA, i as u64]);
            let g: Vec<f64> = (0..m).map(|_| StandardNormal.sample(&mut r)).collect();
            let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
            for (j, v) in row.iter_mut().enumerate() {
                *v = (self.radius * (0..m).map(|c| q[(j, c)] * g[c]).sum::<f64>() / norm) as f32;
            }
        }
        Dataset::new(x, n, self.d, "k-sphere")
    }

    /// The tangent space at the sphere point nearest to `a`: the orthonormal complement of the radial
    /// direction $\hat y = Q^\top a/|Q^\top a|$ inside span Q, as a d × k basis.
    pub fn tangent(&self, q: &Mat<f64>, a: &[f64]) -> Mat<f64> {
        let m = self.k + 1;
        let y: Vec<f64> = (0..m)
            .map(|c| (0..self.d).map(|j| q[(j, c)] * a[j]).sum())
            .collect();
        let n = y
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt()
            .max(f64::MIN_POSITIVE);
        let yh: Vec<f64> = y.iter().map(|v| v / n).collect();
        // Gram–Schmidt of e_1..e_m against ŷ, keeping the k best-conditioned vectors.
        let mut basis: Vec<Vec<f64>> = Vec::new();
        let mut cands: Vec<usize> = (0..m).collect();
        cands.sort_by(|&a, &b| yh[a].abs().total_cmp(&yh[b].abs()));
        for &e in &cands {
            let mut v: Vec<f64> = (0..m).map(|c| f64::from(c == e) - yh[e] * yh[c]).collect();
            for b in &basis {
                let dot: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(b).for_each(|(a, b)| *a -= dot * b);
            }
            let nv = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if nv > 1e-6 {
                basis.push(v.iter().map(|a| a / nv).collect());
            }
            if basis.len() == self.k {
                break;
            }
        }
        Mat::from_fn(self.d, self.k, |j, c| {
            (0..m).map(|p| q[(j, p)] * basis[c][p]).sum()
        })
    }
}

/// A Gaussian on a random k-dimensional subspace: $a = U z$, $z \sim \mathcal N(0, \mathrm{diag}\,\lambda)$,
/// U a random d × k orthonormal matrix (geometry.md T1).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubspaceSpec {
    /// Ambient dimension d.
    pub d: usize,
    /// Subspace dimension k.
    pub k: usize,
    /// Variances λ along the subspace (one value for all, or k values).
    #[serde(default = "ones")]
    pub variances: Vec<f64>,
}

impl SubspaceSpec {
    /// Checks 1 ≤ k ≤ d and the variances.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k > self.d {
            return Err(Error::param("k", self.k, format!("1 ≤ k ≤ d = {}", self.d)));
        }
        if self.variances.len() != 1 && self.variances.len() != self.k {
            return Err(Error::param(
                "variances",
                format!("{} values", self.variances.len()),
                format!("1 or k = {} values", self.k),
            ));
        }
        for &v in &self.variances {
            crate::error::check_positive("variances", v)?;
        }
        Ok(())
    }

    /// λ_i for i < k.
    pub fn lambda(&self) -> Vec<f64> {
        (0..self.k)
            .map(|i| self.variances[if self.variances.len() == 1 { 0 } else { i }])
            .collect()
    }

    /// The subspace U (d × k).
    pub fn basis(&self, seed: u64) -> Mat<f64> {
        random_orthonormal(self.d, self.k, seed, 0x5542)
    }

    /// The law as a one-component mixture with covariance $U\Lambda U^\top$ (for the population score).
    pub fn mixture(&self, seed: u64) -> Result<GaussianMixture> {
        self.validate()?;
        let u = self.basis(seed);
        let lam = self.lambda();
        let cov = Mat::<f64>::from_fn(self.d, self.d, |i, j| {
            (0..self.k).map(|c| lam[c] * u[(i, c)] * u[(j, c)]).sum()
        });
        GaussianMixture::new(
            vec![vec![0.0; self.d]],
            vec![1.0],
            Covariance::Full(vec![cov]),
        )
    }

    /// n points, rows from stream `(seed, DATA, i)`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Dataset> {
        self.validate()?;
        let u = self.basis(seed);
        let sd: Vec<f64> = self.lambda().iter().map(|l| l.sqrt()).collect();
        let mut x = vec![0.0f32; n * self.d];
        for (i, row) in x.chunks_mut(self.d).enumerate() {
            let mut r = rng::stream(seed, &[rng::tag::DATA, i as u64]);
            let z: Vec<f64> = sd
                .iter()
                .map(|s| {
                    let g: f64 = StandardNormal.sample(&mut r);
                    s * g
                })
                .collect();
            for (j, v) in row.iter_mut().enumerate() {
                *v = (0..self.k).map(|c| u[(j, c)] * z[c]).sum::<f64>() as f32;
            }
        }
        Dataset::new(x, n, self.d, "Gaussian on a subspace")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sphere_points_have_radius_r_and_tangents_are_orthogonal_to_them() {
        let s = SphereSpec {
            d: 7,
            k: 2,
            radius: 1.5,
        };
        let ds = s.sample(50, 3).unwrap();
        let q = s.basis(3);
        for i in 0..50 {
            let a: Vec<f64> = ds.row(i).iter().map(|&v| v as f64).collect();
            let r = a.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((r - 1.5).abs() < 1e-5, "radius {r}");
            let tb = s.tangent(&q, &a);
            for c in 0..2 {
                let dot: f64 = (0..7).map(|j| tb[(j, c)] * a[j]).sum();
                assert!(dot.abs() < 1e-5);
                for c2 in 0..2 {
                    let g: f64 = (0..7).map(|j| tb[(j, c)] * tb[(j, c2)]).sum();
                    assert!((g - f64::from(c == c2)).abs() < 1e-10);
                }
            }
        }
        assert!(SphereSpec {
            d: 3,
            k: 3,
            radius: 1.0
        }
        .validate()
        .is_err());
    }

    #[test]
    fn subspace_samples_have_the_stated_covariance() {
        let s = SubspaceSpec {
            d: 5,
            k: 2,
            variances: vec![4.0, 0.25],
        };
        let n = 40_000;
        let ds = s.sample(n, 1).unwrap();
        let u = s.basis(1);
        // Coordinates z = Uᵀ a: variances 4 and 0.25 (standard error of a variance: λ√(2/n) ≈ 0.7%).
        for (c, lam) in [(0, 4.0), (1, 0.25)] {
            let v: f64 = (0..n)
                .map(|i| {
                    (0..5)
                        .map(|j| u[(j, c)] * ds.row(i)[j] as f64)
                        .sum::<f64>()
                        .powi(2)
                })
                .sum::<f64>()
                / n as f64;
            assert!((v / lam - 1.0).abs() < 0.03, "variance {v} vs {lam}");
        }
        assert!(SubspaceSpec {
            d: 5,
            k: 2,
            variances: vec![1.0, 2.0, 3.0]
        }
        .validate()
        .is_err());
    }
}

//! Gaussian-mixture data models (science.md §3).

use super::dataset::Dataset;
use crate::error::{Error, Result};
use crate::rng;
use faer::Mat;
use rand::Rng as _;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Covariance of each mixture component.
#[derive(Clone, Debug)]
pub enum Covariance {
    /// $C_k = \sigma_k^2 I$: one variance per class.
    Isotropic(Vec<f64>),
    /// $C_k = \mathrm{diag}(v_k)$: one variance vector (length d) per class.
    Diagonal(Vec<Vec<f64>>),
    /// Full symmetric positive semi-definite $C_k$ (d × d) per class.
    Full(Vec<Mat<f64>>),
}

/// Spectral form $C = U \mathrm{diag}(\lambda) U^\top$ of one component ($U = I$ when `basis` is `None`).
#[derive(Clone, Debug)]
pub struct Spectral {
    /// Eigenvalues λ_j ≥ 0 (length d).
    pub lambda: Vec<f64>,
    /// Eigenvectors as columns, or `None` for the identity basis.
    pub basis: Option<Mat<f64>>,
}

/// A K-class Gaussian mixture $\sum_k \pi_k \mathcal N(m_k, C_k)$ in $\mathbb R^d$.
#[derive(Clone, Debug)]
pub struct GaussianMixture {
    d: usize,
    means: Vec<Vec<f64>>,
    weights: Vec<f64>,
    spectral: Vec<Spectral>,
    isotropic: bool,
    class_names: Vec<String>,
}

impl GaussianMixture {
    /// A mixture from means (K vectors of length d), weights (K, positive; normalised here) and
    /// covariances. Full covariances are eigendecomposed once here; eigenvalues below
    /// −1e-10·max|λ| are an error, tiny negative ones are clipped to 0.
    pub fn new(means: Vec<Vec<f64>>, weights: Vec<f64>, cov: Covariance) -> Result<Self> {
        let k = means.len();
        if k == 0 {
            return Err(Error::param("means", "[]", "at least one component"));
        }
        let d = means[0].len();
        if d == 0 || means.iter().any(|m| m.len() != d) {
            return Err(Error::shape(
                "GMM means",
                format!(
                    "means must all have the same positive length; got {:?}",
                    means.iter().map(Vec::len).collect::<Vec<_>>()
                ),
            ));
        }
        if means.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::param("means", "non-finite entry", "finite numbers"));
        }
        if weights.len() != k || weights.iter().any(|&w| !(w.is_finite() && w > 0.0)) {
            return Err(Error::param(
                "weights",
                format!("{weights:?}"),
                format!("{k} positive numbers"),
            ));
        }
        let total: f64 = weights.iter().sum();
        let weights: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let check_var = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::param(name, v, "a finite variance ≥ 0"))
            }
        };
        let (spectral, isotropic) = match cov {
            Covariance::Isotropic(s2) => {
                if s2.len() != k {
                    return Err(Error::shape(
                        "GMM covariance",
                        format!("{} variances for {k} classes", s2.len()),
                    ));
                }
                s2.iter().try_for_each(|&v| check_var("sigma2", v))?;
                (
                    s2.iter()
                        .map(|&v| Spectral {
                            lambda: vec![v; d],
                            basis: None,
                        })
                        .collect(),
                    true,
                )
            }
            Covariance::Diagonal(vs) => {
                if vs.len() != k || vs.iter().any(|v| v.len() != d) {
                    return Err(Error::shape(
                        "GMM covariance",
                        format!("diagonal covariances must be {k} vectors of length {d}"),
                    ));
                }
                vs.iter()
                    .flatten()
                    .try_for_each(|&v| check_var("variance", v))?;
                (
                    vs.into_iter()
                        .map(|lambda| Spectral {
                            lambda,
                            basis: None,
                        })
                        .collect(),
                    false,
                )
            }
            Covariance::Full(cs) => {
                if cs.len() != k || cs.iter().any(|c| c.nrows() != d || c.ncols() != d) {
                    return Err(Error::shape(
                        "GMM covariance",
                        format!("full covariances must be {k} matrices of size {d}×{d}"),
                    ));
                }
                let mut out = Vec::with_capacity(k);
                for (ci, c) in cs.iter().enumerate() {
                    let asym = (0..d)
                        .flat_map(|i| (0..d).map(move |j| (i, j)))
                        .map(|(i, j)| (c[(i, j)] - c[(j, i)]).abs())
                        .fold(0.0, f64::max);
                    let scale = (0..d)
                        .map(|i| c[(i, i)].abs())
                        .fold(0.0, f64::max)
                        .max(f64::MIN_POSITIVE);
                    if asym > 1e-10 * scale {
                        return Err(Error::param(
                            format!("covariance[{ci}]"),
                            format!("asymmetry {asym:.3e}"),
                            "a symmetric matrix",
                        ));
                    }
                    let (mut lambda, u) = crate::linalg::sym_eigen(c.as_ref())?;
                    let top = lambda.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
                    if let Some(&bad) = lambda
                        .iter()
                        .find(|&&l| l < -1e-10 * top.max(f64::MIN_POSITIVE))
                    {
                        return Err(Error::param(
                            format!("covariance[{ci}]"),
                            format!("eigenvalue {bad:.3e}"),
                            "a positive semi-definite matrix",
                        ));
                    }
                    lambda.iter_mut().for_each(|l| *l = l.max(0.0));
                    out.push(Spectral {
                        lambda,
                        basis: Some(u),
                    });
                }
                (out, false)
            }
        };
        let class_names = (0..k).map(|i| i.to_string()).collect();
        Ok(GaussianMixture {
            d,
            means,
            weights,
            spectral,
            isotropic,
            class_names,
        })
    }

    /// Renames the classes (used for the two-class model's `-1`, `1`).
    pub fn with_class_names(mut self, names: Vec<String>) -> Self {
        assert_eq!(names.len(), self.means.len());
        self.class_names = names;
        self
    }

    /// Dimension d.
    pub fn dim(&self) -> usize {
        self.d
    }
    /// Number of components K.
    pub fn n_components(&self) -> usize {
        self.means.len()
    }
    /// Component means.
    pub fn means(&self) -> &[Vec<f64>] {
        &self.means
    }
    /// Normalised weights π_k.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    /// Spectral forms of the covariances.
    pub fn spectral(&self) -> &[Spectral] {
        &self.spectral
    }
    /// Whether every covariance is a multiple of the identity.
    pub fn is_isotropic(&self) -> bool {
        self.isotropic
    }
    /// Class names.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The mixture's mean $\sum_k \pi_k m_k$ and covariance $\sum_k \pi_k (C_k + m_k m_k^\top) - \bar m \bar m^\top$.
    pub fn moments(&self) -> (Vec<f64>, Mat<f64>) {
        let d = self.d;
        let mut mean = vec![0.0; d];
        for (m, &w) in self.means.iter().zip(&self.weights) {
            mean.iter_mut().zip(m).for_each(|(a, &b)| *a += w * b);
        }
        let mut cov = Mat::<f64>::zeros(d, d);
        for ((m, &w), sp) in self.means.iter().zip(&self.weights).zip(&self.spectral) {
            for i in 0..d {
                for j in 0..d {
                    let c = match &sp.basis {
                        None => {
                            if i == j {
                                sp.lambda[i]
                            } else {
                                0.0
                            }
                        }
                        Some(u) => (0..d).map(|l| u[(i, l)] * sp.lambda[l] * u[(j, l)]).sum(),
                    };
                    cov[(i, j)] += w * (c + m[i] * m[j]);
                }
            }
        }
        for i in 0..d {
            for j in 0..d {
                cov[(i, j)] -= mean[i] * mean[j];
            }
        }
        (mean, cov)
    }

    /// Draws `n` labelled samples. Rows are generated in chunks of 4096, each from the stream
    /// `(seed, DATA, chunk)`, so the output does not depend on the thread count.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Dataset> {
        if n == 0 {
            return Err(Error::param("n", 0, "at least 1 sample"));
        }
        const CHUNK: usize = 4096;
        let d = self.d;
        let mut x = vec![0.0f32; n * d];
        let mut labels = vec![0u32; n];
        let cum: Vec<f64> = self
            .weights
            .iter()
            .scan(0.0, |s, &w| {
                *s += w;
                Some(*s)
            })
            .collect();
        x.par_chunks_mut(CHUNK * d)
            .zip(labels.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (xc, lc))| {
                let mut r = rng::stream(seed, &[rng::tag::DATA, c as u64]);
                let mut z = vec![0.0f64; d];
                for (row, label) in xc.chunks_exact_mut(d).zip(lc.iter_mut()) {
                    let u: f64 = r.random();
                    let k = cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1);
                    *label = k as u32;
                    let sp = &self.spectral[k];
                    z.iter_mut()
                        .zip(&sp.lambda)
                        .for_each(|(zi, &l)| *zi = l.sqrt() * r.sample::<f64, _>(StandardNormal));
                    let m = &self.means[k];
                    match &sp.basis {
                        None => row
                            .iter_mut()
                            .enumerate()
                            .for_each(|(i, v)| *v = (m[i] + z[i]) as f32),
                        Some(u) => row.iter_mut().enumerate().for_each(|(i, v)| {
                            *v = (m[i] + (0..d).map(|j| u[(i, j)] * z[j]).sum::<f64>()) as f32
                        }),
                    }
                }
            });
        Dataset::new(
            x,
            n,
            d,
            format!(
                "Gaussian mixture K = {}, d = {d}, seed {seed}",
                self.n_components()
            ),
        )?
        .with_labels(labels, self.class_names.clone())
    }
}

/// Direction of the two-class mean m.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// m ∝ (1, …, 1).
    #[default]
    Ones,
    /// m along a uniformly random unit vector drawn from the seed's MODEL stream.
    Random,
}

/// The two-class model of Biroli et al. (2024): $a = \pm m + \sigma z$, equal weights, $|m|^2 = d\tilde\mu^2$.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TwoClassGmm {
    /// Dimension d.
    pub d: usize,
    /// μ̃: per-component mean scale, |m|² = d μ̃².
    #[serde(default = "one")]
    pub mu_tilde: f64,
    /// σ: within-class standard deviation.
    #[serde(default = "one")]
    pub sigma: f64,
    /// Direction of m.
    #[serde(default)]
    pub direction: Direction,
}

fn one() -> f64 {
    1.0
}

impl TwoClassGmm {
    /// The default model of the regimes experiment: μ̃ = σ = 1, m along (1, …, 1).
    pub fn standard(d: usize) -> Self {
        TwoClassGmm {
            d,
            mu_tilde: 1.0,
            sigma: 1.0,
            direction: Direction::Ones,
        }
    }

    /// Checks d ≥ 1, μ̃ > 0, σ ≥ 0.
    pub fn validate(&self) -> Result<()> {
        if self.d == 0 {
            return Err(Error::param("d", 0, "d ≥ 1"));
        }
        crate::error::check_positive("mu_tilde", self.mu_tilde)?;
        if !(self.sigma.is_finite() && self.sigma >= 0.0) {
            return Err(Error::param("sigma", self.sigma, "a finite number ≥ 0"));
        }
        Ok(())
    }

    /// The mean vector m (|m|² = d μ̃²); a random direction comes from `(seed, MODEL)`.
    pub fn mean(&self, seed: u64) -> Vec<f64> {
        match self.direction {
            Direction::Ones => vec![self.mu_tilde; self.d],
            Direction::Random => {
                let mut r = rng::stream(seed, &[rng::tag::MODEL]);
                let v: Vec<f64> = (0..self.d).map(|_| r.sample(StandardNormal)).collect();
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                let scale = self.mu_tilde * (self.d as f64).sqrt() / norm;
                v.iter().map(|x| x * scale).collect()
            }
        }
    }

    /// The equivalent [`GaussianMixture`] (class `-1` at −m, class `1` at +m).
    pub fn mixture(&self, seed: u64) -> Result<GaussianMixture> {
        self.validate()?;
        let m = self.mean(seed);
        let neg: Vec<f64> = m.iter().map(|v| -v).collect();
        Ok(GaussianMixture::new(
            vec![neg, m],
            vec![0.5, 0.5],
            Covariance::Isotropic(vec![self.sigma.powi(2); 2]),
        )?
        .with_class_names(vec!["-1".into(), "1".into()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sample mean and covariance match the model. With n samples, each empirical mean entry has sd
    /// ≈ sqrt(C_ii / n) and each covariance entry sd ≈ sqrt((C_ii C_jj + C_ij²)/n) (Gaussian moments;
    /// the mixture is not Gaussian but its fourth moments are of the same order here). 6 sd over ~d²
    /// entries keeps the false-alarm rate below 1e-6.
    #[test]
    fn sample_moments_match_model() {
        let d = 5;
        let mut full = Mat::<f64>::zeros(d, d);
        for i in 0..d {
            for j in 0..d {
                full[(i, j)] = if i == j { 2.0 } else { 0.5 };
            }
        }
        let means = vec![
            vec![1.0, -1.0, 0.0, 2.0, 0.5],
            vec![-1.0, 0.0, 1.0, 0.0, 0.0],
        ];
        let gm = GaussianMixture::new(
            means,
            vec![0.3, 0.7],
            Covariance::Full(vec![full.clone(), Mat::identity(d, d)]),
        )
        .unwrap();
        let n = 200_000;
        let ds = gm.sample(n, 7).unwrap();
        let (mean, cov) = gm.moments();
        let (emean, ecov) = crate::linalg::mean_cov(&ds.x, n, d, faer::Par::Seq).unwrap();
        for i in 0..d {
            let sd = (cov[(i, i)] / n as f64).sqrt();
            assert!(
                (emean[i] - mean[i]).abs() < 6.0 * sd,
                "mean[{i}] {} vs {}",
                emean[i],
                mean[i]
            );
            for j in 0..d {
                // Mixture fourth moments inflate the variance of covariance entries by at most ~3x here.
                let sd =
                    (3.0 * (cov[(i, i)] * cov[(j, j)] + cov[(i, j)].powi(2)) / n as f64).sqrt();
                assert!(
                    (ecov[(i, j)] - cov[(i, j)]).abs() < 6.0 * sd,
                    "cov[{i},{j}] {} vs {}",
                    ecov[(i, j)],
                    cov[(i, j)]
                );
            }
        }
        let frac0 = ds.labels.unwrap().iter().filter(|&&l| l == 0).count() as f64 / n as f64;
        assert!((frac0 - 0.3).abs() < 6.0 * (0.21 / n as f64).sqrt());
    }

    #[test]
    fn two_class_top_eigenvalue_is_d_mu2_plus_sigma2() {
        let m = TwoClassGmm {
            d: 20,
            mu_tilde: 1.0,
            sigma: 1.0,
            direction: Direction::Random,
        };
        let mean = m.mean(3);
        assert!((mean.iter().map(|v| v * v).sum::<f64>() - 20.0).abs() < 1e-9);
        let ds = m.mixture(3).unwrap().sample(100_000, 1).unwrap();
        // Λ = d μ̃² + σ² = 21; its estimate has relative sd ≈ sqrt(2/n) ≈ 0.45 %.
        let top = ds.top_covariance_eigenvalue().unwrap();
        assert!(
            (top - 21.0).abs() < 6.0 * 21.0 * (2.0f64 / 100_000.0).sqrt(),
            "{top}"
        );
    }

    #[test]
    fn sampling_is_thread_count_independent() {
        let gm = TwoClassGmm::standard(7).mixture(0).unwrap();
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| gm.sample(10_000, 5).unwrap().x)
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn invalid_parameters_are_named() {
        let e = GaussianMixture::new(
            vec![vec![0.0]],
            vec![-1.0],
            Covariance::Isotropic(vec![1.0]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("weights"), "{e}");
        let mut c = Mat::<f64>::identity(2, 2);
        c[(0, 0)] = -1.0;
        let e = GaussianMixture::new(vec![vec![0.0, 0.0]], vec![1.0], Covariance::Full(vec![c]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("positive semi-definite"), "{e}");
        assert!(TwoClassGmm {
            d: 3,
            mu_tilde: 0.0,
            sigma: 1.0,
            direction: Direction::Ones
        }
        .validate()
        .is_err());
    }
}

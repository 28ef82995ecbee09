//! Covariance and Gram spectra of a data set, with the Marchenko–Pastur law as the reference for a
//! Gaussian with the same n/d and the rank bound min(n − 1, d), so that sample-size zeros are never
//! mistaken for structure (science.md §8 "Spectra").

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::theory::integrate;
use serde::{Deserialize, Serialize};

/// The spectrum of a sample covariance with its summaries.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Spectrum {
    /// Samples n.
    pub n: usize,
    /// Dimension d.
    pub d: usize,
    /// Eigenvalues of the unbiased sample covariance, descending.
    pub eigenvalues: Vec<f64>,
    /// min(n − 1, d): the largest possible rank.
    pub rank_bound: usize,
    /// Number of eigenvalues above 1e-6 · λ_max (see [`numerical_rank`]).
    pub numerical_rank: usize,
    /// Smallest eigenvalue counted in the numerical rank.
    pub min_nonzero: f64,
    /// Participation ratio $(\sum\lambda)^2 / \sum\lambda^2$.
    pub participation_ratio: f64,
    /// Entropy effective rank $\exp(-\sum p_i \log p_i)$, $p_i = \lambda_i / \sum\lambda$.
    pub entropy_rank: f64,
}

/// Number of eigenvalues above 1e-6 · λ_max. The covariance is accumulated in f64 from f32 data, so the
/// eigenvalues that are zero in exact arithmetic come out at round-off level (≪ 1e-10 λ_max); 1e-6 is far
/// above that and far below any eigenvalue that carries variance worth reporting.
pub fn numerical_rank(eigs_desc: &[f64]) -> usize {
    let top = eigs_desc.first().copied().unwrap_or(0.0);
    eigs_desc.iter().filter(|&&l| l > 1e-6 * top).count()
}

/// Covariance spectrum of a data set (all rows; f64).
pub fn covariance_spectrum(data: &Dataset) -> Result<Spectrum> {
    let (_, cov) = crate::linalg::mean_cov(&data.x, data.n, data.d, faer::Par::rayon(0))?;
    let mut eig = crate::linalg::sym_eigenvalues(cov.as_ref())?;
    eig.reverse();
    eig.iter_mut().for_each(|l| *l = l.max(0.0));
    Ok(summarise(data.n, data.d, eig))
}

/// Summaries of a descending eigenvalue list.
pub fn summarise(n: usize, d: usize, eigenvalues: Vec<f64>) -> Spectrum {
    let r = numerical_rank(&eigenvalues);
    let sum: f64 = eigenvalues.iter().sum();
    let sum2: f64 = eigenvalues.iter().map(|l| l * l).sum();
    let h: f64 = eigenvalues
        .iter()
        .filter(|&&l| l > 0.0)
        .map(|&l| -(l / sum) * (l / sum).ln())
        .sum();
    Spectrum {
        n,
        d,
        min_nonzero: if r > 0 { eigenvalues[r - 1] } else { 0.0 },
        rank_bound: (n.saturating_sub(1)).min(d),
        numerical_rank: r,
        participation_ratio: if sum2 > 0.0 { sum * sum / sum2 } else { 0.0 },
        entropy_rank: h.exp(),
        eigenvalues,
    }
}

/// Eigenvalues (descending) of the Gram matrix $X X^\top / d$ of the centred data (n × n; n ≤ 5000).
pub fn gram_spectrum(data: &Dataset) -> Result<Vec<f64>> {
    if data.n > 5000 {
        return Err(Error::param(
            "n",
            data.n,
            "at most 5000 rows for a Gram spectrum (subsample first)",
        ));
    }
    let mean = data.mean();
    let x = faer::Mat::<f64>::from_fn(data.n, data.d, |i, j| {
        data.x[i * data.d + j] as f64 - mean[j]
    });
    let mut g = faer::Mat::<f64>::zeros(data.n, data.n);
    faer::linalg::matmul::matmul(
        g.as_mut(),
        faer::Accum::Replace,
        x.as_ref(),
        x.transpose(),
        1.0 / data.d as f64,
        faer::Par::rayon(0),
    );
    let mut e = crate::linalg::sym_eigenvalues(g.as_ref())?;
    e.reverse();
    Ok(e)
}

/// The Marchenko–Pastur law of the sample covariance of n draws of N(0, σ² I_d), γ = d/n.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct MarchenkoPastur {
    /// γ = d / n.
    pub gamma: f64,
    /// σ².
    pub sigma2: f64,
}

impl MarchenkoPastur {
    /// Support edges $\sigma^2 (1 \mp \sqrt\gamma)^2$.
    pub fn edges(&self) -> (f64, f64) {
        let s = self.gamma.sqrt();
        (
            self.sigma2 * (1.0 - s).powi(2),
            self.sigma2 * (1.0 + s).powi(2),
        )
    }

    /// Mass of the atom at 0: $\max(0, 1 - 1/\gamma)$.
    pub fn atom(&self) -> f64 {
        (1.0 - 1.0 / self.gamma).max(0.0)
    }

    /// Density of the continuous part, $\sqrt{(b-x)(x-a)} / (2\pi\sigma^2\gamma x)$ on [a, b].
    pub fn density(&self, x: f64) -> f64 {
        let (a, b) = self.edges();
        if x <= a || x >= b || x <= 0.0 {
            return 0.0;
        }
        ((b - x) * (x - a)).sqrt() / (2.0 * std::f64::consts::PI * self.sigma2 * self.gamma * x)
    }

    /// CDF, by quadrature of the density in θ (x = c + r cos θ removes the edge singularities).
    pub fn cdf(&self, x: f64) -> f64 {
        let (a, b) = self.edges();
        let atom = self.atom();
        if x < a.min(0.0) {
            return 0.0;
        }
        if x >= b {
            return 1.0;
        }
        let base = if x >= 0.0 { atom } else { 0.0 };
        if x <= a {
            return base;
        }
        let (c, r) = (0.5 * (a + b), 0.5 * (b - a));
        let th_x = ((x - c) / r).clamp(-1.0, 1.0).acos();
        base + integrate(
            &|th: f64| self.density(c + r * th.cos()) * r * th.sin(),
            th_x,
            std::f64::consts::PI,
            64,
        )
    }
}

/// Kolmogorov distance between the empirical distribution of `eigs` and a CDF.
pub fn kolmogorov_distance(eigs: &[f64], cdf: &dyn Fn(f64) -> f64) -> f64 {
    let mut v = eigs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max((f - (i + 1) as f64 / n).abs())
        })
        .fold(0.0, f64::max)
}

/// Smallest non-zero covariance eigenvalue of the first `m` rows, for each m in `ms` (m ≥ 2): how the
/// bottom of the spectrum grows with n/d.
pub fn min_nonzero_vs_n(data: &Dataset, ms: &[usize]) -> Result<Vec<(usize, f64, usize)>> {
    ms.iter()
        .map(|&m| {
            if m < 2 || m > data.n {
                return Err(Error::param("n", m, format!("2..={}", data.n)));
            }
            let sub = Dataset::new(data.x[..m * data.d].to_vec(), m, data.d, "subsample")?;
            let s = covariance_spectrum(&sub)?;
            Ok((m, s.min_nonzero, s.numerical_rank))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Covariance, GaussianMixture};

    #[test]
    fn mp_density_integrates_to_one_with_its_atom() {
        for gamma in [0.1, 0.5, 1.0, 2.0, 4.0] {
            let mp = MarchenkoPastur { gamma, sigma2: 1.7 };
            let total = mp.cdf(mp.edges().1 * 0.999_999_999);
            // 64 Gauss–Legendre panels in θ: error ≪ 1e-9; the remaining 1e-9 is the cut at b.
            assert!((total - 1.0).abs() < 1e-6, "γ = {gamma}: {total}");
            assert!((mp.cdf(-1.0)).abs() < 1e-15 && (mp.cdf(1e9) - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn wishart_spectrum_matches_mp_in_kolmogorov_distance() {
        // n = 2000 Gaussian samples in d = 400 (γ = 0.2). The Kolmogorov distance of an eigenvalue
        // empirical CDF to its MP limit shrinks like O(1/d) (edge effects, rigidity); 0.03 is a generous
        // bound at d = 400 (measured ≈ 0.005), and the data's sample mean removal is an O(1/n) effect.
        let (n, d) = (2000, 400);
        let g = GaussianMixture::new(
            vec![vec![0.0; d]],
            vec![1.0],
            Covariance::Isotropic(vec![1.0]),
        )
        .unwrap();
        let ds = g.sample(n, 5).unwrap();
        let s = covariance_spectrum(&ds).unwrap();
        let mp = MarchenkoPastur {
            gamma: d as f64 / n as f64,
            sigma2: 1.0,
        };
        let k = kolmogorov_distance(&s.eigenvalues, &|x| mp.cdf(x));
        assert!(k < 0.03, "Kolmogorov distance {k}");
        assert_eq!(s.rank_bound, 400);
        assert_eq!(s.numerical_rank, 400);
    }

    #[test]
    fn rank_deficient_sample_reports_the_rank_bound() {
        // n = 20 points in d = 50: the centred covariance has rank n − 1 = 19.
        let g = GaussianMixture::new(
            vec![vec![0.0; 50]],
            vec![1.0],
            Covariance::Isotropic(vec![1.0]),
        )
        .unwrap();
        let ds = g.sample(20, 1).unwrap();
        let s = covariance_spectrum(&ds).unwrap();
        assert_eq!((s.rank_bound, s.numerical_rank), (19, 19));
        assert!(s.min_nonzero > 0.0);
        let pts = min_nonzero_vs_n(&ds, &[5, 10, 20]).unwrap();
        assert_eq!(pts.iter().map(|p| p.2).collect::<Vec<_>>(), vec![4, 9, 19]);
        let gram = gram_spectrum(&ds).unwrap();
        // Non-zero Gram eigenvalues are (n − 1)/d times the covariance eigenvalues.
        assert!((gram[0] - s.eigenvalues[0] * 19.0 / 50.0).abs() < 1e-6 * gram[0]);
    }
}

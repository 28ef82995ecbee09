//! Concentration of measure (science.md §8 "Concentration"): norms and random 1-Lipschitz functionals of a
//! sample set, their empirical tails P(|f − Ef| > s) beside the best sub-Gaussian bound 2 exp(−s²/2v),
//! and a heavy-tailed (multivariate Student-t) model to show what failure looks like.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng;
use rand::Rng as _;
use rand_distr::{ChiSquared, Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The kind of a 1-Lipschitz functional.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Functional {
    /// |x|.
    Norm,
    /// ⟨u, x⟩ for a random unit vector u.
    Projection,
    /// |⟨u, x⟩|.
    AbsProjection,
    /// |x − p| for a random point p (a data row plus Gaussian noise of the data's scale).
    Distance,
}

/// Tail statistics of one functional.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TailReport {
    /// Which functional.
    pub kind: Functional,
    /// Index among functionals of its kind.
    pub index: usize,
    /// Sample variance of f.
    pub variance: f64,
    /// Deviation levels s (in units of the sample sd).
    pub s: Vec<f64>,
    /// Empirical P(|f − Ef| > s·sd).
    pub tail: Vec<f64>,
    /// The smallest v with tail(s) ≤ 2 exp(−s²/2v) at every level where ≥ 10 samples exceed s
    /// (in units of the variance: v / Var f).
    pub v_fit_over_var: f64,
}

/// Summary over all functionals.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConcentrationReport {
    /// n samples.
    pub n: usize,
    /// d.
    pub d: usize,
    /// One report per functional.
    pub functionals: Vec<TailReport>,
    /// Largest v_fit / Var over the functionals.
    pub worst_v_ratio: f64,
    /// Whether every functional is sub-Gaussian with a proxy variance ≤ `threshold` · Var f.
    pub sub_gaussian: bool,
    /// The threshold used (1.5).
    pub threshold: f64,
}

/// Proxy-variance threshold for the verdict. For Gaussian f, 2(1 − Φ(s)) ≤ 2 exp(−s²/2) so v/Var ≤ 1
/// up to sampling noise in the tail (≤ 10 % with ≥ 10 exceedances); heavy tails push it far above.
pub const SUB_GAUSSIAN_THRESHOLD: f64 = 1.5;

/// Values of the functionals on each sample: `k` projections, their absolute values, `k` distances to
/// random points, and the norm; streams `(seed, MODEL, 10/11, j)` for the directions and points.
pub fn functionals(data: &Dataset, k: usize, seed: u64) -> Vec<(Functional, usize, Vec<f64>)> {
    let d = data.d;
    let scale =
        (data.x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / (data.n * d) as f64).sqrt();
    let mut out = vec![(
        Functional::Norm,
        0,
        data.x
            .par_chunks(d)
            .map(|r| r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
            .collect(),
    )];
    for j in 0..k {
        let mut g = rng::stream(seed, &[rng::tag::MODEL, 10, j as u64]);
        let u: Vec<f64> = (0..d).map(|_| g.sample(StandardNormal)).collect();
        let nu = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        let proj: Vec<f64> = data
            .x
            .par_chunks(d)
            .map(|r| r.iter().zip(&u).map(|(&a, &b)| a as f64 * b / nu).sum())
            .collect();
        out.push((
            Functional::AbsProjection,
            j,
            proj.iter().map(|p| p.abs()).collect(),
        ));
        out.push((Functional::Projection, j, proj));
        let mut g = rng::stream(seed, &[rng::tag::MODEL, 11, j as u64]);
        let row = data.row(g.random_range(0..data.n)).to_vec();
        let p: Vec<f64> = row
            .iter()
            .map(|&v| v as f64 + scale * g.sample::<f64, _>(StandardNormal))
            .collect();
        out.push((
            Functional::Distance,
            j,
            data.x
                .par_chunks(d)
                .map(|r| {
                    r.iter()
                        .zip(&p)
                        .map(|(&a, &b)| (a as f64 - b).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .collect(),
        ));
    }
    out
}

/// Empirical tail of one functional's values and its fitted sub-Gaussian proxy.
pub fn tail_report(kind: Functional, index: usize, f: &[f64]) -> TailReport {
    let n = f.len() as f64;
    let mean = f.iter().sum::<f64>() / n;
    let var = f.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt().max(f64::MIN_POSITIVE);
    let mut dev: Vec<f64> = f.iter().map(|v| (v - mean).abs() / sd).collect();
    dev.sort_by(f64::total_cmp);
    let s: Vec<f64> = (1..=80).map(|i| 0.1 * i as f64).collect();
    let tail: Vec<f64> = s
        .iter()
        .map(|&x| (dev.len() - dev.partition_point(|&v| v <= x)) as f64 / n)
        .collect();
    // v/Var = max over levels with ≥ 10 exceedances of s² / (2 log(2 / P)) (s in sd units).
    let v_fit = s
        .iter()
        .zip(&tail)
        .filter(|(_, &p)| p * n >= 10.0 && p < 1.0)
        .map(|(&x, &p)| x * x / (2.0 * (2.0 / p).ln()))
        .fold(0.0, f64::max);
    TailReport {
        kind,
        index,
        variance: var,
        s,
        tail,
        v_fit_over_var: v_fit,
    }
}

/// Concentration report of a data set with `k` random functionals of each kind.
pub fn concentration(data: &Dataset, k: usize, seed: u64) -> Result<ConcentrationReport> {
    if data.n < 100 {
        return Err(Error::param(
            "n",
            data.n,
            "at least 100 samples to estimate tails",
        ));
    }
    let reports: Vec<TailReport> = functionals(data, k, seed)
        .into_iter()
        .map(|(kind, j, f)| tail_report(kind, j, &f))
        .collect();
    let worst = reports.iter().map(|r| r.v_fit_over_var).fold(0.0, f64::max);
    Ok(ConcentrationReport {
        n: data.n,
        d: data.d,
        sub_gaussian: worst <= SUB_GAUSSIAN_THRESHOLD,
        worst_v_ratio: worst,
        threshold: SUB_GAUSSIAN_THRESHOLD,
        functionals: reports,
    })
}

/// n draws of the multivariate Student-t with ν degrees of freedom, scale I_d:
/// $x = z \sqrt{\nu / \chi^2_\nu}$, z ~ N(0, I). Rows in chunks of 1024 from `(seed, DATA, chunk)`.
pub fn student_t(n: usize, d: usize, nu: f64, seed: u64) -> Result<Dataset> {
    crate::error::check_positive("nu", nu)?;
    let chi = ChiSquared::new(nu).map_err(|e| Error::param("nu", nu, e.to_string()))?;
    let mut x = vec![0.0f32; n * d];
    x.par_chunks_mut(1024 * d).enumerate().for_each(|(c, xc)| {
        let mut g = rng::stream(seed, &[rng::tag::DATA, c as u64]);
        for row in xc.chunks_exact_mut(d) {
            let w = (nu / chi.sample(&mut g)).sqrt();
            row.iter_mut()
                .for_each(|v| *v = (w * g.sample::<f64, _>(StandardNormal)) as f32);
        }
    });
    Dataset::new(
        x,
        n,
        d,
        format!("multivariate Student-t, nu = {nu}, d = {d}, seed {seed}"),
    )
}

/// Standard deviation of |x| for isotropic Gaussian data in each dimension of `ds` (n samples each):
/// stays O(1) as d grows (concentration of the norm), while the mean grows like √d.
pub fn norm_fluctuations(ds: &[usize], n: usize, seed: u64) -> Result<Vec<(usize, f64, f64)>> {
    ds.iter()
        .map(|&d| {
            let g = crate::data::GaussianMixture::new(
                vec![vec![0.0; d]],
                vec![1.0],
                crate::data::Covariance::Isotropic(vec![1.0]),
            )?;
            let data = g.sample(n, seed)?;
            let norms: Vec<f64> = data
                .x
                .chunks(d)
                .map(|r| r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
                .collect();
            let m = norms.iter().sum::<f64>() / n as f64;
            let sd = (norms.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
            Ok((d, m, sd))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Covariance, GaussianMixture};

    #[test]
    fn gaussian_passes_and_student_t3_fails_the_sub_gaussian_check() {
        let (n, d) = (20_000, 50);
        let g = GaussianMixture::new(
            vec![vec![0.0; d]],
            vec![1.0],
            Covariance::Isotropic(vec![1.0]),
        )
        .unwrap()
        .sample(n, 1)
        .unwrap();
        let rg = concentration(&g, 8, 2).unwrap();
        assert!(
            rg.sub_gaussian,
            "Gaussian: worst v/Var = {}",
            rg.worst_v_ratio
        );
        let t = student_t(n, d, 3.0, 3).unwrap();
        let rt = concentration(&t, 8, 2).unwrap();
        assert!(
            !rt.sub_gaussian,
            "Student-t(3): worst v/Var = {}",
            rt.worst_v_ratio
        );
    }

    #[test]
    fn norm_fluctuations_stay_order_one() {
        // |x| for N(0, I_d) has mean ≈ √d and sd → 1/√2.
        let f = norm_fluctuations(&[10, 100, 1000], 4000, 1).unwrap();
        for (d, m, sd) in f {
            assert!(
                (m / (d as f64).sqrt() - 1.0).abs() < 0.05,
                "d = {d}: mean {m}"
            );
            assert!(
                (sd - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.06,
                "d = {d}: sd {sd}"
            );
        }
    }
}

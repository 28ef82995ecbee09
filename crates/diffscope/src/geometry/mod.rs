//! Score-field geometry (geometry.md "Quantities"): Jacobians J = ∇ₓS(x, t) of a score, their spectra in
//! units of σ² = Δ_t, local-dimension estimators and the asymmetry (non-conservativeness) of the field.
//!
//! Status: the exact-score side (central differences in f64 for any f64 score, the analytic Jacobian of
//! the empirical score, estimators (a)–(d), asymmetry with a tangent/normal split, SVD pairing). The learned
//! MLP score, estimator (e) (Stanczuk) and the trajectory probes are not here yet.

use crate::error::{Error, Result};
use crate::score::OuTime;
use faer::Mat;
use serde::{Deserialize, Serialize};

/// Central-difference Jacobian $J_{ij} = \partial S_i / \partial x_j$ of an f64 vector field, step h
/// (truncation O(h²), rounding O(ε/h)).
pub fn jacobian_fd(f: &dyn Fn(&[f64], &mut [f64]), x: &[f64], h: f64) -> Mat<f64> {
    let d = x.len();
    let mut j = Mat::<f64>::zeros(d, d);
    let (mut fp, mut fm) = (vec![0.0; d], vec![0.0; d]);
    let mut xp = x.to_vec();
    for c in 0..d {
        xp[c] = x[c] + h;
        f(&xp, &mut fp);
        xp[c] = x[c] - h;
        f(&xp, &mut fm);
        xp[c] = x[c];
        for r in 0..d {
            j[(r, c)] = (fp[r] - fm[r]) / (2.0 * h);
        }
    }
    j
}

/// The exact empirical score in f64 at one point and its analytic Jacobian:
/// $S = (\sum_\mu w_\mu \tilde a_\mu - x)/\Delta$, $J = (\mathrm{Cov}_w[\tilde a] - \Delta I)/\Delta^2$,
/// $\tilde a = e^{-t} a$, w the softmax weights (log-sum-exp in f64). `points` is row-major N × d.
pub fn empirical_score_and_jacobian(points: &[f64], x: &[f64], t: f64) -> (Vec<f64>, Mat<f64>) {
    let d = x.len();
    let n = points.len() / d;
    let ou = OuTime::new(t);
    let logits: Vec<f64> = (0..n)
        .map(|m| {
            -points[m * d..(m + 1) * d]
                .iter()
                .zip(x)
                .map(|(&a, &xi)| (xi - ou.decay * a).powi(2))
                .sum::<f64>()
                / (2.0 * ou.delta)
        })
        .collect();
    let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logits.iter().map(|l| (l - mx).exp()).collect();
    let z: f64 = w.iter().sum();
    let mut mean = vec![0.0; d];
    for m in 0..n {
        for i in 0..d {
            mean[i] += w[m] / z * ou.decay * points[m * d + i];
        }
    }
    let mut jac = Mat::<f64>::zeros(d, d);
    for m in 0..n {
        let wm = w[m] / z;
        if wm == 0.0 {
            continue;
        }
        for i in 0..d {
            let ai = ou.decay * points[m * d + i] - mean[i];
            for k in 0..d {
                jac[(i, k)] += wm * ai * (ou.decay * points[m * d + k] - mean[k]);
            }
        }
    }
    for i in 0..d {
        for k in 0..d {
            jac[(i, k)] =
                (jac[(i, k)] - if i == k { ou.delta } else { 0.0 }) / (ou.delta * ou.delta);
        }
    }
    let s = mean
        .iter()
        .zip(x)
        .map(|(m, xi)| (m - xi) / ou.delta)
        .collect();
    (s, jac)
}

/// Local-dimension estimates at one point (geometry.md (a)–(d)).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LocalDimension {
    /// Singular values of J times σ² (descending).
    pub sigma2_singular_values: Vec<f64>,
    /// (a) #{i : σ² s_i < c}.
    pub threshold: usize,
    /// (b) tr ∇D = d + σ² tr J (Kadkhodaie's effective dimension).
    pub trace_grad_denoiser: f64,
    /// (c) participation ratio of λ_i = (1/s_i − σ²)₊.
    pub participation_ratio: f64,
    /// (d) FLIPD = d + σ²(tr J + |S|²).
    pub flipd: f64,
}

/// Estimators (a)–(d) from the Jacobian J, the score S and σ² = Δ_t; `c` is the threshold of (a) (½).
pub fn local_dimension(
    jac: &Mat<f64>,
    score: &[f64],
    sigma2: f64,
    c: f64,
) -> Result<LocalDimension> {
    let d = jac.nrows();
    let svd = jac
        .svd()
        .map_err(|e| Error::numerical("Jacobian SVD", format!("{e:?}")))?;
    let sv: Vec<f64> = (0..d).map(|i| svd.S()[i]).collect();
    let tr: f64 = (0..d).map(|i| jac[(i, i)]).sum();
    let lam: Vec<f64> = sv
        .iter()
        .map(|&s| {
            if s > 0.0 {
                (1.0 / s - sigma2).max(0.0)
            } else {
                0.0
            }
        })
        .collect();
    let (s1, s2) = (
        lam.iter().sum::<f64>(),
        lam.iter().map(|l| l * l).sum::<f64>(),
    );
    Ok(LocalDimension {
        sigma2_singular_values: sv.iter().map(|s| s * sigma2).collect(),
        threshold: sv.iter().filter(|&&s| sigma2 * s < c).count(),
        trace_grad_denoiser: d as f64 + sigma2 * tr,
        participation_ratio: if s2 > 0.0 { s1 * s1 / s2 } else { 0.0 },
        flipd: d as f64 + sigma2 * (tr + score.iter().map(|v| v * v).sum::<f64>()),
    })
}

/// Asymmetry $A = |J - J^\top|_F / |J|_F$ (0 for a gradient field), and its split over a tangent
/// projector $P_T$ (the k right-singular directions of smallest singular value) and $P_N = I - P_T$:
/// $A_{XY} = |P_X (J - J^\top) P_Y|_F / |P_X J P_Y|_F$.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Asymmetry {
    /// A.
    pub total: f64,
    /// A_TT.
    pub tt: f64,
    /// A_NN.
    pub nn: f64,
    /// A_TN.
    pub tn: f64,
}

/// [`Asymmetry`] with a tangent space of dimension k taken from J's SVD.
pub fn asymmetry(jac: &Mat<f64>, k: usize) -> Result<Asymmetry> {
    let d = jac.nrows();
    let svd = jac
        .svd()
        .map_err(|e| Error::numerical("Jacobian SVD", format!("{e:?}")))?;
    let v = svd.V();
    // Smallest singular values come last.
    let pt = Mat::<f64>::from_fn(d, d, |i, j| {
        (d - k.min(d)..d).map(|c| v[(i, c)] * v[(j, c)]).sum()
    });
    let pn = Mat::<f64>::from_fn(d, d, |i, j| f64::from(i == j) - pt[(i, j)]);
    let anti = Mat::<f64>::from_fn(d, d, |i, j| jac[(i, j)] - jac[(j, i)]);
    let fro = |m: &Mat<f64>| m.norm_l2();
    let sand = |p: &Mat<f64>, m: &Mat<f64>, q: &Mat<f64>| p * m * q;
    let ratio = |p: &Mat<f64>, q: &Mat<f64>| {
        let den = fro(&sand(p, jac, q));
        if den > 0.0 {
            fro(&sand(p, &anti, q)) / den
        } else {
            0.0
        }
    };
    Ok(Asymmetry {
        total: fro(&anti) / fro(jac).max(f64::MIN_POSITIVE),
        tt: ratio(&pt, &pt),
        nn: ratio(&pn, &pn),
        tn: ratio(&pt, &pn),
    })
}

#[cfg(test)]
mod tests;

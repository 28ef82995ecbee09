//! Score-field geometry (geometry.md "Quantities"): Jacobians J = ∇ₓS(x, t) of a score, their spectra in
//! units of σ² = Δ_t, local-dimension estimators and the asymmetry (non-conservativeness) of the field.
//!
//! Jacobians come from [`Score::jacobian_into`] where a score has an analytic one (MLP, GMM, empirical),
//! else from central differences ([`jacobians`]); [`jacobian_fd`] in f64 is the test oracle. Estimators
//! (a)–(d) in [`local_dimension`], (e) in [`stanczuk`]; asymmetry and its tangent/normal split in
//! [`asymmetry`] / [`asymmetry_split`]; subspaces, principal angles and the normal-projection error in
//! [`subspace`]; everything along backward trajectories in [`probe`].

use crate::error::{Error, Result};
pub use crate::score::empirical_score_and_jacobian;
use crate::score::{OuTime, Score};
use faer::{Mat, Par};

pub mod matrix_free;
pub mod probe;
mod stanczuk;
pub mod subspace;

pub use matrix_free::{
    asymmetry_probe, asymmetry_split_probe, denoiser_subspace, hutchinson_trace, jvp, vjp,
};
pub use probe::{along_trajectories, probe_points, quartiles, PointGeometry, ProbeOptions};
use serde::{Deserialize, Serialize};
pub use stanczuk::{stanczuk, stanczuk_around, stanczuk_from_scores, Stanczuk};
pub use subspace::{
    complement, feature_subspace, normal_projection_error, overlap, principal_cosines, projector,
};

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
/// $A_{TT} = |P_T (J - J^\top) P_T|_F / |P_T J P_T|_F$, $A_{NN}$ likewise, and the mixed block
/// $A_{TN} = |P_T (J - J^\top) P_N|_F / (|P_T J P_T|_F\,|P_N J P_N|_F)^{1/2}$: normalised by the diagonal
/// blocks, because for a near-gradient field the off-diagonal block $P_T J P_N$ itself is ≈ 0 and a ratio
/// to it would be noise over noise.
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

/// [`Asymmetry`] with a tangent space of dimension k taken from J's SVD ([`feature_subspace`]).
pub fn asymmetry(jac: &Mat<f64>, k: usize) -> Result<Asymmetry> {
    let pt = projector(&feature_subspace(jac, k)?);
    let pn = complement(&pt);
    Ok(asymmetry_split(jac, &pt, &pn))
}

/// [`Asymmetry`] with given tangent and normal projectors.
pub fn asymmetry_split(jac: &Mat<f64>, pt: &Mat<f64>, pn: &Mat<f64>) -> Asymmetry {
    let d = jac.nrows();
    let anti = Mat::<f64>::from_fn(d, d, |i, j| jac[(i, j)] - jac[(j, i)]);
    let fro = |m: &Mat<f64>| m.norm_l2();
    let sand = |p: &Mat<f64>, m: &Mat<f64>, q: &Mat<f64>| p * m * q;
    let (jtt, jnn) = (fro(&sand(pt, jac, pt)), fro(&sand(pn, jac, pn)));
    let ratio = |p: &Mat<f64>, q: &Mat<f64>, den: f64| {
        // Blocks that vanish (to rounding) relative to J carry no asymmetry to speak of.
        if den > 1e-12 * fro(jac) {
            fro(&sand(p, &anti, q)) / den
        } else {
            0.0
        }
    };
    Asymmetry {
        total: fro(&anti) / fro(jac).max(f64::MIN_POSITIVE),
        tt: ratio(pt, pt, jtt),
        nn: ratio(pn, pn, jnn),
        tn: ratio(pt, pn, (jtt * jnn).sqrt()),
    }
}

/// Jacobians $J = \partial S/\partial x$ at the b rows of x (b × d × d row-major): analytic when the score
/// provides them, else central differences of the f32 score with step $h = 10^{-2}\sigma$, $\sigma^2 =
/// \Delta_t$ (the score varies on the scale σ near data, so truncation is ~(h/σ)² = 1e-4 relative and f32
/// rounding ~1e-7·|S|/h stays below it).
pub fn jacobians(score: &dyn Score, x: &[f32], t: f64, par: Par) -> Vec<f64> {
    let d = score.dim();
    let b = x.len() / d;
    let mut out = vec![0.0; b * d * d];
    if score.jacobian_into(x, t, &mut out, par) {
        return out;
    }
    let h = 1e-2 * OuTime::new(t).delta.sqrt();
    let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
    for c in 0..d {
        for i in 0..b {
            xp[i * d + c] = x[i * d + c] + h as f32;
            xm[i * d + c] = x[i * d + c] - h as f32;
        }
        let (sp, sm) = (score.eval(&xp, t, par), score.eval(&xm, t, par));
        for i in 0..b {
            // Divide by the step actually taken in f32.
            let step = (xp[i * d + c] as f64) - (xm[i * d + c] as f64);
            for r in 0..d {
                out[i * d * d + r * d + c] = (sp[i * d + r] as f64 - sm[i * d + r] as f64) / step;
            }
            xp[i * d + c] = x[i * d + c];
            xm[i * d + c] = x[i * d + c];
        }
    }
    out
}

#[cfg(test)]
mod tests;

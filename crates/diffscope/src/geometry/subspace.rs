//! Feature subspaces of a Jacobian, projectors, principal angles and the normal-projection error.

use crate::error::{Error, Result};
use faer::Mat;

/// The feature (tangent) subspace of J: its k right-singular vectors of *smallest* singular value, as the
/// columns of a d × k matrix (directions in which the score varies least: along the manifold).
pub fn feature_subspace(jac: &Mat<f64>, k: usize) -> Result<Mat<f64>> {
    let d = jac.nrows();
    let k = k.min(d);
    let svd = jac
        .svd()
        .map_err(|e| Error::numerical("Jacobian SVD", format!("{e:?}")))?;
    let v = svd.V();
    Ok(Mat::from_fn(d, k, |i, c| v[(i, d - k + c)]))
}

/// Orthogonal projector $V V^\top$ onto the span of orthonormal columns V.
pub fn projector(basis: &Mat<f64>) -> Mat<f64> {
    basis * basis.transpose()
}

/// $I - P$.
pub fn complement(p: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(p.nrows(), p.ncols(), |i, j| f64::from(i == j) - p[(i, j)])
}

/// Cosines of the principal angles between span V₁ and span V₂ (orthonormal columns): the singular
/// values of $V_1^\top V_2$, descending.
pub fn principal_cosines(v1: &Mat<f64>, v2: &Mat<f64>) -> Result<Vec<f64>> {
    let m = v1.transpose() * v2;
    let s = m
        .singular_values()
        .map_err(|e| Error::numerical("principal angles SVD", format!("{e:?}")))?;
    Ok(s.into_iter().map(|c| c.min(1.0)).collect())
}

/// Subspace overlap $|V_1^\top V_2|_F^2 / k$ with $k = \min(k_1, k_2)$: 1 when one subspace contains the
/// other, 0 when they are orthogonal (the mean squared cosine of the principal angles).
pub fn overlap(v1: &Mat<f64>, v2: &Mat<f64>) -> f64 {
    let k = v1.ncols().min(v2.ncols());
    if k == 0 {
        return 0.0;
    }
    let m = v1.transpose() * v2;
    m.norm_l2().powi(2) / k as f64
}

/// Normal-projection error $|P_N (\sigma^2 J) P_N + P_N|_F$: 0 when, on the normal space, the field acts
/// like the gradient of $-|P_N x|^2/2\sigma^2$ (projects straight onto the manifold), i.e. $\nabla D = P_T$
/// on it.
pub fn normal_projection_error(jac: &Mat<f64>, sigma2: f64, pn: &Mat<f64>) -> f64 {
    let m = pn * jac * pn * sigma2 + pn;
    m.norm_l2()
}

//! Small dense linear-algebra helpers on top of faer: covariance of a data matrix, symmetric
//! eigendecompositions, and views of row-major buffers.

use crate::error::{Error, Result};
use faer::{Mat, MatRef, Par, Side};

/// A row-major `rows × cols` f32 buffer viewed as a faer matrix.
#[inline]
pub fn view_f32(x: &[f32], rows: usize, cols: usize) -> MatRef<'_, f32> {
    MatRef::from_row_major_slice(x, rows, cols)
}

/// Sample mean (length `d`) and unbiased covariance ($\frac{1}{n-1}\sum_i (x_i-\bar x)(x_i-\bar x)^\top$,
/// `d × d`) of a row-major `n × d` f32 matrix, accumulated in f64.
///
/// # Errors
/// If `n < 2`.
pub fn mean_cov(x: &[f32], n: usize, d: usize, par: Par) -> Result<(Vec<f64>, Mat<f64>)> {
    if n < 2 {
        return Err(Error::param(
            "n",
            n,
            "at least 2 samples to estimate a covariance",
        ));
    }
    let mut mean = vec![0.0f64; d];
    for row in x.chunks_exact(d) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let centred = Mat::<f64>::from_fn(n, d, |i, j| x[i * d + j] as f64 - mean[j]);
    let mut cov = Mat::<f64>::zeros(d, d);
    faer::linalg::matmul::matmul(
        cov.as_mut(),
        faer::Accum::Replace,
        centred.transpose(),
        centred.as_ref(),
        1.0 / (n as f64 - 1.0),
        par,
    );
    Ok((mean, cov))
}

/// Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix (lower triangle read).
pub fn sym_eigen(a: MatRef<'_, f64>) -> Result<(Vec<f64>, Mat<f64>)> {
    let evd = a
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::numerical("symmetric eigendecomposition", format!("{e:?}")))?;
    let s = evd.S();
    let vals: Vec<f64> = (0..a.nrows()).map(|i| s[i]).collect();
    Ok((vals, evd.U().to_owned()))
}

/// Eigenvalues (ascending) of a symmetric matrix.
pub fn sym_eigenvalues(a: MatRef<'_, f64>) -> Result<Vec<f64>> {
    a.self_adjoint_eigenvalues(Side::Lower)
        .map_err(|e| Error::numerical("symmetric eigenvalues", format!("{e:?}")))
}

/// Accumulators of the fixed-order sums below: four independent AVX2 vectors, so the additions pipeline
/// (one accumulator vector would wait on its own latency).
const LANES_F64: usize = 16;

/// A lane-wise sum reduced by a fixed pairwise tree. The remainder after the full chunks goes into the
/// first 8 lanes by chunks of 8 (vectorised too) before the tree, and its last < 8 terms are added after.
macro_rules! lane_sum {
    ($t:ty, $lanes:expr, $x:expr, $y:expr, |$u:ident, $v:ident| $term:expr) => {{
        let mut acc = [0.0 as $t; $lanes];
        let (cx, cy) = ($x.chunks_exact($lanes), $y.chunks_exact($lanes));
        let (rx, ry) = (cx.remainder(), cy.remainder());
        for (xs, ys) in cx.zip(cy) {
            for l in 0..$lanes {
                let ($u, $v) = (xs[l], ys[l]);
                acc[l] += $term;
            }
        }
        let (c8x, c8y) = (rx.chunks_exact(8), ry.chunks_exact(8));
        let tail: $t = c8x
            .remainder()
            .iter()
            .zip(c8y.remainder())
            .map(|(&$u, &$v)| $term)
            .sum();
        for (xs, ys) in c8x.zip(c8y) {
            for l in 0..8 {
                let ($u, $v) = (xs[l], ys[l]);
                acc[l] += $term;
            }
        }
        let mut w = $lanes;
        while w > 1 {
            w /= 2;
            for l in 0..w {
                acc[l] += acc[l + w];
            }
        }
        acc[0] + tail
    }};
}

/// $a \cdot b$ in f64, summed in a fixed order (vectorises; the same bits for the same inputs, whatever
/// the caller's batch).
pub fn dot_f64(a: &[f64], b: &[f64]) -> f64 {
    lane_sum!(f64, LANES_F64, a, b, |u, v| u * v)
}

/// $|x - e\,a|^2$ in f64 for an f32 point a, summed in a fixed order.
pub fn sq_dist_f64(x: &[f64], a: &[f32], e: f64) -> f64 {
    lane_sum!(f64, LANES_F64, x, a, |u, v| (u - e * v as f64)
        * (u - e * v as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_of_known_matrix() {
        // Rows (0,0), (2,0), (0,2), (2,2): mean (1,1), covariance diag(4/3, 4/3).
        let x = [0.0f32, 0.0, 2.0, 0.0, 0.0, 2.0, 2.0, 2.0];
        let (m, c) = mean_cov(&x, 4, 2, Par::Seq).unwrap();
        assert_eq!(m, vec![1.0, 1.0]);
        assert!((c[(0, 0)] - 4.0 / 3.0).abs() < 1e-14 && c[(0, 1)].abs() < 1e-14);
        let ev = sym_eigenvalues(c.as_ref()).unwrap();
        assert!((ev[1] - 4.0 / 3.0).abs() < 1e-12);
        assert!(mean_cov(&x[..2], 1, 2, Par::Seq).is_err());
    }
}

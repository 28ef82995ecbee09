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

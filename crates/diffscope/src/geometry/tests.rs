use super::*;
use crate::data::{Covariance, GaussianMixture};
use crate::score::GmmScore;

fn sym_eigs(j: &Mat<f64>) -> Vec<f64> {
    let s = Mat::<f64>::from_fn(j.nrows(), j.ncols(), |a, b| 0.5 * (j[(a, b)] + j[(b, a)]));
    crate::linalg::sym_eigenvalues(s.as_ref()).unwrap()
}

/// T1: a Gaussian on a k-dim subspace, x₀ = U z, z ~ N(0, diag λ): J = −(UΛUᵀ + σ²I)⁻¹ with eigenvalues
/// −1/(λ_i + σ²) on span U and −1/σ² on the normal directions; tr ∇D → k as σ → 0; the threshold count is
/// #{λ_i > σ²}. J by f64 central differences of the GMM score (h = 1e-5: error ~1e-9 relative).
#[test]
fn t1_gaussian_on_a_subspace() {
    let d = 6;
    let lam = [4.0, 1.0];
    // U: the first two coordinate axes rotated by 30° in the (0, 2) plane.
    let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
    let u = [[c, 0.0, s, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0]];
    let cov = Mat::<f64>::from_fn(d, d, |i, j| {
        (0..2).map(|k| lam[k] * u[k][i] * u[k][j]).sum()
    });
    let score = GmmScore::new(
        GaussianMixture::new(vec![vec![0.0; d]], vec![1.0], Covariance::Full(vec![cov])).unwrap(),
    );
    for &t in &[0.05, 0.3] {
        let ou = OuTime::new(t);
        let x = vec![0.3, -0.2, 0.1, 0.05, -0.1, 0.2];
        let f = |y: &[f64], out: &mut [f64]| {
            score.eval_f64(y, ou, out);
        };
        let j = jacobian_fd(&f, &x, 1e-5);
        // In OU time the data variance λ becomes e^{-2t} λ and σ² = Δ_t.
        let sig2 = ou.delta;
        let mut want: Vec<f64> = lam
            .iter()
            .map(|l| -1.0 / (ou.decay * ou.decay * l + sig2))
            .collect();
        want.extend(std::iter::repeat_n(-1.0 / sig2, d - 2));
        want.sort_by(f64::total_cmp);
        let got = sym_eigs(&j);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-6 * w.abs(),
                "t = {t}: {got:?} vs {want:?}"
            );
        }
        let mut sv = vec![0.0; d];
        f(&x, &mut sv);
        let ld = local_dimension(&j, &sv, sig2, 0.5).unwrap();
        let n_above = lam
            .iter()
            .filter(|&&l| ou.decay * ou.decay * l > sig2)
            .count();
        assert_eq!(ld.threshold, n_above, "t = {t}: {ld:?}");
        let tr_want: f64 = lam
            .iter()
            .map(|l| ou.decay * ou.decay * l / (ou.decay * ou.decay * l + sig2))
            .sum();
        assert!(
            (ld.trace_grad_denoiser - tr_want).abs() < 1e-6,
            "t = {t}: tr ∇D {} vs {tr_want}",
            ld.trace_grad_denoiser
        );
        // T3: an exact score is conservative.
        assert!(asymmetry(&j, 2).unwrap().total < 1e-6);
    }
}

/// T3 and the analytic empirical Jacobian: it equals f64 central differences of the same score and is
/// symmetric. T7: on N = 200 points of a circle in R⁴, at σ far below the point spacing every σ²·eigenvalue
/// is −1 and tr ∇D = 0 (collapse: dimension 0); at σ between the spacing and R one direction opens up.
#[test]
fn t3_t7_empirical_score_jacobian() {
    let n = 200;
    let pts: Vec<f64> = (0..n)
        .flat_map(|m| {
            let th = 2.0 * std::f64::consts::PI * m as f64 / n as f64;
            [th.cos(), th.sin(), 0.0, 0.0]
        })
        .collect();
    let x = [0.95, 0.2, 0.01, -0.02];
    for &t in &[0.002, 0.05] {
        let (s, j) = empirical_score_and_jacobian(&pts, &x, t);
        let f = |y: &[f64], out: &mut [f64]| {
            out.copy_from_slice(&empirical_score_and_jacobian(&pts, y, t).0)
        };
        let jfd = jacobian_fd(&f, &x, 1e-6 * OuTime::new(t).delta.sqrt());
        let scale = j.norm_l2();
        assert!(
            (&j - &jfd).norm_l2() < 1e-5 * scale,
            "t = {t}: analytic vs FD"
        );
        assert!(asymmetry(&j, 1).unwrap().total < 1e-12);
        let _ = s;
    }
    // Spacing 2π/200 ≈ 0.031: σ = 0.003 ≪ spacing → collapse; σ ≈ 0.2 ≫ spacing → one tangent direction.
    let t_small = 0.5 * (1.0f64 + 0.003f64.powi(2)).ln();
    let x_on = [1.0, 0.0, 0.0, 0.0];
    let (s, j) = empirical_score_and_jacobian(&pts, &x_on, t_small);
    let ld = local_dimension(&j, &s, OuTime::new(t_small).delta, 0.5).unwrap();
    assert!(
        ld.trace_grad_denoiser.abs() < 1e-6 && ld.threshold == 0,
        "{ld:?}"
    );
    let t_mid = 0.5 * (1.0f64 + 0.2f64.powi(2)).ln();
    let (s, j) = empirical_score_and_jacobian(&pts, &x_on, t_mid);
    let ld = local_dimension(&j, &s, OuTime::new(t_mid).delta, 0.5).unwrap();
    assert_eq!(ld.threshold, 1, "{ld:?}");
}

/// T9: for SPD Σ the SVD of −Σ⁻¹ pairs u_i = −v_i with s_i = 1/eig_i(Σ).
#[test]
fn t9_svd_pairing() {
    let sigma = Mat::<f64>::from_fn(3, 3, |i, j| if i == j { [3.0, 2.0, 0.5][i] } else { 0.3 });
    let (ev, vecs) = crate::linalg::sym_eigen(sigma.as_ref()).unwrap();
    let inv = Mat::<f64>::from_fn(3, 3, |i, j| {
        -(0..3)
            .map(|k| vecs[(i, k)] * vecs[(j, k)] / ev[k])
            .sum::<f64>()
    });
    let svd = inv.svd().unwrap();
    let mut want: Vec<f64> = ev.iter().map(|e| 1.0 / e).collect();
    want.sort_by(|a, b| b.total_cmp(a));
    for i in 0..3 {
        assert!((svd.S()[i] - want[i]).abs() < 1e-12);
        let dot: f64 = (0..3).map(|r| svd.U()[(r, i)] * svd.V()[(r, i)]).sum();
        assert!((dot + 1.0).abs() < 1e-12, "⟨u_{i}, v_{i}⟩ = {dot}");
    }
}

/// T4: a rotation ωUBUᵀ added inside the tangent plane is visible in A_TT but not A_NN.
#[test]
fn t4_constrained_mixing_shows_in_the_tangent_block_only() {
    let (d, sig2, lam, omega) = (4, 0.01, 1.0, 0.7);
    // J = −(P_T/(λ + σ²) + P_N/σ²) + ω B on the tangent plane span(e0, e1), B = [[0, 1], [−1, 0]].
    let j = Mat::<f64>::from_fn(d, d, |i, k| {
        let diag = if i == k {
            if i < 2 {
                -1.0 / (lam + sig2)
            } else {
                -1.0 / sig2
            }
        } else {
            0.0
        };
        let rot = match (i, k) {
            (0, 1) => omega,
            (1, 0) => -omega,
            _ => 0.0,
        };
        diag + rot
    });
    let a = asymmetry(&j, 2).unwrap();
    let want_tt = (2.0 * 2f64.sqrt() * omega)
        / (2.0 * (1.0 / (lam + sig2)).powi(2) + 2.0 * omega * omega).sqrt();
    assert!((a.tt - want_tt).abs() < 1e-10, "{a:?} vs {want_tt}");
    assert!(a.nn < 1e-12 && a.tn < 1e-12, "{a:?}");
}

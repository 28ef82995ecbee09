use super::*;
use crate::data::{Covariance, GaussianMixture};
use crate::score::{GmmScore, Score};
use faer::Par;

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

/// The exact score of the uniform circle of radius R in the (0, 1)-plane of R^d, by the trapezoid rule on
/// M equally spaced points: p_t is a periodic integral over the angle, for which the trapezoid rule
/// converges like exp(−(σ M / 2πR)²/2), i.e. to machine precision for a spacing 2πR/M ≪ σ.
fn circle_points(d: usize, radius: f64, m: usize) -> Vec<f64> {
    let mut pts = vec![0.0; m * d];
    for j in 0..m {
        let th = 2.0 * std::f64::consts::PI * j as f64 / m as f64;
        pts[j * d] = radius * th.cos();
        pts[j * d + 1] = radius * th.sin();
    }
    pts
}

/// OU time of a noise level σ: Δ_t = σ².
fn t_of_sigma(sigma: f64) -> f64 {
    -0.5 * (-sigma * sigma).ln_1p()
}

/// T2: at a point on a circle (k = 1) in R⁴, R = 1, σ = 0.05: eigenvalues −400, −400, −399.5, −0.5 and
/// FLIPD 1.000625 (VE form; in OU time R is replaced by e^{-t}R). The formulas are leading order in σ/R:
/// the neglected terms are O(σ²/R²) ≈ 0.25% relative on the tangent eigenvalue and O(1) absolute on the
/// ±400 ones only at O(σ²)·(k/R²) ≈ 0.001; tolerances 1% and 0.01 respectively; FLIPD to 1e-4.
#[test]
fn t2_circle_eigenvalues_and_flipd() {
    let (d, sigma) = (4, 0.05);
    let t = t_of_sigma(sigma);
    let ou = OuTime::new(t);
    let r = ou.decay; // e^{-t} R with R = 1
    let pts = circle_points(d, 1.0, 4000);
    let x = [r, 0.0, 0.0, 0.0];
    let (s, j) = empirical_score_and_jacobian(&pts, &x, t);
    let e = sym_eigs(&j);
    let s2 = ou.delta;
    let (k, kr) = (1.0, 1.0 / (2.0 * r * r));
    // Sorted ascending: two normal −1/σ², the radial −1/σ² + k/2R², the tangent −k/2R².
    let want = [-1.0 / s2, -1.0 / s2, -1.0 / s2 + k * kr, -k * kr];
    assert!((want[0] + 400.0).abs() < 1e-9 && (want[3] + 0.5).abs() < 2e-3);
    for i in 0..3 {
        assert!(
            (e[i] - want[i]).abs() < 0.01,
            "eigenvalue {i}: {} vs {}",
            e[i],
            want[i]
        );
    }
    assert!(
        (e[3] / want[3] - 1.0).abs() < 0.01,
        "tangent {} vs {}",
        e[3],
        want[3]
    );
    // Score −(k/2R) n̂ along the radial direction.
    assert!(
        (s[0] + k / (2.0 * r)).abs() < 0.01 && s[1].abs() < 1e-9,
        "{s:?}"
    );
    let ld = local_dimension(&j, &s, s2, 0.5).unwrap();
    let want_flipd = k + s2 * k * (2.0 - k) / (4.0 * r * r);
    assert!((want_flipd - 1.000625).abs() < 2e-6);
    assert!((ld.flipd - want_flipd).abs() < 1e-4, "FLIPD {}", ld.flipd);
    assert_eq!(ld.threshold, 1);
}

/// T5: the normal-projection error |P_N(σ²J)P_N + P_N|_F is 0 for T1 (exactly: J = −1/σ² on the normal
/// space) and σ²k/(2R²) for T2 (the radial entry), so it falls like σ² (checked at σ = 0.05 and 0.025,
/// within 5% of the leading term).
#[test]
fn t5_normal_projection() {
    let d = 4;
    // T1: the subspace model's exact score.
    let spec = crate::data::SubspaceSpec {
        d,
        k: 2,
        variances: vec![1.0, 0.5],
    };
    let g = GmmScore::new(spec.mixture(0).unwrap());
    let pn = complement(&projector(&spec.basis(0)));
    for &t in &[0.01, 0.1] {
        let (_, j) = g.score_and_jacobian(&[0.2, -0.1, 0.3, 0.05], t);
        let err = normal_projection_error(&j, OuTime::new(t).delta, &pn);
        assert!(err < 1e-10, "T1 error {err}");
    }
    // T2: circle, tangent e1 at the point e^{-t}(1, 0, 0, 0).
    let pts = circle_points(d, 1.0, 8000);
    let mut last = f64::INFINITY;
    for &sigma in &[0.05, 0.025] {
        let t = t_of_sigma(sigma);
        let ou = OuTime::new(t);
        let (_, j) = empirical_score_and_jacobian(&pts, &[ou.decay, 0.0, 0.0, 0.0], t);
        let pt = Mat::<f64>::from_fn(d, d, |a, b| f64::from(a == 1 && b == 1));
        let err = normal_projection_error(&j, ou.delta, &complement(&pt));
        let want = ou.delta / (2.0 * ou.decay * ou.decay);
        assert!(
            (err / want - 1.0).abs() < 0.05,
            "σ = {sigma}: {err} vs {want}"
        );
        assert!(err < last);
        last = err;
    }
}

/// T6: the feature subspace of T1 and of T4 is span U (overlap 1 to rounding); rotating one data
/// direction u₁ by an angle ε towards a normal direction gives overlap (1 + cos²ε)/2 for k = 2 (one
/// principal cosine stays 1, the other is cos ε), which falls smoothly with ε.
#[test]
fn t6_overlap() {
    let (d, s2) = (5, 0.01);
    let jac_for = |eps: f64, omega: f64| {
        // Σ = Σ_i λ_i v_i v_iᵀ with v₀ = cos ε e₀ + sin ε e₄, v₁ = e₁; J = −(Σ + σ²I)⁻¹ + ω B.
        let v0 = [eps.cos(), 0.0, 0.0, 0.0, eps.sin()];
        let v1 = [0.0, 1.0, 0.0, 0.0, 0.0];
        let cov = Mat::<f64>::from_fn(d, d, |a, b| {
            2.0 * v0[a] * v0[b] + 1.0 * v1[a] * v1[b] + f64::from(a == b) * s2
        });
        let (ev, vecs) = crate::linalg::sym_eigen(cov.as_ref()).unwrap();
        Mat::<f64>::from_fn(d, d, |a, b| {
            let rot = match (a, b) {
                (0, 1) => omega,
                (1, 0) => -omega,
                _ => 0.0,
            };
            -(0..d)
                .map(|q| vecs[(a, q)] * vecs[(b, q)] / ev[q])
                .sum::<f64>()
                + rot
        })
    };
    let u = Mat::<f64>::from_fn(d, 2, |a, c| f64::from(a == c));
    for omega in [0.0, 0.3] {
        let f = feature_subspace(&jac_for(0.0, omega), 2).unwrap();
        assert!((overlap(&f, &u) - 1.0).abs() < 1e-10, "ω = {omega}");
        let cos = principal_cosines(&f, &u).unwrap();
        assert!(cos.iter().all(|c| (c - 1.0).abs() < 1e-10));
    }
    let mut last = 1.0 + 1e-12;
    for eps in [0.1, 0.3, 0.6, 1.0] {
        let o = overlap(&feature_subspace(&jac_for(eps, 0.0), 2).unwrap(), &u);
        let want = (1.0 + eps.cos().powi(2)) / 2.0;
        assert!((o - want).abs() < 1e-9, "ε = {eps}: {o} vs {want}");
        assert!(o < last);
        last = o;
    }
}

/// T8: Stanczuk's largest singular-value gap sits at d − k for T1 (Gaussian on a 2-plane in R⁶) and T2
/// (circle in R⁴), and a diagonal Gaussian in d = 6 with 4 large variances (1) and 2 small (1e-4) gives
/// dimension 4 at σ² = 0.01, between the two scales.
#[test]
fn t8_stanczuk() {
    use crate::score::{EmpiricalScore, Precision};
    let par = faer::Par::Seq;
    let spec = crate::data::SubspaceSpec {
        d: 6,
        k: 2,
        variances: vec![1.0],
    };
    let g = GmmScore::new(spec.mixture(0).unwrap());
    let x0 = spec.sample(1, 0).unwrap().x; // same seed: on the model's subspace
    let st = stanczuk(&g, &x0, t_of_sigma(0.03), 24, 1, par).unwrap();
    assert_eq!((st.normal_dim, st.dim), (4, 2), "{st:?}");

    let pts = circle_points(4, 1.0, 4000);
    let pts32: Vec<f32> = pts.iter().map(|&v| v as f32).collect();
    let circle = EmpiricalScore::from_rows(&pts32, 4000, 4, Precision::F64).unwrap();
    let st = stanczuk(&circle, &[0.6, 0.8, 0.0, 0.0], t_of_sigma(0.05), 16, 2, par).unwrap();
    assert_eq!(st.dim, 1, "{st:?}");

    let diag = GmmScore::new(
        GaussianMixture::new(
            vec![vec![0.0; 6]],
            vec![1.0],
            Covariance::Diagonal(vec![vec![1.0, 1.0, 1.0, 1.0, 1e-4, 1e-4]]),
        )
        .unwrap(),
    );
    let st = stanczuk(
        &diag,
        &[0.5, -0.3, 0.2, 0.9, 0.0, 0.0],
        t_of_sigma(0.1),
        24,
        3,
        par,
    )
    .unwrap();
    assert_eq!(st.dim, 4, "{st:?}");
}

/// The analytic GMM Jacobian (3 components, full covariances) against f64 central differences
/// (h = 1e-5: error ~1e-9 relative; bound 1e-6), and the empirical score's `jacobian_into` (f32 centred
/// points) against the f64 reference (bound 1e-5: f32 storage of the points).
#[test]
fn analytic_jacobians_of_exact_scores() {
    let d = 3;
    let full = |a: f64| {
        Mat::<f64>::from_fn(
            d,
            d,
            |i, j| if i == j { 1.0 + a * i as f64 } else { 0.2 * a },
        )
    };
    let gmm = GaussianMixture::new(
        vec![
            vec![1.0, 0.0, -0.5],
            vec![-1.0, 0.5, 0.0],
            vec![0.0, -1.0, 1.0],
        ],
        vec![0.5, 0.3, 0.2],
        Covariance::Full(vec![full(0.1), full(0.5), full(1.0)]),
    )
    .unwrap();
    let g = GmmScore::new(gmm);
    let x = [0.3f32, -0.4, 0.2, -0.1, 0.9, 0.5];
    for &t in &[0.05, 0.5] {
        let mut jac = vec![0.0; 2 * d * d];
        assert!(g.jacobian_into(&x, t, &mut jac, faer::Par::Seq));
        for i in 0..2 {
            let xi: Vec<f64> = x[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
            let ou = OuTime::new(t);
            let fd = jacobian_fd(
                &|y, o| {
                    g.eval_f64(y, ou, o);
                },
                &xi,
                1e-5,
            );
            for a in 0..d {
                for b in 0..d {
                    let v = jac[i * d * d + a * d + b];
                    assert!(
                        (v - fd[(a, b)]).abs() < 1e-6 * fd.norm_l2(),
                        "t {t}: {v} vs {}",
                        fd[(a, b)]
                    );
                }
            }
        }
    }
    use crate::score::{EmpiricalScore, Precision};
    let ds = crate::data::SphereSpec {
        d: 4,
        k: 1,
        radius: 2.0,
    }
    .sample(300, 1)
    .unwrap();
    let emp = EmpiricalScore::new(&ds, Precision::F32).unwrap();
    let pts: Vec<f64> = ds.x.iter().map(|&v| v as f64).collect();
    let x = [0.5f32, 1.0, -0.3, 0.2];
    let mut jac = vec![0.0; 16];
    assert!(emp.jacobian_into(&x, 0.2, &mut jac, faer::Par::Seq));
    let (_, want) = empirical_score_and_jacobian(&pts, &[0.5, 1.0, -0.3, 0.2], 0.2);
    for a in 0..4 {
        for b in 0..4 {
            assert!((jac[a * 4 + b] - want[(a, b)]).abs() < 1e-5 * want.norm_l2());
        }
    }
}

/// A score without an analytic Jacobian goes through central differences (h = 0.01σ); against the
/// analytic one the relative Frobenius error must be below 1e-3 (truncation (h/σ)² ≈ 1e-4).
#[test]
fn finite_difference_fallback_agrees_with_analytic() {
    struct Hidden(GmmScore);
    impl Score for Hidden {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn eval_into(
            &self,
            x: &[f32],
            t: f64,
            out: &mut [f32],
            e: crate::score::Extras<'_>,
            p: Par,
        ) {
            self.0.eval_into(x, t, out, e, p)
        }
        fn describe(&self) -> String {
            "hidden".into()
        }
    }
    let spec = crate::data::SubspaceSpec {
        d: 5,
        k: 2,
        variances: vec![1.0],
    };
    let g = GmmScore::new(spec.mixture(0).unwrap());
    let x = [0.3f32, -0.2, 0.5, 0.1, 0.0];
    for &t in &[0.01, 0.5] {
        let a = jacobians(&g, &x, t, Par::Seq);
        let h = jacobians(&Hidden(g.clone()), &x, t, Par::Seq);
        let num: f64 = a.iter().zip(&h).map(|(p, q)| (p - q).powi(2)).sum();
        let den: f64 = a.iter().map(|p| p * p).sum();
        assert!((num / den).sqrt() < 1e-3, "t {t}: {}", (num / den).sqrt());
    }
}

/// Along backward trajectories of the exact population score of a Gaussian on a 2-plane in R⁸, at the
/// last probed time (σ² ≈ 0.02 ≪ λ = 1): every estimator gives 2 (threshold exactly; tr ∇D = Σλ/(λ+σ²)
/// ≈ 1.96; Stanczuk exactly), the field is conservative (A < 1e-9), projects normally (error < 1e-9) and
/// its feature subspace is the true one (overlap > 0.999).
#[test]
fn probes_along_trajectories_of_an_exact_score() {
    use crate::sampler::{SamplerKind, TimeGrid};
    let spec = crate::data::DataModel::Subspace(crate::data::SubspaceSpec {
        d: 8,
        k: 2,
        variances: vec![1.0],
    });
    let g = GmmScore::new(spec.mixture(0).unwrap());
    let tangent = spec.tangent(0).unwrap();
    let grid = TimeGrid::log(4.0, 0.01, 40).unwrap();
    let opts = ProbeOptions {
        stanczuk_samples: 64,
        ..ProbeOptions::default()
    };
    let rows = along_trajectories(
        &g,
        Some(&g),
        Some(&*tangent),
        SamplerKind::EulerMaruyama,
        &grid,
        6,
        &[0, 20, 39],
        &opts,
        7,
        &crate::progress::Silent,
        Par::Seq,
    )
    .unwrap();
    assert_eq!(rows.len(), 18);
    for r in rows.iter().filter(|r| r.step == 39) {
        assert_eq!(r.dim_threshold, 2, "{r:?}");
        assert!((r.dim_trace - 2.0).abs() < 0.1, "{r:?}");
        assert_eq!(r.dim_stanczuk, Some(2), "{r:?}");
        assert!(r.asym < 1e-9 && r.normal_projection_error < 1e-9, "{r:?}");
        assert!(r.overlap_true.unwrap() > 0.999 && r.overlap_reference.unwrap() > 0.999);
        assert!(r.min_cosine_true.unwrap() > 0.999);
        assert!(r.true_tangent && r.k == 2);
        // Symmetric negative definite J: pairing −1, symmetric-part eigenvalues = −singular values.
        assert!(
            r.pairing.iter().all(|p| (p + 1.0).abs() < 1e-9),
            "{:?}",
            r.pairing
        );
        let mut neg: Vec<f64> = r.sigma2_singular_values.iter().map(|v| -v).collect();
        neg.sort_by(f64::total_cmp);
        assert!(neg
            .iter()
            .zip(&r.sigma2_sym_eigenvalues)
            .all(|(a, b)| (a - b).abs() < 1e-9));
    }
    // At t = 4 nothing is resolved: J ≈ −I, so tr ∇D = d + σ² tr J ≈ d(1 − Δ_4) ≈ 0.
    assert!(rows
        .iter()
        .filter(|r| r.step == 0)
        .all(|r| r.dim_trace < 0.5));
}

/// A small MLP score (width 32, depth 2) with weights perturbed by 0.2·N(0, 1): a generic field that is
/// not a gradient, with an analytic Jacobian.
fn perturbed_mlp(d: usize, seed: u64) -> crate::nn::Mlp {
    use crate::nn::{Mlp, MlpConfig};
    let mut net = Mlp::new(
        MlpConfig {
            d,
            width: 32,
            depth: 2,
            n_freq: 2,
            sigma_data: 1.0,
        },
        3,
    )
    .unwrap();
    let mut r = crate::rng::stream(seed, &[]);
    for v in net.theta_mut() {
        *v += 0.2 * rand::Rng::sample::<f32, _>(&mut r, rand_distr::StandardNormal);
    }
    net
}

/// Matrix-free pieces against the dense ones. MLP: analytic JVP / VJP equal the rows / columns of the
/// analytic Jacobian (f32: 1e-5 relative). Gaussian on a 3-plane in R^200 (exact score, JVP by central
/// differences, ~1e-4 relative): the Hutchinson trace matches the closed form
/// tr J = −Σ 1/(e^{-2t}λ_i + Δ) − (d − k)/Δ within 4 standard errors plus the FD error; the randomized SVD
/// of ∇D finds singular values e^{-2t}λ/(e^{-2t}λ + Δ) (to 1e-3) and the plane (overlap > 0.999); the
/// probed asymmetry is ≈ 0 for the exact score and matches the dense A of an MLP within 25 % (200 probes).
#[test]
fn matrix_free_geometry() {
    let d = 5;
    let net = perturbed_mlp(d, 5);
    let x: Vec<f32> = (0..3 * d)
        .map(|i| ((i * 7) % 5) as f32 * 0.3 - 0.6)
        .collect();
    let v: Vec<f32> = (0..3 * d)
        .map(|i| ((i * 3) % 4) as f32 * 0.5 - 0.7)
        .collect();
    let t = 0.2;
    let jac = jacobians(&net, &x, t, Par::Seq);
    let jv = jvp(&net, &x, t, &v, Par::Seq);
    let vj = vjp(&net, &x, t, &v, Par::Seq).unwrap();
    for i in 0..3 {
        for a in 0..d {
            let want_jv: f64 = (0..d)
                .map(|b| jac[i * d * d + a * d + b] * v[i * d + b] as f64)
                .sum();
            let want_vj: f64 = (0..d)
                .map(|b| v[i * d + b] as f64 * jac[i * d * d + b * d + a])
                .sum();
            let scale = 1e-5
                * jac[i * d * d..(i + 1) * d * d]
                    .iter()
                    .map(|j| j.abs())
                    .sum::<f64>();
            assert!(
                (jv[i * d + a] as f64 - want_jv).abs() < scale,
                "jvp {i} {a}"
            );
            assert!(
                (vj[i * d + a] as f64 - want_vj).abs() < scale,
                "vjp {i} {a}"
            );
        }
    }
    let dense_a: Vec<f64> = (0..3)
        .map(|i| {
            let j = Mat::<f64>::from_fn(d, d, |a, b| jac[i * d * d + a * d + b]);
            asymmetry(&j, 2).unwrap().total
        })
        .collect();
    let probed = asymmetry_probe(&net, &x, t, 200, 1, Par::Seq).unwrap();
    for i in 0..3 {
        assert!(
            (probed[i] / dense_a[i] - 1.0).abs() < 0.25,
            "{probed:?} vs {dense_a:?}"
        );
    }

    let (d, k) = (200, 3);
    let spec = crate::data::SubspaceSpec {
        d,
        k,
        variances: vec![2.0, 1.0, 0.5],
    };
    let g = GmmScore::new(spec.mixture(0).unwrap());
    let x = spec.sample(2, 9).unwrap().x; // other seed: generic points near (not on) the plane
    let t = 0.05;
    let ou = OuTime::new(t);
    let e2 = ou.decay * ou.decay;
    let exact: f64 = -[2.0, 1.0, 0.5]
        .iter()
        .map(|l| 1.0 / (e2 * l + ou.delta))
        .sum::<f64>()
        - (d - k) as f64 / ou.delta;
    let plain = hutchinson_trace(&g, &x, t, 64, None, 2, Par::Seq);
    for &(est, se) in &plain {
        assert!(
            (est - exact).abs() < 4.0 * se + 1e-6 * exact.abs(),
            "{est} ± {se} vs {exact}"
        );
    }
    let sub = denoiser_subspace(&g, &x, t, k, 5, 1, 3, Par::Seq).unwrap();
    // Hutch++ deflated by the found plane: the remainder is −P/Δ exactly, so the error is rounding only.
    let bases: Vec<Mat<f64>> = sub.iter().map(|(_, q)| q.clone()).collect();
    for (i, &(est, se)) in hutchinson_trace(&g, &x, t, 8, Some(&bases), 2, Par::Seq)
        .iter()
        .enumerate()
    {
        assert!(
            (est - exact).abs() < 1e-4 * exact.abs(),
            "Hutch++ {est} vs {exact}"
        );
        assert!(
            se < 1e-3 * plain[i].1,
            "deflation should remove the variance: {se} vs {}",
            plain[i].1
        );
    }
    let u = spec.basis(0);
    for (sv, basis) in &sub {
        for (s, l) in sv.iter().zip([2.0, 1.0, 0.5]) {
            let want = e2 * l / (e2 * l + ou.delta);
            assert!((s - want).abs() < 1e-3, "{sv:?}");
        }
        assert!(overlap(basis, &u) > 0.999);
    }
    for a in asymmetry_probe(&g, &x, t, 8, 4, Par::Seq).unwrap() {
        assert!(a < 1e-3, "exact score asymmetry {a}");
    }
}

/// Matrix-free probes along trajectories of the exact score of a Gaussian on a 2-plane in R^100: at the
/// last probed time (σ² ≈ 0.02) (a) = 2 from the rank-6 spectrum of ∇D, (b) and (d) from Hutch++ traces
/// within 0.1 of their dense values Σλ/(λ+σ²) ≈ 1.96 (tr ∇D) — plain Hutchinson with 32 probes has a standard
/// error ≈ 0.35 here, deflation removes it —, and the randomized feature plane is the true one
/// (overlap > 0.99).
#[test]
fn matrix_free_probes_along_trajectories() {
    use crate::sampler::{SamplerKind, TimeGrid};
    let spec = crate::data::DataModel::Subspace(crate::data::SubspaceSpec {
        d: 100,
        k: 2,
        variances: vec![1.0],
    });
    let g = GmmScore::new(spec.mixture(0).unwrap());
    let tangent = spec.tangent(0).unwrap();
    let opts = ProbeOptions {
        matrix_free: Some(6),
        ..ProbeOptions::default()
    };
    let rows = along_trajectories(
        &g,
        None,
        Some(&*tangent),
        SamplerKind::EulerMaruyama,
        &TimeGrid::log(4.0, 0.01, 40).unwrap(),
        3,
        &[39],
        &opts,
        7,
        &crate::progress::Silent,
        Par::Seq,
    )
    .unwrap();
    for r in &rows {
        assert_eq!(r.dim_threshold, 2, "{r:?}");
        assert!(
            (r.dim_trace - 1.96).abs() < 0.1 && (r.dim_flipd - 2.0).abs() < 0.15,
            "{r:?}"
        );
        assert!(r.overlap_true.unwrap() > 0.99 && r.asym < 1e-6, "{r:?}");
        assert!(r.dim_participation.is_nan() && r.sigma2_singular_values.is_empty());
    }
}

/// The probed asymmetry split and normal-projection error against the dense ones, on an MLP score (not a
/// gradient field) with a fixed 2-dim tangent basis. A_TT is exact (k JVPs; f32 products: 1e-4); A_NN,
/// A_TN and the normal-projection error are ratios of Monte-Carlo estimates: 2000 Gaussian probes in a
/// 4-dim normal space give a few per cent of sampling error (measured ≤ 1.7 %), so 8 % is the bound.
#[test]
fn probed_asymmetry_split_matches_the_dense_split() {
    let d = 6;
    let net = perturbed_mlp(d, 7);
    let b = 2;
    let x: Vec<f32> = (0..b * d)
        .map(|i| ((i * 7) % 5) as f32 * 0.3 - 0.6)
        .collect();
    let t = 0.3;
    let jac = jacobians(&net, &x, t, Par::Seq);
    // Tangent basis: e1 and (e2 + e3)/√2.
    let q = Mat::<f64>::from_fn(d, 2, |r, c| match (r, c) {
        (0, 0) => 1.0,
        (1, 1) | (2, 1) => std::f64::consts::FRAC_1_SQRT_2,
        _ => 0.0,
    });
    let bases = vec![q.clone(); b];
    let probed = asymmetry_split_probe(&net, &x, t, &bases, 2000, 11, Par::Seq).unwrap();
    let pt = projector(&q);
    let pn = complement(&pt);
    let s2 = crate::score::OuTime::new(t).delta;
    for i in 0..b {
        let j = Mat::<f64>::from_fn(d, d, |a, c| jac[i * d * d + a * d + c]);
        let dense = asymmetry_split(&j, &pt, &pn);
        let np = normal_projection_error(&j, s2, &pn);
        let (got, got_np) = &probed[i];
        assert!(
            dense.tt > 0.01 && dense.nn > 0.01 && dense.tn > 0.01,
            "{dense:?}"
        );
        assert!(
            (got.tt / dense.tt - 1.0).abs() < 1e-4,
            "TT {got:?} vs {dense:?}"
        );
        for (g, w, name) in [
            (got.nn, dense.nn, "NN"),
            (got.tn, dense.tn, "TN"),
            (*got_np, np, "NP"),
        ] {
            assert!((g / w - 1.0).abs() < 0.08, "{name}: {g} vs {w}");
        }
    }
}

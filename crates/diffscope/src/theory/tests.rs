use super::*;

#[test]
fn quadrature_integrates_a_gaussian_and_a_polynomial() {
    let g = |x: f64| (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    assert!((integrate(&g, -12.0, 12.0, 64) - 1.0).abs() < 1e-13);
    assert!(
        (integrate(&|x| x.powi(15) + x * x, 0.0, 1.0, 1) - (1.0 / 16.0 + 1.0 / 3.0)).abs() < 1e-14
    );
}

#[test]
fn ge_coefficients_match_the_closed_forms_at_kappa_one() {
    use std::f64::consts::PI;
    let cases = [
        (Activation::Linear, 0.0, 1.0, 0.0),
        (Activation::Tanh, 0.0, 0.605706, 0.027415),
        (
            Activation::Relu,
            1.0 / (2.0 * PI).sqrt(),
            0.5,
            0.25 - 1.0 / (2.0 * PI),
        ),
        (Activation::Sign, 0.0, (2.0 / PI).sqrt(), 1.0 - 2.0 / PI),
        (
            Activation::Erf,
            0.0,
            2.0 / (3.0 * PI).sqrt(),
            (2.0 / PI) * (2.0f64 / 3.0).asin() - 4.0 / (3.0 * PI),
        ),
        (
            Activation::ErfSqrt2,
            0.0,
            1.0 / PI.sqrt(),
            (2.0 / PI) * 0.5f64.asin() - 1.0 / PI,
        ),
    ];
    for (phi, r0, r1, rs) in cases {
        let c = ge_coefficients(phi, 1.0).unwrap();
        // tanh reference values are printed to 6 digits: tolerance 1e-6; the rest are exact.
        assert!(
            (c.rho0 - r0).abs() < 1e-6
                && (c.rho1 - r1).abs() < 1e-6
                && (c.rho_star2 - rs).abs() < 1e-6,
            "{phi:?}: {c:?}"
        );
    }
    // tanh's ϱ*² is printed as 0.027415.
    assert!((ge_coefficients(Activation::Tanh, 1.0).unwrap().rho_star2 - 0.027415).abs() < 1e-6);
}

#[test]
fn sign_is_scale_free() {
    let a = ge_coefficients(Activation::Sign, 1.0).unwrap();
    for kappa in [0.1, 0.5, 3.0, 10.0] {
        let b = ge_coefficients(Activation::Sign, kappa).unwrap();
        assert!(
            (b.rho1 * kappa.sqrt() - a.rho1).abs() < 1e-10
                && (b.rho_star2 - a.rho_star2).abs() < 1e-10
        );
    }
    assert!(ge_coefficients(Activation::Sign, 0.0).is_err());
    assert!(Activation::parse("softplus")
        .unwrap_err()
        .to_string()
        .contains("softplus"));
}

#[test]
fn printed_speciation_times_match_the_reference_table() {
    let table = [
        (Activation::Linear, [1.497866, 2.302585, 2.649159]),
        (Activation::Tanh, [1.000227, 1.801970, 2.148171]),
        (Activation::Sign, [1.299830, 2.082469, 2.426213]),
    ];
    for (phi, want) in table {
        let c = ge_coefficients(phi, 1.0).unwrap();
        for (beta, w) in [0.1, 0.5, 1.0].into_iter().zip(want) {
            let got = t_speciation_printed(c.rho1, c.rho_star2, beta, 100, 1.0);
            assert!((got - w).abs() < 1e-6, "{phi:?} β = {beta}: {got} vs {w}");
        }
    }
}

#[test]
fn linear_manifold_collapse_table_and_biroli_limit() {
    let alphas = [0.02, 0.05, 0.1, 0.2, 0.5];
    let table = [
        (0.1, [0.554816, 0.229338, 0.072707, 0.009243, 0.000023]),
        (0.5, [1.282731, 0.853886, 0.554816, 0.298309, 0.072707]),
        (1.0, [1.619405, 1.176084, 0.853886, 0.554816, 0.229338]),
    ];
    for (beta, want) in table {
        for (alpha, w) in alphas.into_iter().zip(want) {
            let got = t_collapse_linear_manifold(alpha, beta, 1.0, 1.0).unwrap();
            assert!(
                (got - w).abs() < 1e-6,
                "β = {beta}, α = {alpha}: {got} vs {w}"
            );
        }
    }
    // β = 1 is Biroli's t_C with σ² = λ: n = 10⁴, d = 100 gives 0.891.
    let n = 10_000usize;
    let alpha = (n as f64).ln() / 100.0;
    let a = t_collapse_linear_manifold(alpha, 1.0, 1.0, 1.0).unwrap();
    let b = t_collapse_gmm(n, 100, 1.0).unwrap();
    assert!((a - b).abs() < 1e-12 && (b - 0.891).abs() < 5e-4, "{a} {b}");
    assert!(t_collapse_gmm(1, 100, 1.0).is_err());
    assert!(t_collapse_linear_manifold(0.1, 1.5, 1.0, 1.0)
        .unwrap_err()
        .to_string()
        .contains("beta"));
}

#[test]
fn speciation_curve_at_half_log_d_is_0_7752_for_every_d() {
    for d in [10usize, 100, 1024, 4096] {
        let phi = speciation_curve((d as f64).sqrt(), 1.0, 0.5 * (d as f64).ln()).unwrap();
        // The reference value is printed to 4 digits.
        assert!((phi - 0.7752).abs() < 5e-5, "d = {d}: φ = {phi}");
    }
    // With ½ log(d + 1): 0.7736 at d = 100, 0.7750 at d = 1024.
    let p100 = speciation_curve(10.0, 1.0, 0.5 * 101f64.ln()).unwrap();
    let p1024 = speciation_curve(32.0, 1.0, 0.5 * 1025f64.ln()).unwrap();
    assert!(
        (p100 - 0.7736).abs() < 5e-5 && (p1024 - 0.7750).abs() < 5e-5,
        "{p100} {p1024}"
    );
    // Limits: φ → 1 early in the backward run (small t, classes far apart), φ → ½ at large t.
    assert!(speciation_curve(10.0, 1.0, 0.01).unwrap() > 0.999_999);
    assert!((speciation_curve(10.0, 1.0, 12.0).unwrap() - 0.5).abs() < 1e-6);
}

#[test]
fn excess_entropy_vanishes_at_the_collapse_time() {
    let (n, d) = (10_000usize, 100usize);
    let alpha = (n as f64).ln() / d as f64;
    let tc = t_collapse_gmm(n, d, 1.0).unwrap();
    assert!(excess_entropy_gmm(tc, alpha, 1.0).abs() < 1e-12);
    assert!(excess_entropy_gmm(tc + 0.1, alpha, 1.0) > 0.0);
    assert_eq!(excess_entropy_gmm(tc - 0.1, alpha, 1.0), 0.0);
    assert!((excess_entropy_gmm(20.0, alpha, 1.0) - 1.0).abs() < 1e-12);
}

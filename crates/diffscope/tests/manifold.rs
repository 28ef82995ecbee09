//! Hidden-manifold model and its theory against the oracles of manifold.md.

use diffscope::data::{Activation, Embedding, ManifoldSpec};
use diffscope::score::OuTime;
use diffscope::theory::manifold::*;

fn spec(phi: Activation, beta: f64, d: usize) -> ManifoldSpec {
    ManifoldSpec {
        d,
        beta,
        activation: phi,
        mu2: 1.0,
        kappa: None,
        embedding: Embedding::Gaussian,
    }
}

#[test]
fn glm_quadrature_path_on_linear_phi_equals_the_closed_form() {
    // I_out = ½ log(1 + s κ (1 − q)): the quadrature path must reproduce it to 1e-5 (manifold.md).
    for &(q, t, kappa) in &[
        (0.0, 0.05, 0.5),
        (0.3, 0.3, 0.5),
        (0.7, 1.0, 1.0),
        (0.95, 0.02, 0.2),
        (0.1, 3.0, 1.0),
    ] {
        let ch = GlmChannel {
            phi: Activation::Linear,
            kappa,
            offset_var: 0.0,
        };
        let ou = OuTime::new(t);
        let s = ou.decay * ou.decay / ou.delta;
        let want = 0.5 * (s * kappa * (1.0 - q)).ln_1p();
        let got = ch.i_out(q, t);
        assert!(
            (got - want).abs() < 1e-5,
            "q = {q}, t = {t}: {got} vs {want}"
        );
    }
}

#[test]
fn linear_minimiser_satisfies_the_stationarity_condition() {
    // q/(1 − q) = s κ / (β (1 + s κ (1 − q))) at the minimiser.
    let (beta, kappa, t) = (0.5, 0.5, 0.4);
    let ch = GlmChannel {
        phi: Activation::Linear,
        kappa,
        offset_var: 0.0,
    };
    let (_, q) = ch.mi_per_d(t, beta);
    let ou = OuTime::new(t);
    let s = ou.decay * ou.decay / ou.delta;
    let rhs = s * kappa / (beta * (1.0 + s * kappa * (1.0 - q)));
    assert!(
        (q / (1.0 - q) - rhs).abs() < 1e-4 * rhs,
        "q = {q}: {} vs {rhs}",
        q / (1.0 - q)
    );
}

#[test]
fn linear_glm_equals_marchenko_pastur_and_a_random_matrix_logdet() {
    // Gaussian F, d = 4000, β = 0.25 (p = 1000): the finite-d log-det is within 1e-3 of the d → ∞ value.
    let s = spec(Activation::Linear, 0.25, 4000);
    let model = s.draw(11).unwrap();
    let nu = model.signal_spectrum().unwrap();
    let ch = GlmChannel {
        phi: Activation::Linear,
        kappa: s.kappa(),
        offset_var: 0.0,
    };
    for &t in &[0.1, 0.5, 1.5] {
        let mp = mi_linear_mp(t, s.beta, s.kappa());
        let logdet = mi_logdet(t, s.d, &nu);
        let (glm, _) = ch.mi_per_d(t, s.beta);
        assert!(
            (mp - logdet).abs() < 1e-3,
            "t = {t}: MP {mp} vs log-det {logdet}"
        );
        assert!((glm - mp).abs() < 1e-3, "t = {t}: GLM {glm} vs MP {mp}");
    }
}

#[test]
fn sign_glm_is_kappa_invariant_and_tc_solves_f_zero() {
    let mi = |kappa: f64| {
        GlmChannel {
            phi: Activation::Sign,
            kappa,
            offset_var: 0.0,
        }
        .mi_per_d(0.3, 0.5)
        .0
    };
    assert!(
        (mi(0.5) - mi(2.0)).abs() < 1e-5,
        "{} vs {}",
        mi(0.5),
        mi(2.0)
    );
    let s = spec(Activation::Tanh, 0.5, 100);
    let th = manifold_theory(&s, 0.1, false).unwrap();
    let tc = th.t_c_glm.unwrap();
    let ch = GlmChannel {
        phi: Activation::Tanh,
        kappa: 0.5,
        offset_var: 0.0,
    };
    let f = excess_entropy_from_mi(ch.mi_per_d(tc, 0.5).0, 0.1);
    assert!(f.abs() < 1e-4, "f(t_C)/α = {f}");
    // The linear closed form at β = 1 is Biroli's t_C.
    let lin = manifold_theory(&spec(Activation::Linear, 1.0, 100), 0.2, false).unwrap();
    assert!((lin.t_c_linear.unwrap() - 0.554816).abs() < 1e-6);
    assert!(
        manifold_theory(&spec(Activation::Tanh, 1.5, 100), 0.1, false)
            .unwrap_err()
            .to_string()
            .contains("beta")
    );
}

#[test]
fn generated_manifold_data_has_the_gaussian_equivalent_spike() {
    // Linear φ, orthonormal F: Cov(x) = κ/p F(I + μ̃μ̃ᵀ)Fᵀ, top eigenvalue κ d (‖μ̃‖² + 1/p)·… ≈ κ d ‖μ̃‖² + κ/β.
    // With d = 60, β = 0.5, κ = β: Λ ≈ 30 + 1 = 31; the estimate from n = 20000 has relative sd sqrt(2/n) ≈ 1 %.
    let s = ManifoldSpec {
        embedding: Embedding::Orthonormal,
        ..spec(Activation::Linear, 0.5, 60)
    };
    let model = s.draw(3).unwrap();
    let ds = model.sample(20_000, 4).unwrap();
    let top = ds.top_covariance_eigenvalue().unwrap();
    assert!((top / 31.0 - 1.0).abs() < 0.05, "Λ = {top}");
    // Same seed, same data, any thread count.
    let again = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| model.sample(2000, 4).unwrap().x);
    assert_eq!(again, model.sample(2000, 4).unwrap().x);
}

#[test]
fn total_variance_spike_follows_the_data_where_ge_at_kappa_does_not() {
    // tanh, β = 1, ‖μ̃‖² = 1, d = 400, n = 4000: the pre-activation has variance κ(1 + ‖μ̃‖²) = 2 over the
    // coordinates, and ϱ₁(2)² κ d ‖μ̃‖² ≈ 92 against ϱ₁(1)² κ d = 147. The data's top eigenvalue (a spike
    // far above the bulk, sampling error ≈ √(2/n) ≈ 2 % plus O(d/n) bias) lies within 8 % of the first and
    // 35 % below the second.
    let s = spec(Activation::Tanh, 1.0, 400);
    let th = manifold_theory(&s, 0.05, false).unwrap();
    let ds = s.draw(5).unwrap().sample(4000, 5).unwrap();
    let top = ds.top_covariance_eigenvalue().unwrap();
    assert!(
        (top / th.lambda_spike_total_var - 1.0).abs() < 0.08,
        "Λ_data {top} vs {}",
        th.lambda_spike_total_var
    );
    assert!(
        top < 0.75 * th.lambda_spike,
        "Λ_data {top} vs GE at κ {}",
        th.lambda_spike
    );
    // Linear φ: the two coincide (ϱ₁ = 1, ϱ*² = 0 at every variance).
    let lin = manifold_theory(&spec(Activation::Linear, 0.5, 100), 0.1, false).unwrap();
    assert!((lin.t_s_total_var - lin.t_s).abs() < 1e-12);
}

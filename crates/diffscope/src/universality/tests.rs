use super::*;
use crate::data::{Covariance, GaussianMixture};

fn toy(sep: f64, n: usize, seed: u64) -> Dataset {
    let means = vec![
        vec![sep, 0.0, 0.0],
        vec![-sep, 0.0, 0.0],
        vec![0.0, sep, 0.0],
    ];
    GaussianMixture::new(means, vec![1.0; 3], Covariance::Isotropic(vec![0.05; 3]))
        .unwrap()
        .sample(n, seed)
        .unwrap()
}

#[test]
fn ridge_solves_its_normal_equations() {
    // The gradient of ½|FW + 1bᵀ − Y|² + ½λ|W|² vanishes at the solution: Fᵀ(FW − Yc) + λW = 0.
    let data = toy(1.0, 300, 1);
    let lambda = 0.3;
    let m = ridge(&data, lambda).unwrap();
    let (n, d, k) = (data.n, data.d, 3);
    let l = data.labels.as_ref().unwrap();
    let f: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            data.row(i)
                .iter()
                .zip(&m.centre)
                .map(|(&v, &c)| (v as f64 - c) / m.scale)
                .collect()
        })
        .collect();
    for j in 0..d {
        for c in 0..k {
            let g: f64 = (0..n)
                .map(|i| {
                    f[i][j]
                        * ((0..d).map(|a| f[i][a] * m.w[(a, c)]).sum::<f64>()
                            - (f64::from(l[i] as usize == c) - m.b[c]))
                })
                .sum::<f64>()
                + lambda * m.w[(j, c)];
            assert!(g.abs() < 1e-9 * n as f64, "gradient[{j},{c}] = {g}");
        }
    }
}

#[test]
fn sgd_softmax_reaches_zero_error_on_a_separable_set() {
    // Well separated classes (distance 4σ·… ≫ noise): the optimum of both losses classifies perfectly,
    // as ridge (closed form) does.
    let (train, val, test) = (toy(2.0, 300, 1), toy(2.0, 90, 2), toy(2.0, 600, 3));
    assert_eq!(error_rate(&ridge(&train, 1e-3).unwrap(), &test), 0.0);
    for loss in [Loss::CrossEntropy, Loss::Square] {
        let m = train_softmax(&train, &val, loss, &SgdParams::default(), 5).unwrap();
        assert_eq!(error_rate(&m, &test), 0.0, "{loss:?}");
        let m = train_softmax_lbfgs(&train, &val, loss, &LbfgsParams::default()).unwrap();
        assert_eq!(error_rate(&m, &test), 0.0, "L-BFGS {loss:?}");
    }
}

#[test]
fn surrogate_recovers_moments_and_singular_draws_stay_in_the_span() {
    // Class 0: full-rank Gaussian; its surrogate samples have the fitted mean and covariance within
    // sampling error (n = 40 000: sd of a mean ≈ sqrt(λ/n) ≤ 0.01, of a variance ≈ λ sqrt(2/n) ≤ 0.015).
    let d = 4;
    let base = GaussianMixture::new(
        vec![vec![1.0, -2.0, 0.5, 0.0]],
        vec![1.0],
        Covariance::Diagonal(vec![vec![2.0, 1.0, 0.5, 0.25]]),
    )
    .unwrap();
    let data = base.sample(5000, 1).unwrap();
    let s = Surrogate::fit(&data).unwrap();
    let draws = s.sample(&[40_000], 9).unwrap();
    let (m_fit, c_fit) = crate::linalg::mean_cov(&data.x, data.n, d, faer::Par::Seq).unwrap();
    let (m_s, c_s) = crate::linalg::mean_cov(&draws.x, draws.n, d, faer::Par::Seq).unwrap();
    for i in 0..d {
        assert!((m_fit[i] - m_s[i]).abs() < 0.05, "mean {i}");
        for j in 0..d {
            assert!(
                (c_fit[(i, j)] - c_s[(i, j)]).abs() < 0.08,
                "cov {i},{j}: {} vs {}",
                c_fit[(i, j)],
                c_s[(i, j)]
            );
        }
    }
    // A class with 3 samples in d = 4 has rank 2: draws stay in mean + span of the two deviations.
    let x = vec![
        0.0f32, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0,
    ];
    let small = Dataset::new(x, 3, 4, "toy")
        .unwrap()
        .with_labels(vec![0, 0, 0], vec!["a".into()])
        .unwrap();
    let s = Surrogate::fit(&small).unwrap();
    assert_eq!(s.info()[0].rank, 2);
    let draws = s.sample(&[200], 3).unwrap();
    for r in draws.x.chunks(4) {
        assert!(r[2].abs() < 1e-5 && r[3].abs() < 1e-5, "{r:?}");
    }
}

#[test]
fn lbfgs_is_deterministic_and_matches_the_ridge_error_on_overlapping_classes() {
    // On overlapping classes the regularised CE optimum is finite and unique (strictly convex). Two runs
    // give identical weights, and the test error is within 5 points of the closed-form ridge classifier
    // (both are near-Bayes linear rules for these isotropic classes; 2000 test points: sd ≈ 1 point).
    let (train, val, test) = (toy(0.3, 600, 1), toy(0.3, 200, 2), toy(0.3, 2000, 3));
    let p = LbfgsParams {
        iterations: 300,
        history: 10,
        weight_decay: 1e-2,
    };
    let a = train_softmax_lbfgs(&train, &val, Loss::CrossEntropy, &p).unwrap();
    let b = train_softmax_lbfgs(&train, &val, Loss::CrossEntropy, &p).unwrap();
    assert_eq!(a.w, b.w);
    let r = ridge(&train, 1e-2).unwrap();
    let (ea, er) = (error_rate(&a, &test), error_rate(&r, &test));
    assert!((ea - er).abs() < 0.05, "L-BFGS {ea} vs ridge {er}");
}

/// Data that *is* a per-class Gaussian whose covariance matters: d = 6, means ±1.5·e₁, Σ = I + 0.9(e₁e₂ᵀ +
/// e₂e₁ᵀ). The best linear rule is Σ⁻¹Δμ (Mahalanobis separation 6.9, Bayes error Φ(−3.4) ≈ 3e-4), far
/// from Δμ alone (error Φ(−1.5) ≈ 0.067). The fitted surrogate is the same law, so classifiers trained on
/// it do as well on the real test set as those trained on real data: the CIs overlap and the mean errors
/// differ by < 0.02 at every n (8 seeds; the errors are ≲ 0.02 themselves). A surrogate with a wrong
/// covariance (its off-diagonal dropped, say) trains rules near Δμ and errs ≈ 0.067 on real data: the
/// difference exceeds 0.02 and the CIs separate.
#[test]
fn surrogate_with_the_data_covariance_matches_the_data_and_the_verdict_needs_it() {
    let d = 6;
    let mut cov = Mat::<f64>::identity(d, d);
    cov[(0, 1)] = 0.9;
    cov[(1, 0)] = 0.9;
    let mut a = vec![0.0; d];
    a[0] = 1.5;
    let b: Vec<f64> = a.iter().map(|v| -v).collect();
    let data = GaussianMixture::new(
        vec![a, b],
        vec![0.5, 0.5],
        Covariance::Full(vec![cov.clone(), cov]),
    )
    .unwrap()
    .sample(1200, 4)
    .unwrap();
    let p = UniversalityParams {
        ns: vec![20, 80],
        seeds: 8,
        bootstrap: 400,
        ..UniversalityParams::default()
    };
    let r = universality(&data, &p, 3, &crate::progress::Silent).unwrap();
    for i in 0..r.ns.len() {
        let (ed, es) = (r.err_data[i], r.err_surrogate[i]);
        assert!(
            (ed - es).abs() < 0.02 && ed < 0.04,
            "n = {}: data {ed}, surrogate {es}",
            r.ns[i]
        );
    }
    assert!(r.agree, "{:?} vs {:?}", r.ci_data, r.ci_surrogate);
}

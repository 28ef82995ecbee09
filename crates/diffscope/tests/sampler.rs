//! Samplers: moments of generated data against the model, and reproducibility.

use diffscope::data::TwoClassGmm;
use diffscope::progress::Silent;
use diffscope::sampler::{self, EdmChurn, NoObserver, NoiseKey, SamplerKind, TimeGrid};
use diffscope::score::{EmpiricalScore, GmmScore, Precision};
use faer::Par;

fn sample_with(
    kind: SamplerKind,
    score: &dyn diffscope::score::Score,
    b: usize,
    grid: &TimeGrid,
    seed: u64,
) -> Vec<f32> {
    sampler::sample_from_noise(
        kind,
        sampler::FinalStep::None,
        score,
        b,
        grid,
        seed,
        &mut NoObserver,
        &Silent,
        Par::rayon(0),
    )
    .unwrap()
}

/// With the exact GMM score, EM from T = 8 to t_min = 0.01 reproduces the mixture's law at t_min:
/// mean 0 and covariance e^{-2t}(σ²I + mmᵀ) + Δ_t I. We check the projection on m̂ (variance
/// e^{-2t}(σ² + dμ̃²) + Δ) and the mean orthogonal variance (σ²e^{-2t} + Δ = 1 for σ = 1).
/// Tolerances: B = 4000 samples give a relative sd of sqrt(2/B) ≈ 2.2 % on a variance and the EM
/// discretisation bias at 400 steps is O(dt) ≈ 2 %; we allow 10 %.
#[test]
fn em_and_heun_with_the_exact_gmm_score_reproduce_the_model_moments() {
    let d = 8;
    let model = TwoClassGmm {
        d,
        mu_tilde: 1.0,
        sigma: 1.0,
        direction: Default::default(),
    };
    let gmm = model.mixture(0).unwrap();
    let score = GmmScore::new(gmm);
    let grid = TimeGrid::uniform(8.0, 0.01, 400).unwrap();
    let t = 0.01f64;
    let (decay2, delta) = ((-2.0 * t).exp(), 1.0 - (-2.0 * t).exp());
    let m_hat: Vec<f64> = vec![1.0 / (d as f64).sqrt(); d];
    // EDM's stochastic sampler with churn (γ = 40/400 = 0.1 per step for σ in [0.05, 50], s_noise 1 so the
    // added noise is exactly the variance the churn removes): the same law.
    let edm = SamplerKind::Edm(EdmChurn {
        churn: 40.0,
        s_tmin: 0.05,
        s_tmax: Some(50.0),
        s_noise: 1.0,
    });
    for kind in [SamplerKind::EulerMaruyama, SamplerKind::OdeHeun, edm] {
        let b = 4000;
        let x = sample_with(kind, &score, b, &grid, 11);
        let proj: Vec<f64> = x
            .chunks(d)
            .map(|r| r.iter().zip(&m_hat).map(|(&a, &m)| a as f64 * m).sum())
            .collect();
        let mean_p = proj.iter().sum::<f64>() / b as f64;
        let var_p = proj.iter().map(|p| (p - mean_p).powi(2)).sum::<f64>() / (b as f64 - 1.0);
        let want_p = decay2 * (1.0 + d as f64) + delta;
        assert!(
            (var_p / want_p - 1.0).abs() < 0.1,
            "{kind:?}: variance along m {var_p} vs {want_p}"
        );
        // Bimodality: the mean of |projection| is e^{-t}|m| to within the spread.
        let abs_mean = proj.iter().map(|p| p.abs()).sum::<f64>() / b as f64;
        assert!(
            (abs_mean / (d as f64).sqrt() - 1.0).abs() < 0.1,
            "{kind:?}: mean |x·m̂| = {abs_mean}"
        );
        // Total variance minus the m direction: (d − 1)(σ² e^{-2t} + Δ).
        let tot: f64 = (0..d)
            .map(|j| {
                let col: Vec<f64> = x.chunks(d).map(|r| r[j] as f64).collect();
                let m = col.iter().sum::<f64>() / b as f64;
                col.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (b as f64 - 1.0)
            })
            .sum();
        let orth = tot - var_p;
        let want_orth = (d as f64 - 1.0) * (decay2 + delta);
        assert!(
            (orth / want_orth - 1.0).abs() < 0.1,
            "{kind:?}: orthogonal variance {orth} vs {want_orth}"
        );
    }
}

#[test]
fn samples_are_bit_identical_for_one_and_two_threads_and_any_batch_split() {
    let d = 10;
    let data = TwoClassGmm::standard(d)
        .mixture(0)
        .unwrap()
        .sample(1000, 1)
        .unwrap();
    let score = EmpiricalScore::new(&data, Precision::F32).unwrap();
    let grid = TimeGrid::uniform(4.0, 0.05, 30).unwrap();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| sample_with(SamplerKind::EulerMaruyama, &score, 256, &grid, 3))
    };
    let whole = run(1);
    assert_eq!(whole, run(2));
    // Two halves with the right global indices give the same trajectories (each query's score does not
    // depend on which other queries share its block).
    let half = |first: u64| {
        let key = NoiseKey { seed: 3, first };
        let mut x = sampler::initial_noise(128, d, key);
        sampler::euler_maruyama(
            &score,
            &mut x,
            &grid,
            key,
            &mut NoObserver,
            &Silent,
            Par::Seq,
        )
        .unwrap();
        x
    };
    let mut split = half(0);
    split.extend(half(128));
    assert_eq!(whole, split);
}

/// Tweedie's step on the exact empirical score of one training point is exact: the posterior mean given
/// any x_t is the point itself, so every denoised end point equals it (to f32 rounding of e^{t}(x + Δ S)).
#[test]
fn denoising_with_a_single_training_point_returns_it() {
    let a = vec![0.5f32, -1.25, 2.0];
    let ds = diffscope::data::Dataset::new(a.clone(), 1, 3, "one").unwrap();
    let score = EmpiricalScore::new(&ds, Precision::F32).unwrap();
    let grid = TimeGrid::new(sampler::Spacing::Uniform, 3.0, 0.05, 30).unwrap();
    let x = sampler::sample_from_noise(
        SamplerKind::EulerMaruyama,
        sampler::FinalStep::Denoise,
        &score,
        16,
        &grid,
        4,
        &mut NoObserver,
        &Silent,
        Par::Seq,
    )
    .unwrap();
    for row in x.chunks(3) {
        for (v, w) in row.iter().zip(&a) {
            // |x| ≲ 5, e^{t} ≈ 1.05: f32 rounding of the two products and the sum stays below 1e-5.
            assert!((v - w).abs() < 1e-5, "{row:?} vs {a:?}");
        }
    }
}

/// The exact score of Gaussian data N(0, σ² I) in OU time: S(x, t) = −x / v(t), v(t) = σ² e^{-2t} + Δ_t.
/// Its samplers are linear maps, so every end law is known in closed form.
struct GaussianScore {
    d: usize,
    s2: f64,
}

impl GaussianScore {
    fn v(&self, t: f64) -> f64 {
        self.s2 * (-2.0 * t).exp() + 1.0 - (-2.0 * t).exp()
    }
}

impl diffscope::score::Score for GaussianScore {
    fn dim(&self) -> usize {
        self.d
    }
    fn eval_into(
        &self,
        x: &[f32],
        t: f64,
        out: &mut [f32],
        _: diffscope::score::Extras<'_>,
        _: Par,
    ) {
        let v = self.v(t);
        out.iter_mut()
            .zip(x)
            .for_each(|(o, &xv)| *o = (-(xv as f64) / v) as f32);
    }
    fn describe(&self) -> String {
        format!("N(0, {} I)", self.s2)
    }
}

/// Order of convergence: the least-squares slope of log |error| against log h.
fn slope(steps: &[usize], errors: &[f64]) -> f64 {
    let pts: Vec<(f64, f64)> = steps
        .iter()
        .zip(errors)
        .map(|(&k, &e)| ((1.0 / k as f64).ln(), e.abs().ln()))
        .collect();
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    sxy / sxx
}

const T_MAX: f64 = 3.0;
const T_MIN: f64 = 0.05;
const STEPS: [usize; 4] = [16, 32, 64, 128];

/// The probability-flow ODE samplers on Gaussian data (σ² = 1/4) from x_T ~ N(0, I): the exact flow maps
/// x_T to G·x_T with G = sqrt(v(t_min)/v(T)), and each scheme to g_h·x_T with g_h a product over the grid
/// (Euler: Π (1 + h f(t_k)); Heun: Π (1 + h/2 (f(t_k) + f(t_{k+1})(1 + h f(t_k)))), f = 1 − 1/v), computed
/// here in f64 from the schemes' definitions (k-diffusion's). Checked: (1) each run's gain equals the
/// scheme's g_h to f32 rounding (relative 2e-5: ≤ 128 steps of a few f32 roundings, ~6e-8 each), which
/// catches a wrong time index or a dropped term at any step size; (2) the order: the slope of the runs'
/// log |g_h − G| over h = (T − t_min)/K, K = 16 … 128, is 1 for Euler and 2 for Heun (the schemes' f64
/// values give 1.04 and 2.01; ±0.15 leaves room for f32, and a first-order "Heun" has slope 1).
///
/// EDM's sampler without churn is Heun in y = e^t x over σ = sqrt(e^{2t} − 1): with S = −x/v its direction
/// is d = c(t) y, c = sqrt(Δ_t) e^{-t}/v(t), each step multiplies y by 1 + h/2 (c(t) + c(t')(1 + h c(t))),
/// h = σ' − σ, and x's gain is e^{T − t_min} times their product. It is a different scheme from the
/// (x, t) Heun on the same ODE, of the same order 2.
#[test]
fn ode_samplers_converge_at_their_order_to_the_exact_gaussian_flow() {
    use diffscope::score::convention::sigma_from_t;
    let sc = GaussianScore { d: 4, s2: 0.25 };
    let exact = (sc.v(T_MIN) / sc.v(T_MAX)).sqrt();
    let f = |t: f64| 1.0 - 1.0 / sc.v(t);
    let c = |t: f64| (1.0 - (-2.0 * t).exp()).sqrt() * (-t).exp() / sc.v(t);
    let edm = SamplerKind::Edm(EdmChurn::default());
    for (kind, order) in [
        (SamplerKind::OdeEuler, 1.0),
        (SamplerKind::OdeHeun, 2.0),
        (edm, 2.0),
    ] {
        let mut errors = Vec::new();
        for &k in &STEPS {
            let grid = TimeGrid::uniform(T_MAX, T_MIN, k).unwrap();
            let scheme: f64 = grid
                .steps()
                .map(|(t, tn)| {
                    let h = t - tn;
                    match kind {
                        SamplerKind::OdeEuler => 1.0 + h * f(t),
                        SamplerKind::Edm(_) => {
                            let h = sigma_from_t(tn) - sigma_from_t(t);
                            (1.0 + 0.5 * h * (c(t) + c(tn) * (1.0 + h * c(t)))) * (t - tn).exp()
                        }
                        _ => 1.0 + 0.5 * h * (f(t) + f(tn) * (1.0 + h * f(t))),
                    }
                })
                .product();
            let x0 = sampler::initial_noise(8, sc.d, NoiseKey { seed: 5, first: 0 });
            let x = sample_with(kind, &sc, 8, &grid, 5);
            let gains: Vec<f64> = x
                .iter()
                .zip(&x0)
                .map(|(a, b)| *a as f64 / *b as f64)
                .collect();
            for gain in &gains {
                assert!(
                    (gain / scheme - 1.0).abs() < 2e-5,
                    "{kind:?}, K = {k}: gain {gain} vs the scheme's {scheme}"
                );
            }
            errors.push(gains.iter().sum::<f64>() / gains.len() as f64 - exact);
        }
        let p = slope(&STEPS, &errors);
        eprintln!("{kind:?}: errors {errors:?}, order {p:.3}");
        assert!(
            (p - order).abs() < 0.15,
            "{kind:?}: order {p} (want {order})"
        );
    }
}

/// Euler–Maruyama on Gaussian data (σ² = 1/4) from x_T ~ N(0, I): the exact reverse SDE ends with variance
/// V = v(t_min) + (1 − v(T)) e^{−2(T − t_min)} (v(t_min)/v(T))² (the deviation from v solves a linear ODE),
/// the scheme with V_K from V ← a_k² V + 2h, a_k = 1 + h(1 − 2/v(t_k)). Checked: (1) the sample variance
/// over B·d = 4·10⁵ end coordinates equals V_K within 4 standard errors (V_K·sqrt(2/(B·d)) ≈ 0.22 %·V_K),
/// which a score taken at t_{k+1} or a missing factor 2 misses by 10–60 %; (2) weak order 1: the slope of
/// the runs' log |var − V| over K = 16 … 128 (the scheme's f64 values give 1.10; the sampling error,
/// ≤ 3 % of the smallest |V_K − V|, moves it by < 0.03) lies within ±0.2 of 1.
#[test]
fn euler_maruyama_has_weak_order_one_on_gaussian_data() {
    let sc = GaussianScore { d: 100, s2: 0.25 };
    let (vt, v0) = (sc.v(T_MAX), sc.v(T_MIN));
    let exact = v0 + (1.0 - vt) * (-2.0 * (T_MAX - T_MIN)).exp() * (v0 / vt).powi(2);
    let b = 4000;
    let mut errors = Vec::new();
    for &k in &STEPS {
        let grid = TimeGrid::uniform(T_MAX, T_MIN, k).unwrap();
        let scheme = grid.steps().fold(1.0f64, |v, (t, tn)| {
            let h = t - tn;
            let a = 1.0 + h * (1.0 - 2.0 / sc.v(t));
            a * a * v + 2.0 * h
        });
        let x = sample_with(SamplerKind::EulerMaruyama, &sc, b, &grid, 9);
        let m = (b * sc.d) as f64;
        let var = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / m;
        let se = scheme * (2.0 / m).sqrt();
        assert!(
            (var - scheme).abs() < 4.0 * se,
            "K = {k}: sample variance {var} vs the scheme's {scheme} (se {se})"
        );
        errors.push(var - exact);
    }
    let p = slope(&STEPS, &errors);
    eprintln!("EM: weak errors {errors:?}, order {p:.3}");
    assert!((p - 1.0).abs() < 0.2, "EM weak order {p}");
}

/// EDM's sampler adds churn only where σ ∈ [s_tmin, s_tmax]: with the window above the grid's largest σ
/// it gives the bits of the deterministic sampler (S_churn = 0), and with churn it differs, is seeded
/// (the same bits twice) and independent of the batch split (noise keyed by the global trajectory).
#[test]
fn edm_churn_is_gated_by_its_window_and_keyed_by_trajectory() {
    let sc = GaussianScore { d: 6, s2: 0.25 };
    let grid = TimeGrid::edm(4.0, 0.02, 24, 7.0).unwrap();
    let plain = sample_with(SamplerKind::Edm(EdmChurn::default()), &sc, 32, &grid, 9);
    let outside = EdmChurn {
        churn: 30.0,
        s_tmin: 1e4,
        s_tmax: Some(2e4),
        s_noise: 1.0,
    };
    assert_eq!(
        plain,
        sample_with(SamplerKind::Edm(outside), &sc, 32, &grid, 9)
    );
    let churned = SamplerKind::Edm(EdmChurn {
        churn: 30.0,
        s_tmin: 0.05,
        s_tmax: Some(50.0),
        s_noise: 1.003,
    });
    let a = sample_with(churned, &sc, 32, &grid, 9);
    assert_ne!(a, plain);
    assert_eq!(a, sample_with(churned, &sc, 32, &grid, 9));
    let key = NoiseKey { seed: 9, first: 16 };
    let mut tail = sampler::initial_noise(16, sc.d, key);
    sampler::sample(
        churned,
        &sc,
        &mut tail,
        &grid,
        key,
        &mut NoObserver,
        &Silent,
        Par::Seq,
    )
    .unwrap();
    assert_eq!(&a[16 * sc.d..], &tail[..]);
}

/// Every sampler name means the same sampler through `SamplerKind::from_name` (the CLI's `--sampler`,
/// Python's `sampler=`) and through a config file (serde); an unknown name and churn given without "edm"
/// are refused, each naming its field.
#[test]
fn sampler_names_mean_the_same_in_every_door() {
    for (name, kind) in SamplerKind::NAMES {
        assert_eq!(SamplerKind::from_name(name, None).unwrap(), kind, "{name}");
        if !matches!(kind, SamplerKind::Edm(_)) {
            let from_config: SamplerKind = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(from_config, kind, "{name} in a config");
        }
    }
    assert_eq!(
        SamplerKind::from_name("edm", None).unwrap(),
        SamplerKind::Edm(EdmChurn::default())
    );
    let churn = EdmChurn {
        churn: 40.0,
        ..EdmChurn::default()
    };
    assert_eq!(
        SamplerKind::from_name("edm", Some(churn)).unwrap(),
        SamplerKind::Edm(churn)
    );
    let e = SamplerKind::from_name("ode-heun", Some(churn))
        .unwrap_err()
        .to_string();
    assert!(e.contains("churn") && e.contains("edm"), "{e}");
    let e = SamplerKind::from_name("rk4", None).unwrap_err().to_string();
    assert!(
        e.contains("sampler") && e.contains("rk4") && e.contains("ode-heun"),
        "{e}"
    );
}

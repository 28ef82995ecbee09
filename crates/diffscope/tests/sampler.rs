//! Samplers: moments of generated data against the model, and reproducibility.

use diffscope::data::TwoClassGmm;
use diffscope::progress::Silent;
use diffscope::sampler::{self, NoObserver, NoiseKey, SamplerKind, TimeGrid};
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
    for kind in [SamplerKind::EulerMaruyama, SamplerKind::OdeHeun] {
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

//! Scores against independent oracles: an f64 reference, closed forms, finite differences, limits.

use diffscope::data::{Covariance, GaussianMixture, TwoClassGmm};
use diffscope::score::{EmpiricalScore, Extras, GmmScore, Nearest, OuTime, Precision, Score};
use faer::Par;

mod common;

/// The queries of these tests (stream key 99).
fn forward_queries(data: &[f32], d: usize, b: usize, t: f64, seed: u64) -> Vec<f32> {
    common::forward_queries(data, d, b, t, seed, 99)
}

fn max_rel_row_error(a: &[f32], b: &[f32], d: usize) -> f64 {
    a.chunks(d)
        .zip(b.chunks(d))
        .map(|(x, y)| {
            let num: f64 = x
                .iter()
                .zip(y)
                .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            let den: f64 = y.iter().map(|&q| (q as f64).powi(2)).sum::<f64>().sqrt();
            num / den
        })
        .fold(0.0, f64::max)
}

#[test]
fn f32_kernel_matches_f64_reference_across_t() {
    // Two-class GMM, d = 100, N = 5000 (5 tiles of 1008, the last with padding points), B = 300 (a partial
    // 16-query strip).
    check_f32_against_f64(100, 5000, 300, &[0.01, 0.05, 0.2, 0.5, 1.0, 2.0, 3.0, 6.0]);
}

/// A training set of several segments (N = 20 000 at d = 100: 20 tiles in 3 segments of 7, 7 and 6, the
/// last padded), whose flash states are folded across segments, at B = 16 (one block, its segments run
/// in parallel) and B = 200 (blocks in parallel, segments in turn within each): the same bounds as one
/// segment, at every t (at small t a segment's first tiles turn sparse).
#[test]
fn f32_kernel_matches_f64_reference_over_several_segments() {
    check_f32_against_f64(100, 20_000, 16, &[0.01, 0.05, 0.2, 1.0, 6.0]);
    check_f32_against_f64(100, 20_000, 200, &[0.01, 1.0]);
}

/// The image-dimension tile sizes on the default kernel (the widest instruction set here): d = 784 (tiles
/// of 162 points = 27 blocks, so the AVX-512 path's last block of each tile runs alone; N = 5000 gives 30
/// whole tiles and a partial one with padding) and d = 64 (tiles of 1008), at B = 40 (3 strips, the last
/// partial, one block each).
#[test]
fn f32_kernel_matches_f64_reference_at_image_dimensions() {
    check_f32_against_f64(784, 5000, 40, &[0.01, 0.05, 0.2, 1.0, 6.0]);
    check_f32_against_f64(64, 5000, 40, &[0.01, 0.05, 0.2, 1.0, 6.0]);
}

fn check_f32_against_f64(d: usize, n: usize, b: usize, ts: &[f64]) {
    let data = TwoClassGmm::standard(d)
        .mixture(0)
        .unwrap()
        .sample(n, 1)
        .unwrap();
    let fast = EmpiricalScore::new(&data, Precision::F32).unwrap();
    let exact = EmpiricalScore::new(&data, Precision::F64).unwrap();
    let mut worst = 0.0f64;
    for (i, &t) in ts.iter().enumerate() {
        let x = forward_queries(&data.x, d, b, t, i as u64);
        let (mut s32, mut s64) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        let (mut lp32, mut lp64) = (vec![0.0; b], vec![0.0; b]);
        let (mut nn32, mut nn64) = (vec![Nearest::default(); b], vec![Nearest::default(); b]);
        fast.eval_into(
            &x,
            t,
            &mut s32,
            Extras {
                log_p: Some(&mut lp32),
                nearest: Some(&mut nn32),
                posterior: None,
            },
            Par::rayon(0),
        );
        exact.eval_into(
            &x,
            t,
            &mut s64,
            Extras {
                log_p: Some(&mut lp64),
                nearest: Some(&mut nn64),
                posterior: None,
            },
            Par::rayon(0),
        );
        let err = max_rel_row_error(&s32, &s64, d);
        worst = worst.max(err);
        // Relative error ≤ 1e-5 per query (row norm); measured worst ≈ 1e-6 (see the assertion message).
        assert!(err <= 1e-5, "d = {d}, t = {t}: max relative error {err:e}");
        for q in 0..b {
            // log p in f64 from f32 logits: the logit of magnitude L carries ~L·6e-8 absolute error.
            assert!(
                (lp32[q] - lp64[q]).abs() <= 1e-4 * (1.0 + lp64[q].abs()),
                "t = {t}: log p {} vs {}",
                lp32[q],
                lp64[q]
            );
            // The top-2 by f32 logits, their distances recomputed exactly in f64 from the original
            // coordinates: the same indices, and d1, d2 equal to the f64 path's up to the rounding of two
            // f32 results (2^-23 ≈ 1.2e-7 relative each; 1e-6 leaves room for the centring round trip).
            assert_eq!(
                (nn32[q].index, nn32[q].second),
                (nn64[q].index, nn64[q].second),
                "t = {t}, query {q}: nearest and second indices"
            );
            for (a, b, what) in [
                (nn32[q].d1, nn64[q].d1, "d1"),
                (nn32[q].d2, nn64[q].d2, "d2"),
            ] {
                assert!(
                    (a - b).abs() <= 1e-6 * b,
                    "t = {t}, query {q}: {what} {a} vs {b}"
                );
            }
        }
    }
    eprintln!("d = {d}: measured max relative error of the f32 kernel vs f64: {worst:e}");
}

#[test]
fn single_training_point_gives_the_gaussian_score() {
    // S = −(x − e^{-t} a)/Δ_t exactly (the softmax has one entry).
    let d = 7;
    let a: Vec<f32> = (0..d).map(|j| j as f32 - 3.0).collect();
    let score = EmpiricalScore::from_rows(&a, 1, d, Precision::F32).unwrap();
    for &t in &[0.01, 0.3, 2.0] {
        let x: Vec<f32> = (0..3 * d).map(|k| (k as f32 * 0.37).sin()).collect();
        let s = score.eval(&x, t, Par::Seq);
        let ou = OuTime::new(t);
        for k in 0..3 * d {
            let want = -(x[k] as f64 - ou.decay * a[k % d] as f64) / ou.delta;
            // f32 output: 2 ulp relative, plus the centring round trip.
            assert!(
                (s[k] as f64 - want).abs() <= 1e-6 * want.abs().max(1.0 / ou.delta),
                "t = {t}: {} vs {want}",
                s[k]
            );
        }
    }
}

#[test]
fn gmm_score_is_the_gradient_of_its_log_density() {
    // General path (full covariances, K = 3) and the tanh closed form, each against central differences of
    // its own f64 log p_t. Step h = 1e-4: truncation O(h²·|∂³ log p|) ~ 1e-8, rounding ~ 1e-16/h ~ 1e-12.
    let d = 4;
    let mut c = faer::Mat::<f64>::identity(d, d);
    c[(0, 1)] = 0.3;
    c[(1, 0)] = 0.3;
    c[(2, 2)] = 2.5;
    let gm = GaussianMixture::new(
        vec![
            vec![1.0, 0.0, -1.0, 2.0],
            vec![-1.0, 1.0, 0.0, 0.0],
            vec![0.0, -2.0, 1.0, 1.0],
        ],
        vec![0.2, 0.5, 0.3],
        Covariance::Full(vec![c.clone(), faer::Mat::identity(d, d), c]),
    )
    .unwrap();
    let two = TwoClassGmm {
        d,
        mu_tilde: 0.8,
        sigma: 0.6,
        direction: Default::default(),
    }
    .mixture(0)
    .unwrap();
    for gmm in [gm, two] {
        let score = GmmScore::new(gmm);
        for &t in &[0.05, 0.5, 2.0] {
            let ou = OuTime::new(t);
            let x = vec![0.3, -0.7, 1.1, 0.2];
            let mut s = vec![0.0; d];
            score.eval_f64(&x, ou, &mut s);
            let h = 1e-4;
            for j in 0..d {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[j] += h;
                xm[j] -= h;
                let mut tmp = vec![0.0; d];
                let fd = (score.eval_f64(&xp, ou, &mut tmp) - score.eval_f64(&xm, ou, &mut tmp))
                    / (2.0 * h);
                assert!(
                    (fd - s[j]).abs() < 1e-6 * (1.0 + s[j].abs()),
                    "t = {t}, j = {j}: fd {fd} vs {}",
                    s[j]
                );
            }
        }
    }
}

#[test]
fn tanh_closed_form_equals_general_mixture_path() {
    let d = 6;
    let gmm = TwoClassGmm {
        d,
        mu_tilde: 1.3,
        sigma: 0.7,
        direction: diffscope::data::Direction::Random,
    }
    .mixture(5)
    .unwrap();
    let score = GmmScore::new(gmm.clone());
    let m = gmm.means()[1].clone();
    for &t in &[0.01, 0.4, 3.0] {
        let ou = OuTime::new(t);
        let x: Vec<f64> = (0..d).map(|j| (j as f64 * 1.7).cos() * 2.0).collect();
        let (mut a, mut b) = (vec![0.0; d], vec![0.0; d]);
        let la = GmmScore::two_class_tanh(&m, 0.49, &x, ou, &mut a);
        let lb = score.general(&x, ou, &mut b);
        assert!((la - lb).abs() < 1e-10 * (1.0 + lb.abs()));
        for j in 0..d {
            assert!((a[j] - b[j]).abs() < 1e-10 * (1.0 + b[j].abs()));
        }
    }
}

#[test]
fn empirical_score_of_many_gmm_points_approaches_the_population_score_at_large_t() {
    // With N points the weights are ≈ uniform at large t, so S_emp − S_pop ≈ e^{-t}(ā − E a)/Δ_t: a sampling
    // error of norm ≈ e^{-t} sqrt(tr Cov / N)/Δ_t = 0.050 · sqrt(20/20000) = 1.6e-3 at d = 10 (tr Cov = dσ² +
    // |m|² = 20), N = 20000, t = 3, against |S| ≈ sqrt(d) = 3.2: relative ≈ 5e-4 (measured 7.5e-4, the weights'
    // first-order non-uniformity included). 2e-3 is 4× the prediction; a score off by one training point's
    // weight or a wrong e^{-t} factor is off by ≳ 1e-2. At t = 0.05 the empirical score sees single points.
    let d = 10;
    let gmm = TwoClassGmm::standard(d).mixture(0).unwrap();
    let data = gmm.sample(20_000, 3).unwrap();
    let emp = EmpiricalScore::new(&data, Precision::F32).unwrap();
    let pop = GmmScore::new(gmm.clone());
    let fresh = gmm.sample(200, 77).unwrap();
    let err_at = |t: f64| {
        let x = forward_queries(&fresh.x, d, 200, t, 5);
        max_rel_row_error(
            &emp.eval(&x, t, Par::rayon(0)),
            &pop.eval(&x, t, Par::rayon(0)),
            d,
        )
    };
    let (e_small, e_mid, e_large) = (err_at(0.05), err_at(1.0), err_at(3.0));
    assert!(e_large < 2e-3, "relative error at t = 3: {e_large:e}");
    assert!(
        e_large < e_mid && e_mid < e_small,
        "errors should fall with t: {e_small:e}, {e_mid:e}, {e_large:e}"
    );
}

#[test]
fn empirical_score_is_bit_identical_for_any_thread_count_and_block_size() {
    let d = 20;
    let data = TwoClassGmm::standard(d)
        .mixture(0)
        .unwrap()
        .sample(3000, 1)
        .unwrap();
    let score = EmpiricalScore::new(&data, Precision::F32).unwrap();
    // B = 700 (44 strips) and B = 40 (3 strips): the blocks, sized from the thread count, differ between
    // 1, 2 and 3 threads and the sequential path; the results must not.
    for b in [700usize, 40] {
        let x = forward_queries(&data.x, d, b, 0.7, 2);
        check_thread_independence(&score, &x, b);
    }
}

/// Over a training set of several segments (N = 40 000 at d = 20: 40 tiles in 5 segments of 8), the
/// segments of a small batch run in parallel (in waves sized from the thread count) and those of a large
/// one in turn inside each block; every way folds them in segment order, so 1, 2 and 3 threads, the
/// sequential path, and a query evaluated alone or inside a batch of 700 give the same bits, at a t where
/// the segments' first tiles are sparse and one where every tile is dense.
#[test]
fn segmented_training_sets_give_the_same_bits_for_any_threads_and_batch() {
    let d = 20;
    let data = TwoClassGmm::standard(d)
        .mixture(0)
        .unwrap()
        .sample(40_000, 1)
        .unwrap();
    let score = EmpiricalScore::new(&data, Precision::F32).unwrap();
    for b in [700usize, 40, 5] {
        let x = forward_queries(&data.x, d, b, 0.7, 3);
        check_thread_independence(&score, &x, b);
    }
    for t in [0.02, 2.0] {
        let x = forward_queries(&data.x, d, 700, t, 4);
        let mut all = vec![0.0f32; x.len()];
        score.eval_into(&x, t, &mut all, Extras::default(), Par::rayon(0));
        for q in [0usize, 17, 699] {
            let mut one = vec![0.0f32; d];
            let xq = &x[q * d..(q + 1) * d];
            score.eval_into(xq, t, &mut one, Extras::default(), Par::rayon(0));
            assert_eq!(one, all[q * d..(q + 1) * d], "t = {t}, query {q}");
        }
    }
}

fn check_thread_independence(score: &EmpiricalScore, x: &[f32], b: usize) {
    let eval = |par: Par| {
        let mut s = vec![0.0; x.len()];
        let mut nn = vec![Nearest::default(); b];
        score.eval_into(
            x,
            0.7,
            &mut s,
            Extras {
                log_p: None,
                nearest: Some(&mut nn),
                posterior: None,
            },
            par,
        );
        (s, nn)
    };
    let seq = eval(Par::Seq);
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| eval(Par::rayon(0)))
    };
    assert_eq!(run(1), seq);
    assert_eq!(run(2), seq);
    assert_eq!(run(3), seq);
}

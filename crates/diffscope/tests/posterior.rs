//! The posterior statistics of the exact score (entropy and effective number of the softmax weights)
//! against a brute-force f64 oracle and their known limits.

use diffscope::data::TwoClassGmm;
use diffscope::score::{EmpiricalScore, Extras, OuTime, Posterior, Precision, Score};
use faer::Par;

mod common;

/// Brute force in f64, written independently of the library: logits ℓ_μ = −|x − e^{-t} a_μ|²/2Δ, weights
/// by log-sum-exp, H = −Σ w ln w, N_eff = 1/Σ w².
fn oracle(a: &[f32], d: usize, x: &[f32], t: f64) -> Posterior {
    let ou = OuTime::new(t);
    let logits: Vec<f64> = a
        .chunks(d)
        .map(|ai| {
            -ai.iter()
                .zip(x)
                .map(|(&av, &xv)| (xv as f64 - ou.decay * av as f64).powi(2))
                .sum::<f64>()
                / (2.0 * ou.delta)
        })
        .collect();
    let m = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
    let w: Vec<f64> = logits.iter().map(|l| (l - m).exp() / z).collect();
    Posterior {
        entropy: -w
            .iter()
            .filter(|&&v| v > 0.0)
            .map(|v| v * v.ln())
            .sum::<f64>(),
        effective_n: 1.0 / w.iter().map(|v| v * v).sum::<f64>(),
    }
}

fn posterior(sc: &dyn Score, x: &[f32], t: f64, par: Par) -> (Vec<f32>, Vec<Posterior>) {
    let b = x.len() / sc.dim();
    let mut s = vec![0.0f32; x.len()];
    let mut p = vec![Posterior::default(); b];
    let extras = Extras {
        posterior: Some(&mut p),
        ..Extras::default()
    };
    sc.eval_into(x, t, &mut s, extras, par);
    (s, p)
}

/// f32 kernel and f64 path against the oracle, from the noise regime (H ≈ ln N) to collapse (N_eff ≈ 1),
/// d = 20 (one tile), d = 100 with N = 3000 (3 tiles of 1008, the last padded) and d = 20 with N = 17000
/// (three segments of the training set, whose posterior sums are folded across segments), B = 37 (a
/// partial strip). Tolerance: f32 logits carry an absolute error of about 2^-24 · |e^{-t} x·a|/Δ_t (≤ 3e-5 here at
/// t = 0.01, d = 100), and H and ln N_eff move by at most the largest logit error, so 2e-4 absolute on H
/// and 2e-4 relative on N_eff leave a margin of ~5; the f64 path agrees to 1e-9.
#[test]
fn kernel_posterior_matches_a_brute_force_f64_oracle() {
    for &(d, n) in &[(20usize, 500usize), (100, 3000), (20, 17000)] {
        let data = TwoClassGmm::standard(d)
            .mixture(0)
            .unwrap()
            .sample(n, 3)
            .unwrap();
        let fast = EmpiricalScore::new(&data, Precision::F32).unwrap();
        let exact = EmpiricalScore::new(&data, Precision::F64).unwrap();
        for (k, &t) in [0.005, 0.01, 0.05, 0.2, 0.5, 1.0, 2.0, 6.0]
            .iter()
            .enumerate()
        {
            let x = common::forward_queries(&data.x, d, 37, t, k as u64, 5);
            let (_, p32) = posterior(&fast, &x, t, Par::rayon(0));
            let (_, p64) = posterior(&exact, &x, t, Par::Seq);
            for (q, xq) in x.chunks(d).enumerate() {
                let o = oracle(&data.x, d, xq, t);
                let h_err = (p32[q].entropy - o.entropy).abs();
                let n_err = (p32[q].effective_n - o.effective_n).abs() / o.effective_n;
                assert!(
                    h_err <= 2e-4 && n_err <= 2e-4,
                    "d {d} t {t} query {q}: f32 {:?} vs oracle {o:?}",
                    p32[q]
                );
                assert!((p64[q].entropy - o.entropy).abs() <= 1e-9 * (1.0 + o.entropy));
                assert!((p64[q].effective_n - o.effective_n).abs() <= 1e-9 * o.effective_n);
                assert!(p32[q].effective_n >= 1.0 && p32[q].effective_n <= n as f64);
                assert!(p32[q].entropy >= 0.0 && p32[q].entropy <= (n as f64).ln() + 1e-6);
            }
        }
    }
}

/// Known limits. t → ∞: every weight tends to 1/N, H → ln N and N_eff → N (at t = 15, e^{-t} ≈ 3e-7 and the
/// logits differ by O(e^{-t}|x||a|) ≈ 1e-5, so both within 1e-4 relative). t → 0 at a training point: one
/// weight tends to 1, H → 0 and N_eff → 1 (distinct points, d = 20, at t = 1e-4 the others are > 100
/// nats away); the f32 kernel's weight of the point itself is 2^0 by the fast exp2, within its 3e-7
/// relative error, so H = ln(1 + ε) ≤ 3e-7 and |N_eff − 1| ≤ 1e-6.
#[test]
fn posterior_limits_uniform_at_large_t_and_one_point_at_small_t() {
    let (d, n) = (20, 700);
    let data = TwoClassGmm::standard(d)
        .mixture(0)
        .unwrap()
        .sample(n, 4)
        .unwrap();
    let sc = EmpiricalScore::new(&data, Precision::F32).unwrap();
    let x = common::forward_queries(&data.x, d, 20, 15.0, 1, 5);
    let (_, p) = posterior(&sc, &x, 15.0, Par::rayon(0));
    for v in &p {
        assert!(
            (v.entropy - (n as f64).ln()).abs() <= 1e-4 * (n as f64).ln(),
            "{v:?}"
        );
        assert!((v.effective_n - n as f64).abs() <= 1e-4 * n as f64, "{v:?}");
    }
    let at_points: Vec<f32> = data.x[..20 * d].to_vec();
    let t = 1e-4;
    let scaled: Vec<f32> = at_points
        .iter()
        .map(|&v| (v as f64 * OuTime::new(t).decay) as f32)
        .collect();
    let (_, p) = posterior(&sc, &scaled, t, Par::rayon(0));
    for v in &p {
        assert!(
            v.entropy <= 3e-7 && (v.effective_n - 1.0).abs() <= 1e-6,
            "{v:?}"
        );
    }
}

/// Asking for the posterior changes no bit of the score, and the posterior is the same for any thread
/// count or batch split (a query's result depends on its strip only).
#[test]
fn posterior_changes_no_score_bit_and_is_batch_independent() {
    let d = 30;
    let data = TwoClassGmm::standard(d)
        .mixture(0)
        .unwrap()
        .sample(2000, 6)
        .unwrap();
    let sc = EmpiricalScore::new(&data, Precision::F32).unwrap();
    for &t in &[0.01, 0.3, 4.0] {
        let x = common::forward_queries(&data.x, d, 70, t, 9, 5);
        let plain = sc.eval(&x, t, Par::Seq);
        let (s, p) = posterior(&sc, &x, t, Par::Seq);
        assert_eq!(plain, s, "t = {t}: the score changed with the posterior");
        let (_, p2) = posterior(&sc, &x, t, Par::rayon(2));
        assert_eq!(p, p2);
        // A batch that starts at a strip boundary (16 queries) gives its queries the same bits.
        let (_, from16) = posterior(&sc, &x[16 * d..], t, Par::Seq);
        assert_eq!(&p[16..], &from16[..]);
    }
}

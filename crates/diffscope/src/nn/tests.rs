use super::mlp::Cache;
use super::train::loss_grad;
use super::*;
use crate::data::Dataset;
use crate::geometry::jacobian_fd;
use crate::progress::Silent;
use crate::rng;
use crate::score::Score;
use faer::Par;
use rand::Rng as _;
use rand_distr::StandardNormal;

fn random_mlp(d: usize, width: usize, depth: usize, seed: u64) -> Mlp {
    let cfg = MlpConfig {
        d,
        width,
        depth,
        n_freq: 3,
        sigma_data: 0.8,
    };
    let mut m = Mlp::new(cfg, seed).unwrap();
    // Give the (zero-initialised) output layer and the biases non-zero values.
    let mut r = rng::stream(seed, &[99]);
    for v in m.theta_mut() {
        *v += 0.1 * r.sample::<f32, _>(StandardNormal);
    }
    m
}

fn gaussian_rows(b: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut r = rng::stream(seed, &[7]);
    (0..b * d).map(|_| r.sample(StandardNormal)).collect()
}

/// The f32 GEMM path against the f64 reference loops: f32 accumulation over ≤ 64-term dot products of
/// O(1) terms gives ~1e-6 relative error per layer; 1e-4 (relative to |S|) leaves room for 3 layers and
/// the 1/Δ amplification of the cancellation (c_skip − 1) x + c_out F at small t.
#[test]
fn f32_score_matches_f64_reference() {
    let m = random_mlp(5, 48, 3, 1);
    let x = gaussian_rows(70, 5, 2);
    for &t in &[0.01, 0.3, 2.0] {
        let s = m.eval(&x, t, Par::Seq);
        for i in 0..70 {
            let xr: Vec<f64> = x[i * 5..(i + 1) * 5].iter().map(|&v| v as f64).collect();
            let r = m.score_f64(&xr, t);
            let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            let err = (0..5)
                .map(|k| (s[i * 5 + k] as f64 - r[k]).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(
                err <= 1e-4 * norm,
                "t = {t}, row {i}: err {err}, |S| {norm}"
            );
        }
    }
}

/// Analytic Jacobian (f32 batched GEMMs) against central differences of the f64 reference, h = 1e-5:
/// truncation ~h²|S'''| ≈ 1e-10, rounding ~1e-16|S|/h ≈ 1e-9, so the difference is the f32 path's ~1e-6.
/// Measured worst relative Frobenius error: 1.4e-7; bound 1e-5.
#[test]
fn analytic_jacobian_matches_central_differences() {
    let d = 6;
    let m = random_mlp(d, 40, 3, 3);
    let x = gaussian_rows(9, d, 4);
    for &t in &[0.02, 0.5, 3.0] {
        let mut jac = vec![0.0; 9 * d * d];
        assert!(m.jacobian_into(&x, t, &mut jac, Par::rayon(2)));
        for s in 0..9 {
            let xr: Vec<f64> = x[s * d..(s + 1) * d].iter().map(|&v| v as f64).collect();
            let fd = jacobian_fd(&|p, o| o.copy_from_slice(&m.score_f64(p, t)), &xr, 1e-5);
            let mut num = 0.0;
            let mut den = 0.0;
            for j in 0..d {
                for k in 0..d {
                    num += (jac[s * d * d + j * d + k] - fd[(j, k)]).powi(2);
                    den += fd[(j, k)].powi(2);
                }
            }
            let rel = (num / den).sqrt();
            assert!(rel < 1e-5, "t = {t}, sample {s}: relative error {rel:e}");
        }
    }
}

/// Backpropagation against central differences of the loss in f64 (from the f64 reference forward) on
/// randomly chosen parameters. The f32 gradient has ~1e-5 relative error; bound 1e-3 of the gradient's
/// scale.
#[test]
fn backward_matches_finite_differences() {
    let d = 4;
    let m = random_mlp(d, 24, 2, 5);
    let b = 7;
    let x = gaussian_rows(b, d, 6);
    let ts = [0.05, 0.2, 0.7, 1.5, 3.0, 0.01, 0.4];
    let pcs: Vec<Precond> = ts.iter().map(|&t| m.precond(t)).collect();
    let y = gaussian_rows(b, d, 8);
    let mut grad = vec![0.0f32; m.n_params()];
    loss_grad(&m, &x, &pcs, &y, 1.0, &mut grad, &mut Cache::default());
    // f64 loss: F = (Δ S − (c_skip − 1) x)/c_out from the f64 score.
    let loss64 = |mm: &Mlp| -> f64 {
        (0..b)
            .map(|i| {
                let xr: Vec<f64> = x[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
                let s = mm.score_f64(&xr, ts[i]);
                let p = pcs[i];
                (0..d)
                    .map(|k| {
                        let f = (p.delta * s[k] - (p.c_skip - 1.0) * xr[k]) / p.c_out;
                        (f - y[i * d + k] as f64).powi(2)
                    })
                    .sum::<f64>()
            })
            .sum()
    };
    let gscale = grad.iter().map(|g| g.abs()).fold(0.0f32, f32::max) as f64;
    let mut r = rng::stream(9, &[]);
    for _ in 0..40 {
        let i = r.random_range(0..m.n_params());
        let h = 1e-3;
        let mut mp = m.clone();
        mp.theta_mut()[i] += h as f32;
        let mut mm = m.clone();
        mm.theta_mut()[i] -= h as f32;
        // The perturbation actually applied in f32.
        let hp = mp.theta()[i] as f64 - m.theta()[i] as f64;
        let hm = m.theta()[i] as f64 - mm.theta()[i] as f64;
        let fd = (loss64(&mp) - loss64(&mm)) / (hp + hm);
        assert!(
            (fd - grad[i] as f64).abs() < 1e-3 * gscale,
            "param {i}: fd {fd}, backprop {}",
            grad[i]
        );
    }
}

/// Results do not depend on the thread count or on how the batch is split.
#[test]
fn evaluation_is_thread_and_split_invariant() {
    let d = 3;
    let m = random_mlp(d, 32, 2, 10);
    let x = gaussian_rows(200, d, 11);
    let a = m.eval(&x, 0.3, Par::Seq);
    let b = m.eval(&x, 0.3, Par::rayon(2));
    assert_eq!(a, b);
    let mut c = m.eval(&x[..64 * d], 0.3, Par::Seq);
    c.extend(m.eval(&x[64 * d..], 0.3, Par::Seq));
    assert_eq!(a, c);
}

fn anisotropic_data(n: usize, seed: u64) -> (Dataset, [f64; 3]) {
    let sd = [2.0, 1.0, 0.1];
    let mut r = rng::stream(seed, &[1]);
    let x: Vec<f32> = (0..n * 3)
        .map(|i| (sd[i % 3] * r.sample::<f64, _>(StandardNormal)) as f32)
        .collect();
    (
        Dataset::new(x, n, 3, "anisotropic Gaussian").unwrap(),
        sd.map(|s| s * s),
    )
}

/// Training reduces the distance to the exact population score of an anisotropic Gaussian,
/// S = −x_i/(e^{-2t}λ_i + Δ_t) (closed form). The initial network is c_skip x, exact for an isotropic
/// Gaussian of variance σ_data²; after 600 steps the mean relative error over t ∈ {0.05, 0.3, 1} must
/// fall below a third of the initial one (measured: from 0.59 to 0.069).
#[test]
fn training_approaches_the_exact_gaussian_score() {
    let (data, lam) = anisotropic_data(4000, 1);
    let cfg = TrainConfig {
        steps: 600,
        batch: 128,
        lr: 3e-3,
        t_max: 3.0,
        ..TrainConfig::default()
    };
    let mut tr = Trainer::new(&data, 48, 2, 3, cfg, 0).unwrap();
    let x = gaussian_rows(256, 3, 3);
    let err = |m: &Mlp| -> f64 {
        [0.05, 0.3, 1.0]
            .iter()
            .map(|&t| {
                let ou = crate::score::OuTime::new(t);
                let s = m.eval(&x, t, Par::Seq);
                let (mut num, mut den) = (0.0, 0.0);
                for i in 0..256 {
                    for k in 0..3 {
                        let exact =
                            -(x[i * 3 + k] as f64) / (ou.decay * ou.decay * lam[k] + ou.delta);
                        num += (s[i * 3 + k] as f64 - exact).powi(2);
                        den += exact * exact;
                    }
                }
                (num / den).sqrt() / 3.0
            })
            .sum()
    };
    let e0 = err(&tr.model());
    tr.train(&data, &Silent, &mut |_| Ok(())).unwrap();
    let e1 = err(&tr.model());
    assert!(e1 < e0 / 3.0, "relative score error {e0} -> {e1}");
    assert!(tr.log().len() >= 600 / 50);
    assert!(tr.log().last().unwrap().loss < tr.log()[0].loss);
}

/// A run stopped at a checkpoint and resumed reproduces the uninterrupted run bit for bit, for 1 and 2
/// threads; a checkpoint is refused on other data; save/load round-trips the weights.
#[test]
fn checkpoint_resume_is_exact_and_thread_invariant() {
    let (data, _) = anisotropic_data(300, 2);
    let cfg = TrainConfig {
        steps: 30,
        batch: 100,
        log_every: 10,
        ..TrainConfig::default()
    };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut tr = Trainer::new(&data, 16, 2, 2, cfg.clone(), 4).unwrap();
            tr.train(&data, &Silent, &mut |_| Ok(())).unwrap();
            tr.model().theta().to_vec()
        })
    };
    let full = run(1);
    assert_eq!(full, run(2));
    let dir = std::env::temp_dir().join(format!("ds-nn-{}", std::process::id()));
    let ck = dir.join("ck.safetensors");
    let mut tr = Trainer::new(&data, 16, 2, 2, cfg.clone(), 4).unwrap();
    tr.set_total_steps(15);
    tr.train(&data, &Silent, &mut |_| Ok(())).unwrap();
    tr.save_checkpoint(&ck, &data).unwrap();
    let mut back = Trainer::resume(&ck, &data).unwrap();
    assert_eq!(back.step_count(), 15);
    back.set_total_steps(30);
    back.train(&data, &Silent, &mut |_| Ok(())).unwrap();
    assert_eq!(back.model().theta(), &full[..]);
    let (other, _) = anisotropic_data(300, 3);
    let e = Trainer::resume(&ck, &other).err().unwrap().to_string();
    assert!(e.contains("other data"), "{e}");
    let mp = dir.join("model.safetensors");
    back.model().save(&mp, &[]).unwrap();
    let loaded = Mlp::load(&mp).unwrap();
    assert_eq!(loaded.theta(), back.model().theta());
    assert_eq!(loaded.config(), back.model().config());
    let _ = std::fs::remove_dir_all(&dir);
}

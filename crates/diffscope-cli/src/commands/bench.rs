//! `diffscope bench`: timings of the empirical-score kernel and the samplers, printed as JSON.
//! Speed is measured here, never in tests. Each figure is the median of `--repeats` runs.

use crate::ui::Ctx;
use anyhow::Result;
use clap::{Args, ValueEnum};
use diffscope::data::TwoClassGmm;
use diffscope::progress::Silent;
use diffscope::sampler::{self, NoObserver, NoiseKey, TimeGrid};
use diffscope::score::{EmpiricalScore, Precision, Score};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use serde_json::json;
use std::time::Instant;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Suite {
    /// The standard workload: two-class GMM μ̃ = σ = 1, d = 100, N = 10⁴, B = 1000, 200 EM steps, t: 6 → 0.01.
    Standard,
    /// Single score evaluations at B = 1024, N ∈ {10⁵, 10⁶}, d ∈ {10, 100}.
    Single,
    /// Learned score: one DSM training step and one full analytic Jacobian batch of the MLP.
    Nn,
    /// The image-dimension grid: single evaluations at t = 1 (dense softmax) for d ∈ {64, 100, 784, 3072}
    /// and B ∈ {64, 256, 1000} at N = 12 000 (two Fashion-MNIST classes), GFLOP/s and the fraction of the
    /// FMA peak per point. Not part of `all` (about a minute).
    Grid,
    /// Certified pruning: single evaluations (B = 256) on `--n` points of the two-class GMM at d = 100,
    /// queries noised training points at t ∈ {0.01 … 3}, pruning on and off alternated; the ratio and the
    /// fraction of logit blocks pruned per t. Not part of `all`.
    Prune,
    /// All of them.
    All,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which workloads.
    #[arg(long, value_enum, default_value = "all")]
    pub suite: Suite,
    /// Repetitions per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Training points of the `prune` suite.
    #[arg(long, default_value_t = 1_000_000)]
    pub n: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Peak resident set size of this process so far (VmHWM), in GB.
fn peak_rss_gb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1e6)
}

/// f32 GEMM rate (GFLOP/s) of faer on the kernel's logit shape, B × d times d × N, all threads.
fn gemm_rate(b: usize, n: usize, d: usize, repeats: usize) -> f64 {
    let x = Mat::<f32>::from_fn(b, d, |i, j| ((i * 7 + j) % 13) as f32 * 0.1);
    let a = Mat::<f32>::from_fn(d, n, |i, j| ((i * 3 + j) % 11) as f32 * 0.1);
    let mut out = Mat::<f32>::zeros(b, n);
    let times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t0 = Instant::now();
            matmul(
                out.as_mut(),
                Accum::Replace,
                x.as_ref(),
                a.as_ref(),
                1.0,
                Par::rayon(0),
            );
            t0.elapsed().as_secs_f64()
        })
        .collect();
    2.0 * (b * n * d) as f64 / median(times) / 1e9
}

/// f32 GEMM rate (GFLOP/s, all threads together) of faer on small blocks: every rayon thread repeats,
/// single-threaded, logits = X Aᵀ (128 × d · d × 512, A row-major) and acc = P A (128 × 512 · 512 × d),
/// the shapes of the two-GEMM kernel that the fused one replaced.
fn block_gemm_rate(d: usize) -> f64 {
    use rayon::prelude::*;
    let (bq, tile, reps) = (128usize, 512usize, 400usize);
    let threads = rayon::current_num_threads();
    let t0 = Instant::now();
    (0..threads).into_par_iter().for_each(|_| {
        let x = Mat::<f32>::from_fn(bq, d, |i, j| ((i * 7 + j) % 13) as f32 * 0.1);
        let a = Mat::<f32>::from_fn(tile, d, |i, j| ((i * 3 + j) % 11) as f32 * 0.1);
        let mut l = Mat::<f32>::zeros(bq, tile);
        let mut acc = Mat::<f32>::zeros(bq, d);
        for _ in 0..reps {
            matmul(
                l.as_mut(),
                Accum::Replace,
                x.as_ref(),
                a.transpose(),
                1.0,
                Par::Seq,
            );
            matmul(
                acc.as_mut(),
                Accum::Replace,
                l.as_ref(),
                a.as_ref(),
                1.0,
                Par::Seq,
            );
        }
        std::hint::black_box(&acc);
    });
    (threads * reps) as f64 * 4.0 * (bq * tile * d) as f64 / t0.elapsed().as_secs_f64() / 1e9
}

/// The machine's f32 FMA peak (GFLOP/s, all threads together): every rayon thread runs 12 independent
/// 8-lane FMA chains (enough to hide the FMA latency) for about half a second, so the figure is
/// issue-bound. The denominator of
/// `fraction_of_fma_peak`.
fn fma_peak_gflops() -> f64 {
    use rayon::prelude::*;
    const ITERS: usize = 200_000_000;
    let threads = rayon::current_num_threads();
    let t0 = Instant::now();
    (0..threads).into_par_iter().for_each(|i| {
        std::hint::black_box(fma_chains(ITERS, i as f32));
    });
    (threads * ITERS * 12 * 8 * 2) as f64 / t0.elapsed().as_secs_f64() / 1e9
}

/// 12 independent chains of `iters` 8-lane FMAs.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
fn fma_chains(iters: usize, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    // SAFETY: AVX2 and FMA are enabled at compile time (cfg above); no memory is touched.
    unsafe {
        let m = _mm256_set1_ps(std::hint::black_box(1.000_000_1));
        let c = _mm256_set1_ps(std::hint::black_box(1e-7));
        let s = _mm256_set1_ps(seed);
        let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5) = (s, s, s, s, s, s);
        let (mut a6, mut a7, mut a8, mut a9, mut a10, mut a11) = (s, s, s, s, s, s);
        for _ in 0..iters {
            a0 = _mm256_fmadd_ps(a0, m, c);
            a1 = _mm256_fmadd_ps(a1, m, c);
            a2 = _mm256_fmadd_ps(a2, m, c);
            a3 = _mm256_fmadd_ps(a3, m, c);
            a4 = _mm256_fmadd_ps(a4, m, c);
            a5 = _mm256_fmadd_ps(a5, m, c);
            a6 = _mm256_fmadd_ps(a6, m, c);
            a7 = _mm256_fmadd_ps(a7, m, c);
            a8 = _mm256_fmadd_ps(a8, m, c);
            a9 = _mm256_fmadd_ps(a9, m, c);
            a10 = _mm256_fmadd_ps(a10, m, c);
            a11 = _mm256_fmadd_ps(a11, m, c);
        }
        let sum = [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11]
            .iter()
            .fold(_mm256_setzero_ps(), |t, &a| _mm256_add_ps(t, a));
        let mut out = [0.0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), sum);
        out[0]
    }
}

/// 12 independent chains of `iters` 8-lane FMAs (portable form).
#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
)))]
fn fma_chains(iters: usize, seed: f32) -> f32 {
    let mut acc = [[seed; 8]; 12];
    let (m, c) = (
        std::hint::black_box(1.000_000_1f32),
        std::hint::black_box(1e-7f32),
    );
    for _ in 0..iters {
        for a in acc.iter_mut() {
            for v in a.iter_mut() {
                *v = v.mul_add(m, c);
            }
        }
    }
    acc.iter().flatten().sum()
}

/// Runs Euler–Maruyama with `score` from the keyed initial noise `repeats` times; the wall times.
fn time_sampler(
    score: &dyn Score,
    grid: &TimeGrid,
    b: usize,
    repeats: usize,
    ctx: &Ctx,
) -> Result<Vec<f64>> {
    let d = score.dim();
    let key = NoiseKey {
        seed: ctx.seed,
        first: 0,
    };
    let mut walls = Vec::new();
    for r in 0..repeats.max(1) {
        ctx.note(format!("sampler run {}/{}", r + 1, repeats.max(1)));
        // The initial noise is drawn outside the timed region.
        let mut x = sampler::initial_noise(b, d, key);
        let t0 = Instant::now();
        sampler::euler_maruyama(
            score,
            &mut x,
            grid,
            key,
            &mut NoObserver,
            &Silent,
            Par::rayon(0),
        )?;
        walls.push(t0.elapsed().as_secs_f64());
    }
    Ok(walls)
}

pub fn run(a: BenchArgs, ctx: &Ctx) -> Result<()> {
    let threads = rayon::current_num_threads();
    let mut report = serde_json::Map::new();
    report.insert("version".into(), json!(diffscope::VERSION));
    report.insert("threads".into(), json!(threads));
    report.insert("repeats".into(), json!(a.repeats));
    if matches!(a.suite, Suite::Standard | Suite::All) {
        let (d, n, b, steps) = (100, 10_000, 1000, 200);
        let data = TwoClassGmm::standard(d)
            .mixture(ctx.seed)?
            .sample(n, ctx.seed)?;
        let score = EmpiricalScore::new(&data, Precision::F32)?;
        let grid = TimeGrid::uniform(6.0, 0.01, steps)?;
        let walls = time_sampler(&score, &grid, b, a.repeats, ctx)?;
        // The same on a log-spaced grid: most steps at small t, where the softmax is sparse.
        let log_walls = time_sampler(&score, &TimeGrid::log(6.0, 0.01, steps)?, b, a.repeats, ctx)?;
        let wall = median(walls.clone());
        let flop_step = 4.0 * (b * n * d) as f64;
        let rate = gemm_rate(b, n, d, a.repeats);
        let roofline = steps as f64 * flop_step / (rate * 1e9);
        let peak = fma_peak_gflops();
        report.insert(
            "standard".into(),
            json!({
                "workload": "two-class GMM mu=sigma=1, d=100, N=1e4, B=1000, 200 EM steps, uniform t 6 -> 0.01, f32 empirical score",
                "wall_s": wall,
                "wall_s_runs": walls,
                "ms_per_step": wall / steps as f64 * 1e3,
                "ns_per_pair": wall / (steps * b * n) as f64 * 1e9,
                "effective_gflops": steps as f64 * flop_step / wall / 1e9,
                "peak_rss_gb": peak_rss_gb(),
                "faer_gemm_gflops": rate,
                "faer_block_gemm_gflops": block_gemm_rate(d),
                "roofline_s": roofline,
                "ratio_to_roofline": wall / roofline,
                "fma_peak_gflops": peak,
                "fraction_of_fma_peak": steps as f64 * flop_step / wall / 1e9 / peak,
                "log_grid_wall_s": median(log_walls.clone()),
                "log_grid_wall_s_runs": log_walls,
            }),
        );
    }
    if matches!(a.suite, Suite::Single | Suite::All) {
        let mut rows = Vec::new();
        for &(n, d) in &[
            (100_000usize, 10usize),
            (100_000, 100),
            (1_000_000, 10),
            (1_000_000, 100),
        ] {
            let b = 1024;
            ctx.note(format!("single evaluation B = {b}, N = {n}, d = {d}"));
            let data = TwoClassGmm::standard(d)
                .mixture(ctx.seed)?
                .sample(n, ctx.seed)?;
            let score = EmpiricalScore::new(&data, Precision::F32)?;
            drop(data);
            let wall = median(time_evaluations(&score, b, a.repeats, ctx.seed));
            let flop = 4.0 * (b * n * d) as f64;
            rows.push(json!({
                "b": b, "n": n, "d": d,
                "wall_s": wall,
                "ns_per_pair": wall / (b * n) as f64 * 1e9,
                "effective_gflops": flop / wall / 1e9,
            }));
        }
        report.insert("single".into(), json!(rows));
    }
    if matches!(a.suite, Suite::Nn | Suite::All) {
        report.insert("nn".into(), bench_nn(a.repeats, ctx)?);
    }
    if a.suite == Suite::Grid {
        report.insert("grid".into(), bench_grid(a.repeats, ctx)?);
    }
    if a.suite == Suite::Prune {
        report.insert("prune".into(), bench_prune(a.n, a.repeats, ctx)?);
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Wall times of `repeats` single evaluations of `score` at t = 1 on B = `b` standard-normal queries.
fn time_evaluations(score: &dyn Score, b: usize, repeats: usize, seed: u64) -> Vec<f64> {
    let d = score.dim();
    let x = sampler::initial_noise(b, d, NoiseKey { seed, first: 0 });
    let mut out = vec![0.0f32; b * d];
    (0..repeats.max(1))
        .map(|_| {
            let t0 = Instant::now();
            score.eval_into(&x, 1.0, &mut out, Default::default(), Par::rayon(0));
            t0.elapsed().as_secs_f64()
        })
        .collect()
}

/// Single evaluations of the f32 empirical score at t = 1 over d ∈ {64, 100, 784, 3072} × B ∈ {64, 256,
/// 1000}, N = 12 000 standard-normal points: the dense algorithm's 4·B·N·d flops (two GEMM-shaped passes)
/// per second, and that rate over the FMA peak of this machine.
fn bench_grid(repeats: usize, ctx: &Ctx) -> Result<serde_json::Value> {
    let n = 12_000;
    let peak = fma_peak_gflops();
    let mut rows = Vec::new();
    for d in [64usize, 100, 784, 3072] {
        let data = TwoClassGmm::standard(d)
            .mixture(ctx.seed)?
            .sample(n, ctx.seed)?;
        let score = EmpiricalScore::new(&data, Precision::F32)?;
        for b in [64usize, 256, 1000] {
            ctx.note(format!("grid: d = {d}, B = {b}"));
            let times = time_evaluations(&score, b, repeats, ctx.seed);
            let wall = median(times.clone());
            let gflops = 4.0 * (b * n * d) as f64 / wall / 1e9;
            rows.push(json!({
                "d": d, "b": b, "n": n, "wall_s": wall, "wall_s_runs": times,
                "gflops": gflops, "fraction_of_fma_peak": gflops / peak,
            }));
        }
    }
    Ok(json!({"fma_peak_gflops": peak, "t": 1.0, "points": rows}))
}

/// Single evaluations with certified pruning on and off (alternated, `repeats` pairs per t) on N points
/// of the two-class GMM at d = 100, B = 256 queries x = e^{-t} a_μ + √Δ_t z (noised training points: the
/// state of trajectories after collapse), score only. Per t: median walls, the median of the paired
/// off/on ratios, and the fraction of 6-point logit blocks pruned.
fn bench_prune(n: usize, repeats: usize, ctx: &Ctx) -> Result<serde_json::Value> {
    use diffscope::score::OuTime;
    let (d, b) = (100usize, 256usize);
    let data = TwoClassGmm::standard(d)
        .mixture(ctx.seed)?
        .sample(n, ctx.seed)?;
    let mut on = EmpiricalScore::new(&data, Precision::F32)?;
    let mut off = on.clone();
    on.set_pruning(true);
    off.set_pruning(false);
    let z = sampler::initial_noise(
        b,
        d,
        NoiseKey {
            seed: ctx.seed,
            first: 0,
        },
    );
    let mut rows = Vec::new();
    for t in [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0] {
        ctx.note(format!("prune: N = {n}, t = {t}"));
        let ou = OuTime::new(t);
        let x: Vec<f32> = (0..b * d)
            .map(|i| {
                let mu = (i / d * 7919) % n;
                (ou.decay * data.x[mu * d + i % d] as f64 + ou.delta.sqrt() * z[i] as f64) as f32
            })
            .collect();
        let mut out = vec![0.0f32; b * d];
        let mut time = |s: &EmpiricalScore| {
            let t0 = Instant::now();
            s.eval_into(&x, t, &mut out, Default::default(), Par::rayon(0));
            t0.elapsed().as_secs_f64()
        };
        let (mut w_on, mut w_off, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..repeats.max(1) {
            let (a, b) = (time(&off), time(&on));
            w_off.push(a);
            w_on.push(b);
            ratio.push(a / b);
        }
        let st = on.pruning_stats(&x, t, false, Par::rayon(0));
        rows.push(json!({
            "t": t,
            "wall_on_s": median(w_on.clone()), "wall_off_s": median(w_off.clone()),
            "speedup": median(ratio.clone()), "speedup_runs": ratio,
            "blocks_pruned": st.pruned as f64 / st.blocks.max(1) as f64,
            "strips_piloted": st.piloted as f64 / st.strips.max(1) as f64,
        }));
    }
    Ok(json!({"n": n, "d": d, "b": b, "queries": "noised training points", "points": rows}))
}

/// One DSM training step (batch 256) and one analytic Jacobian batch (B = 256) of a width-256, depth-3 MLP
/// at d = 10 and d = 64. Flop counts: a training step ≈ 6·batch·(weights) (forward 2, backward 4); a
/// Jacobian batch ≈ 2·B·d·Σ_{l≥1} n_out·n_in (the first layer is a row scaling).
fn bench_nn(repeats: usize, ctx: &Ctx) -> Result<serde_json::Value> {
    use diffscope::nn::{TrainConfig, Trainer};
    let mut rows = Vec::new();
    for &d in &[10usize, 64] {
        let (width, depth, batch) = (256usize, 3usize, 256usize);
        let data = TwoClassGmm::standard(d)
            .mixture(ctx.seed)?
            .sample(2000, ctx.seed)?;
        let cfg = TrainConfig {
            batch,
            steps: usize::MAX,
            ..TrainConfig::default()
        };
        let mut tr = Trainer::new(&data, width, depth, 4, cfg, ctx.seed)?;
        for _ in 0..5 {
            tr.step(&data);
        }
        let steps = 50;
        let train_ms = median(
            (0..repeats.max(1))
                .map(|_| {
                    let t0 = Instant::now();
                    for _ in 0..steps {
                        tr.step(&data);
                    }
                    t0.elapsed().as_secs_f64() * 1e3 / steps as f64
                })
                .collect(),
        );
        let net = tr.model();
        let n0 = d + 9;
        let weights = (n0 * width + (depth - 1) * width * width + width * d) as f64;
        let x = sampler::initial_noise(
            batch,
            d,
            NoiseKey {
                seed: ctx.seed,
                first: 0,
            },
        );
        let mut jac = vec![0.0f64; batch * d * d];
        let jac_ms = median(
            (0..repeats.max(1))
                .map(|_| {
                    let t0 = Instant::now();
                    net.jacobian_into(&x, 0.1, &mut jac, Par::rayon(0));
                    t0.elapsed().as_secs_f64() * 1e3
                })
                .collect(),
        );
        let jac_flop = 2.0 * (batch * d) as f64 * ((depth - 1) * width * width + width * d) as f64;
        let mut s = vec![0.0f32; batch * d];
        let eval_ms = median(
            (0..repeats.max(1))
                .map(|_| {
                    let t0 = Instant::now();
                    for _ in 0..20 {
                        net.eval_into(&x, 0.1, &mut s, Default::default(), Par::rayon(0));
                    }
                    t0.elapsed().as_secs_f64() * 1e3 / 20.0
                })
                .collect(),
        );
        rows.push(json!({
            "d": d, "width": width, "depth": depth, "batch": batch, "parameters": net.n_params(),
            "train_step_ms": train_ms,
            "train_step_gflops": 6.0 * batch as f64 * weights / (train_ms * 1e-3) / 1e9,
            "jacobian_batch_ms": jac_ms,
            "jacobian_gflops": jac_flop / (jac_ms * 1e-3) / 1e9,
            "score_eval_ms": eval_ms,
        }));
    }
    Ok(json!(rows))
}

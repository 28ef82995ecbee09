//! The bench machinery behind `diffscope bench`: timings of the empirical-score kernel, the samplers, the
//! learned score, the closed-form family ([`family`]) and the GPU backend ([`gpu`]), as the typed
//! results of [`results`], which the CLI prints as JSON. Speed is measured here, never in tests. Each figure is the median of `repeats` runs.

pub mod family;
pub mod gpu;
pub mod results;

pub use results::*;

use crate::data::TwoClassGmm;
use crate::error::Result;
use crate::progress::{Monitor, Silent};
use crate::sampler::{self, NoObserver, NoiseKey, TimeGrid};
use crate::score::{Device, EmpiricalScore, Isa, Precision, Score};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use std::time::Instant;

/// What every bench needs from its caller: the seed of its data and noise, where its notes go, and the
/// device of the `gpu` suite (None: cuda:0).
pub struct BenchCtx<'a> {
    /// Seed of the data and the noise.
    pub seed: u64,
    /// Receives the progress notes.
    pub monitor: &'a dyn Monitor,
    /// The `gpu` suite's device.
    pub device: Option<Device>,
}

impl BenchCtx<'_> {
    fn note(&self, s: impl AsRef<str>) {
        self.monitor.note(s.as_ref());
    }
}

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
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

/// The f32 FMA peak (GFLOP/s, all threads together) of the widest vectors this processor runs (about half
/// a second): the denominator of `fraction_of_fma_peak`.
fn fma_peak_gflops() -> f64 {
    crate::peak::fma_peak_gflops(Isa::best())
}

/// The figures that say what the bench ran on: the kernel's instruction set, the widest FMA and its peak
/// (and the AVX2 peak beside it where AVX-512 is the widest), the processor's name.
fn machine_figures() -> Machine {
    let best = Isa::best();
    Machine {
        processor: processor_name(),
        kernel_isa: Isa::default_for_process()
            .map(|i| i.name())
            .unwrap_or("invalid")
            .into(),
        fma_peak_isa: best.name().into(),
        fma_peak_gflops_avx2: (best == Isa::Avx512)
            .then(|| crate::peak::fma_peak_gflops(Isa::Avx2)),
    }
}

/// The processor's model name (`/proc/cpuinfo`), or "unknown".
fn processor_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Runs Euler–Maruyama with `score` from the keyed initial noise `repeats` times; the wall times.
pub fn time_sampler(
    score: &dyn Score,
    grid: &TimeGrid,
    b: usize,
    repeats: usize,
    ctx: &BenchCtx,
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

/// A report with the figures that say what the bench ran on (diffscope's version, the threads, the
/// repeats, the machine) and no suite yet.
pub fn header(repeats: usize) -> BenchReport {
    BenchReport {
        version: crate::VERSION.into(),
        threads: rayon::current_num_threads(),
        repeats,
        machine: machine_figures(),
        standard: None,
        single: None,
        nn: None,
        grid: None,
        gpu: None,
        family: None,
    }
}

/// The standard workload: two-class GMM μ̃ = σ = 1, d = 100, N = 10⁴, B = 1000, 200 EM steps (uniform and
/// log grids), beside faer's GEMM rate, the roofline and the FMA peak.
pub fn standard(repeats: usize, ctx: &BenchCtx) -> Result<Standard> {
    let (d, n, b, steps) = (100, 10_000, 1000, 200);
    let data = TwoClassGmm::standard(d)
        .mixture(ctx.seed)?
        .sample(n, ctx.seed)?;
    let score = EmpiricalScore::new(&data, Precision::F32)?;
    let grid = TimeGrid::uniform(6.0, 0.01, steps)?;
    let walls = time_sampler(&score, &grid, b, repeats, ctx)?;
    // The same on a log-spaced grid: most steps at small t, where the softmax is sparse.
    let log_walls = time_sampler(&score, &TimeGrid::log(6.0, 0.01, steps)?, b, repeats, ctx)?;
    let wall = median(walls.clone());
    let flop_step = 4.0 * (b * n * d) as f64;
    let rate = gemm_rate(b, n, d, repeats);
    let roofline = steps as f64 * flop_step / (rate * 1e9);
    let peak = fma_peak_gflops();
    Ok(Standard {
        workload: "two-class GMM mu=sigma=1, d=100, N=1e4, B=1000, 200 EM steps, uniform t 6 -> 0.01, f32 empirical score".into(),
        wall_s: wall,
        wall_s_runs: walls,
        ms_per_step: wall / steps as f64 * 1e3,
        ns_per_pair: wall / (steps * b * n) as f64 * 1e9,
        effective_gflops: steps as f64 * flop_step / wall / 1e9,
        peak_rss_gb: peak_rss_gb(),
        faer_gemm_gflops: rate,
        faer_block_gemm_gflops: block_gemm_rate(d),
        roofline_s: roofline,
        ratio_to_roofline: wall / roofline,
        fma_peak_gflops: peak,
        fraction_of_fma_peak: steps as f64 * flop_step / wall / 1e9 / peak,
        log_grid_wall_s: median(log_walls.clone()),
        log_grid_wall_s_runs: log_walls,
    })
}

/// Single evaluations at B = 1024, N ∈ {10⁵, 10⁶}, d ∈ {10, 100}.
pub fn single(repeats: usize, ctx: &BenchCtx) -> Result<Vec<SingleEval>> {
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
        let wall = median(time_evaluations(&score, b, repeats, ctx.seed));
        let flop = 4.0 * (b * n * d) as f64;
        rows.push(SingleEval {
            b,
            n,
            d,
            wall_s: wall,
            ns_per_pair: wall / (b * n) as f64 * 1e9,
            effective_gflops: flop / wall / 1e9,
        });
    }
    Ok(rows)
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

/// Single evaluations of the f32 empirical score at t = 1 over d ∈ {64, 100, 784, 3072} × B ∈ {16, 64,
/// 256, 1000}, N = 12 000 standard-normal points (two segments of the training set: B = 16, one strip,
/// runs them on two threads): the dense algorithm's 4·B·N·d flops (two GEMM-shaped passes)
/// per second, and that rate over the FMA peak of this machine.
pub fn grid(repeats: usize, ctx: &BenchCtx) -> Result<GridBench> {
    let n = 12_000;
    let peak = fma_peak_gflops();
    let mut rows = Vec::new();
    for d in [64usize, 100, 784, 3072] {
        let data = TwoClassGmm::standard(d)
            .mixture(ctx.seed)?
            .sample(n, ctx.seed)?;
        let score = EmpiricalScore::new(&data, Precision::F32)?;
        for b in [16usize, 64, 256, 1000] {
            ctx.note(format!("grid: d = {d}, B = {b}"));
            let times = time_evaluations(&score, b, repeats, ctx.seed);
            let wall = median(times.clone());
            let gflops = 4.0 * (b * n * d) as f64 / wall / 1e9;
            rows.push(GridPoint {
                d,
                b,
                n,
                wall_s: wall,
                wall_s_runs: times,
                gflops,
                fraction_of_fma_peak: gflops / peak,
            });
        }
    }
    Ok(GridBench {
        fma_peak_gflops: peak,
        t: 1.0,
        points: rows,
    })
}

/// One DSM training step (batch 256) and one analytic Jacobian batch (B = 256) of a width-256, depth-3 MLP
/// at d = 10 and d = 64. Flop counts: a training step ≈ 6·batch·(weights) (forward 2, backward 4); a
/// Jacobian batch ≈ 2·B·d·Σ_{l≥1} n_out·n_in (the first layer is a row scaling).
pub fn nn(repeats: usize, ctx: &BenchCtx) -> Result<Vec<NnBench>> {
    use crate::nn::{TrainConfig, Trainer};
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
        rows.push(NnBench {
            d,
            width,
            depth,
            batch,
            parameters: net.n_params(),
            train_step_ms: train_ms,
            train_step_gflops: 6.0 * batch as f64 * weights / (train_ms * 1e-3) / 1e9,
            jacobian_batch_ms: jac_ms,
            jacobian_gflops: jac_flop / (jac_ms * 1e-3) / 1e9,
            score_eval_ms: eval_ms,
        });
    }
    Ok(rows)
}

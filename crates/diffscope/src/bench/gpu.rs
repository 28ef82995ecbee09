//! `diffscope bench --suite gpu`: the exact score on a CUDA device against the CPU's f64 reference
//! (accuracy, top-2, log p), its determinism, and its speed (single evaluations and whole sampling loops),
//! in one call, as JSON. `scripts/gpu-check.sh` runs it beside `bench/gpu_baselines.py`.

use super::{median, time_sampler, BenchCtx, GpuAccuracy, GpuBench, GpuLoop, GpuSingle, GpuSpeed};
use crate::data::{DataFileSpec, Dataset, TwoClassGmm};
use crate::error::Result;
use crate::sampler::{self, NoiseKey, TimeGrid};
use crate::score::{Device, EmpiricalScore, Extras, Nearest, OuTime, Precision, Score};
use faer::Par;
use std::time::Instant;

/// The two accuracy data sets: the standard GMM (d = 100, N = 10⁴) and Fashion-MNIST classes 0 and 1
/// ([`fashion_pair`], skipped with a note when absent).
fn datasets(ctx: &BenchCtx) -> Result<Vec<(&'static str, Dataset)>> {
    let gmm = TwoClassGmm::standard(100)
        .mixture(ctx.seed)?
        .sample(10_000, ctx.seed)?;
    let mut out = vec![("gmm d=100 N=1e4", gmm)];
    if let Some(fashion) = fashion_pair(ctx)? {
        out.push(("fashion-mnist 0/1 d=784 N=12000", fashion));
    }
    Ok(out)
}

/// Fashion-MNIST classes 0 and 1, centred (d = 784, N = 12 000, images 1×28×28), from `$FASHION_MNIST` or
/// ../shared/data/fashion-mnist; None (with a note) when the file is absent.
pub fn fashion_pair(ctx: &BenchCtx) -> Result<Option<Dataset>> {
    let root =
        std::env::var("FASHION_MNIST").unwrap_or_else(|_| "../shared/data/fashion-mnist".into());
    let path = std::path::Path::new(&root).join("train-images-idx3-ubyte.gz");
    if !path.exists() {
        ctx.note(format!(
            "{} not found: Fashion-MNIST rows skipped",
            path.display()
        ));
        return Ok(None);
    }
    let spec = DataFileSpec {
        classes: Some(vec!["0".into(), "1".into()]),
        ..DataFileSpec::new(&path)
    };
    Ok(Some(spec.load()?))
}

/// `b` training points noised to time t: e^{-t} a_μ + √Δ_t z (the states of collapsing trajectories),
/// μ spread over the set by a multiplicative hash, z the sampler's keyed noise.
pub fn noised(data: &Dataset, b: usize, t: f64, seed: u64) -> Vec<f32> {
    let ou = OuTime::new(t);
    let d = data.d;
    let z = sampler::initial_noise(b, d, NoiseKey { seed, first: 0 });
    let mut x = Vec::with_capacity(b * d);
    for i in 0..b {
        let mu = (i as u64).wrapping_mul(2_654_435_761).wrapping_add(seed) as usize % data.n;
        for j in 0..d {
            x.push(
                (ou.decay * data.x[mu * d + j] as f64 + ou.delta.sqrt() * z[i * d + j] as f64)
                    as f32,
            );
        }
    }
    x
}

struct Eval {
    s: Vec<f32>,
    log_p: Vec<f64>,
    nn: Vec<Nearest>,
}

fn eval(score: &dyn Score, x: &[f32], t: f64) -> Eval {
    let b = x.len() / score.dim();
    let mut e = Eval {
        s: vec![f32::NAN; x.len()],
        log_p: vec![f64::NAN; b],
        nn: vec![Nearest::default(); b],
    };
    let extras = Extras {
        log_p: Some(&mut e.log_p),
        nearest: Some(&mut e.nn),
        posterior: None,
    };
    score.eval_into(x, t, &mut e.s, extras, Par::rayon(0));
    e
}

/// ‖a − r‖ / ‖r‖ in f64 (NaN anywhere gives NaN).
fn rel_err(a: &[f32], r: &[f32]) -> f64 {
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(r) {
        num += (x as f64 - y as f64).powi(2);
        den += (y as f64).powi(2);
    }
    (num / den).sqrt()
}

fn bits(e: &Eval) -> Vec<u64> {
    let mut v: Vec<u64> = e.s.iter().map(|x| x.to_bits() as u64).collect();
    v.extend(e.log_p.iter().map(|x| x.to_bits()));
    v.extend(e.nn.iter().flat_map(|n| [n.index as u64, n.second as u64]));
    v
}

/// Accuracy, top-2 and log p of the GPU and CPU f32 kernels against the f64 reference, and the GPU's
/// determinism (the same bits twice; a query's bits the same in a batch of 256 and alone in a batch of 37).
fn accuracy(device: Device, ctx: &BenchCtx) -> Result<Vec<GpuAccuracy>> {
    let mut rows = Vec::new();
    for (name, data) in datasets(ctx)? {
        ctx.note(format!("accuracy: {name}"));
        let gpu = EmpiricalScore::on_device(&data, Precision::F32, device)?;
        let cpu = EmpiricalScore::new(&data, Precision::F32)?;
        let reference = EmpiricalScore::new(&data, Precision::F64)?;
        for (k, t) in [0.01, 0.1, 1.0, 6.0].into_iter().enumerate() {
            let seed = crate::rng::sub(ctx.seed, crate::rng::purpose::BENCH_QUERIES, k as u64);
            let x = noised(&data, 256, t, seed);
            let (g, c, r) = (
                eval(&gpu, &x, t),
                eval(&cpu, &x, t),
                eval(&reference, &x, t),
            );
            let again = eval(&gpu, &x, t);
            let d = data.d;
            let part = eval(&gpu, &x[..37 * d], t);
            let full = bits(&g);
            let sub: Vec<u64> = {
                let e = Eval {
                    s: g.s[..37 * d].to_vec(),
                    log_p: g.log_p[..37].to_vec(),
                    nn: g.nn[..37].to_vec(),
                };
                bits(&e)
            };
            let agree = |e: &Eval| {
                e.nn.iter()
                    .zip(&r.nn)
                    .filter(|(a, b)| a.index == b.index)
                    .count() as f64
                    / r.nn.len() as f64
            };
            let lp_err = |e: &Eval| {
                e.log_p
                    .iter()
                    .zip(&r.log_p)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f64, f64::max)
            };
            rows.push(GpuAccuracy {
                data: name.to_string(),
                t,
                b: 256,
                gpu_rel_err: rel_err(&g.s, &r.s),
                cpu_rel_err: rel_err(&c.s, &r.s),
                gpu_nearest_agree: agree(&g),
                cpu_nearest_agree: agree(&c),
                gpu_log_p_max_abs_err: lp_err(&g),
                cpu_log_p_max_abs_err: lp_err(&c),
                gpu_same_bits_twice: bits(&again) == full,
                gpu_same_bits_in_smaller_batch: bits(&part) == sub,
                gpu_all_finite: g.s.iter().all(|v| v.is_finite()),
            });
        }
    }
    Ok(rows)
}

/// Wall time (median of `repeats`, after one warm-up) of one evaluation of B queries at t = 1, host
/// buffers in and out (so the transfers are counted).
fn time_eval(score: &dyn Score, b: usize, repeats: usize, seed: u64) -> f64 {
    let d = score.dim();
    let x = sampler::initial_noise(b, d, NoiseKey { seed, first: 0 });
    let mut out = vec![0.0f32; b * d];
    score.eval_into(&x, 1.0, &mut out, Extras::none(), Par::rayon(0));
    median(
        (0..repeats.max(3))
            .map(|_| {
                let t0 = Instant::now();
                score.eval_into(&x, 1.0, &mut out, Extras::none(), Par::rayon(0));
                t0.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn speed(device: Device, repeats: usize, ctx: &BenchCtx) -> Result<GpuSpeed> {
    let mut singles = Vec::new();
    for (n, d, bs) in [
        (10_000usize, 100usize, vec![1000usize]),
        (12_000, 784, vec![256, 1000]),
        (50_000, 784, vec![1000]),
        (50_000, 3072, vec![1000]),
        (1_000_000, 100, vec![1000]),
    ] {
        ctx.note(format!("single evaluations: N = {n}, d = {d}"));
        let data = TwoClassGmm::standard(d)
            .mixture(ctx.seed)?
            .sample(n, ctx.seed)?;
        let gpu = EmpiricalScore::on_device(&data, Precision::F32, device)?;
        drop(data);
        for b in bs {
            let wall = time_eval(&gpu, b, repeats, ctx.seed);
            singles.push(GpuSingle {
                n,
                d,
                b,
                wall_ms: wall * 1e3,
                tflops: 4.0 * (b * n * d) as f64 / wall / 1e12,
                plan: plan(d).into(),
            });
        }
    }
    let mut loops = Vec::new();
    let gmm = TwoClassGmm::standard(100)
        .mixture(ctx.seed)?
        .sample(10_000, ctx.seed)?;
    let gpu = EmpiricalScore::on_device(&gmm, Precision::F32, device)?;
    let grid = TimeGrid::uniform(6.0, 0.01, 200)?;
    loops.push(GpuLoop {
        workload: "standard: GMM d=100 N=1e4 B=1000, 200 EM steps, uniform grid".into(),
        wall_ms: median(time_sampler(&gpu, &grid, 1000, repeats, ctx)?) * 1e3,
    });
    let fashion = datasets(ctx)?
        .into_iter()
        .find(|(n, _)| n.starts_with("fashion"));
    if let Some((_, data)) = fashion {
        let gpu = EmpiricalScore::on_device(&data, Precision::F32, device)?;
        let grid = TimeGrid::log(6.0, 0.01, 100)?;
        for b in [256usize, 1000] {
            loops.push(GpuLoop {
                workload: format!("fashion-mnist 0/1: d=784 N=12000 B={b}, 100 EM steps, log grid"),
                wall_ms: median(time_sampler(&gpu, &grid, b, repeats, ctx)?) * 1e3,
            });
        }
    }
    Ok(GpuSpeed {
        single: singles,
        loops,
    })
}

/// The `gpu` suite: device, accuracy table, speed.
pub fn bench_gpu(repeats: usize, ctx: &BenchCtx) -> Result<GpuBench> {
    let device = match ctx.device {
        Some(d) if !d.is_cpu() => d,
        _ => Device::Cuda(0),
    };
    let probe = TwoClassGmm::standard(4).mixture(0)?.sample(8, 0)?;
    let t0 = Instant::now();
    // Without a device this is the backend's own error, naming the device and what to install.
    let s = EmpiricalScore::on_device(&probe, Precision::F32, device)?;
    let setup_ms = t0.elapsed().as_secs_f64() * 1e3;
    Ok(GpuBench {
        device: s.describe(),
        first_setup_ms: setup_ms,
        accuracy: accuracy(device, ctx)?,
        speed: speed(device, repeats, ctx)?,
    })
}

/// Which kernel plan the GPU uses at dimension d: the fused kernel or the cuBLAS logits.
#[cfg(feature = "cuda")]
fn plan(d: usize) -> &'static str {
    if crate::score::cuda::fused(d) {
        "fused"
    } else {
        "cublas"
    }
}

/// Without the `cuda` feature there is no GPU plan (and no device to bench).
#[cfg(not(feature = "cuda"))]
fn plan(_: usize) -> &'static str {
    "none"
}

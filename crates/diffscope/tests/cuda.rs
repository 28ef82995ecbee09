//! The CUDA backend where there is no GPU (CI): every kernel variant compiles under NVRTC, a broken one
//! is refused, and asking for a GPU without a driver is a clear error. The checks that need a GPU run
//! from `scripts/gpu-check.sh`.
#![cfg(feature = "cuda")]

use diffscope::score::cuda;
use diffscope::score::{Device, EmpiricalScore, Precision};

/// NVRTC must be present when `DIFFSCOPE_REQUIRE_NVRTC` is set (scripts/test.sh installs the
/// `nvidia-cuda-nvrtc` wheel and sets it); otherwise a missing NVRTC skips with a note.
fn nvrtc_or_skip() -> bool {
    if cuda::nvrtc_present() {
        return true;
    }
    assert!(
        std::env::var_os("DIFFSCOPE_REQUIRE_NVRTC").is_none(),
        "DIFFSCOPE_REQUIRE_NVRTC is set but libnvrtc.so.13 cannot be loaded (LD_LIBRARY_PATH = {:?})",
        std::env::var("LD_LIBRARY_PATH")
    );
    eprintln!("NVRTC not found: kernel compile check skipped");
    false
}

/// Every variant (fused plan at d + 1 ≤ 128, cuBLAS plan above; with and without the top-2) compiles for
/// Hopper (sm_90, the H200) and for Ampere (sm_80), at the edges of the plans and at odd d.
#[test]
fn every_kernel_compiles_under_nvrtc() {
    if !nvrtc_or_skip() {
        return;
    }
    for arch in ["sm_80", "sm_90"] {
        for d in [1, 2, 13, 100, 123, 127, 128, 784, 3072] {
            let [plain, top] = cuda::compile(d, arch).unwrap_or_else(|e| panic!("d = {d}: {e}"));
            // For ptxas -v by hand (registers, spills): DIFFSCOPE_PTX_DIR=/tmp/ptx.
            if let Some(dir) = std::env::var_os("DIFFSCOPE_PTX_DIR") {
                let p = std::path::Path::new(&dir).join(format!("d{d}_{arch}_top.ptx"));
                std::fs::write(p, &top).unwrap();
            }
            let entry = |ptx: &str, name: &str| ptx.contains(&format!(".entry {name}"));
            for ptx in [&plain, &top] {
                assert!(entry(ptx, "prep_queries"), "d = {d}");
                if cuda::fused(d) {
                    assert!(
                        entry(ptx, "flash_partial") && entry(ptx, "combine"),
                        "d = {d}"
                    );
                } else {
                    assert!(
                        entry(ptx, "row_softmax") && entry(ptx, "finish_gemm"),
                        "d = {d}"
                    );
                }
            }
            // The top-2 variant does strictly more (the shuffle merges).
            assert!(top.len() > plain.len(), "d = {d}: top-2 variant no larger");
        }
    }
    assert!(cuda::fused(127) && !cuda::fused(128));
}

/// NVRTC's errors reach the caller: a source that does not compile is refused with the compiler's log.
#[test]
fn a_broken_kernel_is_refused() {
    if !nvrtc_or_skip() {
        return;
    }
    let e = cuda::compile_source(
        "extern \"C\" __global__ void k() { undeclared(); }",
        "sm_90",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("undeclared"), "{e}");
}

/// Without a CUDA driver (CI), `--device cuda` is a clear error that names the device and what to
/// install, never a panic and never a fall-back to the CPU. Skipped where a driver is present.
#[test]
fn no_driver_is_a_clear_error() {
    if cuda::driver_present() {
        eprintln!("a CUDA driver is present: the no-driver error is not exercised here");
        return;
    }
    let x: Vec<f32> = (0..40).map(|i| i as f32 * 0.1).collect();
    let mut s = EmpiricalScore::from_rows(&x, 10, 4, Precision::F32).unwrap();
    let e = s.set_device(Device::Cuda(0)).unwrap_err().to_string();
    assert!(
        e.contains("cuda:0") && e.contains("libcuda.so.1") && e.contains("driver"),
        "{e}"
    );
    assert_eq!(
        s.device(),
        Device::Cpu,
        "the score stays on the CPU after a refusal"
    );
    // The f64 reference is refused on a GPU before any driver is looked for.
    let mut r = EmpiricalScore::from_rows(&x, 10, 4, Precision::F64).unwrap();
    let e = r.set_device(Device::Cuda(0)).unwrap_err().to_string();
    assert!(e.contains("f64"), "{e}");
}

// ---- The checks that need a GPU: `cargo test --test cuda -- --ignored` (scripts/gpu-check.sh). ----

use diffscope::data::TwoClassGmm;
use diffscope::score::{Extras, Nearest, OuTime, Score};
use faer::Par;

const NEEDS_GPU: &str = "needs a CUDA GPU: scripts/gpu-check.sh";

mod common;

/// Forward-noised training points (as a sampler near collapse sees them), stream key 0x6770.
fn queries(data: &[f32], d: usize, b: usize, t: f64, seed: u64) -> Vec<f32> {
    common::forward_queries(data, d, b, t, seed, 0x6770)
}

struct Out {
    s: Vec<f32>,
    lp: Vec<f64>,
    nn: Vec<Nearest>,
}

fn eval(score: &dyn Score, x: &[f32], t: f64) -> Out {
    let b = x.len() / score.dim();
    // Poisoned outputs: an element the device never writes stays NaN and fails every comparison.
    let mut o = Out {
        s: vec![f32::NAN; x.len()],
        lp: vec![f64::NAN; b],
        nn: vec![Nearest::default(); b],
    };
    let extras = Extras {
        log_p: Some(&mut o.lp),
        nearest: Some(&mut o.nn),
        posterior: None,
    };
    score.eval_into(x, t, &mut o.s, extras, Par::rayon(0));
    o
}

fn max_rel_row_error(a: &[f32], b: &[f32], d: usize) -> f64 {
    a.chunks(d)
        .zip(b.chunks(d))
        .map(|(x, y)| {
            let num: f64 = x
                .iter()
                .zip(y)
                .map(|(&p, &q)| (p as f64 - q as f64).powi(2))
                .sum();
            let den: f64 = y.iter().map(|&q| (q as f64).powi(2)).sum();
            (num / den).sqrt()
        })
        .fold(0.0, |m, e| if e.is_nan() { f64::NAN } else { m.max(e) })
}

/// The GPU against the f64 reference on both plans and their edges: N below one tile, N not a multiple of
/// 64, one point, many splits; B below, at and above a query tile; d = 1, odd d, d + 1 = 128 (fused edge)
/// and 128 (cuBLAS), 784. Tolerances are the CPU kernel's (tests/score.rs): score relative error ≤ 1e-5
/// per query, log p ≤ 1e-4 (1 + |log p|), the same top-2 indices and d1, d2 within 1e-6. At d = 1 a
/// query's "row" is one number, whose relative error is unbounded where the score crosses 0 (the f32
/// cancellation e^{-t} m − x): there the bound is on the batch's relative L2 error, as in gpu.md.
#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh"]
fn gpu_matches_the_f64_reference() {
    let _ = NEEDS_GPU;
    let mut worst = 0.0f64;
    for (n, d, b) in [
        (1usize, 3usize, 5usize),
        (50, 7, 70),
        (1000, 1, 64),
        (1000, 13, 130),
        (5000, 100, 300),
        (40_000, 100, 65),
        (3000, 126, 33),
        (2000, 127, 40),
        (2000, 128, 40),
        (1500, 784, 33),
    ] {
        let data = TwoClassGmm::standard(d)
            .mixture(0)
            .unwrap()
            .sample(n, 1)
            .unwrap();
        let gpu = EmpiricalScore::on_device(&data, Precision::F32, Device::Cuda(0)).unwrap();
        let exact = EmpiricalScore::new(&data, Precision::F64).unwrap();
        for (i, t) in [0.01, 0.1, 1.0, 6.0].into_iter().enumerate() {
            let x = queries(&data.x, d, b, t, i as u64);
            let (g, r) = (eval(&gpu, &x, t), eval(&exact, &x, t));
            let err = if d == 1 {
                max_rel_row_error(&g.s, &r.s, g.s.len())
            } else {
                max_rel_row_error(&g.s, &r.s, d)
            };
            worst = worst.max(err);
            assert!(
                err <= 1e-5,
                "N = {n}, d = {d}, B = {b}, t = {t}: relative error {err:e}"
            );
            for q in 0..b {
                assert!(
                    (g.lp[q] - r.lp[q]).abs() <= 1e-4 * (1.0 + r.lp[q].abs()),
                    "N = {n}, d = {d}, t = {t}, query {q}: log p {} vs {}",
                    g.lp[q],
                    r.lp[q]
                );
                let xn = x[q * d..(q + 1) * d]
                    .iter()
                    .map(|&v| (v as f64).powi(2))
                    .sum::<f64>()
                    .sqrt();
                if n > 1 {
                    // The same two points; in swapped order only where their logits tie within f32
                    // rounding. The logits' terms are of size |x|²/Δ, so f32 resolves them to ~1e-6 (|x|² + 1)/Δ,
                    // and the logits differ by (d2² − d1²)/2Δ: a tie is |d2² − d1²| ≤ 2e-6 (|x|² + 1). Seen at
                    // d = 1, where 1000 points on a line leave near-equidistant pairs (equal f32 logits,
                    // the smaller index first, as on the CPU).
                    let gi = (g.nn[q].index, g.nn[q].second);
                    let ri = (r.nn[q].index, r.nn[q].second);
                    let (d1, d2) = (r.nn[q].d1 as f64, r.nn[q].d2 as f64);
                    let tie = (d2 * d2 - d1 * d1).abs() <= 2e-6 * (xn * xn + 1.0);
                    assert!(
                        gi == ri || (tie && gi == (ri.1, ri.0)),
                        "N = {n}, d = {d}, t = {t}, query {q}: top-2 {gi:?} vs {ri:?}"
                    );
                }
                // d1 from the packed (centred, f32) point: the round trip a − c → f32 → + c errs by
                // ≤ 2^-24 |a − c| a coordinate, an absolute error ≲ 1e-7 |x| in d1 that dominates its
                // relative error where d1 ≪ |x| (small d at t = 0.01).
                // The reference's distance to the same point (its d2 where a tie swapped the two).
                let want = if g.nn[q].index == r.nn[q].index {
                    r.nn[q].d1
                } else {
                    r.nn[q].d2
                };
                let tol = 1e-6 * (want as f64 + xn);
                assert!(
                    ((g.nn[q].d1 - want) as f64).abs() <= tol,
                    "N = {n}, d = {d}, t = {t}, query {q}: d1 {} vs {want}",
                    g.nn[q].d1
                );
            }
        }
    }
    eprintln!("GPU vs f64: max relative error {worst:e}");
}

/// The same bits run after run, and a query's bits do not depend on its batch (alone, or among 300).
#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh"]
fn gpu_is_deterministic_and_batch_independent() {
    for d in [100usize, 784] {
        let data = TwoClassGmm::standard(d)
            .mixture(0)
            .unwrap()
            .sample(20_000, 2)
            .unwrap();
        let gpu = EmpiricalScore::on_device(&data, Precision::F32, Device::Cuda(0)).unwrap();
        let x = queries(&data.x, d, 300, 0.05, 9);
        let key = |o: &Out| -> Vec<u64> {
            let mut v: Vec<u64> = o.s.iter().map(|v| v.to_bits() as u64).collect();
            v.extend(o.lp.iter().map(|v| v.to_bits()));
            v.extend(o.nn.iter().map(|n| n.index as u64));
            v
        };
        let first = eval(&gpu, &x, 0.05);
        for _ in 0..5 {
            assert!(
                key(&eval(&gpu, &x, 0.05)) == key(&first),
                "d = {d}: bits changed between runs"
            );
        }
        for (lo, hi) in [(0usize, 1usize), (17, 80), (250, 300)] {
            let part = eval(&gpu, &x[lo * d..hi * d], 0.05);
            assert!(
                part.s
                    .iter()
                    .map(|v| v.to_bits())
                    .eq(first.s[lo * d..hi * d].iter().map(|v| v.to_bits())),
                "d = {d}: queries {lo}..{hi} changed with the batch"
            );
        }
    }
}

/// An ordinal the driver does not have is a clear error naming it.
#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh"]
fn a_missing_ordinal_is_a_clear_error() {
    let x: Vec<f32> = (0..40).map(|i| i as f32 * 0.1).collect();
    let mut s = EmpiricalScore::from_rows(&x, 10, 4, Precision::F32).unwrap();
    let e = s.set_device(Device::Cuda(99)).unwrap_err().to_string();
    assert!(e.contains("cuda:99") && e.contains("no such GPU"), "{e}");
}

/// The device-resident Euler–Maruyama loop against the CPU loop, on a one-point training set, where the
/// reverse SDE carries N(0, I) at T = 6 to p_{t_min} = N(e^{-t_min} a, Δ I) (up to e^{-T} a and O(dt)):
/// B = 4000 trajectories, d = 16, t_min = 1 (Δ = 0.865), 200 uniform steps. Both loops share the
/// discretisation, not the noise (the GPU draws its own, Philox): their end-point means and variances
/// agree within sampling error (sd of a variance over B·d = 64000 values ≈ Δ·√(2/64000) = 0.005; of a mean
/// √(Δ/64000) = 0.004; bounds 5 sd), and both sit near the exact law (discretisation ≲ 0.02 at dt = 0.025).
/// A wrong noise amplitude, a non-normal draw or a noise reused across steps or coordinates fails it.
#[test]
#[ignore = "needs a CUDA GPU: scripts/gpu-check.sh"]
fn device_loop_matches_the_host_loop_in_law() {
    use diffscope::progress::Silent;
    use diffscope::sampler::{self, NoObserver, NoiseKey, TimeGrid};
    let d = 16;
    let a: Vec<f32> = (0..d).map(|j| 0.5 + 0.1 * j as f32).collect();
    let cpu = EmpiricalScore::from_rows(&a, 1, d, Precision::F32).unwrap();
    let mut gpu = cpu.clone();
    gpu.set_device(Device::Cuda(0)).unwrap();
    let grid = TimeGrid::uniform(6.0, 1.0, 200).unwrap();
    let key = NoiseKey { seed: 5, first: 0 };
    let b = 4000;
    let run = |s: &EmpiricalScore| {
        let mut x = sampler::initial_noise(b, d, key);
        sampler::euler_maruyama(
            s,
            &mut x,
            &grid,
            key,
            &mut NoObserver,
            &Silent,
            Par::rayon(0),
        )
        .unwrap();
        x
    };
    let (xg, xc) = (run(&gpu), run(&cpu));
    let ou = OuTime::new(1.0);
    let moments = |x: &[f32]| -> (f64, f64) {
        // Mean offset from e^{-t} a and variance about it, over all coordinates.
        let n = x.len() as f64;
        let dev: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| v as f64 - ou.decay * a[i % d] as f64)
            .collect();
        let m = dev.iter().sum::<f64>() / n;
        (m, dev.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n)
    };
    let ((mg, vg), (mc, vc)) = (moments(&xg), moments(&xc));
    eprintln!("device loop: mean {mg:.4}, var {vg:.4}; host loop: mean {mc:.4}, var {vc:.4}; exact: 0, {:.4}", ou.delta);
    assert!(
        (mg - mc).abs() < 5.0 * 0.004 * 2f64.sqrt(),
        "means {mg} vs {mc}"
    );
    assert!(
        (vg - vc).abs() < 5.0 * 0.005 * 2f64.sqrt(),
        "variances {vg} vs {vc}"
    );
    assert!(
        (vg - ou.delta).abs() < 0.05 && mg.abs() < 0.05,
        "far from the exact law: {mg}, {vg}"
    );
    assert!(
        xg.iter().zip(&xc).any(|(p, q)| p != q),
        "the device loop did not run"
    );
}

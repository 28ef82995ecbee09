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
            let entry = |ptx: &str, name: &str| ptx.contains(&format!(".entry {name}"));
            for ptx in [&plain, &top] {
                assert!(entry(ptx, "prep_queries"), "d = {d}");
                if cuda::fused(d) {
                    assert!(entry(ptx, "flash_partial") && entry(ptx, "combine"), "d = {d}");
                } else {
                    assert!(entry(ptx, "row_softmax") && entry(ptx, "finish_gemm"), "d = {d}");
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
    let e = cuda::compile_source("extern \"C\" __global__ void k() { undeclared(); }", "sm_90")
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
    assert!(e.contains("cuda:0") && e.contains("libcuda.so.1") && e.contains("driver"), "{e}");
    assert_eq!(s.device(), Device::Cpu, "the score stays on the CPU after a refusal");
    // The f64 reference is refused on a GPU before any driver is looked for.
    let mut r = EmpiricalScore::from_rows(&x, 10, 4, Precision::F64).unwrap();
    let e = r.set_device(Device::Cuda(0)).unwrap_err().to_string();
    assert!(e.contains("f64"), "{e}");
}

//! The processor's f32 FMA peak, the denominator of the bench's `fraction_of_fma_peak`.
//!
//! Every thread runs 12 independent FMA chains (enough to hide the FMA latency on two FMA units) of the
//! widest vectors an instruction set has, so the figure is issue-bound: what the processor's FMA units
//! deliver, not what memory does.

use crate::score::Isa;
use rayon::prelude::*;
use std::time::Instant;

/// Peak f32 FMA rate (GFLOP/s, all rayon threads together) with the vectors of `isa` (an unsupported one
/// falls back to the widest supported), measured for about half a second: each thread runs 12 chains of
/// 2·10⁸ 8-lane FMAs (AVX2), or as many flops in 16-lane ones.
pub fn fma_peak_gflops(isa: Isa) -> f64 {
    let isa = if isa.supported() { isa } else { Isa::best() };
    let iters = 200_000_000 * 8 / isa.f32_lanes().max(8);
    let threads = rayon::current_num_threads();
    let t0 = Instant::now();
    (0..threads).into_par_iter().for_each(|i| {
        std::hint::black_box(chains(isa, iters, i as f32));
    });
    let flops = threads * iters * 12 * isa.f32_lanes() * 2;
    flops as f64 / t0.elapsed().as_secs_f64() / 1e9
}

fn chains(isa: Isa, iters: usize, seed: f32) -> f32 {
    match isa {
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        // SAFETY: `fma_peak_gflops` only passes supported instruction sets.
        Isa::Avx512 => unsafe { x86::chains_avx512(iters, seed) },
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        Isa::Avx2 => x86::chains_avx2(iters, seed),
        _ => chains_portable(iters, seed),
    }
}

/// 12 independent scalar chains (portable form).
fn chains_portable(iters: usize, seed: f32) -> f32 {
    let mut acc = [seed; 12];
    let (m, c) = (
        std::hint::black_box(1.000_000_1f32),
        std::hint::black_box(1e-7f32),
    );
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(m, c);
        }
    }
    acc.iter().sum()
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod x86 {
    use std::arch::x86_64::*;

    /// 12 independent chains of `iters` 8-lane FMAs.
    pub(super) fn chains_avx2(iters: usize, seed: f32) -> f32 {
        // SAFETY: AVX2 and FMA are enabled at compile time (cfg above); no memory is touched but `out`.
        unsafe {
            let m = _mm256_set1_ps(std::hint::black_box(1.000_000_1));
            let c = _mm256_set1_ps(std::hint::black_box(1e-7));
            let mut a = [_mm256_set1_ps(seed); 12];
            for _ in 0..iters {
                for v in a.iter_mut() {
                    *v = _mm256_fmadd_ps(*v, m, c);
                }
            }
            let sum = a
                .iter()
                .fold(_mm256_setzero_ps(), |t, &v| _mm256_add_ps(t, v));
            let mut out = [0.0f32; 8];
            _mm256_storeu_ps(out.as_mut_ptr(), sum);
            out[0]
        }
    }

    /// 12 independent chains of `iters` 16-lane FMAs.
    ///
    /// # Safety
    /// The processor must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn chains_avx512(iters: usize, seed: f32) -> f32 {
        let m = _mm512_set1_ps(std::hint::black_box(1.000_000_1));
        let c = _mm512_set1_ps(std::hint::black_box(1e-7));
        let mut a = [_mm512_set1_ps(seed); 12];
        for _ in 0..iters {
            for v in a.iter_mut() {
                *v = _mm512_fmadd_ps(*v, m, c);
            }
        }
        let sum = a
            .iter()
            .fold(_mm512_setzero_ps(), |t, &v| _mm512_add_ps(t, v));
        let mut out = [0.0f32; 16];
        _mm512_storeu_ps(out.as_mut_ptr(), sum);
        out[0]
    }
}

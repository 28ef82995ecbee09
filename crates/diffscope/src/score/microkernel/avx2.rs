//! The AVX2 + FMA forms of the 6-row products (the crate is built for `x86-64-v3`): a 6 × 16 block in 12
//! `ymm` registers, per k two 8-lane loads of `v`, six broadcasts of `b` and twelve FMAs.

use super::{MR, NR};
use std::arch::x86_64::*;

/// `out[r][l] = Σ_{k < kk} b[k·6 + r] · v[k·16 + l]` for r < R.
///
/// # Safety
/// `b` must be readable for `kk·6` floats and `v` for `kk·16`.
#[inline(always)]
pub(super) unsafe fn dot<const R: usize>(
    kk: usize,
    b: *const f32,
    v: *const f32,
    out: &mut [[f32; NR]; MR],
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    let step = |acc: &mut [[__m256; 2]; R], k: usize| {
        let v0 = _mm256_loadu_ps(v.add(k * NR));
        let v1 = _mm256_loadu_ps(v.add(k * NR + 8));
        for (r, a) in acc.iter_mut().enumerate() {
            let br = _mm256_broadcast_ss(&*b.add(k * MR + r));
            a[0] = _mm256_fmadd_ps(br, v0, a[0]);
            a[1] = _mm256_fmadd_ps(br, v1, a[1]);
        }
    };
    // Two k per iteration: half the loop overhead.
    let mut k = 0;
    while k + 2 <= kk {
        step(&mut acc, k);
        step(&mut acc, k + 1);
        k += 2;
    }
    if k < kk {
        step(&mut acc, k);
    }
    store(&acc, out);
}

/// # Safety
/// `b` must be readable for `(nblk − 1)·stride + 6R` floats and `v` for `nblk·96`.
#[inline(always)]
pub(super) unsafe fn dot_t<const R: usize>(
    nblk: usize,
    b: *const f32,
    stride: usize,
    v: *const f32,
    out: &mut [[f32; NR]; MR],
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for blk in 0..nblk {
        let bb = b.add(blk * stride);
        let vb = v.add(blk * MR * NR);
        for r in 0..MR {
            let v0 = _mm256_loadu_ps(vb.add(r * NR));
            let v1 = _mm256_loadu_ps(vb.add(r * NR + 8));
            for (c, a) in acc.iter_mut().enumerate() {
                let bc = _mm256_broadcast_ss(&*bb.add(c * MR + r));
                a[0] = _mm256_fmadd_ps(bc, v0, a[0]);
                a[1] = _mm256_fmadd_ps(bc, v1, a[1]);
            }
        }
    }
    store(&acc, out);
}

/// # Safety
/// `b` must be readable for `(idx[k] / 6)·stride + 6R` floats and `v` for `idx.len()·16`.
#[inline(always)]
pub(super) unsafe fn dot_t_gather<const R: usize>(
    idx: &[u32],
    b: *const f32,
    stride: usize,
    v: *const f32,
    out: &mut [[f32; NR]; MR],
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    for (k, &m) in idx.iter().enumerate() {
        let v0 = _mm256_loadu_ps(v.add(k * NR));
        let v1 = _mm256_loadu_ps(v.add(k * NR + 8));
        let m = m as usize;
        let bm = b.add((m / MR) * stride + m % MR);
        for (c, a) in acc.iter_mut().enumerate() {
            let bc = _mm256_broadcast_ss(&*bm.add(c * MR));
            a[0] = _mm256_fmadd_ps(bc, v0, a[0]);
            a[1] = _mm256_fmadd_ps(bc, v1, a[1]);
        }
    }
    store(&acc, out);
}

#[inline(always)]
unsafe fn store<const R: usize>(acc: &[[__m256; 2]; R], out: &mut [[f32; NR]; MR]) {
    for (o, a) in out.iter_mut().zip(acc) {
        _mm256_storeu_ps(o.as_mut_ptr(), a[0]);
        _mm256_storeu_ps(o.as_mut_ptr().add(8), a[1]);
    }
}

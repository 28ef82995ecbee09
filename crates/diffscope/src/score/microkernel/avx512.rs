//! The AVX-512 forms of both products, chosen at run time where the processor has AVX-512F: 12 rows × 16
//! lanes in 12 `zmm` accumulators (one 16-lane load of `v` and 12 broadcast FMAs per k). Twelve
//! independent chains cover the 4-cycle FMA latency of two 512-bit FMA units (6 would leave a quarter of
//! them idle). Each accumulator lane is the same FMA chain as on the AVX2 path, so results are bit-equal.

use super::{Blk, Kernels, MR, NR, ROWS_MAX};
use std::arch::x86_64::*;

/// Calls `$f::<R>(args)` with the const R = `rows` (1..=12).
macro_rules! by_rows12 {
    ($rows:expr, $f:ident ($($arg:expr),*)) => {
        match $rows {
            12 => $f::<12>($($arg),*),
            11 => $f::<11>($($arg),*),
            10 => $f::<10>($($arg),*),
            9 => $f::<9>($($arg),*),
            8 => $f::<8>($($arg),*),
            7 => $f::<7>($($arg),*),
            6 => $f::<6>($($arg),*),
            5 => $f::<5>($($arg),*),
            4 => $f::<4>($($arg),*),
            3 => $f::<3>($($arg),*),
            2 => $f::<2>($($arg),*),
            _ => $f::<1>($($arg),*),
        }
    };
}

/// The AVX-512 kernels (12 rows).
pub(crate) struct Avx512;

impl Kernels for Avx512 {
    const ROWS: usize = ROWS_MAX;

    unsafe fn logits(rows: usize, kk: usize, b: &[f32], v: &[f32], out: &mut Blk) {
        assert!((1..=ROWS_MAX).contains(&rows) && v.len() >= kk * NR);
        assert!(b.len() >= rows.div_ceil(MR) * MR * kk);
        let (b0, v) = (b.as_ptr(), v.as_ptr());
        // Rows 6 … 11 are the next block, 6·kk floats on (not read when rows ≤ 6).
        let b1 = b0.wrapping_add(MR * kk);
        // SAFETY: the asserts bound every read; the caller guarantees AVX-512F.
        unsafe { by_rows12!(rows, dot(kk, b0, b1, v, out)) }
    }

    unsafe fn wsum(rows: usize, nblk: usize, b: &[f32], stride: usize, v: &[f32], out: &mut Blk) {
        super::check_wsum(rows, ROWS_MAX, nblk, b, stride, v);
        let (b, v) = (b.as_ptr(), v.as_ptr());
        // SAFETY: the asserts bound every read; the caller guarantees AVX-512F.
        unsafe { by_rows12!(rows, dot_t(nblk, b, stride, v, out)) }
    }

    unsafe fn wsum_gather(
        rows: usize,
        idx: &[u32],
        b: &[f32],
        stride: usize,
        v: &[f32],
        out: &mut Blk,
    ) {
        super::check_wsum_gather(rows, ROWS_MAX, idx, b, stride, v);
        let (b, v) = (b.as_ptr(), v.as_ptr());
        // SAFETY: the asserts bound every block index and every read of `v`; the caller guarantees AVX-512F.
        unsafe { by_rows12!(rows, dot_t_gather(idx, b, stride, v, out)) }
    }
}

/// `out[r][l] = Σ_{k < kk} p_r[k·6 + r % 6] · v[k·16 + l]` with p_r = `b0` for r < 6, `b1` after.
///
/// # Safety
/// AVX-512F; `b0` readable for `kk·6` floats, `b1` too when R > 6, `v` for `kk·16`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dot<const R: usize>(
    kk: usize,
    b0: *const f32,
    b1: *const f32,
    v: *const f32,
    out: &mut Blk,
) {
    let mut acc = [_mm512_setzero_ps(); R];
    for k in 0..kk {
        let vk = _mm512_loadu_ps(v.add(k * NR));
        for (r, a) in acc.iter_mut().enumerate() {
            let p = if r < MR {
                b0.add(k * MR + r)
            } else {
                b1.add(k * MR + r - MR)
            };
            *a = _mm512_fmadd_ps(_mm512_set1_ps(*p), vk, *a);
        }
    }
    store(&acc, out);
}

/// `out[c][l] = Σ_{k < 6·nblk} b[(k / 6)·stride + c·6 + k % 6] · v[k·16 + l]` for c < R.
///
/// # Safety
/// AVX-512F; `b` readable for `(nblk − 1)·stride + 6R` floats and `v` for `nblk·96`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dot_t<const R: usize>(
    nblk: usize,
    b: *const f32,
    stride: usize,
    v: *const f32,
    out: &mut Blk,
) {
    let mut acc = [_mm512_setzero_ps(); R];
    for blk in 0..nblk {
        let bb = b.add(blk * stride);
        let vb = v.add(blk * MR * NR);
        for r in 0..MR {
            let vk = _mm512_loadu_ps(vb.add(r * NR));
            for (c, a) in acc.iter_mut().enumerate() {
                *a = _mm512_fmadd_ps(_mm512_set1_ps(*bb.add(c * MR + r)), vk, *a);
            }
        }
    }
    store(&acc, out);
}

/// [`dot_t`] over the points `idx` (from the first block), `v` compacted to them.
///
/// # Safety
/// AVX-512F; `b` readable for `(idx[k] / 6)·stride + 6R` floats and `v` for `idx.len()·16`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dot_t_gather<const R: usize>(
    idx: &[u32],
    b: *const f32,
    stride: usize,
    v: *const f32,
    out: &mut Blk,
) {
    let mut acc = [_mm512_setzero_ps(); R];
    for (k, &m) in idx.iter().enumerate() {
        let vk = _mm512_loadu_ps(v.add(k * NR));
        let m = m as usize;
        let bm = b.add((m / MR) * stride + m % MR);
        for (c, a) in acc.iter_mut().enumerate() {
            *a = _mm512_fmadd_ps(_mm512_set1_ps(*bm.add(c * MR)), vk, *a);
        }
    }
    store(&acc, out);
}

#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store<const R: usize>(acc: &[__m512; R], out: &mut Blk) {
    for (o, a) in out.iter_mut().zip(acc) {
        _mm512_storeu_ps(o.as_mut_ptr(), *a);
    }
}

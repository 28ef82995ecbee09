//! Sixteen f32 lanes as one value, on three instruction sets: AVX-512 (one `zmm`), AVX2 (two `ymm`) and
//! portable arrays. The patch machines' f32 path ([`super::lanes`]) is written once over [`Lanes16`].
//! Explicit vectors, because the compiler's auto-vectoriser turned its nested lane loops into gathers
//! over the outer loop (7× slower). Every operation is the same IEEE operation on each lane on every
//! path (fused multiply-adds stay fused), so all three give the same bits.

/// Sixteen f32 values, 64-byte aligned (one cache line, one `zmm`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
pub(super) struct V(pub [f32; 16]);

impl V {
    /// All lanes zero.
    pub const ZERO: V = V([0.0; 16]);
    /// All lanes `x`.
    pub const fn splat(x: f32) -> V {
        V([x; 16])
    }
}

use crate::score::fastexp::{EXP2_POLY as C, EXP2_ROUND as ROUND};

/// Operations on 16 lanes.
///
/// # Safety (of every method)
/// The processor must run the implementation's instruction set.
pub(super) trait Lanes16: Copy {
    /// Loads `v`.
    unsafe fn load(v: &V) -> Self;
    /// Stores into `v`.
    unsafe fn store(self, v: &mut V);
    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self;
    /// a + b.
    unsafe fn add(self, b: Self) -> Self;
    /// a − b.
    unsafe fn sub(self, b: Self) -> Self;
    /// a · b.
    unsafe fn mul(self, b: Self) -> Self;
    /// a · b + c, fused.
    unsafe fn fma(self, b: Self, c: Self) -> Self;
    /// max(a, b) (no NaN arrives here).
    unsafe fn max(self, b: Self) -> Self;
    /// −|a|.
    unsafe fn neg_abs(self) -> Self;
    /// Whether any lane is ≥ `thr`.
    unsafe fn any_ge(self, thr: f32) -> bool;
    /// Per lane: `if self > 0 { a } else { b }`.
    unsafe fn select_pos(self, a: Self, b: Self) -> Self;
    /// $2^y$ for y ≤ 0 by the operations of `exp2_f32` (y below −126 gives $2^{-126}$).
    unsafe fn exp2(self) -> Self;
}

/// Plain arrays (any processor).
#[derive(Clone, Copy)]
pub(super) struct Portable(V);

/// Lane-wise map of one or two arrays.
macro_rules! lanes {
    (|$a:ident| $e:expr, $x:expr) => {{
        let mut r = V::ZERO;
        for (o, &$a) in r.0.iter_mut().zip(&$x.0 .0) {
            *o = $e;
        }
        Portable(r)
    }};
    (|$a:ident, $b:ident| $e:expr, $x:expr, $y:expr) => {{
        let mut r = V::ZERO;
        for ((o, &$a), &$b) in r.0.iter_mut().zip(&$x.0 .0).zip(&$y.0 .0) {
            *o = $e;
        }
        Portable(r)
    }};
}

impl Lanes16 for Portable {
    unsafe fn load(v: &V) -> Self {
        Portable(*v)
    }
    unsafe fn store(self, v: &mut V) {
        *v = self.0;
    }
    unsafe fn splat(x: f32) -> Self {
        Portable(V::splat(x))
    }
    unsafe fn add(self, b: Self) -> Self {
        lanes!(|x, y| x + y, self, b)
    }
    unsafe fn sub(self, b: Self) -> Self {
        lanes!(|x, y| x - y, self, b)
    }
    unsafe fn mul(self, b: Self) -> Self {
        lanes!(|x, y| x * y, self, b)
    }
    unsafe fn fma(self, b: Self, c: Self) -> Self {
        let mut r = V::ZERO;
        for l in 0..16 {
            r.0[l] = self.0 .0[l].mul_add(b.0 .0[l], c.0 .0[l]);
        }
        Portable(r)
    }
    unsafe fn max(self, b: Self) -> Self {
        lanes!(|x, y| x.max(y), self, b)
    }
    unsafe fn neg_abs(self) -> Self {
        lanes!(|x| -x.abs(), self)
    }
    unsafe fn any_ge(self, thr: f32) -> bool {
        self.0 .0.iter().any(|&x| x >= thr)
    }
    unsafe fn select_pos(self, a: Self, b: Self) -> Self {
        let mut r = V::ZERO;
        for l in 0..16 {
            r.0[l] = if self.0 .0[l] > 0.0 {
                a.0 .0[l]
            } else {
                b.0 .0[l]
            };
        }
        Portable(r)
    }
    unsafe fn exp2(self) -> Self {
        lanes!(|y| crate::score::exp2_f32(y), self)
    }
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
pub(super) use x86::{Avx2, Avx512};

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod x86 {
    use super::{Lanes16, C, ROUND, V};
    use std::arch::x86_64::*;

    /// One `zmm` register.
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx512(__m512);

    // SAFETY (every method): the caller guarantees AVX-512F; loads and stores go through references to a
    // 64-byte aligned V.
    impl Lanes16 for Avx512 {
        #[inline(always)]
        unsafe fn load(v: &V) -> Self {
            unsafe { Avx512(_mm512_load_ps(v.0.as_ptr())) }
        }
        #[inline(always)]
        unsafe fn store(self, v: &mut V) {
            unsafe { _mm512_store_ps(v.0.as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            unsafe { Avx512(_mm512_set1_ps(x)) }
        }
        #[inline(always)]
        unsafe fn add(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_add_ps(self.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn sub(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_sub_ps(self.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn mul(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_mul_ps(self.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn fma(self, b: Self, c: Self) -> Self {
            unsafe { Avx512(_mm512_fmadd_ps(self.0, b.0, c.0)) }
        }
        #[inline(always)]
        unsafe fn max(self, b: Self) -> Self {
            unsafe { Avx512(_mm512_max_ps(self.0, b.0)) }
        }
        #[inline(always)]
        unsafe fn neg_abs(self) -> Self {
            unsafe {
                let sign = _mm512_set1_epi32(i32::MIN);
                Avx512(_mm512_castsi512_ps(_mm512_or_si512(
                    _mm512_castps_si512(self.0),
                    sign,
                )))
            }
        }
        #[inline(always)]
        unsafe fn any_ge(self, thr: f32) -> bool {
            unsafe { _mm512_cmp_ps_mask::<_CMP_GE_OQ>(self.0, _mm512_set1_ps(thr)) != 0 }
        }
        #[inline(always)]
        unsafe fn select_pos(self, a: Self, b: Self) -> Self {
            unsafe {
                let m = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(self.0, _mm512_setzero_ps());
                Avx512(_mm512_mask_blend_ps(m, b.0, a.0))
            }
        }
        #[inline(always)]
        unsafe fn exp2(self) -> Self {
            unsafe {
                let s = |x: f32| _mm512_set1_ps(x);
                let y = _mm512_max_ps(self.0, s(-126.0));
                let kr = _mm512_add_ps(y, s(ROUND));
                let k = _mm512_sub_ps(kr, s(ROUND));
                let f = _mm512_sub_ps(y, k);
                let f2 = _mm512_mul_ps(f, f);
                let p01 = _mm512_fmadd_ps(f, s(C[1]), s(C[0]));
                let p23 = _mm512_fmadd_ps(f, s(C[3]), s(C[2]));
                let p45 = _mm512_fmadd_ps(f, s(C[5]), s(C[4]));
                let p = _mm512_fmadd_ps(f2, _mm512_fmadd_ps(f2, p45, p23), p01);
                let bias = (127u32.wrapping_sub(ROUND.to_bits()) << 23) as i32;
                let bits = _mm512_add_epi32(
                    _mm512_slli_epi32::<23>(_mm512_castps_si512(kr)),
                    _mm512_set1_epi32(bias),
                );
                Avx512(_mm512_mul_ps(_mm512_castsi512_ps(bits), p))
            }
        }
    }

    /// Two `ymm` registers.
    #[derive(Clone, Copy)]
    pub(in super::super) struct Avx2(__m256, __m256);

    /// Applies a `ymm` operation to both halves.
    macro_rules! both {
        ($f:ident, $a:expr) => {
            Avx2($f($a.0), $f($a.1))
        };
        ($f:ident, $a:expr, $b:expr) => {
            Avx2($f($a.0, $b.0), $f($a.1, $b.1))
        };
        ($f:ident, $a:expr, $b:expr, $c:expr) => {
            Avx2($f($a.0, $b.0, $c.0), $f($a.1, $b.1, $c.1))
        };
    }

    // SAFETY (every method): the build enables AVX2 and FMA; V is 64-byte aligned, so both halves are
    // 32-byte aligned.
    impl Lanes16 for Avx2 {
        #[inline(always)]
        unsafe fn load(v: &V) -> Self {
            unsafe {
                let p = v.0.as_ptr();
                Avx2(_mm256_load_ps(p), _mm256_load_ps(p.add(8)))
            }
        }
        #[inline(always)]
        unsafe fn store(self, v: &mut V) {
            unsafe {
                let p = v.0.as_mut_ptr();
                _mm256_store_ps(p, self.0);
                _mm256_store_ps(p.add(8), self.1);
            }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            unsafe { Avx2(_mm256_set1_ps(x), _mm256_set1_ps(x)) }
        }
        #[inline(always)]
        unsafe fn add(self, b: Self) -> Self {
            unsafe { both!(_mm256_add_ps, self, b) }
        }
        #[inline(always)]
        unsafe fn sub(self, b: Self) -> Self {
            unsafe { both!(_mm256_sub_ps, self, b) }
        }
        #[inline(always)]
        unsafe fn mul(self, b: Self) -> Self {
            unsafe { both!(_mm256_mul_ps, self, b) }
        }
        #[inline(always)]
        unsafe fn fma(self, b: Self, c: Self) -> Self {
            unsafe { both!(_mm256_fmadd_ps, self, b, c) }
        }
        #[inline(always)]
        unsafe fn max(self, b: Self) -> Self {
            unsafe { both!(_mm256_max_ps, self, b) }
        }
        #[inline(always)]
        unsafe fn neg_abs(self) -> Self {
            unsafe {
                let sign = _mm256_set1_ps(-0.0);
                Avx2(_mm256_or_ps(self.0, sign), _mm256_or_ps(self.1, sign))
            }
        }
        #[inline(always)]
        unsafe fn any_ge(self, thr: f32) -> bool {
            unsafe {
                let t = _mm256_set1_ps(thr);
                let m = _mm256_or_ps(
                    _mm256_cmp_ps::<_CMP_GE_OQ>(self.0, t),
                    _mm256_cmp_ps::<_CMP_GE_OQ>(self.1, t),
                );
                _mm256_movemask_ps(m) != 0
            }
        }
        #[inline(always)]
        unsafe fn select_pos(self, a: Self, b: Self) -> Self {
            unsafe {
                let z = _mm256_setzero_ps();
                let m0 = _mm256_cmp_ps::<_CMP_GT_OQ>(self.0, z);
                let m1 = _mm256_cmp_ps::<_CMP_GT_OQ>(self.1, z);
                Avx2(
                    _mm256_blendv_ps(b.0, a.0, m0),
                    _mm256_blendv_ps(b.1, a.1, m1),
                )
            }
        }
        #[inline(always)]
        unsafe fn exp2(self) -> Self {
            unsafe {
                let s = |x: f32| _mm256_set1_ps(x);
                let half = |y: __m256| {
                    let y = _mm256_max_ps(y, s(-126.0));
                    let kr = _mm256_add_ps(y, s(ROUND));
                    let k = _mm256_sub_ps(kr, s(ROUND));
                    let f = _mm256_sub_ps(y, k);
                    let f2 = _mm256_mul_ps(f, f);
                    let p01 = _mm256_fmadd_ps(f, s(C[1]), s(C[0]));
                    let p23 = _mm256_fmadd_ps(f, s(C[3]), s(C[2]));
                    let p45 = _mm256_fmadd_ps(f, s(C[5]), s(C[4]));
                    let p = _mm256_fmadd_ps(f2, _mm256_fmadd_ps(f2, p45, p23), p01);
                    let bias = (127u32.wrapping_sub(ROUND.to_bits()) << 23) as i32;
                    let bits = _mm256_add_epi32(
                        _mm256_slli_epi32::<23>(_mm256_castps_si256(kr)),
                        _mm256_set1_epi32(bias),
                    );
                    _mm256_mul_ps(_mm256_castsi256_ps(bits), p)
                };
                Avx2(half(self.0), half(self.1))
            }
        }
    }
}

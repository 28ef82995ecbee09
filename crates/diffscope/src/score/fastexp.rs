//! A branch-free f32 exp that the compiler vectorises (AVX2/FMA with `target-cpu=x86-64-v3`).

/// `a·b + c`, fused (one rounding, one instruction) where the target has FMA; LLVM does not contract
/// `a * b + c` by itself, and without hardware FMA `mul_add` would be a slow library call.
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(any(target_feature = "fma", target_arch = "aarch64")) {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// $e^x$ for f32, relative error ≤ 3e-7 (2.5 ulp) on [−87, 88]; inputs below −87 give ≈ 1.6e-38 (not 0), above 88
/// are clamped. Cody–Waite reduction $x = k \ln 2 + r$, $|r| \le \ln 2 / 2$, a degree-6 Taylor polynomial
/// for $e^r$ (truncation error $r^7/7! < 1.2e-8$) evaluated by Estrin's scheme (short dependency chains, so
/// a vectorised loop is not latency-bound), and $2^k$ built from the exponent bits.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding and subtracting it rounds to nearest.
    let x = x.clamp(-87.0, 88.0);
    // kr holds round(x·log2 e) in its low mantissa bits; k is the same integer as a float.
    let kr = fma(x, LOG2E, ROUND);
    let k = kr - ROUND;
    let r = fma(k, -LN2_LO, fma(k, -LN2_HI, x));
    // e^r ≈ (1 + r) + r²(1/2 + r/6) + r⁴(1/24 + r/120 + r²/720).
    let r2 = r * r;
    let p01 = 1.0 + r;
    let p23 = fma(r, 1.0 / 6.0, 0.5);
    let p45 = fma(r, 1.0 / 120.0, 1.0 / 24.0);
    let p456 = fma(r2, 1.0 / 720.0, p45);
    let p = fma(r2, fma(r2, p456, p23), p01);
    // 2^k from the exponent bits; k is read from kr's bits (no float → int conversion, which LLVM would
    // not vectorise because `as` saturates).
    let k_int = kr.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let bits = (k_int.wrapping_add(127) as u32) << 23;
    f32::from_bits(bits) * p
}

/// 1.5 · 2^23: adding and subtracting it rounds an f32 of magnitude below 2^22 to the nearest integer
/// ([`exp2_f32`] and its vector forms).
pub(crate) const EXP2_ROUND: f32 = 12_582_912.0;

/// The minimax polynomial of [`exp2_f32`] for $2^f$ on [−½, ½], constant term first.
pub(crate) const EXP2_POLY: [f32; 6] = [
    1.000_000_1,
    0.693_146_94,
    0.240_221_2,
    0.055_507_13,
    0.009_675_542,
    0.001_327_647_1,
];

/// $2^y$ for f32, relative error ≤ 3e-7 on [−126, 127] (inputs outside are clamped). The kernel's form of
/// [`exp_f32`], for logits already scaled by $\log_2 e$: $y = k + f$ with k = round(y), |f| ≤ ½, a
/// degree-5 polynomial for $2^f$ fitted for minimax relative error on [−½, ½] (7.5e-8 in exact arithmetic,
/// 2.3e-7 evaluated in f32) by Estrin's scheme, and $2^k$ from the exponent bits: three operations fewer
/// than [`exp_f32`].
#[inline(always)]
pub fn exp2_f32(y: f32) -> f32 {
    const ROUND: f32 = EXP2_ROUND;
    const C: [f32; 6] = EXP2_POLY;
    let y = y.clamp(-126.0, 127.0);
    let kr = y + ROUND;
    let k = kr - ROUND;
    let f = y - k;
    let f2 = f * f;
    let p01 = fma(f, C[1], C[0]);
    let p23 = fma(f, C[3], C[2]);
    let p45 = fma(f, C[5], C[4]);
    let p = fma(f2, fma(f2, p45, p23), p01);
    // kr's bits are ROUND's bits + k, so (k + 127) << 23 is kr's bits shifted plus a constant.
    let bits = (kr.to_bits() << 23).wrapping_add((127u32.wrapping_sub(ROUND.to_bits())) << 23);
    f32::from_bits(bits) * p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst relative error of `fast` against the f64 `exact` on 200 001 points of [lo, hi] (the
    /// inputs rounded to f32 first, so only the function's own error is measured).
    fn worst_relative_error(fast: fn(f32) -> f32, exact: fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
        (0..=200_000)
            .map(|i| {
                let x = (lo + (hi - lo) * i as f64 / 200_000.0) as f32;
                (fast(x) as f64 / exact(x as f64) - 1.0).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn matches_f64_exp() {
        let worst = worst_relative_error(exp_f32, f64::exp, -87.0, 88.0);
        // 3e-7 ≈ 2.5 ulp of f32: the f32 polynomial evaluation (~1 ulp), the reduction and the final
        // product each round once. Measured: 2.4e-7.
        assert!(worst < 3e-7, "max relative error {worst:e}");
    }

    #[test]
    fn exp2_matches_f64() {
        let worst = worst_relative_error(exp2_f32, f64::exp2, -126.0, 127.0);
        // The fit's 7.5e-8 plus a few f32 roundings in the polynomial and the final product. Measured:
        // 2.4e-7.
        assert!(worst < 3e-7, "max relative error {worst:e}");
        // Exact powers of two up to the fit's error at f = 0 (1.2e-7).
        assert!((exp2_f32(0.0) - 1.0).abs() <= 1.2e-7);
        assert!((exp2_f32(-3.0) / 0.125 - 1.0).abs() <= 1.2e-7);
    }
}

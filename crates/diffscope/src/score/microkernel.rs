//! The logit GEMM of the empirical-score kernel with its epilogue fused: for a block of queries X (rows ×
//! d, row-major) and a tile of training points packed in panels of 16 (k-major: `panel[k][lane]`),
//! `out[r][j] = c1·⟨x_r, a_j⟩ − c2·|a_j|²` and the row maxima, in one pass over the output.
//!
//! With AVX2 + FMA (the crate is built for `x86-64-v3`) a 6 × 16 register-blocked microkernel does the
//! work: per k, two 8-lane loads of the panel, six broadcasts of X and twelve FMAs. The training points
//! are packed once when the score is built, so no packing happens per call (unlike a general GEMM).
//! Elsewhere a portable loop with the same arithmetic order per output is used.

/// Points per panel.
pub(crate) const PANEL: usize = 16;

/// Packs row-major points (n × d) into panels of [`PANEL`] points, `panels[p][k][l] = a[16p + l][k]`,
/// zero-padded to a whole number of panels.
pub(crate) fn pack_panels(a: &[f32], n: usize, d: usize) -> Vec<f32> {
    let np = n.div_ceil(PANEL);
    let mut out = vec![0.0f32; np * d * PANEL];
    for mu in 0..n {
        let (p, l) = (mu / PANEL, mu % PANEL);
        for k in 0..d {
            out[(p * d + k) * PANEL + l] = a[mu * d + k];
        }
    }
    out
}

/// `out[r·ld + j] = c1·⟨x_r, a_j⟩ − c2·norms[j]` for r < rows and the `panels.len() / (d·16)` panels'
/// points j. After each block of at most 6 rows is complete, `epilogue(r0, rows, block)` is called with
/// `block = out[r0·ld .. (r0 + rows)·ld]`, while those rows are still in L1 (the softmax pass runs there).
#[allow(clippy::too_many_arguments)]
pub(crate) fn logits(
    x: &[f32],
    d: usize,
    panels: &[f32],
    norms: &[f32],
    c1: f32,
    c2: f32,
    out: &mut [f32],
    ld: usize,
    mut epilogue: impl FnMut(usize, usize, &mut [f32]),
) {
    let rows = x.len() / d;
    let np = panels.len() / (d * PANEL);
    debug_assert!(norms.len() >= np * PANEL && ld >= np * PANEL && out.len() >= rows * ld);
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        let mut r0 = 0;
        while r0 < rows {
            let r = (rows - r0).min(6);
            match r {
                6 => simd::block::<6>(x, d, r0, panels, np, norms, c1, c2, out, ld),
                1 => simd::block::<1>(x, d, r0, panels, np, norms, c1, c2, out, ld),
                2 => simd::block::<2>(x, d, r0, panels, np, norms, c1, c2, out, ld),
                3 => simd::block::<3>(x, d, r0, panels, np, norms, c1, c2, out, ld),
                4 => simd::block::<4>(x, d, r0, panels, np, norms, c1, c2, out, ld),
                _ => simd::block::<5>(x, d, r0, panels, np, norms, c1, c2, out, ld),
            }
            epilogue(r0, r, &mut out[r0 * ld..(r0 + r) * ld]);
            r0 += r;
        }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    {
        for r in 0..rows {
            for p in 0..np {
                for l in 0..PANEL {
                    let mut s = 0.0f32;
                    for k in 0..d {
                        s = x[r * d + k].mul_add(panels[(p * d + k) * PANEL + l], s);
                    }
                    let j = p * PANEL + l;
                    out[r * ld + j] = c1 * s - c2 * norms[j];
                }
            }
            epilogue(r, 1, &mut out[r * ld..(r + 1) * ld]);
        }
    }
}

/// Maximum of a row with lane-split accumulators (vectorised, deterministic).
pub(crate) fn row_max(row: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; PANEL];
    let mut chunks = row.chunks_exact(PANEL);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            *m = if v > *m { v } else { *m };
        }
    }
    let m = lanes.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    chunks.remainder().iter().fold(m, |a, &b| a.max(b))
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod simd {
    use super::PANEL;
    use std::arch::x86_64::*;

    /// R query rows (starting at r0) against every panel.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn block<const R: usize>(
        x: &[f32],
        d: usize,
        r0: usize,
        panels: &[f32],
        np: usize,
        norms: &[f32],
        c1: f32,
        c2: f32,
        out: &mut [f32],
        ld: usize,
    ) {
        assert!(x.len() >= (r0 + R) * d && panels.len() >= np * d * PANEL);
        assert!(norms.len() >= np * PANEL && out.len() >= (r0 + R - 1) * ld + np * PANEL);
        // SAFETY: every pointer offset below stays inside the slices checked by the asserts above:
        // x rows r0..r0+R (k < d), panels p < np (k < d, 16 lanes), norms and out columns < np·16.
        unsafe {
            let vc1 = _mm256_set1_ps(c1);
            let vc2 = _mm256_set1_ps(c2);
            let xp = x.as_ptr().add(r0 * d);
            for p in 0..np {
                let pp = panels.as_ptr().add(p * d * PANEL);
                let mut acc = [[_mm256_setzero_ps(); 2]; R];
                for k in 0..d {
                    let b0 = _mm256_loadu_ps(pp.add(k * PANEL));
                    let b1 = _mm256_loadu_ps(pp.add(k * PANEL + 8));
                    for r in 0..R {
                        let a = _mm256_broadcast_ss(&*xp.add(r * d + k));
                        acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
                        acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
                    }
                }
                let n0 = _mm256_mul_ps(vc2, _mm256_loadu_ps(norms.as_ptr().add(p * PANEL)));
                let n1 = _mm256_mul_ps(vc2, _mm256_loadu_ps(norms.as_ptr().add(p * PANEL + 8)));
                for r in 0..R {
                    let o = out.as_mut_ptr().add((r0 + r) * ld + p * PANEL);
                    _mm256_storeu_ps(o, _mm256_fmsub_ps(vc1, acc[r][0], n0));
                    _mm256_storeu_ps(o.add(8), _mm256_fmsub_ps(vc1, acc[r][1], n1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against f64 dot products: every output within f32 accumulation error (d·ε·Σ|x||a| ≤ 1e-5 here).
    #[test]
    fn logits_match_f64() {
        for &(rows, n, d) in &[
            (13usize, 37usize, 5usize),
            (6, 16, 100),
            (1, 3, 1),
            (20, 64, 33),
        ] {
            let x: Vec<f32> = (0..rows * d)
                .map(|i| ((i * 7919) % 97) as f32 / 48.0 - 1.0)
                .collect();
            let a: Vec<f32> = (0..n * d)
                .map(|i| ((i * 104_729) % 89) as f32 / 44.0 - 1.0)
                .collect();
            let norms: Vec<f32> = (0..n.div_ceil(PANEL) * PANEL)
                .map(|j| {
                    if j < n {
                        (0..d).map(|k| a[j * d + k].powi(2)).sum()
                    } else {
                        f32::INFINITY
                    }
                })
                .collect();
            let panels = pack_panels(&a, n, d);
            let ld = n.div_ceil(PANEL) * PANEL;
            let mut out = vec![0.0f32; rows * ld];
            let mut maxes = vec![0.0f32; rows];
            let mut seen = 0;
            let (c1, c2) = (1.5f32, 0.25f32);
            logits(&x, d, &panels, &norms, c1, c2, &mut out, ld, |r0, k, block| {
                assert_eq!(r0, seen, "row blocks in order");
                for r in 0..k {
                    maxes[r0 + r] = row_max(&block[r * ld..r * ld + n]);
                }
                seen += k;
            });
            assert_eq!(seen, rows);
            for r in 0..rows {
                let mut m = f64::NEG_INFINITY;
                for j in 0..n {
                    let dot: f64 = (0..d)
                        .map(|k| x[r * d + k] as f64 * a[j * d + k] as f64)
                        .sum();
                    let want = c1 as f64 * dot - c2 as f64 * norms[j] as f64;
                    assert!(
                        (out[r * ld + j] as f64 - want).abs() < 1e-5 * (d as f64 + 1.0),
                        "{rows} {n} {d}: {r} {j}"
                    );
                    m = m.max(want);
                }
                assert!((maxes[r] as f64 - m).abs() < 1e-5 * (d as f64 + 1.0));
                for j in n..ld {
                    assert_eq!(out[r * ld + j], f32::NEG_INFINITY, "padding must be −∞");
                }
            }
        }
    }
}

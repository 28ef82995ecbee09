//! The register-blocked kernel behind both GEMMs of the empirical score, and the packings it reads.
//!
//! Both products of the flash-softmax kernel have the same shape once queries are the vector lanes:
//! `out[r][l] = Σ_k b[k][r] · v[k][l]` for "broadcast" rows r and 16 query lanes l.
//! - logits: k runs over the d coordinates, `b` = training points (packed as [`packed_index`] says), `v` = 16
//!   queries (packed coordinate-major by the caller);
//! - weighted sum: k runs over the training points of a tile, `b` = coordinates of those points, read from
//!   the same packing in its 6 × 6 sub-blocks ([`dot6x16_t`]), `v` = the 16 queries' softmax weights, stored
//!   point-major.
//!
//! One packing serves both: block β of 6 points is `(d + 1) × 6` floats, coordinate-major, so coordinates
//! 6γ … 6γ + 5 of its 6 points are the 36 consecutive floats at `(β·(d + 1) + 6γ)·6`; the weighted sum walks
//! those sub-blocks with a stride of `6·(d + 1)` floats.
//!
//! Three instruction sets implement [`Kernels`], chosen at run time ([`super::Isa`]):
//! - AVX2 + FMA (the crate is built for `x86-64-v3`, [`avx2`]): 6 rows × 16 lanes in 12 `ymm` registers;
//! - AVX-512 ([`avx512`], where the processor has it): 12 rows × 16 lanes in 12 `zmm` registers, two
//!   6-point blocks (logits) or 12 coordinates (weighted sum) per call, enough independent FMA chains to
//!   keep two 512-bit FMA units busy;
//! - portable loops elsewhere.
//!
//! Every path computes each output element as the same chain of fused multiply-adds, starting from 0 and
//! running over k in ascending order (lanes never mix), so all three give the same bits.

/// Broadcast rows per block.
pub(crate) const MR: usize = 6;
/// Query lanes per strip.
pub(crate) const NR: usize = 16;
/// The most rows a [`Kernels`] call fills (two 6-point blocks).
pub(crate) const ROWS_MAX: usize = 2 * MR;
/// A block of results: up to [`ROWS_MAX`] rows of 16 lanes.
pub(crate) type Blk = [[f32; NR]; ROWS_MAX];

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod avx2;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
mod avx512;

/// The two products of the kernel on one instruction set. Rows are filled up to `rows` ≤ [`Self::ROWS`];
/// the other rows of `out` are left as they are. The methods check the slices' bounds.
///
/// # Safety (of every method)
/// The processor must run the implementation's instruction set ([`super::Isa::supported`]).
pub(crate) trait Kernels {
    /// Rows one call fills at most: 6 (one block of the packing) or 12 (two consecutive blocks).
    const ROWS: usize;

    /// Logits: `out[r][l] = Σ_{k < kk} b[(r / 6)·6·kk + k·6 + r % 6] · v[k·16 + l]`, i.e. row r is point r
    /// of the `rows.div_ceil(6)` consecutive packed blocks (of `kk` coordinates each) starting at `b`.
    unsafe fn logits(rows: usize, kk: usize, b: &[f32], v: &[f32], out: &mut Blk);

    /// Weighted sum: `out[c][l] = Σ_{k < 6·nblk} b[(k / 6)·stride + c·6 + k % 6] · v[k·16 + l]`, c < `rows`
    /// (coordinates c of the 6-point blocks `stride` floats apart, see [`dot6x16_t`]).
    unsafe fn wsum(rows: usize, nblk: usize, b: &[f32], stride: usize, v: &[f32], out: &mut Blk);

    /// [`Self::wsum`] over the points listed in `idx` (indices from the first block), `v` compacted to them.
    unsafe fn wsum_gather(
        rows: usize,
        idx: &[u32],
        b: &[f32],
        stride: usize,
        v: &[f32],
        out: &mut Blk,
    );
}

/// The first 6 rows of a block, as the 6-row kernels take them.
fn six(out: &mut Blk) -> &mut [[f32; NR]; MR] {
    out.first_chunk_mut::<MR>().expect("ROWS_MAX >= MR")
}

/// A [`Kernels`] of 6 rows from three 6-row functions (logits, weighted sum, gathered weighted sum).
macro_rules! six_row_kernels {
    ($(#[$doc:meta])* $name:ident: $logits:ident, $wsum:ident, $gather:ident) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl Kernels for $name {
            const ROWS: usize = MR;
            unsafe fn logits(rows: usize, kk: usize, b: &[f32], v: &[f32], out: &mut Blk) {
                $logits(rows, kk, b, v, six(out))
            }
            unsafe fn wsum(rows: usize, nblk: usize, b: &[f32], stride: usize, v: &[f32], out: &mut Blk) {
                $wsum(rows, nblk, b, stride, v, six(out))
            }
            unsafe fn wsum_gather(
                rows: usize,
                idx: &[u32],
                b: &[f32],
                stride: usize,
                v: &[f32],
                out: &mut Blk,
            ) {
                $gather(rows, idx, b, stride, v, six(out))
            }
        }
    };
}

six_row_kernels!(
    /// The portable loops (also the oracle of the SIMD forms' tests).
    Portable: dot6x16_portable, dot6x16_t_portable, dot6x16_t_gather_portable
);
six_row_kernels!(
    /// AVX2 + FMA, 6 rows (the portable loops where the build lacks AVX2: then [`super::Isa::Avx2`] is
    /// not supported and never chosen).
    Avx2: dot6x16, dot6x16_t, dot6x16_t_gather
);

/// The bounds every weighted-sum kernel checks before reading: `rows` ≤ `max_rows` coordinates of
/// `nblk` blocks `stride` floats apart in `b`, and 96 weights per block in `v`.
fn check_wsum(rows: usize, max_rows: usize, nblk: usize, b: &[f32], stride: usize, v: &[f32]) {
    assert!((1..=max_rows).contains(&rows) && stride >= rows * MR && v.len() >= nblk * MR * NR);
    assert!(nblk == 0 || b.len() >= (nblk - 1) * stride + rows * MR);
}

/// [`check_wsum`] for the gathered form: every listed point's block, and 16 weights per listed point.
fn check_wsum_gather(
    rows: usize,
    max_rows: usize,
    idx: &[u32],
    b: &[f32],
    stride: usize,
    v: &[f32],
) {
    assert!((1..=max_rows).contains(&rows) && stride >= rows * MR && v.len() >= idx.len() * NR);
    assert!(idx
        .iter()
        .all(|&m| (m as usize / MR) * stride + rows * MR <= b.len()));
}

#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
pub(crate) use avx512::Avx512;

/// Calls `$f::<R>(args)` with the const R = `rows` (1..=6; the kernels keep R rows of accumulators).
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
macro_rules! by_rows {
    ($rows:expr, $($f:ident)::+ ($($arg:expr),*)) => {
        match $rows {
            6 => $($f)::+::<6>($($arg),*),
            5 => $($f)::+::<5>($($arg),*),
            4 => $($f)::+::<4>($($arg),*),
            3 => $($f)::+::<3>($($arg),*),
            2 => $($f)::+::<2>($($arg),*),
            _ => $($f)::+::<1>($($arg),*),
        }
    };
}

/// `out[r][l] = Σ_{k < kk} b[k·6 + r] · v[k·16 + l]` for r < `rows` ≤ 6 (the other rows of `out` are left
/// as they are; fewer rows serve the last, partial block of coordinates).
#[inline]
pub(crate) fn dot6x16(rows: usize, kk: usize, b: &[f32], v: &[f32], out: &mut [[f32; NR]; MR]) {
    assert!(b.len() >= kk * MR && v.len() >= kk * NR && (1..=MR).contains(&rows));
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        let (b, v) = (b.as_ptr(), v.as_ptr());
        // SAFETY: the assert above bounds every read (k < kk, r < 6); `out` is a whole 6 × 16 array.
        unsafe { by_rows!(rows, avx2::dot(kk, b, v, out)) }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    dot6x16_portable(rows, kk, b, v, out)
}

/// `out[c][l] = Σ_{k < 6·nblk} b[(k / 6)·stride + c·6 + k % 6] · v[k·16 + l]` for c < `rows` ≤ 6: the
/// weighted sum over the points of `nblk` packed 6-point blocks, reading coordinates c of point k from the
/// 6 × 6 sub-block of its block (see the module doc). Same products in the same order (k ascending) as
/// [`dot6x16`] on a point-major copy of those coordinates.
#[inline]
pub(crate) fn dot6x16_t(
    rows: usize,
    nblk: usize,
    b: &[f32],
    stride: usize,
    v: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    check_wsum(rows, MR, nblk, b, stride, v);
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        let (b, v) = (b.as_ptr(), v.as_ptr());
        // SAFETY: the asserts above bound every read (block < nblk, c < rows, r < 6, k < 6·nblk).
        unsafe { by_rows!(rows, avx2::dot_t(nblk, b, stride, v, out)) }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    dot6x16_t_portable(rows, nblk, b, stride, v, out)
}

/// [`dot6x16_t`] over the points listed in `idx` (the live points of a tile, indices from the tile's
/// first block), with `v` compacted to those points.
#[inline]
pub(crate) fn dot6x16_t_gather(
    rows: usize,
    idx: &[u32],
    b: &[f32],
    stride: usize,
    v: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    check_wsum_gather(rows, MR, idx, b, stride, v);
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    {
        let (b, v) = (b.as_ptr(), v.as_ptr());
        // SAFETY: the asserts above bound every block index and every read of `v`.
        unsafe { by_rows!(rows, avx2::dot_t_gather(idx, b, stride, v, out)) }
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    )))]
    dot6x16_t_gather_portable(rows, idx, b, stride, v, out)
}

/// The portable form of [`dot6x16_t`].
#[cfg_attr(
    all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ),
    allow(dead_code)
)]
pub(crate) fn dot6x16_t_portable(
    rows: usize,
    nblk: usize,
    b: &[f32],
    stride: usize,
    v: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    let idx: Vec<u32> = (0..(nblk * MR) as u32).collect();
    dot6x16_t_gather_portable(rows, &idx, b, stride, v, out)
}

/// The portable form of [`dot6x16_t_gather`].
#[cfg_attr(
    all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ),
    allow(dead_code)
)]
pub(crate) fn dot6x16_t_gather_portable(
    rows: usize,
    idx: &[u32],
    b: &[f32],
    stride: usize,
    v: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    out[..rows].iter_mut().for_each(|o| *o = [0.0; NR]);
    for (k, &m) in idx.iter().enumerate() {
        let m = m as usize;
        let base = (m / MR) * stride + m % MR;
        for (c, o) in out[..rows].iter_mut().enumerate() {
            let bc = b[base + c * MR];
            for (l, ol) in o.iter_mut().enumerate() {
                *ol = super::fastexp::fma(bc, v[k * NR + l], *ol);
            }
        }
    }
}

/// The portable form of [`dot6x16`] (also the oracle of its test).
#[cfg_attr(
    all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ),
    allow(dead_code)
)]
pub(crate) fn dot6x16_portable(
    rows: usize,
    kk: usize,
    b: &[f32],
    v: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    out[..rows].iter_mut().for_each(|o| *o = [0.0; NR]);
    for k in 0..kk {
        for (r, o) in out[..rows].iter_mut().enumerate() {
            let br = b[k * MR + r];
            for (l, ol) in o.iter_mut().enumerate() {
                *ol = super::fastexp::fma(br, v[k * NR + l], *ol);
            }
        }
    }
}

/// Where coordinate k of point μ lives in the packing of points with `k1` coordinates each: blocks of 6
/// points, coordinate-major, `(β·k1 + k)·6 + r` for μ = 6β + r. Block β is `[6β·k1, 6(β+1)·k1)`.
#[inline]
pub(crate) fn packed_index(mu: usize, k: usize, k1: usize) -> usize {
    ((mu / MR) * k1 + k) * MR + mu % MR
}

/// Packs row-major points (n × d) by [`packed_index`], zero-padded to whole blocks.
#[cfg(test)]
pub(crate) fn pack_rows6(a: &[f32], n: usize, d: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n.div_ceil(MR) * MR * d];
    for mu in 0..n {
        for k in 0..d {
            out[packed_index(mu, k, d)] = a[mu * d + k];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against f64 sums: within f32 accumulation error (k·ε·Σ|b||v| ≤ 1e-5 · (k + 1) for |b|, |v| ≤ 1), for
    /// every row count; rows past `rows` are left untouched.
    #[test]
    fn dot6x16_matches_f64() {
        for &kk in &[1usize, 5, 100, 257] {
            let b: Vec<f32> = (0..kk * MR)
                .map(|i| ((i * 7919) % 97) as f32 / 48.0 - 1.0)
                .collect();
            let v: Vec<f32> = (0..kk * NR)
                .map(|i| ((i * 104_729) % 89) as f32 / 44.0 - 1.0)
                .collect();
            for rows in 1..=MR {
                let (mut fast, mut portable) = ([[7.0f32; NR]; MR], [[7.0f32; NR]; MR]);
                dot6x16(rows, kk, &b, &v, &mut fast);
                dot6x16_portable(rows, kk, &b, &v, &mut portable);
                for r in 0..MR {
                    for l in 0..NR {
                        if r >= rows {
                            assert_eq!((fast[r][l], portable[r][l]), (7.0, 7.0));
                            continue;
                        }
                        let want: f64 = (0..kk)
                            .map(|k| b[k * MR + r] as f64 * v[k * NR + l] as f64)
                            .sum();
                        let tol = 1e-5 * (kk as f64 + 1.0);
                        assert!((fast[r][l] as f64 - want).abs() < tol, "{kk} {r} {l}");
                        assert!((portable[r][l] as f64 - want).abs() < tol, "{kk} {r} {l}");
                    }
                }
            }
        }
    }

    /// The old point-major layout of 6 coordinates (the weighted-sum oracle): `out[(γ·n6 + μ)·6 + c] =
    /// a[μ][6γ + c]`.
    fn pack_cols6(a: &[f32], n: usize, d: usize) -> Vec<f32> {
        let n6 = n.div_ceil(MR) * MR;
        let mut out = vec![0.0f32; d.div_ceil(MR) * n6 * MR];
        for mu in 0..n {
            for j in 0..d {
                out[((j / MR) * n6 + mu) * MR + j % MR] = a[mu * d + j];
            }
        }
        out
    }

    /// The weighted sum read from the one packing, dense and gathered (SIMD and portable), equals
    /// [`dot6x16`] on a point-major copy of the same coordinates to the last bit: same products, same
    /// order of accumulation. Covers partial coordinate blocks (d = 13, augmented to 14) and every row count.
    #[test]
    fn transposed_read_equals_point_major_product() {
        let (n, d) = (40usize, 13usize);
        let k1 = d + 1;
        let a: Vec<f32> = (0..n * k1)
            .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let packed = pack_rows6(&a, n, k1);
        let n6 = n.div_ceil(MR) * MR;
        let cols = pack_cols6(&a, n, k1);
        let v: Vec<f32> = (0..n6 * NR)
            .map(|i| ((i * 13) % 11) as f32 / 5.0 - 1.0)
            .collect();
        let stride = MR * k1;
        for g in 0..d.div_ceil(MR) {
            let rows = MR.min(d - g * MR);
            // Points 6 … 35 (blocks 1 … 5) of coordinate block g.
            let (b0, nblk) = (1usize, 5usize);
            let sub = &packed[(b0 * k1 + g * MR) * MR..];
            let oracle_b = &cols[(g * n6 + b0 * MR) * MR..];
            let vv = &v[b0 * MR * NR..];
            let (mut want, mut fast, mut portable) =
                ([[0.0f32; NR]; MR], [[0.0; NR]; MR], [[0.0; NR]; MR]);
            dot6x16(rows, nblk * MR, oracle_b, vv, &mut want);
            dot6x16_t(rows, nblk, sub, stride, vv, &mut fast);
            dot6x16_t_portable(rows, nblk, sub, stride, vv, &mut portable);
            assert_eq!(fast[..rows], want[..rows], "block {g}");
            assert_eq!(portable[..rows], want[..rows], "block {g}");
            // Gathered: the live points 0, 3, 4, 9, 17, 18, 29 of the same blocks, weights compacted.
            let idx: Vec<u32> = vec![0, 3, 4, 9, 17, 18, 29];
            let compact_b: Vec<f32> = idx
                .iter()
                .flat_map(|&m| oracle_b[m as usize * MR..(m as usize + 1) * MR].to_vec())
                .collect();
            let compact_v: Vec<f32> = idx
                .iter()
                .flat_map(|&m| vv[m as usize * NR..(m as usize + 1) * NR].to_vec())
                .collect();
            let (mut want, mut fast, mut portable) =
                ([[0.0f32; NR]; MR], [[0.0; NR]; MR], [[0.0; NR]; MR]);
            dot6x16(rows, idx.len(), &compact_b, &compact_v, &mut want);
            dot6x16_t_gather(
                rows,
                &idx,
                &sub[..(nblk - 1) * stride + rows * MR],
                stride,
                &compact_v,
                &mut fast,
            );
            dot6x16_t_gather_portable(rows, &idx, sub, stride, &compact_v, &mut portable);
            assert_eq!(fast[..rows], want[..rows], "gather, block {g}");
            assert_eq!(portable[..rows], want[..rows], "gather, block {g}");
        }
    }

    #[test]
    fn packing_places_every_value() {
        let (n, d) = (7usize, 8usize);
        let a: Vec<f32> = (0..n * d).map(|i| i as f32 + 1.0).collect();
        let rows = pack_rows6(&a, n, d);
        assert_eq!(rows.len(), 12 * d);
        for mu in 0..12 {
            for j in 0..d {
                let want = if mu < n { a[mu * d + j] } else { 0.0 };
                assert_eq!(rows[((mu / MR) * d + j) * MR + mu % MR], want);
            }
        }
    }
}

//! The fused flash-softmax kernel of [`EmpiricalScore`], in stages (science.md §2).
//!
//! For one block of queries, in strips of 16 (the vector lanes), over the packed training set in tiles:
//! 1. [`pack_queries`]: the augmented queries, coordinate-major per strip;
//! 2. [`logits_tile`]: the tile's logits by the register-blocked product (`microkernel`) and their
//!    maximum per query; [`Strip::track_top`] keeps the two largest;
//! 3. online softmax: [`Strip::raise_max`] rescales the running sums to a new maximum,
//!    [`Strip::scan_live`] finds the points within 2^-64 of it, [`exp_tile`] turns logits into weights;
//! 4. [`weighted_sum_tile`]: Σ w·a by the second product, flushed into f64 sums;
//! 5. [`finish_states`]: the query-major [`States`], with exact f64 distances to the top-2.
//!
//! One call streams one segment of the training set (a run of whole tiles) from the empty state; the
//! caller folds the segments' states in segment order (`EmpiricalScore::block_state`).
//!
//! The stages are generic over the instruction set ([`Kernels`]); [`block_state`] instantiates them once per
//! [`Isa`], the AVX-512 copy inside a function compiled for AVX-512 so that the stages' plain loops (the
//! exp, the maxima, the f64 flush) are vectorised 16 lanes wide too. Every element is computed by the same
//! operations in the same order on every path: the instruction set changes no bit.

use super::empirical::{EmpiricalScore, States, Top, Want};
use super::fastexp::exp2_f32;
use super::microkernel::{self, Blk, Kernels, MR, NR, ROWS_MAX};
use super::{Isa, OuTime};
use std::ops::Range;

/// Points whose logits are below every query's running max by more than this (in log2 units) are skipped.
const LIVE_LOG2: f32 = 64.0;

/// The flash-softmax states of one block of queries `x` (row-major, whole strips but for the last) over
/// the tiles `tiles` of `sc`'s points (one segment, [`EmpiricalScore::segments`]) on instruction set
/// `isa`, each strip starting from the empty state; the top-2 (with exact f64 distances) and the posterior
/// sums when `want` asks.
///
/// Panics if `isa` is not supported here ([`EmpiricalScore`] checks it when it is set).
pub(super) fn block_state(
    sc: &EmpiricalScore,
    isa: Isa,
    x: &[f32],
    ou: OuTime,
    want: Want,
    tiles: Range<usize>,
) -> States {
    assert!(isa.supported(), "instruction set {isa} not supported here");
    match isa {
        // SAFETY (all arms): `isa.supported()` checked that the processor runs the instruction set.
        Isa::Portable => unsafe { run::<microkernel::Portable>(sc, x, ou, want, tiles) },
        Isa::Avx2 => unsafe { run::<microkernel::Avx2>(sc, x, ou, want, tiles) },
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        Isa::Avx512 => unsafe { run_avx512(sc, x, ou, want, tiles) },
        #[cfg(not(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        )))]
        Isa::Avx512 => unreachable!("AVX-512 is never supported without an AVX2 build"),
    }
}

/// [`run`] compiled for AVX-512.
///
/// # Safety
/// The processor must have AVX-512F.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "avx2",
    target_feature = "fma"
))]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512(
    sc: &EmpiricalScore,
    x: &[f32],
    ou: OuTime,
    want: Want,
    tiles: Range<usize>,
) -> States {
    // SAFETY: the caller guarantees AVX-512F.
    unsafe { run::<microkernel::Avx512>(sc, x, ou, want, tiles) }
}

/// The stages over the tiles `tiles` (tile k: points k·tile … of the packing) and every strip of one block.
///
/// # Safety
/// The processor must run K's instruction set.
#[inline(always)]
unsafe fn run<K: Kernels>(
    sc: &EmpiricalScore,
    x: &[f32],
    ou: OuTime,
    want: Want,
    tiles: Range<usize>,
) -> States {
    let (d, n6, tile_len) = (sc.d, sc.n6, sc.tile);
    let k1 = d + 1;
    let xp = pack_queries(x, d, ou, &sc.centre);
    let bq = x.len() / d;
    let mut strips: Vec<Strip> = (0..bq.div_ceil(NR))
        .map(|s| Strip::new(d, bq - s * NR, want))
        .collect();
    // Per strip and tile: logits, then weights, point-major (w[μ·16 + l]); the live points of a sparse tile.
    let mut w = vec![0.0f32; tile_len * NR];
    let mut live: Vec<u32> = Vec::with_capacity(tile_len);
    for (tile_index, k) in tiles.enumerate() {
        let j0 = k * tile_len;
        let len = tile_len.min(n6 - j0);
        let tile = Tile {
            j0,
            len,
            real: len.min(sc.n - j0),
        };
        for (s, st) in strips.iter_mut().enumerate() {
            let xs = &xp[s * k1 * NR..(s + 1) * k1 * NR];
            // SAFETY: the caller's contract (K's instruction set is supported).
            let tmax = unsafe { logits_tile::<K>(&sc.rows6, k1, tile, xs, &mut w) };
            if want.top {
                st.track_top(&w, tile);
            }
            let new_max = st.raise_max(&tmax);
            // The scan runs on a segment's first two tiles (the first against its own maximum) and after
            // sparse tiles, so the dense regime (large t) pays almost nothing for it, and a segment at
            // small t turns sparse from its first tile. Dense and sparse give the same bits.
            let dense = if tile_index <= 1 || st.sparse {
                st.scan_live(&w, tile.len, &new_max, &mut live)
            } else {
                true
            };
            st.sparse = !dense;
            // The posterior's sums only when asked: the plain instance computes exactly what it did
            // before they existed.
            let sums = if want.posterior {
                exp_tile::<true>(&mut w, tile.len, &live, dense, &new_max)
            } else {
                exp_tile::<false>(&mut w, tile.len, &live, dense, &new_max)
            };
            st.add_sums(&sums);
            // SAFETY: as for the logits.
            unsafe { weighted_sum_tile::<K>(&sc.rows6, d, tile, dense, &w, &live, &mut st.acc) };
        }
    }
    finish_states(sc, x, ou, &strips, want)
}

/// Training points `j0 … j0 + len` (a multiple of 6) of the packing, of which the first `real` are points
/// and the rest zero padding.
#[derive(Clone, Copy)]
struct Tile {
    j0: usize,
    len: usize,
    real: usize,
}

/// Stage 1. The augmented queries c·(x − e^{-t} centre, −e^{-t}/2), c = log2(e) e^{-t}/Δ, packed
/// coordinate-major in strips of 16 (zero-padded): `xp[(s·(d + 1) + j)·16 + l]` = coordinate j of query
/// 16s + l. Its dot product with an augmented point (a', |a'|²) is the logit in units of log2 e,
/// y = log2(e)·(e^{-t} x'·a' − ½ e^{-2t} |a'|²)/Δ.
fn pack_queries(x: &[f32], d: usize, ou: OuTime, centre: &[f64]) -> Vec<f32> {
    let k1 = d + 1;
    let bq = x.len() / d;
    let strips = bq.div_ceil(NR);
    let c = std::f64::consts::LOG2_E * ou.decay / ou.delta;
    let mut xp = vec![0.0f32; strips * k1 * NR];
    for s in 0..strips {
        xp[(s * k1 + d) * NR..(s * k1 + k1) * NR].fill((-c * ou.decay / 2.0) as f32);
    }
    for i in 0..bq {
        let (s, l) = (i / NR, i % NR);
        for j in 0..d {
            xp[(s * k1 + j) * NR + l] = (c * (x[i * d + j] as f64 - ou.decay * centre[j])) as f32;
        }
    }
    xp
}

/// Stage 2. The logits of one strip over one tile into `w` (point-major, `w[m·16 + l]`), padding points
/// −∞, `K::ROWS` points per product; returns the tile's maximum per lane.
///
/// # Safety
/// K's instruction set must be supported.
#[inline(always)]
unsafe fn logits_tile<K: Kernels>(
    rows6: &[f32],
    k1: usize,
    tile: Tile,
    xs: &[f32],
    w: &mut [f32],
) -> [f32; NR] {
    let mut blk: Blk = [[0.0; NR]; ROWS_MAX];
    let mut tmax = [f32::NEG_INFINITY; NR];
    let mut b = 0;
    while b < tile.len {
        let rows = K::ROWS.min(tile.len - b);
        let mu0 = tile.j0 + b;
        // SAFETY: the caller's contract; `K::logits` checks the bounds.
        unsafe { K::logits(rows, k1, &rows6[mu0 * k1..(mu0 + rows) * k1], xs, &mut blk) };
        for (r, br) in blk[..rows].iter().enumerate() {
            let row = &mut w[(b + r) * NR..(b + r + 1) * NR];
            if b + r >= tile.real {
                row.fill(f32::NEG_INFINITY);
                continue;
            }
            row.copy_from_slice(br);
            for l in 0..NR {
                tmax[l] = if br[l] > tmax[l] { br[l] } else { tmax[l] };
            }
        }
        b += rows;
    }
    tmax
}

/// Per-lane sums of one tile's weights (two interleaved partial sums per lane, by the parity of the
/// point's row): Σw, and when the posterior is tracked Σ w·(y − max) and Σ w².
struct TileSums {
    w: [[f32; NR]; 2],
    wy: [[f32; NR]; 2],
    ww: [[f32; NR]; 2],
}

/// Stage 3c. Weights w = 2^(y − max) = e^(logit − max) and their [`TileSums`] (the posterior's only when
/// `POST`), over the whole tile (`dense`), or over the `live` rows compacted in place (row k ← row
/// live[k], live[k] ≥ k) for a gathered weighted sum.
#[inline(always)]
fn exp_tile<const POST: bool>(
    w: &mut [f32],
    len: usize,
    live: &[u32],
    dense: bool,
    new_max: &[f32; NR],
) -> TileSums {
    let zero = [[0.0f32; NR]; 2];
    let mut sums = TileSums {
        w: zero,
        wy: zero,
        ww: zero,
    };
    // One lane of one row: the weight, its sums; a skipped weight is exactly 0 (and adds 0, not 0·(−∞)).
    let lane = |sums: &mut TileSums, parity: usize, l: usize, y: f32| -> f32 {
        let y = y - new_max[l];
        let live = y >= -LIVE_LOG2;
        let e = if live { exp2_f32(y) } else { 0.0 };
        sums.w[parity][l] += e;
        if POST {
            sums.wy[parity][l] += if live { e * y } else { 0.0 };
            sums.ww[parity][l] += e * e;
        }
        e
    };
    if dense {
        for (m, row) in w[..len * NR].chunks_exact_mut(NR).enumerate() {
            for l in 0..NR {
                row[l] = lane(&mut sums, m & 1, l, row[l]);
            }
        }
    } else {
        for (k, &src) in live.iter().enumerate() {
            let src = src as usize;
            // A copy of the source row, so that the lane loop provably does not alias.
            let mut y = [0.0f32; NR];
            y.copy_from_slice(&w[src * NR..(src + 1) * NR]);
            let row = &mut w[k * NR..(k + 1) * NR];
            for l in 0..NR {
                row[l] = lane(&mut sums, src & 1, l, y[l]);
            }
        }
    }
    sums
}

/// Stage 4. `acc[j·16 + l] += Σ_μ w_μ a'_μj` over the tile (f32 products, flushed into the f64 sums),
/// `K::ROWS` coordinates per product, read from the packing's 6 × 6 sub-blocks (coordinates 6g … of the
/// tile's blocks, one block every 6·(d + 1) floats); dense or over the compacted `live` rows.
///
/// # Safety
/// K's instruction set must be supported.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn weighted_sum_tile<K: Kernels>(
    rows6: &[f32],
    d: usize,
    tile: Tile,
    dense: bool,
    w: &[f32],
    live: &[u32],
    acc: &mut [f64],
) {
    let k1 = d + 1;
    let stride = MR * k1;
    let nblk = tile.len / MR;
    let mut blk: Blk = [[0.0; NR]; ROWS_MAX];
    let mut j = 0;
    while j < d {
        let rows = K::ROWS.min(d - j);
        let first = (tile.j0 / MR * k1 + j) * MR;
        let cp = &rows6[first..first + (nblk - 1) * stride + rows * MR];
        // SAFETY: the caller's contract; the kernels check the bounds.
        unsafe {
            if dense {
                K::wsum(rows, nblk, cp, stride, w, &mut blk);
            } else {
                K::wsum_gather(rows, live, cp, stride, w, &mut blk);
            }
        }
        for (c, bc) in blk[..rows].iter().enumerate() {
            let a = &mut acc[(j + c) * NR..(j + c + 1) * NR];
            a.iter_mut().zip(bc).for_each(|(a, &v)| *a += v as f64);
        }
        j += rows;
    }
}

/// The running state of one 16-query strip: maximum and Σw per lane (log2 units, f64 sums), Σ w·a'
/// lane-major (`acc[j·16 + l]`, f64), the top-2 logits (logit, index, second logit, index), the
/// posterior sums Σ w·(y − max) and Σ w² (f64; used only when tracked) and whether its last tile was
/// sparse.
struct Strip {
    max: [f32; NR],
    sum: [f64; NR],
    ent: [f64; NR],
    sq: [f64; NR],
    acc: Vec<f64>,
    top: Vec<(f32, u32, f32, u32)>,
    sparse: bool,
}

impl Strip {
    /// The empty state of a strip holding `queries` (≥ 1; only the first 16 count) real queries.
    fn new(d: usize, queries: usize, want: Want) -> Strip {
        let top = (f32::NEG_INFINITY, 0u32, f32::NEG_INFINITY, 0u32);
        Strip {
            max: [f32::NEG_INFINITY; NR],
            sum: [0.0; NR],
            ent: [0.0; NR],
            sq: [0.0; NR],
            acc: vec![0.0; d * NR],
            top: vec![top; if want.top { queries.min(NR) } else { 0 }],
            sparse: false,
        }
    }

    /// Flushes a tile's f32 sums into the strip's f64 sums (same maximum).
    #[inline(always)]
    fn add_sums(&mut self, t: &TileSums) {
        for l in 0..NR {
            self.sum[l] += (t.w[0][l] + t.w[1][l]) as f64;
            self.ent[l] += (t.wy[0][l] + t.wy[1][l]) as f64;
            self.sq[l] += (t.ww[0][l] + t.ww[1][l]) as f64;
        }
    }

    /// Stage 2b. Offers the tile's real points to each lane's top-2 (strictly larger logits win: ties keep
    /// the earlier point).
    fn track_top(&mut self, w: &[f32], tile: Tile) {
        for m in 0..tile.real {
            for (l, tp) in self.top.iter_mut().enumerate() {
                let v = w[m * NR + l];
                if v > tp.2 {
                    let mu = (tile.j0 + m) as u32;
                    *tp = if v > tp.0 {
                        (v, mu, tp.0, tp.1)
                    } else {
                        (tp.0, tp.1, v, mu)
                    };
                }
            }
        }
    }

    /// Stage 3a. Raises the running maxima to `new` where it is larger, rescaling Σw and Σw·a' by
    /// 2^(old − new) (lanes whose maximum did not change keep scale 1), Σw² by its square and
    /// Σw·(y − max) to 2^(old − new)·(Σw·(y − old) + (old − new)·Σw); returns the new maxima.
    #[inline(always)]
    fn raise_max(&mut self, new: &[f32; NR]) -> [f32; NR] {
        let mut out = [0.0f32; NR];
        let mut scale = [1.0f64; NR];
        let mut rescale = false;
        for l in 0..NR {
            let old = self.max[l];
            out[l] = if new[l] > old { new[l] } else { old };
            if out[l] > old {
                let shift = (old - out[l]) as f64;
                scale[l] = shift.exp2();
                if self.sum[l] > 0.0 {
                    self.ent[l] = scale[l] * (self.ent[l] + shift * self.sum[l]);
                    self.sq[l] *= scale[l] * scale[l];
                }
                self.sum[l] *= scale[l];
                self.max[l] = out[l];
                rescale = true;
            }
        }
        if rescale {
            for a in self.acc.chunks_exact_mut(NR) {
                a.iter_mut().zip(&scale).for_each(|(a, &c)| *a *= c);
            }
        }
        out
    }

    /// Stage 3b. The live points of the tile: some lane's logit within 64 (log2 units) of its max. The
    /// others have weights < 2^-64 relative to the final max, whose sum, ≤ N·2^-64, is far below f32
    /// resolution: their weights are exactly 0 on the dense path and skipped on the sparse one, the same
    /// bits either way. Returns whether the tile is dense (≥ 7/8 live).
    #[inline(always)]
    fn scan_live(&self, w: &[f32], len: usize, new_max: &[f32; NR], live: &mut Vec<u32>) -> bool {
        live.clear();
        for (m, row) in w[..len * NR].chunks_exact(NR).enumerate() {
            let mut any = false;
            for l in 0..NR {
                any |= row[l] >= new_max[l] - LIVE_LOG2;
            }
            if any {
                live.push(m as u32);
            }
        }
        live.len() * 8 >= len * 7
    }
}

/// Stage 5. The states, query-major; exact f64 distances to the two nearest scaled points, from the
/// original x and a = a' + c, when the top-2 were tracked.
fn finish_states(
    sc: &EmpiricalScore,
    x: &[f32],
    ou: OuTime,
    strips: &[Strip],
    want: Want,
) -> States {
    let d = sc.d;
    let bq = x.len() / d;
    let mut st = States::empty(bq, d, want);
    for i in 0..bq {
        let (strip, l) = (&strips[i / NR], i % NR);
        st.max[i] = strip.max[l];
        st.sum[i] = strip.sum[l];
        if want.posterior {
            st.ent[i] = strip.ent[l];
            st.sq[i] = strip.sq[l];
        }
        for j in 0..d {
            st.acc[i * d + j] = strip.acc[j * NR + l];
        }
    }
    if want.top {
        let exact_d2 =
            |i: usize, mu: u32| sc.exact_dist_sq(&x[i * d..(i + 1) * d], mu as usize, ou);
        for i in 0..bq {
            let (y1, i1, y2, i2) = strips[i / NR].top[i % NR];
            let second = (sc.n > 1).then(|| exact_d2(i, i2));
            st.top[i] = Top {
                y1,
                i1: i1 as u64,
                d1sq: exact_d2(i, i1),
                y2,
                i2: i2 as u64,
                d2sq: second.unwrap_or(f64::INFINITY),
            };
        }
    }
    st
}

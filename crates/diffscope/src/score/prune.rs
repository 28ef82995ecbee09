//! Certified pruning of the empirical score's logits: partial dot products with a Cauchy–Schwarz bound
//! on the remaining coordinates (issue #15).
//!
//! In log2 units the kernel's logit of training point a (centred, packed as `a'`) for the packed query
//! x̃ = C·(x − e^{-t}c), C = log2(e)·e^{-t}/Δ_t, is
//!
//! $y = \sum_{j<d} \tilde x_j a'_j + \tilde x_d |a'|^2$, with $\tilde x_d = -C e^{-t}/2$.
//!
//! After the first K coordinates of the dot product (the head H, which the register-blocked GEMM
//! computes anyway on its way to the full product), Cauchy–Schwarz on the tail gives the upper bound
//!
//! $y \le U_K = H + \|\tilde x_{K:d}\|\,\|a'_{K:d}\| + \tilde x_d |a'|^2$.
//!
//! **The skip and why it is exact.** A block of 6 points × 16 queries stops at checkpoint K when, for
//! every pair, $U_K + \epsilon < m - 64$, where m is the query's running maximum (in log2 units) and ε
//! bounds the f32 rounding of both the head and the full product ($\epsilon = (2(d+1) + 8)\,2^{-24}
//! (\|\tilde x\| \max_\mu \|a'_\mu\| + |\tilde x_d| \max_\mu |a'_\mu|^2)$, twice the classical
//! $\gamma_{d+1}$ bound on a dot product's error plus the bound's own three roundings). The f32 logit the
//! kernel would have computed is then below m − 64, i.e. below the kernel's existing skip threshold
//! (weights under 2^-64 of the running maximum are set to exactly 0). So a pruned point contributes
//! exactly what it contributed before, nothing, and **results are bit-identical with pruning on or
//! off** (tested). When log p or the nearest points are wanted, the bound must also lie below the query's
//! current second-best logit, so that the top-2 (and the exact distances behind the memorisation ratio)
//! never miss a point.
//!
//! **The seed.** Collapsed queries (small t) have one dominant point a*; until the running maximum has
//! seen it, the bound prunes little. So a strip that turns sparse runs a pilot once: the head GEMM at
//! the first checkpoint over all points, the 4 best upper bounds per query, their exact logits (f64), and
//! the running maximum raised to the best of them (an ordinary online-softmax rescale; any logit is a
//! lower bound of the final maximum). The pilot depends only on the strip's queries and the points, so
//! results stay independent of the thread count and the block split.
//!
//! **Off by default** (`EmpiricalScore::set_pruning`): on this machine the pilot and the pruned blocks'
//! strided reads of the heads cost about what the skipped logits save (BENCHMARKS.md).
//!
//! Tail norms are O(N) per checkpoint (checkpoints K = 12, 24, 48, … ≤ d/2, so O(N log d) in all).

use super::microkernel::{dot6x16, dot6x16_resume, MR, NR};

/// Candidates per query kept by the pilot.
const PILOT_CANDIDATES: usize = 4;
/// The first checkpoint; the others double it while K ≤ d/2.
const FIRST_CHECKPOINT: usize = 12;

/// Per-point bookkeeping of the bound: tail norms per checkpoint and squared norms, plus the maxima
/// behind the rounding margin.
#[derive(Clone, Debug)]
pub(crate) struct PruneIndex {
    /// Checkpoints K (coordinates of the head), ascending; empty when d < 24 (nothing to gain).
    pub(crate) checkpoints: Vec<usize>,
    /// `tails[c][μ]` ≥ ‖a'_μ[K_c..d]‖ (rounded up), zero for the padding points.
    tails: Vec<Vec<f32>>,
    /// `sq[μ]` = |a'_μ|², the packing's augmented coordinate.
    sq: Vec<f32>,
    /// max_μ ‖a'_μ‖ and max_μ |a'_μ|² (rounded up).
    norm_max: f64,
    sq_max: f64,
}

/// Rounds a non-negative f64 up to an f32 that is not below it.
fn up(v: f64) -> f32 {
    let f = v as f32;
    if (f as f64) < v {
        f32::from_bits(f.to_bits() + 1)
    } else {
        f
    }
}

/// The tail norms ‖v[K_c..d]‖ of one vector (coordinate j read by `v(j)`, squares summed in f64 from
/// the last coordinate down), rounded up, handed to `put(c, norm)` for every checkpoint c; returns the
/// whole norm ‖v[0..d]‖.
fn tail_norms(
    checkpoints: &[usize],
    d: usize,
    v: impl Fn(usize) -> f64,
    mut put: impl FnMut(usize, f32),
) -> f64 {
    let mut tail = 0.0f64;
    let mut c = checkpoints.len();
    for j in (0..d).rev() {
        tail += v(j) * v(j);
        if c > 0 && j == checkpoints[c - 1] {
            c -= 1;
            put(c, up(tail.sqrt() * (1.0 + 1e-12)));
        }
    }
    tail.sqrt()
}

impl PruneIndex {
    /// The bookkeeping of the packing `rows6` (n6 points, 6-point blocks of k1 = d + 1 coordinates).
    pub(crate) fn new(
        rows6: &[f32],
        n6: usize,
        d: usize,
        index: impl Fn(usize, usize) -> usize,
    ) -> Self {
        let mut checkpoints = Vec::new();
        let mut k = FIRST_CHECKPOINT;
        while 2 * k <= d {
            checkpoints.push(k);
            k *= 2;
        }
        let mut tails = vec![vec![0.0f32; n6]; checkpoints.len()];
        let mut sq = vec![0.0f32; n6];
        let (mut norm_max, mut sq_max) = (0.0f64, 0.0f64);
        for mu in 0..n6 {
            let norm = tail_norms(
                &checkpoints,
                d,
                |j| rows6[index(mu, j)] as f64,
                |c, t| tails[c][mu] = t,
            );
            norm_max = norm_max.max(norm);
            sq[mu] = rows6[index(mu, d)];
            sq_max = sq_max.max(sq[mu] as f64);
        }
        PruneIndex {
            checkpoints,
            tails,
            sq,
            norm_max: norm_max * (1.0 + 1e-6),
            sq_max: sq_max * (1.0 + 1e-6),
        }
    }

    /// Whether the bound has any checkpoint at this d.
    pub(crate) fn enabled(&self) -> bool {
        !self.checkpoints.is_empty()
    }
}

/// The per-strip quantities of the bound: the queries' tail norms per checkpoint and rounding margins.
#[derive(Clone, Debug)]
pub(crate) struct StripBound {
    /// `qtail[c][l]` ≥ ‖x̃_l[K_c..d]‖.
    qtail: Vec<[f32; NR]>,
    /// ε per lane (see the module doc).
    margin: [f32; NR],
    /// x̃_d (the same for every lane).
    xd: f32,
}

impl StripBound {
    /// From one packed query strip `xs` (coordinate-major, `xs[j·16 + l]`, k1 = d + 1 coordinates).
    pub(crate) fn new(ix: &PruneIndex, xs: &[f32], d: usize) -> Self {
        let xd = xs[d * NR];
        let mut qtail = vec![[0.0f32; NR]; ix.checkpoints.len()];
        let mut margin = [0.0f32; NR];
        let gamma = (2.0 * (d as f64 + 1.0) + 8.0) * 2f64.powi(-24);
        for l in 0..NR {
            let norm = tail_norms(
                &ix.checkpoints,
                d,
                |j| xs[j * NR + l] as f64,
                |c, t| qtail[c][l] = t,
            );
            let s = norm * ix.norm_max + (xd as f64).abs() * ix.sq_max;
            margin[l] = up(gamma * s);
        }
        StripBound { qtail, margin, xd }
    }

    /// Whether every pair of the block (points μ0 … μ0 + 5, the 16 lanes) has $U_K + ε < \mathrm{thr}$,
    /// with `head` the partial products over the first K = checkpoint c coordinates.
    #[inline]
    pub(crate) fn block_below(
        &self,
        ix: &PruneIndex,
        c: usize,
        mu0: usize,
        head: &[[f32; NR]; MR],
        thr: &[f32; NR],
    ) -> bool {
        let mut worst = [f32::NEG_INFINITY; NR];
        self.bounds(ix, c, mu0, head, |_, u| {
            for l in 0..NR {
                worst[l] = if u[l] > worst[l] { u[l] } else { worst[l] };
            }
        });
        let mut pruned = true;
        for l in 0..NR {
            pruned &= worst[l] + self.margin[l] < thr[l];
        }
        pruned
    }

    /// Calls `f(r, U[r])` with the 16 lanes' upper bounds $U_K$ of each of the block's 6 points (lane-wise
    /// arithmetic, which the compiler vectorises).
    #[inline(always)]
    fn bounds(
        &self,
        ix: &PruneIndex,
        c: usize,
        mu0: usize,
        head: &[[f32; NR]; MR],
        mut f: impl FnMut(usize, &[f32; NR]),
    ) {
        let qt = &self.qtail[c];
        for (r, h) in head.iter().enumerate() {
            let ta = ix.tails[c][mu0 + r];
            let norm_term = self.xd * ix.sq[mu0 + r];
            let mut u = [0.0f32; NR];
            for l in 0..NR {
                u[l] = h[l] + qt[l] * ta + norm_term;
            }
            f(r, &u);
        }
    }
}

/// The pilot of one strip (see the module doc): each lane's 4 largest upper bounds at the first
/// checkpoint, scanned a range of points at a time (the kernel scans tile by tile for all its piloting
/// strips, so that a tile's heads are read from memory once), then their exact logits.
#[derive(Clone, Debug)]
pub(crate) struct Pilot {
    best: [[(f32, usize); PILOT_CANDIDATES]; NR],
    /// The 4th-best bound per lane, lane-major, for the vectorised test that rarely lets a row through.
    fourth: [f32; NR],
}

impl Pilot {
    pub(crate) fn new() -> Self {
        Pilot {
            best: [[(f32::NEG_INFINITY, 0usize); PILOT_CANDIDATES]; NR],
            fourth: [f32::NEG_INFINITY; NR],
        }
    }

    /// Offers the points `mu_lo .. mu_hi` (a multiple of 6 ≤ μ_lo; points ≥ n are padding) of the
    /// packing `rows6` (6-point blocks of k1 coordinates) to strip `xs` with bound quantities `sb`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn scan(
        &mut self,
        sb: &StripBound,
        ix: &PruneIndex,
        rows6: &[f32],
        n: usize,
        xs: &[f32],
        k1: usize,
        mu_lo: usize,
        mu_hi: usize,
    ) {
        let k = ix.checkpoints[0];
        let mut blk = [[0.0f32; NR]; MR];
        for mu0 in (mu_lo..mu_hi.min(n)).step_by(MR) {
            prefetch_head(rows6, (mu0 + 4 * MR) * k1, k);
            dot6x16(MR, k, &rows6[mu0 * k1..(mu0 + MR) * k1], xs, &mut blk);
            sb.bounds(ix, 0, mu0, &blk, |r, u| {
                let mut any = false;
                for l in 0..NR {
                    any |= u[l] > self.fourth[l];
                }
                if !any || mu0 + r >= n {
                    return;
                }
                for l in 0..NR {
                    let b = &mut self.best[l];
                    if u[l] > b[PILOT_CANDIDATES - 1].0 {
                        let mut i = PILOT_CANDIDATES - 1;
                        while i > 0 && b[i - 1].0 < u[l] {
                            b[i] = b[i - 1];
                            i -= 1;
                        }
                        b[i] = (u[l], mu0 + r);
                        self.fourth[l] = b[PILOT_CANDIDATES - 1].0;
                    }
                }
            });
        }
    }

    /// Each lane's best exact logit (f64, from the same packed values) among its candidates: a lower
    /// bound of the lane's final maximum.
    pub(crate) fn seed(
        &self,
        rows6: &[f32],
        xs: &[f32],
        k1: usize,
        index: impl Fn(usize, usize) -> usize,
    ) -> [f64; NR] {
        let mut seed = [f64::NEG_INFINITY; NR];
        for l in 0..NR {
            for &(u, mu) in &self.best[l] {
                if u == f32::NEG_INFINITY {
                    continue;
                }
                let y: f64 = (0..k1)
                    .map(|j| xs[j * NR + l] as f64 * rows6[index(mu, j)] as f64)
                    .sum();
                seed[l] = seed[l].max(y);
            }
        }
        seed
    }
}

/// Prefetches the first k coordinates (6k floats) of the 6-point block at `at`, if inside `rows6`.
#[inline(always)]
fn prefetch_head(rows6: &[f32], at: usize, k: usize) {
    #[cfg(target_arch = "x86_64")]
    if at + k * MR <= rows6.len() {
        for line in (0..k * MR).step_by(16) {
            // SAFETY: in bounds (checked above); a prefetch has no other effect.
            unsafe {
                std::arch::x86_64::_mm_prefetch(
                    rows6.as_ptr().add(at + line) as *const i8,
                    std::arch::x86_64::_MM_HINT_T0,
                )
            }
        }
    }
}

/// GEMM 1 of one 6-point block with checkpoints: the head up to each active checkpoint, then the bound;
/// returns true (and leaves `blk` partial) when the block is pruned, else finishes the full product.
/// `stats[c]` counts (blocks checked, blocks pruned) at checkpoint c; inactive checkpoints are skipped.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn logits_or_prune(
    ix: &PruneIndex,
    sb: &StripBound,
    active: &[bool],
    stats: &mut [(u32, u32)],
    mu0: usize,
    bp: &[f32],
    xs: &[f32],
    k1: usize,
    thr: &[f32; NR],
    blk: &mut [[f32; NR]; MR],
) -> bool {
    // From zero sums, resuming is the one-call product (the same FMA chain from +0).
    *blk = [[0.0; NR]; MR];
    let mut k = 0;
    for (c, &kc) in ix.checkpoints.iter().enumerate() {
        if !active[c] {
            continue;
        }
        dot6x16_resume(k, kc, bp, xs, blk);
        k = kc;
        stats[c].0 += 1;
        if sb.block_below(ix, c, mu0, blk, thr) {
            stats[c].1 += 1;
            return true;
        }
    }
    dot6x16_resume(k, k1, bp, xs, blk);
    false
}

#[cfg(test)]
mod tests {
    use super::super::microkernel::packed_index;
    use super::*;

    /// Cauchy–Schwarz made tight: every point's tail is a positive multiple of the (shared) query tail,
    /// so the bound equals the exact logit up to rounding. With the threshold placed exactly at a pair's
    /// exact logit (f64, then rounded down to f32), the block must never be pruned, whatever the scale
    /// (the margin absorbs the f32 rounding); with the threshold a margin above every exact logit it
    /// must be (the bound is not vacuous).
    #[test]
    fn bound_never_prunes_a_pair_at_the_threshold() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        for &d in &[30usize, 100, 784] {
            let k1 = d + 1;
            for &scale in &[1.0f64, 70.0, 3000.0] {
                let tail: Vec<f64> = (0..d).map(|_| rnd()).collect();
                let mut xs = vec![0.0f32; k1 * NR];
                for l in 0..NR {
                    for j in 0..d {
                        let head = j < FIRST_CHECKPOINT;
                        xs[j * NR + l] = (scale * if head { rnd() } else { tail[j] }) as f32;
                    }
                    xs[d * NR + l] = (-scale * 0.45) as f32;
                }
                let mut rows6 = vec![0.0f32; MR * k1];
                for r in 0..MR {
                    let lambda = 0.5 + r as f64;
                    let mut sq = 0.0;
                    for j in 0..d {
                        let v = if j < FIRST_CHECKPOINT {
                            2.0 * rnd()
                        } else {
                            lambda * tail[j]
                        };
                        let v = v as f32;
                        sq += v as f64 * v as f64;
                        rows6[packed_index(r, j, k1)] = v;
                    }
                    rows6[packed_index(r, d, k1)] = sq as f32;
                }
                let ix = PruneIndex::new(&rows6, MR, d, |mu, j| packed_index(mu, j, k1));
                let sb = StripBound::new(&ix, &xs, d);
                let exact = |r: usize, l: usize| -> f64 {
                    (0..k1)
                        .map(|j| xs[j * NR + l] as f64 * rows6[packed_index(r, j, k1)] as f64)
                        .sum()
                };
                let mut head = [[0.0f32; NR]; MR];
                dot6x16(MR, FIRST_CHECKPOINT, &rows6, &xs, &mut head);
                for r in 0..MR {
                    for l in 0..NR {
                        // Every other pair far below, this pair exactly at the threshold.
                        let mut thr = [f32::INFINITY; NR];
                        let y = exact(r, l);
                        let t = y as f32;
                        thr[l] = if (t as f64) > y {
                            f32::from_bits(t.to_bits() - 1)
                        } else {
                            t
                        };
                        for (r2, l2) in (0..MR).flat_map(|r2| (0..NR).map(move |l2| (r2, l2))) {
                            if l2 == l && r2 != r && exact(r2, l) > y {
                                thr[l] = f32::INFINITY; // another row of this lane is higher: skip
                            }
                        }
                        if thr[l].is_finite() {
                            assert!(
                                !sb.block_below(&ix, 0, 0, &head, &thr),
                                "d = {d}, scale = {scale}: pair ({r}, {l}) at the threshold was pruned"
                            );
                        }
                    }
                }
                let mut thr = [0.0f32; NR];
                for (l, t) in thr.iter_mut().enumerate() {
                    let top = (0..MR)
                        .map(|r| exact(r, l))
                        .fold(f64::NEG_INFINITY, f64::max);
                    *t = (top + 2.0 * sb.margin[l] as f64 + 1e-6 * top.abs()) as f32;
                }
                assert!(
                    sb.block_below(&ix, 0, 0, &head, &thr),
                    "d = {d}, scale = {scale}: vacuous"
                );
            }
        }
    }
}

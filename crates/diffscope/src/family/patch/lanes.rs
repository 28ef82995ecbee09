//! The f32 fast path of the patch machines ([`PatchScore`], `precision = f32`): 16 training images
//! side by side in the vector lanes, so that every step of a patch distance is one lane-wise operation.
//!
//! For one query, one group of 16 images and one shift s = q − p, rows of the map of squared differences
//! $m(e) = \sum_c (x_c(e) - e^{-t} a_c(e + s))^2$ over the shift's extended window are computed once each;
//! each output row's patch distances are the sum of P map rows (in row order), then of P neighbouring
//! columns (left to right). For odd P ≤ 15 blocks of 4, 2 or 1 map columns run down the rows with their
//! last P map rows in registers ([`vertical_fixed`]); other sizes keep a ring of P map rows in memory;
//! both add in the same order, so they give the same bits. Every term is non-negative and nothing is subtracted, so a
//! distance carries a relative error of at most 2(P − 1) f32 roundings whatever its size beside its
//! neighbours (running sums with subtraction, or 2-D prefix sums, carry the error of the largest sum on
//! their path, which in f32 would swamp the small distances that dominate the softmax).
//!
//! Each lane keeps its own online softmax per pixel in f32 with one exp per candidate, in log2 units:
//! with τ = ℓ − m (ℓ the logit, m the lane's running maximum) and e = 2^{−|τ|},
//! τ > 0: (m, Σ, Σa) ← (ℓ, Σe + 1, Σa·e + a), else (m, Σ + e, Σa + e·a). After each row of shifts
//! (at most W candidates per lane and pixel), the live lanes are folded, by a fixed pairwise tree, into
//! the pixel's f64 softmax (maximum, Σw, Σw·a) and restarted at its maximum; only the image rows the row
//! of shifts reached are folded (under zero padding a row of shifts s_i reaches H − |s_i| of them; a
//! pixel with no new candidate would fold to the same bits). Candidates more than [`SKIP`] below the
//! running maximum in all 16 lanes are skipped.

use super::simd::{Lanes16, Portable, V};
use super::{Padding, PatchScore};
use crate::score::OuTime;

/// Vector lanes: training images per group.
pub(super) const LANES: usize = 16;

/// Candidates below the running maximum by more than this (log2 units: 40 nats) in every lane are
/// skipped: each weighs less than $e^{-40}$ of the pixel's largest weight (the running maximum never
/// exceeds the final one), so all N·H·W of them together move Σw (≥ 1 in those units) by at most
/// N H W e^{−40}, 7e-12 at N = 2000 and 28 × 28 pixels, far below the f32 path's own error.
const SKIP: f32 = 40.0 * std::f32::consts::LOG2_E;

/// The training images in lane layout: group g, channel c, pixel k at `[(g·C + c)·H W + k]`, image
/// 16 g + l in lane l; the lanes past N in the last group are zero (and masked out).
pub(super) fn lane_layout(a: &[f32], n: usize, d: usize) -> Vec<V> {
    let groups = n.div_ceil(LANES);
    let mut out = vec![V::ZERO; groups * d];
    for (mu, img) in a.chunks_exact(d).enumerate() {
        let (g, l) = (mu / LANES, mu % LANES);
        for (k, &v) in img.iter().enumerate() {
            out[g * d + k].0[l] = v;
        }
    }
    out
}

/// Per-pixel f64 softmax of one query (log2 units): maximum, Σw and Σw·a (C values per pixel,
/// channel-major).
struct Global {
    max: Vec<f64>,
    sum: Vec<f64>,
    acc: Vec<f64>,
}

/// Per-pixel, per-lane f32 softmax of the current row of shifts.
struct Lanes {
    max: Vec<V>,
    sum: Vec<V>,
    acc: Vec<V>,
}

/// Scratch of one (shift, group): a ring of P map rows, their order for the current output row, that
/// row's vertical sums, its scaled negative patch distances (the logits), and (common P) every output
/// row's vertical sums.
struct Scratch {
    ring: Vec<V>,
    order: Vec<usize>,
    vrow: Vec<V>,
    z: Vec<V>,
    vsum: Vec<V>,
}

/// The query on its extended grid ((C, H + 2r, W + 2r), padded) and the group's training canvas
/// ((C, rows, columns) of 16-lane pixels), with their shapes.
struct Grids<'a> {
    xe: &'a [f32],
    xe_shape: (usize, usize),
    canvas: &'a [V],
    canvas_shape: (usize, usize),
}

impl PatchScore {
    /// The denoised image D(x) of one query at patch size p on the f32 lane path (module doc), on the
    /// widest instruction set this processor runs (the same bits on each).
    pub(super) fn denoise_lanes(&self, x: &[f32], ou: OuTime, p: usize) -> Vec<f64> {
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "avx2",
            target_feature = "fma"
        ))]
        {
            if crate::score::Isa::Avx512.supported() {
                // SAFETY: the processor reports AVX-512F.
                return unsafe { self.denoise_avx512(x, ou, p) };
            }
            // SAFETY: the build enables AVX2 and FMA.
            return unsafe { self.denoise_with::<super::simd::Avx2>(x, ou, p) };
        }
        #[allow(unreachable_code)]
        // SAFETY: portable code runs anywhere.
        unsafe {
            self.denoise_with::<Portable>(x, ou, p)
        }
    }

    /// [`Self::denoise_with`] on AVX-512.
    ///
    /// # Safety
    /// The processor must have AVX-512F.
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "avx2",
        target_feature = "fma"
    ))]
    #[target_feature(enable = "avx512f")]
    unsafe fn denoise_avx512(&self, x: &[f32], ou: OuTime, p: usize) -> Vec<f64> {
        // SAFETY: the caller guarantees AVX-512F.
        unsafe { self.denoise_with::<super::simd::Avx512>(x, ou, p) }
    }

    /// The lane path on instruction set S.
    ///
    /// # Safety
    /// The processor must run S's instruction set.
    #[inline(always)]
    pub(super) unsafe fn denoise_with<S: Lanes16>(
        &self,
        x: &[f32],
        ou: OuTime,
        p: usize,
    ) -> Vec<f64> {
        let (ch, h, w) = self.shape;
        let hw = h * w;
        let r = p / 2;
        let (eh, ew) = (h + 2 * r, w + 2 * r);
        let xe: Vec<f32> = self
            .canvas(x, r, (0, 0))
            .0
            .iter()
            .map(|&v| v as f32)
            .collect();
        // The training canvas: extended rows and columns of the image, and under circular padding as
        // many again, since a shift runs up to h − 1 past them (zero padding maps only the pixels whose
        // training pixel exists, which keeps every shifted window inside the extended grid).
        let (cr, cc) = match self.padding {
            Padding::Zero => (eh, ew),
            Padding::Circular => (eh + h, ew + w),
        };
        let mut glob = Global {
            max: vec![f64::NEG_INFINITY; hw],
            sum: vec![0.0; hw],
            acc: vec![0.0; hw * ch],
        };
        let mut lanes = Lanes {
            max: vec![V::splat(f32::MIN); hw],
            sum: vec![V::ZERO; hw],
            acc: vec![V::ZERO; hw * ch],
        };
        let mut sc = Scratch {
            ring: vec![V::ZERO; p * ew],
            order: vec![0; p],
            vrow: vec![V::ZERO; ew],
            z: vec![V::ZERO; w],
            vsum: vec![V::ZERO; h * ew],
        };
        let mut canvas = vec![V::ZERO; ch * cr * cc];
        let shifts = self.shifts();
        // Logits in log2 units: ℓ = −D · log2(e) / 2Δ.
        let inv = (std::f64::consts::LOG2_E / (2.0 * ou.delta)) as f32;
        let decay = ou.decay as f32;
        for (g, group) in self.lanes.chunks_exact(ch * hw).enumerate() {
            let live = (self.n - g * LANES).min(LANES);
            self.lane_canvas(group, r, (cr, cc), decay, &mut canvas);
            let grids = Grids {
                xe: &xe,
                xe_shape: (eh, ew),
                canvas: &canvas,
                canvas_shape: (cr, cc),
            };
            for row in shifts.chunk_by(|a, b| a.0 == b.0) {
                for &s in row {
                    // SAFETY: the caller guarantees S's instruction set.
                    unsafe { self.lane_shift::<S>(&mut lanes, &mut sc, &grids, group, s, p, inv) };
                }
                // Only the image rows this row of shifts reached (the same for every shift of the row):
                // folding a pixel whose lanes saw no candidate since its last fold changes no bit.
                let rows = self.window((row[0].0, 0)).rows;
                // SAFETY: the caller guarantees S's instruction set.
                unsafe {
                    fold::<S>(
                        &mut glob,
                        &mut lanes,
                        ch,
                        live,
                        rows.start * w..rows.end * w,
                    )
                };
            }
        }
        (0..hw * ch)
            .map(|k| glob.acc[k] / glob.sum[k % hw])
            .collect()
    }

    /// The group's images, scaled by the decay, on the training canvas of `cr` × `cc` pixels per channel
    /// (canvas pixel (ci, cj) is image pixel (ci − r, cj − r), padded).
    fn lane_canvas(
        &self,
        group: &[V],
        r: usize,
        (cr, cc): (usize, usize),
        decay: f32,
        out: &mut [V],
    ) {
        let (ch, h, w) = self.shape;
        for c in 0..ch {
            for ci in 0..cr {
                for cj in 0..cc {
                    let (i, j) = (ci as isize - r as isize, cj as isize - r as isize);
                    out[(c * cr + ci) * cc + cj] = match self.pixel_index(i, j) {
                        Some(k) => V(group[c * h * w + k].0.map(|v| v * decay)),
                        None => V::ZERO,
                    };
                }
            }
        }
    }

    /// Offers every pixel of the window its candidate for one (group, shift). Map rows of squared
    /// differences are computed once each into a ring of p rows; each output row's distances are the sums
    /// of p ring rows (in row order) and then of p neighbouring columns (left to right).
    ///
    /// # Safety
    /// The processor must run S's instruction set.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn lane_shift<S: Lanes16>(
        &self,
        lanes: &mut Lanes,
        sc: &mut Scratch,
        grids: &Grids<'_>,
        group: &[V],
        (si, sj): (isize, isize),
        p: usize,
        inv: f32,
    ) {
        let win = self.window((si, sj));
        let ch = self.shape.0;
        let ((eh, ew), (cr, cc)) = (grids.xe_shape, grids.canvas_shape);
        let ncol = win.cols.len();
        let mw = ncol + p - 1;
        let cj = (win.cols.start as isize + sj) as usize;
        let cols = Cols {
            first: win.cols.start,
            canvas: cj,
            len: mw,
        };
        // The common patch sizes: the map's column blocks run down the rows with their last p map rows in
        // registers (the same operations in the same order as the ring below, so the same bits).
        macro_rules! fixed {
            ($p:literal, $b:literal) => {{
                let out = &mut sc.vsum[..win.rows.len() * mw];
                // SAFETY (this block and the next): the caller guarantees S.
                unsafe {
                    if mw >= $b {
                        vertical_fixed::<S, $p, $b>(grids, ch, win.rows.clone(), si, cols, out);
                    } else {
                        vertical_fixed::<S, $p, 1>(grids, ch, win.rows.clone(), si, cols, out);
                    }
                }
                true
            }};
        }
        let done = match p {
            1 => fixed!(1, 4),
            3 => fixed!(3, 4),
            5 => fixed!(5, 4),
            7 => fixed!(7, 2),
            9 => fixed!(9, 2),
            11 => fixed!(11, 2),
            13 => fixed!(13, 2),
            15 => fixed!(15, 1),
            _ => false,
        };
        if done {
            for o in 0..win.rows.len() {
                unsafe {
                    self.offer_row::<S>(
                        lanes,
                        &sc.vsum[o * mw..][..mw],
                        p,
                        group,
                        (win.rows.start + o, win.cols.start),
                        (si, sj),
                        inv,
                        &mut sc.z,
                    )
                };
            }
            return;
        }
        for mi in 0..win.rows.len() + p - 1 {
            let ei = win.rows.start + mi;
            let ci = (ei as isize + si) as usize;
            let row = &mut sc.ring[(mi % p) * ew..][..mw];
            for c in 0..ch {
                let xr = &grids.xe[(c * eh + ei) * ew + win.cols.start..][..mw];
                let tr = &grids.canvas[(c * cr + ci) * cc + cj..][..mw];
                for ((m, &xv), tv) in row.iter_mut().zip(xr).zip(tr) {
                    // SAFETY (this block and the next ones): the caller guarantees S.
                    unsafe {
                        let diff = S::splat(xv).sub(S::load(tv));
                        let prev = if c == 0 { S::splat(0.0) } else { S::load(m) };
                        diff.fma(diff, prev).store(m);
                    }
                }
            }
            if mi + 1 < p {
                continue;
            }
            let o = mi + 1 - p;
            // Vertical sums of map rows o … o + p − 1 (ring rows, in that order), four columns at a
            // time in registers.
            let r0 = o % p;
            for (k, off) in sc.order.iter_mut().enumerate() {
                let r = r0 + k;
                *off = if r >= p { r - p } else { r } * ew;
            }
            unsafe { vertical_sums::<S>(&sc.ring, &sc.order, &mut sc.vrow[..mw]) };
            let i = win.rows.start + o;
            unsafe {
                self.offer_row::<S>(
                    lanes,
                    &sc.vrow[..mw],
                    p,
                    group,
                    (i, win.cols.start),
                    (si, sj),
                    inv,
                    &mut sc.z,
                )
            };
        }
    }

    /// Offers the pixels (i, j0 …) their candidates: the patch distances are sums of p neighbouring
    /// vertical sums in `vrow`, the candidate values the training pixels q = p + s.
    ///
    /// Two passes: the scaled negative distances of the whole row ([`horizontal_sums`], four columns at
    /// a time so that no chain of additions waits on another), then the softmax update over runs of
    /// pixels whose training pixels are contiguous (one run, or two where a circular shift wraps).
    ///
    /// # Safety
    /// The processor must run S's instruction set.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    unsafe fn offer_row<S: Lanes16>(
        &self,
        lanes: &mut Lanes,
        vrow: &[V],
        p: usize,
        group: &[V],
        (i, j0): (usize, usize),
        (si, sj): (isize, isize),
        inv: f32,
        z: &mut [V],
    ) {
        let (_, h, w) = self.shape;
        let ncol = vrow.len() + 1 - p;
        let z = &mut z[..ncol];
        // SAFETY (both calls): the caller guarantees S.
        unsafe { horizontal_sums::<S>(vrow, p, -inv, z) };
        let qi = wrap(i as isize + si, h);
        // The training column of the first pixel; it then steps by one, wrapping at most once.
        let qj = wrap(j0 as isize + sj, w);
        let first = (w - qj).min(ncol);
        let (k0, q0) = (i * w + j0, qi * w + qj);
        unsafe {
            self.offer_run::<S>(lanes, &z[..first], group, k0, q0);
            if first < ncol {
                self.offer_run::<S>(lanes, &z[first..], group, k0 + first, qi * w);
            }
        }
    }

    /// The online softmax update of pixels k0, k0 + 1, … (one per logit of `z`, log2 units) by the
    /// candidates at training pixels q0, q0 + 1, …: a lane whose logit is a new maximum rescales
    /// ([`Lanes16::select_pos`]), the others add 2^{logit − max}; skipped when every lane is more than
    /// [`SKIP`] below its maximum.
    ///
    /// # Safety
    /// The processor must run S's instruction set.
    #[inline(always)]
    unsafe fn offer_run<S: Lanes16>(
        &self,
        lanes: &mut Lanes,
        z: &[V],
        group: &[V],
        k0: usize,
        q0: usize,
    ) {
        let (ch, h, w) = self.shape;
        let hw = h * w;
        let n = z.len();
        let (mx, sum) = (&mut lanes.max[k0..k0 + n], &mut lanes.sum[k0..k0 + n]);
        // SAFETY: the caller guarantees S.
        unsafe {
            let one = S::splat(1.0);
            for (o, zv) in z.iter().enumerate() {
                let m = S::load(&mx[o]);
                let zv = S::load(zv);
                let tau = zv.sub(m);
                if !tau.any_ge(-SKIP) {
                    continue;
                }
                if tau.any_ge(0.0) {
                    // A new maximum in some lane: e = 2^{−|τ|}, and the lanes with τ > 0 rescale.
                    let e = tau.neg_abs().exp2();
                    let f = tau.select_pos(e, one);
                    let g = tau.select_pos(one, e);
                    S::load(&sum[o]).fma(f, g).store(&mut sum[o]);
                    m.max(zv).store(&mut mx[o]);
                    for c in 0..ch {
                        let ac = &mut lanes.acc[c * hw + k0 + o];
                        S::load(ac)
                            .fma(f, g.mul(S::load(&group[c * hw + q0 + o])))
                            .store(ac);
                    }
                } else {
                    // Every lane below its maximum (most candidates): the same operations with f = 1,
                    // g = e, so the bits do not depend on which branch ran.
                    let e = tau.exp2();
                    S::load(&sum[o]).add(e).store(&mut sum[o]);
                    for c in 0..ch {
                        let ac = &mut lanes.acc[c * hw + k0 + o];
                        S::load(ac)
                            .add(e.mul(S::load(&group[c * hw + q0 + o])))
                            .store(ac);
                    }
                }
            }
        }
    }
}

/// `out[j] = scale · Σ_{k < p} row[j + k]` (k ascending, then one product), four columns at a time
/// (independent chains in registers). [`vertical_sums`]'s shape, kept apart: with the offsets known to be
/// 0 … p − 1 the four outputs share their loads (folding the two through an offset list measured 1.03×
/// slower on ELS, paired).
///
/// # Safety
/// The processor must run S's instruction set.
#[inline(always)]
unsafe fn horizontal_sums<S: Lanes16>(row: &[V], p: usize, scale: f32, out: &mut [V]) {
    const B: usize = 4;
    let n = out.len();
    let mut j = 0;
    // SAFETY (both blocks): the caller guarantees S.
    unsafe {
        let sc = S::splat(scale);
        while j + B <= n {
            let r = &row[j..j + B + p - 1];
            let mut acc = [
                S::load(&r[0]),
                S::load(&r[1]),
                S::load(&r[2]),
                S::load(&r[3]),
            ];
            for k in 1..p {
                for c in 0..B {
                    acc[c] = acc[c].add(S::load(&r[c + k]));
                }
            }
            for c in 0..B {
                acc[c].mul(sc).store(&mut out[j + c]);
            }
            j += B;
        }
        for (jj, o) in out.iter_mut().enumerate().skip(j) {
            let mut acc = S::load(&row[jj]);
            for v in &row[jj + 1..jj + p] {
                acc = acc.add(S::load(v));
            }
            acc.mul(sc).store(o);
        }
    }
}

/// `v` mod `n` for a training pixel index that is at most one period off (circular shifts).
#[inline(always)]
fn wrap(v: isize, n: usize) -> usize {
    v.rem_euclid(n as isize) as usize
}

/// The columns of one shift's map: the first extended column of the window in the query's grid, the
/// same column in the training canvas, and the number of map columns (window columns + p − 1).
#[derive(Clone, Copy)]
struct Cols {
    first: usize,
    canvas: usize,
    len: usize,
}

/// Vertical sums of one shift's map for every output row, `out[o·len + j]` = Σ_{k < P} m(o + k, j) (k
/// ascending), with m the map of squared differences over channels (module doc; extended rows
/// `rows.start …` of the query, canvas rows shifted by `si`). Blocks of B columns run down the rows with
/// their last P map rows in registers; the last block is moved back to end at the last column when B
/// does not divide the width (its overlap recomputes the same values). Needs `cols.len` ≥ B.
///
/// # Safety
/// The processor must run S's instruction set.
#[inline(always)]
unsafe fn vertical_fixed<S: Lanes16, const P: usize, const B: usize>(
    g: &Grids<'_>,
    ch: usize,
    rows: std::ops::Range<usize>,
    si: isize,
    cols: Cols,
    out: &mut [V],
) {
    let ((eh, ew), (cr, cc)) = (g.xe_shape, g.canvas_shape);
    let mw = cols.len;
    debug_assert!(mw >= B && out.len() == rows.len() * mw);
    let last = mw - B;
    let starts = (0..last).step_by(B).chain(std::iter::once(last));
    // SAFETY (every block): the caller guarantees S.
    for j in starts {
        let mut ring = [[unsafe { S::splat(0.0) }; B]; P];
        for mi in 0..rows.len() + P - 1 {
            let ei = rows.start + mi;
            let ci = (ei as isize + si) as usize;
            let mut m = [unsafe { S::splat(0.0) }; B];
            for c in 0..ch {
                let xr = &g.xe[(c * eh + ei) * ew + cols.first + j..][..B];
                let tr = &g.canvas[(c * cr + ci) * cc + cols.canvas + j..][..B];
                for b in 0..B {
                    unsafe {
                        let diff = S::splat(xr[b]).sub(S::load(&tr[b]));
                        let prev = if c == 0 { S::splat(0.0) } else { m[b] };
                        m[b] = diff.fma(diff, prev);
                    }
                }
            }
            for k in 0..P - 1 {
                ring[k] = ring[k + 1];
            }
            ring[P - 1] = m;
            if mi + 1 < P {
                continue;
            }
            let o = mi + 1 - P;
            for b in 0..B {
                let mut acc = ring[0][b];
                for r in &ring[1..] {
                    acc = unsafe { acc.add(r[b]) };
                }
                unsafe { acc.store(&mut out[o * mw + j + b]) };
            }
        }
    }
}

/// `out[j] = Σ_k ring[offs[k] + j]`, k ascending, four columns at a time (independent chains in
/// registers).
///
/// # Safety
/// The processor must run S's instruction set.
#[inline(always)]
unsafe fn vertical_sums<S: Lanes16>(ring: &[V], offs: &[usize], out: &mut [V]) {
    const B: usize = 4;
    let n = out.len();
    let mut j = 0;
    // SAFETY (both blocks): the caller guarantees S.
    while j + B <= n {
        unsafe {
            let first = &ring[offs[0] + j..][..B];
            let mut acc = [
                S::load(&first[0]),
                S::load(&first[1]),
                S::load(&first[2]),
                S::load(&first[3]),
            ];
            for &off in &offs[1..] {
                let row = &ring[off + j..][..B];
                for c in 0..B {
                    acc[c] = acc[c].add(S::load(&row[c]));
                }
            }
            for c in 0..B {
                acc[c].store(&mut out[j + c]);
            }
        }
        j += B;
    }
    for (jj, o) in out.iter_mut().enumerate().skip(j) {
        unsafe {
            let mut acc = S::load(&ring[offs[0] + jj]);
            for &off in &offs[1..] {
                acc = acc.add(S::load(&ring[off + jj]));
            }
            acc.store(o);
        }
    }
}

/// Folds the lanes' softmax of each pixel of `pixels` into its f64 softmax (only the first `live` lanes:
/// the rest are padding), each sum over the lanes as a pairwise tree in f64, and restarts the lanes at the
/// new maximum.
///
/// # Safety
/// The processor must run S's instruction set.
#[inline(always)]
unsafe fn fold<S: Lanes16>(
    glob: &mut Global,
    lanes: &mut Lanes,
    ch: usize,
    live: usize,
    pixels: std::ops::Range<usize>,
) {
    let hw = glob.max.len();
    for k in pixels {
        let mx = &mut lanes.max[k].0;
        // The maximum over the live lanes (a maximum does not depend on the order).
        let mut t = [f32::MIN; LANES];
        t[..live].copy_from_slice(&mx[..live]);
        for half in [8, 4, 2, 1] {
            for l in 0..half {
                t[l] = t[l].max(t[l + half]);
            }
        }
        let top = f64::from(t[0]);
        let old = glob.max[k];
        let new = old.max(top);
        if new == f64::from(f32::MIN) {
            continue; // no candidate yet
        }
        if new > old {
            let s = (old - new).exp2();
            glob.sum[k] *= s;
            for c in 0..ch {
                glob.acc[c * hw + k] *= s;
            }
            glob.max[k] = new;
        }
        let mut sv = V::ZERO;
        // SAFETY: the caller guarantees S.
        unsafe {
            S::load(&V(*mx))
                .sub(S::splat(new as f32))
                .exp2()
                .store(&mut sv)
        };
        let mut scale = [0.0f64; LANES];
        for l in 0..live {
            scale[l] = f64::from(sv.0[l]);
        }
        let lane_sum = |v: &mut V| {
            let mut prod = [0.0f64; LANES];
            for l in 0..LANES {
                prod[l] = f64::from(v.0[l]) * scale[l];
            }
            *v = V::ZERO;
            tree(prod, |a, b| a + b)
        };
        glob.sum[k] += lane_sum(&mut lanes.sum[k]);
        for c in 0..ch {
            glob.acc[c * hw + k] += lane_sum(&mut lanes.acc[c * hw + k]);
        }
        *mx = [new as f32; LANES];
    }
}

/// Reduces 16 values by `op` as a pairwise tree (lane l with l + 8, then + 4, + 2, + 1): a fixed order
/// of depth 4.
#[inline(always)]
fn tree(mut v: [f64; LANES], op: impl Fn(f64, f64) -> f64) -> f64 {
    let mut half = LANES / 2;
    while half > 0 {
        for l in 0..half {
            v[l] = op(v[l], v[l + half]);
        }
        half /= 2;
    }
    v[0]
}

#[cfg(test)]
mod tests {
    use super::super::{PatchKind, PatchSchedule};
    use super::*;
    use crate::score::Precision;

    /// Every instruction set this processor runs gives the portable path's bits (ELS and LS, both
    /// paddings, 2-channel 5 × 6 images, 21 of them: a full group of lanes and a partial one), at a t
    /// where most candidates are skipped and one where none is, for patch sizes on the register blocks of
    /// 4 columns (3, 5) and 2 columns (9) and on the ring of map rows (17).
    #[test]
    fn instruction_sets_give_the_same_bits() {
        let (shape, d, n) = ((2, 5, 6), 60, 21);
        use rand::Rng;
        let mut rng = crate::rng::stream(3, &[1]);
        let a: Vec<f32> = (0..n * d)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal) as f32)
            .collect();
        let data = crate::data::Dataset::new(a.clone(), n, d, "test").unwrap();
        for kind in [PatchKind::Local, PatchKind::Equivariant] {
            for pad in [Padding::Zero, Padding::Circular] {
                for (p, t) in [(3, 0.01), (3, 1.0), (5, 1.0), (9, 1.0), (17, 1.0)] {
                    let sc = PatchScore::new(
                        &data,
                        shape,
                        kind,
                        pad,
                        PatchSchedule::fixed(p),
                        Precision::F32,
                    )
                    .unwrap();
                    let ou = OuTime::new(t);
                    let x: Vec<f32> = a[..d]
                        .iter()
                        .map(|&v| (ou.decay * v as f64 + 0.3) as f32)
                        .collect();
                    // SAFETY: portable code runs anywhere; the others only where supported.
                    let want = unsafe { sc.denoise_with::<Portable>(&x, ou, p) };
                    #[cfg(all(
                        target_arch = "x86_64",
                        target_feature = "avx2",
                        target_feature = "fma"
                    ))]
                    {
                        use crate::score::Isa;
                        let avx2 =
                            unsafe { sc.denoise_with::<super::super::simd::Avx2>(&x, ou, p) };
                        assert_eq!(avx2, want, "AVX2 {kind:?} {pad:?} P {p} t {t}");
                        if Isa::Avx512.supported() {
                            let avx512 = unsafe { sc.denoise_avx512(&x, ou, p) };
                            assert_eq!(avx512, want, "AVX-512 {kind:?} {pad:?} P {p} t {t}");
                        }
                    }
                    assert!(want.iter().all(|v| v.is_finite()));
                }
            }
        }
    }
}

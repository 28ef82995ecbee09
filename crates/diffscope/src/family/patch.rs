//! The patch machines of Kamb & Ganguli (arXiv 2412.20292): the local score (LS) and the equivariant local
//! score (ELS), the closed-form scores of a denoiser that sees only a P × P patch around each pixel
//! (locality) and, for ELS, may match it to a patch anywhere in a training image (equivariance).
//!
//! For images of shape C × H × W, pixel p's denoised value (all channels) is a softmax posterior mean of
//! training-patch centres:
//! $D(x)_{\cdot p} = \sum_{\mu, q} w_{\mu q}(p)\, a_\mu(\cdot, q)$,
//! $w_{\mu q}(p) \propto \exp(-\| x_{P(p)} - e^{-t} a_{\mu, P(q)} \|^2 / 2\Delta_t)$, with $x_{P(p)}$ the C × P × P
//! patch centred at p (zero or circular padding); LS takes q = p, ELS every q of the image. The score is
//! $S = (e^{-t} D - x)/\Delta_t$. One global softmax per pixel over all candidates, streamed with a
//! running maximum.
//!
//! Two paths ([`Precision`]):
//! - **f32 (default)**, module `lanes`: 16 training images in the vector lanes (explicit AVX-512 / AVX2 /
//!   portable vectors, the same bits on each); each patch distance a sum of non-negative f32 terms (map
//!   rows, then P rows, then P columns), so its relative error is a few f32 roundings whatever its
//!   neighbours; one f32 exp per candidate, per-lane f32 softmax folded into f64 after every row of
//!   shifts. Cost per logit grows with P (direct sums): about 0.27 ns at P = 5 (B = 16 on 2 cores,
//!   AMD Zen 5; 0.5 ns before the register blocks and the row-restricted fold, BENCHMARKS.md). Against the f64 path: ≤ 3.3e-7 on the brute-force tests, 7e-8 (Frobenius)
//!   on Fashion-MNIST.
//! - **f64 (reference)**: every distance from one map of squared differences per (image, shift) and its
//!   2-D prefix sums, so it does not grow with P; sums in f64, each weight by the f32 [`exp_f32`]
//!   (≤ 3e-7 relative); 4.3 ns per logit.
//!
//! LS costs O(N · (H + P)(W + P) · C) per query, like the exact score; ELS multiplies that by the number
//! of shifts (H W circular, (2H − 1)(2W − 1) zero-padded, where each shift maps only the pixels whose
//! training pixel exists): N · (H W)² logits.

mod lanes;
mod simd;

use crate::error::{Error, Result};
use crate::score::{check_shapes, exp_f32, Extras, OuTime, Precision, Score};
use faer::Par;
use serde::{Deserialize, Serialize};

/// How patches see beyond the image border.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Zeros outside the image.
    #[default]
    Zero,
    /// The image wraps around (a torus).
    Circular,
}

/// Which patches a pixel is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatchKind {
    /// LS: the training patches at the same location.
    Local,
    /// ELS: the training patches at every location.
    Equivariant,
}

/// The patch size (odd) as a step function of t: `steps[i] = (t_i, P_i)` with t_i increasing; P(t) is the
/// P_i of the first t_i ≥ t, and the last P beyond.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatchSchedule {
    /// (t upper bound, patch size) pairs.
    pub steps: Vec<(f64, usize)>,
}

impl PatchSchedule {
    /// One patch size at every t.
    pub fn fixed(p: usize) -> Self {
        PatchSchedule {
            steps: vec![(f64::INFINITY, p)],
        }
    }

    /// P(t).
    pub fn at(&self, t: f64) -> usize {
        self.steps
            .iter()
            .find(|(tu, _)| t <= *tu)
            .or(self.steps.last())
            .map_or(1, |s| s.1)
    }

    /// Odd sizes ≥ 1, strictly increasing times.
    pub fn validate(&self) -> Result<()> {
        if self.steps.is_empty() {
            return Err(Error::param("patch", "[]", "at least one patch size"));
        }
        for (i, &(t, p)) in self.steps.iter().enumerate() {
            if p == 0 || p % 2 == 0 {
                return Err(Error::param("patch", p, "an odd patch size ≥ 1"));
            }
            if t.is_nan() || (i > 0 && t <= self.steps[i - 1].0) {
                return Err(Error::param(
                    "patch schedule time",
                    t,
                    "strictly increasing times",
                ));
            }
        }
        Ok(())
    }
}

/// The LS / ELS score of a set of images (module doc).
pub struct PatchScore {
    a: Vec<f32>,
    n: usize,
    shape: (usize, usize, usize),
    kind: PatchKind,
    padding: Padding,
    schedule: PatchSchedule,
    precision: Precision,
    /// The images in the f32 path's lane layout (empty on the f64 path).
    lanes: Vec<simd::V>,
}

/// Per-pixel online softmax: running maximum, Σw and Σw·a (C values per pixel), f64, and one image
/// row's scratch.
struct Softmax {
    max: Vec<f64>,
    sum: Vec<f64>,
    acc: Vec<f64>,
    row: RowBuf,
}

/// One image row's logits, training pixels (C × W), rescaling factors and weights.
struct RowBuf {
    logit: Vec<f64>,
    pix: Vec<f64>,
    scale: Vec<f64>,
    weight: Vec<f64>,
}

impl PatchScore {
    /// The patch machine of `data` (rows of C·H·W, channel-major) for images of `shape` (C, H, W), on
    /// the f32 lane path ([`Precision::F32`], module `lanes`) or the f64 reference path.
    pub fn new(
        data: &crate::data::Dataset,
        shape: (usize, usize, usize),
        kind: PatchKind,
        padding: Padding,
        schedule: PatchSchedule,
        precision: Precision,
    ) -> Result<Self> {
        let (c, h, w) = shape;
        if c * h * w != data.d || data.d == 0 {
            return Err(Error::shape(
                "patch score",
                format!("image shape {c}×{h}×{w} does not match d = {}", data.d),
            ));
        }
        schedule.validate()?;
        Ok(PatchScore {
            a: data.x.clone(),
            n: data.n,
            shape,
            kind,
            padding,
            schedule,
            precision,
            lanes: match precision {
                Precision::F32 => lanes::lane_layout(&data.x, data.n, data.d),
                Precision::F64 => Vec::new(),
            },
        })
    }

    /// The shifts s = q − p a pixel is matched over.
    fn shifts(&self) -> Vec<(isize, isize)> {
        let (_, h, w) = self.shape;
        let (h, w) = (h as isize, w as isize);
        match (self.kind, self.padding) {
            (PatchKind::Local, _) => vec![(0, 0)],
            (PatchKind::Equivariant, Padding::Circular) => {
                (0..h).flat_map(|i| (0..w).map(move |j| (i, j))).collect()
            }
            (PatchKind::Equivariant, Padding::Zero) => (1 - h..h)
                .flat_map(|i| (1 - w..w).map(move |j| (i, j)))
                .collect(),
        }
    }

    /// Value of image `img` (channel-major C·H·W) at channel c, row i, column j, padded.
    #[inline]
    fn pixel(&self, img: &[f32], c: usize, i: isize, j: isize) -> f64 {
        let (_, h, w) = self.shape;
        self.pixel_index(i, j)
            .map_or(0.0, |k| f64::from(img[c * h * w + k]))
    }

    /// The flat index (within one channel) of image pixel (i, j) under the padding, or None where zero
    /// padding gives 0.
    fn pixel_index(&self, i: isize, j: isize) -> Option<usize> {
        let (_, h, w) = self.shape;
        let (hi, wi) = (h as isize, w as isize);
        match self.padding {
            Padding::Circular => Some((i.rem_euclid(hi) * wi + j.rem_euclid(wi)) as usize),
            Padding::Zero if i < 0 || i >= hi || j < 0 || j >= wi => None,
            Padding::Zero => Some((i * wi + j) as usize),
        }
    }

    /// Image `img` padded onto a canvas with `margin` (rows, columns) beyond the extended grid of radius
    /// r on each side: `canvas[(c·ch + ci)·cw + cj]` = img(c, ci − r − margin.0, cj − r − margin.1), padded.
    fn canvas(&self, img: &[f32], r: usize, margin: (usize, usize)) -> (Vec<f64>, usize, usize) {
        let (chn, h, w) = self.shape;
        let (cht, cwt) = (h + 2 * r + 2 * margin.0, w + 2 * r + 2 * margin.1);
        let mut cv = vec![0.0f64; chn * cht * cwt];
        let (oi, oj) = ((r + margin.0) as isize, (r + margin.1) as isize);
        for c in 0..chn {
            for ci in 0..cht {
                for cj in 0..cwt {
                    cv[(c * cht + ci) * cwt + cj] =
                        self.pixel(img, c, ci as isize - oi, cj as isize - oj);
                }
            }
        }
        (cv, cht, cwt)
    }

    /// The denoised image D(x) of one query (module doc) at patch size p.
    fn denoise(&self, x: &[f32], ou: OuTime, p: usize) -> Vec<f64> {
        let (ch, h, w) = self.shape;
        let r = p / 2;
        let (eh, ew) = (h + 2 * r, w + 2 * r);
        let hw = h * w;
        let mut sm = Softmax {
            max: vec![f64::NEG_INFINITY; hw],
            sum: vec![0.0; hw],
            acc: vec![0.0; hw * ch],
            row: RowBuf {
                logit: vec![0.0; w],
                pix: vec![0.0; ch * w],
                scale: vec![0.0; w],
                weight: vec![0.0; w],
            },
        };
        // The query on the extended grid (rows −r … h − 1 + r), and each training image on a canvas wide
        // enough for every shift: s ∈ [0, h) (circular: the canvas wraps) or s ∈ (−h, h) (zero).
        let (xe, _, _) = self.canvas(x, r, (0, 0));
        let margin = match self.padding {
            Padding::Circular => (0, 0),
            Padding::Zero => (h - 1, w - 1),
        };
        let shifts = self.shifts();
        // Circular shifts run to h − 1 past the extended grid: a canvas of h more rows and columns.
        let extra = match self.padding {
            Padding::Circular => (h, w),
            Padding::Zero => (0, 0),
        };
        let mut pre = vec![0.0f64; (eh + 1) * (ew + 1)];
        let mut row = vec![0.0f64; ew];
        for img in self.a.chunks_exact(ch * hw) {
            let (mut cv, cht, cwt) = self.canvas(img, r, (margin.0 + extra.0, margin.1 + extra.1));
            // The decay is the same for every shift: scale the canvas once.
            cv.iter_mut().for_each(|v| *v *= ou.decay);
            // Canvas row of extended row ei under shift si: ei + si + margin + extra (the canvas starts
            // margin + extra rows before the extended grid).
            let (oi, oj) = ((margin.0 + extra.0) as isize, (margin.1 + extra.1) as isize);
            for &(si, sj) in &shifts {
                // The pixels whose training pixel q = p + s exists (all of them under circular padding),
                // and the extended rows and columns their windows cover: only those are mapped.
                let win = self.window((si, sj));
                let (mh, mw) = (win.rows.len() + 2 * r, win.cols.len() + 2 * r);
                // The prefix grid's stride changes with the window: clear its first row and column.
                pre[..=mw].fill(0.0);
                for mi in 0..mh {
                    pre[(mi + 1) * (mw + 1)] = 0.0;
                    let ei = win.rows.start + mi;
                    let row = &mut row[..mw];
                    row.fill(0.0);
                    let ci = (ei as isize + si + oi) as usize;
                    let cj = (win.cols.start as isize + sj + oj) as usize;
                    for c in 0..ch {
                        let xo = (c * eh + ei) * ew + win.cols.start;
                        let co = (c * cht + ci) * cwt + cj;
                        for ((v, &xv), &av) in
                            row.iter_mut().zip(&xe[xo..xo + mw]).zip(&cv[co..co + mw])
                        {
                            let diff = xv - av;
                            *v += diff * diff;
                        }
                    }
                    let mut run = 0.0;
                    for (mj, &v) in row.iter().enumerate() {
                        run += v;
                        pre[(mi + 1) * (mw + 1) + mj + 1] = pre[mi * (mw + 1) + mj + 1] + run;
                    }
                }
                self.offer(&mut sm, &pre, &win, img, (si, sj), p, ou);
            }
        }
        (0..hw * ch).map(|k| sm.acc[k] / sm.sum[k % hw]).collect()
    }

    /// Offers every pixel its candidate for one (image, shift): the window sum of the map around it, as a
    /// logit, and the training pixel q = p + s (valid only inside the image under zero padding).
    /// The pixels of the image whose training pixel q = p + s lies inside it (every pixel under circular
    /// padding): rows `rows`, columns `cols`.
    fn window(&self, (si, sj): (isize, isize)) -> Window {
        let (_, h, w) = self.shape;
        let span = |s: isize, n: usize| match self.padding {
            Padding::Circular => 0..n,
            Padding::Zero => (-s).max(0) as usize..(n as isize - s).min(n as isize) as usize,
        };
        Window {
            rows: span(si, h),
            cols: span(sj, w),
        }
    }

    /// Offers every pixel of `win` its candidate for one (image, shift): the window sum of the map around
    /// it (`pre`: 2-D prefix sums of the map over the window's extended rows and columns), as a logit,
    /// and the training pixel q = p + s.
    ///
    /// One image row at a time, branch-free so that it vectorises: the running maximum m' = max(m, ℓ),
    /// then $\Sigma \leftarrow \Sigma\,e^{m - m'} + e^{\ell - m'}$ (and alike for Σ w a), both exps of
    /// non-positive arguments by [`exp_f32`] (relative error ≤ 3e-7; the sums stay in f64).
    #[allow(clippy::too_many_arguments)]
    fn offer(
        &self,
        sm: &mut Softmax,
        pre: &[f64],
        win: &Window,
        img: &[f32],
        (si, sj): (isize, isize),
        p: usize,
        ou: OuTime,
    ) {
        let (ch, h, w) = self.shape;
        let hw = h * w;
        let ncol = win.cols.len();
        let pw = ncol + p;
        let inv = 1.0 / (2.0 * ou.delta);
        let Softmax { max, sum, acc, row } = sm;
        let RowBuf {
            logit,
            pix,
            scale,
            weight,
        } = row;
        for (mi, i) in win.rows.clone().enumerate() {
            // Window rows mi … mi + p − 1 of the mapped grid (= image rows i − r … i + r).
            let (top, bot) = (
                &pre[mi * pw..(mi + 1) * pw],
                &pre[(mi + p) * pw..(mi + p + 1) * pw],
            );
            for (mj, l) in logit[..ncol].iter_mut().enumerate() {
                let d2 = bot[mj + p] - top[mj + p] - bot[mj] + top[mj];
                *l = -d2.max(0.0) * inv;
            }
            self.training_row(
                img,
                i as isize + si,
                win.cols.start as isize + sj,
                ncol,
                pix,
            );
            let k0 = i * w + win.cols.start;
            let (mx, sm_) = (&mut max[k0..k0 + ncol], &mut sum[k0..k0 + ncol]);
            for mj in 0..ncol {
                let m_new = mx[mj].max(logit[mj]);
                let sc = exp_f32((mx[mj] - m_new) as f32) as f64;
                let e = exp_f32((logit[mj] - m_new) as f32) as f64;
                sm_[mj] = sm_[mj] * sc + e;
                mx[mj] = m_new;
                scale[mj] = sc;
                weight[mj] = e;
            }
            for c in 0..ch {
                let ac = &mut acc[c * hw + k0..c * hw + k0 + ncol];
                let px = &pix[c * ncol..(c + 1) * ncol];
                for mj in 0..ncol {
                    ac[mj] = ac[mj] * scale[mj] + weight[mj] * px[mj];
                }
            }
        }
    }

    /// The training pixels of row `qi`, columns `qj0 …` (`ncol` of them, every channel) into `pix`
    /// (channel-major), padded; the column index wraps incrementally under circular padding.
    fn training_row(&self, img: &[f32], qi: isize, qj0: isize, ncol: usize, pix: &mut [f64]) {
        let (ch, h, w) = self.shape;
        match self.padding {
            Padding::Circular => {
                let qi = qi.rem_euclid(h as isize) as usize;
                let j0 = qj0.rem_euclid(w as isize) as usize;
                for c in 0..ch {
                    let src = &img[(c * h + qi) * w..(c * h + qi + 1) * w];
                    let mut j = j0;
                    for v in &mut pix[c * ncol..(c + 1) * ncol] {
                        *v = src[j] as f64;
                        j = if j + 1 == w { 0 } else { j + 1 };
                    }
                }
            }
            Padding::Zero => {
                for c in 0..ch {
                    for (mj, v) in pix[c * ncol..(c + 1) * ncol].iter_mut().enumerate() {
                        *v = self.pixel(img, c, qi, qj0 + mj as isize);
                    }
                }
            }
        }
    }
}

/// A rectangle of image pixels: rows × columns.
struct Window {
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
}

impl Score for PatchScore {
    fn dim(&self) -> usize {
        self.shape.0 * self.shape.1 * self.shape.2
    }
    fn describe(&self) -> String {
        let (c, h, w) = self.shape;
        let kind = match self.kind {
            PatchKind::Local => "LS",
            PatchKind::Equivariant => "ELS",
        };
        let sizes: Vec<String> = self
            .schedule
            .steps
            .iter()
            .map(|s| s.1.to_string())
            .collect();
        format!(
            "{kind} patch score, patch {} ({:?} padding), N = {} images of {c}×{h}×{w}",
            sizes.join("/"),
            self.padding,
            self.n
        )
    }
    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        check_shapes(self.dim(), x, t, out, &extras);
        assert!(
            extras.log_p.is_none() && extras.nearest.is_none() && extras.posterior.is_none(),
            "a patch score provides no log p, nearest points or posterior"
        );
        let (d, ou) = (self.dim(), OuTime::new(t));
        let p = self.schedule.at(t);
        match self.precision {
            Precision::F32 => {
                super::score_from_denoiser(x, t, out, d, par, |q| self.denoise_lanes(q, ou, p))
            }
            Precision::F64 => {
                super::score_from_denoiser(x, t, out, d, par, |q| self.denoise(q, ou, p))
            }
        }
    }
}

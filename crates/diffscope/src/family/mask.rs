//! The data-derived locality mask (after Lukoianov et al., arXiv 2509.09672: the locality of trained image
//! denoisers follows from the pixel correlations of the data, visible in the optimal linear denoiser).
//!
//! The Wiener denoiser's sensitivity at time t is, in the data's principal axes (C = V Λ Vᵀ),
//! $W_t = \partial D_{\rm lin}/\partial x = e^{-t} C (e^{-2t} C + \Delta_t I)^{-1}
//! = \sum_i \frac{e^{-t}\lambda_i}{e^{-2t}\lambda_i + \Delta_t} v_i v_i^\top$.
//! Coordinate p's mask $M_p(t)$ is the set of coordinates q the linear denoiser reads for p: the k largest
//! $|W_t[p, q]|$ (`k` rule) or every q with $|W_t[p, q]| \ge \tau \max_q |W_t[p, q]|$ (`tau` rule), and
//! always p itself. The masked local score then denoises each coordinate by its own softmax:
//! $D_p = \sum_\mu w_\mu(p)\, a_{\mu p}$, $w_\mu(p) \propto \exp(-\sum_{q \in M_p} (x_q - e^{-t} a_{\mu q})^2
//! / 2\Delta_t)$, and $S = (e^{-t} D - x)/\Delta_t$: Kamb & Ganguli's LS machine with the square patch
//! replaced by the data's own receptive field. It needs no image layout. With every coordinate in every
//! mask it is the exact score. Masks are built once per t (one d × d product) and kept for the last
//! [`MASK_CACHE`] times; a query costs N · Σ_p |M_p| distance terms.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::{check_shapes, Extras, OuTime, Score};
use faer::{Mat, Par};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// How many times' masks are kept (a sampler's grid revisits each t once per step; the cache makes a
/// step's repeated evaluations, e.g. Heun's, free).
pub const MASK_CACHE: usize = 64;

/// Which coordinates enter a mask.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskRule {
    /// The k coordinates of largest sensitivity |W_t[p, q]| (p itself always among them).
    K(usize),
    /// Every coordinate with |W_t[p, q]| ≥ τ · max_q |W_t[p, q]|, 0 ≤ τ ≤ 1.
    Tau(f64),
}

/// Masks of every coordinate in compressed rows: coordinate p reads `idx[off[p]..off[p + 1]]`.
#[derive(Debug)]
struct Masks {
    off: Vec<usize>,
    idx: Vec<usize>,
}

/// The masked local score of a data set (module doc).
pub struct MaskScore {
    /// Training points, row-major N × d.
    a: Vec<f32>,
    n: usize,
    d: usize,
    /// Eigenvalues of the data covariance (clamped at 0) and its eigenvectors (columns).
    lambda: Vec<f64>,
    v: Mat<f64>,
    rule: MaskRule,
    cache: Mutex<Vec<(u64, Arc<Masks>)>>,
}

impl MaskScore {
    /// The masked score of `data` under `rule` (k in 1..=d, or τ in [0, 1]).
    pub fn new(data: &Dataset, rule: MaskRule) -> Result<Self> {
        match rule {
            MaskRule::K(k) if k == 0 || k > data.d => {
                return Err(Error::param("k", k, format!("1 ≤ k ≤ d = {}", data.d)))
            }
            MaskRule::Tau(tau) if !(0.0..=1.0).contains(&tau) => {
                return Err(Error::param("tau", tau, "a threshold 0 ≤ τ ≤ 1"))
            }
            _ => {}
        }
        if data.n < 2 {
            return Err(Error::param(
                "data",
                data.n,
                "at least 2 points (the mask needs a covariance)",
            ));
        }
        let (_, cov) = crate::linalg::mean_cov(&data.x, data.n, data.d, Par::rayon(0))?;
        let (lambda, v) = crate::linalg::sym_eigen(cov.as_ref())?;
        Ok(MaskScore {
            a: data.x.clone(),
            n: data.n,
            d: data.d,
            lambda: lambda.into_iter().map(|l| l.max(0.0)).collect(),
            v,
            rule,
            cache: Mutex::new(Vec::new()),
        })
    }

    /// The sensitivity matrix $W_t$ of the Wiener denoiser (module doc), d × d.
    pub fn sensitivity(&self, t: f64) -> Mat<f64> {
        let ou = OuTime::new(t);
        let d = self.d;
        let g: Vec<f64> = self
            .lambda
            .iter()
            .map(|&l| ou.decay * l / (ou.decay * ou.decay * l + ou.delta))
            .collect();
        let vg = Mat::from_fn(d, d, |i, j| self.v[(i, j)] * g[j]);
        let mut w = Mat::<f64>::zeros(d, d);
        faer::linalg::matmul::matmul(
            w.as_mut(),
            faer::Accum::Replace,
            vg.as_ref(),
            self.v.transpose(),
            1.0,
            Par::rayon(0),
        );
        w
    }

    /// The masks at time t, from the cache or built now.
    fn masks(&self, t: f64) -> Arc<Masks> {
        let key = t.to_bits();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, m)) = cache.iter().find(|(k, _)| *k == key) {
            return m.clone();
        }
        let m = Arc::new(self.build_masks(t));
        if cache.len() == MASK_CACHE {
            cache.remove(0);
        }
        cache.push((key, m.clone()));
        m
    }

    fn build_masks(&self, t: f64) -> Masks {
        let w = self.sensitivity(t);
        let d = self.d;
        let mut off = vec![0];
        let mut idx = Vec::new();
        for p in 0..d {
            let mut row: Vec<(f64, usize)> = (0..d).map(|q| (w[(p, q)].abs(), q)).collect();
            // Largest first; ties by the lower coordinate, so masks are deterministic.
            row.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let keep = match self.rule {
                MaskRule::K(k) => k,
                MaskRule::Tau(tau) => {
                    let top = row[0].0;
                    row.iter().take_while(|(s, _)| *s >= tau * top).count()
                }
            };
            let mut m: Vec<usize> = row[..keep].iter().map(|&(_, q)| q).collect();
            if !m.contains(&p) {
                // p itself replaces the weakest kept coordinate (k rule) or joins (τ rule).
                if matches!(self.rule, MaskRule::K(_)) {
                    m.pop();
                }
                m.push(p);
            }
            m.sort_unstable();
            idx.extend_from_slice(&m);
            off.push(idx.len());
        }
        Masks { off, idx }
    }

    /// The mean mask size Σ_p |M_p| / d at time t.
    pub fn mean_mask_size(&self, t: f64) -> f64 {
        let m = self.masks(t);
        m.idx.len() as f64 / self.d as f64
    }

    /// The denoised point D(x) of one query: one softmax per coordinate, streamed over the training
    /// points with a running maximum (f64).
    fn denoise(&self, x: &[f32], ou: OuTime, masks: &Masks) -> Vec<f64> {
        let d = self.d;
        let mut max = vec![f64::NEG_INFINITY; d];
        let mut sum = vec![0.0f64; d];
        let mut acc = vec![0.0f64; d];
        // The coordinate-wise squared residuals of one training point, shared by every mask.
        let mut r2 = vec![0.0f64; d];
        for a in self.a.chunks_exact(d) {
            for ((r, &xv), &av) in r2.iter_mut().zip(x).zip(a) {
                let diff = xv as f64 - ou.decay * av as f64;
                *r = diff * diff;
            }
            for p in 0..d {
                let d2: f64 = masks.idx[masks.off[p]..masks.off[p + 1]]
                    .iter()
                    .map(|&q| r2[q])
                    .sum();
                let logit = -d2 / (2.0 * ou.delta);
                if logit > max[p] {
                    let scale = (max[p] - logit).exp();
                    sum[p] *= scale;
                    acc[p] *= scale;
                    max[p] = logit;
                }
                let e = (logit - max[p]).exp();
                sum[p] += e;
                acc[p] += e * a[p] as f64;
            }
        }
        acc.iter().zip(&sum).map(|(a, s)| a / s).collect()
    }
}

impl Score for MaskScore {
    fn dim(&self) -> usize {
        self.d
    }
    fn describe(&self) -> String {
        let rule = match self.rule {
            MaskRule::K(k) => format!("k = {k}"),
            MaskRule::Tau(tau) => format!("τ = {tau}"),
        };
        format!(
            "masked local score (Wiener-sensitivity masks, {rule}), N = {}",
            self.n
        )
    }
    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        check_shapes(self.dim(), x, t, out, &extras);
        assert!(
            extras.log_p.is_none() && extras.nearest.is_none() && extras.posterior.is_none(),
            "a masked score provides no log p, nearest points or posterior"
        );
        let (d, ou) = (self.d, OuTime::new(t));
        let masks = self.masks(t);
        super::score_from_denoiser(x, t, out, d, par, |q| self.denoise(q, ou, &masks));
    }
}

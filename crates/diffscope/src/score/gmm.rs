//! Population score of a Gaussian mixture (science.md §2).

use super::{check_shapes, Extras, OuTime, Score};
use crate::data::GaussianMixture;
use faer::{Mat, Par};
use rayon::prelude::*;

/// The score of $p_t = \sum_k \pi_k \mathcal N(e^{-t} m_k, e^{-2t} C_k + \Delta_t I)$:
///
/// $S(x) = \sum_k r_k(x) (e^{-2t} C_k + \Delta_t I)^{-1} (e^{-t} m_k - x)$, with responsibilities $r_k$
/// (log-sum-exp in f64). Each $C_k = U_k \Lambda_k U_k^\top$ was eigendecomposed once when the mixture was
/// built, so one evaluation costs O(K d²) per query (O(K d) for isotropic or diagonal covariances).
///
/// For two symmetric isotropic classes ±m, σ²I with equal weights, the closed form
/// $S = \frac{m e^{-t}}{\Gamma_t} \tanh\big(\frac{e^{-t} m \cdot x}{\Gamma_t}\big) - \frac{x}{\Gamma_t}$,
/// $\Gamma_t = \Delta_t + \sigma^2 e^{-2t}$, is used (O(d) per query): see [`GmmScore::two_class_tanh`].
#[derive(Clone, Debug)]
pub struct GmmScore {
    gmm: GaussianMixture,
    /// `Some((m, σ²))` when the mixture is ½N(−m, σ²I) + ½N(m, σ²I).
    symmetric: Option<(Vec<f64>, f64)>,
}

impl GmmScore {
    /// The population score of `gmm`.
    pub fn new(gmm: GaussianMixture) -> Self {
        let symmetric = (|| {
            let (means, w, sp) = (gmm.means(), gmm.weights(), gmm.spectral());
            if means.len() != 2 || !gmm.is_isotropic() || (w[0] - w[1]).abs() > 1e-15 {
                return None;
            }
            let s2 = sp[0].lambda[0];
            let same_var = sp[1].lambda[0] == s2;
            let opposite = means[0].iter().zip(&means[1]).all(|(a, b)| a == &-b);
            (same_var && opposite).then(|| (means[1].clone(), s2))
        })();
        GmmScore { gmm, symmetric }
    }

    /// One query in f64: writes $S(x, t)$ into `out` and returns $\log p_t(x)$ (closed form when it applies).
    pub fn eval_f64(&self, x: &[f64], ou: OuTime, out: &mut [f64]) -> f64 {
        match &self.symmetric {
            Some((m, s2)) => Self::two_class_tanh(m, *s2, x, ou, out),
            None => self.general(x, ou, out),
        }
    }

    /// The mixture.
    pub fn mixture(&self) -> &GaussianMixture {
        &self.gmm
    }

    /// The closed form for ±m, σ²I (f64), writing the score of one query into `out`; returns log p_t(x).
    pub fn two_class_tanh(m: &[f64], sigma2: f64, x: &[f64], ou: OuTime, out: &mut [f64]) -> f64 {
        let gamma = ou.delta + sigma2 * ou.decay * ou.decay;
        let mx: f64 = m.iter().zip(x).map(|(&a, &b)| a * b).sum();
        let h = ou.decay * mx / gamma;
        let th = h.tanh();
        for ((o, &mi), &xi) in out.iter_mut().zip(m).zip(x) {
            *o = (mi * ou.decay * th - xi) / gamma;
        }
        // p_t = ½N(−e^{-t}m, Γ) + ½N(e^{-t}m, Γ): log p = −(|x|² + e^{-2t}|m|²)/2Γ + log cosh h − (d/2) log 2πΓ.
        let x2: f64 = x.iter().map(|&v| v * v).sum();
        let m2: f64 = m.iter().map(|v| v * v).sum();
        let log_cosh = h.abs() + (-2.0 * h.abs()).exp().ln_1p() - std::f64::consts::LN_2;
        -(x2 + ou.decay * ou.decay * m2) / (2.0 * gamma) + log_cosh
            - 0.5 * m.len() as f64 * (2.0 * std::f64::consts::PI * gamma).ln()
    }

    /// Log-weights $\log \pi_c + \log \mathcal N(x; e^{-t}m_c, \Sigma_c(t))$ and per-component scores
    /// $g_c = -\Sigma_c(t)^{-1}(x - e^{-t} m_c)$ (K × d) at one query, $\Sigma_c(t) = e^{-2t}C_c + \Delta_t I$.
    fn components(&self, x: &[f64], ou: OuTime) -> (Vec<f64>, Vec<f64>) {
        self.components_block(x, ou)
    }

    /// [`Self::components`] for a block of queries (rows of `xs`, n × d): log-weights n × K and scores
    /// n × K × d. Each eigenbasis is streamed once per block (its columns are contiguous), and every
    /// query's arithmetic is the same whatever block it is in, so results do not depend on the batch split.
    fn components_block(&self, xs: &[f64], ou: OuTime) -> (Vec<f64>, Vec<f64>) {
        let d = self.gmm.dim();
        let k = self.gmm.n_components();
        let n = xs.len() / d;
        let mut logw = vec![0.0f64; n * k];
        let mut grads = vec![0.0f64; n * k * d];
        let mut r = vec![0.0f64; n * d];
        let mut y = vec![0.0f64; n * d];
        let half_log_2pi = 0.5 * d as f64 * (2.0 * std::f64::consts::PI).ln();
        for (c, ((m, &w), sp)) in self
            .gmm
            .means()
            .iter()
            .zip(self.gmm.weights())
            .zip(self.gmm.spectral())
            .enumerate()
        {
            // r = x − e^{-t} m, then y = Uᵀ r in the eigenbasis (one contiguous column of U at a time).
            for (ri, xi) in r.chunks_exact_mut(d).zip(xs.chunks_exact(d)) {
                for ((o, &xv), &mv) in ri.iter_mut().zip(xi).zip(m) {
                    *o = xv - ou.decay * mv;
                }
            }
            match &sp.basis {
                None => y.copy_from_slice(&r),
                Some(u) => {
                    for j in 0..d {
                        let col = column(u, j);
                        for (yi, ri) in y.chunks_exact_mut(d).zip(r.chunks_exact(d)) {
                            yi[j] = crate::linalg::dot_f64(col, ri);
                        }
                    }
                }
            }
            let var: Vec<f64> = sp
                .lambda
                .iter()
                .map(|&l| ou.decay * ou.decay * l + ou.delta)
                .collect();
            let logdet: f64 = var.iter().map(|v| v.ln()).sum();
            for (i, yi) in y.chunks_exact_mut(d).enumerate() {
                let mut quad = 0.0;
                for (yv, &v) in yi.iter_mut().zip(&var) {
                    quad += *yv * *yv / v;
                    *yv /= v;
                }
                logw[i * k + c] = w.ln() - 0.5 * quad - 0.5 * logdet - half_log_2pi;
            }
            // g = −U y, as a sum of columns of U (axpy) in a fixed order.
            for (i, yi) in y.chunks_exact(d).enumerate() {
                let g = &mut grads[(i * k + c) * d..(i * k + c + 1) * d];
                match &sp.basis {
                    None => g.iter_mut().zip(yi).for_each(|(g, &v)| *g = -v),
                    Some(u) => {
                        g.fill(0.0);
                        for (j, &yj) in yi.iter().enumerate() {
                            g.iter_mut()
                                .zip(column(u, j))
                                .for_each(|(g, &uv)| *g -= yj * uv);
                        }
                    }
                }
            }
        }
        (logw, grads)
    }

    /// Responsibilities $r_c$ from log-weights (log-sum-exp) and $\log p_t = \log\sum_c e^{\ell_c}$.
    fn responsibilities(logw: &[f64]) -> (Vec<f64>, f64) {
        let max = logw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logw.iter().map(|l| (l - max).exp()).sum();
        (
            logw.iter().map(|l| (l - max).exp() / z).collect(),
            max + z.ln(),
        )
    }

    /// General path for one query (any K, any covariance), in f64; writes the score, returns log p_t(x).
    pub fn general(&self, x: &[f64], ou: OuTime, out: &mut [f64]) -> f64 {
        let mut lp = [0.0];
        self.general_block(x, ou, out, &mut lp);
        lp[0]
    }

    /// [`Self::general`] for a block of queries (rows of `xs`): scores into `out`, log p_t into `log_p`.
    fn general_block(&self, xs: &[f64], ou: OuTime, out: &mut [f64], log_p: &mut [f64]) {
        let d = self.gmm.dim();
        let k = self.gmm.n_components();
        let (logw, grads) = self.components_block(xs, ou);
        for (i, (oi, lp)) in out.chunks_exact_mut(d).zip(log_p.iter_mut()).enumerate() {
            let (r, l) = Self::responsibilities(&logw[i * k..(i + 1) * k]);
            let g = &grads[i * k * d..(i + 1) * k * d];
            oi.iter_mut().enumerate().for_each(|(j, o)| {
                *o = r
                    .iter()
                    .enumerate()
                    .map(|(c, rc)| rc * g[c * d + j])
                    .sum::<f64>()
            });
            *lp = l;
        }
    }

    /// Responsibilities $r_c$, per-component scores $g_c$ (K × d) and the score $S = \sum_c r_c g_c$.
    fn mixture_state(&self, x: &[f64], ou: OuTime) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let d = self.gmm.dim();
        let (logw, grads) = self.components(x, ou);
        let (r, _) = Self::responsibilities(&logw);
        let s = (0..d)
            .map(|i| (0..r.len()).map(|c| r[c] * grads[c * d + i]).sum())
            .collect();
        (r, grads, s)
    }

    /// Score and analytic Jacobian at one query (f64):
    /// $J = -\sum_c r_c \Sigma_c(t)^{-1} + \sum_c r_c g_c g_c^\top - S S^\top$ (the Hessian of the log of
    /// a mixture), with $\Sigma_c(t)^{-1} = U_c\,\mathrm{diag}(1/(e^{-2t}\lambda + \Delta_t))\,U_c^\top$.
    pub fn score_and_jacobian(&self, x: &[f64], t: f64) -> (Vec<f64>, Mat<f64>) {
        let ou = OuTime::new(t);
        let d = self.gmm.dim();
        let (r, grads, s) = self.mixture_state(x, ou);
        let mut j = Mat::<f64>::from_fn(d, d, |a, b| -s[a] * s[b]);
        for (c, sp) in self.gmm.spectral().iter().enumerate() {
            let g = &grads[c * d..(c + 1) * d];
            let inv: Vec<f64> = sp
                .lambda
                .iter()
                .map(|&l| 1.0 / (ou.decay * ou.decay * l + ou.delta))
                .collect();
            for a in 0..d {
                for b in 0..d {
                    let prec = match &sp.basis {
                        None => f64::from(a == b) * inv[a],
                        Some(u) => (0..d).map(|q| u[(a, q)] * inv[q] * u[(b, q)]).sum(),
                    };
                    j[(a, b)] += r[c] * (g[a] * g[b] - prec);
                }
            }
        }
        (s, j)
    }
}

impl GmmScore {
    /// $J v$ at one query without forming J:
    /// $-\sum_c r_c \Sigma_c(t)^{-1} v + \sum_c r_c g_c (g_c \cdot v) - S (S \cdot v)$.
    pub fn jvp_f64(&self, x: &[f64], t: f64, v: &[f64]) -> Vec<f64> {
        let ou = OuTime::new(t);
        let d = self.gmm.dim();
        let (r, grads, s) = self.mixture_state(x, ou);
        let sv: f64 = s.iter().zip(v).map(|(a, b)| a * b).sum();
        let mut out: Vec<f64> = s.iter().map(|si| -si * sv).collect();
        for (c, sp) in self.gmm.spectral().iter().enumerate() {
            let g = &grads[c * d..(c + 1) * d];
            let gv: f64 = g.iter().zip(v).map(|(a, b)| a * b).sum();
            let var = |q: usize| ou.decay * ou.decay * sp.lambda[q] + ou.delta;
            let prec_v: Vec<f64> = match &sp.basis {
                None => (0..d).map(|q| v[q] / var(q)).collect(),
                Some(u) => {
                    let y: Vec<f64> = (0..d)
                        .map(|q| (0..d).map(|i| u[(i, q)] * v[i]).sum::<f64>() / var(q))
                        .collect();
                    (0..d)
                        .map(|i| (0..d).map(|q| u[(i, q)] * y[q]).sum())
                        .collect()
                }
            };
            for i in 0..d {
                out[i] += r[c] * (g[i] * gv - prec_v[i]);
            }
        }
        out
    }
}

/// Column `j` of a column-major f64 matrix as a slice.
fn column(u: &Mat<f64>, j: usize) -> &[f64] {
    u.col(j)
        .try_as_col_major()
        .expect("faer matrices are column-major")
        .as_slice()
}

impl Score for GmmScore {
    fn dim(&self) -> usize {
        self.gmm.dim()
    }

    fn describe(&self) -> String {
        format!(
            "GMM population score, K = {}, d = {}",
            self.gmm.n_components(),
            self.gmm.dim()
        )
    }

    fn jacobian_into(&self, x: &[f32], t: f64, out: &mut [f64], par: Par) -> bool {
        super::rows_jacobian(self.dim(), x, t, out, par, |xi| {
            self.score_and_jacobian(xi, t).1
        });
        true
    }

    fn is_exact_gradient(&self) -> bool {
        true
    }

    fn jvp_into(&self, x: &[f32], t: f64, v: &[f32], out: &mut [f32], par: Par) -> bool {
        super::rows_product(self.dim(), x, t, v, out, par, |xi, vi| {
            self.jvp_f64(xi, t, vi)
        });
        true
    }

    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        check_shapes(self.dim(), x, t, out, &extras);
        assert!(
            extras.nearest.is_none(),
            "a population score has no training points: `nearest` is unavailable"
        );
        let ou = OuTime::new(t);
        let d = self.dim();
        // Blocks of ROWS queries share each pass over the eigenbases (the general path's cost is memory
        // traffic over U_c, d² per component); a query's result does not depend on its block.
        const ROWS: usize = 8;
        let block = |xi: &[f32], oi: &mut [f32]| -> Vec<f64> {
            let x64: Vec<f64> = xi.iter().map(|&v| v as f64).collect();
            let mut s = vec![0.0f64; x64.len()];
            let mut lp = vec![0.0f64; x64.len() / d];
            match &self.symmetric {
                Some((m, s2)) => {
                    for ((xr, sr), l) in x64.chunks(d).zip(s.chunks_mut(d)).zip(lp.iter_mut()) {
                        *l = Self::two_class_tanh(m, *s2, xr, ou, sr);
                    }
                }
                None => self.general_block(&x64, ou, &mut s, &mut lp),
            }
            oi.iter_mut().zip(&s).for_each(|(o, &v)| *o = v as f32);
            lp
        };
        let lp: Vec<f64> = match par {
            Par::Seq => x
                .chunks(ROWS * d)
                .zip(out.chunks_mut(ROWS * d))
                .flat_map(|(a, b)| block(a, b))
                .collect(),
            Par::Rayon(_) => x
                .par_chunks(ROWS * d)
                .zip(out.par_chunks_mut(ROWS * d))
                .flat_map_iter(|(a, b)| block(a, b))
                .collect(),
        };
        if let Some(l) = extras.log_p {
            l.copy_from_slice(&lp);
        }
    }
}

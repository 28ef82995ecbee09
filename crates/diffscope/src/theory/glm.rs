//! The GLM output channel of the manifold collapse theory (manifold.md, "Collapse"): the
//! replica-symmetric mutual information $(1/d)\, I(a; x_t) = \beta \min_q F_t(q)$ and the root of
//! $(1/d)\, I = \alpha$.
//!
//! Accuracy for non-smooth activations. Sign and ReLU make the channel law depend on v through
//! $\Phi\big((\sqrt q\, v + b/\sqrt\kappa)/\sqrt{1-q}\big)$, a step of width $\sqrt{(1-q)/q}$ around
//! $v_0 = -b/\sqrt{\kappa q}$. A fixed Gauss–Hermite rule in v misses that step once q → 1 and then
//! reports $I_{out} \approx 0$, which created a spurious minimum of $F_t$ near q = 1 (the sign model at
//! β = 0.1 had "no root" for α = 0.2). Here:
//! - sign and ReLU use the exact law of Y | V (the w-integral in closed form: two Gaussian atoms for
//!   sign; an atom at 0 plus a Gaussian–times–Φ part for ReLU), and its entropy is a composite
//!   Gauss–Legendre integral over the intervals that carry the mass, with panels no wider than half the
//!   local length scale;
//! - the v-average is a composite rule on [−10, 10] refined to panels of width $\sqrt{(1-q)/q}$ within
//!   ten widths of $v_0$;
//! - the minimisation over q scans $r = -\ln(1-q) \in \{0, 1, …, 20\}$ for the global minimum before
//!   refining it by Brent's method, so a local minimum is never taken for the global one;
//! - the root search in t reaches down to t = 1e-6 and, when there is no root, says why
//!   ([`NoRoot`]: α exceeds the supremum of the information over t, which is printed).
//!
//! Smooth activations (linear, tanh, erf) keep the generic path: the w-integral by composite
//! Gauss–Legendre (split where the pre-activation vanishes), the same entropy integral over y, and
//! 24-node Gauss–Hermite in v (their conditional entropies are smooth in v on the scale 1).

use super::optim::{minimize, root};
use super::quad::{nodes, nodes_on};
use super::Activation;
use crate::score::OuTime;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::f64::consts::{PI, SQRT_2};

/// Half-width, in standard deviations, of every Gaussian range integrated here: the mass outside
/// ±10 sd is 1.5e-23, far below the 1e-10 the entropies are computed to.
const W: f64 = 10.0;

/// The smallest t the collapse root search visits.
pub const T_ROOT_MIN: f64 = 1e-6;
/// The largest t the collapse root search visits.
pub const T_ROOT_MAX: f64 = 30.0;

/// Standard normal distribution function Φ.
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / SQRT_2)
}

fn gauss(y: f64, mean: f64, var: f64) -> f64 {
    (-(y - mean) * (y - mean) / (2.0 * var)).exp() / (2.0 * PI * var).sqrt()
}

/// The GLM output channel $y = e^{-t}\varphi(\sqrt\kappa(\sqrt q\, v + \sqrt{1-q}\, w) + b) + \sqrt{\Delta_t}\xi$,
/// w, ξ ~ N(0, 1).
#[derive(Clone, Copy, Debug)]
pub struct GlmChannel {
    /// Activation.
    pub phi: Activation,
    /// Pre-activation variance κ.
    pub kappa: f64,
    /// Variance of the latent-centre offset b ~ N(0, κ‖μ̃‖²) averaged over (0: no offsets).
    pub offset_var: f64,
}

/// The law of Y given V = v (and the offset b), with the y-intervals `(lo, hi, panel width)` that carry
/// its mass.
enum CondLaw {
    /// $\sum_i w_i\, N(y; m_i, \Delta)$ with atoms sorted by mean (sign: two atoms; smooth φ: the
    /// quadrature nodes of the w-integral).
    Mixture {
        means: Vec<f64>,
        weights: Vec<f64>,
        var: f64,
        total: f64,
    },
    /// ReLU: $p_0 N(y; 0, \Delta) + N(y; c m, c^2 s^2 + \Delta)\,\Phi\big(\sigma_p (m/s^2 + c y/\Delta)\big)$,
    /// $\sigma_p^{-2} = 1/s^2 + c^2/\Delta$: an atom at 0 of mass $p_0 = \Phi(-m/s)$ and the law of
    /// c·u + noise for u ~ N(m, s²) restricted to u > 0.
    Relu {
        p0: f64,
        m: f64,
        s2: f64,
        c: f64,
        delta: f64,
    },
}

impl CondLaw {
    fn density(&self, y: f64) -> f64 {
        match self {
            CondLaw::Mixture {
                means,
                weights,
                var,
                total,
            } => {
                let r = W * var.sqrt();
                let lo = means.partition_point(|&m| m < y - r);
                let hi = means.partition_point(|&m| m <= y + r);
                (lo..hi)
                    .map(|i| weights[i] * gauss(y, means[i], *var))
                    .sum::<f64>()
                    / total
            }
            &CondLaw::Relu {
                p0,
                m,
                s2,
                c,
                delta,
            } => {
                let sp = 1.0 / (1.0 / s2 + c * c / delta).sqrt();
                p0 * gauss(y, 0.0, delta)
                    + gauss(y, c * m, c * c * s2 + delta) * norm_cdf(sp * (m / s2 + c * y / delta))
            }
        }
    }

    fn intervals(&self) -> Vec<(f64, f64, f64)> {
        match self {
            CondLaw::Mixture { means, var, .. } => {
                let sd = var.sqrt();
                // Atoms closer than one sd share an interval (the union is what nodes_on integrates).
                let mut out: Vec<(f64, f64, f64)> = Vec::new();
                for &m in means {
                    match out.last_mut() {
                        Some(last) if m - W * sd <= last.1 => last.1 = m + W * sd,
                        _ => out.push((m - W * sd, m + W * sd, 0.5 * sd)),
                    }
                }
                out
            }
            &CondLaw::Relu {
                m, s2, c, delta, ..
            } => {
                let (sd0, s) = (delta.sqrt(), s2.sqrt());
                let mut out = vec![(-W * sd0, W * sd0, 0.5 * sd0)];
                if m + W * s > 0.0 {
                    let (ulo, uhi) = ((m - W * s).max(0.0), m + W * s);
                    let (ylo, yhi) = (c * ulo - W * sd0, c * uhi + W * sd0);
                    out.push((ylo, yhi, 0.5 * (c * c * s2 + delta).sqrt()));
                    // Φ's argument moves by one when y moves by τ = Δ/(σ_p c) ≥ √Δ, around y* = −mΔ/(c s²).
                    let sp = 1.0 / (1.0 / s2 + c * c / delta).sqrt();
                    let tau = delta / (sp * c);
                    let ystar = -m * delta / (c * s2);
                    let (a, b) = ((ystar - W * tau).max(ylo), (ystar + W * tau).min(yhi));
                    if b > a {
                        out.push((a, b, 0.5 * tau));
                    }
                }
                out
            }
        }
    }

    /// $h(Y) = -\int p \log p\, dy$.
    fn entropy(&self) -> f64 {
        let mut h = 0.0;
        nodes_on(&self.intervals(), &mut |y, w| {
            let p = self.density(y);
            if p > 0.0 {
                h -= w * p * p.ln();
            }
        });
        h
    }
}

/// Lipschitz constant of φ (bounds the slope of the channel mean in w).
fn lipschitz(phi: Activation) -> f64 {
    match phi {
        Activation::Linear | Activation::Tanh | Activation::Relu => 1.0,
        Activation::Sign => 0.0,
        Activation::Erf => 2.0 / PI.sqrt(),
        Activation::ErfSqrt2 => (2.0 / PI).sqrt(),
    }
}

/// Probabilists' Gauss–Hermite nodes and weights (weights sum to 1) by Golub–Welsch.
pub(crate) fn gauss_hermite(n: usize) -> Vec<(f64, f64)> {
    let j = faer::Mat::<f64>::from_fn(n, n, |i, k| {
        if i.abs_diff(k) == 1 {
            (i.max(k) as f64).sqrt()
        } else {
            0.0
        }
    });
    match crate::linalg::sym_eigen(j.as_ref()) {
        Ok((vals, vecs)) => (0..n).map(|i| (vals[i], vecs[(0, i)].powi(2))).collect(),
        Err(_) => vec![(0.0, 1.0)],
    }
}

impl GlmChannel {
    /// Sign and ReLU have a kink or a jump: closed-form laws and the refined v-rule.
    fn non_smooth(&self) -> bool {
        matches!(self.phi, Activation::Sign | Activation::Relu)
    }

    /// The law of Y | V = v, offset b, at overlap q and time t.
    fn law(&self, q: f64, ou: OuTime, v: f64, b: f64) -> CondLaw {
        let c = ou.decay;
        let sk = self.kappa.sqrt();
        let (sq, sr) = (q.sqrt(), (1.0 - q).max(0.0).sqrt());
        // Pre-activation given v: u ~ N(m, s²).
        let (m, s) = (sk * sq * v + b, sk * sr);
        match self.phi {
            Activation::Sign => {
                let pp = if s > 0.0 {
                    norm_cdf(m / s)
                } else {
                    f64::from(u8::from(m > 0.0))
                };
                CondLaw::Mixture {
                    means: vec![-c, c],
                    weights: vec![1.0 - pp, pp],
                    var: ou.delta,
                    total: 1.0,
                }
            }
            Activation::Relu if s > 0.0 => CondLaw::Relu {
                p0: norm_cdf(-m / s),
                m,
                s2: s * s,
                c,
                delta: ou.delta,
            },
            _ => {
                // Generic: composite Gauss–Legendre over w ∈ [−10, 10], split where the pre-activation
                // vanishes, panels no wider than the w-range over which the mean moves by one noise sd.
                let slope = c * s * lipschitz(self.phi);
                let width = if slope > 0.0 {
                    ou.delta.sqrt() / slope
                } else {
                    f64::INFINITY
                };
                let w0 = if sr > 0.0 { (-m / s).clamp(-W, W) } else { 0.0 };
                let mut atoms = Vec::new();
                for (lo, hi) in [(-W, w0), (w0, W)] {
                    if hi <= lo {
                        continue;
                    }
                    let panels = (((hi - lo) / width).ceil() as usize).clamp(6, 400);
                    nodes(lo, hi, panels, &mut |w, wt| {
                        atoms.push((c * self.phi.apply(m + s * w), wt * gauss(w, 0.0, 1.0)));
                    });
                }
                atoms.sort_by(|a, b| a.0.total_cmp(&b.0));
                let total = atoms.iter().map(|a| a.1).sum();
                CondLaw::Mixture {
                    means: atoms.iter().map(|a| a.0).collect(),
                    weights: atoms.iter().map(|a| a.1).collect(),
                    var: ou.delta,
                    total,
                }
            }
        }
    }

    /// The conditional density $p(y \mid v) = \int Dw\, N(y; e^{-t}\varphi(\sqrt\kappa(\sqrt q v +
    /// \sqrt{1-q} w) + b), \Delta_t)$ (closed form for sign and ReLU; quadrature over w otherwise).
    pub fn density(&self, q: f64, t: f64, v: f64, b: f64, y: f64) -> f64 {
        self.law(q, OuTime::new(t), v, b).density(y)
    }

    /// $h(Y \mid V = v)$ for offset b.
    pub fn entropy_given_v(&self, q: f64, t: f64, v: f64, b: f64) -> f64 {
        self.law(q, OuTime::new(t), v, b).entropy()
    }

    /// Nodes and weights of the v-average for offset b: one node at q = 0 (no v-dependence);
    /// 48-node Gauss–Hermite for smooth φ (24 nodes left 1e-6 of error for erf at t = 0.05, q = 0.95,
    /// `tests/glm_oracle.rs`; 48 give ≤ 1e-9); for sign and ReLU a composite rule on [−10, 10] with
    /// panels of width 1, refined to width $\sqrt{(1-q)/q}$ within ten widths of the step at
    /// $v_0 = -b/\sqrt{\kappa q}$.
    fn v_nodes(&self, q: f64, b: f64) -> Vec<(f64, f64)> {
        if q <= 0.0 {
            return vec![(0.0, 1.0)];
        }
        if !self.non_smooth() {
            return gauss_hermite(48);
        }
        let eps = ((1.0 - q) / q).sqrt();
        let v0 = -b / (self.kappa * q).sqrt();
        let mut out = Vec::new();
        nodes_on(
            &[(-W, W, 1.0), (v0 - W * eps, v0 + W * eps, eps)],
            &mut |v, w| out.push((v, w * gauss(v, 0.0, 1.0))),
        );
        out
    }

    /// $I_{out}(q; t) = E_{V,b}[h(Y|V)] - \tfrac12\log(2\pi e\Delta_t)$, V ~ N(0, 1) (offsets b by 12-node
    /// Gauss–Hermite when `offset_var > 0`).
    pub fn i_out(&self, q: f64, t: f64) -> f64 {
        let ou = OuTime::new(t);
        let offsets: Vec<(f64, f64)> = if self.offset_var > 0.0 {
            gauss_hermite(12)
                .into_iter()
                .map(|(x, w)| (x * self.offset_var.sqrt(), w))
                .collect()
        } else {
            vec![(0.0, 1.0)]
        };
        let jobs: Vec<(f64, f64, f64)> = offsets
            .iter()
            .flat_map(|&(b, wb)| {
                self.v_nodes(q, b)
                    .into_iter()
                    .map(move |(v, wv)| (v, b, wv * wb))
            })
            .collect();
        // Terms in parallel, summed in a fixed order: a rayon `sum` would depend on the work split, and so
        // on the thread count.
        let terms: Vec<f64> = jobs
            .par_iter()
            .map(|&(v, b, w)| w * self.law(q, ou, v, b).entropy())
            .collect();
        let mean_h: f64 = terms.iter().sum();
        mean_h - 0.5 * (2.0 * PI * std::f64::consts::E * ou.delta).ln()
    }

    /// The replica-symmetric potential $F_t(q) = -\tfrac12\log(1-q) - q/2 + I_{out}(q;t)/\beta$.
    pub fn potential(&self, q: f64, t: f64, beta: f64) -> f64 {
        -0.5 * (1.0 - q).ln() - 0.5 * q + self.i_out(q, t) / beta
    }

    /// $(1/d)\, I(a; x_t) = \beta \min_{q\in[0,1)} F_t(q)$ and the minimiser q*.
    ///
    /// Global minimum: F is evaluated at $q = 1 - e^{-r}$, r = 0, 1, …, 20 (so that minimisers close to
    /// 1 are resolved), and Brent's method refines the best point within its two neighbours in r (to
    /// 1e-6 in r; F is quadratic there, so the value is exact to ~1e-12).
    pub fn mi_per_d(&self, t: f64, beta: f64) -> (f64, f64) {
        let f = |r: f64| {
            let q = -(-r).exp_m1();
            0.5 * r - 0.5 * q + self.i_out(q, t) / beta
        };
        let scan: Vec<f64> = (0..=20).map(|r| f(r as f64)).collect();
        let best = (0..scan.len())
            .min_by(|&i, &j| scan[i].total_cmp(&scan[j]))
            .unwrap_or(0);
        let lo = best.saturating_sub(1) as f64;
        let hi = (best + 1).min(scan.len() - 1) as f64;
        let (r, fr) = minimize(&f, lo, hi, 1e-6);
        let (r, fr) = if fr <= scan[best] {
            (r, fr)
        } else {
            (best as f64, scan[best])
        };
        (beta * fr, -(-r).exp_m1())
    }
}

/// Why (1/d) I(t) = α has no root on [[`T_ROOT_MIN`], [`T_ROOT_MAX`]].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoRoot {
    /// The α asked for.
    pub alpha: f64,
    /// The supremum of (1/d) I over the searched t (I decreases in t: the value at the end where the
    /// search stopped).
    pub sup_mi: f64,
    /// Where the supremum was taken.
    pub at_t: f64,
}

impl std::fmt::Display for NoRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.sup_mi < self.alpha {
            write!(
                f,
                "no root: α = {} exceeds sup_t (1/d) I(a; x_t) = {:.6} (at t = {:e}; the channel saturates as t → 0, so no collapse)",
                self.alpha, self.sup_mi, self.at_t
            )
        } else {
            write!(
                f,
                "no root: (1/d) I(a; x_t) = {:.6} still exceeds α = {} at t = {}",
                self.sup_mi, self.alpha, self.at_t
            )
        }
    }
}

/// Solves (1/d) I(t) = α (I decreases with t). The bracket grows geometrically from [0.25, 1] (small t,
/// where the quadrature is most expensive, is visited only when needed) down to [`T_ROOT_MIN`] and up
/// to [`T_ROOT_MAX`]; the root to 1e-6 in t.
///
/// # Errors
/// [`NoRoot`] when α exceeds the information the channel carries at every t (sign φ saturates at
/// t → 0), with that supremum.
pub fn solve_collapse(mi: &dyn Fn(f64) -> f64, alpha: f64) -> Result<f64, NoRoot> {
    let g = |t: f64| mi(t) - alpha;
    let (mut lo, mut hi) = (0.25, 1.0);
    let (mut glo, mut ghi) = (g(lo), g(hi));
    while glo < 0.0 {
        if lo <= T_ROOT_MIN {
            return Err(NoRoot {
                alpha,
                sup_mi: glo + alpha,
                at_t: lo,
            });
        }
        (hi, ghi) = (lo, glo);
        lo = (lo / 4.0).max(T_ROOT_MIN);
        glo = g(lo);
    }
    while ghi > 0.0 {
        if hi >= T_ROOT_MAX {
            return Err(NoRoot {
                alpha,
                sup_mi: ghi + alpha,
                at_t: hi,
            });
        }
        (lo, glo) = (hi, ghi);
        hi = (hi * 3.0).min(T_ROOT_MAX);
        ghi = g(hi);
    }
    let _ = (glo, ghi);
    root(&g, lo, hi, 1e-6).ok_or(NoRoot {
        alpha,
        sup_mi: f64::NAN,
        at_t: f64::NAN,
    })
}

/// [`solve_collapse`] without the reason.
pub fn t_collapse_from_mi(mi: &dyn Fn(f64) -> f64, alpha: f64) -> Option<f64> {
    solve_collapse(mi, alpha).ok()
}

//! The k-nearest-neighbour score (Niedoba et al., arXiv 2402.08018): the exact score's softmax restricted
//! to the k training points nearest to the query's scaled points.

use crate::error::{Error, Result};
use crate::score::{check_shapes, Extras, Nearest, OuTime, Posterior, Score};
use faer::Par;
use rayon::prelude::*;

/// $S_k(x, t) = (e^{-t}\sum_{\mu \in K} w_\mu a_\mu - x)/\Delta_t$ with K the k points of smallest
/// $|x - e^{-t} a_\mu|$ (ties to the smaller index) and w the softmax of their logits
/// $-|x - e^{-t}a_\mu|^2/2\Delta_t$, in f64. k = N is the exact score. The omitted mass is certified by
/// [`KnnScore::tail_bound`]. log p (when asked) sums the k kept terms: a lower bound.
pub struct KnnScore {
    a: Vec<f64>,
    n: usize,
    d: usize,
    k: usize,
}

/// One query's kept points: (logit, index) sorted by decreasing logit, and the largest omitted logit.
struct Kept {
    top: Vec<(f64, usize)>,
    next: Option<f64>,
}

impl KnnScore {
    /// The kNN score of `data` keeping k ≥ 1 points (k is capped at N).
    pub fn new(data: &crate::data::Dataset, k: usize) -> Result<Self> {
        if k == 0 {
            return Err(Error::param("k", k, "at least 1 neighbour"));
        }
        Ok(KnnScore {
            a: data.x.iter().map(|&v| v as f64).collect(),
            n: data.n,
            d: data.d,
            k: k.min(data.n),
        })
    }

    fn kept(&self, x: &[f32], ou: OuTime) -> Kept {
        let d = self.d;
        let mut l: Vec<(f64, usize)> = self
            .a
            .chunks_exact(d)
            .enumerate()
            .map(|(mu, r)| {
                let d2: f64 = r
                    .iter()
                    .zip(x)
                    .map(|(&av, &xv)| (xv as f64 - ou.decay * av).powi(2))
                    .sum();
                (-d2 / (2.0 * ou.delta), mu)
            })
            .collect();
        // Decreasing logit, ties to the smaller index: a total order, so the kept set is deterministic.
        let order = |p: &(f64, usize), q: &(f64, usize)| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1));
        if self.k < self.n {
            l.select_nth_unstable_by(self.k, order);
        }
        let next = (self.k < self.n).then(|| l[self.k].0);
        l.truncate(self.k);
        l.sort_by(order);
        Kept { top: l, next }
    }

    /// Per query, a certified bound on the omitted posterior mass relative to the kept mass:
    /// $\sum_{\mu \notin K} e^{\ell_\mu} / \sum_{\mu \in K} e^{\ell_\mu} \le (N - k)\, e^{\ell_{(k+1)}} /
    /// \sum_{\mu \in K} e^{\ell_\mu}$, every omitted logit being at most the largest omitted one.
    pub fn tail_bound(&self, x: &[f32], t: f64) -> Vec<f64> {
        let ou = OuTime::new(t);
        x.par_chunks(self.d)
            .map(|q| {
                let kp = self.kept(q, ou);
                let m = kp.top[0].0;
                let z: f64 = kp.top.iter().map(|(l, _)| (l - m).exp()).sum();
                kp.next
                    .map_or(0.0, |nx| (self.n - self.k) as f64 * (nx - m).exp() / z)
            })
            .collect()
    }
}

impl Score for KnnScore {
    fn dim(&self) -> usize {
        self.d
    }
    fn has_training_set(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!(
            "kNN score, k = {} of N = {}, d = {}",
            self.k, self.n, self.d
        )
    }
    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        check_shapes(self.d, x, t, out, &extras);
        let (d, ou) = (self.d, OuTime::new(t));
        let one = |(q, o): (&[f32], &mut [f32])| -> (f64, Nearest, Posterior) {
            let kp = self.kept(q, ou);
            let m = kp.top[0].0;
            let w: Vec<f64> = kp.top.iter().map(|(l, _)| (l - m).exp()).collect();
            let z: f64 = w.iter().sum();
            for j in 0..d {
                let mean: f64 = kp
                    .top
                    .iter()
                    .zip(&w)
                    .map(|(&(_, mu), w)| w * self.a[mu * d + j])
                    .sum::<f64>()
                    / z;
                o[j] = ((ou.decay * mean - q[j] as f64) / ou.delta) as f32;
            }
            let dist = |l: f64| (-2.0 * ou.delta * l).sqrt() as f32;
            let (i1, second) = (kp.top[0], kp.top.get(1).copied());
            let nearest = Nearest {
                index: i1.1 as u32,
                second: second.map_or(i1.1, |s| s.1) as u32,
                d1: dist(i1.0),
                d2: second.map_or(f32::INFINITY, |s| dist(s.0)),
            };
            let (h, sq) = kp
                .top
                .iter()
                .zip(&w)
                .fold((0.0, 0.0), |(h, sq), (&(l, _), &w)| {
                    (h + w * (l - m), sq + w * w)
                });
            let post = Posterior {
                entropy: (z.ln() - h / z).max(0.0),
                effective_n: (z * z / sq).max(1.0),
            };
            let log_p = m + z.ln()
                - (self.n as f64).ln()
                - 0.5 * d as f64 * (2.0 * std::f64::consts::PI * ou.delta).ln();
            (log_p, nearest, post)
        };
        let res = crate::score::map_queries(x, out, d, par, one);
        let Extras {
            mut log_p,
            mut nearest,
            mut posterior,
        } = extras;
        for (i, (l, nn, p)) in res.into_iter().enumerate() {
            if let Some(v) = log_p.as_deref_mut() {
                v[i] = l;
            }
            if let Some(v) = nearest.as_deref_mut() {
                v[i] = nn;
            }
            if let Some(v) = posterior.as_deref_mut() {
                v[i] = p;
            }
        }
    }
}

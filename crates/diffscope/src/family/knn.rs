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
    /// The training points (N × d, as given).
    a: Vec<f32>,
    /// Their norms |a_μ| (f64), for the f32 screen's error bound.
    norms: Vec<f64>,
    n: usize,
    d: usize,
    k: usize,
}

/// Queries per GEMM of the screen (their products are 64 × N f32 values).
const QUERY_BLOCK: usize = 64;

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
            a: data.x.clone(),
            norms: data
                .x
                .chunks_exact(data.d.max(1))
                .map(|r| r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt())
                .collect(),
            n: data.n,
            d: data.d,
            k: k.min(data.n),
        })
    }

    /// The kept points of every query (rows of `x`): per block of at most [`QUERY_BLOCK`] queries, an f32
    /// screen of every distance, $\tilde d_{q\mu} = |x_q|^2 + e^2|a_\mu|^2 - 2e\,x_q \cdot a_\mu$ with the
    /// products from one f32 GEMM (faer), then per query the candidates the screen cannot exclude,
    /// rescored in f64 ([`Self::candidates`]). The GEMM's summation order may depend on the threads, but
    /// the selection does not: it is the f64 selection over all N whatever the screen's rounding, within
    /// its bound.
    fn kept_all(&self, x: &[f32], ou: OuTime, par: Par) -> Vec<Kept> {
        let d = self.d;
        let mut kept = Vec::with_capacity(x.len() / d);
        for xb in x.chunks(QUERY_BLOCK * d) {
            let g = self.products(xb, par);
            let one = |(qi, q): (usize, &[f32])| self.rescore(q, &self.screen(q, &g, qi, ou), ou);
            match par {
                Par::Seq => kept.extend(xb.chunks_exact(d).enumerate().map(one)),
                Par::Rayon(_) => kept.par_extend(xb.par_chunks_exact(d).enumerate().map(one)),
            }
        }
        kept
    }

    /// The f32 products $x_q \cdot a_\mu$ of a block of queries with every point (one GEMM).
    fn products(&self, xb: &[f32], par: Par) -> faer::Mat<f32> {
        let (d, nq) = (self.d, xb.len() / self.d);
        let mut g = faer::Mat::<f32>::zeros(nq, self.n);
        faer::linalg::matmul::matmul(
            g.as_mut(),
            faer::Accum::Replace,
            crate::linalg::view_f32(xb, nq, d),
            crate::linalg::view_f32(&self.a, self.n, d).transpose(),
            1.0f32,
            par,
        );
        g
    }

    /// Query `qi`'s screen $\tilde d_\mu = |x|^2 + e^2|a_\mu|^2 - 2e\,g_{q\mu}$ (f64 from the f32 products).
    fn screen(&self, q: &[f32], g: &faer::Mat<f32>, qi: usize, ou: OuTime) -> Vec<f64> {
        let xn2: f64 = q.iter().map(|&v| (v as f64).powi(2)).sum();
        let e = ou.decay;
        (0..self.n)
            .map(|mu| xn2 + e * e * self.norms[mu].powi(2) - 2.0 * e * g[(qi, mu)] as f64)
            .collect()
    }

    /// One query's kept points from its f32 screen `s`: the candidates' logits in f64, selected.
    fn rescore(&self, q: &[f32], s: &[f64], ou: OuTime) -> Kept {
        let d = self.d;
        let x64: Vec<f64> = q.iter().map(|&v| v as f64).collect();
        let logits = self
            .candidates(&x64, s, ou.decay)
            .into_iter()
            .map(|mu| {
                let a = &self.a[mu * d..(mu + 1) * d];
                let d2 = crate::linalg::sq_dist_f64(&x64, a, ou.decay);
                (-d2 / (2.0 * ou.delta), mu)
            })
            .collect();
        self.select(logits)
    }

    /// The points whose distance the f32 screen `s` cannot place beyond the (k+1)-th.
    ///
    /// Error bound, with u = 2⁻²⁴ and $M_\mu = |x| + e|a_\mu|$: the f32 product $x \cdot a_\mu$ of d terms,
    /// in any summation order, errs by at most $\gamma_d |x||a_\mu|$ ($\gamma_d = du/(1 - du)$), so
    /// $2e\,x\cdot a_\mu$ by $\gamma_d M_\mu^2 / 2$ ($2e|x||a| \le M^2$); the norms and the combination are
    /// f64 (their errors are ~10⁻¹⁶ M²). All below $E_\mu = c\,u\,M_\mu^2$ with c = 2(d + 8), a factor
    /// of 4 of room.
    ///
    /// With T the (k+1)-th smallest upper bound $\tilde d + E$, at least k + 1 points lie within T, so
    /// $d_{(k+1)} \le T$, and every point with $d_\mu \le d_{(k+1)}$ has $\tilde d_\mu - E_\mu \le T$. The
    /// f64 selection over these candidates is therefore the selection over all N, bit for bit. All points
    /// when k = N or when the screen is not finite.
    fn candidates(&self, x: &[f64], s: &[f64], e: f64) -> Vec<usize> {
        let all = || (0..s.len()).collect();
        if self.k >= self.n {
            return all();
        }
        let u = f64::from(f32::EPSILON) / 2.0;
        let c = 2.0 * (self.d as f64 + 8.0);
        let xn = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        let err: Vec<f64> = self
            .norms
            .iter()
            .map(|&an| c * u * (xn + e * an).powi(2))
            .collect();
        let mut upper: Vec<f64> = s.iter().zip(&err).map(|(&v, &b)| v + b).collect();
        let (_, &mut cut, _) = upper.select_nth_unstable_by(self.k, f64::total_cmp);
        let kept: Vec<usize> = s
            .iter()
            .zip(&err)
            .enumerate()
            .filter(|(_, (&v, &b))| v - b <= cut)
            .map(|(mu, _)| mu)
            .collect();
        if !cut.is_finite() || kept.len() <= self.k {
            return all();
        }
        kept
    }

    /// The k largest logits, sorted, and the largest of the others.
    fn select(&self, mut l: Vec<(f64, usize)>) -> Kept {
        // Decreasing logit, ties to the smaller index: a total order, so the kept set is deterministic.
        let order = |p: &(f64, usize), q: &(f64, usize)| q.0.total_cmp(&p.0).then(p.1.cmp(&q.1));
        let next = (self.k < l.len()).then(|| {
            l.select_nth_unstable_by(self.k, order);
            l[self.k].0
        });
        l.truncate(self.k);
        l.sort_by(order);
        Kept { top: l, next }
    }

    /// Per query, a certified bound on the omitted posterior mass relative to the kept mass:
    /// $\sum_{\mu \notin K} e^{\ell_\mu} / \sum_{\mu \in K} e^{\ell_\mu} \le (N - k)\, e^{\ell_{(k+1)}} /
    /// \sum_{\mu \in K} e^{\ell_\mu}$, every omitted logit being at most the largest omitted one.
    pub fn tail_bound(&self, x: &[f32], t: f64) -> Vec<f64> {
        self.kept_all(x, OuTime::new(t), Par::rayon(0))
            .into_iter()
            .map(|kp| {
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
        let kept = self.kept_all(x, ou, par);
        let one = |((q, o), kp): ((&[f32], &mut [f32]), &Kept)| -> (f64, Nearest, Posterior) {
            let m = kp.top[0].0;
            let w: Vec<f64> = kp.top.iter().map(|(l, _)| (l - m).exp()).collect();
            let z: f64 = w.iter().sum();
            for j in 0..d {
                let mean: f64 = kp
                    .top
                    .iter()
                    .zip(&w)
                    .map(|(&(_, mu), w)| w * self.a[mu * d + j] as f64)
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
        let res: Vec<_> = match par {
            Par::Seq => x
                .chunks(d)
                .zip(out.chunks_mut(d))
                .zip(&kept)
                .map(one)
                .collect(),
            Par::Rayon(_) => x
                .par_chunks(d)
                .zip(out.par_chunks_mut(d))
                .zip(&kept)
                .map(one)
                .collect(),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The screen's error against exact f64 distances stays within the analytic bound the candidates
    /// rely on, $\gamma_d M^2/2$ (a quarter of the $E = c\,u\,M^2$ used, c = 2(d + 8)), on data built for
    /// cancellation: points and queries far from the origin (|a| ≈ 300) at distances of order 1, where
    /// |x|² + e²|a|² and 2e x·a nearly cancel. Also checks that the bound is not vacuous: the worst error
    /// is at least 1 % of it (an f32 screen that were secretly exact would make the test meaningless).
    #[test]
    fn the_screen_error_is_within_its_bound() {
        use rand::Rng;
        use rand_distr::StandardNormal;
        let (d, n, b) = (300, 500, 40);
        let mut r = crate::rng::stream(5, &[2]);
        let offset: Vec<f64> = (0..d)
            .map(|_| r.sample::<f64, _>(StandardNormal) * 17.0)
            .collect();
        let a: Vec<f32> = (0..n * d)
            .map(|i| (offset[i % d] + r.sample::<f64, _>(StandardNormal) * 0.05) as f32)
            .collect();
        let data = crate::data::Dataset::new(a, n, d, "far from the origin").unwrap();
        let sc = KnnScore::new(&data, 5).unwrap();
        let u = f64::from(f32::EPSILON) / 2.0;
        let gamma = d as f64 * u / (1.0 - d as f64 * u);
        let mut worst: f64 = 0.0;
        for &t in &[0.01, 0.5, 3.0] {
            let ou = OuTime::new(t);
            let x: Vec<f32> = (0..b * d)
                .map(|i| {
                    (ou.decay * offset[i % d] + r.sample::<f64, _>(StandardNormal) * 0.05) as f32
                })
                .collect();
            let g = sc.products(&x, Par::rayon(0));
            for (qi, q) in x.chunks(d).enumerate() {
                let x64: Vec<f64> = q.iter().map(|&v| v as f64).collect();
                let xn = x64.iter().map(|v| v * v).sum::<f64>().sqrt();
                for (mu, s) in sc.screen(q, &g, qi, ou).into_iter().enumerate() {
                    let row = &data.x[mu * d..(mu + 1) * d];
                    let exact = crate::linalg::sq_dist_f64(&x64, row, ou.decay);
                    let m = xn + ou.decay * sc.norms[mu];
                    let ratio = (s - exact).abs() / (gamma * m * m / 2.0);
                    assert!(ratio <= 1.0, "t {t}, query {qi}, point {mu}: {ratio}");
                    worst = worst.max(ratio);
                }
            }
        }
        assert!(
            worst > 0.01,
            "worst error {worst} of the bound: the screen looks exact"
        );
    }
}

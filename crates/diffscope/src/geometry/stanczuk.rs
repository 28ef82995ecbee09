//! Estimator (e): Stanczuk et al. 2024 (arXiv 2212.12611), the normal-space dimension from the SVD of
//! scores at forward-noised copies of one point.

use crate::error::{Error, Result};
use crate::rng;
use crate::score::{OuTime, Score};
use faer::{Mat, Par};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Result of the Stanczuk estimator at one point.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Stanczuk {
    /// Singular values of the K × d stacked scores, descending.
    pub singular_values: Vec<f64>,
    /// Normal dimension: the position of the largest gap, $\arg\max_i (s_i - s_{i+1})$, counted from 1.
    pub normal_dim: usize,
    /// Intrinsic dimension $d - $ `normal_dim`.
    pub dim: usize,
}

/// The estimator on a K × d matrix of scores (row-major): centre the scores over the K copies, SVD, then
/// the largest gap between consecutive singular values among the first d.
///
/// Centring removes the rank-one mean score. Stanczuk et al. work at σ small enough that the normal
/// scores (~1/σ each) dwarf it; at the moderate σ met along backward trajectories the mean tangent score
/// (O(|a|/λ)) can otherwise stand above the tangent spread (O(σ/λ)) and split the normal cluster from
/// itself instead of from the tangent directions.
pub fn stanczuk_from_scores(scores: &[f32], d: usize) -> Result<Stanczuk> {
    let k = scores.len() / d;
    if k < 2 || d < 2 {
        return Err(Error::shape(
            "Stanczuk scores",
            format!("{k} × {d}: need at least 2 samples and d ≥ 2"),
        ));
    }
    let mean: Vec<f64> = (0..d)
        .map(|j| (0..k).map(|i| scores[i * d + j] as f64).sum::<f64>() / k as f64)
        .collect();
    let m = Mat::<f64>::from_fn(k, d, |i, j| scores[i * d + j] as f64 - mean[j]);
    let sv = m
        .singular_values()
        .map_err(|e| Error::numerical("Stanczuk SVD", format!("{e:?}")))?;
    let n = sv.len().min(d);
    let gap = (0..n - 1)
        .max_by(|&a, &b| (sv[a] - sv[a + 1]).total_cmp(&(sv[b] - sv[b + 1])))
        .unwrap_or(0);
    Ok(Stanczuk {
        singular_values: sv,
        normal_dim: gap + 1,
        dim: d - (gap + 1),
    })
}

/// Stanczuk at a clean point $x_0$ and time t: scores at $K$ copies $e^{-t}x_0 + \sqrt{\Delta_t} z_i$,
/// $z_i$ from stream `(seed, FORWARD, i)`. Use a small t (σ² well below the manifold's curvature scale and
/// the data's tangent variances) and $K \ge d$ (4d is a good default).
pub fn stanczuk(
    score: &dyn Score,
    x0: &[f32],
    t: f64,
    k: usize,
    seed: u64,
    par: Par,
) -> Result<Stanczuk> {
    let ou = OuTime::new(t);
    let centre: Vec<f64> = x0.iter().map(|&v| ou.decay * v as f64).collect();
    stanczuk_around(score, &centre, t, k, seed, par)
}

/// Stanczuk around an already scaled centre c (copies $c + \sqrt{\Delta_t} z_i$); along a backward
/// trajectory the centre is the denoiser output $D(x) = x + \Delta_t S(x, t)$.
pub fn stanczuk_around(
    score: &dyn Score,
    centre: &[f64],
    t: f64,
    k: usize,
    seed: u64,
    par: Par,
) -> Result<Stanczuk> {
    let d = centre.len();
    let sq = OuTime::new(t).delta.sqrt();
    let mut x = vec![0.0f32; k * d];
    for (i, row) in x.chunks_mut(d).enumerate() {
        let mut r = rng::stream(seed, &[rng::tag::FORWARD, i as u64]);
        for (v, c) in row.iter_mut().zip(centre) {
            let z: f64 = StandardNormal.sample(&mut r);
            *v = (c + sq * z) as f32;
        }
    }
    let s = score.eval(&x, t, par);
    stanczuk_from_scores(&s, d)
}

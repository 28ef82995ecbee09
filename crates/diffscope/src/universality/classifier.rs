//! Multiclass linear classifiers on one-hot targets.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng;
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// A linear model: scores $s = W^\top ((x - \bar x)/\tau) + b$ (x̄, τ from the training set), class = argmax s.
#[derive(Clone, Debug)]
pub struct LinearModel {
    /// Weights, d × K.
    pub w: Mat<f64>,
    /// Intercepts, K.
    pub b: Vec<f64>,
    /// Input centre x̄.
    pub centre: Vec<f64>,
    /// Input scale τ (root-mean-square of the centred training inputs).
    pub scale: f64,
}

impl LinearModel {
    fn features(&self, x: &[f32]) -> Vec<f64> {
        x.iter()
            .zip(&self.centre)
            .map(|(&v, &c)| (v as f64 - c) / self.scale)
            .collect()
    }

    /// Class scores of one input.
    pub fn scores(&self, x: &[f32]) -> Vec<f64> {
        let f = self.features(x);
        (0..self.b.len())
            .map(|k| {
                self.b[k]
                    + f.iter()
                        .enumerate()
                        .map(|(i, v)| v * self.w[(i, k)])
                        .sum::<f64>()
            })
            .collect()
    }

    /// Predicted class.
    pub fn predict(&self, x: &[f32]) -> usize {
        let s = self.scores(x);
        (0..s.len())
            .max_by(|&a, &b| s[a].total_cmp(&s[b]))
            .unwrap_or(0)
    }
}

/// Fraction of misclassified rows of a labelled data set.
pub fn error_rate(m: &LinearModel, data: &Dataset) -> f64 {
    let Some(l) = &data.labels else {
        return f64::NAN;
    };
    (0..data.n)
        .filter(|&i| m.predict(data.row(i)) != l[i] as usize)
        .count() as f64
        / data.n.max(1) as f64
}

fn standardiser(data: &Dataset) -> (Vec<f64>, f64) {
    let centre = data.mean();
    let ms = data
        .x
        .chunks(data.d)
        .map(|r| {
            r.iter()
                .zip(&centre)
                .map(|(&v, &c)| (v as f64 - c).powi(2))
                .sum::<f64>()
        })
        .sum::<f64>()
        / (data.n * data.d) as f64;
    (centre, ms.sqrt().max(1e-12))
}

fn one_hot(data: &Dataset) -> Result<(Vec<usize>, usize)> {
    let l = data
        .labels
        .as_ref()
        .ok_or_else(|| Error::param("labels", "none", "a labelled training set"))?;
    Ok((
        l.iter().map(|&v| v as usize).collect(),
        data.class_names.len(),
    ))
}

/// Ridge regression on one-hot targets, in closed form: with standardised inputs F (n × d) centred and
/// targets Y centred, $W = (F^\top F + \lambda I)^{-1} F^\top Y$ and b = ȳ (the mean one-hot vector).
pub fn ridge(data: &Dataset, lambda: f64) -> Result<LinearModel> {
    crate::error::check_positive("lambda", lambda)?;
    let (labels, k) = one_hot(data)?;
    let (centre, scale) = standardiser(data);
    let (n, d) = (data.n, data.d);
    let f = Mat::<f64>::from_fn(n, d, |i, j| (data.x[i * d + j] as f64 - centre[j]) / scale);
    let ybar: Vec<f64> = (0..k)
        .map(|c| labels.iter().filter(|&&l| l == c).count() as f64 / n as f64)
        .collect();
    let y = Mat::<f64>::from_fn(n, k, |i, c| f64::from(labels[i] == c) - ybar[c]);
    let mut a = Mat::<f64>::zeros(d, d);
    faer::linalg::matmul::matmul(
        a.as_mut(),
        faer::Accum::Replace,
        f.transpose(),
        f.as_ref(),
        1.0,
        faer::Par::Seq,
    );
    for i in 0..d {
        a[(i, i)] += lambda;
    }
    let mut rhs = Mat::<f64>::zeros(d, k);
    faer::linalg::matmul::matmul(
        rhs.as_mut(),
        faer::Accum::Replace,
        f.transpose(),
        y.as_ref(),
        1.0,
        faer::Par::Seq,
    );
    let llt = a
        .llt(Side::Lower)
        .map_err(|e| Error::numerical("ridge normal equations", format!("{e:?}")))?;
    let w = llt.solve(&rhs);
    Ok(LinearModel {
        w,
        b: ybar,
        centre,
        scale,
    })
}

/// Loss of the softmax classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Loss {
    /// Cross-entropy $-\log p_y$.
    CrossEntropy,
    /// Square loss on the softmax outputs, $\tfrac12 |p - e_y|^2$ (the reference repository's recipe).
    Square,
}

/// Minibatch SGD with cosine warm restarts (SGDR: periods `period0`, ×2 after each restart), L2 weight
/// decay, and early stopping on the validation error (the best epoch's weights are kept).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SgdParams {
    /// Peak learning rate.
    pub lr: f64,
    /// Minibatch size.
    pub batch: usize,
    /// Total epochs.
    pub epochs: usize,
    /// First restart period (epochs).
    pub period0: usize,
    /// L2 weight decay.
    pub weight_decay: f64,
}

impl Default for SgdParams {
    fn default() -> Self {
        SgdParams {
            lr: 0.5,
            batch: 32,
            epochs: 70,
            period0: 10,
            weight_decay: 1e-4,
        }
    }
}

/// Trains a softmax classifier by SGD (deterministic given `seed`: shuffles from `(seed, DATA, 7, epoch)`).
pub fn train_softmax(
    train: &Dataset,
    val: &Dataset,
    loss: Loss,
    p: &SgdParams,
    seed: u64,
) -> Result<LinearModel> {
    let (labels, k) = one_hot(train)?;
    if p.batch == 0 || p.epochs == 0 || p.period0 == 0 {
        return Err(Error::param(
            "sgd",
            format!("{p:?}"),
            "batch, epochs and period0 ≥ 1",
        ));
    }
    crate::error::check_positive("lr", p.lr)?;
    let (centre, scale) = standardiser(train);
    let d = train.d;
    let mut m = LinearModel {
        w: Mat::zeros(d, k),
        b: vec![0.0; k],
        centre,
        scale,
    };
    let feats: Vec<Vec<f64>> = (0..train.n).map(|i| m.features(train.row(i))).collect();
    let mut best = (error_rate(&m, val), m.clone());
    let mut order: Vec<usize> = (0..train.n).collect();
    let (mut t_cur, mut period) = (0usize, p.period0);
    for epoch in 0..p.epochs {
        let mut g = rng::stream(seed, &[rng::tag::DATA, 7, epoch as u64]);
        order.shuffle(&mut g);
        let steps = train.n.div_ceil(p.batch);
        for (bi, chunk) in order.chunks(p.batch).enumerate() {
            let frac = (t_cur as f64 + bi as f64 / steps as f64) / period as f64;
            let lr = 0.5 * p.lr * (1.0 + (std::f64::consts::PI * frac).cos());
            let mut gw = Mat::<f64>::zeros(d, k);
            let mut gb = vec![0.0; k];
            for &i in chunk {
                accumulate_grad(&m, &feats[i], labels[i], loss, &mut gw, &mut gb);
            }
            let inv = 1.0 / chunk.len() as f64;
            for c in 0..k {
                m.b[c] -= lr * gb[c] * inv;
                for j in 0..d {
                    m.w[(j, c)] -= lr * (gw[(j, c)] * inv + p.weight_decay * m.w[(j, c)]);
                }
            }
        }
        t_cur += 1;
        if t_cur == period {
            t_cur = 0;
            period *= 2;
        }
        let e = error_rate(&m, val);
        if e < best.0 {
            best = (e, m.clone());
        }
    }
    Ok(best.1)
}

/// Adds the gradient of one sample's loss (w.r.t. W and b) to `gw`, `gb`; returns the loss.
/// ∂L/∂s: cross-entropy → p − y; square loss ½|p − y|² → J_softmaxᵀ (p − y) = p ⊙ (r − ⟨p, r⟩), r = p − y.
fn accumulate_grad(
    m: &LinearModel,
    f: &[f64],
    label: usize,
    loss: Loss,
    gw: &mut Mat<f64>,
    gb: &mut [f64],
) -> f64 {
    let k = m.b.len();
    let s: Vec<f64> = (0..k)
        .map(|c| {
            m.b[c]
                + f.iter()
                    .enumerate()
                    .map(|(j, v)| v * m.w[(j, c)])
                    .sum::<f64>()
        })
        .collect();
    let mx = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = s.iter().map(|v| (v - mx).exp()).sum();
    let pr: Vec<f64> = s.iter().map(|v| (v - mx).exp() / z).collect();
    let r: Vec<f64> = (0..k).map(|c| pr[c] - f64::from(label == c)).collect();
    let (value, ds): (f64, Vec<f64>) = match loss {
        Loss::CrossEntropy => (-(s[label] - mx - z.ln()), r),
        Loss::Square => {
            let pr_r: f64 = pr.iter().zip(&r).map(|(a, b)| a * b).sum();
            (
                0.5 * r.iter().map(|v| v * v).sum::<f64>(),
                (0..k).map(|c| pr[c] * (r[c] - pr_r)).collect(),
            )
        }
    };
    for c in 0..k {
        gb[c] += ds[c];
        for (j, v) in f.iter().enumerate() {
            gw[(j, c)] += ds[c] * v;
        }
    }
    value
}

/// Full-batch L-BFGS on the mean loss + ½·weight_decay·|W|² (deterministic; no minibatches).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LbfgsParams {
    /// Iterations.
    pub iterations: usize,
    /// Stored curvature pairs.
    pub history: usize,
    /// L2 weight decay.
    pub weight_decay: f64,
}

impl Default for LbfgsParams {
    fn default() -> Self {
        LbfgsParams {
            iterations: 200,
            history: 10,
            weight_decay: 1e-3,
        }
    }
}

/// Trains a softmax classifier by full-batch L-BFGS (two-loop recursion, Armijo backtracking), keeping
/// the iterate with the lowest validation error (early stopping on validation only).
pub fn train_softmax_lbfgs(
    train: &Dataset,
    val: &Dataset,
    loss: Loss,
    p: &LbfgsParams,
) -> Result<LinearModel> {
    let (labels, k) = one_hot(train)?;
    if p.iterations == 0 || p.history == 0 {
        return Err(Error::param(
            "lbfgs",
            format!("{p:?}"),
            "iterations and history ≥ 1",
        ));
    }
    let (centre, scale) = standardiser(train);
    let d = train.d;
    let model_of = |theta: &[f64]| LinearModel {
        w: Mat::from_fn(d, k, |j, c| theta[j * k + c]),
        b: theta[d * k..].to_vec(),
        centre: centre.clone(),
        scale,
    };
    let probe = model_of(&vec![0.0; d * k + k]);
    let feats: Vec<Vec<f64>> = (0..train.n).map(|i| probe.features(train.row(i))).collect();
    let objective = |theta: &[f64]| -> (f64, Vec<f64>) {
        let m = model_of(theta);
        let mut gw = Mat::<f64>::zeros(d, k);
        let mut gb = vec![0.0; k];
        let total: f64 = feats
            .iter()
            .zip(&labels)
            .map(|(f, &y)| accumulate_grad(&m, f, y, loss, &mut gw, &mut gb))
            .sum();
        let inv = 1.0 / train.n as f64;
        let mut g = vec![0.0; d * k + k];
        let mut reg = 0.0;
        for j in 0..d {
            for c in 0..k {
                let w = theta[j * k + c];
                g[j * k + c] = gw[(j, c)] * inv + p.weight_decay * w;
                reg += 0.5 * p.weight_decay * w * w;
            }
        }
        g[d * k..]
            .iter_mut()
            .zip(&gb)
            .for_each(|(a, b)| *a = b * inv);
        (total * inv + reg, g)
    };
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let mut theta = vec![0.0; d * k + k];
    let (mut f, mut g) = objective(&theta);
    let mut best = (error_rate(&model_of(&theta), val), theta.clone());
    let mut hist: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::new();
    for _ in 0..p.iterations {
        // Two-loop recursion: direction = −H g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(hist.len());
        for (s, y, rho) in hist.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        if let Some((s, y, _)) = hist.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in hist.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dot(&g, &dir);
        if slope >= 0.0 || !slope.is_finite() {
            hist.clear();
            continue;
        }
        // Armijo backtracking.
        let mut step = 1.0;
        let (mut f_new, mut g_new, mut t_new);
        loop {
            t_new = theta
                .iter()
                .zip(&dir)
                .map(|(t, dv)| t + step * dv)
                .collect::<Vec<f64>>();
            (f_new, g_new) = objective(&t_new);
            if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        let s: Vec<f64> = t_new.iter().zip(&theta).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 {
            hist.push_back((s, y, 1.0 / sy));
            if hist.len() > p.history {
                hist.pop_front();
            }
        }
        (theta, f, g) = (t_new, f_new, g_new);
        let e = error_rate(&model_of(&theta), val);
        if e < best.0 {
            best = (e, theta.clone());
        }
        if dot(&g, &g).sqrt() < 1e-9 {
            break;
        }
    }
    Ok(model_of(&best.1))
}

/// A classifier recipe (for configs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Classifier {
    /// Closed-form ridge on one-hot targets (the validation split is not needed and not used).
    Ridge {
        /// Regularisation λ (on standardised inputs).
        lambda: f64,
    },
    /// Softmax + cross-entropy by SGD.
    SoftmaxCe(SgdParams),
    /// Softmax + square loss by SGD.
    SoftmaxSquare(SgdParams),
    /// Softmax + cross-entropy by deterministic full-batch L-BFGS.
    SoftmaxCeLbfgs(LbfgsParams),
    /// Softmax + square loss by deterministic full-batch L-BFGS.
    SoftmaxSquareLbfgs(LbfgsParams),
}

impl Classifier {
    /// The recipe's name in titles: Ridge, SoftmaxCe, SoftmaxSquare, SoftmaxCeLbfgs, SoftmaxSquareLbfgs.
    pub fn name(&self) -> &'static str {
        match self {
            Classifier::Ridge { .. } => "Ridge",
            Classifier::SoftmaxCe(_) => "SoftmaxCe",
            Classifier::SoftmaxSquare(_) => "SoftmaxSquare",
            Classifier::SoftmaxCeLbfgs(_) => "SoftmaxCeLbfgs",
            Classifier::SoftmaxSquareLbfgs(_) => "SoftmaxSquareLbfgs",
        }
    }

    /// Trains on `train`, using `val` only for early stopping.
    pub fn train(&self, train: &Dataset, val: &Dataset, seed: u64) -> Result<LinearModel> {
        match self {
            Classifier::Ridge { lambda } => ridge(train, *lambda),
            Classifier::SoftmaxCe(p) => train_softmax(train, val, Loss::CrossEntropy, p, seed),
            Classifier::SoftmaxSquare(p) => train_softmax(train, val, Loss::Square, p, seed),
            Classifier::SoftmaxCeLbfgs(p) => train_softmax_lbfgs(train, val, Loss::CrossEntropy, p),
            Classifier::SoftmaxSquareLbfgs(p) => train_softmax_lbfgs(train, val, Loss::Square, p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The analytic gradients of both softmax losses against central finite differences of the loss
    /// value, for every weight and intercept: step h = 1e-5 leaves a truncation error O(h² L‴) ≈ 1e-10 and
    /// a rounding error ≈ 1e-16/h = 1e-11 on losses of order 1, so 1e-7 (relative to 1 + |g|) is loose for
    /// a correct gradient and tight for a dropped term (the square loss without its ⟨p, r⟩ correction is
    /// off by ≈ 0.1).
    #[test]
    fn softmax_loss_gradients_match_finite_differences() {
        let (d, k) = (4usize, 3usize);
        let mut m = LinearModel {
            w: Mat::from_fn(d, k, |i, j| ((i * 7 + j * 3) % 5) as f64 * 0.3 - 0.6),
            b: vec![0.2, -0.1, 0.05],
            centre: vec![0.0; d],
            scale: 1.0,
        };
        let f = [0.7, -1.2, 0.4, 2.0];
        for loss in [Loss::CrossEntropy, Loss::Square] {
            for label in 0..k {
                let (mut gw, mut gb) = (Mat::<f64>::zeros(d, k), vec![0.0; k]);
                accumulate_grad(&m, &f, label, loss, &mut gw, &mut gb);
                let value = |m: &LinearModel| {
                    let (mut w, mut b) = (Mat::<f64>::zeros(d, k), vec![0.0; k]);
                    accumulate_grad(m, &f, label, loss, &mut w, &mut b)
                };
                let h = 1e-5;
                for c in 0..k {
                    // j = d is the intercept of class c.
                    for j in 0..=d {
                        let nudge = |m: &mut LinearModel, v: f64| {
                            if j == d {
                                m.b[c] += v
                            } else {
                                m.w[(j, c)] += v
                            }
                        };
                        nudge(&mut m, h);
                        let up = value(&m);
                        nudge(&mut m, -2.0 * h);
                        let down = value(&m);
                        nudge(&mut m, h);
                        let num = (up - down) / (2.0 * h);
                        let ana = if j == d { gb[c] } else { gw[(j, c)] };
                        assert!(
                            (num - ana).abs() < 1e-7 * (1.0 + ana.abs()),
                            "{loss:?}, label {label}, class {c}, coordinate {j}: {ana} vs {num}"
                        );
                    }
                }
            }
        }
    }
}

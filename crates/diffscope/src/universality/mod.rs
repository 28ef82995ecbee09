//! Gaussian universality of linear classifiers (science.md §8; Ghane, Bao, Akhtiamov, Hassibi 2025).
//!
//! A per-class Gaussian [`Surrogate`] with the class's own mean and unbiased covariance; linear
//! classifiers ([`ridge`], softmax with cross-entropy or square loss trained by SGD with cosine warm
//! restarts and early stopping on a *validation* split); and the experiment [`universality`]: test error
//! vs n per class for training on the data and on its surrogate, over seeds, with bootstrap CIs,
//! cross-evaluation, and a verdict.

mod classifier;

pub use classifier::{
    error_rate, ridge, train_softmax, train_softmax_lbfgs, Classifier, LbfgsParams, LinearModel,
    Loss, SgdParams,
};

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng;
use faer::Mat;
use rand::seq::SliceRandom;
use rand::Rng as _;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// One class of the surrogate: N(μ_c, Σ_c), Σ_c = U diag(λ) Uᵀ with negative round-off clipped to 0.
#[derive(Clone, Debug)]
pub struct ClassGaussian {
    /// Mean (f64).
    pub mean: Vec<f64>,
    /// Eigenvalues of Σ_c (≥ 0).
    pub lambda: Vec<f64>,
    /// Eigenvectors (columns).
    pub basis: Mat<f64>,
    /// n_c.
    pub n: usize,
    /// Numerical rank of Σ_c (eigenvalues > 1e-6 · max).
    pub rank: usize,
}

/// Per-class Gaussian surrogate of a labelled data set.
#[derive(Clone, Debug)]
pub struct Surrogate {
    /// d.
    pub d: usize,
    /// One Gaussian per class, in the data set's class order.
    pub classes: Vec<ClassGaussian>,
    /// Class names.
    pub class_names: Vec<String>,
}

/// What the surrogate fit reports per class.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SurrogateInfo {
    /// Class name.
    pub class: String,
    /// n_c.
    pub n: usize,
    /// n_c / d.
    pub n_over_d: f64,
    /// Rank of Σ_c (≤ min(n_c − 1, d)).
    pub rank: usize,
}

impl Surrogate {
    /// Fits mean and unbiased covariance (f64) of each class from that class's rows only.
    ///
    /// # Errors
    /// If the data are unlabelled or a class has fewer than 2 samples.
    pub fn fit(data: &Dataset) -> Result<Self> {
        let labels = data
            .labels
            .as_ref()
            .ok_or_else(|| Error::param("labels", "none", "a labelled data set"))?;
        let mut classes = Vec::new();
        for (c, name) in data.class_names.iter().enumerate() {
            let rows: Vec<usize> = (0..data.n).filter(|&i| labels[i] as usize == c).collect();
            if rows.len() < 2 {
                return Err(Error::param(
                    format!("class {name}"),
                    rows.len(),
                    "at least 2 samples per class",
                ));
            }
            let mut x = Vec::with_capacity(rows.len() * data.d);
            rows.iter().for_each(|&i| x.extend_from_slice(data.row(i)));
            let (mean, cov) = crate::linalg::mean_cov(&x, rows.len(), data.d, faer::Par::rayon(0))?;
            let (mut lambda, basis) = crate::linalg::sym_eigen(cov.as_ref())?;
            lambda.iter_mut().for_each(|l| *l = l.max(0.0));
            let top = lambda.iter().cloned().fold(0.0, f64::max);
            let rank = lambda.iter().filter(|&&l| l > 1e-6 * top).count();
            classes.push(ClassGaussian {
                mean,
                lambda,
                basis,
                n: rows.len(),
                rank,
            });
        }
        Ok(Surrogate {
            d: data.d,
            classes,
            class_names: data.class_names.clone(),
        })
    }

    /// The surrogate as a Gaussian mixture (weights n_c / n), e.g. for its population score.
    pub fn mixture(&self) -> Result<crate::data::GaussianMixture> {
        let d = self.d;
        let total: usize = self.classes.iter().map(|c| c.n).sum();
        let covs = self
            .classes
            .iter()
            .map(|c| {
                Mat::<f64>::from_fn(d, d, |i, j| {
                    (0..d)
                        .map(|l| c.basis[(i, l)] * c.lambda[l] * c.basis[(j, l)])
                        .sum()
                })
            })
            .collect();
        Ok(crate::data::GaussianMixture::new(
            self.classes.iter().map(|c| c.mean.clone()).collect(),
            self.classes
                .iter()
                .map(|c| c.n as f64 / total as f64)
                .collect(),
            crate::data::Covariance::Full(covs),
        )?
        .with_class_names(self.class_names.clone()))
    }

    /// n_c/d and rank per class.
    pub fn info(&self) -> Vec<SurrogateInfo> {
        self.classes
            .iter()
            .zip(&self.class_names)
            .map(|(c, name)| SurrogateInfo {
                class: name.clone(),
                n: c.n,
                n_over_d: c.n as f64 / self.d as f64,
                rank: c.rank,
            })
            .collect()
    }

    /// Draws `per_class[c]` samples of each class c, x = μ_c + U sqrt(λ) z, from the independent streams
    /// `(seed, DATA, 100 + c)`; samples of a singular Σ_c stay in μ_c + span of its non-zero eigenvectors.
    pub fn sample(&self, per_class: &[usize], seed: u64) -> Result<Dataset> {
        let d = self.d;
        let mut x = Vec::new();
        let mut labels = Vec::new();
        for (c, (g, &m)) in self.classes.iter().zip(per_class).enumerate() {
            let mut r = rng::stream(seed, &[rng::tag::DATA, 100 + c as u64]);
            let sq: Vec<f64> = g.lambda.iter().map(|l| l.sqrt()).collect();
            for _ in 0..m {
                let z: Vec<f64> = sq
                    .iter()
                    .map(|s| s * r.sample::<f64, _>(StandardNormal))
                    .collect();
                for i in 0..d {
                    x.push(
                        (g.mean[i] + (0..d).map(|j| g.basis[(i, j)] * z[j]).sum::<f64>()) as f32,
                    );
                }
                labels.push(c as u32);
            }
        }
        let n = labels.len();
        Dataset::new(x, n, d, "per-class Gaussian surrogate")?
            .with_labels(labels, self.class_names.clone())
    }
}

/// Parameters of the universality experiment (every field defaulted).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UniversalityParams {
    /// Training samples per class (each split 80/20 into train/validation).
    pub ns: Vec<usize>,
    /// Independent repetitions (subsamples, surrogate draws, SGD shuffles).
    pub seeds: usize,
    /// Fraction of each class held out as the real test set.
    pub test_fraction: f64,
    /// The classifier.
    pub classifier: Classifier,
    /// Bootstrap replicates for the CIs over seeds.
    pub bootstrap: usize,
}

impl Default for UniversalityParams {
    fn default() -> Self {
        UniversalityParams {
            ns: vec![10, 20, 40, 80],
            seeds: 5,
            test_fraction: 0.3,
            classifier: Classifier::Ridge { lambda: 1e-2 },
            bootstrap: 1000,
        }
    }
}

/// Error curves of the experiment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UniversalityResult {
    /// n per class.
    pub ns: Vec<usize>,
    /// Test error on real test data, trained on real data: mean over seeds.
    pub err_data: Vec<f64>,
    /// Its 95 % bootstrap CI over seeds.
    pub ci_data: Vec<(f64, f64)>,
    /// Test error on real test data, trained on the surrogate.
    pub err_surrogate: Vec<f64>,
    /// Its CI.
    pub ci_surrogate: Vec<(f64, f64)>,
    /// Cross-evaluation: trained on real data, tested on surrogate test samples.
    pub err_data_on_surrogate: Vec<f64>,
    /// Trained on the surrogate, tested on surrogate test samples.
    pub err_surrogate_on_surrogate: Vec<f64>,
    /// Test error per class (rows: n, columns: class), trained on data.
    pub per_class_data: Vec<Vec<f64>>,
    /// Same, trained on the surrogate.
    pub per_class_surrogate: Vec<Vec<f64>>,
    /// Whether the data and surrogate CIs overlap at every n.
    pub agree: bool,
    /// Surrogate fit per class.
    pub surrogate: Vec<SurrogateInfo>,
}

fn subset(data: &Dataset, rows: &[usize]) -> Result<Dataset> {
    let mut x = Vec::with_capacity(rows.len() * data.d);
    rows.iter().for_each(|&i| x.extend_from_slice(data.row(i)));
    let labels = data
        .labels
        .as_ref()
        .map(|l| rows.iter().map(|&i| l[i]).collect())
        .unwrap_or_default();
    Dataset::new(x, rows.len(), data.d, &data.provenance)?
        .with_labels(labels, data.class_names.clone())
}

fn mean_ci(v: &[f64], reps: usize, seed: u64) -> (f64, (f64, f64)) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let mut g = rng::stream(seed, &[rng::tag::BOOTSTRAP, 77]);
    let mut means: Vec<f64> = (0..reps)
        .map(|_| {
            (0..v.len())
                .map(|_| v[g.random_range(0..v.len())])
                .sum::<f64>()
                / v.len() as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    let q = |p: f64| means[((p * (reps - 1) as f64).round() as usize).min(reps - 1)];
    (m, (q(0.025), q(0.975)))
}

/// Runs the universality experiment on a labelled data set.
pub fn universality(
    data: &Dataset,
    p: &UniversalityParams,
    seed: u64,
    monitor: &dyn crate::progress::Monitor,
) -> Result<UniversalityResult> {
    let labels = data
        .labels
        .as_ref()
        .ok_or_else(|| Error::param("labels", "none", "a labelled data set"))?;
    let k = data.class_names.len();
    if !(p.test_fraction > 0.0 && p.test_fraction < 1.0) {
        return Err(Error::param(
            "test_fraction",
            p.test_fraction,
            "a number in (0, 1)",
        ));
    }
    if p.seeds == 0 {
        return Err(Error::param("seeds", 0, "at least 1"));
    }
    // Fixed real test split (per class), independent of the seed loop.
    let mut g = rng::stream(seed, &[rng::tag::DATA, 999]);
    let mut pools = vec![Vec::new(); k];
    (0..data.n).for_each(|i| pools[labels[i] as usize].push(i));
    let mut test_rows = Vec::new();
    let mut train_pools = Vec::new();
    for pool in &mut pools {
        pool.shuffle(&mut g);
        let nt = ((pool.len() as f64) * p.test_fraction).round() as usize;
        test_rows.extend_from_slice(&pool[..nt]);
        train_pools.push(pool[nt..].to_vec());
    }
    let max_n = *p.ns.iter().max().unwrap_or(&0);
    if let Some((c, pool)) = train_pools
        .iter()
        .enumerate()
        .find(|(_, pool)| pool.len() < max_n)
    {
        return Err(Error::param(
            "ns",
            max_n,
            format!(
                "at most {} per class (class {} has {} training rows after the test split)",
                pool.len(),
                data.class_names[c],
                pool.len()
            ),
        ));
    }
    let test = subset(data, &test_rows)?;
    // The surrogate is fitted on the training pool only (the test rows stay unseen).
    let pool_rows: Vec<usize> = train_pools.iter().flatten().copied().collect();
    let surrogate = Surrogate::fit(&subset(data, &pool_rows)?)?;
    let sur_test = surrogate.sample(
        &vec![test.n / k + 1; k],
        rng::sub(seed, rng::purpose::SURROGATE_TEST, 0),
    )?;
    let total = (p.ns.len() * p.seeds) as u64;
    let mut res = UniversalityResult {
        ns: p.ns.clone(),
        err_data: vec![],
        ci_data: vec![],
        err_surrogate: vec![],
        ci_surrogate: vec![],
        err_data_on_surrogate: vec![],
        err_surrogate_on_surrogate: vec![],
        per_class_data: vec![],
        per_class_surrogate: vec![],
        agree: true,
        surrogate: surrogate.info(),
    };
    for (ni, &n) in p.ns.iter().enumerate() {
        if n < 2 {
            return Err(Error::param(
                "ns",
                n,
                "at least 2 samples per class (train + validation)",
            ));
        }
        let n_val = (n / 5).max(1);
        let (mut ed, mut es, mut eds, mut ess) = (vec![], vec![], vec![], vec![]);
        let (mut pcd, mut pcs) = (vec![0.0; k], vec![0.0; k]);
        for s in 0..p.seeds {
            crate::progress::check(monitor)?;
            let key = rng::sub(
                seed,
                rng::purpose::UNIVERSALITY_FIT,
                (ni as u64) << 32 | s as u64,
            );
            let mut g = rng::stream(key, &[rng::tag::DATA, 1]);
            let (mut tr, mut va) = (vec![], vec![]);
            for pool in &train_pools {
                let mut pl = pool.clone();
                pl.shuffle(&mut g);
                va.extend_from_slice(&pl[..n_val]);
                tr.extend_from_slice(&pl[n_val..n]);
            }
            let (dtr, dva) = (subset(data, &tr)?, subset(data, &va)?);
            let str_ = surrogate.sample(&vec![n - n_val; k], rng::derive(key, &[1]))?;
            let sva = surrogate.sample(&vec![n_val; k], rng::derive(key, &[2]))?;
            let md = p.classifier.train(&dtr, &dva, key)?;
            let ms = p.classifier.train(&str_, &sva, key)?;
            ed.push(error_rate(&md, &test));
            es.push(error_rate(&ms, &test));
            eds.push(error_rate(&md, &sur_test));
            ess.push(error_rate(&ms, &sur_test));
            for c in 0..k {
                let rows: Vec<usize> = (0..test.n)
                    .filter(|&i| test.labels.as_ref().is_some_and(|l| l[i] as usize == c))
                    .collect();
                let tc = subset(&test, &rows)?;
                pcd[c] += error_rate(&md, &tc) / p.seeds as f64;
                pcs[c] += error_rate(&ms, &tc) / p.seeds as f64;
            }
            monitor.advance((ni * p.seeds + s + 1) as u64, total);
        }
        let (md, cd) = mean_ci(
            &ed,
            p.bootstrap,
            rng::sub(seed, rng::purpose::CI_DATA, ni as u64),
        );
        let (ms, cs) = mean_ci(
            &es,
            p.bootstrap,
            rng::sub(seed, rng::purpose::CI_SURROGATE, ni as u64),
        );
        res.agree &= cd.0 <= cs.1 && cs.0 <= cd.1;
        res.err_data.push(md);
        res.ci_data.push(cd);
        res.err_surrogate.push(ms);
        res.ci_surrogate.push(cs);
        res.err_data_on_surrogate
            .push(eds.iter().sum::<f64>() / eds.len() as f64);
        res.err_surrogate_on_surrogate
            .push(ess.iter().sum::<f64>() / ess.len() as f64);
        res.per_class_data.push(pcd);
        res.per_class_surrogate.push(pcs);
    }
    Ok(res)
}

#[cfg(test)]
mod tests;

use crate::error::{Error, Result};
use crate::io::{self, NpyArray};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Above this dimension [`Dataset::top_covariance_eigenvalue`] uses Lanczos instead of a dense
/// eigendecomposition of the d × d covariance (O(d³): minutes at d = 16384).
pub const LANCZOS_ABOVE_D: usize = 512;

/// `n` samples in `R^d` (row-major f32), optional labels (indices into `class_names`) and provenance.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Number of samples.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Samples, row-major `n × d`.
    pub x: Vec<f32>,
    /// Label of each sample: an index into `class_names`.
    pub labels: Option<Vec<u32>>,
    /// Class names (as they appear in the source: a label value, a folder name).
    pub class_names: Vec<String>,
    /// Where the data came from and what was done to it (loaded, centred, classes selected...).
    pub provenance: String,
    /// The image layout of each row, for data loaded from images (IDX, PNG/JPEG folders) or declared so.
    pub image: Option<super::ImageInfo>,
    /// The per-feature mean subtracted by [`Dataset::centre`] (to show centred rows as images again).
    pub centred_mean: Option<Vec<f64>>,
}

/// Class name and sample count.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassCount {
    /// The class name.
    pub name: String,
    /// Its number of samples.
    pub count: usize,
}

/// Summary statistics of a data set (what `diffscope data info` prints).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataInfo {
    /// Number of samples.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Classes with their counts (empty when unlabelled).
    pub classes: Vec<ClassCount>,
    /// Mean Euclidean norm $\frac1n\sum_i |x_i|$.
    pub mean_norm: f64,
    /// Largest eigenvalue Λ of the unbiased sample covariance.
    pub top_eigenvalue: f64,
    /// ½ log Λ: the predicted speciation time t_S in OU time (science.md §4); None (JSON null) when
    /// Λ = 0 (data with zero variance, where it is undefined rather than −∞).
    pub half_log_top_eigenvalue: Option<f64>,
    /// What makes the data degenerate for diffscope's experiments (zero variance, a single point or
    /// class, d = 1), one sentence each; empty when nothing does.
    pub warnings: Vec<String>,
    /// Upper bound on the covariance rank, min(n − 1, d).
    pub rank_bound: usize,
    /// Provenance of the data.
    pub provenance: String,
}

/// Nearest and second-nearest scaled training points $e^{-t} a_\mu$ of a query, with their Euclidean
/// distances ($d_1 \le d_2$).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Nearest {
    /// Index μ₁ of the nearest scaled training point (= argmax of the softmax weights).
    pub index: u32,
    /// Index μ₂ of the second nearest.
    pub second: u32,
    /// $d_1 = |x - e^{-t} a_{\mu_1}|$.
    pub d1: f32,
    /// $d_2 = |x - e^{-t} a_{\mu_2}|$.
    pub d2: f32,
}

/// Nearest points of a batch as columns, the way the doors write them (`sample`'s .npz members, the keys
/// of Python's dicts): indices as i64, distances as f64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NearestColumns {
    /// μ₁ per query.
    pub index: Vec<i64>,
    /// μ₂ per query.
    pub second: Vec<i64>,
    /// $d_1$ per query.
    pub d1: Vec<f64>,
    /// $d_2$ per query.
    pub d2: Vec<f64>,
}

impl NearestColumns {
    /// The columns of `nn`.
    pub fn new(nn: &[Nearest]) -> Self {
        NearestColumns {
            index: nn.iter().map(|n| n.index as i64).collect(),
            second: nn.iter().map(|n| n.second as i64).collect(),
            d1: nn.iter().map(|n| n.d1 as f64).collect(),
            d2: nn.iter().map(|n| n.d2 as f64).collect(),
        }
    }
}

impl Dataset {
    /// A data set from a row-major buffer; checks the shape and that every value is finite.
    pub fn new(x: Vec<f32>, n: usize, d: usize, provenance: impl Into<String>) -> Result<Self> {
        let provenance = provenance.into();
        if n == 0 || d == 0 {
            return Err(Error::shape(
                provenance,
                format!("data set is empty: n = {n}, d = {d}"),
            ));
        }
        if x.len() != n * d {
            return Err(Error::shape(
                provenance,
                format!("buffer has {} values, expected n·d = {n}·{d}", x.len()),
            ));
        }
        crate::error::check_finite_f32(&provenance, &x, d)?;
        Ok(Dataset {
            n,
            d,
            x,
            labels: None,
            class_names: Vec::new(),
            provenance,
            image: None,
            centred_mean: None,
        })
    }

    /// Attaches labels (indices into `class_names`).
    pub fn with_labels(mut self, labels: Vec<u32>, class_names: Vec<String>) -> Result<Self> {
        if labels.len() != self.n {
            return Err(Error::shape(
                &self.provenance,
                format!("{} labels for {} samples", labels.len(), self.n),
            ));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
            return Err(Error::shape(
                &self.provenance,
                format!("label {bad} but only {} classes", class_names.len()),
            ));
        }
        self.labels = Some(labels);
        self.class_names = class_names;
        Ok(self)
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// Per-class means of a labelled data set, in class order (the nearest-centroid class rule for real
    /// data; the manifold model's class means). Errors without labels.
    pub fn class_means(&self) -> Result<Vec<Vec<f64>>> {
        let labels = self.labels.as_ref().ok_or_else(|| {
            Error::param(
                "classes",
                "none",
                "a labelled data set (give the label column)",
            )
        })?;
        let k = self.class_names.len();
        let mut sums = vec![vec![0.0f64; self.d]; k];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l as usize] += 1;
            sums[l as usize]
                .iter_mut()
                .zip(self.row(i))
                .for_each(|(s, &v)| *s += v as f64);
        }
        Ok(sums
            .into_iter()
            .zip(counts)
            .map(|(s, c)| s.into_iter().map(|v| v / c.max(1) as f64).collect())
            .collect())
    }

    /// The nearest and second-nearest rows of the data set to each row of `x` (B × d), with the
    /// Euclidean distances, exactly: $|x - a|^2 = |x|^2 - 2x\cdot a + |a|^2$ in f64 (GEMM per block of
    /// 128 queries × 2048 points, so cancellation costs ~1e-16·|x|², far below any f32 distance). Ties go
    /// to the lower index. Parallel over query blocks; the result does not depend on the thread count.
    /// With n = 1 the second neighbour is reported at index 0 and distance ∞.
    pub fn nearest(&self, x: &[f32]) -> Vec<Nearest> {
        use faer::Mat;
        use rayon::prelude::*;
        const QB: usize = 128;
        const PB: usize = 2048;
        let d = self.d;
        let norms: Vec<f64> = (0..self.n)
            .map(|i| self.row(i).iter().map(|&v| (v as f64).powi(2)).sum())
            .collect();
        let mut out = vec![Nearest::default(); x.len() / d.max(1)];
        out.par_chunks_mut(QB)
            .zip(x.par_chunks(QB * d))
            .for_each(|(res, xq)| {
                let b = res.len();
                let q = Mat::<f64>::from_fn(b, d, |i, j| xq[i * d + j] as f64);
                let qn: Vec<f64> = (0..b)
                    .map(|i| (0..d).map(|j| q[(i, j)] * q[(i, j)]).sum())
                    .collect();
                let mut best = vec![(f64::INFINITY, 0u32, f64::INFINITY, 0u32); b];
                for p0 in (0..self.n).step_by(PB) {
                    let pn = PB.min(self.n - p0);
                    let a = Mat::<f64>::from_fn(pn, d, |i, j| self.x[(p0 + i) * d + j] as f64);
                    let mut g = Mat::<f64>::zeros(b, pn);
                    faer::linalg::matmul::matmul(
                        g.as_mut(),
                        faer::Accum::Replace,
                        q.as_ref(),
                        a.transpose(),
                        1.0,
                        faer::Par::Seq,
                    );
                    for (i, bi) in best.iter_mut().enumerate() {
                        for k in 0..pn {
                            let dist = (qn[i] - 2.0 * g[(i, k)] + norms[p0 + k]).max(0.0);
                            let idx = (p0 + k) as u32;
                            if dist < bi.0 {
                                *bi = (dist, idx, bi.0, bi.1);
                            } else if dist < bi.2 {
                                bi.2 = dist;
                                bi.3 = idx;
                            }
                        }
                    }
                }
                for (r, bi) in res.iter_mut().zip(best) {
                    *r = Nearest {
                        index: bi.1,
                        second: bi.3,
                        d1: bi.0.sqrt() as f32,
                        d2: bi.2.sqrt() as f32,
                    };
                }
            });
        out
    }

    /// Counts per class (empty when unlabelled).
    pub fn class_counts(&self) -> Vec<ClassCount> {
        let Some(labels) = &self.labels else {
            return Vec::new();
        };
        let mut counts = vec![0usize; self.class_names.len()];
        labels.iter().for_each(|&l| counts[l as usize] += 1);
        self.class_names
            .iter()
            .zip(counts)
            .map(|(name, count)| ClassCount {
                name: name.clone(),
                count,
            })
            .collect()
    }

    /// Keeps only the named classes, in the given order (labels are re-indexed to that order).
    pub fn select_classes(&self, names: &[String]) -> Result<Dataset> {
        let Some(labels) = &self.labels else {
            return Err(Error::param(
                "classes",
                names.join(","),
                "a labelled data set (give --label-col for CSV)",
            ));
        };
        let mut map = vec![u32::MAX; self.class_names.len()];
        for (new, name) in names.iter().enumerate() {
            let old = self
                .class_names
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| {
                    Error::param(
                        "classes",
                        name,
                        format!(
                            "one of the data set's classes: {}",
                            self.class_names.join(", ")
                        ),
                    )
                })?;
            map[old] = new as u32;
        }
        let keep: Vec<usize> = (0..self.n)
            .filter(|&i| map[labels[i] as usize] != u32::MAX)
            .collect();
        let mut x = Vec::with_capacity(keep.len() * self.d);
        keep.iter().for_each(|&i| x.extend_from_slice(self.row(i)));
        let new_labels = keep.iter().map(|&i| map[labels[i] as usize]).collect();
        let prov = format!("{}; classes {}", self.provenance, names.join(","));
        let mut ds =
            Dataset::new(x, keep.len(), self.d, prov)?.with_labels(new_labels, names.to_vec())?;
        ds.image = self.image.clone();
        ds.centred_mean = self.centred_mean.clone();
        Ok(ds)
    }

    /// The first k rows of each class, in their order (every row of a class with fewer).
    pub fn first_per_class(&self, k: usize) -> Result<Dataset> {
        let Some(labels) = &self.labels else {
            return Err(Error::param("per_class", k, "a labelled data set"));
        };
        if k == 0 {
            return Err(Error::param("per_class", k, "at least 1 row per class"));
        }
        let mut seen = vec![0usize; self.class_names.len()];
        let keep: Vec<usize> = (0..self.n)
            .filter(|&i| {
                let c = &mut seen[labels[i] as usize];
                *c += 1;
                *c <= k
            })
            .collect();
        let mut x = Vec::with_capacity(keep.len() * self.d);
        keep.iter().for_each(|&i| x.extend_from_slice(self.row(i)));
        let prov = format!("{}; first {k} per class", self.provenance);
        let mut ds = Dataset::new(x, keep.len(), self.d, prov)?.with_labels(
            keep.iter().map(|&i| labels[i]).collect(),
            self.class_names.clone(),
        )?;
        ds.image = self.image.clone();
        ds.centred_mean = self.centred_mean.clone();
        Ok(ds)
    }

    /// Subtracts the per-feature mean (computed in f64) in place and records it in the provenance.
    pub fn centre(&mut self) {
        let mean = self.mean();
        for row in self.x.chunks_exact_mut(self.d) {
            for (v, m) in row.iter_mut().zip(&mean) {
                *v = (*v as f64 - m) as f32;
            }
        }
        self.provenance.push_str("; centred per feature");
        let total = match self.centred_mean.take() {
            Some(old) => old.iter().zip(&mean).map(|(a, b)| a + b).collect(),
            None => mean,
        };
        self.centred_mean = Some(total);
    }

    /// Maps image values from [0, 1] to [−1, 1] (x ← 2x − 1), the convention of most diffusion code.
    ///
    /// # Errors
    /// When the data are not images in [0, 1] (not loaded from images, or already mapped or centred).
    pub fn to_symmetric_pixels(&mut self) -> Result<()> {
        match &mut self.image {
            Some(info) if info.range == (0.0, 1.0) && self.centred_mean.is_none() => {
                info.range = (-1.0, 1.0);
            }
            _ => {
                return Err(Error::param(
                    "pixels",
                    "symmetric",
                    "image data in [0, 1], before centring (PNG/JPEG folders, IDX files)",
                ))
            }
        }
        self.x.iter_mut().for_each(|v| *v = 2.0 * *v - 1.0);
        self.provenance.push_str("; pixels mapped to [-1, 1]");
        Ok(())
    }

    /// Row i as an image in its original pixel values (the centring mean added back), when the data
    /// have an image layout.
    pub fn display_row(&self, row: &[f32]) -> Vec<f32> {
        match &self.centred_mean {
            Some(m) => row
                .iter()
                .zip(m)
                .map(|(&v, &m)| (v as f64 + m) as f32)
                .collect(),
            None => row.to_vec(),
        }
    }

    /// Per-feature mean, accumulated in f64.
    pub fn mean(&self) -> Vec<f64> {
        let mut mean = vec![0.0f64; self.d];
        for row in self.x.chunks_exact(self.d) {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= self.n as f64);
        mean
    }

    /// Largest eigenvalue of the unbiased sample covariance: a dense eigendecomposition for
    /// d ≤ [`LANCZOS_ABOVE_D`], [`Dataset::top_covariance_eigenvalue_lanczos`] above.
    pub fn top_covariance_eigenvalue(&self) -> Result<f64> {
        if self.d > LANCZOS_ABOVE_D {
            return self.top_covariance_eigenvalue_lanczos();
        }
        let (_, cov) = crate::linalg::mean_cov(&self.x, self.n, self.d, faer::Par::rayon(0))?;
        let ev = crate::linalg::sym_eigenvalues(cov.as_ref())?;
        Ok(*ev.last().unwrap_or(&0.0))
    }

    /// The top eigenvalue of the sample covariance by Lanczos iteration with full reorthogonalisation on
    /// the operator $v \mapsto X_c^\top X_c v / (n-1)$, $X_c$ the centred data, applied without forming the
    /// d × d covariance (O(n·d) per iteration, O(d·k) memory). Stops when the top Ritz value's residual
    /// bound $\beta_k |s_k|$ falls below 1e-12 Λ (at most 150 iterations). f64 throughout; the sums over
    /// rows are taken per fixed chunk of 256 rows and added in order, so the result does not depend on
    /// the thread count.
    ///
    /// # Errors
    /// If n < 2.
    pub fn top_covariance_eigenvalue_lanczos(&self) -> Result<f64> {
        use rayon::prelude::*;
        if self.n < 2 {
            return Err(Error::param(
                "n",
                self.n,
                "at least 2 samples to estimate a covariance",
            ));
        }
        const CHUNK: usize = 256;
        let (n, d) = (self.n, self.d);
        let mut mean = vec![0.0f64; d];
        for r in self.x.chunks_exact(d) {
            mean.iter_mut().zip(r).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        // w = X_cᵀ X_c v / (n − 1), row partial sums per fixed chunk, reduced in order.
        let apply = |v: &[f64]| -> Vec<f64> {
            let mv: f64 = mean.iter().zip(v).map(|(a, b)| a * b).sum();
            let parts: Vec<Vec<f64>> = self
                .x
                .par_chunks(CHUNK * d)
                .map(|block| {
                    let mut acc = vec![0.0f64; d];
                    for r in block.chunks_exact(d) {
                        let u: f64 = r.iter().zip(v).map(|(&a, &b)| a as f64 * b).sum::<f64>() - mv;
                        acc.iter_mut().zip(r).for_each(|(s, &a)| *s += u * a as f64);
                    }
                    acc
                })
                .collect();
            let mut w = vec![0.0f64; d];
            for p in &parts {
                w.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            }
            // Σ_i u_i (x_i − mean) = Σ_i u_i x_i − mean Σ_i u_i, and Σ_i u_i = n (mean·v) − n (mean·v) = 0.
            w.iter_mut().for_each(|a| *a /= (n - 1) as f64);
            w
        };
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let mut g = crate::rng::stream(0, &[crate::rng::tag::INIT, 0x1a2c05]);
        let mut q: Vec<f64> = (0..d)
            .map(|_| rand::Rng::random_range(&mut g, -1.0..1.0))
            .collect();
        let nq = dot(&q, &q).sqrt();
        q.iter_mut().for_each(|v| *v /= nq);
        let mut basis: Vec<Vec<f64>> = Vec::new();
        let (mut alphas, mut betas) = (Vec::new(), Vec::new());
        let mut top = 0.0f64;
        for k in 0..150.min(d) {
            let mut w = apply(&q);
            let a = dot(&w, &q);
            basis.push(q.clone());
            alphas.push(a);
            // Full reorthogonalisation (twice is enough).
            for _ in 0..2 {
                for b in &basis {
                    let c = dot(&w, b);
                    w.iter_mut().zip(b).for_each(|(x, y)| *x -= c * y);
                }
            }
            let beta = dot(&w, &w).sqrt();
            let kk = k + 1;
            let t = faer::Mat::<f64>::from_fn(kk, kk, |i, j| {
                if i == j {
                    alphas[i]
                } else if i.abs_diff(j) == 1 {
                    betas[i.min(j)]
                } else {
                    0.0
                }
            });
            let (vals, vecs) = crate::linalg::sym_eigen(t.as_ref())?;
            top = vals[kk - 1];
            let resid = beta * vecs[(kk - 1, kk - 1)].abs();
            if resid <= 1e-12 * top.abs().max(f64::MIN_POSITIVE) || beta == 0.0 {
                break;
            }
            betas.push(beta);
            q = w.iter().map(|v| v / beta).collect();
        }
        Ok(top)
    }

    /// Whether a top covariance eigenvalue `lambda` of these data is zero up to rounding: at most 1e-10 of
    /// the mean square coordinate (f32 data rounded in f64 sums leave ~1e-15 of it in a covariance of
    /// constant data; any real spread is far above 1e-10).
    pub fn variance_is_negligible(&self, lambda: f64) -> bool {
        let mean_sq = self.x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / self.x.len() as f64;
        lambda <= 1e-10 * mean_sq.max(f64::MIN_POSITIVE)
    }

    /// Summary statistics.
    pub fn info(&self) -> Result<DataInfo> {
        let mean_norm = self
            .x
            .chunks_exact(self.d)
            .map(|r| {
                r.iter()
                    .map(|&v| (v as f64) * (v as f64))
                    .sum::<f64>()
                    .sqrt()
            })
            .sum::<f64>()
            / self.n as f64;
        let top = if self.n < 2 {
            0.0
        } else {
            self.top_covariance_eigenvalue()?
        };
        let classes = self.class_counts();
        let mut warnings = Vec::new();
        let flat = self.variance_is_negligible(top);
        if flat {
            warnings.push(
                "zero variance: every coordinate is constant (Λ = 0), so t_S = ½ log Λ is undefined and regimes refuses the data"
                    .to_string(),
            );
        }
        if self.n < 2 {
            warnings.push(
                "a single point: no covariance; the exact score is the Gaussian score towards it"
                    .into(),
            );
        }
        if classes.len() == 1 {
            warnings.push("a single class: no speciation to measure (φ is 1 throughout)".into());
        }
        Ok(DataInfo {
            n: self.n,
            d: self.d,
            classes,
            mean_norm,
            top_eigenvalue: top,
            half_log_top_eigenvalue: (!flat).then(|| 0.5 * top.ln()),
            warnings,
            rank_bound: (self.n - 1).min(self.d),
            provenance: self.provenance.clone(),
        })
    }

    /// Writes the data set to a `.npz` (members `x` and, when labelled, `y`; see [`Dataset::write_npz_with`]).
    pub fn write_npz(&self, path: &Path) -> Result<()> {
        self.write_npz_with(path, &[])
    }

    /// Writes the data set plus extra named arrays (e.g. a model's embedding matrix) to one `.npz`.
    /// Members: `x` (n × d, f32), `y` (n, i64) when labelled, for image data `image_shape` (C, H, W) and
    /// `image_range` (black, white), `centred_mean` (d) when centred, then `extra`.
    pub fn write_npz_with(&self, path: &Path, extra: &[(&str, &NpyArray)]) -> Result<()> {
        let x = NpyArray::f32(self.n, self.d, self.x.clone());
        let y = self
            .labels
            .as_ref()
            .map(|l| label_array(l, &self.class_names));
        let mut members: Vec<(&str, &NpyArray)> = vec![("x", &x)];
        if let Some(y) = &y {
            members.push(("y", y));
        }
        let image = self.image.as_ref().map(|i| {
            (
                NpyArray::i64_1d(vec![i.channels as i64, i.height as i64, i.width as i64]),
                NpyArray::f64_1d(vec![i.range.0 as f64, i.range.1 as f64]),
            )
        });
        if let Some((shape, range)) = &image {
            members.push(("image_shape", shape));
            members.push(("image_range", range));
        }
        let mean = self.centred_mean.clone().map(NpyArray::f64_1d);
        if let Some(m) = &mean {
            members.push(("centred_mean", m));
        }
        members.extend_from_slice(extra);
        io::write_npz(path, &members)
    }
}

/// Class names and label indices from raw label strings; names sort numerically when all are numbers.
pub(crate) fn index_labels(raw: &[String]) -> (Vec<u32>, Vec<String>) {
    let mut names: Vec<String> = raw.to_vec();
    names.sort();
    names.dedup();
    if names.iter().all(|s| s.parse::<f64>().is_ok()) {
        names.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap_or(0.0)
                .total_cmp(&b.parse::<f64>().unwrap_or(0.0))
        });
    }
    let labels = raw
        .iter()
        .map(|s| names.iter().position(|c| c == s).unwrap_or(0) as u32)
        .collect();
    (labels, names)
}

/// Labels as written to `.npz`: the class *names* when those are integers (so `-1`/`1` or digits survive
/// a round trip), else the class indices.
pub fn label_array(labels: &[u32], class_names: &[String]) -> NpyArray {
    let numeric: Option<Vec<i64>> = labels
        .iter()
        .map(|&k| class_names[k as usize].parse::<i64>().ok())
        .collect();
    NpyArray::i64_1d(numeric.unwrap_or_else(|| labels.iter().map(|&k| k as i64).collect()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lanczos_top_eigenvalue_equals_the_dense_one() {
        // A two-class GMM (spike d μ̃² + σ² ≈ 601 above a Marchenko–Pastur bulk) and a nearly pure-noise set
        // (μ̃ = 0.02: spike 1.24 inside the bulk, whose top edge is (1 + √(600/800))² ≈ 3.5; no gap) at d = 600, n = 800: Lanczos and the dense eigendecomposition agree to
        // 1e-9 relative (both are f64; the residual bound stops Lanczos at 1e-12).
        use crate::data::{DataModel, TwoClassGmm};
        let spike = DataModel::TwoClass(TwoClassGmm::standard(600))
            .sample(800, 1)
            .unwrap();
        let noise = DataModel::TwoClass(TwoClassGmm {
            mu_tilde: 0.02,
            ..TwoClassGmm::standard(600)
        })
        .sample(800, 2)
        .unwrap();
        for ds in [spike, noise] {
            let (_, cov) = crate::linalg::mean_cov(&ds.x, ds.n, ds.d, faer::Par::Seq).unwrap();
            let dense = *crate::linalg::sym_eigenvalues(cov.as_ref())
                .unwrap()
                .last()
                .unwrap();
            let lz = ds.top_covariance_eigenvalue_lanczos().unwrap();
            assert!((lz / dense - 1.0).abs() < 1e-9, "{lz} vs {dense}");
            assert_eq!(ds.top_covariance_eigenvalue().unwrap(), lz);
        }
    }
}

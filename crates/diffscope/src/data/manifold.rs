//! The hidden-manifold mixture (George–Veiga–Macris 2025; manifold.md "Data model").
//!
//! ```text
//! s ~ uniform{+1, −1}; z = s μ̃ + g, g ~ N(0, I_p), p = round(β d)
//! F ∈ R^{d×p}: iid N(0, 1) entries, or orthonormal columns scaled by sqrt(d)
//! u = sqrt(κ) F z / sqrt(p);  x = φ(u) componentwise
//! ```
//! μ̃ lies along a random unit direction with |μ̃|² = p ‖μ̃‖². F and μ̃ are quenched: drawn from the seed's
//! MODEL stream, so data and theory use the same F.

use super::{Activation, Dataset};
use crate::error::{Error, Result};
use crate::rng;
use faer::Mat;
use rand::Rng as _;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How F is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Embedding {
    /// iid N(0, 1) entries (Marchenko–Pastur spectrum of FᵀF/d).
    #[default]
    Gaussian,
    /// Orthonormal columns scaled by sqrt(d) (FᵀF = d I; needs p ≤ d).
    Orthonormal,
}

/// Parameters of the hidden-manifold mixture.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ManifoldSpec {
    /// Ambient dimension d.
    pub d: usize,
    /// Latent fraction β = p/d ∈ (0, 1].
    pub beta: f64,
    /// Activation φ.
    pub activation: Activation,
    /// ‖μ̃‖²: the squared class-centre norm per latent component (|μ̃|² = p ‖μ̃‖²).
    #[serde(default = "one")]
    pub mu2: f64,
    /// Pre-activation variance κ; β when omitted (then u = F z / sqrt(d)).
    #[serde(default)]
    pub kappa: Option<f64>,
    /// How F is drawn.
    #[serde(default)]
    pub embedding: Embedding,
}

fn one() -> f64 {
    1.0
}

/// A drawn model: the spec plus its quenched F (d × p) and centre direction μ̃ (length p).
#[derive(Clone, Debug)]
pub struct HiddenManifold {
    /// The parameters.
    pub spec: ManifoldSpec,
    /// Latent dimension p = round(β d).
    pub p: usize,
    /// Embedding F, d × p.
    pub f: Mat<f64>,
    /// Class centre μ̃ in the latent space.
    pub mu: Vec<f64>,
}

impl ManifoldSpec {
    /// κ in use.
    pub fn kappa(&self) -> f64 {
        self.kappa.unwrap_or(self.beta)
    }

    /// p = round(β d) (at least 1).
    pub fn p(&self) -> usize {
        ((self.beta * self.d as f64).round() as usize).max(1)
    }

    /// Checks β ∈ (0, 1], d ≥ 1, ‖μ̃‖² ≥ 0, κ > 0.
    pub fn validate(&self) -> Result<()> {
        if self.d == 0 {
            return Err(Error::param("d", 0, "d ≥ 1"));
        }
        if !(self.beta.is_finite() && self.beta > 0.0 && self.beta <= 1.0) {
            return Err(Error::param("beta", self.beta, "a number in (0, 1]"));
        }
        if !(self.mu2.is_finite() && self.mu2 >= 0.0) {
            return Err(Error::param("mu2", self.mu2, "a finite number ≥ 0"));
        }
        crate::error::check_positive("kappa", self.kappa())
    }

    /// Draws the quenched F and μ̃ from `(seed, MODEL)`.
    pub fn draw(&self, seed: u64) -> Result<HiddenManifold> {
        self.validate()?;
        let (d, p) = (self.d, self.p());
        let mut r = rng::stream(seed, &[rng::tag::MODEL, 1]);
        let g = Mat::<f64>::from_fn(d, p, |_, _| r.sample(StandardNormal));
        let f = match self.embedding {
            Embedding::Gaussian => g,
            Embedding::Orthonormal => {
                let qr = g.qr();
                let q = qr.compute_thin_Q();
                let s = (d as f64).sqrt();
                Mat::from_fn(d, p, |i, j| q[(i, j)] * s)
            }
        };
        let dir: Vec<f64> = (0..p).map(|_| r.sample(StandardNormal)).collect();
        let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
        let scale = (p as f64 * self.mu2).sqrt() / norm;
        let mu = dir.iter().map(|v| v * scale).collect();
        Ok(HiddenManifold {
            spec: self.clone(),
            p,
            f,
            mu,
        })
    }
}

impl HiddenManifold {
    /// Draws n labelled samples (classes `-1`, `1`); rows in chunks of 1024 from `(seed, DATA, chunk)`.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Dataset> {
        if n == 0 {
            return Err(Error::param("n", 0, "at least 1 sample"));
        }
        let (d, p) = (self.spec.d, self.p);
        let scale = (self.spec.kappa() / p as f64).sqrt();
        let phi = self.spec.activation;
        const CHUNK: usize = 1024;
        let mut x = vec![0.0f32; n * d];
        let mut labels = vec![0u32; n];
        x.par_chunks_mut(CHUNK * d)
            .zip(labels.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (xc, lc))| {
                let mut r = rng::stream(seed, &[rng::tag::DATA, c as u64]);
                let mut z = vec![0.0f64; p];
                for (row, label) in xc.chunks_exact_mut(d).zip(lc.iter_mut()) {
                    let s = if r.random::<bool>() { 1.0 } else { -1.0 };
                    *label = u32::from(s > 0.0);
                    z.iter_mut()
                        .zip(&self.mu)
                        .for_each(|(zi, &m)| *zi = s * m + r.sample::<f64, _>(StandardNormal));
                    for (i, v) in row.iter_mut().enumerate() {
                        let u: f64 = (0..p).map(|j| self.f[(i, j)] * z[j]).sum::<f64>() * scale;
                        *v = phi.apply(u) as f32;
                    }
                }
            });
        let prov = format!(
            "hidden-manifold mixture d = {d}, beta = {}, p = {p}, phi = {:?}, mu2 = {}, kappa = {}, {:?} F, seed {seed}",
            self.spec.beta, phi, self.spec.mu2, self.spec.kappa(), self.spec.embedding
        );
        Dataset::new(x, n, d, prov)?.with_labels(labels, vec!["-1".into(), "1".into()])
    }

    /// Class centres in data space for the nearest-centroid rule: φ applied to the centre's pre-activation
    /// ±sqrt(κ/p) F μ̃ is *not* the class mean for non-linear φ, so the centres are estimated from
    /// `samples` draws per class instead (deterministic given the seed).
    pub fn class_means(&self, seed: u64, samples: usize) -> Result<Vec<Vec<f64>>> {
        let ds = self.sample(
            samples,
            crate::rng::sub(seed, crate::rng::purpose::CLASS_MEANS, 0),
        )?;
        ds.class_means()
    }

    /// Eigenvalues ν_j of κ FᵀF / p (the latent signal spectrum seen by a linear channel).
    pub fn signal_spectrum(&self) -> Result<Vec<f64>> {
        let p = self.p;
        let mut g = Mat::<f64>::zeros(p, p);
        faer::linalg::matmul::matmul(
            g.as_mut(),
            faer::Accum::Replace,
            self.f.transpose(),
            self.f.as_ref(),
            self.spec.kappa() / p as f64,
            faer::Par::rayon(0),
        );
        crate::linalg::sym_eigenvalues(g.as_ref())
    }
}

//! The MLP score network: forward, backward and the analytic input Jacobian as batched GEMMs (faer).

use super::precond::Precond;
use crate::error::{Error, Result};
use crate::io::SafeTensors;
use crate::rng;
use crate::score::{check_shapes, Extras, Score};
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rand::Rng as _;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Shape of the network and the data scale its preconditioning uses.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MlpConfig {
    /// Data dimension d.
    pub d: usize,
    /// Hidden width.
    pub width: usize,
    /// Number of hidden layers (each linear + SiLU); the output layer is linear.
    pub depth: usize,
    /// Number of sinusoidal time frequencies: the time features are
    /// $(c, \sin 2^j c, \cos 2^j c)_{j < n_{freq}}$ with $c = c_{noise}(t)$.
    pub n_freq: usize,
    /// RMS per-coordinate standard deviation of the training data, $\sigma_{data}$ (preconditioning).
    pub sigma_data: f64,
}

impl MlpConfig {
    /// Checks the sizes.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("d", self.d), ("width", self.width), ("depth", self.depth)] {
            if v == 0 {
                return Err(Error::param(name, v, "a positive integer"));
            }
        }
        if !(self.sigma_data.is_finite() && self.sigma_data > 0.0) {
            return Err(Error::param(
                "sigma_data",
                self.sigma_data,
                "a positive finite number",
            ));
        }
        Ok(())
    }

    /// Width of the time features.
    pub fn emb_dim(&self) -> usize {
        2 * self.n_freq + 1
    }

    /// Widths of every layer's input and output, input layer first.
    fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.d + self.emb_dim()];
        w.extend(std::iter::repeat_n(self.width, self.depth));
        w.push(self.d);
        w
    }
}

/// Where one layer's weight (row-major n_out × n_in) and bias live in the flat parameter vector.
#[derive(Clone, Copy, Debug)]
struct Slot {
    w: usize,
    b: usize,
    n_in: usize,
    n_out: usize,
}

/// A fully connected score network $F_\theta$ with EDM preconditioning (see [`Precond`]):
/// $D(x, t) = c_{skip} x + c_{out} F_\theta(c_{in} x, \mathrm{emb}(c_{noise}))$, $S = (D - x)/\Delta_t$.
///
/// Layers: `depth` hidden layers `h ← SiLU(W h + b)` of width `width`, then a linear output layer to d.
/// All parameters live in one flat f32 vector (layer by layer: weight row-major, then bias), which is what
/// the optimiser and checkpoints see.
#[derive(Clone, Debug)]
pub struct Mlp {
    cfg: MlpConfig,
    theta: Vec<f32>,
    slots: Vec<Slot>,
}

/// Pre-activations and activations of a forward pass over b columns (each n × b, column-major).
#[derive(Default)]
pub(crate) struct Cache {
    pub(crate) u: Vec<f32>,
    z: Vec<Vec<f32>>,
    h: Vec<Vec<f32>>,
}

#[inline]
fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// SiLU(z) = z σ(z).
#[inline]
fn silu(z: f32) -> f32 {
    z * sigmoid(z)
}

/// SiLU'(z) = σ(z)(1 + z(1 − σ(z))).
#[inline]
fn silu_prime(z: f32) -> f32 {
    let s = sigmoid(z);
    s * (1.0 + z * (1.0 - s))
}

/// `dst (m × n, column-major) (+)= a · b`, single-threaded (callers parallelise over column chunks, which
/// keeps every result independent of the thread count).
fn gemm(dst: &mut [f32], m: usize, n: usize, accum: Accum, a: MatRef<'_, f32>, b: MatRef<'_, f32>) {
    matmul(
        MatMut::from_column_major_slice_mut(dst, m, n),
        accum,
        a,
        b,
        1.0,
        Par::Seq,
    );
}

/// Rows per independent chunk in batched evaluation (fixed, so results do not depend on threads).
const CHUNK: usize = 64;

impl Mlp {
    /// A network with weights $W \sim \mathcal N(0, 1/n_{in})$, zero biases and a zero output layer (so
    /// the initial denoiser is $c_{skip} x$, the optimum for Gaussian data of variance $\sigma_{data}^2$),
    /// drawn from stream `(seed, INIT)`.
    pub fn new(cfg: MlpConfig, seed: u64) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        let mut r = rng::stream(seed, &[rng::tag::MODEL, 0x4E4E]);
        let last = m.slots.len() - 1;
        for (l, s) in m.slots.clone().into_iter().enumerate() {
            if l == last {
                continue;
            }
            let scale = (1.0 / s.n_in as f64).sqrt() as f32;
            for v in &mut m.theta[s.w..s.w + s.n_in * s.n_out] {
                *v = scale * r.sample::<f32, _>(StandardNormal);
            }
        }
        Ok(m)
    }

    fn zeros(cfg: MlpConfig) -> Result<Self> {
        cfg.validate()?;
        let widths = cfg.widths();
        let mut slots = Vec::new();
        let mut off = 0;
        for win in widths.windows(2) {
            let (n_in, n_out) = (win[0], win[1]);
            slots.push(Slot {
                w: off,
                b: off + n_in * n_out,
                n_in,
                n_out,
            });
            off += n_in * n_out + n_out;
        }
        Ok(Mlp {
            cfg,
            theta: vec![0.0; off],
            slots,
        })
    }

    /// A network with the given flat parameters.
    pub fn from_theta(cfg: MlpConfig, theta: Vec<f32>) -> Result<Self> {
        let mut m = Self::zeros(cfg)?;
        if theta.len() != m.theta.len() {
            return Err(Error::shape(
                "theta",
                format!("{} parameters, expected {}", theta.len(), m.theta.len()),
            ));
        }
        m.theta = theta;
        Ok(m)
    }

    /// The configuration.
    pub fn config(&self) -> &MlpConfig {
        &self.cfg
    }

    /// The flat parameter vector.
    pub fn theta(&self) -> &[f32] {
        &self.theta
    }

    /// The flat parameter vector, mutable.
    pub fn theta_mut(&mut self) -> &mut [f32] {
        &mut self.theta
    }

    /// Number of parameters.
    pub fn n_params(&self) -> usize {
        self.theta.len()
    }

    /// Preconditioning at t.
    pub fn precond(&self, t: f64) -> Precond {
        Precond::new(self.cfg.sigma_data, t)
    }

    /// Writes the network input columns $u = (c_{in} x, \mathrm{emb}(c_{noise}))$ for the b rows of x,
    /// row i at preconditioning `pc[i]` (or `pc[0]` for all when `pc.len() == 1`).
    pub(crate) fn fill_input(&self, x: &[f32], pc: &[Precond], u: &mut Vec<f32>) {
        let d = self.cfg.d;
        let n0 = d + self.cfg.emb_dim();
        let b = x.len() / d;
        u.resize(n0 * b, 0.0);
        for i in 0..b {
            let p = pc[if pc.len() == 1 { 0 } else { i }];
            let col = &mut u[i * n0..(i + 1) * n0];
            for k in 0..d {
                col[k] = (p.c_in as f32) * x[i * d + k];
            }
            let c = p.c_noise;
            col[d] = c as f32;
            for j in 0..self.cfg.n_freq {
                let w = (1u64 << j) as f64 * c;
                col[d + 1 + 2 * j] = w.sin() as f32;
                col[d + 2 + 2 * j] = w.cos() as f32;
            }
        }
    }

    /// Forward pass over the b input columns in `cache.u`; the output F (d × b) is `cache.z.last()`.
    pub(crate) fn forward(&self, b: usize, cache: &mut Cache) {
        let last = self.slots.len() - 1;
        cache.z.resize(self.slots.len(), Vec::new());
        cache.h.resize(last, Vec::new());
        for (l, s) in self.slots.iter().enumerate() {
            let z = &mut cache.z[l];
            z.resize(s.n_out * b, 0.0);
            let bias = &self.theta[s.b..s.b + s.n_out];
            for col in z.chunks_exact_mut(s.n_out) {
                col.copy_from_slice(bias);
            }
            let input: &[f32] = if l == 0 { &cache.u } else { &cache.h[l - 1] };
            gemm(
                z,
                s.n_out,
                b,
                Accum::Add,
                MatRef::from_row_major_slice(&self.theta[s.w..s.b], s.n_out, s.n_in),
                MatRef::from_column_major_slice(input, s.n_in, b),
            );
            if l < last {
                let h = &mut cache.h[l];
                h.clear();
                h.extend(cache.z[l].iter().map(|&v| silu(v)));
            }
        }
    }

    /// The network output F of the last forward pass (d × b column-major = b × d row-major).
    pub(crate) fn output<'a>(&self, cache: &'a Cache) -> &'a [f32] {
        cache.z.last().expect("forward ran")
    }

    /// Backpropagates `d_out` = ∂L/∂F (d × b) through the last forward pass, adding ∂L/∂θ to `grad`.
    pub(crate) fn backward(&self, b: usize, cache: &Cache, d_out: &[f32], grad: &mut [f32]) {
        let mut dz = d_out.to_vec();
        let mut dh = Vec::new();
        for l in (0..self.slots.len()).rev() {
            let s = self.slots[l];
            let input: &[f32] = if l == 0 { &cache.u } else { &cache.h[l - 1] };
            let (gw, gb) = grad[s.w..s.b + s.n_out].split_at_mut(s.n_in * s.n_out);
            matmul(
                MatMut::from_row_major_slice_mut(gw, s.n_out, s.n_in),
                Accum::Add,
                MatRef::from_column_major_slice(&dz, s.n_out, b),
                MatRef::from_column_major_slice(input, s.n_in, b).transpose(),
                1.0,
                Par::Seq,
            );
            for col in dz.chunks_exact(s.n_out) {
                gb.iter_mut().zip(col).for_each(|(g, v)| *g += v);
            }
            if l == 0 {
                break;
            }
            dh.resize(s.n_in * b, 0.0);
            gemm(
                &mut dh,
                s.n_in,
                b,
                Accum::Replace,
                MatRef::from_row_major_slice(&self.theta[s.w..s.b], s.n_out, s.n_in).transpose(),
                MatRef::from_column_major_slice(&dz, s.n_out, b),
            );
            let zprev = &cache.z[l - 1];
            dz.clear();
            dz.extend(dh.iter().zip(zprev).map(|(g, &z)| g * silu_prime(z)));
        }
    }

    /// Score of b rows at one t into `out`, one chunk, single-threaded.
    fn score_chunk(&self, x: &[f32], pc: Precond, out: &mut [f32], cache: &mut Cache) {
        let b = x.len() / self.cfg.d;
        self.fill_input(x, &[pc], &mut cache.u);
        self.forward(b, cache);
        let f = self.output(cache);
        let (cs, co, inv) = (pc.c_skip as f32, pc.c_out as f32, (1.0 / pc.delta) as f32);
        for ((o, &xv), &fv) in out.iter_mut().zip(x).zip(f) {
            *o = ((cs - 1.0) * xv + co * fv) * inv;
        }
    }

    /// Analytic Jacobians $J = \partial S / \partial x$ of b rows at one t (one chunk): forward-mode through
    /// the layers, $\partial F/\partial u_x = W_L\, \mathrm{diag}(\mathrm{SiLU}'(z_{L-1})) W_{L-1} \cdots
    /// \mathrm{diag}(\mathrm{SiLU}'(z_0)) W_0[:, :d]$, all b samples stacked as the columns of one
    /// `width × (b·d)` matrix so each layer is one GEMM; then
    /// $J = ((c_{skip} - 1) I + c_{out} c_{in}\, \partial F/\partial u_x)/\Delta$. `out` is b × d × d
    /// row-major with `out[s][j][k]` = ∂S_j/∂x_k.
    fn jacobian_chunk(&self, x: &[f32], pc: Precond, out: &mut [f64], cache: &mut Cache) {
        let d = self.cfg.d;
        let b = x.len() / d;
        self.fill_input(x, &[pc], &mut cache.u);
        self.forward(b, cache);
        let s0 = self.slots[0];
        // P (n1 × b·d): column s·d + k = SiLU'(z0[:, s]) ⊙ W0[:, k].
        let mut p = vec![0.0f32; s0.n_out * b * d];
        for s in 0..b {
            let z0 = &cache.z[0][s * s0.n_out..(s + 1) * s0.n_out];
            for k in 0..d {
                let col = &mut p[(s * d + k) * s0.n_out..(s * d + k + 1) * s0.n_out];
                for r in 0..s0.n_out {
                    col[r] = silu_prime(z0[r]) * self.theta[s0.w + r * s0.n_in + k];
                }
            }
        }
        let mut q = Vec::new();
        let last = self.slots.len() - 1;
        for l in 1..=last {
            let sl = self.slots[l];
            q.resize(sl.n_out * b * d, 0.0);
            gemm(
                &mut q,
                sl.n_out,
                b * d,
                Accum::Replace,
                MatRef::from_row_major_slice(&self.theta[sl.w..sl.b], sl.n_out, sl.n_in),
                MatRef::from_column_major_slice(&p, sl.n_in, b * d),
            );
            if l < last {
                for s in 0..b {
                    let z = &cache.z[l][s * sl.n_out..(s + 1) * sl.n_out];
                    for k in 0..d {
                        let col = &mut q[(s * d + k) * sl.n_out..(s * d + k + 1) * sl.n_out];
                        col.iter_mut()
                            .zip(z)
                            .for_each(|(v, &zz)| *v *= silu_prime(zz));
                    }
                }
            }
            std::mem::swap(&mut p, &mut q);
        }
        // p is now d × (b·d): p[j + (s·d + k)·d] = ∂F_j/∂u_k of sample s.
        let scale = pc.c_out * pc.c_in;
        for s in 0..b {
            for j in 0..d {
                for k in 0..d {
                    let g = scale * p[j + (s * d + k) * d] as f64;
                    let diag = if j == k { pc.c_skip - 1.0 } else { 0.0 };
                    out[s * d * d + j * d + k] = (diag + g) / pc.delta;
                }
            }
        }
    }

    /// JVP of one chunk: forward-mode with one tangent per sample,
    /// $\dot u = (c_{in} v, 0)$, $\dot z_l = W_l \dot h_{l-1}$, $\dot h_l = \mathrm{SiLU}'(z_l) \odot \dot z_l$,
    /// then $Jv = ((c_{skip} - 1) v + c_{out} \dot F)/\Delta$.
    fn jvp_chunk(&self, x: &[f32], v: &[f32], pc: Precond, out: &mut [f32], cache: &mut Cache) {
        let d = self.cfg.d;
        let b = x.len() / d;
        self.fill_input(x, &[pc], &mut cache.u);
        self.forward(b, cache);
        let n0 = self.slots[0].n_in;
        let mut h = vec![0.0f32; n0 * b];
        for s in 0..b {
            for k in 0..d {
                h[s * n0 + k] = pc.c_in as f32 * v[s * d + k];
            }
        }
        let last = self.slots.len() - 1;
        let mut z = Vec::new();
        for (l, sl) in self.slots.iter().enumerate() {
            z.resize(sl.n_out * b, 0.0);
            gemm(
                &mut z,
                sl.n_out,
                b,
                Accum::Replace,
                MatRef::from_row_major_slice(&self.theta[sl.w..sl.b], sl.n_out, sl.n_in),
                MatRef::from_column_major_slice(&h, sl.n_in, b),
            );
            if l < last {
                h.clear();
                h.extend(
                    z.iter()
                        .zip(&cache.z[l])
                        .map(|(dz, &zz)| dz * silu_prime(zz)),
                );
            }
        }
        let (cs, co, inv) = (pc.c_skip as f32, pc.c_out as f32, (1.0 / pc.delta) as f32);
        for ((o, &vv), &fv) in out.iter_mut().zip(v).zip(&z) {
            *o = ((cs - 1.0) * vv + co * fv) * inv;
        }
    }

    /// VJP of one chunk: backpropagation to the input,
    /// $v^\top J = ((c_{skip} - 1) v + c_{out} c_{in} [W_0^\top \delta_0]_{:d})/\Delta$, with $\delta$
    /// the usual backward messages from $\partial L/\partial F = v$.
    fn vjp_chunk(&self, x: &[f32], v: &[f32], pc: Precond, out: &mut [f32], cache: &mut Cache) {
        let d = self.cfg.d;
        let b = x.len() / d;
        self.fill_input(x, &[pc], &mut cache.u);
        self.forward(b, cache);
        let mut dz = v.to_vec();
        let mut dh = Vec::new();
        for l in (0..self.slots.len()).rev() {
            let sl = self.slots[l];
            dh.resize(sl.n_in * b, 0.0);
            gemm(
                &mut dh,
                sl.n_in,
                b,
                Accum::Replace,
                MatRef::from_row_major_slice(&self.theta[sl.w..sl.b], sl.n_out, sl.n_in)
                    .transpose(),
                MatRef::from_column_major_slice(&dz, sl.n_out, b),
            );
            if l > 0 {
                dz.clear();
                dz.extend(
                    dh.iter()
                        .zip(&cache.z[l - 1])
                        .map(|(g, &zz)| g * silu_prime(zz)),
                );
            }
        }
        let n0 = self.slots[0].n_in;
        let (cs, coi, inv) = (
            pc.c_skip as f32,
            (pc.c_out * pc.c_in) as f32,
            (1.0 / pc.delta) as f32,
        );
        for s in 0..b {
            for k in 0..d {
                out[s * d + k] = ((cs - 1.0) * v[s * d + k] + coi * dh[s * n0 + k]) * inv;
            }
        }
    }

    /// f64 reference score at one point (naive loops over the same weights): the oracle for the f32
    /// GEMM path and for finite-difference checks of the analytic Jacobian.
    pub fn score_f64(&self, x: &[f64], t: f64) -> Vec<f64> {
        let d = self.cfg.d;
        let pc = self.precond(t);
        let mut h: Vec<f64> = x.iter().map(|v| pc.c_in * v).collect();
        h.push(pc.c_noise);
        for j in 0..self.cfg.n_freq {
            let w = (1u64 << j) as f64 * pc.c_noise;
            h.push(w.sin());
            h.push(w.cos());
        }
        let last = self.slots.len() - 1;
        for (l, s) in self.slots.iter().enumerate() {
            let mut z = vec![0.0; s.n_out];
            for r in 0..s.n_out {
                let row = &self.theta[s.w + r * s.n_in..s.w + (r + 1) * s.n_in];
                z[r] = self.theta[s.b + r] as f64
                    + row.iter().zip(&h).map(|(&w, v)| w as f64 * v).sum::<f64>();
            }
            h = if l < last {
                z.iter().map(|&v| v / (1.0 + (-v).exp())).collect()
            } else {
                z
            };
        }
        (0..d)
            .map(|k| ((pc.c_skip - 1.0) * x[k] + pc.c_out * h[k]) / pc.delta)
            .collect()
    }

    /// Saves the weights as safetensors: `layers.{l}.weight` (n_out × n_in), `layers.{l}.bias`, and the
    /// config as JSON in the metadata key `diffscope.mlp`. `extra` metadata entries are added.
    pub fn save(&self, path: &Path, extra: &[(&str, String)]) -> Result<()> {
        let mut st = self.to_safetensors();
        for (k, v) in extra {
            st.metadata.insert((*k).into(), v.clone());
        }
        st.write(path)
    }

    pub(crate) fn to_safetensors(&self) -> SafeTensors {
        let mut st = SafeTensors::default();
        for (l, s) in self.slots.iter().enumerate() {
            st.insert(
                format!("layers.{l}.weight"),
                vec![s.n_out, s.n_in],
                self.theta[s.w..s.b].to_vec(),
            );
            st.insert(
                format!("layers.{l}.bias"),
                vec![s.n_out],
                self.theta[s.b..s.b + s.n_out].to_vec(),
            );
        }
        st.metadata.insert(
            "diffscope.mlp".into(),
            serde_json::to_string(&self.cfg).expect("config serialises"),
        );
        st.metadata
            .insert("diffscope.version".into(), crate::VERSION.into());
        st
    }

    /// Loads a network written by [`Mlp::save`] (or a checkpoint). Errors name the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self> {
        let mut st = SafeTensors::read(path)?;
        Self::from_safetensors(path, &mut st)
    }

    pub(crate) fn from_safetensors(path: &Path, st: &mut SafeTensors) -> Result<Self> {
        let cfg: MlpConfig =
            serde_json::from_str(st.meta(path, "diffscope.mlp")?).map_err(|e| {
                Error::format(
                    path,
                    format!("metadata diffscope.mlp is not a valid config: {e}"),
                )
            })?;
        let mut m = Self::zeros(cfg)?;
        for (l, s) in m.slots.clone().into_iter().enumerate() {
            let w = st.take(path, &format!("layers.{l}.weight"), &[s.n_out, s.n_in])?;
            let b = st.take(path, &format!("layers.{l}.bias"), &[s.n_out])?;
            m.theta[s.w..s.b].copy_from_slice(&w);
            m.theta[s.b..s.b + s.n_out].copy_from_slice(&b);
        }
        Ok(m)
    }
}

type ProductChunk = fn(&Mlp, &[f32], &[f32], Precond, &mut [f32], &mut Cache);

impl Mlp {
    /// Runs a JVP or VJP chunk function over fixed row chunks, pairing x and v.
    fn product(&self, x: &[f32], t: f64, v: &[f32], out: &mut [f32], par: Par, f: ProductChunk) {
        let d = self.cfg.d;
        assert!(
            v.len() == x.len() && out.len() == x.len(),
            "v and out must have the shape of x"
        );
        assert!(t > 0.0 && t.is_finite(), "t must be positive (got {t})");
        let pc = self.precond(t);
        // Interleave x and v per row so the shared chunk driver splits them together.
        let b = x.len() / d;
        let mut xv = Vec::with_capacity(2 * x.len());
        for i in 0..b {
            xv.extend_from_slice(&x[i * d..(i + 1) * d]);
            xv.extend_from_slice(&v[i * d..(i + 1) * d]);
        }
        for_chunks(&xv, 2 * d, out, d, par, |pair, oc, cache| {
            let rows = pair.len() / (2 * d);
            let (mut xs, mut vs) = (Vec::with_capacity(rows * d), Vec::with_capacity(rows * d));
            for r in pair.chunks(2 * d) {
                xs.extend_from_slice(&r[..d]);
                vs.extend_from_slice(&r[d..]);
            }
            f(self, &xs, &vs, pc, oc, cache)
        });
    }
}

/// Runs `f(rows, out_rows, cache)` over fixed chunks of [`CHUNK`] rows, in parallel when `par` allows.
fn for_chunks<T: Send>(
    x: &[f32],
    d: usize,
    out: &mut [T],
    out_per_row: usize,
    par: Par,
    f: impl Fn(&[f32], &mut [T], &mut Cache) + Sync,
) {
    let xs = x.chunks(CHUNK * d);
    let os = out.chunks_mut(CHUNK * out_per_row);
    match par {
        Par::Seq => {
            let mut cache = Cache::default();
            xs.zip(os).for_each(|(xc, oc)| f(xc, oc, &mut cache));
        }
        Par::Rayon(_) => {
            let jobs: Vec<_> = xs.zip(os).collect();
            jobs.into_par_iter()
                .for_each_init(Cache::default, |cache, (xc, oc)| f(xc, oc, cache));
        }
    }
}

impl Score for Mlp {
    fn dim(&self) -> usize {
        self.cfg.d
    }

    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        check_shapes(self.cfg.d, x, t, out, &extras);
        assert!(
            extras.log_p.is_none() && extras.nearest.is_none(),
            "a learned score provides neither log p nor nearest training points"
        );
        let pc = self.precond(t);
        let d = self.cfg.d;
        for_chunks(x, d, out, d, par, |xc, oc, cache| {
            self.score_chunk(xc, pc, oc, cache)
        });
    }

    fn jacobian_into(&self, x: &[f32], t: f64, out: &mut [f64], par: Par) -> bool {
        let d = self.cfg.d;
        assert_eq!(out.len(), x.len() * d, "out must hold b × d × d values");
        let pc = self.precond(t);
        for_chunks(x, d, out, d * d, par, |xc, oc, cache| {
            self.jacobian_chunk(xc, pc, oc, cache)
        });
        true
    }

    fn jvp_into(&self, x: &[f32], t: f64, v: &[f32], out: &mut [f32], par: Par) -> bool {
        self.product(x, t, v, out, par, Self::jvp_chunk);
        true
    }

    fn vjp_into(&self, x: &[f32], t: f64, v: &[f32], out: &mut [f32], par: Par) -> bool {
        self.product(x, t, v, out, par, Self::vjp_chunk);
        true
    }

    fn describe(&self) -> String {
        format!(
            "MLP score d = {}, width {}, depth {}, {} parameters",
            self.cfg.d,
            self.cfg.width,
            self.cfg.depth,
            self.n_params()
        )
    }
}

//! Denoising score matching with Adam, checkpoints and exact resume.

use super::mlp::{Cache, Mlp, MlpConfig};
use super::precond::Precond;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::io::SafeTensors;
use crate::progress::{self, Monitor};
use crate::rng;
use rand::Rng as _;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Training hyper-parameters.
///
/// **Objective** (EDM-preconditioned denoising score matching, in OU time): draw a training row a, a time
/// t and $z \sim \mathcal N(0, I)$, set $x = e^{-t} a + \sqrt{\Delta_t} z$ and minimise
/// $\frac{1}{d}\,|F_\theta(c_{in} x, c_{noise}) - (e^{-t} a - c_{skip} x)/c_{out}|^2$, the denoising loss
/// $\lambda(t)\,|D_\theta(x,t) - e^{-t}a|^2/d$ with weight $\lambda(t) = 1/c_{out}^2$, which makes the
/// target unit-variance at every t (see [`Precond`]).
///
/// **Time sampling**: $\ln t$ uniform on $[\ln t_{min}, \ln t_{max}]$ (equal weight per decade of noise,
/// so the small-t regime that geometry and memorisation probe is trained as much as the large-t one).
///
/// **Optimiser**: Adam with bias correction, learning rate warmed up linearly over `warmup` steps then
/// constant; an exponential moving average of the weights with decay $\min(\text{ema}, (1+k)/(10+k))$ at
/// step k, which is the model that is saved.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Total optimiser steps.
    pub steps: usize,
    /// Minibatch size (rows drawn with replacement).
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Linear warm-up steps.
    pub warmup: usize,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// EMA decay of the saved weights (0 saves the raw weights).
    pub ema: f64,
    /// Smallest training time.
    pub t_min: f64,
    /// Largest training time.
    pub t_max: f64,
    /// Steps per logged loss (the mean over the window).
    pub log_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            steps: 4000,
            batch: 256,
            lr: 2e-3,
            warmup: 100,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            ema: 0.999,
            t_min: 1e-3,
            t_max: 6.0,
            log_every: 50,
        }
    }
}

impl TrainConfig {
    /// Rejects impossible values, naming the field.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("steps", self.steps),
            ("batch", self.batch),
            ("log_every", self.log_every),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "a positive integer"));
            }
        }
        crate::error::check_positive("lr", self.lr)?;
        crate::error::check_positive("eps", self.eps)?;
        crate::error::check_positive("t_min", self.t_min)?;
        for (name, v) in [
            ("beta1", self.beta1),
            ("beta2", self.beta2),
            ("ema", self.ema),
        ] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::param(name, v, "a number in [0, 1)"));
            }
        }
        if !(self.t_max > self.t_min && self.t_max.is_finite()) {
            return Err(Error::param(
                "t_max",
                self.t_max,
                "a finite time above t_min",
            ));
        }
        Ok(())
    }
}

/// One logged point: mean minibatch loss over the window ending at `step`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct LossPoint {
    /// Steps done.
    pub step: usize,
    /// Mean loss over the window.
    pub loss: f64,
}

/// What a checkpoint records besides the tensors.
#[derive(Serialize, Deserialize)]
struct TrainMeta {
    config: TrainConfig,
    step: usize,
    seed: u64,
    window_sum: f64,
    window_n: usize,
    log: Vec<LossPoint>,
    data_n: usize,
    data_d: usize,
    data_fingerprint: String,
}

/// FNV-1a over the data's shape and f32 bits: a resume on different data is refused.
fn fingerprint(data: &Dataset) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: u64| {
        h ^= b;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(data.n as u64);
    eat(data.d as u64);
    data.x.iter().for_each(|v| eat(v.to_bits() as u64));
    format!("{h:016x}")
}

/// Per-coordinate RMS of the data, $\sigma_{data} = (\frac{1}{nd}\sum a_{\mu i}^2)^{1/2}$ (not centred: the
/// OU process contracts towards 0, not towards the mean).
pub fn sigma_data(data: &Dataset) -> f64 {
    let s: f64 = data.x.iter().map(|&v| (v as f64).powi(2)).sum();
    (s / data.x.len().max(1) as f64).sqrt()
}

/// Rows per gradient chunk: the minibatch is split into fixed chunks whose gradients are summed in order,
/// so training is bit-identical for any thread count.
const GRAD_CHUNK: usize = 64;

/// DSM loss and its gradient for rows x with preconditioning `pcs` and targets (b × d each), single
/// threaded: returns $\sum_i |F_i - y_i|^2$ and adds $\partial/\partial\theta$ of `scale` times it to `grad`.
pub(crate) fn loss_grad(
    model: &Mlp,
    x: &[f32],
    pcs: &[Precond],
    targets: &[f32],
    scale: f32,
    grad: &mut [f32],
    cache: &mut Cache,
) -> f64 {
    let b = pcs.len();
    model.fill_input(x, pcs, &mut cache.u);
    model.forward(b, cache);
    let f = model.output(cache);
    let mut sum = 0.0f64;
    let d_out: Vec<f32> = f
        .iter()
        .zip(targets)
        .map(|(&fv, &y)| {
            let r = fv - y;
            sum += (r as f64) * (r as f64);
            2.0 * scale * r
        })
        .collect();
    model.backward(b, cache, &d_out, grad);
    sum
}

/// A model under training, with its optimiser state and loss log.
pub struct Trainer {
    model: Mlp,
    ema: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    step: usize,
    seed: u64,
    cfg: TrainConfig,
    window_sum: f64,
    window_n: usize,
    log: Vec<LossPoint>,
    data_fingerprint: String,
}

impl Trainer {
    /// A fresh network for `data` (σ_data measured from it), initialised from `seed`.
    pub fn new(
        data: &Dataset,
        width: usize,
        depth: usize,
        n_freq: usize,
        cfg: TrainConfig,
        seed: u64,
    ) -> Result<Self> {
        cfg.validate()?;
        let model = Mlp::new(
            MlpConfig {
                d: data.d,
                width,
                depth,
                n_freq,
                sigma_data: sigma_data(data),
            },
            seed,
        )?;
        let p = model.n_params();
        Ok(Trainer {
            ema: model.theta().to_vec(),
            model,
            m: vec![0.0; p],
            v: vec![0.0; p],
            step: 0,
            seed,
            cfg,
            window_sum: 0.0,
            window_n: 0,
            log: Vec::new(),
            data_fingerprint: fingerprint(data),
        })
    }

    /// Steps done.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }

    /// Sets the total number of steps (to train a resumed run further).
    pub fn set_total_steps(&mut self, steps: usize) {
        self.cfg.steps = steps;
    }

    /// The loss log.
    pub fn log(&self) -> &[LossPoint] {
        &self.log
    }

    /// The raw (non-averaged) network.
    pub fn raw_model(&self) -> &Mlp {
        &self.model
    }

    /// The EMA network (the one to sample with and to save).
    pub fn model(&self) -> Mlp {
        Mlp::from_theta(self.model.config().clone(), self.ema.clone())
            .expect("EMA has the model's shape")
    }

    /// One optimiser step on a minibatch drawn from stream `(seed, TRAIN, step)`; returns its mean loss.
    pub fn step(&mut self, data: &Dataset) -> f64 {
        let d = data.d;
        let bsz = self.cfg.batch;
        let sd = self.model.config().sigma_data;
        let mut r = rng::stream(self.seed, &[rng::tag::TRAIN, self.step as u64]);
        let (lt0, lt1) = (self.cfg.t_min.ln(), self.cfg.t_max.ln());
        let mut x = vec![0.0f32; bsz * d];
        let mut y = vec![0.0f32; bsz * d];
        let mut pcs = Vec::with_capacity(bsz);
        for i in 0..bsz {
            let row = data.row(r.random_range(0..data.n));
            let t = (lt0 + r.random::<f64>() * (lt1 - lt0)).exp();
            let pc = Precond::new(sd, t);
            let sq = pc.delta.sqrt();
            for k in 0..d {
                let z: f64 = r.sample(StandardNormal);
                let a = pc.decay * row[k] as f64;
                let xv = a + sq * z;
                x[i * d + k] = xv as f32;
                y[i * d + k] = ((a - pc.c_skip * xv) / pc.c_out) as f32;
            }
            pcs.push(pc);
        }
        let p = self.model.n_params();
        let scale = 1.0 / (bsz * d) as f32;
        let model = &self.model;
        let parts: Vec<(Vec<f32>, f64)> = (0..bsz.div_ceil(GRAD_CHUNK))
            .into_par_iter()
            .map(|c| {
                let (i0, i1) = (c * GRAD_CHUNK, ((c + 1) * GRAD_CHUNK).min(bsz));
                let mut g = vec![0.0f32; p];
                let mut cache = Cache::default();
                let s = loss_grad(
                    model,
                    &x[i0 * d..i1 * d],
                    &pcs[i0..i1],
                    &y[i0 * d..i1 * d],
                    scale,
                    &mut g,
                    &mut cache,
                );
                (g, s)
            })
            .collect();
        let mut grad = vec![0.0f32; p];
        let mut loss = 0.0;
        for (g, s) in &parts {
            grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
            loss += s;
        }
        self.adam(&grad);
        let loss = loss / (bsz * d) as f64;
        self.window_sum += loss;
        self.window_n += 1;
        if self.step.is_multiple_of(self.cfg.log_every) || self.step == self.cfg.steps {
            self.log.push(LossPoint {
                step: self.step,
                loss: self.window_sum / self.window_n as f64,
            });
            self.window_sum = 0.0;
            self.window_n = 0;
        }
        loss
    }

    /// Adam update with warm-up, then the EMA; advances the step counter.
    fn adam(&mut self, grad: &[f32]) {
        let c = &self.cfg;
        let k = self.step as f64 + 1.0;
        let lr = c.lr * (k / c.warmup.max(1) as f64).min(1.0);
        let (bc1, bc2) = (1.0 - c.beta1.powf(k), 1.0 - c.beta2.powf(k));
        let step_size = (lr / bc1) as f32;
        let (b1, b2, eps) = (c.beta1 as f32, c.beta2 as f32, c.eps as f32);
        let inv_bc2 = (1.0 / bc2) as f32;
        let ema = c
            .ema
            .min((1.0 + self.step as f64) / (10.0 + self.step as f64)) as f32;
        for i in 0..grad.len() {
            let g = grad[i];
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g;
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g;
            let th = &mut self.model.theta_mut()[i];
            *th -= step_size * self.m[i] / ((self.v[i] * inv_bc2).sqrt() + eps);
            self.ema[i] = ema * self.ema[i] + (1.0 - ema) * *th;
        }
        self.step += 1;
    }

    /// Trains until `config().steps`, checking `monitor` between steps and calling `on_log` after every
    /// logged window (where a caller writes checkpoints). Returns `Interrupted` if the monitor stops it;
    /// the trainer is then in a consistent state at a step boundary.
    pub fn train(
        &mut self,
        data: &Dataset,
        monitor: &dyn Monitor,
        on_log: &mut dyn FnMut(&Trainer) -> Result<()>,
    ) -> Result<()> {
        self.check_data(data)?;
        while self.step < self.cfg.steps {
            progress::check(monitor)?;
            self.step(data);
            monitor.advance(self.step as u64, self.cfg.steps as u64);
            if self.window_n == 0 {
                on_log(self)?;
            }
        }
        Ok(())
    }

    fn check_data(&self, data: &Dataset) -> Result<()> {
        if data.d != self.model.config().d {
            return Err(Error::shape(
                "training data",
                format!(
                    "d = {}, the model has d = {}",
                    data.d,
                    self.model.config().d
                ),
            ));
        }
        if data.n == 0 {
            return Err(Error::shape("training data", "no rows"));
        }
        Ok(())
    }

    /// Writes the full training state (raw and EMA weights, Adam moments, step, log, config, seed and a
    /// fingerprint of the data) atomically as safetensors.
    pub fn save_checkpoint(&self, path: &Path, data: &Dataset) -> Result<()> {
        let mut st = self.model.to_safetensors();
        let p = self.model.n_params();
        st.insert("adam.m", vec![p], self.m.clone());
        st.insert("adam.v", vec![p], self.v.clone());
        st.insert("ema", vec![p], self.ema.clone());
        let meta = TrainMeta {
            config: self.cfg.clone(),
            step: self.step,
            seed: self.seed,
            window_sum: self.window_sum,
            window_n: self.window_n,
            log: self.log.clone(),
            data_n: data.n,
            data_d: data.d,
            data_fingerprint: self.data_fingerprint.clone(),
        };
        st.metadata.insert(
            "diffscope.train".into(),
            serde_json::to_string(&meta).expect("meta serialises"),
        );
        st.write(path)
    }

    /// Restores a trainer from [`Trainer::save_checkpoint`]. Continuing it gives bit-identical weights to a
    /// run that was never interrupted. Refuses a checkpoint made on other data.
    pub fn resume(path: &Path, data: &Dataset) -> Result<Self> {
        let mut st = SafeTensors::read(path)?;
        let meta: TrainMeta = serde_json::from_str(st.meta(path, "diffscope.train")?)
            .map_err(|e| Error::format(path, format!("metadata diffscope.train: {e}")))?;
        let model = Mlp::from_safetensors(path, &mut st)?;
        let p = model.n_params();
        let fp = fingerprint(data);
        if fp != meta.data_fingerprint {
            return Err(Error::format(
                path,
                format!(
                    "checkpoint was trained on other data (n = {}, d = {}, fingerprint {}); this data has n = {}, d = {}, fingerprint {fp}",
                    meta.data_n, meta.data_d, meta.data_fingerprint, data.n, data.d
                ),
            ));
        }
        Ok(Trainer {
            m: st.take(path, "adam.m", &[p])?,
            v: st.take(path, "adam.v", &[p])?,
            ema: st.take(path, "ema", &[p])?,
            model,
            step: meta.step,
            seed: meta.seed,
            cfg: meta.config,
            window_sum: meta.window_sum,
            window_n: meta.window_n,
            log: meta.log,
            data_fingerprint: fp,
        })
    }
}

//! The exact empirical score of a training set, as a fused flash-softmax kernel (science.md §2).

use super::microkernel::{packed_index, MR, NR};
use super::{check_shapes, Device, Extras, Isa, Nearest, OuTime, Posterior, Score};
use crate::data::Dataset;
use crate::error::{Error, Result};
use faer::Par;
use rayon::prelude::*;

/// Arithmetic of [`EmpiricalScore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The fast path: f32 GEMMs and exp, f64 running sums.
    #[default]
    F32,
    /// The reference path: every distance, exp and sum in f64 (O(N·d) per query, no GEMM).
    F64,
}

/// Largest number of queries per block (one rayon task), and training points per tile at small d (a
/// multiple of 6; a tile's 1008 × 16 weights of one query strip, 64 KB, stay in L2. Tiles of 252, 504, 1008 and 2016 points measured A/B
/// 1, 0.988, 0.968 and 0.966 on the standard workload).
const QUERY_BLOCK: usize = 256;
const TILE: usize = 1008;
/// Bytes of packed points a tile may hold: half of a 1 MB L2, so that the weighted-sum pass finds the
/// tile the logit pass just read still in L2.
const TILE_BYTES: usize = 512 * 1024;

/// Training points per tile at dimension d: [`TILE`] (1008) while the tile's packing, 4·(d + 1) bytes a
/// point, fits in [`TILE_BYTES`] (d ≤ 129), else the largest multiple of 6 that fits (162 at d = 784), but
/// at least [`MIN_TILE`] (d ≥ 1560: 84 at d = 3072), where the f64 flush of the weighted sums, d·16 adds
/// per strip and tile, would otherwise cost more than the cache misses it saves (grid A/B: 42-point
/// tiles at d = 3072 ran at 0.53–0.73 of the FMA peak, 84-point tiles at 0.65–0.81).
fn tile_for(d: usize) -> usize {
    let fit = TILE_BYTES / (4 * (d + 1)) / MR * MR;
    fit.clamp(MIN_TILE, TILE)
}

/// The smallest tile, see [`tile_for`].
const MIN_TILE: usize = 84;

/// The score of the noised empirical distribution of training points $a_1, \dots, a_N$:
///
/// $S(x, t) = (e^{-t} \sum_\mu w_\mu a_\mu - x) / \Delta_t$, $w = \mathrm{softmax}_\mu(-|x - e^{-t} a_\mu|^2 / 2\Delta_t)$.
///
/// The f32 path is a fused flash-softmax kernel. Queries go in blocks of up to 256 (one rayon task each),
/// and within a block in strips of 16 (the vector lanes); the training set in tiles of 1008 points (fewer
/// at d > 129, [`tile_for`]). Per tile
/// and strip, in L1/L2: the logits $(e^{-t} x \cdot a_\mu - \tfrac12 e^{-2t} |a_\mu|^2)/\Delta_t$ by a
/// register-blocked GEMM on points packed once at construction, the running max, $\exp$ and its sum
/// (online softmax, f64 running sums), and the weighted sum $\sum_\mu w_\mu a_\mu$ by a second GEMM
/// with the same 6 × 16 kernel. At small t, once a strip's tiles turn sparse, points whose weights are
/// below $2^{-64}$ of the maximum for all 16 queries of the strip are skipped (their total is below f32
/// resolution for any N < 2^40). Memory is O(block·d + tile·16) per thread besides one packed copy of
/// the training set, 4·N·(d + 1) bytes, read by both GEMMs (see `microkernel`); no (B, N, d) tensor is
/// formed. The training set is stored centred on its mean c (distances are translation invariant:
/// $x - e^{-t}a = (x - e^{-t}c) - e^{-t}(a - c)$), which keeps the f32 logits small. Above 8192 points
/// the training set is cut into segments of whole tiles (about 8192 points each, a function of N and d
/// only), each streamed from the empty state and folded into the query's state in segment order
/// (flash-decoding's split-K), so that a batch of one strip still occupies every thread: the segments of
/// a small batch run in parallel, those of a large batch in turn inside each block. A query's result
/// depends only on its strip (queries 16i … 16i + 15), the tiles and the segments, not on the blocks or
/// the threads, so results are bit-identical for any thread count and batch split.
#[derive(Clone, Debug)]
pub struct EmpiricalScore {
    pub(super) n: usize,
    pub(super) d: usize,
    /// N rounded up to a multiple of 6 (the packings' zero-padded length).
    pub(super) n6: usize,
    /// Training points per tile ([`tile_for`]).
    pub(super) tile: usize,
    /// The mean c (f64).
    pub(super) centre: Vec<f64>,
    /// The original points in f64 for the reference path (filled only for `Precision::F64`).
    a64: Vec<f64>,
    /// The one packed copy: the centred points augmented by their squared norm, $(a_\mu - c, |a_\mu -
    /// c|^2)$ (d + 1 values, the norm from f64), in blocks of 6 points, coordinate-major
    /// (`rows6[(β·(d + 1) + j)·6 + r]` = coordinate j of point 6β + r). Both GEMMs read it.
    pub(super) rows6: Vec<f32>,
    precision: Precision,
    /// The instruction set of the f32 kernel (always a supported one).
    isa: Isa,
    /// Where the f32 kernel runs.
    device: Device,
    /// The training set and kernels on the GPU (when `device` is CUDA).
    #[cfg(feature = "cuda")]
    gpu: Option<std::sync::Arc<super::cuda::GpuEmpirical>>,
}

impl EmpiricalScore {
    /// The empirical score of `data`'s samples.
    pub fn new(data: &Dataset, precision: Precision) -> Result<Self> {
        Self::from_rows(&data.x, data.n, data.d, precision)
    }

    /// From a row-major `n × d` buffer.
    pub fn from_rows(x: &[f32], n: usize, d: usize, precision: Precision) -> Result<Self> {
        Self::from_rows_centred(x, n, d, precision, None)
    }

    /// From a row-major `n × d` buffer, stored centred on `centre` (default: the rows' own mean, summed in
    /// row order in f64). A shard of a larger training set passes the global mean, so that every shard's
    /// partial states live in one frame ([`crate::distributed::ShardedScore`]).
    pub fn from_rows_centred(
        x: &[f32],
        n: usize,
        d: usize,
        precision: Precision,
        centre: Option<Vec<f64>>,
    ) -> Result<Self> {
        if n == 0 || d == 0 || x.len() != n * d {
            return Err(Error::shape(
                "EmpiricalScore training set",
                format!("{} values for n = {n}, d = {d}", x.len()),
            ));
        }
        crate::error::check_finite_f32("training set", x, d)?;
        let centre = match centre {
            Some(c) if c.len() == d => c,
            Some(c) => {
                return Err(Error::shape(
                    "EmpiricalScore centre",
                    format!("{} values for d = {d}", c.len()),
                ))
            }
            None => {
                let mut c = column_sums(x, d);
                c.iter_mut().for_each(|c| *c /= n as f64);
                c
            }
        };
        // The augmented centred rows written straight into the packing (zero padding to whole blocks), so
        // that besides the caller's rows only the packing is ever held.
        let k1 = d + 1;
        let n6 = n.div_ceil(MR) * MR;
        let mut rows6 = vec![0.0f32; n6 * k1];
        for (mu, row) in x.chunks_exact(d).enumerate() {
            let mut s = 0.0f64;
            for (j, (&v, &c)) in row.iter().zip(&centre).enumerate() {
                let y = v as f64 - c;
                s += y * y;
                rows6[packed_index(mu, j, k1)] = y as f32;
            }
            rows6[packed_index(mu, d, k1)] = s as f32;
        }
        let a64 = if precision == Precision::F64 {
            x.iter().map(|&v| v as f64).collect()
        } else {
            Vec::new()
        };
        Ok(EmpiricalScore {
            isa: Isa::default_for_process()?,
            rows6,
            n,
            d,
            n6,
            tile: tile_for(d),
            centre,
            a64,
            precision,
            device: Device::Cpu,
            #[cfg(feature = "cuda")]
            gpu: None,
        })
    }

    /// The empirical score of `data`'s samples on `device`.
    pub fn on_device(data: &Dataset, precision: Precision, device: Device) -> Result<Self> {
        let mut s = Self::new(data, precision)?;
        s.set_device(device)?;
        Ok(s)
    }

    /// Where the f32 kernel runs.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Moves the f32 kernel to `device`: for CUDA, uploads one packed copy of the training set and
    /// compiles the kernels (`super::cuda`). An error, never a silent fall-back to the CPU, when the build
    /// lacks the `cuda` feature, there is no driver, GPU or NVRTC, or the device is out of memory. The
    /// f64 reference path runs on the CPU only.
    pub fn set_device(&mut self, device: Device) -> Result<()> {
        if device == self.device {
            return Ok(());
        }
        let Device::Cuda(ordinal) = device else {
            self.device = Device::Cpu;
            #[cfg(feature = "cuda")]
            {
                self.gpu = None;
            }
            return Ok(());
        };
        if self.precision == Precision::F64 {
            return Err(Error::param(
                "device",
                device,
                "cpu for the f64 reference score (the GPU runs the f32 kernel)",
            ));
        }
        #[cfg(feature = "cuda")]
        {
            let kp = super::cuda::padded_len(self.d);
            let mut rows = vec![0.0f32; self.n * kp];
            for (mu, row) in rows.chunks_exact_mut(kp).enumerate() {
                for (j, v) in row[..=self.d].iter_mut().enumerate() {
                    *v = self.centred(mu, j);
                }
            }
            let gpu = super::cuda::GpuEmpirical::new(ordinal, &rows, &self.centre, self.n, self.d)?;
            self.gpu = Some(std::sync::Arc::new(gpu));
            self.device = device;
            Ok(())
        }
        #[cfg(not(feature = "cuda"))]
        {
            let _ = ordinal;
            Err(Error::device(
                device,
                "this build of diffscope has no GPU support (build with the `cuda` feature)",
            ))
        }
    }

    /// Coordinate j of centred point μ, $a_\mu - c$ (j = d is $|a_\mu - c|^2$), from the packing.
    #[inline]
    pub(super) fn centred(&self, mu: usize, j: usize) -> f32 {
        self.rows6[packed_index(mu, j, self.d + 1)]
    }

    /// The centred points, row-major N × d (a temporary copy for the f64 Jacobian).
    fn centred_rows(&self) -> Vec<f32> {
        (0..self.n)
            .flat_map(|mu| (0..self.d).map(move |j| self.centred(mu, j)))
            .collect()
    }

    /// Number of training points N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The instruction set of the f32 kernel: by default the widest this processor runs ([`Isa::best`]),
    /// or the one named by the environment variable `DIFFSCOPE_ISA`.
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs the f32 kernel on `isa` (an error if this processor or build does not run it). Every
    /// instruction set gives the same bits; only the speed differs.
    pub fn set_isa(&mut self, isa: Isa) -> Result<()> {
        self.isa = isa.require("isa", isa)?;
        Ok(())
    }

    /// The arithmetic in use.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Training point μ (original coordinates).
    pub fn point(&self, mu: usize) -> Vec<f64> {
        (0..self.d)
            .map(|j| self.centred(mu, j) as f64 + self.centre[j])
            .collect()
    }

    /// The segments of the training set: ranges of tile indices, [`segment_count`]`(N)` of them, as
    /// even as whole tiles allow. A function of N and d only (never of the batch or the threads).
    pub(super) fn segments(&self) -> Vec<std::ops::Range<usize>> {
        let tiles = self.n6.div_ceil(self.tile);
        let per = tiles.div_ceil(segment_count(self.n).min(tiles));
        (0..tiles)
            .step_by(per)
            .map(|k| k..(k + per).min(tiles))
            .collect()
    }

    /// The flash-softmax states of one block of ≤ QUERY_BLOCK queries over this score's points, f32 fast
    /// path (`super::flash`), tracking what `want` asks: each segment's state from empty, folded into the
    /// block's state in segment order ([`States::fold_all`]; one segment is its state unchanged). The
    /// segments run in parallel under `par`, in waves of a few per thread; they are folded in the same
    /// order whatever the waves, so `par` changes no bit.
    fn block_state(&self, x: &[f32], ou: OuTime, want: Want, par: Par) -> States {
        let segs = self.segments();
        let seg = |r: &std::ops::Range<usize>| {
            super::flash::block_state(self, self.isa, x, ou, want, r.clone())
        };
        if segs.len() == 1 {
            return seg(&segs[0]);
        }
        let wave = tasks(par);
        let mut st = States::empty(x.len() / self.d, self.d, want);
        for w in segs.chunks(wave) {
            let parts: Vec<States> = match par {
                Par::Seq => w.iter().map(seg).collect(),
                Par::Rayon(_) => w.par_iter().map(seg).collect(),
            };
            parts.iter().for_each(|p| st.fold_all(p));
        }
        st
    }

    /// How the blocks of b queries run: the block length, and the parallelism inside each block (over
    /// segments), used when there are too few blocks to occupy the threads (B = 16 is one block).
    fn plan(&self, b: usize, par: Par) -> (usize, Par) {
        let q = block_len(b, par);
        let inner = match par {
            Par::Rayon(_) if b.div_ceil(q) < tasks(par) => par,
            _ => Par::Seq,
        };
        (q, inner)
    }

    /// The partial states of all b queries of `x` over this score's points, in blocks of whole strips
    /// (16 queries) run in parallel when `par` allows.
    ///
    /// A query's result depends only on its strip (queries 16i … 16i + 15 of `x`), the tiles and the
    /// segments, never on the block it is in: every state, maximum and sparse-skip decision is per strip
    /// and segment, and segments are folded in order ([`Self::plan`] picks where they run). So the block size
    /// can follow the thread count without changing a bit: up to 16 strips per block (a tile is then
    /// reused by 16 strips while it is in cache), fewer when that leaves threads idle (B ≤ 256: one block
    /// would keep one core busy).
    pub(crate) fn states(&self, x: &[f32], ou: OuTime, want: Want, par: Par) -> States {
        let (q, inner) = self.plan(x.len() / self.d, par);
        let blocks: Vec<&[f32]> = x.chunks(q * self.d).collect();
        let state = |xb: &[f32]| self.block_state(xb, ou, want, inner);
        let parts = match par {
            Par::Seq => blocks.into_iter().map(state).collect(),
            Par::Rayon(_) => blocks.into_par_iter().map(state).collect(),
        };
        States::concat(parts, self.d, want)
    }

    /// One query, f64 reference path: distances, log-sum-exp and weighted sum all in f64.
    fn query_f64(&self, x: &[f32], ou: OuTime, out: &mut [f32]) -> QueryF64 {
        let d = self.d;
        let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let logit = |mu: usize| -> f64 {
            let a = &self.a64[mu * d..(mu + 1) * d];
            -x64.iter()
                .zip(a)
                .map(|(&xv, &av)| (xv - ou.decay * av).powi(2))
                .sum::<f64>()
                / (2.0 * ou.delta)
        };
        let logits: Vec<f64> = (0..self.n).map(logit).collect();
        let (mut i1, mut i2) = (0usize, usize::MAX);
        for mu in 1..self.n {
            if logits[mu] > logits[i1] {
                i2 = i1;
                i1 = mu;
            } else if i2 == usize::MAX || logits[mu] > logits[i2] {
                i2 = mu;
            }
        }
        let max = logits[i1];
        let (mut sum, mut ent, mut sq) = (0.0, 0.0, 0.0);
        let mut acc = vec![0.0f64; d];
        for (mu, &l) in logits.iter().enumerate() {
            let w = (l - max).exp();
            sum += w;
            ent += w * (l - max);
            sq += w * w;
            acc.iter_mut()
                .zip(&self.a64[mu * d..(mu + 1) * d])
                .for_each(|(s, &a)| *s += w * a);
        }
        for j in 0..d {
            out[j] = ((ou.decay * acc[j] / sum - x64[j]) / ou.delta) as f32;
        }
        let log_p = max + sum.ln()
            - (self.n as f64).ln()
            - 0.5 * d as f64 * (2.0 * std::f64::consts::PI * ou.delta).ln();
        let dist = |l: f64| (-2.0 * ou.delta * l).sqrt() as f32;
        let nearest = if i2 == usize::MAX {
            Nearest {
                index: i1 as u32,
                second: i1 as u32,
                d1: dist(max),
                d2: f32::INFINITY,
            }
        } else {
            Nearest {
                index: i1 as u32,
                second: i2 as u32,
                d1: dist(max),
                d2: dist(logits[i2]),
            }
        };
        QueryF64 {
            log_p,
            nearest,
            // H = ln Σw − Σ w (ℓ − max) / Σw in nats; N_eff = (Σw)² / Σw².
            posterior: Posterior {
                entropy: (sum.ln() - ent / sum).max(0.0),
                effective_n: (sum * sum / sq).max(1.0),
            },
        }
    }
}

impl EmpiricalScore {
    /// $|x - e^{-t} a_\mu|^2$ in f64 from the packing (original coordinates: $a_\mu = c + (a_\mu - c)$).
    pub(super) fn exact_dist_sq(&self, x: &[f32], mu: usize, ou: OuTime) -> f64 {
        (0..self.d)
            .map(|j| {
                let a = self.centred(mu, j) as f64 + self.centre[j];
                (x[j] as f64 - ou.decay * a).powi(2)
            })
            .sum()
    }

    /// The GPU path of `eval_into`: chunks of queries through the device kernels; log p and the nearest
    /// points finished on the host from the device's top-2 indices with exact f64 distances, as on the CPU.
    /// The posterior statistics are not yet computed by the device kernels: when asked for, they come
    /// from the CPU kernel's pass over the same queries (the score itself stays the device's).
    #[cfg(feature = "cuda")]
    fn eval_gpu(
        &self,
        g: &super::cuda::GpuEmpirical,
        x: &[f32],
        ou: OuTime,
        out: &mut [f32],
        extras: Extras<'_>,
    ) {
        let d = self.d;
        let want = Want::of(&extras);
        let q = g.chunk();
        let blocks = x.chunks(q * d).zip(out.chunks_mut(q * d));
        for ((xc, oc), ec) in blocks.zip(extras.chunks(q, x.len() / d)) {
            // A device fault after a successful set-up (the device lost, a launch refused) has no caller
            // to return to through `Score`: it stops the run with the device's message.
            let stats = g
                .eval_chunk(xc, ou, want.top, oc)
                .unwrap_or_else(|e| panic!("{e}"));
            let Extras {
                log_p,
                nearest,
                posterior,
            } = ec;
            if let Some(post) = posterior {
                let host = Want {
                    top: false,
                    posterior: true,
                };
                self.states(xc, ou, host, Par::rayon(0)).finish_extras(
                    ou,
                    self.n,
                    Extras {
                        posterior: Some(post),
                        ..Extras::default()
                    },
                );
            }
            if !want.top {
                continue;
            }
            let b = xc.len() / d;
            let mut st = States::empty(
                b,
                d,
                Want {
                    top: true,
                    posterior: false,
                },
            );
            for (i, &(y1, i1, y2, i2)) in stats.top.iter().enumerate() {
                let xi = &xc[i * d..(i + 1) * d];
                st.max[i] = stats.max[i];
                st.sum[i] = stats.sum[i];
                st.top[i] = Top {
                    y1,
                    i1: i1 as u64,
                    d1sq: self.exact_dist_sq(xi, i1 as usize, ou),
                    y2,
                    i2: i2 as u64,
                    d2sq: if self.n > 1 {
                        self.exact_dist_sq(xi, i2 as usize, ou)
                    } else {
                        f64::INFINITY
                    },
                };
            }
            let rest = Extras {
                log_p,
                nearest,
                posterior: None,
            };
            st.finish_extras(ou, self.n, rest);
        }
    }
}

impl Score for EmpiricalScore {
    fn dim(&self) -> usize {
        self.d
    }

    fn has_training_set(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        #[cfg(feature = "cuda")]
        if let Some(g) = &self.gpu {
            return format!(
                "empirical score, N = {}, d = {}, {:?} on {}",
                self.n,
                self.d,
                self.precision,
                g.describe()
            );
        }
        format!(
            "empirical score, N = {}, d = {}, {:?}",
            self.n, self.d, self.precision
        )
    }

    /// The analytic $J = (\mathrm{Cov}_w[\tilde a] - \Delta I)/\Delta^2$ in f64 per query
    /// (O(N d + N_w d²) with N_w the points of non-zero weight), see [`empirical_score_and_jacobian`].
    fn jacobian_into(&self, x: &[f32], t: f64, out: &mut [f64], par: Par) -> bool {
        let decay = OuTime::new(t).decay;
        let centred = self.centred_rows();
        super::rows_jacobian(self.d, x, t, out, par, |xi| {
            // J is translation-covariant: J(x; a) = J(x − e^{-t}c; a − c) for the stored centred points.
            let xs: Vec<f64> = xi
                .iter()
                .zip(&self.centre)
                .map(|(v, c)| v - decay * c)
                .collect();
            empirical_score_and_jacobian(&centred, &xs, t).1
        });
        true
    }

    fn is_exact_gradient(&self) -> bool {
        true
    }

    /// $Jv = (\sum_\mu w_\mu \tilde a_\mu (\tilde a_\mu\cdot v) - m (m \cdot v))/\Delta^2 - v/\Delta$,
    /// $m = \sum_\mu w_\mu \tilde a_\mu$, in f64, O(N d) per query (no d × d matrix).
    fn jvp_into(&self, x: &[f32], t: f64, v: &[f32], out: &mut [f32], par: Par) -> bool {
        let ou = OuTime::new(t);
        let d = self.d;
        super::rows_product(d, x, t, v, out, par, |xi, vi| {
            // Centred frame: x − e^{-t}c against the stored a − c (J is translation-covariant).
            let xs: Vec<f64> = xi
                .iter()
                .zip(&self.centre)
                .map(|(a, c)| a - ou.decay * c)
                .collect();
            let pt = |mu: usize, j: usize| ou.decay * self.centred(mu, j) as f64;
            let logits: Vec<f64> = (0..self.n)
                .map(|mu| {
                    -(0..d).map(|j| (xs[j] - pt(mu, j)).powi(2)).sum::<f64>() / (2.0 * ou.delta)
                })
                .collect();
            let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let w: Vec<f64> = logits.iter().map(|l| (l - mx).exp()).collect();
            let z: f64 = w.iter().sum();
            let (mut m, mut second) = (vec![0.0; d], vec![0.0; d]);
            for mu in 0..self.n {
                let wm = w[mu] / z;
                if wm == 0.0 {
                    continue;
                }
                let av: f64 = (0..d).map(|j| pt(mu, j) * vi[j]).sum();
                for j in 0..d {
                    m[j] += wm * pt(mu, j);
                    second[j] += wm * pt(mu, j) * av;
                }
            }
            let mv: f64 = m.iter().zip(vi).map(|(a, b)| a * b).sum();
            (0..d)
                .map(|j| (second[j] - m[j] * mv) / (ou.delta * ou.delta) - vi[j] / ou.delta)
                .collect()
        });
        true
    }

    /// On a GPU: chunk by chunk, every step on the device (`super::cuda`).
    #[cfg(feature = "cuda")]
    fn euler_maruyama_on_device(
        &self,
        x: &mut [f32],
        times: &[f64],
        noise_key: u64,
        first: u64,
        monitor: &dyn crate::progress::Monitor,
    ) -> Result<bool> {
        let Some(g) = &self.gpu else {
            return Ok(false);
        };
        let (d, q) = (self.d, g.chunk());
        let steps = times.len().saturating_sub(1) as u64;
        let chunks = x.len().div_ceil(q * d) as u64;
        for (c, xc) in x.chunks_mut(q * d).enumerate() {
            let mut check = |k: usize| -> Result<()> {
                crate::progress::check(monitor)?;
                monitor.advance(c as u64 * steps + k as u64, chunks * steps);
                Ok(())
            };
            g.euler_maruyama_chunk(xc, times, noise_key, first + (c * q) as u64, &mut check)?;
        }
        monitor.advance(chunks * steps, chunks * steps);
        Ok(true)
    }

    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        check_shapes(self.d, x, t, out, &extras);
        let ou = OuTime::new(t);
        let d = self.d;
        #[cfg(feature = "cuda")]
        if let Some(g) = &self.gpu {
            self.eval_gpu(g, x, ou, out, extras);
            return;
        }
        let want = Want::of(&extras);
        match self.precision {
            Precision::F32 => {
                // Block by block, each block's states finished into its rows of the outputs: the
                // temporary f64 states stay O(block · d) (the sharded score needs all of them, `states`).
                let (q, inner) = self.plan(x.len() / d, par);
                let jobs: Vec<_> = x
                    .chunks(q * d)
                    .zip(out.chunks_mut(q * d))
                    .zip(extras.chunks(q, x.len() / d))
                    .collect();
                let run = |((xb, ob), eb): ((&[f32], &mut [f32]), Extras<'_>)| {
                    let st = self.block_state(xb, ou, want, inner);
                    st.finish(xb, ou, &self.centre, self.n, ob, eb);
                };
                match par {
                    Par::Seq => jobs.into_iter().for_each(run),
                    Par::Rayon(_) => jobs.into_par_iter().for_each(run),
                }
            }
            Precision::F64 => {
                let query = |(xi, oi): (&[f32], &mut [f32])| self.query_f64(xi, ou, oi);
                let results: Vec<QueryF64> = super::map_queries(x, out, d, par, query);
                let Extras {
                    mut log_p,
                    mut nearest,
                    mut posterior,
                } = extras;
                for (i, r) in results.into_iter().enumerate() {
                    if let Some(lp) = log_p.as_deref_mut() {
                        lp[i] = r.log_p;
                    }
                    if let Some(nn) = nearest.as_deref_mut() {
                        nn[i] = r.nearest;
                    }
                    if let Some(p) = posterior.as_deref_mut() {
                        p[i] = r.posterior;
                    }
                }
            }
        }
    }
}

/// The extras of one query by the f64 reference path.
struct QueryF64 {
    log_p: f64,
    nearest: Nearest,
    posterior: Posterior,
}

/// The exact empirical score in f64 at one point and its analytic Jacobian:
/// $S = (\sum_\mu w_\mu \tilde a_\mu - x)/\Delta$, $J = (\mathrm{Cov}_w[\tilde a] - \Delta I)/\Delta^2$,
/// $\tilde a = e^{-t} a$, w the softmax weights (log-sum-exp in f64). `points` is row-major N × d.
pub fn empirical_score_and_jacobian<P: Copy + Into<f64>>(
    points: &[P],
    x: &[f64],
    t: f64,
) -> (Vec<f64>, faer::Mat<f64>) {
    let d = x.len();
    let n = points.len() / d;
    let ou = OuTime::new(t);
    let logits: Vec<f64> = (0..n)
        .map(|m| {
            -points[m * d..(m + 1) * d]
                .iter()
                .zip(x)
                .map(|(&a, &xi)| (xi - ou.decay * a.into()).powi(2))
                .sum::<f64>()
                / (2.0 * ou.delta)
        })
        .collect();
    let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logits.iter().map(|l| (l - mx).exp()).collect();
    let z: f64 = w.iter().sum();
    let mut mean = vec![0.0; d];
    for m in 0..n {
        for i in 0..d {
            mean[i] += w[m] / z * ou.decay * points[m * d + i].into();
        }
    }
    let mut jac = faer::Mat::<f64>::zeros(d, d);
    for m in 0..n {
        let wm = w[m] / z;
        if wm == 0.0 {
            continue;
        }
        for i in 0..d {
            let ai = ou.decay * points[m * d + i].into() - mean[i];
            for k in 0..d {
                jac[(i, k)] += wm * ai * (ou.decay * points[m * d + k].into() - mean[k]);
            }
        }
    }
    for i in 0..d {
        for k in 0..d {
            jac[(i, k)] =
                (jac[(i, k)] - if i == k { ou.delta } else { 0.0 }) / (ou.delta * ou.delta);
        }
    }
    let s = mean
        .iter()
        .zip(x)
        .map(|(m, xi)| (m - xi) / ou.delta)
        .collect();
    (s, jac)
}

/// Queries per block (one rayon task) for b queries: whole strips of 16, at most [`QUERY_BLOCK`], fewer
/// when b would leave threads idle (see [`EmpiricalScore::states`]; the choice changes no bit).
fn block_len(b: usize, par: Par) -> usize {
    b.div_ceil(NR)
        .div_ceil(tasks(par))
        .clamp(1, QUERY_BLOCK / NR)
        * NR
}

/// Tasks worth making for `par`: two per thread (1 sequentially), so that uneven tasks still balance.
fn tasks(par: Par) -> usize {
    match par {
        Par::Seq => 1,
        Par::Rayon(n) => 2 * n.get().min(rayon::current_num_threads()),
    }
}

/// Training points per segment, roughly: the training set is split into [`segment_count`] segments, each
/// a run of whole tiles whose flash states start from empty and are folded in order (flash-decoding's
/// split-K), so that a small batch (one strip, one block) still occupies every thread. 8192 points are
/// 4·8192·d = 3.3 MFLOP per query at d = 100 (a task of about half a millisecond for a strip of 16) and
/// leave N ≤ 8192 in one segment, the kernel as it was.
const SEGMENT_POINTS: usize = 8192;

/// Segments of a training set of n points: ⌈n / [`SEGMENT_POINTS`]⌉ (at most one per tile).
fn segment_count(n: usize) -> usize {
    n.div_ceil(SEGMENT_POINTS).max(1)
}

/// Column sums of row-major rows (d columns), in f64, rows in order.
pub(crate) fn column_sums(x: &[f32], d: usize) -> Vec<f64> {
    let mut c = vec![0.0f64; d];
    x.chunks_exact(d)
        .for_each(|r| c.iter_mut().zip(r).for_each(|(c, &v)| *c += v as f64));
    c
}

/// The two largest logits of a query over a set of points: logit (log2 units), global index and exact
/// f64 squared distance $|x - e^{-t} a|^2$. An empty slot has logit −∞ and distance +∞.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Top {
    pub y1: f32,
    pub i1: u64,
    pub d1sq: f64,
    pub y2: f32,
    pub i2: u64,
    pub d2sq: f64,
}

impl Top {
    pub(crate) const EMPTY: Top = Top {
        y1: f32::NEG_INFINITY,
        i1: 0,
        d1sq: f64::INFINITY,
        y2: f32::NEG_INFINITY,
        i2: 0,
        d2sq: f64::INFINITY,
    };

    /// Offers a candidate; strictly larger logits win, so ties keep the earlier candidate (the smaller
    /// index when candidates come in index order), as in the kernel's scan.
    fn offer(&mut self, y: f32, i: u64, dsq: f64) {
        if y > self.y2 {
            if y > self.y1 {
                (self.y2, self.i2, self.d2sq) = (self.y1, self.i1, self.d1sq);
                (self.y1, self.i1, self.d1sq) = (y, i, dsq);
            } else {
                (self.y2, self.i2, self.d2sq) = (y, i, dsq);
            }
        }
    }
}

/// What a kernel pass tracks beside the score's sums: the top-2 (for log p and the nearest points) and the
/// posterior sums (for [`Posterior`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Want {
    pub top: bool,
    pub posterior: bool,
}

impl Want {
    /// What the requested extras need.
    pub(crate) fn of(extras: &Extras<'_>) -> Want {
        Want {
            top: extras.log_p.is_some() || extras.nearest.is_some(),
            posterior: extras.posterior.is_some(),
        }
    }
}

/// Flash-softmax partial states of b queries over a set of training points (science.md §2; the
/// flash-decoding split-K state): per query the running maximum m of the logits y in log2 units,
/// $l = \sum_\mu 2^{y_\mu - m}$, $v = \sum_\mu 2^{y_\mu - m} (a_\mu - c)$ (centred frame, f64), the top-2
/// and, when asked, the posterior sums $h = \sum_\mu 2^{y_\mu - m} (y_\mu - m)$ and
/// $q = \sum_\mu 2^{2(y_\mu - m)}$, from which $H = \ln l - h \ln 2 / l$ and $N_\text{eff} = l^2 / q$.
/// An empty set of points is the state m = −∞, l = v = h = q = 0.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct States {
    pub d: usize,
    pub max: Vec<f32>,
    pub sum: Vec<f64>,
    /// Row-major b × d.
    pub acc: Vec<f64>,
    /// Empty unless the top-2 were asked for.
    pub top: Vec<Top>,
    /// h per query; empty unless the posterior was asked for.
    pub ent: Vec<f64>,
    /// q per query; empty unless the posterior was asked for.
    pub sq: Vec<f64>,
}

impl States {
    /// The empty state of b queries.
    pub(crate) fn empty(b: usize, d: usize, want: Want) -> States {
        let post = if want.posterior { b } else { 0 };
        States {
            d,
            max: vec![f32::NEG_INFINITY; b],
            sum: vec![0.0; b],
            acc: vec![0.0; b * d],
            top: vec![Top::EMPTY; if want.top { b } else { 0 }],
            ent: vec![0.0; post],
            sq: vec![0.0; post],
        }
    }

    fn concat(parts: Vec<States>, d: usize, want: Want) -> States {
        let mut st = States::empty(0, d, want);
        for p in parts {
            st.max.extend(p.max);
            st.sum.extend(p.sum);
            st.acc.extend(p.acc);
            st.top.extend(p.top);
            st.ent.extend(p.ent);
            st.sq.extend(p.sq);
        }
        st
    }

    /// Number of queries.
    pub(crate) fn len(&self) -> usize {
        self.max.len()
    }

    /// Folds `other`'s state of query `j` into this state's query `i`: m = max(m₁, m₂), l = l₁2^{m₁−m} +
    /// l₂2^{m₂−m}, v likewise; the top-2 of both (ties to this one). An empty side is skipped, so folding
    /// into the empty state copies the other bit for bit. Commutative in exact arithmetic but not
    /// bitwise associative: callers fold in a fixed order (shard order).
    pub(crate) fn fold_query(&mut self, i: usize, other: &States, j: usize) {
        let d = self.d;
        if let (Some(t), Some(o)) = (self.top.get_mut(i), other.top.get(j)) {
            t.offer(o.y1, o.i1, o.d1sq);
            t.offer(o.y2, o.i2, o.d2sq);
        }
        if other.sum[j] == 0.0 {
            return;
        }
        if self.sum[i] == 0.0 {
            self.max[i] = other.max[j];
            self.sum[i] = other.sum[j];
            self.acc[i * d..(i + 1) * d].copy_from_slice(&other.acc[j * d..(j + 1) * d]);
            if let (Some(h), Some(q)) = (self.ent.get_mut(i), self.sq.get_mut(i)) {
                (*h, *q) = (other.ent[j], other.sq[j]);
            }
            return;
        }
        let m = self.max[i].max(other.max[j]);
        let (dm1, dm2) = ((self.max[i] - m) as f64, (other.max[j] - m) as f64);
        let (s1, s2) = (dm1.exp2(), dm2.exp2());
        if let (Some(h), Some(q)) = (self.ent.get_mut(i), self.sq.get_mut(i)) {
            // h is relative to the maximum: Σ 2^{y−m}(y − m) = 2^{m₁−m}(h₁ + (m₁ − m) l₁) + (2 likewise).
            *h = s1 * (*h + dm1 * self.sum[i]) + s2 * (other.ent[j] + dm2 * other.sum[j]);
            *q = *q * s1 * s1 + other.sq[j] * s2 * s2;
        }
        self.max[i] = m;
        self.sum[i] = self.sum[i] * s1 + other.sum[j] * s2;
        let (a, b) = (
            &mut self.acc[i * d..(i + 1) * d],
            &other.acc[j * d..(j + 1) * d],
        );
        a.iter_mut()
            .zip(b)
            .for_each(|(a, &b)| *a = *a * s1 + b * s2);
    }

    /// Folds every query of `other` (as many as this one) into the same query of this state, by
    /// [`States::fold_query`].
    pub(crate) fn fold_all(&mut self, other: &States) {
        debug_assert_eq!(self.len(), other.len());
        for i in 0..self.len() {
            self.fold_query(i, other, i);
        }
    }

    /// The score, log p and nearest points of the b queries of `x` (n training points in all, stored
    /// relative to `centre`): $S = (e^{-t} (c + v/l) - x)/\Delta$, and
    /// $\log p = -d_1^2/2\Delta + \log l - \log N - \tfrac d2 \log(2\pi\Delta)$ (the running max is the
    /// nearest point's logit, replaced by its exact f64 distance).
    pub(crate) fn finish(
        &self,
        x: &[f32],
        ou: OuTime,
        centre: &[f64],
        n: usize,
        out: &mut [f32],
        extras: Extras<'_>,
    ) {
        let d = self.d;
        for i in 0..self.len() {
            let inv = 1.0 / self.sum[i];
            for j in 0..d {
                let xs = x[i * d + j] as f64 - ou.decay * centre[j];
                let m = self.acc[i * d + j] * inv;
                out[i * d + j] = ((ou.decay * m - xs) / ou.delta) as f32;
            }
        }
        self.finish_extras(ou, n, extras);
    }

    /// The extras of [`States::finish`]: $\log p = -d_1^2/2\Delta + \log l + (m - y_1)\ln 2 - \log N -
    /// \tfrac d2 \log(2\pi\Delta)$ and the nearest points, from the top-2 with exact distances; the
    /// posterior $H = \ln l - h \ln 2 / l$, $N_\text{eff} = l^2 / q$.
    pub(crate) fn finish_extras(&self, ou: OuTime, n: usize, extras: Extras<'_>) {
        let Extras {
            log_p,
            nearest,
            posterior,
        } = extras;
        if let Some(post) = posterior {
            for (i, p) in post.iter_mut().enumerate() {
                let l = self.sum[i];
                *p = Posterior {
                    // Rounding can take H a few ulps below 0 or N_eff below 1 on one point.
                    entropy: (l.ln() - self.ent[i] * std::f64::consts::LN_2 / l).max(0.0),
                    effective_n: (l * l / self.sq[i]).max(1.0),
                };
            }
        }
        let d = self.d;
        let norm_const =
            (n as f64).ln() + 0.5 * d as f64 * (2.0 * std::f64::consts::PI * ou.delta).ln();
        if let Some(lp) = log_p {
            for (i, lp) in lp.iter_mut().enumerate() {
                // Σ_μ e^{logit_μ} = e^{logit_1} · Σ 2^{y − y_1}, with Σ w = Σ 2^{y − max}: the
                // correction (max − y_1) is 0 unless a pilot's seed raised the maximum above the top
                // f32 logit; it cancels the f32 error of y_1 in w_1 either way.
                let top = &self.top[i];
                *lp = -top.d1sq / (2.0 * ou.delta)
                    + self.sum[i].ln()
                    + (self.max[i] as f64 - top.y1 as f64) * std::f64::consts::LN_2
                    - norm_const;
            }
        }
        if let Some(nn) = nearest {
            for (t, nn) in self.top.iter().zip(nn.iter_mut()) {
                let (second, d2) = if n > 1 {
                    (t.i2 as u32, t.d2sq.sqrt() as f32)
                } else {
                    (t.i1 as u32, f32::INFINITY)
                };
                *nn = Nearest {
                    index: t.i1 as u32,
                    second,
                    d1: t.d1sq.sqrt() as f32,
                    d2,
                };
            }
        }
    }
}

#[cfg(test)]
mod isa_tests {
    use super::*;
    use crate::data::TwoClassGmm;

    /// Noised training points at time t (the state of collapsing trajectories).
    fn queries(data: &Dataset, b: usize, t: f64, seed: u64) -> Vec<f32> {
        use rand::Rng;
        use rand_distr::StandardNormal;
        let mut r = crate::rng::stream(seed, &[7]);
        let ou = OuTime::new(t);
        let d = data.d;
        let mut x = Vec::with_capacity(b * d);
        for _ in 0..b {
            let mu = r.random_range(0..data.n);
            for j in 0..d {
                let z: f64 = r.sample(StandardNormal);
                x.push((ou.decay * data.x[mu * d + j] as f64 + ou.delta.sqrt() * z) as f32);
            }
        }
        x
    }

    fn data(d: usize, n: usize) -> Dataset {
        TwoClassGmm::standard(d)
            .mixture(0)
            .unwrap()
            .sample(n, 3)
            .unwrap()
    }

    fn eval(sc: &EmpiricalScore, x: &[f32], t: f64, top: bool, par: Par) -> Vec<u64> {
        let (d, b) = (sc.d, x.len() / sc.d);
        let mut s = vec![0.0f32; x.len()];
        let mut lp = vec![0.0f64; b];
        let mut nn = vec![Nearest::default(); b];
        let mut post = vec![Posterior::default(); b];
        let extras = if top {
            Extras {
                log_p: Some(&mut lp),
                nearest: Some(&mut nn),
                posterior: Some(&mut post),
            }
        } else {
            Extras::default()
        };
        sc.eval_into(x, t, &mut s, extras, par);
        let mut bits: Vec<u64> = s.iter().map(|v| v.to_bits() as u64).collect();
        bits.extend(lp.iter().map(|v| v.to_bits()));
        bits.extend(
            post.iter()
                .flat_map(|p| [p.entropy.to_bits(), p.effective_n.to_bits()]),
        );
        for n in &nn {
            bits.extend([
                n.index as u64,
                n.second as u64,
                n.d1.to_bits() as u64,
                n.d2.to_bits() as u64,
            ]);
        }
        assert_eq!(bits.len(), b * d + 3 * b + 4 * b);
        bits
    }

    /// Every instruction set this processor runs gives the same bits (score, log p, nearest points and
    /// distances, posterior entropy and effective number) as the portable loops, at every t (sparse and dense tiles), with and without the top-2,
    /// for 1 and 2 threads and a partial last strip. d = 100 (tiles of 1008, 84 blocks: AVX-512 pairs them),
    /// d = 784 (tiles of 162 points, 27 blocks: the last of each tile alone) and d = 13 (12 + 1 coordinates
    /// in the weighted sum). On a processor without AVX-512 it compares AVX2 with portable only; the test
    /// prints which paths it compared.
    #[test]
    fn every_instruction_set_gives_the_same_bits() {
        let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.supported()).collect();
        eprintln!("instruction sets compared: {isas:?}");
        for (d, n, b) in [(100, 3000, 40), (784, 500, 20), (13, 2000, 37)] {
            let ds = data(d, n);
            let mut sc = EmpiricalScore::new(&ds, Precision::F32).unwrap();
            for (i, &t) in [0.01, 0.05, 0.2, 1.0, 6.0].iter().enumerate() {
                let x = queries(&ds, b, t, i as u64);
                for top in [false, true] {
                    sc.set_isa(Isa::Portable).unwrap();
                    let want = eval(&sc, &x, t, top, Par::Seq);
                    for &isa in &isas {
                        sc.set_isa(isa).unwrap();
                        for par in [Par::Seq, Par::rayon(2)] {
                            assert!(
                                eval(&sc, &x, t, top, par) == want,
                                "{isa}: d = {d}, t = {t}, top = {top}, {par:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// An instruction set the processor lacks is refused, naming it.
    #[test]
    fn unsupported_instruction_set_is_refused() {
        let ds = data(8, 20);
        let mut sc = EmpiricalScore::new(&ds, Precision::F32).unwrap();
        assert_eq!(sc.isa(), Isa::default_for_process().unwrap());
        for isa in Isa::ALL {
            let r = sc.set_isa(isa);
            assert_eq!(r.is_ok(), isa.supported(), "{isa}");
            if let Err(e) = r {
                assert!(e.to_string().contains(isa.name()), "{e}");
            }
        }
    }
}

#[cfg(test)]
mod segment_tests {
    use super::*;
    use crate::data::TwoClassGmm;

    /// The segments cover every tile once, in order, as evenly as whole tiles allow, and depend on N
    /// alone: one segment up to [`SEGMENT_POINTS`] points (the kernel as it was), then ⌈N / 8192⌉.
    #[test]
    fn segments_partition_the_tiles() {
        for (d, n, want) in [
            (20, 100, 1),
            (100, 8192, 1),
            (100, 8193, 2),
            (100, 20_000, 3),
            (784, 12_000, 2),
            (20, 40_000, 5),
        ] {
            let ds = TwoClassGmm::standard(d)
                .mixture(0)
                .unwrap()
                .sample(n, 1)
                .unwrap();
            let sc = EmpiricalScore::new(&ds, Precision::F32).unwrap();
            let segs = sc.segments();
            let tiles = sc.n6.div_ceil(sc.tile);
            assert_eq!(segs.len(), want, "d {d} n {n}");
            assert_eq!(segs[0].start, 0);
            assert_eq!(segs.last().unwrap().end, tiles);
            for w in segs.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert!(w[0].len() >= w[1].len() && w[0].len() - w[1].len() < want);
            }
        }
    }

    /// The f64 flash states themselves (maximum, Σw, Σw·a, posterior sums, top-2), not only the f32
    /// scores made from them, are the same bits for the sequential path and 1, 2 and 3 threads, for a
    /// batch of one block (segments in parallel waves) and one of many blocks: the segments are folded in
    /// segment order every way. (The f32 outputs hide a changed fold order, whose f64 rounding rarely
    /// reaches an f32 bit; these states do not.)
    #[test]
    fn folded_states_do_not_depend_on_threads() {
        let d = 12;
        let ds = TwoClassGmm::standard(d)
            .mixture(0)
            .unwrap()
            .sample(60_000, 2)
            .unwrap();
        let sc = EmpiricalScore::new(&ds, Precision::F32).unwrap();
        assert_eq!(sc.segments().len(), 8);
        let want = Want {
            top: true,
            posterior: true,
        };
        for b in [5usize, 300] {
            let x: Vec<f32> = ds.x[..b * d].iter().map(|&v| 0.8 * v + 0.1).collect();
            let ou = OuTime::new(0.5);
            let seq = sc.states(&x, ou, want, Par::Seq);
            for threads in [1, 2, 3] {
                let st = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap()
                    .install(|| sc.states(&x, ou, want, Par::rayon(0)));
                let bits = |s: &States| -> Vec<u64> {
                    let mut v: Vec<u64> = s.max.iter().map(|m| m.to_bits() as u64).collect();
                    for f in [&s.sum, &s.acc, &s.ent, &s.sq] {
                        v.extend(f.iter().map(|x| x.to_bits()));
                    }
                    v.extend(s.top.iter().flat_map(|t| [t.i1, t.i2, t.d1sq.to_bits()]));
                    v
                };
                assert_eq!(bits(&st), bits(&seq), "B = {b}, {threads} threads");
            }
        }
    }
}

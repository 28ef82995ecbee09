//! The exact empirical score with its training points split across ranks.

use super::comm::{shard_bounds, Comm};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::{
    check_shapes, column_sums, EmpiricalScore, Extras, Nearest, OuTime, Posterior, Precision,
    Score, States, Top, Want,
};
use faer::Par;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The exact empirical score of N training points split into contiguous shards, one per rank
/// ([`shard_bounds`]`(N, R)`), each rank holding only its shard (one packed copy, f32 kernel).
///
/// Per evaluation: every rank computes the flash-softmax partial state of every query over its shard
/// (running max m, $l = \sum 2^{y - m}$, $v = \sum 2^{y - m} (a - c)$, the top-2 with exact distances);
/// each query's states go to the query's owner rank (queries split by [`shard_bounds`]`(B, R)`), which
/// folds them in rank order ($m = \max(m_1, m_2)$, $l = l_1 2^{m_1 - m} + l_2 2^{m_2 - m}$, v likewise;
/// the top-2 by logit, ties to the lower index) and finishes the score; an all-gather returns the scores
/// to every rank. MPI only moves bytes, so the result is bit-identical on every rank, for any MPI library,
/// and equal to [`simulate`](super::simulate)d ranks with the same R. With R = 1 it is bit-identical to
/// [`EmpiricalScore`]. The points are centred on the global mean (per-shard column sums in f64, added in
/// rank order).
///
/// Every rank must make the same sequence of evaluations (the trajectories are the same on every rank).
/// The only state that changes is a set of timing counters ([`ShardedScore::timings`]), which never
/// affect results.
pub struct ShardedScore {
    local: Option<EmpiricalScore>,
    lo: usize,
    hi: usize,
    n: usize,
    d: usize,
    centre: Vec<f64>,
    comm: Arc<dyn Comm>,
    clock: Clock,
}

/// Wall time spent in the two parts of the sharded evaluations so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ShardTimings {
    /// Evaluations made.
    pub evals: u64,
    /// Seconds in this shard's kernel (the partial states).
    pub kernel_s: f64,
    /// Seconds exchanging, folding and finishing (including waits for slower ranks).
    pub merge_s: f64,
}

#[derive(Default)]
struct Clock {
    evals: AtomicU64,
    kernel_ns: AtomicU64,
    merge_ns: AtomicU64,
}

impl ShardedScore {
    /// This rank's shard: `rows` are training points `lo..hi` (row-major, `(hi − lo) × d`) of the n in
    /// all, with `lo..hi` this rank's range of [`shard_bounds`]`(n, R)`. Collective: every rank calls it.
    pub fn new(rows: &[f32], n: usize, d: usize, comm: Arc<dyn Comm>) -> Result<Self> {
        let b = shard_bounds(n, comm.size());
        let (lo, hi) = (b[comm.rank()], b[comm.rank() + 1]);
        if n == 0 || d == 0 || rows.len() != (hi - lo) * d {
            return Err(Error::shape(
                "sharded training set",
                format!(
                    "rank {} of {} holds {} values; its shard of n = {n}, d = {d} is rows {lo}..{hi}",
                    comm.rank(),
                    comm.size(),
                    rows.len()
                ),
            ));
        }
        crate::error::check_finite_f32("training set", rows, d)?;
        let sums = comm.all_gather(&column_sums(rows, d))?;
        let mut centre = sums[0].clone();
        for s in &sums[1..] {
            centre.iter_mut().zip(s).for_each(|(c, v)| *c += v);
        }
        centre.iter_mut().for_each(|c| *c /= n as f64);
        let local = if hi > lo {
            Some(EmpiricalScore::from_rows_centred(
                rows,
                hi - lo,
                d,
                Precision::F32,
                Some(centre.clone()),
            )?)
        } else {
            None
        };
        Ok(ShardedScore {
            local,
            lo,
            hi,
            n,
            d,
            centre,
            comm,
            clock: Clock::default(),
        })
    }

    /// Time spent so far in the local kernel and in the exchange and merge.
    pub fn timings(&self) -> ShardTimings {
        ShardTimings {
            evals: self.clock.evals.load(Ordering::Relaxed),
            kernel_s: self.clock.kernel_ns.load(Ordering::Relaxed) as f64 * 1e-9,
            merge_s: self.clock.merge_ns.load(Ordering::Relaxed) as f64 * 1e-9,
        }
    }

    /// This rank's shard of a data set every rank holds in full.
    pub fn from_dataset(data: &Dataset, comm: Arc<dyn Comm>) -> Result<Self> {
        let b = shard_bounds(data.n, comm.size());
        let (lo, hi) = (b[comm.rank()], b[comm.rank() + 1]);
        Self::new(&data.x[lo * data.d..hi * data.d], data.n, data.d, comm)
    }

    /// The range of training points this rank holds.
    pub fn shard(&self) -> std::ops::Range<usize> {
        self.lo..self.hi
    }

    /// The communicator.
    pub fn comm(&self) -> &Arc<dyn Comm> {
        &self.comm
    }
}

/// f64 values per query of a packed state: m, l, the top-2 (6 values, when asked), the posterior sums
/// h and q (when asked) and v (d values).
fn state_width(d: usize, want: Want) -> usize {
    2 + if want.top { 6 } else { 0 } + if want.posterior { 2 } else { 0 } + d
}

fn pack_states(st: &States, range: std::ops::Range<usize>, want: Want) -> Vec<f64> {
    let d = st.d;
    let mut buf = Vec::with_capacity(range.len() * state_width(d, want));
    for i in range {
        buf.push(st.max[i] as f64);
        buf.push(st.sum[i]);
        if want.top {
            let t = &st.top[i];
            buf.extend([
                t.y1 as f64,
                t.i1 as f64,
                t.d1sq,
                t.y2 as f64,
                t.i2 as f64,
                t.d2sq,
            ]);
        }
        if want.posterior {
            buf.extend([st.ent[i], st.sq[i]]);
        }
        buf.extend_from_slice(&st.acc[i * d..(i + 1) * d]);
    }
    buf
}

fn unpack_states(buf: &[f64], d: usize, want: Want) -> Result<States> {
    let w = state_width(d, want);
    if !buf.len().is_multiple_of(w) {
        return Err(Error::Comm {
            what: "sharded score".into(),
            detail: format!(
                "a state buffer of {} values is not a multiple of {w}",
                buf.len()
            ),
        });
    }
    let b = buf.len() / w;
    let mut st = States::empty(b, d, want);
    for (i, q) in buf.chunks_exact(w).enumerate() {
        st.max[i] = q[0] as f32;
        st.sum[i] = q[1];
        let mut rest = &q[2..];
        if want.top {
            st.top[i] = Top {
                y1: rest[0] as f32,
                i1: rest[1] as u64,
                d1sq: rest[2],
                y2: rest[3] as f32,
                i2: rest[4] as u64,
                d2sq: rest[5],
            };
            rest = &rest[6..];
        }
        if want.posterior {
            (st.ent[i], st.sq[i]) = (rest[0], rest[1]);
            rest = &rest[2..];
        }
        st.acc[i * d..(i + 1) * d].copy_from_slice(rest);
    }
    Ok(st)
}

impl ShardedScore {
    fn try_eval(
        &self,
        x: &[f32],
        t: f64,
        out: &mut [f32],
        extras: Extras<'_>,
        par: Par,
    ) -> Result<()> {
        let b = check_shapes(self.d, x, t, out, &extras);
        let (d, size, rank) = (self.d, self.comm.size(), self.comm.rank());
        let ou = OuTime::new(t);
        let want = Want::of(&extras);
        let Extras {
            log_p,
            nearest,
            posterior,
        } = extras;
        // 1. This shard's partial states of every query (global indices in the top-2).
        let t0 = Instant::now();
        let mut local = match &self.local {
            Some(s) => s.states(x, ou, want, par),
            None => States::empty(b, d, want),
        };
        for tp in &mut local.top {
            tp.i1 += self.lo as u64;
            tp.i2 += self.lo as u64;
        }
        let t1 = Instant::now();
        // 2. Each query's states to its owner, folded there in rank order.
        let qb = shard_bounds(b, size);
        let send = (0..size)
            .map(|q| pack_states(&local, qb[q]..qb[q + 1], want))
            .collect();
        let recv = self.comm.all_to_all(send)?;
        let mine = qb[rank]..qb[rank + 1];
        let mut st = States::empty(mine.len(), d, want);
        for buf in &recv {
            let other = unpack_states(buf, d, want)?;
            if other.len() != mine.len() {
                return Err(Error::Comm {
                    what: "sharded score".into(),
                    detail: format!("{} states for {} queries", other.len(), mine.len()),
                });
            }
            for i in 0..mine.len() {
                st.fold_query(i, &other, i);
            }
        }
        // 3. The owner finishes its queries; every rank gets every row: the score (f32, exact in f64),
        //    log p, the two indices and distances.
        let m = mine.len();
        let mut o = vec![0.0f32; m * d];
        let mut lp = vec![0.0f64; if log_p.is_some() { m } else { 0 }];
        let mut nn = vec![Nearest::default(); if nearest.is_some() { m } else { 0 }];
        let mut post = vec![Posterior::default(); if posterior.is_some() { m } else { 0 }];
        st.finish(
            &x[mine.start * d..mine.end * d],
            ou,
            &self.centre,
            self.n,
            &mut o,
            Extras {
                log_p: log_p.is_some().then_some(&mut lp[..]),
                nearest: nearest.is_some().then_some(&mut nn[..]),
                posterior: posterior.is_some().then_some(&mut post[..]),
            },
        );
        let w = d + 7;
        let mut buf = Vec::with_capacity(m * w);
        for i in 0..m {
            buf.extend(o[i * d..(i + 1) * d].iter().map(|&v| v as f64));
            buf.push(lp.get(i).copied().unwrap_or(0.0));
            let n = nn.get(i).copied().unwrap_or_default();
            buf.extend([n.index as f64, n.second as f64, n.d1 as f64, n.d2 as f64]);
            let p = post.get(i).copied().unwrap_or_default();
            buf.extend([p.entropy, p.effective_n]);
        }
        let all: Vec<f64> = self.comm.all_gather(&buf)?.concat();
        if all.len() != b * w {
            return Err(Error::Comm {
                what: "sharded score".into(),
                detail: format!("{} result values for {b} queries", all.len()),
            });
        }
        let (mut log_p, mut nearest, mut posterior) = (log_p, nearest, posterior);
        for (i, row) in all.chunks_exact(w).enumerate() {
            out[i * d..(i + 1) * d]
                .iter_mut()
                .zip(&row[..d])
                .for_each(|(o, &v)| *o = v as f32);
            if let Some(lp) = log_p.as_deref_mut() {
                lp[i] = row[d];
            }
            if let Some(nn) = nearest.as_deref_mut() {
                nn[i] = Nearest {
                    index: row[d + 1] as u32,
                    second: row[d + 2] as u32,
                    d1: row[d + 3] as f32,
                    d2: row[d + 4] as f32,
                };
            }
            if let Some(p) = posterior.as_deref_mut() {
                p[i] = Posterior {
                    entropy: row[d + 5],
                    effective_n: row[d + 6],
                };
            }
        }
        let ns = |d: std::time::Duration| d.as_nanos() as u64;
        self.clock.evals.fetch_add(1, Ordering::Relaxed);
        self.clock
            .kernel_ns
            .fetch_add(ns(t1 - t0), Ordering::Relaxed);
        self.clock
            .merge_ns
            .fetch_add(ns(t1.elapsed()), Ordering::Relaxed);
        Ok(())
    }
}

impl Score for ShardedScore {
    fn dim(&self) -> usize {
        self.d
    }

    fn has_training_set(&self) -> bool {
        true
    }

    fn is_exact_gradient(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!(
            "empirical score sharded over {}, N = {}, d = {} (this rank: points {}..{})",
            self.comm.describe(),
            self.n,
            self.d,
            self.lo,
            self.hi
        )
    }

    fn work_note(&self) -> Option<String> {
        let t = self.timings();
        Some(format!(
            "sharded score ({}): {} evaluations; rank {} kernel {:.3} s, exchange + merge {:.3} s ({:.2} ms per evaluation)",
            self.comm.describe(),
            t.evals,
            self.comm.rank(),
            t.kernel_s,
            t.merge_s,
            1e3 * t.merge_s / t.evals.max(1) as f64
        ))
    }

    /// # Panics
    /// Besides [`Score::eval_into`]'s conditions, when the ranks cannot exchange their states (a rank
    /// died or evaluated something else): the run cannot go on consistently.
    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par) {
        if let Err(e) = self.try_eval(x, t, out, extras, par) {
            panic!("sharded score on rank {}: {e}", self.comm.rank());
        }
    }
}

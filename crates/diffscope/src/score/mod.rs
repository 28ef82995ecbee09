//! Scores $S(x, t) = \nabla_x \log p_t(x)$ in OU time (science.md §2).
//!
//! Every score implements the object-safe [`Score`] trait: it evaluates a batch of `b` queries (row-major
//! `b × d` f32) into a buffer the caller owns, optionally filling extras from the same pass
//! (log p_t(x); nearest and second-nearest scaled training points). Implementations:
//! [`EmpiricalScore`] (exact score of a training set, fused flash-softmax kernel) and [`GmmScore`]
//! (population score of a Gaussian mixture). Time-convention converters live in [`convention`].

pub mod convention;
#[cfg(feature = "cuda")]
pub mod cuda;
mod device;
mod empirical;
pub(crate) mod fastexp;
mod flash;
mod gmm;
mod isa;
mod microkernel;

pub use convention::{delta, OuTime};
pub use device::Device;
pub(crate) use empirical::{column_sums, States, Top, Want};
pub use empirical::{empirical_score_and_jacobian, EmpiricalScore, Precision};
pub use fastexp::{exp2_f32, exp_f32};
pub use gmm::GmmScore;
pub use isa::{Isa, ISA_ENV};

use faer::Par;
use serde::{Deserialize, Serialize};

pub use crate::data::Nearest;

/// Statistics of a query's posterior over the training points, the softmax weights
/// $w_\mu = e^{\ell_\mu} / \sum_\nu e^{\ell_\nu}$ with $\ell_\mu = -|x - e^{-t} a_\mu|^2 / 2\Delta_t$
/// (science.md §2): how many points the score is still averaging over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Posterior {
    /// Entropy $H = -\sum_\mu w_\mu \ln w_\mu$ in nats: ln N for uniform weights, 0 on one point.
    pub entropy: f64,
    /// Effective number of contributing points $N_\text{eff} = 1 / \sum_\mu w_\mu^2 \in [1, N]$.
    pub effective_n: f64,
}

/// Optional outputs filled by the same pass as the score. `None` fields cost nothing.
#[derive(Default)]
pub struct Extras<'a> {
    /// $\log p_t(x)$ per query (length b).
    pub log_p: Option<&'a mut [f64]>,
    /// Nearest training points per query (length b); only for scores with a training set.
    pub nearest: Option<&'a mut [Nearest]>,
    /// Posterior entropy and effective number per query (length b); only for scores with a training
    /// set, streamed with the same running maximum as the score (no second pass over the points).
    pub posterior: Option<&'a mut [Posterior]>,
}

impl<'a> Extras<'a> {
    /// No extras.
    pub fn none() -> Extras<'static> {
        Extras::default()
    }

    /// The extras of queries `q·k … q·k + q − 1` for each block k of `b` queries (⌈b/q⌉ blocks; a field
    /// that is `None` is `None` in every block).
    pub(crate) fn chunks(self, q: usize, b: usize) -> Vec<Extras<'a>> {
        fn split<T>(v: Option<&mut [T]>, q: usize, blocks: usize) -> Vec<Option<&mut [T]>> {
            match v {
                Some(v) => v.chunks_mut(q).map(Some).collect(),
                None => (0..blocks).map(|_| None).collect(),
            }
        }
        let blocks = b.div_ceil(q);
        let lp = split(self.log_p, q, blocks);
        let nn = split(self.nearest, q, blocks);
        let post = split(self.posterior, q, blocks);
        lp.into_iter()
            .zip(nn)
            .zip(post)
            .map(|((log_p, nearest), posterior)| Extras {
                log_p,
                nearest,
                posterior,
            })
            .collect()
    }
}

/// A score field $S(x, t)$ on $\mathbb R^d$.
///
/// Object safe, `Send + Sync`, no interior state: one instance may be evaluated from many threads.
pub trait Score: Send + Sync {
    /// The dimension d.
    fn dim(&self) -> usize;

    /// Writes $S(x_i, t)$ for the `b = x.len() / d` rows of `x` into `out` (same shape), and the requested
    /// extras. `par` says how many threads the call may use.
    ///
    /// # Panics
    /// If `x.len()` is not a multiple of d, `out.len() != x.len()`, an extras slice is not of length b,
    /// `t <= 0`, or `nearest` or `posterior` is asked of a score without a training set ([`Score::has_training_set`]).
    fn eval_into(&self, x: &[f32], t: f64, out: &mut [f32], extras: Extras<'_>, par: Par);

    /// Whether [`Extras::nearest`] and [`Extras::posterior`] are available.
    fn has_training_set(&self) -> bool {
        false
    }

    /// Writes the Jacobians $J(x_i, t) = \partial S/\partial x$ of the b rows of x into `out` (b × d × d,
    /// row-major, `out[i][j][k]` = ∂S_j/∂x_k) and returns true, or returns false without writing when the
    /// score has no analytic Jacobian (callers then use central differences, [`crate::geometry::jacobian`]).
    ///
    /// # Panics
    /// If `out.len() != b·d·d` or t ≤ 0.
    fn jacobian_into(&self, _x: &[f32], _t: f64, _out: &mut [f64], _par: Par) -> bool {
        false
    }

    /// Jacobian–vector products $J(x_i, t)\, v_i$ for each row (`v` and `out` b × d) and true, or false
    /// without writing when the score has no analytic JVP (callers use central differences,
    /// [`crate::geometry::jvp`]).
    fn jvp_into(&self, _x: &[f32], _t: f64, _v: &[f32], _out: &mut [f32], _par: Par) -> bool {
        false
    }

    /// Vector–Jacobian products $v_i^\top J(x_i, t)$ for each row and true, or false when the score has
    /// none.
    fn vjp_into(&self, _x: &[f32], _t: f64, _v: &[f32], _out: &mut [f32], _par: Par) -> bool {
        false
    }

    /// Whether the field is exactly a gradient (J symmetric, so a VJP is a JVP): true for the exact
    /// empirical and population scores, false for learned ones.
    fn is_exact_gradient(&self) -> bool {
        false
    }

    /// A short human-readable description (kind and size).
    fn describe(&self) -> String;

    /// A line on the work done so far (e.g. the sharded score's kernel and merge times), for front ends;
    /// None for scores with nothing to add.
    fn work_note(&self) -> Option<String> {
        None
    }

    /// Runs the reverse SDE by Euler–Maruyama over `times` (decreasing) in place on `x` (B × d, the
    /// state at `times[0]`; row i is trajectory `first + i`, its step noise keyed by `noise_key`, the
    /// trajectory and the step) with the state, the score and the noise on this score's device, and
    /// returns true; or returns false without touching `x` when the score has no such loop (the CPU
    /// scores: [`crate::sampler::euler_maruyama`] then runs its host loop). `monitor` sees every step.
    fn euler_maruyama_on_device(
        &self,
        _x: &mut [f32],
        _times: &[f64],
        _noise_key: u64,
        _first: u64,
        _monitor: &dyn crate::progress::Monitor,
    ) -> crate::error::Result<bool> {
        Ok(false)
    }

    /// Allocating convenience: the score of `x` at `t`.
    fn eval(&self, x: &[f32], t: f64, par: Par) -> Vec<f32> {
        let mut out = vec![0.0; x.len()];
        self.eval_into(x, t, &mut out, Extras::none(), par);
        out
    }
}

/// Applies `f` to each query row of `x` with its output row of `out` (d values each), on rayon's threads
/// for `Par::Rayon`, and returns the results in row order: the loop of every score that evaluates one
/// query at a time.
pub(crate) fn map_queries<R: Send>(
    x: &[f32],
    out: &mut [f32],
    d: usize,
    par: Par,
    f: impl Fn((&[f32], &mut [f32])) -> R + Sync + Send,
) -> Vec<R> {
    use rayon::prelude::*;
    match par {
        Par::Seq => x.chunks(d).zip(out.chunks_mut(d)).map(f).collect(),
        Par::Rayon(_) => x.par_chunks(d).zip(out.par_chunks_mut(d)).map(f).collect(),
    }
}

#[track_caller]
pub(crate) fn check_shapes(d: usize, x: &[f32], t: f64, out: &[f32], extras: &Extras<'_>) -> usize {
    assert!(
        d > 0 && x.len().is_multiple_of(d),
        "x has {} values, not a multiple of d = {d}",
        x.len()
    );
    assert_eq!(out.len(), x.len(), "out must have the shape of x");
    assert!(
        t > 0.0 && t.is_finite(),
        "scores are evaluated at t > 0 (got t = {t}); Δ_0 = 0"
    );
    let b = x.len() / d;
    if let Some(l) = &extras.log_p {
        assert_eq!(l.len(), b, "log_p must have one entry per query");
    }
    if let Some(nn) = &extras.nearest {
        assert_eq!(nn.len(), b, "nearest must have one entry per query");
    }
    if let Some(p) = &extras.posterior {
        assert_eq!(p.len(), b, "posterior must have one entry per query");
    }
    b
}

/// Fills `out` (b × d × d) with `jac(x_i)` for each row, rows in parallel when `par` allows.
pub(crate) fn rows_jacobian(
    d: usize,
    x: &[f32],
    t: f64,
    out: &mut [f64],
    par: Par,
    jac: impl Fn(&[f64]) -> faer::Mat<f64> + Sync,
) {
    assert!(
        t > 0.0 && t.is_finite(),
        "Jacobians are evaluated at t > 0 (got t = {t})"
    );
    assert_eq!(out.len(), x.len() * d, "out must hold b × d × d values");
    let one = |(xi, oi): (&[f32], &mut [f64])| {
        let x64: Vec<f64> = xi.iter().map(|&v| v as f64).collect();
        let j = jac(&x64);
        for a in 0..d {
            for b in 0..d {
                oi[a * d + b] = j[(a, b)];
            }
        }
    };
    match par {
        Par::Seq => x.chunks(d).zip(out.chunks_mut(d * d)).for_each(one),
        Par::Rayon(_) => {
            use rayon::prelude::*;
            x.par_chunks(d).zip(out.par_chunks_mut(d * d)).for_each(one)
        }
    }
}

/// Fills `out` (b × d) with `f(x_i, v_i)` per row in f64, rows in parallel when `par` allows.
pub(crate) fn rows_product(
    d: usize,
    x: &[f32],
    t: f64,
    v: &[f32],
    out: &mut [f32],
    par: Par,
    f: impl Fn(&[f64], &[f64]) -> Vec<f64> + Sync,
) {
    assert!(
        t > 0.0 && t.is_finite(),
        "products are evaluated at t > 0 (got t = {t})"
    );
    assert!(
        v.len() == x.len() && out.len() == x.len(),
        "v and out must have the shape of x"
    );
    let one = |((xi, vi), oi): ((&[f32], &[f32]), &mut [f32])| {
        let x64: Vec<f64> = xi.iter().map(|&a| a as f64).collect();
        let v64: Vec<f64> = vi.iter().map(|&a| a as f64).collect();
        oi.iter_mut()
            .zip(f(&x64, &v64))
            .for_each(|(o, r)| *o = r as f32);
    };
    match par {
        Par::Seq => x
            .chunks(d)
            .zip(v.chunks(d))
            .zip(out.chunks_mut(d))
            .for_each(one),
        Par::Rayon(_) => {
            use rayon::prelude::*;
            x.par_chunks(d)
                .zip(v.par_chunks(d))
                .zip(out.par_chunks_mut(d))
                .for_each(one)
        }
    }
}

//! Scale-out (distributed.md): the exact score with its training set split across ranks
//! ([`ShardedScore`] over a [`Comm`]: MPI with the `mpi` feature, or threads of one process), and sweeps
//! split into independent shards ([`sweep`]).
//!
//! The library holds no global state: a communicator is a value the caller creates (once per process for
//! MPI, [`mpi_world`]) and hands to the score.

mod comm;
#[cfg(feature = "mpi")]
mod mpi_comm;
mod sharded;
pub mod sweep;

pub use comm::{shard_bounds, simulate, Comm, SelfComm, ThreadComm};
#[cfg(feature = "mpi")]
pub use mpi_comm::{mpi_world, MpiComm};
pub use sharded::{ShardTimings, ShardedScore};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::{EmpiricalScore, Extras, Nearest, Posterior, Precision, Score};
    use faer::Par;

    fn points(n: usize, d: usize) -> Vec<f32> {
        // Two clusters at ±1.5 along every axis plus a deterministic spread, so that at small t a few
        // points carry each softmax and at large t all of them do.
        (0..n * d)
            .map(|i| {
                let (mu, j) = (i / d, i % d);
                let sign = if mu % 2 == 0 { 1.5 } else { -1.5 };
                sign + ((mu * 7919 + j * 104_729) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    type Eval = (Vec<f32>, Vec<f64>, Vec<Nearest>, Vec<Posterior>);

    fn eval(score: &dyn Score, x: &[f32], t: f64) -> Eval {
        let b = x.len() / score.dim();
        let (mut out, mut lp, mut nn, mut post) = (
            vec![0.0; x.len()],
            vec![0.0; b],
            vec![Nearest::default(); b],
            vec![Posterior::default(); b],
        );
        score.eval_into(
            x,
            t,
            &mut out,
            Extras {
                log_p: Some(&mut lp),
                nearest: Some(&mut nn),
                posterior: Some(&mut post),
            },
            Par::rayon(0),
        );
        (out, lp, nn, post)
    }

    /// The merge of 1, 2, 3 and 5 shards (empty shards at n = 3) against the f64 reference path, with log p
    /// and the nearest points. Tolerance: the f32 kernel's stated bound, 1e-5 · max|S| on the score (its
    /// logits and weights are f32, sums f64; the fold adds only f64 rescalings), 1e-4 on log p and on the
    /// posterior's entropy (absolute) and effective number (relative). The nearest indices are exact. Every rank returns the same bits, and R = 1 is bit-identical to EmpiricalScore.
    #[test]
    fn sharded_merge_matches_the_unsharded_kernel_and_the_f64_reference() {
        for &(n, d) in &[(200usize, 13usize), (3, 4)] {
            let a = points(n, d);
            let x: Vec<f32> = points(37, d).iter().map(|v| v * 0.8 + 0.1).collect();
            let reference = EmpiricalScore::from_rows(&a, n, d, Precision::F64).unwrap();
            let single = EmpiricalScore::from_rows(&a, n, d, Precision::F32).unwrap();
            for &t in &[0.02, 0.3, 3.0] {
                let (want, want_lp, want_nn, want_post) = eval(&reference, &x, t);
                let fast = eval(&single, &x, t);
                let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                for ranks in [1usize, 2, 3, 5] {
                    let results = simulate(ranks, |c| {
                        let b = shard_bounds(n, c.size());
                        let rows = &a[b[c.rank()] * d..b[c.rank() + 1] * d];
                        eval(&ShardedScore::new(rows, n, d, c).unwrap(), &x, t)
                    });
                    for r in &results[1..] {
                        assert_eq!(
                            r, &results[0],
                            "ranks disagree (n = {n}, R = {ranks}, t = {t})"
                        );
                    }
                    let (got, lp, nn, post) = &results[0];
                    if ranks == 1 {
                        assert_eq!(&results[0], &fast, "R = 1 differs from EmpiricalScore");
                    }
                    for (g, w) in got.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-5 * scale,
                            "n {n} R {ranks} t {t}: {g} vs {w}"
                        );
                    }
                    for (g, w) in lp.iter().zip(&want_lp) {
                        assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "log p {g} vs {w}");
                    }
                    for (g, w) in nn.iter().zip(&want_nn) {
                        assert_eq!((g.index, g.second), (w.index, w.second));
                        assert!((g.d1 - w.d1).abs() <= 1e-5 * w.d1.max(1.0));
                    }
                    for (g, w) in post.iter().zip(&want_post) {
                        assert!((g.entropy - w.entropy).abs() <= 1e-4, "H {g:?} vs {w:?}");
                        let rel = (g.effective_n - w.effective_n).abs() / w.effective_n;
                        assert!(rel <= 1e-4, "N_eff {g:?} vs {w:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_shard_of_the_wrong_size_is_named() {
        let e = simulate(2, |c| {
            ShardedScore::new(&[0.0; 6], 5, 2, c)
                .err()
                .map(|e| e.to_string())
        });
        let msg = e[0].as_ref().unwrap();
        assert!(
            msg.contains("rank 0 of 2") && msg.contains("rows 0..2"),
            "{msg}"
        );
    }
}

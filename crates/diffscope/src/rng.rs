//! Reproducible random streams.
//!
//! Every random number in diffscope comes from a stream keyed by the run's seed and the *logical* position
//! of the work (trajectory index, step, data chunk), never by the thread that happens to do it. Results are
//! therefore bit-identical for any thread count and any batch split.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The generator used everywhere (Xoshiro256++).
pub type Rng = Xoshiro256PlusPlus;

/// SplitMix64 finaliser: a bijective 64-bit mix.
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 64-bit key derived from a seed and a path of integer keys (order matters).
#[inline]
pub fn derive(seed: u64, keys: &[u64]) -> u64 {
    let mut h = splitmix64(seed ^ 0x5EED_D1FF_5C09_E000);
    for &k in keys {
        h = splitmix64(h ^ splitmix64(k.wrapping_add(0x1234_5678_9ABC_DEF1)));
    }
    h
}

/// The stream for `(seed, keys...)`.
#[inline]
pub fn stream(seed: u64, keys: &[u64]) -> Rng {
    Rng::seed_from_u64(derive(seed, keys))
}

/// Domain tags so that different consumers of one seed never share a stream.
pub mod tag {
    /// Data-model sampling.
    pub const DATA: u64 = 1;
    /// Initial noise x_T of a sampler.
    pub const INIT: u64 = 2;
    /// Per-step noise of the reverse SDE.
    pub const STEP: u64 = 3;
    /// Model parameters that are quenched (directions, embeddings).
    pub const MODEL: u64 = 4;
    /// Forward-noising in experiments.
    pub const FORWARD: u64 = 5;
    /// Bootstrap resampling.
    pub const BOOTSTRAP: u64 = 6;
    /// Clone branches in cloning experiments.
    pub const CLONE: u64 = 7;
    /// Minibatches (rows, times, noise) of score-network training.
    pub const TRAIN: u64 = 8;
    /// Named sub-seeds of a run's seed ([`super::sub`]).
    pub const SUB: u64 = 9;
    /// The churn noise of EDM's stochastic sampler ([`crate::sampler::edm`]).
    pub const CHURN: u64 = 10;
    /// The fixed draws of the σ-CFDM smoothed score ([`crate::family::CfdmScore`]).
    pub const SMOOTHING: u64 = 11;
}

/// The named sub-seeds of one run's seed: each consumer that needs a seed of its own (a bootstrap, a
/// replicate, a held-out sample) takes `sub(seed, purpose, index)`, a key path under [`derive`], so two
/// consumers never coincide. (Arithmetic on the seed does: `seed + 1 == seed ^ 1` for even seeds, and
/// replicate r of seed s under `seed + r` is replicate 0 of seed s + r.)
pub mod purpose {
    /// The pointwise bootstrap CI of φ at branch time j (regimes).
    pub const PHI_POINTWISE: u64 = 1;
    /// The simultaneous (Bonferroni) bootstrap band of φ at branch time j (regimes).
    pub const PHI_SIMULTANEOUS: u64 = 2;
    /// The bootstrap CI of t_S (regimes).
    pub const T_S: u64 = 3;
    /// The bootstrap CI of t_C from φ_C (regimes).
    pub const PHI_C: u64 = 4;
    /// The surrogate's held-out test sample (universality).
    pub const SURROGATE_TEST: u64 = 5;
    /// Training split, surrogate samples and classifier of size index i, seed s (universality).
    pub const UNIVERSALITY_FIT: u64 = 6;
    /// The bootstrap CI of the data's error at size index i (universality).
    pub const CI_DATA: u64 = 7;
    /// The bootstrap CI of the surrogate's error at size index i (universality).
    pub const CI_SURROGATE: u64 = 8;
    /// The draws that estimate a manifold model's class means.
    pub const CLASS_MEANS: u64 = 9;
    /// Replicate r of a memorisation study.
    pub const REPLICATE: u64 = 10;
    /// The noised queries at time index k of the GPU bench's accuracy table.
    pub const BENCH_QUERIES: u64 = 11;
}

/// The sub-seed `index` of `purpose` ([`purpose`]) of a run's `seed`.
#[inline]
pub fn sub(seed: u64, purpose: u64, index: u64) -> u64 {
    derive(seed, &[tag::SUB, purpose, index])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng as _;

    /// The sub-seeds of every purpose and index of nearby seeds are all distinct: the collisions of
    /// seed arithmetic (`seed + 1 == seed ^ 1` for even seeds; replicate r of seed s = replicate 0 of seed
    /// s + r) cannot happen.
    #[test]
    fn sub_seeds_never_collide() {
        let mut seen = std::collections::HashSet::new();
        for seed in 0..64u64 {
            for p in 1..=11u64 {
                for i in 0..64u64 {
                    assert!(
                        seen.insert(sub(seed, p, i)),
                        "seed {seed}, purpose {p}, index {i}"
                    );
                }
            }
        }
        assert_ne!(sub(4, purpose::PHI_C, 0), sub(4, purpose::PHI_POINTWISE, 1));
        assert_ne!(
            sub(7, purpose::REPLICATE, 3),
            sub(10, purpose::REPLICATE, 0)
        );
    }

    #[test]
    fn streams_differ_by_key_and_repeat_by_key() {
        let a: u64 = stream(1, &[2, 3]).random();
        let b: u64 = stream(1, &[2, 3]).random();
        let c: u64 = stream(1, &[3, 2]).random();
        let e: u64 = stream(2, &[2, 3]).random();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, e);
    }
}

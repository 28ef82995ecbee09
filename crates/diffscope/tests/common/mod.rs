//! Helpers shared by the integration tests.

use diffscope::score::OuTime;
use rand::Rng as _;
use rand_distr::StandardNormal;

/// Forward-noised queries x = e^{-t} a + √Δ_t z with a drawn from `data` (rows of d), as a sampler sees
/// them; the draws from stream `(seed, [key])`.
pub fn forward_queries(data: &[f32], d: usize, b: usize, t: f64, seed: u64, key: u64) -> Vec<f32> {
    let n = data.len() / d;
    let mut r = diffscope::rng::stream(seed, &[key]);
    let ou = OuTime::new(t);
    let mut x = Vec::with_capacity(b * d);
    for _ in 0..b {
        let mu = r.random_range(0..n);
        for j in 0..d {
            let z: f64 = r.sample(StandardNormal);
            x.push((ou.decay * data[mu * d + j] as f64 + ou.delta.sqrt() * z) as f32);
        }
    }
    x
}

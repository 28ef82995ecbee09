//! Observables of backward runs (science.md §6), as pure functions with known-answer tests.

use crate::rng;
use rand::Rng as _;

/// Linear-interpolated t where `y(t)` crosses `level`, scanning t in increasing order; `None` if it never
/// crosses. `t` must be increasing.
pub fn crossing(t: &[f64], y: &[f64], level: f64) -> Option<f64> {
    t.windows(2).zip(y.windows(2)).find_map(|(tw, yw)| {
        let (a, b) = (yw[0] - level, yw[1] - level);
        if a == 0.0 {
            Some(tw[0])
        } else if a * b < 0.0 || b == 0.0 {
            Some(tw[0] + (tw[1] - tw[0]) * a / (a - b))
        } else {
            None
        }
    })
}

/// Fraction of `true` entries.
pub fn fraction(v: &[bool]) -> f64 {
    v.iter().filter(|&&b| b).count() as f64 / v.len().max(1) as f64
}

/// Percentile bootstrap 95 % interval: see [`bootstrap_interval`].
pub fn bootstrap_ci(
    agree: &[Vec<bool>],
    reps: usize,
    seed: u64,
    stat: &dyn Fn(&[f64]) -> Option<f64>,
) -> Option<(f64, f64)> {
    bootstrap_interval(agree, reps, seed, stat, 0.95)
}

/// Percentile bootstrap: for each replicate r (stream `(seed, BOOTSTRAP, r)`), resample the pair indices
/// of every branch time and call `stat` with the resampled agreement fractions; returns the
/// ((1 − level)/2, (1 + level)/2) quantiles of the non-missing statistics.
pub fn bootstrap_interval(
    agree: &[Vec<bool>],
    reps: usize,
    seed: u64,
    stat: &dyn Fn(&[f64]) -> Option<f64>,
    level: f64,
) -> Option<(f64, f64)> {
    let mut vals: Vec<f64> = (0..reps)
        .filter_map(|r| {
            let mut g = rng::stream(seed, &[rng::tag::BOOTSTRAP, r as u64]);
            let fr: Vec<f64> = agree
                .iter()
                .map(|a| {
                    let n = a.len();
                    (0..n).filter(|_| a[g.random_range(0..n)]).count() as f64 / n.max(1) as f64
                })
                .collect();
            stat(&fr)
        })
        .collect();
    if vals.len() < reps / 2 {
        return None;
    }
    vals.sort_by(f64::total_cmp);
    let q = |p: f64| vals[((p * (vals.len() - 1) as f64).round() as usize).min(vals.len() - 1)];
    Some((q(0.5 * (1.0 - level)), q(0.5 * (1.0 + level))))
}

/// Per-trajectory collapse time: the time at which the nearest training point last changed.
/// `nearest[k][i]` is trajectory i's nearest index at `times[k]` (times decreasing). Returns the time of
/// the last step k at which `nearest[k][i] != nearest[k-1][i]`; a trajectory whose nearest point never
/// changes gets `times[0]`.
pub fn last_change_times(times: &[f64], nearest: &[Vec<u32>]) -> Vec<f64> {
    let b = nearest.first().map_or(0, Vec::len);
    (0..b)
        .map(|i| {
            let mut t = times[0];
            for k in 1..nearest.len() {
                if nearest[k][i] != nearest[k - 1][i] {
                    t = times[k];
                }
            }
            t
        })
        .collect()
}

/// Mean, standard deviation and median.
pub fn mean_sd_median(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let median = if s.is_empty() {
        f64::NAN
    } else if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        0.5 * (s[s.len() / 2 - 1] + s[s.len() / 2])
    };
    (mean, sd, median)
}

/// Nearest class centroid of `x` among centroids scaled by `decay` (= e^{-t}): the class rule of
/// science.md §6 (for ±m it is sign(m·x)).
pub fn nearest_centroid(x: &[f32], centroids: &[Vec<f64>], decay: f64) -> usize {
    centroids
        .iter()
        .map(|c| {
            c.iter()
                .zip(x)
                .map(|(&ci, &xi)| (xi as f64 - decay * ci).powi(2))
                .sum::<f64>()
        })
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(k, _)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossing_interpolates_linearly() {
        let t = [0.0, 1.0, 2.0, 3.0];
        let y = [1.0, 0.9, 0.7, 0.5];
        assert!((crossing(&t, &y, 0.775).unwrap() - 1.625).abs() < 1e-12);
        assert_eq!(crossing(&t, &y, 0.2), None);
        assert_eq!(crossing(&t, &y, 0.9), Some(1.0));
    }

    #[test]
    fn last_change_and_centroids() {
        let times = [3.0, 2.0, 1.0, 0.5];
        let nn = vec![vec![1, 5], vec![2, 5], vec![3, 5], vec![3, 5]];
        assert_eq!(last_change_times(&times, &nn), vec![1.0, 3.0]);
        let c = vec![vec![-1.0, -1.0], vec![1.0, 1.0]];
        assert_eq!(nearest_centroid(&[0.3, 0.1], &c, 0.5), 1);
        assert_eq!(nearest_centroid(&[-0.3, 0.1], &c, 0.5), 0);
        let (m, s, med) = mean_sd_median(&[1.0, 2.0, 3.0, 10.0]);
        assert_eq!((m, med), (4.0, 2.5));
        assert!((s - (50.0f64 / 3.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_of_all_agreeing_pairs_is_degenerate_at_one() {
        let agree = vec![vec![true; 50], vec![true; 50]];
        let ci = bootstrap_ci(&agree, 200, 1, &|f| Some(f[0])).unwrap();
        assert_eq!(ci, (1.0, 1.0));
        let half: Vec<bool> = (0..400).map(|i| i % 2 == 0).collect();
        let (lo, hi) = bootstrap_ci(&[half], 400, 2, &|f| Some(f[0])).unwrap();
        // sd of a fraction of 400 fair coins is 0.025: the 95 % interval is ≈ 0.5 ± 0.049.
        assert!(
            lo > 0.43 && lo < 0.48 && hi > 0.52 && hi < 0.57,
            "{lo} {hi}"
        );
    }
}

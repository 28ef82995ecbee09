//! Composite Gauss–Legendre quadrature (8 nodes per panel).

/// Nodes and weights of the 8-point Gauss–Legendre rule on [−1, 1].
const GL8: [(f64, f64); 8] = [
    (-0.960_289_856_497_536_2, 0.101_228_536_290_376_26),
    (-0.796_666_477_413_626_7, 0.222_381_034_453_374_47),
    (-0.525_532_409_916_329_0, 0.313_706_645_877_887_3),
    (-0.183_434_642_495_649_8, 0.362_683_783_378_362_0),
    (0.183_434_642_495_649_8, 0.362_683_783_378_362_0),
    (0.525_532_409_916_329_0, 0.313_706_645_877_887_3),
    (0.796_666_477_413_626_7, 0.222_381_034_453_374_47),
    (0.960_289_856_497_536_2, 0.101_228_536_290_376_26),
];

/// $\int_a^b f$ by `panels` equal panels of 8-point Gauss–Legendre (exact for polynomials of degree 15
/// per panel; for smooth f the error falls like $h^{16}$).
pub fn integrate(f: &dyn Fn(f64) -> f64, a: f64, b: f64, panels: usize) -> f64 {
    if b <= a {
        return 0.0;
    }
    let h = (b - a) / panels as f64;
    (0..panels)
        .map(|p| {
            let c = a + (p as f64 + 0.5) * h;
            GL8.iter()
                .map(|&(x, w)| w * f(c + 0.5 * h * x))
                .sum::<f64>()
                * 0.5
                * h
        })
        .sum()
}

/// Calls `visit(x, w)` for every node and weight of the composite 8-point rule on [a, b] with `panels`
/// panels (so that callers can build their own weighted sums).
pub fn nodes(a: f64, b: f64, panels: usize, visit: &mut dyn FnMut(f64, f64)) {
    let h = (b - a) / panels as f64;
    for p in 0..panels {
        let c = a + (p as f64 + 0.5) * h;
        for &(x, w) in &GL8 {
            visit(c + 0.5 * h * x, 0.5 * h * w);
        }
    }
}

/// Nodes of a composite 8-point rule over a union of intervals `(lo, hi, width)`: the real line is cut at
/// every interval end, each piece covered by at least one interval gets panels no wider than the smallest
/// `width` of the intervals covering it, and `visit(x, w)` is called for every node. Pieces covered by no
/// interval are skipped (the caller states why their contribution is negligible).
pub fn nodes_on(intervals: &[(f64, f64, f64)], visit: &mut dyn FnMut(f64, f64)) {
    let mut cuts: Vec<f64> = intervals
        .iter()
        .filter(|iv| iv.1 > iv.0)
        .flat_map(|iv| [iv.0, iv.1])
        .collect();
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let width = intervals
            .iter()
            .filter(|iv| iv.0 <= a && iv.1 >= b && iv.2 > 0.0)
            .map(|iv| iv.2)
            .fold(f64::INFINITY, f64::min);
        if width.is_finite() {
            let panels = ((b - a) / width).ceil().max(1.0) as usize;
            nodes(a, b, panels, visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_on_a_union_integrates_each_covered_piece_once() {
        // ∫ x² over [0, 1] ∪ [0.5, 2] ∪ [3, 4] = 8/3 + (64 − 27)/3: overlaps counted once, the gap skipped.
        let mut s = 0.0;
        nodes_on(
            &[(0.0, 1.0, 0.1), (0.5, 2.0, 1.0), (3.0, 4.0, 0.5)],
            &mut |x, w| s += w * x * x,
        );
        assert!((s - (8.0 / 3.0 + 37.0 / 3.0)).abs() < 1e-12, "{s}");
        // The panel width is the smallest of the covering intervals: 10 panels on [0, 0.5], 5 on [0.5, 1].
        let mut n = 0;
        nodes_on(&[(0.0, 1.0, 0.1), (0.5, 2.0, 1.0)], &mut |_, _| n += 1);
        assert_eq!(n, 8 * (5 + 5 + 1));
    }
}

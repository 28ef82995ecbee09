//! The family against brute-force f64 references and its known limits.

use super::*;
use crate::data::TwoClassGmm;
use crate::score::{OuTime, Posterior};

fn queries(a: &[f32], d: usize, b: usize, t: f64, seed: u64) -> Vec<f32> {
    use rand::Rng;
    use rand_distr::StandardNormal;
    let mut r = crate::rng::stream(seed, &[3]);
    let (ou, n) = (OuTime::new(t), a.len() / d);
    let mut x = Vec::new();
    for _ in 0..b {
        let mu = r.random_range(0..n);
        for j in 0..d {
            let z: f64 = r.sample(StandardNormal);
            x.push((ou.decay * a[mu * d + j] as f64 + ou.delta.sqrt() * z) as f32);
        }
    }
    x
}

fn gmm(d: usize, n: usize, seed: u64) -> Dataset {
    TwoClassGmm::standard(d)
        .mixture(0)
        .unwrap()
        .sample(n, seed)
        .unwrap()
}

/// Max over entries of |got − want| relative to the largest |want| (the score's scale).
fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0, f64::max)
        / scale
}

/// σ-smoothed score against the brute-force mixture score with variance Δ' = e^{-2t}σ² + Δ (f64), and σ = 0
/// bit for bit the exact score. Tolerance 1e-5 of the score's scale: the f32 kernel's bound (the map
/// x/c adds one f32 rounding).
#[test]
fn smoothed_score_matches_the_brute_force_kernel_density_score() {
    let (d, n) = (10, 400);
    let data = gmm(d, n, 1);
    for &sigma in &[0.3, 1.0] {
        let sc = SmoothedScore::new(&data, sigma).unwrap();
        for &t in &[0.01, 0.2, 1.5] {
            let x = queries(&data.x, d, 23, t, 2);
            let got = sc.eval(&x, t, Par::rayon(0));
            let ou = OuTime::new(t);
            let dp = ou.decay * ou.decay * sigma * sigma + ou.delta;
            let mut want = Vec::new();
            for q in x.chunks(d) {
                let l: Vec<f64> = data
                    .x
                    .chunks(d)
                    .map(|r| {
                        -r.iter()
                            .zip(q)
                            .map(|(&a, &v)| (v as f64 - ou.decay * a as f64).powi(2))
                            .sum::<f64>()
                            / (2.0 * dp)
                    })
                    .collect();
                let m = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = l.iter().map(|v| (v - m).exp()).collect();
                let z: f64 = w.iter().sum();
                for j in 0..d {
                    let mean: f64 = data
                        .x
                        .chunks(d)
                        .zip(&w)
                        .map(|(r, w)| w * r[j] as f64)
                        .sum::<f64>()
                        / z;
                    want.push((ou.decay * mean - q[j] as f64) / dp);
                }
            }
            let e = rel_err(&got, &want);
            assert!(e < 1e-5, "σ {sigma} t {t}: {e:e}");
        }
    }
    let exact = EmpiricalScore::new(&data, Precision::F32).unwrap();
    let zero = SmoothedScore::new(&data, 0.0).unwrap();
    let x = queries(&data.x, d, 16, 0.1, 4);
    assert_eq!(zero.eval(&x, 0.1, Par::Seq), exact.eval(&x, 0.1, Par::Seq));
    assert!(SmoothedScore::new(&data, -1.0).is_err());
}

/// σ-CFDM against its definition in f64 with the same draws: $(e^{-t}\frac1M\sum_m m^*(x + σε_m) - x)/Δ$
/// with every posterior mean brute-forced. Tolerance 2e-5 of the score's scale: the f32 kernel's 1e-5
/// bound plus the f32 rounding of the perturbed points. Also: σ = 0 is the exact score bit for bit, one
/// training point makes every σ exact (the posterior mean is that point), the result does not depend on
/// the batch, and bad parameters are refused.
#[test]
fn cfdm_matches_its_definition_and_its_limits() {
    let (d, n, m) = (6, 200, 5);
    let data = gmm(d, n, 11);
    for &sigma in &[0.2, 1.0] {
        let sc = CfdmScore::new(&data, sigma, m, 7).unwrap();
        for &t in &[0.01, 0.3, 2.0] {
            let ou = OuTime::new(t);
            let x = queries(&data.x, d, 9, t, 3);
            let got = sc.eval(&x, t, Par::rayon(0));
            let mut want = Vec::new();
            for q in x.chunks(d) {
                let mut mean = vec![0.0; d];
                for e in sc.draws().chunks(d) {
                    let y: Vec<f64> = q
                        .iter()
                        .zip(e)
                        .map(|(&v, &e)| v as f64 + sigma * e)
                        .collect();
                    for (acc, v) in mean.iter_mut().zip(posterior_mean_f64(&data.x, d, &y, ou)) {
                        *acc += v / m as f64;
                    }
                }
                want.extend(
                    q.iter()
                        .zip(&mean)
                        .map(|(&v, mu)| (ou.decay * mu - v as f64) / ou.delta),
                );
            }
            let e = rel_err(&got, &want);
            assert!(e < 2e-5, "σ {sigma} t {t}: {e:e}");
            // Batch independence: one query at a time gives the same bits.
            let single: Vec<f32> = x.chunks(d).flat_map(|q| sc.eval(q, t, Par::Seq)).collect();
            assert_eq!(single, got, "σ {sigma} t {t}");
        }
    }
    let exact = EmpiricalScore::new(&data, Precision::F32).unwrap();
    let x = queries(&data.x, d, 16, 0.1, 4);
    let zero = CfdmScore::new(&data, 0.0, 3, 0).unwrap();
    assert_eq!(zero.eval(&x, 0.1, Par::Seq), exact.eval(&x, 0.1, Par::Seq));
    let one = Dataset::new(data.x[..d].to_vec(), 1, d, "one point").unwrap();
    let want: Vec<f64> = exact_f64(&one.x, d, &x, 0.1);
    let got = CfdmScore::new(&one, 2.0, 4, 1)
        .unwrap()
        .eval(&x, 0.1, Par::Seq);
    assert!(rel_err(&got, &want) < 1e-5);
    assert!(CfdmScore::new(&data, -0.1, 3, 0).is_err());
    assert!(CfdmScore::new(&data, 0.1, 0, 0).is_err());
    assert!(CfdmScore::new(&data, f64::NAN, 3, 0).is_err());
}

/// σ-CFDM is the exact score convolved with N(0, σ²) in the units of x, checked against an independent
/// quadrature: with two points ±1 in d = 1 the posterior mean is tanh(e^{-t} y / Δ), so
/// $S_σ(x) = (e^{-t}\int \tanh(e^{-t}(x + σz)/Δ)\,φ(z)\,dz - x)/Δ$, integrated on a fine grid (the
/// trapezoid rule is spectrally accurate for this smooth, Gaussian-decaying integrand). The estimate with
/// M = 4000 draws must agree within 5 standard errors of its own draws. A wrong width (σ e^{-t} instead
/// of σ) moves it by > 30 standard errors at these settings.
#[test]
fn cfdm_converges_to_the_gaussian_convolution_of_the_exact_score() {
    let data = Dataset::new(vec![1.0, -1.0], 2, 1, "two points").unwrap();
    let (sigma, m) = (0.8, 4000);
    let sc = CfdmScore::new(&data, sigma, m, 5).unwrap();
    for &(t, x) in &[(0.5, 0.3f32), (1.0, -0.6), (0.2, 0.05)] {
        let ou = OuTime::new(t);
        let den = |y: f64| ou.decay * (ou.decay * y / ou.delta).tanh();
        let h = 1e-3;
        let quad: f64 = (-8000..=8000)
            .map(|i| {
                let z = i as f64 * h;
                den(x as f64 + sigma * z) * (-z * z / 2.0).exp() * h
            })
            .sum::<f64>()
            / (2.0 * std::f64::consts::PI).sqrt();
        let want = (quad - x as f64) / ou.delta;
        let got = sc.eval(&[x], t, Par::Seq)[0] as f64;
        // Standard error of the draws' mean denoiser, in score units.
        let draws: Vec<f64> = sc
            .draws()
            .iter()
            .map(|&e| den(x as f64 + sigma * e))
            .collect();
        let mean = draws.iter().sum::<f64>() / m as f64;
        let var = draws.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1) as f64;
        let se = (var / m as f64).sqrt() / ou.delta;
        assert!(
            (got - want).abs() < 5.0 * se,
            "t {t} x {x}: {got} vs {want} (se {se:e})"
        );
    }
}

/// kNN: k = N is the exact score (f64 reference to 1e-9 of the scale: both in f64, different order of
/// sums), k < N matches a brute-force top-k softmax, its posterior is over the k points (N_eff ≤ k), and
/// the certified tail bound bounds the true omitted mass.
/// Every point's logit $-|x - e^{-t}a_\mu|^2/2\Delta_t$ in f64, by decreasing logit (ties to the smaller
/// index).
fn knn_logits_f64(a: &[f32], d: usize, q: &[f32], ou: OuTime) -> Vec<(f64, usize)> {
    let mut l: Vec<(f64, usize)> = a
        .chunks(d)
        .enumerate()
        .map(|(mu, r)| {
            let d2: f64 = r
                .iter()
                .zip(q)
                .map(|(&a, &v)| (v as f64 - ou.decay * a as f64).powi(2))
                .sum();
            (-d2 / (2.0 * ou.delta), mu)
        })
        .collect();
    l.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    l
}

/// The f32 screen cannot tell near-tied points apart: every seventh point lies at distance 1 from a
/// centre c with |c| = 4 (up to the f32 rounding of its coordinates, ~10⁻⁸ relative), the query is e^{-t}c,
/// so the screen's products x·a (~16) err by far more than the ties' spread. The candidates it keeps must
/// still contain the k nearest in f64, so the nearest point and the posterior mean are the brute-force
/// ones exactly. Distinct random directions make any wrong choice move the mean by O(1/k).
#[test]
fn knn_screen_keeps_the_f64_selection_among_near_ties() {
    use rand::Rng;
    use rand_distr::StandardNormal;
    let (d, n, k) = (40, 400, 5);
    let mut r = crate::rng::stream(21, &[1]);
    let centre: Vec<f64> = (0..d)
        .map(|j| if j % 2 == 0 { 0.9 } else { -0.9 })
        .collect();
    let mut a = Vec::with_capacity(n * d);
    for mu in 0..n {
        let v: Vec<f64> = (0..d).map(|_| r.sample(StandardNormal)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let radius = if mu % 7 == 3 {
            1.0
        } else {
            1.0 + r.random_range(0.01..0.5)
        };
        a.extend(
            v.iter()
                .zip(&centre)
                .map(|(x, c)| (c + x / norm * radius) as f32),
        );
    }
    let data = Dataset::new(a, n, d, "near ties").unwrap();
    let sc = KnnScore::new(&data, k).unwrap();
    for &t in &[0.05, 1.0] {
        let ou = OuTime::new(t);
        let x: Vec<f32> = centre.iter().map(|c| (ou.decay * c) as f32).collect();
        let mut nearest = vec![crate::score::Nearest::default(); 1];
        let mut got = vec![0.0f32; d];
        let ex = Extras {
            nearest: Some(&mut nearest),
            ..Extras::default()
        };
        sc.eval_into(&x, t, &mut got, ex, Par::Seq);
        let l = knn_logits_f64(&data.x, d, &x, ou);
        assert_eq!(nearest[0].index as usize, l[0].1, "t {t}");
        assert_eq!(nearest[0].second as usize, l[1].1, "t {t}");
        let top = l[0].0;
        let z: f64 = l[..k].iter().map(|p| (p.0 - top).exp()).sum();
        for j in 0..d {
            let mean: f64 = l[..k]
                .iter()
                .map(|&(lv, mu)| (lv - top).exp() * data.x[mu * d + j] as f64)
                .sum::<f64>()
                / z;
            let want = (ou.decay * mean - x[j] as f64) / ou.delta;
            assert!(
                (got[j] as f64 - want).abs() <= 1e-6 * want.abs().max(1.0),
                "t {t} j {j}"
            );
        }
    }
}

#[test]
fn knn_matches_brute_force_and_k_equal_n_is_exact() {
    let (d, n) = (37, 300); // the lane sums' full chunks and a remainder
    let data = gmm(d, n, 5);
    for &t in &[0.02, 0.3, 2.0] {
        let x = queries(&data.x, d, 17, t, 6);
        let all = KnnScore::new(&data, n).unwrap();
        let e = rel_err(
            &all.eval(&x, t, Par::rayon(0)),
            &exact_f64(&data.x, d, &x, t),
        );
        // f32 output: 2^-24 relative rounding of each entry.
        assert!(e < 1e-6, "k = N, t {t}: {e:e}");
        let k = 12;
        let sc = KnnScore::new(&data, k).unwrap();
        let mut post = vec![Posterior::default(); 17];
        let mut got = vec![0.0f32; x.len()];
        let ex = Extras {
            posterior: Some(&mut post),
            ..Extras::default()
        };
        sc.eval_into(&x, t, &mut got, ex, Par::Seq);
        let ou = OuTime::new(t);
        let bounds = sc.tail_bound(&x, t);
        for (qi, q) in x.chunks(d).enumerate() {
            let l = knn_logits_f64(&data.x, d, q, ou);
            let kept = &l[..k];
            let top = kept.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = kept.iter().map(|p| (p.0 - top).exp()).sum();
            let omitted: f64 = l[k..].iter().map(|p| (p.0 - top).exp()).sum::<f64>() / z;
            assert!(
                omitted <= bounds[qi] * (1.0 + 1e-12),
                "tail {omitted} > bound {}",
                bounds[qi]
            );
            for j in 0..d {
                let mean: f64 = kept
                    .iter()
                    .map(|&(lv, mu)| (lv - top).exp() * data.x[mu * d + j] as f64)
                    .sum::<f64>()
                    / z;
                let want = (ou.decay * mean - q[j] as f64) / ou.delta;
                let g = got[qi * d + j] as f64;
                assert!(
                    (g - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "t {t}: {g} vs {want}"
                );
            }
            assert!(post[qi].effective_n <= k as f64 + 1e-9);
        }
    }
    assert!(KnnScore::new(&data, 0).is_err());
}

/// Wiener: −(e^{-2t}C + Δ I)^{-1}(x − e^{-t} m) with the data's mean and covariance, solved here by
/// Gauss–Jordan elimination in f64 (independent of the eigendecomposition the score uses); 1e-6 of the
/// scale (f32 output).
#[test]
fn wiener_is_the_gaussian_linear_denoiser_of_the_data_moments() {
    let (d, n) = (37, 500); // the lane sums' full chunks and a remainder
    let data = gmm(d, n, 7);
    let sc = wiener(&data).unwrap();
    let mean: Vec<f64> = (0..d)
        .map(|j| data.x.chunks(d).map(|r| r[j] as f64).sum::<f64>() / n as f64)
        .collect();
    let cov = |i: usize, j: usize| {
        data.x
            .chunks(d)
            .map(|r| (r[i] as f64 - mean[i]) * (r[j] as f64 - mean[j]))
            .sum::<f64>()
            / (n as f64 - 1.0)
    };
    for &t in &[0.05, 0.7, 3.0] {
        let ou = OuTime::new(t);
        let x = queries(&data.x, d, 5, t, 8);
        let got = sc.eval(&x, t, Par::Seq);
        let mut want = Vec::new();
        for q in x.chunks(d) {
            // Augmented system [A | b], A = e^{-2t} C + Δ I, b = −(x − e^{-t} m).
            let mut m: Vec<Vec<f64>> = (0..d)
                .map(|i| {
                    let mut row: Vec<f64> = (0..d)
                        .map(|j| {
                            ou.decay * ou.decay * cov(i, j) + if i == j { ou.delta } else { 0.0 }
                        })
                        .collect();
                    row.push(-(q[i] as f64 - ou.decay * mean[i]));
                    row
                })
                .collect();
            for c in 0..d {
                let piv = (c..d)
                    .max_by(|&a, &b| m[a][c].abs().total_cmp(&m[b][c].abs()))
                    .unwrap();
                m.swap(c, piv);
                let p = m[c][c];
                m[c].iter_mut().for_each(|v| *v /= p);
                for r in 0..d {
                    if r != c {
                        let f = m[r][c];
                        let pivot_row = m[c].clone();
                        m[r].iter_mut()
                            .zip(&pivot_row)
                            .for_each(|(v, &pv)| *v -= f * pv);
                    }
                }
            }
            want.extend(m.iter().map(|r| r[d]));
        }
        let e = rel_err(&got, &want);
        assert!(e < 1e-6, "t {t}: {e:e}");
    }
}

/// Brute-force patch machine, written from the definition: for each pixel p and candidate (μ, q), the
/// squared distance of the padded C × P × P patches around p in x and around q in e^{-t} a_μ, one softmax
/// per pixel in f64, D_p = Σ w a_μ(·, q).
fn patch_brute(
    a: &[f32],
    shape: (usize, usize, usize),
    kind: PatchKind,
    pad: Padding,
    p: usize,
    x: &[f32],
    t: f64,
) -> Vec<f64> {
    let (ch, h, w) = shape;
    let ou = OuTime::new(t);
    let px = |img: &[f32], c: usize, i: isize, j: isize| -> f64 {
        let (hi, wi) = (h as isize, w as isize);
        let (i, j) = match pad {
            Padding::Circular => (i.rem_euclid(hi), j.rem_euclid(wi)),
            Padding::Zero if i < 0 || j < 0 || i >= hi || j >= wi => return 0.0,
            Padding::Zero => (i, j),
        };
        img[(c * h + i as usize) * w + j as usize] as f64
    };
    let r = (p / 2) as isize;
    let d = ch * h * w;
    let mut out = Vec::new();
    for q in x.chunks(d) {
        let mut den = vec![0.0; d];
        for i in 0..h as isize {
            for j in 0..w as isize {
                let mut cands: Vec<(f64, &[f32], isize, isize)> = Vec::new();
                for img in a.chunks(d) {
                    let centres: Vec<(isize, isize)> = match kind {
                        PatchKind::Local => vec![(i, j)],
                        PatchKind::Equivariant => (0..h as isize)
                            .flat_map(|qi| (0..w as isize).map(move |qj| (qi, qj)))
                            .collect(),
                    };
                    for (qi, qj) in centres {
                        let mut d2 = 0.0;
                        for c in 0..ch {
                            for u in -r..=r {
                                for v in -r..=r {
                                    let diff = px(q, c, i + u, j + v)
                                        - ou.decay * px(img, c, qi + u, qj + v);
                                    d2 += diff * diff;
                                }
                            }
                        }
                        cands.push((-d2 / (2.0 * ou.delta), img, qi, qj));
                    }
                }
                let m = cands.iter().map(|c| c.0).fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = cands.iter().map(|c| (c.0 - m).exp()).sum();
                for c in 0..ch {
                    let v: f64 = cands
                        .iter()
                        .map(|cd| (cd.0 - m).exp() * px(cd.1, c, cd.2, cd.3))
                        .sum::<f64>()
                        / z;
                    den[(c * h + i as usize) * w + j as usize] = v;
                }
            }
        }
        out.extend(
            den.iter()
                .zip(q)
                .map(|(&dv, &xv)| (ou.decay * dv - xv as f64) / ou.delta),
        );
    }
    out
}

/// LS and ELS, zero and circular padding, patch sizes 1, 3, 5, 7 and 17, on 2-channel 5 × 6 images,
/// against the brute force (the f32 path's register blocks for P ≤ 15, with a column block of 4 (P ≤ 5)
/// or 2 (P = 7) and its one-column form where the map is narrower than the block; its ring of map rows
/// for P = 17): 1e-6 of the scale (the sums are f64 but each weight goes through the f32 exp, ≤ 3e-7
/// relative, and the output is rounded to f32; measured ≤ 5e-8).
#[test]
fn patch_machines_match_the_brute_force_definition() {
    let shape = (2, 5, 6);
    let d = 60;
    // 21 images: one full group of 16 lanes and a partial one (5 live lanes) on the f32 path.
    let data = gmm(d, 21, 9);
    let mut worst = [0.0f64; 2];
    for (pi, precision) in [Precision::F64, Precision::F32].into_iter().enumerate() {
        for kind in [PatchKind::Local, PatchKind::Equivariant] {
            for pad in [Padding::Zero, Padding::Circular] {
                // P = 17 under zero padding only: circular, a 17 × 17 patch wraps three times round a
                // 5 × 6 image, and its distances (578 terms, ~10³) carry the f32 path's documented
                // 2(P − 1) roundings, 2.8e-6 of the score here, which is no bug of either path.
                let sizes: &[usize] = match pad {
                    Padding::Zero => &[1, 3, 5, 7, 17],
                    Padding::Circular => &[1, 3, 5, 7],
                };
                for &p in sizes {
                    let sc = PatchScore::new(
                        &data,
                        shape,
                        kind,
                        pad,
                        PatchSchedule::fixed(p),
                        precision,
                    )
                    .unwrap();
                    for &t in &[0.05, 0.5, 2.0] {
                        let x = queries(&data.x, d, 3, t, 10);
                        let got = sc.eval(&x, t, Par::rayon(0));
                        let want = patch_brute(&data.x, shape, kind, pad, p, &x, t);
                        let e = rel_err(&got, &want);
                        worst[pi] = worst[pi].max(e);
                        assert!(
                            e < 1e-6,
                            "{precision:?} {kind:?} {pad:?} P {p} t {t}: {e:e}"
                        );
                    }
                }
            }
        }
    }
    eprintln!(
        "patch machines vs brute force, worst: f64 {:.1e}, f32 {:.1e}",
        worst[0], worst[1]
    );
}

/// Known limits. LS with a patch that covers the whole image from every pixel (zero padding, P = 2H − 1;
/// circular, P = H for odd H = W) is the exact score; ELS with circular padding and P = H is the exact
/// score of the training set augmented by all circular shifts of each image.
#[test]
fn full_patches_recover_the_exact_score() {
    let (h, d) = (5, 25);
    let data = gmm(d, 9, 11);
    let shape = (1, h, h);
    for (pad, p) in [(Padding::Zero, 2 * h - 1), (Padding::Circular, h)] {
        let ls = PatchScore::new(
            &data,
            shape,
            PatchKind::Local,
            pad,
            PatchSchedule::fixed(p),
            Precision::F32,
        )
        .unwrap();
        for &t in &[0.05, 0.5] {
            let x = queries(&data.x, d, 4, t, 12);
            let e = rel_err(&ls.eval(&x, t, Par::Seq), &exact_f64(&data.x, d, &x, t));
            assert!(e < 1e-6, "LS {pad:?}: {e:e}");
        }
    }
    let mut shifted = Vec::new();
    for img in data.x.chunks(d) {
        for si in 0..h {
            for sj in 0..h {
                for i in 0..h {
                    for j in 0..h {
                        shifted.push(img[((i + si) % h) * h + (j + sj) % h]);
                    }
                }
            }
        }
    }
    let els = PatchScore::new(
        &data,
        shape,
        PatchKind::Equivariant,
        Padding::Circular,
        PatchSchedule::fixed(h),
        Precision::F32,
    )
    .unwrap();
    for &t in &[0.05, 0.5] {
        let x = queries(&data.x, d, 4, t, 13);
        let e = rel_err(&els.eval(&x, t, Par::Seq), &exact_f64(&shifted, d, &x, t));
        assert!(e < 1e-6, "ELS circular: {e:e}");
    }
}

#[test]
fn patch_schedules_and_specs_parse_and_are_checked() {
    let s: FamilySpec = "els:patch=3@0.2/7@1/15,padding=circular".parse().unwrap();
    let FamilySpec::Patch { schedule, .. } = &s else {
        panic!("{s:?}")
    };
    assert_eq!(
        (
            schedule.at(0.1),
            schedule.at(0.2),
            schedule.at(0.5),
            schedule.at(9.0)
        ),
        (3, 3, 7, 15)
    );
    assert_eq!(s.to_string(), "els:patch=3@0.2/7@1/15,padding=circular");
    assert_eq!(
        "knn:k=5".parse::<FamilySpec>().unwrap(),
        FamilySpec::Knn { k: 5 }
    );
    assert_eq!(
        "cfdm:sigma=0.5".parse::<FamilySpec>().unwrap(),
        FamilySpec::Cfdm {
            sigma: 0.5,
            m: FamilySpec::CFDM_DRAWS,
            seed: 0
        }
    );
    for name in ["mask:k=7", "mask:tau=0.25", "cfdm:sigma=0.1,m=4,seed=3"] {
        assert_eq!(name.parse::<FamilySpec>().unwrap().to_string(), name);
    }
    for bad in [
        "ls:patch=4",
        "ls",
        "knn:k=x",
        "els:patch=3@1/5@0.5/7",
        "foo",
        "knn:k=3,sigma=1",
        "ls:patch=3,shape=2x2",
        "mask",
        "mask:k=3,tau=0.1",
        "cfdm",
        "cfdm:sigma=0.1,m=x",
        "cfdm:sigma=0.1,k=3",
        "els:patch=3,precision=f16",
    ] {
        assert!(bad.parse::<FamilySpec>().is_err(), "{bad}");
    }
    let data = gmm(10, 5, 1);
    assert!(FamilySpec::Patch {
        kind: PatchKind::Local,
        padding: Padding::Zero,
        schedule: PatchSchedule::fixed(3),
        shape: None,
        precision: Precision::F32,
    }
    .build(&data)
    .is_err());
}

/// The Wiener sensitivity by an independent route: $W_t = e^{-t} C (e^{-2t} C + \Delta_t I)^{-1}$ by
/// Gauss–Jordan elimination in f64 (the score takes the eigendecomposition), C the unbiased covariance.
fn sensitivity_brute(a: &[f32], d: usize, t: f64) -> Vec<Vec<f64>> {
    let (ou, n) = (OuTime::new(t), a.len() / d);
    let mean: Vec<f64> = (0..d)
        .map(|j| a.chunks(d).map(|r| r[j] as f64).sum::<f64>() / n as f64)
        .collect();
    let c: Vec<Vec<f64>> = (0..d)
        .map(|i| {
            (0..d)
                .map(|j| {
                    a.chunks(d)
                        .map(|r| (r[i] as f64 - mean[i]) * (r[j] as f64 - mean[j]))
                        .sum::<f64>()
                        / (n as f64 - 1.0)
                })
                .collect()
        })
        .collect();
    // Solve (e^{-2t} C + Δ I) Y = C; then W = e^{-t} Yᵀ (C and the system matrix commute, symmetric).
    let mut m: Vec<Vec<f64>> = (0..d)
        .map(|i| {
            let mut row: Vec<f64> = (0..d)
                .map(|j| ou.decay * ou.decay * c[i][j] + if i == j { ou.delta } else { 0.0 })
                .collect();
            row.extend_from_slice(&c[i]);
            row
        })
        .collect();
    for col in 0..d {
        let piv = (col..d)
            .max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))
            .unwrap();
        m.swap(col, piv);
        let pv = m[col][col];
        m[col].iter_mut().for_each(|v| *v /= pv);
        for r in 0..d {
            if r != col {
                let f = m[r][col];
                let pivot_row = m[col].clone();
                m[r].iter_mut()
                    .zip(&pivot_row)
                    .for_each(|(v, p)| *v -= f * p);
            }
        }
    }
    (0..d)
        .map(|p| (0..d).map(|q| ou.decay * m[q][d + p]).collect())
        .collect()
}

/// The masked local score by its definition (module doc of `mask`), every softmax in f64 by brute force.
fn mask_brute(a: &[f32], d: usize, x: &[f32], t: f64, rule: MaskRule) -> Vec<f64> {
    let ou = OuTime::new(t);
    let w = sensitivity_brute(a, d, t);
    let masks: Vec<Vec<usize>> = (0..d)
        .map(|p| {
            let top = w[p].iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let mut order: Vec<usize> = (0..d).collect();
            order.sort_by(|&i, &j| w[p][j].abs().total_cmp(&w[p][i].abs()).then(i.cmp(&j)));
            let mut m: Vec<usize> = match rule {
                MaskRule::K(k) => order[..k].to_vec(),
                MaskRule::Tau(tau) => (0..d).filter(|&q| w[p][q].abs() >= tau * top).collect(),
            };
            if !m.contains(&p) {
                if matches!(rule, MaskRule::K(_)) {
                    m.pop();
                }
                m.push(p);
            }
            m
        })
        .collect();
    let mut out = Vec::new();
    for q in x.chunks(d) {
        for p in 0..d {
            let l: Vec<f64> = a
                .chunks(d)
                .map(|r| {
                    -masks[p]
                        .iter()
                        .map(|&j| (q[j] as f64 - ou.decay * r[j] as f64).powi(2))
                        .sum::<f64>()
                        / (2.0 * ou.delta)
                })
                .collect();
            let mx = l.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = l.iter().map(|v| (v - mx).exp()).collect();
            let z: f64 = e.iter().sum();
            let den: f64 = a
                .chunks(d)
                .zip(&e)
                .map(|(r, e)| e * r[p] as f64)
                .sum::<f64>()
                / z;
            out.push((ou.decay * den - q[p] as f64) / ou.delta);
        }
    }
    out
}

/// The masked score against its brute-force definition (W_t by elimination, not by eigenvectors) for the
/// k and τ rules at small, middle and large t, within 1e-6 of the scale (both f64 up to the output's f32
/// rounding, 2^-24 ≈ 6e-8, amplified by the 1/Δ_t of the score at t = 0.05: 1e-6); and its known limit:
/// with every coordinate in every mask (k = d, or τ = 0) it is the exact score.
#[test]
fn masked_score_matches_the_brute_force_definition_and_full_masks_are_exact() {
    let d = 12;
    let data = gmm(d, 40, 21);
    for rule in [MaskRule::K(3), MaskRule::K(6), MaskRule::Tau(0.3)] {
        let sc = MaskScore::new(&data, rule).unwrap();
        for &t in &[0.05, 0.5, 2.0] {
            let x = queries(&data.x, d, 3, t, 22);
            let e = rel_err(
                &sc.eval(&x, t, Par::rayon(0)),
                &mask_brute(&data.x, d, &x, t, rule),
            );
            assert!(e < 1e-6, "{rule:?} t {t}: {e:e}");
        }
    }
    // The masks themselves are local where the data are: the mean size under τ = 0.3 is between 1 and d.
    let tau = MaskScore::new(&data, MaskRule::Tau(0.3)).unwrap();
    let size = tau.mean_mask_size(0.5);
    assert!((1.0..d as f64).contains(&size), "{size}");
    for rule in [MaskRule::K(d), MaskRule::Tau(0.0)] {
        let full = MaskScore::new(&data, rule).unwrap();
        for &t in &[0.05, 0.5] {
            let x = queries(&data.x, d, 4, t, 23);
            let e = rel_err(&full.eval(&x, t, Par::Seq), &exact_f64(&data.x, d, &x, t));
            assert!(e < 1e-6, "{rule:?}: {e:e}");
        }
    }
    assert!(MaskScore::new(&data, MaskRule::K(0)).is_err());
    assert!(MaskScore::new(&data, MaskRule::K(d + 1)).is_err());
    assert!(MaskScore::new(&data, MaskRule::Tau(1.5)).is_err());
}

/// The blocked paths (kNN's f32 GEMM screen, 64 queries per GEMM, then f64 rescoring; the
/// full-covariance GMM's passes over its eigenbases, 8 queries at a time) give every query
/// the same bits whatever its block: a batch of 70 (full blocks and partial ones), one query at a time,
/// a split at 3 and sequential vs parallel agree exactly, at d = 37 (the lane sums' full chunks and a
/// remainder).
#[test]
fn blocked_family_scores_do_not_depend_on_the_batch_split() {
    let (d, n) = (37, 150);
    let data = gmm(d, n, 5);
    let scores: Vec<(&str, Box<dyn Score>)> = vec![
        ("knn", Box::new(KnnScore::new(&data, 7).unwrap())),
        ("wiener", Box::new(wiener(&data).unwrap())),
    ];
    for (name, sc) in &scores {
        for &t in &[0.02, 0.7] {
            let x = queries(&data.x, d, 70, t, 9);
            let all = sc.eval(&x, t, Par::rayon(0));
            assert_eq!(all, sc.eval(&x, t, Par::Seq), "{name} t {t}");
            let single: Vec<f32> = x.chunks(d).flat_map(|q| sc.eval(q, t, Par::Seq)).collect();
            assert_eq!(single, all, "{name} t {t}");
            let shifted: Vec<f32> = [&x[..3 * d], &x[3 * d..]]
                .iter()
                .flat_map(|part| sc.eval(part, t, Par::rayon(0)))
                .collect();
            assert_eq!(shifted, all, "{name} t {t}");
        }
    }
}

//! Matrix-free geometry for large d (geometry.md: "For large d: JVP/VJP with Lanczos / randomized SVD,
//! Hutchinson for traces"): no d × d Jacobian is formed.
//!
//! - [`jvp`] / [`vjp`]: analytic where the score has them ([`Score::jvp_into`], [`Score::vjp_into`]; the
//!   MLP has both), else central differences for the JVP, and for exact gradients (J symmetric) VJP = JVP.
//! - [`hutchinson_trace`]: $\mathrm{tr}\,J \approx \frac1m\sum_j z_j^\top J z_j$ with spherical probes, with
//!   its standard error, optionally deflated by a known subspace (Hutch++).
//! - [`denoiser_subspace`]: randomized SVD (Halko–Martinsson–Tropp, with power iterations) of the denoiser
//!   Jacobian $\nabla D = I + \sigma^2 J$, whose top right singular vectors span the feature (tangent)
//!   directions and whose singular values are $\approx 1 - \sigma^2 s_i(J)$ there.
//! - [`asymmetry_probe`]: $A^2 \approx \sum_j |Jz_j - J^\top z_j|^2 / \sum_j |Jz_j|^2$ (Gaussian $z_j$).

use crate::error::{Error, Result};
use crate::rng;
use crate::score::{OuTime, Score};
use faer::{Mat, Par};
use rand::Rng as _;
use rand_distr::StandardNormal;

/// Domain key of the probe vectors (inside the FORWARD tag).
const PROBE: u64 = 0x9C0B;

/// $J(x_i)v_i$ per row: analytic, or central differences with a step of norm $10^{-2}\sigma$ along $v_i$
/// (relative error ~1e-4, see [`super::jacobians`]).
pub fn jvp(score: &dyn Score, x: &[f32], t: f64, v: &[f32], par: Par) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len()];
    if score.jvp_into(x, t, v, &mut out, par) {
        return out;
    }
    let d = score.dim();
    let sig = OuTime::new(t).delta.sqrt();
    let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
    let mut h = vec![0.0f64; x.len() / d];
    for (i, hi) in h.iter_mut().enumerate() {
        let norm = v[i * d..(i + 1) * d]
            .iter()
            .map(|&a| (a as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        *hi = if norm > 0.0 { 1e-2 * sig / norm } else { 0.0 };
        for k in 0..d {
            xp[i * d + k] = (x[i * d + k] as f64 + *hi * v[i * d + k] as f64) as f32;
            xm[i * d + k] = (x[i * d + k] as f64 - *hi * v[i * d + k] as f64) as f32;
        }
    }
    let (sp, sm) = (score.eval(&xp, t, par), score.eval(&xm, t, par));
    for (i, &hi) in h.iter().enumerate() {
        for k in 0..d {
            let j = i * d + k;
            out[j] = if hi > 0.0 {
                ((sp[j] as f64 - sm[j] as f64) / (2.0 * hi)) as f32
            } else {
                0.0
            };
        }
    }
    out
}

/// $v_i^\top J(x_i)$ per row: analytic, or the JVP for an exact gradient (J symmetric).
///
/// # Errors
/// For a score with neither a VJP nor an exact-gradient guarantee.
pub fn vjp(score: &dyn Score, x: &[f32], t: f64, v: &[f32], par: Par) -> Result<Vec<f32>> {
    let mut out = vec![0.0f32; x.len()];
    if score.vjp_into(x, t, v, &mut out, par) {
        return Ok(out);
    }
    if score.is_exact_gradient() {
        return Ok(jvp(score, x, t, v, par));
    }
    Err(Error::param(
        "score",
        score.describe(),
        "a score with a vector-Jacobian product or an exact gradient for matrix-free geometry",
    ))
}

/// Gaussian probe vectors for all rows: row i of probe j from stream `(seed, FORWARD, PROBE, j, i)`.
fn probes(b: usize, d: usize, j: usize, seed: u64) -> Vec<f32> {
    let mut z = vec![0.0f32; b * d];
    for (i, row) in z.chunks_mut(d).enumerate() {
        let mut r = rng::stream(seed, &[rng::tag::FORWARD, PROBE, j as u64, i as u64]);
        row.iter_mut().for_each(|v| *v = r.sample(StandardNormal));
    }
    z
}

/// Hutchinson estimates of tr J at every row, with m spherical probes (Gaussian, rescaled to norm
/// $\sqrt{\dim}$, so $E[zz^\top] = I$ and an isotropic J is estimated without variance): (mean, standard
/// error).
///
/// With `deflate` (one orthonormal d × r basis Q per row, e.g. from [`denoiser_subspace`]) this is
/// Hutch++: $\mathrm{tr}\,J = \mathrm{tr}(Q^\top J Q) + \mathrm{tr}(PJP)$, $P = I - QQ^\top$, the first term
/// exact from r JVPs and only the deflated remainder estimated from probes $Pz$. Near a manifold J is
/// $-I/\sigma^2$ plus a low-rank part, so deflating the feature directions removes almost all variance.
pub fn hutchinson_trace(
    score: &dyn Score,
    x: &[f32],
    t: f64,
    m: usize,
    deflate: Option<&[Mat<f64>]>,
    seed: u64,
    par: Par,
) -> Vec<(f64, f64)> {
    let d = score.dim();
    let b = x.len() / d;
    let mut exact = vec![0.0f64; b];
    if let Some(q) = deflate {
        let r = q.iter().map(|m| m.ncols()).max().unwrap_or(0);
        for c in 0..r {
            let mut v = vec![0.0f32; b * d];
            for i in 0..b {
                if c < q[i].ncols() {
                    (0..d).for_each(|k| v[i * d + k] = q[i][(k, c)] as f32);
                }
            }
            let jv = jvp(score, x, t, &v, par);
            for i in 0..b {
                exact[i] += (0..d)
                    .map(|k| v[i * d + k] as f64 * jv[i * d + k] as f64)
                    .sum::<f64>();
            }
        }
    }
    let mut samples = vec![Vec::with_capacity(m); b];
    for j in 0..m {
        let mut z = probes(b, d, j, seed);
        for i in 0..b {
            let row = &mut z[i * d..(i + 1) * d];
            let mut dim = d;
            if let Some(q) = deflate {
                for c in 0..q[i].ncols() {
                    let dot: f64 = (0..d).map(|k| q[i][(k, c)] * row[k] as f64).sum();
                    (0..d).for_each(|k| row[k] -= (dot * q[i][(k, c)]) as f32);
                }
                dim -= q[i].ncols();
            }
            // Spherical probe in the (deflated) space, |z|² = its dimension: E[zzᵀ] = P, and the
            // isotropic part −P/σ² of J contributes no variance.
            let norm = row.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            let scale = ((dim as f64).sqrt() / norm.max(f64::MIN_POSITIVE)) as f32;
            row.iter_mut().for_each(|v| *v *= scale);
        }
        let jz = jvp(score, x, t, &z, par);
        for (i, s) in samples.iter_mut().enumerate() {
            s.push(
                (0..d)
                    .map(|k| z[i * d + k] as f64 * jz[i * d + k] as f64)
                    .sum::<f64>(),
            );
        }
    }
    samples
        .iter()
        .zip(&exact)
        .map(|(s, e)| {
            let n = s.len().max(1) as f64;
            let mean = s.iter().sum::<f64>() / n;
            let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            (e + mean, (var / n).sqrt())
        })
        .collect()
}

/// Randomized SVD of $\nabla D = I + \sigma^2 J$ at every row: the `rank` largest singular values and
/// their right singular vectors (d × rank), from `rank + oversample` probes and `power` power
/// iterations. Costs (1 + 2·power)·(rank + oversample) JVP-or-VJP batches, never a d × d matrix.
pub fn denoiser_subspace(
    score: &dyn Score,
    x: &[f32],
    t: f64,
    rank: usize,
    oversample: usize,
    power: usize,
    seed: u64,
    par: Par,
) -> Result<Vec<(Vec<f64>, Mat<f64>)>> {
    let d = score.dim();
    let b = x.len() / d;
    let m = (rank + oversample).min(d);
    let s2 = OuTime::new(t).delta as f32;
    // A v = v + σ² J v and Aᵀ v = v + σ² Jᵀ v, for all rows at once (column c of every row's block).
    let apply = |cols: &[Vec<f32>], transpose: bool| -> Result<Vec<Vec<f32>>> {
        cols.iter()
            .map(|v| {
                let jv = if transpose {
                    vjp(score, x, t, v, par)?
                } else {
                    jvp(score, x, t, v, par)
                };
                Ok(v.iter().zip(&jv).map(|(a, b)| a + s2 * b).collect())
            })
            .collect()
    };
    let orth = |cols: &mut [Vec<f32>]| {
        // Modified Gram–Schmidt per row, twice (in f64).
        for i in 0..b {
            let mut q: Vec<Vec<f64>> = cols
                .iter()
                .map(|c| c[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect())
                .collect();
            for _ in 0..2 {
                for c in 0..q.len() {
                    for p in 0..c {
                        let dot: f64 = q[c].iter().zip(&q[p]).map(|(a, b)| a * b).sum();
                        let qp = q[p].clone();
                        q[c].iter_mut().zip(&qp).for_each(|(a, b)| *a -= dot * b);
                    }
                    let n = q[c].iter().map(|a| a * a).sum::<f64>().sqrt();
                    q[c].iter_mut().for_each(|a| *a /= n.max(f64::MIN_POSITIVE));
                }
            }
            for (c, qc) in q.iter().enumerate() {
                for k in 0..d {
                    cols[c][i * d + k] = qc[k] as f32;
                }
            }
        }
    };
    let omega: Vec<Vec<f32>> = (0..m).map(|j| probes(b, d, j, seed)).collect();
    let mut y = apply(&omega, false)?;
    for _ in 0..power {
        orth(&mut y);
        let z = apply(&y, true)?;
        y = apply(&z, false)?;
    }
    orth(&mut y);
    // Bᵀ = Aᵀ Q: column c is Aᵀ q_c.
    let bt = apply(&y, true)?;
    let mut out = Vec::with_capacity(b);
    for i in 0..b {
        // B (m × d), row c = (Aᵀ q_c)ᵀ.
        let bm = Mat::<f64>::from_fn(m, d, |c, k| bt[c][i * d + k] as f64);
        let svd = bm
            .svd()
            .map_err(|e| Error::numerical("randomized SVD", format!("{e:?}")))?;
        let r = rank.min(m);
        let sv = (0..r).map(|c| svd.S()[c]).collect();
        let v = svd.V();
        out.push((sv, Mat::from_fn(d, r, |k, c| v[(k, c)])));
    }
    Ok(out)
}

/// $A = |J - J^\top|_F/|J|_F$ at every row from m Gaussian probes (ratio of Hutchinson estimates of
/// $|(J - J^\top)z|^2$ and $|Jz|^2$).
pub fn asymmetry_probe(
    score: &dyn Score,
    x: &[f32],
    t: f64,
    m: usize,
    seed: u64,
    par: Par,
) -> Result<Vec<f64>> {
    let d = score.dim();
    let b = x.len() / d;
    let (mut num, mut den) = (vec![0.0f64; b], vec![0.0f64; b]);
    for j in 0..m {
        let z = probes(b, d, j + 1_000_000, seed);
        let jz = jvp(score, x, t, &z, par);
        let zj = vjp(score, x, t, &z, par)?;
        for i in 0..b {
            for k in 0..d {
                let (a, c) = (jz[i * d + k] as f64, zj[i * d + k] as f64);
                num[i] += (a - c).powi(2);
                den[i] += a * a;
            }
        }
    }
    Ok(num
        .iter()
        .zip(&den)
        .map(|(n, dd)| if *dd > 0.0 { (n / dd).sqrt() } else { 0.0 })
        .collect())
}

/// The asymmetry split of [`super::asymmetry_split`] without a d × d matrix, given one orthonormal tangent
/// basis Q (d × k) per row: $P_T = QQ^\top$, $P_N = I - P_T$.
/// - The tangent block is exact from k JVPs: $M = Q^\top J Q$, $|P_T J P_T|_F = |M|_F$ and
///   $|P_T (J - J^\top) P_T|_F = |M - M^\top|_F$.
/// - The normal and mixed blocks come from m Gaussian probes projected to the normal space, $z_N = P_N z$
///   ($E[z_N z_N^\top] = P_N$), each costing one JVP and one VJP: with $a = (J - J^\top) z_N$,
///   $E|P_N a|^2 = |P_N (J - J^\top) P_N|_F^2$, $E|P_N J z_N|^2 = |P_N J P_N|_F^2$ and
///   $E|Q^\top a|^2 = |P_T (J - J^\top) P_N|_F^2$.
///
/// `total` is the probed $A$ of [`asymmetry_probe`] with the same m. Blocks whose norm vanishes relative to
/// J's (to 1e-12) carry no asymmetry and give 0, as in the dense split. The same probes give the normal
/// projection error $|P_N(\sigma^2 J)P_N + P_N|_F$ (second value; $\sigma^2 = \Delta_t$), as
/// $E|P_N(\sigma^2 J z_N + z_N)|^2$.
pub fn asymmetry_split_probe(
    score: &dyn Score,
    x: &[f32],
    t: f64,
    bases: &[Mat<f64>],
    m: usize,
    seed: u64,
    par: Par,
) -> Result<Vec<(super::Asymmetry, f64)>> {
    let d = score.dim();
    let b = x.len() / d;
    if bases.len() != b || bases.iter().any(|q| q.nrows() != d) {
        return Err(Error::shape(
            "asymmetry_split_probe bases",
            format!("{} bases for {b} points in d = {d}", bases.len()),
        ));
    }
    let total = asymmetry_probe(score, x, t, m, seed, par)?;
    // M = QᵀJQ, one JVP batch per basis column.
    let kmax = bases.iter().map(|q| q.ncols()).max().unwrap_or(0);
    let mut jq: Vec<Mat<f64>> = bases.iter().map(|q| Mat::zeros(d, q.ncols())).collect();
    for c in 0..kmax {
        let mut v = vec![0.0f32; b * d];
        for (i, q) in bases.iter().enumerate() {
            if c < q.ncols() {
                (0..d).for_each(|k| v[i * d + k] = q[(k, c)] as f32);
            }
        }
        let jv = jvp(score, x, t, &v, par);
        for (i, q) in bases.iter().enumerate() {
            if c < q.ncols() {
                (0..d).for_each(|k| jq[i][(k, c)] = jv[i * d + k] as f64);
            }
        }
    }
    let fro2 = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
    // Qᵀy for one row.
    let qt = |q: &Mat<f64>, y: &[f64]| -> Vec<f64> {
        (0..q.ncols())
            .map(|c| (0..d).map(|k| q[(k, c)] * y[k]).sum())
            .collect()
    };
    let s2 = OuTime::new(t).delta;
    let (mut nn_num, mut nn_den, mut tn_num) = (vec![0.0; b], vec![0.0; b], vec![0.0; b]);
    let mut np = vec![0.0; b];
    for j in 0..m {
        let mut z = probes(b, d, j + 2_000_000, seed);
        for (i, q) in bases.iter().enumerate() {
            let row: Vec<f64> = z[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
            let coef = qt(q, &row);
            for k in 0..d {
                let tang: f64 = (0..q.ncols()).map(|c| q[(k, c)] * coef[c]).sum();
                z[i * d + k] = (row[k] - tang) as f32;
            }
        }
        let jz = jvp(score, x, t, &z, par);
        let zj = vjp(score, x, t, &z, par)?;
        for (i, q) in bases.iter().enumerate() {
            let a: Vec<f64> = (0..d)
                .map(|k| jz[i * d + k] as f64 - zj[i * d + k] as f64)
                .collect();
            let jzi: Vec<f64> = (0..d).map(|k| jz[i * d + k] as f64).collect();
            let (qa, qj) = (fro2(&qt(q, &a)), fro2(&qt(q, &jzi)));
            // |P_N y|² = |y|² − |Qᵀy|².
            nn_num[i] += (fro2(&a) - qa).max(0.0);
            nn_den[i] += (fro2(&jzi) - qj).max(0.0);
            tn_num[i] += qa;
            // P_N(σ²Jz_N + z_N): Qᵀz_N = 0, so |P_N(·)|² = |σ²Jz_N + z_N|² − σ⁴|QᵀJz_N|².
            let e: Vec<f64> = (0..d).map(|k| s2 * jzi[k] + z[i * d + k] as f64).collect();
            np[i] += (fro2(&e) - s2 * s2 * qj).max(0.0);
        }
    }
    let mf = m.max(1) as f64;
    Ok((0..b)
        .map(|i| {
            let k = bases[i].ncols();
            let mq = Mat::<f64>::from_fn(k, k, |r, c| {
                (0..d).map(|l| bases[i][(l, r)] * jq[i][(l, c)]).sum()
            });
            let jtt = mq.norm_l2();
            let att = Mat::<f64>::from_fn(k, k, |r, c| mq[(r, c)] - mq[(c, r)]).norm_l2();
            let jnn = (nn_den[i] / mf).sqrt();
            // |J|_F ≥ both diagonal blocks; the floor of the dense split, 1e-12·|J|_F, from them.
            let floor = 1e-12 * (jtt * jtt + jnn * jnn).sqrt();
            let ratio = |num: f64, den: f64| if den > floor { num / den } else { 0.0 };
            let asym = super::Asymmetry {
                total: total[i],
                tt: ratio(att, jtt),
                nn: ratio((nn_num[i] / mf).sqrt(), jnn),
                tn: ratio((tn_num[i] / mf).sqrt(), (jtt * jnn).sqrt()),
            };
            (asym, (np[i] / mf).sqrt())
        })
        .collect())
}

//! Geometry along backward trajectories: every quantity of geometry.md at chosen steps, per trajectory.

use super::{
    asymmetry_split, complement, feature_subspace, jacobians, local_dimension,
    normal_projection_error, overlap, projector, stanczuk_around,
};
use crate::error::Result;
use crate::progress::{self, Monitor};
use crate::sampler::{self, Observer, SamplerKind, Step, TimeGrid};
use crate::score::{OuTime, Score};
use faer::{Mat, Par};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

/// A known tangent space: given a clean point (an estimate of $a$ on the data manifold), an orthonormal
/// d × k basis of the tangent space there.
pub type TangentFn<'a> = &'a (dyn Fn(&[f64]) -> Mat<f64> + Sync);

/// What to measure at each probed point.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeOptions {
    /// Threshold c of estimator (a): #{i : σ² s_i < c}.
    pub threshold: f64,
    /// Tangent dimension k for the subspace split and overlaps; `None`: estimator (a) at each point.
    pub k: Option<usize>,
    /// Copies per point for estimator (e) (Stanczuk); 0 skips it.
    pub stanczuk_samples: usize,
    /// Matrix-free mode for large d: the rank of the randomized SVD of ∇D. No d × d Jacobian is formed;
    /// (b) and (d) come from Hutch++ traces (deflated by the rank-r subspace), (a) from the rank-r spectrum
    /// of ∇D (so it is capped at r); A, the block split (A_TT exact from k JVPs, A_NN and A_TN from probes
    /// in the normal space) and the normal-projection error from random probes
    /// ([`super::asymmetry_split_probe`]); (c) and the reference overlap are not computed (NaN / None) and
    /// the spectra are the top-r singular values of ∇D.
    pub matrix_free: Option<usize>,
    /// Probe vectors per Hutchinson estimate (matrix-free mode).
    pub hutchinson: usize,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            threshold: 0.5,
            k: None,
            stanczuk_samples: 0,
            matrix_free: None,
            hutchinson: 32,
        }
    }
}

/// Everything measured at one point of one trajectory.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PointGeometry {
    /// Sampler step.
    pub step: usize,
    /// OU time.
    pub t: f64,
    /// σ² = Δ_t.
    pub sigma2: f64,
    /// Trajectory index.
    pub trajectory: usize,
    /// σ²·singular values of J, descending.
    pub sigma2_singular_values: Vec<f64>,
    /// σ²·eigenvalues of the symmetric part (J + Jᵀ)/2, ascending.
    pub sigma2_sym_eigenvalues: Vec<f64>,
    /// Pairing ⟨u_i, v_i⟩ of the left and right singular vectors (−1 for all i when J is symmetric
    /// negative definite; other values signal rotation, T9).
    pub pairing: Vec<f64>,
    /// (a) threshold count.
    pub dim_threshold: usize,
    /// (b) tr ∇D.
    pub dim_trace: f64,
    /// (c) participation ratio.
    pub dim_participation: f64,
    /// (d) FLIPD $d + \sigma^2(\mathrm{tr} J + |S|^2)$ at the denoised point $D(x)$.
    pub dim_flipd: f64,
    /// (e) Stanczuk, when asked for.
    pub dim_stanczuk: Option<usize>,
    /// Tangent dimension used for the split.
    pub k: usize,
    /// Whether P_T is the known tangent space (else the score's own feature subspace).
    pub true_tangent: bool,
    /// A = |J − Jᵀ|_F/|J|_F.
    pub asym: f64,
    /// A_TT.
    pub asym_tt: f64,
    /// A_NN.
    pub asym_nn: f64,
    /// A_TN.
    pub asym_tn: f64,
    /// |P_N(σ²J)P_N + P_N|_F.
    pub normal_projection_error: f64,
    /// Overlap of the score's k-dim feature subspace with the reference score's, when given.
    pub overlap_reference: Option<f64>,
    /// Overlap of the score's feature subspace with the known tangent space, when given.
    pub overlap_true: Option<f64>,
    /// Cosine of the largest principal angle between the score's feature subspace and the known tangent
    /// space (the worst-aligned direction), when given.
    pub min_cosine_true: Option<f64>,
}

/// Measures every point of `x` (b × d) at time t. `reference` is an exact score (empirical or population)
/// to compare feature subspaces with; `tangent` the known tangent space, evaluated at the denoised point
/// $\hat a = (x + \Delta_t S)/e^{-t}$. Jacobians are analytic where the score has them, else central
/// differences ([`jacobians`]).
pub fn probe_points(
    score: &dyn Score,
    reference: Option<&dyn Score>,
    tangent: Option<TangentFn<'_>>,
    x: &[f32],
    t: f64,
    step: usize,
    opts: &ProbeOptions,
    seed: u64,
    par: Par,
) -> Result<Vec<PointGeometry>> {
    if let Some(rank) = opts.matrix_free {
        return probe_matrix_free(score, tangent, x, t, step, opts, rank, seed, par);
    }
    let d = score.dim();
    let b = x.len() / d;
    let ou = OuTime::new(t);
    let s2 = ou.delta;
    let jac = jacobians(score, x, t, par);
    let s = score.eval(x, t, par);
    let jref = reference.map(|r| jacobians(r, x, t, par));
    // FLIPD is defined at data points: evaluate it at the denoised points D(x) = x + σ² S(x, t) (at x
    // itself the |S|² of the off-manifold displacement cancels σ² tr J and the estimate sits near d).
    let den: Vec<f32> = x
        .iter()
        .zip(&s)
        .map(|(&xv, &sv)| (xv as f64 + s2 * sv as f64) as f32)
        .collect();
    let jac_den = jacobians(score, &den, t, par);
    let s_den = score.eval(&den, t, par);
    let as_mat =
        |buf: &[f64], i: usize| Mat::<f64>::from_fn(d, d, |a, c| buf[i * d * d + a * d + c]);
    let mut out = Vec::with_capacity(b);
    for i in 0..b {
        let j = as_mat(&jac, i);
        let si: Vec<f64> = s[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
        let ld = local_dimension(&j, &si, s2, opts.threshold)?;
        let flipd = d as f64
            + s2 * ((0..d).map(|c| jac_den[i * d * d + c * d + c]).sum::<f64>()
                + s_den[i * d..(i + 1) * d]
                    .iter()
                    .map(|&v| (v as f64).powi(2))
                    .sum::<f64>());
        let k = opts.k.unwrap_or(ld.threshold).min(d);
        let feat = feature_subspace(&j, k)?;
        let (sym_eigs, pairing) = spectra(&j, s2)?;
        let denoised: Vec<f64> = (0..d).map(|c| x[i * d + c] as f64 + s2 * si[c]).collect();
        let true_basis =
            tangent.map(|f| f(&denoised.iter().map(|v| v / ou.decay).collect::<Vec<_>>()));
        let pt = projector(true_basis.as_ref().unwrap_or(&feat));
        let pn = complement(&pt);
        let asym = asymmetry_split(&j, &pt, &pn);
        let overlap_reference = match &jref {
            Some(r) => Some(overlap(&feat, &feature_subspace(&as_mat(r, i), k)?)),
            None => None,
        };
        let dim_stanczuk = if opts.stanczuk_samples > 0 {
            Some(
                stanczuk_around(
                    score,
                    &denoised,
                    t,
                    opts.stanczuk_samples,
                    crate::rng::derive(seed, &[step as u64, i as u64]),
                    par,
                )?
                .dim,
            )
        } else {
            None
        };
        out.push(PointGeometry {
            step,
            t,
            sigma2: s2,
            trajectory: i,
            sigma2_singular_values: ld.sigma2_singular_values,
            sigma2_sym_eigenvalues: sym_eigs,
            pairing,
            dim_threshold: ld.threshold,
            dim_trace: ld.trace_grad_denoiser,
            dim_participation: ld.participation_ratio,
            dim_flipd: flipd,
            dim_stanczuk,
            k,
            true_tangent: true_basis.is_some(),
            asym: asym.total,
            asym_tt: asym.tt,
            asym_nn: asym.nn,
            asym_tn: asym.tn,
            normal_projection_error: normal_projection_error(&j, s2, &pn),
            overlap_reference,
            overlap_true: true_basis.as_ref().map(|tb| overlap(&feat, tb)),
            min_cosine_true: min_cosine(&feat, true_basis.as_ref())?,
        });
    }
    Ok(out)
}

/// Smallest principal cosine between span `a` and span `b` (None without b or for an empty subspace).
fn min_cosine(a: &Mat<f64>, b: Option<&Mat<f64>>) -> Result<Option<f64>> {
    match b {
        Some(b) if a.ncols() > 0 && b.ncols() > 0 => {
            let c = super::principal_cosines(a, b)?;
            Ok(c.iter().copied().reduce(f64::min))
        }
        _ => Ok(None),
    }
}

/// The matrix-free variant of [`probe_points`] (see [`ProbeOptions::matrix_free`]).
fn probe_matrix_free(
    score: &dyn Score,
    tangent: Option<TangentFn<'_>>,
    x: &[f32],
    t: f64,
    step: usize,
    opts: &ProbeOptions,
    rank: usize,
    seed: u64,
    par: Par,
) -> Result<Vec<PointGeometry>> {
    let d = score.dim();
    let b = x.len() / d;
    let ou = OuTime::new(t);
    let s2 = ou.delta;
    let key = crate::rng::derive(seed, &[step as u64]);
    let s = score.eval(x, t, par);
    let den: Vec<f32> = x
        .iter()
        .zip(&s)
        .map(|(&xv, &sv)| (xv as f64 + s2 * sv as f64) as f32)
        .collect();
    let sub = super::denoiser_subspace(score, x, t, rank, 8, 1, key ^ 2, par)?;
    let sub_den = super::denoiser_subspace(score, &den, t, rank, 8, 1, key ^ 4, par)?;
    let bases: Vec<Mat<f64>> = sub.iter().map(|(_, q)| q.clone()).collect();
    let bases_den: Vec<Mat<f64>> = sub_den.iter().map(|(_, q)| q.clone()).collect();
    let tr = super::hutchinson_trace(score, x, t, opts.hutchinson, Some(&bases), key, par);
    let tr_den = super::hutchinson_trace(
        score,
        &den,
        t,
        opts.hutchinson,
        Some(&bases_den),
        key ^ 1,
        par,
    );
    let s_den = score.eval(&den, t, par);
    // Per row: the threshold dimension (a), the tangent dimension k and the feature basis (the top-k
    // singular directions of ∇D, i.e. J's smallest).
    let feats: Vec<(usize, usize, Mat<f64>)> = sub
        .iter()
        .map(|(sv, basis)| {
            let dim_a = sv.iter().filter(|&&v| v > 1.0 - opts.threshold).count();
            let k = opts.k.unwrap_or(dim_a).min(basis.ncols());
            (dim_a, k, Mat::<f64>::from_fn(d, k, |r, c| basis[(r, c)]))
        })
        .collect();
    let tangent_bases: Vec<Mat<f64>> = feats.iter().map(|f| f.2.clone()).collect();
    let split =
        super::asymmetry_split_probe(score, x, t, &tangent_bases, opts.hutchinson, key ^ 3, par)?;
    let mut out = Vec::with_capacity(b);
    for i in 0..b {
        let (dim_a, k, feat) = (feats[i].0, feats[i].1, &feats[i].2);
        let (asym, np_error) = &split[i];
        let denoised: Vec<f64> = den[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect();
        let true_basis =
            tangent.map(|f| f(&denoised.iter().map(|v| v / ou.decay).collect::<Vec<_>>()));
        let dim_stanczuk = if opts.stanczuk_samples > 0 {
            let key = crate::rng::derive(seed, &[step as u64, i as u64]);
            Some(stanczuk_around(score, &denoised, t, opts.stanczuk_samples, key, par)?.dim)
        } else {
            None
        };
        let s_norm2: f64 = s_den[i * d..(i + 1) * d]
            .iter()
            .map(|&v| (v as f64).powi(2))
            .sum();
        out.push(PointGeometry {
            step,
            t,
            sigma2: s2,
            trajectory: i,
            sigma2_singular_values: Vec::new(),
            sigma2_sym_eigenvalues: Vec::new(),
            pairing: Vec::new(),
            dim_threshold: dim_a,
            dim_trace: d as f64 + s2 * tr[i].0,
            dim_participation: f64::NAN,
            dim_flipd: d as f64 + s2 * (tr_den[i].0 + s_norm2),
            dim_stanczuk,
            k,
            true_tangent: true_basis.is_some(),
            asym: asym.total,
            asym_tt: asym.tt,
            asym_nn: asym.nn,
            asym_tn: asym.tn,
            normal_projection_error: *np_error,
            overlap_reference: None,
            overlap_true: true_basis.as_ref().map(|tb| overlap(feat, tb)),
            min_cosine_true: min_cosine(feat, true_basis.as_ref())?,
        });
    }
    Ok(out)
}

/// σ²·eigenvalues of (J + Jᵀ)/2 and the singular-vector pairing ⟨u_i, v_i⟩.
fn spectra(j: &Mat<f64>, s2: f64) -> Result<(Vec<f64>, Vec<f64>)> {
    let d = j.nrows();
    let sym = Mat::<f64>::from_fn(d, d, |a, b| 0.5 * (j[(a, b)] + j[(b, a)]));
    let eig = crate::linalg::sym_eigenvalues(sym.as_ref())?;
    let svd = j
        .svd()
        .map_err(|e| crate::Error::numerical("Jacobian SVD", format!("{e:?}")))?;
    let pairing = (0..d)
        .map(|i| (0..d).map(|r| svd.U()[(r, i)] * svd.V()[(r, i)]).sum())
        .collect();
    Ok((eig.into_iter().map(|e| e * s2).collect(), pairing))
}

/// Keeps a copy of the state at chosen steps.
struct Snapshots<'a> {
    steps: &'a [usize],
    taken: Vec<(usize, f64, Vec<f32>)>,
}

impl Observer for Snapshots<'_> {
    fn on_step(&mut self, step: &Step<'_>) -> ControlFlow<()> {
        if self.steps.contains(&step.k) {
            self.taken.push((step.k, step.t_cur, step.x.to_vec()));
        }
        if step.k >= self.steps.iter().copied().max().unwrap_or(0) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Runs `b` backward trajectories with `score` over `grid` and probes every one of them at the grid
/// steps in `steps` (state before the update of that step, at time `grid.times[k]`). Trajectory i uses
/// the sampler's noise stream of global index i, so runs are reproducible and thread-independent.
pub fn along_trajectories(
    score: &dyn Score,
    reference: Option<&dyn Score>,
    tangent: Option<TangentFn<'_>>,
    kind: SamplerKind,
    grid: &TimeGrid,
    b: usize,
    steps: &[usize],
    opts: &ProbeOptions,
    seed: u64,
    monitor: &dyn Monitor,
    par: Par,
) -> Result<Vec<PointGeometry>> {
    let mut snaps = Snapshots {
        steps,
        taken: Vec::new(),
    };
    sampler::sample_from_noise(
        kind,
        sampler::FinalStep::None,
        score,
        b,
        grid,
        seed,
        &mut snaps,
        &progress::Silent,
        par,
    )?;
    let mut out = Vec::new();
    let total = snaps.taken.len() as u64;
    for (n, (k, t, xs)) in snaps.taken.iter().enumerate() {
        progress::check(monitor)?;
        out.extend(probe_points(
            score, reference, tangent, xs, *t, *k, opts, seed, par,
        )?);
        monitor.advance(n as u64 + 1, total);
    }
    Ok(out)
}

/// Lower quartile, median and upper quartile of finite values (linear interpolation between order
/// statistics); NaN when there are none.
pub fn quartiles(values: &[f64]) -> [f64; 3] {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return [f64::NAN; 3];
    }
    v.sort_by(f64::total_cmp);
    let q = |p: f64| {
        let pos = p * (v.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        v[lo] + (pos - lo as f64) * (v[hi] - v[lo])
    };
    [q(0.25), q(0.5), q(0.75)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn quartiles_of_known_samples() {
        assert_eq!(
            super::quartiles(&[4.0, 1.0, 3.0, 2.0, 5.0]),
            [2.0, 3.0, 4.0]
        );
        assert_eq!(super::quartiles(&[1.0, 2.0]), [1.25, 1.5, 1.75]);
        assert!(super::quartiles(&[f64::NAN]).iter().all(|q| q.is_nan()));
    }
}

//! The geometry experiment's run directory: points.csv, by_time.csv, the spectra per probed step (.npy),
//! the figures (PNG + SVG, described as [`Plot`]s), summary.json and index.html.

use crate::error::Result;
use crate::experiments::geometry::{ByTime, GeometryReport, COLUMNS};
use crate::geometry::{quartiles, PointGeometry, ProbeOptions};
use crate::io::{self, NpyArray};
use crate::report::{html_report, Plot, Series};
use std::path::Path;

/// Writes points.csv, by_time.csv, the spectra per probed step (.npy), the figures (PNG + SVG),
/// summary.json and index.html atomically.
pub fn write_run_dir(r: &GeometryReport, out: &Path) -> Result<()> {
    io::write_run_dir(out, |dir| {
        write_tables(dir, &r.rows, &r.by_time)?;
        write_spectra(dir, &r.rows, &r.by_time, r.d)?;
        write_figures(dir, &r.by_time, &r.probe)?;
        if r.rows.iter().all(|p| p.sigma2_singular_values.len() == r.d) {
            spectra_figure(&r.rows, &r.by_time, &r.probe, r.d).render(&dir.join("spectra"))?;
        }
        io::write_json_sorted(&dir.join("summary.json"), &r.summary)?;
        write_index(dir, r)
    })
}

/// points.csv (every probed point) and by_time.csv (quartiles per probed time).
fn write_tables(dir: &Path, rows: &[PointGeometry], bt: &ByTime) -> Result<()> {
    // Every point, one row each.
    let mut names = vec!["step", "t", "sigma2", "trajectory"];
    names.extend(COLUMNS.iter().map(|(n, _)| *n));
    let mut cols: Vec<Vec<f64>> = vec![
        rows.iter().map(|r| r.step as f64).collect(),
        rows.iter().map(|r| r.t).collect(),
        rows.iter().map(|r| r.sigma2).collect(),
        rows.iter().map(|r| r.trajectory as f64).collect(),
    ];
    cols.extend(COLUMNS.iter().map(|(_, g)| rows.iter().map(g).collect()));
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    io::write_csv(&dir.join("points.csv"), &names, &refs)?;
    // Medians and quartiles per probed time.
    let mut tnames = vec!["step".to_string(), "t".to_string()];
    let mut tcols: Vec<Vec<f64>> = vec![bt.steps.iter().map(|&s| s as f64).collect(), bt.t.clone()];
    for (c, (n, _)) in COLUMNS.iter().enumerate() {
        for (qi, qn) in ["q25", "median", "q75"].iter().enumerate() {
            tnames.push(format!("{n}_{qn}"));
            tcols.push(bt.q.iter().map(|q| q[c][qi]).collect());
        }
    }
    let tn: Vec<&str> = tnames.iter().map(String::as_str).collect();
    let tr: Vec<&[f64]> = tcols.iter().map(Vec::as_slice).collect();
    io::write_csv(&dir.join("by_time.csv"), &tn, &tr)?;
    Ok(())
}

/// Spectra per probed step (trajectories × d): σ² s_i, σ² eig((J + Jᵀ)/2), ⟨u_i, v_i⟩.
fn write_spectra(dir: &Path, rows: &[PointGeometry], bt: &ByTime, d: usize) -> Result<()> {
    type Vector = fn(&PointGeometry) -> &[f64];
    let vectors: [(&str, Vector); 3] = [
        ("singular_values", |r| &r.sigma2_singular_values),
        ("sym_eigenvalues", |r| &r.sigma2_sym_eigenvalues),
        ("pairing", |r| &r.pairing),
    ];
    for &step in &bt.steps {
        for (name, get) in vectors {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| r.step == step)
                .flat_map(|r| get(r).iter().copied())
                .collect();
            if v.is_empty() {
                continue; // matrix-free mode computes no full spectra
            }
            io::write_npy(
                &dir.join(format!("{name}_step{step:04}.npy")),
                &NpyArray::f64(v.len() / d, d, v),
            )?;
        }
    }
    Ok(())
}

/// The dimension, asymmetry and overlap figures against t.
fn write_figures(dir: &Path, bt: &ByTime, opts: &ProbeOptions) -> Result<()> {
    let mut dim = bt.plot(
        "Local dimension along backward trajectories",
        "dimension",
        &[
            ("dim_threshold", "(a) #{σ²s < c}"),
            ("dim_trace", "(b) tr ∇D"),
            ("dim_participation", "(c) participation ratio"),
            ("dim_flipd", "(d) FLIPD"),
            ("dim_stanczuk", "(e) Stanczuk"),
        ],
    );
    if let Some(k) = opts.k {
        dim.hlines
            .push((k as f64, format!("intrinsic dimension {k}")));
    }
    dim.render(&dir.join("dimension"))?;
    bt.plot(
        "Non-conservativeness by block: |P(J−Jᵀ)Q|_F over the diagonal blocks of J",
        "asymmetry",
        &[
            ("asym", "A (whole J)"),
            ("asym_tt", "A_TT (tangent)"),
            ("asym_nn", "A_NN (normal)"),
            ("asym_tn", "A_TN (mixed)"),
        ],
    )
    .render(&dir.join("asymmetry"))?;
    bt.plot(
        "Feature-subspace overlap |V₁ᵀV₂|²_F/k and normal-projection error",
        "overlap / error",
        &[
            ("overlap_true", "overlap with the true tangent space"),
            (
                "overlap_reference",
                "overlap with the exact empirical score's features",
            ),
            ("normal_projection_error", "|P_N σ²J P_N + P_N|_F"),
        ],
    )
    .render(&dir.join("overlap"))?;
    Ok(())
}

/// Median singular-value spectra at a few probed times (full-Jacobian mode only; matrix-free computes
/// none).
fn spectra_figure(rows: &[PointGeometry], bt: &ByTime, opts: &ProbeOptions, d: usize) -> Plot {
    let n = bt.steps.len();
    let mut picks: Vec<usize> = [0, n / 3, 2 * n / 3, n - 1].to_vec();
    picks.dedup();
    let median_sv = |step: usize, i: usize| {
        quartiles(
            &rows
                .iter()
                .filter(|r| r.step == step)
                .map(|r| r.sigma2_singular_values[i])
                .collect::<Vec<_>>(),
        )[1]
    };
    Plot {
        title: "Singular values of J in units of σ² (median over trajectories)".into(),
        x_label: "index i".into(),
        y_label: "σ² s_i (log scale)".into(),
        series: picks
            .iter()
            .map(|&pi| Series {
                name: format!("t = {:.4}", bt.t[pi]),
                x: (1..=d).map(|i| i as f64).collect(),
                y: (0..d).map(|i| median_sv(bt.steps[pi], i)).collect(),
                band: None,
                markers: true,
            })
            .collect(),
        hlines: vec![(opts.threshold, format!("threshold c = {}", opts.threshold))],
        log_y: true,
        ..Plot::default()
    }
}

/// index.html: the medians at the last probed time beside what an exact score gives.
fn write_index(dir: &Path, r: &GeometryReport) -> Result<()> {
    let bt = &r.by_time;
    let last = bt.t.len() - 1;
    let idx = |n: &str| COLUMNS.iter().position(|(c, _)| *c == n).expect("column");
    let med = |i: usize, n: &str| bt.q[i][idx(n)][1];
    let f = |v: f64| {
        if v.is_nan() {
            "—".to_string()
        } else {
            format!("{v:.3}")
        }
    };
    let k = r.probe.k;
    let kstr = k.map_or("—".to_string(), |k| k.to_string());
    let table = vec![
        [
            format!(
                "local dimension at t = {:.4} (a) / (b) / (c) / (d) / (e)",
                bt.t[last]
            ),
            kstr.clone(),
            format!(
                "{} / {} / {} / {} / {}",
                f(med(last, "dim_threshold")),
                f(med(last, "dim_trace")),
                f(med(last, "dim_participation")),
                f(med(last, "dim_flipd")),
                f(med(last, "dim_stanczuk"))
            ),
            "medians over trajectories".into(),
        ],
        [
            format!("A_TT / A_NN / A_TN at t = {:.4}", bt.t[last]),
            "0 for an exact (conservative) score".into(),
            format!(
                "{} / {} / {}",
                f(med(last, "asym_tt")),
                f(med(last, "asym_nn")),
                f(med(last, "asym_tn"))
            ),
            if k.is_some() {
                "split by the true tangent space"
            } else {
                "split by the score's own features"
            }
            .into(),
        ],
        [
            format!(
                "overlap at t = {:.4}: true tangent / exact-score features",
                bt.t[last]
            ),
            "1".into(),
            format!(
                "{} / {}",
                f(med(last, "overlap_true")),
                f(med(last, "overlap_reference"))
            ),
            "|V₁ᵀV₂|²_F/k".into(),
        ],
        [
            format!("normal-projection error at t = {:.4}", bt.t[last]),
            "→ 0 as σ → 0".into(),
            f(med(last, "normal_projection_error")),
            "|P_N σ²J P_N + P_N|_F".into(),
        ],
    ];
    io::write_text(
        &dir.join("index.html"),
        &html_report(
            "diffscope geometry",
            &format!("{} — data: {} (n = {})", r.what, r.provenance, r.n),
            &table,
            &[
                (
                    "dimension.png".into(),
                    "local dimension by estimators (a)–(e) vs t".into(),
                ),
                (
                    "asymmetry.png".into(),
                    "asymmetry split A_TT, A_NN, A_TN vs t".into(),
                ),
                (
                    "overlap.png".into(),
                    "subspace overlap and normal-projection error vs t".into(),
                ),
                (
                    "spectra.png".into(),
                    "singular-value spectra of J at a few t".into(),
                ),
            ],
        ),
    )
}

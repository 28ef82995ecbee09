//! `diffscope geometry`: the score field's geometry along backward trajectories (geometry.md), written to a
//! run directory with summary.json, CSV / .npy per probed time, figures and index.html.

use crate::commands::train::{SourceFlags, META_MODEL, META_SEED};
use crate::ui::{Ctx, UsageError};
use anyhow::{Context, Result};
use clap::Args;
use diffscope::data::{self, DataModel, Dataset, LoadOptions};
use diffscope::geometry::{self, quartiles, PointGeometry, ProbeOptions};
use diffscope::io::{self, NpyArray, SafeTensors};
use diffscope::nn::Mlp;
use diffscope::report::{html_report, Plot, Series};
use diffscope::sampler::{SamplerKind, TimeGrid};
use diffscope::score::{EmpiricalScore, GmmScore, Precision, Score};
use faer::Par;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct GeometryArgs {
    /// The score to analyse: a model from `diffscope train` (.safetensors; its data.npz is used unless
    /// --data is given), `empirical` (the exact score of the data) or `population` (exact population
    /// score; Gaussian models such as kind = "subspace").
    #[arg(long, default_value = "runs/train/model.safetensors")]
    pub score: String,
    /// Data for `empirical` / `population`, or to override a model's data.npz.
    #[command(flatten)]
    pub source: SourceFlags,
    /// Backward trajectories probed.
    #[arg(long, default_value_t = 32)]
    pub trajectories: usize,
    /// Sampler steps (log-spaced grid from --t-max to --t-min).
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Start time.
    #[arg(long, default_value_t = 4.0)]
    pub t_max: f64,
    /// End time.
    #[arg(long, default_value_t = 1e-3)]
    pub t_min: f64,
    /// Probed steps, evenly spaced in grid index (so log-spaced in t), first and last included.
    #[arg(long, default_value_t = 10)]
    pub probes: usize,
    /// Copies per point for the Stanczuk estimator (e); default 4d; 0 turns it off.
    #[arg(long)]
    pub stanczuk: Option<usize>,
    /// Tangent dimension for the subspace split and overlaps (default: the model's intrinsic dimension,
    /// else estimator (a) at each point).
    #[arg(long)]
    pub tangent_dim: Option<usize>,
    /// Matrix-free mode for large d with this rank: randomized SVD of ∇D and Hutch++ traces by JVPs / VJPs,
    /// no d × d Jacobian (no participation ratio, block split or full spectra then).
    #[arg(long)]
    pub matrix_free: Option<usize>,
    /// Threshold c of estimator (a).
    #[arg(long, default_value_t = 0.5)]
    pub threshold: f64,
    /// Sampler: euler-maruyama, ode-euler or ode-heun.
    #[arg(long, default_value = "euler-maruyama", value_parser = ["euler-maruyama", "ode-euler", "ode-heun"])]
    pub sampler: String,
    /// Output run directory.
    #[arg(long, short, default_value = "runs/geometry")]
    pub out: PathBuf,
}

/// The score under study, its training data and (where known) the data model and its seed.
struct Setup {
    score: Box<dyn Score>,
    data: Dataset,
    model: Option<DataModel>,
    model_seed: u64,
    what: String,
}

fn load_setup(a: &GeometryArgs, ctx: &Ctx) -> Result<Setup> {
    match a.score.as_str() {
        "empirical" | "population" => {
            let (data, model) = a.source.load(ctx.seed)?;
            let score: Box<dyn Score> = if a.score == "empirical" {
                Box::new(EmpiricalScore::new(&data, Precision::F32)?)
            } else {
                let m = model.as_ref().ok_or_else(|| {
                    UsageError("--score population needs a data model (--model or the built-in), not --data".into())
                })?;
                Box::new(GmmScore::new(m.mixture(ctx.seed)?))
            };
            Ok(Setup {
                what: score.describe(),
                score,
                data,
                model,
                model_seed: ctx.seed,
            })
        }
        path => {
            let path = Path::new(path);
            let st = SafeTensors::read(path)
                .with_context(|| format!("--score {}: not a model file", path.display()))?;
            let net = Mlp::load(path)?;
            let model: Option<DataModel> = match st.metadata.get(META_MODEL) {
                Some(j) => Some(serde_json::from_str(j).map_err(|e| {
                    diffscope::Error::format(path, format!("metadata {META_MODEL}: {e}"))
                })?),
                None => None,
            };
            let model_seed = match st.metadata.get(META_SEED) {
                Some(s) => s.parse().map_err(|e| {
                    diffscope::Error::format(path, format!("metadata {META_SEED} = {s:?}: {e}"))
                })?,
                None => ctx.seed,
            };
            let data = match a.source.data.file_args(a.source.centre) {
                Some(f) => f.load()?,
                None => {
                    let p = path.with_file_name("data.npz");
                    data::load(&p, &LoadOptions::default()).with_context(|| {
                        format!(
                            "training data {} (give --data to use another file)",
                            p.display()
                        )
                    })?
                }
            };
            if data.d != net.config().d {
                return Err(diffscope::Error::shape(
                    "data",
                    format!(
                        "d = {} but the model {} has d = {}",
                        data.d,
                        path.display(),
                        net.config().d
                    ),
                )
                .into());
            }
            Ok(Setup {
                what: format!("{} from {}", net.describe(), path.display()),
                score: Box::new(net),
                data,
                model,
                model_seed,
            })
        }
    }
}

/// One quantity of [`PointGeometry`] as f64 (NaN where absent).
type Getter = fn(&PointGeometry) -> f64;

const COLUMNS: [(&str, Getter); 14] = [
    ("dim_threshold", |p| p.dim_threshold as f64),
    ("dim_trace", |p| p.dim_trace),
    ("dim_participation", |p| p.dim_participation),
    ("dim_flipd", |p| p.dim_flipd),
    ("dim_stanczuk", |p| {
        p.dim_stanczuk.map_or(f64::NAN, |v| v as f64)
    }),
    ("k", |p| p.k as f64),
    ("asym", |p| p.asym),
    ("asym_tt", |p| p.asym_tt),
    ("asym_nn", |p| p.asym_nn),
    ("asym_tn", |p| p.asym_tn),
    ("normal_projection_error", |p| p.normal_projection_error),
    ("overlap_reference", |p| {
        p.overlap_reference.unwrap_or(f64::NAN)
    }),
    ("overlap_true", |p| p.overlap_true.unwrap_or(f64::NAN)),
    ("min_cosine_true", |p| p.min_cosine_true.unwrap_or(f64::NAN)),
];

/// Per probed step: (step, t, quartiles of every column).
struct ByTime {
    steps: Vec<usize>,
    t: Vec<f64>,
    q: Vec<Vec<[f64; 3]>>,
}

fn by_time(rows: &[PointGeometry]) -> ByTime {
    let mut steps: Vec<usize> = rows.iter().map(|r| r.step).collect();
    steps.sort_unstable();
    steps.dedup();
    let mut t = Vec::new();
    let mut q = Vec::new();
    for &s in &steps {
        let at: Vec<&PointGeometry> = rows.iter().filter(|r| r.step == s).collect();
        t.push(at[0].t);
        q.push(
            COLUMNS
                .iter()
                .map(|(_, g)| quartiles(&at.iter().map(|p| g(p)).collect::<Vec<_>>()))
                .collect(),
        );
    }
    ByTime { steps, t, q }
}

impl ByTime {
    fn series(&self, name: &str, label: &str) -> Option<Series> {
        let c = COLUMNS.iter().position(|(n, _)| *n == name)?;
        let med: Vec<f64> = self.q.iter().map(|q| q[c][1]).collect();
        if med.iter().all(|v| v.is_nan()) {
            return None;
        }
        Some(Series {
            name: format!("{label} (median, IQR band)"),
            x: self.t.clone(),
            y: med,
            band: Some((
                self.q.iter().map(|q| q[c][0]).collect(),
                self.q.iter().map(|q| q[c][2]).collect(),
            )),
            markers: true,
        })
    }

    fn plot(&self, title: &str, y_label: &str, cols: &[(&str, &str)]) -> Plot {
        Plot {
            title: title.into(),
            x_label: "t (OU time, log scale; backward runs go right to left)".into(),
            y_label: y_label.into(),
            series: cols.iter().filter_map(|(c, l)| self.series(c, l)).collect(),
            log_x: true,
            ..Plot::default()
        }
    }
}

pub fn run(a: GeometryArgs, ctx: &Ctx) -> Result<()> {
    if a.trajectories == 0 || a.probes == 0 {
        anyhow::bail!(UsageError(
            "--trajectories and --probes must be positive".into()
        ));
    }
    let s = load_setup(&a, ctx)?;
    let d = s.score.dim();
    let kind: SamplerKind = serde_json::from_value(json!(a.sampler))?;
    let grid = TimeGrid::log(a.t_max, a.t_min, a.steps)?;
    let n_steps = grid.n_steps();
    let probes = a.probes.min(n_steps);
    let mut steps: Vec<usize> = (0..probes)
        .map(|j| {
            if probes == 1 {
                n_steps - 1
            } else {
                (j * (n_steps - 1) + (probes - 1) / 2) / (probes - 1)
            }
        })
        .collect();
    steps.dedup();
    let k = a
        .tangent_dim
        .or_else(|| s.model.as_ref().and_then(DataModel::intrinsic_dim));
    let opts = ProbeOptions {
        threshold: a.threshold,
        k,
        stanczuk_samples: a.stanczuk.unwrap_or(4 * d),
        matrix_free: a.matrix_free,
        ..ProbeOptions::default()
    };
    let tangent = s.model.as_ref().and_then(|m| m.tangent(s.model_seed));
    let reference = EmpiricalScore::new(&s.data, Precision::F32)?;
    ctx.note(format!(
        "geometry of {} along {} trajectories, {} probes; reference: exact empirical score of {} points",
        s.what, a.trajectories, steps.len(), s.data.n
    ));
    let t0 = Instant::now();
    let bar = ctx.bar(steps.len() as u64, "probe");
    let rows = geometry::along_trajectories(
        s.score.as_ref(),
        Some(&reference),
        tangent.as_deref().map(|t| t as _),
        kind,
        &grid,
        a.trajectories,
        &steps,
        &opts,
        ctx.seed,
        &ctx.monitor(&bar),
        Par::rayon(0),
    )?;
    bar.finish_and_clear();
    let wall = t0.elapsed().as_secs_f64();
    let bt = by_time(&rows);
    io::write_run_dir(&a.out, |dir| {
        write_run(dir, &a, &s, &rows, &bt, &opts, wall, ctx.seed)
    })?;
    print_table(&bt, k);
    println!("run directory: {}", a.out.display());
    Ok(())
}

fn print_table(bt: &ByTime, k: Option<usize>) {
    println!(
        "{:>9} {:>6} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8}",
        "t", "(a)", "(b)", "(c)", "(d)", "(e)", "A_TT", "A_NN", "overlap", "NP err"
    );
    let idx = |n: &str| COLUMNS.iter().position(|(c, _)| *c == n).expect("column");
    for (i, t) in bt.t.iter().enumerate() {
        let m = |n: &str| bt.q[i][idx(n)][1];
        let ov = if m("overlap_true").is_nan() {
            m("overlap_reference")
        } else {
            m("overlap_true")
        };
        println!(
            "{t:>9.4} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
            m("dim_threshold"),
            m("dim_trace"),
            m("dim_participation"),
            m("dim_flipd"),
            m("dim_stanczuk"),
            m("asym_tt"),
            m("asym_nn"),
            ov,
            m("normal_projection_error")
        );
    }
    if let Some(k) = k {
        println!("(true intrinsic dimension k = {k}; medians over trajectories)");
    }
}

#[allow(clippy::too_many_arguments)]
fn write_run(
    dir: &Path,
    a: &GeometryArgs,
    s: &Setup,
    rows: &[PointGeometry],
    bt: &ByTime,
    opts: &ProbeOptions,
    wall: f64,
    seed: u64,
) -> diffscope::Result<()> {
    let d = s.score.dim();
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
    // Spectra per probed step (trajectories × d): σ² s_i, σ² eig((J + Jᵀ)/2), ⟨u_i, v_i⟩.
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
    // Figures.
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
    let k = opts.k;
    if let Some(k) = k {
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
    // Median spectra at a few probed times (full-Jacobian mode only; matrix-free computes none).
    let has_spectra = rows.iter().all(|r| r.sigma2_singular_values.len() == d);
    if has_spectra {
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
        .render(&dir.join("spectra"))?;
    }
    // Summary.
    let last = bt.t.len() - 1;
    let idx = |n: &str| COLUMNS.iter().position(|(c, _)| *c == n).expect("column");
    let med = |i: usize, n: &str| bt.q[i][idx(n)][1];
    let summary = json!({
        "version": diffscope::VERSION,
        "seed": seed,
        "score": s.what,
        "data": s.data.provenance, "n": s.data.n, "d": d,
        "data_model": s.model,
        "config": {
            "trajectories": a.trajectories, "steps": a.steps, "t_max": a.t_max, "t_min": a.t_min,
            "grid": "log", "sampler": a.sampler, "probe_steps": bt.steps, "probe": opts,
        },
        "by_time": bt.t.iter().enumerate().map(|(i, t)| {
            let mut m = serde_json::Map::new();
            m.insert("step".into(), json!(bt.steps[i]));
            m.insert("t".into(), json!(t));
            for (c, (n, _)) in COLUMNS.iter().enumerate() {
                m.insert((*n).into(), json!({"q25": nan_null(bt.q[i][c][0]), "median": nan_null(bt.q[i][c][1]), "q75": nan_null(bt.q[i][c][2])}));
            }
            serde_json::Value::Object(m)
        }).collect::<Vec<_>>(),
        "timings": {"probe_wall_s": wall},
    });
    io::write_json(&dir.join("summary.json"), &summary)?;
    let f = |v: f64| {
        if v.is_nan() {
            "—".to_string()
        } else {
            format!("{v:.3}")
        }
    };
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
            &format!(
                "{} — data: {} (n = {})",
                s.what, s.data.provenance, s.data.n
            ),
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

fn nan_null(v: f64) -> serde_json::Value {
    if v.is_finite() {
        json!(v)
    } else {
        serde_json::Value::Null
    }
}

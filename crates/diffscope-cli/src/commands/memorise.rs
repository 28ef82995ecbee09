//! `diffscope memorise`: f_mem of learned samplers against training time for growing training sets.

use crate::commands::train::SourceFlags;
use crate::ui::Ctx;
use anyhow::Result;
use clap::Args;
use diffscope::io;
use diffscope::memorisation::{self, MemorisationParams};
use diffscope::report::{html_report, Plot, Series};
use faer::Par;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct MemoriseArgs {
    /// Training data (default: the built-in 2-sphere in R^10; --n is ignored: the sizes come from
    /// --sizes and the draw holds the largest).
    #[command(flatten)]
    pub source: SourceFlags,
    /// Training-set sizes, comma-separated (nested subsets of one draw).
    #[arg(long, value_delimiter = ',')]
    pub sizes: Option<Vec<usize>>,
    /// Training steps for every size.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Evaluate f_mem every this many steps.
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Samples per evaluation.
    #[arg(long)]
    pub samples: Option<usize>,
    /// Network width.
    #[arg(long)]
    pub width: Option<usize>,
    /// Hidden layers.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Independent replicates per size (seed + r), for 95 % intervals on τ_mem and on its growth in n.
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Train size n for max(--steps, this × n) steps (τ_mem ∝ n needs longer runs for larger n).
    #[arg(long)]
    pub steps_per_point: Option<usize>,
    /// The sampler's last step: `denoise` (Tweedie at t_min; the default) or `none`.
    #[arg(long, value_enum)]
    pub final_step: Option<crate::commands::sample::FinalStepArg>,
    /// A TOML file with MemorisationParams keys (n, width, depth, train = {...}, eval_every, samples,
    /// sampler_steps, t_max, t_min, level, final_step); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output run directory.
    #[arg(long, short, default_value = "runs/memorise")]
    pub out: PathBuf,
}

pub fn run(mut a: MemoriseArgs, ctx: &Ctx) -> Result<()> {
    let mut p = match &a.config {
        Some(path) => crate::ui::read_toml::<MemorisationParams>(path)?,
        None => MemorisationParams::default(),
    };
    if let Some(v) = a.sizes.clone() {
        p.n = v;
    }
    if let Some(v) = a.steps {
        p.train.steps = v;
    }
    if let Some(v) = a.eval_every {
        p.eval_every = v;
    }
    if let Some(v) = a.samples {
        p.samples = v;
    }
    if let Some(v) = a.width {
        p.width = v;
    }
    if let Some(v) = a.depth {
        p.depth = v;
    }
    if let Some(v) = a.seeds {
        p.seeds = v;
    }
    if let Some(v) = a.steps_per_point {
        p.steps_per_point = v;
    }
    if let Some(v) = a.final_step {
        p.final_step = v.into();
    }
    a.source.n = p.n.iter().copied().max().unwrap_or(2);
    let (data, model) = a.source.load(ctx.seed)?;
    p.validate(data.n)?;
    let t0 = Instant::now();
    let bar = ctx.bar(0, "memorise");
    let curves = memorisation::run(&data, &p, ctx.seed, &ctx.monitor(&bar), Par::rayon(0))?;
    bar.finish_and_clear();
    let wall = t0.elapsed().as_secs_f64();
    let fit = memorisation::tau_fit(&curves);
    let stats = memorisation::tau_stats(&curves);
    let slope = fit.as_ref().map(|f| (f.slope, f.points));
    io::write_run_dir(&a.out, |dir| {
        let mut cols: [Vec<f64>; 5] = Default::default();
        for c in &curves {
            for i in 0..c.steps.len() {
                cols[0].push(c.n as f64);
                cols[1].push(c.replicate as f64);
                cols[2].push(c.steps[i] as f64);
                cols[3].push(c.f_mem[i]);
                cols[4].push(c.loss[i]);
            }
        }
        io::write_csv(
            &dir.join("curves.csv"),
            &["n", "replicate", "step", "f_mem", "loss"],
            &[&cols[0], &cols[1], &cols[2], &cols[3], &cols[4]],
        )?;
        Plot {
            title: "Memorisation: fraction of samples copying a training point".into(),
            x_label: "training step".into(),
            y_label: "f_mem (d₁ < d₂/3)".into(),
            series: curves
                .iter()
                .filter(|c| c.replicate == 0)
                .map(|c| Series {
                    name: format!("n = {}", c.n),
                    x: c.steps.iter().map(|&s| s as f64).collect(),
                    y: c.f_mem.clone(),
                    band: None,
                    markers: true,
                })
                .collect(),
            hlines: vec![(p.level, format!("level {} defining τ_mem", p.level))],
            y_range: Some((0.0, 1.0)),
            ..Plot::default()
        }
        .render(&dir.join("f_mem"))?;
        let mem: Vec<_> = stats.iter().filter(|s| s.mean.is_some()).collect();
        let ci = |k: usize| -> Vec<f64> {
            mem.iter()
                .map(|s| {
                    s.ci.map_or(
                        s.mean.unwrap_or(f64::NAN),
                        |c| if k == 0 { c.0 } else { c.1 },
                    )
                })
                .collect()
        };
        let mut series = vec![Series {
            name: format!("measured τ_mem (mean over {} seeds, 95% CI)", p.seeds),
            x: mem.iter().map(|s| s.n as f64).collect(),
            y: mem.iter().map(|s| s.mean.unwrap_or(f64::NAN)).collect(),
            band: (p.seeds > 1).then(|| (ci(0), ci(1))),
            markers: true,
        }];
        if let Some((s, _)) = slope {
            let nmax = p.n.iter().copied().max().unwrap_or(1) as f64;
            series.push(Series {
                name: format!("τ = {s:.1} n (least squares through 0)"),
                x: vec![0.0, nmax],
                y: vec![0.0, s * nmax],
                band: None,
                markers: false,
            });
        }
        Plot {
            title: "Memorisation time against training-set size".into(),
            x_label: "n".into(),
            y_label: "τ_mem (steps)".into(),
            series,
            ..Plot::default()
        }
        .render(&dir.join("tau_mem"))?;
        let summary = json!({
            "version": diffscope::VERSION, "seed": ctx.seed,
            "data": data.provenance, "d": data.d, "data_model": model,
            "params": p, "end_points": p.final_step.describe(), "curves": curves,
            "tau_slope": slope.map(|(s, k)| json!({"steps_per_point": s, "points_used": k})),
            "tau_fit": fit, "tau": stats,
            "timings": {"wall_s": wall},
        });
        io::write_json(&dir.join("summary.json"), &summary)?;
        let table: Vec<[String; 4]> = stats
            .iter()
            .map(|st| {
                let last: Vec<String> = curves
                    .iter()
                    .filter(|c| c.n == st.n)
                    .map(|c| format!("{:.2}", c.f_mem.last().copied().unwrap_or(f64::NAN)))
                    .collect();
                [
                    format!("n = {}", st.n),
                    slope.map_or("—".into(), |(s, _)| {
                        format!("τ ∝ n: {:.0}", s * st.n as f64)
                    }),
                    match (st.mean, st.ci) {
                        (Some(m), Some((lo, hi))) => format!("τ_mem = {m:.0} [{lo:.0}, {hi:.0}]"),
                        (Some(m), None) => format!("τ_mem = {m:.0}"),
                        _ => "not memorised".into(),
                    },
                    format!(
                        "memorised in {}/{} seeds; final f_mem {}",
                        st.memorised.0,
                        st.memorised.1,
                        last.join(", ")
                    ),
                ]
            })
            .collect();
        io::write_text(
            &dir.join("index.html"),
            &html_report(
                "diffscope memorise",
                &data.provenance,
                &table,
                &[
                    (
                        "f_mem.png".into(),
                        "f_mem against training steps, one curve per n".into(),
                    ),
                    ("tau_mem.png".into(), "memorisation time against n".into()),
                ],
            ),
        )
    })?;
    for c in &curves {
        println!(
            "n = {:>5} (seed +{}): τ_mem = {:>8}, f_mem along training: {}",
            c.n,
            c.replicate,
            c.tau_mem.map_or("—".into(), |t| t.to_string()),
            c.f_mem
                .iter()
                .map(|f| format!("{f:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    for st in &stats {
        if let (Some(m), Some((lo, hi))) = (st.mean, st.ci) {
            println!(
                "n = {:>5}: τ_mem = {m:.0}, 95% CI [{lo:.0}, {hi:.0}] ({}/{} seeds)",
                st.n, st.memorised.0, st.memorised.1
            );
        }
    }
    if let Some(f) = &fit {
        let ci =
            |c: Option<(f64, f64)>| c.map_or("—".into(), |(a, b)| format!("[{a:.2}, {b:.2}]"));
        println!(
            "τ_mem ≈ {:.1} steps × n, 95% CI {}; τ ∝ n^γ with γ = {} {} ({} points over {} sizes)",
            f.slope,
            ci(f.slope_ci),
            f.exponent.map_or("—".into(), |g| format!("{g:.2}")),
            ci(f.exponent_ci),
            f.points,
            f.sizes
        );
    }
    println!("run directory: {}", a.out.display());
    Ok(())
}

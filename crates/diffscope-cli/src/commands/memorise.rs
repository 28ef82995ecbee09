//! `diffscope memorise`: f_mem of learned samplers against training time for growing training sets.

use crate::commands::args::SourceFlags;
use crate::ui::Ctx;
use anyhow::Result;
use clap::Args;
use diffscope::config::{self, Table};
use diffscope::experiments;
use diffscope::memorisation::MemorisationParams;
use diffscope::sampler::FinalStep;
use std::path::PathBuf;

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
    /// Independent replicates per size (each on its own named sub-seed), for 95 % intervals on τ_mem and
    /// on its growth in n.
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Train size n for max(--steps, this × n) steps (τ_mem ∝ n needs longer runs for larger n).
    #[arg(long)]
    pub steps_per_point: Option<usize>,
    /// The sampler's last step: `denoise` (Tweedie at t_min; the default) or `none`.
    #[arg(long, value_enum)]
    pub final_step: Option<crate::commands::args::FinalStepArg>,
    /// A TOML file with MemorisationParams keys (n, width, depth, train = {...}, eval_every, samples,
    /// sampler_steps, t_max, t_min, level, final_step); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output run directory.
    #[arg(long, short, default_value = "runs/memorise")]
    pub out: PathBuf,
}

pub fn run(mut a: MemoriseArgs, ctx: &Ctx) -> Result<()> {
    let mut set = Table::new();
    config::set_some(&mut set, &["n"], a.sizes.as_ref())?;
    config::set_some(&mut set, &["train", "steps"], a.steps)?;
    config::set_some(&mut set, &["eval_every"], a.eval_every)?;
    config::set_some(&mut set, &["samples"], a.samples)?;
    config::set_some(&mut set, &["width"], a.width)?;
    config::set_some(&mut set, &["depth"], a.depth)?;
    config::set_some(&mut set, &["seeds"], a.seeds)?;
    config::set_some(&mut set, &["steps_per_point"], a.steps_per_point)?;
    config::set_some(&mut set, &["final_step"], a.final_step.map(FinalStep::from))?;
    let p: MemorisationParams = config::resolve(a.config.as_deref(), set)?;
    a.source.n = p.n.iter().copied().max().unwrap_or(2);
    let (data, model) = a.source.load(ctx.seed)?;
    let bar = ctx.bar(0, "memorise");
    let r = experiments::memorise::run(&data, model.as_ref(), &p, ctx.seed, &ctx.monitor(&bar))?;
    bar.finish_and_clear();
    experiments::memorise::write_run_dir(&r, &a.out)?;
    let (curves, stats, fit) = (&r.curves, &r.stats, &r.fit);
    for c in curves {
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
    for st in stats {
        if let (Some(m), Some((lo, hi))) = (st.mean, st.ci) {
            println!(
                "n = {:>5}: τ_mem = {m:.0}, 95% CI [{lo:.0}, {hi:.0}] ({}/{} seeds)",
                st.n, st.memorised.0, st.memorised.1
            );
        }
    }
    if let Some(f) = fit {
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

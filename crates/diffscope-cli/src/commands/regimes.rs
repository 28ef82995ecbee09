//! `diffscope regimes`: the main job. Argument parsing and printing over
//! [`diffscope::experiments::regimes`], which runs the experiment and writes the run directory.

use crate::commands::args::DataFlags;
use crate::ui::Ctx;
use anyhow::Result;
use clap::Args;
use diffscope::config::{self, Table};
use diffscope::data::{Activation, DataModel, Embedding, ManifoldSpec};
use diffscope::distributed::sweep::Shard;
use diffscope::experiments::regimes::{self as exp, fmt, RegimesConfig, RegimesSummary};
use diffscope::regimes::ClassRule;
use diffscope::sampler::{FinalStep, Spacing};
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct RegimesArgs {
    /// A TOML run description (keys: seed, n, model = {kind = "two-class", d = ...} or data = {path,
    /// label_col, classes, centre}, params = {batch, pairs, branch_every, steps, t_max, t_min, score, ...}).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Real data instead of the model (nearest-centroid class rule; centred per feature).
    #[command(flatten)]
    pub data: DataFlags,
    /// Dimension of the default two-class GMM.
    #[arg(long)]
    pub d: Option<usize>,
    /// Training points drawn from the model.
    #[arg(long)]
    pub n: Option<usize>,
    /// Score: empirical (exact, N points) or gmm (population score of the model).
    /// `gmm-projected`: the two-class population score simulated exactly on the projection onto m (O(B)
    /// per step at any d). A path to a `model.safetensors` from `diffscope train`: cloning on that trained
    /// network (φ_C and f_mem judged on the denoised end points).
    #[arg(long)]
    pub score: Option<String>,
    /// Trunk trajectories.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Clone pairs per branch time.
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Run on the hidden-manifold mixture with this activation (linear, tanh, relu, sign, erf, erf-sqrt2).
    #[arg(long)]
    pub manifold: Option<String>,
    /// Latent fraction β of --manifold.
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub beta: f64,
    /// Time-grid spacing: uniform, log (resolves the collapse phase: branch times reach down towards
    /// t_min) or edm [default: log for a data file, uniform for a generated model, or the config file's].
    #[arg(long, value_enum)]
    pub spacing: Option<crate::commands::args::SpacingArg>,
    /// Class rule: `centroid` (nearest class centroid, the default) or `ridge` (a ridge classifier
    /// trained on the labelled data, as in `universality`).
    #[arg(long, value_parser = ["centroid", "ridge"])]
    pub class_rule: Option<String>,
    /// The end points' last step: `denoise` (Tweedie at t_min; the default) or `none`.
    #[arg(long, value_enum)]
    pub final_step: Option<crate::commands::args::FinalStepArg>,
    /// Sweep: one run per β (manifold model), then t_S and t_C vs β beside the theory curves.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub sweep_beta: Option<Vec<f64>>,
    /// Sweep: one run per ambient dimension d at fixed β and n (two-class or manifold model), then the
    /// measured t_S with CIs beside ½ log Λ of the data and the theory, in a table and a figure. With
    /// `--score gmm-projected` this is Biroli et al.'s speciation table (φ at t = 2.5 … 5.0 included).
    #[arg(long, value_delimiter = ',')]
    pub sweep_d: Option<Vec<usize>>,
    /// Run only this shard of a sweep's runs: `i/n` (0-based; run k belongs to shard k mod n), or `auto`
    /// for the Slurm array task or MPI rank of this process. Complete runs are skipped, so rerunning a
    /// killed shard finishes it; the last shard to finish (or `diffscope merge`) assembles the sweep.
    #[arg(long)]
    pub shard: Option<diffscope::distributed::sweep::Shard>,
    /// Output run directory (replaced atomically when the run finishes).
    #[arg(long, short, default_value = "runs/regimes")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The sweep folder (holds sweep.json and one run directory per run).
    pub dir: PathBuf,
}

/// The run's config: the `--config` file (or the built-in default) with the flags given, and only those,
/// laid over it by the library's overlay ([`RegimesConfig::resolve`]); `--seed` wins over the file's.
fn resolve(a: &RegimesArgs, ctx: &Ctx) -> Result<RegimesConfig> {
    let mut set = Table::new();
    if let Some(s) = ctx.seed_flag {
        config::set(&mut set, &["seed"], s)?;
    }
    if let Some(spec) = a.data.spec(true) {
        config::set(&mut set, &["data"], spec)?;
    }
    if let Some(name) = &a.manifold {
        let m = DataModel::Manifold(ManifoldSpec {
            d: a.d.unwrap_or(100),
            beta: a.beta,
            activation: Activation::parse(name)?,
            mu2: 1.0,
            kappa: None,
            embedding: Embedding::Gaussian,
        });
        config::set(&mut set, &["model"], m)?;
    } else if let (Some(d), None) = (a.d, &a.data.data) {
        config::set(&mut set, &["model", "d"], d)?;
    }
    if let Some(n) = a.n {
        config::set(&mut set, &["n"], n)?;
    }
    if let Some(f) = a.final_step {
        config::set(&mut set, &["params", "final_step"], FinalStep::from(f))?;
    }
    match a.score.as_deref() {
        None => {}
        Some(name @ ("empirical" | "gmm" | "gmm-projected")) => {
            config::set(&mut set, &["params", "score"], name)?
        }
        Some(path) if path.ends_with(".safetensors") => {
            config::set(&mut set, &["score_model"], path)?
        }
        Some(other) => anyhow::bail!(crate::ui::UsageError(format!(
            "--score {other}: expected empirical, gmm, gmm-projected or a model.safetensors file"
        ))),
    }
    if let Some(sp) = a.spacing {
        config::set(&mut set, &["params", "spacing"], Spacing::from(sp))?;
    }
    if let Some(r) = &a.class_rule {
        let rule = if r == "ridge" {
            ClassRule::Ridge
        } else {
            ClassRule::Centroid
        };
        config::set(&mut set, &["params", "class_rule"], rule)?;
    }
    if let Some(b) = a.batch {
        config::set(&mut set, &["params", "batch"], b)?;
    }
    if let Some(p) = a.pairs {
        config::set(&mut set, &["params", "pairs"], p)?;
    }
    if let Some(dev) = ctx.device_flag {
        config::set(&mut set, &["params", "device"], dev)?;
    }
    Ok(RegimesConfig::resolve(a.config.as_deref(), set, false)?)
}

pub fn run(a: RegimesArgs, ctx: &Ctx) -> Result<()> {
    let cfg = resolve(&a, ctx)?;
    let bar = ctx.bar(
        (cfg.params.steps + cfg.params.entropy_times) as u64,
        "regimes",
    );
    let monitor = ctx.monitor(&bar);
    let over = match (&a.sweep_d, &a.sweep_beta) {
        (Some(dims), _) => Some(exp::SweepOver::D(dims.clone())),
        (None, Some(betas)) => Some(exp::SweepOver::Beta(betas.clone())),
        (None, None) => None,
    };
    let Some(over) = over else {
        if a.shard.is_some() {
            anyhow::bail!(crate::ui::UsageError(
                "--shard splits a sweep: give --sweep-d or --sweep-beta".into()
            ));
        }
        let report = exp::run_placed(&cfg, ctx.comm.clone(), &monitor)?;
        bar.finish_and_clear();
        if ctx.is_writer() {
            exp::write_run_dir(&report, &a.out)?;
            for line in summary_lines(&report.summary) {
                println!("{line}");
            }
            println!("run directory: {}", a.out.display());
        }
        return Ok(());
    };
    // `--shard` under mpirun: the ranks split the runs (each run on one rank, unsharded score), which is
    // what `--shard auto` reads from the MPI environment; without it they share every run's score.
    let place = match a.shard {
        Some(shard) => exp::SweepPlacement { shard, comm: None },
        None => exp::SweepPlacement {
            shard: Shard::ALL,
            comm: ctx.comm.clone(),
        },
    };
    let report = exp::sweep(&cfg, &over, &a.out, &place, &monitor)?;
    bar.finish_and_clear();
    if ctx.is_writer() {
        print_sweep(&report, &a.out);
    }
    Ok(())
}

fn print_sweep(report: &exp::SweepReport, out: &std::path::Path) {
    let o = &report.outcome;
    if o.summaries.is_none() {
        println!(
            "shard done: ran {}, skipped {}; waiting for {} (then `diffscope merge {}`)",
            o.ran.len(),
            o.skipped.len(),
            o.waiting.join(", "),
            out.display()
        );
        return;
    }
    match (&report.over, &o.summaries) {
        (exp::SweepOver::Beta(betas), Some(rows)) => {
            for (b, s) in betas.iter().zip(rows) {
                println!("{}", exp::sweep_beta_line(*b, s));
            }
        }
        _ => {
            for row in &report.table {
                println!(
                    "{:<16} theory {:>8}  measured {:<24} {}",
                    row[0], row[1], row[2], row[3]
                );
            }
        }
    }
    println!("sweep directory: {}", out.display());
}

pub fn merge(a: MergeArgs, _ctx: &Ctx) -> Result<()> {
    let report = exp::merge(&a.dir)?;
    print_sweep(&report, &a.dir);
    Ok(())
}

/// A run's summary as the lines `diffscope regimes` prints: the data, n, d, α, the table of
/// [`RegimesSummary::table_rows`] and the wall time.
fn summary_lines(s: &RegimesSummary) -> Vec<String> {
    let mut v = vec![
        s.data.clone(),
        format!("n = {}, d = {}, α = {}", s.n, s.d, fmt(Some(s.alpha))),
    ];
    if let Some(g) = &s.grid_spacing {
        v.push(format!("grid: {g}"));
    }
    v.extend([format!(
        "{:<30} {:>8} {:>9}   note",
        "quantity", "theory", "measured"
    )]);
    v.extend(
        s.table_rows()
            .into_iter()
            .map(|r| format!("{:<30} {:>8} {:>9}   {}", r[0], r[1], r[2], r[3])),
    );
    v.push(format!("time: {} s", fmt(Some(s.timings_s.total))));
    v
}

//! `diffscope train`: fit an MLP score network by denoising score matching, with checkpoints and resume.

use crate::commands::args::SourceFlags;
use crate::ui::Ctx;
use anyhow::Result;
use clap::Args;
use diffscope::config::{self, Table};
use diffscope::experiments::{self, train::TrainSettings};
use diffscope::nn::TrainConfig;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub source: SourceFlags,
    /// Hidden width.
    #[arg(long, default_value_t = 256)]
    pub width: usize,
    /// Hidden layers.
    #[arg(long, default_value_t = 3)]
    pub depth: usize,
    /// Sinusoidal time frequencies.
    #[arg(long, default_value_t = 4)]
    pub n_freq: usize,
    /// Optimiser steps (total, counting steps done before a resume).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Minibatch size.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Smallest training time.
    #[arg(long)]
    pub t_min: Option<f64>,
    /// EMA decay of the saved weights (0: raw weights).
    #[arg(long)]
    pub ema: Option<f64>,
    /// A TOML file with any TrainConfig keys (steps, batch, lr, warmup, beta1, beta2, eps, ema, t_min,
    /// t_max, log_every); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write checkpoint.safetensors every this many steps (and on Ctrl-C).
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_every: usize,
    /// Continue from <out>/checkpoint.safetensors (same data and seed); --steps may raise the total.
    #[arg(long)]
    pub resume: bool,
    /// Output directory: model.safetensors, data.npz, loss.csv, figures, summary.json, index.html.
    #[arg(long, short, default_value = "runs/train")]
    pub out: PathBuf,
}

impl TrainArgs {
    fn train_config(&self) -> Result<TrainConfig> {
        let mut set = Table::new();
        config::set_some(&mut set, &["steps"], self.steps)?;
        config::set_some(&mut set, &["batch"], self.batch)?;
        config::set_some(&mut set, &["lr"], self.lr)?;
        config::set_some(&mut set, &["t_min"], self.t_min)?;
        config::set_some(&mut set, &["ema"], self.ema)?;
        let c: TrainConfig = config::resolve(self.config.as_deref(), set)?;
        c.validate()?;
        Ok(c)
    }
}

pub fn run(a: TrainArgs, ctx: &Ctx) -> Result<()> {
    let settings = TrainSettings {
        width: a.width,
        depth: a.depth,
        n_freq: a.n_freq,
        train: a.train_config()?,
        checkpoint_every: a.checkpoint_every,
        resume: a.resume,
        resume_steps: a.steps,
    };
    let (ds, model) = a.source.load(ctx.seed)?;
    let bar = ctx.bar(settings.train.steps as u64, "train");
    let t0 = Instant::now();
    let result = experiments::train::run(
        &ds,
        model.as_ref(),
        &settings,
        ctx.seed,
        &a.out,
        &ctx.monitor(&bar),
        &mut |_, loss| bar.set_message(format!("loss {loss:.4}")),
    );
    bar.finish_and_clear();
    let summary = match result {
        Err(diffscope::Error::Interrupted) => {
            eprintln!(
                "interrupted: state saved to {}; continue with --resume",
                a.out.join("checkpoint.safetensors").display()
            );
            return Err(diffscope::Error::Interrupted.into());
        }
        Err(e @ diffscope::Error::Io { .. }) if a.resume => {
            return Err(anyhow::Error::new(e).context(format!(
                "--resume: cannot continue from {}",
                a.out.join("checkpoint.safetensors").display()
            )))
        }
        r => r?,
    };
    println!(
        "trained {} steps in {:.1} s, final loss {:.4}; model: {}",
        summary.steps_done,
        t0.elapsed().as_secs_f64(),
        summary.final_loss.unwrap_or(f64::NAN),
        a.out.join("model.safetensors").display()
    );
    Ok(())
}

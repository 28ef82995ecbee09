//! `diffscope train`: fit an MLP score network by denoising score matching, with checkpoints and resume.

use crate::commands::data::DataFlags;
use crate::ui::{Ctx, UsageError};
use anyhow::{Context, Result};
use clap::Args;
use diffscope::data::{DataModel, Dataset, SphereSpec};
use diffscope::io;
use diffscope::nn::{TrainConfig, Trainer};
use diffscope::report::{html_report, Plot, Series};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where training data comes from: a data file, a TOML data model, or the built-in k-sphere.
#[derive(Args, Debug, Clone)]
pub struct SourceFlags {
    #[command(flatten)]
    pub data: DataFlags,
    /// Centre --data per feature.
    #[arg(long)]
    pub centre: bool,
    /// A TOML data model: kind = "sphere" (d, k, radius), "subspace" (d, k, variances), "two-class",
    /// "gmm" or "manifold".
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Built-in model (neither --data nor --model): intrinsic dimension k of a uniform k-sphere.
    #[arg(long, default_value_t = 2)]
    pub k: usize,
    /// Built-in model: ambient dimension d.
    #[arg(long, default_value_t = 10)]
    pub d: usize,
    /// Built-in model: radius.
    #[arg(long, default_value_t = 1.0)]
    pub radius: f64,
    /// Points drawn from a model.
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
}

impl SourceFlags {
    /// The data set, and the model it came from (None for a file).
    pub fn load(&self, seed: u64) -> Result<(Dataset, Option<DataModel>)> {
        if let Some(f) = self.data.file_args(self.centre) {
            if self.model.is_some() {
                anyhow::bail!(UsageError("give --data or --model, not both".into()));
            }
            return Ok((f.load()?, None));
        }
        let model = match &self.model {
            Some(path) => crate::ui::read_toml::<DataModel>(path)?,
            None => DataModel::Sphere(SphereSpec {
                d: self.d,
                k: self.k,
                radius: self.radius,
            }),
        };
        if self.n < 2 {
            return Err(diffscope::Error::param("n", self.n, "at least 2 training points").into());
        }
        Ok((model.sample(self.n, seed)?, Some(model)))
    }
}

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
        let mut c = match &self.config {
            Some(path) => crate::ui::read_toml::<TrainConfig>(path)?,
            None => TrainConfig::default(),
        };
        if let Some(v) = self.steps {
            c.steps = v;
        }
        if let Some(v) = self.batch {
            c.batch = v;
        }
        if let Some(v) = self.lr {
            c.lr = v;
        }
        if let Some(v) = self.t_min {
            c.t_min = v;
        }
        if let Some(v) = self.ema {
            c.ema = v;
        }
        c.validate()?;
        Ok(c)
    }
}

/// Metadata key holding the data model (JSON) in a saved model, so `geometry` knows the true tangent.
pub const META_MODEL: &str = "diffscope.data_model";
/// Metadata key holding the seed the data was drawn with.
pub const META_SEED: &str = "diffscope.seed";

pub fn run(a: TrainArgs, ctx: &Ctx) -> Result<()> {
    let cfg = a.train_config()?;
    let (ds, model) = a.source.load(ctx.seed)?;
    let ck = a.out.join("checkpoint.safetensors");
    let mut tr = if a.resume {
        let mut tr = Trainer::resume(&ck, &ds)
            .with_context(|| format!("--resume: cannot continue from {}", ck.display()))?;
        if let Some(s) = a.steps {
            tr.set_total_steps(s);
        }
        ctx.note(format!(
            "resuming at step {} of {}",
            tr.step_count(),
            tr.config().steps
        ));
        tr
    } else {
        Trainer::new(&ds, a.width, a.depth, a.n_freq, cfg, ctx.seed)?
    };
    std::fs::create_dir_all(&a.out).map_err(|e| diffscope::Error::io(&a.out, e))?;
    let net = tr.raw_model();
    ctx.note(format!(
        "training {} on {} (n = {}, d = {})",
        diffscope::score::Score::describe(net),
        ds.provenance,
        ds.n,
        ds.d
    ));
    let t0 = Instant::now();
    let bar = ctx.bar(tr.config().steps as u64, "train");
    let monitor = ctx.monitor(&bar);
    // Checkpoints are written at the first logged step past each multiple of --checkpoint-every.
    let every = a.checkpoint_every.max(1);
    let mut saved_block = tr.step_count() / every;
    let result = tr.train(&ds, &monitor, &mut |t| {
        if let Some(l) = t.log().last() {
            bar.set_message(format!("loss {:.4}", l.loss));
        }
        if t.step_count() / every > saved_block {
            saved_block = t.step_count() / every;
            t.save_checkpoint(&ck, &ds)?;
        }
        Ok(())
    });
    bar.finish_and_clear();
    if let Err(diffscope::Error::Interrupted) = result {
        tr.save_checkpoint(&ck, &ds)?;
        eprintln!(
            "interrupted at step {}: state saved to {}; continue with --resume",
            tr.step_count(),
            ck.display()
        );
        return Err(diffscope::Error::Interrupted.into());
    }
    result?;
    let wall = t0.elapsed().as_secs_f64();
    tr.save_checkpoint(&ck, &ds)?;
    write_outputs(&a.out, &tr, &ds, model.as_ref(), ctx.seed, wall)?;
    let last = tr.log().last().map_or(f64::NAN, |l| l.loss);
    println!(
        "trained {} steps in {wall:.1} s, final loss {last:.4}; model: {}",
        tr.step_count(),
        a.out.join("model.safetensors").display()
    );
    Ok(())
}

fn write_outputs(
    out: &Path,
    tr: &Trainer,
    ds: &Dataset,
    model: Option<&DataModel>,
    seed: u64,
    wall: f64,
) -> Result<()> {
    let net = tr.model();
    let mut meta = vec![(META_SEED, seed.to_string())];
    if let Some(m) = model {
        meta.push((META_MODEL, serde_json::to_string(m)?));
    }
    net.save(&out.join("model.safetensors"), &meta)?;
    ds.write_npz(&out.join("data.npz"))?;
    let steps: Vec<f64> = tr.log().iter().map(|l| l.step as f64).collect();
    let losses: Vec<f64> = tr.log().iter().map(|l| l.loss).collect();
    io::write_csv(&out.join("loss.csv"), &["step", "loss"], &[&steps, &losses])?;
    Plot {
        title: "Denoising score-matching loss (EDM-weighted, per coordinate)".into(),
        x_label: "step".into(),
        y_label: "loss".into(),
        series: vec![Series {
            name: "mean minibatch loss per window".into(),
            x: steps,
            y: losses.clone(),
            band: None,
            markers: false,
        }],
        ..Plot::default()
    }
    .render(&out.join("loss"))?;
    let summary = json!({
        "version": diffscope::VERSION,
        "seed": seed,
        "data": ds.provenance, "n": ds.n, "d": ds.d,
        "data_model": model,
        "network": net.config(),
        "parameters": net.n_params(),
        "train": tr.config(),
        "steps_done": tr.step_count(),
        "final_loss": losses.last(),
        "timings": {"train_wall_s_this_invocation": wall},
    });
    io::write_json(&out.join("summary.json"), &summary)?;
    let c = net.config();
    let table = vec![
        [
            "network".to_string(),
            "—".into(),
            format!(
                "width {}, depth {}, {} parameters",
                c.width,
                c.depth,
                net.n_params()
            ),
            format!("σ_data = {:.4}", c.sigma_data),
        ],
        [
            "final loss".to_string(),
            "—".into(),
            format!("{:.5}", losses.last().copied().unwrap_or(f64::NAN)),
            format!("{} steps, batch {}", tr.step_count(), tr.config().batch),
        ],
    ];
    io::write_text(
        &out.join("index.html"),
        &html_report(
            "diffscope train",
            &ds.provenance,
            &table,
            &[("loss.png".into(), "training loss".into())],
        ),
    )?;
    Ok(())
}

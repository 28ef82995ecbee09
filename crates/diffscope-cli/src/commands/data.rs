//! `diffscope data generate` and `diffscope data info`.

use crate::commands::args::{DataFileArgs, TwoClassArgs};
use crate::ui::Ctx;
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use diffscope::data::DataModel;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum DataCmd {
    /// Sample a data model and write it as .npz (members x: n×d float32, y: labels).
    ///
    /// Example: diffscope data generate --d 100 --n 10000 -o gmm.npz
    Generate(GenerateArgs),
    /// Summarise a data file: n, d, classes with counts, mean norm, top covariance eigenvalue Λ with
    /// ½ log Λ (the predicted speciation time), and the rank bound min(n−1, d).
    ///
    /// Example: diffscope data info ../shared/data/digits.csv.gz --label-col 64
    Info(InfoArgs),
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub data: DataFileArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ModelKind {
    /// ±m + σz with |m|² = d μ̃² (Biroli et al. 2024).
    TwoClass,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Data model on the command line (ignored when --config is given).
    #[arg(long, value_enum, default_value = "two-class")]
    pub model: ModelKind,
    /// A TOML file describing the model: `kind = "two-class"`, `kind = "gmm"` (means, covariance) or
    /// `kind = "manifold"` (d, beta, activation, mu2, kappa, embedding; F and μ̃ are saved in the .npz).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub two_class: TwoClassArgs,
    /// Number of samples.
    #[arg(long, default_value_t = 10_000)]
    pub n: usize,
    /// Output .npz.
    #[arg(long, short)]
    pub out: PathBuf,
}

pub fn run(cmd: DataCmd, ctx: &Ctx) -> Result<()> {
    match cmd {
        DataCmd::Info(a) => info(a),
        DataCmd::Generate(a) => generate(a, ctx),
    }
}

fn info(a: InfoArgs) -> Result<()> {
    let ds = a.data.load()?;
    let info = ds.info()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    println!("data       {}", info.provenance);
    println!("n          {}", info.n);
    println!("d          {}", info.d);
    if info.classes.is_empty() {
        println!("classes    (unlabelled)");
    } else {
        println!("classes    {}", info.classes.len());
        for c in &info.classes {
            println!("  {:>8}  {}", c.name, c.count);
        }
    }
    println!("mean |x|   {:.6}", info.mean_norm);
    println!(
        "top eig Λ  {:.6}   (of the unbiased sample covariance)",
        info.top_eigenvalue
    );
    match info.half_log_top_eigenvalue {
        Some(h) => println!("½ log Λ    {h:.6}   (predicted speciation time t_S)"),
        None => println!("½ log Λ    undefined   (Λ = 0)"),
    }
    println!("rank bound {}   (min(n − 1, d))", info.rank_bound);
    for w in &info.warnings {
        println!("warning    {w}");
    }
    Ok(())
}

pub fn model_from_args(a: &GenerateArgs) -> Result<DataModel> {
    if let Some(path) = &a.config {
        return Ok(crate::ui::read_toml::<DataModel>(path)?);
    }
    Ok(match a.model {
        ModelKind::TwoClass => a.two_class.model(),
    })
}

fn generate(a: GenerateArgs, ctx: &Ctx) -> Result<()> {
    let model = model_from_args(&a)?;
    let ds = model.sample(a.n, ctx.seed)?;
    match &model {
        // The quenched embedding F (d × p) and latent centre μ̃ are saved beside the data, so theory and
        // experiments on this file use the same F.
        DataModel::Manifold(spec) => {
            let m = spec.draw(ctx.seed)?;
            let f = diffscope::io::NpyArray::f64(
                spec.d,
                m.p,
                (0..spec.d)
                    .flat_map(|i| (0..m.p).map(move |j| (i, j)))
                    .map(|(i, j)| m.f[(i, j)])
                    .collect(),
            );
            let mu = diffscope::io::NpyArray::f64_1d(m.mu.clone());
            ds.write_npz_with(&a.out, &[("F", &f), ("mu", &mu)])?;
        }
        _ => ds.write_npz(&a.out)?,
    }
    ctx.note(format!(
        "wrote {} ({} × {}): {}",
        a.out.display(),
        ds.n,
        ds.d,
        ds.provenance
    ));
    println!("{}", a.out.display());
    Ok(())
}

//! `diffscope data generate` and `diffscope data info`.

use crate::ui::Ctx;
use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use diffscope::data::{self, DataModel, Direction, TwoClassGmm};
use diffscope::experiments::regimes::DataFileSpec;
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

/// Where a data set comes from on the command line (shared by commands that read data).
#[derive(Args, Debug, Clone)]
pub struct DataFileArgs {
    /// CSV (.csv, .csv.gz, .txt), .npy, .npz, IDX (MNIST / Fashion-MNIST images), or a folder
    /// <root>/<class>/*.npy|png|jpg.
    pub file: PathBuf,
    /// CSV: column holding the class label (0-based; negative counts from the end).
    #[arg(long, allow_hyphen_values = true)]
    pub label_col: Option<i64>,
    /// CSV: the first line is a header (default: detected).
    #[arg(long)]
    pub header: bool,
    /// Keep only these classes, comma-separated (e.g. 0,1).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Subtract the per-feature mean.
    #[arg(long)]
    pub centre: bool,
    /// Image data: map pixels from [0, 1] to [−1, 1] (before centring).
    #[arg(long)]
    pub symmetric_pixels: bool,
    /// The image layout H,W or C,H,W of rows read from a non-image file (for sample grids).
    #[arg(long)]
    pub image_shape: Option<String>,
}

impl DataFileArgs {
    /// The library's description of this data file.
    pub fn spec(&self) -> DataFileSpec {
        DataFileSpec {
            label_col: self.label_col,
            header: self.header.then_some(true),
            classes: self.classes.clone(),
            centre: self.centre,
            symmetric_pixels: self.symmetric_pixels,
            image_shape: self.image_shape.clone(),
            ..DataFileSpec::new(&self.file)
        }
    }

    pub fn load(&self) -> Result<data::Dataset> {
        Ok(self.spec().load()?)
    }
}

/// An optional `--data FILE` with its CSV label column and class selection (for commands that otherwise
/// draw from a model).
#[derive(Args, Debug, Clone)]
pub struct DataFlags {
    /// Data file (CSV, .npy, .npz, class folder) instead of the built-in model.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// CSV label column of --data (0-based; negative counts from the end).
    #[arg(long, allow_hyphen_values = true)]
    pub label_col: Option<i64>,
    /// Classes of --data to keep, comma-separated (e.g. 0,1).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Image data: map pixels from [0, 1] to [−1, 1] (before centring).
    #[arg(long)]
    pub symmetric_pixels: bool,
    /// The image layout H,W or C,H,W of rows read from a non-image --data file (for sample grids).
    #[arg(long)]
    pub image_shape: Option<String>,
}

impl DataFlags {
    /// The full data-file arguments when --data was given.
    pub fn file_args(&self, centre: bool) -> Option<DataFileArgs> {
        self.data.as_ref().map(|file| DataFileArgs {
            file: file.clone(),
            label_col: self.label_col,
            header: false,
            classes: self.classes.clone(),
            centre,
            symmetric_pixels: self.symmetric_pixels,
            image_shape: self.image_shape.clone(),
        })
    }
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

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum DirectionArg {
    Ones,
    Random,
}

/// Flags of the two-class GMM ±m + σz, |m|² = d μ̃² (shared by the commands that draw from it).
#[derive(Args, Debug, Clone)]
pub struct TwoClassArgs {
    /// Dimension d.
    #[arg(long, default_value_t = 100)]
    pub d: usize,
    /// Mean scale μ̃ (|m|² = d μ̃²).
    #[arg(long, allow_hyphen_values = true, default_value_t = 1.0)]
    pub mu_tilde: f64,
    /// Within-class standard deviation σ.
    #[arg(long, allow_hyphen_values = true, default_value_t = 1.0)]
    pub sigma: f64,
    /// Direction of m.
    #[arg(long, value_enum, default_value = "ones")]
    pub direction: DirectionArg,
}

impl TwoClassArgs {
    /// The model these flags describe.
    pub fn model(&self) -> DataModel {
        DataModel::TwoClass(TwoClassGmm {
            d: self.d,
            mu_tilde: self.mu_tilde,
            sigma: self.sigma,
            direction: match self.direction {
                DirectionArg::Ones => Direction::Ones,
                DirectionArg::Random => Direction::Random,
            },
        })
    }
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
    println!(
        "½ log Λ    {:.6}   (predicted speciation time t_S)",
        info.half_log_top_eigenvalue
    );
    println!("rank bound {}   (min(n − 1, d))", info.rank_bound);
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

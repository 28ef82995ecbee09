//! Flag groups shared by several commands: data files, the two-class model, the time grid, the sampler
//! and its last step, and the data sources of `train`/`geometry`/`memorise` and of the statistics commands.

use crate::ui::UsageError;
use anyhow::Result;
use clap::{Args, ValueEnum};
use diffscope::concentration;
use diffscope::data::{self, DataFileSpec, DataModel, Dataset, Direction, SphereSpec, TwoClassGmm};
use diffscope::experiments::sample::SampleParams;
use diffscope::sampler::{EdmChurn, FinalStep, SamplerKind, Spacing, TimeGrid};
use std::path::{Path, PathBuf};

/// How a data file is read: the one flag group of a data source, flattened into every command that
/// reads data (beside the file itself, positional or `--data`, the command's `--centre`, and, where a
/// subset makes sense, `--per-class N`: `spectrum` has its own `--per-class`, the spectra per class).
#[derive(Args, Debug, Clone, Default)]
pub struct DataOptions {
    /// CSV or 2-D .npy: column holding the class label (0-based; negative counts from the end).
    #[arg(long, allow_hyphen_values = true)]
    pub label_col: Option<i64>,
    /// CSV: the first line is a header (default: detected).
    #[arg(long)]
    pub header: bool,
    /// Keep only these classes, comma-separated (e.g. 0,1).
    #[arg(long, value_delimiter = ',')]
    pub classes: Option<Vec<String>>,
    /// Image data: map pixels from [0, 1] to [−1, 1] (before centring).
    #[arg(long)]
    pub symmetric_pixels: bool,
    /// The image layout H,W or C,H,W of rows read from a non-image file (for sample grids).
    #[arg(long)]
    pub image_shape: Option<String>,
}

impl DataOptions {
    /// The library's description of `file` read with these options.
    pub fn spec(&self, file: &Path, centre: bool, per_class: Option<usize>) -> DataFileSpec {
        DataFileSpec {
            label_col: self.label_col,
            header: self.header.then_some(true),
            classes: self.classes.clone(),
            centre,
            symmetric_pixels: self.symmetric_pixels,
            image_shape: self.image_shape.clone(),
            per_class,
            ..DataFileSpec::new(file)
        }
    }
}

/// A data file given as the command's argument, with its options.
#[derive(Args, Debug, Clone)]
pub struct DataFileArgs {
    /// CSV (.csv, .csv.gz, .txt), .npy, .npz, IDX (MNIST / Fashion-MNIST images), or a folder
    /// <root>/<class>/*.npy|png|jpg.
    pub file: PathBuf,
    #[command(flatten)]
    pub options: DataOptions,
    /// Subtract the per-feature mean.
    #[arg(long)]
    pub centre: bool,
    /// Keep the first N rows of each class (a seed-free subset).
    #[arg(long)]
    pub per_class: Option<usize>,
}

impl DataFileArgs {
    /// The library's description of this data file.
    pub fn spec(&self) -> DataFileSpec {
        self.options.spec(&self.file, self.centre, self.per_class)
    }

    pub fn load(&self) -> Result<data::Dataset> {
        Ok(self.spec().load()?)
    }
}

/// An optional `--data FILE` with its options (for commands that otherwise draw from a model).
#[derive(Args, Debug, Clone)]
pub struct DataFlags {
    /// Data file (CSV, .npy, .npz, IDX, class folder) instead of the built-in model.
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub options: DataOptions,
    /// Keep the first N rows of each class of --data (a seed-free subset).
    #[arg(long)]
    pub per_class: Option<usize>,
}

impl DataFlags {
    /// The library's description of --data, when given, centred or not as the command decides.
    pub fn spec(&self, centre: bool) -> Option<DataFileSpec> {
        (self.data.as_ref()).map(|f| self.options.spec(f, centre, self.per_class))
    }

    /// --data loaded, when given.
    pub fn load(&self, centre: bool) -> Result<Option<Dataset>> {
        Ok(self.spec(centre).map(|s| s.load()).transpose()?)
    }
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

/// `--sampler`: any of the library's sampler names ([`SamplerKind::NAMES`]: em, ode-euler, ode-heun, edm
/// and their long forms), the same as Python's `sampler=`.
pub fn sampler_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(SamplerKind::NAMES.map(|(n, _)| n))
}

/// The churn of `--sampler edm`, in EDM's σ units (Karras et al. 2022; their ImageNet-64 setting is
/// --churn 40 --s-tmin 0.05 --s-tmax 50 --s-noise 1.003). Without --churn it is EDM's deterministic Heun.
#[derive(Args, Debug, Clone)]
pub struct EdmArgs {
    /// S_churn: the total churn over the run (γ = S_churn / steps per step, at most √2 − 1).
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,
    /// S_tmin: churn only where σ ≥ this.
    #[arg(long, default_value_t = 0.0)]
    pub s_tmin: f64,
    /// S_tmax: churn only where σ ≤ this [default: no limit].
    #[arg(long)]
    pub s_tmax: Option<f64>,
    /// S_noise: scale of the churn noise.
    #[arg(long, default_value_t = 1.0)]
    pub s_noise: f64,
}

impl EdmArgs {
    /// The churn as given, or None when every churn flag is at its default (the library then refuses
    /// churn given with a sampler other than edm).
    pub fn churn(&self) -> Option<EdmChurn> {
        let c = EdmChurn {
            churn: self.churn,
            s_tmin: self.s_tmin,
            s_tmax: self.s_tmax,
            s_noise: self.s_noise,
        };
        (c != EdmChurn::NONE).then_some(c)
    }
}

/// The end points' last step.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum FinalStepArg {
    /// Tweedie denoising x ← e^t (x + Δ_t S(x, t)) at t_min (as EDM and k-diffusion end).
    Denoise,
    /// Keep the state at t_min (with the last step's noise).
    None,
}

impl From<FinalStepArg> for FinalStep {
    fn from(a: FinalStepArg) -> Self {
        match a {
            FinalStepArg::Denoise => FinalStep::Denoise,
            FinalStepArg::None => FinalStep::None,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SpacingArg {
    Uniform,
    Log,
    Edm,
}

impl From<SpacingArg> for Spacing {
    fn from(a: SpacingArg) -> Self {
        match a {
            SpacingArg::Uniform => Spacing::Uniform,
            SpacingArg::Log => Spacing::Log,
            SpacingArg::Edm => Spacing::Edm,
        }
    }
}

/// Time-grid flags shared by commands that integrate backwards; a flag not given takes the library's
/// default ([`SampleParams::default`]: 200 uniform steps from t_max = 6 to t_min = 0.01).
#[derive(Args, Debug, Clone)]
pub struct GridArgs {
    /// Number of steps [default: 200].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Start time T (x_T ~ N(0, I)) [default: 6].
    #[arg(long = "t-max", allow_hyphen_values = true)]
    pub t_max: Option<f64>,
    /// End time t_min > 0 [default: 0.01].
    #[arg(long = "t-min", allow_hyphen_values = true)]
    pub t_min: Option<f64>,
    /// Grid spacing [default: uniform].
    #[arg(long, value_enum)]
    pub spacing: Option<SpacingArg>,
}

impl GridArgs {
    /// `p` with the grid flags given laid over it.
    pub fn over(&self, p: SampleParams) -> SampleParams {
        SampleParams {
            steps: self.steps.unwrap_or(p.steps),
            t_max: self.t_max.unwrap_or(p.t_max),
            t_min: self.t_min.unwrap_or(p.t_min),
            spacing: self.spacing.map_or(p.spacing, Spacing::from),
            ..p
        }
    }

    /// The grid of the flags over the library's defaults.
    pub fn grid(&self) -> Result<TimeGrid> {
        let p = self.over(SampleParams::default());
        Ok(TimeGrid::new(p.spacing, p.t_max, p.t_min, p.steps)?)
    }
}

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
        if let Some(ds) = self.data.load(self.centre)? {
            if self.model.is_some() {
                anyhow::bail!(UsageError("give --data or --model, not both".into()));
            }
            return Ok((ds, None));
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

/// Where the samples come from.
#[derive(Args, Debug)]
pub struct SourceArgs {
    /// Data file (CSV, .npy, .npz — e.g. the output of `diffscope sample` — or a class folder).
    /// Without it, --n samples of the two-class GMM (or of --student-t) are drawn.
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub options: DataOptions,
    /// Centre FILE per feature.
    #[arg(long)]
    pub centre: bool,
    /// Draw from a multivariate Student-t with this many degrees of freedom (heavy tails) instead of the GMM.
    #[arg(long, allow_hyphen_values = true)]
    pub student_t: Option<f64>,
    #[command(flatten)]
    pub two_class: TwoClassArgs,
    /// Samples drawn from a model.
    #[arg(long, default_value_t = 5000)]
    pub n: usize,
}

impl SourceArgs {
    pub fn load(&self, seed: u64) -> Result<Dataset> {
        Ok(match (&self.file, self.student_t) {
            (Some(f), _) => self.options.spec(f, self.centre, None).load()?,
            (None, Some(nu)) => concentration::student_t(self.n, self.two_class.d, nu, seed)?,
            (None, None) => self.two_class.model().sample(self.n, seed)?,
        })
    }
}

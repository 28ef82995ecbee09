//! `diffscope`: a thin command-line front end over the `diffscope` library. It parses arguments, builds
//! library objects, shows progress and writes outputs; all the science lives in the library.

mod commands;
mod ui;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// diffscope: see why diffusion models generalise, memorise and stay on their data manifold.
///
/// Time convention everywhere: OU time t, x_t = e^{-t} x_0 + sqrt(1 - e^{-2t}) z.
#[derive(Parser, Debug)]
#[command(name = "diffscope", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Master seed: every random number of a run derives from it (with the logical position of the work),
    /// so results do not depend on the thread count.
    #[arg(long, global = true, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (0 = all cores).
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    /// No progress bars or chatter on stderr (results still go to stdout and files).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// The main job: speciation and collapse measured by cloning backward runs, beside the theory.
    ///
    /// With no arguments: two-class GMM μ̃ = σ = 1, d = 100, n = 10⁴, exact empirical score.
    /// Real data: diffscope regimes --data ../shared/data/digits.csv.gz --label-col 64 --classes 0,1
    Regimes(commands::regimes::RegimesArgs),
    /// Speciation and collapse times from theory (two-class GMM, hidden-manifold mixture), or a β sweep.
    ///
    /// Example: diffscope theory --activation tanh --beta 0.5 --d 100 --alpha 0.1
    Theory(commands::theory::TheoryArgs),
    /// Covariance spectra with the Marchenko–Pastur reference, the rank bound and effective ranks.
    ///
    /// Example: diffscope spectrum ../shared/data/digits.csv.gz --label-col 64 --per-class
    Spectrum(commands::stats::SpectrumArgs),
    /// Tails of norms and random 1-Lipschitz functionals against sub-Gaussian bounds.
    ///
    /// Example: diffscope concentration samples.npz   |   diffscope concentration --student-t 3 --d 50
    Concentration(commands::stats::ConcentrationArgs),
    /// Gaussian universality: linear classifiers trained on data vs on its per-class Gaussian surrogate.
    ///
    /// Example: diffscope universality ../shared/data/digits.csv.gz --label-col 64 --classifier softmax-square
    Universality(commands::stats::UniversalityArgs),
    /// Generate data from a model, or summarise a data file.
    #[command(subcommand)]
    Data(commands::data::DataCmd),
    /// Run a reverse-time sampler (EM or probability-flow ODE) with an exact score; write the end points.
    ///
    /// Example: diffscope --seed 1 sample --d 100 --n 10000 -b 1000 --steps 200 -o samples.npz
    Sample(commands::sample::SampleArgs),
    /// Train an MLP score network by denoising score matching (checkpoints; --resume continues).
    ///
    /// With no arguments: a uniform 2-sphere of radius 1 randomly embedded in R^10, n = 2000.
    /// Real data: diffscope train --data ../shared/data/digits.csv.gz --label-col 64 -o runs/train-digits
    Train(commands::train::TrainArgs),
    /// Score-field geometry along backward trajectories: local dimension (5 estimators), asymmetry split,
    /// subspace overlap, normal projection; a run directory with figures and index.html.
    ///
    /// Example: diffscope geometry --score runs/train/model.safetensors -o runs/geometry
    Geometry(commands::geometry::GeometryArgs),
    /// Memorisation study: train on n points for growing n; f_mem of the learned sampler vs training time.
    ///
    /// Example: diffscope memorise --sizes 8,16,32,64 --steps 8000 -o runs/memorise
    Memorise(commands::memorise::MemoriseArgs),
    /// Time the score kernel and the samplers; prints JSON (medians of --repeats runs).
    Bench(commands::bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(cli.threads)
        .build_global()
    {
        eprintln!("error: cannot start {} worker threads: {e}", cli.threads);
        return ExitCode::from(1);
    }
    let ctx = ui::Ctx::new(&cli);
    let result = match cli.command {
        Command::Regimes(a) => commands::regimes::run(a, &ctx),
        Command::Theory(a) => commands::theory::run(a, &ctx),
        Command::Spectrum(a) => commands::stats::run_spectrum(a, &ctx),
        Command::Concentration(a) => commands::stats::run_concentration(a, &ctx),
        Command::Universality(a) => commands::stats::run_universality(a, &ctx),
        Command::Data(cmd) => commands::data::run(cmd, &ctx),
        Command::Sample(a) => commands::sample::run(a, &ctx),
        Command::Train(a) => commands::train::run(a, &ctx),
        Command::Geometry(a) => commands::geometry::run(a, &ctx),
        Command::Memorise(a) => commands::memorise::run(a, &ctx),
        Command::Bench(a) => commands::bench::run(a, &ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ui::report_error(&e),
    }
}

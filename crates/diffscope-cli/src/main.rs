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
    /// so results do not depend on the thread count [default: 0, or the `seed` of a `--config` file, which
    /// this flag overrides].
    #[arg(long, global = true)]
    pub seed: Option<u64>,
    /// Worker threads (0 = all cores).
    #[arg(long, global = true, default_value_t = 0)]
    pub threads: usize,
    /// No progress bars or chatter on stderr (results still go to stdout and files).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Notes on stderr even when it is not a terminal (batch-job logs); no progress bars.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// `sample` and `regimes` only: simulate R ranks with threads of this process, the exact score
    /// sharded over them as under `mpirun -n R` (the same results, bit for bit, without MPI).
    #[arg(long, global = true, default_value_t = 1, value_name = "R")]
    pub ranks: usize,
    /// Where the exact empirical score runs: `cpu`, or `cuda` / `cuda:N` (an NVIDIA GPU; README "GPU")
    /// [default: cpu, or the `device` of a `--config` file, which this flag overrides].
    #[arg(long, global = true, value_name = "DEVICE", value_parser = parse_device)]
    pub device: Option<diffscope::score::Device>,
    #[command(subcommand)]
    pub command: Command,
}

fn parse_device(s: &str) -> Result<diffscope::score::Device, String> {
    diffscope::score::Device::parse("--device", s).map_err(|e| e.to_string())
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
    /// A score held against the closed-form denoiser family (exact, Wiener, σ-smoothed, σ-CFDM, kNN, LS/ELS
    /// patch machines) along its own reverse trajectories: cosine and r² of the denoiser outputs per t, the
    /// calibrated patch size; a run directory with figures and index.html.
    ///
    /// Example: diffscope compare --score runs/train/model.safetensors --against exact,wiener,knn:k=64,ls:patch=5 -o runs/compare
    Compare(commands::compare::CompareArgs),
    /// Memorisation study: train on n points for growing n; f_mem of the learned sampler vs training time.
    ///
    /// Example: diffscope memorise --sizes 8,16,32,64 --steps 8000 -o runs/memorise
    Memorise(commands::memorise::MemoriseArgs),
    /// Assemble a sharded sweep (`regimes --sweep-d/--sweep-beta … --shard i/n`) from its run directories.
    ///
    /// Example: diffscope merge runs/sweep
    Merge(commands::regimes::MergeArgs),
    /// Time the score kernel and the samplers; prints JSON (medians of --repeats runs).
    Bench(commands::bench::BenchArgs),
}

/// The ranks of an MPI launch: with the `mpi` feature, when an MPI launcher started this process with
/// more than one rank (Open MPI's or a PMI launcher's environment), MPI is initialised once here.
#[cfg(feature = "mpi")]
fn mpi_ranks() -> anyhow::Result<Option<std::sync::Arc<dyn diffscope::distributed::Comm>>> {
    let launched = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !launched {
        return Ok(None);
    }
    let world = diffscope::distributed::mpi_world()?;
    let world: std::sync::Arc<dyn diffscope::distributed::Comm> = world;
    Ok((world.size() > 1).then_some(world))
}

#[cfg(not(feature = "mpi"))]
fn mpi_ranks() -> anyhow::Result<Option<std::sync::Arc<dyn diffscope::distributed::Comm>>> {
    Ok(None)
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
    let comm = match mpi_ranks() {
        Ok(c) => c,
        Err(e) => return ui::report_error(&e),
    };
    // Under MPI, `sample` and `regimes` share the exact score across the ranks; every other command runs
    // on rank 0 alone.
    if let Some(c) = &comm {
        if c.rank() > 0 && !matches!(cli.command, Command::Sample(_) | Command::Regimes(_)) {
            return ExitCode::SUCCESS;
        }
    }
    if cli.ranks > 1 {
        if comm.is_some() {
            eprintln!("error: --ranks simulates ranks without MPI; under mpirun leave it out");
            return ExitCode::from(2);
        }
        return simulate_ranks(&cli);
    }
    let ctx = ui::Ctx::new(&cli, comm);
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
        Command::Compare(a) => commands::compare::run(a, &ctx),
        Command::Merge(a) => commands::regimes::merge(a, &ctx),
        Command::Bench(a) => commands::bench::run(a, &ctx),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => ui::report_error(&e),
    }
}

/// `--ranks R`: the command on R thread-simulated ranks (rank 0 prints and writes).
fn simulate_ranks(cli: &Cli) -> ExitCode {
    use diffscope::distributed::simulate;
    let results = simulate(cli.ranks, |comm| {
        let ctx = ui::Ctx::new(cli, Some(comm));
        match &cli.command {
            Command::Sample(a) => commands::sample::run(a.clone(), &ctx),
            Command::Regimes(a) => commands::regimes::run(a.clone(), &ctx),
            _ => Err(anyhow::anyhow!(ui::UsageError(
                "--ranks applies to sample and regimes".into()
            ))),
        }
    });
    match results.into_iter().find_map(Result::err) {
        None => ExitCode::SUCCESS,
        Some(e) => ui::report_error(&e),
    }
}

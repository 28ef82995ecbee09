//! Terminal concerns: progress bars (hidden off a terminal, under --quiet or in CI), Ctrl-C, and the
//! mapping of errors to exit codes (2: usage / bad parameter / a device that is missing, 1: runtime failure).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Per-invocation context handed to every command.
pub struct Ctx {
    /// Master seed (`--seed`, default 0).
    pub seed: u64,
    /// `--seed` when it was given: it wins over a config file's seed.
    pub seed_flag: Option<u64>,
    /// Show progress bars and notes on stderr.
    pub chatty: bool,
    /// Notes on stderr even off a terminal (`--verbose`; batch-job logs), without bars.
    pub verbose: bool,
    /// Set by Ctrl-C.
    pub stop: Arc<AtomicBool>,
    /// `--device` when it was given: it wins over a config file's device.
    pub device_flag: Option<diffscope::score::Device>,
    /// The ranks of an MPI launch (`mpirun -n R`, R > 1, with the `mpi` feature); None otherwise.
    pub comm: Option<Arc<dyn diffscope::distributed::Comm>>,
}

impl Ctx {
    pub fn new(cli: &crate::Cli, comm: Option<Arc<dyn diffscope::distributed::Comm>>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // A first Ctrl-C asks the run to stop at the next safe point; a second one exits at once (outputs
        // are written atomically, so nothing half-written is left under a final name either way).
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: stopping at the next safe point (Ctrl-C again to abort)");
        });
        // Only rank 0 of an MPI launch talks and writes.
        let writer = comm.as_ref().is_none_or(|c| c.rank() == 0);
        let chatty = writer
            && !cli.quiet
            && std::io::stderr().is_terminal()
            && std::env::var_os("CI").is_none();
        Ctx {
            seed: cli.seed.unwrap_or(0),
            seed_flag: cli.seed,
            device_flag: cli.device,
            chatty,
            verbose: writer && cli.verbose && !cli.quiet,
            stop,
            comm,
        }
    }

    /// The device of the exact score: `--device`, else CPU.
    pub fn device(&self) -> diffscope::score::Device {
        self.device_flag.unwrap_or_default()
    }

    /// Whether this process writes outputs and prints results (false on MPI ranks other than 0).
    pub fn is_writer(&self) -> bool {
        self.comm.as_ref().is_none_or(|c| c.rank() == 0)
    }

    /// Prints a note on stderr unless quiet.
    pub fn note(&self, msg: impl AsRef<str>) {
        if self.chatty || self.verbose {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// A progress bar with `total` steps (hidden unless chatty).
    pub fn bar(&self, total: u64, what: &str) -> indicatif::ProgressBar {
        if !self.chatty {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new(total);
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>12} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb
    }

    /// A monitor for library routines: progress to `bar`, stop on Ctrl-C.
    pub fn monitor<'a>(&'a self, bar: &'a indicatif::ProgressBar) -> Monitor<'a> {
        Monitor {
            bar,
            stop: &self.stop,
            chatty: self.chatty || self.verbose,
        }
    }
}

/// Connects a library [`diffscope::progress::Monitor`] to a progress bar and the Ctrl-C flag.
pub struct Monitor<'a> {
    bar: &'a indicatif::ProgressBar,
    stop: &'a AtomicBool,
    chatty: bool,
}

impl diffscope::progress::Monitor for Monitor<'_> {
    fn advance(&self, done: u64, total: u64) {
        self.bar.set_length(total);
        self.bar.set_position(done);
    }
    fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    fn note(&self, msg: &str) {
        if self.chatty {
            self.bar.suspend(|| eprintln!("{msg}"));
        }
    }
}

/// Prints the error chain once and maps it to an exit code.
pub fn report_error(e: &anyhow::Error) -> ExitCode {
    if let Some(ioe) = e.downcast_ref::<std::io::Error>() {
        if ioe.kind() == std::io::ErrorKind::BrokenPipe {
            return ExitCode::SUCCESS;
        }
    }
    eprintln!("error: {e:#}");
    let usage = matches!(
        e.downcast_ref::<diffscope::Error>(),
        Some(diffscope::Error::Param { .. })
            | Some(diffscope::Error::Config { .. })
            | Some(diffscope::Error::Device { .. })
    ) || e.downcast_ref::<UsageError>().is_some();
    if matches!(
        e.downcast_ref::<diffscope::Error>(),
        Some(diffscope::Error::Interrupted)
    ) {
        return ExitCode::from(130);
    }
    ExitCode::from(if usage { 2 } else { 1 })
}

/// A usage error detected by the CLI itself (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Reads a TOML file into `T`: a missing file is an I/O error naming it, a parse error (unknown key, wrong
/// type) a `Config` error naming the file (exit code 2).
pub fn read_toml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<T, diffscope::Error> {
    diffscope::config::resolve(Some(path), diffscope::config::Table::new())
}

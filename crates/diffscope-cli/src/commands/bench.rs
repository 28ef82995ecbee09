//! `diffscope bench`: the suites of [`diffscope::bench`] printed as JSON. Speed is measured there, never
//! in tests. Each figure is the median of `--repeats` runs.

use crate::ui::Ctx;
use anyhow::Result;
use clap::{Args, ValueEnum};
use diffscope::bench::{self, BenchCtx};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Suite {
    /// The standard workload: two-class GMM μ̃ = σ = 1, d = 100, N = 10⁴, B = 1000, 200 EM steps, t: 6 → 0.01.
    Standard,
    /// Single score evaluations at B = 1024, N ∈ {10⁵, 10⁶}, d ∈ {10, 100}.
    Single,
    /// Learned score: one DSM training step and one full analytic Jacobian batch of the MLP.
    Nn,
    /// The image-dimension grid: single evaluations at t = 1 (dense softmax) for d ∈ {64, 100, 784, 3072}
    /// and B ∈ {16, 64, 256, 1000} at N = 12 000 (two Fashion-MNIST classes), GFLOP/s and the fraction of the
    /// FMA peak per point. Not part of `all` (about a minute).
    Grid,
    /// The exact score on a CUDA GPU (`--device cuda[:N]`, default cuda:0): accuracy against the f64
    /// reference at t ∈ {0.01, 0.1, 1, 6} on the GMM and Fashion-MNIST, determinism, single evaluations
    /// and sampling loops. Not part of `all`.
    Gpu,
    /// The closed-form denoiser family (issue #26): per-step cost of exact, Wiener, σ-smoothed, σ-CFDM, kNN, LS
    /// and ELS on Fashion-MNIST 0/1 (N = 12 000, d = 784, B = 16). Not part of `all` (minutes).
    Family,
    /// All of them (but `grid`, `gpu` and `family`).
    All,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which workloads.
    #[arg(long, value_enum, default_value = "all")]
    pub suite: Suite,
    /// Repetitions per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
}

pub fn run(a: BenchArgs, ctx: &Ctx) -> Result<()> {
    let bar = ctx.bar(0, "bench");
    let monitor = ctx.monitor(&bar);
    let b = BenchCtx {
        seed: ctx.seed,
        monitor: &monitor,
        device: ctx.device_flag,
    };
    let mut report = bench::header(a.repeats);
    if matches!(a.suite, Suite::Standard | Suite::All) {
        report.standard = Some(bench::standard(a.repeats, &b)?);
    }
    if matches!(a.suite, Suite::Single | Suite::All) {
        report.single = Some(bench::single(a.repeats, &b)?);
    }
    if matches!(a.suite, Suite::Nn | Suite::All) {
        report.nn = Some(bench::nn(a.repeats, &b)?);
    }
    if a.suite == Suite::Gpu {
        report.gpu = Some(bench::gpu::bench_gpu(a.repeats, &b)?);
    }
    if a.suite == Suite::Family {
        report.family = Some(bench::family::bench_family(a.repeats, &b)?);
    }
    if a.suite == Suite::Grid {
        report.grid = Some(bench::grid(a.repeats, &b)?);
    }
    bar.finish_and_clear();
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

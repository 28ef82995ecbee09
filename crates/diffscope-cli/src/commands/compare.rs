//! `diffscope compare`: a score held against the closed-form denoiser family along its own trajectories.

use crate::commands::args::{DataFlags, SpacingArg, TwoClassArgs};
use crate::ui::Ctx;
use anyhow::Result;
use clap::Args;
use diffscope::config::{self, Table};
use diffscope::experiments::{compare, sample::ScoreSource};
use diffscope::sampler::Spacing;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    /// Training data of the candidates (without --data: --n points of the two-class model; a trained
    /// model without --data uses the data.npz written beside it).
    #[command(flatten)]
    pub data: DataFlags,
    /// Centre --data per feature.
    #[arg(long)]
    pub centre: bool,
    /// The two-class GMM used when no --data is given.
    #[command(flatten)]
    pub two_class: TwoClassArgs,
    /// Training points drawn from the model (when no --data).
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// The score A whose trajectories are followed: a model.safetensors from `diffscope train`,
    /// empirical, gmm-fit, or any family score (wiener, smoothed:sigma=S, cfdm:sigma=S, knn:k=K, ls:patch=P,
    /// els:…).
    #[arg(long)]
    pub score: ScoreSource,
    /// The candidates: family scores separated by commas or given one per flag (exact, wiener,
    /// smoothed:sigma=S, cfdm:sigma=S[,m=M], knn:k=K, ls:patch=P[,padding=circular], els:patch=P);
    /// a patch machine's size is calibrated per t over --patch-sizes [default: exact,wiener,knn:k=64,ls:patch=5].
    #[arg(long, num_args = 1..)]
    pub against: Option<Vec<String>>,
    /// Patch sizes (odd) tried per t for patch machines [default: 1,3,5,7,9,13,17,21,27].
    #[arg(long, value_delimiter = ',')]
    pub patch_sizes: Option<Vec<usize>>,
    /// Queries (trajectories of the score) [default: 32].
    #[arg(long, short = 'b')]
    pub batch: Option<usize>,
    /// Grid steps [default: 20].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Start time T [default: 6].
    #[arg(long = "t-max")]
    pub t_max: Option<f64>,
    /// End time t_min [default: 0.01].
    #[arg(long = "t-min")]
    pub t_min: Option<f64>,
    /// Grid spacing [default: log].
    #[arg(long, value_enum)]
    pub spacing: Option<SpacingArg>,
    /// Output run directory.
    #[arg(long, short)]
    pub out: PathBuf,
}

/// Splits the candidate list on commas, keeping a family score's own `key=value` parameters with it
/// (`ls:patch=5,padding=circular,knn:k=8` is two candidates).
fn split_candidates(raw: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in raw.iter().flat_map(|r| r.split(',')) {
        match out.last_mut() {
            Some(last) if part.contains('=') && !part.contains(':') => {
                last.push(',');
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
    }
    out
}

pub fn run(a: CompareArgs, ctx: &Ctx) -> Result<()> {
    let data = a.data.load(a.centre)?;
    let model = a.two_class.model();
    let sampling =
        diffscope::experiments::sample::build(&a.score, data, Some(&model), a.n, ctx.seed)?;
    let Some(training) = sampling.training.as_ref() else {
        anyhow::bail!(crate::ui::UsageError(
            "compare needs the training data of the candidates: give --data".into()
        ));
    };
    // The flags given, over the library's defaults (`CompareParams::default`).
    let mut set = Table::new();
    config::set_some(&mut set, &["batch"], a.batch)?;
    config::set_some(&mut set, &["steps"], a.steps)?;
    config::set_some(&mut set, &["t_max"], a.t_max)?;
    config::set_some(&mut set, &["t_min"], a.t_min)?;
    config::set_some(&mut set, &["spacing"], a.spacing.map(Spacing::from))?;
    config::set(&mut set, &["seed"], ctx.seed)?;
    config::set_some(
        &mut set,
        &["against"],
        a.against.as_deref().map(split_candidates),
    )?;
    config::set_some(&mut set, &["patch_sizes"], a.patch_sizes.as_ref())?;
    let params: compare::CompareParams = config::resolve(None, set)?;
    params.candidates()?;
    ctx.note(format!(
        "{} against {} on {} (n = {})",
        sampling.score.describe(),
        params.against.join(" | "),
        training.provenance,
        training.n
    ));
    let bar = ctx.bar(0, "comparing");
    let start = std::time::Instant::now();
    let r = compare::run(
        sampling.score.as_ref(),
        training,
        &params,
        &ctx.monitor(&bar),
    )?;
    bar.finish_and_clear();
    compare::write_run_dir(&r, &params, training, &a.out)?;
    println!(
        "{:<44} {:>10} {:>26}   note",
        "candidate", "mean cos", "cos at t_min (95% CI)"
    );
    for row in compare::table_rows(&r) {
        println!("{:<44} {:>10} {:>26}   {}", row[0], row[1], row[2], row[3]);
    }
    println!("time: {:.1} s", start.elapsed().as_secs_f64());
    println!("run directory: {}", a.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn candidates_split_on_commas_but_keep_their_parameters() {
        let raw = vec![
            "exact,ls:patch=5,padding=circular,knn:k=8".to_string(),
            "wiener".into(),
        ];
        assert_eq!(
            super::split_candidates(&raw),
            ["exact", "ls:patch=5,padding=circular", "knn:k=8", "wiener"]
        );
    }
}

//! Training an MLP score network as a library call: denoising score matching with periodic checkpoints
//! (and one on interruption) in the output directory, resumable, then the model, the data, the loss curve,
//! summary.json and index.html.

use crate::data::{DataModel, Dataset};
use crate::error::{Error, Result};
use crate::io;
use crate::nn::{MlpConfig, TrainConfig, Trainer};
use crate::progress::Monitor;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Metadata key holding the data model (JSON) in a saved model, so `geometry` knows the true tangent.
pub const META_MODEL: &str = "diffscope.data_model";
/// Metadata key holding the seed the data was drawn with.
pub const META_SEED: &str = "diffscope.seed";

/// A trained model read back from `model.safetensors`, with the data model and seed stored beside it
/// (None when the file has none, e.g. a model trained on a data file).
pub struct TrainedModel {
    /// The network.
    pub net: crate::nn::Mlp,
    /// The data model it was trained on.
    pub model: Option<DataModel>,
    /// The seed that data model was drawn with.
    pub seed: Option<u64>,
}

/// The training data `diffscope train` stores beside a model file: data.npz in the same folder. Every
/// door (the CLI's `--score model.safetensors`, Python's `MlpScore`) finds a model's data here.
pub fn training_data_path(model: &Path) -> PathBuf {
    model.with_file_name("data.npz")
}

/// Loads the training data stored beside a model file ([`training_data_path`]); the error names data.npz
/// when it is missing or unreadable.
pub fn load_training_data(model: &Path) -> Result<Dataset> {
    crate::data::DataFileSpec::as_stored(training_data_path(model)).load()
}

/// Reads a model written by [`run`] (or `diffscope train`) and its metadata.
pub fn load_trained(path: &Path) -> Result<TrainedModel> {
    let st = io::SafeTensors::read(path)?;
    let net = crate::nn::Mlp::load(path)?;
    let model = match st.metadata.get(META_MODEL) {
        Some(j) => Some(
            serde_json::from_str(j)
                .map_err(|e| Error::format(path, format!("metadata {META_MODEL}: {e}")))?,
        ),
        None => None,
    };
    let seed = match st.metadata.get(META_SEED) {
        Some(s) => Some(
            s.parse()
                .map_err(|e| Error::format(path, format!("metadata {META_SEED} = {s:?}: {e}")))?,
        ),
        None => None,
    };
    Ok(TrainedModel { net, model, seed })
}

/// The network and the run around [`TrainConfig`] (every field defaulted).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSettings {
    /// Hidden width.
    pub width: usize,
    /// Hidden layers.
    pub depth: usize,
    /// Sinusoidal time frequencies.
    pub n_freq: usize,
    /// Optimiser settings.
    pub train: TrainConfig,
    /// Write checkpoint.safetensors every this many steps (and on interruption).
    pub checkpoint_every: usize,
    /// Continue from `<out>/checkpoint.safetensors` (same data and seed).
    pub resume: bool,
    /// With `resume`: a new total number of steps (None keeps the checkpoint's).
    pub resume_steps: Option<usize>,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            width: 256,
            depth: 3,
            n_freq: 4,
            train: TrainConfig::default(),
            checkpoint_every: 1000,
            resume: false,
            resume_steps: None,
        }
    }
}

/// Trains on `ds` and writes everything into `out` (created if needed). `on_log(step, loss)` sees every
/// logged window. On interruption the state is saved to `out/checkpoint.safetensors` and
/// `Error::Interrupted` returned; rerun with `resume` to continue. Returns summary.json.
pub fn run(
    ds: &Dataset,
    model: Option<&DataModel>,
    s: &TrainSettings,
    seed: u64,
    out: &Path,
    monitor: &dyn Monitor,
    on_log: &mut dyn FnMut(usize, f64),
) -> Result<TrainSummary> {
    s.train.validate()?;
    let ck = out.join("checkpoint.safetensors");
    let mut tr = if s.resume {
        let mut tr = Trainer::resume(&ck, ds)?;
        if let Some(steps) = s.resume_steps {
            tr.set_total_steps(steps);
        }
        monitor.note(&format!(
            "resuming at step {} of {}",
            tr.step_count(),
            tr.config().steps
        ));
        tr
    } else {
        Trainer::new(ds, s.width, s.depth, s.n_freq, s.train.clone(), seed)?
    };
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    monitor.note(&format!(
        "training {} on {} (n = {}, d = {})",
        crate::score::Score::describe(tr.raw_model()),
        ds.provenance,
        ds.n,
        ds.d
    ));
    let t0 = Instant::now();
    // Checkpoints are written at the first logged step past each multiple of `checkpoint_every`.
    let every = s.checkpoint_every.max(1);
    let mut saved_block = tr.step_count() / every;
    let result = tr.train(ds, monitor, &mut |t| {
        if let Some(l) = t.log().last() {
            on_log(l.step, l.loss);
        }
        if t.step_count() / every > saved_block {
            saved_block = t.step_count() / every;
            t.save_checkpoint(&ck, ds)?;
        }
        Ok(())
    });
    if let Err(Error::Interrupted) = result {
        tr.save_checkpoint(&ck, ds)?;
        monitor.note(&format!(
            "interrupted at step {}: state saved to {}; continue with resume",
            tr.step_count(),
            ck.display()
        ));
        return Err(Error::Interrupted);
    }
    result?;
    let wall = t0.elapsed().as_secs_f64();
    tr.save_checkpoint(&ck, ds)?;
    write_outputs(out, &tr, ds, model, seed, wall)
}

/// summary.json of `train`: the data, the network and training configs, and how far training got.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Dimension.
    pub d: usize,
    /// The data's provenance.
    pub data: String,
    /// The data model, when known.
    pub data_model: Option<DataModel>,
    /// The last logged mean minibatch loss.
    pub final_loss: Option<f64>,
    /// Number of training points.
    pub n: usize,
    /// The network's architecture.
    pub network: MlpConfig,
    /// Its number of parameters.
    pub parameters: usize,
    /// The seed.
    pub seed: u64,
    /// Optimiser steps done (over every invocation, with resume).
    pub steps_done: usize,
    /// Wall time of this invocation.
    pub timings: TrainTimings,
    /// The training config.
    pub train: TrainConfig,
    /// diffscope's version.
    pub version: String,
}

/// Wall time of one `train` invocation.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct TrainTimings {
    /// Seconds of this invocation (a resumed run counts only its own).
    pub train_wall_s_this_invocation: f64,
}

/// Writes the run directory ([`report::train::write`](crate::report::train::write)) and returns its
/// summary.
pub fn write_outputs(
    out: &Path,
    tr: &Trainer,
    ds: &Dataset,
    model: Option<&DataModel>,
    seed: u64,
    wall: f64,
) -> Result<TrainSummary> {
    let net = tr.model();
    let summary = TrainSummary {
        d: ds.d,
        data: ds.provenance.clone(),
        data_model: model.cloned(),
        final_loss: tr.log().last().map(|l| l.loss),
        n: ds.n,
        network: net.config().clone(),
        parameters: net.n_params(),
        seed,
        steps_done: tr.step_count(),
        timings: TrainTimings {
            train_wall_s_this_invocation: wall,
        },
        train: tr.config().clone(),
        version: crate::VERSION.into(),
    };
    crate::report::train::write(out, tr, ds, &summary)?;
    Ok(summary)
}

//! `train`'s outputs: model.safetensors (with the data model and seed as metadata), data.npz, loss.csv,
//! the loss figure (PNG + SVG), summary.json and index.html.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::experiments::train::{TrainSummary, META_MODEL, META_SEED};
use crate::io;
use crate::nn::Trainer;
use crate::report::{html_report, Plot, Series};
use std::path::Path;

/// Writes model.safetensors (with the data model and seed of `summary` as metadata), data.npz, loss.csv,
/// the loss figure, summary.json and index.html into `out`.
pub fn write(out: &Path, tr: &Trainer, ds: &Dataset, summary: &TrainSummary) -> Result<()> {
    let net = tr.model();
    let mut meta = vec![(META_SEED, summary.seed.to_string())];
    if let Some(m) = &summary.data_model {
        meta.push((
            META_MODEL,
            serde_json::to_string(m).map_err(|e| Error::format(out, e.to_string()))?,
        ));
    }
    net.save(&out.join("model.safetensors"), &meta)?;
    ds.write_npz(&out.join("data.npz"))?;
    let steps: Vec<f64> = tr.log().iter().map(|l| l.step as f64).collect();
    let losses: Vec<f64> = tr.log().iter().map(|l| l.loss).collect();
    io::write_csv(&out.join("loss.csv"), &["step", "loss"], &[&steps, &losses])?;
    loss_figure(steps, losses).render(&out.join("loss"))?;
    io::write_json_sorted(&out.join("summary.json"), summary)?;
    io::write_text(
        &out.join("index.html"),
        &html_report(
            "diffscope train",
            &ds.provenance,
            &table(tr, summary),
            &[("loss.png".into(), "training loss".into())],
        ),
    )
}

/// The loss per logged window against the step.
fn loss_figure(steps: Vec<f64>, losses: Vec<f64>) -> Plot {
    Plot {
        title: "Denoising score-matching loss (EDM-weighted, per coordinate)".into(),
        x_label: "step".into(),
        y_label: "loss".into(),
        series: vec![Series {
            name: "mean minibatch loss per window".into(),
            x: steps,
            y: losses,
            band: None,
            markers: false,
        }],
        ..Plot::default()
    }
}

/// index.html's table: the network and the final loss.
fn table(tr: &Trainer, summary: &TrainSummary) -> Vec<[String; 4]> {
    let c = &summary.network;
    vec![
        [
            "network".to_string(),
            "—".into(),
            format!(
                "width {}, depth {}, {} parameters",
                c.width, c.depth, summary.parameters
            ),
            format!("σ_data = {:.4}", c.sigma_data),
        ],
        [
            "final loss".to_string(),
            "—".into(),
            format!("{:.5}", summary.final_loss.unwrap_or(f64::NAN)),
            format!("{} steps, batch {}", tr.step_count(), tr.config().batch),
        ],
    ]
}

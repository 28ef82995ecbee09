//! `diffscope bench --suite family`: per-step cost of every closed-form denoiser on Fashion-MNIST.

use super::gpu::{fashion_pair, noised};
use super::{median, BenchCtx, ElsScaling, FamilyBench, FamilyPoint, FamilySuite};
use crate::error::Result;
use crate::family::FamilySpec;
use crate::score::Score;
use faer::Par;
use std::time::Instant;

/// Queries per step: the batch of issue #26's speed target (a 20-step batch of 16).
const B: usize = 16;

/// Per-step cost (one evaluation of a batch of 16 noised training images) of each family denoiser on
/// Fashion-MNIST classes 0/1 (N = 12 000, d = 784, centred) at t ∈ {0.1, 1}, median of `repeats`. The
/// ELS machine costs N · (H W)² logits per query, so it runs on the first 100 images per
/// class and its figure is also given per (image, shift, pixel) and scaled to N = 12 000 and 2000. The patch
/// machines run on their f32 lane path, and once on the f64 reference path for comparison.
pub fn bench_family(repeats: usize, ctx: &BenchCtx) -> Result<FamilySuite> {
    let Some(full) = fashion_pair(ctx)? else {
        return Ok(FamilySuite::Skipped {
            skipped: "Fashion-MNIST not found".into(),
        });
    };
    let els_data = full.first_per_class(100)?;
    let specs: [(&str, &crate::data::Dataset); 13] = [
        ("exact", &full),
        ("wiener", &full),
        ("smoothed:sigma=0.1", &full),
        ("cfdm:sigma=0.1", &full),
        ("knn:k=32", &full),
        ("mask:k=25", &full),
        ("ls:patch=5", &full),
        ("ls:patch=15", &full),
        ("ls:patch=5,precision=f64", &full),
        ("els:patch=5", &els_data),
        ("els:patch=5,padding=circular", &els_data),
        ("els:patch=15", &els_data),
        ("els:patch=5,precision=f64", &els_data),
    ];
    let mut rows = Vec::new();
    for (name, data) in specs {
        let spec: FamilySpec = name.parse()?;
        let score = spec.build(data)?;
        for t in [0.1, 1.0] {
            ctx.note(format!("family: {name} at t = {t}, N = {}", data.n));
            let x = noised(data, B, t, ctx.seed);
            let walls = time_step(score.as_ref(), &x, t, repeats);
            let wall = median(walls.clone());
            // ELS: logits per query N · (H W)², every (pixel, training pixel) pair of every image (zero
            // padding has more shifts, each with fewer valid pixels: the same pairs).
            let per_query = data.n as f64 * (28.0f64 * 28.0).powi(2);
            rows.push(FamilyPoint {
                denoiser: name.into(),
                n: data.n,
                d: data.d,
                b: B,
                t,
                ms_per_step: wall * 1e3,
                wall_s_runs: walls,
                els: name.starts_with("els").then(|| ElsScaling {
                    ns_per_logit: wall * 1e9 / (B as f64 * per_query),
                    scaled_ms_per_step_n12000: wall * 1e3 * 12_000.0 / data.n as f64,
                    scaled_ms_per_step_n2000: wall * 1e3 * 2_000.0 / data.n as f64,
                }),
            });
        }
    }
    Ok(FamilySuite::Ran(FamilyBench {
        workload: "Fashion-MNIST 0/1 centred, d=784; one evaluation of B=16 noised training images per step".into(),
        points: rows,
    }))
}

/// Wall times of `repeats` evaluations of `score` on `x` at time t.
fn time_step(score: &dyn Score, x: &[f32], t: f64, repeats: usize) -> Vec<f64> {
    let mut out = vec![0.0f32; x.len()];
    (0..repeats.max(1))
        .map(|_| {
            let t0 = Instant::now();
            score.eval_into(x, t, &mut out, Default::default(), Par::rayon(0));
            t0.elapsed().as_secs_f64()
        })
        .collect()
}

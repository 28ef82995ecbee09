//! The bench's results as typed structs: what `diffscope bench` prints is their JSON (the field names are
//! the keys BENCHMARKS.md quotes). Times are medians of the suite's repeats unless named `_runs`.

use serde::{Deserialize, Serialize};

/// One `diffscope bench` report: the header, then each suite that ran.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchReport {
    /// diffscope's version.
    pub version: String,
    /// Rayon threads.
    pub threads: usize,
    /// Repeats per figure.
    pub repeats: usize,
    /// The machine.
    #[serde(flatten)]
    pub machine: Machine,
    /// The standard workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard: Option<Standard>,
    /// Single evaluations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub single: Option<Vec<SingleEval>>,
    /// The learned score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nn: Option<Vec<NnBench>>,
    /// The image-dimension grid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grid: Option<GridBench>,
    /// The GPU backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu: Option<GpuBench>,
    /// The closed-form denoiser family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<FamilySuite>,
}

/// What the bench ran on: the processor, the kernel's instruction set, the widest FMA (and the AVX2 FMA
/// peak beside it where AVX-512 is the widest).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    /// `/proc/cpuinfo`'s model name.
    pub processor: String,
    /// The instruction set of the f32 kernel in this process.
    pub kernel_isa: String,
    /// The widest FMA this processor runs.
    pub fma_peak_isa: String,
    /// The AVX2 FMA peak (GFLOP/s) where AVX-512 is the widest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fma_peak_gflops_avx2: Option<f64>,
}

/// The standard workload (two-class GMM, d = 100, N = 10⁴, B = 1000, 200 EM steps) beside faer's GEMM
/// rates, the roofline and the FMA peak.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Standard {
    /// What ran.
    pub workload: String,
    /// Wall time, uniform grid.
    pub wall_s: f64,
    /// Every run's wall time.
    pub wall_s_runs: Vec<f64>,
    /// Per step.
    pub ms_per_step: f64,
    /// Per (query, training point) pair and step.
    pub ns_per_pair: f64,
    /// 4 B N d flops per step over the wall time.
    pub effective_gflops: f64,
    /// Peak resident set size.
    pub peak_rss_gb: Option<f64>,
    /// faer's f32 GEMM on the logit shape.
    pub faer_gemm_gflops: f64,
    /// faer's f32 GEMM on the two-GEMM kernel's blocks.
    pub faer_block_gemm_gflops: f64,
    /// The run at faer's GEMM rate.
    pub roofline_s: f64,
    /// Wall time over the roofline.
    pub ratio_to_roofline: f64,
    /// The FMA peak of the widest vectors.
    pub fma_peak_gflops: f64,
    /// The effective rate over that peak.
    pub fraction_of_fma_peak: f64,
    /// Wall time on a log grid.
    pub log_grid_wall_s: f64,
    /// Every run's wall time on the log grid.
    pub log_grid_wall_s_runs: Vec<f64>,
}

/// One single evaluation of B queries at t = 1.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SingleEval {
    /// Queries.
    pub b: usize,
    /// Training points.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Wall time.
    pub wall_s: f64,
    /// Per (query, training point) pair.
    pub ns_per_pair: f64,
    /// 4 B N d flops over the wall time.
    pub effective_gflops: f64,
}

/// The image-dimension grid of single evaluations at t.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridBench {
    /// The FMA peak the fractions refer to.
    pub fma_peak_gflops: f64,
    /// The time of every evaluation.
    pub t: f64,
    /// One per (d, B).
    pub points: Vec<GridPoint>,
}

/// One point of the grid.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GridPoint {
    /// Dimension.
    pub d: usize,
    /// Queries.
    pub b: usize,
    /// Training points.
    pub n: usize,
    /// Wall time.
    pub wall_s: f64,
    /// Every run's wall time.
    pub wall_s_runs: Vec<f64>,
    /// 4 B N d flops over the wall time.
    pub gflops: f64,
    /// That over the FMA peak.
    pub fraction_of_fma_peak: f64,
}

/// The learned score at one d: a DSM training step, an analytic Jacobian batch, a score evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NnBench {
    /// Dimension.
    pub d: usize,
    /// Hidden width.
    pub width: usize,
    /// Hidden layers.
    pub depth: usize,
    /// Minibatch (and Jacobian batch).
    pub batch: usize,
    /// Parameters.
    pub parameters: usize,
    /// One training step.
    pub train_step_ms: f64,
    /// ≈ 6 · batch · weights flops over it.
    pub train_step_gflops: f64,
    /// One Jacobian batch.
    pub jacobian_batch_ms: f64,
    /// Its flops over it.
    pub jacobian_gflops: f64,
    /// One score evaluation of the batch.
    pub score_eval_ms: f64,
}

/// The GPU suite: the device, the accuracy table and the speed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuBench {
    /// The device as the score describes it.
    pub device: String,
    /// First set-up (context, NVRTC compile, upload of a tiny set).
    pub first_setup_ms: f64,
    /// One row per (data set, t).
    pub accuracy: Vec<GpuAccuracy>,
    /// Single evaluations and sampling loops.
    pub speed: GpuSpeed,
}

/// The GPU and CPU f32 kernels against the f64 reference at one t, and the GPU's determinism.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuAccuracy {
    /// The data set.
    pub data: String,
    /// OU time.
    pub t: f64,
    /// Queries.
    pub b: usize,
    /// Largest relative error of a score row, GPU.
    pub gpu_rel_err: f64,
    /// The same, CPU f32.
    pub cpu_rel_err: f64,
    /// Fraction of queries whose nearest point is the reference's, GPU.
    pub gpu_nearest_agree: f64,
    /// The same, CPU.
    pub cpu_nearest_agree: f64,
    /// Largest |log p − reference|, GPU.
    pub gpu_log_p_max_abs_err: f64,
    /// The same, CPU.
    pub cpu_log_p_max_abs_err: f64,
    /// The same bits in a second run.
    pub gpu_same_bits_twice: bool,
    /// A query's bits the same alone in a smaller batch.
    pub gpu_same_bits_in_smaller_batch: bool,
    /// No NaN or infinity.
    pub gpu_all_finite: bool,
}

/// The GPU's speed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuSpeed {
    /// Single evaluations.
    pub single: Vec<GpuSingle>,
    /// Whole sampling loops.
    pub loops: Vec<GpuLoop>,
}

/// One GPU evaluation of B queries at t = 1, transfers included.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuSingle {
    /// Training points.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Queries.
    pub b: usize,
    /// Wall time.
    pub wall_ms: f64,
    /// 4 B N d flops over it.
    pub tflops: f64,
    /// The kernel plan (fused or cublas).
    pub plan: String,
}

/// One sampling loop on the GPU.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GpuLoop {
    /// What ran.
    pub workload: String,
    /// Wall time.
    pub wall_ms: f64,
}

/// The family suite, or why it did not run.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FamilySuite {
    /// It ran.
    Ran(FamilyBench),
    /// It did not run.
    Skipped {
        /// Why.
        skipped: String,
    },
}

/// Per-step cost of each closed-form denoiser.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FamilyBench {
    /// What ran.
    pub workload: String,
    /// One per (denoiser, t).
    pub points: Vec<FamilyPoint>,
}

/// One denoiser at one t.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FamilyPoint {
    /// The family spec.
    pub denoiser: String,
    /// Training points.
    pub n: usize,
    /// Dimension.
    pub d: usize,
    /// Queries per step.
    pub b: usize,
    /// OU time.
    pub t: f64,
    /// One step (evaluation of the batch).
    pub ms_per_step: f64,
    /// Every run's wall time.
    pub wall_s_runs: Vec<f64>,
    /// For ELS: per logit, and scaled to N = 12 000 and 2000.
    #[serde(flatten)]
    pub els: Option<ElsScaling>,
}

/// ELS's cost per (image, shift, pixel) logit and scaled to other N.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ElsScaling {
    /// Per logit.
    pub ns_per_logit: f64,
    /// Scaled to N = 12 000.
    pub scaled_ms_per_step_n12000: f64,
    /// Scaled to N = 2000.
    pub scaled_ms_per_step_n2000: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON keys BENCHMARKS.md quotes: ELS's scaling flattened into its point (absent for others), a
    /// skipped family suite as {"skipped": …}, absent suites left out; and the report reads back.
    #[test]
    fn a_report_keeps_its_keys_and_reads_back() {
        let point = |els: bool| FamilyPoint {
            denoiser: if els { "els:patch=5" } else { "exact" }.into(),
            n: 200,
            d: 784,
            b: 16,
            t: 0.1,
            ms_per_step: 1.5,
            wall_s_runs: vec![0.0015],
            els: els.then_some(ElsScaling {
                ns_per_logit: 8.0,
                scaled_ms_per_step_n12000: 90.0,
                scaled_ms_per_step_n2000: 15.0,
            }),
        };
        let mut r = crate::bench::header(1);
        r.family = Some(FamilySuite::Ran(FamilyBench {
            workload: "w".into(),
            points: vec![point(false), point(true)],
        }));
        let v = serde_json::to_value(&r).unwrap();
        assert!(v.get("standard").is_none() && v.get("processor").is_some());
        let pts = &v["family"]["points"];
        assert!(pts[0].get("ns_per_logit").is_none());
        assert_eq!(pts[1]["ns_per_logit"], 8.0);
        let back: BenchReport = serde_json::from_value(v).unwrap();
        let Some(FamilySuite::Ran(f)) = back.family else {
            panic!("family read back as skipped")
        };
        assert!(f.points[0].els.is_none());
        assert_eq!(
            f.points[1].els.as_ref().unwrap().scaled_ms_per_step_n2000,
            15.0
        );
        let skipped = FamilySuite::Skipped {
            skipped: "Fashion-MNIST not found".into(),
        };
        assert_eq!(
            serde_json::to_string(&skipped).unwrap(),
            r#"{"skipped":"Fashion-MNIST not found"}"#
        );
    }
}

//! The exact empirical score on an NVIDIA GPU (feature `cuda`, on by default): cudarc with the driver,
//! NVRTC and cuBLAS loaded at run time, so a build without CUDA runs everywhere and `--device cuda` on a
//! machine without a GPU is a clear [`Error::Device`].
//!
//! One packed copy of the training set lives on the device: the centred points augmented by their
//! squared norm, KP = d + 1 rounded up to 4 floats a row (the CPU packing's values, row-major). Kernels
//! (`kernels.cu`) are CUDA C compiled by NVRTC at first use for the device's own architecture, with d and
//! the tile sizes as constants. Two plans:
//! - **fused** (d + 1 ≤ 128): one pass per (64-query tile, split of the points): logits, online softmax
//!   and weighted sum in shared memory and registers, then the splits folded in split order (`combine`);
//! - **cuBLAS** (larger d, where the logits are cheap next to the products): logits by SGEMM (fp32, no
//!   TF32), a row softmax in place, the weighted sum by a second SGEMM, and the finish.
//!
//! All arithmetic is f32 with f64 for the folds and the finish; every reduction has a fixed order and no
//! atomics, so results are bit-reproducible on one GPU and a query's result never depends on the other
//! queries of its batch (splits depend on N alone).

use super::{Device, OuTime};
use crate::error::{Error, Result};
use cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use cudarc::driver::sys::CUfunction_attribute_enum;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg,
};
use std::sync::{Arc, Mutex};

/// The kernels' source (macros D, KP, FUSED, BQ, BN, NT, WANT_TOP are prepended).
const SOURCE: &str = include_str!("kernels.cu");

/// Queries per tile and points per tile of the fused kernel, and its threads per block.
const BQ: usize = 64;
const BN: usize = 64;
const NT: usize = 256;
/// The fused plan covers d + 1 ≤ this (the weighted sums of 64 queries stay in registers: ≤ 32 a thread).
const FUSED_MAX_KP: usize = 128;
/// A split holds at least this many tiles, and there are at most [`MAX_SPLITS`]: small units of work, so
/// that the last partial wave of blocks costs little (ncu on the H200, d = 100, N = 10⁴, B = 1000: 4 tiles
/// a split gave 640 blocks = 2.42 waves of 264, the tail up to a third of the time), while the partial
/// states (splits × queries × d floats, folded by `combine`) stay small.
const MIN_TILES_PER_SPLIT: usize = 2;
const MAX_SPLITS: usize = 512;
/// Largest query chunk per launch; scratch is sized for it at construction.
const MAX_CHUNK: usize = 4096;
/// Bytes of scratch a plan may size its chunk to (partial states, or the b × N logits of the cuBLAS plan).
const SCRATCH_BYTES: usize = 1 << 29;

/// Query rows of every cuBLAS-plan product (a fixed shape: cuBLAS picks its algorithm by shape).
const GEMM_ROWS: usize = 256;

/// Padded augmented row length: d + 1 rounded up to a multiple of 4 (16-byte rows).
pub fn padded_len(d: usize) -> usize {
    (d + 1).div_ceil(4) * 4
}

/// Whether dimension d runs the fused plan (else the cuBLAS plan).
pub fn fused(d: usize) -> bool {
    padded_len(d) <= FUSED_MAX_KP
}

/// The kernels' CUDA C source for dimension d, with or without the top-2 (the `WANT_TOP` variant).
pub fn source(d: usize, want_top: bool) -> String {
    format!(
        "#define D {d}\n#define KP {}\n#define FUSED {}\n#define BQ {BQ}\n#define BN {BN}\n#define NT {NT}\n#define MAX_SPLITS {MAX_SPLITS}\n#define WANT_TOP {}\n{SOURCE}",
        padded_len(d),
        fused(d) as u8,
        want_top as u8
    )
}

/// Whether NVRTC can be loaded (from the CUDA toolkit, or the `nvidia-cuda-nvrtc` wheel's
/// `nvidia/cu13/lib` on `LD_LIBRARY_PATH`).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the shared library.
    std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false)
}

/// Whether the CUDA driver library (libcuda.so.1) can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to open the shared library.
    std::panic::catch_unwind(|| unsafe { cudarc::driver::sys::is_culib_present() }).unwrap_or(false)
}

/// Compiles CUDA C `src` to PTX for `arch` (e.g. `sm_90`) with NVRTC.
pub fn compile_source(src: &str, arch: &str) -> Result<String> {
    let dev = Device::Cuda(0);
    if !nvrtc_present() {
        return Err(Error::device(dev, NVRTC_MISSING));
    }
    let opts = cudarc::nvrtc::CompileOptions {
        options: vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()],
        ..Default::default()
    };
    let src = src.to_string();
    let ptx = std::panic::catch_unwind(|| cudarc::nvrtc::compile_ptx_with_opts(src, opts))
        .map_err(|_| Error::device(dev, NVRTC_MISSING))?
        .map_err(|e| {
            Error::device(
                dev,
                format!("NVRTC could not compile for {arch}: {}", nvrtc_log(&e)),
            )
        })?;
    Ok(ptx.to_src())
}

fn nvrtc_log(e: &cudarc::nvrtc::CompileError) -> String {
    match e {
        cudarc::nvrtc::CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
        other => format!("{other:?}"),
    }
}

/// Compiles both variants of the kernels (without and with the top-2) for dimension d and `arch` to PTX:
/// the compile check that runs without a GPU.
pub fn compile(d: usize, arch: &str) -> Result<[String; 2]> {
    Ok([
        compile_source(&source(d, false), arch)?,
        compile_source(&source(d, true), arch)?,
    ])
}

const DRIVER_MISSING: &str =
    "no CUDA driver: libcuda.so.1 could not be loaded (install the NVIDIA driver, \
     or run on the CPU with --device cpu)";
const NVRTC_MISSING: &str = "NVRTC not found: libnvrtc.so.13 could not be loaded (install the CUDA 13 \
     toolkit, or `pip install nvidia-cuda-nvrtc==13.0.*` and put its nvidia/cu13/lib on LD_LIBRARY_PATH)";
const CUBLAS_MISSING: &str =
    "cuBLAS not found: libcublas.so.13 could not be loaded (install the CUDA 13 \
     toolkit, or `pip install nvidia-cublas` and put its nvidia/cu13/lib on LD_LIBRARY_PATH)";

/// The compiled kernels of one variant.
struct Module {
    prep: CudaFunction,
    main: CudaFunction,
    finish: CudaFunction,
    em: CudaFunction,
}

/// Per-launch buffers, sized for [`GpuEmpirical::chunk`] queries at construction.
struct Scratch {
    x: CudaSlice<f32>,
    xq: CudaSlice<f32>,
    xs: CudaSlice<f64>,
    out: CudaSlice<f32>,
    stat_m: CudaSlice<f32>,
    stat_l: CudaSlice<f64>,
    top_y: CudaSlice<f32>,
    top_i: CudaSlice<i32>,
    /// Fused: partial max, sum, weighted sums, top-2 logits and indices per split. cuBLAS: `part_o` holds
    /// the b × N logits/weights and `part_m` the b × KP weighted sums.
    part_m: CudaSlice<f32>,
    part_l: CudaSlice<f32>,
    part_o: CudaSlice<f32>,
    part_y: CudaSlice<f32>,
    part_i: CudaSlice<i32>,
}

/// What one chunk of queries returns besides the score: per query the max logit (log2 units), the sum
/// $\sum 2^{y - \max}$ and the top-2 (logit, index) pairs (when asked).
pub(crate) struct ChunkStats {
    pub max: Vec<f32>,
    pub sum: Vec<f64>,
    pub top: Vec<(f32, u32, f32, u32)>,
}

/// The exact empirical score's data and kernels on one GPU.
pub(crate) struct GpuEmpirical {
    device: Device,
    name: String,
    stream: Arc<CudaStream>,
    modules: [Module; 2],
    blas: Option<CudaBlas>,
    a: CudaSlice<f32>,
    centre: CudaSlice<f64>,
    n: usize,
    d: usize,
    /// Fused plan: tiles per split and number of splits.
    tiles_per_split: usize,
    splits: usize,
    /// Queries per launch.
    chunk: usize,
    smem: usize,
    scratch: Mutex<Scratch>,
}

impl std::fmt::Debug for GpuEmpirical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GpuEmpirical({} {}, N = {}, d = {})",
            self.device, self.name, self.n, self.d
        )
    }
}

/// Runs `f`, turning a panic inside the CUDA libraries (cudarc panics where a library or symbol is
/// missing) into an [`Error::Device`] that says `what` was under way.
fn guarded<T>(device: Device, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::device(
            device,
            format!("the CUDA libraries panicked during {what} (a missing library or symbol?)"),
        ))
    })
}

fn dev_err(device: Device, what: &str, e: DriverError) -> Error {
    let detail = if e.0 == cudarc::driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
        format!("out of device memory while {what} (use a smaller training set or batch, or --device cpu)")
    } else {
        format!("{what} failed: {e}")
    };
    Error::device(device, detail)
}

impl GpuEmpirical {
    /// Uploads the packed training set (`rows`: row-major n × KP, as [`padded_len`]) and the centre to
    /// CUDA device `ordinal`, compiles the kernels for it and allocates the scratch.
    pub(crate) fn new(
        ordinal: usize,
        rows: &[f32],
        centre: &[f64],
        n: usize,
        d: usize,
    ) -> Result<Self> {
        let device = Device::Cuda(ordinal);
        // cudarc panics when a library is missing; every entry point is guarded.
        guarded(device, "the set-up", || {
            Self::build(device, rows, centre, n, d)
        })
    }

    fn build(device: Device, rows: &[f32], centre: &[f64], n: usize, d: usize) -> Result<Self> {
        let Device::Cuda(ordinal) = device else {
            unreachable!("GpuEmpirical on the CPU")
        };
        if !driver_present() {
            return Err(Error::device(device, DRIVER_MISSING));
        }
        let count =
            CudaContext::device_count().map_err(|e| dev_err(device, "counting CUDA devices", e))?;
        if count <= 0 {
            return Err(Error::device(
                device,
                "the CUDA driver sees no GPU (run with --device cpu)",
            ));
        }
        if ordinal >= count as usize {
            return Err(Error::device(
                device,
                format!(
                    "no such GPU: the driver sees {count} (ordinals 0 … {})",
                    count - 1
                ),
            ));
        }
        if !nvrtc_present() {
            return Err(Error::device(device, NVRTC_MISSING));
        }
        let ctx =
            CudaContext::new(ordinal).map_err(|e| dev_err(device, "creating a context", e))?;
        let name = ctx.name().unwrap_or_else(|_| "GPU".into());
        let (major, minor) = ctx
            .compute_capability()
            .map_err(|e| dev_err(device, "reading the compute capability", e))?;
        let stream = ctx.default_stream();
        let arch = format!("sm_{major}{minor}");
        let load = |want_top: bool| -> Result<Module> {
            let ptx = compile_source(&source(d, want_top), &arch)
                .map_err(|e| Error::device(device, format!("{e}")))?;
            let ptx = cudarc::nvrtc::Ptx::from_src(ptx);
            let m = ctx
                .load_module(ptx)
                .map_err(|e| dev_err(device, "loading the kernels", e))?;
            let f = |name: &str| m.load_function(name).map_err(|e| dev_err(device, name, e));
            Ok(if fused(d) {
                Module {
                    prep: f("prep_queries")?,
                    main: f("flash_partial")?,
                    finish: f("combine")?,
                    em: f("em_step")?,
                }
            } else {
                Module {
                    prep: f("prep_queries")?,
                    main: f("row_softmax")?,
                    finish: f("finish_gemm")?,
                    em: f("em_step")?,
                }
            })
        };
        let modules = [load(false)?, load(true)?];
        let kp = padded_len(d);
        let tiles = n.div_ceil(BN);
        let tiles_per_split = MIN_TILES_PER_SPLIT.max(tiles.div_ceil(MAX_SPLITS));
        let splits = tiles.div_ceil(tiles_per_split);
        // kernels.cu's shared tiles: queries BQ × SX, points BN × SX, weights BQ × (BN + 4), three
        // per-row floats and a 16-byte top-2 per row.
        let sx = kp + if (kp / 4).is_multiple_of(2) { 4 } else { 8 };
        let smem = 4 * (BQ * sx + BN * sx + BQ * (BN + 4) + 3 * BQ) + 16 * BQ;
        let blas = if fused(d) {
            None
        } else {
            // SAFETY: only tries to open the shared library.
            if !std::panic::catch_unwind(|| unsafe { cudarc::cublas::sys::is_culib_present() })
                .unwrap_or(false)
            {
                return Err(Error::device(device, CUBLAS_MISSING));
            }
            Some(CudaBlas::new(stream.clone()).map_err(|e| {
                Error::device(device, format!("creating the cuBLAS handle failed: {e:?}"))
            })?)
        };
        if fused(d) {
            for m in &modules {
                m.main
                    .set_attribute(
                        CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                        smem as i32,
                    )
                    .map_err(|e| dev_err(device, "raising the shared-memory limit", e))?;
            }
        }
        // The cuBLAS plan multiplies GEMM_ROWS query rows at a time (the last block padded with stale
        // finite rows), so that cuBLAS sees one shape and a query's bits do not depend on its batch; a
        // chunk of up to MAX_CHUNK queries crosses the bus once.
        let chunk = if fused(d) {
            (SCRATCH_BYTES / (4 * splits * d)).clamp(1, MAX_CHUNK)
        } else {
            (SCRATCH_BYTES / (16 * d) / GEMM_ROWS * GEMM_ROWS).clamp(GEMM_ROWS, MAX_CHUNK)
        };
        let gemm_pad = if fused(d) { 0 } else { GEMM_ROWS };
        let alloc_f = |len: usize| {
            stream
                .alloc_zeros::<f32>(len.max(1))
                .map_err(|e| dev_err(device, "allocating scratch", e))
        };
        let alloc_d = |len: usize| {
            stream
                .alloc_zeros::<f64>(len.max(1))
                .map_err(|e| dev_err(device, "allocating scratch", e))
        };
        let alloc_i = |len: usize| {
            stream
                .alloc_zeros::<i32>(len.max(1))
                .map_err(|e| dev_err(device, "allocating scratch", e))
        };
        let a = stream
            .clone_htod(rows)
            .map_err(|e| dev_err(device, "uploading the training set", e))?;
        let centre = stream
            .clone_htod(centre)
            .map_err(|e| dev_err(device, "uploading the centre", e))?;
        let per = if fused(d) { splits } else { 0 };
        let scratch = Scratch {
            x: alloc_f(chunk * d)?,
            xq: alloc_f((chunk + gemm_pad) * kp)?,
            xs: alloc_d(chunk * d)?,
            out: alloc_f(chunk * d)?,
            stat_m: alloc_f(chunk)?,
            stat_l: alloc_d(chunk)?,
            top_y: alloc_f(2 * chunk)?,
            top_i: alloc_i(2 * chunk)?,
            part_m: alloc_f(if fused(d) {
                per * chunk
            } else {
                GEMM_ROWS * kp
            })?,
            part_l: alloc_f(per * chunk)?,
            part_o: alloc_f(if fused(d) {
                per * chunk * d
            } else {
                GEMM_ROWS * n
            })?,
            part_y: alloc_f(2 * per * chunk)?,
            part_i: alloc_i(2 * per * chunk)?,
        };
        stream
            .synchronize()
            .map_err(|e| dev_err(device, "uploading", e))?;
        Ok(GpuEmpirical {
            device,
            name,
            stream,
            modules,
            blas,
            a,
            centre,
            n,
            d,
            tiles_per_split,
            splits,
            chunk,
            smem,
            scratch: Mutex::new(scratch),
        })
    }

    /// The device and its name, e.g. `cuda:0 (NVIDIA H200)`.
    pub(crate) fn describe(&self) -> String {
        format!("{} ({})", self.device, self.name)
    }

    /// Queries per launch.
    pub(crate) fn chunk(&self) -> usize {
        self.chunk
    }

    /// The score of the ≤ [`Self::chunk`] queries of `x` (row-major b × d) into `out`, and their
    /// statistics (the top-2 when `want_top`).
    pub(crate) fn eval_chunk(
        &self,
        x: &[f32],
        ou: OuTime,
        want_top: bool,
        out: &mut [f32],
    ) -> Result<ChunkStats> {
        guarded(self.device, "an evaluation", || {
            self.eval_inner(x, ou, want_top, out)
        })
    }

    fn eval_inner(
        &self,
        x: &[f32],
        ou: OuTime,
        want_top: bool,
        out: &mut [f32],
    ) -> Result<ChunkStats> {
        let d = self.d;
        let b = x.len() / d;
        assert!(b <= self.chunk && out.len() == x.len());
        let device = self.device;
        let err = |what: &'static str| move |e: DriverError| dev_err(device, what, e);
        let mut guard = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        let s = &mut *guard;
        let st = &self.stream;
        st.memcpy_htod(x, &mut s.x.slice_mut(0..x.len()))
            .map_err(err("copying the queries"))?;
        self.launch_score(s, b, ou, want_top)?;
        st.memcpy_dtoh(&s.out.slice(0..b * d), out)
            .map_err(err("copying the scores back"))?;
        let mut stats = ChunkStats {
            max: vec![0.0; b],
            sum: vec![0.0; b],
            top: Vec::new(),
        };
        if want_top {
            let mut y = vec![0.0f32; 2 * b];
            let mut i = vec![0i32; 2 * b];
            st.memcpy_dtoh(&s.stat_m.slice(0..b), &mut stats.max)
                .map_err(err("copying back"))?;
            st.memcpy_dtoh(&s.stat_l.slice(0..b), &mut stats.sum)
                .map_err(err("copying back"))?;
            st.memcpy_dtoh(&s.top_y.slice(0..2 * b), &mut y)
                .map_err(err("copying back"))?;
            st.memcpy_dtoh(&s.top_i.slice(0..2 * b), &mut i)
                .map_err(err("copying back"))?;
            stats.top = (0..b)
                .map(|q| (y[2 * q], i[2 * q] as u32, y[2 * q + 1], i[2 * q + 1] as u32))
                .collect();
        }
        st.synchronize().map_err(err("the evaluation"))?;
        Ok(stats)
    }

    /// Enqueues the score of the b queries in `s.x` at `ou` into `s.out` (and the statistics), without
    /// waiting for it.
    fn launch_score(&self, s: &mut Scratch, b: usize, ou: OuTime, want_top: bool) -> Result<()> {
        let (d, n) = (self.d, self.n);
        let device = self.device;
        let err = |what: &'static str| move |e: DriverError| dev_err(device, what, e);
        let module = &self.modules[want_top as usize];
        let st = &self.stream;
        let (bi, ni) = (b as i32, n as i32);
        let scale = std::f64::consts::LOG2_E * ou.decay / ou.delta;
        let rows = LaunchConfig {
            grid_dim: (b as u32, 1, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut l = st.launch_builder(&module.prep);
        l.arg(&s.x)
            .arg(&self.centre)
            .arg(&bi)
            .arg(&ou.decay)
            .arg(&scale)
            .arg(&mut s.xq)
            .arg(&mut s.xs);
        // SAFETY (every launch): the buffers hold at least the lengths the kernel indexes for b ≤ chunk
        // queries (sized in `build`), and the argument list matches the kernel's signature.
        unsafe { l.launch(rows) }.map_err(err("prep_queries"))?;
        if fused(d) {
            let (tps, splits) = (self.tiles_per_split as i32, self.splits as i32);
            let cfg = LaunchConfig {
                grid_dim: (b.div_ceil(BQ) as u32, self.splits as u32, 1),
                block_dim: (NT as u32, 1, 1),
                shared_mem_bytes: self.smem as u32,
            };
            let mut l = st.launch_builder(&module.main);
            l.arg(&self.a).arg(&s.xq).arg(&ni).arg(&bi).arg(&tps);
            l.arg(&mut s.part_m)
                .arg(&mut s.part_l)
                .arg(&mut s.part_o)
                .arg(&mut s.part_y)
                .arg(&mut s.part_i);
            unsafe { l.launch(cfg) }.map_err(err("flash_partial"))?;
            let mut l = st.launch_builder(&module.finish);
            l.arg(&s.part_m)
                .arg(&s.part_l)
                .arg(&s.part_o)
                .arg(&s.part_y)
                .arg(&s.part_i)
                .arg(&splits)
                .arg(&bi);
            l.arg(&s.xs)
                .arg(&ou.decay)
                .arg(&ou.delta)
                .arg(&mut s.out)
                .arg(&mut s.stat_m)
                .arg(&mut s.stat_l);
            l.arg(&mut s.top_y).arg(&mut s.top_i);
            unsafe { l.launch(rows) }.map_err(err("combine"))?;
            return Ok(());
        }
        for q0 in (0..b).step_by(GEMM_ROWS) {
            self.launch_gemm_block(s, q0, GEMM_ROWS.min(b - q0), ou, module)?;
        }
        Ok(())
    }

    /// The cuBLAS plan for queries q0 … q0 + bq (bq ≤ GEMM_ROWS) of the chunk, whose augmented queries
    /// `prep_queries` has written: the two products always over GEMM_ROWS rows.
    fn launch_gemm_block(
        &self,
        s: &mut Scratch,
        q0: usize,
        bq: usize,
        ou: OuTime,
        module: &Module,
    ) -> Result<()> {
        let (d, n) = (self.d, self.n);
        let device = self.device;
        let err = |what: &'static str| move |e: DriverError| dev_err(device, what, e);
        let st = &self.stream;
        let (bi, ni) = (bq as i32, n as i32);
        let kp = padded_len(d);
        let (kpi, rows_g) = (kp as i32, GEMM_ROWS as i32);
        let blas = self.blas.as_ref().expect("cuBLAS plan has a handle");
        // Y (GEMM_ROWS × N, row-major) = X~ A~ᵀ: column-major Yᵀ (N × rows) = (A~ as KP × N)ᵀ · (X~ as KP × rows).
        let g1 = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_T,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: ni,
            n: rows_g,
            k: kpi,
            alpha: 1.0f32,
            lda: kpi,
            ldb: kpi,
            beta: 0.0f32,
            ldc: ni,
        };
        let xq = s.xq.slice(q0 * kp..(q0 + GEMM_ROWS) * kp);
        // SAFETY: a is N × KP, xq holds chunk + GEMM_ROWS rows of KP, part_o GEMM_ROWS × N (`build`).
        unsafe { blas.gemm(g1, &self.a, &xq, &mut s.part_o) }
            .map_err(|e| Error::device(device, format!("cuBLAS SGEMM (logits) failed: {e:?}")))?;
        let cfg = LaunchConfig {
            grid_dim: (bq as u32, 1, 1),
            block_dim: (NT as u32, 1, 1),
            shared_mem_bytes: 0,
        };
        let mut stat_m = s.stat_m.slice_mut(q0..);
        let mut stat_l = s.stat_l.slice_mut(q0..);
        let mut top_y = s.top_y.slice_mut(2 * q0..);
        let mut top_i = s.top_i.slice_mut(2 * q0..);
        let mut l = st.launch_builder(&module.main);
        l.arg(&mut s.part_o)
            .arg(&ni)
            .arg(&bi)
            .arg(&mut stat_m)
            .arg(&mut stat_l)
            .arg(&mut top_y)
            .arg(&mut top_i);
        // SAFETY: part_o holds bq ≤ GEMM_ROWS rows of N; the statistics views hold ≥ bq entries.
        unsafe { l.launch(cfg) }.map_err(err("row_softmax"))?;
        // V (rows × KP, row-major) = W A~: column-major Vᵀ (KP × rows) = (A~ as KP × N) · (W as N × rows).
        let g2 = GemmConfig {
            transa: cublasOperation_t::CUBLAS_OP_N,
            transb: cublasOperation_t::CUBLAS_OP_N,
            m: kpi,
            n: rows_g,
            k: ni,
            alpha: 1.0f32,
            lda: kpi,
            ldb: ni,
            beta: 0.0f32,
            ldc: kpi,
        };
        // SAFETY: a is N × KP, part_o is GEMM_ROWS × N, part_m is GEMM_ROWS × KP.
        unsafe { blas.gemm(g2, &self.a, &s.part_o, &mut s.part_m) }.map_err(|e| {
            Error::device(device, format!("cuBLAS SGEMM (weighted sum) failed: {e:?}"))
        })?;
        let rows = LaunchConfig {
            grid_dim: (bq as u32, 1, 1),
            block_dim: (128, 1, 1),
            shared_mem_bytes: 0,
        };
        let stat_l = s.stat_l.slice(q0..);
        let xs = s.xs.slice(q0 * d..);
        let mut out = s.out.slice_mut(q0 * d..);
        let mut l = st.launch_builder(&module.finish);
        l.arg(&s.part_m)
            .arg(&stat_l)
            .arg(&xs)
            .arg(&bi)
            .arg(&ou.decay)
            .arg(&ou.delta)
            .arg(&mut out);
        // SAFETY: the views hold ≥ bq rows; part_m GEMM_ROWS × KP.
        unsafe { l.launch(rows) }.map_err(err("finish_gemm"))?;
        Ok(())
    }

    /// Euler–Maruyama over `times` (decreasing, t_0 = T … t_K) for the ≤ [`Self::chunk`] trajectories of
    /// `x` (row-major b × d, the state at T; trajectory i has global index `first + i`), with the state,
    /// the score and the noise on the device: one upload, the K steps enqueued without a host round
    /// trip, one download. `check` runs before each step is enqueued (progress, Ctrl-C) and may stop the
    /// run with its error.
    pub(crate) fn euler_maruyama_chunk(
        &self,
        x: &mut [f32],
        times: &[f64],
        key: u64,
        first: u64,
        check: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<()> {
        guarded(self.device, "a sampling run", || {
            self.em_inner(x, times, key, first, check)
        })
    }

    fn em_inner(
        &self,
        x: &mut [f32],
        times: &[f64],
        key: u64,
        first: u64,
        check: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<()> {
        let d = self.d;
        let b = x.len() / d;
        assert!(b <= self.chunk);
        let device = self.device;
        let err = |what: &'static str| move |e: DriverError| dev_err(device, what, e);
        let mut guard = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        let s = &mut *guard;
        let st = &self.stream;
        st.memcpy_htod(&*x, &mut s.x.slice_mut(0..x.len()))
            .map_err(err("copying the states"))?;
        let total = (b * d) as u32;
        let cfg = LaunchConfig {
            grid_dim: (total.div_ceil(256), 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let em = &self.modules[0].em;
        let bi = b as i32;
        for (k, w) in times.windows(2).enumerate() {
            if let Err(e) = check(k) {
                // Let the enqueued work finish before the buffers are reused.
                let _ = st.synchronize();
                return Err(e);
            }
            let (t_cur, t_next) = (w[0], w[1]);
            let dt = t_cur - t_next;
            self.launch_score(s, b, OuTime::new(t_cur), false)?;
            let (h, amp, ku) = (dt as f32, (2.0 * dt).sqrt() as f32, k as u32);
            let mut l = st.launch_builder(em);
            l.arg(&mut s.x)
                .arg(&s.out)
                .arg(&bi)
                .arg(&h)
                .arg(&amp)
                .arg(&key)
                .arg(&first)
                .arg(&ku);
            // SAFETY: x and out hold b × d values; the arguments match em_step.
            unsafe { l.launch(cfg) }.map_err(err("em_step"))?;
        }
        st.memcpy_dtoh(&s.x.slice(0..x.len()), x)
            .map_err(err("copying the states back"))?;
        st.synchronize().map_err(err("the sampling run"))?;
        Ok(())
    }
}

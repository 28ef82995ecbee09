#!/usr/bin/env bash
# The checks that need an NVIDIA GPU (README "GPU"), in one call:
#   1. the device (nvidia-smi);
#   2. the GPU tests: accuracy against the CPU's float64 reference on both kernel plans and their edges,
#      determinism and batch independence, a missing ordinal (`tests/cuda.rs`, the #[ignore]d ones);
#   3. `diffscope bench --suite gpu` (accuracy table on the GMM and Fashion-MNIST, single evaluations,
#      sampling loops) and, in the same call, bench/gpu_baselines.py (PyTorch and JAX);
#   4. CPU vs GPU observables of the default `regimes` run and of `sample` (f_mem), and `regimes` on two Fashion-MNIST classes on the GPU.
# Outputs under $RESULTS (default runs/gpu-check): logs, JSON, run directories; a summary table last
# (summary.txt). With $OUT set (the lent machine's return folder), the summary, the two JSON files, the
# test log and a .tgz of everything but the figures are copied there.
#
# On a machine with cargo it builds what it runs. Without one (a lent GPU machine), it runs prebuilt
# binaries: DIFFSCOPE_BIN (the CLI) and DIFFSCOPE_CUDA_TEST (the `tests/cuda.rs` test binary), made by
#   cargo build --release -p diffscope-cli && cargo test --release -p diffscope --test cuda --no-run
# FASHION_MNIST: the folder of the Fashion-MNIST IDX files (default ../shared/data/fashion-mnist).
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS="${RESULTS:-runs/gpu-check}"
mkdir -p "$RESULTS"
export FASHION_MNIST="${FASHION_MNIST:-../shared/data/fashion-mnist}"
if command -v cargo >/dev/null 2>&1 && [ -z "${DIFFSCOPE_BIN:-}" ]; then
    cargo build --release -p diffscope-cli
    DIFFSCOPE_BIN=target/release/diffscope
    DIFFSCOPE_CUDA_TEST=$(cargo test --release -p diffscope --test cuda --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import json,sys; print([j["executable"] for j in map(json.loads, sys.stdin) if j.get("executable")][-1])')
fi
BIN="${DIFFSCOPE_BIN:?set DIFFSCOPE_BIN to the diffscope binary}"
status=0
step() { echo "== $1 ($(date +%T))"; }

step "device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv,noheader | tee "$RESULTS/nvidia-smi.txt"

step "GPU tests"
if [ -n "${DIFFSCOPE_CUDA_TEST:-}" ]; then
    timeout 120 "$DIFFSCOPE_CUDA_TEST" --ignored --test-threads 1 --nocapture 2>&1 | tee "$RESULTS/tests.log" | tail -15
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
    echo "no test binary (DIFFSCOPE_CUDA_TEST): skipped"; status=1
fi

step "bench --suite gpu"
timeout 200 "$BIN" bench --suite gpu --repeats 5 --verbose >"$RESULTS/bench_gpu.json" 2>"$RESULTS/bench_gpu.log" || { status=1; tail -5 "$RESULTS/bench_gpu.log"; }

step "baselines (PyTorch, JAX)"
if python3 -c "import torch" 2>/dev/null; then
    OUT="$RESULTS" timeout 150 python3 bench/gpu_baselines.py accuracy loops jax scale >"$RESULTS/baselines.log" 2>&1 || status=1
else
    echo "no torch: baselines skipped"
fi

step "CPU vs GPU: regimes (default)"
timeout 100 "$BIN" regimes --quiet --out "$RESULTS/regimes-gpu" --device cuda >"$RESULTS/regimes-gpu.txt" 2>&1 || status=1
timeout 100 "$BIN" regimes --quiet --out "$RESULTS/regimes-cpu" >"$RESULTS/regimes-cpu.txt" 2>&1 || status=1

step "CPU vs GPU: sample (device-resident loop on the GPU)"
for dev in cpu cuda; do
    timeout 100 "$BIN" --verbose sample --device $dev --n 10000 --batch 1000 -o "$RESULTS/sample-$dev.npz" \
        >"$RESULTS/sample-$dev.txt" 2>&1 || status=1
    echo "$dev: $(tail -n 3 "$RESULTS/sample-$dev.txt" | tr '\n' ' ')"
done

step "regimes on Fashion-MNIST 0/1 (GPU)"
timeout 100 "$BIN" regimes --quiet --data "$FASHION_MNIST/train-images-idx3-ubyte.gz" --classes 0,1 \
    --out "$RESULTS/regimes-fashion-gpu" --device cuda >"$RESULTS/regimes-fashion-gpu.txt" 2>&1 || status=1

if [ -n "${GPU_CHECK_PROFILE:-}" ]; then
    step "profile (ncu: the fused kernel at d = 100; the cuBLAS plan's kernels at d = 784)"
    NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
    if [ -n "$NCU" ]; then
        SECTIONS="--section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis"
        timeout 120 "$NCU" --clock-control none $SECTIONS -k regex:'flash_partial|combine|em_step' -c 3 \
            "$BIN" --quiet sample --device cuda --n 10000 --batch 1000 --steps 3 -o "$RESULTS/ncu-sample.npz" \
            >"$RESULTS/ncu-fused.txt" 2>&1 || echo "ncu (fused) failed"
        timeout 120 "$NCU" --clock-control none $SECTIONS -k regex:'gemm|row_softmax|finish_gemm' -c 4 \
            "$BIN" --quiet sample --device cuda --data "$FASHION_MNIST/train-images-idx3-ubyte.gz" --classes 0,1 \
            --batch 256 --steps 2 -o "$RESULTS/ncu-fashion.npz" >"$RESULTS/ncu-cublas.txt" 2>&1 || echo "ncu (cuBLAS) failed"
        grep -E "^  [a-z_]+|Duration|Compute \(SM\) Throughput|Memory Throughput|Achieved Occupancy|Registers Per" \
            "$RESULTS/ncu-fused.txt" "$RESULTS/ncu-cublas.txt" | head -60
    else
        echo "no ncu: profile skipped"
    fi
fi

step "summary"
python3 scripts/gpu_summary.py "$RESULTS" 2>&1 | tee "$RESULTS/summary.txt" || status=1
if [ -n "${OUT:-}" ] && [ -d "${OUT}" ]; then
    for f in summary.txt bench_gpu.json gpu_baselines.json tests.log; do cp "$RESULTS/$f" "$OUT/" 2>/dev/null; done
    tar czf "$OUT/gpu-check.tgz" --exclude='*.png' --exclude='*.svg' --exclude='*.npy' --exclude='*.npz' -C "$RESULTS" .
fi
exit $status

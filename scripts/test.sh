#!/usr/bin/env bash
# Every test, Rust and Python, on a machine that has a Rust toolchain and python3 (README: "the tests").
#
# 0. A Python virtualenv at .venv (created on first use) holding NVRTC (the `nvidia-cuda-nvrtc` wheel), so
#    that the Rust tests compile every CUDA kernel (no GPU needed; the GPU checks: scripts/gpu-check.sh).
# 1. The Rust tests in the release profile, so they reuse the main job's build
#    (`cargo run --release -p diffscope-cli -- regimes`): only the test harnesses are compiled on top.
# 2. With MPI on the machine (mpirun; Debian: openmpi-bin libopenmpi-dev libclang-dev), the `mpi` feature
#    built into target/mpi and its end-to-end tests (`mpirun -n 2` and `-n 3` against thread-simulated
#    ranks). Skipped with a note when mpirun is missing, except under CI, where it is required.
# 3. The Python package `pydiffscope` built into the virtualenv (maturin, numpy and pytest come from the
#    package index) and its pytest suite, which also drives the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

VENV="${DIFFSCOPE_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        echo "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv); trying virtualenv" >&2
        python3 -m pip install --user --quiet virtualenv
        python3 -m virtualenv --quiet "$VENV"
    fi
fi
# NVRTC for the CUDA kernels' compile check (tests/cuda.rs), from the package index: a kernel that does not
# compile fails here, on a machine without a GPU. Pinned to 13.0 (newer NVRTC emits PTX a CUDA 13.0 driver
# may not load).
"$VENV/bin/python" -m pip install --quiet "nvidia-cuda-nvrtc==13.0.*"
# An absolute path: cargo runs each test binary from its crate's folder.
NVRTC_LIB=$(cd "$(dirname "$(find "$VENV" -name 'libnvrtc.so.13' | head -n 1)")" && pwd)
export LD_LIBRARY_PATH="$NVRTC_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DIFFSCOPE_REQUIRE_NVRTC=1
# The full-disk tests (tests/full_disk.rs) mount a small tmpfs in a private namespace: where this machine
# allows that, they must run, not skip.
if unshare -rm true 2>/dev/null; then export DIFFSCOPE_REQUIRE_UNSHARE=1; fi

cargo build --release -p diffscope-cli
cargo test --release --no-fail-fast

if command -v mpirun >/dev/null 2>&1; then
    cargo test --release --features mpi --target-dir target/mpi -p diffscope-cli --test distributed
elif [ -n "${CI:-}" ]; then
    echo "CI: mpirun is missing (.ci/run installs openmpi-bin libopenmpi-dev libclang-dev)" >&2
    exit 1
else
    echo "MPI tests skipped: no mpirun (apt-get install openmpi-bin libopenmpi-dev libclang-dev)" >&2
fi

"$VENV/bin/python" -m pip install --quiet --upgrade "maturin>=1.9.4,<2" "numpy>=1.21" "pytest>=7" "hypothesis>=6"
# MATURIN_NO_INSTALL_RUST: never try to download a toolchain; use the cargo on PATH.
(cd crates/diffscope-py && VIRTUAL_ENV="$PWD/../../$VENV" MATURIN_NO_INSTALL_RUST=1 \
    "../../$VENV/bin/maturin" develop --release --quiet)
"$VENV/bin/python" -m pytest crates/diffscope-py/tests -q

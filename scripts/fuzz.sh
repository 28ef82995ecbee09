#!/usr/bin/env bash
# The fuzz campaign (issue #27): every parser target of crates/diffscope/tests/fuzz.rs for SECONDS each
# (default 60), mutating the valid files of fuzz/corpus/<target>/. Prints executions, accepted inputs and
# findings per target; each finding's input is kept under fuzz/out/<target>/finding-*.bin, and the input
# of an execution that aborted the process (an allocation refused) as fuzz/out/<target>/current.bin.
#   bash scripts/fuzz.sh 3600          # the long campaign, an hour per target
#   bash scripts/fuzz.sh 60 npz        # one target
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-60}"
mkdir -p fuzz/out
DIFFSCOPE_FUZZ_SECONDS="$SECONDS_PER_TARGET" DIFFSCOPE_FUZZ_WORK="$PWD/fuzz/out" \
    DIFFSCOPE_FUZZ_TARGET="${2:-}" \
    cargo test --release -p diffscope --test fuzz -- --nocapture 2>&1 | grep -E "executions|FINDING|test result"

#!/usr/bin/env bash
# The coverage-guided fuzz campaign (issue #27): AFL++ (afl.rs, stable Rust) on every parser target of
# fuzz/targets.rs, each until EXECS executions or SECONDS seconds, whichever comes first. Needs
# `cargo install cargo-afl` (it builds AFL++ on first use). Prints per target: executions, wall time,
# edge coverage (AFL's bitmap_cvg and edges_found), corpus size, and the crashes and hangs saved under
# fuzz/afl/<target>/default/{crashes,hangs}/ (each a file to replay: fuzz/target/release/<target> < file).
#   bash scripts/fuzz-afl.sh                     # 10^6 executions or an hour per target
#   bash scripts/fuzz-afl.sh 1000000 600 npz     # one target (or several: npz,jpeg)
set -euo pipefail
cd "$(dirname "$0")/.."
EXECS="${1:-1000000}"
SECS="${2:-3600}"
ONLY="${3:-}"
(cd fuzz && cargo afl build --release 2>&1 | tail -1)
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_QUIET=1
TARGETS="${ONLY:+${ONLY//,/ }}"
TARGETS="${TARGETS:-csv csv_gz npy npz idx idx_gz png jpeg safetensors toml summary sweep}"
printf '%-12s %10s %8s %9s %8s %7s %8s %6s\n' target execs secs execs/s coverage edges corpus finds
for t in $TARGETS; do
    out="fuzz/afl/$t"
    rm -rf "$out"
    mkdir -p "$out"
    # A hang is an execution over 1 s (-t 1000 ms); memory per execution is limited to 512 MB (-m).
    cargo afl fuzz -i "fuzz/corpus/$t" -o "$out" -t 1000 -m 512 -E "$EXECS" -V "$SECS" \
        -- "fuzz/target/release/$t" > "$out/afl.log" 2>&1 || { echo "$t: afl-fuzz failed, see $out/afl.log"; continue; }
    st="$out/default/fuzzer_stats"
    get() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$st"; }
    crashes=$(get saved_crashes); hangs=$(get saved_hangs)
    printf '%-12s %10s %8s %9s %8s %7s %8s %6s\n' "$t" "$(get execs_done)" "$(get run_time)" \
        "$(get execs_per_sec)" "$(get bitmap_cvg)" "$(get edges_found)" "$(get corpus_count)" \
        "$((crashes + hangs))"
done

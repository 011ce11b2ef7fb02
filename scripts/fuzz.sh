#!/usr/bin/env bash
# Fuzzes every parser of network or user input (the targets of fuzz/, bodies in tests/fuzz)
# and prints, per target, the runs made, the time taken and the crashes found.
#
#   scripts/fuzz.sh                 # the bench: 200 000 runs per target
#   scripts/fuzz.sh --runs N        # N runs per target
#   scripts/fuzz.sh --seconds S     # S seconds per target (what scripts/test.sh does, briefly)
#   scripts/fuzz.sh --only TARGET   # one target
#
# Each target starts from its seed corpus (fuzz/seeds/<target>, from the test world) and every
# fixed crash (fuzz/regressions/<target>); new inputs go to target/fuzz/corpus/<target>, never
# into the committed seeds; a crash (or a leak, a 10 s hang, 2 GB of memory) is saved in
# target/fuzz/artifacts/<target>/ and makes the script fail: fix it, and copy the file into
# fuzz/regressions/<target>/ so the stable suite replays it for ever. Needs the nightly toolchain and cargo-fuzz (scripts/setup.sh installs
# cargo-fuzz when nightly is there); without nightly it says so loudly and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=200000
seconds=""
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        *) echo "usage: scripts/fuzz.sh [--runs N | --seconds S] [--only TARGET]" >&2; exit 2 ;;
    esac
done

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cat >&2 <<'EOF'
################################################################################
##  FUZZING SKIPPED: no nightly toolchain (rustup toolchain install nightly).  ##
##  The seeds and fixed crashes still ran on stable (tests/fuzz/tests/replay). ##
################################################################################
EOF
    exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "scripts/fuzz.sh: cargo-fuzz is missing (scripts/setup.sh installs it)" >&2
    exit 1
fi

cargo +nightly fuzz build -O >target/fuzz-build.log 2>&1 || {
    tail -40 target/fuzz-build.log >&2
    echo "scripts/fuzz.sh: the fuzz targets do not build" >&2
    exit 1
}
bin_dir="fuzz/target/x86_64-unknown-linux-gnu/release"
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^mxtls-fuzz$')
if [ -n "$only" ]; then targets="$only"; fi

limit="-runs=$runs"
if [ -n "$seconds" ]; then limit="-max_total_time=$seconds"; fi

failed=0
printf '%-16s %10s %8s %10s %8s %7s\n' target runs seconds "runs/s" corpus crashes
for t in $targets; do
    corpus="target/fuzz/corpus/$t"
    artifacts="target/fuzz/artifacts/$t"
    rm -rf "$artifacts"
    mkdir -p "$corpus" "$artifacts" "fuzz/regressions/$t"
    log="target/fuzz/$t.log"
    start=$(date +%s.%N)
    status=0
    # Evidence files are the largest inputs (whole, in an evidence event, or two of them);
    # others stay small.
    max_len=4096
    case "$t" in
        evidence_json | event_stream) max_len=131072 ;;
        report_diff) max_len=262144 ;;
    esac
    "$bin_dir/$t" "$corpus" "fuzz/seeds/$t" "fuzz/regressions/$t" \
        "$limit" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1 || status=$?
    end=$(date +%s.%N)
    done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    done_runs=${done_runs:-0}
    took=$(echo "$end - $start" | bc)
    rate=$(echo "scale=0; $done_runs / ($took + 0.001)" | bc)
    crashes=$(find "$artifacts" -type f | wc -l)
    if [ "$status" -ne 0 ]; then
        crashes=$((crashes > 0 ? crashes : 1))
        failed=1
        grep -m3 -E "panicked|ERROR" "$log" >&2 || true
        echo "  reproduce: $bin_dir/$t $(ls -t "$artifacts"/* 2>/dev/null | head -1)" >&2
    fi
    printf '%-16s %10s %8.1f %10s %8s %7s\n' "$t" "$done_runs" "$took" "$rate" "$(ls "$corpus" | wc -l)" "$crashes"
done
exit "$failed"

#!/usr/bin/env bash
# Runs the cargo-fuzz targets of stringphone.
#
#   fuzz/run.sh smoke              every target for 20 s, two at a time (CI)
#   fuzz/run.sh long [SECONDS]     every target for SECONDS (default 600), two at a time
#   fuzz/run.sh TARGET [SECONDS]   one target (default 600 s)
#
# Every run uses -rss_limit_mb=512 -timeout=5 and the dictionary; the seed corpus
# is (re)made from ../vectors by make-corpus.py. A crash, hang, leak or
# out-of-memory in any target makes the script exit non-zero; libFuzzer leaves
# the input in fuzz/artifacts/TARGET/ and the log in fuzz/artifacts/logs/.
# Environment: JOBS (targets at once, default 2).
set -euo pipefail
cd "$(dirname "$0")"

TARGETS=(parse decode discovery structured verify_agreement v2 v2_structured v2_topics)
JOBS=${JOBS:-2}

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

mode=${1:-}
case "$mode" in
smoke)
    # Eight targets two at a time are four rounds: 4 x 20 s stays under the three
    # rounds of 30 s that six targets took, with the builds of the last two on top.
    seconds=20
    targets=("${TARGETS[@]}")
    ;;
long)
    seconds=${2:-600}
    targets=("${TARGETS[@]}")
    ;;
"" | -h | --help) usage ;;
*)
    printf '%s\n' "${TARGETS[@]}" | grep -qx -- "$mode" || {
        echo "fuzz/run.sh: unknown target '$mode' (targets: ${TARGETS[*]})" >&2
        exit 2
    }
    seconds=${2:-600}
    targets=("$mode")
    ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || {
    echo "fuzz/run.sh: SECONDS must be a whole number, got '$seconds'" >&2
    exit 2
}

# The tools: nightly (libFuzzer needs -Z flags) and cargo-fuzz.
if ! cargo +nightly --version >/dev/null 2>&1; then
    cat >&2 <<'EOF'
fuzz/run.sh: the nightly Rust toolchain is not installed, and cargo-fuzz needs it.
Install it with:  rustup toolchain install nightly --profile minimal
EOF
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: cargo-fuzz is missing; installing it (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
echo "using $(cargo +nightly --version) and $(cargo fuzz --version)"

python3 make-corpus.py
cargo +nightly fuzz build

logs=artifacts/logs
mkdir -p "$logs"

run_one() {
    local target=$1 log=$logs/$1.log
    mkdir -p "corpus/$target"
    if cargo +nightly fuzz run "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=512 -timeout=5 \
        -dict=stringphone.dict -print_final_stats=1 >"$log" 2>&1; then
        echo 0 >"$logs/$target.rc"
    else
        echo $? >"$logs/$target.rc"
    fi
}

# The figures of one run, from libFuzzer's last status line and final stats.
summary() {
    local target=$1 log=$logs/$1.log
    local status execs rate
    status=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
    execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    printf '%-17s %-4s execs %-10s exec/s %-7s %s\n' "$target" "$2" "${execs:-?}" "${rate:-?}" "${status:-?}"
}

echo "fuzzing ${targets[*]} for ${seconds}s each, $JOBS at a time"
rm -f "$logs"/*.rc
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n || true
    done
    echo "  start $target"
    run_one "$target" &
done
wait

failed=0
echo
for target in "${targets[@]}"; do
    rc=$(cat "$logs/$target.rc" 2>/dev/null || echo 1)
    if [ "$rc" = 0 ]; then
        summary "$target" ok
    else
        failed=1
        summary "$target" FAIL
        echo "---- $logs/$target.log (last 40 lines)"
        tail -n 40 "$logs/$target.log"
        echo "----"
        ls -1 "artifacts/$target" 2>/dev/null | sed "s|^|  finding: fuzz/artifacts/$target/|" || true
    fi
done
if [ "$failed" != 0 ]; then
    cat <<'EOF'

A target found something. Minimize it (cargo +nightly fuzz tmin TARGET FILE), save
it under crates/stringphone-fuzz-models/tests/regressions/TARGET/ and make
cargo test -p stringphone-fuzz-models pass.
EOF
    exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"

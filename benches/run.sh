#!/usr/bin/env bash
# Runs the benchmarks (hot path and v2) in one of the build configurations that
# benches/README.md reports, then prints the report.
#
#   bash benches/run.sh [default|v3|system] [criterion args...]
#
#   default  what `cargo bench` gives: generic x86-64, libsodium built from the source
#            that libsodium-sys-stable bundles (1.0.22, -O3)
#   v3       -C target-cpu=x86-64-v3 (AVX2, BMI2): poly1305 0.8's AVX2 code inlines
#            (see benches/README.md, "Build settings"); same bundled libsodium
#   system   as v3, but libsodium is the system's shared library (Debian's 1.0.18,
#            package libsodium23), the one a Python install of the original links
#
# Each configuration has its own target directory (/work/target-bench-<config>, or
# $BENCH_TARGET_ROOT-<config>), so switching does not rebuild the others. Criterion
# arguments after the configuration pass through, e.g. for a quicker run:
#   bash benches/run.sh v3 --warm-up-time 1 --measurement-time 3
set -euo pipefail
cd "$(dirname "$0")/.."

config=${1:-default}
shift || true
root=${BENCH_TARGET_ROOT:-/work/target-bench}
export CARGO_TARGET_DIR="$root-$config"

case "$config" in
  default) ;;
  v3) export RUSTFLAGS="-C target-cpu=x86-64-v3" ;;
  system)
    export RUSTFLAGS="-C target-cpu=x86-64-v3"
    lib=$(ls /usr/lib/x86_64-linux-gnu/libsodium.so.2* 2>/dev/null | head -n1 || true)
    if [ -z "$lib" ]; then
      echo "no system libsodium (apt install libsodium23)" >&2
      exit 1
    fi
    # libsodium-sys-stable links `-lsodium` from SODIUM_LIB_DIR; the runtime package
    # has only the versioned name, so point a private directory at it.
    export SODIUM_LIB_DIR="$CARGO_TARGET_DIR/system-libsodium"
    export SODIUM_SHARED=1
    mkdir -p "$SODIUM_LIB_DIR"
    ln -sf "$lib" "$SODIUM_LIB_DIR/libsodium.so"
    ;;
  *)
    echo "usage: bash benches/run.sh [default|v3|system] [criterion args...]" >&2
    exit 2
    ;;
esac

# The benchmark gets a core to itself as far as the scheduler can give one; this
# needs root, and is skipped without it.
nice_cmd=()
if nice -n -15 true 2>/dev/null; then nice_cmd=(nice -n -15); fi

"${nice_cmd[@]}" cargo bench -p stringphone-benches --features libsodium -- "$@"
python3 benches/report.py "$CARGO_TARGET_DIR"

#!/usr/bin/env bash
# Builds the firmware and runs it under QEMU at each optimisation level asked for
# (default: z, s and 3, the README's table), printing each run's report and the ELF's
# section sizes, for the classic set alone and with v2. Fails when a run fails: a wrong
# result, a panic, or at opt-level "z" more than 40 KiB of flash (with v2, in its suite
# 0x02: 64 KiB) or 8 KiB of stack in an operation.
#
#   bash examples/firmware/run.sh [z] [s] [3]
#
# Needs qemu-system-arm (.ci/run installs it); rustup installs the pinned compiler and
# its thumbv7em-none-eabihf target (rust-toolchain.toml) on first use.
set -euo pipefail
cd "$(dirname "$0")"

levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(z s 3)
# The classic set alone, then with v2 (the `v2` feature): each its own image.
for features in "" v2; do
for level in "${levels[@]}"; do
    case "$level" in
        z) profile=release ;;
        s) profile=release-s ;;
        3) profile=release-3 ;;
        *) echo "unknown opt-level '$level' (z, s or 3)" >&2; exit 2 ;;
    esac
    echo "--- opt-level $level (cargo run --locked --profile $profile${features:+ --features $features})"
    cargo run --locked --quiet --profile "$profile" ${features:+--features "$features"}
    # The linker's view, next to the firmware's own figure: flash is
    # .vector_table + .text + .rodata + .data. (`size` is binutils'; skipped without.)
    if command -v size >/dev/null 2>&1; then
        size -A "target/thumbv7em-none-eabihf/$profile/stringphone-firmware" |
            awk '$1 ~ /^\.(vector_table|text|rodata|data|bss)$/ { print "  " $1, $2 }'
    fi
done
done

#!/usr/bin/env bash
# Runs every fuzz target of freeset for a bounded time, starting from the
# committed corpus, with memory limits; fails if any target finds a crash
# (a panic, a failed check, an ASan report, an allocation or RSS over the
# limit, or a timeout). Prints the executions of each run.
#
#   fuzz/run-ci.sh [SECONDS]        # SECONDS per run, default 45
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain.
# Total time: 4 runs of SECONDS plus the build (~3 minutes from scratch on
# 2 cores).
#
# New inputs go to a temporary directory, not into fuzz/corpus/, so the work
# tree stays clean; crash inputs go to fuzz/artifacts/<target>/ (see
# fuzz/README.md to turn one into a regression test).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-45}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: fuzz/run-ci.sh [SECONDS]" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run-ci.sh: needs cargo-fuzz and a nightly toolchain" \
        "(rustup toolchain install nightly; cargo install cargo-fuzz)" >&2
    exit 2
fi

# The flags every build of the targets uses (fuzz/README.md: a build with
# other RUSTFLAGS rebuilds everything). ASan checks each load and store
# through a call instead of an inline compare of its shadow byte: cargo-fuzz
# runs SanitizerCoverage after ASan, so an inline compare is traced as if
# the program had made it (a callback per word a loop touches, and noise in
# libFuzzer's table of compared values). The checks are the same.
export RUSTFLAGS="-Cllvm-args=-asan-instrumentation-with-call-threshold=0${RUSTFLAGS:+ $RUSTFLAGS}"

# ASan keeps freed memory in quarantine (256 MB by default) to catch uses
# after free; a smaller one keeps the RSS limit about the target's own memory.
export ASAN_OPTIONS="quarantine_size_mb=32${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

# Built once, with debug assertions (the crate checks its invariants then).
cargo +nightly fuzz build --debug-assertions

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
summary=()

# run TARGET LABEL MALLOC_LIMIT_MB
run() {
    local target="$1" label="$2" malloc_mb="$3"
    mkdir -p "$work/$label" "fuzz/corpus/$target"
    local log="$work/$label.log"
    echo "== $label: ${seconds}s"
    local status=0
    cargo +nightly fuzz run --debug-assertions "$target" \
        "$work/$label" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=120 \
        -rss_limit_mb=256 -malloc_limit_mb="$malloc_mb" \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    local execs
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    summary+=("$label: ${execs:-?} executions in ${seconds}s")
    if [ "$status" -ne 0 ]; then
        echo "!! $label failed (exit $status):"
        grep -E "panicked|ERROR|SUMMARY|Test unit written|^Failing input|artifacts/" "$log" | head -20 || true
        echo "   full log tail:"
        tail -40 "$log"
        failed+=("$label")
    else
        echo "   ${execs:-?} executions"
    fi
}

# The decoder's memory is the capacity (at most 512 KiB) plus a constant:
# no single allocation may pass 8 MB.
run decode decode 8
run open open 64
run roundtrip roundtrip 64
run ops ops 64

echo "== fuzz summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}"
    exit 1
fi
echo "fuzz: ok"

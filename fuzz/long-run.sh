#!/usr/bin/env bash
# One long run of one fuzz target, logged: builds the target (the flags of
# run-ci.sh), runs it alone at the lowest priority for SECONDS from the
# committed corpus plus the inputs earlier long runs found, and appends a
# row to fuzz/runs.md (date, target, commit, seconds, executions, new
# inputs, result). Executions accumulate over runs: see fuzz/README.md.
#
#   fuzz/long-run.sh TARGET SECONDS
#
# New inputs go to fuzz/target/long-run/corpus/TARGET (not committed);
# `fuzz/long-run.sh --minimise TARGET` folds them into fuzz/corpus/TARGET,
# minimised (cargo fuzz cmin). Crash inputs go to fuzz/artifacts/TARGET/.
# The log of each run stays in fuzz/target/long-run/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    echo "usage: fuzz/long-run.sh TARGET SECONDS | fuzz/long-run.sh --minimise TARGET" >&2
    exit 2
}

export RUSTFLAGS="-Cllvm-args=-asan-instrumentation-with-call-threshold=0${RUSTFLAGS:+ $RUSTFLAGS}"
export ASAN_OPTIONS="quarantine_size_mb=32${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
work=fuzz/target/long-run

if [ "${1:-}" = "--minimise" ]; then
    target="${2:-}"
    [ -n "$target" ] || usage
    mkdir -p "$work/corpus/$target"
    cp -n "$work/corpus/$target"/* "fuzz/corpus/$target/" 2>/dev/null || true
    before=$(ls "fuzz/corpus/$target" | wc -l)
    nice -n 19 cargo +nightly fuzz cmin --debug-assertions "$target" -- \
        -use_counters=0 -rss_limit_mb=512 >"$work/cmin-$target.log" 2>&1
    echo "$target: $before files -> $(ls "fuzz/corpus/$target" | wc -l)"
    rm -rf "${work:?}/corpus/$target"
    exit 0
fi

target="${1:-}"
seconds="${2:-}"
[ -n "$target" ] && [[ "$seconds" =~ ^[0-9]+$ ]] || usage
case "$target" in
    decode) malloc_mb=8 ;; # the capacity (512 KiB) plus a constant
    open | roundtrip | ops) malloc_mb=64 ;;
    *) usage ;;
esac

commit="$(git rev-parse --short HEAD)"
if [ -n "$(git status --porcelain -- src fuzz/src fuzz/fuzz_targets Cargo.toml fuzz/Cargo.toml)" ]; then
    commit="$commit+changes"
fi
cargo +nightly fuzz build --debug-assertions "$target"
mkdir -p "$work/bin" "$work/logs" "$work/corpus/$target" "fuzz/artifacts/$target"
# A copy, so that a rebuild does not touch the running binary; written
# aside and renamed, since a second run of the target may be running it.
bin="$work/bin/$target-$commit"
cp "fuzz/target/x86_64-unknown-linux-gnu/release/$target" "$bin.$$"
mv -f "$bin.$$" "$bin"

stamp="$(date -u +%Y-%m-%dT%H:%MZ)"
log="$work/logs/$target-$(date -u +%Y%m%d-%H%M%S).log"
echo "== $target for ${seconds}s at $commit, log $log"
# The RSS limit is run-ci.sh's four times over: in a run of an hour the
# process grows by libFuzzer's corpus and ASan's table of allocation stacks,
# not by the target. -malloc_limit_mb bounds each allocation as in CI.
status=0
nice -n 19 "$bin" "$work/corpus/$target" "fuzz/corpus/$target" \
    -max_total_time="$seconds" -timeout=120 -rss_limit_mb=1024 \
    -malloc_limit_mb="$malloc_mb" -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$target/" >"$log" 2>&1 || status=$?

execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
# A run stopped from outside prints no final stats: its last status line.
[ -n "$execs" ] || execs="$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')"
added="$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)"
if [ "$status" -eq 0 ]; then
    result="no crash"
else
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    result="exit $status: ${artifact:-see log}"
fi
[ -f fuzz/runs.md ] || printf '%s\n' \
    "# Long fuzz runs" "" \
    "One row per run of \`fuzz/long-run.sh\` (see README.md: executions are libFuzzer's" \
    "\`stat::number_of_executed_units\`; commit is the branch's HEAD the target was built from)." "" \
    "| date (UTC) | target | commit | seconds | executions | new inputs | result |" \
    "| --- | --- | --- | --- | --- | --- | --- |" >fuzz/runs.md
echo "| $stamp | $target | $commit | $seconds | ${execs:-?} | ${added:-?} | $result |" >>fuzz/runs.md
echo "$target: ${execs:-?} executions, ${added:-?} new inputs, $result"
[ "$status" -eq 0 ]

#!/usr/bin/env bash
# Robustness suite, part 1: the cargo-fuzz targets of tests/fuzz/, one after the other (one
# libFuzzer job at a time: the machine is shared), each for SECONDS (default 600).
#
#   benches/robustness/fuzz.sh [seconds] [target ...]      default: search patch bundle
#
# Also params and filter: round trips of the query-string and `_filter` parsers (no seeds).
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). The working
# corpus grows in tests/fuzz/corpus/<target> (not committed), seeded from
# tests/fuzz/corpus-seeds/<target> and guided by tests/fuzz/dict/<target>.dict (parameter
# names, FHIRPath and JSON keys); crashes land in tests/fuzz/artifacts/<target>/. A crash is
# fixed in the library and its input copied to tests/fuzz/regressions/<target>/, which
# `cargo test --test integration fuzz_regressions` replays.
# Build flags: no sanitizer (the crate forbids unsafe code; panics, aborts, stack overflows,
# timeouts and OOM are what is looked for) and debug assertions on (integer overflow panics).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(search patch bundle)
fuzz_dir="$PWD/tests/fuzz"
flags=(--fuzz-dir "$fuzz_dir" --sanitizer none --debug-assertions --release)

for target in "${targets[@]}"; do
    cargo +nightly fuzz build "${flags[@]}" "$target" 2>&1 | tail -n 2
done
summary=()
status=0
for target in "${targets[@]}"; do
    mkdir -p "$fuzz_dir/corpus/$target" "$fuzz_dir/artifacts/$target" "$fuzz_dir/logs"
    log="$fuzz_dir/logs/$target-$(date +%Y%m%d-%H%M%S).log"
    before=$(ls "$fuzz_dir/artifacts/$target" | wc -l)
    echo "== fuzz $target for ${seconds}s (log $log)"
    inputs=("$fuzz_dir/corpus/$target")
    [ -d "$fuzz_dir/corpus-seeds/$target" ] && inputs+=("$fuzz_dir/corpus-seeds/$target")
    dict=()
    [ -f "$fuzz_dir/dict/$target.dict" ] && dict=(-dict="$fuzz_dir/dict/$target.dict")
    # -jobs=1 runs one worker process whose output libFuzzer writes to fuzz-0.log in the
    # current directory: run from the log directory and keep that file under the target's name.
    set +e
    (
        cd "$fuzz_dir/logs"
        # The service parses on actix workers and blocking-pool threads, which have 2 MiB stacks:
        # fuzz with the same, so that nesting deep enough to overflow them is found here.
        ulimit -s 2048
        cargo +nightly fuzz run "${flags[@]}" "$target" "${inputs[@]}" -- \
            -max_total_time="$seconds" -jobs=1 -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
            "${dict[@]}" -artifact_prefix="$fuzz_dir/artifacts/$target/" -print_final_stats=1 >/dev/null 2>&1
        echo $? > "fuzz-$target.rc"
        mv fuzz-0.log "$(basename "$log")" 2>/dev/null
    )
    set -e
    rc=$(cat "$fuzz_dir/logs/fuzz-$target.rc" 2>/dev/null || echo "?")
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
    speed=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
    corpus=$(ls "$fuzz_dir/corpus/$target" | wc -l)
    after=$(ls "$fuzz_dir/artifacts/$target" | wc -l)
    crashes=$((after - before))
    grep -E '^==[0-9]+== ERROR|panicked at|deadly signal|Timeout|out-of-memory|SUMMARY' "$log" | head -n 5 || true
    summary+=("$(printf '%-8s %8ss %12s %8s %8s %8s %4s' "$target" "$seconds" "${runs:-?}" "${speed:-?}" "$corpus" "$crashes" "$rc")")
    [ "$crashes" -eq 0 ] || status=1
done
echo
printf '%-8s %9s %12s %8s %8s %8s %4s\n' target time executions exec/s corpus crashes rc
printf '%s\n' "${summary[@]}"
exit $status

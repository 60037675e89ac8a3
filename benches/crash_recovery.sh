#!/usr/bin/env bash
# Crash recovery: N cycles of "write storm from 4 clients, kill -9 mid-storm, restart, verify that
# every acknowledged write is readable and searchable". Loopback only, bounded by N (default 50).
# Prints the number of acknowledged writes and of lost ones (must be 0).
set -euo pipefail
cd "$(dirname "$0")/.."
cycles="${1:-50}"
ROR_CRASH_CYCLES="$cycles" cargo test --release --test integration crash:: -- --nocapture 2>&1 | grep -E "crash recovery:|test result|panicked|lost"

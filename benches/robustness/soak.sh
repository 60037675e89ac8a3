#!/usr/bin/env bash
# Robustness suite, part 4: soak. Measures the maximum throughput of a demo server briefly
# (benches/http_load.rs: `run`, the SPEC §3 search mix alone, for reference; then `soak
# --probe-seconds`, the same mix with WRITE PERCENT capacity PATCHes, closed loop), then holds
# that mixed load at 80% of its maximum for MINUTES (default 30), open loop, sampling p99 and the
# server RSS per interval (default one minute), and prints a flat / not-flat verdict (last third
# of the intervals against the first third).
#
#   benches/robustness/soak.sh [minutes] [write percent, default 10] [interval seconds, default 60]
#
# Builds release into CARGO_TARGET_DIR (default /work/target-bench), starts
# `ror-search serve --demo` on a free loopback port with a temporary data directory, stops it by
# its PID at the end. Loopback only; bounded by MINUTES (+ about a minute of set-up).
# Environment: SOAK_MAX_SECONDS (throughput probe, default 20), SOAK_CONNECTIONS (default 8),
# SOAK_LOAD_PERCENT (default 80).
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes="${1:-30}"
write_percent="${2:-10}"
interval="${3:-60}"
probe_seconds="${SOAK_MAX_SECONDS:-20}"
connections="${SOAK_CONNECTIONS:-8}"
load_percent="${SOAK_LOAD_PERCENT:-80}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"

cargo build --release --bin ror-search 2>&1 | tail -n 1
http_load=$(cargo bench --bench http_load --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*http_load-[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$http_load" ] || { echo "soak.sh: could not build http_load"; exit 1; }

work=$(mktemp -d /tmp/ror-soak.XXXXXX)
log="$work/server.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    cp "$log" /tmp/ror-soak-server.log 2>/dev/null || true
    cp "$work"/*.tsv /tmp/ 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "== demo server on 127.0.0.1:$port (data $work; log kept in /tmp/ror-soak-server.log)"
RUST_LOG="${RUST_LOG:-warn}" "$CARGO_TARGET_DIR/release/ror-search" --data-dir "$work/data" \
    serve --demo --listen "127.0.0.1:$port" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { echo "server exited"; tail -n 20 "$log"; exit 1; }
    sleep 0.5
done

# Corpus values for the ${LOC_IDENT}… placeholders of the mix (picks.sql does this on the
# PostgreSQL side of the comparison; here any existing value will do).
base="http://127.0.0.1:$port/fhir"
first_identifier() {
    curl -fsS "$base/$1" | python3 -c 'import json,sys
b=json.load(sys.stdin)
for e in b.get("entry", []):
    for i in e["resource"].get("identifier", []):
        if i.get("value"): print(i["value"]); sys.exit()'
}
{
    printf 'LOC_IDENT\t%s\n' "$(first_identifier 'Location?_count=5')"
    printf 'HS_IDENT\t%s\n' "$(first_identifier 'HealthcareService?_count=5')"
    printf 'FINESS\t%s\n' "$(first_identifier 'Organization?_count=5&partof:missing=true')"
    printf 'PRACT_IDENT\t%s\n' "$(first_identifier 'Practitioner?_count=5')"
} >"$work/vars.tsv"
cat "$work/vars.tsv"

echo "== maximum search throughput (reads only, for reference): ${connections} connections, closed loop, ${probe_seconds} s"
"$http_load" run --addr "127.0.0.1:$port" --mix benches/pg/mix.tsv --vars "$work/vars.tsv" \
    --connections "$connections" --seconds "$probe_seconds" --warmup-seconds 3 --out "$work/soak-max-reads.tsv" \
    | tail -n 1

echo "== maximum of the mixed load, then ${minutes} min at ${load_percent}% of it"
"$http_load" soak --addr "127.0.0.1:$port" --mix benches/pg/mix.tsv --vars "$work/vars.tsv" \
    --probe-seconds "$probe_seconds" --load-percent "$load_percent" \
    --minutes "$minutes" --connections "$connections" --write-percent "$write_percent" \
    --interval-seconds "$interval" --pid "$server_pid" --out "$work/soak-intervals.tsv"
kill -0 "$server_pid" 2>/dev/null && echo "server process: alive (pid $server_pid)" || { echo "server process: DEAD"; exit 1; }
grep -c panicked "$log" | sed 's/^/"panicked" in the server log: /' || true

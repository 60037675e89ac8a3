#!/usr/bin/env bash
# Robustness suite, part 2: COUNT malformed / hostile requests (default 100,000) against a demo
# server (benches/malformed.rs): 0 5xx, every non-2xx answer a FHIR OperationOutcome, the server
# up at the end and no "panicked" in its log.
#
#   benches/robustness/malformed.sh [count] [extra generator options, e.g. --seed 2]
#
# Builds release into CARGO_TARGET_DIR (default /work/target-bench), starts
# `ror-search serve --demo` on a free loopback port with a temporary data directory, runs the
# generator, stops the server by its PID and removes the directory. Loopback only; bounded by
# COUNT and by the generator's --seconds (default 900).
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-100000}"
shift || true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"

cargo build --release --bin ror-search 2>&1 | tail -n 1
generator=$(cargo bench --bench malformed --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*malformed-[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$generator" ] || { echo "malformed.sh: could not build the generator"; exit 1; }

data_dir=$(mktemp -d /tmp/ror-malformed.XXXXXX)
log="$data_dir/server.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    cp "$log" "/tmp/ror-malformed-server.log" 2>/dev/null || true
    rm -rf "$data_dir"
}
trap cleanup EXIT

echo "== demo server on 127.0.0.1:$port (data $data_dir, log kept in /tmp/ror-malformed-server.log)"
RUST_LOG="${RUST_LOG:-warn}" "$CARGO_TARGET_DIR/release/ror-search" --data-dir "$data_dir" \
    serve --demo --listen "127.0.0.1:$port" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { echo "server exited"; tail -n 20 "$log"; exit 1; }
    sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { echo "server did not start"; exit 1; }
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")

set +e
"$generator" --addr "127.0.0.1:$port" --count "$count" --server-log "$log" "$@"
status=$?
set -e
if kill -0 "$server_pid" 2>/dev/null; then
    rss_after=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
    echo "server process         : alive (pid $server_pid), RSS ${rss_before} kB before, ${rss_after} kB after"
else
    echo "server process         : DEAD"
    status=1
fi
exit $status

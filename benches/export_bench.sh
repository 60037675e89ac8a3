#!/usr/bin/env bash
# What is measured: bulk $export throughput (MB/s of NDJSON written, kick-off to manifest) and
# BI CSV extract throughput (MB/s streamed), on a generated corpus (seed 42).
# Usage: benches/export_bench.sh [scale=region] [work dir=/tmp/ror-export-bench]
set -euo pipefail
SCALE=${1:-region}
WORK=${2:-/tmp/ror-export-bench}
BIN=target/release/ror-search
PORT=${PORT:-18089}
cargo build --release --quiet
mkdir -p "$WORK"
if [ ! -f "$WORK/corpus-$SCALE/HealthcareService.ndjson" ]; then
  $BIN generate --scale "$SCALE" --seed 42 --out "$WORK/corpus-$SCALE" >/dev/null
fi
if [ ! -f "$WORK/data-$SCALE/store.redb" ]; then
  $BIN --data-dir "$WORK/data-$SCALE" load "$WORK/corpus-$SCALE"/*.ndjson
fi
$BIN --data-dir "$WORK/data-$SCALE" serve --listen 127.0.0.1:$PORT >"$WORK/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.5; done
B="http://127.0.0.1:$PORT/fhir"

export_once() { # $1 = query
  local start end status manifest
  start=$(date +%s.%N)
  status=$(curl -s -D - -o /dev/null -H 'Prefer: respond-async' "$B/\$export?$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-location"{print $2}')
  while :; do
    manifest=$(curl -s -w '\n%{http_code}' "$status")
    [ "$(echo "$manifest" | tail -1)" = 200 ] && break
    sleep 0.05
  done
  end=$(date +%s.%N)
  local job=${status##*=}
  local bytes
  bytes=$(du -sb "$WORK/data-$SCALE/exports/$job" | cut -f1)
  local resources
  resources=$(echo "$manifest" | head -1 | grep -o '"count":[0-9]*' | cut -d: -f2 | paste -sd+ | bc)
  echo "$1: $resources resources, $(echo "scale=1; $bytes/1048576" | bc) MB in $(echo "$end-$start" | bc) s = $(echo "scale=1; $bytes/1048576/($end-$start)" | bc) MB/s"
  curl -s -X DELETE "$status" >/dev/null
}

echo "== \$export (NDJSON, UC2 closure)"
export_once "_type=HealthcareService"
export_once "_type=HealthcareService"
echo "== \$export (fhir+json Bundles)"
export_once "_type=HealthcareService&_outputFormat=application/fhir%2Bjson"
echo "== CSV extracts"
for name in offers locations organizations anomalies indicators; do
  curl -s -o /dev/null -w "$name: %{size_download} bytes in %{time_total} s\n" "http://127.0.0.1:$PORT/export/$name.csv" |
    awk '{printf "%s %.1f MB in %s s = %.1f MB/s\n", $1, $2/1048576, $5, ($5>0 ? $2/1048576/$5 : 0)}'
done

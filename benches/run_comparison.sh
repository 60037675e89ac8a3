#!/usr/bin/env bash
# Side-by-side comparison of ror-search with PostgreSQL 15 + PostGIS 3 on the same corpus and the
# same SPEC §3 query mix (benches/pg/mix.tsv). See benches/README.md.
#
#   benches/run_comparison.sh [demo|region|national]      (default: national)
#
# Steps: release build; corpus generation (cached per scale, seed and generator source under the
# work dir); load into a fresh ror-search store (ingest rate); start ror-search on loopback
# (startup time, VmRSS); PostgreSQL cluster + load (load time; cached per corpus unless
# ROR_BENCH_PG_RELOAD=1); check mode (same totals, same ids, same includes); HTTP load on
# ror-search then pgbench on PostgreSQL with N clients, again with 1 client (unloaded latency);
# final tables. Everything it starts is stopped on exit, errors included (trap), by PID.
#
# Environment (defaults): ROR_BENCH_WORK (/tmp/ror-bench), ROR_BENCH_SEED (42), ROR_BENCH_PORT
# (18080), ROR_PG_PORT (55432), ROR_BENCH_CONNECTIONS (8), ROR_BENCH_SECONDS (20; 60 at national),
# ROR_BENCH_WARMUP (3), ROR_BENCH_SERIAL_SECONDS (10, 60 at national; 0 skips the 1-client pass),
# ROR_BENCH_MAX_REQUESTS (1000000), ROR_BENCH_PG_RELOAD (0), ROR_BENCH_REUSE_STORE (0: 1 keeps the
# ror-search store of an earlier run of the same corpus instead of loading it again),
# ROR_BENCH_SKIP_CHECK (0), CARGO_TARGET_DIR (cargo's default).
set -euo pipefail

SCALE=${1:-national}
case "$SCALE" in demo|region|national) ;; *) echo "usage: $0 [demo|region|national]" >&2; exit 2 ;; esac
REPO=$(cd "$(dirname "$0")/.." && pwd)
SEED=${ROR_BENCH_SEED:-42}
WORK=${ROR_BENCH_WORK:-/tmp/ror-bench}
PORT=${ROR_BENCH_PORT:-18080}
PG_PORT=${ROR_PG_PORT:-55432}
PG_DIR=${ROR_PG_DIR:-$WORK/pg}
CONNECTIONS=${ROR_BENCH_CONNECTIONS:-8}
# National throughputs are in the tens of requests/s: measure longer there to get enough
# samples of every query.
if [ "$SCALE" = national ]; then default_seconds=60; default_serial=60; else default_seconds=20; default_serial=10; fi
SECONDS_RUN=${ROR_BENCH_SECONDS:-$default_seconds}
WARMUP=${ROR_BENCH_WARMUP:-3}
SERIAL_SECONDS=${ROR_BENCH_SERIAL_SECONDS:-$default_serial}
MAX_REQUESTS=${ROR_BENCH_MAX_REQUESTS:-1000000}
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
RUN=$WORK/runs/$SCALE-$(date +%Y%m%d-%H%M%S)
# The corpus cache is keyed by the generator's sources too: a changed generator regenerates.
GEN_KEY=$(cat "$REPO"/src/generate/*.rs "$REPO"/fixtures/reference/* 2>/dev/null | cksum | cut -d' ' -f1)
CORPUS=$WORK/corpus/$SCALE-seed$SEED-gen$GEN_KEY
DATA=$WORK/data/$SCALE-seed$SEED
mkdir -p "$RUN" "$WORK/bin"
META=$RUN/meta.tsv
: > "$META"

log() { printf '\n[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
meta() { printf '%s\t%s\n' "$1" "$2" >> "$META"; printf '  %-34s %s\n' "$1" "$2" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
rss_of() { awk '/^VmRSS/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
hwm_of() { awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }

SERVER_PID=""
PG_STARTED=0
cleanup() {
  local status=$?
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    log "stopping ror-search (pid $SERVER_PID)"
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$PG_STARTED" = 1 ]; then
    log "stopping PostgreSQL ($PG_DIR)"
    "$REPO/benches/pg/setup.sh" stop "$PG_DIR" || true
  fi
  [ $status -eq 0 ] || echo "run_comparison: failed (exit $status); logs in $RUN" >&2
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "scale $SCALE, seed $SEED, work dir $WORK, run dir $RUN"
meta scale "$SCALE"
meta seed "$SEED"
meta commit "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted changes in src/')"
meta machine "$(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"

# ---------------------------------------------------------------- build
log "building ror-search (release) and the load driver"
(cd "$REPO" && cargo build --release --quiet --bin ror-search)
BIN=$TARGET/release/ror-search
rustc --edition 2021 -O -o "$WORK/bin/http_load" "$REPO/benches/http_load.rs"
HL=$WORK/bin/http_load

# ---------------------------------------------------------------- corpus
if [ ! -f "$CORPUS/.complete" ]; then
  log "generating the $SCALE corpus into $CORPUS"
  rm -rf "$CORPUS"
  t0=$(now)
  "$BIN" generate --scale "$SCALE" --seed "$SEED" --out "$CORPUS" 2>>"$RUN/generate.log" | tee "$RUN/generate.txt" >&2
  meta generate_seconds "$(elapsed "$t0")"
  touch "$CORPUS/.complete"
fi
FILES=()
for type in Organization Location HealthcareService PractitionerRole Practitioner; do FILES+=("$CORPUS/$type.ndjson"); done
for type in Organization Location HealthcareService PractitionerRole Practitioner; do
  meta "corpus_$type" "$(wc -l < "$CORPUS/$type.ndjson")"
done

# ---------------------------------------------------------------- ror-search: load
corpus_key="$SCALE-seed$SEED-$(cat "${FILES[@]}" | cksum | cut -d' ' -f1)"
if [ "${ROR_BENCH_REUSE_STORE:-0}" = 1 ] && [ "$(cat "$DATA/.corpus" 2>/dev/null)" = "$corpus_key" ]; then
  log "reusing the ror-search store of an earlier run ($DATA)"
  while IFS=$'\t' read -r k v; do meta "$k" "$v (cached: earlier run)"; done < "$DATA/.ingest.tsv"
else
  log "loading the corpus into a fresh ror-search store ($DATA)"
  rm -rf "$DATA"
  mkdir -p "$DATA"
  t0=$(now)
  "$BIN" --data-dir "$DATA" load "${FILES[@]}" 2>"$RUN/load.log" | tee "$RUN/load.txt" >&2
  load_seconds=$(elapsed "$t0")
  resources=$(awk '/^loaded/ { print $2 }' "$RUN/load.txt")
  {
    printf 'ror_ingest\t%s\n' "$(grep '^loaded' "$RUN/load.txt" || true)"
    printf 'ror_ingest_wall_seconds\t%s\n' "$load_seconds"
    printf 'ror_ingest_resources_per_s\t%s\n' "$(awk -v n="$resources" -v s="$load_seconds" 'BEGIN { printf "%.0f", n / s }')"
  } > "$DATA/.ingest.tsv"
  while IFS=$'\t' read -r k v; do meta "$k" "$v"; done < "$DATA/.ingest.tsv"
  echo "$corpus_key" > "$DATA/.corpus"
fi
meta ror_store_size "$(du -sh "$DATA" | cut -f1)"

# ---------------------------------------------------------------- ror-search: serve
log "starting ror-search on 127.0.0.1:$PORT"
t0=$(now)
RUST_LOG=${RUST_LOG:-warn} "$BIN" --data-dir "$DATA" serve --listen "127.0.0.1:$PORT" >"$RUN/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 1800); do
  if curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz"; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "ror-search exited:" >&2; tail -20 "$RUN/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" || { echo "ror-search did not start" >&2; exit 1; }
meta ror_startup_seconds "$(elapsed "$t0") (open store + rebuild of the search state + bind)"
meta ror_rss_after_load "$(rss_of "$SERVER_PID") (peak $(hwm_of "$SERVER_PID"))"

# ---------------------------------------------------------------- PostgreSQL
log "PostgreSQL + PostGIS ($PG_DIR, port $PG_PORT)"
if ! "$REPO/benches/pg/setup.sh" status "$PG_DIR" >/dev/null 2>&1; then PG_STARTED=1; fi
"$REPO/benches/pg/setup.sh" start "$PG_DIR" "$PG_PORT"
psql_() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d ror -X -v ON_ERROR_STOP=1 -qAt "$@"; }
# The PostgreSQL load is reused while the corpus and the loading SQL are the same.
pg_key="$corpus_key-$(cat "$REPO/benches/pg/load.sql" "$REPO/benches/pg/load.sh" | cksum | cut -d' ' -f1)"
loaded_key=$(psql_ -c "SELECT key FROM bench_corpus" 2>/dev/null || true)
if [ "${ROR_BENCH_PG_RELOAD:-0}" = 1 ] || [ "$loaded_key" != "$pg_key" ]; then
  log "loading the corpus into PostgreSQL"
  "$REPO/benches/pg/load.sh" "$CORPUS" "$PG_PORT" > "$RUN/pg_load.txt" 2> "$RUN/pg_load.log"
  pg_seconds=$(sed -n 's/^pg_load_seconds=//p' "$RUN/pg_load.txt")
  psql_ -c "DROP TABLE IF EXISTS bench_corpus" -c "CREATE TABLE bench_corpus (key text, load_seconds float8, db_size text)" \
    -c "INSERT INTO bench_corpus VALUES ('$pg_key', $pg_seconds, pg_size_pretty(pg_database_size('ror')))"
  meta pg_load_seconds "$pg_seconds"
else
  meta pg_load_seconds "$(psql_ -c "SELECT load_seconds FROM bench_corpus") (cached: loaded by an earlier run)"
fi
pg_resources=$(psql_ -c "SELECT (SELECT count(*) FROM organization) + (SELECT count(*) FROM location) + (SELECT count(*) FROM healthcare_service) + (SELECT count(*) FROM practitioner_role) + (SELECT count(*) FROM practitioner)")
meta pg_load_resources_per_s "$(awk -v n="$pg_resources" -v s="$(psql_ -c "SELECT load_seconds FROM bench_corpus")" 'BEGIN { printf "%.0f", n / s }')"
meta pg_database_size "$(psql_ -c "SELECT pg_size_pretty(pg_database_size('ror'))")"
psql_ -F $'\t' -f "$REPO/benches/pg/picks.sql" > "$RUN/vars.tsv"
while IFS=$'\t' read -r k v; do meta "pick_$k" "$v"; done < "$RUN/vars.tsv"

# ---------------------------------------------------------------- check
if [ "${ROR_BENCH_SKIP_CHECK:-0}" != 1 ]; then
  log "check mode: same totals, ids and includes on both engines"
  timeout 1800 "$HL" check --addr "127.0.0.1:$PORT" --mix "$REPO/benches/pg/mix.tsv" --vars "$RUN/vars.tsv" \
    --pg-port "$PG_PORT" | tee "$RUN/check.txt" >&2 || echo "check mode failed (exit $?)" >&2
  meta check "$(tail -1 "$RUN/check.txt")"
fi

# ---------------------------------------------------------------- load: ror-search, then PostgreSQL
"$HL" pgbench-files --mix "$REPO/benches/pg/mix.tsv" --vars "$RUN/vars.tsv" --out-dir "$RUN/pgbench"
SCRIPTS=()
for f in "$RUN"/pgbench/q*.sql; do SCRIPTS+=(-f "$f"); done

# measure LABEL CONNECTIONS SECONDS: the mix on ror-search over HTTP, then the same mix on
# PostgreSQL with pgbench (each engine alone on the machine while it is measured).
measure() {
  local label=$1 clients=$2 secs=$3 threads
  threads=$(( clients < 2 ? 1 : 2 ))
  log "[$label] HTTP load on ror-search: $clients connections, $secs s (warm-up $WARMUP s)"
  "$HL" run --addr "127.0.0.1:$PORT" --mix "$REPO/benches/pg/mix.tsv" --vars "$RUN/vars.tsv" \
    --connections "$clients" --seconds "$secs" --warmup-seconds "$WARMUP" \
    --max-requests "$MAX_REQUESTS" --out "$RUN/ror-$label.tsv" | tee "$RUN/ror-$label.txt" >&2
  log "[$label] pgbench on PostgreSQL: $clients clients, $secs s (warm-up $WARMUP s)"
  local dir=$RUN/pgbench/$label
  mkdir -p "$dir"
  pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c "$clients" -j "$threads" "${SCRIPTS[@]}" \
    -T "$WARMUP" ror > "$dir/warmup.txt" 2>&1 || { cat "$dir/warmup.txt" >&2; exit 1; }
  (cd "$dir" && pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -M prepared -c "$clients" -j "$threads" \
    "${SCRIPTS[@]}" -T "$secs" --log --log-prefix=pgbench_log ror) > "$dir/pgbench.txt" 2>&1 \
    || { cat "$dir/pgbench.txt" >&2; exit 1; }
  grep -E '^(tps|latency average|number of failed)' "$dir/pgbench.txt" >&2 || true
  "$HL" pgbench-stats --mix "$REPO/benches/pg/mix.tsv" --vars "$RUN/vars.tsv" --logs "$dir" \
    --seconds "$secs" --out "$RUN/pg-$label.tsv" | tee "$RUN/pg-$label.txt" >&2
}

measure loaded "$CONNECTIONS" "$SECONDS_RUN"
meta ror_rss_after_run "$(rss_of "$SERVER_PID") (peak $(hwm_of "$SERVER_PID"))"
meta ror_cpu_seconds "$(awk '{ printf "%.1f", ($14 + $15) / 100 }' "/proc/$SERVER_PID/stat")"
if [ "$SERIAL_SECONDS" != 0 ]; then
  measure serial 1 "$SERIAL_SECONDS"
fi

# ---------------------------------------------------------------- report
log "report"
{
  "$HL" report --ror "$RUN/ror-loaded.tsv" --pg "$RUN/pg-loaded.tsv" --meta "$META" \
    --title "$CONNECTIONS concurrent clients, ror-search over HTTP vs PostgreSQL+PostGIS via pgbench"
  if [ "$SERIAL_SECONDS" != 0 ]; then
    "$HL" report --ror "$RUN/ror-serial.tsv" --pg "$RUN/pg-serial.tsv" \
      --title "1 client (unloaded latency), ror-search over HTTP vs PostgreSQL+PostGIS via pgbench"
  fi
} | tee "$RUN/report.txt"
echo "(all outputs in $RUN)"

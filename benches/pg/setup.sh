#!/usr/bin/env bash
# PostgreSQL 15 + PostGIS 3 side-by-side engine for the ror-search benchmarks.
#
#   benches/pg/setup.sh [start] [DIR] [PORT]   install if missing, initdb DIR, start on 127.0.0.1:PORT,
#                                              create database "ror" with postgis, unaccent, pg_trgm
#   benches/pg/setup.sh stop [DIR]             stop the cluster started from DIR (pg_ctl, its postmaster.pid)
#   benches/pg/setup.sh status [DIR]
#
# Defaults: DIR=${ROR_PG_DIR:-/tmp/ror-pg}, PORT=${ROR_PG_PORT:-55432}. Idempotent: an existing
# cluster is reused, a running one is left running. The server listens on loopback only, and its
# unix socket lives in DIR (never the system's /var/run/postgresql).
set -euo pipefail

cmd=start
case "${1:-}" in
  start|stop|status) cmd=$1; shift ;;
esac
DIR=${1:-${ROR_PG_DIR:-/tmp/ror-pg}}
PORT=${2:-${ROR_PG_PORT:-55432}}
DB=${ROR_PG_DB:-ror}
PGVER=15
BIN=/usr/lib/postgresql/$PGVER/bin
DATA=$DIR/data
LOG=$DIR/server.log

log() { printf '[pg-setup] %s\n' "$*" >&2; }

# initdb/postgres refuse to run as root: run them as the "postgres" system user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_packages() {
  local missing=()
  [ -x "$BIN/initdb" ] || missing+=("postgresql-$PGVER")
  [ -f "/usr/share/postgresql/$PGVER/extension/postgis.control" ] || missing+=("postgresql-$PGVER-postgis-3")
  [ -f "/usr/share/postgresql/$PGVER/extension/unaccent.control" ] || missing+=("postgresql-contrib")
  command -v pgbench >/dev/null 2>&1 || missing+=("postgresql-client-$PGVER")
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

case "$cmd" in
  stop)
    if running; then
      log "stopping the cluster in $DATA (pid $(head -1 "$DATA/postmaster.pid"))"
      as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    else
      log "no cluster running in $DATA"
    fi
    exit 0 ;;
  status)
    if running; then echo "running (pid $(head -1 "$DATA/postmaster.pid"), port $(sed -n 4p "$DATA/postmaster.pid"))"; else echo "stopped"; exit 3; fi
    exit 0 ;;
esac

install_packages
mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"

if [ ! -f "$DATA/PG_VERSION" ]; then
  log "initdb $DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  # What a competent DBA sets for a read-mostly search workload on this machine: a large buffer
  # cache, no JIT (it only slows short queries), SSD costs, no parallel workers (8 concurrent
  # clients on 2 cores), minimal WAL so that COPY into a table created in the same transaction is
  # not WAL-logged.
  cat >> "$DATA/postgresql.conf" <<CONF
# ---- ror-search benchmark settings (benches/pg/setup.sh)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
max_connections = 50
shared_buffers = 2GB
effective_cache_size = 8GB
work_mem = 32MB
maintenance_work_mem = 1GB
random_page_cost = 1.1
effective_io_concurrency = 200
jit = off
max_parallel_workers_per_gather = 0
max_parallel_maintenance_workers = 2
wal_level = minimal
max_wal_senders = 0
synchronous_commit = off
checkpoint_timeout = 30min
max_wal_size = 8GB
default_text_search_config = 'pg_catalog.french'
logging_collector = off
CONF
fi
# Port can change between runs of an existing cluster.
if grep -q '^port = ' "$DATA/postgresql.conf"; then
  sed -i "s/^port = .*/port = $PORT/" "$DATA/postgresql.conf"
else
  echo "port = $PORT" >> "$DATA/postgresql.conf"
fi

if running; then
  log "cluster already running in $DATA"
else
  log "starting on 127.0.0.1:$PORT"
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
fi

psql_() { psql -h 127.0.0.1 -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(psql_ -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  psql_ -d postgres -c "CREATE DATABASE $DB"
fi
PGOPTIONS="-c client_min_messages=warning" psql_ -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis" \
  -c "CREATE EXTENSION IF NOT EXISTS unaccent" \
  -c "CREATE EXTENSION IF NOT EXISTS pg_trgm"
log "ready: psql -h 127.0.0.1 -p $PORT -U postgres $DB ($(psql_ -d "$DB" -c 'SELECT postgis_lib_version()') PostGIS)"

#!/usr/bin/env bash
# Load a generated ROR corpus (the NDJSON files of `ror-search generate`) into the PostgreSQL
# cluster of setup.sh: COPY each file into a staging table, then load.sql extracts the search
# columns, builds the indexes and runs ANALYZE.
#
#   benches/pg/load.sh CORPUS_DIR [PORT]
#
# Prints "pg_load_seconds=<s>" and "pg_resources=<n>" on stdout at the end (read by
# run_comparison.sh). Env: ROR_PG_PORT (55432), ROR_PG_DB (ror).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=${1:?usage: load.sh CORPUS_DIR [PORT]}
PORT=${2:-${ROR_PG_PORT:-55432}}
DB=${ROR_PG_DB:-ror}
COMMUNES=${ROR_COMMUNES_CSV_GZ:-$HERE/../../fixtures/reference/communes.csv.gz}
export PGOPTIONS="-c client_min_messages=warning"
psql_() { psql -h 127.0.0.1 -p "$PORT" -U postgres -d "$DB" -v ON_ERROR_STOP=1 -qAt "$@"; }

started=$(date +%s.%N)
for type in Organization Location HealthcareService PractitionerRole Practitioner; do
  file=$CORPUS/$type.ndjson
  [ -f "$file" ] || { echo "missing $file" >&2; exit 1; }
  table=stage_$(echo "$type" | tr '[:upper:]' '[:lower:]')
  psql_ -c "DROP TABLE IF EXISTS $table" -c "CREATE UNLOGGED TABLE $table (seq bigserial, doc jsonb NOT NULL)"
  # NDJSON lines are JSON texts with backslash escapes: COPY's text format would eat them, so use
  # the csv format with quote and delimiter characters that never occur in the data.
  psql_ -c "COPY $table (doc) FROM STDIN WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" < "$file"
  printf '[pg-load] %-18s %8s rows staged\n' "$type" "$(psql_ -c "SELECT count(*) FROM $table")" >&2
done
psql_ -c "DROP TABLE IF EXISTS stage_commune" \
  -c "CREATE UNLOGGED TABLE stage_commune (cog text, name text, postal_codes text, department text, region text, lat float8, lon float8, population bigint, type text, parent text, zone text)"
gzip -dc "$COMMUNES" | psql_ -c "COPY stage_commune FROM STDIN WITH (FORMAT csv, HEADER true)"
psql_ -f "$HERE/load.sql" >&2
ended=$(date +%s.%N)
total=$(psql_ -c "SELECT (SELECT count(*) FROM organization) + (SELECT count(*) FROM location) + (SELECT count(*) FROM healthcare_service) + (SELECT count(*) FROM practitioner_role) + (SELECT count(*) FROM practitioner)")
size=$(psql_ -c "SELECT pg_size_pretty(pg_database_size('$DB'))")
echo "[pg-load] $total resources, database size $size" >&2
echo "pg_load_seconds=$(echo "$ended - $started" | bc -l | xargs printf '%.1f')"
echo "pg_resources=$total"
echo "pg_db_size=$size"

#!/usr/bin/env bash
# How long copying a whole database onto an empty one on another server takes, with each tool in
# turn (issue 17 item 7): pg_dump -Fd -j J then pg_restore -j J; pgcopydb clone; and pgdual sync,
# with pgdual serve running in mirror mode wal on the same configuration. The source database "ehr"
# holds pgbench data (scale S) and a small EHR-like schema: serial and uuid keys, an enum, jsonb, an
# audit trigger and its table, a table without a primary key, a partitioned table and a few large
# objects. Each round runs every tool once, each onto the target server's "ehr" made anew and empty.
# After each run the target must hold the source's tables, and (without --writes) the rows each table
# had when the tool started, and the large objects; the script fails loudly when it does not.
# Prints a Markdown table of each tool's median wall time, MB/s (the source's pg_database_size) and
# rows/s (the rows of the source's tables at the end), and pgdual's wall time over the faster of the
# other two.
#
# usage: bench/sync_bench.sh [--rounds N] [--scale S] [--jobs J] [--writes] [--out FILE]
# --writes runs pgbench -N -c 2 -R 200 on the source while each tool copies: directly against the
# source for pg_dump and pgcopydb, through pgdual for pgdual sync. --out FILE appends the table to
# FILE. PGDUAL_BIN=/path/to/pgdual uses that binary instead of building one in build-bench/. A pgdual
# without the sync command gets the row "not available".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PGDUAL_BUILD_DIR:-$root/build-bench}"
rounds=2 scale=20 jobs=2 writes=0 out_file=""
database=ehr
writer_rate=200 writer_clients=2

usage() { echo "usage: $0 [--rounds N] [--scale S] [--jobs J] [--writes] [--out FILE]" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --writes) writes=1; shift ;;
    --out) out_file="$2"; shift 2 ;;
    *) usage ;;
  esac
done
for number in "$rounds" "$scale" "$jobs"; do
  [[ "$number" =~ ^[1-9][0-9]*$ ]] || usage
done

fail() { echo "sync_bench: $*" >&2; exit 1; }

command -v pg_config >/dev/null || fail "PostgreSQL 15 is not installed; run scripts/install-deps.sh run"
command -v pgcopydb >/dev/null || fail "pgcopydb is not installed; run scripts/install-deps.sh bench"
# shellcheck source=../scripts/lib/pgdual_binary.sh
source "$root/scripts/lib/pgdual_binary.sh"
pgdual_bin="$(pgdual_binary "$root" "$build")" || fail "no pgdual to measure"
pgdual_origin="${PGDUAL_BIN:-commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
has_sync=0
"$pgdual_bin" sync --help >/dev/null 2>&1 && has_sync=1

writer_pid=""
before_cleanup() {
  [[ -z "$writer_pid" ]] || { kill -TERM "$writer_pid" 2>/dev/null || true; wait "$writer_pid" 2>/dev/null || true; }
}
# shellcheck source=lib/common.sh
source "$root/bench/lib/common.sh" pgdual-sync

# The copies never wait for a checkpoint; the WAL mirror and pgcopydb need logical decoding.
server_conf="max_wal_size = '4GB'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10"
port_source="$(free_port)"
start_local_postgres source "$port_source" "$PGPASSWORD" "$server_conf"
port_target="$(free_port)"
start_local_postgres target "$port_target" "$PGPASSWORD" "$server_conf"

# pgdual: primary "onprem" is the source, mirror "cloud" the target.
pgdual_port="$(free_port)"
# pgdual sync asks serve's admin console to run the database's WAL mirror: postgres is an admin.
write_pgdual_config pgdual "$pgdual_port" "$port_source" "$port_target" '[mirror]
mode = "wal"
[admin]
users = ["postgres"]'
pgdual_config="$workdir/pgdual/pgdual.toml"

# About 310 000 rows beside pgbench's, in tables of the kinds a hospital's database holds. The
# audit trigger fires for each row the load writes, so audit_log is filled by it.
ehr_schema_sql="
CREATE TYPE encounter_kind AS ENUM ('outpatient', 'inpatient', 'emergency', 'telehealth');
CREATE TABLE patients (id serial PRIMARY KEY, mrn text NOT NULL UNIQUE, name text NOT NULL, born date,
  profile jsonb NOT NULL DEFAULT '{}');
CREATE TABLE encounters (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), patient_id int NOT NULL REFERENCES patients,
  kind encounter_kind NOT NULL, started_at timestamptz NOT NULL, summary jsonb);
CREATE INDEX ON encounters (patient_id, started_at);
CREATE TABLE orders (id bigserial PRIMARY KEY, encounter_id uuid NOT NULL REFERENCES encounters, code text NOT NULL,
  placed_at timestamptz NOT NULL, details jsonb);
CREATE INDEX ON orders (encounter_id);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, table_name text NOT NULL, operation text NOT NULL,
  row_key text NOT NULL, changed_at timestamptz NOT NULL DEFAULT now());
CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO audit_log (table_name, operation, row_key) VALUES (TG_TABLE_NAME, TG_OP, OLD.id::text);
  ELSE
    INSERT INTO audit_log (table_name, operation, row_key) VALUES (TG_TABLE_NAME, TG_OP, NEW.id::text);
  END IF;
  RETURN NULL;
END \$\$;
CREATE TRIGGER patients_audit AFTER INSERT OR UPDATE OR DELETE ON patients FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON orders FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TABLE vitals_raw (patient_id int NOT NULL, taken_at timestamptz NOT NULL, reading jsonb NOT NULL);
CREATE TABLE observations (patient_id int NOT NULL, observed_at timestamptz NOT NULL, code text NOT NULL,
  value numeric(10,2), PRIMARY KEY (patient_id, observed_at, code)) PARTITION BY RANGE (observed_at);
CREATE TABLE observations_2023 PARTITION OF observations FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE observations_2024 PARTITION OF observations FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE observations_later PARTITION OF observations DEFAULT;
CREATE TABLE documents (id serial PRIMARY KEY, patient_id int NOT NULL REFERENCES patients, title text NOT NULL,
  content oid NOT NULL);

INSERT INTO patients (mrn, name, born, profile)
  SELECT 'MRN' || lpad(g::text, 8, '0'), 'patient ' || md5(g::text), date '1930-01-01' + (g * 7919) % 32000,
         jsonb_build_object('ward', g % 40, 'allergies',
           CASE WHEN g % 7 = 0 THEN jsonb_build_array('penicillin') ELSE '[]'::jsonb END)
  FROM generate_series(1, 20000) AS g;
UPDATE patients SET profile = profile || '{\"reviewed\": true}' WHERE id % 10 = 0;
INSERT INTO encounters (patient_id, kind, started_at, summary)
  SELECT g % 20000 + 1, (enum_range(NULL::encounter_kind))[g % 4 + 1],
         timestamptz '2023-01-01 00:00:00+00' + g * interval '17 minutes', jsonb_build_object('reason', md5(g::text))
  FROM generate_series(1, 50000) AS g;
INSERT INTO orders (encounter_id, code, placed_at, details)
  SELECT e.id, 'LAB' || (n * 37 % 300), e.started_at + n * interval '5 minutes', jsonb_build_object('priority', n % 3)
  FROM (SELECT id, started_at FROM encounters ORDER BY started_at LIMIT 30000) AS e, generate_series(1, 2) AS n;
INSERT INTO vitals_raw
  SELECT g % 20000 + 1, timestamptz '2023-01-01 00:00:00+00' + g * interval '13 minutes',
         jsonb_build_object('pulse', 50 + g % 60, 'spo2', 90 + g % 10)
  FROM generate_series(1, 40000) AS g;
INSERT INTO observations
  SELECT g % 20000 + 1, timestamptz '2023-01-01 00:00:00+00' + g * interval '20 minutes', 'OBS' || (g % 50),
         (g % 10000) / 100.0
  FROM generate_series(1, 60000) AS g;
INSERT INTO documents (patient_id, title, content)
  SELECT g, 'scan ' || g, lo_from_bytea(0, convert_to(repeat(md5(g::text), 2000), 'UTF8'))
  FROM generate_series(1, 5) AS g;
VACUUM ANALYZE;"

# contents PORT: one line per table of $database outside the system schemas and pgdual's own,
# "schema.table rows" (the rows of the table itself: a partitioned table's are its partitions'),
# and "(large-objects) N" and "(large-object-bytes) N", sorted. Names and counts only, never rows.
contents_sql="SELECT string_agg(format('SELECT %L, count(*) FROM ONLY %I.%I', n.nspname || '.' || c.relname,
                                       n.nspname, c.relname), ' UNION ALL ')
       || ' UNION ALL SELECT ''(large-objects)'', count(*) FROM pg_largeobject_metadata'
       || ' UNION ALL SELECT ''(large-object-bytes)'', coalesce(sum(octet_length(lo_get(oid))), 0)'
       || ' FROM pg_largeobject_metadata ORDER BY 1'
FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgdual')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
\\gexec"
contents() { psql_on "$1" -d "$database" -F ' ' <<<"$contents_sql"; }

# recreate_target: the target's $database, dropped and made anew, empty.
recreate_target() {
  psql_on "$port_target" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" \
    -c "CREATE DATABASE $database"
}

seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

# history_rows: the source's pgbench_history rows, one per pgbench -N transaction.
history_rows() { psql_on "$port_source" -d "$database" -c "SELECT count(*) FROM pgbench_history"; }

# start_writer PORT TOOL: with --writes, pgbench -N at $writer_rate transactions per second on
# $database at 127.0.0.1:PORT, until stop_writer.
writes_before=0 writes_during=0
start_writer() {
  ((writes)) || return 0
  writes_before="$(history_rows)"
  # exec, so that the PID is pgbench's own, which stop_writer stops (pgbench_on is a function).
  (exec "$pg_bindir/pgbench" -h 127.0.0.1 -p "$1" -U postgres -n -N -c "$writer_clients" -j 1 -R "$writer_rate" \
    -T 86400 "$database") >"$workdir/writer-$2.log" 2>&1 &
  writer_pid=$!
}

# stop_writer TOOL: stops the writer and sets writes_during to the transactions it committed;
# fails when it had stopped on its own while TOOL ran, or committed nothing.
stop_writer() {
  [[ -n "$writer_pid" ]] || return 0
  local pid="$writer_pid"
  writer_pid=""
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 5 "$workdir/writer-$1.log" >&2
    fail "the writes stopped while $1 ran"
  fi
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  writes_during=$(($(history_rows) - writes_before))
  ((writes_during > 0)) || fail "the writes committed nothing while $1 ran"
}

# Each run_TOOL ROUND sets copy_wall, and run_pg_dump also dump_wall and restore_wall (seconds).
copy_wall="" dump_wall="" restore_wall=""

# run_pg_dump ROUND: pg_dump -Fd -j into a temporary directory, then pg_restore -j from it.
run_pg_dump() {
  local dir="$workdir/dump-$1" started dumped restored
  started="$(date +%s.%N)"
  "$pg_bindir/pg_dump" -h 127.0.0.1 -p "$port_source" -U postgres -d "$database" -Fd -j "$jobs" -f "$dir" \
    >"$workdir/pg_dump-$1.log" 2>&1 || { tail -n 20 "$workdir/pg_dump-$1.log" >&2; fail "pg_dump failed"; }
  dumped="$(date +%s.%N)"
  "$pg_bindir/pg_restore" -h 127.0.0.1 -p "$port_target" -U postgres -d "$database" -j "$jobs" --exit-on-error \
    "$dir" >"$workdir/pg_restore-$1.log" 2>&1 || { tail -n 20 "$workdir/pg_restore-$1.log" >&2; fail "pg_restore failed"; }
  restored="$(date +%s.%N)"
  rm -rf "$dir"
  dump_wall="$(seconds_between "$started" "$dumped")" restore_wall="$(seconds_between "$dumped" "$restored")"
  copy_wall="$(seconds_between "$started" "$restored")"
}

server_uri() { echo "postgres://postgres@127.0.0.1:$1/$database"; }

# run_pgcopydb ROUND: pgcopydb clone, in a work directory of its own.
run_pgcopydb() {
  local started ended
  started="$(date +%s.%N)"
  pgcopydb clone --source "$(server_uri "$port_source")" --target "$(server_uri "$port_target")" \
    --table-jobs "$jobs" --index-jobs "$jobs" --dir "$workdir/pgcopydb-$1" >"$workdir/pgcopydb-$1.log" 2>&1 ||
    { tail -n 20 "$workdir/pgcopydb-$1.log" >&2; fail "pgcopydb clone failed"; }
  ended="$(date +%s.%N)"
  rm -rf "$workdir/pgcopydb-$1"
  copy_wall="$(seconds_between "$started" "$ended")"
}

# run_pgdual_sync ROUND: pgdual sync, with pgdual serve already running. Besides the whole run,
# in_sync_wall: how long until the mirror was in sync, as sync says it before it verifies (the
# other tools verify nothing).
run_pgdual_sync() {
  local started ended log="$workdir/pgdual-sync-$1.log"
  started="$(date +%s.%N)"
  "$pgdual_bin" sync --config "$pgdual_config" --database "$database" --jobs "$jobs" --no-progress \
    >"$log" 2>&1 || { tail -n 20 "$log" >&2; fail "pgdual sync failed"; }
  ended="$(date +%s.%N)"
  copy_wall="$(seconds_between "$started" "$ended")"
  in_sync_wall="$(sed -n 's/.* in sync \([0-9.]*\) s after the start.*/\1/p' "$log")"
  [[ -n "$in_sync_wall" ]] || fail "pgdual sync did not say when it was in sync"
}

# pgdual_init: pgdual's schema in $database on both servers.
pgdual_init() {
  "$pgdual_bin" init --config "$pgdual_config" --database "$database" >>"$workdir/pgdual-init.log" 2>&1 ||
    fail "pgdual init failed: $(tail -n 1 "$workdir/pgdual-init.log")"
}

# start_pgdual_serve: pgdual init (the target's database is new), then serve.
pgdual_serve_pid=""
start_pgdual_serve() {
  pgdual_init
  start_pgdual pgdual "$pgdual_port" "$pgdual_bin" || fail "pgdual serve did not start"
  pgdual_serve_pid="$spawned_pid"
}

# stop_pgdual_serve: stops serve, and forgets its PID so that the exit's cleanup never signals
# another process that reuses it; then drops its slot on the source, so that the next round starts
# without one.
stop_pgdual_serve() {
  local pid still_running=()
  stop_process "$pgdual_serve_pid"
  for pid in "${spawned_pids[@]}"; do
    [[ "$pid" == "$pgdual_serve_pid" ]] || still_running+=("$pid")
  done
  spawned_pids=("${still_running[@]}")
  pgdual_serve_pid=""
  psql_on "$port_source" -c \
    "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'pgdual%'" >/dev/null
}

# check_copy TOOL ROUND BEFORE_FILE: the target holds the tables listed in BEFORE_FILE (the source's
# contents when TOOL started) and, without --writes, their rows and the large objects too.
check_copy() {
  local after="$workdir/after-$1-$2" fields=1-2
  contents "$port_target" >"$after" || fail "$1: reading the target's tables failed"
  ((writes)) && fields=1
  if ! diff <(cut -d ' ' -f "$fields" "$3") <(cut -d ' ' -f "$fields" "$after") >"$after.diff"; then
    echo "source (<) and target (>) after $1, round $2:" >&2
    cat "$after.diff" >&2
    fail "$1 did not copy $database: the target's tables differ from the source's"
  fi
}

# run_tool TOOL ROUND: one copy onto an empty target, with run_TOOL.
run_tool() {
  local tool="$1" round="$2" before="$workdir/before-$1-$2" writer_port="$port_source"
  recreate_target >/dev/null || fail "re-creating the target's $database failed"
  if [[ "$tool" == pgdual ]]; then
    start_pgdual_serve
    writer_port="$pgdual_port"
  fi
  contents "$port_source" >"$before" || fail "reading the source's tables failed"
  start_writer "$writer_port" "$tool"
  case "$tool" in
    pg_dump) run_pg_dump "$round" ;;
    pgcopydb) run_pgcopydb "$round" ;;
    pgdual) run_pgdual_sync "$round" ;;
  esac
  stop_writer "$tool"
  [[ "$tool" != pgdual ]] || stop_pgdual_serve
  check_copy "$tool" "$round" "$before"
}

# median VALUE...
median() {
  printf '%s\n' "$@" | sort -g |
    awk '{v[NR] = $1} END {printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

echo "Loading pgbench scale $scale and the EHR tables into $database on the source ($workdir) ..."
psql_on "$port_source" -c "CREATE DATABASE $database"
pgbench_on "$port_source" "$database" -i -q -s "$scale" >"$workdir/pgbench-init.log" 2>&1 ||
  { tail -n 20 "$workdir/pgbench-init.log" >&2; fail "pgbench -i failed"; }
psql_on "$port_source" -d "$database" <<<"$ehr_schema_sql" >"$workdir/ehr-load.log" 2>&1 ||
  { tail -n 20 "$workdir/ehr-load.log" >&2; fail "loading the EHR tables failed"; }
tools=(pg_dump pgcopydb)
if ((has_sync)); then
  # pgdual init adds its schema to the source, so every tool copies the same source from round 1 on.
  recreate_target >/dev/null
  pgdual_init
  tools+=(pgdual)
fi

declare -A walls
dump_walls=() restore_walls=()
for round in $(seq "$rounds"); do
  for tool in "${tools[@]}"; do
    run_tool "$tool" "$round"
    walls[$tool]+="$copy_wall "
    said="$tool $copy_wall s"
    if [[ "$tool" == pgdual ]]; then
      walls[pgdual_in_sync]+="$in_sync_wall "
      said+=" (in sync after $in_sync_wall s, then verified)"
    fi
    if [[ "$tool" == pg_dump ]]; then
      dump_walls+=("$dump_wall") restore_walls+=("$restore_wall")
      said="pg_dump $dump_wall s + pg_restore $restore_wall s = $copy_wall s"
    fi
    ((!writes)) || said+=", $writes_during pgbench -N transactions committed meanwhile"
    echo "round $round: $said"
  done
done

contents "$port_source" >"$workdir/source-at-end"
total_rows="$(awk '$1 !~ /^\(/ {n += $2} END {print n + 0}' "$workdir/source-at-end")"
large_objects="$(awk '$1 == "(large-objects)" {print $2}' "$workdir/source-at-end")"
source_bytes="$(psql_on "$port_source" -c "SELECT pg_database_size('$database')")"
source_mb="$(awk -v b="$source_bytes" 'BEGIN {printf "%.1f", b / 1e6}')"

declare -A median_wall
((!has_sync)) || tools+=(pgdual_in_sync)
for tool in "${tools[@]}"; do
  # shellcheck disable=SC2086  # the walls split on blanks
  median_wall[$tool]="$(median ${walls[$tool]})"
done
faster_other="${median_wall[pg_dump]}"
awk -v a="${median_wall[pgcopydb]}" -v b="$faster_other" 'BEGIN {exit !(a < b)}' && faster_other="${median_wall[pgcopydb]}"

# row TOOL LABEL PARTS
row() {
  local wall="${median_wall[$1]:-}" ratio="—"
  if [[ -z "$wall" ]]; then
    echo "| $2 | not available | | | | |"
    return
  fi
  [[ "$1" != pgdual* ]] || ratio="$(awk -v w="$wall" -v f="$faster_other" 'BEGIN {printf "%.2f", w / f}')"
  echo "| $2 | $wall | $3 | $(awk -v m="$source_mb" -v w="$wall" 'BEGIN {printf "%.1f", m / w}') |" \
    "$(awk -v n="$total_rows" -v w="$wall" 'BEGIN {printf "%.0f", n / w}') | $ratio |"
}

if ((writes)); then
  writes_said="with pgbench -N -c $writer_clients -R $writer_rate writing to the source (directly; through pgdual for pgdual sync)"
else
  writes_said="no writes"
fi
{
  echo
  echo "Copying $database (pgbench scale $scale and the EHR tables: $source_mb MB, $total_rows rows, $large_objects large" \
    "objects) onto an empty database on a second server, jobs $jobs, $writes_said, median of $rounds round(s)," \
    "$(nproc) cores, $(date -u +%Y-%m-%d), PostgreSQL $(postgres_version), $(pgcopydb --version 2>/dev/null | head -n 1)," \
    "pgdual from $pgdual_origin"
  echo
  echo "| tool | median wall s | parts | MB/s | rows/s | wall / faster of the other two |"
  echo "|---|---:|---|---:|---:|---:|"
  row pg_dump "pg_dump -Fd -j $jobs, pg_restore -j $jobs" \
    "dump $(median "${dump_walls[@]}") s, restore $(median "${restore_walls[@]}") s"
  row pgcopydb "pgcopydb clone --table-jobs $jobs --index-jobs $jobs" ""
  row pgdual "pgdual sync --jobs $jobs" "pgdual serve running (mirror mode wal); verify included"
  row pgdual_in_sync "pgdual sync --jobs $jobs, until in sync" "the same runs, until the mirror was in sync, before verify"
  echo
} | if [[ -n "$out_file" ]]; then tee -a "$out_file"; else cat; fi

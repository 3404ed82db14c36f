#!/usr/bin/env bash
# How long `pgdual verify` takes over two tables of N rows each (default 1 000 000), first with both
# servers identical, then with 100 differences scattered over the mirror, side by side with the naive
# baseline: per table, md5(string_agg(row text ORDER BY key)) run with psql on both servers at once,
# which says only whether a table differs, not where. Each round runs verify, then the baseline.
# Prints a Markdown table of the median wall times, rows per second, verify's throughput over the
# baseline's, the differences verify found, and the CPU time pgdual and the two servers spent. Fails
# when verify's exit code or its count of differing keys, or the baseline's verdict, is not the
# expected one.
#
# usage: bench/verify_bench.sh [--rounds N] [--rows N] [--out FILE] [-- VERIFY_ARGS...]
# VERIFY_ARGS go to `pgdual verify` as they are (for example `-- --chunk-rows 20000`). --out FILE
# appends the table to FILE. PGDUAL_BIN=/path/to/pgdual uses that binary instead of building one in
# build-bench/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PGDUAL_BUILD_DIR:-$root/build-bench}"
rounds=2 rows=1000000 out_file=""
verify_args=()
# The differences made on the mirror: per table, 50 spots in key order, one every rows/50 keys; of
# every ten spots, four rows are updated, three deleted, and three inserted (two among the table's
# keys, one beyond its last key).
spots_per_table=50
expected_differing=40 expected_missing=30 expected_extra=30

usage() { echo "usage: $0 [--rounds N] [--rows N] [--out FILE] [-- VERIFY_ARGS...]" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --rows) rows="$2"; shift 2 ;;
    --out) out_file="$2"; shift 2 ;;
    --) shift; verify_args=("$@"); break ;;
    *) usage ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage
# Fewer rows would put two spots on one key.
if ! [[ "$rows" =~ ^[0-9]+$ ]] || ((rows < 1000)); then
  echo "verify_bench: --rows must be at least 1000" >&2
  exit 2
fi

fail() { echo "verify_bench: $*" >&2; exit 1; }

command -v pg_config >/dev/null || fail "PostgreSQL 15 is not installed; run scripts/install-deps.sh run"
# shellcheck source=../scripts/lib/pgdual_binary.sh
source "$root/scripts/lib/pgdual_binary.sh"
pgdual_bin="$(pgdual_binary "$root" "$build")" || fail "no pgdual to measure"
pgdual_origin="${PGDUAL_BIN:-commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}"

loader_pids=()
before_cleanup() {
  local pid
  for pid in "${loader_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
# shellcheck source=lib/common.sh
source "$root/bench/lib/common.sh" pgdual-verify

# The load never waits for a checkpoint; verify itself writes nothing.
server_conf="max_wal_size = '4GB'"
port_primary="$(free_port)"
start_local_postgres primary "$port_primary" "$PGPASSWORD" "$server_conf"
port_mirror="$(free_port)"
start_local_postgres mirror "$port_mirror" "$PGPASSWORD" "$server_conf"

cat >"$workdir/pgdual.toml" <<CONF
[routing]
primary = "onprem"
[backends.onprem]
host = "127.0.0.1"
port = $port_primary
[backends.cloud]
host = "127.0.0.1"
port = $port_mirror
[[users]]
name = "postgres"
password_env = "PGPASSWORD"
CONF

# Both tables' keys leave gaps (even ids, even visit numbers), so rows can be inserted among them.
# visits holds up to 100 clinics, in key order as generated.
per_clinic=$(((rows + 99) / 100))
patient_row="2 * g, 'MRN' || lpad(g::text, 9, '0'), 'patient ' || md5(g::text),
  date '1930-01-01' + ((g::bigint * 7919) % 32000)::int, g % 40, CASE WHEN g % 10 = 0 THEN NULL ELSE md5('note ' || g) END"
visit_row="g / $per_clinic + 1, 2 * (g % $per_clinic + 1), (g::bigint * 7) % $rows + 1,
  timestamptz '2020-01-01 00:00:00+00' + g * interval '37 minutes', md5('reason ' || g),
  ((g::bigint * 13) % 500000) / 100.0"
load_sql="
CREATE TABLE patients (id int PRIMARY KEY, mrn text NOT NULL, name text NOT NULL, born date, ward int, note text);
CREATE TABLE visits (clinic int, visit_no int, patient_id int NOT NULL, visited_at timestamptz NOT NULL, reason text,
  cost numeric(10,2), PRIMARY KEY (clinic, visit_no));
INSERT INTO patients SELECT $patient_row FROM generate_series(1, $rows) AS g;
INSERT INTO visits SELECT $visit_row FROM generate_series(0, $rows - 1) AS g;
VACUUM ANALYZE patients;
VACUUM ANALYZE visits;"

# load_servers: the same tables on both servers, generated on each, both at once.
load_servers() {
  local port pid
  loader_pids=()
  for port in "$port_primary" "$port_mirror"; do
    psql_on "$port" <<<"$load_sql" >"$workdir/load-$port.log" 2>&1 &
    loader_pids+=("$!")
  done
  for pid in "${loader_pids[@]}"; do
    wait "$pid" || { cat "$workdir"/load-*.log >&2; fail "loading the tables failed"; }
  done
  loader_pids=()
}

# make_differences: on the mirror only; see spots_per_table. Each spot is a different key.
make_differences() {
  local stride=$((rows / spots_per_table))
  psql_on "$port_mirror" <<SQL
CREATE TEMP TABLE spots AS
  SELECT k, k * $stride + $stride / 3 + 1 AS g FROM generate_series(0, $spots_per_table - 1) AS k;
UPDATE patients SET note = 'changed on the mirror' FROM spots WHERE k % 10 < 4 AND id = 2 * g;
DELETE FROM patients USING spots WHERE k % 10 BETWEEN 4 AND 6 AND id = 2 * g;
INSERT INTO patients
  SELECT CASE WHEN k % 10 = 9 THEN 2 * $rows + 1 + 2 * k ELSE 2 * g + 1 END, 'MRN-MIRROR-' || k,
         'inserted on the mirror', NULL, 0, NULL
  FROM spots WHERE k % 10 >= 7;
UPDATE visits SET cost = cost + 1 FROM spots
  WHERE k % 10 < 4 AND (clinic, visit_no) = (g / $per_clinic + 1, 2 * (g % $per_clinic + 1));
DELETE FROM visits USING spots
  WHERE k % 10 BETWEEN 4 AND 6 AND (clinic, visit_no) = (g / $per_clinic + 1, 2 * (g % $per_clinic + 1));
INSERT INTO visits
  SELECT CASE WHEN k % 10 = 9 THEN 101 + k ELSE g / $per_clinic + 1 END,
         CASE WHEN k % 10 = 9 THEN 1 ELSE 2 * (g % $per_clinic + 1) + 1 END,
         1, timestamptz '2030-01-01 00:00:00+00', 'inserted on the mirror', 0
  FROM spots WHERE k % 10 >= 7;
VACUUM ANALYZE patients;
VACUUM ANALYZE visits;
SQL
}

ticks_per_second="$(getconf CLK_TCK)"
postmaster_pids="$(head -qn1 "$workdir/primary/data/postmaster.pid" "$workdir/mirror/data/postmaster.pid" | paste -sd,)"
# server_cpu_ticks: CPU time of both servers' postmasters and the children they have reaped
# (every backend that has ended), in clock ticks.
server_cpu_ticks() {
  local pid total=0
  for pid in ${postmaster_pids//,/ }; do
    total=$((total + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat")))
  done
  echo "$total"
}

server_processes() { pgrep -c -P "$postmaster_pids"; }

# wait_for_reaped COUNT: until the servers have no more children than COUNT (at most 5 s): the CPU
# time of a run's backends counts once their postmaster has reaped them, a moment after they end.
wait_for_reaped() {
  local _
  for _ in $(seq 50); do
    (($(server_processes) > $1)) || break
    sleep 0.1
  done
}

# servers_cpu_since TICKS: the servers' CPU seconds since server_cpu_ticks printed TICKS.
servers_cpu_since() {
  awk -v t="$(($(server_cpu_ticks) - $1))" -v hz="$ticks_per_second" 'BEGIN {printf "%.2f", t / hz}'
}

seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

# run_verify LOG: runs pgdual verify once and prints "EXIT_CODE WALL_S PGDUAL_CPU_S SERVERS_CPU_S".
run_verify() {
  local log="$1" started ended status=0 processes_before servers_before pgdual_cpu TIMEFORMAT='%U %S'
  processes_before="$(server_processes)"
  servers_before="$(server_cpu_ticks)"
  started="$(date +%s.%N)"
  { time "$pgdual_bin" verify --config "$workdir/pgdual.toml" --database postgres "${verify_args[@]}" \
    >"$log" 2>&1; } 2>"$workdir/verify-cpu" || status=$?
  ended="$(date +%s.%N)"
  pgdual_cpu="$(awk '{printf "%.2f", $1 + $2}' "$workdir/verify-cpu")"
  wait_for_reaped "$processes_before"
  echo "$status $(seconds_between "$started" "$ended") $pgdual_cpu $(servers_cpu_since "$servers_before")"
}

# The naive baseline's tables and the key each is ordered by.
naive_tables=("patients:id" "visits:clinic, visit_no")

# run_naive: the baseline once. For each table in turn, both servers compute
# md5(string_agg(t::text, '' ORDER BY key)) at the same time, as verify reads both at once; the
# wall time is the pairs' together. Prints "SAME WALL_S SERVERS_CPU_S": SAME is 1 when every table's
# digest is the same on both servers. The digests are hashes, never row values.
run_naive() {
  local started ended processes_before servers_before entry table key port pid same=1 pids
  processes_before="$(server_processes)"
  servers_before="$(server_cpu_ticks)"
  started="$(date +%s.%N)"
  for entry in "${naive_tables[@]}"; do
    table="${entry%%:*}" key="${entry#*:}" pids=()
    for port in "$port_primary" "$port_mirror"; do
      psql_on "$port" -c "SELECT md5(string_agg(t::text, '' ORDER BY $key)) FROM $table t" \
        >"$workdir/naive-$table-$port" 2>&1 &
      pids+=("$!")
    done
    for pid in "${pids[@]}"; do
      wait "$pid" || { cat "$workdir/naive-$table-"* >&2; fail "the naive checksum of $table failed"; }
    done
    cmp -s "$workdir/naive-$table-$port_primary" "$workdir/naive-$table-$port_mirror" || same=0
  done
  ended="$(date +%s.%N)"
  wait_for_reaped "$processes_before"
  echo "$same $(seconds_between "$started" "$ended") $(servers_cpu_since "$servers_before")"
}

# differences_in LOG: "MISSING EXTRA DIFFERING", summed over the tables verify reported.
differences_in() {
  awk '/^  missing on mirror: [0-9]+ keys?$/ {m += $4}
       /^  extra on mirror: [0-9]+ keys?$/ {e += $4}
       /^  differing rows: [0-9]+ keys?$/ {d += $3}
       END {printf "%d %d %d", m, e, d}' "$1"
}

# median VALUE...
median() {
  printf '%s\n' "$@" | sort -g |
    awk '{v[NR] = $1} END {printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# throughput WALL_S: the primary's rows of both tables per second.
throughput() { awk -v n=$((2 * rows)) -v s="$1" 'BEGIN {printf "%.0f", n / s}'; }

# measure_naive CASE EXPECTED_SAME ROUND: runs the baseline once, checks its verdict, and keeps its figures.
naive_walls=() naive_servers_cpus=()
measure_naive() {
  local name="$1" expected_same="$2" round="$3" same wall servers_cpu
  read -r same wall servers_cpu <<<"$(run_naive)"
  echo "$name, round $round: naive md5(string_agg) on both servers, ${wall} s (CPU: servers $servers_cpu s)," \
    "$( ((same)) && echo "all tables the same" || echo "tables differ")"
  ((same == expected_same)) || fail "$name: the naive baseline's verdict is not the expected one"
  naive_walls+=("$wall") naive_servers_cpus+=("$servers_cpu")
}

table_rows=()
# measure CASE EXPECTED_EXIT: runs verify and the baseline $rounds times, checks each run, and adds
# the case's table row.
measure() {
  local name="$1" expected_exit="$2" round log result status wall pgdual_cpu servers_cpu found rows_per_second
  local walls=() pgdual_cpus=() servers_cpus=() missing extra differing naive_wall
  naive_walls=() naive_servers_cpus=()
  for round in $(seq "$rounds"); do
    log="$workdir/verify-${name// /-}-$round.log"
    result="$(run_verify "$log")"
    read -r status wall pgdual_cpu servers_cpu <<<"$result"
    read -r missing extra differing <<<"$(differences_in "$log")"
    found=$((missing + extra + differing))
    echo "$name, round $round: exit code $status, ${wall} s (CPU: pgdual $pgdual_cpu s, servers $servers_cpu s)," \
      "$found differing keys ($missing missing on mirror, $extra extra on mirror, $differing differing rows)"
    if ((status != expected_exit)); then
      tail -n 20 "$log" >&2
      fail "$name: verify exited with $status, expected $expected_exit"
    fi
    if ((expected_exit == 1)) &&
      [[ "$missing $extra $differing" != "$expected_missing $expected_extra $expected_differing" ]]; then
      fail "$name: expected $expected_missing missing, $expected_extra extra and $expected_differing differing keys"
    fi
    walls+=("$wall") pgdual_cpus+=("$pgdual_cpu") servers_cpus+=("$servers_cpu")
    measure_naive "$name" $((expected_exit == 0 ? 1 : 0)) "$round"
  done
  wall="$(median "${walls[@]}")"
  naive_wall="$(median "${naive_walls[@]}")"
  rows_per_second="$(throughput "$wall")"
  table_rows+=("| $name | $rounds | $wall | $rows_per_second | $naive_wall | $(throughput "$naive_wall") |\
 $(awk -v v="$wall" -v n="$naive_wall" 'BEGIN {printf "%.2f", n / v}') | $found | $(median "${pgdual_cpus[@]}") |\
 $(median "${servers_cpus[@]}") | $(median "${naive_servers_cpus[@]}") |")
}

echo "Loading 2 x $rows rows on each server in $workdir ..."
load_servers
measure identical 0
make_differences
measure "100 differences" 1

{
  echo
  echo "pgdual verify ${verify_args[*]:-(defaults)}: patients (int key) and visits (two-column key), $rows rows each," \
    "$rounds round(s), $(nproc) cores, $(date -u +%Y-%m-%d), pgdual from $pgdual_origin," \
    "PostgreSQL $(postgres_version)"
  echo
  echo "| case | rounds | verify median wall s | verify rows/s | naive median wall s | naive rows/s |" \
    "verify / naive | differences found | pgdual CPU s | servers CPU s, verify | servers CPU s, naive |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${table_rows[@]}"
  echo
} | if [[ -n "$out_file" ]]; then tee -a "$out_file"; else cat; fi

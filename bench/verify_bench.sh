#!/usr/bin/env bash
# How long `pgdual verify` takes over two tables of N rows each (default 1 000 000), first with both
# servers identical, then with 100 differences scattered over the mirror. Prints a Markdown table of
# the median wall time, rows per second, the differences verify found, and the CPU time pgdual and the
# two servers spent. Fails when verify's exit code or its count of differing keys is not the expected one.
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

command -v pg_config >/dev/null || fail "PostgreSQL 15 is not installed; run scripts/install-deps.sh"
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

# run_verify LOG: runs pgdual verify once and prints "EXIT_CODE WALL_S PGDUAL_CPU_S SERVERS_CPU_S".
run_verify() {
  local log="$1" started ended status=0 processes_before servers_before pgdual_cpu _ TIMEFORMAT='%U %S'
  processes_before="$(server_processes)"
  servers_before="$(server_cpu_ticks)"
  started="$(date +%s.%N)"
  { time "$pgdual_bin" verify --config "$workdir/pgdual.toml" --database postgres "${verify_args[@]}" \
    >"$log" 2>&1; } 2>"$workdir/verify-cpu" || status=$?
  ended="$(date +%s.%N)"
  pgdual_cpu="$(awk '{printf "%.2f", $1 + $2}' "$workdir/verify-cpu")"
  # Verify's backends count once their postmaster has reaped them, a moment after verify ends.
  for _ in $(seq 50); do
    (($(server_processes) > processes_before)) || break
    sleep 0.1
  done
  echo "$status $(awk -v a="$started" -v b="$ended" 'BEGIN {printf "%.2f", b - a}') $pgdual_cpu" \
    "$(awk -v t="$(($(server_cpu_ticks) - servers_before))" -v hz="$ticks_per_second" 'BEGIN {printf "%.2f", t / hz}')"
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

table_rows=()
# measure CASE EXPECTED_EXIT: runs verify $rounds times, checks each run, and adds the case's table row.
measure() {
  local name="$1" expected_exit="$2" round log result status wall pgdual_cpu servers_cpu found rows_per_second
  local walls=() pgdual_cpus=() servers_cpus=() missing extra differing
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
  done
  wall="$(median "${walls[@]}")"
  rows_per_second="$(awk -v n=$((2 * rows)) -v s="$wall" 'BEGIN {printf "%.0f", n / s}')"
  table_rows+=("| $name | $rounds | $wall | $rows_per_second | $found | $(median "${pgdual_cpus[@]}") |\
 $(median "${servers_cpus[@]}") |")
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
  echo "| case | rounds | median wall s | rows/s | differences found | pgdual CPU s | servers CPU s |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${table_rows[@]}"
  echo
} | if [[ -n "$out_file" ]]; then tee -a "$out_file"; else cat; fi

#!/usr/bin/env bash
# pgdual's resident memory per idle client session. Opens real client sessions (startup, SCRAM,
# ReadyForQuery) through pgdual and leaves them idle, reading pgdual's VmRSS from /proc before the
# first and after each level of sessions is reached:
#   - in front of two minimal fake backends (bench/lib/idle_sessions.py) for --sessions (default
#     1, 1000 and 5000): every session holds two backend connections, which 5000 sessions could not
#     get from real servers on this machine (10 000 server processes);
#   - in front of two real PostgreSQL 15 servers for --postgres-sessions (default 1 and 1000; ""
#     skips them), as a check that the fake backends cost pgdual what real ones do.
# Prints a Markdown table, and with --out FILE writes the CSV rows
# "backends,sessions,rss_kib,baseline_kib,kib_per_session" to FILE.
#
# usage: bench/memory.sh [--sessions "1 1000 5000"] [--postgres-sessions "1 1000"] [--out FILE]
# PGDUAL_BIN=/path/to/pgdual measures that binary instead of a Release build in build-bench/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PGDUAL_BUILD_DIR:-$root/build-bench}"
fake_levels="1 1000 5000" postgres_levels="1 1000" out_file=""

usage() { echo "usage: $0 [--sessions \"1 1000 5000\"] [--postgres-sessions \"1 1000\"] [--out FILE]" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --sessions) fake_levels="$2"; shift 2 ;;
    --postgres-sessions) postgres_levels="$2"; shift 2 ;;
    --out) out_file="$2"; shift 2 ;;
    *) usage ;;
  esac
done

fail() { echo "memory: $*" >&2; exit 1; }

"$root/scripts/install-deps.sh" bench  # python3 beyond python3-minimal, for bench/lib/idle_sessions.py
# shellcheck source=../scripts/lib/pgdual_binary.sh
source "$root/scripts/lib/pgdual_binary.sh"
pgdual_bin="$(pgdual_binary "$root" "$build")" || fail "no pgdual to measure"

# shellcheck source=lib/common.sh
source "$root/bench/lib/common.sh" pgdual-memory
# Each session takes a client socket and two backend sockets in pgdual, and as many in the client.
ulimit -n "$(ulimit -Hn)"
rows="$workdir/rows.csv"
: >"$rows"

# measure BACKENDS LEVELS PRIMARY_PORT MIRROR_PORT [CLIENT_ARGS...]: one pgdual in front of the two
# ports, sessions opened up to each of LEVELS; appends the CSV rows.
measure() {
  local backends="$1" levels="$2" name="pgdual-$1" port sessions rss baseline=""
  local most="${levels##* }"
  shift 2
  port="$(free_port)"
  write_pgdual_config "$name" "$port" "$1" "$2" "[limits]
max_client_connections = $((most + 10))
[ledger]
prune_interval_ms = 86400000"
  shift 2
  start_pgdual "$name" "$port" "$pgdual_bin" || fail "pgdual did not start"
  # shellcheck disable=SC2086  # LEVELS is a list of numbers
  python3 "$root/bench/lib/idle_sessions.py" --port "$port" --pgdual-pid "$spawned_pid" --levels $levels "$@" \
    >"$workdir/levels.csv" || fail "opening sessions in front of $backends backends failed"
  while IFS=, read -r sessions rss; do
    if [[ -z "$baseline" ]]; then baseline="$rss"; continue; fi
    awk -v b="$backends" -v n="$sessions" -v r="$rss" -v base="$baseline" \
      'BEGIN {printf "%s,%d,%d,%d,%.1f\n", b, n, r, base, (r - base) / n}' >>"$rows"
  done <"$workdir/levels.csv"
  stop_process "$spawned_pid"
}

if [[ -n "$fake_levels" ]]; then
  fake_primary="$(free_port)" fake_mirror="$(free_port)"
  measure fake "$fake_levels" "$fake_primary" "$fake_mirror" --fake-backends "$fake_primary" "$fake_mirror"
fi
if [[ -n "$postgres_levels" ]]; then
  server_conf="max_connections = $((${postgres_levels##* } + 20))"
  port_primary="$(free_port)" port_mirror="$(free_port)"
  start_local_postgres primary "$port_primary" "$PGPASSWORD" "$server_conf"
  start_local_postgres mirror "$port_mirror" "$PGPASSWORD" "$server_conf"
  measure postgres "$postgres_levels" "$port_primary" "$port_mirror"
fi

echo "| backends | idle sessions | pgdual VmRSS KiB | before the first session KiB | KiB per session |"
echo "|---|---:|---:|---:|---:|"
awk -F, '{printf "| %s | %d | %d | %d | %.1f |\n", $1, $2, $3, $4, $5}' "$rows"
[[ -z "$out_file" ]] || cp "$rows" "$out_file"

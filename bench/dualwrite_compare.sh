#!/usr/bin/env bash
# Write throughput side by side: pgbench -N (simple protocol) directly against one PostgreSQL 15,
# through pgdual dual-writing to two servers, through pgpool-II in native replication mode over two
# servers, and through PgBouncer (session mode) in front of one. The setups take turns within each
# round, so drift on a shared machine hits all of them alike. Prints TPS per round, the median ratios,
# and whether each two-server setup left identical pgbench tables on both of its servers.
#
# usage: bench/dualwrite_compare.sh [--rounds N] [--seconds S] [--scale N] [--no-pgbouncer]
# PGDUAL_BIN=/path/to/pgdual uses that binary instead of building one in build-bench/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PGDUAL_BUILD_DIR:-$root/build-bench}"
pgpool_bin=/usr/sbin/pgpool
rounds=3 seconds=15 scale=10 use_pgbouncer=1
clients=8 threads=2
# pgdual sends reads to the primary (read_percent 0); pgpool does the same with load balancing off.
pgpool_load_balance=off

usage() { echo "usage: $0 [--rounds N] [--seconds S] [--scale N] [--no-pgbouncer]" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    --no-pgbouncer) use_pgbouncer=0; shift ;;
    *) usage ;;
  esac
done

fail() { echo "dualwrite_compare: $*" >&2; exit 1; }
note() { echo "note: $*"; }

command -v pg_config >/dev/null || fail "PostgreSQL 15 is not installed; run scripts/install-deps.sh"
[[ -x "$pgpool_bin" ]] || fail "pgpool-II ($pgpool_bin, Debian package pgpool2) is not installed; run scripts/install-deps.sh"
if ((use_pgbouncer)) && ! command -v pgbouncer >/dev/null; then
  note "pgbouncer is not installed: its column is skipped (scripts/install-deps.sh installs it)"
  use_pgbouncer=0
fi
# shellcheck source=../scripts/lib/pgdual_binary.sh
source "$root/scripts/lib/pgdual_binary.sh"
pgdual_bin="$(pgdual_binary "$root" "$build")" || fail "no pgdual to measure"

workdir="$(mktemp -d "${TMPDIR:-/tmp}/pgdual-dualwrite-XXXXXX")"
# shellcheck source=../scripts/lib/local_postgres.sh
source "$root/scripts/lib/local_postgres.sh"
proxy_pids=()

# stop_proxy PID: SIGTERM (no client is connected by then, so every proxy's shutdown is quick), and
# SIGKILL if it is still there after 10 s.
stop_proxy() {
  local _
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

cleanup() {
  trap - EXIT INT TERM
  local pid
  for pid in "${proxy_pids[@]}"; do stop_proxy "$pid"; done
  stop_local_postgres
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# spawn_proxy NAME PORT [--as-server-user] COMMAND...: starts COMMAND in the background, logging to
# $workdir/NAME.log, and waits until it accepts connections on 127.0.0.1:PORT. PgBouncer refuses to
# run as root, so as root the poolers run as the servers' OS user; setpriv execs in place, so the PID
# recorded for cleanup is the program's own.
spawn_proxy() {
  local name="$1" port="$2" pid
  shift 2
  if [[ "$1" == --as-server-user ]]; then
    shift
    if ((EUID == 0)); then
      chown -R postgres: "$workdir/$name"
      set -- setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    fi
  fi
  (exec "$@") >"$workdir/$name.log" 2>&1 &
  pid=$!
  proxy_pids+=("$pid")
  if ! wait_for_port "$port" "$pid"; then
    tail -n 20 "$workdir/$name.log" >&2
    fail "$name did not start listening on 127.0.0.1:$port"
  fi
}

export PGPASSWORD
PGPASSWORD="$(random_secret)"
psql_on() { "$pg_bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d postgres "${@:2}"; }
pgbench_on() { "$pg_bindir/pgbench" -h 127.0.0.1 -p "$1" -U postgres "${@:2}" postgres; }

# start_servers NAME...: one server per name; sets port_NAME.
start_servers() {
  local name port
  for name in "$@"; do
    port="$(free_port)"
    printf -v "port_$name" '%s' "$port"
    start_local_postgres "$name" "$port" "$PGPASSWORD"
  done
}

# table_digests PORT: per pgbench table "name rows md5-of-rows-in-order", read directly from the server.
table_digests() {
  local table
  for table in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
    psql_on "$1" -F ' ' -c "SELECT '$table', count(*), md5(coalesce(string_agg(r::text, E'\n' ORDER BY r), ''))
                           FROM $table AS r" 2>/dev/null || echo "$table missing -"
  done
}

# init_pair NAME PROXY_PORT SERVER_PORT...: pgbench -i through the proxy, so every server gets the data
# the way an application would write it. If that fails or leaves the servers different, initialises
# each server directly instead and says so: the run then measures the write path from equal starts.
init_pair() {
  local name="$1" proxy_port="$2" first="$3" second="$4" port
  if pgbench_on "$proxy_port" -i -q -s "$scale" >"$workdir/$name-init.log" 2>&1 &&
    [[ "$(table_digests "$first")" == "$(table_digests "$second")" ]]; then
    echo "$name: pgbench -i ran through $name; both servers hold the same data"
    return
  fi
  note "$name: pgbench -i through $name failed or left the two servers different" \
    "($(grep -m1 -iE 'error|fatal' "$workdir/$name-init.log" || echo 'servers differ')); initialising both servers directly"
  for port in "$first" "$second"; do
    pgbench_on "$port" -i -q -s "$scale" >/dev/null 2>&1 || fail "pgbench -i directly on 127.0.0.1:$port failed"
  done
}

write_pgdual_config() {
  cat >"$workdir/pgdual/pgdual.toml" <<CONF
[listen]
address = "127.0.0.1"
port = $pgdual_port
[log]
level = "warn"
[routing]
primary = "onprem"
read_percent = 0
[conflicts]
log_path = "$workdir/pgdual/conflicts.jsonl"
[backends.onprem]
host = "127.0.0.1"
port = $port_pgdual_onprem
[backends.cloud]
host = "127.0.0.1"
port = $port_pgdual_cloud
[[users]]
name = "postgres"
password_env = "PGPASSWORD"
CONF
}

# Native replication over two backends; no health check, no failover, connection cache on, client
# auth scram-sha-256 like the servers (pool_passwd holds the password in clear, which SCRAM needs).
write_pgpool_config() {
  local dir="$workdir/pgpool"
  cat >"$dir/pgpool.conf" <<CONF
backend_clustering_mode = 'native_replication'
listen_addresses = '127.0.0.1'
port = $pgpool_port
socket_dir = '$dir'
pcp_listen_addresses = ''
pcp_port = $(free_port)
pcp_socket_dir = '$dir'
wd_ipc_socket_dir = '$dir'
pid_file_name = '$dir/pgpool.pid'
logdir = '$dir'
use_watchdog = off
backend_hostname0 = '127.0.0.1'
backend_port0 = $port_pgpool_node0
backend_weight0 = 1
backend_flag0 = 'DISALLOW_TO_FAILOVER'
backend_hostname1 = '127.0.0.1'
backend_port1 = $port_pgpool_node1
backend_weight1 = 1
backend_flag1 = 'DISALLOW_TO_FAILOVER'
enable_pool_hba = on
pool_passwd = '$dir/pool_passwd'
num_init_children = $((clients + 2))
max_pool = 1
connection_cache = on
load_balance_mode = $pgpool_load_balance
replicate_select = off
health_check_period = 0
failover_on_backend_error = off
failover_on_backend_shutdown = off
memory_cache_enabled = off
ssl = off
CONF
  echo "host all postgres 127.0.0.1/32 scram-sha-256" >"$dir/pool_hba.conf"
  echo "postgres:TEXT$PGPASSWORD" >"$dir/pool_passwd"
  : >"$dir/pcp.conf"
  chmod 600 "$dir/pool_passwd"
}

write_pgbouncer_config() {
  local dir="$workdir/pgbouncer"
  cat >"$dir/pgbouncer.ini" <<CONF
[databases]
postgres = host=127.0.0.1 port=$port_pgbouncer_server dbname=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgbouncer_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = session
max_client_conn = 100
default_pool_size = $((clients + 2))
CONF
  printf '"postgres" "%s"\n' "$PGPASSWORD" >"$dir/userlist.txt"
  chmod 600 "$dir/userlist.txt"
}

echo "Starting servers and proxies in $workdir ..."
servers=(direct pgdual_onprem pgdual_cloud pgpool_node0 pgpool_node1)
((use_pgbouncer)) && servers+=(pgbouncer_server)
start_servers "${servers[@]}"
mkdir -p "$workdir/pgdual" "$workdir/pgpool" "$workdir/pgbouncer"

pgdual_port="$(free_port)"
write_pgdual_config
"$pgdual_bin" init --config "$workdir/pgdual/pgdual.toml" --database postgres >"$workdir/pgdual-init.log" 2>&1 ||
  note "pgdual init failed ($(tail -n1 "$workdir/pgdual-init.log")); continuing without pgdual's schema"
spawn_proxy pgdual "$pgdual_port" "$pgdual_bin" serve --config "$workdir/pgdual/pgdual.toml"

pgpool_port="$(free_port)"
write_pgpool_config
spawn_proxy pgpool "$pgpool_port" --as-server-user "$pgpool_bin" -n -f "$workdir/pgpool/pgpool.conf" \
  -a "$workdir/pgpool/pool_hba.conf" -F "$workdir/pgpool/pcp.conf"

if ((use_pgbouncer)); then
  pgbouncer_port="$(free_port)"
  write_pgbouncer_config
  spawn_proxy pgbouncer "$pgbouncer_port" --as-server-user pgbouncer "$workdir/pgbouncer/pgbouncer.ini"
fi

echo "Initialising pgbench data, scale $scale ..."
pgbench_on "$port_direct" -i -q -s "$scale" >/dev/null 2>&1 || fail "pgbench -i on the direct server failed"
init_pair pgdual "$pgdual_port" "$port_pgdual_onprem" "$port_pgdual_cloud"
init_pair pgpool "$pgpool_port" "$port_pgpool_node0" "$port_pgpool_node1"
if ((use_pgbouncer)); then
  pgbench_on "$pgbouncer_port" -i -q -s "$scale" >/dev/null 2>&1 || fail "pgbench -i through pgbouncer failed"
fi

# Each setup: the port pgbench connects to, then the servers behind it (checkpointed before each run,
# so no run pays for the dirty pages an earlier one left).
declare -A entry_port=([direct]="$port_direct" [pgdual]="$pgdual_port" [pgpool]="$pgpool_port")
declare -A backend_ports=([direct]="$port_direct" [pgdual]="$port_pgdual_onprem $port_pgdual_cloud"
  [pgpool]="$port_pgpool_node0 $port_pgpool_node1")
setups=(direct pgdual pgpool)
if ((use_pgbouncer)); then
  setups+=(pgbouncer)
  entry_port[pgbouncer]="$pgbouncer_port"
  backend_ports[pgbouncer]="$port_pgbouncer_server"
fi

# run_setup SETUP: prints the run's TPS, or "failed" (with pgbench's first errors on stderr).
run_setup() {
  local port log="$workdir/run.log" tps
  for port in ${backend_ports[$1]}; do psql_on "$port" -c CHECKPOINT; done
  if pgbench_on "${entry_port[$1]}" -n -N -M simple -c "$clients" -j "$threads" -T "$seconds" >"$log" 2>&1 &&
    tps="$(awk '/^tps = / {printf "%.0f", $3}' "$log")" && [[ -n "$tps" ]]; then
    echo "$tps"
  else
    echo "$1: pgbench failed:" >&2
    grep -m3 -iE 'error|abort|fatal' "$log" >&2 || tail -n3 "$log" >&2
    echo failed
  fi
}

# ratio A B: A / B to two decimals, or "-" when either run failed or did not happen.
ratio() {
  [[ "$1" =~ ^[0-9]+$ && "$2" =~ ^[1-9][0-9]*$ ]] || { echo -; return; }
  awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'
}

# median VALUE...: of the numeric values; "-" when there are none.
median() {
  printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
    awk '{v[NR] = $1} END {if (!NR) print "-"; else printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

echo
echo "pgbench -N -M simple -c $clients -j $threads, ${seconds}s per run, scale $scale, $rounds round(s)," \
  "$(nproc) cores, $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
  "PostgreSQL $("$pg_bindir/postgres" --version | awk '{print $3}')"
echo "direct: one server; pgdual: primary onprem, read_percent 0, dual write to onprem and cloud"
echo "pgpool: $("$pgpool_bin" --version 2>&1 | head -n1), native_replication over two servers," \
  "load_balance_mode = $pgpool_load_balance, replicate_select off, connection cache on, $((clients + 2)) children"
((use_pgbouncer)) && echo "pgbouncer: $(pgbouncer --version | head -n1), session mode, one server"
echo
declare -A tps
ratios_dual_direct=() ratios_dual_pgpool=() ratios_pgpool_direct=() ratios_bouncer_direct=()
echo "| round | direct TPS | pgdual TPS | pgpool TPS | pgbouncer TPS | pgdual / direct | pgdual / pgpool | pgpool / direct |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$rounds"); do
  tps[pgbouncer]=-
  for setup in "${setups[@]}"; do tps[$setup]="$(run_setup "$setup")"; done
  ratios_dual_direct+=("$(ratio "${tps[pgdual]}" "${tps[direct]}")")
  ratios_dual_pgpool+=("$(ratio "${tps[pgdual]}" "${tps[pgpool]}")")
  ratios_pgpool_direct+=("$(ratio "${tps[pgpool]}" "${tps[direct]}")")
  ratios_bouncer_direct+=("$(ratio "${tps[pgbouncer]}" "${tps[direct]}")")
  echo "| $round | ${tps[direct]} | ${tps[pgdual]} | ${tps[pgpool]} | ${tps[pgbouncer]} |" \
    "${ratios_dual_direct[-1]} | ${ratios_dual_pgpool[-1]} | ${ratios_pgpool_direct[-1]} |"
done
echo
echo "Median ratios over $rounds round(s): pgdual/direct $(median "${ratios_dual_direct[@]}")," \
  "pgdual/pgpool $(median "${ratios_dual_pgpool[@]}"), pgpool/direct $(median "${ratios_pgpool_direct[@]}")$(
    ((use_pgbouncer)) && echo ", pgbouncer/direct $(median "${ratios_bouncer_direct[@]}")")"

# compare_pair SETUP FIRST_PORT SECOND_PORT: one table row per pgbench table.
compare_pair() {
  local first second table rows_first digest_first rows_second digest_second verdict
  first="$(table_digests "$2")" second="$(table_digests "$3")"
  while read -r table rows_first digest_first && read -r _ rows_second digest_second <&3; do
    verdict=differ
    [[ "$rows_first" != missing && "$rows_first $digest_first" == "$rows_second $digest_second" ]] && verdict=identical
    echo "| $1 | $table | $rows_first | $rows_second | $verdict |"
  done < <(echo "$first") 3< <(echo "$second")
}

echo
echo "After the run, the pgbench tables on each pair's two servers (row count and md5 of the rows in order;"
echo "information, not a check):"
echo
echo "| setup | table | rows on first server | rows on second server | contents |"
echo "|---|---|---:|---:|---|"
compare_pair "pgdual (onprem, cloud)" "$port_pgdual_onprem" "$port_pgdual_cloud"
compare_pair "pgpool (node 0, node 1)" "$port_pgpool_node0" "$port_pgpool_node1"
conflicts_file="$workdir/pgdual/conflicts.jsonl"
echo
echo "pgdual recorded $( [[ -f "$conflicts_file" ]] && wc -l <"$conflicts_file" || echo 0) conflict(s)."

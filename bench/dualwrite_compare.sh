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
rounds=3 seconds=15 scale=10 use_pgbouncer=1
clients=8 threads=2

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

"$root/scripts/install-deps.sh" bench
if ((use_pgbouncer)) && ! command -v pgbouncer >/dev/null; then
  note "pgbouncer is not installed: its column is skipped (scripts/install-deps.sh bench installs it)"
  use_pgbouncer=0
fi
# shellcheck source=../scripts/lib/pgdual_binary.sh
source "$root/scripts/lib/pgdual_binary.sh"
pgdual_bin="$(pgdual_binary "$root" "$build")" || fail "no pgdual to measure"

# shellcheck source=lib/common.sh
source "$root/bench/lib/common.sh" pgdual-dualwrite
[[ -x "$pgpool_bin" ]] ||
  fail "pgpool-II ($pgpool_bin, Debian package pgpool2) is not installed; run scripts/install-deps.sh bench"

# start_servers NAME...: one server per name; sets port_NAME.
start_servers() {
  local name port
  for name in "$@"; do
    port="$(free_port)"
    printf -v "port_$name" '%s' "$port"
    start_local_postgres "$name" "$port" "$PGPASSWORD"
  done
}

# init_pair NAME PROXY_PORT SERVER_PORT...: pgbench -i through the proxy, so every server gets the data
# the way an application would write it. If that fails or leaves the servers different, initialises
# each server directly instead and says so: the run then measures the write path from equal starts.
init_pair() {
  local name="$1" proxy_port="$2" first="$3" second="$4" port
  if pgbench_on "$proxy_port" postgres -i -q -s "$scale" >"$workdir/$name-init.log" 2>&1 &&
    [[ "$(table_digests "$first")" == "$(table_digests "$second")" ]]; then
    echo "$name: pgbench -i ran through $name; both servers hold the same data"
    return
  fi
  note "$name: pgbench -i through $name failed or left the two servers different" \
    "($(grep -m1 -iE 'error|fatal' "$workdir/$name-init.log" || echo 'servers differ')); initialising both servers directly"
  for port in "$first" "$second"; do
    pgbench_on "$port" postgres -i -q -s "$scale" >/dev/null 2>&1 || fail "pgbench -i directly on 127.0.0.1:$port failed"
  done
}

echo "Starting servers and proxies in $workdir ..."
servers=(direct pgdual_onprem pgdual_cloud pgpool_node0 pgpool_node1)
((use_pgbouncer)) && servers+=(pgbouncer_server)
start_servers "${servers[@]}"

pgdual_port="$(free_port)"
write_pgdual_config pgdual "$pgdual_port" "$port_pgdual_onprem" "$port_pgdual_cloud"
"$pgdual_bin" init --config "$workdir/pgdual/pgdual.toml" --database postgres >"$workdir/pgdual-init.log" 2>&1 ||
  note "pgdual init failed ($(tail -n1 "$workdir/pgdual-init.log")); continuing without pgdual's schema"
start_pgdual pgdual "$pgdual_port" "$pgdual_bin" || fail "pgdual did not start"

# Native replication over two servers, one child per client and two to spare.
pgpool_port="$(free_port)"
write_pgpool_config pgpool "$pgpool_port" native_replication $((clients + 2)) "$port_pgpool_node0" "$port_pgpool_node1"
start_pgpool pgpool "$pgpool_port" || fail "pgpool did not start"

if ((use_pgbouncer)); then
  pgbouncer_port="$(free_port)"
  write_pgbouncer_config pgbouncer "$pgbouncer_port" "$port_pgbouncer_server" session $((clients + 2))
  start_pgbouncer pgbouncer "$pgbouncer_port" || fail "pgbouncer did not start"
fi

echo "Initialising pgbench data, scale $scale ..."
pgbench_on "$port_direct" postgres -i -q -s "$scale" >/dev/null 2>&1 || fail "pgbench -i on the direct server failed"
init_pair pgdual "$pgdual_port" "$port_pgdual_onprem" "$port_pgdual_cloud"
init_pair pgpool "$pgpool_port" "$port_pgpool_node0" "$port_pgpool_node1"
if ((use_pgbouncer)); then
  pgbench_on "$pgbouncer_port" postgres -i -q -s "$scale" >/dev/null 2>&1 || fail "pgbench -i through pgbouncer failed"
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
  if pgbench_on "${entry_port[$1]}" postgres -n -N -M simple -c "$clients" -j "$threads" -T "$seconds" >"$log" 2>&1 &&
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
  "PostgreSQL $(postgres_version)"
echo "direct: one server; pgdual: primary onprem, read_percent 0, dual write to onprem and cloud"
echo "pgpool: $("$pgpool_bin" --version 2>&1 | head -n1), native_replication over two servers," \
  "load_balance_mode = off (reads on the first server, as pgdual's with read_percent 0), replicate_select off, connection cache on, $((clients + 2)) children"
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

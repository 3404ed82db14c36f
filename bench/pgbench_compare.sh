#!/usr/bin/env bash
# Side-by-side throughput: pgbench -S -M prepared directly against PostgreSQL and through pgdual
# (pass-through to the primary), in interleaved rounds so drift on a shared machine shows in both.
# Prints one Markdown table with TPS, the pgdual/direct ratio and pgdual's CPU per 1000 transactions.
#
# usage: bench/pgbench_compare.sh [--rounds N] [--seconds S] [--clients "1 8"] [--scale N]
# PGDUAL_BIN=/path/to/pgdual uses that binary instead of building one in build-bench/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PGDUAL_BUILD_DIR:-$root/build-bench}"
rounds=3 seconds=10 clients="1 8" scale=10
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --scale) scale="$2"; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--seconds S] [--clients \"1 8\"] [--scale N]" >&2; exit 2 ;;
  esac
done

"$root/scripts/install-deps.sh" run
# shellcheck source=../scripts/lib/pgdual_binary.sh
source "$root/scripts/lib/pgdual_binary.sh"
pgdual_bin="$(pgdual_binary "$root" "$build")" || exit 1

# shellcheck source=lib/common.sh
source "$root/bench/lib/common.sh" pgdual-bench
onprem_port="$(free_port)" proxy_port="$(free_port)"
start_local_postgres onprem "$onprem_port" "$PGPASSWORD" "max_connections = 200"
# The mirror is configured on a port where nothing listens: pgdual serves every session from the
# primary alone and retries the mirror now and then. bench/run.sh measures pgdual with a real mirror.
write_pgdual_config pgdual "$proxy_port" "$onprem_port" "$(free_port)"
start_pgdual pgdual "$proxy_port" "$pgdual_bin" || exit 1
pgdual_pid="$spawned_pid"

pgbench_on "$onprem_port" postgres -i -q -s "$scale" >/dev/null 2>&1

# run_pgbench PORT CLIENTS -> "tps transactions"
run_pgbench() {
  local threads=$(($2 < 2 ? $2 : 2))
  pgbench_on "$1" postgres -n -S -M prepared -c "$2" -j "$threads" -T "$seconds" 2>&1 |
    awk '/^number of transactions actually processed/ {split($0, a, ": "); n = a[2]}
         /^tps = / {t = $3} END {printf "%.0f %d\n", t, n}'
}

ticks_per_second="$(getconf CLK_TCK)"
echo "pgbench -S -M prepared, ${seconds}s per cell, scale $scale, $(nproc) cores, $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), PostgreSQL $(postgres_version)"
echo
echo "| clients | round | direct TPS | pgdual TPS | pgdual / direct | pgdual CPU ms per 1000 tx |"
echo "|---:|---:|---:|---:|---:|---:|"
for c in $clients; do
  for round in $(seq "$rounds"); do
    read -r direct_tps _ < <(run_pgbench "$onprem_port" "$c")
    before="$(process_tree_cpu_ticks "$pgdual_pid")"
    read -r proxy_tps proxy_tx < <(run_pgbench "$proxy_port" "$c")
    cpu_ms=$(( ($(process_tree_cpu_ticks "$pgdual_pid") - before) * 1000 / ticks_per_second ))
    awk -v c="$c" -v r="$round" -v d="$direct_tps" -v p="$proxy_tps" -v cpu="$cpu_ms" -v n="$proxy_tx" \
      'BEGIN {printf "| %d | %d | %d | %d | %.2f | %.1f |\n", c, r, d, p, p / d, n ? cpu * 1000 / n : 0}'
  done
done

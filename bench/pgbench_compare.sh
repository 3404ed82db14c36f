#!/usr/bin/env bash
# Side-by-side throughput: pgbench -S -M prepared directly against PostgreSQL and through pgdual
# (pass-through to the primary), in interleaved rounds so drift on a shared machine shows in both.
# Prints one Markdown table with TPS, the pgdual/direct ratio and pgdual's CPU per 1000 transactions.
#
# usage: bench/pgbench_compare.sh [--rounds N] [--seconds S] [--clients "1 8"] [--scale N]
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

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPGDUAL_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target pgdual -j2 >/dev/null

workdir="$(mktemp -d "${TMPDIR:-/tmp}/pgdual-bench-XXXXXX")"
# shellcheck source=../scripts/lib/local_postgres.sh
source "$root/scripts/lib/local_postgres.sh"
pgdual_pid=""
cleanup() {
  if [[ -n "$pgdual_pid" ]] && kill -0 "$pgdual_pid" 2>/dev/null; then
    kill -TERM "$pgdual_pid"
    wait "$pgdual_pid" || true
  fi
  stop_local_postgres
  rm -rf "$workdir"
}
trap cleanup EXIT

export PGPASSWORD
PGPASSWORD="$(random_secret)"
onprem_port="$(free_port)" proxy_port="$(free_port)"
start_local_postgres onprem "$onprem_port" "$PGPASSWORD" "max_connections = 200"
# Pass-through forwards to the primary only; the mirror must be configured but is not contacted.
cat >"$workdir/pgdual.toml" <<CONF
[listen]
port = $proxy_port
[log]
level = "warn"
[backends.onprem]
port = $onprem_port
[backends.cloud]
port = $(free_port)
[[users]]
name = "postgres"
password_env = "PGPASSWORD"
CONF
"$build/pgdual" serve --config "$workdir/pgdual.toml" 2>"$workdir/pgdual.log" &
pgdual_pid=$!
wait_for_port "$proxy_port" "$pgdual_pid" || { cat "$workdir/pgdual.log" >&2; exit 1; }

pgbench_args=(-h 127.0.0.1 -U postgres -n)
"$pg_bindir/pgbench" "${pgbench_args[@]}" -p "$onprem_port" -i -q -s "$scale" postgres >/dev/null 2>&1

proxy_cpu_ticks() { awk '{print $14 + $15}' "/proc/$pgdual_pid/stat"; }

# run_pgbench PORT CLIENTS -> "tps transactions"
run_pgbench() {
  local threads=$(($2 < 2 ? $2 : 2))
  "$pg_bindir/pgbench" "${pgbench_args[@]}" -p "$1" -S -M prepared -c "$2" -j "$threads" -T "$seconds" postgres 2>&1 |
    awk '/^number of transactions actually processed/ {split($0, a, ": "); n = a[2]}
         /^tps = / {t = $3} END {printf "%.0f %d\n", t, n}'
}

ticks_per_second="$(getconf CLK_TCK)"
echo "pgbench -S -M prepared, ${seconds}s per cell, scale $scale, $(nproc) cores, $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), PostgreSQL $("$pg_bindir/postgres" --version | awk '{print $3}')"
echo
echo "| clients | round | direct TPS | pgdual TPS | pgdual / direct | pgdual CPU ms per 1000 tx |"
echo "|---:|---:|---:|---:|---:|---:|"
for c in $clients; do
  for round in $(seq "$rounds"); do
    read -r direct_tps _ < <(run_pgbench "$onprem_port" "$c")
    before="$(proxy_cpu_ticks)"
    read -r proxy_tps proxy_tx < <(run_pgbench "$proxy_port" "$c")
    cpu_ms=$(( ($(proxy_cpu_ticks) - before) * 1000 / ticks_per_second ))
    awk -v c="$c" -v r="$round" -v d="$direct_tps" -v p="$proxy_tps" -v cpu="$cpu_ms" -v n="$proxy_tx" \
      'BEGIN {printf "| %d | %d | %d | %d | %.2f | %.1f |\n", c, r, d, p, p / d, n ? cpu * 1000 / n : 0}'
  done
done

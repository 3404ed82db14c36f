#!/usr/bin/env bash
# pgdual side by side with a direct connection, PgBouncer, pgpool-II and PostgreSQL's own logical
# replication, in one run, from nothing:
# installs what is missing, builds pgdual, starts two PostgreSQL 15 servers and every proxy on its
# own loopback port, loads pgbench data, runs the matrix in interleaved rounds, measures pgdual's
# memory per idle session, stops everything it started, and writes bench/RESULTS.md and
# bench/results.csv. bench/README.md describes the setups, the matrix and every figure.
#
# usage: bench/run.sh [--quick] [--rounds N] [--seconds S] [--cells "WORKLOAD:PROTOCOL:CLIENTS ..."]
#                     [--setups "SETUP ..."] [--no-memory] [--out-dir DIR]
# WORKLOAD is select, update, tpcb, or shadow (pgbench -S through pgdual in mirror mode wal with
# routing.shadow_percent 0 and 10, beside direct: what shadow reads cost).
# --setups keeps only the named setups of each workload (e.g. "direct pgdual-wal native-sync"), for a
# side-by-side look at a few; RESULTS.md then shows only those.
# PGDUAL_BIN=/path/to/pgdual measures that binary instead of a Release build in build-bench/.
# PGDUAL_COMMIT names the commit in RESULTS.md (default: git rev-parse of the checkout).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PGDUAL_BUILD_DIR:-$root/build-bench}"
started_at="$(date +%s)"
mode=full rounds=2 seconds=10 scale=10 measure_memory=1 out_dir="$root/bench" cells="" only_setups=""
# The full matrix fits in 30 minutes on 2 cores (bench/README.md, "Which cells"): every protocol at
# 8 clients, and 1, 8 and 64 clients in the protocol each workload is usually run with; and the
# cost of shadow reads at 8 clients.
full_cells="select:prepared:1 select:prepared:8 select:prepared:64 select:simple:8 select:extended:8
  update:simple:1 update:simple:8 update:simple:64 update:extended:8 update:prepared:8
  tpcb:simple:8 tpcb:prepared:8 shadow:prepared:8"
# The quick mode measures the rows the goals are set on.
quick_cells="select:prepared:8 update:simple:8 shadow:prepared:8"
# The most clients any cell has; pools and server limits are sized for it.
max_clients=64

usage() {
  echo "usage: $0 [--quick] [--rounds N] [--seconds S] [--cells \"WORKLOAD:PROTOCOL:CLIENTS ...\"]" \
    "[--setups \"SETUP ...\"] [--no-memory] [--out-dir DIR]" >&2
  exit 2
}
while (($#)); do
  case "$1" in
    --quick) mode=quick; shift ;;
    --rounds) rounds="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --cells) cells="$2"; shift 2 ;;
    --setups) only_setups="$2"; shift 2 ;;
    --no-memory) measure_memory=0; shift ;;
    --out-dir) out_dir="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ ]] || usage
if [[ -z "$cells" ]]; then
  if [[ "$mode" == quick ]]; then cells="$quick_cells"; else cells="$full_cells"; fi
fi

fail() { echo "run: $*" >&2; exit 1; }
say() { echo "[$(date +%H:%M:%S)] $*"; }

"$root/scripts/install-deps.sh" bench
# shellcheck source=../scripts/lib/pgdual_binary.sh
source "$root/scripts/lib/pgdual_binary.sh"
say "building pgdual (Release, $build) unless PGDUAL_BIN is set"
pgdual_bin="$(pgdual_binary "$root" "$build")" || fail "no pgdual to measure"

# shellcheck source=lib/common.sh
source "$root/bench/lib/common.sh" pgdual-bench

command -v pgbouncer >/dev/null || fail "PgBouncer is not installed; run scripts/install-deps.sh bench"
[[ -x "$pgpool_bin" ]] || fail "pgpool-II ($pgpool_bin) is not installed; run scripts/install-deps.sh bench"

# --- servers and data ---------------------------------------------------------------------------
# Room for every pool at once: PgBouncer's two, pgpool's children (which keep their connections),
# both pgduals (which do not) and the direct runs. No checkpoint falls inside a run: each run starts
# right after one.
# Logical replication (the native-async and native-sync setups) needs wal_level logical, a slot and a
# WAL sender per subscription on the primary, and an apply worker per subscription on the secondary.
# synchronous_standby_names is server-wide: naming the synchronous subscription there would make
# every COMMIT on the primary wait for it, and hang while it is disabled or being made anew. So
# synchronous_commit is "local" server-wide (on a server without synchronous standbys, the same as
# the default "on": wait for the local WAL flush only), and only database bench_native_sync on the
# primary gets "on" (ALTER DATABASE ... SET, by start_native_replication), so only that setup's
# COMMITs wait for the subscriber. Autovacuum always commits with "local". The secondary has no
# synchronous_standby_names: there the synchronous subscription's apply worker, which commits with
# "on", must not wait for anything.
server_conf="max_connections = $((max_clients * 8))
shared_buffers = '256MB'
max_wal_size = '4GB'
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
max_logical_replication_workers = 4
max_worker_processes = 16
synchronous_commit = local"
native_sync_subscription=native_sync_sub
port_primary="$(free_port)" port_secondary="$(free_port)"
say "starting PostgreSQL $(postgres_version): primary on $port_primary, secondary on $port_secondary"
start_local_postgres primary "$port_primary" "$PGPASSWORD" "$server_conf
synchronous_standby_names = '$native_sync_subscription'"
start_local_postgres secondary "$port_secondary" "$PGPASSWORD" "$server_conf"

# Database "bench" serves the direct runs and every pass-through setup; each dual-write setup has a
# database of its own, the same on both servers, so that no other setup's writes reach its pair;
# so have the two shadow-read setups (one database for both: they only read, and their shadow reads
# need the mirror to hold the primary's rows).
# pgbench -i is deterministic; "bench_pristine" keeps its result, the source of every copy.
dual_write_databases=(bench_pgdual bench_pgdual_wal bench_pgpool bench_native_async bench_native_sync
  bench_pgdual_shadow)
# copy_pristine PORT DATABASE: DATABASE on the server at PORT, anew, as pgbench -i left "bench".
copy_pristine() {
  psql_on "$1" -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" &&
    psql_on "$1" -c "CREATE DATABASE $2 TEMPLATE bench_pristine STRATEGY FILE_COPY"
}
load_server() {
  local port="$1" database
  psql_on "$port" -c "CREATE DATABASE bench"
  pgbench_on "$port" bench -i -q -s "$scale" >"$workdir/init-$port.log" 2>&1
  psql_on "$port" -c "CREATE DATABASE bench_pristine TEMPLATE bench STRATEGY FILE_COPY"
  for database in "${dual_write_databases[@]}"; do copy_pristine "$port" "$database"; done
}
say "loading pgbench data, scale $scale, on both servers"
load_server "$port_primary" &
load_pid=$!
load_server "$port_secondary" || fail "loading pgbench data on the secondary failed ($workdir/init-$port_secondary.log)"
wait "$load_pid" || fail "loading pgbench data on the primary failed"
for database in bench "${dual_write_databases[@]}"; do
  [[ "$(pair_contents "$port_primary" "$port_secondary" "$database")" == identical ]] ||
    fail "the two servers' $database differ after loading"
done

# --- setups ---------------------------------------------------------------------------------------
# Per setup: its kind (direct, direct-both, pgbouncer, pgpool, pgdual, pgdual-wal or native), the port clients use, the database,
# the proxy's PID (for its CPU time) and the servers it writes to (checkpointed before each run,
# compared after each write run when there are two).
declare -A setup_kind setup_port setup_database setup_pid setup_servers
add_setup() {
  setup_kind[$1]="$2" setup_port[$1]="$3" setup_database[$1]="$4" setup_servers[$1]="$5" setup_pid[$1]=""
}
add_setup direct direct "$port_primary" bench "$port_primary"
# The ceiling of any dual writer on this machine: the same pgbench run directly against both servers
# at once, each with the cell's clients, no proxy in between. It writes each server's "bench", which
# nothing compares.
add_setup direct-both direct-both "$port_primary" bench "$port_primary $port_secondary"

# launch_setup NAME: starts the setup's proxy from its configuration, after pgdual init for pgdual;
# for native, its publication and subscription.
launch_setup() {
  local name="$1" port="${setup_port[$1]}"
  case "${setup_kind[$name]}" in
    native) spawned_pid="" && start_native_replication "$name" ;;
    pgbouncer) start_pgbouncer "$name" "$port" ;;
    pgpool) start_pgpool "$name" "$port" ;;
    pgdual | pgdual-wal)
      "$pgdual_bin" init --config "$workdir/$name/pgdual.toml" --database "${setup_database[$name]}" \
        >"$workdir/$name-init.log" 2>&1 || fail "pgdual init failed: $(tail -n1 "$workdir/$name-init.log")"
      spawned_pid=""
      [[ "${setup_kind[$name]}" == pgdual-wal ]] || start_pgdual "$name" "$port" "$pgdual_bin" ;;
  esac || fail "$name did not start"
  setup_pid[$name]="$spawned_pid"
}

pool_size=$((max_clients + 2))
start_pgbouncer_setup() {
  local name="$1" mode="$2" port
  port="$(free_port)"
  write_pgbouncer_config "$name" "$port" "$port_primary" "$mode" "$pool_size"
  add_setup "$name" pgbouncer "$port" bench "$port_primary"
  launch_setup "$name"
}
start_pgpool_setup() {
  local name="$1" mode="$2" database="$3" port
  shift 3
  port="$(free_port)"
  write_pgpool_config "$name" "$port" "$mode" "$pool_size" "$@"
  add_setup "$name" pgpool "$port" "$database" "$*"
  launch_setup "$name"
}
# start_pgdual_setup NAME DATABASE SERVERS KIND MIRROR_MODE [ROUTING_TOML [EXTRA_TOML]]: pgdual in
# mirror.mode MIRROR_MODE, with ROUTING_TOML's keys in [routing] and EXTRA_TOML's tables.
start_pgdual_setup() {
  local name="$1" database="$2" servers="$3" kind="$4" port
  port="$(free_port)"
  write_pgdual_config "$name" "$port" "$port_primary" "$port_secondary" "[mirror]
mode = \"$5\"
${7:-}" "${6:-}"
  add_setup "$name" "$kind" "$port" "$database" "$servers"
  launch_setup "$name"
}

# --- shadow reads (the shadow workload) -------------------------------------------------------------
# Two pgduals in mirror mode wal (kind pgdual-wal: started before each of their runs and stopped
# after, like pgdual-wal) on database bench_pgdual_shadow, read_percent 0: pgdual-shadow0 with
# routing.shadow_percent 0 (pass-through) and pgdual-shadow10 with 10, so that a tenth of the reads
# the primary answers run on the session's mirror connection too. They share the database and its
# slot, never at the same time. Each serves /metrics on a port of its own, read before and after
# each run for the shadow reads the run made.
declare -A setup_metrics_port
start_shadow_setup() {
  local name="$1" percent="$2"
  setup_metrics_port[$name]="$(free_port)"
  start_pgdual_setup "$name" bench_pgdual_shadow "$port_primary $port_secondary" pgdual-wal wal \
    "shadow_percent = $percent" "[metrics]
address = \"127.0.0.1\"
port = ${setup_metrics_port[$name]}"
}

# shadow_read_counts SETUP: from the setup's /metrics, one line "RESULT COUNT" per finding of
# pgdual_shadow_reads_total, summed over the statement fingerprints, and "eligible COUNT": the
# eligible reads the primary answered (pgdual_reads_total{served_by="primary"}), of which
# shadow_percent are drawn.
shadow_read_counts() {
  curl -fsS --max-time 5 "http://127.0.0.1:${setup_metrics_port[$1]}/metrics" |
    awk '/^pgdual_shadow_reads_total\{/ {match($0, /result="[^"]*"/); n[substr($0, RSTART + 8, RLENGTH - 9)] += $NF}
      /^pgdual_reads_total\{.*served_by="primary"/ {n["eligible"] += $NF}
      END {for (r in n) print r, n[r]}'
}

# shadow_reads_between BEFORE AFTER: what a run added to shadow_read_counts' lines, on one line:
# "eligible=N matched=N settled=N varied=N mismatched=N abandoned=N".
shadow_reads_between() {
  awk -v before="$1" -v after="$2" 'BEGIN {
    n = split(before, lines, "\n"); for (i = 1; i <= n; i++) if (split(lines[i], f, " ") == 2) b[f[1]] = f[2]
    n = split(after, lines, "\n"); for (i = 1; i <= n; i++) if (split(lines[i], f, " ") == 2) a[f[1]] = f[2]
    k = split("eligible matched settled varied mismatched abandoned", names, " ")
    for (i = 1; i <= k; i++) printf "%s%s=%d", (i > 1 ? " " : ""), names[i], a[names[i]] - b[names[i]]
  }'
}

# --- pgdual in mirror mode wal (kind pgdual-wal) ------------------------------------------------
# Like a native setup, it runs only for its own runs: its slot's WAL sender would otherwise decode,
# during every other setup's run, the WAL that run writes, on the cores that run needs. Started
# before each of its runs, it first catches up over that WAL (outside the measured seconds), and is
# stopped after; its slot keeps its place in between.

# wal_slot_caught_up NAME: until the setup's slot has confirmed everything the primary had flushed
# when called, at most 60 s. pgdual confirms what it received once it has applied all it was sent,
# at its next status update (every 10 s at the latest).
wal_slot_caught_up() {
  local slot="pgdual_${setup_database[$1]}" target _
  target="$(psql_on "$port_primary" -c "SELECT pg_current_wal_flush_lsn()")" || return 1
  for _ in $(seq 600); do
    [[ "$(psql_on "$port_primary" -c "SELECT count(*) FROM pg_replication_slots
      WHERE slot_name = '$slot' AND confirmed_flush_lsn >= '$target'")" == 1 ]] && return 0
    sleep 0.1
  done
  echo "pgdual's slot $slot has not caught up with $target in 60 s" >&2
  return 1
}

# start_wal_mirror NAME: starts the setup's pgdual; a first session starts its database's apply.
start_wal_mirror() {
  start_pgdual "$1" "${setup_port[$1]}" "$pgdual_bin" || return 1
  setup_pid[$1]="$spawned_pid"
  psql_on "${setup_port[$1]}" -d "${setup_database[$1]}" -c "SELECT 1" >/dev/null && wal_slot_caught_up "$1"
}

# stop_wal_mirror NAME: stops the setup's pgdual, if it runs.
stop_wal_mirror() {
  [[ -n "${setup_pid[$1]}" ]] || return 0
  stop_process "${setup_pid[$1]}"
  setup_pid[$1]=""
}

# --- PostgreSQL's logical replication (kind native) ------------------------------------------------
# A native setup has no proxy: clients run pgbench directly against the primary's copy of its
# database, which publishes every table to a subscription in the secondary's copy. Publication and
# subscription are named after the database (bench_native_sync: native_sync_pub, native_sync_sub;
# a subscription's WAL sender reports the subscription's name as its application_name). The copies
# start identical (from bench_pristine), so the subscription copies no data. Between its own runs a
# subscription is disabled: its WAL sender would otherwise decode, during every other setup's
# run, the WAL that run writes, on the cores that run needs. Enabling it again before its own run,
# it catches up over that WAL (outside the measured seconds).
declare -A setup_subscription
start_native_setup() {
  local name="$1" database="$2"
  add_setup "$name" native "$port_primary" "$database" "$port_primary $port_secondary"
  setup_subscription[$name]="${database#bench_}_sub"
  launch_setup "$name"
}

# wait_caught_up NAME: until the primary's WAL sender for the setup's subscription is streaming and
# the subscriber has applied everything the primary had flushed when called (pg_stat_replication's
# replay_lsn), at most 60 s; the synchronous subscription must also be the primary's synchronous
# standby (sync_state "sync"). Returns 1 when it has not by then.
wait_caught_up() {
  local subscription="${setup_subscription[$1]}" target _
  target="$(psql_on "$port_primary" -c "SELECT pg_current_wal_flush_lsn()")" || return 1
  for _ in $(seq 600); do
    [[ "$(psql_on "$port_primary" -c "SELECT count(*) FROM pg_stat_replication
      WHERE application_name = '$subscription' AND state = 'streaming' AND replay_lsn >= '$target'
        AND (application_name <> '$native_sync_subscription' OR sync_state = 'sync')")" == 1 ]] &&
      return 0
    sleep 0.1
  done
  echo "the subscription $subscription has not caught up with $target in 60 s" >&2
  return 1
}

# subscription_on_secondary NAME SQL...: runs each statement in the setup's database on the secondary.
subscription_on_secondary() {
  local name="$1" statement args=(-c "SET client_min_messages = warning")
  shift
  for statement in "$@"; do args+=(-c "$statement"); done
  psql_on "$port_secondary" -d "${setup_database[$name]}" "${args[@]}"
}

# start_native_replication NAME: the setup's publication on the primary and its subscription on the
# secondary, left disabled once it has caught up. For native-sync the subscription's apply worker
# commits with synchronous_commit on (so it confirms a transaction only once flushed), the
# subscription is the primary's synchronous standby (server_conf), and its database on the primary
# makes COMMIT wait for it (synchronous_commit on); the database setting goes last, once the
# publication exists, since any COMMIT there waits from then on.
start_native_replication() {
  local name="$1" database="${setup_database[$1]}" subscription="${setup_subscription[$1]}" synchronous=off
  local publication="${subscription%_sub}_pub"
  [[ "$subscription" != "$native_sync_subscription" ]] || synchronous=on
  psql_on "$port_primary" -d "$database" -c "CREATE PUBLICATION $publication FOR ALL TABLES" &&
    subscription_on_secondary "$name" "CREATE SUBSCRIPTION $subscription CONNECTION 'host=127.0.0.1 port=$port_primary
      dbname=$database user=postgres password=$PGPASSWORD' PUBLICATION $publication
      WITH (copy_data = false, synchronous_commit = $synchronous)" &&
    { [[ "$synchronous" == off ]] ||
      psql_on "$port_primary" -c "ALTER DATABASE $database SET synchronous_commit = on"; } &&
    wait_caught_up "$name" &&
    subscription_on_secondary "$name" "ALTER SUBSCRIPTION $subscription DISABLE"
}

# before_run NAME: for native, enables the subscription and waits until it has caught up; for
# pgdual-wal, starts pgdual and waits until its slot has caught up.
before_run() {
  [[ "${setup_kind[$1]}" != pgdual-wal ]] || { start_wal_mirror "$1"; return; }
  [[ "${setup_kind[$1]}" == native ]] || return 0
  subscription_on_secondary "$1" "ALTER SUBSCRIPTION ${setup_subscription[$1]} ENABLE" &&
    wait_caught_up "$1"
}

# after_run NAME: for native, waits until the subscriber has applied the run (the pair is compared
# next), then disables the subscription. Returns 1 if it has not caught up in 60 s. For pgdual-wal,
# stops pgdual: every write it answered is on the mirror already.
after_run() {
  local status=0
  [[ "${setup_kind[$1]}" != pgdual-wal ]] || { stop_wal_mirror "$1"; return; }
  [[ "${setup_kind[$1]}" == native ]] || return 0
  wait_caught_up "$1" || status=1
  subscription_on_secondary "$1" "ALTER SUBSCRIPTION ${setup_subscription[$1]} DISABLE" || status=1
  return "$status"
}

# stop_setup NAME: stops the setup's proxy; for native, drops the subscription (and with it the
# replication slot on the primary, without which neither database could be dropped); for
# pgdual-wal, drops pgdual's slot and publication (pgdual init --drop) for the same reason.
stop_setup() {
  if [[ "${setup_kind[$1]}" == native ]]; then
    subscription_on_secondary "$1" "DROP SUBSCRIPTION IF EXISTS ${setup_subscription[$1]}"
  elif [[ "${setup_kind[$1]}" == pgdual-wal ]]; then
    stop_wal_mirror "$1" && "$pgdual_bin" init --drop --config "$workdir/$1/pgdual.toml" \
      --database "${setup_database[$1]}" >>"$workdir/$1-init.log" 2>&1
  else
    stop_process "${setup_pid[$1]}"
  fi
}

# resync_setup NAME: after a run that left the setup's two servers different, its proxy is stopped,
# its database made anew from bench_pristine on both servers, and the proxy started again, so that
# the next run starts from identical servers too.
resync_setup() {
  local name="$1" server
  stop_setup "$name" || fail "stopping $name failed"
  for server in ${setup_servers[$name]}; do
    copy_pristine "$server" "${setup_database[$name]}" >/dev/null || fail "re-creating ${setup_database[$name]} failed"
  done
  launch_setup "$name"
}

say "starting the proxies"
start_pgbouncer_setup pgbouncer-session session
start_pgbouncer_setup pgbouncer-transaction transaction
start_pgpool_setup pgpool-passthrough raw bench "$port_primary"
start_pgpool_setup pgpool-replication native_replication bench_pgpool "$port_primary" "$port_secondary"
# Both pgduals log in to both servers; read_percent 0 keeps every read of the pass-through runs on
# the primary, and the dual-write runs send every write to both.
start_pgdual_setup pgdual-passthrough bench "$port_primary" pgdual statement
start_pgdual_setup pgdual-dualwrite bench_pgdual "$port_primary $port_secondary" pgdual statement
start_pgdual_setup pgdual-wal bench_pgdual_wal "$port_primary $port_secondary" pgdual-wal wal
start_shadow_setup pgdual-shadow0 0
start_shadow_setup pgdual-shadow10 10
say "starting PostgreSQL's logical replication, asynchronous and synchronous"
start_native_setup native-async bench_native_async
start_native_setup native-sync bench_native_sync
# pgdual init wrote its schema to both servers' copies alike, and the subscriptions copied nothing;
# check the pairs still start identical.
for database in "${dual_write_databases[@]}"; do
  [[ "$(pair_contents "$port_primary" "$port_secondary" "$database")" == identical ]] ||
    fail "the two servers' $database differ before the first run"
done

# The setups each workload runs on, in the order they take turns within a round.
declare -A workload_setups=(
  [select]="direct pgbouncer-session pgbouncer-transaction pgpool-passthrough pgdual-passthrough"
  [update]="direct direct-both pgbouncer-session pgdual-dualwrite pgdual-wal pgpool-replication native-async native-sync"
  [tpcb]="direct direct-both pgdual-dualwrite pgdual-wal pgpool-replication native-async native-sync"
  [shadow]="direct pgdual-shadow0 pgdual-shadow10")
declare -A workload_flags=([select]=-S [update]=-N [tpcb]="" [shadow]=-S)
# Setups whose two servers must end every run identical.
declare -A compares_pair=([pgdual-dualwrite]=1 [pgdual-wal]=1 [pgpool-replication]=1 [native-async]=1
  [native-sync]=1)

# Only the setups asked for, in the matrix's own order.
if [[ -n "$only_setups" ]]; then
  all_setups=" ${workload_setups[*]} "
  for setup in $only_setups; do [[ "$all_setups" == *" $setup "* ]] || fail "no setup named $setup"; done
  for workload in "${!workload_setups[@]}"; do
    kept=""
    for setup in ${workload_setups[$workload]}; do
      [[ " $only_setups " == *" $setup "* ]] && kept+="${kept:+ }$setup"
    done
    workload_setups[$workload]="$kept"
  done
fi

for cell in $cells; do
  IFS=: read -r workload protocol clients <<<"$cell"
  [[ -n "${workload_setups[$workload]:-}" && "$protocol" =~ ^(simple|extended|prepared)$ &&
    "$clients" =~ ^[1-9][0-9]*$ ]] && ((clients <= max_clients)) ||
    fail "bad cell $cell: WORKLOAD (select, update, tpcb, shadow):PROTOCOL (simple, extended, prepared):CLIENTS (1-64)"
done

# --- one run ----------------------------------------------------------------------------------------
csv="$workdir/results.csv"
csv_columns=(round workload protocol clients setup seconds status tps transactions latency_avg_ms latency_p99_ms
  proxy_cpu_s pair_contents load1 started shadow_reads servers_cpu_s)
(IFS=,; echo "${csv_columns[*]}") >"$csv"
ticks_per_second="$(getconf CLK_TCK)"
# The two servers' postmasters: their process trees (backends, WAL senders, logical replication
# workers, those that ended included) are the servers' share of a run's CPU.
server_pids=()
for data in "${started_data_dirs[@]}"; do server_pids+=("$(head -n1 "$data/postmaster.pid")"); done
servers_cpu_ticks() {
  local pid total=0
  for pid in "${server_pids[@]}"; do total=$((total + $(process_tree_cpu_ticks "$pid"))); done
  echo "$total"
}
ticks_as_seconds() { awk -v t="$1" -v hz="$ticks_per_second" 'BEGIN {printf "%.2f", t / hz}'; }

# p99_latency_ms PREFIX: the 99th percentile (nearest rank) of the latencies in pgbench's
# per-transaction logs PREFIX.* (third field, microseconds).
p99_latency_ms() {
  cat "$1".* | awk '{print $3}' | sort -n |
    awk '{v[NR] = $1} END {if (!NR) exit; r = int(NR * 0.99); if (r < NR * 0.99) r++; printf "%.3f", v[r] / 1000}'
}

# PgBouncer 1.18 cannot keep a client's prepared statements across the server connections of
# transaction pooling (max_prepared_statements came in 1.21).
unsupported() { [[ "$1" == pgbouncer-transaction && "$2" == prepared ]]; }

# read_pgbench_figures PREFIX LOG...: sets tps, transactions, latency_avg and latency_p99 (run_setup's
# locals: bash functions see their caller's) from pgbench's outputs and per-transaction logs. With
# several outputs (one per server of direct-both) the figures are the slowest server's: a write on
# both completes at its pace. The p99 is over every transaction of every log.
read_pgbench_figures() {
  local prefix="$1"
  shift
  tps="$(awk '/^tps = / {if (!n++ || $3 < low) low = $3} END {printf "%.1f", low}' "$@")"
  transactions="$(awk -F': ' '/^number of transactions actually processed/ {if (!n++ || $2 < low) low = $2}
    END {print low}' "$@")"
  latency_avg="$(awk '/^latency average = / {if ($4 > high) high = $4} END {print high}' "$@")"
  latency_p99="$(p99_latency_ms "$prefix")"
}

# run_pgbench SETUP WORKLOAD PROTOCOL CLIENTS LOG PREFIX: the cell's pgbench run against the setup;
# for direct-both one run against each of its servers at once, logged to LOG.PORT. Fails if one does.
run_pgbench() {
  local setup="$1" workload="$2" protocol="$3" clients="$4" log="$5" prefix="$6" port pid pids=() status=0
  # shellcheck disable=SC2206  # the workload flag is one word or none
  local args=(-n ${workload_flags[$workload]} -M "$protocol" -c "$clients" -j $((clients < 2 ? clients : 2))
    -T "$seconds" -l)
  if [[ "${setup_kind[$setup]}" != direct-both ]]; then
    pgbench_on "${setup_port[$setup]}" "${setup_database[$setup]}" "${args[@]}" --log-prefix="$prefix" >"$log" 2>&1
    return
  fi
  for port in ${setup_servers[$setup]}; do
    pgbench_on "$port" "${setup_database[$setup]}" "${args[@]}" --log-prefix="$prefix.$port" >"$log.$port" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  return "$status"
}

# compare_pair SETUP: sets contents (run_setup's local) to what pair_contents finds on the setup's
# two servers, and re-syncs them when they differ.
compare_pair() {
  contents="$(pair_contents ${setup_servers[$1]} "${setup_database[$1]}")"
  if [[ "$contents" != identical ]]; then
    resync_setup "$1"
    contents+=" (re-synced)"
  fi
}

# run_setup ROUND WORKLOAD PROTOCOL CLIENTS SETUP: one pgbench run; appends its row to the CSV.
run_setup() {
  local round="$1" workload="$2" protocol="$3" clients="$4" setup="$5" pid=""
  local log="$workdir/pgbench.log" prefix="$workdir/txlog/run" ticks_before=0 server logs
  local status=ok tps="" transactions="" latency_avg="" latency_p99="" cpu="" contents="" load started
  local servers_before=0 servers_cpu=""
  local metrics="${setup_metrics_port[$setup]:-}" shadows_before="" shadows=""
  load="$(cut -d ' ' -f1 /proc/loadavg)" started="$(date -u +%H:%M:%S)"
  if unsupported "$setup" "$protocol"; then
    status=n/a
  else
    before_run "$setup" || fail "$setup is not ready for a run"
    pid="${setup_pid[$setup]}"
    for server in ${setup_servers[$setup]}; do psql_on "$server" -c CHECKPOINT; done
    rm -rf "$workdir/txlog" "$log"* && mkdir "$workdir/txlog"
    [[ -z "$metrics" ]] || shadows_before="$(shadow_read_counts "$setup")" || fail "$setup's /metrics did not answer"
    [[ -z "$pid" ]] || ticks_before="$(process_tree_cpu_ticks "$pid")"
    servers_before="$(servers_cpu_ticks)"
    if run_pgbench "$setup" "$workload" "$protocol" "$clients" "$log" "$prefix"; then
      [[ -z "$pid" ]] || cpu="$(ticks_as_seconds "$(($(process_tree_cpu_ticks "$pid") - ticks_before))")"
      # The shadow reads under way when pgbench ended are judged within shadow_timeout_ms (2 s).
      if [[ -n "$metrics" ]]; then
        sleep 0.5
        shadows="$(shadow_reads_between "$shadows_before" "$(shadow_read_counts "$setup")")" ||
          shadows="unread"
      fi
      logs=("$log"*)
      read_pgbench_figures "$prefix" "${logs[@]}"
      # A subscriber that has not caught up in 60 s is compared all the same: it shows as "differ".
      after_run "$setup" || true
      # Counted once the mirror or subscriber caught up: an asynchronous one's apply is part of the cost.
      servers_cpu="$(ticks_as_seconds "$(($(servers_cpu_ticks) - servers_before))")"
      [[ -z "${compares_pair[$setup]:-}" ]] || compare_pair "$setup"
    else
      status=failed
      after_run "$setup" || true
      grep -m3 -iE 'error|abort|fatal' "$log"* >&2 || tail -n3 "$log"* >&2
    fi
  fi
  local row=("$round" "$workload" "$protocol" "$clients" "$setup" "$seconds" "$status" "$tps" "$transactions"
    "$latency_avg" "$latency_p99" "$cpu" "${contents:--}" "$load" "$started" "${shadows:--}" "$servers_cpu")
  (IFS=,; echo "${row[*]}") >>"$csv"
  say "round $round $workload -M $protocol -c $clients $setup: $status${tps:+, $tps tps, p99 $latency_p99 ms}$(
    )${cpu:+, proxy CPU $cpu s}${servers_cpu:+, servers CPU $servers_cpu s}${contents:+, $contents}${shadows:+, shadow reads: $shadows}"
}

# --- the matrix --------------------------------------------------------------------------------------
load_before="$(cut -d ' ' -f1-3 /proc/loadavg)"
matrix_started="$(date +%s)"
for round in $(seq "$rounds"); do
  for cell in $cells; do
    IFS=: read -r workload protocol clients <<<"$cell"
    for setup in ${workload_setups[$workload]}; do run_setup "$round" "$workload" "$protocol" "$clients" "$setup"; done
  done
done
matrix_seconds=$(($(date +%s) - matrix_started))
load_after="$(cut -d ' ' -f1-3 /proc/loadavg)"

conflicts=0
conflict_log="$workdir/pgdual-dualwrite/conflicts.jsonl"
[[ ! -f "$conflict_log" ]] || conflicts="$(wc -l <"$conflict_log")"

# The memory measurement starts servers of its own; these are done with.
stop_spawned_processes
stop_local_postgres
memory_csv="$workdir/memory.csv"
: >"$memory_csv"
if ((measure_memory)); then
  say "measuring pgdual's memory per idle session"
  memory_args=(--out "$memory_csv")
  if [[ "$mode" == quick ]]; then memory_args+=(--postgres-sessions ""); fi
  PGDUAL_BIN="$pgdual_bin" "$root/bench/memory.sh" "${memory_args[@]}" || say "the memory measurement failed"
fi

# --- the report ---------------------------------------------------------------------------------------
meta="$workdir/meta.txt"
cat >"$meta" <<META
date=$(date -u +%Y-%m-%d)
commit=${PGDUAL_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)}
pgdual=${PGDUAL_BIN:-Release build of the checkout}
mode=$mode
rounds=$rounds
seconds=$seconds
scale=$scale
cpu=$(nproc) x $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
memory=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
kernel=$(uname -r)
postgres=$(postgres_version)
pgbouncer=$(pgbouncer --version | awk 'NR == 1 {print $2}')
pgpool=$("$pgpool_bin" --version 2>&1 | awk '{print $3}')
load_before=$load_before
load_after=$load_after
matrix_seconds=$matrix_seconds
total_seconds=$(($(date +%s) - started_at))
conflicts=$conflicts
META
mkdir -p "$out_dir"
cp "$csv" "$out_dir/results.csv"
python3 "$root/bench/lib/render_results.py" --csv "$csv" --memory "$memory_csv" --meta "$meta" >"$out_dir/RESULTS.md"
say "wrote $out_dir/RESULTS.md and $out_dir/results.csv in $(($(date +%s) - started_at)) s"

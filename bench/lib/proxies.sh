# shellcheck shell=bash
# Sourced by bench scripts after scripts/lib/local_postgres.sh and bench/lib/processes.sh. The
# proxies measured side by side, each with its configuration in its own directory $workdir/NAME
# (never a package's system configuration or service), listening on 127.0.0.1:PORT, and logging in
# to the servers as "postgres" with $PGPASSWORD, as the clients do through it.

pgpool_bin=/usr/sbin/pgpool

# write_pgdual_config NAME PORT PRIMARY_PORT MIRROR_PORT [EXTRA_TOML [ROUTING_TOML]]:
# $workdir/NAME/pgdual.toml, pgdual with primary "onprem" (PRIMARY_PORT) and mirror "cloud"
# (MIRROR_PORT), read_percent 0 (every read on the primary, every write on both), SCRAM for
# clients, conflicts in $workdir/NAME/conflicts.jsonl; EXTRA_TOML (whole tables) is appended, and
# ROUTING_TOML (keys, e.g. shadow_percent = 10) goes into [routing].
write_pgdual_config() {
  mkdir -p "$workdir/$1"
  cat >"$workdir/$1/pgdual.toml" <<CONF
[listen]
address = "127.0.0.1"
port = $2
[log]
level = "warn"
[routing]
primary = "onprem"
read_percent = 0
${6:-}
[conflicts]
log_path = "$workdir/$1/conflicts.jsonl"
[backends.onprem]
host = "127.0.0.1"
port = $3
[backends.cloud]
host = "127.0.0.1"
port = $4
[[users]]
name = "postgres"
password_env = "PGPASSWORD"
${5:-}
CONF
}

# write_pgbouncer_config NAME PORT SERVER_PORT POOL_MODE POOL_SIZE: $workdir/NAME/pgbouncer.ini,
# PgBouncer in POOL_MODE (session or transaction) in front of the server on SERVER_PORT, every
# database name passed through, up to POOL_SIZE server connections per database; SCRAM for clients
# (userlist.txt holds the password in clear, which PgBouncer needs to log in to the server with SCRAM).
write_pgbouncer_config() {
  local dir="$workdir/$1"
  mkdir -p "$dir"
  cat >"$dir/pgbouncer.ini" <<CONF
[databases]
* = host=127.0.0.1 port=$3
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $2
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = $4
max_client_conn = $(($5 + 100))
default_pool_size = $5
CONF
  printf '"postgres" "%s"\n' "$PGPASSWORD" >"$dir/userlist.txt"
  chmod 600 "$dir/userlist.txt"
}

# write_pgpool_config NAME PORT MODE CHILDREN SERVER_PORT...: $workdir/NAME/pgpool.conf (with
# pool_hba.conf, pool_passwd and an empty pcp.conf), pgpool-II in backend_clustering_mode MODE
# ("raw" with one server passes through; "native_replication" writes to every server), CHILDREN
# processes (one per client at a time), connection cache on, reads on the first server (load
# balancing off), no health check, no failover. pool_passwd holds the password in clear, which
# SCRAM towards the servers needs.
write_pgpool_config() {
  local dir="$workdir/$1" port="$2" mode="$3" children="$4" node=0 server_port
  shift 4
  mkdir -p "$dir"
  cat >"$dir/pgpool.conf" <<CONF
backend_clustering_mode = '$mode'
listen_addresses = '127.0.0.1'
port = $port
socket_dir = '$dir'
pcp_listen_addresses = ''
pcp_port = $(free_port)
pcp_socket_dir = '$dir'
wd_ipc_socket_dir = '$dir'
pid_file_name = '$dir/pgpool.pid'
logdir = '$dir'
use_watchdog = off
enable_pool_hba = on
pool_passwd = '$dir/pool_passwd'
num_init_children = $children
max_pool = 1
connection_cache = on
load_balance_mode = off
replicate_select = off
health_check_period = 0
failover_on_backend_error = off
failover_on_backend_shutdown = off
memory_cache_enabled = off
ssl = off
CONF
  for server_port in "$@"; do
    cat >>"$dir/pgpool.conf" <<CONF
backend_hostname$node = '127.0.0.1'
backend_port$node = $server_port
backend_weight$node = 1
backend_flag$node = 'DISALLOW_TO_FAILOVER'
CONF
    node=$((node + 1))
  done
  echo "host all postgres 127.0.0.1/32 scram-sha-256" >"$dir/pool_hba.conf"
  echo "postgres:TEXT$PGPASSWORD" >"$dir/pool_passwd"
  : >"$dir/pcp.conf"
  chmod 600 "$dir/pool_passwd"
}

# start_pgdual NAME PORT PGDUAL_BINARY: `pgdual serve` with $workdir/NAME/pgdual.toml; sets spawned_pid.
start_pgdual() {
  spawn_process "$1" "$2" "$3" serve --config "$workdir/$1/pgdual.toml"
}

# start_pgbouncer NAME PORT: PgBouncer with $workdir/NAME/pgbouncer.ini; sets spawned_pid.
start_pgbouncer() {
  spawn_process "$1" "$2" --as-server-user pgbouncer "$workdir/$1/pgbouncer.ini"
}

# start_pgpool NAME PORT: pgpool-II in the foreground with $workdir/NAME/pgpool.conf, taking every
# server as up whatever an earlier run of it recorded (-D); sets spawned_pid.
start_pgpool() {
  local dir="$workdir/$1"
  spawn_process "$1" "$2" --as-server-user "$pgpool_bin" -n -D -f "$dir/pgpool.conf" -a "$dir/pool_hba.conf" \
    -F "$dir/pcp.conf"
}

# shellcheck shell=bash
# Throwaway local PostgreSQL 15 servers for scripts and benchmarks. Source it after setting
# `workdir` (a temp dir the caller removes); call `stop_local_postgres` from the caller's exit trap.
# Servers listen on 127.0.0.1 only, with their sockets inside $workdir.

pg_bindir="$(pg_config --bindir)"
started_data_dirs=()

# PostgreSQL refuses to run as root, so as root the servers run as the postgres OS user.
as_server_user() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_secret() {
  head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'
}

# start_local_postgres NAME PORT SUPERUSER_PASSWORD [EXTRA_CONF]: initdb (superuser "postgres",
# scram-sha-256) and start a server on 127.0.0.1:PORT. Its log is $workdir/NAME/server.log.
start_local_postgres() {
  local name="$1" port="$2" password="$3" extra_conf="${4:-}" dir="$workdir/$1"
  mkdir -p "$dir"
  printf '%s' "$password" >"$dir/superuser-password"
  ((EUID != 0)) || chown -R postgres: "$workdir"
  as_server_user "$pg_bindir/initdb" --pgdata="$dir/data" --username=postgres --pwfile="$dir/superuser-password" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C --no-sync --no-instructions >"$dir/initdb.log"
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
$extra_conf
CONF
  started_data_dirs+=("$dir/data")
  as_server_user "$pg_bindir/pg_ctl" start --silent --wait --pgdata="$dir/data" --log="$dir/server.log"
}

stop_local_postgres() {
  local data
  for data in "${started_data_dirs[@]}"; do
    as_server_user "$pg_bindir/pg_ctl" stop --silent --wait --mode=fast --pgdata="$data" || true
  done
  started_data_dirs=()
}

# psql_on PORT [PSQL_ARGS...]: psql as the superuser "postgres" (password from $PGPASSWORD) to the
# database "postgres" on 127.0.0.1:PORT, unaligned and tuples only, stopping at the first error. A
# `-d DB` among PSQL_ARGS picks another database (the last -d wins).
psql_on() {
  "$pg_bindir/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d postgres "${@:2}"
}

# pgbench_on PORT DB [PGBENCH_ARGS...]: pgbench as "postgres" against database DB on 127.0.0.1:PORT.
pgbench_on() {
  "$pg_bindir/pgbench" -h 127.0.0.1 -p "$1" -U postgres "${@:3}" "$2"
}

# postgres_version: "15.18", say.
postgres_version() {
  "$pg_bindir/postgres" --version | awk '{print $3}'
}

# wait_for_port PORT PID: until 127.0.0.1:PORT accepts connections (10 s), or PID has exited.
wait_for_port() {
  local _
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

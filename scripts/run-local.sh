#!/usr/bin/env bash
# Runs pgdual locally in front of two throwaway PostgreSQL 15 servers ("onprem" and "cloud"),
# prints the psql command that connects through it, and stays in the foreground until Ctrl-C.
# Everything it starts is stopped, and its temp dir removed, when it ends.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PGDUAL_BUILD_DIR:-$root/build}"

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" --target pgdual -j2

bindir="$(pg_config --bindir)"
workdir="$(mktemp -d "${TMPDIR:-/tmp}/pgdual-local-XXXXXX")"
random_password() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
superuser_password="$(random_password)"
PGDUAL_APP_PASSWORD="$(random_password)"
export PGDUAL_APP_PASSWORD
started_clusters=()
pgdual_pid=""

# PostgreSQL refuses to run as root, so as root the servers run as the postgres OS user.
as_server_user() {
  if ((EUID == 0)); then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cleanup() {
  trap - EXIT INT TERM
  if [[ -n "$pgdual_pid" ]] && kill -0 "$pgdual_pid" 2>/dev/null; then
    kill -TERM "$pgdual_pid"
    wait "$pgdual_pid" || true
  fi
  for data in "${started_clusters[@]}"; do
    as_server_user "$bindir/pg_ctl" stop --silent --wait --mode=fast --pgdata="$data" || true
  done
  rm -rf "$workdir"
  echo "run-local: stopped everything and removed $workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_cluster NAME PORT: initdb and start a server listening on 127.0.0.1:PORT only.
start_cluster() {
  local name="$1" port="$2" dir="$workdir/$1"
  mkdir -p "$dir"
  printf '%s' "$superuser_password" >"$dir/superuser-password"
  ((EUID != 0)) || chown -R postgres: "$workdir"
  as_server_user "$bindir/initdb" --pgdata="$dir/data" --username=postgres --pwfile="$dir/superuser-password" \
    --auth=scram-sha-256 --encoding=UTF8 --locale=C --no-sync --no-instructions >"$dir/initdb.log"
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
CONF
  started_clusters+=("$dir/data")
  as_server_user "$bindir/pg_ctl" start --silent --wait --pgdata="$dir/data" --log="$dir/server.log"
  PGPASSWORD="$superuser_password" "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -v password="$PGDUAL_APP_PASSWORD" <<'SQL'
CREATE ROLE app LOGIN PASSWORD :'password';
CREATE DATABASE app OWNER app;
SQL
  echo "run-local: $name PostgreSQL on 127.0.0.1:$port (log: $dir/server.log)"
}

write_config() {
  cat >"$workdir/pgdual.toml" <<CONF
[listen]
address = "127.0.0.1"
port = $proxy_port

[log]
level = "info"

[backends.onprem]
host = "127.0.0.1"
port = $onprem_port

[backends.cloud]
host = "127.0.0.1"
port = $cloud_port

[routing]
primary = "onprem"

[[users]]
name = "app"
password_env = "PGDUAL_APP_PASSWORD"
CONF
}

wait_for_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$pgdual_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

onprem_port="$(free_port)"
cloud_port="$(free_port)"
proxy_port="$(free_port)"
start_cluster onprem "$onprem_port"
start_cluster cloud "$cloud_port"
write_config

"$build/pgdual" serve --config "$workdir/pgdual.toml" &
pgdual_pid=$!
if ! wait_for_port "$proxy_port"; then
  echo "run-local: pgdual did not start listening on 127.0.0.1:$proxy_port" >&2
  exit 1
fi

cat <<EOF

pgdual is listening on 127.0.0.1:$proxy_port (config: $workdir/pgdual.toml). Connect with:

  PGPASSWORD=$PGDUAL_APP_PASSWORD psql -h 127.0.0.1 -p $proxy_port -U app app

The backends directly (same user and password):
  onprem: psql -h 127.0.0.1 -p $onprem_port -U app app
  cloud:  psql -h 127.0.0.1 -p $cloud_port -U app app

Press Ctrl-C to stop pgdual and both servers.
EOF
wait "$pgdual_pid"

#!/usr/bin/env bash
# Runs pgdual locally in front of two throwaway PostgreSQL 15 servers ("onprem" and "cloud"),
# prints the psql command that connects through it, and stays in the foreground until Ctrl-C.
# Everything it starts is stopped, and its temp dir removed, when it ends. It installs only what
# building and running pgdual needs (scripts/install-deps.sh run). scripts/run_local_test.sh
# checks the printed command and the clean stop.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${PGDUAL_BUILD_DIR:-$root/build}"

"$root/scripts/install-deps.sh" run
cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" --target pgdual -j2

workdir="$(mktemp -d "${TMPDIR:-/tmp}/pgdual-local-XXXXXX")"
# shellcheck source=lib/local_postgres.sh
source "$root/scripts/lib/local_postgres.sh"
superuser_password="$(random_secret)"
PGDUAL_APP_PASSWORD="$(random_secret)"
PGDUAL_MIRROR_PASSWORD="$(random_secret)"
export PGDUAL_APP_PASSWORD PGDUAL_MIRROR_PASSWORD
pgdual_pid=""

cleanup() {
  trap - EXIT INT TERM
  if [[ -n "$pgdual_pid" ]] && kill -0 "$pgdual_pid" 2>/dev/null; then
    kill -TERM "$pgdual_pid"
    wait "$pgdual_pid" || true
  fi
  stop_local_postgres
  rm -rf "$workdir"
  echo "run-local: stopped everything and removed $workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_backend NAME PORT: a server with a login role and database "app", owned by it, whose WAL
# carries logical decoding (the WAL mirror reads the primary's), and the login pgdual's WAL mirror
# uses: on the primary it creates the slot and the publication FOR ALL TABLES (a superuser's right
# on PostgreSQL 15), on the mirror it applies the changes as their owners. The login role may set
# session_replication_role, so that `pgdual reconcile --apply` as it fires no trigger.
start_backend() {
  start_local_postgres "$1" "$2" "$superuser_password" "wal_level = logical"
  PGPASSWORD="$superuser_password" "$pg_bindir/psql" -X -q -h 127.0.0.1 -p "$2" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -v password="$PGDUAL_APP_PASSWORD" -v mirror_password="$PGDUAL_MIRROR_PASSWORD" <<'SQL'
CREATE ROLE app LOGIN PASSWORD :'password';
CREATE ROLE pgdual_mirror LOGIN SUPERUSER REPLICATION PASSWORD :'mirror_password';
CREATE DATABASE app OWNER app;
GRANT SET ON PARAMETER session_replication_role TO app;
SQL
  echo "run-local: $1 PostgreSQL on 127.0.0.1:$2 (log: $workdir/$1/server.log)"
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

[mirror]
mode = "wal"
replication_user = "pgdual_mirror"

[conflicts]
log_path = "$workdir/conflicts.jsonl"

[[users]]
name = "app"
password_env = "PGDUAL_APP_PASSWORD"

[[users]]
name = "pgdual_mirror"
password_env = "PGDUAL_MIRROR_PASSWORD"
CONF
}

# A libpq service file with the three places to connect to, passwords included, readable only by
# whoever runs this: the printed commands work as they are, and no password shows in `ps`.
write_service_file() {
  local entries=(pgdual "$proxy_port" onprem "$onprem_port" cloud "$cloud_port")
  (
    umask 077
    printf '[%s]\nhost=127.0.0.1\nport=%s\nuser=app\ndbname=app\npassword='"$PGDUAL_APP_PASSWORD"'\n\n' \
      "${entries[@]}" >"$workdir/pg_service.conf"
  )
}

onprem_port="$(free_port)"
cloud_port="$(free_port)"
proxy_port="$(free_port)"
start_backend onprem "$onprem_port"
start_backend cloud "$cloud_port"
write_config
write_service_file
"$build/pgdual" init --config "$workdir/pgdual.toml" --database app --user pgdual_mirror

"$build/pgdual" serve --config "$workdir/pgdual.toml" &
pgdual_pid=$!
if ! wait_for_port "$proxy_port" "$pgdual_pid"; then
  echo "run-local: pgdual did not start listening on 127.0.0.1:$proxy_port" >&2
  exit 1
fi

cat <<EOF

pgdual is listening on 127.0.0.1:$proxy_port (config: $workdir/pgdual.toml), in mirror mode wal:
every transaction committed on onprem reaches cloud from onprem's WAL, and a COMMIT through
pgdual is answered once cloud has it. What cloud could not apply lands in
$workdir/conflicts.jsonl. Connect with:

  PGSERVICEFILE=$workdir/pg_service.conf psql service=pgdual

The backends directly (user app, password $PGDUAL_APP_PASSWORD):
  onprem: PGSERVICEFILE=$workdir/pg_service.conf psql service=onprem
  cloud:  PGSERVICEFILE=$workdir/pg_service.conf psql service=cloud

Press Ctrl-C to stop pgdual and both servers.
EOF
wait "$pgdual_pid"

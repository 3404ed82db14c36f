#!/bin/sh
# Re-records every capture in this folder through record_session.py.
#
# Usage: record_all.sh SERVER_PORT
# Needs a PostgreSQL 15 on 127.0.0.1:SERVER_PORT with scram-sha-256 auth for
# user "postgres", password "pgdual-wire" (see README.md for a throwaway one),
# and psql / pgbench on PATH.
set -eu

server_port=$1
here=$(cd "$(dirname "$0")" && pwd)
relay_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export PGPASSWORD=pgdual-wire
conninfo="host=127.0.0.1 port=$relay_port user=postgres dbname=postgres sslmode=disable gssencmode=disable"

# record NAME CONNECTIONS [relay options...] -- COMMAND...
record() {
  name=$1
  connections=$2
  shift 2
  relay_options=""
  while [ "$1" != "--" ]; do relay_options="$relay_options $1"; shift; done
  shift
  rm -f "$here/$name".*hex "$here/$name".*order
  # shellcheck disable=SC2086  # relay_options is a word list on purpose
  python3 "$here/record_session.py" --listen-port "$relay_port" --server-port "$server_port" \
    --prefix "$here/$name" --connections "$connections" $relay_options &
  relay=$!
  sleep 0.5
  "$@"
  wait "$relay"
}

record psql_multi_statement 1 -- \
  psql -X "$conninfo" -c "SET application_name = 'pgdual-wire'" -c "DROP TABLE IF EXISTS no_such_table;
CREATE TEMP TABLE t (id int, note text); INSERT INTO t VALUES (1, 'one'), (2, NULL);
SELECT * FROM t ORDER BY id; SELECT 1/0; SELECT 'never reached'" || true

printf '1\tone\n2\t\\N\n3\tthree\n' | record psql_copy 1 -- \
  psql -X "$conninfo" -c "CREATE TEMP TABLE c (id int, note text)" -c "COPY c FROM STDIN" -c "COPY c TO STDOUT"

printf '1\nnot a number\n3\n' | record psql_copy_error 1 -- \
  psql -X "$conninfo" -c "CREATE TEMP TABLE c (id int)" -c "COPY c FROM STDIN" -c "SELECT count(*) FROM c" || true

record pgbench_init 1 --max-copy-data 32768 -- pgbench -i -s 1 "$conninfo"

# pgbench opens one connection to read the scale, then one per client.
record pgbench_select_extended 2 -- pgbench -S -M extended -t 5 "$conninfo"
record pgbench_select_prepared 2 -- pgbench -S -M prepared -t 5 "$conninfo"

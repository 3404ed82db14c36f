#!/usr/bin/env bash
# Runs one client suite against the server named by PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE.
# Usage: run_client.sh psycopg|jdbc|node
# The suite's transcript goes to stdout; the exit code is the suite's. Build output is shown only on failure.
set -euo pipefail

clients_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly clients_dir
readonly jdbc_jar=/usr/share/java/postgresql.jar
# Debian's interpreter, not whatever python3 is first on PATH: python3-psycopg installs only for it.
readonly python=/usr/bin/python3

usage() {
  echo "usage: $0 psycopg|jdbc|node" >&2
  exit 2
}

require_env() {
  local name
  for name in PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE; do
    if [[ -z "${!name:-}" ]]; then
      echo "$0: $name must be set" >&2
      exit 2
    fi
  done
}

# Runs a build step with its output kept aside, and shows that output only if the step fails.
quietly() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    echo "$0: build step failed: $*" >&2
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}

run_psycopg() {
  exec "$python" "$clients_dir/psycopg_suite.py"
}

run_jdbc() {
  local classes status=0
  classes="$(mktemp -d)"
  trap 'rm -rf "$classes"' EXIT
  quietly javac -d "$classes" -cp "$jdbc_jar" "$clients_dir/jdbc/ClientSuite.java"
  java -cp "$classes:$jdbc_jar" ClientSuite || status=$?
  exit "$status"
}

run_node() {
  local node_dir="$clients_dir/node"
  # Test binaries may run in parallel; the lock keeps two of them from installing into one node_modules.
  exec 9>"${TMPDIR:-/tmp}/pgdual-client-node-install.lock"
  flock 9
  if [[ ! -f "$node_dir/node_modules/pg/package.json" ]]; then
    quietly npm ci --prefix "$node_dir" --no-audit --no-fund
  fi
  flock -u 9
  exec 9>&-
  exec node "$node_dir/suite.js"
}

[[ $# -eq 1 ]] || usage
require_env
case "$1" in
  psycopg) run_psycopg ;;
  jdbc) run_jdbc ;;
  node) run_node ;;
  *) usage ;;
esac

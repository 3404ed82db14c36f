#!/usr/bin/env bash
# Checks scripts/run-local.sh as a user meets it: started in the background, the command its banner
# prints connects through pgdual as printed (a write through it reaches cloud), and Ctrl-C (SIGINT
# to its process group) stops pgdual and both PostgreSQL servers and removes its temp dir.
# Run by scripts/test.sh; exits non-zero naming what failed.
set -euo pipefail
set -m  # run-local.sh in a process group of its own, as in a terminal, where SIGINT reaches it

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
output="$(mktemp "${TMPDIR:-/tmp}/pgdual-run-local-test-XXXXXX")"
run_local_pid=""

fail() {
  echo "run_local_test: $*" >&2
  echo "--- run-local.sh output:" >&2
  cat "$output" >&2
  exit 1
}

# is_running PID: the process exists and is not a zombie waiting for its new parent to reap it.
is_running() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

cleanup() {
  if [[ -n "$run_local_pid" ]] && kill -0 "$run_local_pid" 2>/dev/null; then
    kill -INT -- "-$run_local_pid" 2>/dev/null || true
    wait "$run_local_pid" || true
  fi
  rm -f "$output"
}
trap cleanup EXIT

"$root/scripts/run-local.sh" >"$output" 2>&1 &
run_local_pid=$!

# The banner comes once pgdual listens; installing and building pgdual first may take 20 minutes.
for _ in $(seq 3600); do
  grep -q '^Press Ctrl-C' "$output" && break
  kill -0 "$run_local_pid" 2>/dev/null || fail "run-local.sh exited before printing its banner"
  sleep 0.5
done
grep -q '^Press Ctrl-C' "$output" || fail "no banner after 30 minutes"

connect_command="$(grep -m1 'psql service=pgdual$' "$output" | sed 's/^ *//')"
[[ "$connect_command" == *"service=pgdual"* ]] || fail "no command to connect through pgdual in the banner"
cloud_command="$(grep -m1 'psql service=cloud$' "$output" | sed 's/^ *cloud: *//')"
[[ -n "$cloud_command" ]] || fail "no command for the cloud server in the banner"
workdir="$(sed -n 's/^pgdual is listening on .*(config: \(.*\)\/pgdual.toml).*/\1/p' "$output")"
[[ -d "$workdir" ]] || fail "the banner names no temp dir that exists"
[[ "$(stat -c %a "$workdir/pg_service.conf")" == 600 ]] || fail "pg_service.conf is not mode 0600"

answer="$(bash -c "$connect_command -w -X -A -t -v ON_ERROR_STOP=1 -c 'select 1'" 2>&1)" ||
  fail "the printed command failed: $connect_command: $answer"
[[ "$answer" == 1 ]] || fail "select 1 through pgdual answered: $answer"
answer="$(bash -c "$connect_command -w -X -q -A -t -v ON_ERROR_STOP=1 -c 'create table run_local_check (id int primary key)' \
  -c 'insert into run_local_check values (42)'" 2>&1)" || fail "a write through pgdual failed: $answer"
answer="$(bash -c "$cloud_command -w -X -A -t -v ON_ERROR_STOP=1 -c 'select id from run_local_check'" 2>&1)" ||
  fail "reading cloud failed: $answer"
[[ "$answer" == 42 ]] || fail "the write through pgdual did not reach cloud: $answer"

# What must be gone after Ctrl-C: pgdual (run-local.sh's child) and both postmasters.
started_pids=()
children=()
read -r -a children <"/proc/$run_local_pid/task/$run_local_pid/children" || true  # no newline at its end
for child in "${children[@]}"; do
  [[ "$(cat "/proc/$child/comm" 2>/dev/null)" != pgdual ]] || started_pids+=("$child")
done
for server in onprem cloud; do
  started_pids+=("$(head -n1 "$workdir/$server/data/postmaster.pid")")
done
((${#started_pids[@]} == 3)) || fail "expected pgdual and two postmasters, found PIDs: ${started_pids[*]}"

kill -INT -- "-$run_local_pid"
status=0
wait "$run_local_pid" || status=$?
run_local_pid=""
((status == 130)) || fail "run-local.sh exited $status after SIGINT, not 130"
grep -q '^run-local: stopped everything' "$output" || fail "run-local.sh did not report its cleanup"
# A postmaster may still be exiting when pg_ctl stop returns: 10 s for the last of them to go.
for pid in "${started_pids[@]}"; do
  for _ in $(seq 100); do
    is_running "$pid" || break
    sleep 0.1
  done
  ! is_running "$pid" || fail "process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) is still running after Ctrl-C"
done
[[ ! -e "$workdir" ]] || fail "$workdir is still there after Ctrl-C"
echo "run_local_test: passed (connected as printed, write reached cloud, Ctrl-C stopped ${#started_pids[@]} processes, removed $workdir)"

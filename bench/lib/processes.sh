# shellcheck shell=bash
# Sourced by bench scripts after scripts/lib/local_postgres.sh (which provides $workdir and
# wait_for_port). Starts proxies in the background, stops exactly those by PID, and reads the CPU
# time a process and its descendants used from /proc.

spawned_pids=()
spawned_pid=""

# spawn_process NAME PORT [--as-server-user] COMMAND...: starts COMMAND in the background, logging to
# $workdir/NAME.log, waits until it accepts connections on 127.0.0.1:PORT, and sets spawned_pid.
# PgBouncer and pgpool-II refuse to run as root, so as root --as-server-user runs them as the
# servers' OS user, owning $workdir/NAME. setpriv execs in place (runuser would stay in between as
# the parent), so the PID recorded is the program's own, which the CPU accounting needs.
# Returns 1, after printing the end of the log, when COMMAND does not start listening.
spawn_process() {
  local name="$1" port="$2" pid
  shift 2
  if [[ "$1" == --as-server-user ]]; then
    shift
    if ((EUID == 0)); then
      chown -R postgres: "$workdir/$name"
      set -- setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
    fi
  fi
  (exec "$@") >"$workdir/$name.log" 2>&1 &
  pid=$!
  spawned_pids+=("$pid")
  spawned_pid="$pid"
  if ! wait_for_port "$port" "$pid"; then
    tail -n 20 "$workdir/$name.log" >&2
    echo "$name did not start listening on 127.0.0.1:$port" >&2
    return 1
  fi
}

# stop_process PID: SIGTERM, and SIGKILL if it is still there after 10 s.
stop_process() {
  local _
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 100); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1" 2>/dev/null || true
      return 0
    fi
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# stop_spawned_processes: every process spawn_process started, the last first.
stop_spawned_processes() {
  local i
  for ((i = ${#spawned_pids[@]} - 1; i >= 0; i--)); do stop_process "${spawned_pids[i]}"; done
  spawned_pids=()
}

# process_tree_cpu_ticks PID: clock ticks of CPU (user + system) used by PID, its live descendants
# and every descendant already reaped (the children's fields of /proc/PID/stat), so a pooler that
# forks and recycles workers is counted whole. Each process's own threads are included.
process_tree_cpu_ticks() {
  local pids=("$1") index=0 children
  while ((index < ${#pids[@]})); do
    children="$(cat /proc/"${pids[index]}"/task/*/children 2>/dev/null || true)"
    # shellcheck disable=SC2206  # PIDs split on blanks
    pids+=($children)
    index=$((index + 1))
  done
  # Fields 14 to 17 (utime stime cutime cstime), counted after the ")" that ends the command name.
  for index in "${pids[@]}"; do cat "/proc/$index/stat" 2>/dev/null || true; done |
    awk '{sub(/^.*\) /, ""); total += $12 + $13 + $14 + $15} END {print total + 0}'
}

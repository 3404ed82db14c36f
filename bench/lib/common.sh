# shellcheck shell=bash
# Sourced by every bench script that starts servers or proxies, with `root` set to the checkout:
#   source "$root/bench/lib/common.sh" NAME
# makes the temporary directory $workdir (NAME-XXXXXX under $TMPDIR or /tmp), loads the shared
# helpers (scripts/lib/local_postgres.sh and bench/lib/*.sh), exports a random $PGPASSWORD for the
# servers' superuser "postgres", and on exit (also on Ctrl-C or failure) stops every server and proxy
# the helpers started, by PID, and removes $workdir. A script with more to stop defines
# `before_cleanup`, which runs first.

workdir="$(mktemp -d "${TMPDIR:-/tmp}/$1-XXXXXX")"
# shellcheck source=../../scripts/lib/local_postgres.sh
source "$root/scripts/lib/local_postgres.sh"
# shellcheck source=processes.sh
source "$root/bench/lib/processes.sh"
# shellcheck source=proxies.sh
source "$root/bench/lib/proxies.sh"
# shellcheck source=tables.sh
source "$root/bench/lib/tables.sh"

cleanup() {
  trap - EXIT INT TERM
  if declare -F before_cleanup >/dev/null; then before_cleanup; fi
  stop_spawned_processes
  stop_local_postgres
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export PGPASSWORD
PGPASSWORD="$(random_secret)"

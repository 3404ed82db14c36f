#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each, seeded from the
# corpora the build wrote, and prints the executions each one did. Builds
# nothing: build the `pgdual_fuzzers` target of a -DPGDUAL_BUILD_FUZZERS=ON
# build directory first. Exits non-zero if any target crashes; the crashing
# input stays in BUILD_DIR/tests/fuzz/artifacts and its path is printed.
#
# Usage: run_fuzzers.sh BUILD_DIR SECONDS
set -euo pipefail

if [[ $# -ne 2 || ! "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
fuzz_dir="$(cd "$1" && pwd)/tests/fuzz"
seconds="$2"
targets=(frame_fuzz startup_fuzz backend_message_fuzz frontend_message_fuzz pgoutput_fuzz pin_times_fuzz)

for target in "${targets[@]}"; do
  [[ -x "$fuzz_dir/$target" ]] || { echo "$fuzz_dir/$target not built" >&2; exit 2; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifacts="$fuzz_dir/artifacts"
mkdir -p "$artifacts"

status=0
results=()
for target in "${targets[@]}"; do
  seeds="$fuzz_dir/corpus/${target%_fuzz}"
  # New inputs go to the first corpus directory, which is scratch, so the
  # generated seeds stay as make_corpus.py wrote them.
  mkdir -p "$work/$target"
  log="$work/$target.log"
  echo "== $target: ${seconds}s"
  if (cd "$work" && "$fuzz_dir/$target" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$artifacts/$target-" "$work/$target" "$seeds") >"$log" 2>&1; then
    outcome=ok
  else
    outcome=CRASH
    status=1
    tail -n 60 "$log"
    grep -E 'Test unit written to' "$log" || true
  fi
  runs="$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)"
  results+=("$(printf '%-24s %14s  %s' "$target" "${runs:--}" "$outcome")")
done

printf '%-24s %14s  %s\n' target executions result
printf '%s\n' "${results[@]}"
exit "$status"

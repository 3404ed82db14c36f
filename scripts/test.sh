#!/usr/bin/env bash
# Builds pgdual with warnings as errors and runs every test: unit tests first, then the
# integration tests against real PostgreSQL servers. Exits non-zero if anything fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -DPGDUAL_WERROR=ON
cmake --build "$build" -j2

status=0
ctest --test-dir "$build" -L unit --output-on-failure || status=1
ctest --test-dir "$build" -L integration --output-on-failure || status=1
exit "$status"

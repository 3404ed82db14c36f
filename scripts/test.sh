#!/usr/bin/env bash
# Builds pgdual with warnings as errors and runs every test: unit tests (with a smoke run of the
# microbenchmarks, which keeps them compiling), then the protocol fuzzers (clang, libFuzzer) for
# 60 seconds each, then the integration tests against real PostgreSQL servers, then the scripts'
# tests: scripts/run-local.sh as a user meets it, and the Debian package installed into a fresh
# Debian 12 chroot and run there. Exits non-zero if anything fails.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build"
fuzz_build="$root/build-fuzz"

"$root/scripts/install-deps.sh" test
cmake -S "$root" -B "$build" -DPGDUAL_WERROR=ON -DPGDUAL_BUILD_TESTS=ON -DPGDUAL_BUILD_BENCH=ON
cmake --build "$build" -j2
cmake -S "$root" -B "$fuzz_build" -DCMAKE_CXX_COMPILER=clang++ -DPGDUAL_WERROR=ON \
  -DPGDUAL_BUILD_FUZZERS=ON -DPGDUAL_BUILD_TESTS=OFF
cmake --build "$fuzz_build" --target pgdual_fuzzers -j2

status=0
ctest --test-dir "$build" -L unit --output-on-failure || status=1
"$root/tests/fuzz/run_fuzzers.sh" "$fuzz_build" 60 || status=1
ctest --test-dir "$build" -L integration --output-on-failure || status=1
PGDUAL_BUILD_DIR="$build" "$root/scripts/run_local_test.sh" || status=1
"$root/scripts/package_install_test.sh" "$build" || status=1
exit "$status"

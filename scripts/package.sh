#!/usr/bin/env bash
# Builds the Debian package from the tree in one command: a Release build of pgdual in build-pkg/
# (or $PGDUAL_PACKAGE_BUILD_DIR), packed by CPack into build-pkg/pgdual_VERSION_ARCH.deb, whose
# path it prints last. docs/packaging.md says what the package installs;
# scripts/package_install_test.sh installs it into a fresh Debian 12 and runs it.
#
# usage: scripts/package.sh [BUILD_DIR]
# With BUILD_DIR, an existing build of the tree is packed as it is configured (scripts/test.sh
# packs its own build this way rather than compile everything again); CPack strips the binary.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
(($# <= 1)) || { echo "usage: $0 [BUILD_DIR]" >&2; exit 2; }

"$root/scripts/install-deps.sh" run
if (($# == 1)); then
  build="$1"
  [[ -f "$build/CPackConfig.cmake" ]] || { echo "package: $build is not a configured build of pgdual" >&2; exit 1; }
else
  build="${PGDUAL_PACKAGE_BUILD_DIR:-$root/build-pkg}"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPGDUAL_BUILD_TESTS=OFF -DPGDUAL_BUILD_BENCH=OFF >/dev/null
fi
rm -f "$build"/pgdual_*.deb
echo "package: building pgdual and the package in $build" >&2
cmake --build "$build" --target package -j2 >"$build/package.log" 2>&1 ||
  { cat "$build/package.log" >&2; echo "package: building the package failed" >&2; exit 1; }
packages=("$build"/pgdual_*.deb)
[[ -f "${packages[0]}" ]] || { echo "package: CPack made no pgdual_*.deb in $build" >&2; exit 1; }
echo "${packages[0]}"

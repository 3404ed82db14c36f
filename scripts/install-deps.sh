#!/usr/bin/env bash
# Installs the Debian 12 packages one pgdual command needs, by profile:
#   run    build pgdual and run it in front of local PostgreSQL 15 servers (scripts/run-local.sh)
#   test   run + the test toolchain: Catch2, clang for the fuzzers, the client drivers (psycopg,
#          JDBC, node), chromium, and what the package install test uses (scripts/test.sh)
#   bench  run + the proxies and microbenchmark library the benchmarks compare with (bench/*.sh)
# Idempotent: prints nothing and touches nothing when everything is already installed.
#
# usage: scripts/install-deps.sh run|test|bench
#
# The PostgreSQL packages create and may start a "main" cluster on port 5432 when they are
# installed. Nothing in pgdual uses it: the tests and scripts/run-local.sh start their own
# throwaway servers on free loopback ports.
set -euo pipefail

run_packages=(
  build-essential cmake
  libboost1.81-dev libpq-dev libspdlog-dev libtomlplusplus-dev libssl-dev libpg-query-dev libprotobuf-c-dev libexpected-dev
  postgresql-15 postgresql-client-15
  python3-minimal  # scripts/lib/local_postgres.sh asks it for a free port
)
test_packages=(
  pkg-config openssl catch2 clang libclang-rt-14-dev
  python3-psycopg libpostgresql-jdbc-java default-jdk-headless
  chromium
  debootstrap  # scripts/package_install_test.sh installs the .deb into a fresh Debian 12 chroot
  haproxy  # tests/integration/instances_test.cpp: a TCP load balancer in front of several instances
)
bench_packages=(
  pgbouncer pgpool2 libbenchmark-dev pgcopydb
  python3  # bench/lib/*.py use the standard library beyond python3-minimal
)

usage() { echo "usage: $0 run|test|bench" >&2; exit 2; }
(($# == 1)) || usage
packages=("${run_packages[@]}")
case "$1" in
  run) ;;
  test)
    packages+=("${test_packages[@]}")
    # The test build (scripts/test.sh) builds the microbenchmarks too, to keep them compiling.
    packages+=(libbenchmark-dev)
    # node and npm may come from outside Debian (e.g. a newer nodejs that bundles npm); any will do.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
      packages+=(nodejs npm)
    fi
    ;;
  bench) packages+=("${bench_packages[@]}") ;;
  *) usage ;;
esac

is_installed() {
  dpkg-query --show --showformat='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for package in "${packages[@]}"; do
  is_installed "$package" || missing+=("$package")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo_if_needed=()
if ((EUID != 0)); then
  sudo_if_needed=(sudo)
fi
echo "install-deps: installing ${missing[*]}" >&2
"${sudo_if_needed[@]}" apt-get update -qq
"${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${missing[@]}"

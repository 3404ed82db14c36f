#!/usr/bin/env bash
# Installs the Debian 12 packages pgdual needs to build and test. Idempotent: prints nothing and
# touches nothing when everything is already installed.
#
# The PostgreSQL packages create and may start a "main" cluster on port 5432 when they are
# installed. Nothing in pgdual uses it: the tests and scripts/run-local.sh start their own
# throwaway servers on free loopback ports.
set -euo pipefail

packages=(
  build-essential cmake pkg-config openssl
  libboost1.81-dev libpq-dev libspdlog-dev libtomlplusplus-dev libssl-dev libpg-query-dev libprotobuf-c-dev libexpected-dev
  catch2 libbenchmark-dev clang libclang-rt-14-dev
  postgresql-15 postgresql-client-15 pgbouncer pgpool2
  python3-psycopg libpostgresql-jdbc-java default-jdk-headless
  chromium
)
# node and npm may come from outside Debian (e.g. a newer nodejs that bundles npm); any will do.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

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

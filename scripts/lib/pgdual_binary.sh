# shellcheck shell=bash
# Sourced by bench scripts. pgdual_binary ROOT BUILD_DIR: prints the pgdual binary to measure:
# $PGDUAL_BIN when set, else a Release build of ROOT in BUILD_DIR (built quietly, the output shown
# only if the build fails). Returns 1 after saying why on stderr.
pgdual_binary() {
  local root="$1" build="$2" binary output
  if [[ -n "${PGDUAL_BIN:-}" ]]; then
    binary="$PGDUAL_BIN"
  else
    output="$(cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DPGDUAL_BUILD_TESTS=OFF 2>&1 &&
      cmake --build "$build" --target pgdual -j2 2>&1)" || { echo "$output" >&2; echo "building pgdual failed" >&2; return 1; }
    binary="$build/pgdual"
  fi
  [[ -x "$binary" ]] || { echo "no pgdual binary at $binary" >&2; return 1; }
  echo "$binary"
}

#!/usr/bin/env bash
# Install what is missing, then build and run the whole suite twice: a normal
# build with warnings as errors, then an ASan/UBSan build. Exits non-zero on
# any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/deps.sh" test
jobs=$(nproc)
status=0
run_suite() { # name, cmake args...
  local name=$1; shift
  local build="$root/build/$name"
  echo "== saccade tests: $name build =="
  cmake -S "$root" -B "$build" -DSACCADE_WERROR=ON -DSACCADE_TESTS=ON "$@" >/dev/null
  cmake --build "$build" -j"$jobs" 2>&1 | grep -vE '^\[|^-- |Built target|Consolidate|Linking|Building' || true
  if ! cmake --build "$build" -j"$jobs" >/dev/null 2>&1; then
    echo "== $name build FAILED =="; status=1; return
  fi
  (cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 1200) || status=1
}
run_suite test -DCMAKE_BUILD_TYPE=Release
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSACCADE_SANITIZE=address,undefined
exit $status

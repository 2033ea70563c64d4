#!/usr/bin/env bash
# Install what is missing, build a Release saccade once, then run it:
#   tools/run.sh VERB ARGS...      (same as: saccade VERB ARGS...)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/deps.sh" build
build="$root/build/run"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target saccade_cli >/dev/null
exec "$build/saccade" "$@"

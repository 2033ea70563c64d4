#!/usr/bin/env bash
# Install what is missing, build a Release saccade once, then run it:
#   tools/run.sh VERB ARGS...      (same as: saccade VERB ARGS...)
#   tools/run.sh                   (the main job: caption a bundled sample scene and
#                                   write its per-word attention figure, scene-attention.png)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/tools/deps.sh" build
build="$root/build/run"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
fi
# Everything (CLI, libsaccade.so for Python, man page): cmake --install needs it all.
cmake --build "$build" -j"$(nproc)" >/dev/null
if [ $# -eq 0 ]; then
  set -- caption "$root/assets/samples/scenes/images/test_000000.png" --attention scene-attention.png
fi
exec "$build/saccade" "$@"

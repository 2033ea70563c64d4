#!/bin/sh
# Benchmark saccade's saliency against OpenCV's (not part of the test suite).
# Usage: tools/bench/saliency.sh [BUILD_DIR] [REPS]   (BUILD_DIR defaults to build)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
reps=${2:-30}
cmake --build "$build" --target bench_saliency -j2 >/dev/null
exec /usr/bin/python3 "$root/tools/bench/bench_saliency.py" "$build" "$reps"

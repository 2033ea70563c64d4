#!/usr/bin/env bash
# Multi-head attention forward, saccade vs torch nn.MultiheadAttention, same
# run, 1 and 2 threads. Usage: tools/bench/mha.sh [BUILD_DIR] [REPS]
# (build first: cmake --build BUILD_DIR --target bench_mha)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
reps=${2:-20}
py=${SACCADE_PYTHON:-/usr/bin/python3}
printf "%-8s %12s %12s %8s\n" threads saccade_ms torch_ms ratio
for t in 1 2; do
    s=$("$build/bench_mha" "$t" "$reps" | awk '{print $2}')
    p=$(OMP_NUM_THREADS=$t "$py" "$here/bench_mha.py" "$t" "$reps" | awk '{print $2}')
    printf "%-8s %12s %12s %8s\n" "$t" "$s" "$p" "$(awk -v a="$s" -v b="$p" 'BEGIN{printf "%.2f", b/a}')"
done
echo "(ratio = torch / saccade: > 1 means saccade is faster; median of $reps runs)"

#!/usr/bin/env bash
# Multi-head attention forward, saccade vs torch nn.MultiheadAttention, 1 and
# 2 threads. Each side runs REPS calls per round; ROUNDS rounds alternate
# saccade and torch (interleaved, so both see the same machine load) and the
# best time over all rounds is compared (the least disturbed by other load).
# Usage: tools/bench/mha.sh [BUILD_DIR] [REPS] [ROUNDS]
# (build first: cmake --build BUILD_DIR --target bench_mha)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
reps=${2:-20}
rounds=${3:-3}
py=${SACCADE_PYTHON:-/usr/bin/python3}
echo "load: $(uptime | sed 's/.*load average: //')"
printf "%-8s %12s %12s %8s %12s %12s\n" threads saccade_best torch_best ratio saccade_med torch_med
for t in 1 2; do
    sb=1e30 pb=1e30 sm=1e30 pm=1e30
    for r in $(seq "$rounds"); do
        s=$(OMP_NUM_THREADS=$t "$build/bench_mha" "$t" "$reps")
        p=$(OMP_NUM_THREADS=$t "$py" "$here/bench_mha.py" "$t" "$reps")
        sb=$(awk -v a="$sb" -v b="$(echo "$s" | awk '{print $4}')" 'BEGIN{print (b < a ? b : a)}')
        pb=$(awk -v a="$pb" -v b="$(echo "$p" | awk '{print $4}')" 'BEGIN{print (b < a ? b : a)}')
        sm=$(awk -v a="$sm" -v b="$(echo "$s" | awk '{print $2}')" 'BEGIN{print (b < a ? b : a)}')
        pm=$(awk -v a="$pm" -v b="$(echo "$p" | awk '{print $2}')" 'BEGIN{print (b < a ? b : a)}')
    done
    printf "%-8s %12s %12s %8s %12s %12s\n" "$t" "$sb" "$pb" \
        "$(awk -v a="$sb" -v b="$pb" 'BEGIN{printf "%.2fx", b/a}')" "$sm" "$pm"
done
echo "load: $(uptime | sed 's/.*load average: //')"
echo "(ratio = torch / saccade on the best of $rounds x $reps runs: > 1 means saccade is faster;"
echo " _med = best per-round median)"

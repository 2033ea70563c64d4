#!/bin/sh
# Run the grid_sample benchmark for saccade and PyTorch with 1 and 2 threads
# on the two reference shapes and print the ratio torch/saccade. ROUNDS rounds
# alternate saccade and torch (interleaved, so both see the same machine
# load); each round is the best of REPS calls, and the best round is kept.
# usage: tools/bench/grid.sh [BUILD_DIR] [REPS] [ROUNDS]
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
reps=${2:-20}
rounds=${3:-3}
py=${SACCADE_PYTHON:-/usr/bin/python3}
echo "load: $(uptime | sed 's/.*load average: //')"
for shape in "32 16 64 64" "1 3 512 512"; do
    for t in 1 2; do
        all=""
        r=0
        while [ $r -lt "$rounds" ]; do
            s=$(OMP_NUM_THREADS=$t "$build/bench_grid" $t $shape $reps)
            p=$(OMP_NUM_THREADS=$t "$py" "$here/bench_grid.py" $t $shape $reps)
            all="$all
$s
$p"
            r=$((r + 1))
        done
        echo "$all" | awk -v t=$t -v shape="$shape" '
            function val(line, key,   a) { split(line, a, key "="); return a[2] + 0 }
            /^saccade/ { if (!sf || val($0, "fwd_ms") < sf) sf = val($0, "fwd_ms");
                         if (!sb || val($0, "bwd_ms") < sb) sb = val($0, "bwd_ms") }
            /^torch/   { if (!pf || val($0, "fwd_ms") < pf) pf = val($0, "fwd_ms");
                         if (!pb || val($0, "bwd_ms") < pb) pb = val($0, "bwd_ms") }
            END { printf "shape %s threads %d: saccade fwd %.3f bwd %.3f ms, torch fwd %.3f bwd %.3f ms\n", shape, t, sf, sb, pf, pb;
                  printf "  ratio torch/saccade: forward %.2fx backward %.2fx total %.2fx\n", pf / sf, pb / sb, (pf + pb) / (sf + sb) }'
    done
done
echo "load: $(uptime | sed 's/.*load average: //')"

#!/bin/sh
# Run the grid_sample benchmark for saccade and PyTorch with 1 and 2 threads
# on the two reference shapes and print the ratio torch/saccade.
# usage: tools/bench/grid.sh [BUILD_DIR] [REPS]
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
reps=${2:-20}
py=${SACCADE_PYTHON:-/usr/bin/python3}
for shape in "32 16 64 64" "1 3 512 512"; do
    for t in 1 2; do
        s=$(OMP_NUM_THREADS=$t "$build/bench_grid" $t $shape $reps)
        p=$("$py" "$here/bench_grid.py" $t $shape $reps)
        echo "$s"
        echo "$p"
        echo "$s|$p" | awk -F'|' '{
            split($1, a, "total_ms="); split($2, b, "total_ms=");
            split($1, fa, "fwd_ms="); split($2, fb, "fwd_ms=");
            split($1, ba, "bwd_ms="); split($2, bb, "bwd_ms=");
            printf "  ratio torch/saccade: forward %.2fx backward %.2fx total %.2fx\n",
                   fb[2] / fa[2], bb[2] / ba[2], b[2] / a[2] }'
    done
done

#!/bin/sh
# Training-speed benchmark of the scenes captioner (the recipe's model and
# batch): examples/s of one training step (forward, backward through the CNN,
# clip, AdamW) in saccade vs PyTorch on the same threads; prints the ratio
# saccade/torch (> 1: saccade is faster), and with THREADS > 1 also the ratio
# against torch at its fastest thread count up to THREADS.
# usage: tools/bench/captioner_train.sh [BUILD_DIR] [THREADS] [STEPS]
set -e
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
t=${2:-2}
steps=${3:-20}
py=${SACCADE_PYTHON:-/usr/bin/python3}
# saccade's own loops are OpenMP: use OpenBLAS's OpenMP build (shares libgomp's
# threads) with passive waiting, unless the caller chose a library; with the
# pthread build the two thread pools fight for the cores (measured 2.3x slower).
omp_blas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0
[ -z "${SACCADE_OPENBLAS:-}" ] && [ -e "$omp_blas" ] && export SACCADE_OPENBLAS=$omp_blas
echo "SACCADE_OPENBLAS=${SACCADE_OPENBLAS:-default}"
s=$(OMP_WAIT_POLICY=passive OMP_NUM_THREADS=$t "$build/bench_captioner_train" $t $steps)
p=$(OMP_NUM_THREADS=$t "$py" "$here/bench_captioner_train.py" $t $steps)
echo "$s"
echo "$p"
echo "$s|$p" | awk -F'|' '{ split($1, a, "ex_per_s="); split($2, b, "ex_per_s=");
    printf "  ratio saccade/torch examples per second: %.2fx\n", a[2] / b[2] }'
# torch's own threads may not pay on small products (on our 2-core host its
# 2-thread step was slower than its 1-thread step): also compare with torch's
# fastest thread count up to THREADS
if [ "$t" -gt 1 ]; then
    best=$(echo "$p" | sed 's/.*ex_per_s=\([0-9.]*\).*/\1/')
    i=1
    while [ "$i" -lt "$t" ]; do
        q=$(OMP_NUM_THREADS=$i "$py" "$here/bench_captioner_train.py" $i $steps)
        echo "$q"
        best=$(echo "$q" | sed 's/.*ex_per_s=\([0-9.]*\).*/\1/' | awk -v b="$best" '{ print ($1 > b) ? $1 : b }')
        i=$((i + 1))
    done
    echo "$s" | awk -v b="$best" '{ split($0, a, "ex_per_s=");
        printf "  ratio saccade/torch (torch at its fastest thread count): %.2fx\n", a[2] / b }'
fi

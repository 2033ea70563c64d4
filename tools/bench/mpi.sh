#!/usr/bin/env bash
# Open MPI scaling on one machine: 2 ranks of 1 thread against 1 process of
# 1 thread, interleaved rounds, medians, ratios.
#  - training: `saccade train captioner` (the recipe's CNN captioner, batch 32,
#    --steps STEPS, no validation); throughput = examples / the training
#    loop's seconds (the run's metrics file: model build, data load and MPI
#    start-up left out), and the whole command's wall time;
#  - batch captioning: `saccade caption DIR` over IMAGES images (copies of the
#    bundled scenes samples) with the bundled scenes model; wall time of the
#    whole command, model loads and MPI start-up included.
# Every process (the single one and each rank) runs in a process group of its own
# (setsid), as it would on a machine of its own: with the kernel's autogroup
# scheduling each such group gets one share of a busy machine, so ranks sharing
# one group could not go faster than one process (see "autogroup" in README.md).
# Also printed: CPU seconds (user + system, every process of the command), so
# 2 x CPU(1 process) / CPU(2 ranks) is the speed-up 2 free cores would give.
# Targets: training throughput >= 1.8x, captioning >= 1.9x.
# usage: tools/bench/mpi.sh [ROUNDS=3] [STEPS=20] [IMAGES=960]
#        (SACCADE_BUILD_DIR: a build with -DSACCADE_MPI=ON; default build/run,
#        configured and built here when missing)
set -euo pipefail
rounds=${1:-3}
steps=${2:-20}
images=${3:-960}
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${SACCADE_BUILD_DIR:-$src/build/run}
if [ ! -x "$build/saccade" ]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_MPI=ON -DSACCADE_TESTS=OFF >/dev/null
  cmake --build "$build" -j2 --target saccade_cli >/dev/null
fi
cli=$build/saccade
# One thread per process everywhere (OpenMP and BLAS); Open MPI as root.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe --bind-to none -np 2 setsid -w)
one=(setsid -w)
tmp=$(mktemp -d /tmp/saccade_mpi_bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/imgs"
i=0
while [ "$i" -lt "$images" ]; do
  for f in "$src"/assets/samples/scenes/images/*.png; do
    [ "$i" -lt "$images" ] || break
    cp "$f" "$tmp/imgs/$(printf '%06d' "$i").png"
    i=$((i + 1))
  done
done
echo "uptime before: $(uptime)"
now() { date +%s.%N; }
# cpu FILE COMMAND...: run it, append its user + system CPU seconds to FILE
cpu() { local f=$1; shift; /usr/bin/time -f "%U %S" -o "$f.t" "$@"; awk '{ print $1 + $2 }' "$f.t" >>"$f"; }
train() { # label, launcher words...
  local label=$1; shift
  local t0 t1
  t0=$(now)
  cpu "$tmp/cpu" "$@" "$cli" train captioner --steps "$steps" --val 0 --threads 1 --quiet \
    -o "$tmp/$label.safetensors" >/dev/null
  t1=$(now)
  local loop
  loop=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' \
    "$tmp/$label.metrics.json")
  echo "train $label $loop $(echo "$t1 - $t0" | bc -l) $(tail -1 "$tmp/cpu")" >>"$tmp/times"
}
caption() { # label, launcher words...
  local label=$1; shift
  local t0 t1
  t0=$(now)
  cpu "$tmp/cpu" "$@" "$cli" caption "$tmp/imgs" --threads 1 >"$tmp/$label.txt"
  t1=$(now)
  echo "caption $label $(echo "$t1 - $t0" | bc -l) $(tail -1 "$tmp/cpu")" >>"$tmp/times"
}
for r in $(seq "$rounds"); do
  # alternate who goes first, so a load change hits both sides alike
  if [ $((r % 2)) -eq 1 ]; then
    train one "${one[@]}"; train two "${mpi[@]}"; caption one "${one[@]}"; caption two "${mpi[@]}"
  else
    train two "${mpi[@]}"; train one "${one[@]}"; caption two "${mpi[@]}"; caption one "${one[@]}"
  fi
  cmp -s "$tmp/one.txt" "$tmp/two.txt" || { echo "captions differ between 1 and 2 ranks" >&2; exit 1; }
  echo "round $r done"
done
echo "uptime after:  $(uptime)"
python3 - "$tmp/times" "$steps" "$images" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
steps, images = int(sys.argv[2]), int(sys.argv[3])
def med(kind, label, col):
    return st.median(float(r[col]) for r in rows if r[0] == kind and r[1] == label)
t1, t2 = med("train", "one", 2), med("train", "two", 2)
w1, w2 = med("train", "one", 3), med("train", "two", 3)
c1, c2 = med("caption", "one", 2), med("caption", "two", 2)
k1, k2 = med("train", "one", 4), med("train", "two", 4)
d1, d2 = med("caption", "one", 3), med("caption", "two", 3)
ex = steps * 32
n = sum(1 for r in rows if r[0] == "train" and r[1] == "one")
print(f"medians of {n} rounds, 1 thread per process")
print(f"train captioner, {steps} steps of 32: 1 process {ex / t1:.1f} ex/s (loop {t1:.2f} s, "
      f"wall {w1:.2f} s); 2 ranks {ex / t2:.1f} ex/s (loop {t2:.2f} s, wall {w2:.2f} s)")
print(f"  throughput 2 ranks / 1 process: {t1 / t2:.2f}x (target 1.8x: "
      f"{'ok' if t1 / t2 >= 1.8 else 'MISSED'}); wall {w1 / w2:.2f}x")
print(f"  CPU s: 1 process {k1:.2f}, 2 ranks {k2:.2f} (all ranks): on 2 free cores {2 * k1 / k2:.2f}x")
print(f"caption {images} images: 1 process {c1:.2f} s ({images / c1:.0f} img/s), "
      f"2 ranks {c2:.2f} s ({images / c2:.0f} img/s)")
print(f"  speed-up 2 ranks / 1 process: {c1 / c2:.2f}x (target 1.9x: "
      f"{'ok' if c1 / c2 >= 1.9 else 'MISSED'})")
print(f"  CPU s: 1 process {d1:.2f}, 2 ranks {d2:.2f} (all ranks): on 2 free cores {2 * d1 / d2:.2f}x")
PY

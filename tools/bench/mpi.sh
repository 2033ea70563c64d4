#!/usr/bin/env bash
# Open MPI scaling on one machine: 2 ranks of 1 thread against 1 process of
# 1 thread, interleaved rounds, medians, ratios.
#  - training: `saccade train captioner` (the recipe's CNN captioner, batch 32,
#    --steps STEPS, no validation); throughput = examples / the training
#    loop's seconds (the run's metrics file: model build, data load and MPI
#    start-up left out), and the whole command's wall time;
#  - batch captioning: `saccade caption DIR` over IMAGES images (copies of the
#    bundled scenes samples) with the bundled scenes model; wall time of the
#    whole command, model loads and MPI start-up included, four ways: 1 plain
#    process; `mpirun -np 1` (the same work through Open MPI); `mpirun -np 2`;
#    and 2 plain processes side by side with --shard 1/2 and 2/2 (what a Slurm
#    array or GNU parallel gets: no MPI at all). 2 ranks / 1 process is the
#    issue's figure (target 1.9x); 2 ranks / mpirun -np 1 is the scaling
#    efficiency of the MPI job itself (start-up counted on both sides);
#  - the fixed cost: the same commands on 2 images (start-up, model load,
#    finish), where the wall time goes when the collection is small;
#  - hand-out: `mpirun -np 2` with the ranks taking images from a shared
#    counter (the default) against fixed halves (SACCADE_MPI_HANDOUT=static),
#    on the uniform collection above and on a mixed one (IMAGES / 2 images, the
#    first quarter of them 8x upscaled to 768 x 768, about 5x the time each, so
#    the costly ones all sit in the first half of the sorted list), with 1
#    process as the reference;
#  - binding: the 2-rank training and captioning also with --bind-to core
#    (Open MPI's default for 2 ranks; everything else runs with --bind-to none,
#    which a machine shared with other work needs);
#  - rank 0's seconds in the sums over the ranks (MODEL.metrics.json's
#    comm_seconds: allreduce and waiting for rank 1);
#  - where 2 ranks' extra CPU seconds in training go: 1 process with half the
#    batch for twice the steps (the same examples: what a rank's smaller
#    products cost), and two such plain processes side by side (no MPI: what
#    two busy cores cost each other); the 2-rank job's CPU seconds above those
#    is MPI's own (start-up, allreduce, waiting).
# Every process (the single one and each rank) runs in a process group of its own
# (setsid), as it would on a machine of its own: with the kernel's autogroup
# scheduling each such group gets one share of a busy machine, so ranks sharing
# one group could not go faster than one process (see "autogroup" in README.md).
# Also printed: CPU seconds (user + system, every process of the command), so
# 2 x CPU(1 process) / CPU(2 ranks) is the speed-up 2 free cores would give,
# and the load average (/proc/loadavg) at the start of every round: timings
# on a busy machine are noise, the CPU ratios much less so.
# Open MPI on one node: saccade picks the shared-memory transports itself
# (pml ob1, btl self,vader; see sc_comm_mpi in include/saccade/sc_comm.h),
# and mpirun gets PMIX_MCA_gds=hash (PMIx's plain key store, no shared-memory
# store to set up), as README.md suggests for one machine.
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
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PMIX_MCA_gds=hash
mpi=(mpirun --oversubscribe --bind-to none -np 2 setsid -w)
bound=(mpirun --bind-to core -np 2 setsid -w) # Open MPI's default for 2 ranks: one core each
mpi1=(mpirun --bind-to none -np 1 setsid -w)
one=(setsid -w)
tmp=$(mktemp -d /tmp/saccade_mpi_bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/imgs" "$tmp/two_imgs" "$tmp/mixed_imgs"
"${SACCADE_PYTHON:-/usr/bin/python3}" - "$src/assets/samples/scenes/images" "$tmp/imgs" "$images" \
  "$tmp/mixed_imgs" <<'PY'
import glob, shutil, sys
import numpy as np, cv2
samples = sorted(glob.glob(sys.argv[1] + "/*.png"))
for i in range(int(sys.argv[3])):
    shutil.copyfile(samples[i % len(samples)], f"{sys.argv[2]}/{i:06d}.png")
mixed = int(sys.argv[3]) // 2
for i in range(mixed):  # the first quarter costly (8x upscaled: about 5x the time)
    img = cv2.imread(samples[i % len(samples)], cv2.IMREAD_UNCHANGED)
    if i < mixed // 4:
        img = cv2.resize(img, None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(f"{sys.argv[4]}/{i:06d}.png", img)
PY
cp "$tmp/imgs/000000.png" "$tmp/imgs/000001.png" "$tmp/two_imgs/"
echo "uptime before: $(uptime)"
now() { date +%s.%N; }
# cpu FILE COMMAND...: run it, append its user + system CPU seconds to FILE
cpu() { local f=$1; shift; /usr/bin/time -f "%U %S" -o "$f.t" "$@"; awk '{ print $1 + $2 }' "$f.t" >>"$f"; }
train() { # label, launcher words...
  local label=$1; shift
  local t0 t1 batch=32 n=$steps
  # half: batch 16 for twice the steps (the same examples); pair: two
  # processes of batch 16 for the steps (each a rank's share, no MPI)
  [ "$label" = half ] && batch=16 n=$((2 * steps))
  [ "$label" = pair ] && batch=16
  t0=$(now)
  if [ "$label" = pair ]; then # two plain processes side by side, no MPI
    cpu "$tmp/cpu" bash -c '"$@" -o "$T/pair1.safetensors" >/dev/null &
      "$@" -o "$T/pair2.safetensors" >/dev/null; wait $!' _ "${one[@]}" "$cli" train captioner \
      --steps "$n" --batch "$batch" --val 0 --threads 1 --quiet
  else
    cpu "$tmp/cpu" "$@" "$cli" train captioner --steps "$n" --batch "$batch" --val 0 --threads 1 \
      --quiet -o "$tmp/$label.safetensors" >/dev/null
  fi
  t1=$(now)
  local loop comm
  # the loop's seconds (the slower of a pair) and rank 0's seconds in the sums
  read -r loop comm < <(python3 -c 'import json,sys
m = [json.load(open(f)) for f in sys.argv[1:]]
print(max(x["seconds"] for x in m), m[0].get("comm_seconds", 0))' \
    $(if [ "$label" = pair ]; then echo "$tmp/pair1.metrics.json $tmp/pair2.metrics.json";
      else echo "$tmp/$label.metrics.json"; fi))
  echo "train $label $loop $(echo "$t1 - $t0" | bc -l) $(tail -1 "$tmp/cpu") $comm" >>"$tmp/times"
}
export T=$tmp
caption() { # kind (caption: IMAGES, fixed: 2 images), label, launcher words...
  local kind=$1 label=$2; shift 2
  local dir=$tmp/imgs t0 t1
  [ "$kind" = fixed ] && dir=$tmp/two_imgs
  [ "$kind" = mixed ] && dir=$tmp/mixed_imgs
  t0=$(now)
  if [ "$label" = shards ]; then # 2 plain processes, --shard 1/2 and 2/2
    cpu "$tmp/cpu" bash -c '"$1" "$2" "$3" caption "$4" --threads 1 --shard 1/2 >"$5.1" &
      "$1" "$2" "$3" caption "$4" --threads 1 --shard 2/2 >"$5.2"; wait $!' _ \
      "${one[@]}" "$cli" "$dir" "$tmp/$kind.$label.txt"
    cat "$tmp/$kind.$label.txt.1" "$tmp/$kind.$label.txt.2" >"$tmp/$kind.$label.txt"
  else
    # (the upscaled scenes draw a warning per image: kept out of the report)
    cpu "$tmp/cpu" "$@" "$cli" caption "$dir" --threads 1 >"$tmp/$kind.$label.txt" \
      2>"$tmp/$kind.$label.err" || { cat "$tmp/$kind.$label.err" >&2; exit 1; }
  fi
  t1=$(now)
  echo "$kind $label $(echo "$t1 - $t0" | bc -l) $(tail -1 "$tmp/cpu")" >>"$tmp/times"
}
captions() { # one round of every captioning command, in the order given
  local kind=$1 label; shift
  for label in "$@"; do
    case $label in
      one) caption "$kind" one "${one[@]}" ;;
      np1) caption "$kind" np1 "${mpi1[@]}" ;;
      two) caption "$kind" two "${mpi[@]}" ;;
      static) caption "$kind" static env SACCADE_MPI_HANDOUT=static "${mpi[@]}" ;;
      bound) caption "$kind" bound "${bound[@]}" ;;
      shards) caption "$kind" shards ;;
    esac
  done
  for label in "$@"; do
    [ "$label" = one ] && continue
    cmp -s "$tmp/$kind.one.txt" "$tmp/$kind.$label.txt" ||
      { echo "captions differ: 1 process and $label" >&2; exit 1; }
  done
}
for r in $(seq "$rounds"); do
  echo "round $r: load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$tmp/loads"
  # alternate who goes first, so a load change hits every side alike
  if [ $((r % 2)) -eq 1 ]; then
    train one "${one[@]}"; train two "${mpi[@]}"; train bound "${bound[@]}"; train half "${one[@]}"
    train pair
    captions caption one np1 two static bound shards; captions fixed one np1 two shards
    captions mixed one two static
  else
    train pair; train half "${one[@]}"; train bound "${bound[@]}"; train two "${mpi[@]}"
    train one "${one[@]}"
    captions caption shards bound static two np1 one; captions fixed shards two np1 one
    captions mixed static two one
  fi
done
echo "uptime after:  $(uptime)"
python3 - "$tmp/times" "$steps" "$images" "$tmp/loads" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
steps, images = int(sys.argv[2]), int(sys.argv[3])
loads = [float(l.split()[3]) for l in open(sys.argv[4])]
def med(kind, label, col):
    return st.median(float(r[col]) for r in rows if r[0] == kind and r[1] == label)
def ok(x, target):
    return f"target {target}x: {'ok' if x >= target else 'MISSED'}"
t1, t2 = med("train", "one", 2), med("train", "two", 2)
w1, w2 = med("train", "one", 3), med("train", "two", 3)
k1, k2 = med("train", "one", 4), med("train", "two", 4)
ex = steps * 32
n = sum(1 for r in rows if r[0] == "train" and r[1] == "one")
print(f"medians of {n} interleaved rounds, 1 thread per process; 1-minute load at the rounds' "
      f"starts {min(loads):.1f}-{max(loads):.1f} on {__import__('os').cpu_count()} cores")
print(f"train captioner, {steps} steps of 32: 1 process {ex / t1:.1f} ex/s (loop {t1:.2f} s, "
      f"wall {w1:.2f} s); 2 ranks {ex / t2:.1f} ex/s (loop {t2:.2f} s, wall {w2:.2f} s)")
print(f"  throughput 2 ranks / 1 process: {t1 / t2:.2f}x ({ok(t1 / t2, 1.8)}); "
      f"whole command {w1 / w2:.2f}x")
print(f"  CPU s: 1 process {k1:.2f}, 2 ranks {k2:.2f} (all ranks): on 2 free cores {2 * k1 / k2:.2f}x")
tb, kb = med("train", "bound", 2), med("train", "bound", 4)
print(f"  2 ranks --bind-to core (Open MPI's default; above: --bind-to none): {ex / tb:.1f} ex/s, "
      f"{t1 / tb:.2f}x 1 process, CPU {kb:.2f} s")
c2 = med("train", "two", 5)
print(f"  rank 0 in the sums over the ranks (allreduce of {steps} steps, waits for rank 1 included): "
      f"{c2:.3f} s of the loop's {t2:.2f} s ({100 * c2 / t2:.1f}%)")
th, tp = med("train", "half", 2), med("train", "pair", 2)
kh, kp = med("train", "half", 4), med("train", "pair", 4)
print(f"  where 2 ranks' extra CPU goes ({k2 / k1:.2f}x 1 process's = the product of):")
print(f"    batch 16, 1 process, {2 * steps} steps: {kh:.2f} CPU s, {kh / k1:.2f}x (the halved "
      f"products; loop {ex / th:.1f} ex/s)")
print(f"    2 plain processes side by side, batch 16, {steps} steps each: {kp:.2f} CPU s, "
      f"{kp / kh:.2f}x that (two busy cores; {ex / tp:.1f} ex/s together)")
print(f"    the 2-rank job, the same work through MPI: {k2:.2f} CPU s, {k2 / kp:.2f}x that "
      f"(MPI start-up and finish, allreduce, waiting)")
c = {l: med("caption", l, 2) for l in ("one", "np1", "two", "static", "bound", "shards")}
d = {l: med("caption", l, 3) for l in ("one", "np1", "two", "static", "bound", "shards")}
print(f"caption {images} images, whole command (wall s / CPU s of every process):")
for l, name in (("one", "1 process"), ("np1", "mpirun -np 1"), ("two", "mpirun -np 2"),
                ("static", "mpirun -np 2, fixed halves"),
                ("bound", "mpirun -np 2 --bind-to core"),
                ("shards", "2 processes, --shard 1/2 and 2/2")):
    print(f"  {name:34s} {c[l]:7.2f} s ({images / c[l]:4.0f} img/s)  CPU {d[l]:6.2f} s")
print(f"  2 ranks / 1 process:      {c['one'] / c['two']:.2f}x ({ok(c['one'] / c['two'], 1.9)}); "
      f"CPU: on 2 free cores {2 * d['one'] / d['two']:.2f}x")
print(f"  2 ranks / mpirun -np 1:   {c['np1'] / c['two']:.2f}x (scaling of the MPI job; "
      f"CPU {2 * d['np1'] / d['two']:.2f}x)")
print(f"  2 plain shards / 1 process: {c['one'] / c['shards']:.2f}x (no MPI; "
      f"CPU {2 * d['one'] / d['shards']:.2f}x)")
print(f"  fixed halves (SACCADE_MPI_HANDOUT=static) / shared counter: {c['static'] / c['two']:.2f}x "
      f"wall, CPU {d['static'] / d['two']:.2f}x")
mw = {l: med("mixed", l, 2) for l in ("one", "two", "static")}
mc = {l: med("mixed", l, 3) for l in ("one", "two", "static")}
print(f"caption {images // 2} images of mixed cost (the first quarter 8x upscaled): 1 process "
      f"{mw['one']:.2f} s (CPU {mc['one']:.2f}); mpirun -np 2 shared counter {mw['two']:.2f} s "
      f"(CPU {mc['two']:.2f}), {mw['one'] / mw['two']:.2f}x; fixed halves {mw['static']:.2f} s "
      f"(CPU {mc['static']:.2f}), {mw['one'] / mw['static']:.2f}x")
f = {l: med("fixed", l, 2) for l in ("one", "np1", "two", "shards")}
g = {l: med("fixed", l, 3) for l in ("one", "np1", "two", "shards")}
print("fixed cost, caption 2 images (start-up, model loads, finish): "
      + ", ".join(f"{name} {f[l]:.2f} s (CPU {g[l]:.2f} s)" for l, name in
                  (("one", "1 process"), ("np1", "mpirun -np 1"), ("two", "mpirun -np 2"),
                   ("shards", "2 shards"))))
per = (c["one"] - f["one"]) / (images - 2)
best = f["two"] + per * images / 2
print(f"  with 2 ranks' fixed cost and perfect halving of the per-image time ({1000 * per:.2f} ms), "
      f"the best 2 ranks can do is {best:.2f} s: {c['one'] / best:.2f}x")
PY

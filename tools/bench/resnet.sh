#!/usr/bin/env bash
# ResNet-101 encoder forward at 1x3x256x256 on 2 threads: saccade vs PyTorch
# (torch 1.13, oneDNN; eval, no_grad, same weights), each in its own process:
# best and median of REPS forwards after 2 warm-ups, and max RSS (getrusage)
# per process, and the best process CPU time of one forward (cpu_ms). ROUNDS
# rounds, interleaved; the best-of-rounds is reported and ratios
# saccade/PyTorch printed (targets: time <= 0.8x, RSS <= 1x). saccade runs
# with the pthread OpenBLAS (default) with Winograd (default) and without
# (im2col), and with Debian's OpenMP build (SACCADE_OPENBLAS); either way the
# forward's threads are saccade's own pool (src/par.c), each running a
# single-threaded product (sc_gemm_packed) on its share of a conv. The two -1t
# rows run 1 thread: their CPU time hardly depends on other load on the
# machine, so cpu/pt of saccade-1t is the load-robust figure of the work.
# (Per conv shape: tools/bench/bench_wino.c.)
#   tools/bench/resnet.sh [ROUNDS=3] [REPS=10] [ARCH=resnet101]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}; reps=${2:-10}; arch=${3:-resnet101}
py=/usr/bin/python3
ompblas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0
build="$root/build/run"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_resnet >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
model="$work/$arch.safetensors"
"$py" "$root/tools/convert_torchvision.py" --arch "$arch" --random-seed 0 --perturb-bn -o "$model" >/dev/null
echo "load before: $(uptime)"
declare -A best_ms best_rss best_cpu
run() { # name, command...
  local name=$1; shift
  local line; line=$("$@")
  local ms rss cpu; ms=$(sed -n 's/.*best_ms \([0-9.]*\).*/\1/p' <<<"$line"); rss=$(sed -n 's/.*maxrss_kb \([0-9]*\).*/\1/p' <<<"$line")
  cpu=$(sed -n 's/.*cpu_ms \([0-9.]*\).*/\1/p' <<<"$line")
  echo "  $name: $line"
  if [ -z "${best_ms[$name]:-}" ] || awk -v a="$ms" -v b="${best_ms[$name]}" 'BEGIN{exit !(a<b)}'; then best_ms[$name]=$ms; fi
  if [ -z "${best_cpu[$name]:-}" ] || awk -v a="$cpu" -v b="${best_cpu[$name]}" 'BEGIN{exit !(a<b)}'; then best_cpu[$name]=$cpu; fi
  if [ -z "${best_rss[$name]:-}" ] || [ "$rss" -lt "${best_rss[$name]}" ]; then best_rss[$name]=$rss; fi
}
names=(pytorch saccade saccade-im2col saccade-openmp pytorch-1t saccade-1t)
for r in $(seq "$rounds"); do
  echo "round $r"
  run pytorch "$py" "$root/tools/bench/bench_resnet.py" "$model" 2 "$reps"
  run saccade "$build/bench_resnet" "$model" 2 "$reps" 1
  run saccade-im2col "$build/bench_resnet" "$model" 2 "$reps" 0
  run saccade-openmp env SACCADE_OPENBLAS="$ompblas" "$build/bench_resnet" "$model" 2 "$reps" 1
  run pytorch-1t "$py" "$root/tools/bench/bench_resnet.py" "$model" 1 "$reps"
  run saccade-1t "$build/bench_resnet" "$model" 1 "$reps" 1
done
echo "load after: $(uptime)"
printf '\n%-16s %10s %10s %12s %10s %10s %10s\n' "best of $rounds" best_ms cpu_ms maxrss_MB time/pt cpu/pt rss/pt
for n in "${names[@]}"; do
  ref=pytorch; [[ $n == *-1t ]] && ref=pytorch-1t
  awk -v n="$n" -v t="${best_ms[$n]}" -v c="${best_cpu[$n]}" -v r="${best_rss[$n]}" -v pt="${best_ms[$ref]}" \
    -v pc="${best_cpu[$ref]}" -v pr="${best_rss[$ref]}" \
    'BEGIN{printf "%-16s %10.1f %10.1f %12.1f %10.2f %10.2f %10.2f\n", n, t, c, r/1024, t/pt, c/pc, r/pr}'
done

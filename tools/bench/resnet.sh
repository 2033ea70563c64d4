#!/usr/bin/env bash
# ResNet-101 encoder forward (conv1 .. layer4) at 1x3x256x256: saccade vs
# PyTorch (torch 1.13, oneDNN; eval, no_grad) vs ONNX Runtime (npm's
# onnxruntime-node, its bundled CPU library, on the same weights exported by
# torch.onnx.export), each in its own process: median of REPS forwards after 2
# warm-ups, the best process CPU time of one forward (cpu_ms) and max RSS per
# process. ROUNDS rounds, engines interleaved within each round; the table
# gives the median over rounds of the per-process medians (and the range of
# those medians), ratios against PyTorch and ONNX Runtime (< 1: saccade
# faster; target: saccade ahead of both at 1 and 2 threads).
# saccade runs with the pthread OpenBLAS (default) with Winograd (default) and
# without (im2col), and with Debian's OpenMP build (SACCADE_OPENBLAS); either
# way the forward's threads are saccade's own pool (src/par.c), each running a
# single-threaded product (sc_gemm_packed) on its share of a conv. The -1t rows
# run 1 thread: their CPU time hardly depends on other load on the machine, so
# cpu/pt and cpu/ort of saccade-1t are the load-robust figures of the work.
# ONNX Runtime is installed on first use with
#   npm install --ignore-scripts onnxruntime-node@$ORT_VERSION (default 1.30.0)
# into build/bench-ort (not part of the project). saccade's and ONNX Runtime's
# outputs on the same input are compared by checksum.
# (Per conv shape: tools/bench/bench_wino.c.)
#   tools/bench/resnet.sh [ROUNDS=5] [REPS=10] [ARCH=resnet101]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
rounds=${1:-5}; reps=${2:-10}; arch=${3:-resnet101}
py=/usr/bin/python3
ompblas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0
build="$root/build/run"
ortdir="$root/build/bench-ort" ort_version=${ORT_VERSION:-1.30.0}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_resnet >/dev/null
if [ "$(node -p "try { require('$ortdir/node_modules/onnxruntime-node/package.json').version } catch (e) { '' }")" != "$ort_version" ]; then
  mkdir -p "$ortdir"
  npm install --prefix "$ortdir" --ignore-scripts --no-audit --no-fund "onnxruntime-node@$ort_version" >/dev/null
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
model="$work/$arch.safetensors"
"$py" "$root/tools/convert_torchvision.py" --arch "$arch" --random-seed 0 --perturb-bn -o "$model" >/dev/null
"$py" "$root/tools/bench/bench_resnet.py" export "$model" "$work/$arch.onnx" 2>/dev/null
ort() { NODE_PATH="$ortdir/node_modules" node "$root/tools/bench/bench_resnet_ort.js" "$@"; }
echo "load before: $(uptime)"
declare -A med cpu rss sum
run() { # name, command...
  local name=$1; shift
  local line; line=$("$@")
  echo "  $name: $line"
  med[$name]+=" $(sed -n 's/.*median_ms \([0-9.]*\).*/\1/p' <<<"$line")"
  cpu[$name]+=" $(sed -n 's/.*cpu_ms \([0-9.]*\).*/\1/p' <<<"$line")"
  rss[$name]+=" $(sed -n 's/.*maxrss_kb \([0-9]*\).*/\1/p' <<<"$line")"
  sum[$name]=$(sed -n 's/.*checksum \([-0-9.e+]*\).*/\1/p' <<<"$line")
}
names=(pytorch onnxruntime saccade saccade-im2col saccade-openmp pytorch-1t onnxruntime-1t saccade-1t)
for r in $(seq "$rounds"); do
  echo "round $r"
  run pytorch "$py" "$root/tools/bench/bench_resnet.py" "$model" 2 "$reps"
  run onnxruntime ort "$work/$arch.onnx" 2 "$reps"
  run saccade "$build/bench_resnet" "$model" 2 "$reps" 1
  run saccade-im2col "$build/bench_resnet" "$model" 2 "$reps" 0
  run saccade-openmp env SACCADE_OPENBLAS="$ompblas" "$build/bench_resnet" "$model" 2 "$reps" 1
  run pytorch-1t "$py" "$root/tools/bench/bench_resnet.py" "$model" 1 "$reps"
  run onnxruntime-1t ort "$work/$arch.onnx" 1 "$reps"
  run saccade-1t "$build/bench_resnet" "$model" 1 "$reps" 1
done
echo "load after: $(uptime)"
declare -A m c
for n in "${names[@]}"; do m[$n]=$(median "${med[$n]}"); c[$n]=$(median "${cpu[$n]}"); done
printf '\n%-16s %10s %10s %10s %10s %8s %8s %8s %8s\n' "median of $rounds" ms range cpu_ms maxrss_MB \
  time/pt time/ort cpu/pt cpu/ort
for n in "${names[@]}"; do
  s=""; [[ $n == *-1t ]] && s=-1t
  awk -v n="$n" -v t="${m[$n]}" -v rg="$(range "${med[$n]}")" -v cp="${c[$n]}" -v r="$(median "${rss[$n]}")" \
    -v pt="${m[pytorch$s]}" -v ot="${m[onnxruntime$s]}" -v pc="${c[pytorch$s]}" -v oc="${c[onnxruntime$s]}" \
    'BEGIN{printf "%-16s %10.1f %10s %10.1f %10.1f %8.2f %8.2f %8.2f %8.2f\n", n, t, rg, cp, r/1024, t/pt, t/ot, cp/pc, cp/oc}'
done
for s in "" -1t; do
  awk -v s="${s:-  }" -v t="${m[saccade$s]}" -v pt="${m[pytorch$s]}" -v ot="${m[onnxruntime$s]}" \
    'BEGIN{ok = t < pt && t < ot; printf "saccade%s median %.1f ms: %.2fx PyTorch, %.2fx ONNX Runtime (target < 1 both): %s\n",
      s, t, t/pt, t/ot, ok ? "ok" : "BEHIND"}'
done
awk -v a="${sum[saccade]}" -v b="${sum[onnxruntime]}" \
  'BEGIN{d = a - b; if (d < 0) d = -d; printf "output checksum saccade %s, ONNX Runtime %s: %s\n", a, b,
    d <= 1e-3 * (a < 0 ? -a : a) ? "same" : "DIFFER"}'

#!/usr/bin/env bash
# BLIP captioning at BLIP-base's real sizes (ViT-B/16 at 384x384, 12-layer
# BERT decoder, 30524 words; random weights written by
# tools/ref/make_blip_folder.py --size base, F32 model.safetensors), one
# 640x480 photo (assets/samples/coffee.jpg resized by PIL, saved as PNG so
# that both engines decode the same pixels: JPEG decoders differ), THREADS
# threads (default 2), each engine in its own process:
#   caption  image read to text, greedy and beam 3 (max_length 20 as the
#            config gives): saccade (bench_blip caption: sc_blip_load, then
#            sc_image_load + sc_blip_preprocess + sc_blip_generate +
#            sc_blip_decode) against the PyTorch twin tools/ref/ref_blip.py
#            (bench_blip.py caption: PIL, the twin's vision model, generate
#            with the key/value cache, decode; torch.set_num_threads);
#            median ms of REPS captions, the split (ViT encoder / decoding),
#            model load ms, max RSS of the process (peak memory).
#   vit      the vision model alone on a fixed (1, 3, 384, 384) input:
#            saccade (bench_blip vit) against ONNX Runtime (npm's
#            onnxruntime-node running the twin's vision model exported by
#            torch.onnx.export, bench_resnet_ort.js; outputs compared by
#            checksum); median of REPS_VIT forwards after a warm-up.
# ROUNDS rounds with the engines interleaved; the table gives the median over
# rounds of the per-process medians (and their range), the ViT's GFLOP/s
# against the machine's sgemm GFLOP/s (`saccade info --system`, 1024^3, same
# threads) and the targets with ok / MISSED: caption time <= 0.6x the twin's
# (greedy and beam 3), peak memory <= 0.5x, load < 100 ms, ViT <= 0.9x ONNX
# Runtime's. saccade and the twin must give the same caption.
# ONNX Runtime is installed on first use into build/bench-ort as resnet.sh
# does (ORT_VERSION, default 1.30.0). SACCADE_BENCH_DIR=DIR keeps the
# generated folder, photo and ONNX file there between runs.
#   tools/bench/blip.sh [ROUNDS=3] [REPS=1] [REPS_VIT=3] [THREADS=2]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
. "$root/tools/bench/rounds.sh"
rounds=${1:-3}; reps=${2:-1}; reps_vit=${3:-3}; threads=${4:-2}
ortdir="$root/build/bench-ort" ort_version=${ORT_VERSION:-1.30.0}
bench_setup bench_blip saccade_cli
if [ "$(node -p "try { require('$ortdir/node_modules/onnxruntime-node/package.json').version } catch (e) { '' }")" != "$ort_version" ]; then
  mkdir -p "$ortdir"
  npm install --prefix "$ortdir" --ignore-scripts --no-audit --no-fund "onnxruntime-node@$ort_version" >/dev/null
fi
model="$work/blip-base"
[ -f "$model/model.safetensors" ] || "$py" "$root/tools/ref/make_blip_folder.py" "$model" --size base >/dev/null
[ -f "$work/vit.onnx" ] || "$py" "$root/tools/bench/bench_blip.py" export "$model" "$work/vit.onnx" >/dev/null 2>&1
ort() { NODE_PATH="$ortdir/node_modules" node "$root/tools/bench/bench_resnet_ort.js" "$@"; }
field() { sed -n "s/.*\"$1\": *\"\{0,1\}\([^\",}]*\).*/\1/p"; }
sgemm=$(env -u OPENBLAS_CORETYPE "$build/saccade" info --system --json --threads "$threads" | field sgemm_gflops)
echo "load before: $(uptime)"
echo "sgemm (1024^3, $threads threads): $sgemm GFLOP/s"
bench_fields median_ms vit_ms decode_ms load_ms maxrss_kb cpu_ms checksum vit_gflop
names=(pytorch-greedy saccade-greedy pytorch-beam3 saccade-beam3 onnxruntime-vit saccade-vit)
for r in $(seq "$rounds"); do
  echo "round $r (load $(loadavg))"
  bench_run pytorch-greedy "$py" "$root/tools/bench/bench_blip.py" caption "$model" "$img" "$threads" "$reps" 1
  bench_run saccade-greedy "$build/bench_blip" caption "$model" "$img" "$threads" "$reps" 1
  bench_run pytorch-beam3 "$py" "$root/tools/bench/bench_blip.py" caption "$model" "$img" "$threads" "$reps" 3
  bench_run saccade-beam3 "$build/bench_blip" caption "$model" "$img" "$threads" "$reps" 3
  bench_run onnxruntime-vit ort "$work/vit.onnx" "$threads" "$reps_vit" 384 384
  bench_run saccade-vit "$build/bench_blip" vit "$model" "$threads" "$reps_vit"
done
echo "load after: $(uptime)"
vg=$(bench_last vit_gflop saccade-vit)
declare -A m
med_or_dash() { if [ -n "${1// /}" ]; then median "$1"; else echo -; fi; }
for n in "${names[@]}"; do m[$n]=$(median "${median_ms[$n]}"); done
printf '\n%-16s %9s %12s %9s %9s %9s %9s %10s\n' "median of $rounds" ms range cpu_ms vit_ms decode_ms load_ms maxrss_MB
for n in "${names[@]}"; do
  awk -v n="$n" -v t="${m[$n]}" -v rg="$(range "${median_ms[$n]}")" -v v="$(med_or_dash "${vit_ms[$n]}")" \
    -v d="$(med_or_dash "${decode_ms[$n]}")" -v l="$(med_or_dash "${load_ms[$n]}")" -v r="$(median "${maxrss_kb[$n]}")" \
    -v c="$(median "${cpu_ms[$n]}")" 'BEGIN{printf "%-16s %9.1f %12s %9s %9s %9s %9s %10.1f\n", n, t, rg, c, v, d, l, r/1024}'
done
for b in greedy beam3; do bench_same "$b caption" "saccade-$b" "pytorch-$b"; done
echo
for b in greedy beam3; do
  bench_ratio "$(printf '%-6s caption' "$b")" "saccade-$b" "pytorch-$b" \
    "$(awk -v l="$(median "${load_ms[saccade-$b]}")" 'BEGIN{printf "; load %.1f ms (target < 100): %s", l, l < 100 ? "ok" : "MISSED"}')"
done
awk -v s="${m[saccade-vit]}" -v o="${m[onnxruntime-vit]}" -v g="$vg" -v sg="$sgemm" \
  -v vs="$(median "${vit_ms[saccade-greedy]}")" -v vp="$(median "${vit_ms[pytorch-greedy]}")" \
  -v cs="$(median "${cpu_ms[saccade-vit]}")" -v co="$(median "${cpu_ms[onnxruntime-vit]}")" \
  'BEGIN{printf "ViT encoder %.1f ms, %.2fx ONNX Runtime (target <= 0.9): %s (best CPU time %.2fx)\n", s, s/o, s/o <= 0.9 ? "ok" : "MISSED", cs/co;
    printf "ViT %.1f GFLOP: saccade %.1f GFLOP/s alone (%.1f in the caption run), ONNX Runtime %.1f, twin %.1f; sgemm %s GFLOP/s (saccade alone at %.0f%% of it)\n",
      g, g/(s/1e3), g/(vs/1e3), g/(o/1e3), g/(vp/1e3), sg, 100*g/(s/1e3)/sg}'
awk -v a="$(bench_last checksum saccade-vit)" -v b="$(bench_last checksum onnxruntime-vit)" \
  'BEGIN{d = a - b; if (d < 0) d = -d; s = a < 0 ? -a : a; printf "ViT output checksum saccade %s, ONNX Runtime %s: %s\n", a, b,
    d <= 1e-3 * (s > 1 ? s : 1) ? "same" : "DIFFER"}'

#!/usr/bin/env bash
# ViT-GPT2 captioning at nlpconnect/vit-gpt2-image-captioning's real sizes
# (ViT-B/16 at 224x224, GPT-2 small with cross-attention, 50257 tokens; random
# weights written by tools/ref/make_vit_gpt2_folder.py --size base, F32
# model.safetensors), one 640x480 photo (assets/samples/coffee.jpg resized by
# PIL, saved as PNG so that both engines decode the same pixels), THREADS
# threads (default 2), each engine in its own process: image read to text,
# the folder's own settings (greedy, max_length 20) and beam 3:
#   saccade   bench_vit_gpt2 (sc_vit_gpt2_load, then sc_image_load +
#             sc_vit_gpt2_caption_image)
#   pytorch   the twin tools/ref/ref_vit_gpt2.py (bench_vit_gpt2.py: PIL,
#             ViTImageProcessor's steps, the ViT, generate with the key/value
#             cache, decode; torch.set_num_threads, no_grad)
# median ms of REPS captions, the split (ViT / decoding), model load ms, max
# RSS of the process (peak memory). ROUNDS rounds with the engines
# interleaved; the table gives the median over rounds of the per-process
# medians and the targets: caption time <= 0.6x the twin's, peak memory <=
# 0.5x. Both must give the same caption. SACCADE_BENCH_DIR=DIR keeps the
# generated folder and photo there between runs.
#   tools/bench/vit_gpt2.sh [ROUNDS=3] [REPS=1] [THREADS=2]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
rounds=${1:-3}; reps=${2:-1}; threads=${3:-2}
py=/usr/bin/python3
build="$root/build/run"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_vit_gpt2 >/dev/null
work=${SACCADE_BENCH_DIR:-$(mktemp -d)}
[ -n "${SACCADE_BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
model="$work/vit-gpt2-base"
[ -f "$model/model.safetensors" ] || "$py" "$root/tools/ref/make_vit_gpt2_folder.py" "$model" --size base >/dev/null
[ -f "$work/photo.png" ] || "$py" -c "
from PIL import Image
Image.open('$root/assets/samples/coffee.jpg').convert('RGB').resize((640, 480), Image.BICUBIC).save('$work/photo.png')"
img="$work/photo.png"
echo "load before: $(uptime)"
declare -A ms vit dec ld rss cpu caps
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
num() { sed -n "s/.* $1 \([-0-9.e+]*\).*/\1/p" <<<"$2"; }
run() { # name, command...
  local name=$1; shift
  local line; line=$("$@")
  echo "  $name: ${line:0:200} [load $(loadavg)]"
  ms[$name]+=" $(num median_ms "$line")"
  vit[$name]+=" $(num vit_ms "$line")"
  dec[$name]+=" $(num decode_ms "$line")"
  ld[$name]+=" $(num load_ms "$line")"
  rss[$name]+=" $(num maxrss_kb "$line")"
  cpu[$name]+=" $(num cpu_ms "$line")"
  caps[$name]=$(sed -n 's/.* caption //p' <<<"$line")
}
names=(pytorch-greedy saccade-greedy pytorch-beam3 saccade-beam3)
for r in $(seq "$rounds"); do
  echo "round $r (load $(loadavg))"
  run pytorch-greedy "$py" "$root/tools/bench/bench_vit_gpt2.py" "$model" "$img" "$threads" "$reps" 0
  run saccade-greedy "$build/bench_vit_gpt2" "$model" "$img" "$threads" "$reps" 0
  run pytorch-beam3 "$py" "$root/tools/bench/bench_vit_gpt2.py" "$model" "$img" "$threads" "$reps" 3
  run saccade-beam3 "$build/bench_vit_gpt2" "$model" "$img" "$threads" "$reps" 3
done
echo "load after: $(uptime)"
printf '\n%-16s %9s %12s %9s %9s %9s %9s %10s\n' "median of $rounds" ms range cpu_ms vit_ms decode_ms load_ms maxrss_MB
for n in "${names[@]}"; do
  awk -v n="$n" -v t="$(median "${ms[$n]}")" -v rg="$(range "${ms[$n]}")" -v v="$(median "${vit[$n]}")" \
    -v d="$(median "${dec[$n]}")" -v l="$(median "${ld[$n]}")" -v r="$(median "${rss[$n]}")" \
    -v c="$(median "${cpu[$n]}")" 'BEGIN{printf "%-16s %9.1f %12s %9.1f %9.1f %9.1f %9.1f %10.1f\n", n, t, rg, c, v, d, l, r/1024}'
done
for b in greedy beam3; do
  [ "${caps[saccade-$b]}" = "${caps[pytorch-$b]}" ] && same=same || same=DIFFERENT
  echo "$b caption: saccade \"${caps[saccade-$b]}\", twin \"${caps[pytorch-$b]}\": $same"
done
echo
for b in greedy beam3; do
  awk -v b="$b" -v t="$(median "${ms[saccade-$b]}")" -v p="$(median "${ms[pytorch-$b]}")" \
    -v rs="$(median "${rss[saccade-$b]}")" -v rp="$(median "${rss[pytorch-$b]}")" \
    -v cs="$(median "${cpu[saccade-$b]}")" -v cp="$(median "${cpu[pytorch-$b]}")" \
    'BEGIN{printf "%-6s caption time %.2fx the twin (target <= 0.6): %s (CPU time %.2fx); peak memory %.2fx (target <= 0.5): %s\n",
      b, t/p, t/p <= 0.6 ? "ok" : "MISSED", cs/cp, rs/rp, rs/rp <= 0.5 ? "ok" : "MISSED"}'
done

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
. "$root/tools/bench/rounds.sh"
rounds=${1:-3}; reps=${2:-1}; threads=${3:-2}
bench_setup bench_vit_gpt2
model="$work/vit-gpt2-base"
[ -f "$model/model.safetensors" ] || "$py" "$root/tools/ref/make_vit_gpt2_folder.py" "$model" --size base >/dev/null
echo "load before: $(uptime)"
bench_fields median_ms vit_ms decode_ms load_ms maxrss_kb cpu_ms
names=(pytorch-greedy saccade-greedy pytorch-beam3 saccade-beam3)
for r in $(seq "$rounds"); do
  echo "round $r (load $(loadavg))"
  bench_run pytorch-greedy "$py" "$root/tools/bench/bench_vit_gpt2.py" "$model" "$img" "$threads" "$reps" 0
  bench_run saccade-greedy "$build/bench_vit_gpt2" "$model" "$img" "$threads" "$reps" 0
  bench_run pytorch-beam3 "$py" "$root/tools/bench/bench_vit_gpt2.py" "$model" "$img" "$threads" "$reps" 3
  bench_run saccade-beam3 "$build/bench_vit_gpt2" "$model" "$img" "$threads" "$reps" 3
done
echo "load after: $(uptime)"
printf '\n%-16s %9s %12s %9s %9s %9s %9s %10s\n' "median of $rounds" ms range cpu_ms vit_ms decode_ms load_ms maxrss_MB
for n in "${names[@]}"; do
  awk -v n="$n" -v t="$(median "${median_ms[$n]}")" -v rg="$(range "${median_ms[$n]}")" \
    -v v="$(median "${vit_ms[$n]}")" -v d="$(median "${decode_ms[$n]}")" -v l="$(median "${load_ms[$n]}")" \
    -v r="$(median "${maxrss_kb[$n]}")" -v c="$(median "${cpu_ms[$n]}")" \
    'BEGIN{printf "%-16s %9.1f %12s %9.1f %9.1f %9.1f %9.1f %10.1f\n", n, t, rg, c, v, d, l, r/1024}'
done
for b in greedy beam3; do bench_same "$b caption" "saccade-$b" "pytorch-$b"; done
echo
for b in greedy beam3; do bench_ratio "$(printf '%-6s caption' "$b")" "saccade-$b" "pytorch-$b"; done

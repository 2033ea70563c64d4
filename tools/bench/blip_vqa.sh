#!/usr/bin/env bash
# BLIP VQA at BLIP-vqa-base's real sizes (ViT-B/16 at 384x384, 12-layer BERT
# question encoder and 12-layer answer decoder, 30524 words; random weights
# written by tools/ref/make_blip_task_folder.py --task vqa --size base, F32),
# one 640x480 photo (assets/samples/coffee.jpg resized by PIL, saved as PNG so
# that both engines decode the same pixels) and 5 questions, the image encoded
# once, THREADS threads (default 2), each engine in its own process: saccade
# (bench_blip vqa: sc_blip_vqa_load, then sc_image_load + sc_blip_vqa_set_image
# and sc_blip_vqa_answer per question) against the PyTorch twin
# tools/ref/ref_blip_vqa.py (bench_blip.py vqa: PIL, the vision model once,
# then per question the text encoder and generate with the key/value cache,
# decode). ROUNDS rounds with the engines interleaved; the table gives the
# median over rounds of the per-process medians of REPS repetitions, and the
# targets: time <= 0.6x the twin's, peak memory (max RSS) <= 0.5x. Both must
# give the same answers. SACCADE_BENCH_DIR=DIR keeps the folder and photo.
#   tools/bench/blip_vqa.sh [ROUNDS=3] [REPS=1] [THREADS=2]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
. "$root/tools/bench/rounds.sh"
rounds=${1:-3}; reps=${2:-1}; threads=${3:-2}
bench_setup bench_blip
model="$work/blip-vqa-base"
[ -f "$model/config.json" ] && grep -q BlipForQuestionAnswering "$model/config.json" ||
  "$py" "$root/tools/ref/make_blip_task_folder.py" "$model" --task vqa --size base >/dev/null
qs=("what is on the table?" "what colour is the cup?" "how many cups are there?"
    "is there a person in the picture?" "where was this photo taken?")
echo "load before: $(uptime)"
bench_fields median_ms image_ms cpu_ms load_ms maxrss_kb
names=(pytorch saccade)
for r in $(seq "$rounds"); do
  echo "round $r (load $(loadavg))"
  bench_run pytorch "$py" "$root/tools/bench/bench_blip.py" vqa "$model" "$img" "$threads" "$reps" "${qs[@]}"
  bench_run saccade "$build/bench_blip" vqa "$model" "$img" "$threads" "$reps" "${qs[@]}"
done
echo "load after: $(uptime)"
printf '\n%-10s %9s %14s %9s %9s %9s %10s\n' "median of $rounds" ms range image_ms cpu_ms load_ms maxrss_MB
for n in "${names[@]}"; do
  awk -v n="$n" -v t="$(median "${median_ms[$n]}")" -v rg="$(range "${median_ms[$n]}")" \
    -v i="$(median "${image_ms[$n]}")" -v c="$(median "${cpu_ms[$n]}")" -v l="$(median "${load_ms[$n]}")" \
    -v r="$(median "${maxrss_kb[$n]}")" \
    'BEGIN{printf "%-10s %9.1f %14s %9.1f %9.1f %9.1f %10.1f\n", n, t, rg, i, c, l, r/1024}'
done
bench_same answers saccade pytorch
bench_ratio "1 photo + 5 questions:" saccade pytorch

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
rounds=${1:-3}; reps=${2:-1}; threads=${3:-2}
py=/usr/bin/python3
build="$root/build/run"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_blip >/dev/null
work=${SACCADE_BENCH_DIR:-$(mktemp -d)}
[ -n "${SACCADE_BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
model="$work/blip-vqa-base"
[ -f "$model/config.json" ] && grep -q BlipForQuestionAnswering "$model/config.json" ||
  "$py" "$root/tools/ref/make_blip_task_folder.py" "$model" --task vqa --size base >/dev/null
[ -f "$work/photo.png" ] || "$py" -c "
from PIL import Image
Image.open('$root/assets/samples/coffee.jpg').convert('RGB').resize((640, 480), Image.BICUBIC).save('$work/photo.png')"
img="$work/photo.png"
qs=("what is on the table?" "what colour is the cup?" "how many cups are there?"
    "is there a person in the picture?" "where was this photo taken?")
echo "load before: $(uptime)"
declare -A ms im rss cpu ld ans
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
num() { sed -n "s/.* $1 \([-0-9.e+]*\).*/\1/p" <<<"$2"; }
run() { # name, command...
  local name=$1; shift
  local line; line=$("$@")
  echo "  $name: ${line:0:200} [load $(loadavg)]"
  ms[$name]+=" $(num median_ms "$line")"
  im[$name]+=" $(num image_ms "$line")"
  cpu[$name]+=" $(num cpu_ms "$line")"
  ld[$name]+=" $(num load_ms "$line")"
  rss[$name]+=" $(num maxrss_kb "$line")"
  ans[$name]=$(sed -n 's/.* answers //p' <<<"$line")
}
names=(pytorch saccade)
for r in $(seq "$rounds"); do
  echo "round $r (load $(loadavg))"
  run pytorch "$py" "$root/tools/bench/bench_blip.py" vqa "$model" "$img" "$threads" "$reps" "${qs[@]}"
  run saccade "$build/bench_blip" vqa "$model" "$img" "$threads" "$reps" "${qs[@]}"
done
echo "load after: $(uptime)"
printf '\n%-10s %9s %14s %9s %9s %9s %10s\n' "median of $rounds" ms range image_ms cpu_ms load_ms maxrss_MB
for n in "${names[@]}"; do
  awk -v n="$n" -v t="$(median "${ms[$n]}")" -v rg="$(range "${ms[$n]}")" -v i="$(median "${im[$n]}")" \
    -v c="$(median "${cpu[$n]}")" -v l="$(median "${ld[$n]}")" -v r="$(median "${rss[$n]}")" \
    'BEGIN{printf "%-10s %9.1f %14s %9.1f %9.1f %9.1f %10.1f\n", n, t, rg, i, c, l, r/1024}'
done
[ "${ans[saccade]}" = "${ans[pytorch]}" ] && same=same || same=DIFFERENT
echo "answers: saccade \"${ans[saccade]}\", twin \"${ans[pytorch]}\": $same"
awk -v t="$(median "${ms[saccade]}")" -v p="$(median "${ms[pytorch]}")" \
  -v rs="$(median "${rss[saccade]}")" -v rp="$(median "${rss[pytorch]}")" \
  -v cs="$(median "${cpu[saccade]}")" -v cp="$(median "${cpu[pytorch]}")" \
  'BEGIN{printf "1 photo + 5 questions: time %.2fx the twin (target <= 0.6): %s (CPU time %.2fx); peak memory %.2fx (target <= 0.5): %s\n",
    t/p, t/p <= 0.6 ? "ok" : "MISSED", cs/cp, rs/rp, rs/rp <= 0.5 ? "ok" : "MISSED"}'

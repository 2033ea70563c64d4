#!/usr/bin/env bash
# End-to-end captioning, the tutorial's full-size architecture (ResNet-101
# encoder, 14x14 grid, attention/embed/decoder 512, 9490 words, random
# weights; tools/bench/bench_caption.py make), one 256x256 image, beam 5,
# 2 threads: saccade (bench_caption: sc_captioner_load, then image read +
# preprocess + encode + beam search per repetition) against PyTorch 1.13
# running the tutorial's caption.py flow (torch.load of the checkpoint, then
# caption_image_beam_search, torch.set_num_threads(2)), each in its own
# process: best/median ms of REPS captions, model load ms, max RSS. Also the
# wall time of one `saccade caption` process (load + 1 image). saccade-bn:
# the file with BatchNorms (folded into a copy at load) instead of pre-folded. ROUNDS rounds,
# interleaved; best-of-rounds and ratios printed (targets: time <= 0.7x,
# RSS <= 0.5x, load < 50 ms). Both must produce the same caption.
#   tools/bench/caption.sh [ROUNDS=3] [REPS=3]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-3}; reps=${2:-3}
py=/usr/bin/python3
build="$root/build/run"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_caption saccade_cli >/dev/null
work=${SACCADE_BENCH_DIR:-$(mktemp -d)}
[ -n "${SACCADE_BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
[ -f "$work/model.safetensors" ] || "$py" "$root/tools/bench/bench_caption.py" make "$work"
"$py" -c "
import numpy as np; from PIL import Image
Image.open('$root/assets/samples/chelsea.jpg').convert('RGB').resize((256, 256), Image.BICUBIC).save('$work/img.png')"
img="$work/img.png"
echo "load before: $(uptime)"
declare -A best_ms best_rss best_load caps
run() { # name, command...
  local name=$1; shift
  local line; line=$("$@")
  echo "  $name: ${line:0:160}"
  local ms rss ld; ms=$(sed -n 's/.*best_ms \([0-9.]*\).*/\1/p' <<<"$line")
  rss=$(sed -n 's/.*maxrss_kb \([0-9]*\).*/\1/p' <<<"$line"); ld=$(sed -n 's/.*load_ms \([0-9.]*\).*/\1/p' <<<"$line")
  caps[$name]=$(sed -n 's/.*caption //p' <<<"$line")
  if [ -z "${best_ms[$name]:-}" ] || awk -v a="$ms" -v b="${best_ms[$name]}" 'BEGIN{exit !(a<b)}'; then best_ms[$name]=$ms; fi
  if [ -z "${best_load[$name]:-}" ] || awk -v a="$ld" -v b="${best_load[$name]}" 'BEGIN{exit !(a<b)}'; then best_load[$name]=$ld; fi
  if [ -z "${best_rss[$name]:-}" ] || [ "$rss" -lt "${best_rss[$name]}" ]; then best_rss[$name]=$rss; fi
}
cli_once() { # wall time + max RSS of one CLI process (load + 1 caption)
  local t0 t1; t0=$(date +%s%N)
  local out; out=$(/usr/bin/time -f "%M" "$build/saccade" caption --model "$work/model.safetensors" \
    --threads 2 "$img" 2>"$work/time.txt")
  t1=$(date +%s%N)
  echo "best_ms $(( (t1 - t0) / 1000000 )) median_ms 0 load_ms 0 maxrss_kb $(tail -1 "$work/time.txt") caption ${out#*	}"
}
for r in $(seq "$rounds"); do
  echo "round $r"
  run pytorch "$py" "$root/tools/bench/bench_caption.py" run "$work" "$img" 2 "$reps"
  run saccade "$build/bench_caption" "$work/model.safetensors" "$img" 2 "$reps"
  run saccade-bn "$build/bench_caption" "$work/model-bn.safetensors" "$img" 2 "$reps"
  run saccade-cli cli_once
done
echo "load after: $(uptime)"
[ "${caps[pytorch]}" = "${caps[saccade]}" ] && [ "${caps[saccade]}" = "${caps[saccade-cli]}" ] \
  && echo "captions: identical (${caps[saccade]})" || echo "captions DIFFER: ${caps[pytorch]} | ${caps[saccade]} | ${caps[saccade-cli]}"
printf '\n%-14s %10s %10s %12s %8s %8s\n' "best of $rounds" caption_ms load_ms maxrss_MB time/pt rss/pt
for n in pytorch saccade saccade-bn saccade-cli; do
  awk -v n="$n" -v t="${best_ms[$n]}" -v l="${best_load[$n]}" -v r="${best_rss[$n]}" \
      -v pt="${best_ms[pytorch]}" -v pr="${best_rss[pytorch]}" \
    'BEGIN{printf "%-14s %10.1f %10.1f %12.1f %8.2f %8.2f\n", n, t, l, r/1024, t/pt, r/pr}'
done
echo "(saccade: BN pre-folded file, zero-copy load; saccade-bn: BatchNorms in the file, folded"
echo " into a copy at load; saccade-cli: wall time of a whole 'saccade caption' process)"

#!/usr/bin/env bash
# End-to-end captioning, the tutorial's full-size architecture (ResNet-101
# encoder, 14x14 grid, attention/embed/decoder 512, 9490 words, random
# weights; tools/bench/bench_caption.py make), one 256x256 image, beam 5,
# 2 threads: saccade (bench_caption: sc_captioner_load, then image read +
# preprocess + encode + beam search per repetition) against PyTorch 1.13
# running the tutorial's caption.py flow (torch.load of the checkpoint, then
# caption_image_beam_search, torch.set_num_threads(2)), each in its own
# process: median ms of REPS captions, model load ms, max RSS (peak memory).
# Also the wall time of one `saccade caption` process (load + 1 image).
# saccade-bn: the file with BatchNorms (folded into a copy at load) instead
# of pre-folded. ROUNDS rounds, interleaved; the table gives medians over the
# rounds and ratios to PyTorch, then each target with ok / MISSED: caption
# time <= 0.7x, peak memory <= 0.5x, load < 50 ms. All must produce the same
# caption. SACCADE_BENCH_DIR=DIR keeps the generated model there between runs.
#   tools/bench/caption.sh [ROUNDS=3] [REPS=3]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
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
declare -A ms rss ld caps
run() { # name, command...
  local name=$1; shift
  local line; line=$("$@")
  echo "  $name: ${line:0:160}"
  ms[$name]+=" $(sed -n 's/.*median_ms \([0-9.]*\).*/\1/p' <<<"$line")"
  rss[$name]+=" $(sed -n 's/.*maxrss_kb \([0-9]*\).*/\1/p' <<<"$line")"
  ld[$name]+=" $(sed -n 's/.*load_ms \([0-9.]*\).*/\1/p' <<<"$line")"
  caps[$name]=$(sed -n 's/.*caption //p' <<<"$line")
}
cli_once() { # wall time + max RSS of one CLI process (load + 1 caption)
  local t0 t1; t0=$(date +%s%N)
  local out; out=$(/usr/bin/time -f "%M" "$build/saccade" caption --model "$work/model.safetensors" \
    --threads 2 "$img" 2>"$work/time.txt")
  t1=$(date +%s%N)
  echo "median_ms $(( (t1 - t0) / 1000000 )) load_ms 0 maxrss_kb $(tail -1 "$work/time.txt") caption ${out#*	}"
}
names=(pytorch saccade saccade-bn saccade-cli)
for r in $(seq "$rounds"); do
  echo "round $r"
  run pytorch "$py" "$root/tools/bench/bench_caption.py" run "$work" "$img" 2 "$reps"
  run saccade "$build/bench_caption" "$work/model.safetensors" "$img" 2 "$reps"
  run saccade-bn "$build/bench_caption" "$work/model-bn.safetensors" "$img" 2 "$reps"
  run saccade-cli cli_once
done
echo "load after: $(uptime)"
declare -A m r l
for n in "${names[@]}"; do m[$n]=$(median "${ms[$n]}"); r[$n]=$(median "${rss[$n]}"); l[$n]=$(median "${ld[$n]}"); done
same=1
for n in "${names[@]}"; do [ "${caps[$n]}" = "${caps[pytorch]}" ] || same=0; done
[ $same = 1 ] && echo "captions: identical (${caps[saccade]})" \
  || echo "captions DIFFER: ${caps[pytorch]} | ${caps[saccade]} | ${caps[saccade-bn]} | ${caps[saccade-cli]}"
printf '\n%-14s %10s %12s %10s %10s %12s %8s %8s\n' "median of $rounds" caption_ms range load_ms \
  maxrss_MB range time/pt rss/pt
for n in "${names[@]}"; do
  awk -v n="$n" -v t="${m[$n]}" -v tr="$(range "${ms[$n]}")" -v ld="${l[$n]}" -v rs="${r[$n]}" \
      -v rr="$(range "${rss[$n]}")" -v pt="${m[pytorch]}" -v pr="${r[pytorch]}" \
    'BEGIN{printf "%-14s %10.1f %12s %10.1f %10.1f %12s %8.2f %8.2f\n", n, t, tr, ld, rs/1024, rr, t/pt, rs/pr}'
done
echo "(saccade: BN pre-folded file, zero-copy load; saccade-bn: BatchNorms in the file, folded"
echo " into a copy at load; saccade-cli: wall time of a whole 'saccade caption' process;"
echo " maxrss range in KiB)"
awk -v t="${m[saccade]}" -v pt="${m[pytorch]}" -v rs="${r[saccade]}" -v pr="${r[pytorch]}" -v ld="${l[saccade]}" '
  function verdict(ok) { return ok ? "ok" : "MISSED" }
  BEGIN {
    printf "time %.2fx torch (target <= 0.70x): %s\n", t / pt, verdict(t / pt <= 0.70)
    printf "peak %.2fx torch (target <= 0.50x): %s (%.0f MB against %.0f MB)\n", rs / pr,
      verdict(rs / pr <= 0.50), rs / 1024, pr / 1024
    printf "load %.1f ms (target < 50 ms): %s\n", ld, verdict(ld < 50)
  }'

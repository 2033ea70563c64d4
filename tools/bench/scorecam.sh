#!/usr/bin/env bash
# ScoreCAM's batched forwards, ResNet-50 at 224x224 (random weights, perturbed
# BatchNorm; tools/convert_torchvision.py, IMAGENET1K_V2 transforms), layer4,
# the top class of one photo, 2 threads: saccade (bench_scorecam:
# sc_cam_compute through sc_cam_net_from_model) vs PyTorch doing what
# pytorch-grad-cam 1.5.5's ScoreCAM does (bench_scorecam.py: hook, upsample,
# min-max, masked inputs in batches of 16 under no_grad, softmax). Both on the
# first CHANNELS channels of layer4 (default 64 of 2048: the work is linear in
# the channels, so the ratio is the whole layer's; per_channel_ms x 2048 is
# the whole layer's time). Median of REPS after 1 warm-up, ROUNDS rounds,
# engines interleaved; the table gives the median over rounds. Target:
# saccade <= 0.6x. Checksums: the maps' sums (equal maps give equal sums up to
# float rounding).
# Runs on each of THREADS (default "2 1"); besides wall time, the medians of
# process CPU time (less sensitive to other load) and `uptime`'s load after
# each run.
#   tools/bench/scorecam.sh [ROUNDS=3] [REPS=3] [CHANNELS=64] [THREADS="2 1"]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
rounds=${1:-3}; reps=${2:-3}; nch=${3:-64}; threads=${4:-2 1}
py=/usr/bin/python3
build="$root/build/run"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_scorecam >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
model="$work/resnet50.safetensors"
"$py" "$root/tools/convert_torchvision.py" --arch resnet50 --random-seed 0 --perturb-bn -o "$model" >/dev/null
"$py" -c "from skimage import data; from PIL import Image; Image.fromarray(data.chelsea()).save('$work/chelsea.png')"
echo "load before: $(uptime)"
declare -A med cpu sum
run() { # name, command...
  local name=$1; shift
  local line; line=$("$@")
  echo "  $name: $line ($(uptime | sed 's/.*load average: //'))"
  med[$name]+=" $(sed -n 's/.*median_ms \([0-9.]*\).*/\1/p' <<<"$line")"
  cpu[$name]+=" $(sed -n 's/.*cpu_ms \([0-9.]*\).*/\1/p' <<<"$line")"
  sum[$name]=$(sed -n 's/.*checksum \([-0-9.e+]*\).*/\1/p' <<<"$line")
}
for r in $(seq "$rounds"); do
  echo "round $r"
  for t in $threads; do
    run pytorch-$t "$py" "$root/tools/bench/bench_scorecam.py" "$model" "$work/chelsea.png" "$nch" "$reps" "$t"
    run saccade-$t "$build/bench_scorecam" "$model" "$work/chelsea.png" "$nch" "$reps" "$t"
  done
done
echo "load after: $(uptime)"
for t in $threads; do
  s=$(median "${med[saccade-$t]}"); p=$(median "${med[pytorch-$t]}")
  sc=$(median "${cpu[saccade-$t]}"); pc=$(median "${cpu[pytorch-$t]}")
  awk -v t="$t" -v s="$s" -v p="$p" -v n="$nch" -v rs="$(range "${med[saccade-$t]}")" -v rp="$(range "${med[pytorch-$t]}")" \
    -v sc="$sc" -v pc="$pc" -v cs="${sum[saccade-$t]}" -v cp="${sum[pytorch-$t]}" \
    'BEGIN{printf "scorecam (%d channels, %d thr) saccade %.1f ms (%s), PyTorch %.1f ms (%s): %.2fx (target <= 0.6: %s); CPU %.1f / %.1f ms: %.2fx; whole layer4 about %.0f s / %.0f s; checksums %s / %s\n",
      n, t, s, rs, p, rp, s/p, s/p <= 0.6 ? "ok" : "BEHIND", sc, pc, sc/pc, s*2048/n/1000, p*2048/n/1000, cs, cp}'
done

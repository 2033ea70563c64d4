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
#   tools/bench/scorecam.sh [ROUNDS=3] [REPS=3] [CHANNELS=64]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
rounds=${1:-3}; reps=${2:-3}; nch=${3:-64}
py=/usr/bin/python3
build="$root/build/run"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_scorecam >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
model="$work/resnet50.safetensors"
"$py" "$root/tools/convert_torchvision.py" --arch resnet50 --random-seed 0 --perturb-bn -o "$model" >/dev/null
"$py" -c "from skimage import data; from PIL import Image; Image.fromarray(data.chelsea()).save('$work/chelsea.png')"
echo "load before: $(uptime)"
declare -A med sum
run() { # name, command...
  local name=$1; shift
  local line; line=$("$@")
  echo "  $name: $line"
  med[$name]+=" $(sed -n 's/.*median_ms \([0-9.]*\).*/\1/p' <<<"$line")"
  sum[$name]=$(sed -n 's/.*checksum \([-0-9.e+]*\).*/\1/p' <<<"$line")
}
for r in $(seq "$rounds"); do
  echo "round $r"
  run pytorch "$py" "$root/tools/bench/bench_scorecam.py" "$model" "$work/chelsea.png" "$nch" "$reps" 2
  run saccade "$build/bench_scorecam" "$model" "$work/chelsea.png" "$nch" "$reps" 2
done
echo "load after: $(uptime)"
s=$(median "${med[saccade]}"); p=$(median "${med[pytorch]}")
awk -v s="$s" -v p="$p" -v n="$nch" -v rs="$(range "${med[saccade]}")" -v rp="$(range "${med[pytorch]}")" \
  -v cs="${sum[saccade]}" -v cp="${sum[pytorch]}" \
  'BEGIN{printf "scorecam (%d channels) saccade %.1f ms (%s), PyTorch %.1f ms (%s): %.2fx (target <= 0.6: %s); whole layer4 about %.0f s / %.0f s; checksums %s / %s\n",
    n, s, rs, p, rp, s/p, s/p <= 0.6 ? "ok" : "BEHIND", s*2048/n/1000, p*2048/n/1000, cs, cp}'

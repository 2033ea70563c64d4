#!/usr/bin/env bash
# ImageNet classification and Grad-CAM's gradient work, ResNet-50 at 224x224
# (random weights, perturbed BatchNorm; tools/convert_torchvision.py, the
# IMAGENET1K_V2 transforms: resize 232, centre crop 224), 2 threads:
#  - classify: 100 photos (skimage's photos at assorted sizes, PNG) from file
#    to top-5, the loop timed inside each process after the model is loaded:
#    saccade (bench_classify: sc_image_load + sc_imagenet_classifier_classify)
#    vs torchvision's eval loop (PIL open, weights.transforms(), model,
#    softmax, top-5; bench_classify.py). Target: saccade <= 0.7x.
#  - gradcam: forward + backward of the top class's logit to layer4 on one
#    photo (saccade: sc_cam_model_forward / _backward; PyTorch: forward and
#    tensor hooks on layer4 and logit.backward() as pytorch-grad-cam does,
#    which also computes the weights' gradients), and PyTorch doing saccade's
#    work only (gradcam-layer: parameters frozen, layer4's output made a leaf
#    by the forward hook, so the backward runs through pooling and fc only).
#    Median of REPS after 2 warm-ups. Target: saccade <= 0.6x.
# ROUNDS rounds, engines interleaved, on each of THREADS (default "2 1");
# the table gives the median over rounds of wall time and of process CPU
# time (less sensitive to other load), and `uptime`'s load after each run.
# WHAT picks the parts ("classify gradcam" by default).
#   tools/bench/classify.sh [ROUNDS=3] [REPS=10] [THREADS="2 1"] [WHAT="classify gradcam"]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
rounds=${1:-3}; reps=${2:-10}; threads=${3:-2 1}; what=${4:-classify gradcam}
py=/usr/bin/python3
build="$root/build/run"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSACCADE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target bench_classify >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
model="$work/resnet50.safetensors"
"$py" "$root/tools/convert_torchvision.py" --arch resnet50 --random-seed 0 --perturb-bn -o "$model" >/dev/null
mkdir -p "$work/photos"
"$py" - "$work/photos" <<'PY'
import sys
import numpy as np
from PIL import Image
from skimage import data
out = sys.argv[1]
srcs = [data.chelsea(), data.astronaut(), data.coffee(), data.rocket(), data.hubble_deep_field()]
rng = np.random.default_rng(0)
for i in range(100):
    im = Image.fromarray(srcs[i % len(srcs)])
    w = int(rng.integers(300, 640)); h = int(rng.integers(240, 480))
    im.resize((w, h), Image.BILINEAR).save(f"{out}/photo{i:03d}.png")
PY
photos=("$work"/photos/*.png)
echo "load before: $(uptime)"
declare -A med cpu sum
run() { # name, key, command...
  local name=$1 key=$2; shift 2
  local line; line=$("$@")
  echo "  $name: $line ($(uptime | sed 's/.*load average: //'))"
  med[$name]+=" $(sed -n "s/.* $key \([0-9.]*\).*/\1/p" <<<"$line")"
  cpu[$name]+=" $(sed -n 's/.* cpu_ms \([0-9.]*\).*/\1/p' <<<"$line")"
  sum[$name]=$(sed -n 's/.*\(top1_sum\|checksum\) \([-0-9.e+]*\).*/\2/p' <<<"$line")
}
for r in $(seq "$rounds"); do
  echo "round $r"
  for t in $threads; do
    [[ " $what " == *" classify "* ]] || continue
    run pytorch-classify-$t total_ms "$py" "$root/tools/bench/bench_classify.py" classify "$model" "${photos[@]}" --threads "$t"
    run saccade-classify-$t total_ms "$build/bench_classify" classify "$model" "${photos[@]}" --threads "$t"
  done
  for t in $threads; do
    [[ " $what " == *" gradcam "* ]] || continue
    run pytorch-gradcam-$t median_ms "$py" "$root/tools/bench/bench_classify.py" gradcam "$model" "${photos[0]}" "$reps" "$t"
    run pytorch-gradcam-layer-$t median_ms "$py" "$root/tools/bench/bench_classify.py" gradcam-layer "$model" "${photos[0]}" "$reps" "$t"
    run saccade-gradcam-$t median_ms "$build/bench_classify" gradcam "$model" "${photos[0]}" "$reps" "$t"
  done
done
echo "load after: $(uptime)"
# wall ratio against its target, and the ratio of the medians of process CPU time
for t in $threads; do
  for pair in classify:classify:0.7 gradcam:gradcam:0.6 gradcam:gradcam-layer:0.6; do
    IFS=: read -r part ref target <<<"$pair"
    [[ " $what " == *" $part "* ]] || continue
    S=saccade-$part-$t P=pytorch-$ref-$t
    s=$(median "${med[$S]}"); p=$(median "${med[$P]}")
    sc=$(median "${cpu[$S]}"); pc=$(median "${cpu[$P]}")
    awk -v w="$part vs $ref, $t thr" -v s="$s" -v p="$p" -v rs="$(range "${med[$S]}")" -v rp="$(range "${med[$P]}")" \
      -v sc="$sc" -v pc="$pc" -v t="$target" -v cs="${sum[$S]}" -v cp="${sum[$P]}" \
      'BEGIN{printf "%-34s saccade %.1f ms (%s), PyTorch %.1f ms (%s): %.2fx (target <= %.1f: %s); CPU %.1f / %.1f ms: %.2fx; checksums %s / %s\n",
        w, s, rs, p, rp, s/p, t, s/p <= t ? "ok" : "BEHIND", sc, pc, sc/pc, cs, cp}'
  done
done

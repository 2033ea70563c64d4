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
#    which also computes the weights' gradients). Median of REPS after 2
#    warm-ups. Target: saccade <= 0.6x.
# ROUNDS rounds, engines interleaved; the table gives the median over rounds.
#   tools/bench/classify.sh [ROUNDS=3] [REPS=10]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
. "$root/tools/bench/stats.sh"
rounds=${1:-3}; reps=${2:-10}
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
declare -A med sum
run() { # name, key, command...
  local name=$1 key=$2; shift 2
  local line; line=$("$@")
  echo "  $name: $line"
  med[$name]+=" $(sed -n "s/.*$key \([0-9.]*\).*/\1/p" <<<"$line")"
  sum[$name]=$(sed -n 's/.*\(top1_sum\|checksum\) \([-0-9.e+]*\).*/\2/p' <<<"$line")
}
for r in $(seq "$rounds"); do
  echo "round $r"
  run pytorch-classify total_ms "$py" "$root/tools/bench/bench_classify.py" classify "$model" "${photos[@]}" --threads 2
  run saccade-classify total_ms "$build/bench_classify" classify "$model" "${photos[@]}" --threads 2
  run pytorch-gradcam median_ms "$py" "$root/tools/bench/bench_classify.py" gradcam "$model" "${photos[0]}" "$reps" 2
  run saccade-gradcam median_ms "$build/bench_classify" gradcam "$model" "${photos[0]}" "$reps" 2
done
echo "load after: $(uptime)"
for what in classify gradcam; do
  target=0.7; [ $what = gradcam ] && target=0.6
  s=$(median "${med[saccade-$what]}"); p=$(median "${med[pytorch-$what]}")
  awk -v w="$what" -v s="$s" -v p="$p" -v rs="$(range "${med[saccade-$what]}")" -v rp="$(range "${med[pytorch-$what]}")" \
    -v t="$target" -v cs="${sum[saccade-$what]}" -v cp="${sum[pytorch-$what]}" \
    'BEGIN{printf "%-8s saccade %.1f ms (%s), PyTorch %.1f ms (%s): %.2fx (target <= %.1f: %s); checksums %s / %s\n",
      w, s, rs, p, rp, s/p, t, s/p <= t ? "ok" : "BEHIND", cs, cp}'
done

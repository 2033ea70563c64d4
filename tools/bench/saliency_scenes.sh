#!/bin/sh
# Every saliency method of 'saccade saliency' scored on Fashion scenes with the
# items as ground truth (not part of the test suite; the README's table).
#
# Usage: tools/bench/saliency_scenes.sh [BUILD_DIR] [N] [OUT]
#   BUILD_DIR  defaults to build; N test scenes (default 200, seed 0, test split:
#   items the models never saw); OUT work folder (default a fresh temporary one).
#   The captioner is the shipped assets/models/scenes-captioner.safetensors
#   unless $SACCADE_CAPTIONER names another; $SACCADE_VIT_CAPTIONER may name a
#   captioner with a ViT encoder ('saccade train captioner --encoder vit') to
#   add its rows (attention, rollout, gradient); the ST-CNN is
#   assets/models/fashion-stn.safetensors (trained on single cluttered 60x60
#   Fashion-MNIST items, not on scenes).
#
# Ground truth per scene: the item pixels, i.e. pixels inside an item's box
# (annotations.jsonl) brighter than the brightest background value
# (SC_SCENES_BG_MAX = 0.30 in some channel), as a binary map; 'saccade eval
# saliency' scores AUC-Judd and NSS with it as the fixation map and CC, SIM,
# KLD with it as the density map. 'centre' is a baseline: a centred Gaussian,
# sigma = a quarter of the side.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
n=${2:-200}
out=${3:-$(mktemp -d "${TMPDIR:-/tmp}/salscenes.XXXXXX")}
cli="$build/saccade"
py=/usr/bin/python3
cap=${SACCADE_CAPTIONER:-$root/assets/models/scenes-captioner.safetensors}
vit=${SACCADE_VIT_CAPTIONER:-}
stn=$root/assets/models/fashion-stn.safetensors
mkdir -p "$out"
"$cli" data scenes --n "$n" --seed 0 --split test -o "$out/scenes" >/dev/null
"$py" - "$out" <<'PY'
import json, os, sys, cv2, numpy as np
out = sys.argv[1]
os.makedirs(f"{out}/masks", exist_ok=True); os.makedirs(f"{out}/maps/centre", exist_ok=True)
for line in open(f"{out}/scenes/annotations.jsonl"):
    a = json.loads(line)
    img = cv2.imread(f"{out}/scenes/{a['image']}")[:, :, ::-1] / 255.0
    bright = img.max(axis=2) > 0.30
    m = np.zeros(bright.shape, bool)
    for it in a["items"]:
        x0, y0, x1, y1 = it["box"]
        m[y0:y1, x0:x1] |= bright[y0:y1, x0:x1]
    stem = os.path.splitext(os.path.basename(a["image"]))[0]
    cv2.imwrite(f"{out}/masks/{stem}.png", m.astype(np.uint8) * 255)
    h, w = m.shape
    yy, xx = np.mgrid[0:h, 0:w]
    s = min(h, w) / 4.0
    c = np.exp(-(((xx - (w - 1) / 2) ** 2 + (yy - (h - 1) / 2) ** 2) / (2 * s * s)))
    np.save(f"{out}/maps/centre/{stem}.centre-map.npy", c.astype(np.float32))
PY
run() { # label, saliency options...
  label=$1; shift
  "$cli" saliency "$out/scenes/images" -o "$out/overlays/$label" --raw "$out/maps/$label" \
    --threads 1 "$@" >/dev/null
}
run spectral --method spectral
run spectral-hz --method spectral-hz
run pqft --method pqft
run finegrained --method finegrained
run attention-mean --method attention --model "$cap"
run attention-max --method attention --aggregate max --model "$cap"
run gradcam-captioner --method gradcam --model "$cap"
run gradient-captioner --method gradient --model "$cap"
vit_rows=
if [ -n "$vit" ]; then
  run attention-vit --method attention --model "$vit"
  run rollout-vit --method rollout --model "$vit"
  run rollout-vit-cls --method rollout --rollout-from cls --model "$vit"
  run gradient-vit --method gradient --model "$vit"
  vit_rows="attention-vit rollout-vit rollout-vit-cls gradient-vit"
fi
run gradcam-stn --method gradcam --model "$stn"
run gradient-stn --method gradient --model "$stn"
echo "| method | AUC-Judd | NSS | CC | SIM | KLD |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for m in centre spectral spectral-hz pqft finegrained attention-mean attention-max \
         gradcam-captioner gradient-captioner $vit_rows gradcam-stn gradient-stn; do
  "$cli" eval saliency --pred-dir "$out/maps/$m" --fixations-dir "$out/masks" --json | tail -n 1 |
    "$py" -c "
import json, sys
d = json.loads(sys.stdin.read()); m = d['mean']
assert d['pairs'] == $n and d['failed'] == 0, d
print('| $m | %.3f | %.3f | %.3f | %.3f | %.3f |' % tuple(m[k] for k in ('auc_judd', 'nss', 'cc', 'sim', 'kld')))"
done
echo "($n test scenes, seed 0; maps and overlays in $out)"

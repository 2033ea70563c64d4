#!/usr/bin/env bash
# End-to-end tests of the model-based methods of 'saccade saliency'
# (attention, gradcam, gradient, rollout and the CAM family) with the shipped scenes captioner
# and ST-CNN: outputs, --word / --class / --aggregate, batches, bad words and
# bad models. (The maps themselves are checked against PyTorch and finite
# differences in tests/parity and tests/unit.)
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/clisalm.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
stn="$src/assets/models/fashion-stn.safetensors"
check "scenes" 0 "$cli" data scenes --n 3 --seed 0 --split test -o "$tmp/sc"
im="$tmp/sc/images/test_000000.png"   # 96 x 96, two items

# attention, whole caption (default model), mean and max
check "attention" 0 "$cli" saliency "$im" --method attention -o "$tmp/att.png" --raw "$tmp/att.npy" --json
cp "$tmp/out" "$tmp/att.json"
pycheck "attention outputs and json" "
import sys, json, cv2, numpy as np
a = np.load(sys.argv[1]); d = json.loads(open(sys.argv[2]).read()); o = cv2.imread(sys.argv[3])
assert a.shape == (96, 96) and a.dtype == np.float32 and o.shape == (96, 96, 3)
assert a.min() == 0 and a.max() == 1, (a.min(), a.max())
assert d['method'] == 'attention' and d['model_kind'] == 'captioner' and d['model'].endswith('scenes-captioner.safetensors')
assert len(d['caption'].split()) >= 3 and d['word'] is None and d['step'] == -1 and d['score'] < 0
y, x = np.unravel_index(np.argmax(a), a.shape); assert (d['peak']['x'], d['peak']['y']) == (x, y)
" "$tmp/att.npy" "$tmp/att.json" "$tmp/att.png"
check "attention max" 0 "$cli" saliency "$im" --method attention --aggregate max -o "$tmp/attmax.png" --raw "$tmp/attmax.npy"
pycheck "max and mean differ" "
import sys, numpy as np; a = np.load(sys.argv[1]); b = np.load(sys.argv[2])
assert np.abs(a - b).mean() > 0.003" "$tmp/att.npy" "$tmp/attmax.npy"

# --word: a word of the caption; its map is that step's attention
w=$("$py" -c "import json,sys; print(json.load(open(sys.argv[1]))['caption'].split()[1])" "$tmp/att.json")
check "attention --word $w" 0 "$cli" saliency "$im" --method attention --word "$w" -o "$tmp/w.png" --raw "$tmp/w.npy" --json --panel
pycheck "word json" "
import sys, json, numpy as np
d = json.loads(open(sys.argv[1]).read()); cap = json.load(open(sys.argv[2]))['caption'].split()
assert d['word'] == sys.argv[3] and d['step'] == cap.index(sys.argv[3]) and d['target'] >= 0 and d['score'] < 0, d
assert d['panel'] and d['output'].endswith('w.png')
a = np.load(sys.argv[4]); assert a.shape == (96, 96) and a.max() == 1" "$tmp/out" "$tmp/att.json" "$w" "$tmp/w.npy"
pycheck "panel is 3 panels wide" "
import sys, cv2; a = cv2.imread(sys.argv[1]); assert a.shape[1] == 8 + 3 * (96 + 8), a.shape" "$tmp/w.png"
check "bad --word" 1 "$cli" saliency "$im" --method attention --word zebra -o "$tmp/bad.png"
expect_grep "bad word names the caption" "$tmp/err" "the word 'zebra' is not in the caption \"[a-z]"
yes_ "bad word wrote nothing" '[ ! -e "$tmp/bad.png" ]'

# Grad-CAM and input gradients of the captioner
for m in gradcam gradient; do
  check "captioner $m" 0 "$cli" saliency "$im" --method $m --word "$w" -o "$tmp/$m.png" --raw "$tmp/$m.npy" --json
  pycheck "captioner $m map" "
import sys, json, numpy as np
a = np.load(sys.argv[1]); d = json.loads(open(sys.argv[2]).read())
assert a.shape == (96, 96) and a.min() >= 0 and a.max() == 1 and a.std() > 0.01
assert d['method'] == sys.argv[3] and d['word'] == sys.argv[4] and d['score'] < 0" "$tmp/$m.npy" "$tmp/out" $m "$w"
done
check "captioner gradcam, whole caption" 0 "$cli" saliency "$im" --method gradcam -o "$tmp/gc.png" --json
expect_grep "whole caption: step -1" "$tmp/out" '"step": -1'

# ST-CNN: Grad-CAM and gradients, predicted or chosen class
for m in gradcam gradient; do
  check "stn $m" 0 "$cli" saliency "$im" --method $m --model "$stn" -o "$tmp/s$m.png" --raw "$tmp/s$m.npy" --json
  cp "$tmp/out" "$tmp/s$m.json"
  pycheck "stn $m map" "
import sys, json, numpy as np
a = np.load(sys.argv[1]); d = json.loads(open(sys.argv[2]).read())
assert a.shape == (96, 96) and a.min() >= 0 and 0.9 < a.max() <= 1  # pytorch-grad-cam: (x - min) / (max + 1e-7), resized
assert d['model_kind'] == 'stcnn' and 0 <= d['target'] < 10 and d['class_name'] and d['word'] is None" "$tmp/s$m.npy" "$tmp/s$m.json"
done
check "stn --class Coat" 0 "$cli" saliency "$im" --method gradcam --model "$stn" --class Coat -o "$tmp/c1.png" --raw "$tmp/c1.npy" --json
expect_grep "class by name" "$tmp/out" '"target": 4, "score"'
check "stn --class 4" 0 "$cli" saliency "$im" --method gradcam --model "$stn" --class 4 -o "$tmp/c2.png" --raw "$tmp/c2.npy"
pycheck "class by name == by index" "
import sys, numpy as np; assert (np.load(sys.argv[1]) == np.load(sys.argv[2])).all()" "$tmp/c1.npy" "$tmp/c2.npy"
check "stn bad class" 2 "$cli" saliency "$im" --method gradcam --model "$stn" --class 10 -o "$tmp/x.png"
check "stn --word" 2 "$cli" saliency "$im" --method gradcam --model "$stn" --word coat -o "$tmp/x.png"
check "stn attention" 1 "$cli" saliency "$im" --method attention --model "$stn" -o "$tmp/x.png"
expect_grep "attention needs a captioner" "$tmp/err" "attention maps need a captioner"

# rollout needs a ViT encoder: the default (cnn) captioner and the ST-CNN have none
check "rollout" 1 "$cli" saliency "$im" --method rollout -o "$tmp/x.png"
expect_grep "rollout explains" "$tmp/err" "needs a model with a ViT encoder"

# bad models and misplaced options
check "missing model" 1 "$cli" saliency "$im" --method gradcam --model "$tmp/nope.safetensors" -o "$tmp/x.png"
expect_grep "missing model named" "$tmp/err" "nope.safetensors"
check "image as model" 1 "$cli" saliency "$im" --method gradcam --model "$im" -o "$tmp/x.png"
check "vqa model" 1 "$cli" saliency "$im" --method gradcam --model "$src/assets/models/scenes-vqa.safetensors" -o "$tmp/x.png"
expect_grep "vqa model refused" "$tmp/err" "a vqa model; model saliency takes a captioner"
check "--class on a captioner" 2 "$cli" saliency "$im" --method gradcam --class 1 -o "$tmp/x.png"
check "--aggregate with gradcam" 2 "$cli" saliency "$im" --method gradcam --aggregate max -o "$tmp/x.png"
check "--aggregate with --word" 2 "$cli" saliency "$im" --method attention --aggregate max --word "$w" -o "$tmp/x.png"
check "bad --aggregate" 2 "$cli" saliency "$im" --method attention --aggregate median -o "$tmp/x.png"
check "--model with spectral" 2 "$cli" saliency "$im" --model "$stn" -o "$tmp/x.png"
yes_ "usage errors wrote nothing" '[ ! -e "$tmp/x.png" ]'

# the CAM family on the ST-CNN: every method at a chosen layer and class
for m in gradcam++ xgradcam hirescam layercam eigencam eigengradcam scorecam ablationcam smoothgrad intgrad; do
  check "stn $m" 0 "$cli" saliency "$im" --method $m --model "$stn" --layer encoder.stages.1 --class Coat -o "$tmp/f$m.png" --raw "$tmp/f$m.npy" --json
  pycheck "stn $m map" "
import sys, json, numpy as np
a = np.load(sys.argv[1]); d = json.loads(open(sys.argv[2]).read())
assert a.shape == (96, 96) and a.min() >= 0 and 0.99 < a.max() <= 1 and a.std() > 0.01
assert d['method'] == sys.argv[3] and d['target'] == 4 and d['class_name'] == 'Coat'" "$tmp/f$m.npy" "$tmp/out" "$m"
done
check "--aug-smooth --eigen-smooth" 0 "$cli" saliency "$im" --method gradcam --model "$stn" --aug-smooth --eigen-smooth -o "$tmp/aug.png" --raw "$tmp/aug.npy"
pycheck "smoothing changes the map" "
import sys, numpy as np
assert np.abs(np.load(sys.argv[1]) - np.load(sys.argv[2])).max() > 0.01" "$tmp/aug.npy" "$tmp/sgradcam.npy"
check "unknown layer" 1 "$cli" saliency "$im" --method gradcam --model "$stn" --layer layer4 -o "$tmp/y.png"
expect_grep "layers listed" "$tmp/err" "unknown layer 'layer4' .this model's layers: encoder.stages.0, encoder.stages.1, encoder.stages.2"
check "--class out of range" 2 "$cli" saliency "$im" --method scorecam --model "$stn" --class 10 -o "$tmp/y.png"
check "--layer with spectral" 2 "$cli" saliency "$im" --layer encoder.stages.1 -o "$tmp/y.png"
check "--aug-smooth on a captioner" 2 "$cli" saliency "$im" --method gradcam --aug-smooth -o "$tmp/y.png"
check "--eigen-smooth with attention" 2 "$cli" saliency "$im" --method attention --eigen-smooth -o "$tmp/y.png"
check "scorecam on a captioner" 1 "$cli" saliency "$im" --method scorecam -o "$tmp/y.png"
expect_grep "captioner refuses scorecam" "$tmp/err" "scorecam is for classifiers"
yes_ "failed runs wrote nothing" '[ ! -e "$tmp/y.png" ]'

# a torchvision classifier (random resnet18): the map of the centre crop
# placed back on the whole 451 x 300 photo (resize 256: 385 x 256, crop 224 at
# x 80, y 16), zero outside the crop
check "convert resnet18" 0 "$py" "$src/tools/convert_torchvision.py" --arch resnet18 --random-seed 0 -o "$tmp/r18.safetensors"
check "resnet18 gradcam" 0 "$cli" saliency "$src/assets/samples/chelsea.jpg" --method gradcam --model "$tmp/r18.safetensors" --layer layer3.1 --class tabby -o "$tmp/r18.png" --raw "$tmp/r18.npy" --json
pycheck "resnet18 map covers the photo" "
import sys, json, numpy as np
a = np.load(sys.argv[1]); d = json.loads(open(sys.argv[2]).read())
assert a.shape == (300, 451) and d['model_kind'] == 'imagenet' and d['class_name'] == 'tabby' and d['target'] == 281
assert a[:, :85].max() == 0 and a[:, 362:].max() == 0 and a[:15].max() == 0 and a[20:280, 100:350].std() > 0.01" "$tmp/r18.npy" "$tmp/out"
check "resnet18 unknown layer" 1 "$cli" saliency "$src/assets/samples/chelsea.jpg" --method gradcam --model "$tmp/r18.safetensors" --layer layer9 -o "$tmp/y.png"
expect_grep "resnet layers listed" "$tmp/err" "layer9.*layer4"
check "convert resnet18 without fc" 0 "$py" "$src/tools/convert_torchvision.py" --arch resnet18 --random-seed 0 --no-fc -o "$tmp/r18nofc.safetensors"
check "no classifier head" 1 "$cli" saliency "$src/assets/samples/chelsea.jpg" --method gradcam --model "$tmp/r18nofc.safetensors" -o "$tmp/y.png"

# faithfulness: deletion / insertion AUC and ROAD per image and method, then means
check "faithfulness" 0 "$cli" eval saliency --faithfulness "$src/assets/samples/stn" --model "$stn" --methods gradcam,eigencam --step 120 --json
pycheck "faithfulness json" "
import sys, json
rows = [json.loads(l) for l in open(sys.argv[1])]
per = [r for r in rows if 'path' in r]; means = [r for r in rows if 'mean_of' in r]
assert len(per) == 12 and [m['mean_of'] for m in means] == ['gradcam', 'eigencam']
for r in per:
    assert 0 <= r['deletion_auc'] <= 1 and 0 <= r['insertion_auc'] <= 1 and -1 <= r['road'] <= 1
    assert abs(r['road'] - (r['road_lerf'] - r['road_morf']) / 2) < 1e-6 and r['class_name']
assert means[0]['images'] == 6" "$tmp/out"
check "faithfulness table" 0 "$cli" eval saliency --faithfulness "$src/assets/samples/stn/rts-1-Pullover.png" --model "$stn" --methods scorecam --class Pullover
expect_grep "faithfulness mean line" "$tmp/out" "^scorecam .* mean of 1 image$"
check "faithfulness without --model" 2 "$cli" eval saliency --faithfulness "$im"
check "faithfulness on a captioner" 2 "$cli" eval saliency --faithfulness "$im" --model "$src/assets/models/scenes-captioner.safetensors"
expect_grep "captioner refused" "$tmp/err" "needs a classifier or ST-CNN"
check "faithfulness bad method" 2 "$cli" eval saliency --faithfulness "$im" --model "$stn" --methods gradcam,attention
check "faithfulness bad class" 2 "$cli" eval saliency --faithfulness "$im" --model "$stn" --class Sock

# batch: a folder with a corrupt image, one path per method output
mkdir -p "$tmp/sc2"; cp "$tmp/sc/images/"*.png "$tmp/sc2/"
head -c 100 "$im" > "$tmp/sc2/broken.png"
check "batch" 1 "$cli" saliency "$tmp/sc2" --method attention -o "$tmp/bo" --raw "$tmp/br" --json
expect_grep "bad file reported" "$tmp/err" "^saccade: $tmp/sc2/broken.png: "
yes_ "batch outputs" '[ "$(ls "$tmp/bo" | wc -l)" -eq 3 ] && [ -s "$tmp/bo/test_000002.attention.png" ] && [ -s "$tmp/br/test_000001.attention-map.npy" ] && [ "$(wc -l < "$tmp/out")" -eq 3 ]'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# End-to-end tests of 'saccade classify': a seeded random resnet18 (with
# ImageNet's class names and transforms) and a small ViT from
# tools/convert_torchvision.py, against torchvision on the same photos.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli-classify.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
conv="$src/tools/convert_torchvision.py"
check "convert resnet18" 0 "$py" "$conv" --arch resnet18 --random-seed 4 --perturb-bn -o "$tmp/r18.safetensors"
check "convert resnet18 without fc" 0 "$py" "$conv" --arch resnet18 --no-fc -o "$tmp/enc.safetensors"
check "convert a small vit" 0 "$py" "$conv" --arch vit --vit-shape 32,8,2,2,32,64,10 -o "$tmp/vit.safetensors"
check "convert: bad arch" 2 "$py" "$conv" --arch resnet7 -o "$tmp/x.safetensors"
yes_ "convert: nothing left behind" "[ ! -e $tmp/x.safetensors ] && [ ! -e $tmp/x.safetensors.tmp ]"
mkdir -p "$tmp/photos"
# PNG: JPEG decoders (stb_image, libjpeg) differ by a level here and there
"$py" -c "from skimage import data; from PIL import Image
Image.fromarray(data.chelsea()).save('$tmp/photos/chelsea.png')
Image.fromarray(data.coffee()).save('$tmp/photos/coffee.png')"

# The folder in sorted order, JSON lines; compared with torchvision's transforms + model.
check "classify folder json" 0 "$cli" classify "$tmp/photos" --model "$tmp/r18.safetensors" --json --threads 2
cp "$tmp/out" "$tmp/r18.jsonl"
pycheck "classify matches torchvision" "
import json, sys, torch
sys.path.insert(0, '$src/tools')
import convert_torchvision as cv
from PIL import Image
from torchvision.models import ResNet18_Weights
m = cv.build_model('resnet18', None, seed=4, perturb_bn=True)
t = cv.pick_preset('resnet18').transforms()
lines = [json.loads(l) for l in open('$tmp/r18.jsonl')]
assert [l['path'].split('/')[-1] for l in lines] == ['chelsea.png', 'coffee.png'], lines
cats = ResNet18_Weights.DEFAULT.meta['categories']
for l in lines:
    with torch.no_grad():
        p = torch.softmax(m(t(Image.open(l['path']).convert('RGB'))[None]), 1)[0]
    v, i = p.topk(5)
    assert [e['index'] for e in l['top']] == i.tolist(), (l, i)
    assert [e['name'] for e in l['top']] == [cats[k] for k in i.tolist()]
    assert max(abs(e['prob'] - float(q)) for e, q in zip(l['top'], v)) < 1e-5
"
check "classify text" 0 "$cli" classify "$tmp/photos/chelsea.png" --model "$tmp/r18.safetensors" --top-k 3
yes_ "text: path + 3 lines" "[ \$(wc -l < $tmp/out) -eq 4 ]"
expect_grep "text: prob, index, name" "$tmp/out" "^  0\.[0-9]{6} +[0-9]+  [a-z]"
check "classify vit" 0 "$cli" classify "$tmp/photos/coffee.png" --model "$tmp/vit.safetensors" --top-k 10 --json
pycheck "vit: 10 classes, probabilities sum to 1" "
import json; d = json.load(open('$tmp/out'))
p = [e['prob'] for e in d['top']]
assert len(p) == 10 and abs(sum(p) - 1) < 1e-5 and p == sorted(p, reverse=True), p"
printf '%s\n' "$tmp/photos/coffee.png" | "$cli" classify - --model "$tmp/r18.safetensors" --top-k 1 >"$tmp/out" 2>"$tmp/err"
yes_ "list on stdin" "[ \$(wc -l < $tmp/out) -eq 2 ]"

# Bad input.
check "no model" 2 "$cli" classify "$tmp/photos"
check "no image" 2 "$cli" classify --model "$tmp/r18.safetensors"
check "top-k 0" 2 "$cli" classify "$tmp/photos" --model "$tmp/r18.safetensors" --top-k 0
check "top-k over the classes" 2 "$cli" classify "$tmp/photos" --model "$tmp/vit.safetensors" --top-k 11
check "encoder without head" 1 "$cli" classify "$tmp/photos" --model "$tmp/enc.safetensors"
expect_grep "head: says why" "$tmp/err" "without a classifier head"
check "a captioner is not a classifier" 1 "$cli" classify "$tmp/photos" --model "$src/assets/models/scenes-captioner.safetensors"
expect_grep "captioner: says what it is" "$tmp/err" "captioner model, not an ImageNet classifier"
check "missing and good image" 1 "$cli" classify "$tmp/nope.png" "$tmp/photos/coffee.png" --model "$tmp/vit.safetensors"
expect_grep "missing: named" "$tmp/err" "nope.png"
expect_grep "missing: the rest goes on" "$tmp/out" "coffee.png"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

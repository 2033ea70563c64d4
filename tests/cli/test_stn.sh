#!/usr/bin/env bash
# End-to-end tests of 'saccade stn', 'saccade train stn', 'saccade eval stn'.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli-stn.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
ok_py() { # name, python code (reads nothing else)
  if "$py" -c "$2" >"$tmp/pyout" 2>&1; then pass=$((pass+1)); else
    fail=$((fail+1)); echo "FAIL $1:"; head -5 "$tmp/pyout" | sed 's/^/  /'; fi
}
sample="$src/assets/samples/stn/cluttered-0-Ankle_boot.png"

# The verb on a shipped sample with the shipped model.
check "stn on sample" 0 "$cli" stn "$sample" -o "$tmp/o.png"
expect_grep "stn text names the class" "$tmp/out" "cluttered-0-Ankle_boot.png: .*%"
# Two 224x224 panels: w = 8 + 2 * (224 + 8) = 472, h = 8 + 224 + caption + 8.
ok_py "stn output png" "
import cv2; im = cv2.imread('$tmp/o.png'); assert im is not None
assert im.shape[1] == 472 and 240 < im.shape[0] < 300, im.shape
r = (im[..., 2].astype(int) - im[..., 1]) > 120   # the red outline
assert r.sum() > 100, r.sum()"
check "stn json" 0 "$cli" stn "$sample" --json
ok_py "stn json content" "
import json; d = json.load(open('$tmp/out'))
assert len(d['theta']) == 6 and all(isinstance(v, float) for v in d['theta'])
assert len(d['top']) == 5
p = [c['probability'] for c in d['top']]
assert p == sorted(p, reverse=True) and 0 < sum(p) <= 1.0001, p
assert d['top'][0]['class'] in ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']"
check "stn on a colour photo" 0 "$cli" stn "$src/assets/samples/chelsea.jpg" --json

# Errors.
check "stn without image" 2 "$cli" stn -o "$tmp/x.png"
check "stn without output" 2 "$cli" stn "$sample"
check "stn bad option" 2 "$cli" stn "$sample" --frob -o "$tmp/x.png"
check "stn two images" 2 "$cli" stn "$sample" "$sample" -o "$tmp/x.png"
check "stn missing image" 1 "$cli" stn "$tmp/nope.png" -o "$tmp/x.png"
expect_grep "missing image named" "$tmp/err" "nope.png"
printf 'not an image' > "$tmp/bad.png"
check "stn corrupt image" 1 "$cli" stn "$tmp/bad.png" -o "$tmp/x.png"
check "stn bad model" 1 "$cli" stn "$sample" --model "$tmp/bad.png" -o "$tmp/x.png"
expect_grep "bad model named" "$tmp/err" "bad.png"
[ ! -e "$tmp/x.png" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: failed stn left a file"; }

# On a terminal (a pseudo-terminal from script(1)) the progress bar is erased
# before each epoch line: what the terminal shows after the line's last
# carriage return starts with "epoch", not the bar's text ("...ETA 0sepoch").
(cd "$tmp" && script -qec "'$cli' train stn --distortion rts --model cnn --examples 64 --batch 32 \
  --epochs 3 --eval-n 32 --threads 2 --channels 4,8 -o '$tmp/tty.safetensors'" /dev/null) \
  >"$tmp/tty.txt" 2>&1
ok_py "epoch lines start clean on a terminal" "
raw = open('$tmp/tty.txt', encoding='utf-8').read()
assert '\033[K' in raw and '[####' in raw, 'no progress bar drawn: ' + repr(raw[:300])
shown = [l.split('\r')[-1].replace('\033[K', '') for l in raw.replace('\r\n', '\n').split('\n')]
epochs = [l for l in shown if 'epoch' in l and ': train loss' in l]
assert len(epochs) == 3, shown
assert all(l.startswith('epoch ') for l in epochs), epochs"

# Training: 20 steps run, the loss falls, the model file works with eval.
check "train stn stcnn 20 steps" 0 "$cli" train stn --distortion cluttered --model stcnn \
  --max-steps 20 --batch 32 --lr 0.003 --threads 2 --eval-n 200 --quiet \
  --metrics "$tmp/m.jsonl" -o "$tmp/st.safetensors"
ok_py "train stn loss falls" "
import json; L = [json.loads(l) for l in open('$tmp/m.jsonl')]
loss = [d['loss'] for d in L if 'loss' in d]
assert len(loss) == 20, len(loss)
first, last = sum(loss[:5]) / 5, sum(loss[-5:]) / 5
assert last < first - 0.05, (first, last)
m = json.load(open('$tmp/st.metrics.json'))
assert m['arch'] == 'stcnn' and m['distortion'] == 'cluttered' and 0 <= m['test_error'] <= 1"
# The grid head, a smaller glimpse, the similarity transform, per-group clipping.
check "train stn stcnn grid head 20 steps" 0 "$cli" train stn --distortion rts --model stcnn \
  --head-grid 3 --glimpse 28 --transform similarity --clip-groups --loc-lr-scale 0.5 \
  --loc-warmup 5 --init-scale 0.9 --channels 8,12,16 --loc-channels 4,8 --max-steps 20 \
  --batch 32 --lr 0.003 --threads 1 --eval-n 100 --quiet --metrics "$tmp/g.jsonl" \
  -o "$tmp/g.safetensors"
ok_py "grid head: loss falls, group norms logged, config recorded" "
import json; L = [json.loads(l) for l in open('$tmp/g.jsonl')]
s = [d for d in L if 'loss' in d]
loss = [d['loss'] for d in s]
assert len(loss) == 20, len(loss)
assert sum(loss[-5:]) / 5 < sum(loss[:5]) / 5 - 0.05, loss
assert all(d['loc_grad_norm'] >= 0 and d['cls_grad_norm'] > 0 for d in s)
c = json.load(open('$tmp/g.metrics.json'))['config']
assert c['stn']['transform'] == 'similarity' and c['stn']['output'] == [28, 28], c
assert c['classifier']['head_grid'] == 3 and c['classifier']['encoder']['channels'] == [8, 12, 16]
assert c['stn']['loc_cnn']['channels'] == [4, 8]"
check "stn verb on grid-head model" 0 "$cli" stn "$src/assets/samples/stn/rts-0-Ankle_boot.png" \
  --model "$tmp/g.safetensors" --json
# A glimpse of fixed zoom that only moves: its side stays zoom x the canvas.
check "train stn translation 10 steps" 0 "$cli" train stn --distortion cluttered --model stcnn \
  --transform translation --zoom 0.5 --glimpse 20 --channels 4,8,8 --loc-channels 4,4 \
  --max-steps 10 --batch 16 --threads 1 --eval-n 50 --quiet -o "$tmp/tr.safetensors"
check "eval translation" 0 "$cli" eval stn --model "$tmp/tr.safetensors" --distortion cluttered \
  --n 50 --json
ok_py "translation: fixed zoom in the config and in every glimpse" "
import json; d = json.load(open('$tmp/out'))
assert abs(d['glimpse']['side_ratio_median'] - 0.5 * 60 / 28) < 1e-3, d
# cluttered items are upright and a translation never rotates
assert d['glimpse']['angle_deg_median'] < 1e-3 and d['glimpse']['identity_angle_deg_median'] < 1e-3, d
c = json.load(open('$tmp/tr.metrics.json'))['config']['stn']
assert c['transform'] == 'translation' and abs(c['zoom'] - 0.5) < 1e-6, c"
check "train stn bad zoom" 2 "$cli" train stn --distortion rts --model stcnn --transform translation --zoom 0 -o "$tmp/a.safetensors"
check "train stn bad head grid" 2 "$cli" train stn --distortion rts --model cnn --head-grid 17 -o "$tmp/a.safetensors"
check "train stn bad transform" 2 "$cli" train stn --distortion rts --model stcnn --transform shear -o "$tmp/a.safetensors"
check "train stn bad channels" 2 "$cli" train stn --distortion rts --model cnn --channels 8,x,4 -o "$tmp/a.safetensors"
check "eval stn json" 0 "$cli" eval stn --model "$tmp/st.safetensors" --distortion cluttered --n 100 --json
ok_py "eval json" "
import json; d = json.load(open('$tmp/out')); assert d['n'] == 100 and d['arch'] == 'stcnn'
assert abs(d['error'] + d['accuracy'] - 1) < 1e-9
# 20 steps at 0.1x the loc learning rate: still about the identity, a 60x60
# glimpse of a 60x60 canvas whose item is 28x28, centred on the canvas.
g = d['glimpse']
assert abs(g['side_ratio_median'] - 60 / 28) < 0.15, g
assert abs(g['centre_px_median'] - g['identity_centre_px_median']) < 1.5, g
# item centres are uniform over a 32x32 square around the canvas centre
assert 8 < g['identity_centre_px_median'] < 16 and 0.5 < g['centre_on_item'] <= 1, g"
check "eval wrong canvas" 1 "$cli" eval stn --model "$tmp/st.safetensors" --distortion rts --n 10
check "stn verb on trained model" 0 "$cli" stn "$sample" --model "$tmp/st.safetensors" --json
check "train stn cnn 3 steps" 0 "$cli" train stn --distortion rts --model cnn --max-steps 3 \
  --batch 16 --threads 2 --eval-n 50 --quiet -o "$tmp/cnn.safetensors"
check "eval stn cnn" 0 "$cli" eval stn --model "$tmp/cnn.safetensors" --distortion rts --n 50
expect_grep "eval text" "$tmp/out" "CNN\) on 50 rts test scenes: error"
! grep -q glimpse "$tmp/out" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: a CNN has no glimpse"; }
check "stn verb refuses a plain CNN" 1 "$cli" stn "$sample" --model "$tmp/cnn.safetensors" -o "$tmp/x.png"
check "train stn bad distortion" 2 "$cli" train stn --distortion warp --model cnn -o "$tmp/a.safetensors"
check "train stn no model" 2 "$cli" train stn --distortion rts -o "$tmp/a.safetensors"
check "train stn no output" 2 "$cli" train stn --distortion rts --model cnn
check "train stn bad epochs" 2 "$cli" train stn --distortion rts --model cnn --epochs 0 -o "$tmp/a.safetensors"
check "train stn resume without checkpoint" 2 "$cli" train stn --distortion rts --model cnn --resume -o "$tmp/a.safetensors"
check "eval stn no model" 2 "$cli" eval stn --distortion rts
check "eval stn bad n" 2 "$cli" eval stn --model "$tmp/st.safetensors" --distortion cluttered --n -3

# The bundled model warns on an image that is not its 60x60 canvas.
check "photo warns" 0 "$cli" stn --json "$src/assets/samples/chelsea.jpg"
expect_grep "photo: warning on stderr" "$tmp/err" "warning: the bundled model knows only synthetic Fashion scenes; see README 'Caption your own photos'"
expect_grep "photo: warning in the JSON" "$tmp/out" '"warning": "the bundled model knows only synthetic Fashion scenes; see README .Caption your own photos."'
check "canvas does not warn" 0 "$cli" stn --json "$sample"
yes_ "canvas: no warning" "! grep -q warning $tmp/err $tmp/out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# End-to-end tests of 'saccade caption'. Oracle: the PyTorch tutorial's
# caption_image_beam_search (tools/ref/ref_sat.py via ref_caption_cli.py) on
# a tiny tutorial model (resnet18 encoder, 5x5 grid, random weights)
# converted by tools/convert_sat.py. PIL decodes the JPEGs for the reference
# and stb_image for saccade (they differ by up to 3 levels on ~5% of the
# pixels), so words must be equal and scores / attention close.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/clicap.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
samples="$src/assets/samples"
imgs=("$samples/astronaut.jpg" "$samples/chelsea.jpg" "$samples/coffee.jpg")

# The model and the tutorial's captions (beam 3 and 1) for the three photos.
if ! "$py" "$src/tools/ref/ref_caption_cli.py" "$tmp/ref" --beam 3 --beam 1 "${imgs[@]}" \
    >"$tmp/ref.log" 2>&1; then
  echo "FAIL reference script:"; tail -20 "$tmp/ref.log"; exit 1
fi
model="$tmp/ref/model.safetensors"
ref="$tmp/ref/ref_captions.jsonl"

# Plain output: PATH<TAB>caption, the tutorial's words, for beam 3 and greedy.
for k in 3 1; do
  check "plain beam $k" 0 "$cli" caption --model "$model" --beam $k "${imgs[@]}"
  cp "$tmp/out" "$tmp/plain$k.txt"
  pycheck "plain beam $k == tutorial" "
import sys, json
ref = {(d['path'], d['beam']): d for d in map(json.loads, open(sys.argv[1]))}
lines = open(sys.argv[2]).read().splitlines()
assert len(lines) == 3, lines
for l, p in zip(lines, sys.argv[4:]):
    path, cap = l.split('\t')
    assert path == p, (path, p)
    want = ref[(p, int(sys.argv[3]))]['caption']
    assert cap == want, (p, cap, want)
    assert cap, 'empty caption'
" "$ref" "$tmp/plain$k.txt" $k "${imgs[@]}"
done

# --json: complete fields, consistent numbers, equal to the tutorial; without
# --beam the beam is 3 (sc_captioner_beam_default_params, as Python's).
check "json" 0 "$cli" caption --model "$model" --json-attention "${imgs[@]}"
cp "$tmp/out" "$tmp/json.txt"
pycheck "json fields and numbers" "
import sys, json, numpy as np
ref = {(d['path'], d['beam']): d for d in map(json.loads, open(sys.argv[1]))}
vocab = json.load(open(sys.argv[3]))
objs = [json.loads(l) for l in open(sys.argv[2])]
assert [o['path'] for o in objs] == sys.argv[4:]
for o in objs:
    r = ref[(o['path'], 3)]
    for k in ('path', 'caption', 'words', 'tokens', 'logprobs', 'score', 'norm_score', 'finished',
              'beam', 'max_len', 'min_len', 'length_norm', 'model', 'attention', 'attention_png'):
        assert k in o, k
    assert o['words'] == r['words'], (o['words'], r['words'])
    assert o['caption'] == r['caption'] and o['caption'] == ' '.join(o['words'][:-1])
    assert o['tokens'] == [vocab[w] for w in o['words']]
    n = len(o['words']); assert len(o['logprobs']) == n and n >= 2
    assert all(lp <= 0 for lp in o['logprobs'])
    assert abs(sum(o['logprobs']) - o['score']) < 1e-4, (sum(o['logprobs']), o['score'])
    assert o['norm_score'] == o['score'] and o['length_norm'] == 0
    assert abs(o['score'] - r['score']) < 0.05, (o['score'], r['score'])
    assert o['finished'] is True and o['beam'] == 3 and o['max_len'] == 50 and o['min_len'] == 0
    m = o['model']
    assert m == {'file': 'model.safetensors', 'encoder': 'resnet', 'arch': 'resnet18', 'grid': 5,
                 'vocab_size': len(vocab)}, m
    a = np.array(o['attention']); ra = np.array(r['alphas'])
    assert a.shape == (n, 5, 5) and ra.shape == a.shape, (a.shape, ra.shape)
    assert np.abs(a.sum(axis=(1, 2)) - 1).max() < 1e-4
    d = np.abs(a - ra).max(); print(o['path'], 'attention max diff', d); assert d < 0.02, d
    assert o['attention_png'] is None
" "$ref" "$tmp/json.txt" "$tmp/ref/WORDMAP.json" "${imgs[@]}"

# The same model with BN folded into the convs (convert_sat.py --fold-bn, used
# in place from the file): same words, same numbers to float rounding.
if "$py" "$src/tools/convert_sat.py" "$tmp/ref/BEST_checkpoint_test.pth.tar" "$tmp/ref/WORDMAP.json" \
    -o "$tmp/folded.safetensors" --fold-bn >"$tmp/conv.log" 2>&1; then pass=$((pass+1)); else
  fail=$((fail+1)); echo "FAIL convert --fold-bn:"; tail -5 "$tmp/conv.log"; fi
check "json folded" 0 "$cli" caption --model "$tmp/folded.safetensors" --json-attention "${imgs[@]}"
pycheck "folded model == unfolded model" "
import sys, json, numpy as np
sys.path.insert(0, sys.argv[3]); import st_numpy
t, meta = st_numpy.load(sys.argv[4])
assert json.loads(meta['saccade.config'])['encoder_bn_folded'] is True
assert 'encoder.conv1.bias' in t and 'encoder.layer1.0.conv1.bias' in t and 'encoder.layer2.0.downsample.0.bias' in t
assert not [k for k in t if '.bn' in k or 'downsample.1' in k], [k for k in t if 'bn' in k][:3]
for a, b in zip(map(json.loads, open(sys.argv[1])), map(json.loads, open(sys.argv[2]))):
    assert a['words'] == b['words'], (a['words'], b['words'])
    assert abs(a['score'] - b['score']) < 1e-4, (a['score'], b['score'])
    assert np.abs(np.array(a['attention']) - np.array(b['attention'])).max() < 1e-5
" "$tmp/json.txt" "$tmp/out" "$src/tools/ref" "$tmp/folded.safetensors"

# --json without attention has no attention field; --length-norm ranks by score/len^a.
check "json length-norm" 0 "$cli" caption --model "$model" --json --length-norm 0.7 "${imgs[0]}"
pycheck "length-norm score" "
import sys, json; o = json.loads(open(sys.argv[1]).read())
assert 'attention' not in o and o['length_norm'] == 0.7
n = len(o['words']); assert abs(o['norm_score'] - o['score'] / n ** 0.7) < 1e-4, o" "$tmp/out"

# --min-len: <end> is held back for that many words.
check "min-len" 0 "$cli" caption --model "$model" --json --min-len 15 "${imgs[1]}"
pycheck "min-len honoured" "
import sys, json; o = json.loads(open(sys.argv[1]).read())
w = o['words']; assert (w[-1] == '<end>' and len(w) - 1 >= 15) or not o['finished'], w" "$tmp/out"

# --max-len: when nothing ends within N + 1 steps, the best unfinished beam.
check "max-len" 0 "$cli" caption --model "$model" --json --max-len 3 "${imgs[0]}"
pycheck "max-len fallback" "
import sys, json; o = json.loads(open(sys.argv[1]).read())
assert o['finished'] is False and len(o['words']) == 4 and '<end>' not in o['words'], o
assert o['caption'] == ' '.join(o['words'])" "$tmp/out"

# --threads gives the same captions.
check "threads 1" 0 "$cli" caption --model "$model" --threads 1 --json "${imgs[@]}"
cp "$tmp/out" "$tmp/t1.txt"
check "threads 2" 0 "$cli" caption --model "$model" --threads 2 --json "${imgs[@]}"
yes_ "threads 1 == threads 2 captions" "[ \"\$(cut -d, -f1-3 $tmp/t1.txt)\" = \"\$(cut -d, -f1-3 $tmp/out)\" ]"

# --attention FILE.png names one figure: with several inputs the complaint is
# about --attention (not -o), and nothing is written.
check "attention FILE.png with two inputs" 2 "$cli" caption --model "$model" --attention "$tmp/one.png" "${imgs[@]:0:2}"
expect_grep "attention FILE.png with two inputs says why" "$tmp/err" "^saccade caption: --attention $tmp/one.png names one file but the inputs hold 2 images; give a directory instead"
yes_ "attention FILE.png with two inputs writes nothing" '[ ! -e "$tmp/one.png" ]'
# --attention DIR: one grid per image, 1 + tokens panels of 224 (8 per row).
check "attention dir" 0 "$cli" caption --model "$model" --json --attention "$tmp/att" "${imgs[@]}"
pycheck "attention grids" "
import sys, json, os, cv2, numpy as np
d = sys.argv[2]
files = sorted(os.listdir(d)); assert files == ['astronaut.attention.png', 'chelsea.attention.png',
                                                 'coffee.attention.png'], files
for o in map(json.loads, open(sys.argv[1])):
    stem = os.path.basename(o['path'])[:-4]
    assert o['attention_png'] == os.path.join(d, stem + '.attention.png'), o['attention_png']
    a = cv2.imread(o['attention_png']); h, w = a.shape[:2]
    n = 1 + len(o['words']); cols = min(n, 8); rows = -(-n // cols)
    assert w == 8 + cols * (224 + 8), (w, cols)
    assert rows * (224 + 8) < h < rows * (224 + 8 + 30) + 8, (h, rows)
    img = cv2.resize(cv2.imread(o['path']), (224, 224), interpolation=cv2.INTER_AREA)
    p0 = a[8:232, 8:232].astype(float)
    assert np.abs(p0 - img).mean() < 6, np.abs(p0 - img).mean()   # panel 0: the photo
    # panel 1: the photo under a gray attention overlay: brighter where attention is high
    att = np.array(o['attention'])[0] if 'attention' in o else None
    p1 = a[8:232, 240:464].astype(float).mean(axis=2)
    assert np.abs(p1 - p0.mean(axis=2)).mean() > 10
" "$tmp/out" "$tmp/att"

# Panel brightness follows the attention map (gray colormap: attended = light).
check "attention brightness" 0 "$cli" caption --model "$model" --json-attention --attention "$tmp/one.png" "${imgs[2]}"
pycheck "bright where attended" "
import sys, json, cv2, numpy as np
o = json.loads(open(sys.argv[1]).read()); a = cv2.imread(sys.argv[2]).astype(float).mean(axis=2)
for t in range(min(3, len(o['words']))):
    al = np.array(o['attention'][t]); n = al.shape[0]; cell = 224 // n
    x0 = 8 + (t + 1) * 232; p = a[8:232, x0:x0 + 224]
    means = np.array([[p[i*cell:(i+1)*cell, j*cell:(j+1)*cell].mean() for j in range(n)] for i in range(n)])
    hi = np.unravel_index(al.argmax(), al.shape); lo = np.unravel_index(al.argmin(), al.shape)
    assert means[hi] > means[lo] + 20, (t, means[hi], means[lo])
" "$tmp/out" "$tmp/one.png"

# Batch: a corrupt image is reported, the rest captioned, exit 1.
head -c 2000 "${imgs[0]}" >"$tmp/corrupt.jpg"
check "corrupt in batch" 1 "$cli" caption --model "$model" "${imgs[0]}" "$tmp/corrupt.jpg" "${imgs[1]}"
expect_grep "corrupt reported" "$tmp/err" "^saccade: $tmp/corrupt.jpg: "
yes_ "others captioned" "[ \$(wc -l < $tmp/out) -eq 2 ]"
check "missing input in batch" 1 "$cli" caption --model "$model" "$tmp/nope.jpg" "${imgs[1]}"
expect_grep "missing input reported" "$tmp/err" "nope.jpg"
yes_ "other captioned" "[ \$(wc -l < $tmp/out) -eq 1 ]"

# Standard input as a list of paths; a directory is searched.
printf '%s\n' "${imgs[@]}" | "$cli" caption --model "$model" - >"$tmp/stdin.txt" 2>"$tmp/err"
yes_ "stdin list exit 0" "[ $? -eq 0 ]"
yes_ "stdin list == arguments" "cmp -s $tmp/stdin.txt $tmp/plain3.txt"
mkdir -p "$tmp/dir/sub"; cp "${imgs[1]}" "$tmp/dir/sub/"; cp "${imgs[2]}" "$tmp/dir/"
check "directory" 0 "$cli" caption --model "$model" "$tmp/dir"
yes_ "directory: 2 captions" "[ \$(wc -l < $tmp/out) -eq 2 ]"

# The default model is found through SACCADE_ASSETS.
mkdir -p "$tmp/assets/models"; cp "$model" "$tmp/assets/models/scenes-captioner.safetensors"
SACCADE_ASSETS="$tmp/assets" "$cli" caption "${imgs[1]}" >"$tmp/def.txt" 2>"$tmp/err"
yes_ "default model via SACCADE_ASSETS" "[ $? -eq 0 ] && [ \"\$(cat $tmp/def.txt)\" = \"\$(sed -n 2p $tmp/plain3.txt)\" ]"

# Missing or bad model: exit 1 with the file named.
check "missing model" 1 "$cli" caption --model "$tmp/none.safetensors" "${imgs[0]}"
expect_grep "missing model named" "$tmp/err" "none.safetensors"
check "not a model" 1 "$cli" caption --model "${imgs[0]}" "${imgs[0]}"
expect_grep "not a model named" "$tmp/err" "astronaut.jpg"

# Usage errors: exit 2.
check "no input" 2 "$cli" caption --model "$model"
check "beam 0" 2 "$cli" caption --model "$model" --beam 0 "${imgs[0]}"
check "beam junk" 2 "$cli" caption --model "$model" --beam 3x "${imgs[0]}"
check "max-len 0" 2 "$cli" caption --model "$model" --max-len 0 "${imgs[0]}"
check "min-len > max-len" 2 "$cli" caption --model "$model" --min-len 9 --max-len 5 "${imgs[0]}"
check "length-norm negative" 2 "$cli" caption --model "$model" --length-norm -1 "${imgs[0]}"
check "unknown option" 2 "$cli" caption --model "$model" --frobnicate "${imgs[0]}"
check "model without value" 2 "$cli" caption "${imgs[0]}" --model
check "bad colormap" 2 "$cli" caption --model "$model" --colormap nope "${imgs[0]}"
check "bad alpha" 2 "$cli" caption --model "$model" --alpha 1.5 "${imgs[0]}"
check "attention file for 3 images" 2 "$cli" caption --model "$model" --attention "$tmp/x.png" "${imgs[@]}"
check "threads 0" 2 "$cli" caption --model "$model" --threads 0 "${imgs[0]}"
check "help" 0 "$cli" caption --help
expect_grep "help names the default model" "$tmp/out" "scenes-captioner.safetensors"
check "listed in saccade --help" 0 "$cli" --help
expect_grep "caption verb listed" "$tmp/out" "^  caption "

# The bundled scenes model warns on a photo (stderr and JSON), not on a scene;
# a model of the user's own never warns.
check "bundled model on a photo" 0 "$cli" caption --json "${imgs[0]}"
expect_grep "photo: warning on stderr" "$tmp/err" "warning: the bundled model knows only synthetic Fashion scenes; see README 'Caption your own photos'"
expect_grep "photo: warning in the JSON" "$tmp/out" '"warning": "the bundled model knows only synthetic Fashion scenes; see README .Caption your own photos."'
check "bundled model on a scene" 0 "$cli" caption --json "$samples/scenes/images/test_000000.png"
yes_ "scene: no warning" "! grep -q warning $tmp/err $tmp/out"
check "own model on a photo" 0 "$cli" caption --model "$model" --json "${imgs[0]}"
yes_ "own model: no warning" "! grep -q warning $tmp/err $tmp/out"

echo "test_caption: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

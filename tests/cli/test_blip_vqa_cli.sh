#!/usr/bin/env bash
# 'saccade vqa --model DIR', 'saccade ground' and 'saccade saliency --method
# itm' with random-weight BLIP VQA / image-text matching folders (the tiny
# size of tools/ref/make_blip_task_folder.py): answers equal the PyTorch
# twin's (tools/ref/ref_blip_vqa.py), questions on stdin are answered with the
# image encoded once, --json is valid, --attention draws one panel per
# question word and answer token; ground's match probability and cosine equal
# the twin's, its figure has the phrase and one panel per word; bad
# questions, texts and folders exit 1 with a clear message.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cliblipvqa.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
ref="$src/tools/ref"
export OMP_NUM_THREADS=1
# a PNG copy: both sides decode the same pixels
img="$tmp/chelsea.png"
check "png copy" 0 "$py" -c "from PIL import Image; import sys; Image.open(sys.argv[1]).save(sys.argv[2])" \
  "$src/assets/samples/chelsea.jpg" "$img"
check "make vqa folder" 0 "$py" "$ref/make_blip_task_folder.py" "$tmp/vqa" --task vqa --seed 21 --sep-bias 4
check "make itm folder" 0 "$py" "$ref/make_blip_task_folder.py" "$tmp/itm" --task itm --seed 22
q1="what is the cat doing?"; q2="is it on the grass"

# ---- vqa: answers == twin, one question and stdin
check "vqa twin" 0 "$py" "$ref/ref_blip_vqa.py" vqa "$tmp/vqa" "$img" --out "$tmp/ref" --quiet \
  --question "$q1" --question "$q2"
check "vqa one question" 0 "$cli" vqa --model "$tmp/vqa" "$img" "$q1" --json
cp "$tmp/out" "$tmp/one.jsonl"
printf '%s\n\n%s\n' "$q1" "$q2" >"$tmp/qs"
check "vqa stdin" 0 sh -c "'$cli' vqa --model '$tmp/vqa' '$img' --json --attention '$tmp/att.png' <'$tmp/qs'"
cp "$tmp/out" "$tmp/stdin.jsonl"
pycheck "vqa: twin answers, fields, figures" "
import sys, json, numpy as np, cv2
one = [json.loads(l) for l in open(sys.argv[1])]
objs = [json.loads(l) for l in open(sys.argv[2])]
assert len(one) == 1 and len(objs) == 2, (one, objs)
assert one[0]['answer'] == objs[0]['answer']
for i, o in enumerate(objs):
    r = json.load(open('%s/q%d/result.json' % (sys.argv[3], i)))
    assert o['question'] == r['question']
    assert o['answer'] == r['answer'], (o['answer'], r['answer'])
    ids = r['ids'][1:]
    assert o['ended'] == (len(ids) > 0 and ids[-1] == 5)
    assert abs(o['logprob'] - r['logprob']) < 1e-3 * (1 + abs(r['logprob'])), (o['logprob'], r['logprob'])
    assert o['question_tokens'][0] == '[CLS]' and o['question_tokens'][-1] == '[SEP]'
    a = np.array(o['answer_attention'])
    assert a.shape == (len(o['answer_tokens']), len(o['question_tokens'])), a.shape
    assert np.allclose(a.sum(1), 1, atol=1e-4)
    fig = cv2.imread(o['attention_png'])
    n = len(o['question_tokens']) - 2 + len(o['answer_tokens']) + 1
    cols = min(n, 8)
    assert fig is not None and fig.shape[1] == 8 + cols * (224 + 8), (o['attention_png'], None if fig is None else fig.shape)
    assert o['attention_png'].endswith('att-%d.png' % (i + 1))
" "$tmp/one.jsonl" "$tmp/stdin.jsonl" "$tmp/ref"
check "vqa text" 0 "$cli" vqa --model "$tmp/vqa" "$img" "$q1"
expect_grep "vqa text: answer (score)" "$tmp/out" '^.* \([0-9]\.[0-9]{3}\)$'
check "vqa beam" 0 "$cli" vqa --model "$tmp/vqa" "$img" "$q1" --beam 3 --max-len 6 --json

# ---- bad questions and folders: exit 1, clear message
check "vqa empty question" 1 "$cli" vqa --model "$tmp/vqa" "$img" ""
expect_grep "vqa empty: message" "$tmp/err" "question is empty"
check "vqa invalid utf-8" 1 "$cli" vqa --model "$tmp/vqa" "$img" "$(printf 'what \377?')"
expect_grep "vqa utf-8: message" "$tmp/err" "UTF-8"
check "vqa too long" 1 "$cli" vqa --model "$tmp/vqa" "$img" "$(printf 'cat %.0s' $(seq 80))"
expect_grep "vqa too long: message" "$tmp/err" "too long"
printf '%s\n\377\n%s\n' "$q1" "$q2" >"$tmp/qbad"
check "vqa stdin with a bad line" 1 sh -c "'$cli' vqa --model '$tmp/vqa' '$img' <'$tmp/qbad'"
yes_ "vqa stdin: the good lines answered" "[ \$(wc -l <'$tmp/out') -eq 2 ]"
check "vqa with an itm folder" 1 "$cli" vqa --model "$tmp/itm" "$img" "$q1"
expect_grep "vqa itm folder: message" "$tmp/err" "no tensor named text_decoder"
mkdir -p "$tmp/empty"
check "vqa empty folder" 1 "$cli" vqa --model "$tmp/empty" "$img" "$q1"
expect_grep "vqa empty folder: message" "$tmp/err" "config.json"
check "vqa --beam without BLIP" 2 "$cli" vqa "$img" "$q1" --beam 3

# ---- ground: scores == twin, figure, json
check "itm twin" 0 "$py" "$ref/ref_blip_vqa.py" itm "$tmp/itm" "$img" --out "$tmp/iref" --quiet \
  --text "a red cat" --text "dog" --layer 0
check "ground" 0 "$cli" ground "$img" "a red cat" "dog" --model "$tmp/itm" --json \
  --attention-layer 0 --attention "$tmp/g.png"
cp "$tmp/out" "$tmp/g.jsonl"
pycheck "ground: twin scores, figure" "
import sys, json, numpy as np, cv2
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == 2
for i, o in enumerate(objs):
    r = json.load(open('%s/t%d/scores.json' % (sys.argv[2], i)))
    assert abs(o['match'] - r['probability']) <= 2e-6, (o['match'], r['probability'])
    assert abs(o['cosine'] - r['cosine']) <= 2e-6, (o['cosine'], r['cosine'])
    assert o['tokens'][0] == '[CLS]' and o['layer'] == 0
    ph = np.load('%s/t%d/phrase.npy' % (sys.argv[2], i))
    fig = cv2.imread(o['attention_png'])
    n = 1 + 1 + len(o['tokens']) - 2
    assert fig is not None and fig.shape[1] == 8 + min(n, 8) * (224 + 8), fig.shape
" "$tmp/g.jsonl" "$tmp/iref"
check "ground text" 0 "$cli" ground "$img" "a red cat" --model "$tmp/itm"
expect_grep "ground text" "$tmp/out" '^"a red cat": match 0\.[0-9]{3}, cosine -?[0-9]\.[0-9]{3}, peak at'
check "ground empty text" 1 "$cli" ground "$img" "" "dog" --model "$tmp/itm"
expect_grep "ground empty: message" "$tmp/err" "phrase is empty"
yes_ "ground empty: the other text matched" "grep -q '\"dog\"' '$tmp/out'"
check "ground without --model" 2 "$cli" ground "$img" "dog"
check "ground with a vqa folder" 1 "$cli" ground "$img" "dog" --model "$tmp/vqa"
expect_grep "ground vqa folder: message" "$tmp/err" "no tensor named vision_proj"

# ---- saliency --method itm: the phrase map, its peak where ground says
check "saliency itm" 0 "$cli" saliency "$img" --method itm --text "a red cat" --model "$tmp/itm" \
  --attention-layer 0 -o "$tmp/s.png" --raw "$tmp/s.npy" --json
cp "$tmp/out" "$tmp/s.json"
pycheck "saliency itm: map, peak" "
import sys, json, numpy as np
o = json.loads(open(sys.argv[1]).read())
g = json.loads(open(sys.argv[2]).readline())
m = np.load(sys.argv[3])
assert o['model_kind'] == 'blip-itm' and o['text'] == 'a red cat'
assert abs(m.max() - 1) < 1e-6 and m.min() >= 0
assert (o['peak']['x'], o['peak']['y']) == (g['peak']['x'], g['peak']['y']), (o['peak'], g['peak'])
" "$tmp/s.json" "$tmp/g.jsonl" "$tmp/s.npy"
check "saliency itm without --text" 2 "$cli" saliency "$img" --method itm --model "$tmp/itm" -o "$tmp/x.png"
check "saliency --text without itm" 2 "$cli" saliency "$img" --text dog -o "$tmp/x.png"
check "saliency itm on a captioner-kind folder" 1 "$cli" saliency "$img" --method itm --text dog \
  --model "$tmp/vqa" -o "$tmp/x.png"
expect_grep "saliency itm wrong model: message" "$tmp/err" "BlipForImageTextRetrieval"
yes_ "no output on failure" "[ ! -e '$tmp/x.png' ]"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

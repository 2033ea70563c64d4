#!/usr/bin/env bash
# 'saccade caption --model DIR' with a BLIP folder (random weights, the tiny
# size of tools/ref/make_blip_folder.py): captions equal the PyTorch twin's
# (tools/ref/ref_blip.py) greedy, with beam search and a prompt, --json is
# valid, --attention draws one panel per generated token, bad folders exit 1
# with a clear message and write nothing, and the --html gallery loads in a
# headless browser with the captions and per-word attention maps and no
# console error.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cliblip.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
ref="$src/tools/ref"
samples="$src/assets/samples"
export OMP_NUM_THREADS=1
# A PNG copy of the photo: both sides then decode the same pixels (JPEG
# decoders differ in their IDCT and chroma upsampling).
img="$tmp/chelsea.png"
check "png copy" 0 "$py" -c "from PIL import Image; import sys; Image.open(sys.argv[1]).save(sys.argv[2])" \
  "$samples/chelsea.jpg" "$img"

check "make tiny folder" 0 "$py" "$ref/make_blip_folder.py" "$tmp/tiny" --size tiny --seed 3
dir="$tmp/tiny"

# twin NAME CLI-OPTIONS -- TWIN-OPTIONS: the CLI's caption == the twin's text.
twin() {
  local name=$1; shift
  local copts=() topts=()
  while [ "$1" != "--" ]; do copts+=("$1"); shift; done; shift
  topts=("$@")
  check "$name: twin" 0 "$py" "$ref/ref_blip.py" run "$dir" "$img" --out "$tmp/ref_$name" --quiet "${topts[@]}"
  check "$name: saccade" 0 "$cli" caption --model "$dir" "${copts[@]}" "$img"
  printf '%s\t%s\n' "$img" "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$tmp/ref_$name/result.json" "${TWIN_KEY:-text}")" >"$tmp/want"
  yes_ "$name: caption == twin" "cmp -s $tmp/out $tmp/want || { cat $tmp/out $tmp/want; false; }"
}
twin greedy --
twin beam3 --beam 3 -- --beam 3
twin beam5_prompt --beam 5 --prompt "a picture of" --max-len 9 -- --beam 5 --prompt "a picture of" --max-len 9
twin lp_minlen --beam 3 --length-penalty 0.5 --min-len 6 --max-len 12 -- --beam 3 --length-penalty 0.5 --min-len 6 --max-len 12
TWIN_KEY=text_new twin strip --prompt "a picture of" --strip-prompt -- --prompt "a picture of"

# --json: valid, the twin's ids and log-probabilities, attention maps that are
# probabilities.
check "json-attention" 0 "$cli" caption --model "$dir" --json-attention --beam 3 "$img" "$samples/coffee.jpg"
cp "$tmp/out" "$tmp/cap.jsonl"
pycheck "json: fields, twin ids, attention" "
import sys, json, numpy as np
objs = [json.loads(l) for l in open(sys.argv[1])]
assert len(objs) == 2
ref = json.load(open(sys.argv[2]))
o = objs[0]
assert o['tokens'] == ref['ids'][1:len(o['tokens']) + 1], (o['tokens'], ref['ids'])
assert o['model']['arch'] == 'blip' and o['model']['grid'] == 3 and o['beam'] == 3
assert len(o['pieces']) == len(o['tokens']) == len(o['attention']) == len(o['class_attention'])
# whole words: pieces joined, their maps' mean, their log-probabilities' sum
assert sum(o['word_pieces']) == len(o['pieces']) and len(o['words']) == len(o['word_pieces'])
s = np.cumsum([0] + o['word_pieces'])
for w, word in enumerate(o['words']):
    ps = o['pieces'][s[w]:s[w + 1]]
    head = ps[0][2:] if w == 0 and ps[0].startswith('##') and len(ps[0]) > 2 else ps[0]
    assert word == head + ''.join(p[2:] for p in ps[1:]) and all(p.startswith('##') for p in ps[1:])
    np.testing.assert_allclose(o['word_attention'][w], np.mean(o['attention'][s[w]:s[w + 1]], 0), atol=1e-6)
    assert abs(o['word_logprobs'][w] - sum(o['logprobs'][s[w]:s[w + 1]])) < 1e-5
a = np.array(o['attention']); assert a.shape == (len(o['tokens']), 3, 3), a.shape
tot = a.sum((1, 2)) + np.array(o['class_attention'])
assert np.allclose(tot, 1, atol=1e-5), tot
assert o['attention_layer'] == 1 and o['attention_heads'] == [0, 1, 2, 3]
assert 'warning' not in o
# log-probabilities: the twin's per token ([SEP]'s last), the beam score from them
lp = o['logprobs'] + ([o['end_logprob']] if o['finished'] else [])
assert o['finished'] or o['end_logprob'] is None
assert len(o['logprobs']) == len(o['tokens'])
np.testing.assert_allclose(lp, ref['token_logprobs'], rtol=1e-4, atol=1e-5)
assert abs(o['score'] - ref['score']) <= 1e-4 * (1 + abs(ref['score'])), (o['score'], ref['score'])
assert abs(o['score'] - sum(lp) / len(lp)) <= 1e-4 * (1 + abs(o['score']))
" "$tmp/cap.jsonl" "$tmp/ref_beam3/result.json"

# --attention-layer / --attention-heads: the twin's cross-attention of that
# layer and those heads, class token left out.
check "attention layer 0 heads 1,3" 0 "$cli" caption --model "$dir" --json-attention \
  --attention-layer 0 --attention-heads 1,3 "$img"
pycheck "layer/heads maps == twin's" "
import sys, json, numpy as np
o = json.loads(open(sys.argv[1]).readline())
ca = np.load(sys.argv[2] + '/step_cross_attn.npy')   # (steps, layers, heads, 1 + G*G)
want = ca[:len(o['tokens']), 0, [1, 3], 1:].mean(1).reshape(-1, 3, 3)
got = np.array(o['attention'])
assert np.allclose(got, want, rtol=1e-4, atol=1e-6), np.abs(got - want).max()
" "$tmp/out" "$tmp/ref_greedy"

# --attention DIR: one figure per image, 1 + tokens panels (224 px, 8 per row).
check "attention figures" 0 "$cli" caption --model "$dir" --json --max-len 6 \
  --attention "$tmp/att" "$img" "$samples/coffee.jpg"
pycheck "one panel per word" "
import sys, json, os, cv2
d = sys.argv[2]
assert sorted(os.listdir(d)) == ['chelsea.attention.png', 'coffee.attention.png'], os.listdir(d)
for o in map(json.loads, open(sys.argv[1])):
    a = cv2.imread(o['attention_png']); h, w = a.shape[:2]
    n = 1 + len(o['words']); cols = min(n, 8); rows = -(-n // cols)
    assert w == 8 + cols * (224 + 8), (w, n)
    assert rows * (224 + 8) < h < rows * (224 + 8 + 30) + 8, (h, rows)
" "$tmp/out" "$tmp/att"

# Sampling: reproducible with a seed.
check "sample seed 7" 0 "$cli" caption --model "$dir" --top-p 0.9 --temperature 0.7 --seed 7 "$img"
cp "$tmp/out" "$tmp/s1"
check "sample seed 7 again" 0 "$cli" caption --model "$dir" --top-p 0.9 --temperature 0.7 --seed 7 "$img"
yes_ "same seed, same caption" "cmp -s $tmp/s1 $tmp/out"
check "sampling with beams refused" 2 "$cli" caption --model "$dir" --beam 3 --top-p 0.9 "$img"
check "prompt on a captioner refused" 2 "$cli" caption --prompt "a" "$img"
check "layer out of range" 2 "$cli" caption --model "$dir" --attention-layer 2 "$img"

# A saccade single-file BLIP model (config and vocabulary in its metadata).
"$py" - "$dir" "$tmp/single.safetensors" <<'PY' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL single file"; }
import sys, json, struct, numpy as np
d, out = sys.argv[1], sys.argv[2]
raw = open(d + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
h["__metadata__"] = {"saccade.model": "blip", "saccade.config": open(d + "/config.json").read(),
                     "saccade.vocab": open(d + "/vocab.txt").read(),
                     "saccade.preprocessor": open(d + "/preprocessor_config.json").read()}
hb = json.dumps(h).encode()
hb += b" " * (-len(hb) % 8)
open(out, "wb").write(struct.pack("<Q", len(hb)) + hb + raw[8 + n:])
PY
check "single file" 0 "$cli" caption --model "$tmp/single.safetensors" "$img"
printf '%s\t%s\n' "$img" "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' "$tmp/ref_greedy/result.json")" >"$tmp/want"
yes_ "single file == twin" "cmp -s $tmp/out $tmp/want"

# Bad folders: exit 1, one clear line, nothing written.
cp -r "$dir" "$tmp/novocab"; rm "$tmp/novocab/vocab.txt"
check "missing vocab.txt" 1 "$cli" caption --model "$tmp/novocab" --html "$tmp/g_bad1" --attention "$tmp/a_bad1" "$img"
expect_grep "names the missing file" "$tmp/err" "vocab.txt"
cp -r "$dir" "$tmp/badcfg"
"$py" -c "
import json, sys; p = sys.argv[1] + '/config.json'; c = json.load(open(p))
c.setdefault('text_config', {})['hidden_size'] = 'big'; json.dump(c, open(p, 'w'))" "$tmp/badcfg"
check "config field of the wrong type" 1 "$cli" caption --model "$tmp/badcfg" --json --html "$tmp/g_bad2" --attention "$tmp/a_bad2" "$img"
expect_grep "names the field" "$tmp/err" "hidden_size"
yes_ "bad config: no stdout" "[ ! -s $tmp/out ]"
mkdir "$tmp/empty"
check "folder without config.json" 1 "$cli" caption --model "$tmp/empty" --attention "$tmp/a_bad3" "$img"
expect_grep "says config.json" "$tmp/err" "config.json"
yes_ "bad folders wrote nothing" "[ ! -e $tmp/g_bad1 ] && [ ! -e $tmp/a_bad1 ] && [ ! -e $tmp/g_bad2 ] && [ ! -e $tmp/a_bad2 ] && [ ! -e $tmp/a_bad3 ]"

# saccade saliency with a BLIP folder: attention and gradcam for a word of the
# caption (the step is the word's first position), clear errors otherwise.
check "greedy json" 0 "$cli" caption --model "$dir" --json "$img"
word=$("$py" -c 'import json,sys; o=json.loads(open(sys.argv[1]).readline()); print(o["words"][2])' "$tmp/out")
word_saliency_checks blip "$dir" "$img" "$word" "$tmp/ref_greedy/result.json" 0.05 1

# The gallery in a headless browser.
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "FAIL: chromium not found (tools/deps.sh test installs it)"; exit 1
fi
gal="$tmp/gallery"
check "caption --html" 0 "$cli" caption --model "$dir" --json --max-len 8 --html "$gal" \
  "$img" "$samples/coffee.jpg" "$samples/astronaut.jpg"
cp "$tmp/out" "$tmp/gal.jsonl"
prof=$(mktemp -d "$tmp/profile.XXXXXX")
timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$prof" --enable-logging=stderr --v=0 --virtual-time-budget=10000 \
  --dump-dom "file://$gal/index.html" >"$tmp/b.dom" 2>"$tmp/b.log"
yes_ "browser ran" "[ -s $tmp/b.dom ]"
yes_ "no console messages or uncaught errors" "! grep -E 'CONSOLE|Uncaught' $tmp/b.log"
pycheck "DOM: loaded, captions, thumbnails; a map per word in each page; 60 KB per image" "
import sys, json, os, html.parser, urllib.parse
dom = open(sys.argv[1], encoding='utf-8').read()
objs = [json.loads(l) for l in open(sys.argv[2])]
gal = sys.argv[3]
st = {'body': None, 'imgs': [], 'broken': 0, 'caps': [], 'cur': False}
class P(html.parser.HTMLParser):
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'body': st['body'] = a.get('data-gallery')
        if tag == 'img':
            st['imgs'].append(a['src'])
            if 'data-broken' in a: st['broken'] += 1
        st['cur'] = tag == 'span' and a.get('class') == 'cap'
        if st['cur']: st['caps'].append('')
    def handle_endtag(self, tag):
        if tag == 'span': st['cur'] = False
    def handle_data(self, d):
        if st['cur']: st['caps'][-1] += d
P().feed(dom)
assert st['body'] == 'ok', st['body']
assert st['broken'] == 0
assert st['caps'] == [o['caption'] for o in objs], (st['caps'], [o['caption'] for o in objs])
assert st['imgs'] == [o['html_thumbnail'] for o in objs], st['imgs']
import re
for o in objs:
    stem = os.path.basename(o['path']).rsplit('.', 1)[0]
    item = open(os.path.join(gal, 'items', stem + '.html'), encoding='utf-8').read()
    g = int(re.search(r'<figure class=\"fig\" data-grid=\"([0-9]+)\"', item).group(1))
    maps = re.findall(r'<canvas class=\"map\" width=\"64\" height=\"64\" data-a=\"([0-9a-f]*)\"', item)
    assert len(maps) == len(o['words']) and all(len(m) == 2 * g * g for m in maps), (stem, g, len(maps))
size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(gal) for f in fs)
assert size <= len(objs) * 60 * 1024, size / len(objs)
" "$tmp/b.dom" "$tmp/gal.jsonl" "$gal"
# an image's page: every map drawn by the page's script, no console message
stem=$("$py" -c 'import json,sys,os; print(os.path.basename(json.loads(open(sys.argv[1]).readline())["path"]).rsplit(".", 1)[0])' "$tmp/gal.jsonl")
prof=$(mktemp -d "$tmp/profile.XXXXXX")
timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$prof" --enable-logging=stderr --v=0 \
  --dump-dom "file://$gal/items/$stem.html" >"$tmp/i.dom" 2>"$tmp/i.log"
yes_ "item page: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/i.log"
yes_ "item page: maps drawn" "grep -q 'data-maps=\"drawn\"' $tmp/i.dom && grep -q 'data-gallery=\"ok\"' $tmp/i.dom"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# 'saccade caption --html DIR' in a real headless browser (Debian's chromium,
# installed by tools/deps.sh test): the pages load from disk with no console
# error, every link and image resolves (each page marks broken images with
# data-broken and sets <body data-gallery="ok|broken">), captions and paths
# are in the DOM as text (escaping round-trips), nothing is fetched from the
# network, the search box and the page navigation work, each image's page
# shows its per-word maps (drawn by the page's script from the attention
# grids in the page, and equal to OpenCV's upsampling, blur and scaling of
# the same attention), failed inputs are listed once, and a
# second run into a folder inside its input does not caption the gallery's
# own files. Then a gallery of 2,000 images (real captions of the sample
# scenes written many times over by the library, test_gallery_scale) opens
# in under 2 s with search and navigation working.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
build=${SACCADE_BUILD_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cligal.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "FAIL: chromium not found (tools/deps.sh test installs it)"; exit 1
fi
# browse OUTPREFIX URL [extra flags]: OUTPREFIX.dom (--dump-dom), OUTPREFIX.log
# (stderr). The page's scripts have run when the DOM is dumped.
browse() {
  local out=$1 url=$2; shift 2
  local prof; prof=$(mktemp -d "$tmp/profile.XXXXXX")
  timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$prof" --enable-logging=stderr --v=0 --window-size=1280,4000 \
    "$@" --dump-dom "$url" >"$out.dom" 2>"$out.log"
  rm -rf "$prof"
}
# The DOM of a dumped page as JSON: body attributes, cards (caption, path,
# href, img), results cards, hits text, item page caption, figure (its
# data-maps: "drawn" once the script drew every map), maps, words.
dom_json() {
  "$py" - "$1" <<'PY'
import sys, json, html.parser
st = {'body': {}, 'cards': [], 'results': [], 'hits': '', 'h1': '', 'figure': None, 'maps': 0,
      'words': [], 'broken': 0, 'rel': {}, 'imgs': []}
class P(html.parser.HTMLParser):
    stack = []; where = None; card = None; span = None
    def handle_starttag(self, tag, a):
        a = dict(a)
        if tag == 'body': st['body'] = a
        if tag == 'div' and a.get('id') == 'results': self.where = 'results'
        if tag == 'main': self.where = 'cards'
        if tag == 'a' and a.get('class') == 'card':
            self.card = {'href': a['href'], 'cap': '', 'path': ''}
            st[self.where].append(self.card)
        if tag == 'a' and a.get('rel') and a['rel'] not in st['rel']: st['rel'][a['rel']] = a['href']
        if tag == 'img':
            st['imgs'].append(a['src'])
            if 'data-broken' in a: st['broken'] += 1
            if self.card is not None: self.card['img'] = a['src']
        if tag == 'figure': st['figure'] = a.get('data-maps')
        if tag == 'canvas' and a.get('class') == 'map': st['maps'] += 1
        if tag == 'span':
            c = a.get('class')
            self.span = c
            if c == 'w': st['words'].append('')
            if c == 'hits' or a.get('id') == 'hits': self.span = 'hits'
        if tag == 'h1' and a.get('class') == 'caption': self.span = 'h1'
    def handle_endtag(self, tag):
        if tag == 'a': self.card = None
        if tag in ('div', 'main'): self.where = None
        if tag in ('span', 'h1'): self.span = None
    def handle_data(self, d):
        if self.card is not None and self.span in ('cap', 'path'): self.card[self.span] += d
        elif self.span == 'w': st['words'][-1] += d
        elif self.span == 'hits': st['hits'] += d
        elif self.span == 'h1': st['h1'] += d
P().feed(open(sys.argv[1], encoding='utf-8').read())
print(json.dumps(st))
PY
}

# Inputs: the sample photos, copies with names that need escaping in HTML and
# in URLs, and a corrupt file (reported, listed, exit 1). The shipped model
# warns that they are not scenes; the captions are what they are.
in="$tmp/in dir"; mkdir -p "$in"
cp "$src/assets/samples/"*.jpg "$in/"
cp "$src/assets/samples/chelsea.jpg" "$in/we<ird> & \"quoted\" 'name' #1 ?%.jpg"
cp "$src/assets/samples/coffee.jpg" "$in/café ünïcødé.jpg"
head -c 3000 "$src/assets/samples/coffee.jpg" >"$in/zz-corrupt.jpg"
gal="$tmp/gallery"
check "caption --html (one corrupt input)" 1 "$cli" caption --json --html "$gal" --html-page-size 2 "$in"
cp "$tmp/out" "$tmp/captions.jsonl"
yes_ "5 images captioned" "[ \$(wc -l < $tmp/captions.jsonl) -eq 5 ]"

# Static checks: every link of every page resolves, no network reference, no
# temporary file, the failed input listed once without its path repeated.
pycheck "gallery files and links" "
import sys, os, re, json, html.parser, urllib.parse
gal = sys.argv[1]
objs = [json.loads(l) for l in open(sys.argv[2])]
stems = [os.path.basename(o['path'])[:-4] for o in objs]
files = sorted(os.path.relpath(os.path.join(r, f), gal) for r, _, fs in os.walk(gal) for f in fs)
want = sorted(['index.html', 'page-2.html', 'page-3.html', 'failed.html', 'search.js',
               'gallery.css', 'gallery.js', '.saccade-gallery']
              + ['%s/%s.%s' % (d, s, e) for s in stems for d, e in
                 (('images', 'jpg'), ('items', 'html'))])
assert files == want, (files, want)
for o, s in zip(objs, stems): assert o['html_thumbnail'] == 'images/%s.jpg' % s
nref = 0
for f in files:
    text = open(os.path.join(gal, f), encoding='utf-8', errors='replace').read()
    assert not re.search(r'(?i)(https?:|//[a-z]|@import)', text), (f, 'external reference')
    if not f.endswith('.html'): continue
    refs = re.findall(r'(?:src|href)=\"([^\"]*)\"', text) + re.findall(r'url\(([^)]*)\)', text)
    for r in refs:
        r = r.split('#')[0].split('?')[0]
        if not r: continue
        assert not r.startswith('/') and ':' not in r, (f, r)
        p = os.path.normpath(os.path.join(gal, os.path.dirname(f), urllib.parse.unquote(r)))
        assert p.startswith(gal) and os.path.isfile(p), (f, r, p)
        nref += 1
assert nref > 50, nref
failed = open(os.path.join(gal, 'failed.html'), encoding='utf-8').read()
li = re.findall(r'<li>(.*?)</li>', failed)
assert len(li) == 1 and li[0].count('zz-corrupt.jpg') == 1, li
" "$gal" "$tmp/captions.jsonl"

# In the browser: page 1 of 3 (2 per page), no console message, captions and
# paths of the first two images, links to the next pages.
browse "$tmp/b1" "file://$gal/index.html"
yes_ "browser ran" "[ -s $tmp/b1.dom ]"
yes_ "no console messages or uncaught errors" "! grep -E 'CONSOLE|Uncaught' $tmp/b1.log"
dom_json "$tmp/b1.dom" >"$tmp/b1.json"
pycheck "page 1: loaded, no broken image, captions, paths, pager" "
import sys, json
d = json.load(open(sys.argv[1])); objs = [json.loads(l) for l in open(sys.argv[2])]
assert d['body'].get('data-gallery') == 'ok', d['body']
assert 0 <= int(d['body']['data-load-ms']) < 60000
assert d['broken'] == 0
assert [c['cap'] for c in d['cards']] == [o['caption'] for o in objs[:2]], d['cards']
assert [c['path'] for c in d['cards']] == [o['path'] for o in objs[:2]]
assert d['rel'].get('next') == 'page-2.html' and d['rel'].get('last') == 'page-3.html', d['rel']
assert 'prev' not in d['rel']
" "$tmp/b1.json" "$tmp/captions.jsonl"

# Navigation: page 2 holds images 3 and 4 and links back and on.
browse "$tmp/b2" "file://$gal/page-2.html"
dom_json "$tmp/b2.dom" >"$tmp/b2.json"
yes_ "page 2: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/b2.log"
pycheck "page 2: images 3 and 4, previous and next" "
import sys, json
d = json.load(open(sys.argv[1])); objs = [json.loads(l) for l in open(sys.argv[2])]
assert d['body'].get('data-gallery') == 'ok', d['body']
assert [c['cap'] for c in d['cards']] == [o['caption'] for o in objs[2:4]], d['cards']
assert d['rel'].get('prev') == 'index.html' and d['rel'].get('next') == 'page-3.html', d['rel']
" "$tmp/b2.json" "$tmp/captions.jsonl"

# Search: every word must occur in the caption or the path (any case).
word=$("$py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["caption"].split()[-1])' "$tmp/captions.jsonl")
browse "$tmp/b3" "file://$gal/index.html?q=$word+JPG"
dom_json "$tmp/b3.dom" >"$tmp/b3.json"
yes_ "search: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/b3.log"
pycheck "search: the matching images, linked to their pages" "
import sys, json
d = json.load(open(sys.argv[1])); objs = [json.loads(l) for l in open(sys.argv[2])]; w = sys.argv[3].lower()
want = [o for o in objs if all(t in (o['caption'] + '\n' + o['path']).lower() for t in (w, 'jpg'))]
assert want and [c['cap'] for c in d['results']] == [o['caption'] for o in want], (d['results'], want)
assert d['hits'].startswith('%d match' % len(want)), d['hits']
for c in d['results']: assert c['href'].startswith('items/') and c['img'].startswith('images/')
" "$tmp/b3.json" "$tmp/captions.jsonl" "$word"

# The page of the image with the awkward name: one map per word, all drawn.
weird=$("$py" -c 'import urllib.parse; print(urllib.parse.quote("we<ird> & \"quoted\" '"'"'name'"'"' #1 ?%"))')
browse "$tmp/b4" "file://$gal/items/$weird.html"
dom_json "$tmp/b4.dom" >"$tmp/b4.json"
yes_ "item page: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/b4.log"
pycheck "item page: caption, figure, a map per word" "
import sys, json
d = json.load(open(sys.argv[1]))
o = [json.loads(l) for l in open(sys.argv[2]) if 'we<ird>' in l][0]
assert d['body'].get('data-gallery') == 'ok' and d['broken'] == 0, d['body']
assert d['h1'] == o['caption'], (d['h1'], o['caption'])
assert d['figure'] == 'drawn' and d['maps'] == len(o['words']) and d['words'] == o['words'], d
assert d['rel']['prev'].endswith('.html') and d['rel']['up'].startswith('../page-3.html#e'), d['rel']
" "$tmp/b4.json" "$tmp/captions.jsonl"

# A screenshot renders something (not a blank page).
prof=$(mktemp -d "$tmp/profile.XXXXXX")
timeout 180 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$prof" \
  --screenshot="$tmp/shot.png" --window-size=1280,1000 --hide-scrollbars "file://$gal/items/$weird.html" \
  >/dev/null 2>&1
pycheck "screenshot not blank" "
import sys, cv2; a = cv2.imread(sys.argv[1]); assert a is not None and a.shape[:2] == (1000, 1280), None if a is None else a.shape
assert a.std() > 20, a.std()" "$tmp/shot.png"

# The maps the page's script draws against OpenCV's of the same attention
# (--json-attention): bilinear upsampling to the 64-pixel panel, a Gaussian
# of sigma = a third of a cell (reflect-101 border), min-max scaling, the gray
# colormap; --alpha 1 shows the map alone. The canvases are read from a page
# that holds the item page in a frame (file pages may read each other's
# pixels with --allow-file-access-from-files).
scene="$src/assets/samples/scenes/images/test_000001.png"
check "caption --html --alpha 1 --json-attention" 0 "$cli" caption --alpha 1 --json-attention \
  --html "$tmp/orc" "$scene"
cp "$tmp/out" "$tmp/orc.jsonl"
cat >"$tmp/harness.html" <<'EOF'
<!DOCTYPE html><html><body><iframe id="f" src="orc/items/test_000001.html"></iframe>
<script>
window.addEventListener('load', function () {
  var d = document.getElementById('f').contentDocument, out = [];
  d.querySelectorAll('canvas.map').forEach(function (c) {
    var px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, r = [];
    for (var i = 0; i < px.length; i += 4) r.push([px[i], px[i + 1], px[i + 2]]);
    out.push(r);
  });
  var p = document.createElement('pre');
  p.id = 'out';
  p.textContent = JSON.stringify({maps: d.querySelector('figure').getAttribute('data-maps'), px: out});
  document.body.appendChild(p);
});
</script></body></html>
EOF
browse "$tmp/b6" "file://$tmp/harness.html" --allow-file-access-from-files
yes_ "maps page: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/b6.log"
pycheck "maps drawn by the page = OpenCV's (within 1 of 255)" "
import sys, json, re, html, numpy as np, cv2
d = json.loads(html.unescape(re.search(r'<pre id=\"out\">(.*?)</pre>', open(sys.argv[1]).read(), re.S).group(1)))
o = json.loads(open(sys.argv[2]).readline())
att = np.array(o['attention'], np.float32)
assert d['maps'] == 'drawn' and len(d['px']) == len(o['words']) == len(att) > 2, (d['maps'], len(d['px']))
S = 64
for a, px in zip(att, d['px']):
    g = a.shape[0]; sig = S / g / 3; r = int(np.ceil(3 * sig))
    m = cv2.GaussianBlur(cv2.resize(a, (S, S), interpolation=cv2.INTER_LINEAR), (2 * r + 1, 2 * r + 1),
                         sig, borderType=cv2.BORDER_REFLECT_101)
    want = np.floor((m - m.min()) / (m.max() - m.min()) * 255 + 0.5)
    got = np.array(px, np.float64).reshape(S, S, 3)
    assert (got == got[..., :1]).all(), 'gray colormap: r = g = b'
    diff = np.abs(got[..., 0] - want)
    assert diff.max() <= 1 and diff.mean() < 0.3, (diff.max(), diff.mean())
" "$tmp/b6.dom" "$tmp/orc.jsonl"

# The browser check catches a missing image (this test can fail).
first=$("$py" -c 'import json,sys,os; print(os.path.basename(json.loads(open(sys.argv[1]).readline())["path"])[:-4])' "$tmp/captions.jsonl")
rm "$gal/images/$first.jpg"
browse "$tmp/b5" "file://$gal/index.html"
pycheck "missing thumbnail detected" "
import sys, re; dom = open(sys.argv[1]).read()
assert 'data-gallery=\"broken\"' in dom
broken = re.findall(r'<img[^>]*data-broken[^>]*>', dom); assert len(broken) == 1 and 'images/$first.jpg' in broken[0], broken
" "$tmp/b5.dom"

# Writing again into the same directory replaces the pages.
check "rewrite gallery" 0 "$cli" caption --html "$gal" "$src/assets/samples/chelsea.jpg"
yes_ "one card now, no page 2" "[ \$(grep -c 'class=\"card\"' $gal/index.html) -eq 1 ] && [ ! -e $gal/page-2.html ]"
check "html dir is a file" 1 "$cli" caption --html "$gal/index.html" "$src/assets/samples/chelsea.jpg"
check "--html-page-size needs --html" 2 "$cli" caption --html-page-size 5 "$src/assets/samples/chelsea.jpg"
check "--html-page-size 0" 2 "$cli" caption --html "$gal" --html-page-size 0 "$src/assets/samples/chelsea.jpg"

# Outputs inside the input folder: a second run captions the same images, not
# the gallery's thumbnails and figures nor the attention figures; a gallery
# folder elsewhere in the inputs (its marker) is skipped too.
mix="$tmp/mix"; mkdir -p "$mix/sub"
cp "$src/assets/samples/scenes/images/test_00000"[0-2].png "$mix/"
cp "$src/assets/samples/scenes/images/test_000003.png" "$mix/sub/"
head -c 200 "$src/assets/samples/scenes/images/test_000004.png" >"$mix/truncated.png"
for run in 1 2; do
  check "caption DIR --html DIR/gallery, run $run" 1 "$cli" caption --html "$mix/gallery" \
    --attention "$mix/att" "$mix"
  cp "$tmp/out" "$tmp/mix$run.out"; cp "$tmp/err" "$tmp/mix$run.err"
done
yes_ "second run: the same 4 images" "[ \$(wc -l < $tmp/mix2.out) -eq 4 ] && cmp -s $tmp/mix1.out $tmp/mix2.out"
yes_ "second run: only the truncated file failed" "[ \$(grep -c 'saccade: ' $tmp/mix2.err) -eq 1 ]"
cp -r "$mix/gallery" "$mix/sub/old-gallery"
rm -r "$mix/att"
check "an old gallery in the inputs" 1 "$cli" caption "$mix"
yes_ "old gallery skipped" "[ \$(wc -l < $tmp/out) -eq 4 ]"
pycheck "failed list: the path once" "
import sys, re
li = re.findall(r'<li>(.*?)</li>', open(sys.argv[1] + '/gallery/failed.html').read())
assert len(li) == 1 and li[0].count('truncated.png') == 1 and li[0].startswith(sys.argv[1]), li
" "$mix"

# 2,000 images: written by the library from real captions, opened in the
# browser: loaded (the page's own clock, navigation to load event) in under
# 2 s, no console message, search over all 2,000, last page and an image's page.
big="$tmp/big"
check "write a gallery of 2000" 0 "$build/test_gallery_scale" "$big" 2000
browse "$tmp/s1" "file://$big/index.html"
dom_json "$tmp/s1.dom" >"$tmp/s1.json"
yes_ "2000: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/s1.log"
pycheck "2000: page 1 loads in under 2 s" "
import sys, json
d = json.load(open(sys.argv[1]))
assert d['body'].get('data-gallery') == 'ok', d['body']
ms = int(d['body']['data-load-ms']); print('load', ms, 'ms')
assert ms < 2000, ms
assert len(d['cards']) == 100 and d['rel'].get('last') == 'page-20.html', (len(d['cards']), d['rel'])
" "$tmp/s1.json"
browse "$tmp/s2" "file://$big/index.html?q=SHARD-017/"
dom_json "$tmp/s2.dom" >"$tmp/s2.json"
yes_ "2000 search: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/s2.log"
pycheck "2000: search finds the 100 images of a shard" "
import sys, json
d = json.load(open(sys.argv[1]))
assert d['hits'] == '100 matches', d['hits']
assert [c['href'] for c in d['results']] == ['items/scene-%05d.html' % k for k in range(1700, 1800)]
assert all(c['path'].startswith('shard-017/') for c in d['results'])
" "$tmp/s2.json"
browse "$tmp/s3" "file://$big/page-20.html"
dom_json "$tmp/s3.dom" >"$tmp/s3.json"
pycheck "2000: the last page" "
import sys, json
d = json.load(open(sys.argv[1]))
assert d['body'].get('data-gallery') == 'ok' and len(d['cards']) == 100
assert d['cards'][-1]['href'] == 'items/scene-01999.html' and 'next' not in d['rel'], d['rel']
" "$tmp/s3.json"
browse "$tmp/s4" "file://$big/items/scene-01234.html"
dom_json "$tmp/s4.dom" >"$tmp/s4.json"
yes_ "2000 item page: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/s4.log"
pycheck "2000: an image's page" "
import sys, json
d = json.load(open(sys.argv[1]))
assert d['body'].get('data-gallery') == 'ok' and d['broken'] == 0
assert d['figure'] == 'drawn' and d['maps'] == len(d['words']) > 2, d
assert d['rel'] == {'prev': 'scene-01233.html', 'up': '../page-13.html#e1235', 'next': 'scene-01235.html'}, d['rel']
" "$tmp/s4.json"

echo "test_gallery: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

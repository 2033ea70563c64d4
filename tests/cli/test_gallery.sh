#!/usr/bin/env bash
# 'saccade caption --html DIR' in a real headless browser (Debian's chromium,
# installed by tools/deps.sh test): the page loads from disk with no console
# error, every <img> resolves (the page's own script marks broken images with
# data-broken and sets <body data-gallery="ok|broken">), every caption and
# path is in the DOM as text (escaping round-trips), nothing is fetched from
# the network, and the browser check does catch a missing image.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cligal.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "FAIL: chromium not found (tools/deps.sh test installs it)"; exit 1
fi
# browse OUTPREFIX URL [extra flags]: OUTPREFIX.dom (--dump-dom), OUTPREFIX.log (stderr)
browse() {
  local out=$1 url=$2; shift 2
  local prof; prof=$(mktemp -d "$tmp/profile.XXXXXX")
  timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$prof" --enable-logging=stderr --v=0 --virtual-time-budget=10000 \
    "$@" "$url" >"$out.dom" 2>"$out.log"
}

# A tiny tutorial model (random weights) converted to saccade's format.
if ! "$py" "$src/tools/ref/ref_sat.py" "$tmp/ref" >"$tmp/ref.log" 2>&1; then
  echo "FAIL reference model:"; tail -20 "$tmp/ref.log"; exit 1
fi
model="$tmp/ref/model.safetensors"

# Inputs: the sample photos, copies with names that need escaping in HTML and
# in URLs, and a corrupt file (reported, listed on the page, exit 1).
in="$tmp/in dir"; mkdir -p "$in"
cp "$src/assets/samples/"*.jpg "$in/"
cp "$src/assets/samples/chelsea.jpg" "$in/we<ird> & \"quoted\" 'name' #1 ?%.jpg"
cp "$src/assets/samples/coffee.jpg" "$in/café ünïcødé.jpg"
head -c 3000 "$src/assets/samples/coffee.jpg" >"$in/zz-corrupt.jpg"
gal="$tmp/gallery"
check "caption --html (one corrupt input)" 1 "$cli" caption --model "$model" --json --html "$gal" "$in"
cp "$tmp/out" "$tmp/captions.jsonl"
yes_ "5 images captioned" "[ \$(wc -l < $tmp/captions.jsonl) -eq 5 ]"

# Static checks: files, no network references, no temporary files left.
pycheck "gallery files and links" "
import sys, os, re, json, html.parser, urllib.parse
gal = sys.argv[1]
objs = [json.loads(l) for l in open(sys.argv[2])]
files = sorted(os.path.relpath(os.path.join(r, f), gal) for r, _, fs in os.walk(gal) for f in fs)
want = sorted(['index.html'] + ['images/%s.jpg' % os.path.basename(o['path'])[:-4] for o in objs]
              + ['attention/%s.png' % os.path.basename(o['path'])[:-4] for o in objs])
assert files == want, (files, want)
page = open(os.path.join(gal, 'index.html'), encoding='utf-8').read()
assert not re.search(r'(?i)(https?:|//|<link|<script[^>]+src|@import|url\()', page), 'external ref'
assert '<ird>' not in page and '&lt;ird&gt;' in page
refs = []
class P(html.parser.HTMLParser):
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'img': refs.append(a['src'])
        if tag == 'a': refs.append(a['href'])
P().feed(page)
assert len(refs) == 3 * len(objs), refs
for r in refs:
    assert not r.startswith('/') and ':' not in r, r
    p = os.path.join(gal, urllib.parse.unquote(r))
    assert os.path.isfile(p), (r, p)
for o in objs: assert o['html_thumbnail'] == 'images/%s.jpg' % os.path.basename(o['path'])[:-4]
" "$gal" "$tmp/captions.jsonl"

# In the browser: loads, images resolve, no console messages, captions in the DOM.
browse "$tmp/b1" "file://$gal/index.html" --dump-dom
yes_ "browser ran" "[ -s $tmp/b1.dom ]"
yes_ "no console messages or uncaught errors" "! grep -E 'CONSOLE|Uncaught' $tmp/b1.log"
pycheck "DOM: loaded, no broken image, captions and paths present" "
import sys, json, html.parser
dom = open(sys.argv[1], encoding='utf-8').read()
objs = [json.loads(l) for l in open(sys.argv[2])]
st = {'body': None, 'broken': 0, 'imgs': 0, 'caps': [], 'metas': [], 'cur': None, 'failed': []}
class P(html.parser.HTMLParser):
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'body': st['body'] = a.get('data-gallery')
        if tag == 'img':
            st['imgs'] += 1
            if 'data-broken' in a: st['broken'] += 1
        cls = a.get('class', '')
        st['cur'] = {'caption': 'caps', 'meta': 'metas'}.get(cls) if tag == 'p' else ('failed' if tag == 'li' else None)
        if st['cur']: st[st['cur']].append('')
    def handle_endtag(self, tag):
        if tag in ('p', 'li'): st['cur'] = None
    def handle_data(self, d):
        if st['cur']: st[st['cur']][-1] += d
P().feed(dom)
assert st['body'] == 'ok', st['body']
assert st['imgs'] == 2 * len(objs) and st['broken'] == 0, (st['imgs'], st['broken'])
assert st['caps'] == [o['caption'] for o in objs], (st['caps'], [o['caption'] for o in objs])
for m, o in zip(st['metas'], objs): assert m.endswith(o['path']) and ('%.4f' % o['score']) in m, (m, o['path'])
assert len(st['failed']) == 1 and 'zz-corrupt.jpg' in st['failed'][0], st['failed']
" "$tmp/b1.dom" "$tmp/captions.jsonl"

# A screenshot renders something (not a blank page).
browse "$tmp/b2" "file://$gal/index.html" --screenshot="$tmp/shot.png" --window-size=1280,1600 \
  --hide-scrollbars
pycheck "screenshot not blank" "
import sys, cv2; a = cv2.imread(sys.argv[1]); assert a is not None and a.shape[:2] == (1600, 1280), None if a is None else a.shape
assert a.std() > 20, a.std()" "$tmp/shot.png"

# The browser check catches a missing image (this test can fail).
rm "$gal/images/coffee.jpg"
browse "$tmp/b3" "file://$gal/index.html" --dump-dom
pycheck "missing thumbnail detected" "
import sys, re; dom = open(sys.argv[1]).read()
assert '<body data-gallery=\"broken\">' in dom
broken = re.findall(r'<img[^>]*data-broken[^>]*>', dom); assert len(broken) == 1 and 'images/coffee.jpg' in broken[0], broken
" "$tmp/b3.dom"

# Writing again into the same directory replaces the page.
check "rewrite gallery" 0 "$cli" caption --model "$model" --html "$gal" "$src/assets/samples/chelsea.jpg"
yes_ "one item now" "[ \$(grep -c 'class=\"item\"' $gal/index.html) -eq 1 ]"
check "html dir is a file" 1 "$cli" caption --model "$model" --html "$gal/index.html" "$src/assets/samples/chelsea.jpg"

echo "test_gallery: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# A gallery run killed with SIGKILL half-way ('saccade caption DIR --html OUT')
# leaves a usable gallery of the images done so far: index.html and the
# listing pages exist and parse as whole documents, every link and image of
# every page resolves to a file, the search index parses and names only
# images with pages, no temporary file is left, and the index opens in
# headless Chromium with no broken image and no console error. A second run
# into the same folder then completes it.
set -u
cli=${SACCADE_CLI:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cligalkill.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"

n=300
check "make $n scenes" 0 "$cli" data scenes --n $n --seed 3 --split test -o "$tmp/scenes"
gal="$tmp/gallery"
# 3 images a page: page-6.html appears once 18 images are done; kill then.
"$cli" caption --threads 1 --html "$gal" --html-page-size 3 "$tmp/scenes/images" \
  >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
for _ in $(seq 600); do
  [ -e "$gal/page-6.html" ] && break
  sleep 0.05
done
kill -KILL $pid 2>/dev/null
wait $pid
rc=$?
yes_ "the run was killed mid-way (exit 137, got $rc)" "[ $rc -eq 137 ]"
done_items=$(find "$gal/items" -name '*.html' | wc -l)
yes_ "some but not all images have pages ($done_items)" "[ $done_items -ge 18 ] && [ $done_items -lt $n ]"

# Every file parses, every reference resolves, nothing temporary is left.
check_gallery() { # DIR: the static checks of a gallery folder
  pycheck "killed gallery: pages whole, links resolve" "
import sys, os, re, json, html.parser, urllib.parse
gal = sys.argv[1]
files = [os.path.relpath(os.path.join(r, f), gal) for r, _, fs in os.walk(gal) for f in fs]
assert not [f for f in files if 'tmp' in os.path.basename(f)], 'temporary files left'
pages = [f for f in files if f.endswith('.html')]
assert 'index.html' in pages, 'no index.html'
class P(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.open = []
    def handle_starttag(s, tag, a):
        if tag in ('html', 'body', 'main', 'nav', 'ol', 'ul', 'figure'): s.open.append(tag)
    def handle_endtag(s, tag):
        if tag in ('html', 'body', 'main', 'nav', 'ol', 'ul', 'figure'):
            assert s.open and s.open[-1] == tag, (tag, s.open); s.open.pop()
cards = 0
for f in pages:
    text = open(os.path.join(gal, f), encoding='utf-8').read()
    assert text.rstrip().endswith('</html>'), (f, 'cut short')
    p = P(); p.feed(text); p.close()
    assert not p.open, (f, 'unclosed', p.open)
    cards += text.count('class=\"card\"')
    for r in re.findall(r'(?:src|href)=\"([^\"]*)\"', text) + re.findall(r'url\(([^)]*)\)', text):
        r = r.split('#')[0].split('?')[0]
        if not r: continue
        q = os.path.normpath(os.path.join(gal, os.path.dirname(f), urllib.parse.unquote(r)))
        assert os.path.isfile(q), (f, r)
assert cards >= 18, cards
js = open(os.path.join(gal, 'search.js'), encoding='utf-8').read()
m = re.fullmatch(r'saccadeIndex\((.*)\);\s*', js, re.S)
idx = json.loads(m.group(1))
assert idx['items'], 'empty search index'
for it in idx['items']:
    assert os.path.isfile(os.path.join(gal, 'items', urllib.parse.unquote(it[0]) + '.html')), it
    assert os.path.isfile(os.path.join(gal, 'images', urllib.parse.unquote(it[0]) + '.jpg')), it
print(len(pages), 'pages,', cards, 'cards,', len(idx['items']), 'in the search index')
" "$1"
}
check_gallery "$gal"

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "FAIL: chromium not found (tools/deps.sh test installs it)"; exit 1
fi
prof=$(mktemp -d "$tmp/profile.XXXXXX")
timeout 180 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$prof" --enable-logging=stderr --v=0 --window-size=1280,4000 \
  --dump-dom "file://$gal/index.html" >"$tmp/b.dom" 2>"$tmp/b.log"
yes_ "killed gallery opens: data-gallery=ok" "grep -q 'data-gallery=\"ok\"' $tmp/b.dom"
yes_ "killed gallery: no console messages" "! grep -E 'CONSOLE|Uncaught' $tmp/b.log"

# Run again: the whole gallery.
check "second run completes" 0 "$cli" caption --threads 1 --html "$gal" --html-page-size 3 \
  "$tmp/scenes/images"
yes_ "all $n images have pages" "[ \$(find $gal/items -name '*.html' | wc -l) -eq $n ]"
yes_ "the last page is page-100.html" "grep -q 'page 100 of 100' $gal/page-100.html"
check_gallery "$gal"

echo "test_gallery_kill: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

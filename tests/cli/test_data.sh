#!/usr/bin/env bash
# End-to-end tests of 'saccade data scenes': files, JSONL format, determinism
# across thread counts, usage errors, and atomic annotation output on failure.
set -u
cli=${SACCADE_CLI:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli_data.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
ok() { if "$@"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL: $*"; fi; }

# Normal run: 20 PNGs + 20 JSONL lines, valid and consistent with the images.
check "scenes test split" 0 "$cli" data scenes --n 20 --seed 1 --split test -o "$tmp/a"
ok test "$(ls "$tmp/a/images" | grep -c '^test_0000[0-9][0-9]\.png$')" -eq 20
ok test "$(wc -l < "$tmp/a/annotations.jsonl")" -eq 20
"$py" - "$tmp/a" <<'PYEOF' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: annotations.jsonl content"; }
import json, os, sys
import cv2
d = sys.argv[1]
nouns = ["t-shirt", "trousers", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
colours = {"red", "green", "blue", "yellow", "cyan", "magenta", "white", "orange"}
lines = open(os.path.join(d, "annotations.jsonl")).read().splitlines()
assert len(lines) == 20
for i, line in enumerate(lines):
    o = json.loads(line)
    assert o["index"] == i and o["split"] == "test", o
    assert o["image"] == "images/test_%06d.png" % i, o["image"]
    img = cv2.imread(os.path.join(d, o["image"]), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape == (96, 96, 3), o["image"]
    assert o["width"] == 96 and o["height"] == 96
    assert 1 <= len(o["items"]) <= 3
    boxes = []
    for it in o["items"]:
        assert nouns[it["class"]] == it["noun"] and it["colour"] in colours, it
        x0, y0, x1, y1 = it["box"]
        assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96, it
        for b in boxes:  # no overlap
            assert x1 <= b[0] or b[2] <= x0 or y1 <= b[1] or b[3] <= y0, (it, b)
        boxes.append(it["box"])
        # the item is visible in its box: bright pixels exist there
        assert img[y0:y1, x0:x1].max() > 150, it
        # outside every box the canvas is dark background (<= 0.3 * 255 + rounding)
    mask = img.max(axis=2).copy()
    for b in boxes:
        mask[b[1]:b[3], b[0]:b[2]] = 0
    assert mask.max() <= 77, (i, int(mask.max()))
    assert len(o["captions"]) in ((4,) if len(o["items"]) < 3 else (5, 9)), o["captions"]
    for c in o["captions"]:
        assert c == c.lower() and c.split() and " ".join(c.split()) == c, c
        for it in o["items"]:
            assert it["noun"] in c.split() and it["colour"] in c.split(), (c, it)
PYEOF

# Same seed, one thread: byte-identical output (scene i depends only on seed, split, i).
check "scenes one thread" 0 "$cli" data scenes --n 20 --seed 1 --split test -o "$tmp/b" --threads 1
ok cmp -s "$tmp/a/annotations.jsonl" "$tmp/b/annotations.jsonl"
ok cmp -s "$tmp/a/images/test_000013.png" "$tmp/b/images/test_000013.png"
# A prefix of a longer run is the same data.
check "scenes prefix" 0 "$cli" data scenes --n 5 --seed 1 --split test -o "$tmp/c"
ok cmp -s "$tmp/c/annotations.jsonl" <(head -5 "$tmp/a/annotations.jsonl")
check "other seed" 0 "$cli" data scenes --n 5 --seed 2 --split test -o "$tmp/d"
if cmp -s "$tmp/c/annotations.jsonl" "$tmp/d/annotations.jsonl"; then fail=$((fail+1)); echo "FAIL: seeds 1 and 2 gave the same scenes"; else pass=$((pass+1)); fi
check "size and items" 0 "$cli" data scenes --n 4 --seed 1 --split test -o "$tmp/e" --size 128 --min-items 2 --max-items 2
"$py" -c "
import json,sys
for l in open('$tmp/e/annotations.jsonl'):
    o=json.loads(l); assert o['width']==128 and len(o['items'])==2, o
" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: --size/--min-items not applied"; }

# Usage errors: exit 2.
check "data without dataset" 2 "$cli" data
check "unknown dataset" 2 "$cli" data mnist
check "missing --n" 2 "$cli" data scenes --seed 1 --split test -o "$tmp/x"
check "missing -o" 2 "$cli" data scenes --n 2 --seed 1 --split test
check "missing --seed" 2 "$cli" data scenes --n 2 --split test -o "$tmp/x"
check "zero scenes" 2 "$cli" data scenes --n 0 --seed 1 --split test -o "$tmp/x"
check "bad n" 2 "$cli" data scenes --n 5x --seed 1 --split test -o "$tmp/x"
check "negative seed" 2 "$cli" data scenes --n 2 --seed -1 --split test -o "$tmp/x"
check "bad split" 2 "$cli" data scenes --n 2 --seed 1 --split val -o "$tmp/x"
check "bad size" 2 "$cli" data scenes --n 2 --seed 1 --split test -o "$tmp/x" --size 20
check "bad items" 2 "$cli" data scenes --n 2 --seed 1 --split test -o "$tmp/x" --max-items 4
check "min > max" 2 "$cli" data scenes --n 2 --seed 1 --split test -o "$tmp/x" --min-items 3 --max-items 2
check "unknown option" 2 "$cli" data scenes --n 2 --seed 1 --split test -o "$tmp/x" --bogus
ok test ! -e "$tmp/x"
check "data --help" 0 "$cli" data --help
ok grep -q "usage: saccade data scenes" "$tmp/out"

# Runtime errors: exit 1, no annotation file left behind.
echo x > "$tmp/file"
check "folder under a file" 1 "$cli" data scenes --n 3 --seed 1 --split test -o "$tmp/file/sub"
ok grep -q "file" "$tmp/err"
mkdir -p "$tmp/f/images/test_000003.png"   # a folder where an image must go
check "image write fails midway" 1 "$cli" data scenes --n 8 --seed 1 --split test -o "$tmp/f"
ok test ! -e "$tmp/f/annotations.jsonl"
ok test -z "$(ls -A "$tmp/f" | grep -v '^images$')"
check "missing dataset" 1 "$cli" data scenes --n 2 --seed 1 --split test -o "$tmp/g" --data-dir "$tmp/nodata"
ok test ! -e "$tmp/g/annotations.jsonl"

echo "data CLI: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

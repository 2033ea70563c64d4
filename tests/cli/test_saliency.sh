#!/usr/bin/env bash
# End-to-end tests of 'saccade saliency' (and the batch input it shares with
# other image verbs) and 'saccade eval saliency'. Oracles: OpenCV 4.6's
# cv2.saliency and a numpy implementation of the MIT benchmark metrics.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/clisal.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
samples="$src/assets/samples"
cat="$samples/chelsea.jpg"   # 451 x 300

# Every method writes an overlay of the image's size, and the raw map.
for m in spectral spectral-hz pqft finegrained; do
  check "method $m" 0 "$cli" saliency "$cat" --method $m -o "$tmp/$m.png" --raw "$tmp/$m.npy" --json
  cp "$tmp/out" "$tmp/$m.json"
  pycheck "$m overlay same size" "
import sys, cv2; a = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED)
assert a.shape == (300, 451, 3) and a.dtype.name == 'uint8', (a.shape, a.dtype)" "$tmp/$m.png"
  pycheck "$m raw npy shape, range; json stats" "
import sys, json, numpy as np; a = np.load(sys.argv[1]); d = json.loads(open(sys.argv[2]).read())
assert a.shape == (300, 451) and a.dtype == np.float32, (a.shape, a.dtype)
assert a.min() >= 0 and a.max() <= 1 and a.max() > 0.5, (a.min(), a.max())
assert d['method'] == '$m' and d['width'] == 451 and d['height'] == 300 and d['raw'] == sys.argv[1]
assert abs(d['min'] - a.min()) < 1e-6 and abs(d['max'] - a.max()) < 1e-6 and abs(d['mean'] - a.mean()) < 1e-5
y, x = np.unravel_index(np.argmax(a), a.shape); assert (d['peak']['x'], d['peak']['y']) == (x, y), d['peak']
" "$tmp/$m.npy" "$tmp/$m.json"
done

# 16-bit PNG raw map equals the .npy map to 1/65535.
check "raw png16" 0 "$cli" saliency "$cat" --method pqft -o "$tmp/p16.png" --raw "$tmp/p16map.png"
pycheck "raw png is uint16 and matches the npy" "
import sys, cv2, numpy as np
a = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED); b = np.load(sys.argv[2])
assert a.dtype == np.uint16 and a.shape == (300, 451), (a.dtype, a.shape)
assert np.abs(a / 65535.0 - b).max() <= 0.5 / 65535 + 1e-7" "$tmp/p16map.png" "$tmp/pqft.npy"

# The spectral map agrees with OpenCV's StaticSaliencySpectralResidual on the photo;
# finegrained with StaticSaliencyFineGrained.
pycheck "spectral vs cv2.saliency (corr >= 0.99)" "
import sys, cv2, numpy as np
img = cv2.imread(sys.argv[1]); ok, ref = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(img)
m = np.load(sys.argv[2]); assert ok and ref.shape == m.shape
r = np.corrcoef(ref.ravel(), m.ravel())[0, 1]; print('corr', r); assert r >= 0.99, r" "$cat" "$tmp/spectral.npy"
pycheck "finegrained vs cv2.saliency" "
import sys, cv2, numpy as np
img = cv2.imread(sys.argv[1]); ok, ref = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(img)
m = np.load(sys.argv[2]); assert np.corrcoef(ref.ravel().astype(float), m.ravel())[0, 1] >= 0.99" "$cat" "$tmp/finegrained.npy"

# Panel: image | map | overlay side by side, ~3x as wide.
check "panel" 0 "$cli" saliency "$cat" --panel -o "$tmp/panel.jpg" --colormap inferno --alpha 0.7
pycheck "panel is ~3x as wide" "
import sys, cv2; a = cv2.imread(sys.argv[1]); h, w = a.shape[:2]
assert 2.9 * 451 <= w <= 3.2 * 451 and 300 < h < 400, (w, h)
# middle third is the colormapped map: inferno has no green-dominant colours, the cat has
assert a[:, w // 3 + 20 : 2 * w // 3 - 20].std() > 10" "$tmp/panel.jpg"

check "panel-size" 0 "$cli" saliency "$cat" --panel-size 100 -o "$tmp/panel100.png"
pycheck "panel-size sets the panel's longer side" "
import sys, cv2; a = cv2.imread(sys.argv[1]); assert a.shape[1] == 8 + 3 * (100 + 8), a.shape" "$tmp/panel100.png"
check "bad panel-size" 2 "$cli" saliency "$cat" --panel-size 5 -o "$tmp/x.png"

# Batch: a directory tree with a corrupt file, a non-image, equal basenames.
d="$tmp/in"; mkdir -p "$d/x" "$d/y" "$d/.hidden"
cp "$cat" "$d/x/cat.jpg"; cp "$samples/coffee.jpg" "$d/y/cat.JPG"; cp "$samples/astronaut.jpg" "$d/a.png.jpg"
cp "$cat" "$d/.hidden/h.jpg"; echo "not an image" > "$d/notes.txt"
head -c 2000 "$cat" > "$d/broken.jpg"
check "batch with a corrupt file" 1 "$cli" saliency "$d" -o "$tmp/outdir/sub" --raw "$tmp/rawdir"
expect_grep "error names the bad file" "$tmp/err" "^saccade: $d/broken.jpg: "
yes_ "only the bad file is reported" '[ "$(wc -l < "$tmp/err")" -eq 1 ]'
yes_ "outputs of the good files" '[ -s "$tmp/outdir/sub/a.png.spectral.png" ] && [ -s "$tmp/outdir/sub/cat.spectral.png" ] && [ -s "$tmp/outdir/sub/cat-2.spectral.png" ]'
yes_ "no output for the bad / hidden / non-image files" '[ "$(ls "$tmp/outdir/sub" | wc -l)" -eq 3 ] && [ "$(ls "$tmp/rawdir" | wc -l)" -eq 3 ]'
pycheck "equal basenames: first in sorted order keeps the name" "
import sys, cv2; a = cv2.imread(sys.argv[1]); b = cv2.imread(sys.argv[2])
assert a.shape[:2] == (300, 451) and b.shape[:2] == (400, 600), (a.shape, b.shape)" \
  "$tmp/outdir/sub/cat.spectral.png" "$tmp/outdir/sub/cat-2.spectral.png"
yes_ "raw dir names" '[ -s "$tmp/rawdir/cat-2.spectral-map.npy" ]'
check "missing input is reported, others done" 1 "$cli" saliency "$tmp/nope.jpg" "$cat" -o "$tmp/od2"
expect_grep "missing input named" "$tmp/err" "^saccade: $tmp/nope.jpg: No such file"
yes_ "other input done" '[ -s "$tmp/od2/chelsea.spectral.png" ]'

# Standard input: '-' is a list of paths; /dev/stdin is an image.
printf '%s\n\n%s\r\n' "$cat" "$samples/coffee.jpg" > "$tmp/list.txt"
check "stdin list" 0 sh -c "'$cli' saliency - -o '$tmp/ls' --method pqft --json < '$tmp/list.txt'"
yes_ "stdin list outputs" '[ -s "$tmp/ls/chelsea.pqft.png" ] && [ -s "$tmp/ls/coffee.pqft.png" ] && [ "$(wc -l < "$tmp/out")" -eq 2 ]'
check "image on /dev/stdin" 0 sh -c "'$cli' saliency /dev/stdin -o '$tmp/stdin.png' < '$cat'"
check "'-' twice" 2 "$cli" saliency - - -o "$tmp/x"

# Usage errors.
check "bad method" 2 "$cli" saliency "$cat" --method itti -o "$tmp/x.png"
check "model options need a model method" 2 "$cli" saliency "$cat" --word cat -o "$tmp/x.png"
check "bad alpha" 2 "$cli" saliency "$cat" --alpha 1.5 -o "$tmp/x.png"
check "alpha junk" 2 "$cli" saliency "$cat" --alpha 0.5x -o "$tmp/x.png"
check "missing -o" 2 "$cli" saliency "$cat"
check "no inputs" 2 "$cli" saliency -o "$tmp/x.png"
check "bad threads" 2 "$cli" saliency "$cat" -o "$tmp/x.png" --threads 0
check "unknown option" 2 "$cli" saliency "$cat" -o "$tmp/x.png" --bogus
check "-o FILE with several inputs" 2 "$cli" saliency "$cat" "$samples/coffee.jpg" -o "$tmp/x.png"
check "--raw FILE with several inputs" 2 "$cli" saliency "$cat" "$samples/coffee.jpg" -o "$tmp/od3" --raw "$tmp/m.npy"
check "bad raw format" 2 "$cli" saliency "$cat" -o "$tmp/x.png" --raw-format tiff
yes_ "usage errors wrote nothing" '[ ! -e "$tmp/x.png" ] && [ ! -e "$tmp/m.npy" ]'
check "threads 1" 0 "$cli" saliency "$cat" -o "$tmp/t1.png" --threads 1 --method finegrained

# Unwritable outputs: exit 1, no partial files.
echo x > "$tmp/afile"
check "output under a file" 1 "$cli" saliency "$cat" -o "$tmp/afile/x.png"
expect_grep "output error names the path" "$tmp/err" "afile/x.png"
check "output dir under a file" 1 "$cli" saliency "$cat" -o "$tmp/afile/dir"
check "raw under a file" 1 "$cli" saliency "$cat" -o "$tmp/ok.png" --raw "$tmp/afile/m.npy"
yes_ "no partial or temporary files" '[ -z "$(find "$tmp" -name ".*tmp*" -o -name "x.png" -o -name "m.npy")" ]'

# eval saliency against a numpy implementation of the MIT benchmark code.
"$py" - "$tmp/ev" <<'PY'
import sys, os, cv2, numpy as np
d = sys.argv[1]; os.makedirs(d + "/pred"); os.makedirs(d + "/fix"); os.makedirs(d + "/den")
rng = np.random.default_rng(3)
for k in range(3):
    h, w = 24 + k, 31
    fix = (rng.random((h, w)) < 0.05).astype(np.uint8); fix[5, 7] = 1
    yy, xx = np.mgrid[0:h, 0:w]
    den = cv2.GaussianBlur(fix.astype(np.float32), (0, 0), 3)
    pred = (np.exp(-((yy - 8) ** 2 + (xx - 10) ** 2) / 60.0) + 0.3 * rng.random((h, w))).astype(np.float32)
    np.save(f"{d}/pred/im{k}.spectral-map.npy", pred)
    cv2.imwrite(f"{d}/fix/im{k}.png", fix * 255)
    np.save(f"{d}/den/im{k}.npy", den)
PY
cat > "$tmp/metrics.py" <<'PY'
import sys, json, cv2, numpy as np
def load(p): return np.load(p).astype(np.float64) if p.endswith('.npy') else cv2.imread(p, 0) / 255.0
def mm(s): return (s - s.min()) / (s.max() - s.min())
def auc_judd(s, f):
    s = mm(s).ravel(); f = f.ravel() > 0; th = np.sort(s[f])[::-1]; nf = len(th); n = s.size
    tp = [0.0] + [(i + 1) / nf for i in range(nf)] + [1.0]
    fp = [0.0] + [((s >= t).sum() - (i + 1)) / (n - nf) for i, t in enumerate(th)] + [1.0]
    return np.trapz(tp, fp)
def nss(s, f): z = (s - s.mean()) / s.std(ddof=1); return z[f > 0].mean()
def cc(s, g): return np.corrcoef(s.ravel(), g.ravel())[0, 1]
def sim(s, g): a = mm(s); a /= a.sum(); b = mm(g); b /= b.sum(); return np.minimum(a, b).sum()
def kld(s, g): e = 2.2204e-16; a = s / s.sum(); b = g / g.sum(); return (b * np.log(e + b / (a + e))).sum()
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows[:-1]:
    s = load(r['prediction']); f = (load(r['fixations']) > 0.5).astype(float)
    g = load(r['density']) if r['density'] else f
    want = dict(auc_judd=auc_judd(s, f), nss=nss(s, f), cc=cc(s, g), sim=sim(s, g), kld=kld(s, g))
    for k, v in want.items(): assert abs(r[k] - v) < 1e-5 * max(1, abs(v)), (r['prediction'], k, r[k], v)
mean = rows[-1]['mean']
for k in mean: assert abs(mean[k] - np.mean([r[k] for r in rows[:-1]])) < 1e-6, k
assert rows[-1]['pairs'] == len(rows) - 1 == int(sys.argv[2])
print('ok', mean)
PY
ev="$tmp/ev"
check "eval saliency dirs" 0 "$cli" eval saliency --pred-dir "$ev/pred" --fixations-dir "$ev/fix" --density-dir "$ev/den" --json
pycheck "eval metrics vs numpy (with density)" "import runpy, sys; sys.argv = ['m', '$tmp/out', '3']; runpy.run_path('$tmp/metrics.py', run_name='__main__')"
check "eval saliency lists" 0 "$cli" eval saliency --pred "$ev/pred/im0.spectral-map.npy" "$ev/pred/im2.spectral-map.npy" --fixations "$ev/fix/im0.png" "$ev/fix/im2.png" --json
pycheck "eval metrics vs numpy (binary maps as ground truth)" "import runpy, sys; sys.argv = ['m', '$tmp/out', '2']; runpy.run_path('$tmp/metrics.py', run_name='__main__')"
check "eval prediction == ground truth" 0 "$cli" eval saliency --pred "$ev/den/im1.npy" --fixations "$ev/fix/im1.png" --density "$ev/den/im1.npy" --json
pycheck "identical maps: CC 1, SIM 1, KLD 0" "
import sys, json; r = json.loads(open(sys.argv[1]).readline())
assert abs(r['cc'] - 1) < 1e-9 and abs(r['sim'] - 1) < 1e-9 and abs(r['kld']) < 1e-9, r" "$tmp/out"
check "eval text output" 0 "$cli" eval saliency --pred "$ev/den/im1.npy" --fixations "$ev/fix/im1.png"
expect_grep "eval text has a mean line" "$tmp/out" "mean of 1 pair"
check "eval pred of another size is resized" 0 "$cli" eval saliency --pred "$tmp/spectral.npy" --fixations "$ev/fix/im0.png"
check "eval length mismatch" 2 "$cli" eval saliency --pred "$ev/den/im1.npy" --fixations "$ev/fix/im1.png" "$ev/fix/im0.png"
check "eval nothing" 2 "$cli" eval saliency
check "eval unknown target" 2 "$cli" eval frobnicate
cp "$ev/pred/im0.spectral-map.npy" "$ev/pred/zz.npy"; head -c 60 "$ev/pred/im1.spectral-map.npy" > "$ev/pred/im1.spectral-map.npy.tmp"
mv "$ev/pred/im1.spectral-map.npy.tmp" "$ev/pred/im1.spectral-map.npy"
check "eval unmatched and corrupt maps" 1 "$cli" eval saliency --pred-dir "$ev/pred" --fixations-dir "$ev/fix" --json
expect_grep "unmatched prediction named" "$tmp/err" "zz.npy: no matching fixation map"
expect_grep "corrupt prediction named" "$tmp/err" "^saccade: $ev/pred/im1.spectral-map.npy: "
expect_grep "the others are scored" "$tmp/out" '"pairs": 2, "failed": 2'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

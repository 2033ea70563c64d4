#!/usr/bin/env bash
# End-to-end tests of the saccade CLI: exit codes, messages, outputs.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
samples="$src/assets/samples"

# Help, version, usage errors.
check "no args is a usage error" 2 "$cli"
check "--help" 0 "$cli" --help; expect_grep "--help lists verbs" "$tmp/out" "overlay"
check "--version" 0 "$cli" --version; expect_grep "version" "$tmp/out" "^saccade [0-9]+\.[0-9]+\.[0-9]+"
check "unknown verb" 2 "$cli" frobnicate; expect_grep "unknown verb hint" "$tmp/err" "unknown verb"
check "verb --help" 0 "$cli" overlay --help; expect_grep "overlay help" "$tmp/out" "usage: saccade overlay"
check "help VERB" 0 "$cli" help info; expect_grep "help info" "$tmp/out" "usage: saccade info"
check "info without files" 2 "$cli" info
check "info bad option" 2 "$cli" info --bogus
check "info bad threads" 2 "$cli" info --system --threads zero

# info on images.
check "info image" 0 "$cli" info "$samples/chelsea.jpg"
expect_grep "info image text" "$tmp/out" "chelsea.jpg: jpeg image, 451 x 300, 3 channels, 8-bit"
check "info image json" 0 "$cli" info --json "$samples/chelsea-map.png"
expect_grep "info json" "$tmp/out" '"format": "png", "width": 14, "height": 14, "channels": 1, "bit_depth": 8'
check "info missing file" 1 "$cli" info "$tmp/nope.png"
expect_grep "runtime error names the file" "$tmp/err" "^saccade: .*nope.png"
head -c 1000 /dev/urandom > "$tmp/random.png"
check "info random bytes" 1 "$cli" info "$samples/chelsea.jpg" "$tmp/random.png"
expect_grep "info continues after a bad file" "$tmp/out" "chelsea.jpg"
check "info system json" 0 "$cli" info --system --json --threads 1
expect_grep "system json fields" "$tmp/out" '"blas_core": "[A-Za-z0-9]+".*"sgemm_gflops": [0-9.]+'
expect_grep "system json names the packed GEMM kernel" "$tmp/out" '"gemm_kernel": "(avx512|avx2|openblas)"'
check "info system json, fallback kernel" 0 env SACCADE_GEMM=openblas "$cli" info --system --json --threads 1
expect_grep "SACCADE_GEMM=openblas is reported" "$tmp/out" '"gemm_kernel": "openblas"'

# info on model files (written by the numpy safetensors writer).
"$py" -c "import sys; sys.path.insert(0, '$src/tools/ref'); import st_numpy, numpy as np; st_numpy.save('$tmp/m.safetensors', {'enc.weight': np.ones((4, 3), np.float32), 'b': np.zeros(2, np.float16)}, metadata={'saccade.config': '{\"arch\": \"x\"}'})"
check "info model" 0 "$cli" info "$tmp/m.safetensors"
expect_grep "info model tensors" "$tmp/out" "enc.weight +F32 +\[4, 3\]"
expect_grep "info model metadata" "$tmp/out" 'saccade.config: \{"arch": "x"\}'
check "info model json" 0 "$cli" info --json "$tmp/m.safetensors"
"$py" -c "import json,sys; d=json.load(open('$tmp/out')); assert d['tensors'][1]=={'name':'b','dtype':'F16','shape':[2]}; assert json.loads(d['metadata']['saccade.config'])=={'arch':'x'}" \
  && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: info model json is not the expected JSON"; }
head -c 50 "$tmp/m.safetensors" > "$tmp/bad.safetensors"
check "info corrupt model" 1 "$cli" info "$tmp/bad.safetensors"
expect_grep "corrupt model reason" "$tmp/err" "bad.safetensors: header length"

# overlay: image map, .npy map, errors.
check "overlay png map" 0 "$cli" overlay "$samples/chelsea.jpg" "$samples/chelsea-map.png" -o "$tmp/o.png" --colormap inferno --alpha 0.6 --smooth 4
check "overlay output is a same-size png" 0 "$cli" info "$tmp/o.png"
expect_grep "overlay output size" "$tmp/out" "png image, 451 x 300, 3 channels"
"$py" -c "import numpy as np; np.save('$tmp/m.npy', np.arange(12, dtype=np.float32).reshape(3,4))"
check "overlay npy map jpg out" 0 "$cli" overlay "$samples/chelsea.jpg" "$tmp/m.npy" -o "$tmp/o.jpg" --range 0,11
# Pixel check against numpy: right edge is hottest (viridis yellow-ish), left darkest.
"$py" - "$tmp/o.png" "$src/assets/samples/chelsea.jpg" <<'PY' >"$tmp/px" 2>&1
import sys, cv2, numpy as np
o = cv2.imread(sys.argv[1])[:, :, ::-1].astype(float); img = cv2.imread(sys.argv[2])[:, :, ::-1].astype(float)
# The map's peak is at (6/14, 5/14) of the image: overlay there must differ from the image,
# and a far corner must be mostly the image blended with the colormap's low end.
h, w = img.shape[:2]
cy, cx = int(5.5 / 14 * h), int(6.5 / 14 * w)
print("peak-diff", np.abs(o[cy, cx] - img[cy, cx]).sum() > 30)
PY
expect_grep "overlay changes the peak" "$tmp/px" "peak-diff True"
check "overlay missing -o" 2 "$cli" overlay "$samples/chelsea.jpg" "$samples/chelsea-map.png"
check "overlay bad alpha" 2 "$cli" overlay "$samples/chelsea.jpg" "$samples/chelsea-map.png" -o "$tmp/x.png" --alpha 2
check "overlay bad colormap" 2 "$cli" overlay "$samples/chelsea.jpg" "$samples/chelsea-map.png" -o "$tmp/x.png" --colormap rainbowz
check "overlay bad ext" 2 "$cli" overlay "$samples/chelsea.jpg" "$samples/chelsea-map.png" -o "$tmp/x.gif"
check "overlay corrupt map" 1 "$cli" overlay "$samples/chelsea.jpg" "$tmp/random.png" -o "$tmp/x.png"
check "overlay corrupt npy" 1 "$cli" overlay "$samples/chelsea.jpg" "$tmp/random.png" -o "$tmp/x.png"
head -c 100 "$tmp/m.npy" > "$tmp/trunc.npy"
check "overlay truncated npy" 1 "$cli" overlay "$samples/chelsea.jpg" "$tmp/trunc.npy" -o "$tmp/x.png"
check "overlay missing folder" 1 "$cli" overlay "$samples/chelsea.jpg" "$samples/chelsea-map.png" -o "$tmp/no/dir/x.png"
[ ! -e "$tmp/x.png" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: failed overlay left a file"; }
left=$(find "$tmp" -name '.*tmp*' | wc -l)
[ "$left" -eq 0 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: temporary files left behind"; }
# stdin input
check "overlay stdin image" 0 sh -c "'$cli' overlay - '$samples/chelsea-map.png' -o '$tmp/s.png' < '$samples/chelsea.jpg'"

# Options as --opt=value: the same as --opt value; flags take no value.
scene="$samples/scenes/images/test_000001.png"
check "vqa --top-k 2" 0 "$cli" vqa "$scene" "what colour is the boot?" --top-k 2 --json
cp "$tmp/out" "$tmp/spaced.json"
check "vqa --top-k=2" 0 "$cli" vqa "$scene" "what colour is the boot?" --top-k=2 --json
yes_ "--top-k=2 answers as --top-k 2" 'cmp -s "$tmp/out" "$tmp/spaced.json"'
check "vqa --top-k=x" 2 "$cli" vqa "$scene" "is there a bag?" --top-k=x
check "vqa --json=1" 2 "$cli" vqa "$scene" "is there a bag?" --json=1
expect_grep "flag value named" "$tmp/err" "--json takes no value"
check "vqa -- IMAGE" 0 "$cli" vqa --top-k=1 -- "$scene" "is there a bag?"
check "data --opt=value" 0 "$cli" data scenes --n=3 --seed=5 --split=test --size=64 --output="$tmp/d1"
check "data --opt value" 0 "$cli" data scenes --n 3 --seed 5 --split test --size 64 --output "$tmp/d2"
yes_ "same scenes either way" 'cmp -s "$tmp/d1/annotations.jsonl" "$tmp/d2/annotations.jsonl" && diff -r "$tmp/d1/images" "$tmp/d2/images" >/dev/null'
check "data --seed=-1" 2 "$cli" data scenes --n=3 --seed=-1 --split=test --output="$tmp/d3"
# --threads above the library's cap (4 per core, at least 64) is a usage error
# for every verb, before any work (thousands of threads make libgomp abort).
cores=$(nproc); cap=$((4 * cores < 64 ? 64 : 4 * cores))
for n in 100000 $((cap + 1)); do
  for args in "caption $scene" "saliency $scene -o $tmp/thr.png" "vqa $scene what" "info --system" \
              "classify $scene --model $tmp/none.safetensors" "data scenes --n 1 --seed 1 --split test --output $tmp/thr" "eval vqa --model x" "stn $scene --json" \
              "train classifier -o $tmp/thr.safetensors" "train vqa -o $tmp/thr.safetensors" \
              "train captioner -o $tmp/thr.safetensors" \
              "train stn --distortion rts --model cnn -o $tmp/thr.safetensors"; do
    # shellcheck disable=SC2086
    check "--threads $n: $args" 2 "$cli" $args --threads $n
    expect_grep "--threads $n: $args says the cap" "$tmp/err" "^saccade [a-z ]+: --threads: $n threads is too many: at most $cap"
  done
done
# A --threads value that is not a whole number in range gets one message and
# exit status 2 from every verb.
for n in x 0 9999999999; do
  for args in "caption $scene" "saliency $scene -o $tmp/thr.png" "vqa $scene what" "info --system" \
              "classify $scene --model $tmp/none.safetensors"; do
    # shellcheck disable=SC2086
    check "--threads $n: $args" 2 "$cli" $args --threads $n
    expect_grep "--threads $n: $args says why" "$tmp/err" "--threads needs a whole number from 1 to 2147483647, not '$n'"
  done
done
yes_ "--threads over the cap writes nothing" '[ ! -e "$tmp/thr" ] && [ ! -e "$tmp/thr.png" ] && [ ! -e "$tmp/thr.safetensors" ]'
check "--threads at the cap" 0 "$cli" info --system --threads $cap
# An output name of 250 bytes (near NAME_MAX) is written, with no temporary
# file left beside it.
long="$(printf 's%.0s' $(seq 246)).png"
mkdir -p "$tmp/long"
check "250-byte output name" 0 "$cli" saliency "$scene" -o "$tmp/long/$long"
yes_ "250-byte output name alone in its folder" '[ "$(ls -A "$tmp/long")" = "$long" ]'
# Training writes only where -o says: without it every model is a usage error,
# before any data is read or file written.
for args in "classifier" "captioner" "vqa" "stn --distortion rts --model cnn"; do
  # shellcheck disable=SC2086
  mkdir -p "$tmp/noout" && (cd "$tmp/noout" && "$cli" train $args >"$tmp/out" 2>"$tmp/err"); st=$?
  yes_ "train $args without -o exits 2" '[ "$st" -eq 2 ]'
  expect_grep "train $args without -o says why" "$tmp/err" "need -o MODEL.safetensors"
  yes_ "train $args without -o writes nothing" '[ -z "$(ls -A "$tmp/noout")" ]'
done
# 'saccade train MODEL --help' and 'saccade eval WHAT --help' show that model's help.
check "train stn --help" 0 "$cli" train stn --help
expect_grep "train stn help" "$tmp/out" "^usage: saccade train stn"
yes_ "train stn help is only stn's" '! grep -q "usage: saccade train vqa" "$tmp/out"'
check "eval vqa --help" 0 "$cli" eval vqa --help
expect_grep "eval vqa help" "$tmp/out" "usage: saccade eval vqa"
yes_ "eval vqa help is only vqa's" '! grep -q "usage: saccade eval classifier" "$tmp/out"'
check "caption --beam 3" 0 "$cli" caption "$scene" --beam 3 --json
cp "$tmp/out" "$tmp/beam_spaced.json"
check "caption --beam=3" 0 "$cli" caption "$scene" --beam=3 --json
yes_ "--beam=3 captions as --beam 3" 'cmp -s "$tmp/out" "$tmp/beam_spaced.json"'
check "saliency --method=pqft" 0 "$cli" saliency "$scene" --method=pqft --json -o "$tmp/pq.png"
# Every verb's help ends with examples that start with 'saccade'.
for v in info overlay caption saliency data train eval stn vqa; do
  "$cli" "$v" --help >"$tmp/h" 2>&1
  yes_ "$v --help ends with examples" '[ "$(grep -c "^  .*saccade $v" "$tmp/h")" -ge 2 ] && tail -n 1 "$tmp/h" | grep -q "saccade\|^      "'
done

# --json with file names that are not UTF-8: every line is strict JSON, each
# invalid part of a name is U+FFFD (as Python's decode(errors="replace")), and
# KEY_bytes holds the name's bytes percent-escaped; UTF-8 names are as they are.
mkdir -p "$tmp/names"
"$py" - "$scene" "$tmp/names" <<'PY'
import os, shutil, sys
for name in (b"caf\xe9 \xff%.png", b"\xed\xa0\x80\xe2\x82.png", b"\xc0\xaf\xf0\x9f\x98x.png",
             "ok-\u00e9\U0001f600.png".encode()):
    shutil.copy(sys.argv[1], os.path.join(os.fsencode(sys.argv[2]), name))
PY
check "info --json, non-UTF-8 names" 0 "$cli" info --json "$tmp/names"/*
cp "$tmp/out" "$tmp/names-info.json"
check "caption --json, non-UTF-8 names" 0 "$cli" caption --json "$tmp/names"
cp "$tmp/out" "$tmp/names-caption.json"
check "saliency --json, non-UTF-8 names" 0 "$cli" saliency --json "$tmp/names" -o "$tmp/names-sal"
pycheck "non-UTF-8 names escaped" "
import json, os, sys, urllib.parse
names = sorted(os.listdir(os.fsencode(sys.argv[1])))
for f, keys in ((sys.argv[2], ['path']), (sys.argv[3], ['path']), (sys.argv[4], ['path', 'output'])):
    raw = open(f, 'rb').read()
    raw.decode('utf-8')  # strict
    lines = [json.loads(l) for l in raw.splitlines()]
    assert len(lines) == len(names) == 4, (f, lines)
    for o in lines:
        for k in keys:
            b = urllib.parse.unquote_to_bytes(o[k + '_bytes']) if k + '_bytes' in o else o[k].encode()
            assert o[k] == b.decode('utf-8', 'replace'), (o[k], b)
            assert os.path.basename(b).split(b'.')[0] in [n.split(b'.')[0] for n in names], b
            try:
                b.decode('utf-8')
                assert k + '_bytes' not in o, o
            except UnicodeDecodeError:
                assert k + '_bytes' in o, o
    got = sorted(os.path.basename(urllib.parse.unquote_to_bytes(o['path_bytes']) if 'path_bytes' in o
                                  else o['path'].encode()) for o in lines)
    assert got == names, (got, names)
" "$tmp/names" "$tmp/names-info.json" "$tmp/names-caption.json" "$tmp/out"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

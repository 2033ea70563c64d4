#!/usr/bin/env bash
# End-to-end: saccade train captioner --attention hard (a tiny model, a few
# steps): the REINFORCE metrics, determinism, an exact resume (the baseline is
# in the checkpoint), the saved config; caption --attention-mode; bad options.
set -u
cli=${SACCADE_CLI:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli_traincap_hard.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
img="$src/assets/samples/scenes/images/test_000000.png"
small=(--channels 8,16 --kernels 3,5 --pools 1,0 --grid 6 --embed 16 --attention-dim 16 --decoder 32
       --batch 16 --lr 0.01 --train-size 2000 --val 10 --threads 2 --quiet --attention hard
       --hard-expect 0.5 --hard-entropy 0.02)

# Usage errors exit 2, before anything is written.
check "bad --attention" 2 "$cli" train captioner --attention stochastic -o "$tmp/x.safetensors"
expect_grep "bad --attention message" "$tmp/err" "soft, hard or a width"
check "--attention 0" 2 "$cli" train captioner --attention 0 -o "$tmp/x.safetensors"
check "--hard-expect 1.5" 2 "$cli" train captioner --attention hard --hard-expect 1.5 -o "$tmp/x.safetensors"
check "--hard-entropy -1" 2 "$cli" train captioner --attention hard --hard-entropy -1 -o "$tmp/x.safetensors"
check "--hard-expect without hard" 2 "$cli" train captioner --hard-expect 0.5 -o "$tmp/x.safetensors"
expect_grep "hard option message" "$tmp/err" "need --attention hard"
yes_ "nothing written" '[ ! -e "$tmp/x.safetensors" ]'
check "train --help lists hard" 0 "$cli" train --help
expect_grep "train help hard" "$tmp/out" "--attention KIND"

# 20 steps: the metrics log the reward, baseline and entropy; ce falls.
m="$tmp/hard.safetensors"; jl="$tmp/hard.jsonl"
check "train hard 20 steps" 0 "$cli" train captioner "${small[@]}" --max-steps 20 --seed 3 \
  -o "$m" --metrics "$jl"
"$py" - "$jl" "$tmp/hard.metrics.json" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL hard metrics:"; cat "$tmp/py"; }
import json, math, sys
L = [json.loads(l) for l in open(sys.argv[1]) if '"reward"' in l]
assert len(L) == 20, len(L)
for d in L:
    assert d["reward"] < 0 and 0 < d["att_entropy"] <= math.log(36) + 1e-6, d
assert L[0]["baseline"] == L[0]["reward"], L[0]          # the first update sets it
b = 0.9 * L[0]["baseline"] + 0.1 * L[1]["reward"]        # then the moving average
assert abs(L[1]["baseline"] - b) < 1e-3 * abs(b), (L[1], b)
first, last = sum(d["ce"] for d in L[:3]) / 3, sum(d["ce"] for d in L[-3:]) / 3
assert last < 0.9 * first, (first, last)   # ~3.8 -> ~3.1 in 20 steps
s = json.load(open(sys.argv[2]))
assert s["attention"] == "hard" and s["hard_expect"] == 0.5 and s["hard_entropy"] == 0.02, s
assert s["config"]["hard_attention"] is True, s["config"]
PY

# Deterministic given the seed; a run resumed at step 10 ends where an
# uninterrupted one does (the baseline is a checkpoint buffer).
check "train hard again" 0 "$cli" train captioner "${small[@]}" --max-steps 20 --seed 3 -o "$tmp/again.safetensors"
yes_ "same seed, same model" 'cmp -s "$m" "$tmp/again.safetensors"'
ck="$tmp/ck.safetensors"
check "train hard 10 steps" 0 "$cli" train captioner "${small[@]}" --max-steps 10 --seed 3 \
  --checkpoint "$ck" --checkpoint-every 10 -o "$tmp/r.safetensors"
check "resume hard to 20" 0 "$cli" train captioner "${small[@]}" --max-steps 20 --seed 3 \
  --checkpoint "$ck" --resume -o "$tmp/r.safetensors"
yes_ "resumed = uninterrupted" 'cmp -s "$m" "$tmp/r.safetensors"'
check "other seed" 0 "$cli" train captioner "${small[@]}" --max-steps 20 --seed 4 -o "$tmp/s4.safetensors"
yes_ "other seed, other model" '! cmp -s "$m" "$tmp/s4.safetensors"'

# caption: argmax by default (cells in --json, labelled figures), expected on
# request (no cells), sample reproducible with --seed.
check "caption hard json" 0 "$cli" caption --model "$m" --json --attention "$tmp/a.png" "$img"
cp "$tmp/out" "$tmp/argmax.json"
yes_ "figure written" '[ -s "$tmp/a.png" ]'
check "caption expected" 0 "$cli" caption --model "$m" --json --attention-mode expected "$img"
cp "$tmp/out" "$tmp/expected.json"
check "caption sample" 0 "$cli" caption --model "$m" --json --json-attention --attention-mode sample --seed 5 "$img"
cp "$tmp/out" "$tmp/s1.json"
check "caption sample again" 0 "$cli" caption --model "$m" --json --json-attention --attention-mode sample --seed 5 "$img"
yes_ "sample reproducible" 'cmp -s "$tmp/out" "$tmp/s1.json"'
"$py" - "$tmp/argmax.json" "$tmp/expected.json" "$tmp/s1.json" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL caption modes:"; cat "$tmp/py"; }
import json, sys
a, e, s = (json.loads(open(f).read()) for f in sys.argv[1:4])
assert len(a["cells"]) == len(a["tokens"]) and all(0 <= c < 36 for c in a["cells"]), a
assert "cells" not in e, e
assert len(s["cells"]) == len(s["tokens"]), s
for c, m in zip(s["cells"], s["attention"]):     # one-hot maps of the cells read
    flat = [v for row in m for v in row]
    assert flat[c] == 1 and sum(flat) == 1, (c, flat)
PY
check "eval hard model" 0 "$cli" eval captioner --model "$m" --n 8 --beam 1 --json
cp "$tmp/out" "$tmp/eval_argmax.json"
check "eval sampled cells" 0 "$cli" eval captioner --model "$m" --n 8 --beam 1 --json --attention-mode sample --sample-seed 2
cp "$tmp/out" "$tmp/eval_s2.json"
check "eval sampled cells again" 0 "$cli" eval captioner --model "$m" --n 8 --beam 1 --json --attention-mode sample --sample-seed 2
pycheck "eval sample reproducible, pointing game" 'import json, sys
e = [json.load(open(f)) for f in sys.argv[1:]]
assert all(0 <= x["pointing_game"] <= 1 and x["n"] == 8 for x in e), e
for x in e: x.pop("seconds")
assert e[1] == e[2], (e[1], e[2])      # the same draws (the wall time aside)' \
  "$tmp/eval_argmax.json" "$tmp/eval_s2.json" "$tmp/out"
check "eval bad mode" 2 "$cli" eval captioner --model "$m" --attention-mode soft
check "eval --sample-seed without sample" 2 "$cli" eval captioner --model "$m" --sample-seed 1
check "bad --attention-mode" 2 "$cli" caption --model "$m" --attention-mode hard "$img"
expect_grep "bad mode message" "$tmp/err" "sample, argmax or expected"
check "--seed without sample" 2 "$cli" caption --model "$m" --seed 3 "$img"
check "--seed with argmax" 2 "$cli" caption --model "$m" --attention-mode argmax --seed 3 "$img"
check "help lists --attention-mode" 0 "$cli" caption --help
expect_grep "caption help" "$tmp/out" "--attention-mode M"

echo "train captioner hard cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

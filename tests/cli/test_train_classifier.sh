#!/usr/bin/env bash
# End-to-end: saccade train classifier / eval classifier on Fashion-MNIST
# (a few steps of a small network), resume, and the error paths.
set -u
cli=${SACCADE_CLI:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli_train.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
m="$tmp/m.safetensors"; ck="$tmp/ck.safetensors"; jl="$tmp/m.jsonl"
small=(--channels 8,16 --batch 32 --lr 0.01 --threads 2 --quiet -o "$m" --checkpoint "$ck" --metrics "$jl")

# Usage errors exit 2.
check "train without model" 2 "$cli" train
check "train unknown model" 2 "$cli" train frobnicator
check "train bad option" 2 "$cli" train classifier --bogus
check "train bad epochs" 2 "$cli" train classifier --epochs 0
check "train bad channels" 2 "$cli" train classifier --channels 8,x
check "train bad lr" 2 "$cli" train classifier --lr -1
check "train resume without checkpoint" 2 "$cli" train classifier --resume
expect_grep "resume hint" "$tmp/err" "--resume needs --checkpoint"
check "eval without --model" 2 "$cli" eval classifier
check "eval unknown model kind" 2 "$cli" eval frobnicator --model "$m"
check "train --help" 0 "$cli" train --help
expect_grep "train help" "$tmp/out" "usage: saccade train"

# Missing data: runtime error, exit 1, the message names the file.
check "missing data dir" 1 "$cli" train classifier --data "$tmp/nodata" "${small[@]}" --max-steps 2
expect_grep "missing data message" "$tmp/err" "^saccade: cannot load Fashion-MNIST: .*nodata"

# A short run writes a model, a metrics summary and per-step metrics.
check "train 30 steps" 0 "$cli" train classifier "${small[@]}" --max-steps 30 --checkpoint-every 10 --seed 3
expect_grep "train summary line" "$tmp/out" "test accuracy [0-9.]+% after 30 steps"
[ -s "$m" ] && [ -s "$ck" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL model/checkpoint missing"; }
"$py" - "$tmp/m.metrics.json" "$jl" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL metrics:"; cat "$tmp/py"; }
import json, sys
s = json.load(open(sys.argv[1]))
assert 0.3 < s["test_accuracy"] <= 1, s   # 30 small steps already beat chance (0.1) by far
assert s["steps"] == 30 and s["seed"] == 3 and s["seconds"] > 0, s
assert s["command"].startswith("saccade train classifier --channels 8,16 --batch 32 --lr 0.01"), s["command"]
assert s["config"]["encoder"]["channels"] == [8, 16], s
L = [json.loads(l) for l in open(sys.argv[2])]
steps = [d["step"] for d in L if "loss" in d]
assert steps == list(range(1, 31)), steps
assert any("test_accuracy" in d for d in L)
PY

# Resume continues from the checkpoint up to 40 steps.
cp "$ck" "$tmp/ck30.safetensors"
check "resume to 40 steps" 0 "$cli" train classifier "${small[@]}" --max-steps 40 --seed 3 --resume
expect_grep "resume message" "$tmp/err" "resuming from .* at step 30"
expect_grep "resume summary" "$tmp/out" "after 40 steps"
"$py" -c "
import json, sys
L = [json.loads(l) for l in open('$jl')]
steps = [d['step'] for d in L if 'loss' in d]
assert steps == list(range(1, 41)), steps
" >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL resumed metrics:"; cat "$tmp/py"; }
# A run killed after step 40 (its last line torn) resumed from the step-30
# checkpoint: the log is cut back to step 30, so every step is logged once,
# with the same losses as before.
cp "$jl" "$tmp/m40.jsonl"
printf '{"step": 41, "epoch": 0, "lo' >>"$jl"
cp "$tmp/ck30.safetensors" "$ck"
check "resume again from step 30" 0 "$cli" train classifier "${small[@]}" --max-steps 40 --seed 3 --resume
"$py" - "$jl" "$tmp/m40.jsonl" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL metrics after resuming from an earlier checkpoint:"; cat "$tmp/py"; }
import json, sys
L = [json.loads(l) for l in open(sys.argv[1])]
steps = [d["step"] for d in L if "loss" in d]
assert steps == list(range(1, 41)), steps
before = {d["step"]: d["loss"] for d in map(json.loads, open(sys.argv[2])) if "loss" in d}
assert all(abs(d["loss"] - before[d["step"]]) < 1e-6 for d in L if "loss" in d)
assert [d["step"] for d in L if "test_accuracy" in d] == [d["step"] for d in map(json.loads, open(sys.argv[2])) if "test_accuracy" in d]
PY
check "resume with another seed" 1 "$cli" train classifier "${small[@]}" --max-steps 50 --seed 4 --resume
expect_grep "seed mismatch message" "$tmp/err" "seed 3"

# eval classifier: text and JSON.
check "eval" 0 "$cli" eval classifier --model "$m" --threads 2
expect_grep "eval accuracy" "$tmp/out" "test accuracy [0-9]+\.[0-9]+% \(10000 images\)"
expect_grep "eval per class" "$tmp/out" "^Ankle boot +[0-9.]+%"
expect_grep "eval confusion" "$tmp/out" "^confusion matrix"
check "eval json" 0 "$cli" eval classifier --model "$m" --json
"$py" - "$tmp/out" "$tmp/m.metrics.json" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL eval json:"; cat "$tmp/py"; }
import json, sys
e = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
C = e["confusion"]
assert len(C) == 10 and sum(map(sum, C)) == 10000
assert abs(sum(C[i][i] for i in range(10)) / 10000 - e["accuracy"]) < 1e-9
assert abs(e["accuracy"] - s["test_accuracy"]) < 1e-6, (e["accuracy"], s["test_accuracy"])
assert [p["n"] for p in e["per_class"]] == [1000] * 10
PY
# The checkpoint is a model file too.
check "eval checkpoint" 0 "$cli" eval classifier --model "$ck"
check "eval missing model" 1 "$cli" eval classifier --model "$tmp/none.safetensors"
expect_grep "eval missing names file" "$tmp/err" "none.safetensors"
head -c 100 /dev/urandom > "$tmp/junk.safetensors"
check "eval junk model" 1 "$cli" eval classifier --model "$tmp/junk.safetensors"

echo "train classifier cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/usr/bin/env bash
# End-to-end: saccade train captioner / eval captioner on Fashion scenes (a tiny
# model, a few steps), resume, eval JSON fields, and the error paths.
set -u
cli=${SACCADE_CLI:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli_traincap.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
m="$tmp/cap.safetensors"; ck="$tmp/ck.safetensors"; jl="$tmp/m.jsonl"
small=(--channels 8,16 --grid 6 --embed 16 --attention 16 --decoder 32 --batch 16 --lr 0.01
       --train-size 2000 --val 20 --threads 2 --quiet -o "$m" --checkpoint "$ck" --metrics "$jl")

# Usage errors exit 2.
check "train bad option" 2 "$cli" train captioner --bogus
check "train bad grid" 2 "$cli" train captioner --grid 0
check "train bad captions mode" 2 "$cli" train captioner --captions sometimes
check "train bad channels" 2 "$cli" train captioner --channels 8,x
check "train bad lr" 2 "$cli" train captioner --lr -1
check "train resume without checkpoint" 2 "$cli" train captioner --resume
expect_grep "resume hint" "$tmp/err" "--resume needs --checkpoint"
check "eval captioner without --model" 2 "$cli" eval captioner
check "eval captioner bad beam" 2 "$cli" eval captioner --model "$m" --beam 0
check "eval captioner bad n" 2 "$cli" eval captioner --model "$m" --n -3
check "train --help lists captioner" 0 "$cli" train --help
expect_grep "train help" "$tmp/out" "--train-size N"
check "eval --help lists captioner" 0 "$cli" eval --help
expect_grep "eval help" "$tmp/out" "usage: saccade eval captioner"

# 20 steps: model + metrics summary written, loss falls.
check "train 20 steps" 0 "$cli" train captioner "${small[@]}" --max-steps 20 --checkpoint-every 10 --seed 3
expect_grep "train summary" "$tmp/out" "trained 20 steps"
[ -s "$m" ] && [ -s "$ck" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL model/checkpoint missing"; }
"$py" - "$tmp/cap.metrics.json" "$jl" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL metrics:"; cat "$tmp/py"; }
import json, sys
s = json.load(open(sys.argv[1]))
assert s["steps"] == 20 and s["seed"] == 3 and s["seconds"] > 0, s
assert s["captions"] == "canonical" and s["val_scenes"] == 20, s
assert s["command"].startswith("saccade train captioner --channels 8,16 --grid 6"), s["command"]
assert s["config"]["encoder"] == "cnn" and s["config"]["grid"] == 6, s
assert s["encoder"]["channels"] == [8, 16], s
L = [json.loads(l) for l in open(sys.argv[2])]
loss = [d["loss"] for d in L if "loss" in d]
assert len(loss) == 20, loss
first, last = sum(loss[:3]) / 3, sum(loss[-3:]) / 3
assert last < 0.8 * first, (first, last)   # ~4.4 at the start (ln 48 + penalty)
PY

# Resume continues to 30 steps.
check "resume to 30" 0 "$cli" train captioner "${small[@]}" --max-steps 30 --seed 3 --resume
expect_grep "resume message" "$tmp/err" "resuming from .* at step 20"
expect_grep "resume summary" "$tmp/out" "trained 30 steps"
"$py" -c "
import json
L = [json.loads(l) for l in open('$jl')]
steps = [d['step'] for d in L if 'loss' in d]
assert steps == list(range(1, 31)), steps
" >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL resumed metrics:"; cat "$tmp/py"; }

# eval captioner: JSON fields on generated scenes and on the sample folder.
check "eval json" 0 "$cli" eval captioner --model "$m" --n 24 --beam 2 --json
"$py" - "$tmp/out" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL eval json:"; cat "$tmp/py"; }
import json, sys
e = json.load(open(sys.argv[1]))
for k in ["bleu1", "bleu2", "bleu3", "bleu4", "cider_d", "exact_match", "count_accuracy",
          "colour_accuracy", "class_accuracy", "relation_accuracy", "pointing_game",
          "pointing_game_colour_step",
          "pointing_nouns", "relation_scenes"]:
    assert k in e and e[k] >= 0, k
assert e["n"] == 24 and e["beam"] == 2, e
assert e["bleu1"] >= e["bleu4"] and e["bleu1"] <= 1
assert 0 <= e["colour_accuracy"] <= 1 and 0 <= e["pointing_game"] <= 1
PY
check "eval text on sample folder" 0 "$cli" eval captioner --model "$m" --data "$src/assets/samples/scenes" --samples 2
expect_grep "eval text bleu" "$tmp/out" "BLEU-4 [0-9.]+"
expect_grep "eval text pointing" "$tmp/out" "pointing game +[0-9.]+%"
expect_grep "eval text n" "$tmp/out" "on 6 "
check "eval missing model" 1 "$cli" eval captioner --model "$tmp/none.safetensors"
expect_grep "eval missing names file" "$tmp/err" "none.safetensors"
check "eval missing folder" 1 "$cli" eval captioner --model "$m" --data "$tmp/nodir"

echo "train captioner cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

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
small=(--channels 8,16 --kernels 3,5 --pools 1,0 --grid 6 --embed 16 --attention 16 --decoder 32 --batch 16 --lr 0.01
       --train-size 2000 --val 20 --threads 2 --quiet -o "$m" --checkpoint "$ck" --metrics "$jl")

# Usage errors exit 2.
check "train bad option" 2 "$cli" train captioner --bogus
check "train bad grid" 2 "$cli" train captioner --grid 0
check "train bad captions mode" 2 "$cli" train captioner --captions sometimes
check "train bad channels" 2 "$cli" train captioner --channels 8,x
check "train bad lr" 2 "$cli" train captioner --lr -1
check "train kernels count" 2 "$cli" train captioner --channels 8,16 --kernels 3 --quiet
check "train even kernel" 2 "$cli" train captioner --channels 8,16 --kernels 3,4 --quiet
check "train pools count" 2 "$cli" train captioner --channels 8,16 --pools 1 --quiet
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
assert s["command"].startswith("saccade train captioner --channels 8,16 --kernels 3,5"), s["command"]
assert s["config"]["encoder"] == "cnn" and s["config"]["grid"] == 6, s
assert s["encoder"]["channels"] == [8, 16] and s["encoder"]["kernel"] == [3, 5], s
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

# Supervised attention: the attention term is logged, is part of the loss and falls.
check "train bad att-sup" 2 "$cli" train captioner --att-sup -1
sjl="$tmp/sup.jsonl"
check "train att-sup 40 steps" 0 "$cli" train captioner "${small[@]}" --max-steps 40 --seed 4 \
  --att-sup 1 --att-coords --ctx2out --checkpoint "$tmp/sck.safetensors" --metrics "$sjl" -o "$tmp/sup.safetensors"
"$py" - "$sjl" "$tmp/sup.metrics.json" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL att-sup metrics:"; cat "$tmp/py"; }
import json, sys
L = [json.loads(l) for l in open(sys.argv[1]) if '"att_sup"' in l]
assert len(L) == 40, len(L)
assert all(abs(d["loss"] - d["ce"] - d["att_penalty"] - d["att_sup"]) < 1e-4 for d in L)
cfg = json.load(open(sys.argv[2]))["config"]
assert cfg["att_coords"] is True and cfg["ctx2out"] is True, cfg
first, last = sum(d["att_sup"] for d in L[:4]) / 4, sum(d["att_sup"] for d in L[-4:]) / 4
assert first > 1.0 and last < 0.7 * first, (first, last)   # ~ln(36 / box cells) at the start
PY

# Auxiliary item heads: logged, part of the loss, falling, resumable, never saved.
check "train bad aux-items" 2 "$cli" train captioner --aux-items -1
ajl="$tmp/aux.jsonl"
check "train aux-items 40 steps" 0 "$cli" train captioner "${small[@]}" --max-steps 40 --seed 4 \
  --aux-items 1 --checkpoint "$tmp/ack.safetensors" --metrics "$ajl" -o "$tmp/aux.safetensors"
check "info of aux model" 0 "$cli" info "$tmp/aux.safetensors"
"$py" - "$ajl" "$tmp/out" "$tmp/ack.safetensors" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL aux-items metrics:"; cat "$tmp/py"; }
import json, sys
L = [json.loads(l) for l in open(sys.argv[1]) if '"aux_items"' in l]
assert len(L) == 40, len(L)
assert all(abs(d["loss"] - d["ce"] - d["att_penalty"] - d["aux_items"]) < 1e-4 for d in L)
first, last = sum(d["aux_items"] for d in L[:5]) / 5, sum(d["aux_items"] for d in L[-5:]) / 5
# chance is (ln 10 + ln 8) / 2 = 2.19
assert 1.8 < first < 2.6 and last < first - 0.2, (first, last)
info = open(sys.argv[2]).read()
assert "aux.class" not in info and "aux.colour" not in info, "heads saved in the model"
assert b"aux.class.weight" in open(sys.argv[3], "rb").read(), "heads missing from the checkpoint"
PY

check "caption with att-coords model" 0 "$cli" caption --model "$tmp/sup.safetensors" "$src/assets/samples/scenes/images/test_000000.png"

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

# ViT patch encoder: trains end to end (loss falls), captions, gives rollout
# and input-gradient saliency; bad encoder options are usage errors.
check "train bad encoder" 2 "$cli" train captioner --encoder resnet
check "train bad vit pos" 2 "$cli" train captioner --encoder vit --vit-pos rope
check "train vit heads not dividing dim" 2 "$cli" train captioner --encoder vit --vit-dim 30 --vit-heads 4 --quiet -o "$tmp/vit.safetensors"
expect_grep "vit dim/heads message" "$tmp/err" "dim 30 not divisible by heads 4"
check "train vit patch not dividing 96" 2 "$cli" train captioner --encoder vit --vit-patch 7 --quiet
check "train vit warmup too long" 2 "$cli" train captioner --encoder vit --steps 5 --warmup 5 --quiet
v="$tmp/vit.safetensors"; vjl="$tmp/vit.jsonl"
check "train vit 80 steps" 0 "$cli" train captioner --encoder vit --vit-dim 32 --vit-depth 2 --vit-heads 2 \
  --vit-mlp 64 --vit-patch 12 --grid 8 --embed 16 --attention 32 --decoder 32 --batch 16 --lr 0.003 \
  --warmup 5 --steps 80 --train-size 2000 --val 10 --threads 2 --quiet --seed 2 -o "$v" --metrics "$vjl"
"$py" - "$tmp/vit.metrics.json" "$vjl" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL vit metrics:"; cat "$tmp/py"; }
import json, sys
s = json.load(open(sys.argv[1]))
assert s["config"]["encoder"] == "vit" and s["config"]["grid"] == 8, s
e = s["encoder"]
assert e["type"] == "vit" and e["patch"] == 12 and e["dim"] == 32 and e["depth"] == 2, e
L = [json.loads(l) for l in open(sys.argv[2])]
loss = [d["loss"] for d in L if "loss" in d]
lr = [d["lr"] for d in L if "lr" in d]
assert len(loss) == 80, loss
assert lr[0] < lr[5] and abs(lr[5] - 0.003) < 1e-6, lr[:8]   # warm-up, then the cosine
first, last = sum(loss[:3]) / 3, sum(loss[-3:]) / 3
assert last < 0.8 * first, (first, last)
PY
check "vit caption json" 0 "$cli" caption --model "$v" --json "$src/assets/samples/scenes"
expect_grep "vit caption encoder" "$tmp/out" '"encoder": "vit"'
check "vit rollout" 0 "$cli" saliency "$src/assets/samples/scenes" --method rollout --model "$v" -o "$tmp/roll" --raw "$tmp/rollraw" --json
check "vit rollout discard" 0 "$cli" saliency "$src/assets/samples/scenes" --method rollout --discard 0.9 --model "$v" -o "$tmp/roll9" --raw "$tmp/rollraw9"
check "vit rollout from cls" 0 "$cli" saliency "$src/assets/samples/scenes" --method rollout --rollout-from cls --model "$v" -o "$tmp/rollc" --raw "$tmp/rollrawc"
check "vit gradient" 0 "$cli" saliency "$src/assets/samples/scenes" --method gradient --model "$v" -o "$tmp/grad" --raw "$tmp/gradraw"
"$py" - "$tmp/rollraw" "$tmp/rollraw9" "$tmp/gradraw" "$tmp/rollrawc" <<'PY' >"$tmp/py" 2>&1 && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL vit saliency maps:"; cat "$tmp/py"; }
import glob, os, sys
import numpy as np
r, r9, gr, rc = (sorted(glob.glob(os.path.join(d, "*.npy"))) for d in sys.argv[1:5])
assert len(r) >= 3 and len(r) == len(r9) == len(gr) == len(rc), (r, r9, gr, rc)
for f, f9, fg, fc in zip(r, r9, gr, rc):
    assert ".rollout" in f and ".gradient" in fg, (f, fg)
    a, b, g, c = np.load(f), np.load(f9), np.load(fg), np.load(fc)
    assert a.shape == b.shape == g.shape == c.shape and a.min() == 0 and a.max() == 1, f
    assert np.abs(a - c).mean() > 1e-3, f   # decoder-driven and class-token rollouts differ
    assert np.abs(a - b).mean() > 1e-3, f   # discarding changes the map
    assert np.abs(a - g).mean() > 1e-3, f
PY
check "rollout from cls with --word" 2 "$cli" saliency "$src/assets/samples/scenes" --method rollout --rollout-from cls --word red --model "$v" -o "$tmp/x"
check "bad --rollout-from" 2 "$cli" saliency "$src/assets/samples/scenes" --method rollout --rollout-from patches --model "$v" -o "$tmp/x"
check "--rollout-from with attention" 2 "$cli" saliency "$src/assets/samples/scenes" --method attention --rollout-from cls --model "$v" -o "$tmp/x"
check "--discard without rollout" 2 "$cli" saliency "$src/assets/samples/scenes" --method gradient --discard 0.5 --model "$v" -o "$tmp/x"
check "--discard 1" 2 "$cli" saliency "$src/assets/samples/scenes" --method rollout --discard 1 --model "$v" -o "$tmp/x"

echo "train captioner cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

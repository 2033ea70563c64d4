#!/usr/bin/env bash
# End-to-end tests of `saccade vqa`, `saccade train vqa` (user JSON lines) and
# `saccade eval vqa`, with the shipped scenes-vqa model.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli_vqa.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
scenes="$src/assets/samples/scenes/images"
img="$scenes/test_000001.png"
answers='^(yes|no|0|1|2|3|red|green|blue|yellow|cyan|magenta|white|orange|t-shirt|trousers|pullover|dress|coat|sandal|shirt|sneaker|bag|boot) \([01]\.[0-9]{3}\)$'

# Help and usage errors (exit 2).
check "vqa --help" 0 "$cli" vqa --help; expect_grep "vqa help" "$tmp/out" "usage: saccade vqa"
check "listed in main help" 0 "$cli" --help; expect_grep "main help" "$tmp/out" "vqa"
check "no image" 2 "$cli" vqa
check "bad option" 2 "$cli" vqa "$img" "is there a bag?" --frobnicate
check "bad top-k" 2 "$cli" vqa "$img" "is there a bag?" --top-k 0
check "top-k not a number" 2 "$cli" vqa "$img" "is there a bag?" --top-k x
check "too many args" 2 "$cli" vqa "$img" "q one" "q two"
check "train vqa bad arch" 2 "$cli" train vqa --arch lstm
check "eval vqa needs model" 2 "$cli" eval vqa

# Answers with the shipped model.
check "answer" 0 "$cli" vqa "$img" "what colour is the boot?"
expect_grep "answer line" "$tmp/out" "$answers"
check "top-k 3" 0 "$cli" vqa "$img" "how many shoes are there?" --top-k 3
expect_grep "top-k rank 3" "$tmp/out" "^  3\. "
[ "$(wc -l <"$tmp/out")" -eq 3 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL top-k lines"; }
check "json" 0 "$cli" vqa "$img" "Is there a yellow boot?" --json --top-k 2
"$py" - "$tmp/out" <<'EOF' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL json fields"; }
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["question"] == "Is there a yellow boot?"
assert isinstance(d["answer"], str) and 0 < d["probability"] <= 1
assert len(d["top_k"]) == 2 and d["top_k"][0]["answer"] == d["answer"]
assert d["top_k"][0]["probability"] >= d["top_k"][1]["probability"]
assert d["unknown_words"] == [] and d["tokens"] == 5 and d["truncated"] is False
EOF

# Unknown words are named (text and JSON).
check "unknown word" 0 "$cli" vqa "$img" "is there a purple zebra?"
expect_grep "unknown named" "$tmp/out" "^unknown words: purple zebra$"
check "unknown word json" 0 "$cli" vqa "$img" "is there a zebra?" --json
expect_grep "unknown in json" "$tmp/out" '"unknown_words": \["zebra"\]'

# Empty question: runtime error, exit 1.
check "empty question" 1 "$cli" vqa "$img" ""
expect_grep "empty message" "$tmp/err" "empty"
check "punctuation only" 1 "$cli" vqa "$img" " ?? "

# Over-long question: cut with a warning.
long="is there a $(printf 'red %.0s' $(seq 1 40))bag?"
check "long question" 0 "$cli" vqa "$img" "$long"
expect_grep "long warning" "$tmp/err" "warning: question cut"

# --attention: contact sheet PNG (image + one panel per hop).
check "attention" 0 "$cli" vqa "$img" "what colour is the boot?" --attention "$tmp/att.png"
"$py" - "$tmp/att.png" <<'EOF' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL attention png"; }
import sys, cv2
im = cv2.imread(sys.argv[1])
assert im is not None and im.shape[1] > 3 * 192 and im.shape[0] > 192, im.shape
EOF

# stdin mode: three questions, blank lines skipped, image encoded once.
printf 'is there a boot?\n\nhow many items are there?\nwhat colour is the boot?\n' >"$tmp/qs.txt"
"$cli" vqa "$img" --json <"$tmp/qs.txt" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 0 ] && [ "$(wc -l <"$tmp/out")" -eq 3 ] && pass=$((pass+1)) || {
  fail=$((fail+1)); echo "FAIL stdin mode: rc $rc"; cat "$tmp/out" "$tmp/err" | head; }
expect_grep "stdin third" "$tmp/out" '"question": "what colour is the boot\?"'
printf 'is there a boot?\n???\n' | "$cli" vqa "$img" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/out")" -eq 1 ] && pass=$((pass+1)) || {
  fail=$((fail+1)); echo "FAIL stdin empty question: rc $rc"; }
# Whole lines: a 1 MB line is one question over the 65536-byte limit (one
# error, no answers from its pieces); a line at the limit is answered; a NUL
# is refused; the questions around them are answered in order.
"$py" - "$tmp/long.txt" <<'PY'
import sys
at_limit = ("is there a bag " * 5000)[:65535] + "?"
assert len(at_limit) == 65536
with open(sys.argv[1], "wb") as f:
    f.write(b"is there a boot?\n" + b"is there a bag " * 70000 + b"\n")
    f.write(at_limit.encode() + b"\r\n" + b"is there\0 a coat?\n" + b"how many items are there?")
PY
"$cli" vqa "$img" --json <"$tmp/long.txt" >"$tmp/out" 2>"$tmp/err"; rc=$?
yes_ "stdin long line exit 1" '[ $rc -eq 1 ]'
yes_ "stdin long line: 3 answers" '[ "$(wc -l <"$tmp/out")" -eq 3 ]'
expect_grep "stdin long line named" "$tmp/err" "stdin line 2: skipped, the question is over the limit \(at most 65536 bytes"
expect_grep "stdin NUL line named" "$tmp/err" "stdin line 4: skipped, the question holds a NUL byte"
yes_ "stdin: two line errors only" '[ "$(grep -c "stdin line" "$tmp/err")" -eq 2 ]'
expect_grep "stdin last line without newline answered" "$tmp/out" '"question": "how many items are there\?"'
ok_at_limit=$(sed -n 2p "$tmp/out" | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)["question"]))')
yes_ "stdin line at the limit answered whole" '[ "$ok_at_limit" = 65536 ]'

# --questions FILE: the same answers and line messages as standard input.
cp "$tmp/out" "$tmp/stdin_answers.jsonl"
check "questions file" 1 "$cli" vqa "$img" --json --questions "$tmp/long.txt" </dev/null
yes_ "questions file: the stdin answers" 'cmp -s "$tmp/out" "$tmp/stdin_answers.jsonl"'
expect_grep "questions file line named" "$tmp/err" "long.txt line 2: skipped, the question is over the limit"
check "questions file missing" 1 "$cli" vqa "$img" --questions "$tmp/nope.txt"
expect_grep "questions file missing named" "$tmp/err" "nope.txt: cannot open"
check "questions file a directory" 1 "$cli" vqa "$img" --questions "$tmp"
expect_grep "questions directory named" "$tmp/err" "not a file of questions"
check "questions file and a QUESTION" 2 "$cli" vqa "$img" "is there a bag?" --questions "$tmp/long.txt"

# UTF-8 words are lower-cased whole: "BÁG" is one unknown word "bág".
check "utf-8 question" 0 "$cli" vqa "$img" "Is there a BÁG?" --json
expect_grep "utf-8 word kept whole" "$tmp/out" '"unknown_words": \["bág"\], "tokens": 4'

# Missing files.
check "missing image" 1 "$cli" vqa "$tmp/none.png" "is there a bag?"
check "missing model" 1 "$cli" vqa "$img" "is there a bag?" --model "$tmp/none.safetensors"

# User data: JSON lines -> train (tiny) -> eval -> ask.
for i in 0 1 2 3; do
  echo "{\"image\": \"$scenes/test_00000$i.png\", \"question\": \"Is this scene number $i?\", \"answer\": \"Yes\"}"
  echo "{\"image\": \"$scenes/test_00000$i.png\", \"question\": \"what is it\", \"answer\": \"thing$i\"}"
done >"$tmp/user.jsonl"
check "train user data" 0 "$cli" train vqa --data "$tmp/user.jsonl" --arch san --epochs 2 --batch 4 \
  --seed 3 --threads 1 --quiet -o "$tmp/user.safetensors"
check "eval user data" 0 "$cli" eval vqa --model "$tmp/user.safetensors" --data "$tmp/user.jsonl" --json
"$py" - "$tmp/out" <<'EOF' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL user eval json"; }
import json, sys
d = json.loads(open(sys.argv[1]).read())
assert d["n"] == 8 and 0 <= d["accuracy"] <= 1 and d["arch"] == "san"
assert set(d["answers"]) <= {"yes", "thing0", "thing1", "thing2", "thing3"} and "yes" in d["answers"]
EOF
check "ask user model" 0 "$cli" vqa "$img" "what is it" --model "$tmp/user.safetensors" --top-k 2
expect_grep "user answer" "$tmp/out" "^(yes|thing[0-3]) \("
# Relative image paths resolve against the folder holding the JSON-lines file,
# whatever the working directory: the same file trains from "/", and a path
# that is only right from the working directory is refused with the path tried.
mkdir -p "$tmp/rel/img"
for i in 0 1; do cp "$scenes/test_00000$i.png" "$tmp/rel/img/s$i.png"; done
printf '{"image": "img/s0.png", "question": "is it zero?", "answer": "yes"}\n{"image": "img/s1.png", "question": "is it zero?", "answer": "no"}\n' >"$tmp/rel/q.jsonl"
check "relative paths from another folder" 0 sh -c "cd / && '$cli' train vqa --data '$tmp/rel/q.jsonl' --epochs 1 --batch 2 --quiet -o '$tmp/rel.safetensors'"
printf '{"image": "rel/img/s0.png", "question": "is it zero?", "answer": "yes"}\n' >"$tmp/rel/cwd.jsonl"
check "paths are not relative to the working directory" 1 sh -c "cd '$tmp' && '$cli' train vqa --data rel/cwd.jsonl --epochs 1 --quiet -o '$tmp/cwd.safetensors'"
expect_grep "the path tried is named" "$tmp/err" "rel/rel/img/s0.png"

# --val-split F holds out round(F n) questions chosen by --seed: the model's
# vocabulary has none of their words, val_accuracy is logged each epoch, and
# the same seed holds out the same lines.
for i in $(seq 0 19); do
  echo "{\"image\": \"$scenes/test_00000$((i % 6)).png\", \"question\": \"is there word$i?\", \"answer\": \"a$((i % 3))\"}"
done >"$tmp/split.jsonl"
for run in 1 2; do
  check "val-split run $run" 0 "$cli" train vqa --data "$tmp/split.jsonl" --val-split 0.25 --seed 5 \
    --epochs 2 --batch 8 --threads 1 --metrics "$tmp/split$run.metrics.jsonl" -o "$tmp/split$run.safetensors"
  expect_grep "val-split run $run says what it held out" "$tmp/err" "held out 5 of 20 questions \(--val-split 0.25, seed 5\)"
  expect_grep "val-split run $run prints held-out accuracy" "$tmp/out" "held-out \(--val-split\) accuracy [0-9.]+% \([0-9]/5\)"
done
check "val-split other seed" 0 "$cli" train vqa --data "$tmp/split.jsonl" --val-split 0.25 --seed 6 \
  --epochs 1 --batch 8 --threads 1 --quiet -o "$tmp/split3.safetensors"
pycheck "val-split: held-out words unseen, same seed same lines, metrics" "
import json, struct, sys
def vocab(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
    return set(json.loads(json.loads(b[8:8 + n])['__metadata__']['saccade.vocab']))
words = {'word%d' % i for i in range(20)}
held = [words - vocab(sys.argv[k]) for k in (1, 2, 3)]
assert len(held[0]) == 5 and held[0] == held[1], held
assert held[2] != held[0] and len(held[2]) == 5, held
for m in (sys.argv[4], sys.argv[5]):
    ends = [json.loads(l) for l in open(m) if 'val_accuracy' in l]
    assert len(ends) == 2, ends
    for e in ends:
        assert 0 <= e['val_accuracy'] <= 1 and 0 <= e['train_accuracy'] <= 1, e
" "$tmp/split1.safetensors" "$tmp/split2.safetensors" "$tmp/split3.safetensors" "$tmp/split1.metrics.jsonl" "$tmp/split2.metrics.jsonl"
check "val-split on scenes is a usage error" 2 "$cli" train vqa --val-split 0.2 -o "$tmp/x.safetensors"
check "val-split 1 is a usage error" 2 "$cli" train vqa --data "$tmp/split.jsonl" --val-split 1 -o "$tmp/x.safetensors"
yes_ "usage errors write no model" '[ ! -e "$tmp/x.safetensors" ]'

# Pretrained encoder: a frozen captioner encoder on the user data; bad encoder files.
cap="$src/assets/models/scenes-captioner.safetensors"
check "train frozen encoder" 0 "$cli" train vqa --data "$tmp/user.jsonl" --encoder-from "$cap" \
  --freeze-encoder --epochs 2 --batch 4 --seed 3 --threads 1 --quiet -o "$tmp/enc.safetensors"
"$py" - "$tmp/enc.safetensors" "$cap" <<'EOF' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL frozen model file"; }
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    t = {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], "<f4")
         for k, v in h.items() if k != "__metadata__"}
    return h["__metadata__"], t
meta, t = load(sys.argv[1]); _, c = load(sys.argv[2])
cfg = json.loads(meta["saccade.config"])
assert cfg["encoder_from"] == "scenes-captioner.safetensors" and cfg["freeze_encoder"] is True
assert cfg["encoder"]["in_channels"] == 5 and abs(cfg["mean"][0] - 0.485) < 1e-6
enc = [k for k in c if k.startswith("encoder.")]
# per stage: conv weight (no bias before BN), BN weight, bias, running mean and variance
assert len(enc) == 5 * len(cfg["encoder"]["channels"]) and all(np.array_equal(t[k], c[k]) for k in enc)
EOF
check "ask frozen model" 0 "$cli" vqa "$img" "what is it" --model "$tmp/enc.safetensors"
check "encoder-from missing" 1 "$cli" train vqa --encoder-from "$tmp/none.safetensors" --quiet \
  -o "$tmp/x.safetensors"
expect_grep "encoder-from missing message" "$tmp/err" "none.safetensors"
check "encoder-from no encoder" 1 "$cli" train vqa --quiet -o "$tmp/x.safetensors" \
  --encoder-from "$src/assets/models/fashion-stn.safetensors"
expect_grep "encoder-from no encoder message" "$tmp/err" "fashion-stn.safetensors: no cnn encoder"
"$py" - "$tmp/gray.safetensors" <<'EOF'
import json, struct, sys
cfg = {"arch": "classifier", "encoder": {"in_channels": 1, "channels": [4]}, "mean": [0.3], "std": [0.3]}
h = {"__metadata__": {"saccade.config": json.dumps(cfg)},
     "encoder.stages.0.conv.weight": {"dtype": "F32", "shape": [4, 1, 3, 3], "data_offsets": [0, 144]}}
hb = json.dumps(h).encode(); hb += b" " * (-len(hb) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(hb)) + hb + bytes(144))
EOF
check "encoder-from grayscale" 1 "$cli" train vqa --encoder-from "$tmp/gray.safetensors" --quiet \
  -o "$tmp/x.safetensors"
expect_grep "encoder-from grayscale message" "$tmp/err" "1 input channel"
# Supervised attention on scenes VQA: the attention term falls as it trains;
# it needs the SAN and scenes (boxes).
check "train att-sup" 0 "$cli" train vqa --att-sup 1 --encoder-from "$cap" --freeze-encoder \
  --questions 768 --pool 300 --epochs 4 --eval-n 0 --batch 32 --seed 2 --threads 2 --quiet \
  --metrics "$tmp/sup.jsonl" -o "$tmp/sup.safetensors"
"$py" - "$tmp/sup.jsonl" <<'EOF' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL att-sup falls"; }
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if '"att_sup"' in l]
assert len(r) == 96, len(r)
a = sum(x["att_sup"] for x in r[:8]) / 8; b = sum(x["att_sup"] for x in r[-8:]) / 8
assert a > 1.0 and b < 0.6 * a, (a, b)
assert all(abs(x["loss"] - x["ce"] - x["att_sup"]) < 1e-4 for x in r)
EOF
check "att-sup pooled" 2 "$cli" train vqa --att-sup 1 --arch pooled -o "$tmp/x.safetensors"
check "att-sup file data" 2 "$cli" train vqa --att-sup 1 --data "$tmp/user.jsonl" -o "$tmp/x.safetensors"
check "att-sup negative" 2 "$cli" train vqa --att-sup -1 -o "$tmp/x.safetensors"
check "freeze without encoder" 2 "$cli" train vqa --freeze-encoder -o "$tmp/x.safetensors"
check "qonly with encoder" 2 "$cli" train vqa --arch qonly --encoder-from "$cap" -o "$tmp/x.safetensors"
[ ! -e "$tmp/x.safetensors" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL no output on error"; }
echo '{"image": "x.png", "question": 3}' >"$tmp/bad.jsonl"
check "bad jsonl" 1 "$cli" train vqa --data "$tmp/bad.jsonl" -o "$tmp/b.safetensors" --quiet
expect_grep "bad jsonl message" "$tmp/err" "line 1"

# Co-attention: a tiny model trained a few steps on scenes (frozen encoder,
# supervised image attention) answers, with the image and question-word
# attention of each level in --json and in the figure; eval vqa reads it.
check "train coatt" 0 "$cli" train vqa --arch coatt --encoder-from "$cap" --freeze-encoder \
  --hidden 32 --att-dim 16 --mlp 24 --att-sup 1 --questions 256 --pool 100 --epochs 1 \
  --eval-n 64 --batch 32 --seed 3 --threads 2 --quiet -o "$tmp/coatt.safetensors"
check "coatt answer json" 0 "$cli" vqa "$img" "what colour is the boot?" --json \
  --model "$tmp/coatt.safetensors" --attention "$tmp/coatt.png"
"$py" - "$tmp/out" "$tmp/coatt.png" <<'EOF' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL coatt json"; }
import json, sys, cv2
d = json.loads(open(sys.argv[1]).read())
co = d["coattention"]
assert [c["level"] for c in co] == ["word", "phrase", "question"], co
for c in co:
    assert [w["word"] for w in c["question_words"]] == ["what", "colour", "is", "the", "boot"], c
    assert abs(sum(w["weight"] for w in c["question_words"]) - 1) < 2e-3, c
    cells = c["image_cells"]
    assert len(cells) == 3 and all(0 <= x["row"] < 12 and 0 <= x["col"] < 12 for x in cells)
    assert cells[0]["weight"] >= cells[1]["weight"] >= cells[2]["weight"] > 0, cells
    assert len({(x["row"], x["col"]) for x in cells}) == 3
im = cv2.imread(sys.argv[2])
assert im is not None and im.shape[1] > 4 * 192 - 8 and im.shape[0] > 192, im.shape
EOF
check "coatt eval" 0 "$cli" eval vqa --model "$tmp/coatt.safetensors" --n 60
expect_grep "coatt eval arch" "$tmp/out" "coatt"
expect_grep "coatt relation words" "$tmp/out" "question attention, top 3 words of [0-9]* relation questions"
check "san json has no coattention" 0 "$cli" vqa "$img" "what colour is the boot?" --json
yes_ "san: no coattention" "! grep -q coattention $tmp/out"
check "coatt embed must equal hidden" 2 "$cli" train vqa --arch coatt --embed 16 --hidden 32 \
  -o "$tmp/x.safetensors"
expect_grep "coatt embed message" "$tmp/err" "embed_dim"

# The bundled model warns on a photo (stderr and JSON), not on a scene.
check "photo warns" 0 "$cli" vqa --json "$src/assets/samples/chelsea.jpg" "what colour is the coat?"
expect_grep "photo: warning on stderr" "$tmp/err" "warning: the bundled model knows only synthetic Fashion scenes; see README 'Caption your own photos'"
expect_grep "photo: warning in the JSON" "$tmp/out" '"warning": "the bundled model knows only synthetic Fashion scenes; see README .Caption your own photos."'
check "scene does not warn" 0 "$cli" vqa --json "$img" "what colour is the coat?"
yes_ "scene: no warning" "! grep -q warning $tmp/err $tmp/out"

echo "vqa cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

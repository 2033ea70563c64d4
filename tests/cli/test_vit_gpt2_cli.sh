#!/usr/bin/env bash
# 'saccade caption --model DIR' with a ViT-GPT2 folder (random weights, the
# tiny size of tools/ref/make_vit_gpt2_folder.py): the folder is recognised by
# its config.json, captions equal the PyTorch twin's (tools/ref/ref_vit_gpt2.py)
# greedy and with beam search, --json is valid with the twin's ids and maps
# that are probabilities, --attention draws the figure, a folder shipped as
# pytorch_model.bin (with GPT-2's attention mask buffers) is converted by
# tools/convert_hf.py and then gives the same caption, saccade saliency maps a
# word (attention, gradcam), bad folders and BLIP-only
# options fail with a clear message and write nothing.
set -u
cli=${SACCADE_CLI:?run through ctest}
src=${SACCADE_SOURCE_DIR:?}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/clivitgpt2.XXXXXX")
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
ref="$src/tools/ref"
export OMP_NUM_THREADS=1
img="$tmp/chelsea.png" # PNG: both sides decode the same pixels
check "png copy" 0 "$py" -c "from PIL import Image; import sys; Image.open(sys.argv[1]).convert('RGB').save(sys.argv[2])" \
  "$src/assets/samples/chelsea.jpg" "$img"
check "make tiny folder" 0 "$py" "$ref/make_vit_gpt2_folder.py" "$tmp/tiny" --seed 11
dir="$tmp/tiny"

# twin NAME CLI-OPTIONS -- TWIN-OPTIONS: the CLI's caption == the twin's text.
twin() {
  local name=$1; shift
  local copts=() topts=()
  while [ "$1" != "--" ]; do copts+=("$1"); shift; done; shift
  topts=("$@")
  check "$name: twin" 0 "$py" "$ref/ref_vit_gpt2.py" run "$dir" "$img" --out "$tmp/ref_$name" --quiet "${topts[@]}"
  check "$name: saccade" 0 "$cli" caption --model "$dir" "${copts[@]}" "$img"
  printf '%s\t%s\n' "$img" "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' \
    "$tmp/ref_$name/result.json")" >"$tmp/want"
  yes_ "$name: caption == twin" "cmp -s $tmp/out $tmp/want || { cat $tmp/out $tmp/want; false; }"
}
twin greedy --
twin beam3 --beam 3 -- --beam 3
twin beam4_short --beam 4 --max-len 7 -- --beam 4 --max-len 8

# --json: the twin's ids (start token and eos left out), maps are probabilities
check "json-attention" 0 "$cli" caption --model "$dir" --json-attention --beam 3 "$img"
cp "$tmp/out" "$tmp/cap.jsonl"
pycheck "json: fields, twin ids, attention" "
import sys, json, numpy as np
o = json.loads(open(sys.argv[1]).read())
ref = json.load(open(sys.argv[2]))
assert o['tokens'] == [t for t in ref['ids'][1:] if t != ref['ids'][0]], (o['tokens'], ref['ids'])
assert o['model']['arch'] == 'vit-gpt2' and o['model']['grid'] == 3 and o['beam'] == 3
assert o['max_len'] == 19 and o['attention_layer'] == 1, (o['max_len'], o['attention_layer'])
assert len(o['pieces']) == len(o['tokens']) == len(o['attention']) == len(o['class_attention'])
assert sum(o['word_pieces']) == len(o['tokens']) and len(o['words']) == len(o['word_pieces'])
assert len(o['word_attention']) == len(o['words'])
a = np.array(o['attention']); assert a.shape == (len(o['tokens']), 3, 3), a.shape
tot = a.sum((1, 2)) + np.array(o['class_attention'])
assert np.allclose(tot, 1, atol=1e-5), tot
" "$tmp/cap.jsonl" "$tmp/ref_beam3/result.json"

# --attention: one figure
check "attention figure" 0 "$cli" caption --model "$dir" --attention "$tmp/fig.png" "$img"
yes_ "figure written" "[ -s $tmp/fig.png ]"

# pytorch_model.bin with the mask buffers: convert_hf.py drops them, same caption
check "make bin folder" 0 "$py" "$ref/make_vit_gpt2_folder.py" "$tmp/bin" --seed 11 --pytorch-bin --buffers --lm-head
check "bin folder refused before conversion" 1 "$cli" caption --model "$tmp/bin" "$img"
expect_grep "bin: says convert" "$tmp/err" "convert_hf.py"
check "convert_hf" 0 "$py" "$src/tools/convert_hf.py" "$tmp/bin"
expect_grep "convert_hf: dropped buffers" "$tmp/out" "dropped 8 mask buffer"
check "converted folder" 0 "$cli" caption --model "$tmp/bin" "$img"
printf '%s\t%s\n' "$img" "$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["text"])' \
  "$tmp/ref_greedy/result.json")" >"$tmp/want"
yes_ "converted: caption == twin" "cmp -s $tmp/out $tmp/want"

# saccade saliency with the folder: attention and gradcam of a word of the
# caption (the twin's greedy ids give its step), other methods refused
check "greedy json" 0 "$cli" caption --model "$dir" --json "$img"
word=$("$py" -c 'import json,sys; o=json.loads(open(sys.argv[1]).readline()); print(o["words"][1])' "$tmp/out")
word_saliency_checks vit-gpt2 "$dir" "$img" "$word" "$tmp/ref_greedy/result.json" 0.01 0

# bad folders and options: exit 1 / 2, a clear message, nothing written
cp -r "$dir" "$tmp/nomerges" && rm "$tmp/nomerges/merges.txt"
check "no merges.txt" 1 "$cli" caption --model "$tmp/nomerges" --attention "$tmp/badfig.png" "$img"
expect_grep "no merges.txt: message" "$tmp/err" "merges.txt: missing"
yes_ "no merges.txt: nothing written" "[ ! -e $tmp/badfig.png ]"
cp -r "$dir" "$tmp/badtype"
"$py" -c "import json,sys; p=sys.argv[1]; c=json.load(open(p)); c['decoder']['n_head']=2.5; json.dump(c, open(p,'w'))" "$tmp/badtype/config.json"
check "config field of the wrong type" 1 "$cli" caption --model "$tmp/badtype" "$img"
expect_grep "wrong type: message" "$tmp/err" "decoder.n_head must be an integer"
check "--prompt refused" 2 "$cli" caption --model "$dir" --prompt "a picture of" "$img"
expect_grep "--prompt: message" "$tmp/err" "need a BLIP model"
check "--attention-layer out of range" 2 "$cli" caption --model "$dir" --attention-layer 2 "$img"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

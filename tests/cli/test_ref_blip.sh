#!/usr/bin/env bash
# The BLIP PyTorch twin (tools/ref/ref_blip.py) and its folder writer
# (tools/ref/make_blip_folder.py), which the BLIP parity tests trust: the
# twin's own consistency (KV cache == full forward, greedy == beam 1, beam
# scores == sum of log-probabilities / length, attention gradients == finite
# differences), Hugging Face's folder conventions (config holds only
# non-default fields, LM head tied when its decoder is absent, [DEC]/[ENC] in
# vocab.txt or not, F16/BF16 storage == F32 copies of the rounded weights,
# pytorch_model.bin + convert_hf.py == model.safetensors), generation rules
# (stop at [SEP], not eos; max/min length count new tokens), PIL
# preprocessing, and bad folders: one clear line, exit 1.
set -u
src=${SACCADE_SOURCE_DIR:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli_ref_blip.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
ref="$src/tools/ref"
img="$src/assets/samples/chelsea.jpg"
export OMP_NUM_THREADS=1

check "make tiny folder" 0 "$py" "$ref/make_blip_folder.py" "$tmp/tiny" --seed 1
check "twin selftest" 0 "$py" "$ref/ref_blip.py" selftest "$tmp/tiny" "$img"
expect_grep "selftest ran every check" "$tmp/out" "selftest: all ok"
check "run: beam 3 with a prompt" 0 "$py" "$ref/ref_blip.py" run "$tmp/tiny" "$img" --out "$tmp/run" \
  --beam 3 --prompt "a picture of" --max-len 9 --gradients
pycheck "run: files and shapes" '
import json, sys, numpy as np
d = sys.argv[1]
r = json.load(open(d + "/result.json"))
ids, P = np.load(d + "/ids.npy"), len(r["prompt_ids"])
assert ids.dtype == np.int64 and ids.tolist() == r["ids"] and ids[0] == 100, ids
assert r["prompt_ids"][1:] == [8, 18, 10], r["prompt_ids"]        # a picture of
assert r["text"].startswith("a picture of"), r["text"]
assert np.load(d + "/features.npy").shape == (10, 48)
assert np.load(d + "/pixel_values.npy").shape == (3, 48, 48)
S = len(ids) - P
assert 1 <= S <= 9 and (S == 9 or ids[-1] == 5), (S, ids)
assert np.load(d + "/step_logits.npy").shape == (S, 102)
a = np.load(d + "/step_cross_attn.npy")
assert a.shape == (S, 2, 4, 10) and np.allclose(a.sum(-1), 1, atol=1e-5)
g = np.load(d + "/step_cross_grad.npy")
assert g.shape == a.shape and np.abs(g).max() > 0
assert r["settings"]["num_beams"] == 3 and r["score"] < 0
' "$tmp/run"

# One Python process for the folder conventions and the generation rules.
"$py" - "$ref" "$tmp" "$img" "$src/tools" <<'PY' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: folder conventions / generation rules"; }
import json, os, subprocess, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import make_blip_folder as mk
import ref_blip as rb
tmp, img, tools = sys.argv[2], sys.argv[3], sys.argv[4]

def folder(name, *opts):
    path = os.path.join(tmp, name)
    assert mk.main([path] + list(opts)) in (0, None)
    return path

def outputs(path, **over):
    b = rb.Blip(path)
    r = b.caption(b.pixels(img), over.pop("prompt", ""), **over)
    return r

def same(a, b, what):
    for k in ("ids", "features", "step_logits", "step_cross_attn"):
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), (what, k)

# config.json: only what differs from the class defaults
cfg = json.load(open(os.path.join(tmp, "tiny", "config.json")))
assert cfg["model_type"] == "blip" and cfg["architectures"] == ["BlipForConditionalGeneration"]
tc, vc = cfg["text_config"], cfg["vision_config"]
assert "layer_norm_eps" not in tc and "pad_token_id" not in tc and "eos_token_id" not in tc, tc
assert tc["bos_token_id"] == 100 and tc["sep_token_id"] == 5 and tc["encoder_hidden_size"] == 48, tc
assert "patch_size" not in vc and vc["image_size"] == 48, vc
vocab = open(os.path.join(tmp, "tiny", "vocab.txt")).read().split("\n")[:-1]
assert len(vocab) == 100 and vocab[5] == "[SEP]" and vocab[2] == "[unused1]" and "[DEC]" not in vocab

# the LM head tied as Hugging Face ties it; [DEC]/[ENC] listed in vocab.txt or not
base = outputs(os.path.join(tmp, "tiny"), num_beams=3)
tied = outputs(folder("tied", "--seed", "1", "--no-lm-decoder", "--vocab-dec"), num_beams=3)
same(base, tied, "tied head")
assert open(os.path.join(tmp, "tied", "vocab.txt")).read().split("\n")[100:102] == ["[DEC]", "[ENC]"]
w = rb.Weights(os.path.join(tmp, "tied"))
assert rb.DECODER_W not in w.info and rb.DECODER_B not in w.info

# F16 / BF16 storage == F32 copies of the same rounded weights
for dt in ("f16", "bf16"):
    a = outputs(folder(dt, "--seed", "2", "--dtype", dt), num_beams=3)
    b = outputs(folder(dt + "r", "--seed", "2", "--round-as", dt), num_beams=3)
    same(a, b, dt)
    hdr = rb.Weights(os.path.join(tmp, dt)).info
    assert {h["dtype"] for h in hdr.values()} == {dt.upper()}, dt

# pytorch_model.bin (tied tensors sharing storage) + convert_hf.py == model.safetensors
pb = folder("bin", "--seed", "1", "--pytorch-bin")
assert not os.path.exists(os.path.join(pb, "model.safetensors"))
subprocess.run([sys.executable, os.path.join(tools, "convert_hf.py"), pb], check=True, capture_output=True)
same(base, outputs(pb, num_beams=3), "converted pickle")

# generation rules
sep = folder("sep", "--seed", "1", "--sep-bias", "6")
g = outputs(sep)
assert g["ids"][-1] == 5 and 5 not in g["ids"][:-1], g["ids"]          # stops at [SEP]
n_free = len(g["ids"]) - 1
m = outputs(sep, min_length=n_free + 3, max_length=n_free + 10)
new = m["ids"][1:]
assert 5 not in new[: n_free + 3] and len(new) >= n_free + 3, m["ids"]  # min_length: new tokens before [SEP]
for prompt in ("", "a picture of"):
    for beams in (1, 3):
        r = outputs(os.path.join(tmp, "tiny"), prompt=prompt, num_beams=beams, max_length=7)
        P = len(r["prompt"])
        assert len(r["ids"]) - P <= 7 and (len(r["ids"]) - P == 7 or r["ids"][-1] == 5), r["ids"]
# eos_token_id (2, an ordinary word piece here) does not stop generation
b = rb.Blip(os.path.join(tmp, "tiny"))
feats = b.features(b.pixels(img))
orig = b.model.text_decoder.cls.predictions.bias.data.clone()
b.model.text_decoder.cls.predictions.bias.data[2] += 8.0
r = b.greedy_or_sample(feats, [100], b.settings(max_length=6))
assert r["ids"].count(2) >= 2 and len(r["ids"]) == 7, r["ids"]
b.model.text_decoder.cls.predictions.bias.data.copy_(orig)
# sampling: reproducible for a seed, top_p tiny == greedy
s1 = b.greedy_or_sample(feats, [100], b.settings(max_length=8, do_sample=True, seed=3))
s2 = b.greedy_or_sample(feats, [100], b.settings(max_length=8, do_sample=True, seed=3))
gr = b.greedy_or_sample(feats, [100], b.settings(max_length=8))
tp = b.greedy_or_sample(feats, [100], b.settings(max_length=8, do_sample=True, top_p=1e-6, seed=5))
assert s1["ids"] == s2["ids"] and tp["ids"] == gr["ids"], (s1["ids"], tp["ids"], gr["ids"])

# preprocessing: RGBA composited on white, grey scale to RGB, PIL bicubic to 48x48
from PIL import Image
pp = rb.load_preprocess_config(os.path.join(tmp, "tiny"))
rgba = Image.new("RGBA", (70, 50), (255, 0, 0, 0))
x = rb.preprocess(rgba, pp)
white = (1.0 - np.array(pp["image_mean"], np.float32)) / np.array(pp["image_std"], np.float32)
assert x.shape == (3, 48, 48) and np.allclose(x, white[:, None, None], atol=1e-6), x[:, 0, 0]
photo = Image.open(img).convert("RGB")
want = np.asarray(photo.resize((48, 48), Image.BICUBIC), np.float64) / 255.0
want = (want - pp["image_mean"]) / pp["image_std"]
assert np.abs(rb.preprocess(photo, pp) - want.transpose(2, 0, 1)).max() < 1e-5
grey = photo.convert("L")
assert np.array_equal(rb.preprocess(grey, pp)[0], rb.preprocess(grey.convert("RGB"), pp)[0])
print("conventions ok")
PY

# Bad folders: one clear line, exit 1, no output folder.
cp -r "$tmp/tiny" "$tmp/nost" && rm "$tmp/nost/model.safetensors"
cp -r "$tmp/tiny" "$tmp/onlybin" && rm "$tmp/onlybin/model.safetensors" && cp "$tmp/bin/pytorch_model.bin" "$tmp/onlybin/"
cp -r "$tmp/tiny" "$tmp/badtype" && sed -i 's/"num_hidden_layers": 2,/"num_hidden_layers": "2",/' "$tmp/badtype/config.json"
cp -r "$tmp/tiny" "$tmp/badshape" && sed -i 's/"intermediate_size": 64,/"intermediate_size": 80,/' "$tmp/badshape/config.json"
cp -r "$tmp/tiny" "$tmp/bigvocab" && for i in 1 2 3 4; do echo "extra$i" >> "$tmp/bigvocab/vocab.txt"; done
cp -r "$tmp/tiny" "$tmp/trunc" && truncate -s 1000 "$tmp/trunc/model.safetensors"
cp -r "$tmp/tiny" "$tmp/nocfg" && rm "$tmp/nocfg/config.json"
"$py" - "$ref" "$tmp" "$img" > "$tmp/bad.log" 2>&1 <<'PY' && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL: bad folders"; tail -5 "$tmp/bad.log"; }
import contextlib, io, os, re, sys
sys.path.insert(0, sys.argv[1])
import ref_blip as rb
tmp, img = sys.argv[2], sys.argv[3]
cases = {
    "nost": r"model\.safetensors: missing$",
    "onlybin": r"has pytorch_model\.bin: run tools/convert_hf\.py",
    "badtype": r"_config: num_hidden_layers must be int, got '2'",
    "badshape": r"has shape \[64, 32\], the config needs \[80, 32\]",
    "bigvocab": r"exceed text_config\.vocab_size 102",
    "trunc": r"model\.safetensors: .*longer than the file",
    "nocfg": r"config\.json: missing",
}
for name, pattern in cases.items():
    err = io.StringIO()
    out = os.path.join(tmp, "badout")
    with contextlib.redirect_stderr(err):
        code = rb.main(["run", os.path.join(tmp, name), img, "--out", out, "--quiet"])
    msg = err.getvalue().strip()
    assert code == 1, (name, code, msg)
    assert len(msg.splitlines()) == 1 and msg.startswith("ref_blip: ") and re.search(pattern, msg), (name, msg)
    assert not os.path.exists(out), name
print("bad folders ok")
PY
check "usage: no command" 2 "$py" "$ref/ref_blip.py"
echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]

#!/usr/bin/env bash
# tools/convert_hf.py: pytorch_model.bin (and a sharded index) -> model.safetensors
# in place. Round trip against torch's own tensors (F32, F16, BF16, integer, bool,
# tied and non-contiguous tensors), GPT-2 mask buffers dropped, and bad input:
# clear error, exit 1, no model.safetensors and no temporary file left.
set -u
src=${SACCADE_SOURCE_DIR:?run through ctest}
py=${SACCADE_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${SACCADE_BUILD_DIR:-/tmp}/cli_convert_hf.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
. "$(dirname "$0")/lib.sh"
conv="$src/tools/convert_hf.py"
only_bin() { [ "$(ls -A "$1" | sort | tr '\n' ' ')" = "$2" ]; }

# A state_dict with every dtype, a tied pair, a transposed (non-contiguous)
# tensor, a 0-d and an empty tensor, and GPT-2's attn.bias / attn.masked_bias.
"$py" - "$tmp" <<'PY'
import os, sys, torch
d = sys.argv[1]
g = torch.Generator().manual_seed(0)
emb = torch.randn(7, 4, generator=g)
sd = {
    "text.word_embeddings.weight": emb,
    "text.decoder.weight": emb,                               # tied: shared storage
    "vision.qkv.weight": torch.randn(5, 3, generator=g).t(),  # non-contiguous view
    "half.weight": torch.randn(3, 2, generator=g).half(),
    "bf16.weight": (torch.randn(2, 3, generator=g) * 100).bfloat16(),
    "f64.scale": torch.tensor(2.5, dtype=torch.float64),
    "ids.position_ids": torch.arange(6).view(1, 6),
    "i32.x": torch.tensor([-1, 2], dtype=torch.int32),
    "u8.x": torch.tensor([0, 255], dtype=torch.uint8),
    "mask.flags": torch.tensor([True, False]),
    "empty.weight": torch.zeros(0, 4),
    "h.0.attn.bias": torch.tril(torch.ones(1, 1, 4, 4)),
    "h.0.attn.masked_bias": torch.tensor(-1e4),
    "h.0.attn.c_attn.bias": torch.randn(12, generator=g),      # a real weight: kept
}
for name in ("one", "force"):
    os.makedirs(os.path.join(d, name))
    torch.save(sd, os.path.join(d, name, "pytorch_model.bin"))
torch.save(sd, os.path.join(d, "expected.pt"))
# sharded copy with an index, as large checkpoints are saved
os.makedirs(os.path.join(d, "sharded"))
keys = sorted(sd)
parts = {"pytorch_model-00001-of-00002.bin": keys[:5], "pytorch_model-00002-of-00002.bin": keys[5:]}
wm = {}
for f, ks in parts.items():
    torch.save({k: sd[k] for k in ks}, os.path.join(d, "sharded", f))
    wm.update({k: f for k in ks})
import json
json.dump({"metadata": {}, "weight_map": wm}, open(os.path.join(d, "sharded", "pytorch_model.bin.index.json"), "w"))
# bad inputs
for name in ("empty", "corrupt", "notdict", "badshard"):
    os.makedirs(os.path.join(d, name))
open(os.path.join(d, "corrupt", "pytorch_model.bin"), "wb").write(b"PK\x03\x04 not a real zip")
torch.save([torch.zeros(2)], os.path.join(d, "notdict", "pytorch_model.bin"))
json.dump({"weight_map": {"a.weight": "missing.bin"}}, open(os.path.join(d, "badshard", "pytorch_model.bin.index.json"), "w"))
PY

compare='
import sys, torch
sys.path.insert(0, sys.argv[3])
import st_numpy
import numpy as np
got, meta = st_numpy.load(sys.argv[1])
hdr, _ = st_numpy.read_raw(sys.argv[1])
want = torch.load(sys.argv[2])
want = {k: v for k, v in want.items() if not k.endswith(("attn.bias", "attn.masked_bias")) or "c_attn" in k}
assert meta == {"format": "pt"}, meta
assert sorted(got) == sorted(want), (sorted(got), sorted(want))
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
         torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}
for k, t in want.items():
    assert hdr[k]["dtype"] == names[t.dtype], (k, hdr[k]["dtype"], t.dtype)
    assert list(got[k].shape) == list(t.shape), k
    ref = t.contiguous().view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else t.numpy()
    assert np.array_equal(got[k], ref), k
'
check "convert a single pytorch_model.bin" 0 "$py" "$conv" "$tmp/one"
expect_grep "reports the dropped mask buffers" "$tmp/out" "dropped 2 mask buffer"
pycheck "round trip: names, dtypes, shapes, values" "$compare" "$tmp/one/model.safetensors" "$tmp/expected.pt" "$src/tools/ref"
yes_ "no temporary file left" 'only_bin "$tmp/one" "model.safetensors pytorch_model.bin "'
check "sharded checkpoint" 0 "$py" "$conv" "$tmp/sharded"
pycheck "sharded round trip" "$compare" "$tmp/sharded/model.safetensors" "$tmp/expected.pt" "$src/tools/ref"
check "--keep-all keeps the mask buffers" 0 "$py" "$conv" --keep-all "$tmp/force"
pycheck "--keep-all content" 'import sys; sys.path.insert(0, sys.argv[2]); import st_numpy; t, _ = st_numpy.load(sys.argv[1]); assert "h.0.attn.bias" in t and "h.0.attn.masked_bias" in t' "$tmp/force/model.safetensors" "$src/tools/ref"

# Errors: exit 1, one clear line, nothing written.
check "existing model.safetensors refused" 1 "$py" "$conv" "$tmp/one"
expect_grep "says it exists" "$tmp/err" "already exists.*--force"
before=$(stat -c %Y "$tmp/force/model.safetensors")
check "--force replaces it" 0 "$py" "$conv" --force "$tmp/force"
yes_ "--force output valid" '"$py" -c "import sys; sys.path.insert(0, sys.argv[2]); import st_numpy; st_numpy.load(sys.argv[1])" "$tmp/force/model.safetensors" "$src/tools/ref"'
check "folder without a pickle" 1 "$py" "$conv" "$tmp/empty"
expect_grep "names the missing file" "$tmp/err" "no pytorch_model.bin"
yes_ "nothing written to the empty folder" 'only_bin "$tmp/empty" ""'
check "corrupt pickle" 1 "$py" "$conv" "$tmp/corrupt"
expect_grep "corrupt: clear error" "$tmp/err" "cannot load as a PyTorch state_dict"
yes_ "corrupt: nothing written" 'only_bin "$tmp/corrupt" "pytorch_model.bin "'
check "pickle of a list" 1 "$py" "$conv" "$tmp/notdict"
expect_grep "list: clear error" "$tmp/err" "not a state_dict"
yes_ "list: nothing written" 'only_bin "$tmp/notdict" "pytorch_model.bin "'
check "index naming a missing shard" 1 "$py" "$conv" "$tmp/badshard"
yes_ "bad index: nothing written" 'only_bin "$tmp/badshard" "pytorch_model.bin.index.json "'
check "not a folder" 1 "$py" "$conv" "$tmp/nope"
check "usage: no argument" 2 "$py" "$conv"
if [ "$(id -u)" -ne 0 ]; then
  mkdir "$tmp/ro" && cp "$tmp/one/pytorch_model.bin" "$tmp/ro/" && chmod a-w "$tmp/ro"
  check "read-only folder" 1 "$py" "$conv" "$tmp/ro"
  chmod u+w "$tmp/ro"
  yes_ "read-only: nothing written" 'only_bin "$tmp/ro" "pytorch_model.bin "'
fi
echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]

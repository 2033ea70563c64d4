#!/usr/bin/env python3
"""Reference cases for tests/parity/test_vit_gpt2_parity.c, in one Python process.

usage: ref_vit_gpt2_cases.py OUTDIR

Writes random-weight ViT-GPT2 folders with make_vit_gpt2_folder.py and runs the
PyTorch twin (ref_vit_gpt2.py `run`) on them, each case into OUTDIR/<case>/
(pixel_values.npy, features.npy, ids.npy, step_logits.npy,
step_cross_attn.npy, result.json; step_cross_grad.npy for the cases run with
--gradients). Folders:
  tiny     tiny sizes (ViT 48 wide at 48 pixels, GPT-2 32 wide: enc_to_dec_proj), F32
  lmhead   tiny, decoder.lm_head.weight and GPT-2's attn.bias / attn.masked_bias
           buffers in the file
  short    tiny, an eos bias on ln_f and min_length 4 in the decoder config:
           captions end at eos after a few tokens
  f16, bf16  tiny, stored in that dtype (the twin reads the same rounded values)
  gen      tiny with generation_config.json (num_beams 3, max_length 9)
  decgen   tiny, generation settings only in the decoder config (num_beams 2,
           max_length 7; GenerationConfig.from_model_config takes them)
  p224     tiny decoder, ViT at 224 pixels (ViTImageProcessor's size)
  eoslist  tiny, generation_config.json with eos_token_id [376, 86]
  eoscfg   tiny, config.json's eos_token_id [376, 142, 233] (a copy of tiny edited)
The image is assets/samples/chelsea.jpg saved as PNG (chelsea.png), so that
both sides decode the same pixels; pre_<folder>.npy are the twin's pixel values
of it for the tiny and p224 folders. tokens.jsonl holds the twin tokenizer's
tokens, ids and decoded text of hard strings (TOKENIZE below), tokens_odd.jsonl
the same for odd/, a tokenizer with the files' traps (odd_tokenizer). bad_<name>/
are broken copies of tiny (BAD below) that both sides must refuse.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_vit_gpt2_folder  # noqa: E402
import ref_blip  # noqa: E402
import ref_vit_gpt2  # noqa: E402

IMAGE = os.path.join(HERE, "..", "..", "assets", "samples", "chelsea.jpg")

FOLDERS = {
    "tiny": ["--seed", "1"],
    "lmhead": ["--seed", "2", "--lm-head", "--buffers"],
    "short": ["--seed", "3", "--eos-bias", "6.5", "--decoder-gen", '{"min_length": 4}'],
    "f16": ["--seed", "4", "--dtype", "f16"],
    "bf16": ["--seed", "5", "--dtype", "bf16"],
    "gen": ["--seed", "6", "--generation-config", '{"max_length": 9, "num_beams": 3, "decoder_start_token_id": 376, "eos_token_id": 376, "pad_token_id": 376}'],
    "decgen": ["--seed", "7", "--decoder-gen", '{"num_beams": 2, "max_length": 7}'],
    "p224": ["--seed", "8", "--image-size", "224"],
    # tiny's weights, two stop ids in generation_config.json (pad left to default to the first)
    "eoslist": ["--seed", "1", "--generation-config", '{"decoder_start_token_id": 376, "eos_token_id": [376, 86]}'],
}
# tiny with three stop ids at config.json's top level (made by editing a copy)
EOS_CFG = [376, 142, 233]

# case name -> (folder, run options); the C test has the same table
CASES = {
    "greedy": ("tiny", ["--gradients"]),
    "beam3": ("tiny", ["--beam", "3", "--gradients"]),
    "beam5": ("tiny", ["--beam", "5", "--max-len", "12"]),
    "lmhead_greedy": ("lmhead", []),
    "short_greedy": ("short", ["--gradients"]),
    "short_beam3": ("short", ["--beam", "3"]),
    "short_beam4": ("short", ["--beam", "4"]),
    "f16_greedy": ("f16", []),
    "bf16_beam3": ("bf16", ["--beam", "3"]),
    "gen_default": ("gen", []),
    "decgen_default": ("decgen", []),
    "p224_greedy": ("p224", ["--max-len", "8", "--gradients"]),
    "eoslist_greedy": ("eoslist", []),
    "eoslist_beam3": ("eoslist", ["--beam", "3"]),
    "eoscfg_beam3": ("eoscfg", ["--beam", "3"]),
    "eoscfg_greedy": ("eoscfg", []),
}

# Hard strings for the byte-level BPE (spaces, Unicode, emoji, numbers, contractions)
TOKENIZE = [
    "", " ", "  ", "a cat", " a cat", "a  cat ", "a\tcat\n", "\n\n", "   leading and trailing   ",
    "don't I'll we've they're she'd it's I'm", "DON'T 'S 're ''s", "12:30 and 3.14159 or 1,000,000",
    "٣٤ ½ Ⅻ", "café naïve résumé", "東京の空 中国", "Здравствуй мир", "😀 emoji 👍🏽 family 👨‍👩‍👧",
    "a\u00a0nbsp\u2003em", "tabs\t\tand\r\nnewlines", "<|endoftext|>", "a cat<|endoftext|>the dog",
    "!!!???...", "x" * 300, "the the the people playing with a frisbee",
]


def _edit_json(path, fn):
    with open(path, encoding="utf-8") as f:
        c = json.load(f)
    fn(c)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(c, f)


def _drop_tensor(folder, name=None, reshape=None):
    import st_numpy
    path = os.path.join(folder, "model.safetensors")
    t, _ = st_numpy.load(path)
    if name:
        del t[name]
    if reshape:
        t[reshape] = t[reshape][:-1]
    st_numpy.save(path, t, metadata={"format": "pt"})


# broken copies of tiny: name -> edit
BAD = {
    "type": lambda d: _edit_json(os.path.join(d, "config.json"), lambda c: c["decoder"].update(n_embd="32")),
    "model_type": lambda d: _edit_json(os.path.join(d, "config.json"), lambda c: c.update(model_type="blip")),
    "act": lambda d: _edit_json(os.path.join(d, "config.json"),
                                lambda c: c["decoder"].update(activation_function="relu")),
    "nocross": lambda d: _edit_json(os.path.join(d, "config.json"),
                                    lambda c: c["decoder"].update(add_cross_attention=False)),
    "vocab": lambda d: _edit_json(os.path.join(d, "vocab.json"), lambda v: v.update(zzz=400)),
    "sample": lambda d: _edit_json(os.path.join(d, "config.json"), lambda c: c.update(do_sample=True)),
    "tensor": lambda d: _drop_tensor(d, name="decoder.transformer.h.1.ln_2.bias"),
    "shape": lambda d: _drop_tensor(d, reshape="decoder.transformer.wpe.weight"),
    "merges": lambda d: os.remove(os.path.join(d, "merges.txt")),
    "bin": lambda d: os.rename(os.path.join(d, "model.safetensors"), os.path.join(d, "pytorch_model.bin")),
    "json": lambda d: open(os.path.join(d, "vocab.json"), "w").write("{\"a\": 1,"),
    "eos": lambda d: _edit_json(os.path.join(d, "config.json"), lambda c: c.update(eos_token_id="376")),
    "eos_list": lambda d: _edit_json(os.path.join(d, "config.json"), lambda c: c.update(eos_token_id=[376, 1.5])),
    "eos_empty": lambda d: _edit_json(os.path.join(d, "config.json"), lambda c: c.update(eos_token_id=[])),
    "eos_range": lambda d: _edit_json(os.path.join(d, "config.json"), lambda c: c.update(eos_token_id=[376, 377])),
}


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    for name, opts in FOLDERS.items():
        if make_vit_gpt2_folder.main([os.path.join(out, name)] + opts) not in (0, None):
            return 1
    from PIL import Image
    png = os.path.join(out, "chelsea.png")
    Image.open(IMAGE).convert("RGB").save(png)
    for name in ("tiny", "p224"):
        pp = ref_vit_gpt2.load_preprocess_config(os.path.join(out, name))
        np.save(os.path.join(out, "pre_%s.npy" % name), ref_blip.preprocess(ref_blip.load_image(png), pp))
    import shutil
    shutil.copytree(os.path.join(out, "tiny"), os.path.join(out, "eoscfg"))
    _edit_json(os.path.join(out, "eoscfg", "config.json"), lambda c: c.update(eos_token_id=EOS_CFG))
    for name, (folder, opts) in CASES.items():
        args = ["run", os.path.join(out, folder), png, "--out", os.path.join(out, name), "--quiet"] + opts
        if ref_vit_gpt2.main(args) != 0:
            return 1
    for name, edit in BAD.items():
        d = os.path.join(out, "bad_" + name)
        shutil.copytree(os.path.join(out, "tiny"), d)
        edit(d)
    odd_tokenizer(os.path.join(out, "tiny"), os.path.join(out, "odd"))
    for folder, name in (("tiny", "tokens.jsonl"), ("odd", "tokens_odd.jsonl")):
        tok = ref_vit_gpt2.GPT2BPE(os.path.join(out, folder))
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            for t in TOKENIZE:
                toks, ids = tok.encode(t)
                f.write(json.dumps({"text": t, "tokens": toks, "ids": ids,
                                    "id_tokens": [tok.decoder[i] for i in ids],
                                    "decoded": tok.decode(ids, False)}, ensure_ascii=False) + "\n")
    return 0


def odd_tokenizer(src, dst):
    """dst/vocab.json + merges.txt: tiny's with the files' traps GPT2Tokenizer
    reads its way: CRLF line ends, a repeated merge (its last rank counts), a
    line of three parts and one of one (never merges), the last merge without
    a final newline (dropped), a vocabulary key given twice (the last id
    counts) and a merge whose result is not in the vocabulary (unknown)."""
    os.makedirs(dst)
    with open(os.path.join(src, "merges.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1:-1]
    odd = [lines[0]] + merges[:5] + ["x y z", "lonely", merges[40]] + merges[5:] + [merges[2], "\u0120 q"]
    with open(os.path.join(dst, "merges.txt"), "w", encoding="utf-8", newline="") as f:
        f.write("\r\n".join(odd[:-1]) + "\r\n" + "t h")  # "t h" after the last newline
    with open(os.path.join(src, "vocab.json"), encoding="utf-8") as f:
        text = f.read()
    # "the" given again at the end with the id of "a": json.load keeps the last
    vocab = json.loads(text)
    with open(os.path.join(dst, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(text.rstrip()[:-1] + ', "the": %d}' % vocab["a"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

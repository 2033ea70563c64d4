#!/usr/bin/env python3
"""Write a random-weight Hugging Face ViT-GPT2 captioning folder (VisionEncoderDecoderModel
with a ViT encoder and a GPT-2 decoder, as nlpconnect/vit-gpt2-image-captioning), for
tests and benchmarks.

usage: make_vit_gpt2_folder.py OUTDIR [--size tiny|base] [--dtype f32|f16|bf16]
           [--seed N] [--lm-head] [--buffers] [--pytorch-bin] [--eos-bias X]
           [--generation-config JSON] [--decoder-gen JSON] [--image-size S]

OUTDIR gets:
  config.json              model_type "vision-encoder-decoder", encoder (ViTConfig
                           fields) and decoder (GPT2Config fields, add_cross_attention),
                           decoder_start_token_id = eos_token_id = pad_token_id
  model.safetensors        Hugging Face's names (encoder.*, decoder.transformer.*;
                           the pooler encoder.pooler.dense.* as real files have it)
  vocab.json, merges.txt   a byte-level BPE: the 256 byte symbols, merges learned
                           from a small text (tiny: 120, base: 400), <|endoftext|>
                           last; base fills up to GPT-2's 50257 tokens
  preprocessor_config.json ViTImageProcessor, 224 (tiny: the image size), mean/std 0.5
  generation_config.json   only with --generation-config (its JSON text)
Sizes:
  tiny  ViT image 48, patch 16, hidden 48, 2 layers, 3 heads, MLP 96, eps 1e-12;
        GPT-2 n_embd 32 (so enc_to_dec_proj maps 48 -> 32), 2 layers, 4 heads,
        n_positions 64
  base  ViT-B/16 at 224 and GPT-2 small (768 wide, 12 layers, 12 heads, 1024
        positions, 50257 tokens, start = eos = pad = 50256), no projection
--lm-head writes decoder.lm_head.weight (= wte, as a tied model saves it);
--buffers writes GPT-2's attn.bias / attn.masked_bias buffers and those of its
cross-attention (crossattention.bias / .masked_bias), as older files have them;
--pytorch-bin writes pytorch_model.bin (torch.save) instead of model.safetensors;
--eos-bias X adds X * wte[eos] direction to ln_f's bias (shorter captions);
--decoder-gen JSON merges generation settings into the decoder config;
--image-size S sets the encoder's image size (and the processor's).
"""
import argparse
import collections
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_blip_folder  # noqa: E402
import ref_vit_gpt2 as ref  # noqa: E402
import st_numpy  # noqa: E402

CORPUS = ("a man riding a wave on top of a surfboard. a cat sitting on a table next to a laptop. "
          "two dogs are playing with a frisbee in the grass. a red bus driving down a city street. "
          "people standing at a train station; it's 12:30 and they're waiting. the woman's bag is blue. "
          "Un café à Paris, naïve résumé. 東京の空 ") * 3


def learn_merges(n):
    """Plain BPE training on CORPUS's pre-tokens (byte symbols), n merges."""
    be = ref.bytes_to_unicode()
    words = collections.Counter("".join(be[b] for b in t.encode("utf-8")) for t in ref.PRETOKENIZE.findall(CORPUS))
    seqs = {w: list(w) for w in words}
    merges = []
    for _ in range(n):
        pairs = collections.Counter()
        for w, c in words.items():
            s = seqs[w]
            for i in range(len(s) - 1):
                pairs[(s[i], s[i + 1])] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        for w in words:
            s, out, i = seqs[w], [], 0
            while i < len(s):
                if i < len(s) - 1 and (s[i], s[i + 1]) == best:
                    out.append(s[i] + s[i + 1])
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = out
    return merges


def vocabulary(size):
    merges = learn_merges(120 if size == "tiny" else 400)
    toks = [ref.bytes_to_unicode()[b] for b in range(256)]
    for a, b in merges:
        if a + b not in toks:
            toks.append(a + b)
    if size == "base":
        i = 0
        while len(toks) < 50256:
            toks.append("\u0120w%05d" % i)
            i += 1
    toks.append("<|endoftext|>")
    return toks, merges


def configs(size, V):
    if size == "tiny":
        enc = {"hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 3,
               "intermediate_size": 96, "image_size": 48, "patch_size": 16}
        dec = {"vocab_size": V, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64,
               "n_ctx": 64, "bos_token_id": V - 1, "eos_token_id": V - 1}
    else:
        enc, dec = {}, {"vocab_size": V, "n_ctx": 1024}
    enc = dict(ref.ENCODER_DEFAULTS, **enc, model_type="vit", architectures=["ViTModel"])
    dec = dict(ref.DECODER_DEFAULTS, **dec, model_type="gpt2", add_cross_attention=True,
               is_decoder=True, architectures=["GPT2LMHeadModel"], n_inner=None)
    return enc, dec


RESIDUAL_ENDS = ("attention.output.dense.weight", "output.dense.weight", "attn.c_proj.weight",
                 "crossattention.c_proj.weight", "mlp.c_proj.weight")


def random_state(enc, dec, seed):
    cfg_dec = dict(dec, inner=dec["n_inner"] or 4 * dec["n_embd"])
    with ref_blip_noinit():
        model = ref.VitGpt2Model(enc, cfg_dec)
    g = torch.Generator().manual_seed(seed)
    sd = {}
    D = dec["n_embd"]
    for name, t in model.state_dict().items():
        shape = tuple(t.shape)
        if name.startswith("decoder.proj."):
            name = "enc_to_dec_proj." + name[len("decoder.proj."):]
        conv1d = name.startswith("decoder.transformer.h.") and "ln_" not in name
        if "layernorm" in name or ".ln_" in name:
            v = torch.randn(shape, generator=g) * 0.1 + (1.0 if name.endswith("weight") else 0.0)
        elif name.endswith("wte.weight"):
            v = torch.randn(shape, generator=g) * (3.0 / D ** 0.5)
        elif name.endswith("wpe.weight"):
            v = torch.randn(shape, generator=g) * (2.0 / D ** 0.5)
        elif name.endswith(("cls_token", "position_embeddings")):
            v = torch.randn(shape, generator=g) * 0.5
        elif name.endswith("bias"):
            v = torch.randn(shape, generator=g) * 0.02
        else:
            fan_in = shape[0] if conv1d else int(np.prod(shape[1:]))
            v = torch.randn(shape, generator=g) / fan_in ** 0.5
            if name.endswith(RESIDUAL_ENDS):
                layers = dec["n_layer"] if name.startswith("decoder.") else enc["num_hidden_layers"]
                v = v * ((4.0 if name.startswith("decoder.") else 0.5) / layers ** 0.5)
            if name.endswith("crossattention.q_attn.weight"):
                v = v * 2.0
        sd[name] = v.to(torch.float32)
    Dv = enc["hidden_size"]
    sd["encoder.pooler.dense.weight"] = torch.randn((Dv, Dv), generator=g) / Dv ** 0.5
    sd["encoder.pooler.dense.bias"] = torch.zeros(Dv)
    return sd


class ref_blip_noinit(make_blip_folder.ref_blip._NoInit):
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(prog="make_vit_gpt2_folder.py", description="random-weight ViT-GPT2 folder")
    ap.add_argument("out")
    ap.add_argument("--size", choices=("tiny", "base"), default="tiny")
    ap.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lm-head", action="store_true")
    ap.add_argument("--buffers", action="store_true")
    ap.add_argument("--pytorch-bin", action="store_true")
    ap.add_argument("--eos-bias", type=float, default=0.0)
    ap.add_argument("--generation-config")
    ap.add_argument("--decoder-gen")
    ap.add_argument("--image-size", type=int)
    a = ap.parse_args(argv)
    toks, merges = vocabulary(a.size)
    V = len(toks)
    enc, dec = configs(a.size, V)
    if a.image_size:
        enc["image_size"] = a.image_size
    if a.decoder_gen:
        dec.update(json.loads(a.decoder_gen))
    sd = random_state(enc, dec, a.seed)
    if a.eos_bias:
        w = sd["decoder.transformer.wte.weight"][V - 1]
        sd["decoder.transformer.ln_f.bias"] += a.eos_bias * w / float(w.norm()) ** 2 * 3.0
    if a.lm_head:
        sd[ref.LM_HEAD] = sd[ref.WTE].clone()
    os.makedirs(a.out, exist_ok=True)
    eos = V - 1
    make_blip_folder.write_json(os.path.join(a.out, "config.json"), {
        "architectures": ["VisionEncoderDecoderModel"], "model_type": "vision-encoder-decoder",
        "decoder": dec, "encoder": enc, "decoder_start_token_id": eos, "eos_token_id": eos,
        "pad_token_id": eos, "is_encoder_decoder": True, "tie_word_embeddings": False,
        "torch_dtype": "float32", "transformers_version": "4.18.0.dev0"})
    stored = make_blip_folder.to_storage(sd, a.dtype, None)
    if a.buffers:
        P = dec["n_positions"]
        for l in range(dec["n_layer"]):
            p = "decoder.transformer.h.%d." % l
            for part in ("attn.", "crossattention."):
                stored[p + part + "bias"] = (np.tril(np.ones((P, P), np.uint8))[None, None], "U8")
                stored[p + part + "masked_bias"] = (np.asarray(-1e4, np.float32), "F32")
    if a.pytorch_bin:
        tensors = {}
        for k, (arr, st) in stored.items():
            if st == "BF16":
                tensors[k] = torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16)
            elif st == "U8":
                tensors[k] = torch.from_numpy(arr.astype(bool))
            else:
                tensors[k] = torch.from_numpy(np.asarray(arr))
        if a.lm_head:
            tensors[ref.LM_HEAD] = tensors[ref.WTE]
        torch.save(tensors, os.path.join(a.out, "pytorch_model.bin"))
    else:
        st_numpy.save(os.path.join(a.out, "model.safetensors"), {k: v[0] for k, v in stored.items()},
                      metadata={"format": "pt"}, dtypes={k: v[1] for k, v in stored.items()})
    with open(os.path.join(a.out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(toks)}, f, ensure_ascii=False)
    with open(os.path.join(a.out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join("%s %s\n" % m for m in merges))
    size = enc["image_size"]
    make_blip_folder.write_json(os.path.join(a.out, "preprocessor_config.json"), {
        "do_normalize": True, "do_resize": True, "feature_extractor_type": "ViTFeatureExtractor",
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": size})
    make_blip_folder.write_json(os.path.join(a.out, "tokenizer_config.json"), {
        "add_prefix_space": False, "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
        "model_max_length": dec["n_positions"], "tokenizer_class": "GPT2Tokenizer",
        "unk_token": "<|endoftext|>"})
    if a.generation_config:
        make_blip_folder.write_json(os.path.join(a.out, "generation_config.json"),
                                    json.loads(a.generation_config))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Write a random-weight Hugging Face BLIP captioning folder (for tests and benchmarks).

usage: make_blip_folder.py OUTDIR [--size tiny|base] [--dtype f32|f16|bf16]
           [--round-as f16|bf16] [--seed N] [--no-lm-decoder] [--vocab-dec]
           [--sep-bias X] [--image-size S] [--pytorch-bin]

OUTDIR gets what a BlipForConditionalGeneration folder saved by transformers has:
  config.json              architectures, model_type "blip", text_config and
                           vision_config holding only the fields that differ
                           from the class defaults (as transformers saves them)
  model.safetensors        every tensor under Hugging Face's names, in --dtype,
                           metadata {"format": "pt"}
  vocab.txt                synthetic WordPiece vocabulary; [DEC]/[ENC] are added
                           tokens right after it (ids len(vocab), len(vocab)+1),
                           or its last two lines with --vocab-dec
  tokenizer_config.json, special_tokens_map.json, preprocessor_config.json
Sizes:
  tiny  vision: image 48 (or --image-size), patch 16, hidden 48, 2 layers,
        3 heads, MLP 96; text: hidden 32, 2 layers, 4 heads, FFN 64,
        max positions 64, encoder_hidden_size 48, vocabulary of 100 pieces + 2
        ([PAD] 0, [unused0] 1, [unused1] 2 (= the default eos id: an ordinary
        token), [UNK] 3, [CLS] 4, [SEP] 5, [MASK] 6), bos [DEC] 100, sep 5
  base  BLIP-base: vision 768, 12 layers, 12 heads, image 384, patch 16;
        text 768, 12 layers, 12 heads; vocab 30522 + [DEC] 30522, [ENC] 30523
        (BERT's layout: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103)
Weights: seeded (--seed, torch.Generator) normal values scaled so that logits
and attention are well separated (std ~3 logits): linear N(0, 1/fan_in),
text embeddings N(0, 9/hidden), class token and
vision positions N(0, 0.25), layer norms 1 + N(0, 0.1^2) / N(0, 0.1^2); the
weights feeding the residual stream are scaled by 0.5/sqrt(layers) (else a
random deep stack gives the same logits whatever the token) and the
cross-attention queries by 2 (peaked attention maps).
--dtype f16|bf16 rounds with torch's .half()/.bfloat16() (nearest even);
--round-as f16|bf16 rounds the same way but stores in --dtype (F32 copies of
the rounded weights). --no-lm-decoder omits cls.predictions.decoder.weight/bias
(tied to the word embeddings / cls.predictions.bias, as safetensors files saved
by transformers have them); otherwise they are written equal to those.
--sep-bias X adds X to the [SEP] logit bias (shorter captions).
--pytorch-bin writes pytorch_model.bin (torch.save of the state_dict, tied
tensors sharing storage as transformers saves them) instead of model.safetensors.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_blip  # noqa: E402
import st_numpy  # noqa: E402

TINY_WORDS = (
    "the a an of in on with and is at to picture photo image cat dog man woman child people "
    "sitting standing running red blue green white black yellow table street grass bed car bus "
    "train bird horse field water beach tree room kitchen cafe city sky 中 国 日 "
    "##s ##ing ##ed ##er ##ly ##n 0 1 2 3 ! \" # ' ( ) , - . / : ; ? a b c d e f g h i k l m n o p r s t u w y"
).split()


def tiny_vocab():
    toks = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for w in TINY_WORDS:
        if w not in toks:
            toks.append(w)
    return toks


def base_vocab():
    toks = ["[PAD]"] + ["[unused%d]" % i for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    for w in TINY_WORDS[:-2]:
        if w not in toks:
            toks.append(w)
    i = 0
    while len(toks) < 30522:
        toks.append("w%05d" % i)
        i += 1
    return toks


def configs(size, image_size, n_vocab):
    """(vision, text) overrides of the class defaults; vocab_size = n_vocab + [DEC] + [ENC]."""
    if size == "tiny":
        vision = {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
                  "num_attention_heads": 3, "image_size": image_size or 48, "patch_size": 16}
        text = {"vocab_size": n_vocab + 2, "hidden_size": 32, "encoder_hidden_size": 48,
                "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                "max_position_embeddings": 64, "bos_token_id": n_vocab, "sep_token_id": 5}
    else:
        vision = {"image_size": image_size or 384}
        text = {"vocab_size": n_vocab + 2, "num_attention_heads": 12, "bos_token_id": n_vocab,
                "sep_token_id": 102}
    return vision, text


def diff(full, defaults):
    return {k: v for k, v in full.items() if k not in defaults or defaults[k] != v}


# weights whose output is added to the residual stream (scaled by BRANCH_GAIN / sqrt(layers))
RESIDUAL_BRANCH_ENDS = ("attention.output.dense.weight", "output.dense.weight", "self_attn.projection.weight",
                        "mlp.fc2.weight")
BRANCH_GAIN = 0.5
CROSS_QUERY_GAIN = 2.0


def random_state(vision, text, seed, sep_bias, model=None):
    """Random weights for model (default: the captioner of vision, text)."""
    model = model if model is not None else ref_blip.empty_model(vision, text)
    g = torch.Generator().manual_seed(seed)
    Dt = text["hidden_size"]
    sd = {}
    for name, t in model.state_dict().items():
        shape = tuple(t.shape)
        if "LayerNorm" in name or "layer_norm" in name or "post_layernorm" in name:
            v = torch.randn(shape, generator=g) * 0.1 + (1.0 if name.endswith("weight") else 0.0)
        elif name.endswith("embeddings.weight"):  # text word / position embeddings
            v = torch.randn(shape, generator=g) * (3.0 / Dt ** 0.5)
        elif name.endswith("class_embedding") or name.endswith("position_embedding"):
            v = torch.randn(shape, generator=g) * 0.5
        elif name.endswith("bias"):
            v = torch.randn(shape, generator=g) * 0.02
        else:  # linear / conv weight: unit-variance outputs
            fan_in = int(np.prod(shape[1:]))
            v = torch.randn(shape, generator=g) / fan_in ** 0.5
            if name.endswith(RESIDUAL_BRANCH_ENDS):
                # keep each token's identity through the layers: random deep
                # stacks otherwise give the same logits whatever the input
                layers = text["num_hidden_layers"] if name.startswith("text_") else vision["num_hidden_layers"]
                v = v * (BRANCH_GAIN / layers ** 0.5)
            if name.endswith("crossattention.self.query.weight"):
                v = v * CROSS_QUERY_GAIN  # cross-attention scores of std ~2: maps with a visible peak
        sd[name] = v.to(torch.float32)
    if ref_blip.HEAD_BIAS in sd:
        sd[ref_blip.HEAD_BIAS][text["sep_token_id"]] += sep_bias
    return sd


def to_storage(sd, dtype, round_as):
    """name -> (numpy array, safetensors dtype name)."""
    out = {}
    for k, t in sd.items():
        if round_as == "f16":
            t = t.half().float()
        elif round_as == "bf16":
            t = t.bfloat16().float()
        if dtype == "f32":
            out[k] = (t.numpy(), "F32")
        elif dtype == "f16":
            out[k] = (t.half().numpy(), "F16")
        else:
            out[k] = (t.bfloat16().view(torch.int16).numpy().view(np.uint16), "BF16")
    return out


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="make_blip_folder.py",
                                 description="random-weight Hugging Face BLIP captioning folder")
    ap.add_argument("out")
    ap.add_argument("--size", choices=("tiny", "base"), default="tiny")
    ap.add_argument("--dtype", choices=("f32", "f16", "bf16"), default="f32")
    ap.add_argument("--round-as", choices=("f16", "bf16"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-lm-decoder", action="store_true")
    ap.add_argument("--vocab-dec", action="store_true", help="list [DEC]/[ENC] in vocab.txt")
    ap.add_argument("--sep-bias", type=float, default=0.0)
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--pytorch-bin", action="store_true")
    a = ap.parse_args(argv)
    if a.image_size is not None and (a.image_size < 16 or a.image_size % 16):
        ap.error("--image-size must be a positive multiple of 16")

    vocab = tiny_vocab() if a.size == "tiny" else base_vocab()
    v_over, t_over = configs(a.size, a.image_size, len(vocab))
    vision = dict(ref_blip.VISION_DEFAULTS, **v_over)
    text = dict(ref_blip.TEXT_DEFAULTS, **t_over)
    sd = random_state(vision, text, a.seed, a.sep_bias)
    sd[ref_blip.DECODER_W] = sd[ref_blip.WORD_EMB]
    sd[ref_blip.DECODER_B] = sd[ref_blip.HEAD_BIAS]
    if a.no_lm_decoder:
        del sd[ref_blip.DECODER_W], sd[ref_blip.DECODER_B]

    os.makedirs(a.out, exist_ok=True)
    tc = diff(text, ref_blip.TEXT_DEFAULTS)
    tc["model_type"] = "blip_text_model"
    vc = diff(vision, ref_blip.VISION_DEFAULTS)
    vc["model_type"] = "blip_vision_model"
    write_json(os.path.join(a.out, "config.json"), {
        "architectures": ["BlipForConditionalGeneration"], "model_type": "blip",
        "dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[a.dtype],
        "text_config": tc, "transformers_version": "5.0.0", "vision_config": vc,
    })
    stored = to_storage(sd, a.dtype, a.round_as)
    if a.pytorch_bin:
        tensors = {}
        for k, (arr, st) in stored.items():
            t = torch.from_numpy(arr.view(np.int16)).view(torch.bfloat16) if st == "BF16" else torch.from_numpy(arr)
            tensors[k] = t
        if not a.no_lm_decoder:  # tied: shared storage, as torch.save of the module writes them
            tensors[ref_blip.DECODER_W] = tensors[ref_blip.WORD_EMB]
            tensors[ref_blip.DECODER_B] = tensors[ref_blip.HEAD_BIAS]
        torch.save(tensors, os.path.join(a.out, "pytorch_model.bin"))
    else:
        st_numpy.save(os.path.join(a.out, "model.safetensors"), {k: v[0] for k, v in stored.items()},
                      metadata={"format": "pt"}, dtypes={k: v[1] for k, v in stored.items()})
    toks = vocab + (["[DEC]", "[ENC]"] if a.vocab_dec else [])
    with open(os.path.join(a.out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in toks))
    n = len(vocab)
    special = {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
               "unk_token": "[UNK]", "bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]}
    write_json(os.path.join(a.out, "special_tokens_map.json"), special)
    added = {}
    for i, t in enumerate(vocab):
        if t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
            added[str(i)] = {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                             "single_word": False, "special": True}
    for i, t in ((n, "[DEC]"), (n + 1, "[ENC]")):
        added[str(i)] = {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                         "single_word": False, "special": True}
    write_json(os.path.join(a.out, "tokenizer_config.json"), dict(special, **{
        "added_tokens_decoder": added, "clean_up_tokenization_spaces": False, "do_basic_tokenize": True,
        "do_lower_case": True, "model_max_length": 512, "never_split": None,
        "processor_class": "BlipProcessor", "strip_accents": None, "tokenize_chinese_chars": True,
        "tokenizer_class": "BertTokenizer"}))
    size = vision["image_size"]
    write_json(os.path.join(a.out, "preprocessor_config.json"), {
        "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "BlipImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711], "processor_class": "BlipProcessor",
        "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"height": size, "width": size}})
    return 0


if __name__ == "__main__":
    sys.exit(main())

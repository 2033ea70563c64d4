#!/usr/bin/env python3
"""PyTorch twin of Hugging Face's VisionEncoderDecoderModel with a ViT encoder and
a GPT-2 decoder (nlpconnect/vit-gpt2-image-captioning), and of GPT2Tokenizer.

Written from Hugging Face transformers (5.x main branch; the numerics of these
files are those of 4.3x and later):
  src/transformers/models/vit/modeling_vit.py        ViTModel (embeddings, layers,
      final layernorm; the pooler is in the file but unused by the decoder)
  src/transformers/models/vit/configuration_vit.py   ViTConfig defaults
  src/transformers/models/gpt2/modeling_gpt2.py      GPT2LMHeadModel with
      add_cross_attention (Conv1D layers, ln_cross_attn, gelu_new)
  src/transformers/models/gpt2/configuration_gpt2.py GPT2Config defaults
  src/transformers/models/gpt2/tokenization_gpt2.py  GPT2Tokenizer (byte-level BPE)
  src/transformers/models/vision_encoder_decoder/modeling_vision_encoder_decoder.py
      (enc_to_dec_proj when the widths differ, decoder_start_token_id)
  src/transformers/models/vit/image_processing_vit.py (PIL resize, rescale, normalise)
  src/transformers/generation/configuration_utils.py (GenerationConfig.from_model_config:
      generation_config.json when the folder has one, else the top-level config
      and, for settings left at their defaults there, the decoder's)
  src/transformers/generation/utils.py (greedy search and the vectorised beam
      search, reused from ref_blip.py's Blip.greedy_or_sample / beam_search)
No transformers code is imported or copied; the state_dict names are Hugging
Face's (encoder.embeddings.*, encoder.encoder.layer.*, decoder.transformer.*,
decoder.lm_head.weight), so a folder's model.safetensors loads here unchanged.

Rules this twin follows (and the C implementation is tested against):
- ViT: 16x16 patch conv, class token, learned positions, pre-LN layers with
  separate query/key/value, exact (erf) GELU, final layernorm, eps from the
  encoder config (ViTConfig default 1e-12); scores (q k^T) / sqrt(head_dim).
- GPT-2: word + position embeddings, pre-LN blocks (ln_1, causal
  self-attention, ln_cross_attn, cross-attention to every image token, ln_2,
  MLP with gelu_new (tanh)), ln_f, lm_head tied to wte (no bias; the file may
  or may not hold decoder.lm_head.weight). Conv1D weights are stored (in, out).
  layer_norm_epsilon from the decoder config (1e-5). Scores / sqrt(head_dim).
- generation: the decoder starts from decoder_start_token_id (50256, also eos
  and pad for the real model), which stays in the returned ids; generation
  stops at eos_token_id; max_length counts the start token (so 20 gives at
  most 19 new tokens); decoding skips the special token, joins the byte
  symbols and decodes UTF-8 with errors="replace" (no clean-up of spaces).
- preprocessing as ViTImageProcessor with PIL: RGB, resize to 224x224 with
  Pillow's BILINEAR (resample 2), x * (1/255) in float64 cast to float32,
  (x - 0.5) / 0.5 in float32.

Command line (arrays float32 .npy; N image tokens, L layers, H heads):
  ref_vit_gpt2.py run DIR IMAGE --out OUTDIR [--beam K] [--max-len N] [--pixels NPY]
      ids.npy (start token first), features.npy (N, Dv), step_logits.npy (T-1, V),
      step_cross_attn.npy (T-1, L, H, N), pixel_values.npy, result.json
  ref_vit_gpt2.py forward DIR (IMAGE | --pixels NPY) --ids 5,7 --out OUTDIR
      logits.npy (T, V), cross_attn.npy (L, H, T, N), features.npy
  ref_vit_gpt2.py preprocess DIR IMAGE OUT.npy
  ref_vit_gpt2.py tokenize DIR [--file F] TEXT...   JSON lines {"tokens", "ids", "decoded"}
Exit status: 0 ok, 1 error (message on stderr), 2 usage.
"""
import argparse
import json
import math
import os
import sys
import types

import numpy as np
import regex
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_blip  # noqa: E402


class VitGpt2Error(ref_blip.BlipError):
    """A bad folder, file or option: one line, exit status 1."""


ENCODER_DEFAULTS = {  # ViTConfig()
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
    "image_size": 224, "patch_size": 16, "num_channels": 3, "qkv_bias": True,
}
DECODER_DEFAULTS = {  # GPT2Config()
    "vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12,
    "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
    "bos_token_id": 50256, "eos_token_id": 50256, "scale_attn_weights": True,
    "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False,
    "add_cross_attention": False, "cross_attention_hidden_size": None,
}
GENERATION_DEFAULTS = {"max_length": 20, "min_length": 0, "num_beams": 1, "length_penalty": 1.0,
                       "early_stopping": False, "do_sample": False, "no_repeat_ngram_size": 0,
                       "repetition_penalty": 1.0, "num_return_sequences": 1}
NEUTRAL_ONLY = {"do_sample": False, "no_repeat_ngram_size": 0, "repetition_penalty": 1.0,
                "num_return_sequences": 1}
PREPROCESS_DEFAULTS = {  # ViTImageProcessor()
    "do_resize": True, "size": {"height": 224, "width": 224}, "resample": 2, "do_rescale": True,
    "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": True,
}
LM_HEAD = "decoder.lm_head.weight"
WTE = "decoder.transformer.wte.weight"
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias", ".crossattention.bias",
                    ".crossattention.masked_bias")


def _read_json(path, required=True):
    if not os.path.exists(path):
        if required:
            raise VitGpt2Error("%s: missing" % path)
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise VitGpt2Error("%s: %s" % (path, e))


def _merge(where, defaults, given):
    out = dict(defaults)
    for k, v in given.items():
        if k in defaults and defaults[k] is not None:
            d = defaults[k]
            ok = (isinstance(v, bool) if isinstance(d, bool) else
                  (isinstance(v, (int, float)) and not isinstance(v, bool)) if isinstance(d, float) else
                  (isinstance(v, int) and not isinstance(v, bool)) if isinstance(d, int) else
                  isinstance(v, type(d)))
            if not ok and not (k == "early_stopping" and v == "never"):
                raise VitGpt2Error("%s: %s has the wrong type" % (where, k))
        out[k] = v
    return out


def load_config(folder):
    path = os.path.join(folder, "config.json")
    c = _read_json(path)
    if c.get("model_type") != "vision-encoder-decoder":
        raise VitGpt2Error("%s: model_type is not \"vision-encoder-decoder\"" % path)
    for part, mt in (("encoder", "vit"), ("decoder", "gpt2")):
        if not isinstance(c.get(part), dict) or c[part].get("model_type") != mt:
            raise VitGpt2Error("%s: %s.model_type must be \"%s\"" % (path, part, mt))
    enc = _merge(path + " encoder", ENCODER_DEFAULTS, c["encoder"])
    dec = _merge(path + " decoder", DECODER_DEFAULTS, c["decoder"])
    if enc["hidden_act"] != "gelu" or dec["activation_function"] != "gelu_new":
        raise VitGpt2Error("%s: only hidden_act gelu / activation_function gelu_new" % path)
    if dec["scale_attn_by_inverse_layer_idx"] or dec["reorder_and_upcast_attn"] or not dec["scale_attn_weights"]:
        raise VitGpt2Error("%s: GPT-2 attention variants are not supported" % path)
    if not dec["add_cross_attention"]:
        raise VitGpt2Error("%s: decoder.add_cross_attention is not true" % path)
    dec["inner"] = dec["n_inner"] or 4 * dec["n_embd"]
    # GenerationConfig: generation_config.json if present, else from_model_config
    gfile = _read_json(os.path.join(folder, "generation_config.json"), required=False)
    if gfile is not None:
        gen = _merge("generation_config.json", GENERATION_DEFAULTS, gfile)
        ids = gfile
    else:
        gen = _merge(path, GENERATION_DEFAULTS, {k: c[k] for k in GENERATION_DEFAULTS if k in c})
        for k in GENERATION_DEFAULTS:
            if k in c["decoder"] and gen[k] == GENERATION_DEFAULTS[k]:
                gen[k] = c["decoder"][k]
        ids = dict(c)
        for k in ("eos_token_id", "pad_token_id", "bos_token_id", "decoder_start_token_id"):
            if ids.get(k) is None and c["decoder"].get(k) is not None:
                ids[k] = c["decoder"][k]
    for k, v in NEUTRAL_ONLY.items():
        if gen[k] != v:
            raise VitGpt2Error("%s: %s = %r is not supported" % (path, k, gen[k]))
    start = ids.get("decoder_start_token_id", ids.get("bos_token_id"))
    eos = ids.get("eos_token_id")
    pad = ids.get("pad_token_id")
    if start is None or eos is None:
        raise VitGpt2Error("%s: no decoder_start_token_id / eos_token_id" % path)
    # eos_token_id: an integer or a list (generation stops at any; pad then
    # defaults to the first, as transformers' _prepare_special_tokens does)
    if isinstance(eos, list):
        if not eos or len(eos) > 8 or not all(type(e) is int for e in eos):
            raise VitGpt2Error("%s: eos_token_id must be an integer or a list of 1 to 8 integers" % path)
    elif type(eos) is not int:
        raise VitGpt2Error("%s: eos_token_id must be an integer or a list of 1 to 8 integers" % path)
    first = eos[0] if isinstance(eos, list) else eos
    gen.update(start=start, eos=eos, pad=first if pad is None else pad)
    return enc, dec, gen


def load_preprocess_config(folder):
    c = _read_json(os.path.join(folder, "preprocessor_config.json"), required=False) or {}
    pp = dict(PREPROCESS_DEFAULTS)
    for k in pp:
        if k in c:
            pp[k] = c[k]
    if isinstance(pp["size"], int):  # old feature extractors store one side
        pp["size"] = {"height": pp["size"], "width": pp["size"]}
    return pp


# ---------------------------------------------------------------- model

class Conv1D(nn.Module):
    """GPT-2's Conv1D: weight (in, out), y = x W + b."""

    def __init__(self, n_out, n_in):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.empty(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class ViTSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        D = c["hidden_size"]
        self.h = c["num_attention_heads"]
        self.query = nn.Linear(D, D, bias=c["qkv_bias"])
        self.key = nn.Linear(D, D, bias=c["qkv_bias"])
        self.value = nn.Linear(D, D, bias=c["qkv_bias"])

    def forward(self, x):
        B, T, D = x.shape
        hd = D // self.h
        q, k, v = [f(x).view(B, T, self.h, hd).transpose(1, 2) for f in (self.query, self.key, self.value)]
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
        return (p @ v).transpose(1, 2).reshape(B, T, D)


class ViTAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = ViTSelfAttention(c)
        self.output = nn.Module()
        self.output.dense = nn.Linear(c["hidden_size"], c["hidden_size"])


class ViTLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, eps = c["hidden_size"], c["layer_norm_eps"]
        self.attention = ViTAttention(c)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(D, c["intermediate_size"])
        self.output = nn.Module()
        self.output.dense = nn.Linear(c["intermediate_size"], D)
        self.layernorm_before = nn.LayerNorm(D, eps=eps)
        self.layernorm_after = nn.LayerNorm(D, eps=eps)

    def forward(self, x):
        x = x + self.attention.output.dense(self.attention.attention(self.layernorm_before(x)))
        return x + self.output.dense(F.gelu(self.intermediate.dense(self.layernorm_after(x))))


class ViTModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, p = c["hidden_size"], c["patch_size"]
        n = (c["image_size"] // p) ** 2
        self.embeddings = nn.Module()
        self.embeddings.cls_token = nn.Parameter(torch.empty(1, 1, D))
        self.embeddings.position_embeddings = nn.Parameter(torch.empty(1, n + 1, D))
        self.embeddings.patch_embeddings = nn.Module()
        self.embeddings.patch_embeddings.projection = nn.Conv2d(c["num_channels"], D, p, stride=p)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([ViTLayer(c) for _ in range(c["num_hidden_layers"])])
        self.layernorm = nn.LayerNorm(D, eps=c["layer_norm_eps"])
        # the pooler (encoder.pooler.dense) is loaded by transformers but its output is unused

    def forward(self, pixels):
        e = self.embeddings
        x = e.patch_embeddings.projection(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + e.position_embeddings
        for layer in self.encoder.layer:
            x = layer(x)
        return self.layernorm(x)


class GPT2Attention(nn.Module):
    def __init__(self, c, cross):
        super().__init__()
        D = c["n_embd"]
        self.h, self.cross = c["n_head"], cross
        if cross:
            self.c_attn = Conv1D(2 * D, D)
            self.q_attn = Conv1D(D, D)
        else:
            self.c_attn = Conv1D(3 * D, D)
        self.c_proj = Conv1D(D, D)

    def _heads(self, x):
        B, T, D = x.shape
        return x.view(B, T, self.h, D // self.h).transpose(1, 2)

    def image_kv(self, image):
        k, v = self.c_attn(image).split(self.c_proj.weight.shape[0], dim=2)
        return self._heads(k), self._heads(v)

    def forward(self, x, past=None, cross_kv=None):
        D = x.shape[-1]
        if self.cross:
            q = self._heads(self.q_attn(x))
            k, v = cross_kv
            present = None
            mask = None
        else:
            q, k, v = [self._heads(t) for t in self.c_attn(x).split(D, dim=2)]
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            present = (k, v)
            Tq, Tk = q.shape[2], k.shape[2]
            mask = torch.ones(Tq, Tk, dtype=torch.bool).tril(Tk - Tq)
        w = q @ k.transpose(-1, -2) / torch.full([], v.size(-1) ** 0.5)
        if mask is not None:
            w = torch.where(mask, w, torch.tensor(torch.finfo(w.dtype).min))
        p = torch.softmax(w, dim=-1)
        out = (p @ v).transpose(1, 2).reshape(x.shape)
        return self.c_proj(out), present, p


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, eps = c["n_embd"], c["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(D, eps=eps)
        self.attn = GPT2Attention(c, False)
        self.ln_cross_attn = nn.LayerNorm(D, eps=eps)
        self.crossattention = GPT2Attention(c, True)
        self.ln_2 = nn.LayerNorm(D, eps=eps)
        self.mlp = nn.Module()
        self.mlp.c_fc = Conv1D(c["inner"], D)
        self.mlp.c_proj = Conv1D(D, c["inner"])

    def forward(self, x, past, cross_kv):
        a, present, sp = self.attn(self.ln_1(x), past)
        x = x + a
        a, _, cp = self.crossattention(self.ln_cross_attn(x), cross_kv=cross_kv)
        x = x + a
        x = x + self.mlp.c_proj(gelu_new(self.mlp.c_fc(self.ln_2(x))))
        return x, present, sp, cp


class GPT2Decoder(nn.Module):
    """GPT2LMHeadModel with cross-attention, in the call shape of ref_blip.TextDecoder:
    (ids, image, past, cross_kv) -> logits, presents, self attentions, cross attentions."""

    def __init__(self, c, enc_width):
        super().__init__()
        D = c["n_embd"]
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(c["vocab_size"], D)
        self.transformer.wpe = nn.Embedding(c["n_positions"], D)
        self.transformer.h = nn.ModuleList([GPT2Block(c) for _ in range(c["n_layer"])])
        self.transformer.ln_f = nn.LayerNorm(D, eps=c["layer_norm_epsilon"])
        self.proj = nn.Linear(enc_width, D) if enc_width != D else None  # enc_to_dec_proj

    def image_kv(self, image):
        if self.proj is not None:
            image = self.proj(image)
        return [blk.crossattention.image_kv(image) for blk in self.transformer.h]

    def forward(self, ids, image, past=None, cross_kv=None):
        t = self.transformer
        if cross_kv is None:
            cross_kv = self.image_kv(image)
        cross_kv = [(k.expand(ids.shape[0], -1, -1, -1), v.expand(ids.shape[0], -1, -1, -1)) for k, v in cross_kv]
        p0 = 0 if past is None else past[0][0].shape[2]
        x = t.wte(ids) + t.wpe(torch.arange(p0, p0 + ids.shape[1]))[None]
        presents, sa, ca = [], [], []
        for i, blk in enumerate(t.h):
            x, pr, sp, cp = blk(x, None if past is None else past[i], cross_kv[i])
            presents.append(pr), sa.append(sp), ca.append(cp)
        x = t.ln_f(x)
        return x @ t.wte.weight.t() if self.lm_head is None else x @ self.lm_head.t(), presents, sa, ca


class VitGpt2Model(nn.Module):
    def __init__(self, enc, dec):
        super().__init__()
        self.encoder = ViTModel(enc)
        self.decoder = GPT2Decoder(dec, enc["hidden_size"])
        self.decoder.lm_head = None


def build_model(enc, dec, weights):
    with ref_blip._NoInit():
        model = VitGpt2Model(enc, dec)
    params = dict(model.named_parameters())
    names = {k for k in weights.info if not k.endswith(IGNORED_SUFFIXES) and not k.startswith("encoder.pooler.")}
    want = {}
    for k in params:
        want["enc_to_dec_proj." + k[len("decoder.proj."):] if k.startswith("decoder.proj.") else k] = k
    for fname in sorted(names):
        if fname not in want and fname != LM_HEAD:
            raise VitGpt2Error("%s: unexpected tensor %s" % (weights.path, fname))
    with torch.no_grad():
        for fname, pname in want.items():
            if fname not in names:
                raise VitGpt2Error("%s: tensor %s missing" % (weights.path, fname))
            p = params[pname]
            if weights.shape(fname) != tuple(p.shape):
                raise VitGpt2Error("%s: tensor %s has shape %s, expected %s"
                                   % (weights.path, fname, list(weights.shape(fname)), list(p.shape)))
            p.copy_(torch.from_numpy(np.array(weights.get(fname))))
        if LM_HEAD in names:  # GPT2LMHeadModel ties it to wte: the file's copy is the same
            if weights.shape(LM_HEAD) != tuple(params[WTE].shape):
                raise VitGpt2Error("%s: tensor %s has the wrong shape" % (weights.path, LM_HEAD))
    model.eval()
    return model


# ---------------------------------------------------------------- tokenizer

def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


PRETOKENIZE = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


class GPT2BPE:
    """GPT2Tokenizer (the slow one): vocab.json, merges.txt, <|endoftext|>."""

    def __init__(self, folder):
        self.encoder = _read_json(os.path.join(folder, "vocab.json"))
        self.decoder = {v: k for k, v in self.encoder.items()}
        path = os.path.join(folder, "merges.txt")
        if not os.path.exists(path):
            raise VitGpt2Error("%s: missing" % path)
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")[1:-1]  # GPT2Tokenizer: first line and the last piece dropped
        self.ranks = {tuple(m.split()): i for i, m in enumerate(lines)}
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        self.special = "<|endoftext|>"
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        if not pairs:
            return token
        while True:
            bigram = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if bigram not in self.ranks:
                break
            first, second = bigram
            new, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new.extend(word[i:])
                    break
                new.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
            if len(word) == 1:
                break
            pairs = {(word[i], word[i + 1]) for i in range(len(word) - 1)}
        out = " ".join(word)
        self.cache[token] = out
        return out

    def tokenize(self, text):
        toks = []
        parts = text.split(self.special)
        for i, part in enumerate(parts):
            if i:
                toks.append(self.special)
            for t in PRETOKENIZE.findall(part):
                t = "".join(self.byte_encoder[b] for b in t.encode("utf-8"))
                toks.extend(self.bpe(t).split(" "))
        return toks

    def encode(self, text):
        unk = self.encoder.get(self.special)
        toks = self.tokenize(text)
        return toks, [self.encoder.get(t, unk) for t in toks]

    def decode(self, ids, skip_special_tokens=True):
        special = self.encoder.get(self.special)
        text = "".join(self.decoder.get(i, "") for i in ids if not (skip_special_tokens and i == special))
        return bytearray([self.byte_decoder[c] for c in text]).decode("utf-8", errors="replace")


# ---------------------------------------------------------------- the model

class VitGpt2:
    """A loaded folder. Provides the attributes ref_blip.Blip's search methods
    use (text_cfg, model.text_decoder, _step) so the same greedy and beam
    search run here, with prompt [start] and max_length - 1 new tokens."""

    _step = ref_blip.Blip._step
    _greedy = ref_blip.Blip.greedy_or_sample
    _beam = ref_blip.Blip.beam_search
    cross_gradients = ref_blip.Blip.cross_gradients

    def __init__(self, folder, threads=None):
        if threads:
            torch.set_num_threads(threads)
        if not os.path.isdir(folder):
            raise VitGpt2Error("%s: not a folder" % folder)
        self.enc, self.dec, self.gen = load_config(folder)
        self.pp = load_preprocess_config(folder)
        self.tok = GPT2BPE(folder)
        if len(self.tok.encoder) > self.dec["vocab_size"]:
            raise VitGpt2Error("%s: vocab.json has %d tokens, more than vocab_size %d"
                               % (folder, len(self.tok.encoder), self.dec["vocab_size"]))
        self.net = build_model(self.enc, self.dec, ref_blip.Weights(folder))
        self.model = types.SimpleNamespace(text_decoder=self.net.decoder)
        self.text_cfg = {"sep_token_id": self.gen["eos"], "pad_token_id": self.gen["pad"],
                         "vocab_size": self.dec["vocab_size"],
                         "num_attention_heads": self.dec["n_head"]}
        # what cross_gradients reads: layers and the patch grid
        self.L = self.dec["n_layer"]
        self.vision_cfg = {"image_size": self.enc["image_size"], "patch_size": self.enc["patch_size"]}

    def pixels(self, image_path):
        return ref_blip.preprocess(ref_blip.load_image(image_path), self.pp)

    @torch.no_grad()
    def features(self, pixels):
        return self.net.encoder(torch.from_numpy(np.asarray(pixels, dtype=np.float32))[None])[0]

    @torch.no_grad()
    def forward(self, feats, ids):
        logits, _, _, ca = self.net.decoder(torch.tensor([ids]), feats[None])
        return logits[0], torch.stack([a[0] for a in ca])

    def settings(self, beam=None, max_len=None):
        s = dict(self.gen)
        if beam is not None:
            s["num_beams"] = beam
        if max_len is not None:
            s["max_length"] = max_len
        # ref_blip's searches count new tokens after the prompt [start]
        s["max_length"] = min(s["max_length"], self.dec["n_positions"]) - 1
        s["min_length"] = max(s["min_length"] - 1, 0)
        if s["max_length"] < 1 or s["num_beams"] < 1:
            raise VitGpt2Error("max_length must be >= 2 and num_beams >= 1")
        return s

    def caption(self, pixels, beam=None, max_len=None):
        s = self.settings(beam, max_len)
        feats = self.features(pixels)
        prompt = [self.gen["start"]]
        with torch.no_grad():
            out = (self._beam if s["num_beams"] > 1 else self._greedy)(feats, prompt, s)
        ids = out["ids"]
        logits, cross = self.forward(feats, ids[:-1]) if len(ids) > 1 else (None, None)
        L, H, N = self.dec["n_layer"], self.dec["n_head"], feats.shape[0]
        return {"features": feats.numpy(), "ids": ids, "score": out["score"],
                "step_logits": logits.numpy() if logits is not None else np.zeros((0, self.dec["vocab_size"]), np.float32),
                "step_cross": cross.permute(2, 0, 1, 3).numpy() if cross is not None else np.zeros((0, L, H, N), np.float32),
                "text": self.tok.decode(ids)}


def _save(out, name, a):
    np.save(os.path.join(out, name), np.ascontiguousarray(a))


def _pixels(m, args):
    if args.pixels:
        return np.load(args.pixels).astype(np.float32)
    if not args.image:
        raise VitGpt2Error("an IMAGE or --pixels is needed")
    return m.pixels(args.image)


def cmd_run(args):
    m = VitGpt2(args.dir, args.threads)
    px = _pixels(m, args)
    r = m.caption(px, args.beam, args.max_len)
    os.makedirs(args.out, exist_ok=True)
    _save(args.out, "pixel_values.npy", px)
    _save(args.out, "features.npy", r["features"])
    _save(args.out, "ids.npy", np.asarray(r["ids"], dtype=np.int64))
    _save(args.out, "step_logits.npy", r["step_logits"])
    _save(args.out, "step_cross_attn.npy", r["step_cross"])
    if args.gradients:  # (steps, layers, heads, 1 + G*G), the stop id's step included
        _save(args.out, "step_cross_grad.npy",
              m.cross_gradients(torch.from_numpy(r["features"]), r["ids"], 1))
    res = {"ids": r["ids"], "text": r["text"], "score": r["score"],
           "finished": len(r["ids"]) > 1 and r["ids"][-1] in ref_blip._stop_ids(m.gen["eos"])}
    with open(os.path.join(args.out, "result.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False)
        f.write("\n")
    if not args.quiet:
        print(r["text"])
    return 0


def cmd_forward(args):
    m = VitGpt2(args.dir, args.threads)
    px = _pixels(m, args)
    ids = [int(x) for x in args.ids.split(",") if x.strip()]
    feats = m.features(px)
    logits, cross = m.forward(feats, ids)
    os.makedirs(args.out, exist_ok=True)
    _save(args.out, "features.npy", feats.numpy())
    _save(args.out, "logits.npy", logits.numpy())
    _save(args.out, "cross_attn.npy", cross.numpy())
    return 0


def cmd_preprocess(args):
    np.save(args.output, ref_blip.preprocess(ref_blip.load_image(args.image), load_preprocess_config(args.dir)))
    return 0


def cmd_tokenize(args):
    tok = GPT2BPE(args.dir)
    texts = list(args.text)
    if args.file:
        with open(args.file, encoding="utf-8") as f:
            texts += [json.loads(line) for line in f if line.strip()]
    for t in texts:
        toks, ids = tok.encode(t)
        print(json.dumps({"text": t, "tokens": toks, "ids": ids, "decoded": tok.decode(ids, False)},
                         ensure_ascii=False))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ref_vit_gpt2.py", description="PyTorch twin of ViT-GPT2 captioning")
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("run")
    r.add_argument("dir")
    r.add_argument("image", nargs="?")
    r.add_argument("--out", required=True)
    r.add_argument("--pixels")
    r.add_argument("--beam", type=int)
    r.add_argument("--max-len", type=int, help="max_length (counts the start token)")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--quiet", action="store_true")
    r.add_argument("--gradients", action="store_true",
                   help="also step_cross_grad.npy: d log p(token) / d cross-attention of its query")
    f = sub.add_parser("forward")
    f.add_argument("dir")
    f.add_argument("image", nargs="?")
    f.add_argument("--pixels")
    f.add_argument("--ids", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("preprocess")
    p.add_argument("dir")
    p.add_argument("image")
    p.add_argument("output")
    t = sub.add_parser("tokenize")
    t.add_argument("dir")
    t.add_argument("text", nargs="*")
    t.add_argument("--file", help="JSON lines, one string each")
    args = ap.parse_args(argv)
    if not args.cmd:
        ap.print_usage(sys.stderr)
        return 2
    try:
        return {"run": cmd_run, "forward": cmd_forward, "preprocess": cmd_preprocess,
                "tokenize": cmd_tokenize}[args.cmd](args)
    except ref_blip.BlipError as e:
        print("ref_vit_gpt2: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""PyTorch twin of Hugging Face's BlipForConditionalGeneration (image captioning).

Written from Hugging Face transformers (5.x main branch; the numerics of these
files have not changed since 4.3x apart from generation):
  src/transformers/models/blip/configuration_blip.py   class defaults
  src/transformers/models/blip/modeling_blip.py        vision model, generate()
  src/transformers/models/blip/modeling_blip_text.py   BERT text decoder, LM head
  src/transformers/models/blip/image_processing_blip.py, processing_blip.py
  src/transformers/generation/utils.py   `_sample` and the vectorised `_beam_search`
      (_get_top_k_continuations, _get_running_beams_for_next_iteration,
      _update_finished_beams, _check_early_stop_heuristic,
      _beam_search_has_unfinished_sequences: the version introduced in 4.50 and
      kept in 5.x, including the rule that no finished hypothesis is added once
      the early-stop heuristic says no improvement is possible)
  src/transformers/generation/logits_process.py   MinLength, Temperature, TopK, TopP
No transformers code is imported or copied; the state_dict names are Hugging
Face's (vision_model.*, text_decoder.bert.*, text_decoder.cls.predictions.*), so
a folder's model.safetensors loads here unchanged.

Generation re-checked against huggingface/transformers
src/transformers/generation/utils.py at commit
000034a44ef887621d9b36001a5eb7c46e64cb3f (main branch of autumn 2025, the
code base 5.0 was cut from): `_beam_search` and its helpers match this twin
rule for rule (log_softmax, then the logits processors, then the running
scores added; top max(2, 1 + #eos) * beams = 2 * beams continuations; the
running beams are the best `beams` that did not stop; finished hypotheses
only from the top `beams` ranks, scored sum / (cur_len + 1 - prompt_len) **
length_penalty; early_stopping True adds no hypothesis once all beams are
finished; the heuristic uses the current new length, or max_length -
prompt_len for "never" with a positive penalty; the loop ends when no
improvement is possible, when early_stopping True has all beams finished, or
when every kept continuation stopped). The stopping criteria are max_length
(cur_len + 1 >= max_length) and the eos id, which
BlipForConditionalGeneration.generate sets to sep_token_id.

Lengths re-checked against the newest copies the code index holds (2026
copies of the 5.x files, no commit id attached: generation/utils.py of about
120,000 characters, its `generate` entry point, and configuration_utils.py
with the dataclass PreTrainedConfig; the file listing names only older
commits, 1097d4b3f8dd6440add50f87a2784b03cc0b4c85 for generation/utils.py and
0e97420c9957149b80ff57632148e8ce80203b48 for models/blip/modeling_blip.py,
whose BLIP `generate` wrapper is unchanged). In 5.x `generate` decides
"default length" before filling in defaults: max_length counts as default
when neither generate's arguments nor the model's generation config set it
(GenerationConfig's defaults are None since 5.0), and then
`_prepare_generated_length` makes it 20 + the decoder prompt length (capped
at max_position_embeddings): 20 NEW tokens. An explicit max_length (passed
to generate) is a total length that counts the decoder prompt ([DEC] and the
prompt's pieces), in 5.x as in 4.x; max_new_tokens / min_new_tokens count
new tokens; an explicit min_length counts the whole decoder sequence. This
twin's --max-len / --min-len (and saccade's) are therefore transformers'
max_new_tokens / min_new_tokens, and their defaults (20 / 0) give what 5.x's
defaults give. Late 4.x counted only a max_length equal to 20 (the
GenerationConfig default) as new tokens; any other value from the model's
config counted the prompt. One 5.x change this twin does not follow: the
5.x PreTrainedConfig drops generation parameters written in config.json
(max_length, num_beams, ... in text_config) instead of keeping them as
attributes, so they no longer reach the text decoder's generation config;
this twin (and saccade) still take them from text_config as 4.x did. For
Salesforce's checkpoints those values are the class defaults, so both give
the same tokens; a folder whose text_config sets other values is generated
with them here.

Rules this twin follows (and the C implementation is tested against):
- config.json stores only what differs from the class defaults: the defaults
  of BlipVisionConfig / BlipTextConfig are below (text heads default 8, real
  checkpoints say 12; text encoder_hidden_size is the vision width).
- vision: 16x16 patch conv, class token, learned positions, pre-LN layers with
  fused qkv and an output projection, exact (erf) GELU, post layer norm, eps
  from the config (1e-5 by default). Scores are (q k^T) * head_dim^-0.5.
- text: BERT, post-LN, LayerNorm after word+position embeddings, causal
  self-attention (mask adds -10000 where masked), cross-attention to all image
  tokens (mask adds float32 min * 0), feed-forward, prediction head
  (dense, GELU, LayerNorm eps 1e-12) and a decoder whose weight is
  `cls.predictions.decoder.weight` when the file has it, otherwise the word
  embeddings; its bias is `cls.predictions.bias` (or `decoder.bias` when only
  that is present). Scores are (q k^T) / sqrt(head_dim).
- generation as transformers `generate` for this model: settings from the
  text config (as 4.x read them; see above for 5.x) (max_length 20, min_length 0, num_beams 1, length_penalty 1,
  early_stopping False, do_sample False, top_k 50, top_p 1, temperature 1),
  decoder prompt [DEC] (text bos_token_id) followed by the prompt's word
  pieces (the processor's [CLS] prompt [SEP], first id replaced by [DEC], last
  dropped), stop at sep_token_id ([SEP], not eos_token_id), pad_token_id after.
  max_length counts NEW tokens, the stop token included, as transformers'
  max_new_tokens does (and its default: 20 new tokens; an explicit
  max_length passed to transformers' generate counts the decoder prompt
  too, in 4.x and 5.x); min_length is the number of new tokens before [SEP]
  can be chosen, as min_new_tokens (MinLengthLogitsProcessor with the prompt
  length added).
  Beam search keeps the top 2*beams continuations of all beams each step;
  only those in the top `beams` ranks that hit [SEP] or the length limit
  become finished hypotheses, scored sum(logprob) / new_len**length_penalty.
- sampling: transformers' order (temperature, top-k, top-p with one token
  always kept), then torch.multinomial with a torch.Generator seeded by --seed
  (CPU Mersenne Twister): token-exact parity with other RNGs is not expected.
- preprocessing as BlipImageProcessor with PIL: RGBA composited on white then
  RGB, resize to size (384x384) with Pillow's BICUBIC, x * (1/255) in float64
  cast to float32, (x - mean) / std in float32 with CLIP mean/std.

Command line (all output folders are created; arrays are float32 .npy unless
noted; N = image tokens incl. class token, L = text layers, H = text heads):

  ref_blip.py run DIR IMAGE --out OUTDIR [--beam K] [--max-len N] [--min-len N]
        [--length-penalty X] [--early-stopping true|false|never] [--prompt TEXT]
        [--sample --top-p P --top-k K --temperature T --seed S] [--pixels NPY]
        [--gradients] [--no-cache] [--threads N] [--quiet]
      caption IMAGE with the folder DIR; writes
        pixel_values.npy (3, S, S)      preprocessed input (or --pixels as given)
        features.npy     (N, Dv)        vision last_hidden_state
        ids.npy          int64 (T,)     full output: decoder prompt + new tokens
        prompt_ids.npy   int64 (P,)
        step_logits.npy  (T-P, V)       logits that chose each new token
        step_cross_attn.npy (T-P, L, H, N)  cross-attention of that query
        token_logprobs.npy (T-P,)       log-softmax of step_logits at each new
                         token (the model's log-probability, before processors)
        step_cross_grad.npy (T-P, L, H, N)  with --gradients: gradient of the
                         token's log-probability w.r.t. that attention row
                         (grad-CAM map: attention * max(gradient, 0))
        result.json      ids, text (decode, prompt kept), text_new (new tokens
                         only), score (beam), token_logprobs and their sum
                         logprob_sum ([SEP] included when it ended), settings
                         used, shapes
      step_* come from a full forward over ids (teacher forcing); for greedy
      and sampling they equal the values seen while generating.
  ref_blip.py forward DIR (IMAGE | --pixels NPY) --ids 30522,5,7 --out OUTDIR
      one full forward over the given ids: logits.npy (T, V),
      cross_attn.npy (L, H, T, N), self_attn.npy (L, H, T, T), features.npy
  ref_blip.py preprocess DIR IMAGE OUT.npy    pixel values (3, S, S)
  ref_blip.py tokenize DIR TEXT               ids of the prompt as JSON
  ref_blip.py selftest DIR IMAGE              internal consistency checks
Exit status: 0 ok, 1 error (message on stderr), 2 usage.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402


def _stop_ids(ids):
    """The stop ids as a list (generation stops at any of them, as
    transformers takes eos_token_id as an integer or a list)."""
    return list(ids) if isinstance(ids, (list, tuple)) else [ids]


class BlipError(Exception):
    """A bad folder, file or option: reported as one line, exit status 1."""


VISION_DEFAULTS = {
    "hidden_size": 768, "intermediate_size": 3072, "projection_dim": 512,
    "num_hidden_layers": 12, "num_attention_heads": 12, "num_channels": 3,
    "image_size": 384, "patch_size": 16, "hidden_act": "gelu", "layer_norm_eps": 1e-5,
    "dropout": 0.0, "attention_dropout": 0.0, "initializer_range": 1e-10,
}
TEXT_DEFAULTS = {
    "vocab_size": 30524, "hidden_size": 768, "encoder_hidden_size": 768,
    "intermediate_size": 3072, "projection_dim": 768, "num_hidden_layers": 12,
    "num_attention_heads": 8, "max_position_embeddings": 512, "hidden_act": "gelu",
    "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
    "initializer_range": 0.02, "bos_token_id": 30522, "eos_token_id": 2, "pad_token_id": 0,
    "sep_token_id": 102, "is_decoder": True, "use_cache": True, "label_smoothing": 0.0,
}
# GenerationConfig's defaults; a text_config may override them (older files
# store all of them).
GENERATION_DEFAULTS = {
    "max_length": 20, "min_length": 0, "num_beams": 1, "do_sample": False,
    "length_penalty": 1.0, "early_stopping": False, "temperature": 1.0, "top_k": 50,
    "top_p": 1.0, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0,
    "num_return_sequences": 1,
}
# Settings this twin does not implement: only their neutral value is accepted.
NEUTRAL_ONLY = {"repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "num_return_sequences": 1}
PREPROCESS_DEFAULTS = {
    "do_resize": True, "size": {"height": 384, "width": 384}, "resample": 3,
    "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True,
}


def _typed(where, key, value, default):
    """value if it has default's JSON type (ints accepted for floats), else BlipError."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise BlipError("%s: %s must be %s, got %r" % (where, key, type(default).__name__, value))
    return value


def _merge(where, defaults, given):
    out = dict(defaults)
    for k, v in given.items():
        if k in defaults and v is not None:
            out[k] = _typed(where, k, v, defaults[k])
    return out


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise BlipError("%s: missing" % path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BlipError("%s: %s" % (path, e))
    if not isinstance(obj, dict):
        raise BlipError("%s: not a JSON object" % path)
    return obj


def load_config(folder):
    """(vision, text, generation) settings: class defaults overridden by config.json."""
    path = os.path.join(folder, "config.json")
    raw = _read_json(path)
    for part in ("text_config", "vision_config"):
        if part in raw and raw[part] is not None and not isinstance(raw[part], dict):
            raise BlipError("%s: %s must be an object" % (path, part))
    tc = raw.get("text_config") or {}
    vc = raw.get("vision_config") or {}
    vision = _merge(path + " vision_config", VISION_DEFAULTS, vc)
    text = _merge(path + " text_config", TEXT_DEFAULTS, tc)
    gen = _merge(path + " text_config", GENERATION_DEFAULTS, tc)
    for k, neutral in NEUTRAL_ONLY.items():
        if gen[k] != neutral:
            raise BlipError("%s: text_config.%s=%r is not supported" % (path, k, gen[k]))
    for name, c in (("vision_config", vision), ("text_config", text)):
        if c["hidden_act"] != "gelu":
            raise BlipError("%s: %s.hidden_act %r is not supported (gelu)" % (path, name, c["hidden_act"]))
        for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"):
            if c[k] <= 0:
                raise BlipError("%s: %s.%s must be positive" % (path, name, k))
        if c["hidden_size"] % c["num_attention_heads"]:
            raise BlipError("%s: %s.hidden_size %d is not a multiple of num_attention_heads %d"
                            % (path, name, c["hidden_size"], c["num_attention_heads"]))
    if vision["patch_size"] <= 0 or vision["image_size"] < vision["patch_size"]:
        raise BlipError("%s: vision_config image_size/patch_size invalid" % path)
    for k in ("bos_token_id", "sep_token_id", "pad_token_id"):
        if not 0 <= text[k] < text["vocab_size"]:
            raise BlipError("%s: text_config.%s %d outside the vocabulary (%d)"
                            % (path, k, text[k], text["vocab_size"]))
    return vision, text, gen


def load_preprocess_config(folder):
    path = os.path.join(folder, "preprocessor_config.json")
    raw = _read_json(path) if os.path.exists(path) else {}
    pp = _merge(path, PREPROCESS_DEFAULTS, raw)
    size = pp["size"]
    if not (isinstance(size, dict) and isinstance(size.get("height"), int)
            and isinstance(size.get("width"), int) and size["height"] > 0 and size["width"] > 0):
        raise BlipError("%s: size must be {\"height\": int, \"width\": int}" % path)
    for k in ("image_mean", "image_std"):
        v = pp[k]
        if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v)):
            raise BlipError("%s: %s must be 3 numbers" % (path, k))
    return pp


# ---------------------------------------------------------------- model

class VisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, P = c["hidden_size"], c["patch_size"]
        grid = c["image_size"] // P
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, D))
        self.patch_embedding = nn.Conv2d(3, D, P, stride=P)
        self.position_embedding = nn.Parameter(torch.zeros(1, grid * grid + 1, D))

    def forward(self, pixels):
        x = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], dim=1)
        return x + self.position_embedding[:, : x.shape[1]]


class VisionAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        D = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.scale = (D // self.heads) ** -0.5
        self.qkv = nn.Linear(D, 3 * D)
        self.projection = nn.Linear(D, D)

    def forward(self, x):
        B, T, D = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        probs = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(B, T, D)
        return self.projection(ctx)


class VisionMLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc1 = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.fc2 = nn.Linear(c["intermediate_size"], c["hidden_size"])

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class VisionLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, eps = c["hidden_size"], c["layer_norm_eps"]
        self.self_attn = VisionAttention(c)
        self.layer_norm1 = nn.LayerNorm(D, eps=eps)
        self.mlp = VisionMLP(c)
        self.layer_norm2 = nn.LayerNorm(D, eps=eps)

    def forward(self, x):
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class VisionEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([VisionLayer(c) for _ in range(c["num_hidden_layers"])])


class VisionModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = VisionEmbeddings(c)
        self.encoder = VisionEncoder(c)
        self.post_layernorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, pixels):
        x = self.embeddings(pixels)
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x)


class TextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids, past_len):
        pos = torch.arange(past_len, past_len + ids.shape[1])
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos)[None])


class TextSelfAttention(nn.Module):
    """query/key/value of one attention block; keys/values from the image when cross."""

    def __init__(self, c, cross):
        super().__init__()
        D = c["hidden_size"]
        kv_in = c["encoder_hidden_size"] if cross else D
        self.heads = c["num_attention_heads"]
        self.head_dim = D // self.heads
        self.query = nn.Linear(D, D)
        self.key = nn.Linear(kv_in, D)
        self.value = nn.Linear(kv_in, D)
        self.probe = None

    def _split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def image_kv(self, image):
        """Cross-attention keys/values of the image tokens, computed once per image."""
        return self._split(self.key(image)), self._split(self.value(image))

    def forward(self, x, mask, cross_kv=None, past=None):
        """(context (B,T,D), probabilities (B,H,T,S), new (k, v) or None).
        cross_kv: the image's (k, v) (batch 1 broadcasts over B) for cross-attention."""
        q = self._split(self.query(x))
        present = None
        if cross_kv is not None:
            k, v = cross_kv
        else:
            k, v = self._split(self.key(x)), self._split(self.value(x))
            if past is not None:
                k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
            present = (k, v)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask
        probs = torch.softmax(scores, dim=-1)
        if self.probe is not None:  # selftest: finite differences of the attention gradient
            probs = probs + self.probe
        B, _, T, _ = q.shape
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).reshape(B, T, self.heads * self.head_dim)
        return ctx, probs, present


class TextSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ctx, residual):
        return self.LayerNorm(self.dense(ctx) + residual)


class TextAttention(nn.Module):
    def __init__(self, c, cross):
        super().__init__()
        self.self = TextSelfAttention(c, cross)
        self.output = TextSelfOutput(c)


class TextIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])


class TextOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["intermediate_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])


class TextLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = TextAttention(c, cross=False)
        self.crossattention = TextAttention(c, cross=True)
        self.intermediate = TextIntermediate(c)
        self.output = TextOutput(c)

    def forward(self, x, self_mask, cross_kv, cross_mask, past):
        ctx, self_probs, present = self.attention.self(x, self_mask, past=past)
        x = self.attention.output(ctx, x)
        ctx, cross_probs, _ = self.crossattention.self(x, cross_mask, cross_kv=cross_kv)
        x = self.crossattention.output(ctx, x)
        h = F.gelu(self.intermediate.dense(x))
        x = self.output.LayerNorm(self.output.dense(h) + x)
        return x, self_probs, cross_probs, present


class TextEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([TextLayer(c) for _ in range(c["num_hidden_layers"])])


class TextModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = TextEmbeddings(c)
        self.encoder = TextEncoder(c)


class PredictionHeadTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class LMPredictionHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = PredictionHeadTransform(c)
        self.decoder = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))

    def forward(self, x):
        return F.linear(self.transform(x), self.decoder.weight, self.bias)


class OnlyMLMHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = LMPredictionHead(c)


class TextDecoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = TextModel(c)
        self.cls = OnlyMLMHead(c)

    def image_kv(self, image):
        """Per layer, the cross-attention (k, v) of image (B,N,Dv). transformers 5.x keeps
        them in its EncoderDecoderCache; recomputing them each step gives the same values."""
        return [layer.crossattention.self.image_kv(image) for layer in self.bert.encoder.layer]

    def forward(self, ids, image, past=None, cross_kv=None):
        """ids (B,T) after `past` cached positions; image (B or 1,N,Dv).
        Returns logits (B,T,V), per-layer (k,v), self-attn and cross-attn probabilities."""
        B, T = ids.shape
        if cross_kv is None:
            cross_kv = self.image_kv(image)
        past_len = past[0][0].shape[2] if past is not None else 0
        x = self.bert.embeddings(ids, past_len)
        # causal mask over past+T keys: (1 - allowed) * -10000, as BlipTextModel builds it
        q_pos = torch.arange(T)[:, None] + past_len
        allowed = (torch.arange(past_len + T)[None, :] <= q_pos).to(torch.float32)
        self_mask = ((1.0 - allowed) * -10000.0)[None, None]
        image_mask = torch.ones(B, image.shape[1])
        cross_mask = (1.0 - image_mask[:, None, None, :]) * torch.finfo(torch.float32).min
        presents, self_attn, cross_attn = [], [], []
        for i, layer in enumerate(self.bert.encoder.layer):
            x, sp, cp, present = layer(x, self_mask, cross_kv[i], cross_mask,
                                       past[i] if past is not None else None)
            presents.append(present)
            self_attn.append(sp)
            cross_attn.append(cp)
        return self.cls.predictions(x), presents, self_attn, cross_attn


class BlipCaptioner(nn.Module):
    """BlipForConditionalGeneration's inference path, with its state_dict names."""

    def __init__(self, vision, text):
        super().__init__()
        self.vision_cfg, self.text_cfg = vision, text
        self.vision_model = VisionModel(vision)
        self.text_decoder = TextDecoder(text)


DECODER_W = "text_decoder.cls.predictions.decoder.weight"
DECODER_B = "text_decoder.cls.predictions.decoder.bias"
HEAD_BIAS = "text_decoder.cls.predictions.bias"
WORD_EMB = "text_decoder.bert.embeddings.word_embeddings.weight"
# buffers older checkpoints carry; not parameters
IGNORED = ("text_decoder.bert.embeddings.position_ids",)


class _NoInit:
    """Build modules without random initialisation (every parameter is loaded after)."""

    CLASSES = (nn.Linear, nn.Conv2d, nn.Embedding, nn.LayerNorm)

    def __enter__(self):
        self.saved = [(c, c.reset_parameters) for c in self.CLASSES]
        for c in self.CLASSES:
            c.reset_parameters = lambda module: None

    def __exit__(self, *exc):
        for c, f in self.saved:
            c.reset_parameters = f


def empty_model(vision, text):
    """BlipCaptioner with uninitialised weights (shapes and names only)."""
    with _NoInit():
        return BlipCaptioner(vision, text)


class Weights:
    """model.safetensors mapped read-only; tensors converted to float32 one at a time."""

    FLOATS = ("F32", "F16", "BF16", "F64")

    def __init__(self, folder):
        self.path = path = os.path.join(folder, "model.safetensors")
        if not os.path.exists(path):
            if os.path.exists(os.path.join(folder, "pytorch_model.bin")):
                raise BlipError("%s: missing (the folder has pytorch_model.bin: run tools/convert_hf.py %s)"
                                % (path, folder))
            raise BlipError("%s: missing" % path)
        try:
            self._map = np.memmap(path, dtype=np.uint8, mode="r")
            header, self._data = st_numpy.parse(self._map)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise BlipError("%s: %s" % (path, e))
        self.info = {k: v for k, v in header.items() if k != "__metadata__"}

    def shape(self, name):
        return tuple(self.info[name]["shape"])

    def get(self, name):
        info = self.info[name]
        if info["dtype"] not in self.FLOATS:
            raise BlipError("%s: tensor %s has non-float dtype %s" % (self.path, name, info["dtype"]))
        b, e = info["data_offsets"]
        a = np.frombuffer(self._data[b:e], dtype=st_numpy.DTYPES[info["dtype"]]).reshape(info["shape"])
        return st_numpy.bf16_to_f32(a) if info["dtype"] == "BF16" else a.astype(np.float32)


def build_model(vision, text, weights):
    """The model with weights loaded; the LM head tied as Hugging Face ties it:
    no decoder.weight -> the word embeddings (shared), no cls.predictions.bias ->
    decoder.bias."""
    model = empty_model(vision, text)
    params = dict(model.named_parameters())
    names = set(weights.info) - set(IGNORED)
    source = {k: k for k in params}
    tied = DECODER_W not in names
    if tied:
        source[DECODER_W] = WORD_EMB
    if HEAD_BIAS not in names and DECODER_B in names:
        source[HEAD_BIAS] = DECODER_B
    missing = [k for k in params if source[k] not in names]
    if missing:
        raise BlipError("%s: tensor %s missing%s" % (weights.path, missing[0],
                        " (and %d more)" % (len(missing) - 1) if len(missing) > 1 else ""))
    for k, p in params.items():
        if weights.shape(source[k]) != tuple(p.shape):
            raise BlipError("%s: tensor %s has shape %s, the config needs %s"
                            % (weights.path, source[k], list(weights.shape(source[k])), list(p.shape)))
    extra = sorted(names - set(source.values()) - {DECODER_B})
    if extra:
        print("ref_blip: ignoring %d tensor(s) not used for captioning, e.g. %s" % (len(extra), extra[0]),
              file=sys.stderr)
    with torch.no_grad():
        for k, p in params.items():
            if not (tied and k == DECODER_W):
                p.copy_(torch.from_numpy(weights.get(source[k])))
    if tied:
        model.text_decoder.cls.predictions.decoder.weight = model.text_decoder.bert.embeddings.word_embeddings.weight
    return model.eval()


# ---------------------------------------------------------------- tokenizer

def _load_vocab(folder):
    path = os.path.join(folder, "vocab.txt")
    try:
        with open(path, encoding="utf-8") as f:
            toks = [line.rstrip("\n").rstrip("\r") for line in f]
    except FileNotFoundError:
        raise BlipError("%s: missing" % path)
    except (OSError, UnicodeDecodeError) as e:
        raise BlipError("%s: %s" % (path, e))
    if toks and toks[-1] == "":
        toks.pop()
    return toks


class MiniWordPiece:
    """A small BERT WordPiece (basic tokenizer: lower case, accents stripped,
    punctuation split, CJK characters apart; greedy longest match with ##;
    [UNK] for words over 100 characters), used until the full twin
    tools/ref/ref_wordpiece.py is available (see load_tokenizer)."""

    def __init__(self, folder):
        import unicodedata
        self._ud = unicodedata
        self.tokens = _load_vocab(folder)
        self.ids = {t: i for i, t in enumerate(self.tokens)}
        # [DEC] / [ENC] are added tokens after vocab.txt unless it lists them
        for extra in ("[DEC]", "[ENC]"):
            if extra not in self.ids:
                self.ids[extra] = len(self.tokens)
                self.tokens.append(extra)
        self.special = {self.ids[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "[ENC]")
                        if t in self.ids}
        self.unk = self.ids.get("[UNK]")
        self.size = len(self.tokens)
        self.clean_up = False  # transformers 5.x default clean_up_tokenization_spaces

    def _is_punct(self, ch):
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return self._ud.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(cp):
        return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
                or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
                or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

    def _basic(self, text):
        clean = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or (self._ud.category(ch).startswith("C") and ch not in "\t\n\r"):
                continue
            if self._is_cjk(cp):
                clean.append(" %s " % ch)
            elif ch in " \t\n\r" or self._ud.category(ch) == "Zs":
                clean.append(" ")
            else:
                clean.append(ch)
        words = []
        for w in "".join(clean).split():
            w = self._ud.normalize("NFD", w.lower())
            w = "".join(c for c in w if self._ud.category(c) != "Mn")
            cur = ""
            for ch in w:
                if self._is_punct(ch):
                    if cur:
                        words.append(cur)
                    words.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                words.append(cur)
        return words

    def _wordpiece(self, word):
        if len(word) > 100:
            return [self.unk]
        out, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    found = self.ids[piece]
                    break
                end -= 1
            if found is None:
                return [self.unk]
            out.append(found)
            start = end
        return out

    def encode(self, text):
        """Ids with [CLS] ... [SEP], as the processor's tokenizer call."""
        ids = [self.ids["[CLS]"]]
        for w in self._basic(text):
            ids += self._wordpiece(w)
        return ids + [self.ids["[SEP]"]]

    def decode(self, ids, skip_special_tokens=True):
        toks = [self.tokens[i] for i in ids if 0 <= i < len(self.tokens)
                and not (skip_special_tokens and i in self.special)]
        parts = []
        for i, t in enumerate(toks):
            if i > 0:
                t = t[2:] if t.startswith("##") else " " + t
            # the WordPiece decoder's clean-up, token by token (tokenizers, cleanup=True)
            for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                         (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
                t = t.replace(a, b)
            parts.append(t)
        return "".join(parts)


class _TwinTokenizer:
    """tools/ref/ref_wordpiece.py's Tokenizer with the processor's call and decode."""

    def __init__(self, module, folder):
        cfg = os.path.join(folder, "tokenizer_config.json")
        vocab = os.path.join(folder, "vocab.txt")
        if not os.path.exists(vocab):
            raise BlipError("%s: missing" % vocab)
        try:
            self.t = module.Tokenizer(vocab, cfg if os.path.exists(cfg) else None)
        except (OSError, ValueError, KeyError, UnicodeDecodeError) as e:
            raise BlipError("%s: %s" % (folder, e))
        self.size = self.t.size()

    def encode(self, text):
        return [self.t.ids["cls"]] + self.t.encode(text) + [self.t.ids["sep"]]

    def decode(self, ids, skip_special_tokens=True):
        return self.t.decode(ids, skip_special_tokens, self.t.clean_up)


def load_tokenizer(folder):
    """The WordPiece twin (tools/ref/ref_wordpiece.py) when present, else MiniWordPiece.
    Both give .encode(text) -> [CLS] ... [SEP] ids, .decode(ids) and .size."""
    try:
        import ref_wordpiece
    except ImportError:
        return MiniWordPiece(folder)
    return _TwinTokenizer(ref_wordpiece, folder)


def prompt_ids(tok, text, bos):
    """The decoder prompt generate() builds: [CLS] prompt [SEP] -> [DEC] prompt."""
    ids = tok.encode(text or "")
    ids[0] = bos
    return ids[:-1]


# ---------------------------------------------------------------- preprocessing

def load_image(path):
    from PIL import Image
    try:
        im = Image.open(path)
        im.load()
    except (OSError, ValueError) as e:
        raise BlipError("%s: cannot read image: %s" % (path, e))
    return im


def preprocess(image, pp):
    """BlipImageProcessor: (3, H, W) float32 from a PIL image."""
    from PIL import Image
    im = image
    if pp["do_convert_rgb"] and im.mode != "RGB":
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255))
        im = Image.alpha_composite(white, rgba).convert("RGB")
    if pp["do_resize"]:
        im = im.resize((pp["size"]["width"], pp["size"]["height"]), resample=pp["resample"], reducing_gap=None)
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[:, :, None]
    if pp["do_rescale"]:
        a = (a.astype(np.float64) * pp["rescale_factor"]).astype(np.float32)
    else:
        a = a.astype(np.float32)
    if pp["do_normalize"]:
        a = (a - np.asarray(pp["image_mean"], dtype=np.float32)) / np.asarray(pp["image_std"], dtype=np.float32)
    return np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32)


# ---------------------------------------------------------------- generation

def _top_k_filter(scores, k):
    k = min(max(k, 1), scores.shape[-1])
    kth = torch.topk(scores, k)[0][..., -1, None]
    return scores.masked_fill(scores < kth, -float("inf"))


def _top_p_filter(scores, p):
    sorted_logits, sorted_idx = torch.sort(scores, descending=False)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cum <= (1 - p)
    remove[..., -1:] = False  # keep at least one token
    return scores.masked_fill(remove.scatter(1, sorted_idx, remove), -float("inf"))


class Blip:
    """A loaded folder: model, tokenizer, settings."""

    def __init__(self, folder, threads=None):
        if threads:
            torch.set_num_threads(threads)
        if not os.path.isdir(folder):
            raise BlipError("%s: not a folder" % folder)
        self.folder = folder
        self.vision_cfg, self.text_cfg, self.gen_cfg = load_config(folder)
        self.pp = load_preprocess_config(folder)
        self.tok = load_tokenizer(folder)
        if self.tok.size > self.text_cfg["vocab_size"]:
            raise BlipError("%s: vocab.txt and added tokens (%d) exceed text_config.vocab_size %d"
                            % (folder, self.tok.size, self.text_cfg["vocab_size"]))
        self.model = build_model(self.vision_cfg, self.text_cfg, Weights(folder))
        self.L = self.text_cfg["num_hidden_layers"]

    # -- pieces
    def pixels(self, image_path):
        return preprocess(load_image(image_path), self.pp)

    @torch.no_grad()
    def features(self, pixels):
        size = self.vision_cfg["image_size"]
        if tuple(pixels.shape) != (3, size, size):
            raise BlipError("pixel values have shape %s, the model needs (3, %d, %d)"
                            % (list(pixels.shape), size, size))
        return self.model.vision_model(torch.from_numpy(np.asarray(pixels, dtype=np.float32))[None])[0]

    @torch.no_grad()
    def forward(self, image_embeds, ids):
        """Full forward over ids: logits (T,V), cross (L,H,T,N), self (L,H,T,T)."""
        if len(ids) > self.text_cfg["max_position_embeddings"]:
            raise BlipError("sequence of %d tokens exceeds max_position_embeddings %d"
                            % (len(ids), self.text_cfg["max_position_embeddings"]))
        logits, _, sa, ca = self.model.text_decoder(torch.tensor([ids]), image_embeds[None])
        return logits[0], torch.stack([a[0] for a in ca]), torch.stack([a[0] for a in sa])

    def cross_gradients(self, image_embeds, ids, P):
        """For each new token ids[p] (p >= P): the gradient of its log-probability
        (log_softmax of the raw logits at p-1, teacher forcing over ids[:-1]) with
        respect to every layer's cross-attention probabilities, row p-1 of them:
        (T-P, L, H, N). Grad-CAM style maps are attention * max(gradient, 0)."""
        with torch.enable_grad():
            image = image_embeds.detach()[None].clone().requires_grad_(True)
            logits, _, _, ca = self.model.text_decoder(torch.tensor([ids[:-1]]), image)
            logp = F.log_softmax(logits[0], dim=-1)
            rows = []
            for p in range(P, len(ids)):
                grads = torch.autograd.grad(logp[p - 1, ids[p]], ca, retain_graph=True)
                rows.append(torch.stack([g[0, :, p - 1, :] for g in grads]))
        n = self.vision_cfg["image_size"] // self.vision_cfg["patch_size"]
        empty = torch.zeros(0, self.L, self.text_cfg["num_attention_heads"], n * n + 1)
        return (torch.stack(rows) if rows else empty).detach().numpy()

    def settings(self, **over):
        s = dict(self.gen_cfg)
        for k, v in over.items():
            if v is not None:
                s[k] = v
        if s["num_beams"] < 1 or s["max_length"] < 1 or s["min_length"] < 0:
            raise BlipError("num_beams and max_length must be >= 1, min_length >= 0")
        if s["do_sample"] and s["num_beams"] > 1:
            raise BlipError("beam sampling (sampling with num_beams > 1) is not supported")
        if s["do_sample"] and not (s["temperature"] > 0 and 0 < s["top_p"] <= 1 and s["top_k"] >= 0):
            raise BlipError("sampling needs temperature > 0, 0 < top_p <= 1, top_k >= 0")
        return s

    @torch.no_grad()
    def _step(self, ids, image, past, use_cache, cross_kv=None):
        """Logits (B,V) of the last position, new cache, cross attn (L,B,H,N) of it.
        Without the cache the whole prefix and the image keys/values are recomputed."""
        if use_cache:
            inp = ids if past is None else ids[:, -1:]
            logits, presents, _, ca = self.model.text_decoder(inp, image, past, cross_kv)
        else:
            logits, presents, _, ca = self.model.text_decoder(ids, image, None)
            presents = None
        return logits[:, -1].to(torch.float32), presents, torch.stack([a[:, :, -1] for a in ca])

    @torch.no_grad()
    def greedy_or_sample(self, image_embeds, prompt, s, use_cache=True):
        sep, P = _stop_ids(self.text_cfg["sep_token_id"]), len(prompt)
        max_length, min_length = P + s["max_length"], P + s["min_length"]
        gen = torch.Generator().manual_seed(int(s.get("seed", 0))) if s["do_sample"] else None
        ids = torch.tensor([prompt])
        image = image_embeds[None]
        cross_kv = self.model.text_decoder.image_kv(image) if use_cache else None
        past, step_logits, step_cross = None, [], []
        while True:
            logits, past, cross = self._step(ids, image, past, use_cache, cross_kv)
            step_logits.append(logits[0].clone())
            step_cross.append(cross[:, 0])
            scores = logits.clone()
            if ids.shape[1] < min_length:  # MinLengthLogitsProcessor
                scores[:, sep] = -float("inf")
            if s["do_sample"]:
                if s["temperature"] != 1.0:
                    scores = scores / s["temperature"]
                if s["top_k"]:
                    scores = _top_k_filter(scores, s["top_k"])
                if s["top_p"] < 1.0:
                    scores = _top_p_filter(scores, s["top_p"])
                nxt = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=gen)[:, 0]
            else:
                nxt = torch.argmax(scores, dim=-1)
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            if int(nxt[0]) in sep or ids.shape[1] >= max_length:
                break
        return {"ids": ids[0].tolist(), "gen_logits": torch.stack(step_logits),
                "gen_cross": torch.stack(step_cross), "score": None}

    @torch.no_grad()
    def beam_search(self, image_embeds, prompt, s, use_cache=True):
        """transformers' vectorised beam search for one image (batch 1)."""
        nb, sep = s["num_beams"], _stop_ids(self.text_cfg["sep_token_id"])
        pad, V = self.text_cfg["pad_token_id"], self.text_cfg["vocab_size"]
        lp, early = s["length_penalty"], s["early_stopping"]
        P = len(prompt)
        max_length, min_length = P + s["max_length"], P + s["min_length"]
        keep = max(2, 1 + len(sep)) * nb  # beams_to_keep
        top_mask = torch.cat([torch.ones(nb, dtype=torch.bool), torch.zeros(keep - nb, dtype=torch.bool)])
        running = torch.full((nb, max_length), pad, dtype=torch.int64)
        running[:, :P] = torch.tensor(prompt)
        sequences = running.clone()
        running_scores = torch.zeros(nb)
        running_scores[1:] = -1e9
        beam_scores = torch.full((nb,), -1e9)
        finished = torch.zeros(nb, dtype=torch.bool)
        heuristic_unsatisfied = True
        running_src = torch.full((nb, max_length - P), -1, dtype=torch.int64)
        finished_src = running_src.clone()
        image = image_embeds[None]  # one copy: its keys/values broadcast over the beams
        cross_kv = self.model.text_decoder.image_kv(image) if use_cache else None
        past, cur = None, P
        while True:
            logits, past, _ = self._step(running[:, :cur], image, past, use_cache, cross_kv)
            logp = F.log_softmax(logits, dim=-1)
            if cur < min_length:  # MinLengthLogitsProcessor, applied to log-probs in beam search
                logp[:, sep] = -float("inf")
            acc = (logp + running_scores[:, None]).reshape(1, nb * V)
            top_val, top_idx = torch.topk(acc, keep)
            top_val, top_idx = top_val[0], top_idx[0]
            src, tok = top_idx // V, top_idx % V
            cand = running[src].clone()
            cand[:, cur] = tok
            cand_src = running_src[src].clone()
            cand_src[:, cur - P] = src
            hits = torch.isin(tok, torch.tensor(sep)) | (cur + 1 >= max_length)
            # running beams for the next step: the best `nb` that did not stop
            live = top_val + hits.to(torch.float32) * -1.0e9
            nxt = torch.topk(live, nb)[1]
            running, running_scores, running_src = cand[nxt], live[nxt], cand_src[nxt]
            # finished hypotheses: only stopped candidates in the top `nb` ranks
            just = hits & top_mask
            fin = top_val / ((cur + 1 - P) ** lp)
            if bool(torch.all(finished)) and early is True:
                fin = fin + -1.0e9
            if not heuristic_unsatisfied:
                fin = fin + -1.0e9
            fin = fin + (~just).to(torch.float32) * -1.0e9
            m_seq = torch.cat([sequences, cand])
            m_score = torch.cat([beam_scores, fin])
            m_src = torch.cat([finished_src, cand_src])
            m_fin = torch.cat([finished, just])
            best = torch.topk(m_score, nb)[1]
            sequences, beam_scores, finished_src, finished = m_seq[best], m_score[best], m_src[best], m_fin[best]
            if past is not None:
                order = running_src[:, cur - P]
                past = [(k.index_select(0, order), v.index_select(0, order)) for k, v in past]
            cur += 1
            # early-stop heuristic (early_stopping False: length of the current step)
            if early == "never" and lp > 0.0:
                hyp_len = max_length - P
            else:
                hyp_len = cur - P
            best_possible = running_scores[:1] / (hyp_len ** lp)
            worst = torch.where(finished, torch.min(beam_scores), torch.tensor(-1.0e9))
            heuristic_unsatisfied = heuristic_unsatisfied and bool(torch.any(best_possible > worst))
            open_beam = not (bool(torch.all(finished)) and early is True)
            if not (heuristic_unsatisfied and open_beam and not bool(torch.all(hits))):
                break
        n_new = int((finished_src[0] != -1).sum())
        return {"ids": sequences[0, : P + n_new].tolist(), "score": float(beam_scores[0]),
                "gen_logits": None, "gen_cross": None}

    def generate(self, image_embeds, prompt, s, use_cache=True):
        if len(prompt) + s["max_length"] > self.text_cfg["max_position_embeddings"]:
            raise BlipError("prompt (%d) + max_length (%d) exceeds max_position_embeddings %d"
                            % (len(prompt), s["max_length"], self.text_cfg["max_position_embeddings"]))
        if s["num_beams"] > 1:
            return self.beam_search(image_embeds, prompt, s, use_cache)
        return self.greedy_or_sample(image_embeds, prompt, s, use_cache)

    def caption(self, pixels, prompt_text="", use_cache=True, **over):
        """Everything the dump needs, as numpy / python values."""
        s = self.settings(**over)
        feats = self.features(pixels)
        prompt = prompt_ids(self.tok, prompt_text, self.text_cfg["bos_token_id"])
        out = self.generate(feats, prompt, s, use_cache)
        ids = out["ids"]
        P = len(prompt)
        logits, cross, _ = self.forward(feats, ids[:-1]) if len(ids) > P else (None, None, None)
        step_logits = logits[P - 1:].numpy() if logits is not None else np.zeros((0, self.text_cfg["vocab_size"]), np.float32)
        if cross is not None:
            step_cross = cross[:, :, P - 1:].permute(2, 0, 1, 3).numpy()
        else:
            step_cross = np.zeros((0, self.L, self.text_cfg["num_attention_heads"], feats.shape[0]), np.float32)
        # each new token's log-probability under the model: log-softmax of the
        # teacher-forced logits that chose it, before any logits processor
        # (what generate's output_logits would give, normalised)
        token_lp = F.log_softmax(torch.from_numpy(step_logits), dim=-1)
        token_lp = token_lp[torch.arange(len(ids) - P), torch.tensor(ids[P:], dtype=torch.int64)]
        return {
            "token_logprobs": token_lp.numpy().astype(np.float32),
            "settings": s, "features": feats.numpy(), "prompt": prompt, "ids": ids,
            "step_logits": np.ascontiguousarray(step_logits), "step_cross_attn": np.ascontiguousarray(step_cross),
            "gen_logits": None if out["gen_logits"] is None else out["gen_logits"].numpy(),
            "gen_cross": None if out["gen_cross"] is None else out["gen_cross"].numpy(),
            "score": out["score"], "text": self.tok.decode(ids), "text_new": self.tok.decode(ids[P:]),
        }


# ---------------------------------------------------------------- command line

def _save(out, name, a):
    np.save(os.path.join(out, name), np.ascontiguousarray(a))


def _pixels_arg(blip, args):
    if args.pixels:
        try:
            return np.load(args.pixels).astype(np.float32)
        except (OSError, ValueError) as e:
            raise BlipError("%s: %s" % (args.pixels, e))
    if not args.image:
        raise BlipError("an IMAGE or --pixels is needed")
    return blip.pixels(args.image)


def cmd_run(args):
    blip = Blip(args.dir, args.threads)
    px = _pixels_arg(blip, args)
    over = {"num_beams": args.beam, "max_length": args.max_len, "min_length": args.min_len,
            "length_penalty": args.length_penalty, "top_p": args.top_p, "top_k": args.top_k,
            "temperature": args.temperature}
    if args.sample:
        over["do_sample"] = True
    if args.early_stopping is not None:
        over["early_stopping"] = {"true": True, "false": False, "never": "never"}[args.early_stopping]
    r = blip.caption(px, args.prompt, use_cache=not args.no_cache, seed=args.seed, **over)
    os.makedirs(args.out, exist_ok=True)
    _save(args.out, "pixel_values.npy", px)
    _save(args.out, "features.npy", r["features"])
    _save(args.out, "ids.npy", np.asarray(r["ids"], dtype=np.int64))
    _save(args.out, "prompt_ids.npy", np.asarray(r["prompt"], dtype=np.int64))
    _save(args.out, "step_logits.npy", r["step_logits"])
    _save(args.out, "step_cross_attn.npy", r["step_cross_attn"])
    _save(args.out, "token_logprobs.npy", r["token_logprobs"])
    if args.gradients:
        _save(args.out, "step_cross_grad.npy",
              blip.cross_gradients(torch.from_numpy(r["features"]), r["ids"], len(r["prompt"])))
    s = r["settings"]
    res = {
        "ids": r["ids"], "prompt_ids": r["prompt"], "new_ids": r["ids"][len(r["prompt"]):],
        "text": r["text"], "text_new": r["text_new"], "score": r["score"],
        "token_logprobs": [float(x) for x in r["token_logprobs"]],
        "logprob_sum": float(np.sum(r["token_logprobs"], dtype=np.float64)),
        "finished": bool(r["ids"][-1] == blip.text_cfg["sep_token_id"] and len(r["ids"]) > len(r["prompt"])),
        "settings": {k: s[k] for k in ("num_beams", "max_length", "min_length", "length_penalty",
                                        "early_stopping", "do_sample", "top_k", "top_p", "temperature")},
        "seed": args.seed if s["do_sample"] else None,
        "shapes": {"features": list(r["features"].shape), "step_logits": list(r["step_logits"].shape),
                   "step_cross_attn": list(r["step_cross_attn"].shape)},
    }
    with open(os.path.join(args.out, "result.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False)
        f.write("\n")
    if not args.quiet:
        print(res["text"])
    return 0


def cmd_forward(args):
    blip = Blip(args.dir, args.threads)
    px = _pixels_arg(blip, args)
    try:
        ids = [int(x) for x in args.ids.split(",") if x.strip()]
    except ValueError:
        raise BlipError("--ids must be comma-separated integers")
    if not ids or any(not 0 <= i < blip.text_cfg["vocab_size"] for i in ids):
        raise BlipError("--ids must be non-empty ids below vocab_size")
    feats = blip.features(px)
    logits, cross, selfa = blip.forward(feats, ids)
    os.makedirs(args.out, exist_ok=True)
    _save(args.out, "pixel_values.npy", px)
    _save(args.out, "features.npy", feats.numpy())
    _save(args.out, "logits.npy", logits.numpy())
    _save(args.out, "cross_attn.npy", cross.numpy())
    _save(args.out, "self_attn.npy", selfa.numpy())
    return 0


def cmd_preprocess(args):
    pp = load_preprocess_config(args.dir)
    np.save(args.output, preprocess(load_image(args.image), pp))
    return 0


def cmd_tokenize(args):
    _, text, _ = load_config(args.dir)
    tok = load_tokenizer(args.dir)
    print(json.dumps({"encode": tok.encode(args.text),
                      "prompt": prompt_ids(tok, args.text, text["bos_token_id"])}))
    return 0


def _rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def cmd_selftest(args):
    """Consistency of the twin with itself; exit 1 on the first failure."""
    blip = Blip(args.dir, args.threads)
    px = blip.pixels(args.image)
    feats = blip.features(px)
    failures = []

    def check(name, ok, detail=""):
        print("%-58s %s %s" % (name, "ok" if ok else "FAIL", detail))
        if not ok:
            failures.append(name)

    N = (blip.vision_cfg["image_size"] // blip.vision_cfg["patch_size"]) ** 2 + 1
    check("features shape (N, Dv)", tuple(feats.shape) == (N, blip.vision_cfg["hidden_size"]))
    for prompt in ("", "a picture of"):
        s = blip.settings(max_length=12)
        g = blip.greedy_or_sample(feats, prompt_ids(blip.tok, prompt, blip.text_cfg["bos_token_id"]), s)
        P = len(prompt_ids(blip.tok, prompt, blip.text_cfg["bos_token_id"]))
        logits, cross, _ = blip.forward(feats, g["ids"][:-1])
        tag = "prompt %r" % prompt
        check("cached step logits == full forward (%s)" % tag,
              _rel(g["gen_logits"], logits[P - 1:]) < 1e-5, "rel %.2e" % _rel(g["gen_logits"], logits[P - 1:]))
        check("cached step cross-attn == full forward (%s)" % tag,
              _rel(g["gen_cross"], cross[:, :, P - 1:].permute(2, 0, 1, 3)) < 1e-5)
        check("cross-attn rows sum to 1 (%s)" % tag, np.allclose(cross.sum(-1).numpy(), 1, atol=1e-5))
        nc = blip.greedy_or_sample(feats, prompt_ids(blip.tok, prompt, blip.text_cfg["bos_token_id"]), s,
                                   use_cache=False)
        check("greedy ids with cache == without (%s)" % tag, nc["ids"] == g["ids"])
        b1 = blip.beam_search(feats, prompt_ids(blip.tok, prompt, blip.text_cfg["bos_token_id"]),
                              blip.settings(max_length=12, num_beams=1))
        check("beam 1 ids == greedy ids (%s)" % tag, b1["ids"] == g["ids"], "%s %s" % (b1["ids"], g["ids"]))
        for nb in (3, 5):
            sb = blip.settings(max_length=12, num_beams=nb)
            pr = prompt_ids(blip.tok, prompt, blip.text_cfg["bos_token_id"])
            b = blip.beam_search(feats, pr, sb)
            bn = blip.beam_search(feats, pr, sb, use_cache=False)
            check("beam %d ids with cache == without (%s)" % (nb, tag), b["ids"] == bn["ids"])
            lg, _, _ = blip.forward(feats, b["ids"][:-1])
            lp = F.log_softmax(lg[P - 1:].double(), -1)
            total = float(sum(lp[i, t] for i, t in enumerate(b["ids"][P:])))
            want = total / ((len(b["ids"]) - P) ** sb["length_penalty"])
            check("beam %d score == sum logprob / len (%s)" % (nb, tag), abs(want - b["score"]) < 1e-4 * max(1, abs(want)),
                  "%.6f %.6f" % (b["score"], want))
    # d log p / d cross-attention against central differences (double precision)
    ids = blip.greedy_or_sample(feats, [blip.text_cfg["bos_token_id"]], blip.settings(max_length=4))["ids"]
    grad = blip.cross_gradients(feats, ids, 1)
    blip.model.double()
    att = blip.model.text_decoder.bert.encoder.layer[-1].crossattention.self
    worst = 0.0
    for s_, h, n in ((0, 0, 0), (len(ids) - 2, blip.text_cfg["num_attention_heads"] - 1, N - 1)):
        vals = []
        for eps in (1e-6, -1e-6):
            probe = torch.zeros(1, blip.text_cfg["num_attention_heads"], len(ids) - 1, N, dtype=torch.float64)
            probe[0, h, s_, n] = eps
            att.probe = probe
            lg, _, _ = blip.forward(feats.double(), ids[:-1])
            vals.append(float(F.log_softmax(lg, -1)[s_, ids[s_ + 1]]))
        att.probe = None
        fd = (vals[0] - vals[1]) / 2e-6
        worst = max(worst, abs(fd - grad[s_, -1, h, n]) / max(1.0, abs(fd)))
    blip.model.float()
    check("cross-attention gradients == finite differences", worst < 1e-3, "rel %.1e" % worst)
    if failures:
        print("selftest: %d failed" % len(failures))
        return 1
    print("selftest: all ok")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ref_blip.py", description="PyTorch twin of BlipForConditionalGeneration")
    sub = ap.add_subparsers(dest="cmd")
    r = sub.add_parser("run", help="caption an image and dump reference outputs")
    r.add_argument("dir")
    r.add_argument("image", nargs="?")
    r.add_argument("--out", required=True)
    r.add_argument("--pixels", help="preprocessed (3, S, S) float32 .npy instead of IMAGE")
    r.add_argument("--beam", type=int, help="num_beams (default: text config, 1)")
    r.add_argument("--max-len", type=int, help="max new tokens (default: text config max_length, 20)")
    r.add_argument("--min-len", type=int, help="min new tokens before [SEP] (default 0)")
    r.add_argument("--length-penalty", type=float)
    r.add_argument("--early-stopping", choices=("true", "false", "never"))
    r.add_argument("--prompt", default="")
    r.add_argument("--sample", action="store_true")
    r.add_argument("--top-p", type=float)
    r.add_argument("--top-k", type=int)
    r.add_argument("--temperature", type=float)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--no-cache", action="store_true", help="recompute the whole prefix each step")
    r.add_argument("--gradients", action="store_true",
                   help="also step_cross_grad.npy: d log p(token) / d cross-attention")
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--quiet", action="store_true")
    f = sub.add_parser("forward", help="one full forward over given ids")
    f.add_argument("dir")
    f.add_argument("image", nargs="?")
    f.add_argument("--pixels")
    f.add_argument("--ids", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("preprocess", help="BlipImageProcessor pixel values")
    p.add_argument("dir")
    p.add_argument("image")
    p.add_argument("output")
    t = sub.add_parser("tokenize", help="prompt ids")
    t.add_argument("dir")
    t.add_argument("text")
    s = sub.add_parser("selftest", help="internal consistency checks")
    s.add_argument("dir")
    s.add_argument("image")
    s.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not args.cmd:
        ap.print_usage(sys.stderr)
        return 2
    try:
        return {"run": cmd_run, "forward": cmd_forward, "preprocess": cmd_preprocess,
                "tokenize": cmd_tokenize, "selftest": cmd_selftest}[args.cmd](args)
    except BlipError as e:
        print("ref_blip: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Convert a Show, Attend and Tell checkpoint of sgrvinod's
a-PyTorch-Tutorial-to-Image-Captioning into a saccade captioner model.

Usage:
    convert_sat.py CHECKPOINT WORDMAP.json -o model.safetensors [--grid 14]
                   [--image-size 256] [--attention relu|tanh] [--no-encoder] [--fold-bn]

CHECKPOINT is what the tutorial's train.py saves (torch.save of a dict whose
"encoder" / "decoder" entries are whole pickled modules of classes
models.Encoder / models.DecoderWithAttention, plus optimisers, epoch, ...).
The tutorial's code does not need to be importable: stand-in classes are
registered as the module `models` while unpickling, and any other class that
cannot be imported falls back to a plain nn.Module. Plain state_dicts are
accepted too: {"encoder": state_dict, "decoder": state_dict}, or one flat
state_dict with "encoder."/"decoder." prefixes.

Output: decoder tensors as "decoder." + the tutorial's names; encoder tensors
renamed from the tutorial's nn.Sequential indices (resnet.0 conv1, resnet.1 bn1,
resnet.4..7 layer1..4) to "encoder." + torchvision names (num_batches_tracked
dropped); "__metadata__": "saccade.kind" ("captioner"), "saccade.config" (dims inferred from the weight
shapes, ResNet depth from the block counts) and "saccade.vocab" (the WORDMAP).
With --fold-bn every eval-mode BatchNorm of the encoder is folded into the
conv before it (in float64: w' = w g / sqrt(var + eps), b' = beta - mean g /
sqrt(var + eps), eps 1e-5) and stored as that conv's "weight" and "bias"
(PyTorch's Conv2d names) with no BN tensors; "encoder_bn_folded": true is
recorded in the config. saccade then uses those weights in place from the
file's mapping (zero copy, no work at load).
Needs torch and numpy; uses tools/ref/st_numpy.py to write the file.
"""
import argparse
import collections
import importlib.util
import json
import os
import pickle
import sys
import types

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_st_numpy():
    path = os.path.join(HERE, "ref", "st_numpy.py")
    spec = importlib.util.spec_from_file_location("st_numpy", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ------------------------------------------------------------------ unpickling
class _StandIn(nn.Module):
    """Stand-in for classes of the tutorial's models.py (only the state matters)."""

    def forward(self, *args):  # pragma: no cover - never called
        raise RuntimeError("stand-in module from convert_sat.py cannot run")


def _standin_models_module():
    m = types.ModuleType("models")
    for name in ("Encoder", "Attention", "DecoderWithAttention"):
        setattr(m, name, type(name, (_StandIn,), {"__module__": "models"}))
    return m


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "models" or module.startswith("models."):
            return getattr(_STANDIN, name, None) or type(name, (_StandIn,), {})
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            # e.g. torchvision missing: any nn.Module subclass restores its state
            if module.startswith("torchvision"):
                return type(name, (_StandIn,), {})
            raise


_STANDIN = _standin_models_module()
_pickle_module = types.ModuleType("convert_sat_pickle")
_pickle_module.Unpickler = _Unpickler
_pickle_module.load = lambda f, **kw: _Unpickler(f, **kw).load()
_pickle_module.__dict__["loads"] = pickle.loads


def load_checkpoint(path):
    saved = sys.modules.get("models")
    sys.modules["models"] = _STANDIN
    try:
        return torch.load(path, map_location="cpu", pickle_module=_pickle_module)
    finally:
        if saved is None:
            del sys.modules["models"]
        else:
            sys.modules["models"] = saved


def _state_dict(obj, what):
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        return obj
    raise SystemExit("convert_sat: checkpoint entry %r is neither a module nor a state_dict" % what)


def split_checkpoint(ck):
    """-> (encoder_state or None, decoder_state)."""
    if isinstance(ck, dict) and "decoder" in ck:
        dec = _state_dict(ck["decoder"], "decoder")
        enc = _state_dict(ck["encoder"], "encoder") if ck.get("encoder") is not None else None
        return enc, dec
    if isinstance(ck, nn.Module):
        raise SystemExit("convert_sat: checkpoint is a single module; expected a dict with 'decoder'")
    if isinstance(ck, dict):
        dec = {k[8:]: v for k, v in ck.items() if k.startswith("decoder.")}
        enc = {k[8:]: v for k, v in ck.items() if k.startswith("encoder.")}
        if dec:
            return (enc or None), dec
    raise SystemExit("convert_sat: no decoder found in the checkpoint")


# ------------------------------------------------------------------ names and config
DECODER_NAMES = [
    "attention.encoder_att.weight", "attention.encoder_att.bias",
    "attention.decoder_att.weight", "attention.decoder_att.bias",
    "attention.full_att.weight", "attention.full_att.bias",
    "embedding.weight",
    "decode_step.weight_ih", "decode_step.weight_hh", "decode_step.bias_ih", "decode_step.bias_hh",
    "init_h.weight", "init_h.bias", "init_c.weight", "init_c.bias",
    "f_beta.weight", "f_beta.bias",
    "fc.weight", "fc.bias",
]
SEQ_TO_TV = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
ARCHS = {
    (False, (2, 2, 2, 2)): "resnet18",
    (False, (3, 4, 6, 3)): "resnet34",
    (True, (3, 4, 6, 3)): "resnet50",
    (True, (3, 4, 23, 3)): "resnet101",
    (True, (3, 8, 36, 3)): "resnet152",
}


def rename_encoder(enc):
    out = collections.OrderedDict()
    for k, v in enc.items():
        if k.endswith("num_batches_tracked"):
            continue
        parts = k.split(".")
        if parts[0] == "resnet" and len(parts) > 2 and parts[1] in SEQ_TO_TV:
            out[".".join([SEQ_TO_TV[parts[1]]] + parts[2:])] = v
        elif parts[0] == "resnet":
            raise SystemExit("convert_sat: unexpected encoder tensor %s" % k)
        elif parts[0] in ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4"):
            out[k] = v  # already torchvision names
        else:
            raise SystemExit("convert_sat: unexpected encoder tensor %s" % k)
    return out


def infer_arch(tv):
    counts = []
    for i in range(1, 5):
        blocks = {int(k.split(".")[1]) for k in tv if k.startswith("layer%d." % i)}
        if not blocks or blocks != set(range(len(blocks))):
            raise SystemExit("convert_sat: encoder layer%d blocks missing or not contiguous" % i)
        counts.append(len(blocks))
    bottleneck = "layer1.0.conv3.weight" in tv
    arch = ARCHS.get((bottleneck, tuple(counts)))
    if arch is None:
        raise SystemExit("convert_sat: unknown ResNet layout %s (bottleneck %s)" % (counts, bottleneck))
    return arch


def fold_bn(tv, eps=1e-5):
    """torchvision-named encoder tensors -> BN folded into the convs."""
    out = collections.OrderedDict()
    pairs = {}
    for k in tv:
        if not k.endswith(".weight") or tv[k].dim() != 4:
            continue
        conv = k[:-len(".weight")]
        if conv == "conv1":
            bn = "bn1"
        elif conv.endswith("downsample.0"):
            bn = conv[:-1] + "1"
        else:
            bn = conv[:-len("convN")] + "bn" + conv[-1]
        pairs[conv] = bn
    bns = set(pairs.values())
    for k, v in tv.items():
        if k.rsplit(".", 1)[0] in bns:
            continue
        if k.endswith(".weight") and k[:-len(".weight")] in pairs:
            conv = k[:-len(".weight")]
            bn = pairs[conv]
            g, b = tv[bn + ".weight"].double(), tv[bn + ".bias"].double()
            mu, var = tv[bn + ".running_mean"].double(), tv[bn + ".running_var"].double()
            scale = g / torch.sqrt(var + eps)
            out[conv + ".weight"] = (v.double() * scale.view(-1, 1, 1, 1)).float()
            out[conv + ".bias"] = (b - mu * scale).float()
        else:
            out[k] = v
    return out


def to_np(t):
    return np.ascontiguousarray(t.detach().cpu().float().numpy())


def convert(ckpt_path, wordmap_path, out_path, grid=None, image_size=256, attention="relu",
            with_encoder=True, dropout=0.5, fold=False):
    st_numpy = _load_st_numpy()
    ck = load_checkpoint(ckpt_path)
    enc, dec = split_checkpoint(ck)
    if grid is None:  # the tutorial's Encoder keeps encoded_image_size as enc_image_size
        grid = getattr(ck.get("encoder") if isinstance(ck, dict) else None, "enc_image_size", 14)
        grid = int(grid[0] if isinstance(grid, (tuple, list)) else grid)
    with open(wordmap_path, "r", encoding="utf-8") as f:
        word_map = json.load(f)
    for tok in ("<pad>", "<unk>", "<start>", "<end>"):
        if tok not in word_map:
            raise SystemExit("convert_sat: word map lacks %s" % tok)
    missing = [n for n in DECODER_NAMES if n not in dec and not n.startswith("f_beta")]
    if missing:
        raise SystemExit("convert_sat: decoder lacks %s" % ", ".join(missing))
    A, E = dec["attention.encoder_att.weight"].shape
    V, M = dec["embedding.weight"].shape
    H = dec["decode_step.weight_hh"].shape[1]
    if "f_beta.weight" in dec:
        gate = "scalar" if dec["f_beta.weight"].shape[0] == 1 else "vector"
    else:
        gate = "none"
    if V != len(word_map):
        raise SystemExit("convert_sat: decoder vocabulary %d != word map size %d" % (V, len(word_map)))
    tensors = collections.OrderedDict()
    for n in DECODER_NAMES:
        if n in dec:
            tensors["decoder." + n] = to_np(dec[n])
    extra = set(dec) - set(DECODER_NAMES)
    if extra:
        raise SystemExit("convert_sat: unexpected decoder tensors %s" % sorted(extra))
    config = {"model": "show_attend_tell", "encoder": "features", "encoder_arch": "", "grid": grid,
              "image_size": image_size, "encoder_dim": int(E), "attention_dim": int(A),
              "embed_dim": int(M), "decoder_dim": int(H), "vocab_size": int(V),
              "attention": attention, "gate": gate, "dropout": dropout}
    if with_encoder and enc:
        tv = rename_encoder(enc)
        arch = infer_arch(tv)
        feat = tv["layer4.%d.%s.weight" % (max(int(k.split(".")[1]) for k in tv if k.startswith("layer4.")),
                                           "conv3" if "layer1.0.conv3.weight" in tv else "conv2")].shape[0]
        if feat != E:
            raise SystemExit("convert_sat: encoder gives %d channels, decoder expects %d" % (feat, E))
        config["encoder"] = "resnet"
        config["encoder_arch"] = arch
        if fold:
            tv = fold_bn(tv)
            config["encoder_bn_folded"] = True
        for k, v in tv.items():
            tensors["encoder." + k] = to_np(v)
    meta = {"saccade.kind": "captioner", "saccade.config": json.dumps(config), "saccade.vocab": json.dumps(word_map),
            "saccade.source": os.path.basename(ckpt_path)}
    tmp = out_path + ".tmp"
    st_numpy.save(tmp, tensors, metadata=meta)
    os.replace(tmp, out_path)
    return config


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("wordmap")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--grid", type=int, default=None,
                    help="encoded image size (default: the pickled Encoder's enc_image_size, else 14)")
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--attention", choices=["relu", "tanh"], default="relu")
    ap.add_argument("--no-encoder", action="store_true", help="write the decoder only (features model)")
    ap.add_argument("--fold-bn", action="store_true",
                    help="fold the encoder's BatchNorms into its convs (zero-copy loading)")
    a = ap.parse_args(argv)
    cfg = convert(a.checkpoint, a.wordmap, a.output, a.grid, a.image_size, a.attention,
                  not a.no_encoder, fold=a.fold_bn)
    print("wrote %s: %s" % (a.output, json.dumps(cfg)))


if __name__ == "__main__":
    main()

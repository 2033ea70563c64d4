#!/usr/bin/python3
"""Turn a Hugging Face model folder that has only PyTorch pickles into model.safetensors.

usage: convert_hf.py [--force] [--keep-all] DIR

DIR holds pytorch_model.bin, or shards listed by pytorch_model.bin.index.json
(as Salesforce/blip-image-captioning-base's main branch ships them). The result
is DIR/model.safetensors: every tensor of the state_dict under the same name,
dtype (F32, F16, BF16, integer, bool) and shape, C order, metadata
{"format": "pt"}; tensors that share storage (tied weights) are written once
each under every name. Buffers that are not weights are dropped: GPT-2's
causal-mask `attn.bias` / `attn.masked_bias`, and the same buffers of its
cross-attention (`crossattention.bias` / `crossattention.masked_bias`, in
ViT-GPT2 files such as nlpconnect/vit-gpt2-image-captioning's) (pass
--keep-all to keep them).

Loading uses torch.load(weights_only=True): no code from the pickle runs.
Works wherever PyTorch is installed (Debian: python3-torch).

Nothing is written unless the conversion succeeds: the file is written to a
temporary name in DIR and renamed into place. An existing model.safetensors is
an error unless --force. Exit status 0 ok, 1 error (message on stderr), 2 usage.
"""
import argparse
import json
import os
import re
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
import st_numpy  # noqa: E402

# torch dtype name -> (safetensors dtype, bytes per element)
ST_DTYPES = {
    "torch.float32": "F32", "torch.float16": "F16", "torch.bfloat16": "BF16", "torch.float64": "F64",
    "torch.int64": "I64", "torch.int32": "I32", "torch.int16": "I16", "torch.int8": "I8",
    "torch.uint8": "U8", "torch.bool": "BOOL",
}
DROPPED = re.compile(r"(^|\.)(attn|crossattention)\.(bias|masked_bias)$")


class ConvertError(Exception):
    pass


def _load_pickle(path):
    try:
        import torch
    except ImportError:
        raise ConvertError("PyTorch is needed to read %s (Debian: apt install python3-torch)" % path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt/unsafe pickles
        raise ConvertError("%s: cannot load as a PyTorch state_dict: %s" % (path, str(e).splitlines()[0] if str(e) else type(e).__name__))
    # a training checkpoint {"state_dict": {...}, "epoch": ...} rather than a state_dict
    if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise ConvertError("%s: holds a %s, not a state_dict" % (path, type(obj).__name__))
    for k, v in obj.items():
        if not isinstance(k, str):
            raise ConvertError("%s: key %r is not a string" % (path, k))
        if not isinstance(v, torch.Tensor):
            raise ConvertError("%s: entry %s is a %s, not a tensor" % (path, k, type(v).__name__))
    return obj


def load_state_dict(folder):
    """name -> tensor from pytorch_model.bin or its shard index."""
    single = os.path.join(folder, "pytorch_model.bin")
    index = os.path.join(folder, "pytorch_model.bin.index.json")
    if os.path.exists(single):
        return _load_pickle(single)
    if os.path.exists(index):
        try:
            with open(index, encoding="utf-8") as f:
                wm = json.load(f)["weight_map"]
            shards = sorted(set(wm.values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ConvertError("%s: not a shard index: %s" % (index, e))
        sd = {}
        for shard in shards:
            if not isinstance(shard, str) or os.path.basename(shard) != shard:
                raise ConvertError("%s: bad shard name %r" % (index, shard))
            part = _load_pickle(os.path.join(folder, shard))
            for k, v in part.items():
                if k in sd:
                    raise ConvertError("%s: tensor %s appears in two shards" % (index, k))
                sd[k] = v
        missing = [k for k in wm if k not in sd]
        if missing:
            raise ConvertError("%s: tensor %s listed but in no shard" % (index, missing[0]))
        return sd
    raise ConvertError("%s: no pytorch_model.bin (or pytorch_model.bin.index.json) to convert" % folder)


def to_numpy(t):
    """(C-order numpy array, safetensors dtype) of a CPU tensor; BF16 as uint16 bits."""
    import torch
    dtype = ST_DTYPES.get(str(t.dtype))
    if dtype is None:
        raise ConvertError("unsupported dtype %s" % t.dtype)
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16), dtype
    return t.numpy(), dtype


def write_safetensors(path, sd, metadata):
    """st_numpy's writer into a temporary file in the same folder, renamed into place."""
    arrays, dtypes = {}, {}
    for name in sorted(sd):
        try:
            arrays[name], dtypes[name] = to_numpy(sd[name])
        except ConvertError as e:
            raise ConvertError("tensor %s: %s" % (name, e))
    fd, tmp = tempfile.mkstemp(prefix=".model.safetensors.", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        st_numpy.save(tmp, arrays, metadata=metadata, dtypes=dtypes)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def convert(folder, force=False, keep_all=False):
    """Write folder/model.safetensors; returns (written path, dropped names)."""
    if not os.path.isdir(folder):
        raise ConvertError("%s: not a folder" % folder)
    out = os.path.join(folder, "model.safetensors")
    if os.path.exists(out) and not force:
        raise ConvertError("%s already exists (pass --force to replace it)" % out)
    sd = load_state_dict(folder)
    dropped = [] if keep_all else sorted(k for k in sd if DROPPED.search(k))
    sd = {k: v for k, v in sd.items() if k not in dropped}
    if not sd:
        raise ConvertError("%s: the state_dict has no tensors" % folder)
    try:
        write_safetensors(out, sd, {"format": "pt"})
    except OSError as e:
        raise ConvertError("%s: %s" % (out, e))
    return out, dropped


def main(argv=None):
    ap = argparse.ArgumentParser(prog="convert_hf.py",
                                 description="pytorch_model.bin -> model.safetensors, in place")
    ap.add_argument("dir")
    ap.add_argument("--force", action="store_true", help="replace an existing model.safetensors")
    ap.add_argument("--keep-all", action="store_true", help="keep the attention mask buffers")
    a = ap.parse_args(argv)
    try:
        out, dropped = convert(a.dir, a.force, a.keep_all)
    except ConvertError as e:
        print("convert_hf: %s" % e, file=sys.stderr)
        return 1
    msg = "convert_hf: wrote %s" % out
    if dropped:
        msg += " (dropped %d mask buffer(s) such as %s)" % (len(dropped), dropped[0])
    print(msg)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A tiny, strict safetensors reader/writer in pure numpy + json.

The `safetensors` package is not installed on the reference machine, so this
is the independent implementation saccade's tests compare against. It follows
https://github.com/huggingface/safetensors (format section of the README):

    u64 little-endian N | N bytes of UTF-8 JSON header | data buffer

As a module:
    tensors, metadata = load(path)            # dict name -> ndarray (header order)
    header, data = read_raw(path)             # parsed header dict, data bytes
    save(path, tensors, metadata=None, dtypes=None, align=8)

BF16 has no numpy dtype: load() returns BF16 tensors as uint16 bit patterns
(or float32 with bf16="float32"); save() writes a uint16 array as BF16 when
dtypes[name] == "BF16".

As a command:
    st_numpy.py info FILE             # header as JSON
    st_numpy.py to-npy FILE OUTDIR    # every tensor as OUTDIR/<name>.npy (float types as float32)
"""
import json
import struct
import sys

import numpy as np

MAX_HEADER = 100_000_000
DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
    "F8_E4M3": np.dtype("u1"),
    "F8_E5M2": np.dtype("u1"),
}
NUMPY_TO_ST = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    np.dtype("uint64"): "U64",
    np.dtype("uint32"): "U32",
    np.dtype("uint16"): "U16",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


class FormatError(ValueError):
    pass


def _no_dup_pairs(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise FormatError("duplicate key %r" % k)
        d[k] = v
    return d


def parse(buf):
    """Validate a whole file's bytes; return (header dict in order, data memoryview)."""
    buf = memoryview(buf)
    if len(buf) < 8:
        raise FormatError("file too short for the header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER:
        raise FormatError("header length %d over the limit" % n)
    if 8 + n > len(buf):
        raise FormatError("header length %d longer than the file" % n)
    text = bytes(buf[8 : 8 + n]).decode("utf-8")
    if not text.startswith("{"):
        raise FormatError("header must start with '{'")
    header = json.loads(text, object_pairs_hook=_no_dup_pairs)
    data = buf[8 + n :]
    meta = header.get("__metadata__")
    if meta is not None:
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise FormatError("__metadata__ must map strings to strings")
    spans = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or info.get("dtype") not in DTYPES:
            raise FormatError("tensor %r: bad entry or dtype" % name)
        shape, off = info.get("shape"), info.get("data_offsets")
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise FormatError("tensor %r: bad shape" % name)
        if not (isinstance(off, list) and len(off) == 2 and all(type(o) is int and o >= 0 for o in off)):
            raise FormatError("tensor %r: bad data_offsets" % name)
        nbytes = int(np.prod(shape, dtype=object)) * DTYPES[info["dtype"]].itemsize
        if off[1] - off[0] != nbytes:
            raise FormatError("tensor %r: size mismatch" % name)
        if off[1] > len(data):
            raise FormatError("tensor %r: offsets out of range" % name)
        spans.append((off[0], off[1], name))
    pos = 0
    for b, e, name in sorted(spans):
        if b != pos:
            raise FormatError("tensor %r: gap or overlap at %d" % (name, b))
        pos = e
    if pos != len(data):
        raise FormatError("data buffer not fully covered (%d of %d bytes)" % (pos, len(data)))
    return header, data


def read_raw(path):
    with open(path, "rb") as f:
        return parse(f.read())


def bf16_to_f32(bits):
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def load(path, bf16="bits"):
    """Return (dict name -> ndarray in header order, metadata dict)."""
    header, data = read_raw(path)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        a = np.frombuffer(bytes(data[b:e]), dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16" and bf16 == "float32":
            a = bf16_to_f32(a)
        out[name] = a
    return out, dict(header.get("__metadata__") or {})


def save(path, tensors, metadata=None, dtypes=None, align=8, pad_extra=0):
    """Write tensors (name -> ndarray, header and data in dict order).

    dtypes overrides the stored dtype name (e.g. {"w": "BF16"} for uint16 bits).
    The header is padded with spaces so the data starts at a multiple of
    `align`, plus `pad_extra` more spaces (to build unaligned test files)."""
    dtypes = dtypes or {}
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(metadata)
    blobs, pos = [], 0
    for name, a in tensors.items():
        a = np.asarray(a)  # (ascontiguousarray would turn 0-d into 1-d)
        st = dtypes.get(name) or NUMPY_TO_ST[a.dtype]
        raw = a.astype(DTYPES[st], copy=False).tobytes(order="C")
        header[name] = {"dtype": st, "shape": list(a.shape), "data_offsets": [pos, pos + len(raw)]}
        blobs.append(raw)
        pos += len(raw)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % align + pad_extra)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def main(argv):
    if len(argv) == 3 and argv[1] == "info":
        header, data = read_raw(argv[2])
        print(json.dumps(header, indent=1, ensure_ascii=False))
        return 0
    if len(argv) == 4 and argv[1] == "to-npy":
        import os

        tensors, _ = load(argv[2], bf16="float32")
        header, _ = read_raw(argv[2])
        for name, a in tensors.items():
            if header[name]["dtype"] in ("F64", "F16", "BF16"):
                a = a.astype(np.float32)
            np.save(os.path.join(argv[3], name + ".npy"), a)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

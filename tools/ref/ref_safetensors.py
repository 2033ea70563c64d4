#!/usr/bin/env python3
"""Reference files and checks for saccade's safetensors module.

  ref_safetensors.py gen OUTDIR    write OUTDIR/np.safetensors (numpy/torch-made,
                                   F32/F64/F16/BF16/I64/U8/BOOL, metadata),
                                   OUTDIR/padded.safetensors (extra header spaces,
                                   data unaligned) and the expected float32
                                   values as OUTDIR/exp_*.npy (torch's .float()).
  ref_safetensors.py check OUTDIR  read OUTDIR/ours.safetensors (written by the C
                                   test from OUTDIR/src.npy) with st_numpy and
                                   assert exact values, torch's own F16/BF16
                                   rounding, header order, alignment, metadata.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402

METADATA = {"format": "pt", "note": 'üñí "quoted" \\ back\nslash\ttab', "empty": ""}


def bits16(t):
    return t.view(torch.int16).numpy().view(np.uint16)


def gen(out):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    f32 = torch.randn(3, 5)
    specials = [65504.0, -65504.0, 6.103515625e-05, 5.960464477539063e-08, -0.0, 0.0,
                float("inf"), float("-inf"), 1e-6, 0.1]
    f16 = torch.cat([torch.randn(19) * 100, torch.tensor(specials)]).half()  # 29 values
    f64 = torch.randn(7, dtype=torch.float64) * 1e3
    bf16 = (torch.randn(2, 3, 4) * 1e3).bfloat16()
    scalar = torch.tensor(3.25)
    tensors = {
        "f32.matrix": f32.numpy(),                # offset 0 (aligned)
        "f16.vec": bits16(f16).view(np.float16),  # 58 bytes
        "f32.scalar": scalar.numpy(),             # offset 118: not 4-aligned
        "f64.vec": f64.numpy(),
        "bf16.cube": bits16(bf16),
        "i64.idx": np.array([-3, 0, 7, 1 << 40], dtype=np.int64),
        "u8.bytes": np.arange(5, dtype=np.uint8),
        "bool.flags": np.array([True, False, True]),
        "f32.empty": np.zeros((0, 4), dtype=np.float32),
    }
    st_numpy.save(os.path.join(out, "np.safetensors"), tensors, metadata=METADATA,
                  dtypes={"bf16.cube": "BF16"})
    np.save(os.path.join(out, "exp_f32_matrix.npy"), f32.numpy())
    np.save(os.path.join(out, "exp_f16_vec.npy"), f16.float().numpy())
    np.save(os.path.join(out, "exp_f64_vec.npy"), f64.float().numpy())
    np.save(os.path.join(out, "exp_bf16_cube.npy"), bf16.float().numpy())
    # 8 + N == 2 (mod 4): the only F32 tensor starts misaligned in memory.
    st_numpy.save(os.path.join(out, "padded.safetensors"), {"f32.matrix": f32.numpy()},
                  metadata={"k": "v"}, pad_extra=8 * 3 + 2)
    # Sanity: our own reader accepts what we wrote.
    st_numpy.load(os.path.join(out, "np.safetensors"))
    st_numpy.load(os.path.join(out, "padded.safetensors"))


def fail(msg):
    print("ref_safetensors check: " + msg, file=sys.stderr)
    sys.exit(1)


def same_bits16(what, got, want):
    """Exact bit equality, except that any NaN matches any NaN."""
    got = np.asarray(got, dtype=np.uint16).ravel()
    want = np.asarray(want, dtype=np.uint16).ravel()
    if got.shape != want.shape:
        fail("%s: %d values, expected %d" % (what, got.size, want.size))
    exp_mask = 0x7C00 if what == "F16" else 0x7F80
    man_mask = 0x03FF if what == "F16" else 0x007F

    def isnan(b):
        return ((b & exp_mask) == exp_mask) & ((b & man_mask) != 0)

    bad = (got != want) & ~(isnan(got) & isnan(want))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        fail("%s: %d of %d values differ from torch; first [%d] got 0x%04x expected 0x%04x"
             % (what, int(bad.sum()), got.size, i, got[i], want[i]))


def check(out):
    path = os.path.join(out, "ours.safetensors")
    src = np.load(os.path.join(out, "src.npy")).astype(np.float32).ravel()
    try:
        header, data = st_numpy.read_raw(path)
        tensors, meta = st_numpy.load(path)
    except Exception as e:  # noqa: BLE001
        fail("st_numpy rejects our file: %s" % e)
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
    if (8 + n) % 8:
        fail("data buffer starts at %d, not 8-byte aligned" % (8 + n))
    keys = list(header.keys())
    want_keys = ["__metadata__", "w.f32", "w.f16", "w.bf16", "idx", "scalar", "empty"]
    if keys != want_keys:
        fail("header order %s, expected %s" % (keys, want_keys))
    for name, info in header.items():
        if name != "__metadata__":
            size = st_numpy.DTYPES[info["dtype"]].itemsize
            if info["data_offsets"][0] % size:
                fail("%s starts at %d, not aligned to %d" % (name, info["data_offsets"][0], size))
    if meta != METADATA:
        fail("metadata %r, expected %r" % (meta, METADATA))
    want_dt = {"w.f32": "F32", "w.f16": "F16", "w.bf16": "BF16", "idx": "I64", "scalar": "F32",
               "empty": "F32"}
    for k, v in want_dt.items():
        if header[k]["dtype"] != v:
            fail("%s has dtype %s, expected %s" % (k, header[k]["dtype"], v))
    rows = src.size // 8
    for k in ("w.f32", "w.f16", "w.bf16"):
        if list(tensors[k].shape) != [rows, 8]:
            fail("%s has shape %s, expected [%d, 8]" % (k, tensors[k].shape, rows))
    if not np.array_equal(tensors["w.f32"].ravel().view(np.uint32), src.view(np.uint32)):
        fail("F32 values are not bit-exact")
    t = torch.from_numpy(src.copy())
    same_bits16("F16", tensors["w.f16"].view(np.uint16), bits16(t.half()))
    same_bits16("BF16", tensors["w.bf16"], bits16(t.bfloat16()))
    if tensors["idx"].tolist() != [-1, 0, 5, 1 << 40] or tensors["idx"].dtype != np.int64:
        fail("idx is %r" % tensors["idx"])
    if tensors["scalar"].shape != () or float(tensors["scalar"]) != 2.5:
        fail("scalar is %r" % tensors["scalar"])
    if tensors["empty"].shape != (0, 3):
        fail("empty has shape %s" % (tensors["empty"].shape,))
    print("ref_safetensors check: ok (%d values)" % src.size)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("gen", "check"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    {"gen": gen, "check": check}[sys.argv[1]](sys.argv[2])

"""Inspecting and reading .safetensors model files."""
import ctypes
import json
from collections import namedtuple

import numpy as np

from . import _lib
from ._lib import lib, check
from ._handle import Handle

TensorInfo = namedtuple("TensorInfo", "name dtype shape nbytes")

_RAW = {"I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4",
        "U16": "<u2", "U8": "u1", "BOOL": "?"}
_FLOAT = ("F64", "F32", "F16", "BF16")


class SafeTensors(Handle):
    """A memory-mapped, validated .safetensors file.

        with saccade.SafeTensors("model.safetensors") as st:
            st.metadata["saccade.config"]     # str
            st.config                         # parsed saccade.config (or None)
            st.info("decoder.fc.weight")      # TensorInfo(name, dtype, shape, nbytes)
            w = st["decoder.fc.weight"]       # numpy copy (floats as float32)

    Iteration yields tensor names in header order; len() is the tensor count."""
    _free = staticmethod(lib.sc_safetensors_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_safetensors_open(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        n = lib.sc_safetensors_count(self._h)
        self._infos = []
        for i in range(n):
            ti = _lib.StTensorInfo()
            check(lib.sc_safetensors_info(self._h, i, ctypes.byref(ti)))
            shape = tuple(ti.shape[k] for k in range(ti.ndim))
            self._infos.append(TensorInfo(ti.name.decode(), ti.dtype.decode(), shape,
                                          int(ti.nbytes)))
        self._index = {t.name: i for i, t in enumerate(self._infos)}
        md = {}
        k, v = ctypes.c_char_p(), ctypes.c_char_p()
        for i in range(lib.sc_safetensors_metadata_count(self._h)):
            check(lib.sc_safetensors_metadata_at(self._h, i, ctypes.byref(k), ctypes.byref(v)))
            md[k.value.decode()] = v.value.decode()
        self.metadata = md

    @property
    def config(self):
        c = self.metadata.get("saccade.config")
        return json.loads(c) if c is not None else None

    @property
    def tensors(self):
        """List of TensorInfo in header order."""
        return list(self._infos)

    def keys(self):
        return [t.name for t in self._infos]

    def __len__(self):
        return len(self._infos)

    def __iter__(self):
        return iter(self.keys())

    def __contains__(self, name):
        return name in self._index

    def info(self, name):
        if name not in self._index:
            raise KeyError(name)
        return self._infos[self._index[name]]

    def __getitem__(self, name):
        if name not in self._index:
            raise KeyError(name)
        i = self._index[name]
        t = self._infos[i]
        with self._lock:
            h = self._ptr()
            if t.dtype in _FLOAT:
                p = _lib.c_float_p()
                check(lib.sc_safetensors_get_f32_at(h, i, ctypes.byref(p)))
                n = int(np.prod(t.shape, dtype=np.int64))
                return _lib.copy_out(p, n).reshape(t.shape)
            if t.dtype not in _RAW:
                raise _lib.Error(6, "%s: tensor %s has dtype %s, which saccade cannot convert"
                                 % (self.path, name, t.dtype))
            ti = _lib.StTensorInfo()
            check(lib.sc_safetensors_info(h, i, ctypes.byref(ti)))
            raw = ctypes.string_at(ti.data, ti.nbytes) if ti.nbytes else b""
            return np.frombuffer(raw, dtype=_RAW[t.dtype]).reshape(t.shape).copy()

    def __repr__(self):
        return "SafeTensors(%r, %d tensors)" % (self.path, len(self._infos))


def inspect(path):
    """dict(tensors=[TensorInfo...], metadata={...}, config=parsed saccade.config or None)."""
    with SafeTensors(path) as st:
        return {"tensors": st.tensors, "metadata": dict(st.metadata), "config": st.config}


def load_file(path):
    """Every tensor of a file as a dict of numpy arrays (floats as float32)."""
    with SafeTensors(path) as st:
        return {k: st[k] for k in st}

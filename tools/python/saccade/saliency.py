"""Bottom-up saliency maps (numpy in, numpy out)."""
import ctypes

from . import _lib
from ._lib import lib, check


def _table():
    """The library's bottom-up methods (sc_saliency.h), in its order:
    name -> (takes parameters, summary)."""
    rows = {}
    for i in range(lib.sc_saliency_method_count()):
        if lib.sc_saliency_method_needs_model(i) == 0:
            rows[lib.sc_saliency_method_name(i).decode()] = (
                lib.sc_saliency_method_takes_params(i) == 1,
                lib.sc_saliency_method_summary(i).decode())
    return rows


_TABLE = _table()
METHODS = tuple(_TABLE)


def saliency(image, method="spectral", layout="hwc", work_width=None, sigma=None,
             full_size=True):
    """Saliency map of an image, (H, W) float32 in [0, 1].

    image: (H, W) gray or (H, W, 3|4) RGB(A) (layout="chw": (C, H, W)), float in
    [0, 1] or uint8/uint16. method: one of METHODS, the library's bottom-up
    methods under the CLI's names (listed below). work_width / sigma /
    full_size apply to the methods that take parameters (defaults 64, 8.0,
    True; full_size=False returns the working-size map).

    Methods:
"""
    if method not in METHODS:
        raise ValueError("method must be one of %s, not %r" % (", ".join(METHODS), method))
    tuned = work_width is not None or sigma is not None or not full_size
    if tuned and not _TABLE[method][0]:
        tunable = " and ".join(repr(m) for m in METHODS if _TABLE[m][0])
        raise ValueError("work_width / sigma / full_size apply to %s only" % tunable)
    p = lib.sc_saliency_default_params()
    if work_width is not None:
        p.work_width = _lib.int_arg("work_width", work_width, 1, 1 << 20)
    if sigma is not None:
        p.sigma = float(sigma)
    p.full_size = 1 if full_size else 0
    m = ctypes.c_int()
    check(lib.sc_saliency_method_from_name(_lib.text_arg("method", method), ctypes.byref(m)))
    img, keep = _lib.image_in(image, layout, "image")
    out = _lib.Map()
    st = lib.sc_saliency_compute(m.value, ctypes.byref(img), ctypes.byref(p), ctypes.byref(out))
    del keep
    check(st)
    return _lib.map_out(out)


saliency.__doc__ += "".join("      %-12s %s%s\n" % (name, summary, " (takes parameters)" if tunable else "")
                            for name, (tunable, summary) in _TABLE.items())

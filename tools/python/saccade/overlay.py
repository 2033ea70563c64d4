"""Colormaps and heat-map overlays."""
import ctypes

import numpy as np

from . import _lib
from ._lib import lib, check

COLORMAPS = ("viridis", "inferno", "magma", "jet", "gray")


def _cmap_id(name):
    if not isinstance(name, str):
        raise ValueError("colormap must be a name (%s)" % ", ".join(COLORMAPS))
    cm = ctypes.c_int()
    st = lib.sc_colormap_from_name(_lib.text_arg("colormap", name), ctypes.byref(cm))
    if st:
        raise ValueError(_lib.last_error())
    return cm.value


def colormap(name="viridis"):
    """The colormap's 256 RGB entries in [0, 1] as a (256, 3) float32 array."""
    t = lib.sc_colormap_table(_cmap_id(name))
    if not t:
        check(1)
    return _lib.copy_out(t, 256 * 3).reshape(256, 3)


def _params(colormap, alpha, range, smooth):
    p = lib.sc_heatmap_default_params()
    p.colormap = _cmap_id(colormap)
    a = float(alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError("alpha must be in [0, 1], not %r" % (alpha,))
    p.alpha = a
    if range is not None:
        try:
            lo, hi = (float(v) for v in range)
        except (TypeError, ValueError):
            raise ValueError("range must be a (lo, hi) pair of numbers") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ValueError("range must have finite lo < hi, got %r" % (range,))
        p.norm, p.lo, p.hi = 1, lo, hi
    s = float(smooth)
    if not 0.0 <= s <= 1000.0:
        raise ValueError("smooth must be a Gaussian sigma in [0, 1000]")
    p.smooth_sigma = s
    return p


def overlay(image, heatmap, colormap="viridis", alpha=0.5, range=None, smooth=0.0, layout="hwc"):
    """Blend a heat map onto an image: (1 - alpha) * image + alpha * colormap(map).

    image: (H, W), (H, W, 3|4) (or CHW with layout="chw"), float [0, 1] or uint8.
    heatmap: 2-D map of any size, upsampled bilinearly (PyTorch
    align_corners=False) to the image size, optionally smoothed (`smooth` =
    Gaussian sigma in output pixels), normalised min-max or with range=(lo, hi).
    Returns float32 RGB of the image's size in `layout`. Same pixels as
    `saccade overlay IMAGE MAP.npy` (see to_uint8)."""
    p = _params(colormap, alpha, range, smooth)
    img, ki = _lib.image_in(image, layout, "image")
    m, km = _lib.map_in(heatmap, "heatmap")
    out = _lib.Image()
    st = lib.sc_overlay_heatmap(ctypes.byref(img), ctypes.byref(m), ctypes.byref(p),
                                ctypes.byref(out))
    del ki, km
    check(st)
    return _lib.image_out(out, layout)


def colorize(heatmap, colormap="viridis", range=None, layout="hwc"):
    """A 2-D map through a colormap (min-max, or range=(lo, hi)): RGB float32."""
    p = _params(colormap, 1.0, range, 0.0)
    m, km = _lib.map_in(heatmap, "heatmap")
    out = _lib.Image()
    st = lib.sc_map_colorize(ctypes.byref(m), ctypes.byref(p), ctypes.byref(out))
    del km
    check(st)
    return _lib.image_out(out, layout)


def resize_map(heatmap, width, height):
    """Bilinear resize of a 2-D map (PyTorch align_corners=False), float32."""
    width = _lib.int_arg("width", width, 1, 2 ** 31 - 1)
    height = _lib.int_arg("height", height, 1, 2 ** 31 - 1)
    m, km = _lib.map_in(heatmap, "heatmap")
    out = _lib.Map()
    st = lib.sc_map_resize_bilinear(ctypes.byref(m), width, height, ctypes.byref(out))
    del km
    check(st)
    return _lib.map_out(out)

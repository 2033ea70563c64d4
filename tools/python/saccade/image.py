"""Image loading, saving and resizing (numpy float32 in [0, 1])."""
import ctypes
import os

import numpy as np

from . import _lib
from ._lib import lib, check

_FILTERS = {"default": 0, "box": 1, "triangle": 2, "bilinear": 2, "cubicbspline": 3,
            "catmullrom": 4, "mitchell": 5}


def _params(alpha, background, exif, max_pixels, max_file_bytes):
    p = lib.sc_image_load_default_params()
    p.keep_alpha = 1 if alpha else 0
    bg = np.asarray(background, dtype=np.float64).ravel()
    if bg.size == 1:
        bg = np.repeat(bg, 3)
    if bg.size != 3 or not np.all(np.isfinite(bg)):
        raise ValueError("background must be a gray value or an (r, g, b) triple in [0, 1]")
    for i in range(3):
        p.background[i] = float(bg[i])
    p.apply_exif_orientation = 1 if exif else 0
    if max_pixels is not None:
        p.max_pixels = _lib.int_arg("max_pixels", max_pixels, 1, 2 ** 64 - 1)
    if max_file_bytes is not None:
        p.max_file_bytes = _lib.int_arg("max_file_bytes", max_file_bytes, 1,
                                        2 ** (8 * ctypes.sizeof(ctypes.c_size_t)) - 1)
    return p


def _info_dict(info):
    return {"format": info.format.decode(), "width": info.w, "height": info.h,
            "channels": info.channels, "bit_depth": info.bit_depth,
            "orientation": info.orientation}


def load_image(source, layout="hwc", alpha=False, background=(0.0, 0.0, 0.0), exif=True,
               max_pixels=None, max_file_bytes=None, return_info=False):
    """Decode an image file (PNG, JPEG, BMP, GIF, TGA, PSD, HDR, PNM).

    source: a path (str or os.PathLike) or the encoded file itself as bytes,
    bytearray or memoryview.
    Returns float32 RGB in [0, 1]: (H, W, 3) for layout="hwc" (default),
    (3, H, W) for "chw". alpha=True keeps RGBA (4 channels); otherwise alpha is
    composited over `background`. Gray files come back as RGB. EXIF
    orientation is applied unless exif=False. return_info=True also returns a
    dict (format, width, height, channels, bit_depth, orientation) of the file.
    Raises saccade.Error (message names the file) for missing, corrupt,
    truncated or oversize files."""
    if layout not in ("hwc", "chw"):
        raise ValueError("layout must be 'hwc' or 'chw', not %r" % (layout,))
    p = _params(alpha, background, exif, max_pixels, max_file_bytes)
    img, info = _lib.Image(), _lib.ImageInfo()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise ValueError("load_image: empty buffer")
        check(lib.sc_image_load_memory(data, len(data), ctypes.byref(p), ctypes.byref(img),
                                       ctypes.byref(info)))
    else:
        check(lib.sc_image_load(_lib.fspath(source), ctypes.byref(p), ctypes.byref(img),
                                ctypes.byref(info)))
    a = _lib.image_out(img, layout)
    return (a, _info_dict(info)) if return_info else a


def probe_image(path):
    """Read only the header: dict(format, width, height, channels, bit_depth, orientation)."""
    info = _lib.ImageInfo()
    check(lib.sc_image_probe(_lib.fspath(path), ctypes.byref(info)))
    return _info_dict(info)


def save_image(path, image, layout="hwc", quality=None, bits=8):
    """Write an image atomically; the format follows the extension (.png, .jpg/.jpeg).

    image: (H, W), (H, W, 1|3|4) (or CHW with layout="chw"), float in [0, 1]
    (clamped, rounded) or uint8/uint16. quality: JPEG quality 1..100 (default
    the library's). bits=16 writes a 16-bit PNG."""
    img, keep = _lib.image_in(image, layout, "image")
    p = _lib.fspath(path)
    ext = os.path.splitext(os.fsdecode(p))[1].lower()
    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    if bits == 16:
        if ext != ".png":
            raise ValueError("bits=16 needs a .png path")
        check(lib.sc_image_save_png16(ctypes.byref(img), p))
    elif quality is not None:
        if ext not in (".jpg", ".jpeg"):
            raise ValueError("quality is for .jpg/.jpeg paths")
        quality = _lib.int_arg("quality", quality, 1, 100)
        check(lib.sc_image_save_jpeg(ctypes.byref(img), p, quality))
    else:
        check(lib.sc_image_save(ctypes.byref(img), p))
    del keep


def resize_image(image, width, height, filter="default", layout="hwc"):
    """Resize with stb's filters: "default" (Mitchell down / Catmull-Rom up),
    "box", "triangle" (= "bilinear", antialiased when shrinking),
    "cubicbspline", "catmullrom", "mitchell". Returns float32 of the same layout."""
    if filter not in _FILTERS:
        raise ValueError("filter must be one of %s" % ", ".join(sorted(_FILTERS)))
    width = _lib.int_arg("width", width, 1, 2 ** 31 - 1)
    height = _lib.int_arg("height", height, 1, 2 ** 31 - 1)
    img, keep = _lib.image_in(image, layout, "image")
    out = _lib.Image()
    check(lib.sc_image_resize(ctypes.byref(img), width, height, _FILTERS[filter],
                              ctypes.byref(out)))
    del keep
    a = _lib.image_out(out, layout)
    return a[..., 0] if (layout == "hwc" and np.ndim(image) == 2) else a


def to_uint8(image):
    """float [0, 1] -> uint8 exactly as the library's writers quantise (clamp, x*255 + 0.5, floor)."""
    a = np.asarray(image, dtype=np.float32)
    a = np.nan_to_num(a, nan=0.0)
    return (np.clip(a, 0, 1) * np.float32(255) + np.float32(0.5)).astype(np.uint8)

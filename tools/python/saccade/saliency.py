"""Bottom-up saliency maps (numpy in, numpy out)."""
import ctypes

from . import _lib
from ._lib import lib, check

METHODS = ("spectral", "spectral-hz", "pqft", "finegrained")


def saliency(image, method="spectral", layout="hwc", work_width=None, sigma=None,
             full_size=True):
    """Saliency map of an image, (H, W) float32 in [0, 1].

    image: (H, W) gray or (H, W, 3|4) RGB(A) (layout="chw": (C, H, W)), float in
    [0, 1] or uint8/uint16. method (the CLI's names):
      "spectral"     spectral residual exactly as OpenCV's
                     cv2.saliency.StaticSaliencySpectralResidual (64x64 work size)
      "spectral-hz"  Hou & Zhang's own version (gray, INTER_AREA, min-max)
      "pqft"         phase spectrum of the quaternion Fourier transform (Guo et al.)
      "finegrained"  OpenCV's StaticSaliencyFineGrained (Montabone & Soto)
    work_width / sigma / full_size apply to "spectral-hz" and "pqft" (defaults
    64, 8.0, True; full_size=False returns the working-size map)."""
    if method not in METHODS:
        raise ValueError("method must be one of %s, not %r" % (", ".join(METHODS), method))
    tuned = work_width is not None or sigma is not None or not full_size
    if tuned and method not in ("spectral-hz", "pqft"):
        raise ValueError("work_width / sigma / full_size apply to 'spectral-hz' and 'pqft' only")
    p = lib.sc_saliency_default_params()
    if work_width is not None:
        if not 1 <= int(work_width) <= 1 << 20:
            raise ValueError("work_width must be a positive integer")
        p.work_width = int(work_width)
    if sigma is not None:
        p.sigma = float(sigma)
    p.full_size = 1 if full_size else 0
    img, keep = _lib.image_in(image, layout, "image")
    out = _lib.Map()
    if method == "spectral":
        st = lib.sc_saliency_sr_opencv(ctypes.byref(img), ctypes.byref(out))
    elif method == "spectral-hz":
        st = lib.sc_saliency_sr(ctypes.byref(img), ctypes.byref(p), ctypes.byref(out))
    elif method == "pqft":
        st = lib.sc_saliency_pqft(ctypes.byref(img), ctypes.byref(p), ctypes.byref(out))
    else:
        st = lib.sc_saliency_finegrained(ctypes.byref(img), ctypes.byref(out))
    del keep
    check(st)
    return _lib.map_out(out)

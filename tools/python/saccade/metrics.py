"""Saliency benchmark metrics as the MIT saliency benchmark defines them
(cvzoya/saliency code_forMetrics), computed in double by libsaccade.

Maps are 2-D arrays of the same shape (resize first). A fixation map marks
fixated pixels with non-zero values. NaN is returned exactly where the MIT
code yields NaN (no fixations, constant maps)."""
import ctypes

from . import _lib
from ._lib import lib, check


def _pair(sal, other, what):
    a, ka = _lib.map_in(sal, "saliency map")
    b, kb = _lib.map_in(other, what, shape=ka.shape)
    return a, b, (ka, kb)


def _run(fn, sal, other, what, *extra):
    a, b, keep = _pair(sal, other, what)
    out = ctypes.c_double()
    check(fn(ctypes.byref(a), ctypes.byref(b), *extra, ctypes.byref(out)))
    del keep
    return out.value


def auc_judd(sal, fixations, jitter=False, seed=0):
    """AUC-Judd. jitter=True adds uniform [0, 1e-7) noise (MATLAB's default) from `seed`."""
    return _run(lib.sc_saliency_auc_judd, sal, fixations, "fixation map", 1 if jitter else 0,
                _lib.int_arg("seed", seed, -2 ** 63, 2 ** 64 - 1) & (2 ** 64 - 1))


def nss(sal, fixations):
    """Normalized scanpath saliency: mean z-score (std with N - 1) at fixated pixels."""
    return _run(lib.sc_saliency_nss, sal, fixations, "fixation map")


def cc(sal, gt):
    """Pearson correlation between two maps."""
    return _run(lib.sc_saliency_cc, sal, gt, "ground-truth map")


def sim(sal, gt):
    """Similarity (histogram intersection of the min-max normalised, sum-1 maps)."""
    return _run(lib.sc_saliency_sim, sal, gt, "ground-truth map")


def kld(sal, gt):
    """KL divergence of gt from sal (both sum-normalised, MATLAB eps)."""
    return _run(lib.sc_saliency_kld, sal, gt, "ground-truth map")


def all_metrics(sal, fixations, gt):
    """dict with auc_judd, nss (on fixations) and cc, sim, kld (on the density map gt)."""
    return {"auc_judd": auc_judd(sal, fixations), "nss": nss(sal, fixations), "cc": cc(sal, gt),
            "sim": sim(sal, gt), "kld": kld(sal, gt)}

#!/usr/bin/env python3
"""Reference outputs for saccade's saliency module (tests/parity/test_saliency_parity.c).

Usage: ref_saliency.py OUTDIR

- Real photos from skimage's data folder, read with cv2 (BGR, 8-bit): the
  image is saved as float32 CHW RGB in [0, 1] (<name>_rgb.npy), with OpenCV's
  spectral-residual map (<name>_sr.npy, float32) and fine-grained map
  (<name>_fg.npy, OpenCV's 8-bit map / 255).
- cv2.resize parity cases on seeded random planes (INTER_LINEAR 8U and 32F,
  INTER_AREA 32F shrinking): rs_<k>_src.npy / rs_<k>_dst.npy / rs_<k>_meta.npy.
- Saliency metrics written from the published formulas (MIT saliency
  benchmark, cvzoya/saliency code_forMetrics) in numpy float64 on seeded maps:
  met_<k>_sal.npy, met_<k>_fix.npy, met_<k>_gt.npy and met_<k>_scores.npy =
  [AUC-Judd (no jitter), NSS, CC, SIM, KLD].
"""
import os
import sys

import cv2
import numpy as np
import skimage

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
cv2.setNumThreads(1)
rng = np.random.default_rng(1234)
DATA = os.path.join(os.path.dirname(skimage.__file__), "data")
PHOTOS = ["astronaut", "coffee", "chelsea", "camera"]


def save(name, a):
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(np.asarray(a, dtype=np.float32)))


# ---- photos and OpenCV saliency --------------------------------------------
for name in PHOTOS:
    bgr = cv2.imread(os.path.join(DATA, name + ".png"), cv2.IMREAD_COLOR)
    assert bgr is not None, name
    rgb = bgr[:, :, ::-1].astype(np.float32) / 255.0
    save(name + "_rgb", rgb.transpose(2, 0, 1))
    ok, sr = cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(bgr)
    assert ok
    save(name + "_sr", sr)
    ok, fg = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(bgr)
    assert ok
    if fg.dtype == np.uint8:  # the Python binding of 4.6 already returns k / 255 as float32
        fg = fg.astype(np.float32) / 255.0
    save(name + "_fg", fg)

# ---- cv2.resize cases: (kind 0 = linear u8, 1 = linear f32, 2 = area f32) --
cases = [
    (0, 37, 23, 64, 64), (0, 200, 150, 64, 64), (0, 512, 512, 64, 64), (0, 128, 128, 64, 64),
    (0, 30, 20, 71, 45), (1, 64, 64, 451, 300), (1, 64, 64, 37, 23), (1, 40, 30, 20, 15),
    (1, 17, 9, 100, 7), (2, 451, 300, 64, 43), (2, 100, 80, 64, 64), (2, 90, 60, 30, 20),
    (2, 33, 17, 33, 5),
]
for k, (kind, sw, sh, dw, dh) in enumerate(cases):
    src = rng.integers(0, 256, size=(sh, sw)).astype(np.uint8)
    if kind == 0:
        dst = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)
    else:
        srcf = (src.astype(np.float32) / 255.0 + rng.standard_normal((sh, sw)).astype(np.float32) * 0.1)
        src = srcf
        interp = cv2.INTER_LINEAR if kind == 1 else cv2.INTER_AREA
        dst = cv2.resize(srcf, (dw, dh), interpolation=interp)
    save("rs_%d_src" % k, src)
    save("rs_%d_dst" % k, dst)
    save("rs_%d_meta" % k, np.array([kind, sw, sh, dw, dh]))
save("rs_count", np.array([len(cases)]))


# ---- metrics from the published formulas ----------------------------------
def auc_judd(s, f):
    s = (s - s.min()) / (s.max() - s.min())
    S = s.ravel()
    F = f.ravel()
    Sth = S[F > 0]
    nf, npx = len(Sth), len(S)
    th = np.sort(Sth)[::-1]
    tp = np.zeros(nf + 2)
    fp = np.zeros(nf + 2)
    tp[-1] = fp[-1] = 1
    for i in range(1, nf + 1):
        above = np.sum(S >= th[i - 1])
        tp[i] = i / nf
        fp[i] = (above - i) / (npx - nf)
    return np.trapz(tp, fp)


def nss(s, f):
    m = (s - s.mean()) / s.std(ddof=1)
    return m[f != 0].mean()


def cc(a, b):
    a = (a - a.mean()) / a.std(ddof=1)
    b = (b - b.mean()) / b.std(ddof=1)
    a = a - a.mean()
    b = b - b.mean()
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())


def sim(a, b):
    def norm(m):
        if np.any(m):
            m = (m - m.min()) / (m.max() - m.min())
            m = m / m.sum()
        return m
    return np.minimum(norm(a), norm(b)).sum()


def kld(s, g):
    eps = np.finfo(np.float64).eps
    if np.any(s):
        s = s / s.sum()
    if np.any(g):
        g = g / g.sum()
    return np.sum(g * np.log(eps + g / (s + eps)))


metric_cases = []
for k in range(4):
    h, w = [(24, 32), (17, 13), (40, 40), (9, 30)][k]
    sal = rng.random((h, w))
    if k == 1:
        sal = np.round(sal * 4) / 4  # heavy ties
    if k == 3:
        sal[:, :10] = 0  # zeros in the prediction (KLD eps path)
    sal = sal.astype(np.float32).astype(np.float64)
    fix = (rng.random((h, w)) < 0.08).astype(np.float64)
    fix[0, 0] = 1
    gt = cv2.GaussianBlur(fix, (0, 0), 2.0)
    if k == 2:
        gt[gt < 1e-3] = 0
    gt = gt.astype(np.float32).astype(np.float64)
    save("met_%d_sal" % k, sal)
    save("met_%d_fix" % k, fix)
    save("met_%d_gt" % k, gt)
    save("met_%d_scores" % k, np.array([auc_judd(sal, fix), nss(sal, fix), cc(sal, gt),
                                        sim(sal, gt), kld(sal, gt)]))
save("met_count", np.array([4]))

#!/usr/bin/python3
"""References for tests/unit/test_overlay.c.

Usage: ref_overlay.py OUTDIR
  resize_<k>_in.npy / resize_<k>_out.npy : torch.nn.functional.interpolate(
      mode='bilinear', align_corners=False) of random maps (sizes below).
  blur_<k>_in.npy / blur_<k>_out.npy : cv2.GaussianBlur(m, (2r+1, 2r+1), sigma)
      with r = ceil(3 sigma), BORDER_DEFAULT (reflect-101).
  ovl_<k>_img.npy (C,H,W), ovl_<k>_map.npy (H,W), ovl_<k>_out.npy (3,H,W):
      the heatmap blend computed in numpy float32 with matplotlib's colormap:
      t = (v - lo) / (hi - lo); idx = clip(floor(t * 255 + 0.5), 0, 255),
      NaN -> 0; out = (1 - alpha) * img + alpha * cmap[idx].
  index_in.npy / index_out.npy : values and their colormap indices (same rule).
  text_width.npy : ceil(sum of hmtx advances * px / (ascent - descent)) of a
      few strings in assets/fonts/DejaVuSans.ttf, from fontTools (no kerning).
Sizes, sigmas and parameters must match the tables in the C test.
"""
import math
import os
import sys

import cv2
import matplotlib
import numpy as np
import torch

torch.set_num_threads(1)
cv2.setNumThreads(1)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1234)


def save(name, a):
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(a, dtype=np.float32))


# (in_h, in_w, out_h, out_w)
RESIZE = [(14, 14, 224, 200), (7, 5, 31, 13), (10, 3, 2, 4), (1, 1, 3, 5), (9, 16, 224, 224),
          (14, 14, 14, 14)]
for k, (ih, iw, oh, ow) in enumerate(RESIZE):
    m = rng.standard_normal((ih, iw)).astype(np.float32)
    r = torch.nn.functional.interpolate(torch.from_numpy(m)[None, None], size=(oh, ow),
                                        mode="bilinear", align_corners=False)[0, 0].numpy()
    save("resize_%d_in" % k, m)
    save("resize_%d_out" % k, r)

# (h, w, sigma)
BLUR = [(24, 32, 1.0), (9, 17, 2.3), (5, 6, 3.0), (1, 12, 0.8), (40, 7, 0.5)]
for k, (h, w, sigma) in enumerate(BLUR):
    m = rng.random((h, w)).astype(np.float32)
    r = int(math.ceil(3 * sigma))
    b = cv2.GaussianBlur(m, (2 * r + 1, 2 * r + 1), sigma, sigmaY=sigma,
                         borderType=cv2.BORDER_DEFAULT)
    save("blur_%d_in" % k, m)
    save("blur_%d_out" % k, b)


def cmap(name):
    return matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3].astype(np.float32)


def index(t):
    t = np.asarray(t, dtype=np.float32)
    i = np.floor(t * np.float32(255) + np.float32(0.5))
    i[np.isnan(i)] = 0
    return np.clip(i, 0, 255).astype(np.int64)


# (channels, h, w, colormap, mode, lo, hi, alpha, special)
OVL = [(3, 12, 16, "viridis", "minmax", 0, 0, 0.5, "nan"),
       (1, 9, 7, "jet", "fixed", 0.2, 0.7, 0.3, ""),
       (4, 8, 8, "inferno", "minmax", 0, 0, 0.75, "inf"),
       (3, 5, 6, "magma", "minmax", 0, 0, 0.6, "const"),
       (3, 6, 10, "gray", "fixed", -1.0, 2.0, 1.0, "")]
for k, (c, h, w, name, mode, lo, hi, alpha, special) in enumerate(OVL):
    img = rng.random((c, h, w)).astype(np.float32)
    m = rng.standard_normal((h, w)).astype(np.float32)
    if special == "nan":
        m[0, 0] = np.nan
        m[3, 5] = np.nan
    elif special == "inf":
        m[1, 1] = np.inf
        m[2, 2] = -np.inf
    elif special == "const":
        m[:] = np.float32(0.25)
    if mode == "minmax":
        fin = m[np.isfinite(m)]
        lo, hi = np.float32(fin.min()), np.float32(fin.max())
        if hi > lo:
            t = (m - lo) / (hi - lo)
        else:
            t = np.zeros_like(m)
    else:
        lo, hi = np.float32(lo), np.float32(hi)
        t = (m - lo) / (hi - lo)
    heat = cmap(name)[index(t)].transpose(2, 0, 1)  # 3,H,W
    rgb = np.repeat(img, 3, axis=0) if c == 1 else img[:3]
    a = np.float32(alpha)
    o = (np.float32(1) - a) * rgb + a * heat
    save("ovl_%d_img" % k, img)
    save("ovl_%d_map" % k, m)
    save("ovl_%d_out" % k, o)

vals = np.concatenate([rng.random(1000).astype(np.float32),
                       (np.arange(256, dtype=np.float32) + np.float32(0.5)) / np.float32(255),
                       np.arange(256, dtype=np.float32) / np.float32(255),
                       np.array([-1, -1e-6, 0, 1, 1.5, np.inf, -np.inf, np.nan], np.float32)])
save("index_in", vals)
save("index_out", index(vals).astype(np.float32))

from fontTools.ttLib import TTFont  # noqa: E402  (ships with matplotlib)

font = TTFont(os.path.join(os.path.dirname(__file__), "..", "..", "assets", "fonts",
                           "DejaVuSans.ttf"))
cmap_ = font.getBestCmap()
hmtx = font["hmtx"]
hhea = font["hhea"]
widths = []
for s in ["Attention", "Hello world", "saccade 0123456789"]:
    adv = sum(hmtx[cmap_[ord(ch)]][0] for ch in s)
    for px in [16, 33, 12.5]:
        widths.append(math.ceil(adv * px / (hhea.ascent - hhea.descent)))
save("text_width", np.array(widths, dtype=np.float32))

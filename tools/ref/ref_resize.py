#!/usr/bin/env python3
"""Resize references for tests/parity/test_image_resize.c.

Usage: ref_resize.py OUTDIR

Real photos from skimage's data folder, downscaled (512 -> 256 and
600x400 -> 300x200) and upscaled (8x-reduced thumbnails, 64 -> 256 and
75x50 -> 300x200), by PIL (Image.BILINEAR / BICUBIC, antialiased, which is what
torchvision.transforms.Resize does on PIL images) and by
torch.nn.functional.interpolate (bilinear / bicubic, antialias True and False).
Writes in_<case>.npy and ref_<case>_<ref>.npy, float32 CHW in [0, 1].
"""
import os
import sys

import numpy as np
import skimage
import torch
import torch.nn.functional as F
from PIL import Image

torch.set_num_threads(1)
out = sys.argv[1]
data = os.path.join(os.path.dirname(skimage.__file__), "data")


def save(name, chw):
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(chw, dtype=np.float32))


def to_chw(im):
    return np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255.0


cases = []
for photo in ("astronaut", "coffee"):
    im = Image.open(os.path.join(data, photo + ".png")).convert("RGB")
    w, h = im.size
    cases.append(("down_" + photo, im, (w // 2, h // 2)))
    small = im.reduce(8)  # box-filtered thumbnail: real photo content at 64x64 / 75x50
    cases.append(("up_" + photo, small, (small.size[0] * 4, small.size[1] * 4)))

for name, im, size in cases:
    x = to_chw(im)
    save("in_" + name, x)
    save("ref_%s_pil_bilinear" % name, to_chw(im.resize(size, Image.BILINEAR)))
    save("ref_%s_pil_bicubic" % name, to_chw(im.resize(size, Image.BICUBIC)))
    t = torch.from_numpy(x)[None]
    hw = (size[1], size[0])
    for mode in ("bilinear", "bicubic"):
        for aa in (True, False):
            y = F.interpolate(t, size=hw, mode=mode, align_corners=False, antialias=aa)
            save("ref_%s_torch_%s%s" % (name, mode, "_aa" if aa else ""), y[0].numpy())

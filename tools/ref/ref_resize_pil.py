#!/usr/bin/env python3
"""Pillow resize references for tests/parity/test_resize_pil.c.

Usage: ref_resize_pil.py OUTDIR

Decodes the suite's photos (assets/samples/*.jpg) and scikit-image's data
photos with PIL, and resizes them with PIL.Image.resize at BLIP's and ViT's
sizes (384x384, 224x224), up and down, odd sizes, one side only, extreme
ratios, every filter, in modes L, RGB, LA and RGBA. Writes
  in_<source>.npy   the decoded source, float32 CHW, values v / 255
  out_<case>.npy    the PIL result, float32 CHW, values v / 255
  cases.txt         one line per case: <case> <source> <w> <h> <filter>
with <filter> PIL's number (1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX,
5 HAMMING).
"""
import os
import sys

import numpy as np
import skimage
from PIL import Image

out = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
samples = os.path.join(root, "assets", "samples")
skdata = os.path.join(os.path.dirname(skimage.__file__), "data")

BILINEAR, BICUBIC = Image.BILINEAR, Image.BICUBIC
ALL = (Image.LANCZOS, Image.BILINEAR, Image.BICUBIC, Image.BOX, Image.HAMMING)


def chw(im):
    a = np.asarray(im, dtype=np.float32) / 255.0
    if a.ndim == 2:
        a = a[None]
    else:
        a = a.transpose(2, 0, 1)
    return np.ascontiguousarray(a, dtype=np.float32)


sources = {}


def source(name, im):
    sources[name] = im
    np.save(os.path.join(out, "in_%s.npy" % name), chw(im))


for photo in ("astronaut", "chelsea", "coffee"):
    source(photo, Image.open(os.path.join(samples, photo + ".jpg")).convert("RGB"))
source("rocket", Image.open(os.path.join(skdata, "rocket.jpg")).convert("RGB"))
source("retina_small", Image.open(os.path.join(skdata, "retina.jpg")).convert("RGB").reduce(4))
source("camera", Image.open(os.path.join(skdata, "camera.png")).convert("L"))
source("coins", Image.open(os.path.join(skdata, "coins.png")).convert("L"))
logo = Image.open(os.path.join(skdata, "logo.png")).convert("RGBA")
source("logo", logo)
source("logo_la", logo.convert("LA"))
source("astronaut_thumb", sources["astronaut"].reduce(8))  # 64x64: real content to enlarge
source("chelsea_thumb", sources["chelsea"].reduce(7))  # 65x43, odd
tiny = Image.fromarray(np.array([[[250, 3, 128], [0, 255, 17], [99, 200, 45]],
                                 [[12, 34, 56], [255, 255, 255], [0, 0, 0]]], dtype=np.uint8))
source("tiny", tiny)

cases = []


def case(src, w, h, flt):
    cases.append(("%s_%dx%d_f%d" % (src, w, h, int(flt)), src, w, h, int(flt)))


for src in ("astronaut", "chelsea", "coffee", "rocket", "retina_small"):
    for size in (384, 224):
        case(src, size, size, BICUBIC)
        case(src, size, size, BILINEAR)
for flt in ALL:
    case("coffee", 333, 217, flt)  # odd down
    case("chelsea_thumb", 301, 199, flt)  # odd up
case("astronaut_thumb", 384, 384, BICUBIC)
case("astronaut_thumb", 224, 224, BILINEAR)
case("chelsea", 451, 384, BICUBIC)  # height only: no horizontal pass
case("chelsea", 384, 300, BICUBIC)  # width only: no vertical pass
case("chelsea", 900, 150, BICUBIC)  # up one way, down the other
case("coffee", 7, 5, BICUBIC)  # extreme shrink
case("coffee", 1, 1, BILINEAR)
case("coffee", 600, 400, BICUBIC)  # same size: a copy
case("tiny", 1, 1, BICUBIC)
case("tiny", 17, 11, BICUBIC)
case("tiny", 2, 5, Image.LANCZOS)
case("camera", 384, 384, BICUBIC)
case("camera", 129, 257, BILINEAR)
case("coins", 384, 384, BICUBIC)
case("logo", 384, 384, BICUBIC)
case("logo", 123, 77, BILINEAR)
case("logo_la", 224, 224, BICUBIC)

with open(os.path.join(out, "cases.txt"), "w") as f:
    for name, src, w, h, flt in cases:
        res = sources[src].resize((w, h), flt)
        np.save(os.path.join(out, "out_%s.npy" % name), chw(res))
        f.write("%s %s %d %d %d\n" % (name, src, w, h, flt))

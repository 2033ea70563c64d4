#!/usr/bin/env python3
"""Oracle for tests/unit/test_jpeg.c: decode the JPEGs that sc_jpeg_encode and
stb_image_write wrote with OpenCV (libjpeg-turbo) and check them.

Usage: ref_jpeg.py DIR   (DIR/manifest.txt: lines "NAME CHANNELS QUALITY"; the
                          files NAME.png (source), NAME-Q.ours.jpg, NAME-Q.stb.jpg)

For every file: OpenCV decodes ours to the source's size, one channel for a
gray source and three for colour; its PSNR against the source is at least
stb's (decoded the same way) minus 0.5 dB; and ours carries the quantisation
tables that libjpeg (through PIL) writes at the same quality. Exits 1 on the
first failure, after printing it.
"""
import io
import os
import sys

import cv2
import numpy as np
from PIL import Image


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def main(d):
    rows = [l.split() for l in open(os.path.join(d, "manifest.txt")) if l.strip()]
    pil_tables = {}
    worst = None
    for name, c, q in rows:
        c, q = int(c), int(q)
        src = cv2.imread(os.path.join(d, name + ".png"), cv2.IMREAD_UNCHANGED)
        assert src is not None, name
        ours = cv2.imread(os.path.join(d, "%s-%d.ours.jpg" % (name, q)), cv2.IMREAD_UNCHANGED)
        stb = cv2.imread(os.path.join(d, "%s-%d.stb.jpg" % (name, q)), cv2.IMREAD_UNCHANGED)
        assert ours is not None, ("OpenCV cannot decode", name, q)
        assert ours.shape == src.shape, (name, q, ours.shape, src.shape)
        if c == 1 and stb.ndim == 3:  # stb writes gray as YCbCr
            stb = cv2.cvtColor(stb, cv2.COLOR_BGR2GRAY)
        po, ps = psnr(ours, src), psnr(stb, src)
        assert po >= ps - 0.5, ("PSNR by OpenCV", name, c, q, po, ps)
        if worst is None or po - ps < worst[0]:
            worst = (po - ps, name, q, po, ps)
        # quantisation tables: libjpeg's scaling of the Annex K tables
        if q not in pil_tables:
            b = io.BytesIO()
            Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(b, "JPEG", quality=q)
            pil_tables[q] = Image.open(io.BytesIO(b.getvalue())).quantization
        mine = Image.open(os.path.join(d, "%s-%d.ours.jpg" % (name, q))).quantization
        want = {0: pil_tables[q][0]} if c == 1 else pil_tables[q]
        assert {k: list(v) for k, v in mine.items()} == {k: list(v) for k, v in want.items()}, \
            ("quantisation tables differ from libjpeg's", name, q)
    print("ref_jpeg: %d files decoded by OpenCV; closest to stb: %s q%d, %.2f dB against %.2f dB"
          % (len(rows), worst[1], worst[2], worst[3], worst[4]))


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Oracles for tests/unit/test_image_hostile.c: real photos in the encodings
the checks must keep accepting, and their pixels as decoded by PIL.

Usage: ref_image_hostile.py OUTDIR

Writes, for each photo NAME, NAME_prog.jpg (PIL, progressive, optimised
Huffman tables), NAME_cvprog_rst.jpg (OpenCV, progressive with restart
markers every 2 MCUs), NAME_rst.jpg (OpenCV, baseline, restart every 3),
NAME_topdown.bmp (24-bit BMP with a negative height: rows stored top-down,
written here by hand since PIL writes bottom-up), and dec_<file>.npy with
PIL's decode (HWC uint8). list.txt names the files, one a line.
"""
import glob
import os
import struct
import sys

import cv2
import numpy as np
import skimage
from PIL import Image

DATA = os.path.join(os.path.dirname(skimage.__file__), "data")
MPL = "/usr/share/matplotlib/mpl-data/sample_data"


def topdown_bmp(path, rgb):
    h, w, _ = rgb.shape
    stride = (w * 3 + 3) & ~3
    rows = b"".join(
        rgb[y, :, ::-1].tobytes() + b"\0" * (stride - w * 3) for y in range(h))
    info = struct.pack("<IiiHHIIiiII", 40, w, -h, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + 40 + len(rows), 0, 0, 14 + 40)
    with open(path, "wb") as f:
        f.write(head + info + rows)


def main(out):
    photos = [os.path.join(DATA, n) for n in ("astronaut.png", "coffee.png", "chelsea.png",
                                              "camera.png", "rocket.jpg")]
    photos += sorted(glob.glob(os.path.join(MPL, "*.png")))[:2]
    names = []
    for p in photos:
        stem = os.path.splitext(os.path.basename(p))[0]
        rgb = Image.open(p).convert("RGB")
        bgr = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
        files = {
            stem + "_prog.jpg": lambda f: rgb.save(f, quality=90, progressive=True, optimize=True),
            stem + "_cvprog_rst.jpg": lambda f: cv2.imwrite(
                f, bgr, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 2]),
            stem + "_rst.jpg": lambda f: cv2.imwrite(f, bgr, [cv2.IMWRITE_JPEG_RST_INTERVAL, 3]),
            stem + "_topdown.bmp": lambda f: topdown_bmp(f, np.asarray(rgb)),
        }
        for name, write in files.items():
            path = os.path.join(out, name)
            write(path)
            dec = np.asarray(Image.open(path).convert("RGB"))
            np.save(os.path.join(out, "dec_" + name.replace(".", "_") + ".npy"), dec)
            names.append(name)
    with open(os.path.join(out, "list.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Oracles for tests/unit/test_image.c.

Usage: ref_image.py OUTDIR          generate inputs and expected pixels
       ref_image.py --read OUTDIR   decode the files saccade wrote (ours_*) with
                                    cv2 / PIL and store the pixels as .npy

Expected pixels are stored HWC (or HW for gray) exactly as decoded by PIL or
cv2; uint8 arrays as uint8, 16-bit ones as float32 holding integer values.
"""
import io
import os
import struct
import sys

import cv2
import numpy as np
import skimage
import torch
from PIL import Image, ImageOps

torch.set_num_threads(1)
DATA = os.path.join(os.path.dirname(skimage.__file__), "data")


def save(out, name, arr):
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(arr))


def read_back(out):
    """Pixels of the files saccade wrote, decoded by outside libraries."""
    for name in ("ours16_rgb", "ours16_gray", "ours16_rgba"):
        a = cv2.imread(os.path.join(out, name + ".png"), cv2.IMREAD_UNCHANGED)
        assert a is not None and a.dtype == np.uint16, name
        if a.ndim == 3:
            a = cv2.cvtColor(a, cv2.COLOR_BGR2RGB if a.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
        save(out, "read_" + name, a.astype(np.float32))
    for name in ("ours8_rgb.png", "ours8_gray.png", "ours8_rgba.png", "ours_q95.jpg", "ours_gray.jpg"):
        im = Image.open(os.path.join(out, name))
        save(out, "read_" + name.replace(".", "_"), np.asarray(im))


def psd_bytes(hwc, depth):
    """Minimal uncompressed RGB PSD (PIL cannot write PSD)."""
    h, w, c = hwc.shape
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, c, h, w, depth, 3)
    body = struct.pack(">III", 0, 0, 0) + struct.pack(">H", 0)
    planes = hwc.transpose(2, 0, 1).astype(">u2" if depth == 16 else "u1")
    return head + body + planes.tobytes()


def exif_bytes(orientation, big_endian):
    bo = b"MM\x00\x2a" if big_endian else b"II\x2a\x00"
    e = ">" if big_endian else "<"
    ifd = struct.pack(e + "H", 1) + struct.pack(e + "HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"Exif\x00\x00" + bo + struct.pack(e + "I", 8) + ifd + struct.pack(e + "I", 0)


def generate(out):
    with open(os.path.join(out, "datadir.txt"), "w") as f:
        f.write(DATA)
    # 1. Real photos as decoded by PIL (PNG exact; JPEG compared loosely).
    for name in ("astronaut.png", "coffee.png", "chelsea.png", "camera.png", "horse.png",
                 "foo3x5x4indexed.png", "rocket.jpg"):
        im = Image.open(os.path.join(DATA, name))
        mode = {"L": "L", "RGB": "RGB"}.get(im.mode, "RGBA")
        save(out, "dec_" + name.replace(".", "_"), np.asarray(im.convert(mode)))
    save(out, "dec_rocket_jpg_cv2",
         cv2.cvtColor(cv2.imread(os.path.join(DATA, "rocket.jpg")), cv2.COLOR_BGR2RGB))

    # 2. Every format written by PIL / cv2 / by hand from a real photo crop.
    chelsea = Image.open(os.path.join(DATA, "chelsea.png")).convert("RGB")
    rgb = chelsea.crop((150, 60, 214, 108))  # 64x48, asymmetric content
    gray = rgb.convert("L")
    a = np.asarray(rgb)
    alpha = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (48, 1))
    rgba = Image.fromarray(np.dstack([a, alpha]), "RGBA")
    files = {
        "rt_rgb.png": (rgb, {}), "rt_gray.png": (gray, {}), "rt_rgba.png": (rgba, {}),
        "rt_rgb.bmp": (rgb, {}), "rt_rgb.tga": (rgb, {}),
        "rt_rle.tga": (rgb, {"compression": "tga_rle"}), "rt_rgb.ppm": (rgb, {}),
        "rt_gray.pgm": (gray, {}), "rt_rgb.gif": (rgb, {}), "rt_rgb.jpg": (rgb, {"quality": 95}),
    }
    for fn, (im, kw) in files.items():
        path = os.path.join(out, fn)
        im.save(path, **kw)
        back = Image.open(path)
        back = back.convert("RGBA" if back.mode in ("RGBA", "LA") else
                            "L" if back.mode == "L" else "RGB")
        save(out, "exp_" + fn.replace(".", "_"), np.asarray(back))
    save(out, "src_rgba", np.asarray(rgba))  # for compositing
    # 16-bit PGM (maxval 65535) by hand.
    g16 = (np.asarray(gray).astype(np.uint32) * 257 + np.arange(64)).clip(0, 65535).astype(np.uint16)
    with open(os.path.join(out, "rt_gray16.pgm"), "wb") as f:
        f.write(b"P5\n64 48\n65535\n" + g16.astype(">u2").tobytes())
    save(out, "exp_rt_gray16_pgm", g16.astype(np.float32))
    # PSD 8 and 16 bit, uncompressed.
    with open(os.path.join(out, "rt_rgb.psd"), "wb") as f:
        f.write(psd_bytes(a, 8))
    save(out, "exp_rt_rgb_psd", a)
    a16 = a.astype(np.uint32) * 257 + np.arange(64)[None, :, None] * 3
    a16 = a16.clip(0, 65535).astype(np.uint16)
    with open(os.path.join(out, "rt_rgb16.psd"), "wb") as f:
        f.write(psd_bytes(a16, 16))
    save(out, "exp_rt_rgb16_psd", a16.astype(np.float32))
    # Radiance HDR by cv2 (run-length encoded: width 64), values up to 2.
    hdr = (a.astype(np.float32) / 255.0) * 2.0
    cv2.imwrite(os.path.join(out, "rt_rgb.hdr"), cv2.cvtColor(hdr, cv2.COLOR_RGB2BGR))
    back = cv2.imread(os.path.join(out, "rt_rgb.hdr"), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_COLOR)
    save(out, "exp_rt_rgb_hdr", cv2.cvtColor(back, cv2.COLOR_BGR2RGB))

    # 3. 16-bit PNG by cv2 (uint16 with values that 8 bits cannot hold).
    rng = np.random.default_rng(7)
    p16 = rng.integers(0, 65536, size=(20, 30, 3), dtype=np.uint16)
    cv2.imwrite(os.path.join(out, "cv16_rgb.png"), cv2.cvtColor(p16, cv2.COLOR_RGB2BGR))
    save(out, "exp_cv16_rgb", p16.astype(np.float32))
    g = rng.integers(0, 65536, size=(17, 23), dtype=np.uint16)
    cv2.imwrite(os.path.join(out, "cv16_gray.png"), g)
    save(out, "exp_cv16_gray", g.astype(np.float32))

    # 4. EXIF orientation 1..8, both byte orders, checked with exif_transpose.
    for o in range(1, 9):
        for big in (0, 1):
            fn = "exif_%d_%s.jpg" % (o, "mm" if big else "ii")
            path = os.path.join(out, fn)
            rgb.save(path, quality=95, exif=exif_bytes(o, big))
            im = Image.open(path)
            assert im.getexif().get(0x0112) == o
            save(out, "exp_" + fn.replace(".", "_"), np.asarray(ImageOps.exif_transpose(im)))

    # 5. torchvision CenterCrop and Normalize on a random tensor.
    import torchvision.transforms as T
    torch.manual_seed(0)
    x = torch.rand(3, 7, 10)
    save(out, "crop_in", x.numpy())
    for (ch, cw) in ((4, 4), (5, 7), (6, 3), (1, 1), (7, 10), (9, 12), (10, 5), (3, 13)):
        save(out, "crop_%dx%d" % (ch, cw), T.CenterCrop((ch, cw))(x).numpy())
    norm = T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
    save(out, "norm_out", norm(x.clone()).numpy())


if __name__ == "__main__":
    if sys.argv[1] == "--read":
        read_back(sys.argv[2])
    else:
        generate(sys.argv[1])

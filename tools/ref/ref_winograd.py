#!/usr/bin/python3
"""Reference for tests/parity/test_winograd.c.

Usage: ref_winograd.py OUTDIR
For each case i of CASES (N, C, OC, H, W, residual, relu): seeded x (N, C, H, W)
in [-1, 1), w (OC, C, 3, 3) and b (OC) at PyTorch's default init scale,
optional residual r (N, OC, H, W); writes OUTDIR/case<i>_{x,w,b,r,y}.npy with
y = conv2d(x, w, b, stride 1, padding 1) (+ r) (then ReLU).
"""
import os
import sys

import numpy as np
import torch

# Sizes that are not multiples of the tile (2 or 4) nor of a vector width,
# a 1x1 image, batch > 1, and a ResNet layer1-like shape.
CASES = [
    (2, 3, 5, 7, 9, 0, 0),
    (1, 17, 13, 13, 6, 1, 1),
    (2, 9, 33, 5, 11, 1, 0),
    (1, 4, 6, 1, 1, 0, 1),
    (1, 5, 7, 2, 3, 0, 0),
    (1, 64, 64, 18, 18, 1, 1),
    (3, 12, 20, 10, 15, 0, 1),
]


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for i, (n, c, oc, h, w, res, relu) in enumerate(CASES):
        conv = torch.nn.Conv2d(c, oc, 3, stride=1, padding=1)
        x = torch.rand(n, c, h, w) * 2 - 1
        r = torch.rand(n, oc, h, w) * 2 - 1
        with torch.no_grad():
            y = conv(x)
            if res:
                y = y + r
            if relu:
                y = torch.relu(y)
        p = os.path.join(out, "case%d_" % i)
        np.save(p + "x.npy", x.numpy())
        np.save(p + "w.npy", conv.weight.detach().numpy())
        np.save(p + "b.npy", conv.bias.detach().numpy())
        np.save(p + "r.npy", r.numpy())
        np.save(p + "y.npy", y.numpy())
        np.save(p + "shape.npy", np.array([n, c, oc, h, w, res, relu], dtype=np.int32))


if __name__ == "__main__":
    main()

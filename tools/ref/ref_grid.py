#!/usr/bin/env python3
"""Reference data for tests/parity/test_grid_parity.c (torch.nn.functional
grid_sample / affine_grid, forward and autograd backward).

usage: ref_grid.py OUTDIR

grid_sample cases: for each shape s in SHAPES, mode in (bilinear, nearest),
padding in (zeros, border, reflection), align_corners in (True, False) the
case index is ((s * 2 + mode) * 3 + padding) * 2 + (0 if align else 1) and
gs_<i>_{input,grid,gout,out,gin,ggrid}.npy are written. Grids hold values
up to +-3.5 (several reflections) and some exact multiples of 1/8 (ties for
nearest rounding, integer coordinates for bilinear).
affine_grid cases: ag_<j>_{theta,grid,gupstream,gtheta}.npy for
j = shape index * 2 + (0 if align else 1).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import warnings

warnings.filterwarnings("ignore", message=".*affine_grid behavior has changed.*")

torch.set_num_threads(1)

# (N, C, H_in, W_in, H_out, W_out)
SHAPES = [(2, 3, 5, 7, 4, 6), (1, 2, 1, 4, 3, 5), (2, 1, 6, 1, 2, 3), (1, 2, 9, 8, 11, 13)]
AFFINE = [(3, 5, 7), (2, 1, 4), (1, 6, 1)]


def save(out, name, t):
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(t.detach().numpy().astype(np.float32)))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(1234)
    idx = 0
    for (n, c, hi, wi, ho, wo) in SHAPES:
        for mode in ("bilinear", "nearest"):
            for padding in ("zeros", "border", "reflection"):
                for align in (True, False):
                    inp = torch.randn(n, c, hi, wi, generator=g)
                    grid = (torch.rand(n, ho, wo, 2, generator=g) * 2 - 1) * 3.5
                    # a third of the points inside [-1.1, 1.1], a sixth on a 1/8 lattice
                    sel = torch.rand(n, ho, wo, 1, generator=g)
                    inner = (torch.rand(n, ho, wo, 2, generator=g) * 2 - 1) * 1.1
                    lattice = torch.round(inner * 8) / 8
                    grid = torch.where(sel < 0.33, inner, grid)
                    grid = torch.where(sel > 0.83, lattice, grid)
                    gout = torch.randn(n, c, ho, wo, generator=g)
                    inp.requires_grad_(True)
                    grid.requires_grad_(True)
                    o = F.grid_sample(inp, grid, mode=mode, padding_mode=padding,
                                      align_corners=align)
                    gin, ggrid = torch.autograd.grad(o, (inp, grid), gout)
                    p = "gs_%d_" % idx
                    for name, t in (("input", inp), ("grid", grid), ("gout", gout), ("out", o),
                                    ("gin", gin), ("ggrid", ggrid)):
                        save(out, p + name, t)
                    idx += 1
    j = 0
    for (n, h, w) in AFFINE:
        for align in (True, False):
            theta = torch.randn(n, 2, 3, generator=g).requires_grad_(True)
            grid = F.affine_grid(theta, (n, 3, h, w), align_corners=align)
            gup = torch.randn(n, h, w, 2, generator=g)
            (gtheta,) = torch.autograd.grad(grid, theta, gup)
            p = "ag_%d_" % j
            for name, t in (("theta", theta), ("grid", grid), ("gupstream", gup),
                            ("gtheta", gtheta)):
                save(out, p + name, t)
            j += 1


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference colormaps for tests/unit/test_overlay.c.

Usage: ref_colormap.py OUTDIR
Writes OUTDIR/<name>.npy = cm(np.linspace(0, 1, 256))[:, :3] (float64) for
viridis, inferno, magma, jet and gray, straight from matplotlib.
"""
import os
import sys

import matplotlib
import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for name in ["viridis", "inferno", "magma", "jet", "gray"]:
    t = matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3]
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(t, dtype=np.float64))

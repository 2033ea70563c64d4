#!/usr/bin/env python3
"""PyTorch side of the grid_sample benchmark (see bench_grid.c): the same
problem (bilinear, zeros padding, align_corners=False, rotated/scaled
affine grid), timing the aten kernels grid_sampler_2d and
grid_sampler_2d_backward (input and grid gradients).

usage: bench_grid.py THREADS N C H W [REPS]
"""
import math
import sys
import time

import torch
import torch.nn.functional as F


def main():
    threads, n, c, h, w = (int(a) for a in sys.argv[1:6])
    reps = int(sys.argv[6]) if len(sys.argv) > 6 else 20
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(7)
    inp = torch.randn(n, c, h, w, generator=g)
    gout = torch.randn(n, c, h, w, generator=g)
    a, s = 0.3, 0.9
    theta = torch.tensor([[s * math.cos(a), -s * math.sin(a), 0.05],
                          [s * math.sin(a), s * math.cos(a), -0.03]]).expand(n, 2, 3)
    grid = F.affine_grid(theta, (n, c, h, w), align_corners=False).contiguous()
    tf, tb, tc = [], [], []
    with torch.no_grad():
        for k in range(reps + 2):
            c0 = time.process_time()
            t0 = time.perf_counter()
            torch.ops.aten.grid_sampler_2d(inp, grid, 0, 0, False)
            t1 = time.perf_counter()
            torch.ops.aten.grid_sampler_2d_backward(gout, inp, grid, 0, 0, False, [True, True])
            t2 = time.perf_counter()
            c2 = time.process_time()
            if k >= 2:
                tc.append((c2 - c0) * 1e3)
                tf.append((t1 - t0) * 1e3)
                tb.append((t2 - t1) * 1e3)
    # best of reps (least disturbed by other load), then the medians
    f = sorted(tf)[len(tf) // 2]
    b = sorted(tb)[len(tb) // 2]
    print("torch threads=%d shape=%dx%dx%dx%d fwd_ms=%.3f bwd_ms=%.3f total_ms=%.3f "
          "(median fwd %.3f bwd %.3f; best cpu_ms fwd+bwd %.3f)"
          % (threads, n, c, h, w, min(tf), min(tb), min(tf) + min(tb), f, b, min(tc)))


if __name__ == "__main__":
    main()

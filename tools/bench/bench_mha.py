#!/usr/bin/env python3
"""Benchmark (not a test): torch nn.MultiheadAttention forward at the same
shape as bench_mha.c (batch 8, seq 196, embed 512, 8 heads), eval mode,
no_grad, need_weights=False. Usage: bench_mha.py THREADS [REPS]."""
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
torch.set_num_threads(threads)
torch.manual_seed(1)
B, L, E, H = 8, 196, 512, 8
mha = torch.nn.MultiheadAttention(E, H, batch_first=True).eval()
x = torch.randn(B, L, E)
ts = []
with torch.no_grad():
    for _ in range(3):
        mha(x, x, x, need_weights=False)
    for _ in range(reps):
        t0 = time.perf_counter()
        mha(x, x, x, need_weights=False)
        ts.append((time.perf_counter() - t0) * 1e3)
ts.sort()
print("torch_mha_ms %.3f min %.3f threads %d torch %s" % (ts[len(ts) // 2], ts[0], threads,
                                                          torch.__version__))

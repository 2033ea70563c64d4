#!/usr/bin/python3
"""PyTorch side of tools/bench/vit_gpt2.sh: the twin tools/ref/ref_vit_gpt2.py.

Usage: bench_vit_gpt2.py DIR IMAGE [threads=2] [reps=1] [beam=0]
Loads the folder with the twin (timed: load_ms), then `reps` times captions
IMAGE as the twin does it: PIL read + ViTImageProcessor's preprocessing, the
ViT, generate (greedy or beam search with the key/value cache) and decode;
no_grad, torch.set_num_threads(threads). beam 0 keeps the folder's num_beams.
Prints the medians of the caption time, its process CPU time and of its parts
(vit_ms, decode_ms), max RSS (resource.getrusage, KiB) and the caption, in
bench_vit_gpt2.c's format.
"""
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import ref_vit_gpt2  # noqa: E402


def main():
    a = sys.argv[1:]
    if len(a) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder, image = a[0], a[1]
    threads = int(a[2]) if len(a) > 2 else 2
    reps = int(a[3]) if len(a) > 3 else 1
    beam = int(a[4]) if len(a) > 4 else 0
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    m = ref_vit_gpt2.VitGpt2(folder, threads)
    load_ms = 1e3 * (time.perf_counter() - t0)
    s = m.settings(beam or None)
    start = [m.gen["start"]]
    cap, vit, dec, cpu = [], [], [], []
    text, n = "", 0
    with torch.no_grad():
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            px = m.pixels(image)
            t1 = time.perf_counter()
            feats = m.features(px)
            t2 = time.perf_counter()
            out = (m._beam if s["num_beams"] > 1 else m._greedy)(feats, start, s)
            text = m.tok.decode(out["ids"])
            t3, c3 = time.perf_counter(), time.process_time()
            new = out["ids"][1:]
            n = len(new) - (1 if new and new[-1] == m.gen["eos"] else 0)
            cap.append(1e3 * (t3 - t0))
            vit.append(1e3 * (t2 - t1))
            dec.append(1e3 * (t3 - t2))
            cpu.append(1e3 * (c3 - c0))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("pytorch caption threads %d beam %d: median_ms %.1f vit_ms %.1f decode_ms %.1f cpu_ms %.1f "
          "load_ms %.1f maxrss_kb %d torch %s tokens %d caption %s"
          % (threads, s["num_beams"], statistics.median(cap), statistics.median(vit), statistics.median(dec),
             statistics.median(cpu), load_ms, rss, torch.__version__, n, text))
    return 0


if __name__ == "__main__":
    sys.exit(main())

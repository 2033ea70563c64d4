#!/usr/bin/env python3
"""Benchmark (not a test): saccade's saliency vs OpenCV's cv2.saliency.

Usage: bench_saliency.py BUILD_DIR [REPS]

Makes 640x480 and 1920x1080 versions of skimage's astronaut photo (cv2
INTER_AREA/LINEAR), then times, with 1 and 2 threads, OpenCV's spectral
residual and fine-grained saliency (uint8 BGR in, full-size map out) and
saccade's (float RGB in, full-size map out; BUILD_DIR/bench_saliency). Prints
median milliseconds and the ratio OpenCV / saccade (> 1: saccade is faster).
"""
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import skimage

build = sys.argv[1]
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
exe = os.path.join(build, "bench_saliency")
src = cv2.imread(os.path.join(os.path.dirname(skimage.__file__), "data", "astronaut.png"))


def cv_time(fn, img):
    fn(img)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(img)
        ts.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ts))


sr = cv2.saliency.StaticSaliencySpectralResidual_create()
fg = cv2.saliency.StaticSaliencyFineGrained_create()
print("%-10s %-7s %-12s %10s %10s %8s" % ("size", "threads", "method", "opencv ms", "saccade ms",
                                          "ratio"))
with tempfile.TemporaryDirectory() as tmp:
    for (w, h) in [(640, 480), (1920, 1080)]:
        bgr = cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA if w < 512 else cv2.INTER_LINEAR)
        path = os.path.join(tmp, "img_%dx%d.npy" % (w, h))
        np.save(path, np.ascontiguousarray(bgr[:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255))
        for threads in (1, 2):
            cv2.setNumThreads(threads)
            cv = {"sr_opencv": cv_time(lambda im: sr.computeSaliency(im), bgr),
                  "finegrained": cv_time(lambda im: fg.computeSaliency(im), bgr)}
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            out = subprocess.run([exe, path, str(threads), str(reps)], env=env, check=True,
                                 capture_output=True, text=True).stdout
            ours = {l.split()[0]: float(l.split()[1]) for l in out.splitlines() if l.strip()}
            for m in ("sr_opencv", "finegrained", "sr_paper", "pqft"):
                c = cv.get(m)
                print("%-10s %-7d %-12s %10s %10.3f %8s" % (
                    "%dx%d" % (w, h), threads, m, "%.3f" % c if c else "-", ours[m],
                    "%.2f" % (c / ours[m]) if c else "-"))

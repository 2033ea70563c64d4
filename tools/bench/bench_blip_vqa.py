#!/usr/bin/python3
"""PyTorch side of tools/bench/blip_vqa.sh: the twin tools/ref/ref_blip_vqa.py.

Usage: bench_blip_vqa.py DIR IMAGE THREADS REPS QUESTION...
Loads the VQA folder with the twin (timed: load_ms), then REPS times: PIL read
+ BlipImageProcessor's preprocessing and the vision model once (image_ms),
then for every QUESTION what BlipForQuestionAnswering.generate does after the
vision model: the text encoder over the question with the image, generate
(greedy, the key/value cache) on the answer decoder, decode; no_grad,
torch.set_num_threads(THREADS). Prints medians, max RSS (KiB) and the answers
in bench_blip_vqa.c's format.
"""
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import ref_blip_vqa  # noqa: E402


def main():
    a = sys.argv[1:]
    if len(a) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    folder, image, threads, reps, questions = a[0], a[1], int(a[2]), int(a[3]), a[4:]
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    twin = ref_blip_vqa.VqaTwin(folder, threads)
    load_ms = 1e3 * (time.perf_counter() - t0)
    s = twin.settings()
    bos, P = twin.text_cfg["bos_token_id"], twin.text_cfg["max_position_embeddings"]
    tot, imt, cpu, answers = [], [], [], []
    with torch.no_grad():
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            feats = twin.features(twin.pixels(image))
            t1 = time.perf_counter()
            answers = []
            for q in questions:
                qids = ref_blip_vqa.text_ids(twin.tok, q, P, "question")
                emb, _ = twin.question(feats, qids)
                out = twin.generate(emb, [bos], s)
                answers.append(twin.tok.decode(out["ids"]))
            tot.append(1e3 * (time.perf_counter() - t0))
            imt.append(1e3 * (t1 - t0))
            cpu.append(1e3 * (time.process_time() - c0))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("pytorch vqa threads %d questions %d: median_ms %.1f image_ms %.1f cpu_ms %.1f load_ms %.1f "
          "maxrss_kb %d torch %s answers %s"
          % (threads, len(questions), statistics.median(tot), statistics.median(imt), statistics.median(cpu),
             load_ms, rss, torch.__version__, " | ".join(answers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

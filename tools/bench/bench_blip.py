#!/usr/bin/python3
"""PyTorch side of tools/bench/blip.sh: the twin tools/ref/ref_blip.py.

Usage: bench_blip.py caption DIR IMAGE [threads=2] [reps=1] [beam=1]
Loads the folder with the twin (timed: load_ms), then `reps` times captions
IMAGE from the file as the twin does it: PIL read + BlipImageProcessor's
preprocessing, the vision model, generate (greedy or beam search with the
key/value cache) and decode; no_grad, torch.set_num_threads(threads). Prints
the medians of the whole caption time, its process CPU time (cpu_ms) and of its parts (vit_ms, decode_ms),
max RSS (resource.getrusage, KiB) and the caption, in bench_blip.c's format.

       bench_blip.py export DIR OUT.onnx
The twin's vision model (pixel_values (1, 3, S, S) -> last_hidden_state) by
torch.onnx.export (opset 17) for ONNX Runtime (bench_resnet_ort.js).

       bench_blip.py vqa DIR IMAGE THREADS REPS QUESTION...   (tools/bench/blip_vqa.sh)
The twin tools/ref/ref_blip_vqa.py on a VQA folder (timed: load_ms), then REPS
times: PIL read + BlipImageProcessor's preprocessing and the vision model
once (image_ms), then for every QUESTION what BlipForQuestionAnswering.generate
does after the vision model: the text encoder over the question with the
image, generate (greedy, the key/value cache) on the answer decoder, decode;
no_grad, torch.set_num_threads(THREADS). Prints medians, max RSS (KiB) and the
answers in bench_blip.c's format.
"""
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import ref_blip  # noqa: E402
import ref_blip_vqa  # noqa: E402


def export(folder, out):
    blip = ref_blip.Blip(folder, 2)
    S = blip.vision_cfg["image_size"]
    with torch.no_grad():
        torch.onnx.export(blip.model.vision_model, torch.zeros(1, 3, S, S), out,
                          input_names=["pixel_values"], output_names=["last_hidden_state"],
                          opset_version=17)


def caption(folder, image, threads, reps, beam):
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    blip = ref_blip.Blip(folder, threads)
    load_ms = 1e3 * (time.perf_counter() - t0)
    s = blip.settings(num_beams=beam)
    prompt = ref_blip.prompt_ids(blip.tok, "", blip.text_cfg["bos_token_id"])
    cap, vit, dec, cpu = [], [], [], []
    text, n = "", 0
    with torch.no_grad():
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            px = blip.pixels(image)
            t1 = time.perf_counter()
            feats = blip.features(px)
            t2 = time.perf_counter()
            out = blip.generate(feats, prompt, s)
            new = out["ids"][len(prompt):]
            text = blip.tok.decode(new)
            t3, c3 = time.perf_counter(), time.process_time()
            n = len(new) - (1 if new and new[-1] == blip.text_cfg["sep_token_id"] else 0)
            cap.append(1e3 * (t3 - t0))
            vit.append(1e3 * (t2 - t1))
            dec.append(1e3 * (t3 - t2))
            cpu.append(1e3 * (c3 - c0))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("pytorch caption threads %d beam %d: median_ms %.1f vit_ms %.1f decode_ms %.1f cpu_ms %.1f load_ms %.1f "
          "maxrss_kb %d torch %s tokens %d caption %s"
          % (threads, beam, statistics.median(cap), statistics.median(vit), statistics.median(dec), statistics.median(cpu),
             load_ms, rss, torch.__version__, n, text))


def vqa(a):
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


def main():
    a = sys.argv[1:]
    if len(a) >= 6 and a[0] == "vqa":
        return vqa(a[1:])
    if len(a) == 3 and a[0] == "export":
        return export(a[1], a[2])
    if len(a) >= 3 and a[0] == "caption":
        return caption(a[1], a[2], int(a[3]) if len(a) > 3 else 2, int(a[4]) if len(a) > 4 else 1,
                       int(a[5]) if len(a) > 5 else 1)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

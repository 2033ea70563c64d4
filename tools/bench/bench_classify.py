#!/usr/bin/python3
"""PyTorch side of tools/bench/classify.sh.

    bench_classify.py classify MODEL PHOTO... [--threads N]
        torchvision's eval loop: the model of the file (saccade.config's arch,
        its tensors by load_state_dict), eval, no_grad; per photo
        Image.open(p).convert("RGB"), weights.transforms() (the file's
        saccade.preprocess), model, softmax, top-5. Prints total_ms of the loop
        and the sum of the top-1 probabilities.
    bench_classify.py gradcam MODEL PHOTO REPS [THREADS]
        Grad-CAM's gradient work as pytorch-grad-cam does it: a forward hook on
        layer4 keeping its output and a tensor hook keeping its gradient, then
        model.zero_grad() and logits[0, top class].backward() (parameters keep
        requires_grad, as in pytorch-grad-cam, so the backward also runs
        through the whole network for the weights' gradients). 2 warm-ups,
        median ms.
    bench_classify.py gradcam-layer MODEL PHOTO REPS [THREADS]
        The same work as saccade's: forward and the gradient to layer4 only.
        Parameters frozen, the forward up to layer4 records no graph, the
        forward hook returns layer4's output as a leaf requiring a gradient,
        so the backward runs through the pooling and fc only.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.transforms._presets import ImageClassification

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import st_numpy  # noqa: E402


def load(path):
    tensors, meta = st_numpy.load(path)
    arch = json.loads(meta["saccade.config"])["arch"]
    model = getattr(torchvision.models, arch)()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=False)
    pre = json.loads(meta["saccade.preprocess"])
    t = ImageClassification(crop_size=pre["crop"], resize_size=pre["resize"], mean=pre["mean"], std=pre["std"])
    return model.eval(), t


def classify(args):
    threads = 2
    if "--threads" in args:
        i = args.index("--threads")
        threads = int(args[i + 1])
        args = args[:i] + args[i + 2:]
    torch.set_num_threads(threads)
    model, t = load(args[0])
    photos = args[1:]
    total = 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for p in photos:
            x = t(Image.open(p).convert("RGB"))[None]
            prob = torch.softmax(model(x), dim=1)[0]
            v, i = prob.topk(5)
            total += float(v[0])
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(f"pytorch classify {len(photos)} photos threads {threads}: total_ms {1e3 * dt:.1f} "
          f"cpu_ms {1e3 * dc:.1f} per_photo_ms {1e3 * dt / len(photos):.2f} top1_sum {total:.6f}")


def gradcam(args, layer_only=False):
    path, photo, reps = args[0], args[1], int(args[2])
    threads = int(args[3]) if len(args) > 3 else 2
    torch.set_num_threads(threads)
    model, t = load(path)
    x = t(Image.open(photo).convert("RGB"))[None]
    store = {}

    def fwd_hook(mod, inp, out):
        if layer_only:
            out = out.detach().requires_grad_(True)
        store["act"] = out.detach()
        out.register_hook(lambda g: store.__setitem__("grad", g.detach()))
        return out

    if layer_only:
        for p in model.parameters():
            p.requires_grad_(False)

    model.layer4.register_forward_hook(fwd_hook)
    times, cpu = [], []
    for r in range(reps + 2):
        t0, c0 = time.perf_counter(), time.process_time()
        logits = model(x)
        k = int(logits[0].argmax())
        model.zero_grad()
        logits[0, k].backward()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    s = float((store["act"] * store["grad"]).sum())
    times, cpu = sorted(times[2:]), sorted(cpu[2:])
    name = "gradcam-layer" if layer_only else "gradcam"
    print(f"pytorch {name} layer4 threads {threads}: median_ms {1e3 * times[len(times) // 2]:.1f} "
          f"best_ms {1e3 * times[0]:.1f} cpu_ms {1e3 * cpu[len(cpu) // 2]:.1f} checksum {s:.6g}")


if __name__ == "__main__":
    if sys.argv[1] == "classify":
        classify(sys.argv[2:])
    else:
        gradcam(sys.argv[2:], sys.argv[1] == "gradcam-layer")

#!/usr/bin/python3
"""PyTorch side of tools/bench/resnet.sh.

Usage: bench_resnet.py MODEL.safetensors [threads=2] [reps=10] [H=256] [W=256]
Builds the torchvision model named by the file's saccade.config, loads the
file's weights (st_numpy -> load_state_dict), eval + no_grad, runs the
encoder (conv1 .. layer4, the same output as saccade's) on a 1x3xHxW input:
2 warm-ups, `reps` timed runs; prints best/median ms, the best process CPU
time of one forward and max RSS (resource.getrusage, KiB).

       bench_resnet.py export MODEL.safetensors OUT.onnx [H=256] [W=256]
The same encoder, eval mode, written by torch.onnx.export (opset 13, input
"x" of 1x3xHxW, output "features") for ONNX Runtime (bench_resnet_ort.js).
"""
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import st_numpy  # noqa: E402


def encoder(path):
    """The torchvision model of the file's arch with its weights, conv1 .. layer4, eval."""
    tensors, meta = st_numpy.load(path)
    arch = json.loads(meta["saccade.config"])["arch"]
    model = getattr(torchvision.models, arch)()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=False)
    del tensors
    model.eval()
    body = torch.nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                               model.layer1, model.layer2, model.layer3, model.layer4)
    return arch, body.eval()


def export(path, out, H, W):
    _, body = encoder(path)
    with torch.no_grad():
        torch.onnx.export(body, torch.zeros(1, 3, H, W), out, input_names=["x"],
                          output_names=["features"], opset_version=13)


def main():
    if sys.argv[1] == "export":
        H = int(sys.argv[4]) if len(sys.argv) > 4 else 256
        W = int(sys.argv[5]) if len(sys.argv) > 5 else 256
        return export(sys.argv[2], sys.argv[3], H, W)
    path = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    H = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    W = int(sys.argv[5]) if len(sys.argv) > 5 else 256
    torch.set_num_threads(threads)
    arch, body = encoder(path)
    x = torch.rand(1, 3, H, W) * 2 - 1
    times = []
    best_cpu = 1e30
    with torch.no_grad():
        for _ in range(2):
            body(x)
        for _ in range(reps):
            t0, c0 = time.perf_counter(), time.process_time()
            y = body(x)
            times.append(time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
    times.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"pytorch {arch} threads {threads}: best_ms {1e3 * times[0]:.1f} "
          f"median_ms {1e3 * times[len(times) // 2]:.1f} cpu_ms {1e3 * best_cpu:.1f} maxrss_kb {rss} "
          f"torch {torch.__version__} mkldnn {torch.backends.mkldnn.is_available()} "
          f"out {tuple(y.shape)}")


if __name__ == "__main__":
    main()

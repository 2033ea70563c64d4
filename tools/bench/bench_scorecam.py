"""PyTorch side of tools/bench/scorecam.sh: ScoreCAM as pytorch-grad-cam 1.5.5
computes it (score_cam.py's get_cam_weights and base_cam.py: a forward hook on
layer4, UpsamplingBilinear2d (align_corners) of the activations to the input,
min-max per channel, masked inputs in batches of 16 under no_grad, softmax of
the class's logits, weighted sum, ReLU, scale_cam_image with cv2.resize), on
the first CHANNELS channels of layer4, the model converted back from the
saccade file.

    bench_scorecam.py MODEL PHOTO CHANNELS REPS [THREADS]
"""
import os
import sys
import time

import cv2
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ref"))
import st_numpy  # noqa: E402
import torchvision  # noqa: E402
from torchvision.models import ResNet50_Weights  # noqa: E402


def scale(img, size=None):
    img = img - np.min(img)
    img = img / (1e-7 + np.max(img))
    return cv2.resize(np.float32(img), size) if size else np.float32(img)


def scorecam(model, x, nch):
    store = {}
    h = model.layer4.register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    with torch.no_grad():
        out = model(x)
    h.remove()
    k = int(out[0].argmax())
    acts = store["a"][:, :nch].numpy()
    with torch.no_grad():
        up = torch.nn.UpsamplingBilinear2d(size=x.shape[-2:])(torch.from_numpy(acts))
        mx = up.view(1, up.size(1), -1).max(dim=-1)[0][:, :, None, None]
        mn = up.view(1, up.size(1), -1).min(dim=-1)[0][:, :, None, None]
        up = (up - mn) / (mx - mn + 1e-8)
        inputs = (x[:, None] * up[:, :, None])[0]
        scores = []
        for i in range(0, inputs.size(0), 16):
            scores.extend(float(o[k]) for o in model(inputs[i:i + 16]))
        w = torch.softmax(torch.tensor(scores), -1).numpy()
    cam = np.maximum((w[:, None, None] * acts[0]).sum(0), 0)
    return scale(np.maximum(scale(cam, (x.shape[3], x.shape[2])), 0))


def main():
    path, photo, nch, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    torch.set_num_threads(threads)
    tensors, _ = st_numpy.load(path)
    model = torchvision.models.resnet50()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32).copy())
                           for k, v in tensors.items()}, strict=False)
    model.eval()
    x = ResNet50_Weights.IMAGENET1K_V2.transforms()(Image.open(photo).convert("RGB"))[None]
    ms, cpu = [], []
    for _ in range(reps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        cam = scorecam(model, x, nch)
        ms.append(1e3 * (time.perf_counter() - t0))
        cpu.append(1e3 * (time.process_time() - c0))
    med = float(np.median(ms[1:]))
    print("pytorch scorecam layer4 channels %d threads %d: median_ms %.1f cpu_ms %.1f "
          "per_channel_ms %.2f checksum %.4f"
          % (nch, threads, med, float(np.median(cpu[1:])), med / nch, float(cam.sum())))


if __name__ == "__main__":
    main()

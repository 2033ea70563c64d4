#!/usr/bin/python3
"""Reference for tests/parity/test_resnet.c.

Usage: ref_resnet.py OUTDIR [arch ...]   (default: resnet18 resnet50)
For each arch: a seeded random torchvision model with perturbed BatchNorm
statistics/affine (so BN folding is really exercised), eval mode, converted
with tools/convert_torchvision.py to OUTDIR/<arch>.safetensors; the input is
skimage's astronaut resized to 256x256 and ImageNet-normalised
(OUTDIR/input.npy, 1x3x256x256); expected outputs OUTDIR/<arch>_features.npy
(layer4 map) and OUTDIR/<arch>_logits.npy.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import convert_torchvision as cv  # noqa: E402


def main():
    out = sys.argv[1]
    archs = sys.argv[2:] or ["resnet18", "resnet50"]
    torch.set_num_threads(1)
    from skimage import data, transform
    img = transform.resize(data.astronaut(), (256, 256), order=1, anti_aliasing=True)  # float64 in [0, 1]
    mean = np.array([0.485, 0.456, 0.406]); std = np.array([0.229, 0.224, 0.225])
    x = ((img - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    x = np.ascontiguousarray(x)
    np.save(os.path.join(out, "input.npy"), x)
    for i, arch in enumerate(archs):
        model = cv.build_model(arch, None, seed=100 + i, perturb_bn=True)
        cv.save(model, arch, os.path.join(out, arch + ".safetensors"), "ref_resnet.py")
        body = torch.nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool,
                                   model.layer1, model.layer2, model.layer3, model.layer4)
        with torch.no_grad():
            t = torch.from_numpy(x)
            feat = body(t)
            logits = model(t)
        np.save(os.path.join(out, arch + "_features.npy"), feat.numpy().astype(np.float32))
        np.save(os.path.join(out, arch + "_logits.npy"), logits.numpy().astype(np.float32))


if __name__ == "__main__":
    main()

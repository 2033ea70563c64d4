#!/usr/bin/python3
"""Reference for tests/parity/test_imagenet_classifier.c: torchvision
classifiers converted by tools/convert_torchvision.py, their classification
of three photos, and PyTorch autograd gradients of class logits w.r.t. layer
outputs (forward hooks, as pytorch-grad-cam takes them) and the input.

Usage: ref_imagenet.py OUTDIR

Writes to OUTDIR:
  resnet18.safetensors  seeded random resnet18, perturbed BatchNorm, with the
                        ImageNet class names and transforms of
                        ResNet18_Weights.IMAGENET1K_V1 (resize 256, crop 224)
  resnet18_nofc.safetensors  the same without fc (an encoder, no classifier)
  vit.safetensors       a small seeded random torchvision VisionTransformer
                        (image 32, patch 8, 3 layers, 2 heads, dim 32, mlp 64,
                        10 classes; transforms resize 36, crop 32)
  chelsea.png, astronaut.png, coffee.png   skimage's photos
  <model>_<photo>_probs.npy   softmax of the logits of
                        weights.transforms()(Image.open(png).convert("RGB"))
  <model>_<photo>_input.npy   that preprocessed tensor (3, S, S)
  grad_<model>_x.npy    a random input (2, 3, S, S), S = 64 for resnet18, 32 for the ViT
  grad_<model>_logits.npy
  grad_<model>_dx.npy   d(logit[0, t0] + logit[1, t1]) / dx  (t: targets below)
  grad_<model>_<layer>_act.npy / _dact.npy   the layer's output (ViT: patch tokens
                        reshaped to (B, D, G, G)) and the gradient w.r.t. it
Targets: resnet18 (3, 500), vit (1, 7). Layers: resnet18 conv1, relu,
maxpool, layer1.0, layer3.1, layer3, layer4; vit encoder.layers.0 .. 2.
"""
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision.transforms._presets import ImageClassification

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import convert_torchvision as cv  # noqa: E402

RESNET_LAYERS = ["conv1", "relu", "maxpool", "layer1.0", "layer3.1", "layer3", "layer4"]
VIT_LAYERS = ["encoder.layers.0", "encoder.layers.1", "encoder.layers.2"]
VIT_PRE = {"resize": 36, "crop": 32, "interpolation": "bilinear",
           "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def module(model, name):
    m = model
    for part in name.split("."):
        m = m[int(part)] if part.isdigit() else getattr(m, part)
    return m


def grads(out, tag, model, layers, x, targets, vit):
    acts = {}
    hooks = []
    for name in layers:
        def hook(mod, inp, o, name=name):
            acts[name] = o
        hooks.append(module(model, name).register_forward_hook(hook))
    xt = torch.from_numpy(x).requires_grad_(True)
    logits = model(xt)
    score = sum(logits[i, t] for i, t in enumerate(targets))
    want = [xt] + [acts[n] for n in layers]
    g = torch.autograd.grad(score, want)
    for h in hooks:
        h.remove()
    np.save(os.path.join(out, f"grad_{tag}_x.npy"), x)
    np.save(os.path.join(out, f"grad_{tag}_logits.npy"), logits.detach().numpy())
    np.save(os.path.join(out, f"grad_{tag}_dx.npy"), g[0].numpy())
    for name, a, d in zip(layers, want[1:], g[1:]):
        a, d = a.detach(), d
        if vit:  # pytorch-grad-cam's reshape_transform
            G = int(round((a.shape[1] - 1) ** 0.5))
            a = a[:, 1:, :].reshape(a.shape[0], G, G, a.shape[2]).permute(0, 3, 1, 2)
            d = d[:, 1:, :].reshape(d.shape[0], G, G, d.shape[2]).permute(0, 3, 1, 2)
        np.save(os.path.join(out, f"grad_{tag}_{name}_act.npy"), np.ascontiguousarray(a.numpy()))
        np.save(os.path.join(out, f"grad_{tag}_{name}_dact.npy"), np.ascontiguousarray(d.numpy()))


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    from skimage import data
    photos = {"chelsea": data.chelsea(), "astronaut": data.astronaut(), "coffee": data.coffee()}
    for name, img in photos.items():
        Image.fromarray(img).save(os.path.join(out, name + ".png"))

    r18 = cv.build_model("resnet18", None, seed=7, perturb_bn=True)
    member = cv.pick_preset("resnet18", None, "IMAGENET1K_V1")
    cv.save(r18, "resnet18", os.path.join(out, "resnet18.safetensors"), "ref_imagenet.py", member=member)
    cv.save(r18, "resnet18", os.path.join(out, "resnet18_nofc.safetensors"), "ref_imagenet.py",
            no_fc=True, member=member)
    vit = cv.build_model("vit", None, seed=3, vit_shape=cv.parse_vit_shape("32,8,3,2,32,64,10"))
    cv.save(vit, "vit", os.path.join(out, "vit.safetensors"), "ref_imagenet.py", preprocess=VIT_PRE)

    pres = {"resnet18": member.transforms(),
            "vit": ImageClassification(crop_size=32, resize_size=36)}
    for tag, model in (("resnet18", r18), ("vit", vit)):
        for name in photos:
            t = pres[tag](Image.open(os.path.join(out, name + ".png")).convert("RGB"))
            with torch.no_grad():
                p = torch.softmax(model(t[None]), dim=1)[0]
            np.save(os.path.join(out, f"{tag}_{name}_input.npy"), t.numpy())
            np.save(os.path.join(out, f"{tag}_{name}_probs.npy"), p.numpy())

    rng = np.random.default_rng(5)
    grads(out, "resnet18", r18, RESNET_LAYERS, rng.standard_normal((2, 3, 64, 64)).astype(np.float32),
          (3, 500), False)
    grads(out, "vit", vit, VIT_LAYERS, rng.standard_normal((2, 3, 32, 32)).astype(np.float32), (1, 7), True)


if __name__ == "__main__":
    main()

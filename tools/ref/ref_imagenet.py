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
  resnet18_folded.safetensors  the same with every BatchNorm folded into its conv
                        (<conv>.weight scaled, <conv>.bias added, no bn tensors)
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
  grad_vit_rollout.npy  attention rollout of image 0 (Abnar & Zuidema, as
                        sc_attention_rollout with discard_ratio 0): per layer the
                        heads' mean attention + I, rows renormalised, multiplied
                        through the layers; the class token's row over the patches (G, G)
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


def save_folded(model, path):
    """The ResNet with each eval BatchNorm folded into the conv before it."""
    import json
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
          if not k.endswith("num_batches_tracked")}
    out = {k: v for k, v in sd.items() if k.startswith("fc.")}
    for k in sd:
        if not k.endswith(".running_var"):
            continue
        bn = k[: -len(".running_var")]
        conv = bn.replace("bn", "conv") if "downsample" not in bn else bn[:-1] + "0"
        scale = sd[bn + ".weight"] / np.sqrt(sd[bn + ".running_var"] + 1e-5)
        out[conv + ".weight"] = (sd[conv + ".weight"] * scale[:, None, None, None]).astype(np.float32)
        out[conv + ".bias"] = (sd[bn + ".bias"] - sd[bn + ".running_mean"] * scale).astype(np.float32)
    cv.st_numpy.save(path, out, metadata={"saccade.kind": "resnet",
                                          "saccade.config": json.dumps({"arch": "resnet18"})})


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


def vit_rollout(model, x, discard_ratio=0.0):
    """Rollout of image 0 from each layer's attention weights (ln_1 output through
    its own MultiheadAttention with need_weights), as jacobgil/vit-explain's
    rollout with head_fusion "mean": the heads' mean attention, its
    int(T * T * discard_ratio) smallest entries but the class token's own set
    to 0, + I, rows renormalised (vit-explain's a / a.sum(dim=-1) broadcasts
    over columns instead; the two agree when nothing is discarded)."""
    ins = []
    hooks = [layer.ln_1.register_forward_hook(lambda m, i, o: ins.append(o.detach()))
             for layer in model.encoder.layers]
    with torch.no_grad():
        model(torch.as_tensor(x))
        T = ins[0].shape[1]
        R = torch.eye(T, dtype=torch.float64)
        for layer, y in zip(model.encoder.layers, ins):
            _, w = layer.self_attention(y, y, y, need_weights=True, average_attn_weights=True)
            A = w[0].double().clone()
            if discard_ratio > 0:
                flat = A.view(-1)
                _, idx = flat.topk(int(flat.numel() * discard_ratio), largest=False)
                flat[idx[idx != 0]] = 0
            A = A + torch.eye(T, dtype=torch.float64)
            A = A / A.sum(dim=1, keepdim=True)
            R = A @ R
    for h in hooks:
        h.remove()
    G = int(round((T - 1) ** 0.5))
    return R[0, 1:].reshape(G, G).numpy().astype(np.float32)


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
    save_folded(r18, os.path.join(out, "resnet18_folded.safetensors"))
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
    xv = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    grads(out, "vit", vit, VIT_LAYERS, xv, (1, 7), True)
    np.save(os.path.join(out, "grad_vit_rollout.npy"), vit_rollout(vit, xv))


if __name__ == "__main__":
    main()

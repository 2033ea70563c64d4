#!/usr/bin/python3
"""Convert a torchvision ResNet or ViT classifier to saccade's .safetensors format.

Usage (Debian's /usr/bin/python3, which has torch + torchvision):

    /usr/bin/python3 tools/convert_torchvision.py --arch resnet50 \
        --weights resnet50-11ad3fa6.pth -o resnet50.safetensors
    /usr/bin/python3 tools/convert_torchvision.py --arch vit_b_16 \
        --weights vit_b_16-c867db91.pth -o vit_b_16.safetensors
    /usr/bin/python3 tools/convert_torchvision.py --arch resnet18 --random-seed 0 \
        [--perturb-bn] -o resnet18-random.safetensors

--arch        resnet18 | resnet34 | resnet50 | resnet101 | resnet152 |
              vit_b_16 | vit_b_32 | vit (a small ViT shaped by --vit-shape,
              for tests)
--weights     a local .pth file holding a torchvision state_dict (as
              downloaded by torchvision, or torch.save(model.state_dict()));
              a full pickled model or a {"state_dict": ...} / {"model": ...}
              checkpoint is accepted too. A "module." prefix (DataParallel)
              is stripped. Without --weights the model is randomly
              initialised with torch.manual_seed(--random-seed, default 0)
              (for tests and benchmarks: no network here to fetch weights).
              torchvision zero-initialises a ViT's head, which would make
              every class equally likely: a random ViT's head is drawn
              N(0, 0.02^2) instead.
--preset      the torchvision weights enum member whose class names and
              transforms go into the file (IMAGENET1K_V1, IMAGENET1K_V2, ...).
              Default: the member whose download URL has the --weights file's
              name, else the arch's DEFAULT member.
--perturb-bn  give every BatchNorm non-trivial running statistics and affine
              parameters (random init has mean 0, var 1, weight 1, bias 0,
              which would hide folding bugs); deterministic from the seed.
--no-fc       drop fc.weight / fc.bias (ResNet encoder-only file).
--vit-shape   IMAGE,PATCH,LAYERS,HEADS,DIM,MLP,CLASSES for --arch vit.
-o            output path (written atomically).

The output holds every tensor of the state_dict as F32 under torchvision's
names, except *.num_batches_tracked, and __metadata__
  saccade.kind        "resnet" or "vit_classifier"
  saccade.config      ResNet: {"arch": "resnet50", "bn_eps": 1e-05}
                      ViT: {"arch": "vit_b_16", "image_size": 224, "patch": 16,
                      "dim": 768, "depth": 12, "heads": 12, "mlp_dim": 3072,
                      "layer_norm_eps": 1e-06, "num_classes": 1000}
  saccade.classes     JSON list of the categories of the preset's meta (ImageNet's
                      1000; "0", "1", ... for --arch vit)
  saccade.preprocess  the preset's ImageClassification transform:
                      {"resize": 232, "crop": 224, "interpolation": "bilinear",
                      "mean": [...], "std": [...]}
  saccade.source      "<weights path>" or "random-seed N"
The state_dict is checked against torchvision's model first (load_state_dict
strict), so a wrong --arch fails here rather than at load time in C.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
import st_numpy  # noqa: E402

RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
VITS = ("vit_b_16", "vit_b_32")
ARCHS = RESNETS + VITS + ("vit",)
ENUMS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights",
         "resnet50": "ResNet50_Weights", "resnet101": "ResNet101_Weights",
         "resnet152": "ResNet152_Weights", "vit_b_16": "ViT_B_16_Weights",
         "vit_b_32": "ViT_B_32_Weights"}
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def parse_vit_shape(text):
    v = [int(t) for t in text.split(",")]
    if len(v) != 7:
        raise SystemExit("convert_torchvision: --vit-shape wants IMAGE,PATCH,LAYERS,HEADS,DIM,MLP,CLASSES")
    return dict(zip(("image_size", "patch_size", "num_layers", "num_heads", "hidden_dim", "mlp_dim",
                     "num_classes"), v))


def load_state_dict(path):
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    return {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}


def build_model(arch, weights=None, seed=0, perturb_bn=False, vit_shape=None):
    """torchvision model in eval mode, from a .pth file or seeded random init."""
    if arch not in ARCHS:
        raise SystemExit(f"convert_torchvision: unsupported arch {arch!r} (one of {', '.join(ARCHS)})")
    torch.manual_seed(seed)
    if arch == "vit":
        from torchvision.models.vision_transformer import VisionTransformer
        model = VisionTransformer(**(vit_shape or parse_vit_shape("32,8,2,2,32,64,10")))
    else:
        model = getattr(torchvision.models, arch)()
    if weights:
        try:
            model.load_state_dict(load_state_dict(weights), strict=True)
        except RuntimeError as e:
            raise SystemExit(f"convert_torchvision: {weights} does not match {arch}: {e}")
    elif arch not in RESNETS:
        g = torch.Generator().manual_seed(seed + 2)
        with torch.no_grad():
            model.heads.head.weight.copy_(0.02 * torch.randn(model.heads.head.weight.shape, generator=g))
            model.heads.head.bias.copy_(0.02 * torch.randn(model.heads.head.bias.shape, generator=g))
    if perturb_bn:
        g = torch.Generator().manual_seed(seed + 1)
        for mod in model.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                c = mod.num_features
                with torch.no_grad():
                    mod.running_mean.copy_(0.2 * torch.randn(c, generator=g))
                    mod.running_var.copy_(0.5 + torch.rand(c, generator=g))
                    mod.weight.copy_(0.6 + 0.8 * torch.rand(c, generator=g))
                    mod.bias.copy_(0.2 * torch.randn(c, generator=g))
    return model.eval()


def pick_preset(arch, weights=None, preset=None):
    """The torchvision weights enum member for the class names and transforms (None for 'vit')."""
    if arch not in ENUMS:
        return None
    enum = getattr(torchvision.models, ENUMS[arch])
    if preset:
        if preset not in enum.__members__:
            raise SystemExit(f"convert_torchvision: {ENUMS[arch]} has no {preset} "
                             f"(one of {', '.join(enum.__members__)})")
        return enum[preset]
    if weights:
        base = os.path.basename(weights)
        for member in enum:
            if os.path.basename(member.url) == base:
                return member
    return enum.DEFAULT


def preprocess_of(member, image_size):
    """The ImageClassification preset's parameters as saccade.preprocess."""
    if member is None:
        return {"resize": image_size, "crop": image_size, "interpolation": "bilinear",
                "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    kw = dict(member.transforms.keywords)
    t = member.transforms()
    interp = getattr(t, "interpolation", kw.get("interpolation"))
    return {"resize": int(t.resize_size[0]), "crop": int(t.crop_size[0]),
            "interpolation": str(interp.value), "mean": [float(v) for v in t.mean],
            "std": [float(v) for v in t.std]}


def config_of(model, arch):
    if arch in RESNETS:
        eps = next(m.eps for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        return "resnet", {"arch": arch, "bn_eps": eps}
    layers = model.encoder.layers
    return "vit_classifier", {
        "arch": arch, "image_size": model.image_size, "patch": model.patch_size,
        "dim": model.hidden_dim, "depth": len(layers), "heads": layers[0].num_heads,
        "mlp_dim": model.mlp_dim, "layer_norm_eps": model.encoder.ln.eps,
        "num_classes": model.num_classes}


def save(model, arch, path, source, no_fc=False, member=None, preprocess=None):
    tensors = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        if no_fc and k.startswith("fc."):
            continue
        tensors[k] = np.ascontiguousarray(v.detach().cpu().numpy().astype(np.float32))
    kind, config = config_of(model, arch)
    if member is not None:
        classes = list(member.meta["categories"])
    else:
        n = config.get("num_classes", tensors["fc.weight"].shape[0] if "fc.weight" in tensors else 0)
        classes = [str(i) for i in range(n)]
    image_size = config.get("image_size", 224)
    meta = {"saccade.kind": kind, "saccade.config": json.dumps(config),
            "saccade.classes": json.dumps(classes),
            "saccade.preprocess": json.dumps(preprocess or preprocess_of(member, image_size)),
            "saccade.source": source}
    tmp = path + ".tmp"
    try:
        st_numpy.save(tmp, tensors, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--weights", help="local torchvision .pth state_dict")
    ap.add_argument("--random-seed", type=int, default=0)
    ap.add_argument("--preset", help="weights enum member for class names and transforms")
    ap.add_argument("--perturb-bn", action="store_true")
    ap.add_argument("--no-fc", action="store_true")
    ap.add_argument("--vit-shape", help="IMAGE,PATCH,LAYERS,HEADS,DIM,MLP,CLASSES (--arch vit)")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    vit_shape = parse_vit_shape(a.vit_shape) if a.vit_shape else None
    model = build_model(a.arch, a.weights, a.random_seed, a.perturb_bn, vit_shape)
    member = pick_preset(a.arch, a.weights, a.preset)
    source = a.weights if a.weights else f"random-seed {a.random_seed}" + (" perturb-bn" if a.perturb_bn else "")
    save(model, a.arch, a.output, source, a.no_fc, member)
    n = sum(v.numel() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))
    print(f"{a.output}: {a.arch}, {n} parameters ({source})")


if __name__ == "__main__":
    main()

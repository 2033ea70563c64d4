#!/usr/bin/python3
"""Convert a torchvision ResNet state_dict to saccade's .safetensors format.

Usage (Debian's /usr/bin/python3, which has torch + torchvision):

    /usr/bin/python3 tools/convert_torchvision.py --arch resnet101 \
        --weights resnet101-cd907fc2.pth -o resnet101.safetensors
    /usr/bin/python3 tools/convert_torchvision.py --arch resnet18 --random-seed 0 \
        [--perturb-bn] -o resnet18-random.safetensors

--arch        resnet18 | resnet34 | resnet50 | resnet101 | resnet152
--weights     a local .pth file holding a torchvision state_dict (as
              downloaded by torchvision, or torch.save(model.state_dict()));
              a full pickled model or a {"state_dict": ...} / {"model": ...}
              checkpoint is accepted too. A "module." prefix (DataParallel)
              is stripped. Without --weights the model is randomly
              initialised with torch.manual_seed(--random-seed, default 0)
              (for tests and benchmarks: no network here to fetch weights).
--perturb-bn  give every BatchNorm non-trivial running statistics and affine
              parameters (random init has mean 0, var 1, weight 1, bias 0,
              which would hide folding bugs); deterministic from the seed.
--no-fc       drop fc.weight / fc.bias (encoder-only file).
-o            output path.

The output holds every tensor of the state_dict as F32 under torchvision's
names, except *.num_batches_tracked, and __metadata__
{"saccade.kind": "resnet",
 "saccade.config": "{\\"arch\\": \\"resnet101\\", \\"bn_eps\\": 1e-05}",
 "saccade.source": "<weights path or random-seed N>"}.
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

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")


def build_model(arch, weights=None, seed=0, perturb_bn=False):
    """torchvision model in eval mode, from a .pth file or seeded random init."""
    if arch not in ARCHS:
        raise SystemExit(f"convert_torchvision: unsupported arch {arch!r} (one of {', '.join(ARCHS)})")
    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)()
    if weights:
        obj = torch.load(weights, map_location="cpu")
        if isinstance(obj, torch.nn.Module):
            obj = obj.state_dict()
        for key in ("state_dict", "model"):
            if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
                obj = obj[key]
        sd = {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}
        try:
            model.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise SystemExit(f"convert_torchvision: {weights} does not match {arch}: {e}")
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


def save(model, arch, path, source, no_fc=False):
    tensors = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        if no_fc and k.startswith("fc."):
            continue
        tensors[k] = np.ascontiguousarray(v.detach().cpu().numpy().astype(np.float32))
    eps = next(m.eps for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    meta = {"saccade.kind": "resnet", "saccade.config": json.dumps({"arch": arch, "bn_eps": eps}),
            "saccade.source": source}
    tmp = path + ".tmp"
    st_numpy.save(tmp, tensors, metadata=meta)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--weights", help="local torchvision .pth state_dict")
    ap.add_argument("--random-seed", type=int, default=0)
    ap.add_argument("--perturb-bn", action="store_true")
    ap.add_argument("--no-fc", action="store_true")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    model = build_model(a.arch, a.weights, a.random_seed, a.perturb_bn)
    source = a.weights if a.weights else f"random-seed {a.random_seed}" + (" perturb-bn" if a.perturb_bn else "")
    save(model, a.arch, a.output, source, a.no_fc)
    n = sum(v.numel() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))
    print(f"{a.output}: {a.arch}, {n} parameters ({source})")


if __name__ == "__main__":
    main()

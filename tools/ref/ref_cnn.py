"""Reference for tests/parity/test_cnn_parity.c: saccade's CNN encoder and
classifier rebuilt in PyTorch with the same state_dict names.

Usage: ref_cnn.py OUTDIR

Writes, for each case, <case>.safetensors (state_dict + saccade.config
metadata, written with st_numpy so the C side proves it reads PyTorch's
names), and <case>_<name>.npy: input x, upstream gradient gout, train-mode
output, running statistics after that step, gradients of sum(out * gout)
w.r.t. every parameter (<case>_grad_<param name>.npy) and the input, and the
eval-mode output and input gradient.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(4321)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


from torch_cnn import CNN, Classifier  # noqa: E402


def save(case, name, t):
    a = t.detach().numpy() if torch.is_tensor(t) else np.asarray(t)
    np.save(os.path.join(OUT, f"{case}_{name}.npy"), a.astype(np.float32))


def state_dict_np(model):
    return {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def run(case, model, x, config_json, classes=None):
    # Non-trivial BN state so eval mode and the affine parameters are tested.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    meta = {"saccade.config": config_json}
    if classes is not None:
        meta["saccade.classes"] = json.dumps(classes)
    st_numpy.save(os.path.join(OUT, case + ".safetensors"), state_dict_np(model), metadata=meta)
    save(case, "x", x)
    # Eval mode first (running stats as stored).
    model.eval()
    xe = x.clone().requires_grad_(True)
    ye = model(xe)
    ge = torch.randn_like(ye)
    (ye * ge).sum().backward()
    save(case, "eval_out", ye)
    save(case, "eval_gout", ge)
    save(case, "eval_dx", xe.grad)
    model.zero_grad()
    # Training mode: batch statistics, running stats updated.
    model.train()
    xt = x.clone().requires_grad_(True)
    yt = model(xt)
    g = torch.randn_like(yt)
    (yt * g).sum().backward()
    save(case, "out", yt)
    save(case, "gout", g)
    save(case, "dx", xt.grad)
    for name, p in model.named_parameters():
        save(case, "grad_" + name, p.grad)
    for name, b in model.named_buffers():
        if "running" in name:
            save(case, "after_" + name, b)


# Case 1: the classifier (default-like encoder, small) on 1x20x20 inputs.
ccfg = {"arch": "classifier",
        "encoder": {"in_channels": 1, "channels": [6, 8, 12], "pool": [True, True, False],
                    "stride": [1, 1, 1], "kernel": [3, 3, 3], "batchnorm": True},
        "num_classes": 5, "input": [1, 20, 20], "mean": [0.25], "std": [0.4], "dropout": 0.0}
clf = Classifier(ccfg)
run("clf", clf, torch.rand(4, 1, 20, 20), json.dumps(ccfg), ["a", "b", "c", "d", "e"])

# Case 1b: the same with a 3x3 grid head (5x5 map: uneven, overlapping bins).
gcfg = dict(ccfg, head_grid=3)
clf = Classifier(gcfg)
run("clf_grid", clf, torch.rand(4, 1, 20, 20), json.dumps(gcfg), ["a", "b", "c", "d", "e"])

# Case 2: a bare encoder, 3 input channels, no BN (conv biases), stride 2,
# a 5x5 and a 1x1 kernel, odd sizes.
ecfg = {"in_channels": 3, "channels": [5, 7, 4], "pool": [False, True, False],
        "stride": [2, 1, 1], "kernel": [5, 3, 1], "batchnorm": False}
enc = CNN(ecfg)
run("enc", enc, torch.rand(2, 3, 17, 15) * 2 - 1, json.dumps(ecfg))

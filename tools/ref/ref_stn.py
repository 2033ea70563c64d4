"""Reference for tests/parity/test_stn_parity.c: saccade's ST-CNN (spatial
transformer + CNN classifier) rebuilt in PyTorch with the same state_dict
names.

Usage: ref_stn.py OUTDIR

For each case writes <case>.safetensors (state_dict + saccade.config /
saccade.classes metadata, so the C side loads PyTorch's names) and
<case>_<name>.npy: input x, upstream gradient gout, train-mode logits, the
gradients of sum(logits * gout) w.r.t. every parameter
(<case>_grad_<name>.npy) and the input (dx), the running statistics after
that step, the train-mode theta, and eval-mode logits.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(1234)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


from torch_cnn import CNN, Stage  # noqa: E402,F401


class STN(nn.Module):
    """loc (CNN, optional) -> flatten -> fc1 + ReLU (optional) -> fc2 -> theta
    -> affine_grid -> grid_sample (bilinear, zeros, align_corners=False)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c, h, w = cfg["input"]
        self.loc = CNN(cfg["loc_cnn"]) if cfg["loc_cnn"] else None
        with torch.no_grad():
            f = self.loc(torch.zeros(1, c, h, w)) if self.loc else torch.zeros(1, c, h, w)
        nf = f.numel()
        self.P = {"affine": 6, "trans_scale": 3, "similarity": 4}[cfg["transform"]]
        hid = cfg["hidden"]
        self.fc1 = nn.Linear(nf, hid) if hid else None
        self.fc2 = nn.Linear(hid if hid else nf, self.P)

    def forward(self, x):
        f = self.loc(x) if self.loc else x
        f = f.flatten(1)
        if self.fc1 is not None:
            f = torch.relu(self.fc1(f))
        p = self.fc2(f)
        if self.P == 6:
            theta = p.view(-1, 2, 3)
        elif self.P == 4:  # [a -b tx; b a ty]
            theta = torch.stack([p[:, 0], -p[:, 1], p[:, 2], p[:, 1], p[:, 0], p[:, 3]], 1)
            theta = theta.view(-1, 2, 3)
        else:
            z = torch.zeros_like(p[:, 0])
            theta = torch.stack([p[:, 0], z, p[:, 1], z, p[:, 0], p[:, 2]], 1).view(-1, 2, 3)
        oh, ow = self.cfg["output"]
        grid = F.affine_grid(theta, (x.shape[0], x.shape[1], oh, ow), align_corners=False)
        g = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return g, theta


class STCNN(nn.Module):
    def __init__(self, scfg, ccfg):
        super().__init__()
        self.stn = STN(scfg)
        self.encoder = CNN(ccfg["encoder"])
        self.grid = ccfg.get("head_grid", 0)
        self.head = nn.Linear(ccfg["encoder"]["channels"][-1] * max(self.grid, 1) ** 2,
                              ccfg["num_classes"])
        self.register_buffer("mean", torch.tensor(ccfg["mean"]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(ccfg["std"]).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):  # dropout p = 0 in the test
        g, theta = self.stn(x)
        f = self.encoder((g - self.mean) / self.std)
        if self.grid:  # adaptive average pool to G x G, flattened
            return self.head(F.adaptive_avg_pool2d(f, self.grid).flatten(1)), theta
        return self.head(f.mean(dim=(2, 3))), theta


def save(case, name, t):
    a = t.detach().numpy() if torch.is_tensor(t) else np.asarray(t)
    np.save(os.path.join(OUT, f"{case}_{name}.npy"), a.astype(np.float32))


def run(case, scfg, ccfg, x):
    model = STCNN(scfg, ccfg)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
        # off the identity, so that gradients reach every loc-net weight
        fc2 = model.stn.fc2
        fc2.weight.uniform_(-0.3 / fc2.in_features ** 0.5, 0.3 / fc2.in_features ** 0.5)
        ident = {6: [0.8, 0.1, 0.05, -0.1, 0.9, -0.05], 3: [0.7, 0.1, -0.1],
                 4: [0.8, 0.2, 0.05, -0.1]}[fc2.out_features]
        fc2.bias.copy_(torch.tensor(ident))
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()
          if not k.endswith("num_batches_tracked")}
    meta = {"saccade.config": json.dumps({"arch": "stcnn", "stn": scfg, "classifier": ccfg}),
            "saccade.classes": json.dumps([f"c{k}" for k in range(ccfg["num_classes"])])}
    st_numpy.save(os.path.join(OUT, case + ".safetensors"), sd, metadata=meta)
    save(case, "x", x)
    model.eval()
    with torch.no_grad():
        ye, te = model(x)
    save(case, "eval_out", ye)
    save(case, "eval_theta", te)
    model.train()
    xt = x.clone().requires_grad_(True)
    y, theta = model(xt)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    save(case, "out", y)
    save(case, "theta", theta)
    save(case, "gout", g)
    save(case, "dx", xt.grad)
    names = []
    for name, p in model.named_parameters():
        save(case, "grad_" + name, p.grad)
        names.append(name)
    for name, b in model.named_buffers():
        if "running" in name:
            save(case, "after_" + name, b)
    with open(os.path.join(OUT, case + "_params.txt"), "w") as f:
        f.write("\n".join(names) + "\n")


ccfg = {"arch": "classifier",
        "encoder": {"in_channels": 1, "channels": [5, 6], "pool": [True, False],
                    "stride": [1, 1], "kernel": [3, 3], "batchnorm": True},
        "num_classes": 4, "input": [1, 12, 12], "mean": [0.25], "std": [0.4], "dropout": 0.0}
# Case 1: CNN localisation net, hidden layer, full affine.
s1 = {"input": [1, 20, 20], "output": [12, 12], "transform": "affine",
      "loc_cnn": {"in_channels": 1, "channels": [4, 6], "pool": [True, True], "stride": [1, 1],
                  "kernel": [3, 3], "batchnorm": True},
      "hidden": 8}
run("cnnloc", s1, ccfg, torch.rand(4, 1, 20, 20))
# Case 2: MLP localisation (no CNN, no hidden layer), translation + scale.
s2 = {"input": [1, 16, 18], "output": [12, 12], "transform": "trans_scale", "loc_cnn": None,
      "hidden": 0}
run("mlploc", s2, ccfg, torch.rand(3, 1, 16, 18))
# Case 3: rotation + scale + translation (similarity), CNN localisation, and
# the classifier's head on a 2x2 grid instead of the global average pool.
s3 = dict(s1, transform="similarity")
run("simloc", s3, dict(ccfg, head_grid=2), torch.rand(4, 1, 20, 20))

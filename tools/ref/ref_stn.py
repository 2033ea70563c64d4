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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(1234)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


from torch_cnn import STCNN  # noqa: E402


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
                 4: [0.8, 0.2, 0.05, -0.1], 2: [0.1, -0.15]}[fc2.out_features]
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
# Case 4: a glimpse of fixed zoom that only moves (translation).
s4 = dict(s1, transform="translation", zoom=0.6)
run("transloc", s4, ccfg, torch.rand(4, 1, 20, 20))

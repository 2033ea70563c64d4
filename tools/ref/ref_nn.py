"""Reference outputs for tests/parity/test_nn_parity.c (saccade nn kernels).

Usage: ref_nn.py OUTDIR

For every case writes <case>_<name>.npy (float32): inputs and parameters from
torch (seeded), a random upstream gradient `gout`, the forward output and the
gradients from autograd, plus <case>_cfg.npy with the integer configuration
the C side reads (so the two sides cannot drift apart).
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(1234)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def save(case, name, t):
    a = t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)
    np.save(os.path.join(OUT, f"{case}_{name}.npy"), a.astype(np.float32))


def leaf(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(*shape) * (hi - lo) + lo).requires_grad_(True)


def backward(case, y):
    g = torch.randn_like(y)
    save(case, "out", y)
    save(case, "gout", g)
    y.backward(g)


# ---- linear -------------------------------------------------------------
x = leaf(2, 3, 7)
w = leaf(5, 7)
b = leaf(5)
y = F.linear(x, w, b)
save("linear", "cfg", [6, 7, 5])
for n, t in (("x", x), ("w", w), ("b", b)):
    save("linear", n, t)
backward("linear", y)
save("linear", "dx", x.grad)
save("linear", "dw", w.grad)
save("linear", "db", b.grad)

# ---- conv2d: N C H W OC KH KW stride pad dil groups bias --------------------
CONVS = {
    "conv3x3": (2, 4, 9, 8, 6, 3, 3, 1, 1, 1, 1, 1),
    "conv7x7s2": (1, 3, 17, 15, 5, 7, 7, 2, 3, 1, 1, 1),
    "conv1x1s2": (2, 6, 9, 9, 4, 1, 1, 2, 0, 1, 1, 0),
    "conv1x1": (2, 6, 5, 7, 4, 1, 1, 1, 0, 1, 1, 1),
    "convdil": (1, 3, 12, 11, 4, 3, 3, 1, 2, 2, 1, 1),
    "convgroup": (2, 6, 8, 8, 9, 3, 3, 2, 1, 1, 3, 1),
    "convdw": (2, 5, 9, 8, 5, 3, 3, 1, 1, 1, 5, 1),
    "convdw2": (1, 4, 10, 10, 8, 3, 3, 2, 2, 2, 4, 0),
}
for case, (N, C, H, W, OC, KH, KW, s, p, d, g, hasb) in CONVS.items():
    x = leaf(N, C, H, W)
    w = leaf(OC, C // g, KH, KW, lo=-0.5, hi=0.5)
    b = leaf(OC) if hasb else None
    y = F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)
    save(case, "cfg", [N, C, H, W, OC, KH, KW, s, p, d, g, hasb])
    save(case, "x", x)
    save(case, "w", w)
    if hasb:
        save(case, "b", b)
    backward(case, y)
    save(case, "dx", x.grad)
    save(case, "dw", w.grad)
    if hasb:
        save(case, "db", b.grad)

# ---- batchnorm2d: train and eval ---------------------------------------
N, C, H, W = 3, 4, 5, 6
for case, train in (("bntrain", True), ("bneval", False)):
    x = leaf(N, C, H, W, lo=-2, hi=3)
    gamma = leaf(C, lo=0.5, hi=1.5)
    beta = leaf(C)
    rm = torch.rand(C) - 0.5
    rv = torch.rand(C) + 0.5
    save(case, "cfg", [N, C, H, W])
    for n, t in (("x", x), ("gamma", gamma), ("beta", beta), ("rm", rm), ("rv", rv)):
        save(case, n, t)
    y = F.batch_norm(x, rm, rv, gamma, beta, training=train, momentum=0.1, eps=1e-5)
    backward(case, y)
    save(case, "dx", x.grad)
    save(case, "dgamma", gamma.grad)
    save(case, "dbeta", beta.grad)
    save(case, "rm_after", rm)
    save(case, "rv_after", rv)

# ---- conv followed by eval BN, folded ---------------------------------------
with torch.no_grad():
    N, C, H, W, OC = 2, 3, 8, 7, 5
    conv = torch.nn.Conv2d(C, OC, 3, stride=1, padding=1, bias=False)
    bn = torch.nn.BatchNorm2d(OC).eval()
    bn.weight.uniform_(0.5, 1.5)
    bn.bias.uniform_(-1, 1)
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 1.5)
    x = torch.rand(N, C, H, W) * 2 - 1
    save("bnfold", "cfg", [N, C, H, W, OC])
    save("bnfold", "x", x)
    save("bnfold", "w", conv.weight)
    save("bnfold", "gamma", bn.weight)
    save("bnfold", "beta", bn.bias)
    save("bnfold", "rm", bn.running_mean)
    save("bnfold", "rv", bn.running_var)
    save("bnfold", "out", bn(conv(x)))

# ---- layernorm ------------------------------------------------------------
x = leaf(3, 4, 16, lo=-2, hi=3)
gamma = leaf(16, lo=0.5, hi=1.5)
beta = leaf(16)
y = F.layer_norm(x, (16,), gamma, beta, eps=1e-5)
save("layernorm", "cfg", [12, 16])
for n, t in (("x", x), ("gamma", gamma), ("beta", beta)):
    save("layernorm", n, t)
backward("layernorm", y)
save("layernorm", "dx", x.grad)
save("layernorm", "dgamma", gamma.grad)
save("layernorm", "dbeta", beta.grad)

# ---- activations (0 relu, 1 tanh, 2 sigmoid, 3 gelu, 4 gelu tanh) ---------
ACTS = {
    "relu": (0, torch.relu),
    "tanh": (1, torch.tanh),
    "sigmoid": (2, torch.sigmoid),
    "gelu": (3, lambda t: F.gelu(t)),
    "gelutanh": (4, lambda t: F.gelu(t, approximate="tanh")),
}
for name, (code, f) in ACTS.items():
    case = "act_" + name
    x = leaf(1000, lo=-6, hi=6)
    save(case, "cfg", [code, 1000])
    save(case, "x", x)
    backward(case, f(x))
    save(case, "dx", x.grad)

# ---- pooling: N C H W k stride pad ceil count_include_pad ties --------------
MAXP = {
    "maxp_floor": (2, 3, 9, 10, 3, 2, 1, 0, 0, 0),
    "maxp_ceil": (2, 3, 9, 10, 3, 2, 1, 1, 0, 0),
    "maxp_ceil2": (1, 2, 7, 7, 2, 2, 0, 1, 0, 0),
    "maxp_ties": (1, 3, 8, 9, 3, 2, 1, 1, 0, 1),
}
for case, (N, C, H, W, k, s, p, ceil, cip, ties) in MAXP.items():
    x = torch.rand(N, C, H, W) * 2 - 1
    if ties:
        x = torch.round(x * 2) / 2  # many equal values
    x.requires_grad_(True)
    y = F.max_pool2d(x, k, s, p, ceil_mode=bool(ceil))
    save(case, "cfg", [N, C, H, W, k, s, p, ceil, cip])
    save(case, "x", x)
    backward(case, y)
    save(case, "dx", x.grad)

AVGP = {
    "avgp_pad": (2, 3, 9, 10, 3, 2, 1, 0, 1),
    "avgp_nopad": (2, 3, 9, 10, 3, 2, 1, 0, 0),
    "avgp_ceil_pad": (2, 3, 9, 10, 3, 2, 1, 1, 1),
    "avgp_ceil_nopad": (1, 2, 8, 7, 3, 2, 1, 1, 0),
}
for case, (N, C, H, W, k, s, p, ceil, cip) in AVGP.items():
    x = leaf(N, C, H, W)
    y = F.avg_pool2d(x, k, s, p, ceil_mode=bool(ceil), count_include_pad=bool(cip))
    save(case, "cfg", [N, C, H, W, k, s, p, ceil, cip])
    save(case, "x", x)
    backward(case, y)
    save(case, "dx", x.grad)

ADAP = {
    "adap_7_10": (2, 3, 7, 10, 3, 4),
    "adap_5_7": (1, 2, 5, 5, 7, 7),
    "adap_6_1": (2, 2, 6, 9, 2, 3),
}
for case, (N, C, H, W, OH, OW) in ADAP.items():
    x = leaf(N, C, H, W)
    y = F.adaptive_avg_pool2d(x, (OH, OW))
    save(case, "cfg", [N, C, H, W, OH, OW])
    save(case, "x", x)
    backward(case, y)
    save(case, "dx", x.grad)

x = leaf(2, 3, 5, 6)
y = x.mean(dim=(2, 3))
save("gap", "cfg", [2, 3, 30])
save("gap", "x", x)
backward("gap", y)
save("gap", "dx", x.grad)

# ---- masked average pool (region pooling over a (B, P, E) feature map) ---
# the PyTorch way: (mask @ x[src]) / mask.sum; an empty mask gives zeros
B, P, E = 3, 10, 5
x = leaf(B, P, E)
mask = (torch.rand(5, P) < 0.4).float()
mask[3] = 0
src = torch.tensor([2, 0, 2, 1, 0])
cnt = mask.sum(1, keepdim=True).clamp(min=1)
y = torch.bmm(mask.unsqueeze(1), x[src]).squeeze(1) / cnt
save("mavg", "cfg", [B, P, E, 5])
save("mavg", "x", x)
save("mavg", "mask", mask)
save("mavg", "src", src)
backward("mavg", y)
save("mavg", "dx", x.grad)

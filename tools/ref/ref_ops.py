#!/usr/bin/env python3
"""Reference outputs for saccade's sc_ops kernels (tests/parity/test_ops_parity.c).

Usage: ref_ops.py OUTDIR

Inputs are drawn with torch (seeded) as float32, then every oracle is computed
by torch in float64 from those float32 values (forward + autograd with random
upstream gradients) and saved as float32 .npy. Integer ids/targets are saved as
int64 (read back as float32 by sc_npy, exact for small values).
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


def save(name, t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    t = np.asarray(t)
    if t.dtype.kind in "iu":
        t = t.astype(np.int64)
    else:
        t = t.astype(np.float32)
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(t))


def rand(*shape, scale=1.0):
    """float32 draw, returned as a float64 leaf that requires grad."""
    t = (torch.randn(*shape, dtype=torch.float32) * scale).double()
    return t.requires_grad_(True)


def f32(t):
    """Round a computed input to float32 (what C will see) as a fresh float64 leaf."""
    return t.detach().float().double().requires_grad_(True)


# ---------------------------------------------------------------- embedding
V, D, PAD = 11, 7, 3
W = rand(V, D)
ids = torch.tensor([0, 3, 5, 5, 10, 3, 1, 5, 9], dtype=torch.int64)
out = F.embedding(ids, W, padding_idx=PAD)
dout = rand(len(ids), D)
(out * dout).sum().backward()
save("emb_W", W); save("emb_ids", ids); save("emb_out", out); save("emb_dout", dout)
save("emb_dW", W.grad)

# ---------------------------------------------------------------- LSTM cell
B, I, H = 3, 5, 4


def lstm_params():
    cell = torch.nn.LSTMCell(I, H).double()  # PyTorch's own init, seeded
    return cell


cell = lstm_params()
x = rand(B, I); h0 = rand(B, H); c0 = rand(B, H)
h1, c1 = cell(x, (h0, c0))
dh1 = rand(B, H); dc1 = rand(B, H)
((h1 * dh1).sum() + (c1 * dc1).sum()).backward()
for n, t in [("x", x), ("h0", h0), ("c0", c0), ("w_ih", cell.weight_ih), ("w_hh", cell.weight_hh),
             ("b_ih", cell.bias_ih), ("b_hh", cell.bias_hh), ("h1", h1), ("c1", c1),
             ("dh1", dh1), ("dc1", dc1)]:
    save("lstm1_" + n, t)
for n, t in [("x", x), ("h0", h0), ("c0", c0), ("w_ih", cell.weight_ih), ("w_hh", cell.weight_hh),
             ("b_ih", cell.bias_ih), ("b_hh", cell.bias_hh)]:
    save("lstm1_d" + n, t.grad)

# 5-step unroll: loss = sum_t <h_t, dh_t> + <c_T, dc_T>
T = 5
cell = lstm_params()
xs = rand(T, B, I); h0 = rand(B, H); c0 = rand(B, H)
dhs = rand(T, B, H); dcT = rand(B, H)
h, c = h0, c0
hs = []
for t in range(T):
    h, c = cell(xs[t], (h, c))
    hs.append(h)
hs = torch.stack(hs)
((hs * dhs).sum() + (c * dcT).sum()).backward()
for n, t in [("xs", xs), ("h0", h0), ("c0", c0), ("w_ih", cell.weight_ih), ("w_hh", cell.weight_hh),
             ("b_ih", cell.bias_ih), ("b_hh", cell.bias_hh), ("hs", hs), ("cT", c),
             ("dhs", dhs), ("dcT", dcT)]:
    save("lstmT_" + n, t)
for n, t in [("xs", xs), ("h0", h0), ("c0", c0), ("w_ih", cell.weight_ih), ("w_hh", cell.weight_hh),
             ("b_ih", cell.bias_ih), ("b_hh", cell.bias_hh)]:
    save("lstmT_d" + n, t.grad)

# ---------------------------------------------------------------- softmax
R, C = 6, 13
for name, fn, x in [("sm", F.softmax, rand(R, C, scale=3.0)),
                    ("lsm", F.log_softmax, rand(R, C, scale=3.0)),
                    # large logits: ~100 with spread, exp would overflow if not max-subtracted
                    ("lsmbig", F.log_softmax, f32(100.0 + rand(R, C, scale=20.0))),
                    ("smbig", F.softmax, f32(100.0 + rand(R, C, scale=20.0)))]:
    y = fn(x, dim=-1)
    dy = rand(R, C)
    (y * dy).sum().backward()
    save(name + "_x", x); save(name + "_y", y); save(name + "_dy", dy); save(name + "_dx", x.grad)

# ---------------------------------------------------------------- cross-entropy
N, C = 10, 7


def ce_case(name, targets, ignore_index=-100, smoothing=0.0, reduction="mean", weight=None,
            scale=2.0, offset=0.0):
    logits = f32(offset + rand(N, C, scale=scale))
    tgt = torch.tensor(targets, dtype=torch.int64)
    if weight is None:
        loss = F.cross_entropy(logits, tgt, ignore_index=ignore_index, reduction=reduction,
                               label_smoothing=smoothing)
    else:
        # per-sample weights: sum w_i l_i / sum_{not ignored} w_i
        li = F.cross_entropy(logits, tgt, ignore_index=ignore_index, reduction="none",
                             label_smoothing=smoothing)
        li = li * weight
        if reduction == "mean":
            loss = li.sum() / weight[tgt != ignore_index].sum()
        elif reduction == "sum":
            loss = li.sum()
        else:
            loss = li
        save(name + "_w", weight)
    up = rand(*loss.shape) if loss.dim() else rand(1)[0]
    if torch.isfinite(loss).all():
        (loss * up).sum().backward()
        save(name + "_dlogits", logits.grad)
    save(name + "_logits", logits); save(name + "_targets", tgt)
    save(name + "_loss", loss.reshape(-1)); save(name + "_up", up.reshape(-1))


ce_case("ce_mean", [1, 0, -100, 6, 2, 2, -100, 5, 3, 4])
ce_case("ce_big", [1, 0, -100, 6, 2, 2, -100, 5, 3, 4], scale=30.0, offset=100.0)
ce_case("ce_sum_ls", [1, 0, 2, 6, 2, 2, 3, 5, 3, 4], ignore_index=2, smoothing=0.1,
        reduction="sum")
ce_case("ce_none_ls", [1, 0, -100, 6, 2, 2, -100, 5, 3, 4], smoothing=0.2, reduction="none")
ce_case("ce_wmean", [1, 0, -100, 6, 2, 2, -100, 5, 3, 4], smoothing=0.05,
        weight=torch.rand(N, dtype=torch.float32).double())
ce_case("ce_allign", [-100] * N)

# ---------------------------------------------------------------- reductions
x = rand(3, 5, 4)
for name, red in [("rsum", torch.sum), ("rmean", torch.mean)]:
    xx = x.detach().clone().requires_grad_(True)
    y = red(xx, dim=1)
    up = rand(3, 4)
    (y * up).sum().backward()
    save(name + "_x", xx); save(name + "_y", y); save(name + "_up", up); save(name + "_dx", xx.grad)
xl = f32(0.5 + rand(100000))  # long reduction, mean ~0.5
y = xl.mean()
y.backward()
save("rlong_x", xl); save("rlong_mean", y.reshape(1)); save("rlong_sum", xl.sum().reshape(1))
save("rlong_dx", xl.grad)

# ---------------------------------------------------------------- concat
a = rand(2, 3, 4); b = rand(2, 1, 4); c = rand(2, 5, 4)
y = torch.cat([a, b, c], dim=1)
up = rand(*y.shape)
(y * up).sum().backward()
for n, t in [("a", a), ("b", b), ("c", c), ("y", y), ("up", up), ("da", a.grad), ("db", b.grad),
             ("dc", c.grad)]:
    save("cat_" + n, t)

# ---------------------------------------------------------------- add / mul
a = rand(37); b = rand(37)
y = 0.7 * a - 1.3 * b
up = rand(37)
(y * up).sum().backward()
for n, t in [("a", a), ("b", b), ("y", y), ("up", up), ("da", a.grad), ("db", b.grad)]:
    save("add_" + n, t)
a = rand(37); b = rand(37)
y = a * b
(y * up).sum().backward()
for n, t in [("a", a), ("b", b), ("y", y), ("da", a.grad), ("db", b.grad)]:
    save("mul_" + n, t)
print("ref_ops: wrote", len(os.listdir(OUT)), "files to", OUT)

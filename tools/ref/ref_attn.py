#!/usr/bin/env python3
"""Reference outputs for saccade's attention kernels (tests/parity/test_attention_parity.c).

Usage: ref_attn.py OUTDIR

Inputs and parameters are drawn (seeded) as float32; every oracle is computed
by torch in float64 from those float32 values (forward + autograd with random
upstream gradients) and saved as float32 .npy. Boolean masks are saved as
0/1 int64. Rollout and sin-cos embeddings are computed in numpy.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(4321)
np.random.seed(4321)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def save(name, t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu()
        if t.dtype == torch.bool:
            t = t.long()
        t = t.numpy()
    t = np.asarray(t)
    t = t.astype(np.int64) if t.dtype.kind in "iub" else t.astype(np.float32)
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(t))


def rand(*shape, scale=1.0):
    return (torch.randn(*shape, dtype=torch.float32) * scale).double().requires_grad_(True)


def f32_params(mod):
    """Round a module's (float32-initialised) params to float32 and go float64."""
    mod.float()
    mod.double()
    return mod


# ---------------------------------------------------------------- additive attention
class Attention(nn.Module):
    """sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning models.Attention (act = relu);
    act = tanh gives the original Show, Attend and Tell formulation."""

    def __init__(self, encoder_dim, decoder_dim, attention_dim, act):
        super().__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.act = nn.ReLU() if act == "relu" else nn.Tanh()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, encoder_out, decoder_hidden):
        att1 = self.encoder_att(encoder_out)
        att2 = self.decoder_att(decoder_hidden)
        att = self.full_att(self.act(att1 + att2.unsqueeze(1))).squeeze(2)
        alpha = self.softmax(att)
        awe = (encoder_out * alpha.unsqueeze(2)).sum(dim=1)
        return awe, alpha


for act in ["relu", "tanh"]:
    B, P, E, H, A = 3, 7, 6, 5, 4
    m = f32_params(Attention(E, H, A, act))
    f = rand(B, P, E); h = rand(B, H)
    ctx, alpha = m(f, h)
    dctx = rand(B, E); dal = rand(B, P)
    ((ctx * dctx).sum() + (alpha * dal).sum()).backward()
    p = "add_" + act + "_"
    for n, t in [("f", f), ("h", h), ("ctx", ctx), ("alpha", alpha), ("dctx", dctx), ("dalpha", dal),
                 ("df", f.grad), ("dh", h.grad)]:
        save(p + n, t)
    for n, prm in m.named_parameters():
        save(p + n, prm)
        save(p + "d" + n, prm.grad)

# ---------------------------------------------------------------- multi-head attention
def mha_case(name, B, Lq, Lk, E, nh, self_attn, masks, average):
    mha = f32_params(nn.MultiheadAttention(E, nh, batch_first=True))
    with torch.no_grad():  # non-zero biases so their gradients are exercised
        mha.in_proj_bias.copy_(torch.randn(3 * E).float().double())
        mha.out_proj.bias.copy_(torch.randn(E).float().double())
    q = rand(B, Lq, E)
    if self_attn:
        k = v = q
    else:
        k = rand(B, Lk, E); v = rand(B, Lk, E)
    am = kpm = None
    if masks:
        am = torch.rand(Lq, Lk) < 0.3
        am[:, 0] = False  # keep a key per row
        kpm = torch.zeros(B, Lk, dtype=torch.bool)
        kpm[0, -2:] = True
        kpm[1, 1] = True
    out, w = mha(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=True,
                 average_attn_weights=average)
    dout = rand(B, Lq, E)
    (out * dout).sum().backward()
    p = name + "_"
    save(p + "q", q); save(p + "out", out); save(p + "w", w); save(p + "dout", dout)
    save(p + "dq", q.grad)
    if not self_attn:
        save(p + "k", k); save(p + "v", v); save(p + "dk", k.grad); save(p + "dv", v.grad)
    if masks:
        save(p + "am", am); save(p + "kpm", kpm)
    for n, prm in mha.named_parameters():
        save(p + n, prm)
        save(p + "d" + n, prm.grad)


mha_case("mhas", 2, 5, 5, 8, 2, True, True, False)
mha_case("mhac", 2, 4, 6, 12, 3, False, False, True)
# long enough (nh * L >= 2 E) for the fused QKV projection of self-attention
mha_case("mhaf", 2, 9, 9, 8, 2, True, True, False)

# ---------------------------------------------------------------- transformer encoder layer
def tel_case(name, norm_first, act, masks, train):
    B, L, E, nh, Fd = 2, 5, 8, 2, 16
    layer = f32_params(nn.TransformerEncoderLayer(E, nh, Fd, dropout=0.0, activation=act,
                                                  batch_first=True, norm_first=norm_first))
    with torch.no_grad():
        for n, prm in layer.named_parameters():
            if "norm" in n or "bias" in n:  # non-trivial affine params and biases
                prm.add_(0.3 * torch.randn(prm.shape).float().double())
    layer.train(train)
    x = rand(B, L, E)
    kpm = None
    if masks:
        kpm = torch.zeros(B, L, dtype=torch.bool)
        kpm[1, -2:] = True
    y = layer(x, src_key_padding_mask=kpm)
    dy = rand(B, L, E)
    (y * dy).sum().backward()
    p = name + "_"
    save(p + "x", x); save(p + "y", y); save(p + "dy", dy); save(p + "dx", x.grad)
    if masks:
        save(p + "kpm", kpm)
    for n, prm in layer.named_parameters():
        save(p + n, prm)
        save(p + "d" + n, prm.grad)


tel_case("telpost", False, "relu", True, True)
tel_case("telpre", True, "gelu", False, False)

# ---------------------------------------------------------------- patch embedding
B, C, Hh, Ww, pp, D = 2, 3, 9, 8, 4, 5
conv = f32_params(nn.Conv2d(C, D, pp, stride=pp))
x = rand(B, C, Hh, Ww)
y = conv(x).flatten(2).transpose(1, 2)
dy = rand(*y.shape)
(y * dy).sum().backward()
for n, t in [("x", x), ("w", conv.weight), ("b", conv.bias), ("y", y), ("dy", dy), ("dx", x.grad),
             ("dw", conv.weight.grad), ("db", conv.bias.grad)]:
    save("pe_" + n, t)


# ---------------------------------------------------------------- 2-D sin-cos (MAE code, non-square grid)
def get_1d_sincos_pos_embed_from_grid(embed_dim, pos):
    omega = np.arange(embed_dim // 2, dtype=np.float64)
    omega /= embed_dim / 2.0
    omega = 1.0 / 10000 ** omega
    pos = pos.reshape(-1)
    out = np.einsum("m,d->md", pos, omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def get_2d_sincos_pos_embed(embed_dim, gh, gw):
    grid_h = np.arange(gh, dtype=np.float64)
    grid_w = np.arange(gw, dtype=np.float64)
    grid = np.meshgrid(grid_w, grid_h)  # here w goes first
    grid = np.stack(grid, axis=0).reshape([2, 1, gh, gw])
    emb_h = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[0])
    emb_w = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[1])
    return np.concatenate([emb_h, emb_w], axis=1)


save("sincos_3x5x16", get_2d_sincos_pos_embed(16, 3, 5))
save("sincos_14x14x64", get_2d_sincos_pos_embed(64, 14, 14))

# ---------------------------------------------------------------- attention rollout
gh, gw, nl, nh, E = 3, 4, 3, 2, 8
T = 1 + gh * gw
layers = [f32_params(nn.MultiheadAttention(E, nh, batch_first=True)) for _ in range(nl)]
x = torch.randn(1, T, E).double()
ws = []
with torch.no_grad():
    for m in layers:
        o, w = m(x, x, x, need_weights=True, average_attn_weights=False)
        ws.append(w[0].float().double().numpy())  # (nh, T, T), as C will see it
        x = x + o
attn = np.stack(ws)  # (nl, nh, T, T)


def rollout(attn, discard_ratio, full=False):
    R = np.eye(T)
    for l in range(attn.shape[0]):
        A = attn[l].mean(axis=0)
        if discard_ratio > 0:
            flat = A.reshape(-1)  # view: as jacobgil/vit-explain, never drop entry 0
            k = int(flat.size * discard_ratio)
            idx = np.argsort(flat, kind="stable")[:k]
            idx = idx[idx != 0]
            flat[idx] = 0
        A = A + np.eye(T)
        A = A / A.sum(axis=-1, keepdims=True)
        R = A @ R
    return R if full else R[0, 1:].reshape(gh, gw)


save("roll_attn", attn)
save("roll_out", rollout(attn, 0.0))
save("roll_out_d30", rollout(attn, 0.3))
save("roll_matrix_d30", rollout(attn, 0.3, full=True))

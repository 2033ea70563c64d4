"""PyTorch twin of saccade's ViT patch encoder (include/saccade/sc_vit.h):
the same computation and the same state_dict names, from the same config
JSON ("saccade.encoder" of a model file). Used by tools/ref/ref_vit.py
(parity) and usable to train or inspect a saccade ViT in PyTorch."""
import math

import numpy as np
import torch
import torch.nn as nn


def sincos_2d(G, D):
    """MAE's fixed 2-D sin-cos embeddings (G*G, D): column then row."""
    q = D // 4
    om = 1.0 / (10000.0 ** (np.arange(q, dtype=np.float64) / q))
    out = np.zeros((G * G, D), dtype=np.float64)
    for i in range(G):
        for j in range(G):
            o = out[i * G + j]
            o[:q], o[q:2 * q] = np.sin(j * om), np.cos(j * om)
            o[2 * q:3 * q], o[3 * q:] = np.sin(i * om), np.cos(i * om)
    return torch.tensor(out, dtype=torch.float32)


class PatchEmbed(nn.Module):
    def __init__(self, C, D, p):
        super().__init__()
        self.proj = nn.Conv2d(C, D, p, stride=p)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViTEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        D, G = cfg["dim"], cfg["image_size"] // cfg["patch"]
        self.has_cls = cfg.get("cls_token", True)
        T = G * G + (1 if self.has_cls else 0)
        self.patch_embed = PatchEmbed(cfg["in_channels"], D, cfg["patch"])
        if self.has_cls:
            self.cls_token = nn.Parameter(torch.randn(1, 1, D) * 0.02)
        if cfg.get("pos_embed", "learned") == "learned":
            self.pos_embed = nn.Parameter(torch.randn(1, T, D) * 0.02)
        else:
            fixed = torch.zeros(1, T, D)
            fixed[0, T - G * G:] = sincos_2d(G, D)
            self.register_buffer("pos_fixed", fixed, persistent=False)
            self.pos_embed = None
        act = cfg.get("activation", "gelu")
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(D, cfg["heads"], cfg["mlp_dim"], cfg.get("dropout", 0.0),
                                       activation=act, batch_first=True, norm_first=True)
            for _ in range(cfg["depth"])])
        self.norm = nn.LayerNorm(D)

    def embed(self, x):
        t = self.patch_embed(x)
        if self.has_cls:
            t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)
        return t + (self.pos_embed if self.pos_embed is not None else self.pos_fixed)

    def forward(self, x):
        z = self.embed(x)
        for layer in self.layers:
            z = layer(z)
        return self.norm(z)

    @torch.no_grad()
    def attentions(self, x):
        """Per-layer per-head attention (B, heads, T, T) of an eval forward."""
        z, out = self.embed(x), []
        for layer in self.layers:
            n = layer.norm1(z)
            _, a = layer.self_attn(n, n, n, need_weights=True, average_attn_weights=False)
            out.append(a)
            z = layer(z)
        return out


def rollout(attns, b, G):
    """Abnar & Zuidema's rollout of image b (no discarding), numpy float64."""
    T = attns[0].shape[-1]
    R = np.eye(T)
    for a in attns:
        A = a[b].double().mean(0).numpy() + np.eye(T)
        A /= A.sum(1, keepdims=True)
        R = A @ R
    return R[0, 1:].reshape(G, G)

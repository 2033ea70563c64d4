"""Reference for tests/parity/test_vqa_parity.c: saccade's VQA models
(stacked attention network and the two baselines) rebuilt in PyTorch with
the same state_dict names.

Usage: ref_vqa.py OUTDIR

For each variant (san, qonly, pooled, san_coords: a 3-hop SAN with
hop_coords, and coatt: hierarchical co-attention, questions of lengths 6, 3,
1, 4 padded to 6) writes <variant>.safetensors (state_dict with
saccade.config / saccade.vocab / saccade.answers metadata, via st_numpy) and
<variant>_<name>.npy: inputs images, ids, lens, weights wgt; train-mode logits,
attention maps (san, coatt), question attention (coatt: <variant>_qatt),
and gradients of sum(logits * wgt) w.r.t. every
parameter (<variant>_grad_<param name>.npy).
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
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


from torch_cnn import CNN, Stage  # noqa: E402,F401


class Hop(nn.Module):
    def __init__(self, d, a, rel=False):
        super().__init__()
        self.img = nn.Linear(d, a, bias=False)
        self.ques = nn.Linear(d, a)
        self.att = nn.Linear(a, 1)
        # hop_coords, hops after the first: each cell's offset from the previous
        # hop's attended position enters the attention
        self.rel = nn.Linear(2, a, bias=False) if rel else None

    def forward(self, v, u, pos=None, prev=None):  # v (B, P, D), u (B, D), pos (1, P, 2), prev (B, 2)
        pre = self.img(v) + self.ques(u).unsqueeze(1)
        if self.rel is not None:
            pre = pre + self.rel(pos - prev.unsqueeze(1))
        h = torch.tanh(pre)
        p = torch.softmax(self.att(h).squeeze(-1), dim=1)
        return (p.unsqueeze(-1) * v).sum(1) + u, p


class CoAtt(nn.Module):
    """Parallel co-attention of one level (Lu et al. 2016, eq. 3-4)."""

    def __init__(self, d, a):
        super().__init__()
        self.affinity = nn.Linear(d, d, bias=False)  # W_b
        self.img = nn.Linear(d, a, bias=False)  # W_v
        self.ques = nn.Linear(d, a, bias=False)  # W_q
        self.img_att = nn.Linear(a, 1, bias=False)  # w_hv
        self.ques_att = nn.Linear(a, 1, bias=False)  # w_hq

    def forward(self, v, q, mask):  # v (B, P, D), q (B, T, D) zero where padded, mask (B, T)
        c = torch.tanh(q @ self.affinity(v).transpose(1, 2))  # (B, T, P)
        xv, xq = self.img(v), self.ques(q)
        hv = torch.tanh(xv + c.transpose(1, 2) @ xq)
        hq = torch.tanh(xq + c @ xv)
        av = torch.softmax(self.img_att(hv).squeeze(-1), dim=1)
        sq = self.ques_att(hq).squeeze(-1).masked_fill(~mask, float("-inf"))
        aq = torch.softmax(sq, dim=1)
        return (av.unsqueeze(-1) * v).sum(1), (aq.unsqueeze(-1) * q).sum(1), av, aq


class VQA(nn.Module):
    def __init__(self, cfg, nvocab, nans):
        super().__init__()
        self.cfg = cfg
        d, e = cfg["hidden_dim"], cfg["embed_dim"]
        self.arch = cfg["arch"]
        if self.arch != "qonly":
            self.encoder = CNN(cfg["encoder"])
            self.img_proj = nn.Linear(cfg["encoder"]["channels"][-1] + 2, d)
        self.embed = nn.Embedding(nvocab, e, padding_idx=0)
        self.lstm = nn.LSTM(e, d, batch_first=True)
        if self.arch == "coatt":
            h = cfg.get("mlp_dim", 0) or d
            self.phrase = nn.ModuleList([nn.Conv1d(d, d, s, padding=0 if s == 1 else 1)
                                         for s in (1, 2, 3)])
            self.coatt = nn.ModuleList([CoAtt(d, cfg["att_dim"]) for _ in range(3)])
            self.answer = nn.ModuleList([nn.Linear(d, h), nn.Linear(d + h, h), nn.Linear(d + h, h)])
            self.classifier = nn.Linear(h, nans)
        if self.arch == "san":
            hc = bool(cfg.get("hop_coords", False))
            self.hops = nn.ModuleList([Hop(d, cfg["att_dim"], rel=hc and k > 0)
                                       for k in range(cfg["hops"])])
        # hop_coords: each hop's expected cell centre joins the classifier input
        self.hop_coords = bool(cfg.get("hop_coords", False))
        f = 2 * d if self.arch == "pooled" else d + (2 * cfg["hops"] if self.hop_coords else 0)
        if self.arch != "coatt":
            self.classifier = nn.Linear(f, nans)
        self.mean = torch.tensor(cfg["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg["std"]).view(1, 3, 1, 1)

    def image(self, x):
        f = self.encoder((x - self.mean) / self.std)  # (B, C, g, g)
        B, C, g, _ = f.shape
        f = f.flatten(2).transpose(1, 2)  # (B, P, C)
        c = (torch.arange(g, dtype=torch.float32) + 0.5) * 2 / g - 1
        xs = c.repeat(g)  # column of position i = i % g
        ys = c.repeat_interleave(g)
        coords = torch.stack([xs, ys], 1).unsqueeze(0).expand(B, -1, -1)
        return torch.tanh(self.img_proj(torch.cat([f, coords], 2))), coords

    def forward_coatt(self, x, ids, lens):
        T = ids.shape[1]
        mask = torch.arange(T).unsqueeze(0) < lens.unsqueeze(1)  # (B, T)
        m3 = mask.unsqueeze(-1).float()
        qw = self.embed(ids) * m3  # word level
        xc = qw.transpose(1, 2)  # (B, D, T); widths 2, 3 read words t-1.. (zero padding)
        conv = [torch.tanh(p(xc)[:, :, :T]) for p in self.phrase]
        qp = torch.stack(conv, 0).max(0).values.transpose(1, 2) * m3  # phrase level
        qs = self.lstm(qp)[0] * m3  # question level
        v, _ = self.image(x)
        h, avs, aqs = None, [], []
        for lvl, q in enumerate((qw, qp, qs)):
            vh, qh, av, aq = self.coatt[lvl](v, q, mask)
            avs.append(av)
            aqs.append(aq)
            z = qh + vh if h is None else torch.cat([qh + vh, h], 1)
            h = torch.tanh(self.answer[lvl](z))
        return self.classifier(h), torch.stack(avs, 1), torch.stack(aqs, 1)

    def forward(self, x, ids, lens):
        if self.arch == "coatt":
            return self.forward_coatt(x, ids, lens)
        out, _ = self.lstm(self.embed(ids))
        u = out[torch.arange(ids.shape[0]), lens - 1]
        if self.arch == "qonly":
            return self.classifier(u), None, None
        v, coords = self.image(x)
        if self.arch == "pooled":
            vm = v.mean(1)
            return self.classifier(torch.cat([u, vm * u], 1)), None, None
        atts, where = [], []
        for hop in self.hops:
            u, p = hop(v, u, coords[:1], where[-1] if where else None)
            atts.append(p)
            where.append((p.unsqueeze(-1) * coords).sum(1))  # attended position (B, 2): x, y
        z = [u] + (where if self.hop_coords else [])
        return self.classifier(torch.cat(z, 1)), torch.stack(atts, 1), None


def save(tag, name, t):
    a = t.detach().numpy() if torch.is_tensor(t) else np.asarray(t)
    np.save(os.path.join(OUT, f"{tag}_{name}.npy"), np.ascontiguousarray(a.astype(np.float32)))


VOCAB = ["<pad>", "<unk>", "a", "bag", "is", "red", "the", "there", "what"]
ANSWERS = ["yes", "no", "red", "blue", "bag"]
VARIANTS = [("san", "san", {}), ("qonly", "qonly", {}), ("pooled", "pooled", {}),
            ("san_coords", "san", {"hop_coords": True, "hops": 3}),
            ("coatt", "coatt", {"embed_dim": 8, "mlp_dim": 5})]
for seed, (tag, arch, extra) in enumerate(VARIANTS):
    torch.manual_seed(100 + seed)
    cfg = {
        "arch": arch, "image_size": 24, "mean": [0.2, 0.25, 0.3], "std": [0.3, 0.35, 0.4],
        "encoder": {"in_channels": 3, "channels": [5, 6], "pool": [True, False],
                    "stride": [1, 1], "kernel": [5, 3], "batchnorm": True},
        "embed_dim": 7, "hidden_dim": 8, "att_dim": 6, "hops": 2, "max_len": 6,
    }
    cfg.update(extra)
    m = VQA(cfg, len(VOCAB), len(ANSWERS))
    with torch.no_grad():  # non-trivial BN statistics and weights
        for name, p in m.named_parameters():
            if "bn" in name:
                p.uniform_(0.5, 1.5) if name.endswith("weight") else p.uniform_(-0.3, 0.3)
    m.train()
    B = 4
    x = torch.rand(B, 3, 24, 24)
    lens = torch.tensor([6, 3, 1, 4])
    ids = torch.zeros(B, 6, dtype=torch.long)
    for b in range(B):
        ids[b, : lens[b]] = torch.randint(1, len(VOCAB), (int(lens[b]),))
    wgt = torch.randn(B, len(ANSWERS))
    # Buffers before the forward pass (it updates the running statistics).
    tensors = {k: v.detach().numpy().astype(np.float32).copy()
               for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    meta = {"saccade.config": json.dumps(cfg), "saccade.vocab": json.dumps(VOCAB),
            "saccade.answers": json.dumps(ANSWERS), "saccade.task": "vqa"}
    st_numpy.save(os.path.join(OUT, f"{tag}.safetensors"), tensors, metadata=meta)
    logits, att, qatt = m(x, ids, lens)
    (logits * wgt).sum().backward()
    save(tag, "images", x)
    save(tag, "ids", ids.float())
    save(tag, "lens", lens.float())
    save(tag, "wgt", wgt)
    save(tag, "logits", logits)
    if att is not None:
        save(tag, "att", att)
    if qatt is not None:
        save(tag, "qatt", qatt)
    for name, p in m.named_parameters():
        save(tag, "grad_" + name, p.grad)
print("ok")

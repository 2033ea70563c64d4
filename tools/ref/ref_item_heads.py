#!/usr/bin/env python3
"""Reference for the captioner's item-heads loss (sc_captioner_item_heads,
sc_caption_loss_opts.item_heads) in PyTorch: each item's features are the mean
of its example's feature rows at the item's box cells; linear class and colour
heads; loss = W * (CE_class + CE_colour) / 2, each cross entropy the mean over
the items. Reads DIR/{feat, wc, bc, wo, bo, items}.npy (items rows: example,
class, colour, P cell flags) and W; writes loss.npy and the gradients dfeat,
dwc, dbc, dwo, dbo (.npy, float32)."""
import os
import sys

import numpy as np
import torch

d, W = sys.argv[1], float(sys.argv[2])
ld = lambda n: torch.tensor(np.load(os.path.join(d, n + ".npy")), dtype=torch.float64)
feat, wc, bc, wo, bo = (ld(n).requires_grad_() for n in ("feat", "wc", "bc", "wo", "bo"))
items = np.load(os.path.join(d, "items.npy")).astype(np.int64)
pooled = torch.stack([feat[r[0]][torch.tensor(r[3:] != 0)].mean(0) for r in items])
cls, col = torch.tensor(items[:, 1]), torch.tensor(items[:, 2])
F = torch.nn.functional
loss = W * 0.5 * F.cross_entropy(pooled @ wc.T + bc, cls) + \
    W * 0.5 * F.cross_entropy(pooled @ wo.T + bo, col)
loss.backward()
out = {"loss": loss.detach().reshape(1), "dfeat": feat.grad, "dwc": wc.grad, "dbc": bc.grad,
       "dwo": wo.grad, "dbo": bo.grad}
for k, v in out.items():
    np.save(os.path.join(d, k + ".npy"), v.numpy().astype(np.float32))

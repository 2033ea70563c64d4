"""Reference for tests/parity/test_vit.c: saccade's ViT encoder against its
PyTorch twin (tools/ref/torch_vit.py, nn.TransformerEncoderLayer layers).

Usage: ref_vit.py OUTDIR

Per case: <case>.safetensors (state_dict with "encoder." names, the config as
"saccade.encoder" metadata, written with st_numpy), <case>_x.npy input,
<case>_out.npy eval output, <case>_gout.npy upstream gradient,
<case>_dx.npy and <case>_grad_<name>.npy gradients of sum(out * gout),
<case>_rollout.npy (class-token cases): rollout of image 1.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402
from torch_vit import ViTEncoder, rollout  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(2024)
OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)


def save(case, name, t):
    a = t.detach().numpy() if torch.is_tensor(t) else np.asarray(t)
    np.save(os.path.join(OUT, f"{case}_{name}.npy"), a.astype(np.float32))


def run(case, cfg, B):
    model = ViTEncoder(cfg)
    with torch.no_grad():  # non-trivial norms and biases
        for n, p in model.named_parameters():
            if n.endswith("bias") or "norm" in n:
                p.add_(torch.randn_like(p) * 0.1)
    model.eval()
    sd = {"encoder." + k: v.detach().numpy().astype(np.float32)
          for k, v in model.state_dict().items()}
    st_numpy.save(os.path.join(OUT, case + ".safetensors"), sd,
                  metadata={"saccade.encoder": json.dumps(cfg)})
    S = cfg["image_size"]
    x = (torch.rand(B, cfg["in_channels"], S, S) * 2 - 1).requires_grad_(True)
    y = model(x)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    save(case, "x", x)
    save(case, "out", y)
    save(case, "gout", g)
    save(case, "dx", x.grad)
    for name, p in model.named_parameters():
        save(case, "grad_" + name, p.grad)
    if cfg.get("cls_token", True):
        save(case, "rollout", rollout(model.attentions(x.detach()), 1, S // cfg["patch"]))


run("learned", {"type": "vit", "image_size": 16, "patch": 4, "in_channels": 3, "dim": 16,
                "depth": 2, "heads": 2, "mlp_dim": 24, "cls_token": True,
                "pos_embed": "learned", "activation": "gelu", "dropout": 0.0}, 3)
run("sincos", {"type": "vit", "image_size": 12, "patch": 3, "in_channels": 5, "dim": 12,
               "depth": 3, "heads": 3, "mlp_dim": 20, "cls_token": False,
               "pos_embed": "sincos", "activation": "relu", "dropout": 0.0}, 2)

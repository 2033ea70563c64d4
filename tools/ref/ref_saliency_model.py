"""Reference for tests/parity/test_saliency_model_parity.c: Grad-CAM and
input-gradient saliency of saccade's classifiers computed with PyTorch
autograd (hooks on the last conv feature map), on the same weights.

Usage: ref_saliency_model.py OUTDIR SOURCE_DIR

Cases (each writes <case>_<name>.npy):
  stn   the shipped assets/models/fashion-stn.safetensors (ST-CNN), weights read
        from the saccade file into the twin in torch_cnn.py; input x: a dark
        canvas with two soft bright shapes and a little noise
  cls   a random plain classifier (3-channel input), written as
        cls.safetensors with saccade's metadata
Outputs: x, target (the predicted class), logit, cam (the Grad-CAM map at the
feature map's size, ReLU, divided by its max), map (cam at the input: for the
ST-CNN upsampled to the glimpse and sampled at theta^-1 of every input pixel;
for the classifier upsampled to the input), dx (d logit / d x) and gmap
(max over channels of |dx|, divided by its max); stn also *_t1 for a chosen
class (the runner-up).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402
from torch_cnn import Classifier, STCNN, classifier_state, randomise_bn  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(7)
OUT, SRC = sys.argv[1], sys.argv[2]
os.makedirs(OUT, exist_ok=True)


def save(case, name, a):
    a = a.detach().numpy() if torch.is_tensor(a) else np.asarray(a)
    np.save(os.path.join(OUT, f"{case}_{name}.npy"), a.astype(np.float32))


def gradcam(model, encoder, x, target):
    """Grad-CAM with hooks on the encoder's output (the last conv stage)."""
    store = {}

    def fwd(_m, _i, out):
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    h = encoder.register_forward_hook(fwd)
    out = model(x)
    logits = out[0] if isinstance(out, tuple) else out
    h.remove()
    k = int(logits[0].argmax()) if target is None else target
    model.zero_grad()
    logits[0, k].backward()
    w = store["grad"].mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((w * store["act"]).sum(1))[0]
    cam = cam / cam.max()
    return k, float(logits[0, k]), cam.detach(), out


def gradient(model, x, target):
    xg = x.clone().requires_grad_(True)
    out = model(xg)
    logits = out[0] if isinstance(out, tuple) else out
    k = int(logits[0].argmax()) if target is None else target
    logits[0, k].backward()
    dx = xg.grad[0]
    g = dx.abs().amax(0)
    return k, dx, g / g.max()


def stn_map(cam, theta, glimpse_hw, in_hw):
    up = F.interpolate(cam[None, None], size=glimpse_hw, mode="bilinear", align_corners=False)
    t = theta.detach().double().view(2, 3)
    a = t[:, :2]
    ai = torch.linalg.inv(a)
    inv = torch.cat([ai, -(ai @ t[:, 2:])], 1).float()[None]
    grid = F.affine_grid(inv, (1, 1) + tuple(in_hw), align_corners=False)
    return F.grid_sample(up, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0, 0]


# ---------------------------------------------------------------- stn (shipped)
path = os.path.join(SRC, "assets", "models", "fashion-stn.safetensors")
tensors, meta = st_numpy.load(path)
cfg = json.loads(meta["saccade.config"])
scfg, ccfg = cfg["stn"], cfg["classifier"]
model = STCNN(scfg, ccfg)
sd = model.state_dict()
for k in sd:
    if k in tensors:
        sd[k] = torch.from_numpy(np.asarray(tensors[k], dtype=np.float32).copy())
missing = [k for k in sd if k not in tensors and not k.endswith("num_batches_tracked")]
assert not missing, missing
model.load_state_dict(sd)
model.eval()
C, H, W = scfg["input"]
yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
img = 0.08 + 0.8 * np.exp(-(((xx - 38) / 7.0) ** 2 + ((yy - 22) / 10.0) ** 2))
img += 0.5 * np.exp(-(((xx - 15) / 4.0) ** 2 + ((yy - 45) / 4.0) ** 2))
img += 0.03 * np.random.default_rng(3).random((H, W))  # no max-pool ties
x = torch.from_numpy(np.clip(img, 0, 1).astype(np.float32)).view(1, C, H, W)
save("stn", "x", x[0])
with torch.no_grad():
    second = int(model(x)[0][0].argsort(descending=True)[1])  # a chosen class: the runner-up
for suffix, target in (("", None), ("_t1", second)):
    k, logit, cam, (_, theta) = gradcam(model, model.encoder, x, target)
    save("stn", "target" + suffix, [k])
    save("stn", "logit" + suffix, [logit])
    save("stn", "cam" + suffix, cam)
    save("stn", "map" + suffix, stn_map(cam, theta, tuple(scfg["output"]), (H, W)))
    k2, dx, g = gradient(model, x, target)
    assert k2 == k
    save("stn", "dx" + suffix, dx)
    save("stn", "gmap" + suffix, g)

# ---------------------------------------------------------------- cls (random)
ccfg = {"arch": "classifier",
        "encoder": {"in_channels": 3, "channels": [6, 8, 10], "pool": [True, False, False],
                    "stride": [1, 1, 1], "kernel": [3, 3, 3], "batchnorm": True},
        "num_classes": 5, "input": [3, 20, 24], "mean": [0.4, 0.5, 0.3],
        "std": [0.25, 0.3, 0.2], "dropout": 0.0}
model = Classifier(ccfg)
randomise_bn(model)
sd = classifier_state(model)
st_numpy.save(os.path.join(OUT, "cls.safetensors"), sd,
              metadata={"saccade.config": json.dumps(ccfg),
                        "saccade.classes": json.dumps([f"c{k}" for k in range(5)])})
model.eval()
x = torch.rand(1, 3, 20, 24)
save("cls", "x", x[0])
k, logit, cam, _ = gradcam(model, model.encoder, x, None)
save("cls", "target", [k])
save("cls", "logit", [logit])
save("cls", "cam", cam)
save("cls", "map", F.interpolate(cam[None, None], size=(20, 24), mode="bilinear",
                                 align_corners=False)[0, 0])
k2, dx, g = gradient(model, x, None)
save("cls", "dx", dx)
save("cls", "gmap", g)

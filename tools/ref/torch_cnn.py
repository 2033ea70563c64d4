"""PyTorch twins of saccade's small CNN encoder (sc_cnn.h) and of the ST-CNN
(sc_stn.h), shared by the reference scripts. CNN: stages of conv (padding
k // 2, bias only without BN) -> BatchNorm -> ReLU -> optional 2x2 max pool,
with the same state_dict names (stages.{i}.conv.weight, stages.{i}.bn.*).
STN / STCNN: the spatial transformer and classifier with sc_stn.h's names."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Stage(nn.Module):
    def __init__(self, ic, oc, k, stride, pool, bn):
        super().__init__()
        self.conv = nn.Conv2d(ic, oc, k, stride=stride, padding=k // 2, bias=not bn)
        self.bn = nn.BatchNorm2d(oc) if bn else None
        self.pool = nn.MaxPool2d(2) if pool else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        x = torch.relu(x)
        return self.pool(x) if self.pool is not None else x


class CNN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        n = len(cfg["channels"])
        ks = cfg.get("kernel", [3] * n)
        ss = cfg.get("stride", [1] * n)
        ps = cfg.get("pool", [False] * n)
        ic = cfg["in_channels"]
        stages = []
        for i, oc in enumerate(cfg["channels"]):
            stages.append(Stage(ic, oc, ks[i], ss[i], ps[i], cfg.get("batchnorm", True)))
            ic = oc
        self.stages = nn.ModuleList(stages)

    def forward(self, x):
        for s in self.stages:
            x = s(x)
        return x


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
        self.P = {"affine": 6, "trans_scale": 3, "similarity": 4,
                  "translation": 2}[cfg["transform"]]
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
        elif self.P == 2:  # [z 0 tx; 0 z ty], z fixed
            z = torch.full_like(p[:, 0], self.cfg["zoom"])
            o = torch.zeros_like(p[:, 0])
            theta = torch.stack([z, o, p[:, 0], o, z, p[:, 1]], 1).view(-1, 2, 3)
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


class Classifier(nn.Module):
    """sc_classifier: normalise, CNN, then global average pool (head_grid 0) or
    adaptive average pool to G x G flattened channel-major, then linear.
    Dropout is omitted (p = 0 in the tests)."""

    def __init__(self, cfg):
        super().__init__()
        self.encoder = CNN(cfg["encoder"])
        self.grid = cfg.get("head_grid", 0)
        self.head = nn.Linear(cfg["encoder"]["channels"][-1] * max(self.grid, 1) ** 2,
                              cfg["num_classes"])
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, -1, 1, 1), persistent=False)

    def forward(self, x):  # x: pixels in [0, 1]
        f = self.encoder((x - self.mean) / self.std)
        if self.grid:
            return self.head(F.adaptive_avg_pool2d(f, self.grid).flatten(1))
        return self.head(f.mean(dim=(2, 3)))


class STCNN(Classifier):
    """Spatial transformer (stn.*) in front of a Classifier (encoder.*, head.*)."""

    def __init__(self, scfg, ccfg):
        super().__init__(ccfg)
        self.stn = STN(scfg)

    def forward(self, x):
        g, theta = self.stn(x)
        return super().forward(g), theta


def randomise_bn(model):
    """BatchNorm affine parameters and running statistics away from their
    defaults, so a random classifier's normalisation is not the identity."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.5)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)


def classifier_state(model):
    """state_dict as float32 numpy arrays, without num_batches_tracked."""
    return {k: v.detach().numpy().astype("float32") for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")}

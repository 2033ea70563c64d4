"""PyTorch twin of saccade's small CNN encoder (sc_cnn.h), shared by the
reference scripts: stages of conv (padding k // 2, bias only without BN) ->
BatchNorm -> ReLU -> optional 2x2 max pool, with the same state_dict names
(stages.{i}.conv.weight, stages.{i}.bn.*)."""
import torch
import torch.nn as nn


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

"""Reference values for tests/parity/test_optim_parity.c (torch 1.13).

Usage: ref_optim.py OUT_DIR

Writes (all float32 .npy):
  init_<p>.npy                 initial parameters p in {w, b, v}
  grad_<p>_<k>.npy             gradient fed at step k (k = 0..4), same for every optimiser
  <opt>_<p>_<k>.npy            parameter p after step k for each optimiser config
  clip_in_<p>, clip_out_<p>, clip_total   clip_grad_norm_(max_norm=1) on random grads
  noclip_total                 total norm of a case below max_norm (grads unchanged)
  clipval_in_<p>, clipval_out_<p>         clip_grad_value_(0.05)
  lr_<sched>.npy               learning rate at scheduler steps 0..30
Hyper-parameters here must match the C test.
"""
import os
import sys
import warnings

import numpy as np
import torch

NSTEPS = 5
SHAPES = {"w": (4, 3), "b": (3,), "v": (5,)}
NAMES = ["w", "b", "v"]  # b is the "bias": weight decay off

CONFIGS = {
    "sgd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "sgd_damp": (torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02)),
    "sgd_plain": (torch.optim.SGD, dict(lr=0.2)),
    "adam": (torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.05)),
    "adam_ams": (torch.optim.Adam, dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, amsgrad=True)),
    "adamw": (torch.optim.AdamW, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
    "adamw_ams": (torch.optim.AdamW, dict(lr=0.03, weight_decay=0.3, amsgrad=True)),
}


def save(out, name, a):
    np.save(os.path.join(out, name + ".npy"), np.ascontiguousarray(np.asarray(a, dtype=np.float32)))


def main():
    out = sys.argv[1]
    warnings.filterwarnings("ignore")  # SequentialLR's deprecated step(0)
    torch.set_num_threads(1)
    torch.manual_seed(1234)
    init = {n: torch.randn(*SHAPES[n]) for n in NAMES}
    grads = []
    for k in range(NSTEPS):
        # Vary the scale per step so amsgrad's running maximum matters.
        scale = [1.0, 0.3, 2.0, 0.1, 0.7][k]
        grads.append({n: torch.randn(*SHAPES[n]) * scale for n in NAMES})
    for n in NAMES:
        save(out, "init_" + n, init[n])
        for k in range(NSTEPS):
            save(out, "grad_%s_%d" % (n, k), grads[k][n])

    for cname, (cls, kw) in CONFIGS.items():
        ps = {n: init[n].clone().requires_grad_(True) for n in NAMES}
        groups = [{"params": [ps["w"], ps["v"]]}, {"params": [ps["b"]], "weight_decay": 0.0}]
        opt = cls(groups, **kw)
        for k in range(NSTEPS):
            for n in NAMES:
                ps[n].grad = grads[k][n].clone()
            opt.step()
            for n in NAMES:
                save(out, "%s_%s_%d" % (cname, n, k), ps[n].detach())

    # clip_grad_norm_
    ps = {n: torch.zeros(*SHAPES[n], requires_grad=True) for n in NAMES}
    for n in NAMES:
        ps[n].grad = torch.randn(*SHAPES[n])
        save(out, "clip_in_" + n, ps[n].grad)
    total = torch.nn.utils.clip_grad_norm_([ps[n] for n in NAMES], max_norm=1.0)
    save(out, "clip_total", [total.item()])
    for n in NAMES:
        save(out, "clip_out_" + n, ps[n].grad)
    for n in NAMES:
        ps[n].grad = grads[0][n].clone() * 0.01
    total = torch.nn.utils.clip_grad_norm_([ps[n] for n in NAMES], max_norm=1.0)
    save(out, "noclip_total", [total.item()])
    # clip_grad_value_
    for n in NAMES:
        ps[n].grad = torch.randn(*SHAPES[n]) * 0.1
        save(out, "clipval_in_" + n, ps[n].grad)
    torch.nn.utils.clip_grad_value_([ps[n] for n in NAMES], clip_value=0.05)
    for n in NAMES:
        save(out, "clipval_out_" + n, ps[n].grad)

    # Schedules: lr seen by optimizer step t, t = 0..30 (t scheduler.step() calls made).
    S = torch.optim.lr_scheduler

    def run(name, make):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched = make(opt)
        lrs = []
        for _ in range(31):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        np.save(os.path.join(out, "lr_%s.npy" % name), np.array(lrs, dtype=np.float64))

    run("step", lambda o: S.StepLR(o, step_size=7, gamma=0.5))
    run("cosine", lambda o: S.CosineAnnealingLR(o, T_max=12, eta_min=1e-3))
    run("warm_step", lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.25, total_iters=5), S.StepLR(o, step_size=4, gamma=0.7)],
        milestones=[5]))
    run("warm_cosine", lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=6), S.CosineAnnealingLR(o, T_max=24, eta_min=0.0)],
        milestones=[6]))
    run("warm_const", lambda o: S.LinearLR(o, start_factor=0.5, total_iters=8))


if __name__ == "__main__":
    main()

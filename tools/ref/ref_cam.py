"""Reference for tests/parity/test_cam_parity.c: the CAM family and the input
attributions in PyTorch, written from jacobgil/pytorch-grad-cam 1.5.5
(base_cam.py, grad_cam.py, grad_cam_plusplus.py, xgrad_cam.py, hirescam.py,
layer_cam.py, eigen_cam.py, eigen_grad_cam.py, score_cam.py, ablation_cam.py
with ablation_layer.py, utils/svd_on_activations.py, utils/image.py
scale_cam_image) and from Captum's definitions of Saliency, NoiseTunnel
(smoothgrad) and IntegratedGradients (gausslegendre), with forward hooks on
the chosen layer as pytorch-grad-cam's ActivationsAndGradients. The
principal component's sign follows saccade's rule (sum of the first right
singular vector's entries >= 0; pytorch-grad-cam leaves it to LAPACK).

Usage: ref_cam.py OUTDIR SOURCE_DIR            the maps (below)
       ref_cam.py OUTDIR SOURCE_DIR smoothgrad  SmoothGrad with the noise in
                                                OUTDIR/<case>_noise.npy
Cases:
  resnet18  a random torchvision resnet18 (tools/convert_torchvision.py,
       perturbed BatchNorm) on a 32 x 32 input, layers layer2 and layer3
  vit  a small random torchvision ViT (image 32, patch 8, 3 layers, dim 32),
       layers encoder.layers.0 and .1, tokens reshaped to the 4 x 4 grid by
       pytorch-grad-cam's reshape_transform; ablationcam as with
       pytorch-grad-cam's AblationLayerVit (channel c of every token, the
       class token's too, set to the batch's running minimum - 1e7, batches
       of 32); hirescam at encoder.layers.0 only (at .1 sum_c G A is zero
       but for rounding: the patch tokens reach the class token only through
       the last layer's LayerNorm, blind to their scale; saccade refuses it
       there). Attention rollout as jacobgil/vit-explain (head fusion mean)
       with discard ratios 0 and 0.9 (ref_imagenet.vit_rollout), scaled and
       resized as a CAM: vit_rollout_0.npy, vit_rollout_90.npy
  cls  a random classifier (3 x 20 x 24 input, stages 6/8/10, 5 classes),
       written as cls.safetensors; layers encoder.stages.1 and .2; classes:
       the top one and the lowest-scoring one
  stn  the shipped assets/models/fashion-stn.safetensors (its classifier's
       layers live on the glimpse; maps are placed on the input through
       theta^-1), layer encoder.stages.2, the top class and the runner-up
Outputs <case>_x.npy (the input tensor), <case>_targets.npy (the top class,
and the last (runner-up for stn)) and <case>_<layer>_<method>[_eigen|_aug]_<k>.npy
maps at the input size.

Integrated Gradients runs the model in float64: near alpha = 0 the input
is nearly constant and so are the max-pool windows of the CNNs (relative
gaps between a window's two largest values down to 4e-8 at the first
Gauss-Legendre node for the ST-CNN's glimpse), so float32 rounding picks
the window's maximum and where the gradient goes (PyTorch's float32 and
float64 gradients there differ by 0.09 of a largest 0.79). The reference
is the float64 integrand.

Faithfulness (cls, the top class, a random map cls_fmap.npy): RISE's
CausalMetric (eclique/RISE evaluation.py: deletion to zeros, insertion from
the gkern(11, 5) blur, `step` = the input's width, softmax probabilities,
auc = (sum - first / 2 - last / 2) / (n - 1)) into cls_del.npy / cls_ins.npy,
and pytorch-grad-cam 1.5.5's ROADCombined (metrics/road.py and
perturbation_confidence.py: percentiles 10..90, NoisyLinearImputer with
noise 0, its sparse system solved densely, ClassifierOutputSoftmaxTarget)
into cls_road.npy = [MoRF, LeRF, combined].
"""
import copy
import json
import os
import sys

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_numpy  # noqa: E402
from torch_cnn import Classifier, STCNN, classifier_state, randomise_bn  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(11)
OUT, SRC = sys.argv[1], sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "maps"
os.makedirs(OUT, exist_ok=True)

CAM_METHODS = ["gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam",
               "eigengradcam", "scorecam", "ablationcam"]


def save(name, a):
    a = a.detach().numpy() if torch.is_tensor(a) else np.asarray(a)
    np.save(os.path.join(OUT, name + ".npy"), a.astype(np.float32))


class TensorNet(nn.Module):
    """The classifier on its normalised input tensor (what a pytorch-grad-cam
    user feeds); for the ST-CNN the raw image (its transformer reads pixels)."""

    def __init__(self, model, stn):
        super().__init__()
        self.model, self.stn = model, stn

    def forward(self, x):
        m = self.model
        if self.stn:
            g, theta = m.stn(x)
            self.theta = theta.detach()
            x = (g - m.mean) / m.std
        f = m.encoder(x)
        if m.grid:
            return m.head(F.adaptive_avg_pool2d(f, m.grid).flatten(1))
        return m.head(f.mean(dim=(2, 3)))


def get_2d_projection(acts):
    """First principal component's projection of (C, h, w), sign: sum(v) >= 0."""
    a = np.float64(acts).copy()
    a[np.isnan(a)] = 0
    r = a.reshape(a.shape[0], -1).T
    r = r - r.mean(axis=0)
    _, _, vt = np.linalg.svd(r, full_matrices=True)
    v = vt[0]
    if v.sum() < 0:
        v = -v
    return (r @ v).reshape(a.shape[1:])


def scale(img, size=None):
    """pytorch-grad-cam's scale_cam_image for one map; size (W, H) or a callable."""
    img = img - np.min(img)
    img = img / (1e-7 + np.max(img))
    if size is None:
        return np.float32(img)
    if callable(size):
        return size(np.float32(img))
    return cv2.resize(np.float32(img), size)


def vit_reshape(t):
    """pytorch-grad-cam's reshape_transform for ViTs: (B, 1 + G G, D) tokens
    -> (B, D, G, G) patch grid, class token dropped."""
    G = int(round((t.shape[1] - 1) ** 0.5))
    return t[:, 1:, :].reshape(t.shape[0], G, G, t.shape[2]).permute(0, 3, 1, 2)


class Explainer:
    def __init__(self, net, layer, in_hw, stn, reshape=None):
        self.net, self.layer, self.in_hw, self.stn = net, layer, in_hw, stn
        self.reshape = reshape or (lambda t: t)
        self.vit = reshape is not None
        self.net64 = None

    def run(self, x, k, grads):
        """Activations (and gradients of logit k) at the layer for x (1, ...)."""
        store = {}

        def hook(_m, _i, out):
            store["a"] = out
            if grads:
                out.register_hook(lambda g: store.__setitem__("g", g))

        h = self.layer.register_forward_hook(hook)
        if grads:
            out = self.net(x)
            self.net.zero_grad()
            out[0, k].backward()
        else:
            with torch.no_grad():
                out = self.net(x)
        h.remove()
        self.raw = store["a"].detach()
        self.theta = self.net.theta.detach() if self.stn else None
        a = self.reshape(store["a"].detach())[0].numpy()
        g = self.reshape(store["g"].detach())[0].numpy() if grads else None
        return a, g, out.detach()[0]

    def place(self, maps, align):
        """(n, h, w) maps -> (n, H, W) on the input: resize (cv2 / interpolate)
        or, for the ST-CNN, to the glimpse then through theta^-1."""
        t = torch.from_numpy(np.float32(maps))[None]
        H, W = self.in_hw
        if not self.stn:
            return F.interpolate(t, size=(H, W), mode="bilinear", align_corners=align)[0].numpy()
        gh, gw = self.stn
        up = F.interpolate(t, size=(gh, gw), mode="bilinear", align_corners=align)
        th = self.theta.double().view(2, 3)
        ai = torch.linalg.inv(th[:, :2])
        inv = torch.cat([ai, -(ai @ th[:, 2:])], 1).float()[None]
        grid = F.affine_grid(inv, (1, 1, H, W), align_corners=False)
        return F.grid_sample(up, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False)[0].numpy()

    def weights(self, method, x, k, a, g, logits):
        if method == "gradcam":
            return g.mean(axis=(1, 2))
        if method == "gradcam++":
            g2 = g ** 2
            g3 = g2 * g
            sa = a.sum(axis=(1, 2))
            aij = g2 / (2 * g2 + sa[:, None, None] * g3 + 0.000001)
            aij = np.where(g != 0, aij, 0)
            return (np.maximum(g, 0) * aij).sum(axis=(1, 2))
        if method == "xgradcam":
            sa = a.sum(axis=(1, 2))
            return (g * a / (sa[:, None, None] + 1e-7)).sum(axis=(1, 2))
        if method == "scorecam":
            with torch.no_grad():
                up = torch.from_numpy(self.place(a, True))[None]
                mx = up.view(1, up.size(1), -1).max(dim=-1)[0][:, :, None, None]
                mn = up.view(1, up.size(1), -1).min(dim=-1)[0][:, :, None, None]
                up = (up - mn) / (mx - mn + 1e-8)
                inputs = (x[:, None] * up[:, :, None])[0]
                scores = []
                for i in range(0, inputs.size(0), 16):
                    scores.extend(float(o[k]) for o in self.net(inputs[i:i + 16]))
                return torch.softmax(torch.tensor(scores), -1).numpy()
        if method == "ablationcam":
            return self.ablation(x, k, a, logits)
        raise ValueError(method)

    def ablation(self, x, k, a, logits):
        """pytorch-grad-cam's AblationCAM: in batches of 32 (AblationCAM's), the
        layer's output replaced by copies with channel c0 + j of copy j set to
        0 (when the minimum is 0) or far below. CNNs: min - 1e7 (min of the
        activation). ViTs, as AblationLayerVit: the tokens (T, D) with channel
        c0 + j of every token (class token included) set to the running
        minimum of the batch so far - 1e7."""
        at = self.raw[0] if self.vit else torch.from_numpy(a)
        C = at.shape[1] if self.vit else at.shape[0]
        value = 0.0 if float(at.min()) == 0 else float(at.min()) - 1e7
        new = []
        for c0 in range(0, C, 32):
            n = min(C, c0 + 32) - c0
            if self.vit:
                out = at[None].repeat(n, 1, 1).clone().transpose(1, 2)
                for j in range(n):
                    out[j, c0 + j, :] = 0 if torch.min(out) == 0 else torch.min(out) - 1e7
                out = out.transpose(2, 1)
            else:
                out = at[None].repeat(n, 1, 1, 1).clone()
                for j in range(n):
                    out[j, c0 + j] = value
            h = self.layer.register_forward_hook(lambda _m, _i, _o, out=out: out)
            with torch.no_grad():
                new.extend(float(o[k]) for o in self.net(x.repeat(n, 1, 1, 1)))
            h.remove()
        s = float(logits[k])
        return (s - np.float32(new)) / s

    def cam(self, method, x, k, eigen_smooth=False):
        grads = method not in ("eigencam", "scorecam", "ablationcam")
        a, g, logits = self.run(x, k, grads)
        if method in ("hirescam", "layercam", "eigencam", "eigengradcam"):
            e = {"hirescam": lambda: g * a, "layercam": lambda: np.maximum(g, 0) * a,
                 "eigencam": lambda: a, "eigengradcam": lambda: g * a}[method]()
            if method in ("eigencam", "eigengradcam") or eigen_smooth:
                cam = get_2d_projection(e)
            else:
                cam = e.sum(axis=0)
        else:
            w = self.weights(method, x, k, a, g, logits)
            wa = w[:, None, None] * a
            cam = get_2d_projection(wa) if eigen_smooth else wa.sum(axis=0)
        cam = np.maximum(cam, 0)
        H, W = self.in_hw
        scaled = scale(cam, (W, H) if not self.stn else (lambda m: self.place(m[None], False)[0]))
        return scale(np.maximum(scaled, 0))

    def cam_aug(self, method, x, k):
        """forward_augmentation_smoothing: flip x (0.9, 1, 1.1), flipped back."""
        cams = []
        for flip in (False, True):
            for f in (0.9, 1.0, 1.1):
                xa = (x.flip(3) if flip else x) * f
                c = self.cam(method, xa, k)
                cams.append(c[:, ::-1] if flip else c)
        return np.mean(np.float32(cams), axis=0)

    def input_grad(self, x, k, net=None):
        xg = x.clone().requires_grad_(True)
        (net or self.net)(xg)[0, k].backward()
        return xg.grad[0].numpy()

    def attribution(self, method, x, k, noise=None, steps=50):
        if method == "gradient":
            m = np.abs(self.input_grad(x, k)).max(axis=0)
        elif method == "smoothgrad":
            acc = np.zeros(x.shape[1:], np.float64)
            for n in noise:
                acc += np.abs(self.input_grad(x + torch.from_numpy(n)[None], k)) / len(noise)
            m = acc.max(axis=0)
        else:  # Integrated Gradients, Captum's gausslegendre, in float64 (above)
            if self.net64 is None:
                self.net64 = copy.deepcopy(self.net).double()
            t, w = np.polynomial.legendre.leggauss(steps)
            acc = np.zeros(x.shape[1:], np.float64)
            for ti, wi in zip(t, w):
                # the scaled input rounded to float32 as the library's (alpha x)
                xa = (x.double() * (0.5 * (1 + ti))).float().double()
                acc += 0.5 * wi * self.input_grad(xa, k, self.net64)
            m = np.abs((acc * x[0].double().numpy()).sum(axis=0))
        return scale(m)


def gkern(klen, nsig):
    """RISE's kernel: scipy.ndimage.gaussian_filter of a delta (truncate 4,
    mode 'reflect', half-sample symmetric), written out for numpy."""
    r = int(4.0 * nsig + 0.5)
    w = np.exp(-0.5 * np.arange(-r, r + 1) ** 2 / nsig ** 2)
    w /= w.sum()
    k1 = np.zeros(klen)
    for i in range(klen):
        for j in range(-r, r + 1):
            q = (i + j) % (2 * klen)
            q = 2 * klen - 1 - q if q >= klen else q
            if q == klen // 2:
                k1[i] += w[j + r]
    return np.outer(k1, k1)


def causal_metric(net, x, expl, k, mode, step):
    """RISE's CausalMetric.single_run on softmax probabilities."""
    C, H, W = x.shape[1:]
    HW = H * W
    n_steps = (HW + step - 1) // step
    kern = torch.zeros(C, C, 11, 11)
    for c in range(C):
        kern[c, c] = torch.from_numpy(gkern(11, 5))
    blur = F.conv2d(x.double(), kern.double(), padding=5).float()
    start, finish = (x.clone(), torch.zeros_like(x)) if mode == "del" else (blur, x.clone())
    order = np.flip(np.argsort(expl.reshape(-1), kind="stable"))
    scores = np.empty(n_steps + 1)
    for i in range(n_steps + 1):
        with torch.no_grad():
            scores[i] = float(torch.softmax(net(start), 1)[0, k])
        if i < n_steps:
            coords = order[step * i:step * (i + 1)]
            start.numpy().reshape(1, C, HW)[0, :, coords] = \
                finish.numpy().reshape(1, C, HW)[0, :, coords]
    return scores


NEIGHBOURS = [((1, 1), 1 / 12), ((0, 1), 1 / 6), ((-1, 1), 1 / 12), ((1, -1), 1 / 12),
              ((0, -1), 1 / 6), ((-1, -1), 1 / 12), ((1, 0), 1 / 6), ((-1, 0), 1 / 6)]


def impute(img, mask):
    """NoisyLinearImputer (noise 0): img (C, H, W), mask (H, W), 0 = impute."""
    C, H, W = img.shape
    maskflt = mask.reshape(-1)
    imgflat = img.reshape(C, -1)
    indices = np.argwhere(maskflt == 0).flatten()
    vidx = np.zeros(len(maskflt), dtype=int)
    vidx[indices] = np.arange(len(indices))
    n = len(indices)
    A = np.zeros((n, n))
    b = np.zeros((n, C))
    sum_neighbors = np.ones(n)
    for (o0, o1), wgt in NEIGHBOURS:
        c1 = indices % W + o1
        c0 = indices // W + o0
        valid = ~((c0 < 0) | (c1 < 0) | (c0 >= H) | (c1 >= W))
        new = indices + o0 * W + o1
        vc = new[valid]
        vid = np.argwhere(valid).flatten()
        known = maskflt[vc] > 0.5
        b[vid[known], :] -= wgt * imgflat[:, vc[known]].T
        A[vid[~known], vidx[vc[~known]]] = wgt
        sum_neighbors[np.argwhere(~valid).flatten()] -= wgt
    A[np.arange(n), np.arange(n)] = -sum_neighbors
    res = np.linalg.solve(A, b)
    out = imgflat.copy()
    out[:, indices] = res.T
    return out.reshape(C, H, W)


def road(net, x, cam, k):
    """ROADCombined: (LeRF - MoRF) / 2, each averaged over percentiles 10..90."""
    with torch.no_grad():
        base = float(torch.softmax(net(x), 1)[0, k])
    res = []
    for m in (cam, 1 - cam):
        scores = []
        for p in range(10, 100, 10):
            thr = np.percentile(m, p)
            keep = np.float32(m < thr)
            xi = torch.from_numpy(np.float32(impute(x[0].double().numpy(), keep)))[None]
            with torch.no_grad():
                scores.append(float(torch.softmax(net(xi), 1)[0, k]) - base)
        res.append(np.mean(np.float32(scores)))
    return [res[0], res[1], (res[1] - res[0]) / 2]


def load_weights(model, path):
    tensors, meta = st_numpy.load(path)
    sd = model.state_dict()
    for key in sd:
        if key in tensors:
            sd[key] = torch.from_numpy(np.asarray(tensors[key], dtype=np.float32).copy())
    model.load_state_dict(sd)
    model.eval()
    return json.loads(meta["saccade.config"])


def cases():
    """(name, TensorNet, input tensor, layer indices, stn glimpse size or None)"""
    out = []
    ccfg = {"arch": "classifier",
            "encoder": {"in_channels": 3, "channels": [6, 8, 10], "pool": [True, False, False],
                        "stride": [1, 1, 1], "kernel": [3, 3, 3], "batchnorm": True},
            "num_classes": 5, "input": [3, 20, 24], "mean": [0.4, 0.5, 0.3],
            "std": [0.25, 0.3, 0.2], "dropout": 0.0}
    path = os.path.join(OUT, "cls.safetensors")
    if MODE == "maps":
        model = Classifier(ccfg)
        randomise_bn(model)
        st_numpy.save(path, classifier_state(model), metadata={"saccade.config": json.dumps(ccfg),
                                          "saccade.classes": json.dumps([f"c{k}" for k in range(5)])})
    model = Classifier(ccfg)
    load_weights(model, path)
    g = torch.Generator().manual_seed(5)
    x = torch.rand(1, 3, 20, 24, generator=g)
    xn = (x - model.mean) / model.std
    net = TensorNet(model, False)
    out.append(("cls", net, xn, [(i, net.model.encoder.stages[i]) for i in (1, 2)], None, None,
                CAM_METHODS))

    spath = os.path.join(SRC, "assets", "models", "fashion-stn.safetensors")
    meta = json.loads(st_numpy.load(spath)[1]["saccade.config"])
    smodel = STCNN(meta["stn"], meta["classifier"])
    load_weights(smodel, spath)
    C, H, W = meta["stn"]["input"]
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = 0.08 + 0.8 * np.exp(-(((xx - 38) / 7.0) ** 2 + ((yy - 22) / 10.0) ** 2))
    img += 0.5 * np.exp(-(((xx - 15) / 4.0) ** 2 + ((yy - 45) / 4.0) ** 2))
    img += 0.03 * np.random.default_rng(3).random((H, W))
    xs = torch.from_numpy(np.clip(img, 0, 1).astype(np.float32)).view(1, C, H, W)
    net = TensorNet(smodel, True)
    out.append(("stn", net, xs, [(2, net.model.encoder.stages[2])], tuple(meta["stn"]["output"]),
                None, CAM_METHODS))

    # torchvision: a random resnet18 (input 32 x 32: layer2 4 x 4, layer3 2 x 2)
    # and a small random ViT (image 32, patch 8, 3 layers, dim 32)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    import convert_torchvision as cv
    r18 = cv.build_model("resnet18", None, seed=7, perturb_bn=True).eval()
    vit = cv.build_model("vit", None, seed=3, vit_shape=cv.parse_vit_shape("32,8,3,2,32,64,10")).eval()
    if MODE == "maps":
        cv.save(r18, "resnet18", os.path.join(OUT, "resnet18.safetensors"), "ref_cam.py",
                member=cv.pick_preset("resnet18", None, "IMAGENET1K_V1"))
        cv.save(vit, "vit", os.path.join(OUT, "vit.safetensors"), "ref_cam.py",
                preprocess={"resize": 36, "crop": 32, "interpolation": "bilinear",
                            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]})
    g = torch.Generator().manual_seed(8)
    out.append(("resnet18", r18, torch.randn(1, 3, 32, 32, generator=g),
                [("layer2", r18.layer2), ("layer3", r18.layer3)], None, None, CAM_METHODS))
    out.append(("vit", vit, torch.randn(1, 3, 32, 32, generator=g),
                [("encoder.layers.0", vit.encoder.layers[0]),
                 ("encoder.layers.1", vit.encoder.layers[1])], None, vit_reshape, CAM_METHODS))
    return out


for name, net, x, layers, stn, reshape, methods in cases():
    H, W = x.shape[2:]
    with torch.no_grad():
        logits = net(x)[0]
    order = logits.argsort(descending=True)
    ks = [int(order[0]), int(order[-1] if name != "stn" else order[1])]
    last = Explainer(net, layers[-1][1], (H, W), stn, reshape)
    if MODE == "smoothgrad":
        if not os.path.exists(os.path.join(OUT, f"{name}_noise.npy")):
            continue
        noise = np.load(os.path.join(OUT, f"{name}_noise.npy"))
        for k in ks:
            save(f"{name}_smoothgrad_{k}", last.attribution("smoothgrad", x, k, noise=noise))
        continue
    save(f"{name}_x", x[0])
    save(f"{name}_targets", ks)
    small = name in ("cls", "stn")  # the smoothing variants on the small models only
    for i, (li, module) in enumerate(layers):
        e = Explainer(net, module, (H, W), stn, reshape)
        for k in ks:
            for method in methods:
                if method == "scorecam" and name == "resnet18" and i:
                    continue  # one layer's ScoreCAM is enough for the large model
                if method == "hirescam" and name == "vit" and i:
                    continue  # zero at the last layer's input (above)
                save(f"{name}_{li}_{method}_{k}", e.cam(method, x, k))
            for method in ("gradcam", "scorecam", "ablationcam", "layercam") if small else ("gradcam",):
                save(f"{name}_{li}_{method}_eigen_{k}", e.cam(method, x, k, eigen_smooth=True))
            for method in ("gradcam", "scorecam") if name == "cls" else ("gradcam",):
                save(f"{name}_{li}_{method}_aug_{k}", e.cam_aug(method, x, k))
    for k in ks:
        for method in ("gradient", "intgrad"):
            save(f"{name}_{method}_{k}", last.attribution(method, x, k, steps=16))
    if name == "vit":
        from ref_imagenet import vit_rollout
        for d in (0.0, 0.9):
            r = vit_rollout(net, x, d)
            save(f"vit_rollout_{int(round(d * 100))}", scale(np.maximum(scale(r, (W, H)), 0)))
    if name == "cls":
        fmap = np.float32(np.random.default_rng(4).random((H, W)))
        save("cls_fmap", fmap)
        save("cls_del", causal_metric(net, x, fmap, ks[0], "del", W))
        save("cls_ins", causal_metric(net, x, fmap, ks[0], "ins", W))
        save("cls_road", road(net, x, fmap, ks[0]))

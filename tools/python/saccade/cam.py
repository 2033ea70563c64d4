"""Class activation maps and input attributions of classifiers (sc_cam.h):
the CAM family as pytorch-grad-cam computes it, SmoothGrad and Integrated
Gradients as Captum does, and a ViT's attention rollout as
jacobgil/vit-explain does.

    m = saccade.SaliencyModel("resnet50.safetensors")  # or any classifier file
    heat = saccade.cam(img, m, method="gradcam", target="tabby", layer="layer4")
"""
import ctypes

from . import _lib
from ._lib import lib, check
from ._handle import Handle

CAM_METHODS = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "eigencam",
               "eigengradcam", "scorecam", "ablationcam", "gradient", "smoothgrad", "intgrad",
               "rollout")


class SaliencyModel(Handle):
    """A model for cam() (sc_saliency_model): a torchvision ResNet / ViT
    converted by tools/convert_torchvision.py, a `saccade train classifier`
    model or an ST-CNN (the kind comes from the file's metadata). Loading once
    and passing it to cam() saves reading the file on every call."""
    _free = staticmethod(lib.sc_saliency_model_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_saliency_model_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path


def cam(image, model, method="gradcam", target=None, layer=None, aug_smooth=False,
        eigen_smooth=False, batch=None, samples=None, steps=None, seed=0, discard_ratio=0.0,
        layout="hwc", return_info=False):
    """Map of `method` for image (as saccade.saliency takes it) on model (a
    SaliencyModel or a path), (H, W) float32 in [0, 1] over the whole image.

    target: class index or name (None: the top class). layer: e.g. "layer4",
    "encoder.layers.10", "encoder.stages.2" (None: the model's default).
    aug_smooth / eigen_smooth: as pytorch-grad-cam. batch: forwards per call
    (scorecam, ablationcam); samples: smoothgrad's noisy copies; steps:
    intgrad's. discard_ratio: rollout's share of each layer's smallest
    attention weights dropped, in [0, 1) (ViT classifiers; vit-explain uses
    0.9). return_info=True returns (map, {"target", "class_name",
    "logit"})."""
    if method not in CAM_METHODS:
        raise ValueError("method must be one of %s, not %r" % (", ".join(CAM_METHODS), method))
    big = 2 ** 31 - 1
    if target is None:
        tgt = None
    elif isinstance(target, str):
        tgt = _lib.text_arg("target", target)
    else:
        tgt = str(_lib.int_arg("target", target, 0, big)).encode()
    lay = _lib.text_arg("layer", layer) if layer is not None else None
    counts = [_lib.int_arg(n, v, 1, big) if v is not None else 0
              for n, v in (("batch", batch), ("samples", samples), ("steps", steps))]
    seed = _lib.int_arg("seed", seed, 0, 2 ** 64 - 1)
    if isinstance(discard_ratio, bool) or not isinstance(discard_ratio, (int, float)) or \
            not 0 <= discard_ratio < 1:
        raise ValueError("discard_ratio must be a number in [0, 1), not %r" % (discard_ratio,))
    own = not isinstance(model, SaliencyModel)
    m = SaliencyModel(model) if own else model
    try:
        img, keep = _lib.image_in(image, layout, "image")
        out = _lib.Map()
        k, score, name = ctypes.c_int(-1), ctypes.c_double(0), ctypes.create_string_buffer(512)
        with m._lock:
            st = lib.sc_pyapi_cam(m._ptr(), ctypes.byref(img), method.encode(), tgt, lay,
                                  int(bool(aug_smooth)), int(bool(eigen_smooth)), *counts, seed,
                                  float(discard_ratio), ctypes.byref(out), ctypes.byref(k),
                                  ctypes.byref(score), name, len(name))
        del keep
        check(st)
        a = _lib.map_out(out)
    finally:
        if own:
            m.close()
    if return_info:
        return a, {"target": k.value, "class_name": name.value.decode("utf-8", "replace"),
                   "logit": score.value}
    return a

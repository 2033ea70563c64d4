"""Image classifiers (saccade train classifier models)."""
import ctypes
import json

import numpy as np

from . import _lib
from ._lib import lib, check
from ._handle import Handle


class Classifier(Handle):
    """A classifier model file (from `saccade train classifier`).

        clf = saccade.Classifier("fmnist.safetensors")
        probs = clf.predict(images)          # (N, K) float32
        labels = clf.classify(images)        # (N,) int64
        clf.classes, clf.input_shape         # ["T-shirt/top", ...], (C, H, W)

    images: uint8 pixels (0..255) or floats in [0, 1] (the model normalises
    itself), shaped (N, C, H, W) or (N, H, W, C), or (N, H, W) when C = 1; a
    single image without the N axis gives a (K,) result."""
    _free = staticmethod(lib.sc_classifier_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_classifier_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        cfg = lib.sc_classifier_get_config(self._h)
        self.config = json.loads(_lib.take_string(lib.sc_classifier_config_to_json(cfg)))
        self.classes = json.loads(_lib.take_string(lib.sc_classifier_classes_json(self._h)))
        self.num_classes = int(self.config["num_classes"])
        self.input_shape = tuple(int(v) for v in self.config["input"])

    def _batch(self, images):
        a = _lib.as_array(images, "images")
        C, H, W = self.input_shape
        single = False
        if a.ndim == 2 and C == 1 and a.shape == (H, W):
            a, single = a[None, None], True
        elif a.ndim == 3 and a.shape == (C, H, W):
            a, single = a[None], True
        elif a.ndim == 3 and a.shape == (H, W, C):
            a, single = a.transpose(2, 0, 1)[None], True
        elif a.ndim == 3 and C == 1 and a.shape[1:] == (H, W):
            a = a[:, None]
        elif a.ndim == 4 and a.shape[1:] == (C, H, W):
            pass
        elif a.ndim == 4 and a.shape[1:] == (H, W, C):
            a = a.transpose(0, 3, 1, 2)
        else:
            raise ValueError("images have shape %s; this model takes (N, %d, %d, %d) or "
                             "(N, %d, %d, %d)%s" % (a.shape, C, H, W, H, W, C,
                                                     " or (N, %d, %d)" % (H, W) if C == 1
                                                     else ""))
        if a.dtype == np.uint8:
            a = np.ascontiguousarray(a)
        elif a.dtype.kind == "f":
            a = np.ascontiguousarray(a, dtype=np.float32)
        else:
            raise ValueError("images: dtype %s not supported (uint8 0..255 or float in [0, 1])"
                             % a.dtype)
        return a, single

    def predict(self, images):
        """Class probabilities (eval mode): (N, K) float32, or (K,) for one image."""
        a, single = self._batch(images)
        n = a.shape[0]
        out = np.empty((n, self.num_classes), np.float32)
        if n:
            with self._lock:
                h = self._ptr()
                if a.dtype == np.uint8:
                    st = lib.sc_classifier_predict_u8(h, a.ctypes.data, n,
                                                      out.ctypes.data_as(_lib.c_float_p))
                else:
                    st = lib.sc_classifier_predict(h, a.ctypes.data_as(_lib.c_float_p), n,
                                                   out.ctypes.data_as(_lib.c_float_p))
                check(st)
        return out[0] if single else out

    def classify(self, images):
        """Most probable class index per image (int64)."""
        p = self.predict(images)
        return np.argmax(p, axis=-1)

    def evaluate(self, images, labels):
        """Accuracy, mean cross-entropy and confusion matrix (rows: true class) on
        labelled uint8 images: dict(accuracy, loss, confusion (K, K) int64)."""
        a, single = self._batch(images)
        if a.dtype != np.uint8:
            raise ValueError("evaluate takes uint8 images (0..255)")
        lab = _lib.as_array(labels, "labels")
        if single:
            lab = lab.reshape(1)
        if lab.shape != (a.shape[0],) or lab.dtype.kind not in "iu":
            raise ValueError("labels must be %d integers, got %s %s"
                             % (a.shape[0], lab.dtype, lab.shape))
        if lab.size and (lab.min() < 0 or lab.max() >= self.num_classes):
            raise ValueError("labels must be in 0..%d" % (self.num_classes - 1))
        lab = np.ascontiguousarray(lab, dtype=np.uint8) if self.num_classes <= 256 else None
        if lab is None:
            raise ValueError("evaluate supports at most 256 classes (uint8 labels)")
        K = self.num_classes
        conf = np.zeros((K, K), np.int64)
        acc, loss = ctypes.c_double(), ctypes.c_double()
        with self._lock:
            check(lib.sc_classifier_evaluate(self._ptr(), a.ctypes.data, lab.ctypes.data,
                                             a.shape[0],
                                             conf.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
                                             ctypes.byref(acc), ctypes.byref(loss)))
        return {"accuracy": acc.value, "loss": loss.value, "confusion": conf}

    def __repr__(self):
        return "Classifier(%r, input=%s, classes=%d)" % (self.path, self.input_shape,
                                                          self.num_classes)

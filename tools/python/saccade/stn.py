"""Spatial transformer classifiers (saccade train stn --model stcnn models)."""
import ctypes
import json

import numpy as np

from . import _lib
from ._lib import lib, check
from ._handle import Handle
from .image import resize_image

DEFAULT_MODEL = "models/fashion-stn.safetensors"


class SpatialTransformer(Handle):
    """An ST-CNN model file: a spatial transformer (localisation net + affine
    sampler) in front of a CNN classifier.

        st = saccade.SpatialTransformer()            # None: the shipped fashion-stn model
        x = st.prepare(img)                          # any image -> (H, W) model input in [0, 1]
        probs, theta = st.predict(x)                 # (K,), (2, 3) (or (N, K), (N, 2, 3))
        g = st.glimpse(x, theta, size=(64, 64))      # the rectified glimpse
        st.classes, st.input_shape                   # class names, (C, H, W)

    theta maps output coordinates (x, y, 1) in [-1, 1] to input coordinates,
    as torch.nn.functional.affine_grid (align_corners=False)."""
    _free = staticmethod(lib.sc_stcnn_free)

    def __init__(self, path=None):
        super().__init__()
        path = _lib.model_path(path, DEFAULT_MODEL)
        h = ctypes.c_void_p()
        check(lib.sc_stcnn_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self.config = json.loads(_lib.take_string(lib.sc_stcnn_config_json(self._h)))
        cls = lib.sc_stcnn_classifier(self._h)
        self.classes = json.loads(_lib.take_string(lib.sc_classifier_classes_json(cls)))
        stn = self.config["stn"]
        self.input_shape = tuple(int(v) for v in stn["input"])
        self.glimpse_shape = tuple(int(v) for v in stn["output"])

    def prepare(self, image, layout="hwc"):
        """Any image -> the model's input exactly as `saccade stn` makes it:
        resized with the triangle filter to the canvas, then gray (BT.601
        weights) when the model takes one channel. Returns (H, W) or (C, H, W).
        The bundled model warns on an image that is not its 60x60 canvas."""
        from .blip import warn_if_bundled
        warn_if_bundled(self.path, image, layout)
        C, H, W = self.input_shape
        a = resize_image(image, W, H, filter="triangle", layout=layout)
        if layout == "hwc":
            a = a[..., None] if a.ndim == 2 else a
            a = a.transpose(2, 0, 1)
        if C == 1 and a.shape[0] >= 3:
            a = (np.float32(0.299) * a[0] + np.float32(0.587) * a[1]
                 + np.float32(0.114) * a[2])[None]
        elif a.shape[0] != C:
            raise ValueError("image has %d channels; the model takes %d" % (a.shape[0], C))
        a = np.ascontiguousarray(a, dtype=np.float32)
        return a[0] if C == 1 else a

    def _batch(self, x):
        C, H, W = self.input_shape
        a = _lib.as_array(x, "images")
        if a.dtype == np.uint8:
            a = a.astype(np.float32) / np.float32(255)
        single = a.shape in ((H, W), (C, H, W))
        if a.shape == (H, W):
            a = a[None, None]
        elif a.shape == (C, H, W):
            a = a[None]
        elif a.ndim == 3 and C == 1 and a.shape[1:] == (H, W):
            a = a[:, None]
        elif not (a.ndim == 4 and a.shape[1:] == (C, H, W)):
            raise ValueError("images have shape %s; this model takes (N, %d, %d, %d)%s (see "
                             "prepare())" % (a.shape, C, H, W,
                                             " or (N, %d, %d)" % (H, W) if C == 1 else ""))
        if a.dtype.kind != "f":
            raise ValueError("images: dtype %s not supported (uint8 or float in [0, 1])" % a.dtype)
        return np.ascontiguousarray(a, dtype=np.float32), single

    def predict(self, images):
        """Class probabilities and the transforms: (N, K), (N, 2, 3); one image
        gives (K,), (2, 3)."""
        a, single = self._batch(images)
        n = a.shape[0]
        probs = np.empty((n, len(self.classes)), np.float32)
        theta = np.empty((n, 2, 3), np.float32)
        if n:
            with self._lock:
                check(lib.sc_stcnn_predict(self._ptr(), a.ctypes.data_as(_lib.c_float_p), n,
                                           probs.ctypes.data_as(_lib.c_float_p),
                                           theta.ctypes.data_as(_lib.c_float_p)))
        return (probs[0], theta[0]) if single else (probs, theta)

    def classify(self, images):
        """(class name, probability) for one image, or a list of them."""
        p, _ = self.predict(images)
        if p.ndim == 1:
            return self.classes[int(np.argmax(p))], float(np.max(p))
        return [(self.classes[int(i)], float(r[i])) for r, i in zip(p, np.argmax(p, axis=1))]

    def glimpse(self, image, theta, size=None):
        """Sample `image` ((H, W) or (C, H, W) floats) through theta (2, 3),
        bilinear with zero padding, to size (h, w) (default: the model's
        glimpse size). Returns the same layout."""
        a = np.asarray(image, dtype=np.float32)
        two_d = a.ndim == 2
        if two_d:
            a = a[None]
        if a.ndim != 3:
            raise ValueError("image must be (H, W) or (C, H, W)")
        t = _lib.floats_in(theta, (2, 3), "theta")
        h, w = size if size is not None else self.glimpse_shape
        h = _lib.int_arg("size[0]", h, 1, 2 ** 31 - 1)
        w = _lib.int_arg("size[1]", w, 1, 2 ** 31 - 1)
        a = np.ascontiguousarray(a)
        img = _lib.Image(a.shape[2], a.shape[1], a.shape[0], a.ctypes.data_as(_lib.c_float_p))
        out = _lib.Image()
        check(lib.sc_stn_glimpse(ctypes.byref(img), t.ctypes.data_as(_lib.c_float_p), w, h,
                                 ctypes.byref(out)))
        g = _lib.image_out(out, "chw")
        return g[0] if two_d else g

    def __repr__(self):
        return "SpatialTransformer(%r, input=%s, classes=%d)" % (self.path, self.input_shape,
                                                                  len(self.classes))

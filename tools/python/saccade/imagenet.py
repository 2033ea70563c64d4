"""torchvision ImageNet classifiers (sc_imagenet_classifier.h) and classifiers
seen from a layer for class activation maps (sc_cam_model.h).

    clf = saccade.ImageNetClassifier("r50.safetensors")  # tools/convert_torchvision.py
    clf.classify(img, top_k=5)      # [{"index": 281, "name": "tabby", "prob": .., "logit": ..}, ...]
    x = clf.preprocess(img)         # (3, 224, 224) float32, as weights.transforms()

    cm = saccade.CamModel("r50.safetensors")         # also a Fashion classifier
    cm.layers                        # ["conv1", "relu", "maxpool", "layer1.0", ...]
    x, geometry = cm.preprocess(img)
    logits, act = cm.forward(x[None], layer="layer4")  # act (1, 2048, 7, 7)
    d = np.zeros_like(logits); d[0, logits[0].argmax()] = 1
    dact, dx = cm.backward(d, dx=True)                 # gradients of the class logit
    cm.forward_from("layer4", act_ablated)             # logits from a changed activation
    cm.logits(batch)                                   # plain batched forward
"""
import ctypes
from ctypes import c_char, c_char_p, c_float, c_int, c_void_p, POINTER as P

import numpy as np

from . import _lib
from ._lib import lib, check, c_float_p
from ._handle import Handle


class ClassScore(ctypes.Structure):
    _fields_ = [("index", c_int), ("prob", c_float), ("logit", c_float), ("name", c_char_p)]


class Geometry(ctypes.Structure):
    _fields_ = [("resized_w", c_int), ("resized_h", c_int), ("crop_x0", c_int),
                ("crop_y0", c_int), ("crop", c_int)]


class CamInfo(ctypes.Structure):
    _fields_ = [("arch", c_char * 32), ("in_channels", c_int), ("in_h", c_int), ("in_w", c_int),
                ("num_classes", c_int), ("tokens", c_int), ("default_layer", c_char * 48)]


_lib._check_layouts({"sc_class_score": ClassScore, "sc_imagenet_geometry": Geometry,
                     "sc_cam_model_info": CamInfo})

S = c_int
_missing = _lib._bind({
    "sc_imagenet_classifier_load": (S, [c_char_p, c_void_p, P(c_void_p)]),
    "sc_imagenet_classifier_free": (None, [c_void_p]),
    "sc_imagenet_classifier_class_name": (c_char_p, [c_void_p, c_int]),
    "sc_imagenet_classifier_logits": (S, [c_void_p, c_float_p, c_int, c_float_p]),
    "sc_imagenet_classifier_classify": (S, [c_void_p, P(_lib.Image), c_int, P(ClassScore),
                                            c_float_p]),
    "sc_cam_model_load": (S, [c_char_p, P(c_void_p)]),
    "sc_cam_model_free": (None, [c_void_p]),
    "sc_cam_model_get_info": (S, [c_void_p, P(CamInfo)]),
    "sc_cam_model_set_input_size": (S, [c_void_p, c_int, c_int]),
    "sc_cam_model_layer_count": (c_int, [c_void_p]),
    "sc_cam_model_layer_name": (c_char_p, [c_void_p, c_int]),
    "sc_cam_model_layer_shape": (S, [c_void_p, c_char_p, P(c_int), P(c_int), P(c_int)]),
    "sc_cam_model_class_name": (c_char_p, [c_void_p, c_int]),
    "sc_cam_model_class_from_string": (S, [c_void_p, c_char_p, P(c_int)]),
    "sc_cam_model_preprocess": (S, [c_void_p, P(_lib.Image), c_float_p, P(Geometry)]),
    "sc_cam_model_forward": (S, [c_void_p, c_float_p, c_int, c_char_p, c_float_p, c_float_p]),
    "sc_cam_model_backward": (S, [c_void_p, c_float_p, c_float_p, c_float_p]),
    "sc_cam_model_forward_from": (S, [c_void_p, c_char_p, c_float_p, c_int, c_float_p]),
    "sc_cam_model_logits": (S, [c_void_p, c_float_p, c_int, c_float_p]),
})
if _missing:
    raise ImportError("saccade: %s lacks %s" % (_lib.LIB_PATH, ", ".join(_missing)))


def _fp(a):
    return a.ctypes.data_as(c_float_p) if a is not None else None


class CamModel(Handle):
    """A classifier seen from a layer (sc_cam_model.h): an ImageNet ResNet / ViT
    from tools/convert_torchvision.py or a Fashion classifier. Inputs x are the
    model's input tensors (N, C, H, W) float32 (preprocess() makes one from an
    image); activations are (N, C, h, w) (a ViT's patch tokens as a grid)."""
    _free = staticmethod(lib.sc_cam_model_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_cam_model_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self.layers = [lib.sc_cam_model_layer_name(self._h, i).decode()
                       for i in range(lib.sc_cam_model_layer_count(self._h))]
        self._info()

    def _info(self):
        i = CamInfo()
        check(lib.sc_cam_model_get_info(self._ptr(), ctypes.byref(i)))
        self.arch = i.arch.decode()
        self.num_classes = i.num_classes
        self.input_shape = (i.in_channels, i.in_h, i.in_w)
        self.tokens = bool(i.tokens)
        self.default_layer = i.default_layer.decode()
        self.classes = [lib.sc_cam_model_class_name(self._h, k).decode()
                        for k in range(self.num_classes)]

    def set_input_size(self, h, w):
        """Input size from now on (ResNets take any size; others only their own)."""
        with self._lock:
            check(lib.sc_cam_model_set_input_size(self._ptr(), int(h), int(w)))
            self._info()

    def layer_shape(self, layer):
        """(C, h, w) of a layer's activation for one image."""
        C, h, w = c_int(), c_int(), c_int()
        check(lib.sc_cam_model_layer_shape(self._ptr(), layer.encode(), ctypes.byref(C),
                                           ctypes.byref(h), ctypes.byref(w)))
        return C.value, h.value, w.value

    def class_index(self, target):
        """A class name or index -> its index (errors name the valid range)."""
        k = c_int()
        check(lib.sc_cam_model_class_from_string(self._ptr(), str(target).encode(),
                                                 ctypes.byref(k)))
        return k.value

    def preprocess(self, image, layout="hwc"):
        """image -> (x (C, H, W) float32, geometry dict of the crop)."""
        img, keep = _lib.image_in(image, layout, "image")
        x = np.empty(self.input_shape, np.float32)
        g = Geometry()
        with self._lock:
            check(lib.sc_cam_model_preprocess(self._ptr(), ctypes.byref(img), _fp(x),
                                              ctypes.byref(g)))
        del keep
        return x, {f: getattr(g, f) for f, _ in Geometry._fields_}

    def _x(self, x):
        a = _lib.as_array(x, "x")
        if a.ndim == 3:
            a = a[None]
        if a.ndim != 4 or a.shape[1:] != self.input_shape or a.shape[0] < 1:
            raise ValueError("x has shape %s, expected (N, %d, %d, %d)"
                             % ((a.shape,) + self.input_shape))
        return np.ascontiguousarray(a, dtype=np.float32)

    def forward(self, x, layer=None):
        """(logits (N, K), activation (N, C, h, w) or None); keeps what backward needs."""
        a = self._x(x)
        n = a.shape[0]
        lg = np.empty((n, self.num_classes), np.float32)
        act = np.empty((n,) + self.layer_shape(layer), np.float32) if layer else None
        with self._lock:
            check(lib.sc_cam_model_forward(self._ptr(), _fp(a), n,
                                           layer.encode() if layer else None, _fp(lg), _fp(act)))
            self._fwd = (n, layer)
        return lg, act

    def backward(self, dlogits, dact=True, dx=False):
        """Gradients of sum(dlogits * logits) of the last forward: (dact, dx)
        (each None unless asked)."""
        n, layer = getattr(self, "_fwd", (0, None))
        d = _lib.floats_in(dlogits, (n, self.num_classes), "dlogits")
        ga = np.empty((n,) + self.layer_shape(layer), np.float32) if dact and layer else None
        gx = np.empty((n,) + self.input_shape, np.float32) if dx else None
        with self._lock:
            check(lib.sc_cam_model_backward(self._ptr(), _fp(d), _fp(ga), _fp(gx)))
        return ga, gx

    def forward_from(self, layer, act):
        """Logits (N, K) of the network continued from act (N, C, h, w) at layer."""
        shape = self.layer_shape(layer)
        a = _lib.as_array(act, "act")
        if a.ndim != 4 or a.shape[1:] != shape or a.shape[0] < 1:
            raise ValueError("act has shape %s, expected (N,) + %s" % (a.shape, shape))
        a = np.ascontiguousarray(a, dtype=np.float32)
        lg = np.empty((a.shape[0], self.num_classes), np.float32)
        with self._lock:
            check(lib.sc_cam_model_forward_from(self._ptr(), layer.encode(), _fp(a), a.shape[0],
                                                _fp(lg)))
            self._fwd = (0, None)
        return lg

    def logits(self, x):
        """Plain batched forward: logits (N, K)."""
        a = self._x(x)
        lg = np.empty((a.shape[0], self.num_classes), np.float32)
        with self._lock:
            check(lib.sc_cam_model_logits(self._ptr(), _fp(a), a.shape[0], _fp(lg)))
            self._fwd = (0, None)
        return lg

    def __repr__(self):
        return "CamModel(%r, %s, input=%s, classes=%d)" % (self.path, self.arch, self.input_shape,
                                                          self.num_classes)


class ImageNetClassifier(Handle):
    """A torchvision ResNet / ViT classifier converted by tools/convert_torchvision.py,
    preprocessing as its weights' transforms (torchvision on a PIL image)."""
    _free = staticmethod(lib.sc_imagenet_classifier_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_imagenet_classifier_load(_lib.fspath(path), None, ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self.classes = []
        k = 0
        while True:
            name = lib.sc_imagenet_classifier_class_name(self._h, k)
            if name is None:
                break
            self.classes.append(name.decode())
            k += 1
        self.num_classes = len(self.classes)

    def classify(self, image, top_k=5, layout="hwc"):
        """The top_k classes of an image: a list of dicts (index, name, prob, logit)."""
        if not 1 <= int(top_k) <= self.num_classes:
            raise ValueError("top_k must be in 1..%d" % self.num_classes)
        img, keep = _lib.image_in(image, layout, "image")
        top = (ClassScore * int(top_k))()
        with self._lock:
            check(lib.sc_imagenet_classifier_classify(self._ptr(), ctypes.byref(img), int(top_k),
                                                      top, None))
        del keep
        return [{"index": t.index, "name": t.name.decode(), "prob": float(t.prob),
                 "logit": float(t.logit)} for t in top]

    def predict(self, image, layout="hwc"):
        """Class probabilities (K,) float32 of an image."""
        img, keep = _lib.image_in(image, layout, "image")
        probs = np.empty(self.num_classes, np.float32)
        top = (ClassScore * 1)()
        with self._lock:
            check(lib.sc_imagenet_classifier_classify(self._ptr(), ctypes.byref(img), 1, top,
                                                      _fp(probs)))
        del keep
        return probs

    def __repr__(self):
        return "ImageNetClassifier(%r, classes=%d)" % (self.path, self.num_classes)

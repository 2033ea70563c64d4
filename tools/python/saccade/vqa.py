"""Visual question answering: stacked attention networks (saccade train vqa models)."""
import ctypes
import json

import numpy as np

from . import _lib
from ._lib import lib, check
from ._handle import Handle

DEFAULT_MODEL = "models/scenes-vqa.safetensors"


class Answer:
    """The answer to one question.

    answer, prob: the best answer and its probability; top: [(answer, prob)]
    best first (top_k of them); tokens: question tokens used; truncated: the
    question was cut at the model's max_len; unknown: words not in the model's
    vocabulary (they were read as <unk>); attention (hops, g, g) float32: the
    attention map of every hop over the image grid (san; coatt: one per level,
    word, phrase, question), or None (baselines); question_attention (3,
    tokens) float32: coatt's attention over the question words per level, or
    None (other archs)."""
    __slots__ = ("question", "answer", "prob", "top", "tokens", "truncated", "unknown",
                 "attention", "question_attention")

    def __repr__(self):
        return "Answer(%r -> %r, p=%.3f)" % (self.question, self.answer, self.prob)


def _read_vocab(v):
    return [v.words[i].decode("utf-8", "replace") for i in range(v.n)]


class VQA(Handle):
    """A VQA model file (.safetensors with saccade.config, saccade.vocab and
    saccade.answers).

        vqa = saccade.VQA()                        # None: the shipped scenes model
        vqa.set_image(img)                         # (H, W, 3) [0, 1] floats or uint8; encoded once
        a = vqa.ask("what colour is the bag?", top_k=3)
        a.answer, a.prob, a.top, a.unknown, a.attention   # attention (hops, g, g)
        vqa.ask_image(img, "is there a red bag?")  # set_image + ask

    An empty question (no words) raises saccade.Error, as in the CLI."""
    _free = staticmethod(lib.sc_vqa_free)

    def __init__(self, path=None):
        super().__init__()
        path = _lib.model_path(path, DEFAULT_MODEL)
        h = ctypes.c_void_p()
        check(lib.sc_vqa_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self.config = json.loads(_lib.take_string(lib.sc_vqa_config_to_json(
            lib.sc_vqa_get_config(self._h))))
        self.vocab = _read_vocab(lib.sc_vqa_get_vocab(self._h).contents)
        self.answers = _read_vocab(lib.sc_vqa_get_answers(self._h).contents)
        self.arch = self.config.get("arch", "san")
        self.grid = int(lib.sc_vqa_grid_side(self._h))
        self._has_image = False

    def set_image(self, image, layout="hwc"):
        """Encode an RGB image (any size; resized to the model's input) and keep
        its features for the following ask() calls. A bundled model given an
        image that is not a 96x96 scene warns (saccade.bundled_model_warning)."""
        from .blip import warn_if_bundled
        warn_if_bundled(self.path, image, layout)
        if isinstance(image, np.ndarray) and image.dtype == np.uint8:
            image = image.astype(np.float32) / np.float32(255)
        img, keep = _lib.image_in(image, layout, "image", channels=(3, 4))
        if img.c == 4:  # drop alpha
            keep = np.ascontiguousarray(keep[:3])
            img = _lib.Image(img.w, img.h, 3, keep.ctypes.data_as(_lib.c_float_p))
        with self._lock:
            check(lib.sc_vqa_set_image(self._ptr(), ctypes.byref(img)))
            self._has_image = True
        del keep

    def ask(self, question, top_k=1):
        """Answer a question about the image set last (see set_image)."""
        q = _lib.text_arg("question", question)
        top_k = _lib.int_arg("top_k", top_k, 1, 8)
        if not self._has_image and self.arch != "qonly":
            raise ValueError("no image: call set_image() first")
        out = _lib.VqaAnswer()
        with self._lock:
            check(lib.sc_vqa_ask(self._ptr(), q, top_k,
                                 ctypes.byref(out)))
        a = Answer()
        a.question = question
        a.top = [(self.answers[out.top[i]], float(out.prob[i])) for i in range(out.n_top)]
        a.answer, a.prob = a.top[0]
        a.tokens = int(out.n_tokens)
        a.truncated = bool(out.truncated)
        a.unknown = out.unknown.decode("utf-8", "replace").split()
        if out.hops > 0:
            g = out.grid
            a.attention = np.ctypeslib.as_array(out.att)[:out.hops * g * g].reshape(
                out.hops, g, g).copy()
        else:
            a.attention = None
        a.question_attention = None
        if out.levels > 0:
            a.question_attention = np.ctypeslib.as_array(out.qatt)[:out.levels * out.n_tokens].reshape(
                out.levels, out.n_tokens).copy()
        return a

    def ask_image(self, image, question, top_k=1, layout="hwc"):
        self.set_image(image, layout)
        return self.ask(question, top_k)

    def hop_figure(self, image, answer, panel=192, font_px=13.0, layout="hwc"):
        """The attention figure of an answer (as `saccade vqa --attention`
        draws it): the image captioned "Q: <question>" and one heatmap per hop
        captioned "hop k: <answer> (<prob>)", side by side. image: the image
        the answer is about ((H, W, 3) [0, 1] floats or uint8); answer: an
        Answer of ask() from a model with attention (san). Returns RGB
        float32 in [0, 1]."""
        return hop_figure(image, answer.attention, answer.question, answer.answer, answer.prob,
                          panel=panel, font_px=font_px, layout=layout)

    def __repr__(self):
        return "VQA(%r, arch=%s, %d answers)" % (self.path, self.arch, len(self.answers))


def hop_figure(image, attention, question, answer, prob, panel=192, font_px=13.0, layout="hwc"):
    """The VQA attention figure (sc_vqa_hop_figure) from raw parts: attention
    (hops, g, g) maps over image, the question, the answer and its
    probability. Returns RGB float32 in [0, 1] (layout "hwc" or "chw")."""
    if attention is None:
        raise ValueError("this answer has no attention maps (the model has no hops)")
    if isinstance(image, np.ndarray) and image.dtype == np.uint8:
        image = image.astype(np.float32) / np.float32(255)
    att = np.ascontiguousarray(np.asarray(attention, dtype=np.float32))
    if att.ndim != 3 or att.shape[1] != att.shape[2]:
        raise ValueError("attention must be (hops, g, g), got shape %s" % (att.shape,))
    img, keep = _lib.image_in(image, layout, "image")
    p = lib.sc_vqa_figure_default_params()
    p.panel, p.font_px = _lib.int_arg("panel", panel, 1, 2 ** 31 - 1), float(font_px)
    out = _lib.Image()
    st = lib.sc_vqa_hop_figure(ctypes.byref(img), att.ctypes.data_as(_lib.c_float_p),
                               int(att.shape[0]), int(att.shape[1]),
                               _lib.text_arg("question", str(question)),
                               _lib.text_arg("answer", str(answer)),
                               float(prob), ctypes.byref(p), ctypes.byref(out))
    del keep
    check(st)
    return _lib.image_out(out, layout)

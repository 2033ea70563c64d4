"""BLIP visual question answering (Hugging Face BlipForQuestionAnswering
folders) and image-text matching with its Grad-CAM (BlipForImageTextRetrieval)."""
import ctypes

import numpy as np

from . import _lib
from ._lib import lib, check
from ._handle import Handle


def _words(ptr, n):
    return [ptr[i].decode("utf-8", "replace") for i in range(n)]


class BlipAnswer:
    """One answer of BlipVqa.ask.

    text: the decoded answer; tokens (T,) int32 its ids ([DEC] and [SEP]
    excluded); words (T,) their spellings; score: its probability under the
    decoder (exp(logprob)); logprob: sum of log-probabilities, [SEP]
    included (beam search: the beam score); finished: stopped at [SEP];
    question_tokens (Q,) int32 / question_words: "[CLS] question [SEP]" as the
    processor gives it; answer_attention (T, Q): each answer token's
    cross-attention over the question tokens; question_attention (Q, G, G):
    each question token's cross-attention over the image patches in the
    encoder; answer_maps (T, G, G): the question maps weighted by
    answer_attention. Maps: the chosen layer, mean of the chosen heads."""
    __slots__ = ("text", "tokens", "words", "score", "logprob", "finished", "question_tokens",
                 "question_words", "answer_attention", "question_attention", "answer_maps")

    def __repr__(self):
        return "BlipAnswer(%r, score=%.4f)" % (self.text, self.score)


class BlipVqa(Handle):
    """BLIP visual question answering: a Hugging Face BlipForQuestionAnswering
    folder (e.g. Salesforce/blip-vqa-base) or a saccade BLIP file.

        vqa = saccade.BlipVqa("blip-vqa-base")
        vqa.set_image(img)                    # encoded once
        a = vqa.ask("what is the man holding?")
        a.text, a.score, a.answer_attention  # (T, Q) over the question tokens

    Generation as transformers' generate for this model (greedy and 20 new
    tokens unless the config says otherwise)."""
    _free = staticmethod(lib.sc_blip_vqa_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_blip_vqa_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self.grid = int(lib.sc_blip_grid(lib.sc_blip_vqa_model(self._h)))

    def set_image(self, image, layout="hwc"):
        """Encode image ((H, W, 3|4) float [0, 1] or uint8, or (H, W) gray) for
        the following questions."""
        img, keep = _lib.image_in(image, layout, "image", channels=(1, 3, 4))
        with self._lock:
            check(lib.sc_blip_vqa_set_image(self._ptr(), ctypes.byref(img)))
        del keep

    def ask(self, question, beam=None, max_len=None, min_len=None, layer=None, heads=None):
        """Answer question about the image set last. beam, max_len, min_len:
        None = the model config's; layer (default 2 * layers / 3) and heads
        (default all): which cross-attention the maps show."""
        p = lib.sc_blip_default_generate_params(lib.sc_blip_vqa_model(self._ptr()))
        if beam is not None:
            p.num_beams = _lib.int_arg("beam", beam, 1, 64)
        if max_len is not None:
            p.max_new_tokens = _lib.int_arg("max_len", max_len, 1, 512)
        if min_len is not None:
            p.min_length = _lib.int_arg("min_len", min_len, 0, 512)
        if layer is not None:
            p.attention_layer = _lib.int_arg("layer", layer, 0, 63)
        for hd in heads or ():
            p.head_mask |= 1 << _lib.int_arg("head", hd, 0, 63)
        res = _lib.BlipAnswer()
        with self._lock:
            check(lib.sc_blip_vqa_answer(self._ptr(), str(question).encode("utf-8"),
                                         ctypes.byref(p), ctypes.byref(res)))
            try:
                n, q, g = res.n, res.nq, res.grid
                o = BlipAnswer()
                o.text = res.text.decode("utf-8", "replace")
                o.tokens = _lib.copy_out(res.ids, n, np.int32)
                o.words = _words(res.words, n)
                o.score, o.logprob, o.finished = float(res.score), float(res.logprob), bool(res.ended)
                o.question_tokens = _lib.copy_out(res.question_ids, q, np.int32)
                o.question_words = _words(res.question_words, q)
                o.answer_attention = _lib.copy_out(res.answer_attention, n * q).reshape(n, q)
                o.question_attention = _lib.copy_out(res.question_attention, q * g * g).reshape(q, g, g)
                o.answer_maps = _lib.copy_out(res.answer_maps, n * g * g).reshape(n, g, g)
            finally:
                lib.sc_blip_answer_free(ctypes.byref(res))
        return o

    def __repr__(self):
        return "BlipVqa(%r, grid=%d)" % (self.path, self.grid)


class BlipMatch:
    """One text of BlipItm.match.

    probability: softmax of the ITM head's two logits, class 1; itm_logits
    (2,); cosine: the contrastive heads' cosine similarity; tokens (N,) int32
    and words: "[CLS] text [SEP]"; gradcam (N, G, G): each token's Grad-CAM
    (the layer's cross-attention times the positive part of its gradient for
    the positive logit, mean over heads) or None; phrase (G, G): the mean of
    the word tokens' maps or None; layer: the layer used."""
    __slots__ = ("probability", "itm_logits", "cosine", "tokens", "words", "gradcam", "phrase",
                 "layer")

    def __repr__(self):
        return "BlipMatch(probability=%.4f, cosine=%.4f)" % (self.probability, self.cosine)


class BlipItm(Handle):
    """BLIP image-text matching: a Hugging Face BlipForImageTextRetrieval
    folder (e.g. Salesforce/blip-itm-base-coco) or a saccade BLIP file.

        itm = saccade.BlipItm("blip-itm-base-coco")
        itm.set_image(img)
        m = itm.match("a red umbrella")
        m.probability, m.cosine, m.phrase      # phrase (G, G): where it is"""
    _free = staticmethod(lib.sc_blip_itm_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_blip_itm_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self.grid = int(lib.sc_blip_grid(lib.sc_blip_itm_model(self._h)))

    def set_image(self, image, layout="hwc"):
        """Encode image for the following texts."""
        img, keep = _lib.image_in(image, layout, "image", channels=(1, 3, 4))
        with self._lock:
            check(lib.sc_blip_itm_set_image(self._ptr(), ctypes.byref(img)))
        del keep

    def match(self, text, gradcam=True, layer=None, heads=None):
        """Scores of text against the image set last, with the Grad-CAM maps
        (layer: default 2 * layers / 3; heads: default all)."""
        lay = -1 if layer is None else _lib.int_arg("layer", layer, 0, 63)
        mask = 0
        for hd in heads or ():
            mask |= 1 << _lib.int_arg("head", hd, 0, 63)
        res = _lib.BlipMatch()
        with self._lock:
            check(lib.sc_blip_itm_match(self._ptr(), str(text).encode("utf-8"), 1 if gradcam else 0,
                                        lay, mask, ctypes.byref(res)))
            try:
                n, g = res.n, res.grid
                o = BlipMatch()
                o.probability, o.cosine = float(res.probability), float(res.cosine)
                o.itm_logits = np.array(res.itm_logits[:], np.float32)
                o.tokens = _lib.copy_out(res.ids, n, np.int32)
                o.words = _words(res.words, n)
                o.gradcam = _lib.copy_out(res.gradcam, n * g * g).reshape(n, g, g) if res.gradcam else None
                o.phrase = _lib.copy_out(res.phrase, g * g).reshape(g, g) if res.phrase else None
                o.layer = int(res.layer)
            finally:
                lib.sc_blip_match_free(ctypes.byref(res))
        return o

    def __repr__(self):
        return "BlipItm(%r, grid=%d)" % (self.path, self.grid)

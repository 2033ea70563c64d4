"""BLIP captioning (Hugging Face BlipForConditionalGeneration folders) with
per-token cross-attention maps."""
import ctypes
import warnings

import numpy as np

from . import _lib
from ._lib import lib, check
from ._handle import Handle


class BlipCaption:
    """One BLIP caption.

    text: the decoded caption (the prompt kept unless strip_prompt); tokens
    (T,) int32 generated ids (prompt and [SEP] excluded); pieces (T,) their
    vocabulary spellings (WordPiece continuations keep "##"); words (W,) the
    whole words they make ("surf", "##board" -> "surfboard"), word_pieces
    (W,) int32 pieces per word, word_attention (W, G, G) the mean of each
    word's pieces' maps and word_logprobs (W,) the sum of their logprobs
    (the labels and maps the figures use); attention
    (T, G, G) float32: for each token, the cross-attention over the image
    patches of the query that produced it (the chosen layer, mean of the
    chosen heads, the class token's share left out); class_attention (T,)
    that share; gradcam (T, G, G) the gradient-weighted cross-attention when
    asked for, else None; logprobs (T,) float32: each token's log-probability
    under the model (log-softmax of the decoder's logits before min-length,
    temperature, top-k or top-p; for beam search from one teacher-forced pass
    over the chosen caption); end_logprob: that of [SEP] after the last
    token when finished, else None; score: sum of logprobs and end_logprob
    (beam search: divided by (T + finished)**length_penalty, transformers'
    sequence score); finished: stopped at [SEP]."""
    __slots__ = ("text", "tokens", "pieces", "words", "word_pieces", "word_attention",
                 "word_logprobs", "attention", "class_attention", "gradcam", "score", "finished",
                 "prompt_ids", "logprobs", "end_logprob")

    def __repr__(self):
        return "BlipCaption(%r, score=%.4f, finished=%s)" % (self.text, self.score, self.finished)


def _generate_params(p, beam, max_len, min_len, length_penalty, layer, heads, gradcam,
                     sample=False, top_p=None, top_k=None, temperature=None, seed=0):
    """p (a model's default sc_blip_generate_params) with the settings given;
    None keeps the model's."""
    if beam is not None:
        p.num_beams = _lib.int_arg("beam", beam, 1, 64)
    if max_len is not None:
        p.max_new_tokens = _lib.int_arg("max_len", max_len, 1, 512)
    if min_len is not None:
        p.min_length = _lib.int_arg("min_len", min_len, 0, 512)
    if length_penalty is not None:
        p.length_penalty = float(length_penalty)
    if sample or top_p is not None or top_k is not None or temperature is not None:
        p.do_sample = 1
        if top_p is not None:
            p.top_p = float(top_p)
        if top_k is not None:
            p.top_k = _lib.int_arg("top_k", top_k, 0, 1 << 30)
        if temperature is not None:
            p.temperature = float(temperature)
    p.seed = _lib.int_arg("seed", seed, 0, (1 << 63) - 1)
    if layer is not None:
        p.attention_layer = _lib.int_arg("layer", layer, 0, 63)
    for hd in heads or ():
        p.head_mask |= 1 << _lib.int_arg("head", hd, 0, 63)
    p.gradcam = 1 if gradcam else 0
    return p


def _caption_of(res):
    """A BlipCaption from an sc_blip_result (the caller frees it)."""
    c = res.caption
    n, g = c.n, c.grid
    o = BlipCaption()
    o.text = res.text.decode("utf-8", "replace")
    o.tokens = _lib.copy_out(c.ids, n, np.int32)
    o.pieces = [res.pieces[t].decode("utf-8", "replace") for t in range(n)]
    nw = res.n_words
    o.words = [res.words[w].decode("utf-8", "replace") for w in range(nw)]
    o.word_pieces = np.diff(_lib.copy_out(res.word_start, nw + 1, np.int32)).astype(np.int32)
    o.word_attention = _lib.copy_out(res.word_attention, nw * g * g).reshape(nw, g, g)
    o.word_logprobs = _lib.copy_out(res.word_logprobs, nw)
    o.attention = _lib.copy_out(c.attention, n * g * g).reshape(n, g, g)
    o.class_attention = _lib.copy_out(c.class_attention, n)
    o.gradcam = _lib.copy_out(c.gradcam, n * g * g).reshape(n, g, g) if c.gradcam else None
    o.score, o.finished = float(c.score), bool(c.ended)
    o.logprobs = _lib.copy_out(c.logprobs, n)
    o.end_logprob = float(c.end_logprob) if c.ended else None
    o.prompt_ids = _lib.copy_out(res.prompt_ids, res.n_prompt, np.int32)
    return o


def _caption(model, fn, image, layout, p, *args):
    """fn(model, image, *args, p, result), an sc_*_caption_image, as a
    BlipCaption."""
    img, keep = _lib.image_in(image, layout, "image", channels=(1, 3, 4))
    res = _lib.BlipResult()
    with model._lock:
        check(fn(model._ptr(), ctypes.byref(img), *args, ctypes.byref(p), ctypes.byref(res)))
        try:
            return _caption_of(res)
        finally:
            lib.sc_blip_result_free(ctypes.byref(res))
            del keep


class Blip(Handle):
    """A BLIP captioning model: a Hugging Face folder (config.json,
    model.safetensors, vocab.txt, ...) or a saccade BLIP .safetensors.

        blip = saccade.Blip("blip-image-captioning-base")
        r = blip.caption(img, beam=3, prompt="a picture of")
        r.text, r.words, r.word_attention     # word_attention (W, G, G) numpy float32

    Generation follows transformers 5.x's generate (sc_blip.h); settings not
    given come from the model's text config."""
    _free = staticmethod(lib.sc_blip_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_blip_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self.grid = int(lib.sc_blip_grid(self._h))
        self.vocab_size = int(lib.sc_blip_vocab_size(self._h))

    def caption(self, image, beam=None, max_len=None, min_len=None, length_penalty=None,
                prompt=None, strip_prompt=False, sample=False, top_p=None, top_k=None,
                temperature=None, seed=0, layer=None, heads=None, gradcam=False, layout="hwc"):
        """Caption image ((H, W, 3|4) float [0, 1] or uint8, or (H, W) gray).

        beam: beams (1 greedy); max_len / min_len: new tokens, [SEP]
        included; prompt: text the caption continues (kept in .text unless
        strip_prompt); sample / top_p / top_k / temperature / seed: sampling;
        layer (0-based, default 2 * layers / 3) and heads (a list, default
        all): which cross-attention the maps show; gradcam: also the
        gradient-weighted maps. None means the model config's setting."""
        p = _generate_params(lib.sc_blip_default_generate_params(self._ptr()), beam, max_len,
                             min_len, length_penalty, layer, heads, gradcam, sample, top_p,
                             top_k, temperature, seed)
        pr = None if prompt is None else _lib.text_arg("prompt", str(prompt))
        return _caption(self, lib.sc_blip_caption_image, image, layout, p, pr,
                        1 if strip_prompt else 0)

    def __repr__(self):
        return "Blip(%r, grid=%d)" % (self.path, self.grid)


def bundled_model_warning(model_path, width, height):
    """The warning text when model_path is one of the bundled Fashion models
    (by its file name) and a width x height image is not its input size
    (96x96 scenes, the STN's 60x60 canvas); else None."""
    w = lib.sc_bundled_model_warning(_lib.fspath(model_path),
                                     _lib.int_arg("width", width, 0, 2 ** 31 - 1),
                                     _lib.int_arg("height", height, 0, 2 ** 31 - 1))
    return w.decode() if w else None


def warn_if_bundled(model_path, image, layout="hwc"):
    """warnings.warn the bundled-model warning for a numpy image; returns it
    (None for a model made in memory, model_path None)."""
    if model_path is None:
        return None
    a = np.asarray(image)
    h, w = (a.shape[0], a.shape[1]) if layout == "hwc" or a.ndim == 2 else (a.shape[1], a.shape[2])
    msg = bundled_model_warning(model_path, w, h)
    if msg:
        warnings.warn(msg, stacklevel=3)
    return msg

"""Show, Attend and Tell captioning: beam search with per-word attention maps."""
import ctypes
import json

import numpy as np

from . import _lib
from ._lib import lib, check
from ._handle import Handle
from .blip import warn_if_bundled

DEFAULT_MODEL = "models/scenes-captioner.safetensors"
SPECIALS = ("<pad>", "<unk>", "<start>", "<end>")


class Hypothesis:
    """One beam-search hypothesis.

    tokens (T,) int32 ids and words (T,) of the generated tokens (no <start>;
    the final <end> included when finished), logprobs (T,) per-token
    log-probabilities, attention (T, N, N) the attention map of each step (in
    the argmax and sample attention modes the one-hot map of the cell read),
    cells (T,) int32 the cell each step read (row * N + col; argmax and sample
    modes, else None),
    score = sum(logprobs), norm_score the ranking key (score / T**length_penalty),
    finished: ended with <end>. text: the words joined, without special tokens."""
    __slots__ = ("tokens", "words", "logprobs", "attention", "cells", "score", "norm_score",
                 "finished", "text")

    def __repr__(self):
        return "Hypothesis(%r, score=%.4f, finished=%s)" % (self.text, self.score, self.finished)


class CaptionResult(Hypothesis):
    """The best hypothesis (fields as Hypothesis) plus `hypotheses`, all the
    completed ones best first (or the unfinished beams if none completed)."""
    __slots__ = ("hypotheses",)

    def __repr__(self):
        return "CaptionResult(%r, score=%.4f, %d hypotheses)" % (self.text, self.score,
                                                                len(self.hypotheses))


def _hyp(h, grid, vocab, cls=Hypothesis):
    o = cls.__new__(cls)
    n = h.len
    o.tokens = _lib.copy_out(h.tokens, n, np.int32)
    o.logprobs = _lib.copy_out(h.logprobs, n)
    o.attention = _lib.copy_out(h.alphas, n * grid * grid).reshape(n, grid, grid)
    o.cells = _lib.copy_out(h.cells, n, np.int32) if h.cells else None
    o.score, o.norm_score, o.finished = float(h.score), float(h.norm_score), bool(h.finished)
    o.words = [vocab[int(t)] if 0 <= int(t) < len(vocab) else "<?>" for t in o.tokens]
    o.text = " ".join(w for w in o.words if w not in SPECIALS)
    return o


def default_beam():
    """The beam size captioning uses when none is given: 3, the library's
    sc_captioner_beam_default_params (also `saccade caption` and `saccade eval
    captioner`). BLIP models follow their config instead (Blip.caption)."""
    return int(lib.sc_captioner_beam_default_params().beam_size)


class Captioner(Handle):
    """A captioner model file (.safetensors with saccade.config + saccade.vocab).

        cap = saccade.Captioner("model.safetensors")   # None: the shipped default model
        r = cap.caption(img, beam=5)                   # needs an image encoder in the model
        r = cap.caption(features=f, beam=3)            # f: (P, E) or (N, N, E) features
        r.text, r.tokens, r.logprobs, r.score, r.attention  # attention (T, N, N)
        cap.evaluate(n=200, beam=3)                    # held-out Fashion scenes: dict of scores

    Captioner.create(words, ...) makes a fresh model (features encoder) for
    experiments; save(path) writes it."""
    _free = staticmethod(lib.sc_captioner_free)

    def __init__(self, path=None):
        super().__init__()
        path = _lib.model_path(path, DEFAULT_MODEL)
        h = ctypes.c_void_p()
        check(lib.sc_captioner_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self._read_model()

    def _read_model(self):
        self.config = json.loads(_lib.take_string(
            lib.sc_captioner_config_to_json(lib.sc_captioner_get_config(self._h))))
        v = lib.sc_captioner_get_vocab(self._h).contents
        self.vocab = [v.words[i].decode("utf-8", "replace") for i in range(v.n)]
        self._ids = {w: i for i, w in enumerate(self.vocab)}
        self.special = {"pad": v.pad, "unk": v.unk, "start": v.start, "end": v.end}
        self.grid = int(self.config["grid"])
        self.encoder_dim = int(self.config["encoder_dim"])

    @classmethod
    def create(cls, words, seed=0, **config):
        """New model with the tutorial's initialisation and a features encoder.

        words: the vocabulary (ids = positions). "<pad>" (first), "<unk>",
        "<start>", "<end>" are added when absent. config: keys of
        saccade.config (grid, encoder_dim, attention_dim, embed_dim,
        decoder_dim, attention "relu"|"tanh", gate "vector"|"scalar"|"none",
        dropout); the rest keep the tutorial's defaults."""
        words = [str(w) for w in words]
        if "<pad>" not in words:
            words = ["<pad>"] + words
        for s in SPECIALS[1:]:
            if s not in words:
                words.append(s)
        if "encoder" in config and config["encoder"] != "features":
            raise ValueError("create() makes features-encoder models only")
        cfg = dict(config, encoder="features", vocab_size=len(words))
        try:
            cfg_json = json.dumps(cfg).encode()
        except TypeError as e:
            raise ValueError("config: %s" % e) from None
        size = ctypes.c_size_t()
        check(lib.sc_pyapi_layout(b"sc_captioner_config", None, ctypes.byref(size)))
        craw = ctypes.create_string_buffer(size.value)
        check(lib.sc_captioner_config_from_json(cfg_json, craw))
        arr = (ctypes.c_char_p * len(words))(*[_lib.text_arg("word", w) for w in words])
        voc = _lib.Vocab()
        check(lib.sc_vocab_from_words(arr, len(words), ctypes.byref(voc)))
        h = ctypes.c_void_p()
        try:
            check(lib.sc_captioner_create(craw, ctypes.byref(voc), _lib.int_arg("seed", seed, -2 ** 63, 2 ** 64 - 1) & (2 ** 64 - 1),
                                          ctypes.byref(h)))
        finally:
            lib.sc_vocab_free(ctypes.byref(voc))
        self = cls.__new__(cls)
        Handle.__init__(self)
        self._h = h.value
        self.path = None
        self._read_model()
        return self

    def save(self, path):
        """Write the model file atomically (features-encoder models only)."""
        with self._lock:
            check(lib.sc_captioner_save(self._ptr(), _lib.fspath(path)))

    def word_id(self, word):
        return self._ids.get(word, self.special["unk"])

    def _features(self, features):
        P, E, N = self.grid * self.grid, self.encoder_dim, self.grid
        a = _lib.as_array(features, "features")
        if a.shape == (N, N, E):
            a = a.reshape(P, E)
        if a.shape == (1, P, E):
            a = a[0]
        return _lib.floats_in(a, (P, E), "features")

    def encode(self, image, layout="hwc"):
        """Image -> (P, E) features (tutorial preprocessing + the model's image encoder)."""
        img, keep = _lib.image_in(image, layout, "image", channels=(3, 4))
        if img.c == 4:  # drop alpha (the captioner takes RGB)
            keep = np.ascontiguousarray(keep[:3])
            img = _lib.Image(img.w, img.h, 3, keep.ctypes.data_as(_lib.c_float_p))
        pre = _lib.Image()
        feats = np.empty((self.grid * self.grid, self.encoder_dim), np.float32)
        with self._lock:
            h = self._ptr()
            check(lib.sc_captioner_preprocess(h, ctypes.byref(img), ctypes.byref(pre)))
            try:
                check(lib.sc_captioner_encode(h, pre.data, pre.h, pre.w,
                                              feats.ctypes.data_as(_lib.c_float_p)))
            finally:
                lib.sc_image_free(ctypes.byref(pre))
        return feats

    def caption(self, image=None, beam=None, max_len=51, min_len=0, length_penalty=0.0,
                features=None, layout="hwc", attention_mode=None, seed=0):
        """Beam search (the tutorial's caption_image_beam_search by default).

        Give an image ((H, W, 3) float [0, 1] / uint8; needs a model with an
        image encoder) or features=(P, E). beam: the beam size, default 3 (the
        library's sc_captioner_beam_default_params, as `saccade caption`
        uses); 1 is greedy. max_len counts
        decode steps including <end>; min_len suppresses <end> for that many
        steps; length_penalty alpha ranks by score / T**alpha. attention_mode:
        "expected" (soft attention), "argmax" or "sample" (one cell per word,
        drawn with seed); None: argmax for hard-attention models, expected
        otherwise (sc_beam_params.attention_mode)."""
        if (image is None) == (features is None):
            raise ValueError("give exactly one of image or features")
        if beam is None:
            beam = default_beam()
        for name, v, lo in (("beam", beam, 1), ("max_len", max_len, 1), ("min_len", min_len, 0)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo or \
                    v > 100000:
                raise ValueError("%s must be an integer >= %d, not %r" % (name, lo, v))
        lp = float(length_penalty)
        if not np.isfinite(lp):
            raise ValueError("length_penalty must be finite")
        bp = lib.sc_captioner_beam_default_params()
        bp.beam_size, bp.max_len, bp.min_len, bp.length_penalty = int(beam), int(max_len), \
            int(min_len), lp
        if attention_mode is not None:
            modes = {"expected": 1, "argmax": 2, "sample": 3}
            if attention_mode not in modes:
                raise ValueError("attention_mode must be expected, argmax or sample, not %r"
                                 % (attention_mode,))
            bp.attention_mode = modes[attention_mode]
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or \
                not 0 <= seed < 2 ** 64:
            raise ValueError("seed must be an integer in [0, 2**64), not %r" % (seed,))
        bp.seed = int(seed)
        res = _lib.CaptionResult()
        if features is not None:
            f = self._features(features)
        else:
            warn_if_bundled(self.path, image, layout)
            img, keep = _lib.image_in(image, layout, "image", channels=(3, 4))
            if img.c == 4:
                keep = np.ascontiguousarray(keep[:3])
                img = _lib.Image(img.w, img.h, 3, keep.ctypes.data_as(_lib.c_float_p))
        with self._lock:
            h = self._ptr()
            if features is not None:
                st = lib.sc_captioner_beam_search(h, f.ctypes.data_as(_lib.c_float_p),
                                                  ctypes.byref(bp), ctypes.byref(res))
            else:
                st = lib.sc_captioner_caption_image(h, ctypes.byref(img), ctypes.byref(bp),
                                                    ctypes.byref(res))
            check(st)
            try:
                grid = res.grid
                hyps = [_hyp(res.hyps[i], grid, self.vocab) for i in range(res.n_hyps)]
                if not hyps:
                    raise _lib.Error(8, "beam search returned no hypothesis")
                best = _hyp(res.hyps[0], grid, self.vocab, CaptionResult)
                best.text = res.text.decode("utf-8", "replace") if res.text else best.text
                best.hypotheses = hyps
            finally:
                lib.sc_caption_result_free(ctypes.byref(res))
        return best

    def teacher_force(self, features, tokens):
        """Feed tokens (tokens[0] normally <start>) in eval mode: returns
        (logits (n, V), attention (n, N, N)) of each step."""
        f = self._features(features)
        t = _lib.as_array(tokens, "tokens")
        if t.ndim != 1 or t.size < 1 or t.dtype.kind not in "iu":
            raise ValueError("tokens must be a non-empty 1-D integer array")
        V = len(self.vocab)
        if t.min() < 0 or t.max() >= V:
            raise ValueError("tokens must be in 0..%d" % (V - 1))
        t = np.ascontiguousarray(t, dtype=np.int32)
        n = t.size
        logits = np.empty((n, V), np.float32)
        alphas = np.empty((n, self.grid, self.grid), np.float32)
        with self._lock:
            check(lib.sc_captioner_teacher_force(
                self._ptr(), f.ctypes.data_as(_lib.c_float_p),
                t.ctypes.data_as(_lib.c_int32_p), n, logits.ctypes.data_as(_lib.c_float_p),
                alphas.ctypes.data_as(_lib.c_float_p)))
        return logits, alphas

    def evaluate(self, n=1000, beam=None, max_len=30, data=None, seed=0, fmnist=None):
        """Caption n held-out Fashion scenes and score them (sc_captioner_evaluate,
        what `saccade eval captioner` reports).

        data None: generated test scenes 0..n-1 (scene generator seed `seed`,
        Fashion-MNIST from `fmnist`, default $SACCADE_FASHION_MNIST_DIR or the
        default folder); else a folder from `saccade data scenes` (at most its
        scenes). beam: default 3, the library's (default_beam()); max_len counts decode steps
        including <end>. Returns a dict: n, bleu1..bleu4, cider_d, exact_match,
        count_accuracy, colour_accuracy, class_accuracy, relation_accuracy,
        relation_scenes, pointing_game, pointing_game_colour_step, pointing_nouns,
        seconds and the raw counts (dict)."""
        if beam is None:
            beam = default_beam()
        for name, v, lo, hi in (("n", n, 1, 2 ** 30), ("beam", beam, 1, 1000),
                                ("max_len", max_len, 1, 10000), ("seed", seed, 0, 2 ** 64 - 1)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo or v > hi:
                raise ValueError("%s must be an integer in [%d, %d], not %r" % (name, lo, hi, v))
        p = lib.sc_captioner_eval_default_params()
        p.n, p.beam_size, p.max_len, p.scene_seed = int(n), int(beam), int(max_len), int(seed)
        p.folder = None if data is None else _lib.fspath(data, "data")
        p.fmnist_dir = None if fmnist is None else _lib.fspath(fmnist, "fmnist")
        r = _lib.CaptionerEvalResult()
        with self._lock:
            check(lib.sc_captioner_evaluate(self._ptr(), ctypes.byref(p), ctypes.byref(r)))
        c = {k: int(getattr(r.counts, k)) for k, _ in _lib.CapscenesCounts._fields_}
        out = {"n": int(r.n)}
        out.update(("bleu%d" % (k + 1), float(r.bleu[k])) for k in range(4))
        for k in ("cider_d", "exact_match", "count_accuracy", "colour_accuracy",
                  "class_accuracy", "relation_accuracy"):
            out[k] = float(getattr(r, k))
        out["relation_scenes"] = c["rel_scenes"]
        out["pointing_game"] = float(r.pointing_game)
        out["pointing_game_colour_step"] = float(r.pointing_game_colour_step)
        out["pointing_nouns"] = c["point_total"]
        out["seconds"] = float(r.seconds)
        out["counts"] = c
        return out

    def __repr__(self):
        return "Captioner(%r, grid=%d, vocab=%d)" % (self.path, self.grid, len(self.vocab))

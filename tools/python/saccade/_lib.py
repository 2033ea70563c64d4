"""Loading libsaccade.so, ctypes mirrors of the public structs, errors, and
numpy <-> sc_image / sc_map conversions. Internal: use the saccade package."""
import ctypes
import ctypes.util
import functools
import glob
import os

import numpy as np

c_int, c_float, c_double, c_char_p, c_void_p, c_size_t = (
    ctypes.c_int, ctypes.c_float, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p,
    ctypes.c_size_t)
P = ctypes.POINTER
c_float_p = P(c_float)
c_int32_p = P(ctypes.c_int32)

STATUS_NAMES = {0: "ok", 1: "invalid argument", 2: "i/o error", 3: "format error",
                4: "out of memory", 5: "limit exceeded", 6: "unsupported", 7: "shape mismatch",
                8: "internal error", 9: "stopped"}
STATUS_CODES = {1: "SC_ERR_INVALID_ARG", 2: "SC_ERR_IO", 3: "SC_ERR_FORMAT", 4: "SC_ERR_NOMEM",
                5: "SC_ERR_LIMIT", 6: "SC_ERR_UNSUPPORTED", 7: "SC_ERR_SHAPE",
                8: "SC_ERR_INTERNAL", 9: "SC_ERR_STOPPED"}


class Error(Exception):
    """A failure reported by libsaccade.

    Attributes: status (int sc_status), status_name (e.g. "format error"),
    code (e.g. "SC_ERR_FORMAT"), message (sc_last_error(): names the file or
    argument and the reason)."""

    def __init__(self, status, message, status_name=None):
        self.status = int(status)
        self.code = STATUS_CODES.get(self.status, "SC_ERR_%d" % self.status)
        self.status_name = status_name or STATUS_NAMES.get(self.status, "error %d" % self.status)
        self.message = message
        super().__init__("%s [%s]" % (message or "(no message)", self.status_name))


# ---------------------------------------------------------------- finding the library
def _candidates():
    env = os.environ.get("SACCADE_LIB")
    if env:
        return [("$SACCADE_LIB", env)], True
    out = []
    try:  # installed by pip or cmake --install: the library installed with it
        from . import _install
        here = os.path.dirname(os.path.abspath(__file__))
        return [("installed with the package",
                 os.path.normpath(os.path.join(here, _install.LIBRARY)))], False
    except ImportError:
        pass
    bdir = os.environ.get("SACCADE_BUILD_DIR")
    if bdir:
        out += [("$SACCADE_BUILD_DIR", p) for p in
                sorted(glob.glob(os.path.join(bdir, "libsaccade.so*")), key=len)]
    # <repo>/tools/python/saccade/_lib.py -> <repo>/build*/libsaccade.so*
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    found = glob.glob(os.path.join(repo, "build", "libsaccade.so*")) + \
        glob.glob(os.path.join(repo, "build*", "libsaccade.so*")) + \
        glob.glob(os.path.join(repo, "build", "*", "libsaccade.so*"))
    seen = set()
    for p in sorted(found, key=lambda p: (os.path.dirname(p) != os.path.join(repo, "build"),
                                          "asan" in p, len(p))):
        if p not in seen:
            seen.add(p)
            out.append(("build tree", p))
    name = ctypes.util.find_library("saccade")
    if name:
        out.append(("installed", name))
    return out, False


def _load():
    cands, forced = _candidates()
    errors = []
    for where, path in cands:
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append("%s %s: %s" % (where, path, e))
            if forced:
                break
    raise ImportError(
        "saccade: cannot load libsaccade.so. Set SACCADE_LIB to the library file, or "
        "SACCADE_BUILD_DIR to a CMake build folder, or install saccade (ldconfig). "
        + ("Tried: " + "; ".join(errors) if errors else "No candidate found."))


lib, LIB_PATH = _load()


# ---------------------------------------------------------------- C integers and strings
# ctypes converts a Python int to a C integer by keeping its low bits (2**32 + 8
# becomes 8 in a C int) and passes bytes to a char* up to the first NUL, so
# both are checked before they reach the library: the public functions name
# the argument (int_arg, text_arg), and every foreign call and every struct
# field below refuses what would wrap or be cut (OverflowError, ValueError).
def _int_range(ctype):
    bits = 8 * ctypes.sizeof(ctype)
    if ctype(-1).value < 0:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


_INT_TYPES = {t: _int_range(t) for t in (ctypes.c_int, ctypes.c_uint, ctypes.c_long,
                                          ctypes.c_ulong, ctypes.c_int32, ctypes.c_uint32,
                                          ctypes.c_int64, ctypes.c_uint64, ctypes.c_size_t)}


def int_arg(name, v, lo, hi):
    """v as an int in [lo, hi] (a Python or numpy integer, not a bool);
    ValueError naming the argument otherwise."""
    if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)) or \
            not lo <= v <= hi:
        raise ValueError("%s must be an integer in [%d, %d], not %r" % (name, lo, hi, v))
    return int(v)


def text_arg(name, v):
    """A str as UTF-8 bytes for a C string; ValueError for a NUL (C would
    stop there) or text that is not encodable."""
    if not isinstance(v, str):
        raise ValueError("%s must be a str, not %s" % (name, type(v).__name__))
    if "\0" in v:
        raise ValueError("%s contains a NUL character at index %d (C strings end there)"
                         % (name, v.index("\0")))
    try:
        return v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError("%s is not encodable as UTF-8: %s" % (name, e)) from None


def _c_int_value(where, ctype, v):
    lo, hi = _INT_TYPES[ctype]
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and not lo <= v <= hi:
        raise OverflowError("%s: %d does not fit a C %s (%d to %d)"
                            % (where, v, ctype.__name__[2:], lo, hi))


def _guard(name, f):
    """f with its integer and char* arguments checked as above."""
    checks = [(i, t) for i, t in enumerate(f.argtypes)
              if t in _INT_TYPES or t is ctypes.c_char_p]
    if not checks:
        return f

    def call(*args):
        for i, t in checks:
            if i >= len(args):
                break
            v = args[i]
            if t is ctypes.c_char_p:
                if isinstance(v, bytes) and b"\0" in v:
                    raise ValueError("%s: argument %d contains a NUL byte" % (name, i + 1))
            else:
                _c_int_value("%s: argument %d" % (name, i + 1), t, v)
        return f(*args)
    call.__name__ = name
    return call


@functools.lru_cache(maxsize=None)
def _field_types(cls):
    return dict(cls._fields_)


class _Struct(ctypes.Structure):
    """A ctypes struct whose integer fields refuse values they cannot hold."""

    def __setattr__(self, key, v):
        t = _field_types(type(self)).get(key)
        if t in _INT_TYPES:
            _c_int_value("%s.%s" % (type(self).__name__, key), t, v)
        super().__setattr__(key, v)


# ---------------------------------------------------------------- structs
class Image(_Struct):
    _fields_ = [("w", c_int), ("h", c_int), ("c", c_int), ("data", c_float_p)]


class ImageInfo(_Struct):
    _fields_ = [("format", ctypes.c_char * 8), ("w", c_int), ("h", c_int), ("channels", c_int),
                ("bit_depth", c_int), ("orientation", c_int)]


class ImageLoadParams(_Struct):
    _fields_ = [("max_pixels", ctypes.c_uint64), ("max_file_bytes", c_size_t),
                ("keep_alpha", c_int), ("background", c_float * 3),
                ("apply_exif_orientation", c_int)]


class Map(_Struct):
    _fields_ = [("w", c_int), ("h", c_int), ("data", c_float_p)]


class HeatmapParams(_Struct):
    _fields_ = [("colormap", c_int), ("norm", c_int), ("lo", c_float), ("hi", c_float),
                ("alpha", c_float), ("smooth_sigma", c_float)]


class SaliencyParams(_Struct):
    _fields_ = [("work_width", c_int), ("sigma", c_float), ("full_size", c_int)]


class Vocab(_Struct):
    _fields_ = [("n", c_int), ("words", P(c_char_p)), ("pad", c_int), ("unk", c_int),
                ("start", c_int), ("end", c_int), ("sorted", P(c_int))]


class BeamParams(_Struct):
    _fields_ = [("beam_size", c_int), ("max_len", c_int), ("min_len", c_int),
                ("length_penalty", c_float), ("attention_mode", c_int),
                ("seed", ctypes.c_uint64)]


class CaptionHyp(_Struct):
    _fields_ = [("len", c_int), ("tokens", c_int32_p), ("logprobs", c_float_p),
                ("alphas", c_float_p), ("cells", c_int32_p), ("score", c_float),
                ("norm_score", c_float),
                ("finished", c_int)]


class CaptionResult(_Struct):
    _fields_ = [("n_hyps", c_int), ("hyps", P(CaptionHyp)), ("words", P(c_char_p)),
                ("text", c_char_p), ("grid", c_int)]


class CaptionerEvalParams(_Struct):
    _fields_ = [("n", c_size_t), ("beam_size", c_int), ("max_len", c_int), ("folder", c_char_p),
                ("scenes", c_void_p), ("fmnist_dir", c_char_p), ("scene_seed", ctypes.c_uint64),
                ("on_caption", c_void_p), ("user", c_void_p), ("attention_mode", c_int),
                ("att_seed", ctypes.c_uint64)]


class CapscenesCounts(_Struct):
    _fields_ = [(k, ctypes.c_long) for k in (
        "scenes", "exact", "count_ok", "slots", "colour_ok", "class_ok", "rel_scenes", "rel_ok",
        "point_total", "point_hit", "point_colour_hit")]


class CaptionerEvalResult(_Struct):
    _fields_ = [("n", c_size_t), ("bleu", c_double * 4), ("cider_d", c_double),
                ("exact_match", c_double), ("count_accuracy", c_double),
                ("colour_accuracy", c_double), ("class_accuracy", c_double),
                ("relation_accuracy", c_double), ("pointing_game", c_double),
                ("pointing_game_colour_step", c_double), ("counts", CapscenesCounts),
                ("seconds", c_double)]


class StTensorInfo(_Struct):
    _fields_ = [("name", c_char_p), ("dtype", c_char_p), ("dtype_id", c_int), ("ndim", c_int),
                ("shape", P(ctypes.c_int64)), ("numel", c_size_t), ("nbytes", c_size_t),
                ("data", c_void_p)]


class VqaAnswer(_Struct):
    _fields_ = [("n_top", c_int), ("top", c_int * 8), ("prob", c_float * 8),
                ("n_tokens", c_int), ("truncated", c_int), ("unknown", ctypes.c_char * 512),
                ("hops", c_int), ("grid", c_int), ("att", c_float * (8 * 1024)),
                ("levels", c_int), ("qatt", c_float * (3 * 64))]


class VqaVocab(_Struct):
    _fields_ = [("n", c_int), ("words", P(c_char_p))]


class VqaFigureParams(_Struct):
    _fields_ = [("panel", c_int), ("font_px", c_float)]


class BlipGenerateParams(_Struct):
    _fields_ = [("max_new_tokens", c_int), ("min_length", c_int), ("num_beams", c_int),
                ("length_penalty", c_float), ("early_stopping", c_int), ("do_sample", c_int),
                ("top_k", c_int), ("top_p", c_float), ("temperature", c_float),
                ("seed", ctypes.c_uint64), ("attention_layer", c_int),
                ("head_mask", ctypes.c_uint64), ("keep_all_attention", c_int), ("gradcam", c_int)]


class BlipCaption(_Struct):
    _fields_ = [("ids", P(c_int)), ("n", c_int), ("ended", c_int), ("logprobs", c_float_p),
                ("end_logprob", c_float), ("score", c_float),
                ("grid", c_int), ("attention", c_float_p), ("class_attention", c_float_p),
                ("attention_all", c_float_p), ("gradcam", c_float_p)]


class BlipResult(_Struct):
    _fields_ = [("caption", BlipCaption), ("text", c_char_p), ("pieces", P(c_char_p)),
                ("prompt_ids", P(c_int)), ("n_prompt", c_int), ("n_words", c_int),
                ("words", P(c_char_p)), ("word_start", P(c_int)), ("word_attention", c_float_p),
                ("word_logprobs", c_float_p)]


class BlipAnswer(ctypes.Structure):
    _fields_ = [("text", c_char_p), ("ids", P(c_int)), ("n", c_int), ("ended", c_int),
                ("logprob", c_float), ("score", c_float), ("words", P(c_char_p)),
                ("question_ids", P(c_int)), ("nq", c_int), ("question_words", P(c_char_p)),
                ("grid", c_int), ("answer_attention", c_float_p),
                ("question_attention", c_float_p), ("question_class_attention", c_float_p),
                ("answer_maps", c_float_p)]


class BlipMatch(ctypes.Structure):
    _fields_ = [("itm_logits", c_float * 2), ("probability", c_float), ("cosine", c_float),
                ("ids", P(c_int)), ("n", c_int), ("words", P(c_char_p)), ("grid", c_int),
                ("layer", c_int), ("gradcam", c_float_p), ("phrase", c_float_p)]


_MIRRORS = {"sc_blip_generate_params": BlipGenerateParams, "sc_blip_caption": BlipCaption,
            "sc_blip_result": BlipResult, "sc_blip_answer": BlipAnswer, "sc_blip_match": BlipMatch,
            "sc_image": Image, "sc_image_info": ImageInfo,
            "sc_image_load_params": ImageLoadParams, "sc_map": Map,
            "sc_heatmap_params": HeatmapParams, "sc_saliency_params": SaliencyParams,
            "sc_vocab": Vocab, "sc_beam_params": BeamParams, "sc_caption_hyp": CaptionHyp,
            "sc_caption_result": CaptionResult, "sc_st_tensor_info": StTensorInfo,
            "sc_captioner_eval_params": CaptionerEvalParams,
            "sc_capscenes_counts": CapscenesCounts,
            "sc_captioner_eval_result": CaptionerEvalResult,
            "sc_vqa_answer": VqaAnswer, "sc_vqa_vocab": VqaVocab,
            "sc_vqa_figure_params": VqaFigureParams}

# ---------------------------------------------------------------- prototypes
S = c_int  # sc_status
_PROTOS = {
    "sc_last_error": (c_char_p, []),
    "sc_status_name": (c_char_p, [c_int]),
    "sc_version": (c_char_p, []),
    "sc_set_num_threads": (S, [c_int]),
    "sc_get_num_threads": (c_int, []),
    "sc_find_asset": (S, [c_char_p, ctypes.c_char_p, c_size_t]),
    "sc_pyapi_version": (c_int, []),
    "sc_pyapi_layout": (S, [c_char_p, c_char_p, P(c_size_t)]),
    "sc_pyapi_free_string": (None, [c_void_p]),
    # images
    "sc_image_load_default_params": (ImageLoadParams, []),
    "sc_image_load": (S, [c_char_p, P(ImageLoadParams), P(Image), P(ImageInfo)]),
    "sc_image_load_memory": (S, [c_void_p, c_size_t, P(ImageLoadParams), P(Image),
                                 P(ImageInfo)]),
    "sc_image_probe": (S, [c_char_p, P(ImageInfo)]),
    "sc_image_free": (None, [P(Image)]),
    "sc_image_save": (S, [P(Image), c_char_p]),
    "sc_image_save_png16": (S, [P(Image), c_char_p]),
    "sc_image_save_jpeg": (S, [P(Image), c_char_p, c_int]),
    "sc_image_resize": (S, [P(Image), c_int, c_int, c_int, P(Image)]),
    # maps, overlay
    "sc_map_free": (None, [P(Map)]),
    "sc_map_resize_bilinear": (S, [P(Map), c_int, c_int, P(Map)]),
    "sc_colormap_table": (P(c_float * 3), [c_int]),
    "sc_colormap_from_name": (S, [c_char_p, P(c_int)]),
    "sc_colormap_name": (c_char_p, [c_int]),
    "sc_heatmap_default_params": (HeatmapParams, []),
    "sc_map_colorize": (S, [P(Map), P(HeatmapParams), P(Image)]),
    "sc_overlay_heatmap": (S, [P(Image), P(Map), P(HeatmapParams), P(Image)]),
    # saliency
    "sc_saliency_sr_opencv": (S, [P(Image), P(Map)]),
    "sc_saliency_default_params": (SaliencyParams, []),
    "sc_saliency_sr": (S, [P(Image), P(SaliencyParams), P(Map)]),
    "sc_saliency_pqft": (S, [P(Image), P(SaliencyParams), P(Map)]),
    "sc_saliency_finegrained": (S, [P(Image), P(Map)]),
    "sc_saliency_method_count": (c_int, []),
    "sc_saliency_method_name": (c_char_p, [c_int]),
    "sc_saliency_method_summary": (c_char_p, [c_int]),
    "sc_saliency_method_needs_model": (c_int, [c_int]),
    "sc_saliency_method_takes_params": (c_int, [c_int]),
    "sc_saliency_method_from_name": (S, [c_char_p, P(c_int)]),
    "sc_saliency_compute": (S, [c_int, P(Image), P(SaliencyParams), P(Map)]),
    "sc_saliency_model_load": (S, [c_char_p, P(c_void_p)]),
    "sc_saliency_model_free": (None, [c_void_p]),
    "sc_pyapi_cam": (S, [c_void_p, P(Image), c_char_p, c_char_p, c_char_p, c_int, c_int, c_int,
                         c_int, c_int, ctypes.c_ulonglong, c_float, P(Map), P(c_int),
                         P(c_double), c_char_p, c_size_t]),
    "sc_saliency_auc_judd": (S, [P(Map), P(Map), c_int, ctypes.c_uint64, P(c_double)]),
    "sc_saliency_nss": (S, [P(Map), P(Map), P(c_double)]),
    "sc_saliency_cc": (S, [P(Map), P(Map), P(c_double)]),
    "sc_saliency_sim": (S, [P(Map), P(Map), P(c_double)]),
    "sc_saliency_kld": (S, [P(Map), P(Map), P(c_double)]),
    # classifier
    "sc_classifier_load": (S, [c_char_p, P(c_void_p)]),
    "sc_classifier_free": (None, [c_void_p]),
    "sc_classifier_get_config": (c_void_p, [c_void_p]),
    "sc_classifier_config_to_json": (c_void_p, [c_void_p]),
    "sc_classifier_classes_json": (c_void_p, [c_void_p]),
    "sc_classifier_predict_u8": (S, [c_void_p, c_void_p, c_size_t, c_float_p]),
    "sc_classifier_predict": (S, [c_void_p, c_float_p, c_size_t, c_float_p]),
    "sc_classifier_evaluate": (S, [c_void_p, c_void_p, c_void_p, c_size_t,
                                   P(ctypes.c_int64), P(c_double), P(c_double)]),
    # captioner
    "sc_vocab_from_words": (S, [P(c_char_p), c_int, P(Vocab)]),
    "sc_vocab_free": (None, [P(Vocab)]),
    "sc_captioner_config_from_json": (S, [c_char_p, c_void_p]),
    "sc_captioner_config_to_json": (c_void_p, [c_void_p]),
    "sc_captioner_create": (S, [c_void_p, P(Vocab), ctypes.c_uint64, P(c_void_p)]),
    "sc_captioner_load": (S, [c_char_p, P(c_void_p)]),
    "sc_captioner_save": (S, [c_void_p, c_char_p]),
    "sc_captioner_free": (None, [c_void_p]),
    "sc_captioner_get_config": (c_void_p, [c_void_p]),
    "sc_captioner_get_vocab": (P(Vocab), [c_void_p]),
    "sc_captioner_beam_default_params": (BeamParams, []),
    "sc_captioner_beam_search": (S, [c_void_p, c_float_p, P(BeamParams), P(CaptionResult)]),
    # BLIP
    "sc_blip_load": (S, [c_char_p, P(c_void_p)]),
    "sc_blip_free": (None, [c_void_p]),
    "sc_blip_grid": (c_int, [c_void_p]),
    "sc_blip_vocab_size": (c_int, [c_void_p]),
    "sc_blip_default_generate_params": (BlipGenerateParams, [c_void_p]),
    "sc_blip_caption_image": (S, [c_void_p, P(Image), c_char_p, c_int, P(BlipGenerateParams),
                                  P(BlipResult)]),
    "sc_blip_result_free": (None, [P(BlipResult)]),
    "sc_vit_gpt2_load": (S, [c_char_p, P(c_void_p)]),
    "sc_vit_gpt2_free": (None, [c_void_p]),
    "sc_vit_gpt2_grid": (c_int, [c_void_p]),
    "sc_vit_gpt2_default_generate_params": (BlipGenerateParams, [c_void_p]),
    "sc_vit_gpt2_caption_image": (S, [c_void_p, P(Image), P(BlipGenerateParams),
                                      P(BlipResult)]),
    "sc_blip_vqa_load": (S, [c_char_p, P(c_void_p)]),
    "sc_blip_vqa_free": (None, [c_void_p]),
    "sc_blip_vqa_model": (c_void_p, [c_void_p]),
    "sc_blip_vqa_set_image": (S, [c_void_p, P(Image)]),
    "sc_blip_vqa_answer": (S, [c_void_p, c_char_p, P(BlipGenerateParams), P(BlipAnswer)]),
    "sc_blip_answer_free": (None, [P(BlipAnswer)]),
    "sc_blip_itm_load": (S, [c_char_p, P(c_void_p)]),
    "sc_blip_itm_free": (None, [c_void_p]),
    "sc_blip_itm_model": (c_void_p, [c_void_p]),
    "sc_blip_itm_set_image": (S, [c_void_p, P(Image)]),
    "sc_blip_itm_match": (S, [c_void_p, c_char_p, c_int, c_int, ctypes.c_uint64, P(BlipMatch)]),
    "sc_blip_match_free": (None, [P(BlipMatch)]),
    "sc_bundled_model_warning": (c_char_p, [c_char_p, c_int, c_int]),
    "sc_captioner_caption_image": (S, [c_void_p, P(Image), P(BeamParams), P(CaptionResult)]),
    "sc_captioner_preprocess": (S, [c_void_p, P(Image), P(Image)]),
    "sc_captioner_encode": (S, [c_void_p, c_float_p, c_int, c_int, c_float_p]),
    "sc_captioner_teacher_force": (S, [c_void_p, c_float_p, c_int32_p, c_int, c_float_p,
                                       c_float_p]),
    "sc_caption_result_free": (None, [P(CaptionResult)]),
    "sc_captioner_eval_default_params": (CaptionerEvalParams, []),
    "sc_captioner_evaluate": (S, [c_void_p, P(CaptionerEvalParams), P(CaptionerEvalResult)]),
    # vqa
    "sc_vqa_load": (S, [c_char_p, P(c_void_p)]),
    "sc_vqa_free": (None, [c_void_p]),
    "sc_vqa_get_config": (c_void_p, [c_void_p]),
    "sc_vqa_config_to_json": (c_void_p, [c_void_p]),
    "sc_vqa_get_vocab": (P(VqaVocab), [c_void_p]),
    "sc_vqa_get_answers": (P(VqaVocab), [c_void_p]),
    "sc_vqa_grid_side": (c_int, [c_void_p]),
    "sc_vqa_set_image": (S, [c_void_p, P(Image)]),
    "sc_vqa_ask": (S, [c_void_p, c_char_p, c_int, P(VqaAnswer)]),
    "sc_vqa_figure_default_params": (VqaFigureParams, []),
    "sc_vqa_hop_figure": (S, [P(Image), c_float_p, c_int, c_int, c_char_p, c_char_p, c_float,
                              P(VqaFigureParams), P(Image)]),
    # spatial transformer
    "sc_stcnn_load": (S, [c_char_p, P(c_void_p)]),
    "sc_stcnn_free": (None, [c_void_p]),
    "sc_stcnn_config_json": (c_void_p, [c_void_p]),
    "sc_stcnn_classifier": (c_void_p, [c_void_p]),
    "sc_stcnn_predict": (S, [c_void_p, c_float_p, c_size_t, c_float_p, c_float_p]),
    "sc_stn_glimpse": (S, [P(Image), c_float_p, c_int, c_int, P(Image)]),
    # safetensors
    "sc_safetensors_open": (S, [c_char_p, P(c_void_p)]),
    "sc_safetensors_free": (None, [c_void_p]),
    "sc_safetensors_count": (c_size_t, [c_void_p]),
    "sc_safetensors_info": (S, [c_void_p, c_size_t, P(StTensorInfo)]),
    "sc_safetensors_find": (ctypes.c_long, [c_void_p, c_char_p]),
    "sc_safetensors_get_f32_at": (S, [c_void_p, c_size_t, P(c_float_p)]),
    "sc_safetensors_metadata_count": (c_size_t, [c_void_p]),
    "sc_safetensors_metadata_at": (S, [c_void_p, c_size_t, P(c_char_p), P(c_char_p)]),
}


def _bind(table):
    missing = []
    for name, (res, args) in table.items():
        try:
            f = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        f.restype, f.argtypes = res, args
        setattr(lib, name, _guard(name, f))
    return missing


_missing = _bind(_PROTOS)
if _missing:
    raise ImportError("saccade: %s lacks %s (library too old for this binding?)"
                      % (LIB_PATH, ", ".join(_missing)))


def has(name):
    """Whether the loaded library exports `name` (for optional modules)."""
    return hasattr(lib, name)


def _check_layouts(mirrors=None):
    out = c_size_t()
    for cname, cls in (mirrors or _MIRRORS).items():
        if lib.sc_pyapi_layout(cname.encode(), None, ctypes.byref(out)):
            raise ImportError("saccade: %s: %s" % (LIB_PATH, last_error()))
        if out.value != ctypes.sizeof(cls):
            raise ImportError("saccade: struct %s is %d bytes in %s but %d in the binding"
                              % (cname, out.value, LIB_PATH, ctypes.sizeof(cls)))
        for fname, _ in cls._fields_:
            if lib.sc_pyapi_layout(cname.encode(), fname.encode(), ctypes.byref(out)) == 0 and \
                    out.value != getattr(cls, fname).offset:
                raise ImportError("saccade: %s.%s is at offset %d in %s but %d in the binding"
                                  % (cname, fname, out.value, LIB_PATH,
                                     getattr(cls, fname).offset))


def last_error():
    m = lib.sc_last_error()
    return m.decode("utf-8", "replace") if m else ""


def check(status):
    """Raise Error for a non-zero sc_status."""
    if status:
        name = lib.sc_status_name(status)
        raise Error(status, last_error(), name.decode() if name else None)


_check_layouts()


def take_string(ptr):
    """Copy and free a malloc'd char* returned by the library (NULL -> Error)."""
    if not ptr:
        raise Error(4, last_error() or "the library returned no string")
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        lib.sc_pyapi_free_string(ptr)


def model_path(path, default):
    """path, or the shipped asset `default` (e.g. "models/x.safetensors") when None."""
    if path is not None:
        return path
    buf = ctypes.create_string_buffer(4096)
    check(lib.sc_find_asset(default.encode(), buf, len(buf)))
    return buf.value.decode()


def fspath(path, what="path"):
    """str / bytes / os.PathLike -> bytes for C; ValueError otherwise."""
    try:
        p = os.fspath(path)
    except TypeError:
        raise ValueError("%s must be a str, bytes or os.PathLike, not %s"
                         % (what, type(path).__name__)) from None
    b = os.fsencode(p)
    if not b or b"\0" in b:
        raise ValueError("%s must be non-empty and contain no NUL byte: %r" % (what, path))
    return b


# ---------------------------------------------------------------- numpy conversions
_INT_MAX = 2 ** 31 - 1


def _float_pixels(a, what):
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255)
    if a.dtype == np.uint16:
        return a.astype(np.float32) / np.float32(65535)
    if a.dtype.kind == "f" and a.dtype.itemsize <= 8:
        return a.astype(np.float32, copy=False)
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    raise ValueError("%s: dtype %s not supported (use float32/float64 in [0, 1], uint8 or uint16)"
                     % (what, a.dtype))


def copy_out(ptr, n, dtype=np.float32):
    """Copy n elements at a C pointer into a new numpy array (no ctypes array
    types are created, so many distinct sizes do not accumulate cached types)."""
    out = np.empty(int(n), dtype)
    if n:
        addr = ctypes.cast(ptr, c_void_p).value
        if not addr:
            raise Error(8, "the library returned a NULL buffer")
        ctypes.memmove(out.ctypes.data, addr, out.nbytes)
    return out


def as_array(x, what):
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x)
        except ValueError as e:
            raise ValueError("%s: %s" % (what, e)) from None
    raise ValueError("%s must be a numpy array, not %s" % (what, type(x).__name__))


def image_in(x, layout="hwc", what="image", channels=(1, 3, 4)):
    """numpy image -> (sc_image, keepalive CHW float32 array).

    layout "hwc": (H, W), (H, W, C); "chw": (C, H, W). C in `channels`.
    uint8 / uint16 are scaled to [0, 1]; float is taken as is."""
    a = as_array(x, what)
    shape0 = a.shape
    if layout not in ("hwc", "chw"):
        raise ValueError("layout must be 'hwc' or 'chw', not %r" % (layout,))
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 3:
        if layout == "hwc":
            a = a.transpose(2, 0, 1)
    else:
        raise ValueError("%s must be 2-D (H, W) or 3-D (%s), got shape %s"
                         % (what, "H, W, C" if layout == "hwc" else "C, H, W", a.shape))
    c, h, w = a.shape
    if c not in channels:
        raise ValueError("%s has %d channels (%s layout, shape %s); expected %s"
                         % (what, c, layout, shape0, " or ".join(map(str, channels))))
    if h < 1 or w < 1 or h > _INT_MAX or w > _INT_MAX:
        raise ValueError("%s has an empty or oversize shape %s" % (what, shape0))
    a = np.ascontiguousarray(_float_pixels(a, what))
    img = Image(int(w), int(h), int(c), a.ctypes.data_as(c_float_p))
    return img, a


def image_out(img, layout="hwc"):
    """Copy a library-owned sc_image into numpy and free it."""
    try:
        n = img.c * img.h * img.w
        if not img.data or n <= 0:
            raise Error(8, "the library returned an empty image")
        a = copy_out(img.data, n).reshape(img.c, img.h, img.w)
        if layout == "hwc":
            a = np.ascontiguousarray(a.transpose(1, 2, 0))
    finally:
        lib.sc_image_free(ctypes.byref(img))
    return a


def map_in(x, what="map", shape=None):
    """2-D numpy map (any real dtype) -> (sc_map, keepalive float32 array)."""
    a = as_array(x, what)
    if a.ndim != 2:
        raise ValueError("%s must be 2-D (H, W), got shape %s" % (what, a.shape))
    if a.dtype.kind not in "fiub" or a.dtype.itemsize > 8:
        raise ValueError("%s: dtype %s not supported (use a real number type)" % (what, a.dtype))
    h, w = a.shape
    if h < 1 or w < 1 or h > _INT_MAX or w > _INT_MAX:
        raise ValueError("%s has an empty or oversize shape %s" % (what, a.shape))
    if shape is not None and a.shape != tuple(shape):
        raise ValueError("%s has shape %s, expected %s" % (what, a.shape, tuple(shape)))
    a = np.ascontiguousarray(a, dtype=np.float32)
    return Map(int(w), int(h), a.ctypes.data_as(c_float_p)), a


def map_out(m):
    try:
        n = m.w * m.h
        if not m.data or n <= 0:
            raise Error(8, "the library returned an empty map")
        a = copy_out(m.data, n).reshape(m.h, m.w)
    finally:
        lib.sc_map_free(ctypes.byref(m))
    return a


def floats_in(x, shape, what):
    """Exact-shape float array (any float/int dtype) -> contiguous float32."""
    a = as_array(x, what)
    if a.dtype.kind not in "fiu":
        raise ValueError("%s: dtype %s not supported (use float32)" % (what, a.dtype))
    if a.shape != tuple(shape):
        raise ValueError("%s has shape %s, expected %s" % (what, a.shape, tuple(shape)))
    return np.ascontiguousarray(a, dtype=np.float32)

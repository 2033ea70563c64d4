"""ViT-GPT2 captioning (Hugging Face VisionEncoderDecoderModel folders with a
ViT encoder and a GPT-2 decoder, as nlpconnect/vit-gpt2-image-captioning) with
per-word cross-attention maps."""
import ctypes

from . import _lib
from ._lib import lib, check
from ._handle import Handle
from .blip import _caption, _generate_params


class VitGpt2(Handle):
    """A ViT-GPT2 captioning model: a Hugging Face folder (config.json,
    model.safetensors, vocab.json, merges.txt, ...).

        cap = saccade.VitGpt2("vit-gpt2-image-captioning")
        r = cap.caption(img, beam=4)
        r.text, r.words, r.word_attention     # word_attention (W, G, G) numpy float32

    caption returns a BlipCaption (saccade.Blip's result): tokens are GPT-2
    ids (the start token and the final stop id excluded), pieces each
    token's text (a token without a leading space continues the word before
    it and is shown with "##"), words the whole words, attention (T, G, G)
    the cross-attention of each token's query, logprobs (T,) and
    end_logprob as BLIP's. Generation follows transformers 5.x's generate
    with the folder's settings (sc_vit_gpt2.h); greedy or beam search."""
    _free = staticmethod(lib.sc_vit_gpt2_free)

    def __init__(self, path):
        super().__init__()
        h = ctypes.c_void_p()
        check(lib.sc_vit_gpt2_load(_lib.fspath(path), ctypes.byref(h)))
        self._h = h.value
        self.path = path
        self.grid = int(lib.sc_vit_gpt2_grid(self._h))

    def caption(self, image, beam=None, max_len=None, min_len=None, length_penalty=None,
                layer=None, heads=None, gradcam=False, layout="hwc"):
        """Caption image ((H, W, 3|4) float [0, 1] or uint8, or (H, W) gray).

        beam: beams (1 greedy); max_len / min_len: new tokens, the stop id
        included (the folder's max_length - 1 by default); length_penalty:
        beam search; layer (0-based, default 2 * layers / 3) and heads (a
        list, default all): which cross-attention the maps show; gradcam:
        also the gradient-weighted maps. None means the folder's setting."""
        p = _generate_params(lib.sc_vit_gpt2_default_generate_params(self._ptr()), beam, max_len,
                             min_len, length_penalty, layer, heads, gradcam)
        return _caption(self, lib.sc_vit_gpt2_caption_image, image, layout, p)

    def __repr__(self):
        return "VitGpt2(%r, grid=%d)" % (self.path, self.grid)

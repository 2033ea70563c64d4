"""saccade: visual attention for prototypers — a ctypes binding of libsaccade.

    import saccade
    img = saccade.load_image("photo.jpg")                # (H, W, 3) float32 in [0, 1], RGB
    sal = saccade.saliency(img, method="spectral")       # (H, W) float32 in [0, 1]
    ov = saccade.overlay(img, sal, colormap="viridis", alpha=0.5)
    saccade.save_image("overlay.png", ov)
    saccade.metrics.nss(sal, fixations)
    clf = saccade.Classifier("fmnist.safetensors"); p = clf.predict(batch_uint8)
    cap = saccade.Captioner("model.safetensors"); r = cap.caption(img, beam=5)
    blip = saccade.Blip("blip-image-captioning-base")   # a Hugging Face folder
    r = blip.caption(img, beam=3); r.text, r.attention     # attention (T, G, G)
    vqa = saccade.BlipVqa("blip-vqa-base"); vqa.set_image(img); a = vqa.ask("what is it?")
    itm = saccade.BlipItm("blip-itm-base-coco"); itm.set_image(img); m = itm.match("a dog")
    vg = saccade.VitGpt2("vit-gpt2-image-captioning"); r = vg.caption(img); r.word_attention
    scores = saccade.Captioner().evaluate(n=200)        # BLEU, CIDEr-D, slots, pointing
    vqa = saccade.VQA(); vqa.set_image(img); a = vqa.ask("what colour is the bag?")
    st = saccade.SpatialTransformer(); probs, theta = st.predict(st.prepare(img))
    inet = saccade.ImageNetClassifier("r50.safetensors"); inet.classify(img, top_k=5)
    cm = saccade.CamModel("r50.safetensors"); logits, act = cm.forward(x, layer="layer4")

The library is found through $SACCADE_LIB, then $SACCADE_BUILD_DIR, then a
build folder of the source tree this package sits in, then the installed
libsaccade (ctypes.util.find_library). Failures in C raise saccade.Error
(message from sc_last_error(), .status_name, .code); bad Python arguments
(dtypes, shapes, values) raise ValueError before any C call.
"""
from ._lib import Error, LIB_PATH, lib as _clib
from .image import load_image, probe_image, save_image, resize_image, to_uint8
from .saliency import saliency, METHODS as SALIENCY_METHODS
from .overlay import overlay, colorize, colormap, resize_map, COLORMAPS
from . import metrics
from .classifier import Classifier
from .cam import cam, SaliencyModel, CAM_METHODS
from .captioner import Captioner, CaptionResult, Hypothesis
from .blip import Blip, BlipCaption, bundled_model_warning
from .blip_tasks import BlipAnswer, BlipItm, BlipMatch, BlipVqa
from .vit_gpt2 import VitGpt2
from .vqa import VQA, Answer
from .stn import SpatialTransformer
from .imagenet import ImageNetClassifier, CamModel
from .safetensors import SafeTensors, TensorInfo, inspect as inspect_model
from . import safetensors

__version__ = _clib.sc_version().decode()


def set_num_threads(n):
    """Threads for saccade's own loops and OpenBLAS (n <= 0: all cores)."""
    from ._lib import check
    from ._lib import int_arg
    check(_clib.sc_set_num_threads(int_arg("n", n, -2 ** 31, 2 ** 31 - 1)))


def get_num_threads():
    return int(_clib.sc_get_num_threads())


__all__ = ["Error", "LIB_PATH", "load_image", "probe_image", "save_image", "resize_image",
           "to_uint8", "saliency", "SALIENCY_METHODS", "overlay", "colorize", "colormap",
           "resize_map", "COLORMAPS", "metrics", "Classifier", "Captioner", "CaptionResult",
           "Hypothesis", "VQA", "Answer", "SpatialTransformer", "SafeTensors", "TensorInfo", "inspect_model", "safetensors",
           "set_num_threads", "get_num_threads", "ImageNetClassifier", "CamModel", "cam",
           "SaliencyModel", "CAM_METHODS", "Blip", "BlipCaption", "BlipVqa", "BlipItm",
           "BlipAnswer", "BlipMatch", "VitGpt2"]

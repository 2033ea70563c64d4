#!/usr/bin/env python3
"""Reference cases for tests/parity/test_blip_parity.c, in one Python process.

usage: ref_blip_cases.py OUTDIR [--base]

Writes random-weight Hugging Face BLIP folders with make_blip_folder.py and
runs the PyTorch twin (ref_blip.py `run`) on them, each case into
OUTDIR/<case>/ (pixel_values.npy, features.npy, ids.npy, prompt_ids.npy,
step_logits.npy, step_cross_attn.npy, result.json). Folders:
  tiny      tiny sizes, F32, LM decoder weights present
  tied      tiny, no cls.predictions.decoder.* (tied), [DEC]/[ENC] listed in vocab.txt
  f16, bf16       tiny, stored in that dtype
  f16r, bf16r     the same weights rounded the same way, stored as F32
  short     tiny, [SEP] logit bias +6: captions end at [SEP] after 2 to 12 tokens
  base      BLIP-base sizes (768 wide, 12 + 12 layers, 384 pixels): with --base
            this folder and its cases only (about 1 GB, a minute of work)
The image is assets/samples/chelsea.jpg, preprocessed by the twin (PIL).
Running everything in one process saves the cost of importing torch per case.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_blip_folder  # noqa: E402
import ref_blip  # noqa: E402

IMAGE = os.path.join(HERE, "..", "..", "assets", "samples", "chelsea.jpg")

FOLDERS = {
    "tiny": ["--size", "tiny", "--seed", "1"],
    "tied": ["--size", "tiny", "--seed", "2", "--no-lm-decoder", "--vocab-dec"],
    "f16": ["--size", "tiny", "--seed", "3", "--dtype", "f16"],
    "f16r": ["--size", "tiny", "--seed", "3", "--round-as", "f16"],
    "bf16": ["--size", "tiny", "--seed", "4", "--dtype", "bf16"],
    "bf16r": ["--size", "tiny", "--seed", "4", "--round-as", "bf16"],
    "short": ["--size", "tiny", "--seed", "7", "--sep-bias", "6"],
}

# case name -> (folder, run options); the C test has the same table
CASES = {
    "greedy": ("tiny", []),
    "greedy_prompt": ("tiny", ["--prompt", "a picture of"]),
    "beam3": ("tiny", ["--beam", "3"]),
    "beam3_prompt": ("tiny", ["--beam", "3", "--prompt", "a picture of"]),
    "beam5": ("tiny", ["--beam", "5"]),
    "beam5_prompt": ("tiny", ["--beam", "5", "--prompt", "a picture of"]),
    "beam3_lp": ("tiny", ["--beam", "3", "--length-penalty", "0.6", "--min-len", "6", "--max-len", "15"]),
    "greedy_min": ("tiny", ["--min-len", "8", "--max-len", "12"]),
    "tied_greedy": ("tied", []),
    "tied_beam3": ("tied", ["--beam", "3"]),
    "f16r_greedy": ("f16r", []),
    "f16r_beam3": ("f16r", ["--beam", "3"]),
    "bf16r_greedy": ("bf16r", []),
    "bf16r_beam3": ("bf16r", ["--beam", "3"]),
    "short_greedy": ("short", []),
    "short_greedy_prompt": ("short", ["--prompt", "a picture of"]),
    "short_beam3": ("short", ["--beam", "3"]),
    "short_beam3_prompt": ("short", ["--beam", "3", "--prompt", "a picture of"]),
    "short_beam5": ("short", ["--beam", "5"]),
    "short_beam5_prompt": ("short", ["--beam", "5", "--prompt", "a picture of"]),
    "short_beam3_lp2": ("short", ["--beam", "3", "--length-penalty", "2.0"]),
    "short_beam5_lp0": ("short", ["--beam", "5", "--length-penalty", "0.0", "--min-len", "3"]),
    "short_beam3_early": ("short", ["--beam", "3", "--early-stopping", "true"]),
    "short_beam5_never": ("short", ["--beam", "5", "--early-stopping", "never", "--length-penalty", "1.5"]),
    "beam5_never": ("tiny", ["--beam", "5", "--early-stopping", "never", "--length-penalty", "2.0"]),
}
# cases run with --gradients: step_cross_grad.npy (T-P, L, H, N), the gradient
# of each new token's log-probability with respect to every layer's
# cross-attention probabilities of the query that produced it
GRAD_CASES = ("greedy_prompt", "short_beam3", "tied_greedy")

BASE_CASES = {"base_greedy": ("base", ["--max-len", "5", "--threads", "2"]),
              "base_beam3": ("base", ["--max-len", "3", "--beam", "3", "--threads", "2"])}


def preprocess_cases(out):
    """chelsea.png (RGB) and chelsea_rgba.png (an alpha ramp) beside the
    folders, with the twin's pixel values of each for the tiny folder:
    pre_chelsea.npy, pre_chelsea_rgba.npy (lossless files, so that the C side
    decodes the same 8-bit values)."""
    from PIL import Image
    rgb = Image.open(IMAGE).convert("RGB")
    rgb.save(os.path.join(out, "chelsea.png"))
    rgba = rgb.convert("RGBA")
    w, h = rgba.size
    ramp = np.tile((np.arange(w) * 255 // max(w - 1, 1)).astype(np.uint8), (h, 1))
    rgba.putalpha(Image.fromarray(ramp, "L"))
    rgba.save(os.path.join(out, "chelsea_rgba.png"))
    pp = ref_blip.load_preprocess_config(os.path.join(out, "tiny"))
    for name in ("chelsea", "chelsea_rgba"):
        im = ref_blip.load_image(os.path.join(out, name + ".png"))
        np.save(os.path.join(out, "pre_%s.npy" % name), ref_blip.preprocess(im, pp))


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    folders, cases = dict(FOLDERS), dict(CASES)
    if "--base" in argv[1:]:
        folders, cases = {"base": ["--size", "base", "--seed", "5"]}, dict(BASE_CASES)
    for name, opts in folders.items():
        if make_blip_folder.main([os.path.join(out, name)] + opts) not in (0, None):
            return 1
    if "base" not in folders:
        preprocess_cases(out)
    for name, (folder, opts) in cases.items():
        args = ["run", os.path.join(out, folder), IMAGE, "--out", os.path.join(out, name),
                "--quiet"] + opts + (["--gradients"] if name in GRAD_CASES else [])
        if ref_blip.main(args) != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Reference captions for the CLI tests (tests/cli/test_caption.sh,
tests/cli/test_gallery.sh).

Usage: ref_caption_cli.py OUTDIR [--beam K ...] [IMAGE ...]

Runs tools/ref/ref_sat.py OUTDIR (the tiny tutorial model with random
weights, converted by tools/convert_sat.py to OUTDIR/model.safetensors), then
captions each IMAGE exactly as the tutorial's caption.py does: PIL decodes it
(RGB), scipy.misc.imresize-equivalent PIL bilinear squash to 256, /255,
ImageNet mean/std, the tutorial's Encoder, and ref_sat.py's faithful copy of
caption_image_beam_search for each beam size K (default 5). Writes one JSON
line per (image, K) to OUTDIR/ref_captions.jsonl:
  {"path", "beam", "words" (without <start>, with <end>), "caption" (without
   the special tokens), "score", "alphas" (per token, grid x grid)}
"""
import json
import os
import runpy
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
args = sys.argv[1:]
if not args:
    raise SystemExit(__doc__)
OUT = os.path.abspath(args.pop(0))
beams, images = [], []
while args:
    a = args.pop(0)
    if a == "--beam":
        beams.append(int(args.pop(0)))
    else:
        images.append(a)
beams = beams or [5]

saved_argv = sys.argv
sys.argv = [os.path.join(HERE, "ref_sat.py"), OUT]
g = runpy.run_path(os.path.join(HERE, "ref_sat.py"), run_name="__main__")
sys.argv = saved_argv
torch.set_num_threads(1)

encoder, beam_search, word_map = g["encoder"], g["beam_search"], g["word_map"]
rev = {i: w for w, i in word_map.items()}
special = {word_map[w] for w in ("<start>", "<end>", "<pad>")}
mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
with open(os.path.join(OUT, "ref_captions.jsonl"), "w") as f, torch.no_grad():
    for path in images:
        img = Image.open(path).convert("RGB")
        rs = np.asarray(img.resize((256, 256), Image.BILINEAR))
        x = (torch.FloatTensor(rs.transpose(2, 0, 1) / 255.0) - mean) / std
        enc = encoder(x.unsqueeze(0))
        for k in beams:
            seq, alphas, score = beam_search(enc, k, word_map)
            f.write(json.dumps({
                "path": path, "beam": k,
                "words": [rev[t] for t in seq[1:]],
                "caption": " ".join(rev[t] for t in seq if t not in special),
                "score": score,
                "alphas": np.asarray(alphas[1:]).tolist(),
            }) + "\n")

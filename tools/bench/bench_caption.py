#!/usr/bin/python3
"""PyTorch side of tools/bench/caption.sh.

  bench_caption.py make OUTDIR [V=9490]
      The tutorial's full-size model (Encoder: ResNet-101 -> 14x14 grid,
      DecoderWithAttention(attention 512, embed 512, decoder 512, V words,
      encoder_dim 2048)) with random weights (seed 0; BN statistics perturbed),
      saved like the tutorial's train.py (OUTDIR/checkpoint.pth.tar with the
      pickled modules, OUTDIR/WORDMAP.json) and converted by
      tools/convert_sat.py to OUTDIR/model.safetensors (--fold-bn) and
      OUTDIR/model-bn.safetensors (BatchNorms kept). An LSTM "clock" unit
      drives <end> so that beam search finishes after ~13 words (random
      weights alone would never emit <end>; the tutorial then fails).
  bench_caption.py run OUTDIR IMAGE [threads=2] [reps=5]
      The tutorial's caption.py flow: torch.load the checkpoint (load_ms),
      then per repetition read the image (PIL), squash-resize to 256
      (bilinear), normalise, encode and caption_image_beam_search with beam
      5; prints best/median ms, load_ms, max RSS (KiB) and the caption.
"""
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


sys.path.insert(0, os.path.join(HERE, "..", "ref"))
import sat_tutorial  # noqa: E402
models_module = sat_tutorial.models_module


def make(outdir, V):
    import subprocess
    torch.manual_seed(0)
    os.makedirs(outdir, exist_ok=True)
    models = models_module(outdir)
    words = ["w%d" % i for i in range(V - 4)]
    word_map = {w: i + 1 for i, w in enumerate(words)}
    for w in ("<unk>", "<start>", "<end>"):
        word_map[w] = len(word_map) + 1
    word_map["<pad>"] = 0
    assert len(word_map) == V
    END, DEC = word_map["<end>"], 512
    with open(os.path.join(outdir, "WORDMAP.json"), "w") as f:
        json.dump(word_map, f)
    enc = models.Encoder(14, "resnet101")
    with torch.no_grad():
        for m in enc.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.1, 0.5)  # keep the 33 residual blocks from exploding
    enc.eval()
    dec = models.DecoderWithAttention(512, 512, DEC, V, encoder_dim=2048)
    with torch.no_grad():
        ds = dec.decode_step
        for g in range(4):  # unit 0 counts steps (c_t ~ 0.15 t) and drives <end>
            ds.weight_ih[g * DEC].zero_(); ds.weight_hh[g * DEC].zero_(); ds.bias_hh[g * DEC] = 0
        ds.bias_ih[0], ds.bias_ih[DEC], ds.bias_ih[3 * DEC] = 12.0, 12.0, 12.0
        ds.bias_ih[2 * DEC] = float(np.arctanh(0.1))
        for lin in (dec.init_h, dec.init_c):
            lin.weight[0].zero_(); lin.bias[0] = 0
        dec.fc.weight[:, 0].zero_()
        dec.fc.weight[END, 0] = 14.0
        dec.fc.bias[END] = -9.0
    dec.eval()
    ckpt = os.path.join(outdir, "checkpoint.pth.tar")
    torch.save({"epoch": 0, "encoder": enc, "decoder": dec}, ckpt)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for name, extra in (("model.safetensors", ["--fold-bn"]), ("model-bn.safetensors", [])):
        subprocess.run([sys.executable, os.path.join(HERE, "..", "convert_sat.py"), ckpt,
                        os.path.join(outdir, "WORDMAP.json"), "-o", os.path.join(outdir, name)]
                       + extra, check=True, cwd="/", env=env, stdout=subprocess.DEVNULL)


def caption_image_beam_search(encoder, decoder, image_path, word_map, beam_size=5):
    """The tutorial's caption.py (PIL in place of the removed scipy.misc)."""
    img = np.asarray(Image.open(image_path).convert("RGB").resize((256, 256), Image.BILINEAR))
    img = torch.FloatTensor(img.transpose(2, 0, 1) / 255.)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    image = ((img - mean) / std).unsqueeze(0)
    return sat_tutorial.beam_search(decoder, encoder(image), beam_size, word_map)


def run(outdir, image, threads, reps):
    torch.set_num_threads(threads)
    models_module(outdir)
    word_map = json.load(open(os.path.join(outdir, "WORDMAP.json")))
    rev = {v: k for k, v in word_map.items()}
    t0 = time.perf_counter()
    checkpoint = torch.load(os.path.join(outdir, "checkpoint.pth.tar"), map_location="cpu")
    decoder = checkpoint["decoder"].eval()
    encoder = checkpoint["encoder"].eval()
    load_ms = (time.perf_counter() - t0) * 1e3
    times = []
    with torch.no_grad():
        for _ in range(reps):
            t0 = time.perf_counter()
            seq, _, score = caption_image_beam_search(encoder, decoder, image, word_map, 5)
            times.append((time.perf_counter() - t0) * 1e3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    words = [rev[t] for t in seq[1:-1]]
    print("best_ms %.1f median_ms %.1f load_ms %.1f maxrss_kb %d words %d score %.4f caption %s"
          % (min(times), statistics.median(times), load_ms, rss, len(words), score,
             " ".join(words)))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 9490)
    elif len(sys.argv) >= 4 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2,
            int(sys.argv[5]) if len(sys.argv) > 5 else 5)
    else:
        raise SystemExit(__doc__)

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
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def models_module(outdir):
    """The tutorial's models.py, as tools/ref/ref_sat.py declares it."""
    pkg = os.path.join(outdir, "pkg")
    if not os.path.exists(os.path.join(pkg, "models.py")):
        src = open(os.path.join(HERE, "..", "ref", "ref_sat.py")).read()
        start = src.index("MODELS_PY = '''") + len("MODELS_PY = '''")
        os.makedirs(pkg, exist_ok=True)
        with open(os.path.join(pkg, "models.py"), "w") as f:
            f.write(src[start:src.index("'''", start)])
    sys.path.insert(0, pkg)
    import models  # noqa: E402
    return models


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
    k = beam_size
    vocab_size = len(word_map)
    img = np.asarray(Image.open(image_path).convert("RGB").resize((256, 256), Image.BILINEAR))
    img = torch.FloatTensor(img.transpose(2, 0, 1) / 255.)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    image = ((img - mean) / std).unsqueeze(0)
    encoder_out = encoder(image)
    enc_image_size = encoder_out.size(1)
    encoder_dim = encoder_out.size(3)
    encoder_out = encoder_out.view(1, -1, encoder_dim)
    num_pixels = encoder_out.size(1)
    encoder_out = encoder_out.expand(k, num_pixels, encoder_dim)
    k_prev_words = torch.LongTensor([[word_map['<start>']]] * k)
    seqs = k_prev_words
    top_k_scores = torch.zeros(k, 1)
    seqs_alpha = torch.ones(k, 1, enc_image_size, enc_image_size)
    complete_seqs, complete_seqs_alpha, complete_seqs_scores = [], [], []
    step = 1
    h, c = decoder.init_hidden_state(encoder_out)
    while True:
        embeddings = decoder.embedding(k_prev_words).squeeze(1)
        awe, alpha = decoder.attention(encoder_out, h)
        alpha = alpha.view(-1, enc_image_size, enc_image_size)
        gate = decoder.sigmoid(decoder.f_beta(h))
        awe = gate * awe
        h, c = decoder.decode_step(torch.cat([embeddings, awe], dim=1), (h, c))
        scores = decoder.fc(h)
        scores = F.log_softmax(scores, dim=1)
        scores = top_k_scores.expand_as(scores) + scores
        if step == 1:
            top_k_scores, top_k_words = scores[0].topk(k, 0, True, True)
        else:
            top_k_scores, top_k_words = scores.view(-1).topk(k, 0, True, True)
        prev_word_inds = top_k_words // vocab_size
        next_word_inds = top_k_words % vocab_size
        seqs = torch.cat([seqs[prev_word_inds], next_word_inds.unsqueeze(1)], dim=1)
        seqs_alpha = torch.cat([seqs_alpha[prev_word_inds], alpha[prev_word_inds].unsqueeze(1)],
                               dim=1)
        incomplete_inds = [ind for ind, next_word in enumerate(next_word_inds) if
                           next_word != word_map['<end>']]
        complete_inds = list(set(range(len(next_word_inds))) - set(incomplete_inds))
        if len(complete_inds) > 0:
            complete_seqs.extend(seqs[complete_inds].tolist())
            complete_seqs_alpha.extend(seqs_alpha[complete_inds].tolist())
            complete_seqs_scores.extend(top_k_scores[complete_inds])
        k -= len(complete_inds)
        if k == 0:
            break
        seqs = seqs[incomplete_inds]
        seqs_alpha = seqs_alpha[incomplete_inds]
        h = h[prev_word_inds[incomplete_inds]]
        c = c[prev_word_inds[incomplete_inds]]
        encoder_out = encoder_out[prev_word_inds[incomplete_inds]]
        top_k_scores = top_k_scores[incomplete_inds].unsqueeze(1)
        k_prev_words = next_word_inds[incomplete_inds].unsqueeze(1)
        if step > 50:
            break
        step += 1
    i = complete_seqs_scores.index(max(complete_seqs_scores))
    return complete_seqs[i], complete_seqs_alpha[i], float(complete_seqs_scores[i])


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

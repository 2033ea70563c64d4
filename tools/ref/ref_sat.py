#!/usr/bin/env python3
"""Reference for saccade's Show, Attend and Tell captioner
(tests/parity/test_captioner_parity.c).

Usage: ref_sat.py OUTDIR

1. Writes OUTDIR/pkg/models.py: the tutorial's (sgrvinod/a-PyTorch-Tutorial-to-
   Image-Captioning) Encoder / Attention / DecoderWithAttention re-declared
   (Encoder takes the torchvision arch instead of a pretrained resnet101).
2. Builds a small model with random weights (resnet18 encoder with random BN
   statistics, grid 5, attention 48, embed 40, decoder 56, 30-word vocabulary)
   and saves it in the ORIGINAL checkpoint layout (torch.save of a dict with the
   pickled modules and an optimizer) plus WORDMAP.json.
3. Runs tools/convert_sat.py on it in a separate process whose path does not
   contain `models` -> OUTDIR/model.safetensors.
4. For skimage's astronaut, coffee and chelsea: the tutorial's preprocessing
   (PIL bilinear squash-resize to 256, /255, ImageNet mean/std), encoder
   features, beam search with the tutorial's caption_image_beam_search logic
   (re-implemented faithfully, `//` for the index division) for k = 1, 3, 5,
   and per-step logits / alphas under teacher forcing of each beam's output.
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image
import skimage.data

torch.set_num_threads(1)
torch.manual_seed(1234)
np.random.seed(1234)
OUT = os.path.abspath(sys.argv[1])
os.makedirs(OUT, exist_ok=True)
HERE = os.path.dirname(os.path.abspath(__file__))

sys.path.insert(0, HERE)
import sat_tutorial  # noqa: E402


GRID, ATT, EMB, DEC = 5, 48, 40, 56
WORDS = ("a man woman cat dog sitting standing on the table with cup of coffee red "
         "white space suit in front grass").split()


def save(name, a):
    a = np.asarray(a)
    a = a.astype(np.int64) if a.dtype.kind in "iub" else a.astype(np.float32)
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(a))


# ---------------------------------------------------------------- model + checkpoint
models = sat_tutorial.models_module(OUT)

word_map = {w: i + 1 for i, w in enumerate(WORDS)}
word_map["<unk>"] = len(word_map) + 1
word_map["<start>"] = len(word_map) + 1
word_map["<end>"] = len(word_map) + 1
word_map["<pad>"] = 0
V = len(word_map)
END = word_map["<end>"]
with open(os.path.join(OUT, "WORDMAP.json"), "w") as f:
    json.dump(word_map, f)

encoder = models.Encoder(GRID, "resnet18")
with torch.no_grad():
    for mod in encoder.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.uniform_(0.5, 1.5)
            mod.bias.uniform_(-0.2, 0.2)
encoder.eval()
E = 512
decoder = models.DecoderWithAttention(ATT, EMB, DEC, V, encoder_dim=E, dropout=0.5)
with torch.no_grad():
    # peakier word distributions than the tutorial's init (fewer near-ties),
    # and <end> likely enough that beams finish at various lengths
    decoder.fc.weight.normal_(0, 1.0)
    decoder.fc.bias.normal_(0, 0.5)
    decoder.embedding.weight.normal_(0, 1.0)
    # the random resnet's features are large (std ~8): shrink the weights that
    # read them so the LSTM and attention do not saturate
    for lin in (decoder.attention.encoder_att, decoder.init_h, decoder.init_c):
        lin.weight.mul_(0.3)
    decoder.decode_step.weight_ih[:, EMB:].mul_(0.3)
    # a "clock": LSTM unit 0 counts steps (c_t ~ 0.15 t) and drives <end>, so
    # beams finish after a handful of words instead of looping forever
    ds = decoder.decode_step
    for g in range(4):
        ds.weight_ih[g * DEC].zero_(); ds.weight_hh[g * DEC].zero_(); ds.bias_hh[g * DEC] = 0
    ds.bias_ih[0], ds.bias_ih[DEC], ds.bias_ih[3 * DEC] = 12.0, 12.0, 12.0
    ds.bias_ih[2 * DEC] = float(np.arctanh(0.1))
    for lin in (decoder.init_h, decoder.init_c):
        lin.weight[0].zero_(); lin.bias[0] = 0
    decoder.fc.weight[:, 0].zero_()
    decoder.fc.weight[END, 0] = 14.0
    decoder.fc.bias[END] = -5.0
decoder.eval()
dec_opt = torch.optim.Adam(decoder.parameters(), lr=4e-4)
ckpt = os.path.join(OUT, "BEST_checkpoint_test.pth.tar")
torch.save({"epoch": 3, "epochs_since_improvement": 0, "bleu-4": 0.1, "encoder": encoder,
            "decoder": decoder, "encoder_optimizer": None, "decoder_optimizer": dec_opt}, ckpt)

# ---------------------------------------------------------------- convert (separate process)
env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
r = subprocess.run([sys.executable, os.path.join(HERE, "..", "convert_sat.py"), ckpt,
                    os.path.join(OUT, "WORDMAP.json"), "-o", os.path.join(OUT, "model.safetensors")],
                   cwd="/", env=env, capture_output=True, text=True)
if r.returncode != 0:
    sys.stderr.write(r.stdout + r.stderr)
    raise SystemExit("convert_sat.py failed")
print(r.stdout.strip())
# the converter must not have imported the real models module
assert "pkg" not in r.stdout


# ---------------------------------------------------------------- tutorial's beam search
def beam_search(encoder_out, k, word_map):
    return sat_tutorial.beam_search(decoder, encoder_out, k, word_map)


def teacher_force(encoder_out, seq):
    """Per-step logits and alphas feeding seq[:-1] (eval mode)."""
    enc = encoder_out.view(1, -1, encoder_out.size(3))
    h, c = decoder.init_hidden_state(enc)
    logits, alphas = [], []
    for t in range(len(seq) - 1):
        emb = decoder.embedding(torch.LongTensor([seq[t]]))
        awe, alpha = decoder.attention(enc, h)
        awe = decoder.sigmoid(decoder.f_beta(h)) * awe
        h, c = decoder.decode_step(torch.cat([emb, awe], dim=1), (h, c))
        logits.append(decoder.fc(h)[0])
        alphas.append(alpha[0])
    return torch.stack(logits).numpy(), torch.stack(alphas).numpy()


normalize_mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
normalize_std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
images = {"astronaut": skimage.data.astronaut(), "coffee": skimage.data.coffee(),
          "chelsea": skimage.data.chelsea()}
with torch.no_grad():
    for name, img in images.items():
        img = img[:, :, :3]
        save(name + "_raw", img.transpose(2, 0, 1).astype(np.float32) / 255.0)
        # scipy.misc.imresize(img, (256, 256)) == PIL bilinear resize to uint8
        rs = np.asarray(Image.fromarray(img).resize((256, 256), Image.BILINEAR))
        x = torch.FloatTensor(rs.transpose(2, 0, 1) / 255.)
        x = (x - normalize_mean) / normalize_std
        save(name + "_input", x.numpy())
        encoder_out = encoder(x.unsqueeze(0))  # (1, N, N, E)
        save(name + "_features", encoder_out[0].reshape(-1, E).numpy())
        for k in (1, 3, 5):
            seq, alphas, score = beam_search(encoder_out, k, word_map)
            lg, al = teacher_force(encoder_out, seq)
            p = "%s_k%d_" % (name, k)
            save(p + "seq", np.array(seq[1:]))  # without <start>, with <end>
            save(p + "score", np.array([score]))
            save(p + "alphas", alphas[1:].reshape(len(seq) - 1, -1))
            save(p + "logits", lg)
            save(p + "tf_alphas", al)
            print(name, k, " ".join([w for t in seq for w, i in word_map.items() if i == t]),
                  "%.4f" % score)

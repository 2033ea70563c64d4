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
import torch.nn.functional as F
from PIL import Image
import skimage.data

torch.set_num_threads(1)
torch.manual_seed(1234)
np.random.seed(1234)
OUT = os.path.abspath(sys.argv[1])
os.makedirs(OUT, exist_ok=True)
HERE = os.path.dirname(os.path.abspath(__file__))

MODELS_PY = '''
import torch
from torch import nn
import torchvision


class Encoder(nn.Module):
    def __init__(self, encoded_image_size=14, arch="resnet101"):
        super(Encoder, self).__init__()
        self.enc_image_size = encoded_image_size
        resnet = getattr(torchvision.models, arch)()
        modules = list(resnet.children())[:-2]
        self.resnet = nn.Sequential(*modules)
        self.adaptive_pool = nn.AdaptiveAvgPool2d((encoded_image_size, encoded_image_size))

    def forward(self, images):
        out = self.resnet(images)
        out = self.adaptive_pool(out)
        out = out.permute(0, 2, 3, 1)
        return out


class Attention(nn.Module):
    def __init__(self, encoder_dim, decoder_dim, attention_dim):
        super(Attention, self).__init__()
        self.encoder_att = nn.Linear(encoder_dim, attention_dim)
        self.decoder_att = nn.Linear(decoder_dim, attention_dim)
        self.full_att = nn.Linear(attention_dim, 1)
        self.relu = nn.ReLU()
        self.softmax = nn.Softmax(dim=1)

    def forward(self, encoder_out, decoder_hidden):
        att1 = self.encoder_att(encoder_out)
        att2 = self.decoder_att(decoder_hidden)
        att = self.full_att(self.relu(att1 + att2.unsqueeze(1))).squeeze(2)
        alpha = self.softmax(att)
        attention_weighted_encoding = (encoder_out * alpha.unsqueeze(2)).sum(dim=1)
        return attention_weighted_encoding, alpha


class DecoderWithAttention(nn.Module):
    def __init__(self, attention_dim, embed_dim, decoder_dim, vocab_size, encoder_dim=2048, dropout=0.5):
        super(DecoderWithAttention, self).__init__()
        self.encoder_dim = encoder_dim
        self.attention_dim = attention_dim
        self.embed_dim = embed_dim
        self.decoder_dim = decoder_dim
        self.vocab_size = vocab_size
        self.dropout = dropout
        self.attention = Attention(encoder_dim, decoder_dim, attention_dim)
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.dropout = nn.Dropout(p=self.dropout)
        self.decode_step = nn.LSTMCell(embed_dim + encoder_dim, decoder_dim, bias=True)
        self.init_h = nn.Linear(encoder_dim, decoder_dim)
        self.init_c = nn.Linear(encoder_dim, decoder_dim)
        self.f_beta = nn.Linear(decoder_dim, encoder_dim)
        self.sigmoid = nn.Sigmoid()
        self.fc = nn.Linear(decoder_dim, vocab_size)
        self.init_weights()

    def init_weights(self):
        self.embedding.weight.data.uniform_(-0.1, 0.1)
        self.fc.bias.data.fill_(0)
        self.fc.weight.data.uniform_(-0.1, 0.1)

    def init_hidden_state(self, encoder_out):
        mean_encoder_out = encoder_out.mean(dim=1)
        h = self.init_h(mean_encoder_out)
        c = self.init_c(mean_encoder_out)
        return h, c
'''

GRID, ATT, EMB, DEC = 5, 48, 40, 56
WORDS = ("a man woman cat dog sitting standing on the table with cup of coffee red "
         "white space suit in front grass").split()


def save(name, a):
    a = np.asarray(a)
    a = a.astype(np.int64) if a.dtype.kind in "iub" else a.astype(np.float32)
    np.save(os.path.join(OUT, name + ".npy"), np.ascontiguousarray(a))


# ---------------------------------------------------------------- model + checkpoint
pkg = os.path.join(OUT, "pkg")
os.makedirs(pkg, exist_ok=True)
with open(os.path.join(pkg, "models.py"), "w") as f:
    f.write(MODELS_PY)
sys.path.insert(0, pkg)
import models  # noqa: E402

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
    """caption_image_beam_search from the tutorial's caption.py, from the
    encoder output on; returns (seq incl. <start>/<end>, alphas (len, N, N), score)."""
    vocab_size = len(word_map)
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
        seqs_alpha = torch.cat([seqs_alpha[prev_word_inds], alpha[prev_word_inds].unsqueeze(1)], dim=1)
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
    # (the tutorial raises here when nothing completed; the test data avoids that)
    assert complete_seqs_scores, "no beam reached <end>"
    i = complete_seqs_scores.index(max(complete_seqs_scores))
    return complete_seqs[i], np.array(complete_seqs_alpha[i]), float(complete_seqs_scores[i])


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

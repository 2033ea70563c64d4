"""Benchmark (not a test): the same captioner training step as
bench_captioner_train.c in PyTorch, the shipped recipe's model (CNN 16,32,64,64,128 with
kernels 3,3,3,3,5, pools after the first three, on RGB + x, y channels, BN + max pools -> AdaptiveAvgPool2d(12) -> the
tutorial's DecoderWithAttention with E 128, A 128, M 64, H 256, V 48, dropout 0.2, plus the
deep output fc_ctx (--ctx2out) and the attended position as LSTM input (--att-coords); masked
CE over all steps + 0.1 doubly stochastic penalty + supervised attention (--att-sup 1) on two
tokens per caption; clip 5; AdamW). Batch 32, random inputs, captions of 5..15 words.
usage: bench_captioner_train.py THREADS [STEPS]
prints "torch_captrain threads=T batch=32 ex_per_s=... step_ms=..." """
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
torch.set_num_threads(threads)
torch.manual_seed(0)
B, S, V, L, G = 32, 96, 48, 17, 12
E, A, M, H = 128, 128, 64, 256


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        layers, c_in = [], 5
        for i, (c, k) in enumerate(zip([16, 32, 64, 64, 128], [3, 3, 3, 3, 5])):
            layers += [nn.Conv2d(c_in, c, k, padding=k // 2, bias=False), nn.BatchNorm2d(c),
                       nn.ReLU()]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
            c_in = c
        self.net = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(G)

    def forward(self, x):
        n, _, h, w = x.shape  # CoordConv: append x, y channels as saccade's encoder does
        xs = (-1 + 2 * (torch.arange(w) + 0.5) / w).view(1, 1, 1, w).expand(n, 1, h, w)
        ys = (-1 + 2 * (torch.arange(h) + 0.5) / h).view(1, 1, h, 1).expand(n, 1, h, w)
        x = torch.cat([x, xs, ys], 1)
        return self.pool(self.net(x)).permute(0, 2, 3, 1).reshape(x.size(0), -1, E)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder_att = nn.Linear(E, A)
        self.decoder_att = nn.Linear(H, A)
        self.full_att = nn.Linear(A, 1)

    def forward(self, enc_proj, enc, h):
        att = self.full_att(F.relu(enc_proj + self.decoder_att(h).unsqueeze(1))).squeeze(2)
        alpha = F.softmax(att, dim=1)
        return (enc * alpha.unsqueeze(2)).sum(1), alpha


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.embedding = nn.Embedding(V, M)
        self.dropout = nn.Dropout(0.2)
        self.decode_step = nn.LSTMCell(M + E + 2, H)
        self.init_h = nn.Linear(E, H)
        self.init_c = nn.Linear(E, H)
        self.f_beta = nn.Linear(H, E)
        self.fc = nn.Linear(H, V)
        self.fc_ctx = nn.Linear(E, V, bias=False)
        cs = (torch.arange(G) + 0.5) * 2 / G - 1
        self.pos = torch.stack([cs.repeat(G), cs.repeat_interleave(G)], 1)  # (P, 2): x, y

    def forward(self, enc, caps, lens, sup):
        mean = enc.mean(1)
        h, c = self.init_h(mean), self.init_c(mean)
        emb = self.embedding(caps)
        proj = self.attention.encoder_att(enc)  # hoisted out of the loop, as saccade does
        T = caps.size(1) - 1
        logits, alphas = [], []
        for t in range(T):
            awe, alpha = self.attention(proj, enc, h)
            awe = torch.sigmoid(self.f_beta(h)) * awe
            h, c = self.decode_step(torch.cat([emb[:, t], awe, alpha @ self.pos], 1), (h, c))
            logits.append(self.fc(self.dropout(h)) + self.fc_ctx(awe))
            alphas.append(alpha)
        logits = torch.stack(logits, 1)
        alphas = torch.stack(alphas, 1)
        mask = (torch.arange(T).unsqueeze(0) < (lens - 1).unsqueeze(1)).float()
        ce = F.cross_entropy(logits.reshape(-1, V), caps[:, 1:].reshape(-1), reduction="none")
        ce = (ce * mask.reshape(-1)).sum() / mask.sum()
        pen = 0.1 * ((1 - (alphas * mask.unsqueeze(2)).sum(1)) ** 2).mean()
        tgt = sup[:, 1:]  # (B, T, P): the step predicting token t + 1
        on = (tgt.sum(2) > 0) & (mask > 0)
        att = -torch.log((alphas * tgt).sum(2) + 1e-6)[on].mean()
        return ce + pen + att


cnn, dec = CNN(), Decoder()
params = list(cnn.parameters()) + list(dec.parameters())
opt = torch.optim.AdamW(params, lr=1e-3)
x = torch.rand(B, 3, S, S) * 2 - 1
lens = torch.tensor([7 + b % 11 for b in range(B)])
caps = torch.zeros(B, L, dtype=torch.long)
for b in range(B):
    caps[b, 0] = 2
    caps[b, 1:lens[b] - 1] = torch.randint(4, V, (int(lens[b]) - 2,))
    caps[b, lens[b] - 1] = 3
sup = torch.zeros(B, L, G * G, dtype=torch.bool)
for b in range(B):
    for j in (2, 3):
        for i in range(4):
            for k in range(4):
                sup[b, j, (b % 8 + i) * G + b % 5 + k] = True
sup_f = sup.float()
times = []
for s in range(-3, steps):
    t0 = time.perf_counter()
    opt.zero_grad()
    loss = dec(cnn(x), caps, lens, sup_f)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 5.0)
    opt.step()
    if s >= 0:
        times.append((time.perf_counter() - t0) * 1e3)
times.sort()
med = times[len(times) // 2]
print("torch_captrain threads=%d batch=%d ex_per_s=%.2f step_ms=%.2f" % (threads, B, B / (med / 1e3), med))

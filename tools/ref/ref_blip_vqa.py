#!/usr/bin/env python3
"""PyTorch twin of Hugging Face's BlipForQuestionAnswering (VQA) and
BlipForImageTextRetrieval (image-text matching, with the Grad-CAM of BLIP's demo).

Written from Hugging Face transformers (main branch, 5.x; the numerics of
these classes are those of 4.3x):
  src/transformers/models/blip/modeling_blip.py
      BlipForQuestionAnswering.generate: vision_model -> text_encoder(input_ids,
        encoder_hidden_states=image_embeds) -> text_decoder.generate(input_ids=
        [[bos_token_id]], eos_token_id=sep_token_id, pad_token_id=pad_token_id,
        encoder_hidden_states=question_embeds)
      BlipForImageTextRetrieval.forward: use_itm_head=True -> itm_head(
        text_encoder(input_ids, encoder_hidden_states=image_embeds)[:, 0]);
        use_itm_head=False -> normalize(vision_proj(image_embeds[:, 0])) @
        normalize(text_proj(text_encoder(input_ids)[:, 0])).T (no image, no
        temperature)
  src/transformers/models/blip/modeling_blip_text.py  BlipTextModel (is_decoder
      False: the extended mask of an all-ones attention mask is 0, i.e.
      bidirectional), BlipTextLayer (cross-attention only when
      encoder_hidden_states is given)
  configuration_blip.py  BlipConfig.image_text_hidden_size [256]
and LAVIS's compute_gradcam (the Grad-CAM of BLIP's demo): the positive ITM
logit output[:, 1] is differentiated w.r.t. the cross-attention probabilities
of one text-encoder layer; cams * grads.clamp(0), image class-token column
dropped, mean over heads; the phrase map is the mean of the word tokens' maps
(tokens 1 .. n-2).
The building blocks (vision model, BERT layers, LM head, tokenizer,
preprocessing, greedy and beam search) are tools/ref/ref_blip.py's; no
transformers code is imported or copied. State-dict names are Hugging Face's
(vision_model.*, text_encoder.*, text_decoder.*, vision_proj.*, text_proj.*,
itm_head.*).

Traps followed: the question / phrase ids go in as the processor gives them,
[CLS] first (Salesforce's original code puts [ENC] there, Hugging Face does
not); the VQA decoder's cross-attention reads the question embeddings, not the
image; generation settings come from the text config (greedy, 20 new tokens
for blip-vqa-base).

Command line (arrays float32 .npy; N image tokens incl. class, L layers, H heads):
  ref_blip_vqa.py vqa DIR IMAGE --out OUTDIR --question Q [--question Q2 ...]
        [--beam K] [--max-len N] [--min-len N] [--threads N]
      OUTDIR/q<i>/: question_ids.npy int64 (nq,), question_embeds.npy (nq, D),
        enc_cross_attn.npy (nq, L, H, N), ids.npy int64 (T,) ([DEC] answer [SEP]),
        step_logits.npy (T-1, V), step_cross_attn.npy (T-1, L, H, nq),
        result.json (answer, ids, score); OUTDIR/features.npy, pixel_values.npy
  ref_blip_vqa.py itm DIR IMAGE --out OUTDIR --text T [--text T2 ...] [--layer K]
      OUTDIR/t<i>/: ids.npy, itm_logits.npy (2,), scores.json (probability,
        cosine), cross_grad.npy (n, H, N) d logit[1] / d cross-attention of the
        layer, cross_attn.npy (n, H, N), gradcam.npy (n, G, G), phrase.npy (G, G)
Exit status: 0 ok, 1 error, 2 usage.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_blip  # noqa: E402
from ref_blip import BlipError  # noqa: E402

IGNORED = ("text_encoder.embeddings.position_ids", "text_decoder.bert.embeddings.position_ids")


class BlipVqaModel(nn.Module):
    """BlipForQuestionAnswering's inference path, with its state_dict names."""

    def __init__(self, vision, text):
        super().__init__()
        self.vision_model = ref_blip.VisionModel(vision)
        self.text_encoder = ref_blip.TextModel(text)
        self.text_decoder = ref_blip.TextDecoder(text)


class BlipItmModel(nn.Module):
    """BlipForImageTextRetrieval's inference path, with its state_dict names."""

    def __init__(self, vision, text, proj_dim):
        super().__init__()
        self.vision_model = ref_blip.VisionModel(vision)
        self.text_encoder = ref_blip.TextModel(text)
        self.vision_proj = nn.Linear(vision["hidden_size"], proj_dim)
        self.text_proj = nn.Linear(text["hidden_size"], proj_dim)
        self.itm_head = nn.Linear(text["hidden_size"], 2)


def empty_model(task, vision, text, proj_dim=256):
    with ref_blip._NoInit():
        return BlipVqaModel(vision, text) if task == "vqa" else BlipItmModel(vision, text, proj_dim)


def encode_text(text_model, ids, image=None):
    """BlipTextModel as an encoder: bidirectional self-attention (the mask of an
    all-ones attention mask adds 0), cross-attention to image (B or 1, N, Dv)
    when given. (last hidden (B,T,D), self probs per layer, cross probs per layer)."""
    x = text_model.embeddings(ids, 0)
    zero = torch.zeros(1, 1, 1, ids.shape[1])
    self_attn, cross_attn = [], []
    for layer in text_model.encoder.layer:
        ctx, sp, _ = layer.attention.self(x, zero)
        x = layer.attention.output(ctx, x)
        self_attn.append(sp)
        if image is not None:
            kv = layer.crossattention.self.image_kv(image)
            ctx, cp, _ = layer.crossattention.self(x, torch.zeros(1, 1, 1, image.shape[1]), cross_kv=kv)
            x = layer.crossattention.output(ctx, x)
            cross_attn.append(cp)
        h = F.gelu(layer.intermediate.dense(x))
        x = layer.output.LayerNorm(layer.output.dense(h) + x)
    return x, self_attn, cross_attn


def load(task, folder, threads=None):
    """(model, vision cfg, text cfg, generation cfg, preprocess cfg, tokenizer)."""
    if threads:
        torch.set_num_threads(threads)
    if not os.path.isdir(folder):
        raise BlipError("%s: not a folder" % folder)
    vision, text, gen = ref_blip.load_config(folder)
    raw = ref_blip._read_json(os.path.join(folder, "config.json"))
    proj = raw.get("image_text_hidden_size", 256)
    if not isinstance(proj, int) or isinstance(proj, bool) or proj <= 0:
        raise BlipError("%s: image_text_hidden_size must be a positive integer" % folder)
    if task == "vqa" and text["encoder_hidden_size"] != text["hidden_size"]:
        raise BlipError("%s: the answer decoder's cross-attention width %d differs from the text width %d"
                        % (folder, text["encoder_hidden_size"], text["hidden_size"]))
    pp = ref_blip.load_preprocess_config(folder)
    tok = ref_blip.load_tokenizer(folder)
    w = ref_blip.Weights(folder)
    model = empty_model(task, vision, text, proj)
    params = dict(model.named_parameters())
    names = set(w.info) - set(IGNORED)
    source = {k: k for k in params}
    tied = task == "vqa" and ref_blip.DECODER_W not in names
    if tied:
        source[ref_blip.DECODER_W] = ref_blip.WORD_EMB
    if task == "vqa" and ref_blip.HEAD_BIAS not in names and ref_blip.DECODER_B in names:
        source[ref_blip.HEAD_BIAS] = ref_blip.DECODER_B
    missing = [k for k in params if source[k] not in names]
    if missing:
        raise BlipError("%s: tensor %s missing" % (w.path, missing[0]))
    for k, p in params.items():
        if w.shape(source[k]) != tuple(p.shape):
            raise BlipError("%s: tensor %s has shape %s, the config needs %s"
                            % (w.path, source[k], list(w.shape(source[k])), list(p.shape)))
    with torch.no_grad():
        for k, p in params.items():
            if not (tied and k == ref_blip.DECODER_W):
                p.copy_(torch.from_numpy(w.get(source[k])))
    if tied:
        model.text_decoder.cls.predictions.decoder.weight = model.text_decoder.bert.embeddings.word_embeddings.weight
    return model.eval(), vision, text, gen, pp, tok


def text_ids(tok, text, max_pos, what):
    ids = tok.encode(text)
    if len(ids) <= 2:
        raise BlipError("the %s is empty" % what)
    if len(ids) > max_pos:
        raise BlipError("the %s is too long: %d tokens" % (what, len(ids)))
    return ids


class VqaTwin(ref_blip.Blip):
    """The captioner twin's generation (greedy / beam search, settings from the
    text config) run on the answer decoder, whose cross-attention input is the
    question embeddings."""

    def __init__(self, folder, threads=None):  # noqa: super().__init__ loads a captioner
        self.folder = folder
        (self.model, self.vision_cfg, self.text_cfg, self.gen_cfg, self.pp,
         self.tok) = load("vqa", folder, threads)
        self.L = self.text_cfg["num_hidden_layers"]

    @torch.no_grad()
    def question(self, feats, ids):
        emb, _, cross = encode_text(self.model.text_encoder, torch.tensor([ids]), feats[None])
        return emb[0], torch.stack([c[0] for c in cross]).permute(2, 0, 1, 3)  # (nq, L, H, N)

    def answer(self, feats, question, **over):
        s = self.settings(**over)
        qids = text_ids(self.tok, question, self.text_cfg["max_position_embeddings"], "question")
        emb, enc_cross = self.question(feats, qids)
        out = self.generate(emb, [self.text_cfg["bos_token_id"]], s)
        ids = out["ids"]
        logits, cross, _ = self.forward(emb, ids[:-1])  # teacher forcing: (T-1, V), (L, H, T-1, nq)
        if out["score"] is None:
            lp = F.log_softmax(logits, dim=-1)
            score = float(sum(lp[i, ids[i + 1]] for i in range(len(ids) - 1)))
        else:
            score = out["score"]
        return {"question_ids": qids, "embeds": emb.numpy(), "enc_cross": enc_cross.numpy(), "ids": ids,
                "step_logits": logits.numpy(), "step_cross": cross.permute(2, 0, 1, 3).numpy(),
                "answer": self.tok.decode(ids), "logprob": score}


class ItmTwin:
    def __init__(self, folder, threads=None):
        (self.model, self.vision_cfg, self.text_cfg, _, self.pp, self.tok) = load("itm", folder, threads)

    def pixels(self, image_path):
        return ref_blip.preprocess(ref_blip.load_image(image_path), self.pp)

    @torch.no_grad()
    def features(self, pixels):
        return self.model.vision_model(torch.from_numpy(np.asarray(pixels, np.float32))[None])[0]

    def match(self, feats, text, layer):
        ids = text_ids(self.tok, text, self.text_cfg["max_position_embeddings"], "phrase")
        t = torch.tensor([ids])
        with torch.no_grad():  # contrastive: the text alone
            emb, _, _ = encode_text(self.model.text_encoder, t)
            image_feat = F.normalize(self.model.vision_proj(feats[None][:, 0, :]), dim=-1)
            text_feat = F.normalize(self.model.text_proj(emb[:, 0, :]), dim=-1)
            cosine = float((image_feat @ text_feat.t())[0, 0])
        with torch.enable_grad():
            emb, _, cross = encode_text(self.model.text_encoder, t, feats[None].detach())
            logits = self.model.itm_head(emb[:, 0, :])
            grad = torch.autograd.grad(logits[0, 1], cross[layer])[0][0]  # (H, n, N)
        attn = cross[layer][0].detach()
        G = self.vision_cfg["image_size"] // self.vision_cfg["patch_size"]
        H, n = attn.shape[0], len(ids)
        cams = attn[:, :, 1:].reshape(H, n, G, G)
        grads = grad[:, :, 1:].clamp(0).reshape(H, n, G, G)
        gradcam = (cams * grads).mean(0)  # (n, G, G)
        k = n - 2
        phrase = gradcam[1:k + 1].sum(dim=0) / k
        logits = logits.detach()[0]
        return {"ids": ids, "itm_logits": logits.numpy(),
                "probability": float(torch.softmax(logits, dim=-1)[1]), "cosine": cosine,
                "cross_grad": grad.permute(1, 0, 2).numpy(), "cross_attn": attn.permute(1, 0, 2).numpy(),
                "gradcam": gradcam.numpy(), "phrase": phrase.numpy()}


def _save(d, name, a):
    np.save(os.path.join(d, name), np.ascontiguousarray(a))


def _pixels(twin, args):
    if args.pixels:
        return np.load(args.pixels).astype(np.float32)
    return twin.pixels(args.image)


def cmd_vqa(args):
    twin = VqaTwin(args.dir, args.threads)
    px = _pixels(twin, args)
    feats = twin.features(px)
    os.makedirs(args.out, exist_ok=True)
    _save(args.out, "pixel_values.npy", px)
    _save(args.out, "features.npy", feats.numpy())
    over = {"num_beams": args.beam, "max_length": args.max_len, "min_length": args.min_len}
    for i, q in enumerate(args.question):
        r = twin.answer(feats, q, **over)
        d = os.path.join(args.out, "q%d" % i)
        os.makedirs(d, exist_ok=True)
        _save(d, "question_ids.npy", np.asarray(r["question_ids"], np.int64))
        _save(d, "question_embeds.npy", r["embeds"])
        _save(d, "enc_cross_attn.npy", r["enc_cross"])
        _save(d, "ids.npy", np.asarray(r["ids"], np.int64))
        _save(d, "step_logits.npy", r["step_logits"])
        _save(d, "step_cross_attn.npy", r["step_cross"])
        with open(os.path.join(d, "result.json"), "w", encoding="utf-8") as f:
            json.dump({"question": q, "answer": r["answer"], "ids": r["ids"], "logprob": r["logprob"]}, f,
                      ensure_ascii=False)
        if not args.quiet:
            print("%s -> %s" % (q, r["answer"]))
    return 0


def cmd_itm(args):
    twin = ItmTwin(args.dir, args.threads)
    px = _pixels(twin, args)
    feats = twin.features(px)
    L = twin.text_cfg["num_hidden_layers"]
    layer = args.layer if args.layer is not None else 2 * L // 3
    os.makedirs(args.out, exist_ok=True)
    _save(args.out, "pixel_values.npy", px)
    _save(args.out, "features.npy", feats.numpy())
    for i, text in enumerate(args.text):
        r = twin.match(feats, text, layer)
        d = os.path.join(args.out, "t%d" % i)
        os.makedirs(d, exist_ok=True)
        _save(d, "ids.npy", np.asarray(r["ids"], np.int64))
        for k in ("itm_logits", "cross_grad", "cross_attn", "gradcam", "phrase"):
            _save(d, k + ".npy", r[k])
        with open(os.path.join(d, "scores.json"), "w", encoding="utf-8") as f:
            json.dump({"text": text, "probability": r["probability"], "cosine": r["cosine"], "layer": layer}, f,
                      ensure_ascii=False)
        if not args.quiet:
            print("%s: itm %.6f cosine %.6f" % (text, r["probability"], r["cosine"]))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="ref_blip_vqa.py",
                                 description="PyTorch twin of BlipForQuestionAnswering / BlipForImageTextRetrieval")
    sub = ap.add_subparsers(dest="cmd")
    v = sub.add_parser("vqa")
    i = sub.add_parser("itm")
    for p in (v, i):
        p.add_argument("dir")
        p.add_argument("image", nargs="?")
        p.add_argument("--pixels")
        p.add_argument("--out", required=True)
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--quiet", action="store_true")
    v.add_argument("--question", action="append", required=True)
    v.add_argument("--beam", type=int)
    v.add_argument("--max-len", type=int)
    v.add_argument("--min-len", type=int)
    i.add_argument("--text", action="append", required=True)
    i.add_argument("--layer", type=int)
    args = ap.parse_args(argv)
    if not args.cmd:
        ap.print_usage(sys.stderr)
        return 2
    try:
        return {"vqa": cmd_vqa, "itm": cmd_itm}[args.cmd](args)
    except BlipError as e:
        print("ref_blip_vqa: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

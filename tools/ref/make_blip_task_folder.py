#!/usr/bin/env python3
"""Write a random-weight Hugging Face BLIP VQA or image-text matching folder
(BlipForQuestionAnswering / BlipForImageTextRetrieval) for tests and benchmarks.

usage: make_blip_task_folder.py OUTDIR --task vqa|itm [--size tiny|base] [--seed N]
           [--sep-bias X] [--no-lm-decoder] [--proj-dim E]

The tokenizer, preprocessor and special-token files are make_blip_folder.py's
(same vocabulary). config.json names the task's architecture and keeps only
what differs from the class defaults; model.safetensors (F32) holds the task's
tensors under Hugging Face's names:
  vqa  vision_model.*, text_encoder.*, text_decoder.* (LM decoder weights tied
       copies, or absent with --no-lm-decoder)
  itm  vision_model.*, text_encoder.*, vision_proj.*, text_proj.*, itm_head.*
Sizes: tiny = make_blip_folder.py's tiny with a text width of 48 (= the vision
width, as the VQA decoder reads the question through cross-attention layers
built for the vision width) and 4 heads; base = BLIP-base (768, 12 + 12 layers,
384 pixels). --proj-dim sets image_text_hidden_size (default: 256 base, 24 tiny).
Weights as make_blip_folder.py draws them (seeded torch.Generator).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_blip_folder  # noqa: E402
import ref_blip  # noqa: E402
import ref_blip_vqa  # noqa: E402
import st_numpy  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(prog="make_blip_task_folder.py")
    ap.add_argument("out")
    ap.add_argument("--task", choices=("vqa", "itm"), required=True)
    ap.add_argument("--size", choices=("tiny", "base"), default="tiny")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sep-bias", type=float, default=0.0)
    ap.add_argument("--no-lm-decoder", action="store_true")
    ap.add_argument("--proj-dim", type=int)
    a = ap.parse_args(argv)
    # tokenizer, preprocessor and special-token files of the captioner's folder
    if make_blip_folder.main([a.out, "--size", a.size, "--seed", str(a.seed)]) not in (0, None):
        return 1
    vocab = make_blip_folder.tiny_vocab() if a.size == "tiny" else make_blip_folder.base_vocab()
    v_over, t_over = make_blip_folder.configs(a.size, None, len(vocab))
    if a.size == "tiny":
        t_over.update({"hidden_size": 48, "encoder_hidden_size": 48, "intermediate_size": 96})
    vision = dict(ref_blip.VISION_DEFAULTS, **v_over)
    text = dict(ref_blip.TEXT_DEFAULTS, **t_over)
    proj = a.proj_dim or (256 if a.size == "base" else 24)
    model = ref_blip_vqa.empty_model(a.task, vision, text, proj)
    sd = make_blip_folder.random_state(vision, text, a.seed, a.sep_bias, model)
    if a.task == "vqa":
        sd[ref_blip.DECODER_W] = sd[ref_blip.WORD_EMB]
        sd[ref_blip.DECODER_B] = sd[ref_blip.HEAD_BIAS]
        if a.no_lm_decoder:
            del sd[ref_blip.DECODER_W], sd[ref_blip.DECODER_B]
    tc = make_blip_folder.diff(text, ref_blip.TEXT_DEFAULTS)
    tc["model_type"] = "blip_text_model"
    vc = make_blip_folder.diff(vision, ref_blip.VISION_DEFAULTS)
    vc["model_type"] = "blip_vision_model"
    cfg = {"architectures": ["BlipForQuestionAnswering" if a.task == "vqa" else "BlipForImageTextRetrieval"],
           "model_type": "blip", "dtype": "float32", "text_config": tc, "transformers_version": "5.0.0",
           "vision_config": vc}
    if proj != 256:
        cfg["image_text_hidden_size"] = proj
    make_blip_folder.write_json(os.path.join(a.out, "config.json"), cfg)
    stored = make_blip_folder.to_storage(sd, "f32", None)
    st_numpy.save(os.path.join(a.out, "model.safetensors"), {k: v[0] for k, v in stored.items()},
                  metadata={"format": "pt"}, dtypes={k: v[1] for k, v in stored.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Reference cases for tests/parity/test_blip_vqa_parity.c, in one Python process.

usage: ref_blip_vqa_cases.py OUTDIR [--base]

Writes random-weight BLIP VQA and image-text matching folders with
make_blip_task_folder.py and runs the twin (ref_blip_vqa.py) on them, each case
into OUTDIR/<case>/ (see ref_blip_vqa.py for the files). Folders:
  vqa        tiny, LM decoder weights present
  vqa_short  tiny, tied LM head, [SEP] logit bias +5 (answers end at [SEP])
  itm        tiny, image_text_hidden_size 24
  vqa_base   BLIP-base sizes (with --base only)
The image is assets/samples/chelsea.jpg, preprocessed by the twin (PIL); the
C test reads the twin's pixel values. QUESTIONS and TEXTS below are also in
the C test (in the same order).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_blip_task_folder  # noqa: E402
import ref_blip_vqa  # noqa: E402

IMAGE = os.path.join(HERE, "..", "..", "assets", "samples", "chelsea.jpg")
QUESTIONS = ["what is the cat doing?", "Is the dog RED, or blue?", "where?"]
TEXTS = ["a red cat on the grass", "dog", "the man's café (in the city)"]

FOLDERS = {
    "vqa": ["--task", "vqa", "--seed", "11"],
    "vqa_short": ["--task", "vqa", "--seed", "12", "--sep-bias", "5", "--no-lm-decoder"],
    "itm": ["--task", "itm", "--seed", "13"],
}
# case -> (command, folder, options)
CASES = {
    "vqa_greedy": ("vqa", "vqa", []),
    "vqa_beam3": ("vqa", "vqa", ["--beam", "3", "--max-len", "8"]),
    "vqa_short_greedy": ("vqa", "vqa_short", []),
    "vqa_short_beam3": ("vqa", "vqa_short", ["--beam", "3"]),
    "vqa_short_min": ("vqa", "vqa_short", ["--min-len", "3", "--max-len", "6"]),
    "itm": ("itm", "itm", []),
    "itm_layer0": ("itm", "itm", ["--layer", "0"]),
}
BASE_FOLDERS = {"vqa_base": ["--task", "vqa", "--size", "base", "--seed", "14"]}
BASE_CASES = {"vqa_base_greedy": ("vqa", "vqa_base", ["--max-len", "4", "--threads", "2"])}


def main(argv):
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    folders, cases = FOLDERS, CASES
    if "--base" in argv[1:]:
        folders, cases = BASE_FOLDERS, BASE_CASES
    for name, opts in folders.items():
        if make_blip_task_folder.main([os.path.join(out, name)] + opts) not in (0, None):
            return 1
    for name, (cmd, folder, opts) in cases.items():
        args = [cmd, os.path.join(out, folder), IMAGE, "--out", os.path.join(out, name), "--quiet"] + opts
        for q in QUESTIONS if cmd == "vqa" else TEXTS:
            args += ["--question" if cmd == "vqa" else "--text", q]
        if ref_blip_vqa.main(args) != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

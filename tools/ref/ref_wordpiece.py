#!/usr/bin/env python3
"""Twin of saccade's BERT WordPiece tokenizer (vision/blip/wordpiece.c), for
tests/unit/test_wordpiece.c.

Usage: ref_wordpiece.py OUTDIR

Written from Hugging Face transformers 5.x, src/transformers/models/bert/
tokenization_bert.py (BertTokenizer on the tokenizers library:
normalizers.BertNormalizer(clean_text=True, handle_chinese_chars,
strip_accents, lowercase), pre_tokenizers.BertPreTokenizer(), models.WordPiece
(max_input_chars_per_word 100, "##"), decoders.WordPiece(prefix="##",
cleanup=True)), TokenizersBackend._decode and
PreTrainedTokenizerBase.clean_up_tokenization (tokenization_utils_base.py),
and tokenizers' normalizers/bert.rs, pre_tokenizers/bert.rs,
models/wordpiece/mod.rs and decoders/wordpiece.rs. Neither library can be
installed here, so this is an independent implementation of those rules on
Python's unicodedata (it shares no table with the C code).

Writes into OUTDIR, for two tokenizer set-ups ("blip": BLIP's uncased
tokenizer whose vocab.txt lacks [DEC] / [ENC]; "cased": no lower case, no
accent stripping, no CJK splitting, clean-up on, explicit added tokens):
  <setup>_vocab.txt, <setup>_tokenizer_config.json
  <setup>_cases.json: [{"hex": input bytes, "error": bool, "ids": [...],
      "tokens": [...], "decode": {"skip_clean", "skip_raw", "all_clean",
      "all_raw"}}, ...]
  <setup>_specials.json: {"unk": id, ..., "size": n}
  <setup>_decode.json: [{"ids": [...], "skip_clean": ..., ...}]
"""
import json
import os
import re
import sys
import unicodedata

CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_control(c):
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def load_vocab(path):
    vocab, inverse = {}, {}
    with open(path, "r", encoding="utf-8") as f:
        for i, line in enumerate(f.readlines()):
            tok = line.rstrip("\n")
            vocab[tok] = i
            inverse[i] = tok
    return vocab, inverse


def token_of(v):
    return v["content"] if isinstance(v, dict) else v


class Tokenizer:
    def __init__(self, vocab_path, config_path):
        self.vocab, self.inverse = load_vocab(vocab_path)
        self.n_lines = len(self.inverse)
        cfg = json.load(open(config_path)) if config_path else {}
        self.lower = cfg.get("do_lower_case", True)
        strip = cfg.get("strip_accents")
        self.strip = self.lower if strip is None else strip
        self.cjk = cfg.get("tokenize_chinese_chars", True)
        self.clean_up = cfg.get("clean_up_tokenization_spaces") or False
        self.special = {}  # token -> id, matched in raw text
        self.skippable = set()
        for key, entry in (cfg.get("added_tokens_decoder") or {}).items():
            self._add(token_of(entry), int(key), entry.get("special", True))
        names = {"unk": "[UNK]", "sep": "[SEP]", "pad": "[PAD]", "cls": "[CLS]", "mask": "[MASK]",
                 "bos": None, "eos": None}
        for k in names:
            if k + "_token" in cfg:
                names[k] = token_of(cfg[k + "_token"]) if cfg[k + "_token"] is not None else None
        self.ids = {}
        for k in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"):
            if names[k] is not None:
                self.ids[k] = self._add(names[k], None, True)
        for key in ("additional_special_tokens", "extra_special_tokens"):
            for t in cfg.get(key) or []:
                self._add(token_of(t), None, True)
        alts = sorted(self.special, key=len, reverse=True)
        self.split_re = re.compile("(" + "|".join(re.escape(a) for a in alts) + ")")

    def size(self):
        return max(self.inverse) + 1

    def _add(self, tok, want, special):
        if tok in self.special and (want is None or self.special[tok] == want):
            return self.special[tok]
        tid = want if want is not None else self.vocab.get(tok, self.size())
        if tid not in self.inverse:
            self.inverse[tid] = tok
            self.vocab[tok] = tid
        self.special[tok] = tid
        if special:
            self.skippable.add(tid)
        else:
            self.skippable.discard(tid)
        return tid

    def normalize(self, text):
        out = []
        for c in text:
            if ord(c) in (0, 0xFFFD) or is_control(c):
                continue
            if c.isspace():
                c = " "
            if self.cjk and any(a <= ord(c) <= b for a, b in CJK):
                out += [" ", c, " "]
            else:
                out.append(c)
        s = "".join(out)
        if self.strip:
            s = "".join(c for c in unicodedata.normalize("NFD", s)
                        if unicodedata.category(c) != "Mn")
        if self.lower:
            s = "".join(c.lower() for c in s)  # character by character, as tokenizers does
        return s

    def pre_tokenize(self, s):
        words, cur = [], []
        for c in s:
            if c.isspace() or is_punct(c):
                if cur:
                    words.append("".join(cur))
                    cur = []
                if is_punct(c):
                    words.append(c)
            else:
                cur.append(c)
        if cur:
            words.append("".join(cur))
        return words

    def wordpiece(self, word):
        unk = [self.ids["unk"]]
        if len(word) > 100:
            return unk
        out, start = [], 0
        while start < len(word):
            end, found = len(word), None
            while start < end:
                piece = ("##" if start > 0 else "") + word[start:end]
                tid = self.vocab.get(piece)
                if tid is not None and tid < self.n_lines:
                    found = tid
                    break
                end -= 1
            if found is None:
                return unk
            out.append(found)
            start = end
        return out

    def encode(self, text):
        ids = []
        for part in self.split_re.split(text):
            if part in self.special:
                ids.append(self.special[part])
            elif part:
                for w in self.pre_tokenize(self.normalize(part)):
                    ids += self.wordpiece(w)
        return ids

    def decode(self, ids, skip, clean):
        toks = [self.inverse[i] for i in ids if i in self.inverse
                and not (skip and i in self.skippable)]
        parts = []
        for i, t in enumerate(toks):
            if i > 0:
                t = t[2:] if t.startswith("##") else " " + t
            for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                         (" n't", "n't"), (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"),
                         (" 've", "'ve"), (" 're", "'re")):
                t = t.replace(a, b)
            parts.append(t)
        s = "".join(parts)
        if clean:
            for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                         (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"),
                         (" 're", "'re")):
                s = s.replace(a, b)
        return s


def make_vocab():
    v = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    v += list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    v += ["¡", "¿", "«", "»", "—", "…", "、", "。", "「", "」"]
    v += ["a", "picture", "of", "the", "dog", "cat", "on", "in", "is", "and", "with", "man",
          "woman", "hello", "world", "don", "t", "s", "m", "re", "ve", "n", "i", "it", "they",
          "we", "can", "do", "not", "rock", "roll", "un", "##believ", "##able", "play", "##ing",
          "##ed", "##s", "##ly", "cafe", "naive", "strasse", "straße", "istanbul", "οδος",
          "ωμεγα", "5", "00", "##0", "zero", "##width", "width", "nbsp", "line", "tab", "sep",
          "fine", "ﬁ", "##ne", "привет", "мир", "x", "y", "b", "c", "d", "e", "z", "Hello",
          "World", "Café", "İstanbul", "ΟΔΟΣ"]
    v += list("中国人日本語世界") + ["テ", "##キ", "##ス", "##ト", "ᄒ", "##ᅡ", "##ᆫ", "##ᄀ", "##ᅮ",
                                   "##ᆨ", "##ᄋ", "##ᅥ"]
    letters = "abcdefghijklmnoprstuvwxy"  # no "q", no "z" continuation: unmatchable rests
    v += ["##" + c for c in letters]
    v += list("абвгдежзийклмнопрстуфхцчшщъыьэюя") + ["##" + c for c in "иветр"]
    v += list("αβγδεζηθικλμνξοπρστυφχψω") + ["##" + c for c in "δοςσ"]
    v += ["[unused2]", "a picture"]  # a token with a space: never produced by encoding
    seen, out = set(), []
    for t in v:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


CASES = [
    "", "   ", "\t\n\r ", "a picture of", "A PICTURE OF", "Héllo, Wörld!", "naïve café",
    "don't", "I'm", "it's", "they're", "we've", "can't", "rock 'n' roll", "...!!!???",
    "--(a)--", "$5.00", "中国人", "日本語テキスト", "한국어", "😀😀", "a😀b", "ΟΔΟΣ", "İstanbul",
    "straße", "STRASSE", "ǅ", "Ⅻ", "\u00a0nbsp\u00a0", "zero\u200bwidth", "a\u0000b",
    "a\ufffdb", "tab\tsep", "\u2028line", "x\u3000y", "[CLS] a dog [SEP]",
    "[DEC]a picture of[SEP]", "[cls] [Sep]", "x[MASK]y", "[UNK]", "[ENC] the cat",
    "[MASK][MASK]", "unbelievable", "playing played plays", "qqq", "aq", "Привет мир, hello 世界!",
    "ﬁne", "\u2126mega", "\u212bx", "e" + "\u0301" * 200, "a" * 100, "a" * 101, "é" * 100,
    "é" * 101, "中" * 150, "ab" * 60 + " the", "the " * 50, "«hello» — world…", "¿qué?",
    "C'est l'été", "e\u0301", "\u0301", "ｆｕｌｌ", "a.b,c!d?e", "the cat ' s toy",
    "x ' y", "it ' s n't", "[SEP][CLS]", "##ing", "#", "a picture", "\x7f\x1b[0m",
    "\U000e0041tag", "\ud7a3", "Ǆemal", "Ꭰ", "ſ",
]
INVALID = [b"\xff", b"abc\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"a\x80b",
           b"\xe2\x82", b"ok \xf0\x9f\x98"]


def run(out, setup, config):
    vocab_path = os.path.join(out, setup + "_vocab.txt")
    cfg_path = os.path.join(out, setup + "_tokenizer_config.json")
    with open(vocab_path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(make_vocab()) + "\n")
    with open(cfg_path, "w") as f:
        json.dump(config, f, ensure_ascii=False, indent=1)
    tk = Tokenizer(vocab_path, cfg_path)
    cases = []
    for raw in [c.encode("utf-8", "surrogatepass") for c in CASES] + INVALID:
        entry = {"hex": raw.hex()}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            entry["error"] = True
            cases.append(entry)
            continue
        ids = tk.encode(text)
        entry.update(error=False, ids=ids, tokens=[tk.inverse[i] for i in ids],
                     decode={"skip_clean": tk.decode(ids, True, True),
                             "skip_raw": tk.decode(ids, True, False),
                             "all_clean": tk.decode(ids, False, True),
                             "all_raw": tk.decode(ids, False, False)})
        cases.append(entry)
    with open(os.path.join(out, setup + "_cases.json"), "w") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
    specials = {k: tk.ids.get(k, -1) for k in ("unk", "sep", "pad", "cls", "mask", "bos", "eos")}
    specials["size"] = tk.size()
    specials["clean_up"] = bool(tk.clean_up)
    with open(os.path.join(out, setup + "_specials.json"), "w") as f:
        json.dump(specials, f)
    v = tk.vocab
    seqs = [[tk.ids.get("bos", v["[CLS]"]), v["a"], v["dog"], v["."], v["[SEP]"]],
            [v["##ing"], v["play"], v["##ing"], v[","], v["'"], v["s"]],
            [v["do"], v["not"], v["don"], v["'"], v["t"], v["'"], v["m"], v["?"], v["!"]],
            [v["a picture"], v["."], 10 ** 6, v["[unused2]"], v["[PAD]"], v["[MASK]"]],
            [tk.size() - 1, v["cat"], tk.size() + 5],
            [v["[SEP]"]], []]
    dec = [{"ids": s, "skip_clean": tk.decode(s, True, True), "skip_raw": tk.decode(s, True, False),
            "all_clean": tk.decode(s, False, True), "all_raw": tk.decode(s, False, False)}
           for s in seqs]
    with open(os.path.join(out, setup + "_decode.json"), "w") as f:
        json.dump(dec, f, ensure_ascii=False)


def main():
    out = sys.argv[1]
    # BLIP's tokenizer: BERT uncased plus [DEC] (bos) and [ENC], absent from vocab.txt.
    run(out, "blip", {"do_lower_case": True, "strip_accents": None, "tokenize_chinese_chars": True,
                      "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                      "cls_token": "[CLS]", "mask_token": "[MASK]",
                      "bos_token": {"__type": "AddedToken", "content": "[DEC]"},
                      "additional_special_tokens": ["[ENC]"],
                      "tokenizer_class": "BertTokenizer", "model_max_length": 512})
    run(out, "cased", {"do_lower_case": False, "tokenize_chinese_chars": False,
                       "clean_up_tokenization_spaces": True,
                       "added_tokens_decoder": {
                           "0": {"content": "[PAD]", "special": True},
                           "300": {"content": "[DEC]", "special": True},
                           "302": {"content": "<plain>", "special": False}},
                       "eos_token": "[SEP]"})


if __name__ == "__main__":
    main()

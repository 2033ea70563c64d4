#!/usr/bin/env python3
"""Reference for saccade's caption metrics: a faithful port of pycocoevalcap's
bleu/bleu_scorer.py (BleuScorer, option 'closest' as Bleu.compute_score uses)
and cider/cider_scorer.py (CiderScorer, n=4, sigma=6: CIDEr-D), written from
reading the originals (salaniz/pycocoevalcap). Run on seeded random corpora.

Writes OUT/cases.json: a list of {candidates, references, bleu[4],
bleu4_per_image, cider_d, cider_d_per_image}. JSON rather than .npy because
sc_npy reads float32 and the comparison is to ~1e-12 in double; Python's json
writes floats with repr (round-trips exactly)."""
import json
import math
import os
import random
import sys
from collections import defaultdict

import numpy as np

# ---- tokeniser: saccade's simple stand-in for PTBTokenizer + punctuation removal
STRIP = set('.,?!:;"`()[]{}')
PUNCT = STRIP | set("-'")


def tokenize(s):
    out = []
    for tok in s.split():
        a, b = 0, len(tok)
        while a < b and tok[a] in STRIP:
            a += 1
        while b > a and tok[b - 1] in STRIP:
            b -= 1
        t = tok[a:b]
        if not t or all(c in PUNCT for c in t):
            continue
        out.append(''.join(c.lower() if 'A' <= c <= 'Z' else c for c in t))
    return ' '.join(out)


# ---- bleu_scorer.py (port)
def bleu_precook(s, n=4):
    words = s.split()
    counts = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return (len(words), counts)


def bleu_cook_refs(refs, n=4):
    reflen = []
    maxcounts = {}
    for ref in refs:
        rl, counts = bleu_precook(ref, n)
        reflen.append(rl)
        for (ngram, count) in counts.items():
            maxcounts[ngram] = max(maxcounts.get(ngram, 0), count)
    return (reflen, maxcounts)


def bleu_cook_test(test, refs, n=4):
    reflen, refmaxcounts = refs
    testlen, counts = bleu_precook(test, n)
    result = {}
    result["reflen"] = reflen  # list, resolved with 'closest' later
    result["testlen"] = testlen
    result["guess"] = [max(0, testlen - k + 1) for k in range(1, n + 1)]
    result['correct'] = [0] * n
    for (ngram, count) in counts.items():
        result["correct"][len(ngram) - 1] += min(refmaxcounts.get(ngram, 0), count)
    return result


def bleu_compute(tests, refss, n=4):
    crefs = [bleu_cook_refs(r) for r in refss]
    ctest = [bleu_cook_test(t, c) for t, c in zip(tests, crefs)]
    small = 1e-9
    tiny = 1e-15
    bleu_list = [[] for _ in range(n)]
    _testlen = 0
    _reflen = 0
    totalcomps = {'testlen': 0, 'reflen': 0, 'guess': [0] * n, 'correct': [0] * n}
    for comps in ctest:
        testlen = comps['testlen']
        _testlen += testlen
        reflen = min((abs(l - testlen), l) for l in comps['reflen'])[1]  # 'closest'
        _reflen += reflen
        for key in ['guess', 'correct']:
            for k in range(n):
                totalcomps[key][k] += comps[key][k]
        bleu = 1.
        for k in range(n):
            bleu *= (float(comps['correct'][k]) + tiny) / (float(comps['guess'][k]) + small)
            bleu_list[k].append(bleu ** (1. / (k + 1)))
        ratio = (testlen + tiny) / (reflen + small)
        if ratio < 1:
            for k in range(n):
                bleu_list[k][-1] *= math.exp(1 - 1 / ratio)
    bleus = []
    bleu = 1.
    for k in range(n):
        bleu *= float(totalcomps['correct'][k] + tiny) / (totalcomps['guess'][k] + small)
        bleus.append(bleu ** (1. / (k + 1)))
    ratio = (_testlen + tiny) / (_reflen + small)
    if ratio < 1:
        for k in range(n):
            bleus[k] *= math.exp(1 - 1 / ratio)
    return bleus, bleu_list


# ---- cider_scorer.py (port)
def cider_precook(s, n=4):
    words = s.split()
    counts = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def cider_compute(tests, refss, n=4, sigma=6.0):
    crefs = [[cider_precook(r, n) for r in refs] for refs in refss]
    ctest = [cider_precook(t, n) for t in tests]
    document_frequency = defaultdict(float)
    for refs in crefs:
        for ngram in set([ngram for ref in refs for (ngram, count) in ref.items()]):
            document_frequency[ngram] += 1
    assert len(ctest) >= max(document_frequency.values())
    ref_len = np.log(float(len(crefs)))

    def counts2vec(cnts):
        vec = [defaultdict(float) for _ in range(n)]
        length = 0
        norm = [0.0 for _ in range(n)]
        for (ngram, term_freq) in cnts.items():
            df = np.log(max(1.0, document_frequency[ngram]))
            nn = len(ngram) - 1
            vec[nn][ngram] = float(term_freq) * (ref_len - df)
            norm[nn] += pow(vec[nn][ngram], 2)
            if nn == 1:
                length += term_freq
        norm = [np.sqrt(x) for x in norm]
        return vec, norm, length

    def sim(vec_hyp, vec_ref, norm_hyp, norm_ref, length_hyp, length_ref):
        delta = float(length_hyp - length_ref)
        val = np.array([0.0 for _ in range(n)])
        for nn in range(n):
            for (ngram, count) in vec_hyp[nn].items():
                val[nn] += min(vec_hyp[nn][ngram], vec_ref[nn][ngram]) * vec_ref[nn][ngram]
            if (norm_hyp[nn] != 0) and (norm_ref[nn] != 0):
                val[nn] /= (norm_hyp[nn] * norm_ref[nn])
            assert not math.isnan(val[nn])
            val[nn] *= np.e ** (-(delta ** 2) / (2 * sigma ** 2))
        return val

    scores = []
    for test, refs in zip(ctest, crefs):
        vec, norm, length = counts2vec(test)
        score = np.array([0.0 for _ in range(n)])
        for ref in refs:
            vec_ref, norm_ref, length_ref = counts2vec(ref)
            score += sim(vec, vec_ref, norm, norm_ref, length, length_ref)
        score_avg = np.mean(score)
        score_avg /= len(refs)
        score_avg *= 10.0
        scores.append(score_avg)
    return float(np.mean(np.array(scores))), [float(s) for s in scores]


# ---- random corpora with overlaps
WORDS = ['a', 'red', 'blue', 'green', 'sneaker', 'bag', 'dress', 'to', 'the', 'left', 'of',
         'right', 'and', 'above', 'below', 'coat', 't-shirt', 'white', 'on', 'dark']
NOISE = [',', '.', 'Red', 'A', 'bag.', '(blue)', '-', "'", 'Dress,']


def random_sentence(rng, base=None):
    if base is not None and rng.random() < 0.7:
        words = base.split()
        # mutate: substitute, drop, insert a few words
        out = []
        for w in words:
            r = rng.random()
            if r < 0.15:
                out.append(rng.choice(WORDS))
            elif r < 0.25:
                continue
            else:
                out.append(w)
            if rng.random() < 0.08:
                out.append(rng.choice(WORDS))
        words = out
    else:
        words = [rng.choice(WORDS) for _ in range(rng.randint(1, 12))]
    if rng.random() < 0.3:
        words.insert(rng.randint(0, len(words)), rng.choice(NOISE))
    return ' '.join(words)


def make_case(rng, nimg):
    cands, refss = [], []
    for _ in range(nimg):
        base = random_sentence(rng)
        refs = [random_sentence(rng, base) for _ in range(rng.randint(1, 5))]
        cand = random_sentence(rng, base)
        if rng.random() < 0.05:
            cand = rng.choice(['', ' , . ', 'bag'])
        cands.append(cand)
        refss.append(refs)
    return cands, refss


def main():
    out = sys.argv[1]
    rng = random.Random(2026)
    cases = []
    sizes = [1, 2, 3, 5, 8, 13, 20, 40, 2, 4]
    for nimg in sizes:
        cands, refss = make_case(rng, nimg)
        t = [tokenize(c) for c in cands]
        r = [[tokenize(x) for x in refs] for refs in refss]
        bleus, blist = bleu_compute(t, r)
        cider, cscores = cider_compute(t, r)
        cases.append({'candidates': cands, 'references': refss, 'bleu': bleus,
                      'bleu4_per_image': blist[3], 'cider_d': cider,
                      'cider_d_per_image': cscores})
    with open(os.path.join(out, 'cases.json'), 'w') as f:
        json.dump(cases, f)


if __name__ == '__main__':
    main()

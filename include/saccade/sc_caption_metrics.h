/* saccade: caption evaluation metrics, computed exactly as the COCO caption
 * toolkit (pycocoevalcap: bleu/bleu_scorer.py, cider/cider_scorer.py) does.
 *
 * Tokenisation. The toolkit runs Stanford's PTBTokenizer (-lowerCase) and
 * drops punctuation tokens (. , ? ! : ; - -- ... ' '' ` `` and brackets).
 * saccade applies a simple equivalent, sc_caption_tokenize: ASCII letters are
 * lowercased, tokens are separated by whitespace, characters . , ? ! : ; " `
 * ( ) [ ] { } are stripped from both ends of each token and tokens left empty
 * or made only of punctuation (including "-", "--", "'") are dropped.
 * Inner hyphens and apostrophes stay ("t-shirt" is one token). For captions
 * that are already lowercase words separated by spaces (saccade's scene
 * captions) this is the identity.
 *
 * BLEU-1..4 (Bleu(4).compute_score): corpus level. Per image, candidate
 * n-gram counts are clipped by the maximum count of that n-gram in any one
 * reference; 'guess' is max(0, len - k + 1); the effective reference length
 * is the 'closest' one (smallest |ref_len - cand_len|, ties to the shorter
 * reference). Sums over images of correct/guess/lengths then give
 *   bleu_k = (prod_{j<=k} (correct_j + 1e-15) / (guess_j + 1e-9))^(1/k)
 * times the brevity penalty exp(1 - 1/ratio) when
 * ratio = (testlen + 1e-15) / (reflen + 1e-9) < 1.
 *
 * CIDEr-D (Cider().compute_score, n = 4, sigma = 6): document frequency
 * df(g) = number of images whose references contain n-gram g, over the
 * evaluated set; tf-idf vectors tf * (log(N_images) - log(max(1, df)));
 * per n, sum over candidate n-grams of min(v_cand, v_ref) * v_ref divided by
 * the two norms (when both are nonzero), times exp(-delta^2 / (2 sigma^2))
 * where delta is the difference of the candidate's and reference's "length"
 * (the toolkit counts bigrams there: max(0, words - 1)); averaged over n and
 * over references, times 10. The corpus score is the mean over images. With
 * a single image log(N) = 0 and every CIDEr-D is 0, as in the toolkit. */
#ifndef SACCADE_SC_CAPTION_METRICS_H
#define SACCADE_SC_CAPTION_METRICS_H

#include <stddef.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_CAPTION_MAX_CHARS 100000 /* longer captions are refused (SC_ERR_LIMIT) */

typedef struct sc_caption_scores {
    double bleu[4];            /* BLEU-1..4, corpus level */
    double cider_d;            /* mean of cider_d_per_image */
    double *cider_d_per_image; /* n values (owned; sc_caption_scores_free) */
    double *bleu4_per_image;   /* n sentence-level BLEU-4 as the toolkit lists them (owned) */
    size_t n;
} sc_caption_scores;

/* candidates[i]: the candidate caption of image i. references[i]: its
 * reference captions, n_refs[i] of them (>= 1); when n_refs is NULL each
 * references[i] is a NULL-terminated list. n >= 1 images. Strings are
 * tokenised with sc_caption_tokenize. */
sc_status sc_caption_metrics_compute(const char *const *candidates,
                                     const char *const *const *references, const size_t *n_refs,
                                     size_t n, sc_caption_scores *out);
void sc_caption_scores_free(sc_caption_scores *s);

/* Tokenise as described above into out (cap bytes): tokens joined by single
 * spaces, NUL-terminated. Returns the number of tokens, or -1 (with the error
 * set) when out is too small or text is NULL. */
int sc_caption_tokenize(const char *text, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif

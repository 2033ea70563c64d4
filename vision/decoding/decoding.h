/* Pieces shared by the text decoders of the encoder-decoder captioners
 * (BLIP's BERT decoder, vision/blip/; ViT-GPT2's GPT-2, vision/vitgpt2/):
 * attention over a key/value cache, cross-attention to image tokens, the
 * per-word attention map, and transformers' beam search. Not installed. */
#ifndef SACCADE_DECODING_H
#define SACCADE_DECODING_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

struct sc_arena;

/* A decoder's inference memory, carved from one arena for (rows, cap): rows
 * sequences (beams) of at most cap tokens, with a key/value cache. */
typedef struct dec_state {
    int rows, cap;            /* planned sizes */
    int len;                  /* tokens in the self-attention cache */
    float *self_k, *self_v;   /* (layers, rows, cap, D) */
    float *self_k2, *self_v2; /* the same, for reordering beams */
    float *img_k, *img_v;     /* (layers, Ti, D): the image's cross-attention keys / values */
    float *h, *h2, *q, *ctx, *tmp, *ff; /* (rows * n, D or F) work rows for n new tokens */
    float *scores;                      /* (rows * n, max(cap, Ti)) */
    float *cross;  /* (rows * n, layers, heads, Ti) cross-attention of the last call */
    float *logits; /* (rows * n_logits, V) */
    float *image;  /* (Ti, Dv) the image features the keys / values came from */
    int work_rows; /* rows x new tokens one call may take (h, q, ... hold that many) */
} dec_state;

typedef struct dec_dims {
    int layers, D, F, V, H; /* decoder layers, width, feed-forward width, vocabulary, heads */
    int Ti, Dv;             /* image tokens and their width */
} dec_dims;

/* Plan s for rows x cap with up to n_new tokens per call for all rows, or cap
 * tokens for one row; re-plans (a new *arena, the old one freed) only when
 * larger, and empties the cache either way. Returns 1 in *replanned when the
 * memory is new (the image keys / values are then gone). who names the
 * model in messages. */
sc_status dec_plan(dec_state *s, struct sc_arena **arena, const dec_dims *d, int rows, int cap,
                   int n_new, int *replanned, const char *who);
/* Gather rows of the self-attention cache: new row r = old row src[r]. */
void dec_reorder(dec_state *s, int layers, int D, int rows, const int *src);

/* Causal multi-head self-attention (H heads over width D) of n new tokens of
 * each of `rows` rows over a key/value cache: q (rows * n, D) the scaled-by-
 * caller-free queries; K, V hold, per row (stride row_stride floats), the
 * keys / values of past + n tokens (D each). The query of new token i sees
 * keys 0..past + i (a masked key gets weight 0: the -10000 of BERT and the
 * float minimum of GPT-2 both underflow). Scores are q k / sqrt(D / H).
 * ctx (rows * n, D) receives the output; scores is scratch (n, past + n);
 * probs, when non-NULL (rows 1, past 0), receives each head's (n, n)
 * probabilities as (H, n, n). */
void dec_self_attention(int rows, int n, int past, int H, int D, const float *q, const float *K,
                        const float *V, size_t row_stride, float *scores, float *ctx, float *probs);

/* Adds delta to one probability of one head before it is used (finite-
 * difference checks of a gradient). */
typedef struct dec_nudge {
    int head;
    size_t index; /* query * Ti + key */
    float delta;
} dec_nudge;

/* Multi-head attention (no mask) of R queries q (R, D) to Ti keys / values
 * IK, IV (Ti, D), scores q k / sqrt(D / H): ctx (R, D). When probs is
 * non-NULL, query i's head h probabilities go to
 * probs[((i * layers + layer) * H + h) * Ti ...]. scores is scratch (R, Ti);
 * nudge may be NULL. */
void dec_cross_attention(int R, int Ti, int H, int D, const float *q, const float *IK,
                         const float *IV, float *scores, float *ctx, float *probs, int layer,
                         int layers, const dec_nudge *nudge);

/* Word t's maps in a caption from the cross-attention (layers, H, Ti) of the
 * query that produced it (image token 0 the class token): attention[t] (the
 * Ti - 1 patches) and class_attention[t] the mean over the heads in mask
 * (bit h = head h, 0 = all) of layer `layer`; attention_all[t] (when not
 * NULL) all of it. */
struct sc_blip_caption;
void dec_record_word(struct sc_blip_caption *out, int t, const float *cross, int layers, int H,
                     int Ti, int layer, uint64_t mask);

/* The model a beam search drives: after a step, logits(ctx) holds (rows, V)
 * logits of each row's last token (the search overwrites them). */
typedef struct dec_beam_model {
    void *ctx;
    int vocab, eos, pad;
    float *(*logits)(void *ctx);
    sc_status (*step)(void *ctx, int rows, const int *ids); /* one new token per row */
    void (*reorder)(void *ctx, int rows, const int *src);   /* cache row r = old row src[r] */
} dec_beam_model;

typedef struct dec_beam_params {
    int beams;            /* 2..DEC_MAX_BEAMS */
    int max_new;          /* new tokens at most, eos included */
    int min_new;          /* no eos before this many new tokens */
    float length_penalty; /* score = sum log p / new_tokens^length_penalty */
    int early_stopping;   /* 0 false, 1 true, 2 "never" */
} dec_beam_params;

#define DEC_MAX_BEAMS 64

/* transformers 5.x's vectorised beam search (GenerationMixin._beam_search)
 * for one input, from the logits of the first step (every row the same
 * prefix of n0 tokens): 2 x beams candidates per step, finished hypotheses
 * only from the top `beams` ranks, the early-stop heuristic. best (max_new)
 * receives the best hypothesis's new tokens (eos included when it ended
 * there), *best_len their count, *score its score. */
sc_status dec_beam_search(const dec_beam_model *m, const dec_beam_params *p, int n0, int *best,
                          int *best_len, float *score);

#endif

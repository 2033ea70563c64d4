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

/* Multi-head self-attention (H heads over width D) of n new tokens of each
 * of `rows` rows over a key/value cache: q (rows * n, D) the queries; K, V
 * hold, per row (stride row_stride floats), the keys / values of past + n
 * tokens (D each). When causal, the query of new token i sees keys
 * 0..past + i (a masked key gets weight 0: the -10000 of BERT and the float
 * minimum of GPT-2 both underflow), else every key (a bidirectional text
 * encoder). Scores are q k / sqrt(D / H).
 * ctx (rows * n, D) receives the output; scores is scratch (n, past + n);
 * probs, when non-NULL (rows 1, past 0), receives each head's (n, n)
 * probabilities as (H, n, n). */
void dec_self_attention(int rows, int n, int past, int H, int D, int causal, const float *q,
                        const float *K, const float *V, size_t row_stride, float *scores,
                        float *ctx, float *probs);

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

/* ---------------------------------------------------------------- the block
 * One transformer decoder layer with a key/value cache and cross-attention
 * to image tokens, in both arrangements of its three sublayers (self-
 * attention, cross-attention, feed-forward):
 *   post-LN (BERT, BLIP's text decoder)   x = LN(x + f(x))
 *   pre-LN  (GPT-2)                       x = x + f(LN(x))
 * A new encoder-decoder is then a dec_block (sizes, arrangement, activation,
 * eps), its layers' weight views and its own embeddings and head. */

/* A linear map's weights as the file stores them: y = x W^T + b with W
 * (out, ld) (nn.Linear), or y = x W + b with W (in, ld) (GPT-2's Conv1D); ld
 * lets a view take columns of a stacked weight (c_attn's q | k | v). */
typedef struct dec_linear {
    const float *w, *b; /* b (out) or NULL */
    int ld;
    int in_major;
} dec_linear;

typedef struct dec_layer {
    dec_linear q, k, v, o;          /* self-attention (D -> D) */
    dec_linear xq, xk, xv, xo;      /* cross-attention; xk, xv map the image (Dimg -> D) */
    dec_linear up, down;            /* feed-forward D -> F -> D */
    const float *ln_w[3], *ln_b[3]; /* LayerNorm of each sublayer (D) */
} dec_layer;

typedef struct dec_block {
    int pre_ln; /* 1: x + f(LN(x)); 0: LN(x + f(x)) */
    int causal; /* 1: a decoder's masked self-attention; 0: bidirectional (an encoder) */
    int cross;  /* 1: the cross-attention sublayer runs; 0: skipped (text alone) */
    int act;    /* sc_activation of the feed-forward */
    float eps;  /* LayerNorm eps */
    int layers, D, F, H;
    int Ti, Dimg; /* cross-attention inputs (image tokens, or other states) and their width */
} dec_block;

/* What the backward of one query position needs from a teacher-forced
 * forward of one row from position 0 (the Grad-CAM of BLIP and ViT-GPT2): n
 * positions, L layers, H heads. */
typedef struct dec_trace {
    int n;
    float *sq, *sk, *sv; /* (L, n, D) self-attention queries, keys, values */
    float *sp;           /* (L, H, n, n) self-attention probabilities */
    float *r1, *r2, *r3; /* (L, n, D) what the three LayerNorms of a layer normalise: the
                            sums x + f(x) (post-LN), the sublayers' inputs x (pre-LN) */
    float *ff;           /* (L, n, F) feed-forward pre-activations */
    float *hd;           /* (n, D) the model's head output it records itself */
} dec_trace;

/* The work vectors of a one-query backward through the layers (the Grad-CAM
 * of BLIP and ViT-GPT2). */
typedef struct dec_grad_scratch {
    float *dh, *a, *b, *c, *d, *dq, *dk, *dv; /* (D) */
    float *f, *f2, *gz, *dP, *dS;             /* (F), (F), (V), (max(n, Ti)) x 2 */
} dec_grad_scratch;
/* x (n floats) zeroed and returned, for the backward kernels that
 * accumulate into their output. */
float *dec_zeroed(float *x, int n);
/* A trace of n positions (L layers of width D, feed-forward F, H heads) and
 * the scratch for a vocabulary of V and Ti image tokens in one block:
 * returned (free() it), NULL when out of memory (message set). */
float *dec_grad_alloc(dec_trace *tr, dec_grad_scratch *w, int L, int n, int D, int F, int H, int V,
                      int Ti);

/* A model a one-query backward runs on: forward runs seq (one row from
 * position 0) teacher-forced on the image features, recorded in tr, and
 * points *cross at its cross-attention (n, layers, H, Ti); grad_at gives
 * d log p(target at query q) / d cross-attention of `layer` at q (H, Ti). */
typedef struct dec_grad_model {
    void *ctx;
    int layers, D, F, H, V, Ti;
    sc_status (*forward)(void *ctx, const float *features, const int *seq, int n, dec_trace *tr,
                         const float **cross);
    void (*grad_at)(void *ctx, const dec_trace *tr, int q, int target, int layer, float *grad,
                    dec_grad_scratch *w);
} dec_grad_model;
/* For every q in q0..n - 2: grad and attn ((n - 1 - q0), H, Ti; attn may
 * be NULL) of log p(seq[q + 1] | seq[0..q]) w.r.t. the cross-attention
 * probabilities of `layer` for query q (the caller checks the sizes). */
sc_status dec_cross_attention_grads(const dec_grad_model *g, const float *features, const int *seq,
                                    int n, int q0, int layer, float *grad, float *attn);

/* The backward of query q's cross-attention heads in one layer, from d of
 * its context dctx (D): with grad (H, Ti) given, the gradient of the
 * probabilities goes there and stops (the layer the maps are taken at); with
 * grad NULL it goes on through the softmax into w->dq (D). Pq (H, Ti) are
 * q's probabilities, IK / IV (Ti, D) the image's keys and values, constants
 * here. */
void dec_cross_row_backward(const float *dctx, const float *Pq, const float *IK, const float *IV,
                            int Ti, int H, int D, float *grad, dec_grad_scratch *w);
/* The backward of query q's causal self-attention in layer l of the trace,
 * from d of its context dctx (D), into w->dq, w->dk, w->dv (D): q's query
 * and its own key and value; the keys and values of positions < q are
 * constants. */
void dec_self_row_backward(const dec_trace *tr, int l, int q, int H, int D, const float *dctx,
                           dec_grad_scratch *w);

/* Adds delta to one cross-attention probability in the forward (finite
 * differences of a gradient): layer, head, query row, key. */
typedef struct dec_probe {
    int on, layer, head, query, key;
    float delta;
} dec_probe;

/* y (R, out) = x (R, in) through l. */
void dec_linear_apply(float *y, const float *x, const dec_linear *l, int R, int in, int out);
/* Its backward for the input: dx (R, in) += dy (R, out) through l's
 * transpose. */
void dec_linear_backward(float *dx, const float *dy, const dec_linear *l, int R, int in, int out);
/* Gradient-weighted cross-attention maps: out (n, G, G) = mean over the
 * heads in mask (bit h = head h, 0 = all) of A * max(dA, 0) over the patches
 * (image token 0, the class token, left out), from grad dA and attn A (n, H,
 * Ti = 1 + G*G). */
void dec_gradcam_maps(const float *grad, const float *attn, int n, int H, int G, uint64_t mask,
                      float *out);
/* The image's cross-attention keys and values of every layer into s->img_k /
 * img_v from image (Ti, Dimg). */
void dec_block_image(const dec_block *b, const dec_layer *L, dec_state *s, const float *image);
/* The layers over n new tokens of each of `rows` rows: s->h (rows * n, D)
 * holds their embeddings and receives the output; the new keys / values join
 * the cache (s->len is not advanced: the caller does it after its head);
 * s->cross receives every layer's cross-attention. trace (one row from
 * position 0, post-LN) and probe may be NULL. */
sc_status dec_block_forward(const dec_block *b, const dec_layer *L, dec_state *s, int rows, int n,
                            dec_trace *trace, const dec_probe *probe);
/* The rows a head reads after dec_block_forward: every token's (s->h,
 * rows * n of them) when all, else each row's last one (gathered into s->h2). */
const float *dec_head_rows(dec_state *s, int rows, int n, int D, int all);

/* Word t's maps in a caption from the cross-attention (layers, H, Ti) of the
 * query that produced it (image token 0 the class token): attention[t] (the
 * Ti - 1 patches) and class_attention[t] the mean over the heads in mask
 * (bit h = head h, 0 = all) of layer `layer`; attention_all[t] (when not
 * NULL) all of it. */
struct sc_blip_caption;
void dec_record_word(struct sc_blip_caption *out, int t, const float *cross, int layers, int H,
                     int Ti, int layer, uint64_t mask);

/* The model a beam search drives: after a step, logits(ctx) holds (rows, V)
 * logits of each row's last token (the search overwrites them). A hypothesis
 * ends at any of the n_eos stop ids eos[] (1..DEC_MAX_EOS). */
typedef struct dec_beam_model {
    void *ctx;
    int vocab, pad;
    const int *eos;
    int n_eos;
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
#define DEC_MAX_EOS 8

/* 1 when tok is one of the n stop ids eos[]. */
int dec_is_eos(const int *eos, int n, int tok);

/* transformers 5.x's vectorised beam search (GenerationMixin._beam_search)
 * for one input, from the logits of the first step (every row the same
 * prefix of n0 tokens): max(2, 1 + stop ids) x beams candidates per step, finished hypotheses
 * only from the top `beams` ranks, the early-stop heuristic. best (max_new)
 * receives the best hypothesis's new tokens (eos included when it ended
 * there), *best_len their count, *score its score. */
sc_status dec_beam_search(const dec_beam_model *m, const dec_beam_params *p, int n0, int *best,
                          int *best_len, float *score);

#endif

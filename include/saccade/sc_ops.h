/* saccade: numeric kernels, second half — embedding, LSTM cell, softmax,
 * cross-entropy, dropout, reductions, concatenation and elementwise ops.
 *
 * Conventions (shared with sc_nn.h):
 *  - raw row-major float32 pointers with explicit int dimensions (llm.c style);
 *    flat elementwise counts are size_t;
 *  - every function validates its arguments first and returns sc_status
 *    (SC_ERR_INVALID_ARG for NULL / non-positive dims / out-of-range ids,
 *    SC_ERR_NOMEM when scratch memory cannot be had); on failure nothing has
 *    been written;
 *  - backward functions ACCUMULATE (+=) into gradient buffers (callers zero
 *    them) and any gradient pointer may be NULL to skip that gradient;
 *  - token ids and class targets are int32_t;
 *  - results are deterministic for a fixed thread count (sums in double, no
 *    atomics).
 * Semantics follow PyTorch (torch 1.13) unless stated otherwise. */
#ifndef SACCADE_SC_OPS_H
#define SACCADE_SC_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"
#include "saccade/sc_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- embedding */

/* out[b, :] = W[ids[b], :] for b < n; W is (vocab, dim), out is (n, dim).
 * Any id outside [0, vocab) -> SC_ERR_INVALID_ARG (nothing read or written). */
sc_status sc_embedding_forward(const int32_t *ids, int n, const float *W, int vocab, int dim,
                               float *out);
/* dW[ids[b], :] += dout[b, :]. Rows equal to padding_idx get no gradient (as
 * nn.Embedding(padding_idx=...)); padding_idx < 0 means none. Deterministic:
 * parallel over column blocks, tokens summed in order. */
sc_status sc_embedding_backward(const int32_t *ids, int n, const float *dout, int vocab, int dim,
                                int padding_idx, float *dW);

/* ---------------------------------------------------------------- LSTM cell */

/* nn.LSTMCell(I, H): weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H),
 * bias_hh (4H), gate order i, f, g, o:
 *   [i f g o] = act(x W_ih^T + b_ih + h W_hh^T + b_hh)   (sigmoid, sigmoid, tanh, sigmoid)
 *   c' = f * c + i * g,  h' = o * tanh(c')
 * Cache layout (what backward needs besides the inputs): SC_LSTM_CACHE_FLOATS(B, H)
 * floats, per row b a block of 5H floats: [i | f | g | o | tanh(c')] (activated
 * gates, then tanh of the new cell). */
#define SC_LSTM_CACHE_FLOATS(B, H) ((size_t)(B)*5u * (size_t)(H))

/* x (B, I); h_prev, c_prev (B, H) or NULL for zeros (PyTorch hx=None);
 * b_ih / b_hh may be NULL (bias=False). Writes h_out, c_out (B, H), which must
 * not alias the inputs. cache may be NULL when no backward follows. */
sc_status sc_lstm_cell_forward(int B, int I, int H, const float *x, const float *h_prev,
                               const float *c_prev, const float *w_ih, const float *w_hh,
                               const float *b_ih, const float *b_hh, float *h_out, float *c_out,
                               float *cache);

/* Gradients for one step given dh_out = dL/dh' and dc_out = dL/dc' (either may
 * be NULL for zero). x, h_prev, c_prev (NULL as in forward), w_ih, w_hh and
 * cache must be those of the forward call. Accumulates into dx (B, I),
 * dh_prev (B, H), dc_prev (B, H), dw_ih, dw_hh, db_ih, db_hh; any may be NULL.
 * For backprop through time pass dc_prev of step t as dc_out of step t-1
 * and add dh_prev of step t to the upstream dh of step t-1. */
sc_status sc_lstm_cell_backward(int B, int I, int H, const float *x, const float *h_prev,
                                const float *c_prev, const float *w_ih, const float *w_hh,
                                const float *cache, const float *dh_out, const float *dc_out,
                                float *dx, float *dh_prev, float *dc_prev, float *dw_ih,
                                float *dw_hh, float *db_ih, float *db_hh);

/* ---------------------------------------------------------------- softmax */

/* Over the last dim of (rows, n), max-subtracted (stable). y may equal x. */
sc_status sc_softmax_forward(const float *x, int rows, int n, float *y);
/* dx += y * (dy - sum(dy * y)), y the forward output. */
sc_status sc_softmax_backward(const float *y, const float *dy, int rows, int n, float *dx);
sc_status sc_log_softmax_forward(const float *x, int rows, int n, float *y);
/* dx += dy - exp(y) * sum(dy), y the forward output. */
sc_status sc_log_softmax_backward(const float *y, const float *dy, int rows, int n, float *dx);

/* ---------------------------------------------------------------- cross-entropy */

typedef enum sc_reduction {
    SC_REDUCE_MEAN = 0,
    SC_REDUCE_SUM = 1,
    SC_REDUCE_NONE = 2 /* cross-entropy only: one loss per sample */
} sc_reduction;

typedef struct sc_ce_opts {
    int ignore_index;           /* targets equal to this are skipped (default -100) */
    float label_smoothing;      /* in [0, 1] (default 0) */
    const float *sample_weight; /* (N) per-sample weight/mask >= 0, or NULL for 1 */
    sc_reduction reduction;     /* default SC_REDUCE_MEAN */
} sc_ce_opts;
#define SC_CE_OPTS_DEFAULT                                                                         \
    { -100, 0.0f, NULL, SC_REDUCE_MEAN }

/* F.cross_entropy(logits (N, C), targets (N)) with per-sample loss
 *   l_i = w_i * [(1-eps) * -log p_i[t_i] + eps/C * sum_c -log p_i[c]]
 * and l_i = 0 for ignored samples. MEAN = sum l_i / sum_{not ignored} w_i
 * (with w = 1 this is torch's mean over non-ignored targets), SUM = sum l_i,
 * NONE = the N values l_i. Divergence from torch: when the MEAN denominator is
 * 0 (all targets ignored, or all weights 0) torch returns nan; saccade returns
 * 0 with zero gradient, so a fully padded batch does not poison training.
 * Targets outside [0, C) that are not ignore_index -> SC_ERR_INVALID_ARG.
 * loss: 1 float (N for NONE). dlogits (N, C), if non-NULL, accumulates the
 * gradient of the loss weighted by dloss (1 float, N for NONE; NULL = ones).
 * opts NULL = SC_CE_OPTS_DEFAULT. */
sc_status sc_cross_entropy(const float *logits, const int32_t *targets, int N, int C,
                           const sc_ce_opts *opts, float *loss, const float *dloss, float *dlogits);

/* Mask-mass loss (attention supervision, e.g. Liu et al. 2017): for n maps
 * of P weights and masks (n x P bytes, nonzero = target cell), the mean over
 * the maps whose mask is not all zero of -log(SC_MASK_MASS_EPS + sum of the
 * map inside its mask), times w. *loss gets it (0 when no map is masked) and
 * *count, if non-NULL, the number of masked maps. dmaps (n x P), if non-NULL,
 * is OVERWRITTEN with the gradient: -w / (count (eps + mass)) on masked cells,
 * 0 elsewhere. w must be finite and >= 0. */
#define SC_MASK_MASS_EPS 1e-6
sc_status sc_mask_mass_nll(const float *maps, const uint8_t *masks, int n, int P, float w,
                           double *loss, int *count, float *dmaps);

/* ---------------------------------------------------------------- dropout */

/* Inverted dropout on n values. train != 0: mask[i] = 0 with probability p,
 * else 1/(1-p), drawn from rng in index order (seeded, reproducible);
 * out = x * mask. p == 1 gives all zeros (as torch), p == 0 the identity
 * (mask all 1, rng untouched). train == 0: out = x, mask and rng unused (may
 * be NULL). p must be in [0, 1]. out may equal x. */
sc_status sc_dropout_forward(const float *x, size_t n, float p, int train, sc_rng *rng, float *mask,
                             float *out);
/* dx += dout * mask (mask NULL = eval mode: dx += dout). */
sc_status sc_dropout_backward(const float *dout, const float *mask, size_t n, float *dx);

/* ---------------------------------------------------------------- reductions */

/* Sum or mean over the middle axis of an (outer, n, inner) view:
 * out (outer, inner). Whole-tensor reduction: outer = inner = 1. */
sc_status sc_reduce_forward(const float *x, int outer, int n, int inner, sc_reduction op,
                            float *out);
/* dx[o, j, k] += dout[o, k] (times 1/n for the mean). */
sc_status sc_reduce_backward(const float *dout, int outer, int n, int inner, sc_reduction op,
                             float *dx);
/* Whole-array sum / mean of n values (double accumulation) into *out. */
sc_status sc_sum_all(const float *x, size_t n, float *out);
sc_status sc_mean_all(const float *x, size_t n, float *out);

/* ---------------------------------------------------------------- concat */

/* out (outer, sum ns, inner) = cat of k inputs xs[i] (outer, ns[i], inner)
 * along the middle axis (torch.cat on dim = number of outer dims). */
sc_status sc_concat_forward(int k, const float *const *xs, const int *ns, int outer, int inner,
                            float *out);
/* dxs[i] += the matching slice of dout; dxs or any dxs[i] may be NULL. */
sc_status sc_concat_backward(int k, const int *ns, int outer, int inner, const float *dout,
                             float *const *dxs);

/* ---------------------------------------------------------------- elementwise */

/* out = alpha * a + beta * b (the residual add is alpha = beta = 1).
 * out may alias a or b. */
sc_status sc_add_forward(const float *a, const float *b, size_t n, float alpha, float beta,
                         float *out);
/* da += alpha * dout, db += beta * dout. */
sc_status sc_add_backward(const float *dout, size_t n, float alpha, float beta, float *da,
                          float *db);
/* y += alpha * x. */
sc_status sc_axpy(size_t n, float alpha, const float *x, float *y);
/* out = a * b elementwise (out may alias a or b). */
sc_status sc_mul_forward(const float *a, const float *b, size_t n, float *out);
/* da += dout * b, db += dout * a. */
sc_status sc_mul_backward(const float *a, const float *b, const float *dout, size_t n, float *da,
                          float *db);

#ifdef __cplusplus
}
#endif
#endif

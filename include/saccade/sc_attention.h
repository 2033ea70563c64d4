/* saccade: attention kernels (generic; nothing here knows about images).
 *
 *   - additive (Bahdanau / Show, Attend and Tell) soft attention over P positions,
 *     with the encoder projection split out so it is computed once per sequence;
 *   - scaled dot-product attention with boolean masks and attention dropout;
 *   - multi-head attention with nn.MultiheadAttention's weights (batch_first);
 *   - a Transformer encoder layer as nn.TransformerEncoderLayer (batch_first,
 *     pre- or post-norm, relu or gelu);
 *   - ViT patch embedding (a stride = kernel = patch conv done as gemm), class
 *     token + position embeddings, fixed 2-D sin-cos embeddings, attention rollout;
 *   - hard (stochastic) attention sampling for REINFORCE experiments.
 *
 * Conventions (as sc_ops.h / sc_nn.h): raw row-major float32 pointers with
 * explicit int dims; functions validate their arguments and return sc_status
 * (nothing written on failure); backward functions ACCUMULATE (+=) into
 * gradient buffers and any gradient pointer may be NULL; weights are laid out
 * as PyTorch stores them (linear weight (out, in)). Forward passes that a
 * backward pass revisits take a caller-provided cache whose size is given by a
 * *_cache_floats() function (0 on invalid sizes/overflow); forward passes do
 * not allocate. Semantics follow PyTorch 1.13 unless stated otherwise. */
#ifndef SACCADE_SC_ATTENTION_H
#define SACCADE_SC_ATTENTION_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"
#include "saccade/sc_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ additive attention
 * features f (B, P, E), decoder hidden h (B, H), attention dim A:
 *   proj = f W_enc^T + b_enc                       (B, P, A)  "precompute"
 *   u    = act(proj + (h W_dec^T + b_dec)[:, None]) (B, P, A)
 *   e    = u w_full^T + b_full                     (B, P)
 *   alpha = softmax_P(e),  context = sum_p alpha[b, p] f[b, p, :]   (B, E)
 * act = relu: the `Attention` module of sgrvinod's a-PyTorch-Tutorial-to-Image-
 * Captioning; act = tanh: the original Show, Attend and Tell formulation.
 * Weight names: encoder_att.weight (A, E) / .bias (A), decoder_att.weight
 * (A, H) / .bias (A), full_att.weight (1, A) / .bias (1). Biases may be NULL. */
typedef enum sc_addatt_act { SC_ADDATT_RELU = 0, SC_ADDATT_TANH = 1 } sc_addatt_act;

typedef struct sc_addatt_desc {
    int B, P, E, H, A;
    sc_addatt_act act;
} sc_addatt_desc;

typedef struct sc_addatt_weights {
    const float *encoder_att_weight, *encoder_att_bias;
    const float *decoder_att_weight, *decoder_att_bias;
    const float *full_att_weight, *full_att_bias;
} sc_addatt_weights;

typedef struct sc_addatt_grads { /* any member may be NULL */
    float *encoder_att_weight, *encoder_att_bias;
    float *decoder_att_weight, *decoder_att_bias;
    float *full_att_weight, *full_att_bias;
} sc_addatt_grads;

/* Floats of the per-step cache (u and alpha): B*P*A + B*P. */
size_t sc_addatt_step_cache_floats(const sc_addatt_desc *d);
/* Floats of the one-shot cache (proj + step cache): 2*B*P*A + B*P. */
size_t sc_addatt_cache_floats(const sc_addatt_desc *d);

/* proj (B, P, A) = encoder_att(f). Once per image/sequence. */
sc_status sc_addatt_precompute(const sc_addatt_desc *d, const float *features,
                               const sc_addatt_weights *w, float *proj);
/* Backward of the precompute: dfeatures += dproj W_enc, dW_enc += dproj^T f,
 * db_enc += sum dproj. Call once per sequence with dproj summed over steps. */
sc_status sc_addatt_precompute_backward(const sc_addatt_desc *d, const float *features,
                                        const sc_addatt_weights *w, const float *dproj,
                                        float *dfeatures, sc_addatt_grads *g);
/* One decoding step from the precomputed proj. Writes context (B, E) and
 * alpha (B, P) (alpha may be NULL). cache (step_cache_floats) is required: it
 * is the workspace, and holds what the backward needs. */
sc_status sc_addatt_step_forward(const sc_addatt_desc *d, const float *features, const float *proj,
                                 const float *hidden, const sc_addatt_weights *w, float *context,
                                 float *alpha, float *cache);
/* Backward of one step given dcontext (B, E) and/or dalpha (B, P) (either
 * NULL = 0). Accumulates dfeatures (B, P, E) (the direct path through the
 * weighted sum), dproj (B, P, A), dhidden (B, H) and the decoder_att / full_att
 * gradients in g (encoder_att grads are untouched: they come from
 * sc_addatt_precompute_backward). Scratch: allocates B*P*A floats. */
sc_status sc_addatt_step_backward(const sc_addatt_desc *d, const float *features,
                                  const float *hidden, const sc_addatt_weights *w,
                                  const float *cache, const float *dcontext, const float *dalpha,
                                  float *dfeatures, float *dproj, float *dhidden,
                                  sc_addatt_grads *g);
/* One-shot forward (precompute + step; cache of sc_addatt_cache_floats) and
 * its full backward (all grads; allocates 2*B*P*A floats of scratch). */
sc_status sc_addatt_forward(const sc_addatt_desc *d, const float *features, const float *hidden,
                            const sc_addatt_weights *w, float *context, float *alpha, float *cache);
sc_status sc_addatt_backward(const sc_addatt_desc *d, const float *features, const float *hidden,
                             const sc_addatt_weights *w, const float *cache, const float *dcontext,
                             const float *dalpha, float *dfeatures, float *dhidden,
                             sc_addatt_grads *g);

/* ================================================================ scaled dot-product attention
 * Batched over B and nh heads with "packed heads" layout (the layout
 * nn.MultiheadAttention's projections produce, so no transposes are needed):
 *   q (B, Lq, nh*D), k (B, Lk, nh*D), v (B, Lk, nh*Dv), out (B, Lq, nh*Dv);
 *   head h of batch b uses columns [h*D, (h+1)*D). nh = 1 is plain (B, L, D).
 *   S = q_h k_h^T / sqrt(D);  attn = softmax(S over keys)  (B, nh, Lq, Lk);
 *   out_h = dropout(attn) v_h.
 * Masks are boolean bytes, nonzero = MASKED OUT (torch's bool attn_mask /
 * key_padding_mask semantics: True = not allowed to attend):
 *   attn_mask (Lq, Lk) shared by all batches and heads, or NULL;
 *   key_padding_mask (B, Lk), or NULL; both may be given (OR-ed).
 * Divergence from torch: a query row whose keys are all masked gets weights 0
 * and output 0 (torch 1.13 gives NaN).
 * Dropout (train && dropout_p > 0): attn_drop (B, nh, Lq, Lk) receives the
 * dropped weights actually used (attn * mask, mask in {0, 1/(1-p)}) drawn
 * from rng in index order; otherwise attn_drop must be NULL (or is unused).
 * attn always receives the weights BEFORE dropout (torch returns them after). */
sc_status sc_sdpa_forward(int B, int nh, int Lq, int Lk, int D, int Dv, const float *q,
                          const float *k, const float *v, const uint8_t *attn_mask,
                          const uint8_t *key_padding_mask, float dropout_p, int train, sc_rng *rng,
                          float *out, float *attn, float *attn_drop);
/* Gradients given dout (B, Lq, nh*Dv) and optionally dattn (B, nh, Lq, Lk),
 * an upstream gradient on the returned (pre-dropout) weights (NULL = 0).
 * attn / attn_drop: as written by the forward (attn_drop NULL when the
 * forward had no dropout). Accumulates dq, dk, dv. Allocates nh*B*Lq*Lk
 * floats of scratch at most. Masks are not needed (masked weights are 0). */
sc_status sc_sdpa_backward(int B, int nh, int Lq, int Lk, int D, int Dv, const float *q,
                           const float *k, const float *v, const float *attn,
                           const float *attn_drop, float dropout_p, const float *dout,
                           const float *dattn, float *dq, float *dk, float *dv);

/* ================================================================ multi-head attention
 * nn.MultiheadAttention(E, num_heads, dropout, bias, batch_first=True) with
 * kdim = vdim = E: query (B, Lq, E), key / value (B, Lk, E); self-attention
 * is query = key = value (the same pointers are fine). */
typedef struct sc_mha_desc {
    int B, Lq, Lk, E, num_heads; /* E divisible by num_heads */
    float dropout_p;             /* on the attention weights, training only */
} sc_mha_desc;

typedef struct sc_mha_weights {
    const float *in_proj_weight;  /* (3E, E): rows [Wq; Wk; Wv] */
    const float *in_proj_bias;    /* (3E) or NULL */
    const float *out_proj_weight; /* out_proj.weight (E, E) */
    const float *out_proj_bias;   /* out_proj.bias (E) or NULL */
    /* Separate projections (E, E) each, as torch's q_proj_weight /
     * k_proj_weight / v_proj_weight or a Hugging Face ViT's query / key /
     * value: used when q_proj_weight is set (then in_proj_weight may be NULL;
     * in_proj_bias stays the stacked bias). Forward only. */
    const float *q_proj_weight, *k_proj_weight, *v_proj_weight;
} sc_mha_weights;

typedef struct sc_mha_grads { /* any member may be NULL */
    float *in_proj_weight, *in_proj_bias, *out_proj_weight, *out_proj_bias;
} sc_mha_grads;

/* Cache/workspace floats: Q, K, V, context, attn (+ attn_drop when
 * dropout_p > 0) = B*(2 Lq + 2 Lk)*E + B*nh*Lq*Lk (* 2 with dropout). */
size_t sc_mha_cache_floats(const sc_mha_desc *d);

/* out (B, Lq, E). cache is required (it is the workspace). weights, if
 * non-NULL, receives the (pre-dropout) attention weights: per head
 * (B, nh, Lq, Lk) when average_weights == 0, else their mean over heads
 * (B, Lq, Lk) (torch's average_attn_weights=True). Masks as sc_sdpa_forward.
 * rng is needed only when train && dropout_p > 0. */
sc_status sc_mha_forward(const sc_mha_desc *d, const sc_mha_weights *w, const float *query,
                         const float *key, const float *value, const uint8_t *attn_mask,
                         const uint8_t *key_padding_mask, int train, sc_rng *rng, float *cache,
                         float *out, float *weights, int average_weights);
/* Accumulates dquery, dkey, dvalue (may be the same buffer for
 * self-attention: the three contributions add up) and the weight grads.
 * train must be the forward's. Allocates (2 Lq + 2 Lk) B E + B nh Lq Lk
 * floats of scratch. */
sc_status sc_mha_backward(const sc_mha_desc *d, const sc_mha_weights *w, const float *query,
                          const float *key, const float *value, const float *cache, int train,
                          const float *dout, float *dquery, float *dkey, float *dvalue,
                          sc_mha_grads *g);

/* ================================================================ transformer encoder layer
 * nn.TransformerEncoderLayer(E, nhead, F, dropout, activation, layer_norm_eps,
 * batch_first=True, norm_first), x (B, L, E):
 *   post-norm: x = norm1(x + drop1(sa(x)));  y = norm2(x + drop2(ff(x)))
 *   pre-norm:  x = x + drop1(sa(norm1(x)));  y = x + drop2(ff(norm2(x)))
 *   ff(x) = linear2(drop(act(linear1(x))))
 * The same dropout_p is used for the attention weights and the three dropouts
 * (as torch). Dropout masks come from rng in a fixed order. */
typedef enum sc_tel_act { SC_TEL_RELU = 0, SC_TEL_GELU = 1 } sc_tel_act;

typedef struct sc_tel_desc {
    int B, L, E, nhead, F;
    float dropout_p;
    sc_tel_act act;
    int norm_first;
    float eps; /* layer_norm_eps, e.g. 1e-5 */
} sc_tel_desc;

typedef struct sc_tel_weights {
    sc_mha_weights self_attn;
    const float *linear1_weight, *linear1_bias; /* (F, E), (F) */
    const float *linear2_weight, *linear2_bias; /* (E, F), (E) */
    const float *norm1_weight, *norm1_bias;     /* (E) each */
    const float *norm2_weight, *norm2_bias;
} sc_tel_weights;

typedef struct sc_tel_grads { /* any member may be NULL */
    sc_mha_grads self_attn;
    float *linear1_weight, *linear1_bias, *linear2_weight, *linear2_bias;
    float *norm1_weight, *norm1_bias, *norm2_weight, *norm2_bias;
} sc_tel_grads;

size_t sc_tel_cache_floats(const sc_tel_desc *d);
/* y (B, L, E), must not alias x. Masks as sc_sdpa_forward with Lq = Lk = L.
 * attn_weights (B, nhead, L, L) or NULL: the layer's per-head attention. */
sc_status sc_tel_forward(const sc_tel_desc *d, const sc_tel_weights *w, const float *x,
                         const uint8_t *attn_mask, const uint8_t *key_padding_mask, int train,
                         sc_rng *rng, float *cache, float *y, float *attn_weights);
/* train must be the forward's. Allocates scratch of about 4*B*L*max(E, F)
 * floats plus the MHA backward's. */
sc_status sc_tel_backward(const sc_tel_desc *d, const sc_tel_weights *w, const float *x,
                          const float *cache, int train, const float *dy, float *dx,
                          sc_tel_grads *g);

/* ================================================================ ViT pieces
 * Patch embedding = Conv2d(C, D, kernel_size=p, stride=p) on x (B, C, H, W)
 * done as patch extraction + gemm: weight proj.weight (D, C, p, p), bias
 * proj.bias (D) or NULL. Tokens out (B, N, D), N = gh*gw, gh = H/p, gw = W/p
 * (floor, as the conv: trailing rows/columns are ignored), token n = i*gw + j
 * (torch's x.flatten(2).transpose(1, 2)). Workspace: B*N*C*p*p floats. */
size_t sc_patch_embed_ws_floats(int B, int C, int H, int W, int p);
sc_status sc_patch_embed_forward(int B, int C, int H, int W, int p, int D, const float *x,
                                 const float *weight, const float *bias, float *ws, float *out);
/* Accumulates dx (B, C, H, W), dweight, dbias; ws as the forward's. */
sc_status sc_patch_embed_backward(int B, int C, int H, int W, int p, int D, const float *x,
                                  const float *weight, const float *dout, float *ws, float *dx,
                                  float *dweight, float *dbias);

/* Prepend a class token and add position embeddings:
 *   out (B, T, D), T = N + (cls_token != NULL): out[b, 0] = cls_token (D),
 *   out[b, t] = tokens[b, t - 1] for t >= 1; then out[b] += pos_embed (T, D)
 * when pos_embed != NULL (timm's `x = cat(cls, x) + pos_embed`). */
sc_status sc_vit_embed_forward(int B, int N, int D, const float *tokens, const float *cls_token,
                               const float *pos_embed, float *out);
/* Accumulates dtokens (B, N, D), dcls (D), dpos (T, D). */
sc_status sc_vit_embed_backward(int B, int N, int D, int has_cls, const float *dout, float *dtokens,
                                float *dcls, float *dpos);

/* Fixed 2-D sin-cos position embeddings (gh*gw, D), D divisible by 4, as MAE's
 * get_2d_sincos_pos_embed (temperature 10000): for grid cell (i, j) the first
 * D/2 values encode the column j, the last D/2 the row i, each as
 * [sin(pos * w_k), cos(pos * w_k)], w_k = 10000^(-k/(D/4)), k < D/4. A class
 * token's row (if any) is the caller's (MAE uses zeros). */
sc_status sc_pos_embed_sincos_2d(int gh, int gw, int D, float *out);

/* Attention rollout (Abnar & Zuidema 2020) for one image. attn holds
 * n_layers consecutive (nh, T, T) per-head attention matrices, T = 1 + gh*gw
 * with the class token first. Per layer: A = mean over heads; if
 * discard_ratio > 0 the floor(discard_ratio * T*T) smallest entries of A are
 * set to 0 (never entry (0, 0); as jacobgil/vit-explain); A = A + I; rows
 * renormalised to sum 1; R = A R (R starts as I). out (gh, gw) = R[0, 1:]
 * (the class token's row over patches, not rescaled). discard_ratio in
 * [0, 1). Allocates 3*T*T floats of scratch. */
sc_status sc_attention_rollout(int n_layers, int nh, int gh, int gw, const float *attn,
                               float discard_ratio, float *out);
/* The whole rollout matrix R (T, T) of the same procedure (any T, with or
 * without a class token; entry (0, 0) is never discarded): row i says how
 * much each input token contributes to output token i. */
sc_status sc_attention_rollout_matrix(int n_layers, int nh, int T, const float *attn,
                                      float discard_ratio, float *R);

/* ================================================================ hard attention (experimental)
 * For experiments with stochastic "hard" attention (Show, Attend and Tell's
 * hard variant): NOT a differentiable layer. For each row b, sample a position
 * idx[b] ~ Categorical(alpha[b, :]) (alpha (B, P) nonnegative, finite, row sum
 * > 0; it is used as given, normalised by its sum), return logp[b] =
 * log(alpha[b, idx] / sum) and, if dlogits != NULL, accumulate the score
 * function for REINFORCE, assuming alpha = softmax(logits):
 *   dlogits[b, :] += scale[b] * (onehot(idx[b]) - alpha[b, :] / sum)
 * (scale NULL = 1; pass -(reward - baseline) to get a loss gradient).
 * Draws one sc_rng_uniform per row, in row order. */
sc_status sc_hard_attention_sample(int B, int P, const float *alpha, sc_rng *rng, int32_t *idx,
                                   float *logp, const float *scale, float *dlogits);

#ifdef __cplusplus
}
#endif
#endif

/* saccade: a ViT-style patch encoder, trainable (forward + backward).
 *
 *   tokens = patch_embed(x)                    Conv2d(C, D, p, stride p), as patch gemm
 *   z0     = [cls_token; tokens] + pos_embed   (class token optional)
 *   z_l    = layers[l](z_{l-1})                nn.TransformerEncoderLayer(D, heads, mlp_dim,
 *                                              dropout, activation, batch_first=True,
 *                                              norm_first=True), l = 1..depth
 *   out    = norm(z_depth)                     LayerNorm(D)
 * mapping a square image (B, C, S, S), S = image_size, to (B, T, D) tokens,
 * T = cls_token + G*G, G = S / patch; token 1 + i*G + j (or i*G + j without
 * a class token) is patch row i, column j.
 *
 * Tensor names match the PyTorch twin in tools/ref/torch_vit.py (module
 * ViTEncoder), after a caller-chosen prefix such as "encoder.":
 *   patch_embed.proj.weight (D, C, p, p)   patch_embed.proj.bias (D)
 *   cls_token (1, 1, D)                    only with a class token
 *   pos_embed (1, T, D)                    only for learned position embeddings
 *   layers.{l}.self_attn.in_proj_weight (3D, D) / in_proj_bias (3D)
 *   layers.{l}.self_attn.out_proj.weight (D, D) / out_proj.bias (D)
 *   layers.{l}.linear1.weight (F, D) / bias (F), layers.{l}.linear2.weight (D, F) / bias (D)
 *   layers.{l}.norm1.weight / bias, layers.{l}.norm2.weight / bias (D)
 *   norm.weight / norm.bias (D)
 * Fixed 2-D sin-cos position embeddings (sc_pos_embed_sincos_2d, class token
 * row 0, as MAE) are computed, not stored.
 *
 * Initialisation follows PyTorch's module defaults (Conv2d and Linear
 * U(+-1/sqrt(fan_in)) for weights and biases; attention in_proj Xavier uniform,
 * in_proj and out_proj biases 0; LayerNorm 1, 0); cls_token and a learned
 * pos_embed N(0, 0.02^2), as ViT implementations do.
 *
 * Config JSON (a model's "saccade.encoder" metadata):
 *   {"type": "vit", "image_size": 64, "patch": 8, "in_channels": 3, "dim": 128,
 *    "depth": 4, "heads": 4, "mlp_dim": 256, "cls_token": true,
 *    "pos_embed": "learned", "activation": "gelu", "dropout": 0.0}
 * and optionally "layer_norm_eps" (1e-5 when absent, and left out when
 * written at that value). Unknown keys are rejected.
 *
 * Views: sc_vit_open_view runs a ViT whose weights live in a mapped file
 * under other names (e.g. Hugging Face BLIP's "vision_model.encoder.layers.3.
 * self_attn.qkv.weight" for "layers.3.self_attn.in_proj_weight"): the tensors
 * are used in place (zero copy for aligned F32), the model is inference-only
 * (no parameters, no rollout, no backward unless sc_vit_view_keep_activations
 * is called) and its forward keeps one layer's scratch instead of every
 * layer's activations. */
#ifndef SACCADE_SC_VIT_H
#define SACCADE_SC_VIT_H

#include <stddef.h>
#include "saccade/sc_error.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_VIT_MAX_DEPTH 48
#define SC_VIT_MAX_DIM 4096
#define SC_VIT_MAX_IMAGE 4096

typedef enum sc_vit_pos { SC_VIT_POS_LEARNED = 0, SC_VIT_POS_SINCOS = 1 } sc_vit_pos;

typedef struct sc_vit_config {
    int image_size;  /* S: inputs are S x S */
    int patch;       /* p, divides S */
    int in_channels; /* C */
    int dim;         /* D, divisible by heads (and by 4 for sin-cos embeddings) */
    int depth;       /* transformer layers, 1..SC_VIT_MAX_DEPTH */
    int heads;
    int mlp_dim;    /* F */
    int cls_token;  /* 1: a class token (needed for attention rollout) */
    sc_vit_pos pos; /* learned or fixed sin-cos */
    int gelu;       /* 1: GELU (ViT), 0: ReLU */
    float dropout;  /* in the layers, training only, [0, 1) */
    float ln_eps;   /* layer_norm_eps of every LayerNorm (1e-5, PyTorch's default) */
} sc_vit_config;

/* image 64, patch 8, 3 channels, D 128, depth 4, 4 heads, F 256, class token,
 * learned position embeddings, GELU, dropout 0, layer_norm_eps 1e-5. */
sc_vit_config sc_vit_default_config(void);
sc_status sc_vit_config_validate(const sc_vit_config *c);
sc_status sc_vit_config_from_json(const char *json, sc_vit_config *out);
/* malloc'd JSON text (free()), or NULL + error. */
char *sc_vit_config_to_json(const sc_vit_config *c);
/* Patch grid side G = image_size / patch and token count T. */
int sc_vit_grid(const sc_vit_config *c);
int sc_vit_tokens(const sc_vit_config *c);

typedef struct sc_vit sc_vit; /* opaque */

/* Fresh weights from rng; prefix (NULL or "") is prepended to every name. */
sc_status sc_vit_create(const sc_vit_config *c, const char *prefix, sc_rng *rng, sc_vit **out);
/* Maps a tensor name of this header ("patch_embed.proj.weight", "cls_token",
 * "pos_embed", "layers.{l}.self_attn.in_proj_weight", ..., "norm.bias") to
 * the file's name in out (cap bytes); returns nonzero when it has none. */
typedef int (*sc_vit_name_map)(const char *vit_name, char *out, size_t cap, void *ctx);
/* Inference-only ViT over st's tensors (see "Views" above; learned position
 * embeddings only). Each tensor must exist with exactly the shape of this
 * header (SC_ERR_FORMAT / SC_ERR_SHAPE naming the file's tensor). st must
 * outlive the model. */
sc_status sc_vit_open_view(const sc_vit_config *c, sc_safetensors *st, sc_vit_name_map map,
                           void *ctx, sc_vit **out);
void sc_vit_free(sc_vit *m);
const sc_vit_config *sc_vit_get_config(const sc_vit *m);
/* Trainable tensors with grads owned by the model (biases, LayerNorm
 * parameters, cls_token and pos_embed are no_weight_decay). Valid until
 * sc_vit_free. */
void sc_vit_params(const sc_vit *m, const sc_param **list, size_t *n);
void sc_vit_zero_grad(sc_vit *m);
/* Copy every parameter from a file by prefixed name and exact shape
 * (SC_ERR_FORMAT / SC_ERR_SHAPE; the model is unchanged on failure). */
sc_status sc_vit_load(sc_vit *m, sc_safetensors *st);

/* Forward of x (B, C, S, S). *out points at (B, T, D) in model memory, valid
 * until the next forward. x must stay valid until the backward. train = 1
 * applies dropout (rng required when dropout > 0). Eval forwards also keep
 * every layer's per-head attention for sc_vit_rollout. Buffers grow to the
 * largest batch seen. */
sc_status sc_vit_forward(sc_vit *m, const float *x, int B, int train, sc_rng *rng,
                         const float **out);
/* Backward of the last forward given dout (B, T, D): ACCUMULATES the
 * parameter gradients, and dx (B, C, S, S) when dx is non-NULL. */
sc_status sc_vit_backward(sc_vit *m, const float *dout, float *dx);
/* Backward of the last forward given dout (B, T, D) that also gives
 * dtokens (B, T, D, may be NULL) = the gradient w.r.t. the output of layer
 * `layer` (0..depth-1; -1: the embeddings entering layer 0). dx NULL stops
 * there (nothing below is computed; parameter gradients of the layers above
 * are accumulated as by sc_vit_backward). layer -1 and dtokens NULL is
 * sc_vit_backward. */
sc_status sc_vit_backward_layer(sc_vit *m, const float *dout, int layer, float *dtokens, float *dx);
/* The tokens (B, T, D) leaving layer `layer` (-1: the embeddings) in the
 * last forward, in model memory until the next forward; NULL when not kept
 * (a view without sc_vit_view_keep_activations keeps only the last layer's). */
const float *sc_vit_layer_tokens(const sc_vit *m, int layer);
/* Eval forward of layers layer+1..depth-1 and the final norm from tokens (B,
 * T, D) given as layer `layer`'s output (-1: as the embeddings). *out as
 * sc_vit_forward's. Ends the last forward (no backward after it). */
sc_status sc_vit_forward_from(sc_vit *m, int layer, const float *tokens, int B, const float **out);
/* A view keeps every layer's activations from now on, so that
 * sc_vit_backward(_layer) give input gradients (no parameter gradients: a
 * view has none). Costs the activations of every layer (as a trainable
 * model's). */
sc_status sc_vit_view_keep_activations(sc_vit *m);
/* Attention rollout (sc_attention_rollout) of image b of the last EVAL
 * forward: out (G, G), the class token's attention over the patches. Needs a
 * class token. */
sc_status sc_vit_rollout(const sc_vit *m, int b, float discard_ratio, float *out);
/* The whole rollout matrix (T, T) of image b of the last eval forward
 * (sc_attention_rollout_matrix): row t = how much each input token (class
 * token first, if any, then the patches) contributes to output token t. */
sc_status sc_vit_rollout_matrix(const sc_vit *m, int b, float discard_ratio, float *R);

#ifdef __cplusplus
}
#endif
#endif

/* Inference-only pre-norm transformer encoder layer (sc_tel_forward's
 * norm_first = 1 without dropout or masks) over weights packed once by
 * sc_gemm_pack. Internal to the library (the ViT's file views use it).
 *
 * Activations are feature-major: x (E, L), one column per token, so that
 * every linear layer is W (packed) @ x and the threads split token columns
 * with no exchange between them from the layer norm through the products:
 * a layer costs two fork-joins (sc_par_run):
 *   1. per token columns: h = norm1(x); qkv = W_in h + b_in      (3E, L)
 *   2. per head: S^T = K Q^T / sqrt(d) (keys x queries), softmax over
 *      each column, ctx_h = V^T S^T                               (E, L)
 *      (with AVX-512: sc_attn_head, a block of 32 queries at a time)
 *   3. per token columns: r = x + W_o ctx + b_o;
 *      x = r + W_2 act(W_1 norm2(r) + b_1) + b_2, then 1. of the next layer
 *      in the same share
 * Bias and residual adds, and the activation (GELU or ReLU) after W_1,
 * ride on the products' stores (sc_gemm_epilogue); GELU and the softmax's
 * exp are vectorised (vmath.h). */
#ifndef SACCADE_TEL_PACKED_H
#define SACCADE_TEL_PACKED_H

#include <stddef.h>
#include "saccade/sc_attention.h"

typedef struct sc_tel_packed sc_tel_packed;

/* Packs the four linear weights of w (the caller's weights may then go: the
 * biases and norms are borrowed and must outlive the packed layer). d: E,
 * nhead, F, act, eps; norm_first must be 1; B, L and dropout are ignored. */
sc_status sc_tel_packed_create(const sc_tel_desc *d, const sc_tel_weights *w, sc_tel_packed **out);
void sc_tel_packed_free(sc_tel_packed *p);
/* Bytes of packed weights held. */
size_t sc_tel_packed_bytes(const sc_tel_packed *p);
/* Workspace floats of sc_tel_packed_forward for L tokens on nt threads (0 on overflow). */
size_t sc_tel_packed_ws_floats(const sc_tel_packed *p, int L, int nt);
/* x (E, L) <- layers[n-1](... layers[0](x)), on nt threads; layers of the
 * same sizes; ws of sc_tel_packed_ws_floats(layers[0], L, nt). */
sc_status sc_tel_packed_forward(sc_tel_packed *const *layers, int n, int L, float *x, float *ws,
                                int nt);

/* One attention head over feature-major rows (defined in gemm_packed.c,
 * next to the register tiles it shares): ctx (dh, L; row stride ldc) =
 * V^T softmax over keys of (K Q^T scale), q, k, v each dh rows of L tokens
 * (row stride ld). AVX-512 kernels only (SC_ERR_UNSUPPORTED otherwise: the
 * fallback multiplies through sc_gemm_packed); ws of sc_attn_head_ws_floats. */
size_t sc_attn_head_ws_floats(int L, int dh);
sc_status sc_attn_head(int L, int dh, const float *q, const float *k, const float *v, int ld,
                       float scale, float *ctx, int ldc, float *ws);

/* Transposes a (rows, cols) row-major block into (cols, rows). */
void sc_transpose_f32(const float *a, int rows, int cols, float *out);

#endif

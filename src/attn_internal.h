/* Internal helpers shared by the attention modules (src/attn_*.c). */
#ifndef SACCADE_ATTN_INTERNAL_H
#define SACCADE_ATTN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_attention.h"
#include "saccade/sc_rng.h"

/* Size product with overflow check: returns 0 on overflow (or if any factor <= 0). */
size_t attn_prod(int n, const long long *f);

/* Argument-checked SDPA on strided rows: q rows every ldq floats, etc. Head h
 * of batch b reads q[(b*Lq + i)*ldq + h*D + d]. scratch for backward only. */
void attn_sdpa_fwd(int B, int nh, int Lq, int Lk, int D, int Dv, const float *q, int ldq,
                   const float *k, int ldk, const float *v, int ldv, const uint8_t *attn_mask,
                   const uint8_t *kpm, float dropout_p, int drop, sc_rng *rng, float *out, int ldo,
                   float *attn, float *attn_drop);
/* scratch: B*nh*Lq*Lk floats. */
void attn_sdpa_bwd(int B, int nh, int Lq, int Lk, int D, int Dv, const float *q, int ldq,
                   const float *k, int ldk, const float *v, int ldv, const float *attn,
                   const float *attn_drop, float dropout_p, const float *dout, int ldo,
                   const float *dattn, float *dq, float *dk, float *dv, float *scratch);

/* Local dense kernels (PyTorch layouts), until sc_nn.h is available.
 * out (N, out_f) = x W^T + b; backward accumulates; NULL grads skipped. */
void attn_linear_fwd(float *out, const float *x, const float *w, const float *b, int N, int in_f,
                     int out_f);
void attn_linear_bwd(float *dx, float *dw, float *db, const float *dout, const float *x,
                     const float *w, int N, int in_f, int out_f);
void attn_layernorm_fwd(float *out, float *mean, float *rstd, const float *x, const float *g,
                        const float *b, int N, int D, float eps);
void attn_layernorm_bwd(float *dx, float *dg, float *db, const float *dout, const float *x,
                        const float *mean, const float *rstd, const float *g, int N, int D);
/* act 0 relu, 1 gelu (exact erf form). bwd: dx += f'(x) dout. */
void attn_act_fwd(int act, float *out, const float *x, size_t n);
void attn_act_bwd(int act, float *dx, const float *dout, const float *x, size_t n);

#endif

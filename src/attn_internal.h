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

/* a[j] = exp(a[j] - mx) for j < n (0 for -inf / far below mx), returns the
 * sum; accurate to a few float ulps, vectorised. */
float attn_exp_sum(float *a, int n, float mx);

/* Run a kernel only while everything so far succeeded (`st` in scope). The
 * arguments are validated up front, so a failure here is a bug upstream. */
#define ATTN_TRY(expr)                                                                             \
    do {                                                                                           \
        if (st == SC_OK) st = (expr);                                                              \
    } while (0)

#endif

/* Scaled dot-product attention (masks, attention dropout) and multi-head
 * attention with nn.MultiheadAttention's parameters, forward and backward. */
#include <math.h>
#include <string.h>
#include "saccade/sc_attention.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "attn_internal.h"
#include "sc_internal.h"

#define PAR_IF(n) if ((size_t)(n) > 32768)

/* ---------------------------------------------------------------- SDPA core */

/* Masked softmax of the score rows r0 <= r < r1 (row r: item (b, h) = r / Lq,
 * query i = r % Lq) in place. */
static void softmax_rows(float *attn, long long r0, long long r1, int nh, int Lq, int Lk,
                         const uint8_t *attn_mask, const uint8_t *kpm) {
    for (long long r = r0; r < r1; r++) {
        const int b = (int)(r / ((long long)nh * Lq)), i = (int)(r % Lq);
        float *a = attn + (size_t)r * Lk;
        const uint8_t *am = attn_mask ? attn_mask + (size_t)i * Lk : NULL;
        const uint8_t *km = kpm ? kpm + (size_t)b * Lk : NULL;
        if (am || km)
            for (int j = 0; j < Lk; j++)
                if ((am && am[j]) || (km && km[j])) a[j] = -INFINITY;
        float mx = -INFINITY;
        for (int j = 0; j < Lk; j++) mx = a[j] > mx ? a[j] : mx;
        if (mx == -INFINITY) { /* every key masked: zero weights (torch: NaN) */
            memset(a, 0, (size_t)Lk * sizeof(float));
            continue;
        }
        const float inv = 1.0f / attn_exp_sum(a, Lk, mx);
        for (int j = 0; j < Lk; j++) a[j] *= inv;
    }
}

void attn_sdpa_fwd(int B, int nh, int Lq, int Lk, int D, int Dv, const float *q, int ldq,
                   const float *k, int ldk, const float *v, int ldv, const uint8_t *attn_mask,
                   const uint8_t *kpm, float dropout_p, int drop, sc_rng *rng, float *out, int ldo,
                   float *attn, float *attn_drop) {
    const float scale = 1.0f / sqrtf((float)D);
    const size_t LL = (size_t)Lq * Lk;
    const int nbh = B * nh;
    const long long rows = (long long)nbh * Lq;
    /* On one thread, one head at a time (scores, softmax, product with V
     * while the Lq x Lk block is in cache). With more, each phase for all
     * heads: alternating BLAS and OpenMP threads per head makes them wait on
     * each other. The arithmetic is the same either way. */
    const int fused = sc_get_num_threads() <= 1;
    const int step = fused ? 1 : nbh;
    for (int h0 = 0; h0 < nbh; h0 += step) {
        const int h1 = h0 + step;
        for (int bh = h0; bh < h1; bh++) {
            const int b = bh / nh, h = bh % nh;
            sc_sgemm(SC_NO_TRANS, SC_TRANS, Lq, Lk, D, scale,
                     q + (size_t)b * Lq * ldq + (size_t)h * D, ldq,
                     k + (size_t)b * Lk * ldk + (size_t)h * D, ldk, 0.0f, attn + bh * LL, Lk);
        }
        if (fused) {
            softmax_rows(attn, (long long)h0 * Lq, (long long)h1 * Lq, nh, Lq, Lk, attn_mask, kpm);
        } else {
#pragma omp parallel for schedule(static) PAR_IF(rows *Lk)
            for (long long r = 0; r < rows; r++)
                softmax_rows(attn, r, r + 1, nh, Lq, Lk, attn_mask, kpm);
        }
        if (drop) {
            const float ks = 1.0f / (1.0f - dropout_p);
            for (size_t i = (size_t)h0 * LL; i < (size_t)h1 * LL; i++)
                attn_drop[i] = sc_rng_uniform(rng) < dropout_p ? 0.0f : attn[i] * ks;
        }
        const float *used = drop ? attn_drop : attn;
        for (int bh = h0; bh < h1; bh++) {
            const int b = bh / nh, h = bh % nh;
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, Lq, Dv, Lk, 1.0f, used + bh * LL, Lk,
                     v + (size_t)b * Lk * ldv + (size_t)h * Dv, ldv, 0.0f,
                     out + (size_t)b * Lq * ldo + (size_t)h * Dv, ldo);
        }
    }
}

void attn_sdpa_bwd(int B, int nh, int Lq, int Lk, int D, int Dv, const float *q, int ldq,
                   const float *k, int ldk, const float *v, int ldv, const float *attn,
                   const float *attn_drop, float dropout_p, const float *dout, int ldo,
                   const float *dattn, float *dq, float *dk, float *dv, float *scratch) {
    const float scale = 1.0f / sqrtf((float)D);
    const size_t LL = (size_t)Lq * Lk;
    const int nbh = B * nh;
    const float *used = attn_drop ? attn_drop : attn;
    for (int bh = 0; bh < nbh; bh++) {
        int b = bh / nh, h = bh % nh;
        const float *dob = dout + (size_t)b * Lq * ldo + (size_t)h * Dv;
        const float *vb = v + (size_t)b * Lk * ldv + (size_t)h * Dv;
        sc_sgemm(SC_NO_TRANS, SC_TRANS, Lq, Lk, Dv, 1.0f, dob, ldo, vb, ldv, 0.0f,
                 scratch + bh * LL, Lk);
        if (dv)
            sc_sgemm(SC_TRANS, SC_NO_TRANS, Lk, Dv, Lq, 1.0f, used + bh * LL, Lk, dob, ldo, 1.0f,
                     dv + (size_t)b * Lk * ldv + (size_t)h * Dv, ldv);
    }
    if (!dq && !dk) return;
    const float ks = attn_drop ? 1.0f / (1.0f - dropout_p) : 1.0f;
    const long long rows = (long long)nbh * Lq;
#pragma omp parallel for schedule(static) PAR_IF(rows *Lk)
    for (long long r = 0; r < rows; r++) {
        float *g = scratch + (size_t)r * Lk;
        const float *a = attn + (size_t)r * Lk;
        const float *ad = attn_drop ? attn_drop + (size_t)r * Lk : NULL;
        const float *da = dattn ? dattn + (size_t)r * Lk : NULL;
        double dot = 0;
        for (int j = 0; j < Lk; j++) {
            float gj = g[j];
            if (ad) gj = ad[j] != 0.0f ? gj * ks : 0.0f;
            if (da) gj += da[j];
            g[j] = gj;
            dot += (double)gj * a[j];
        }
        float fd = (float)dot;
        for (int j = 0; j < Lk; j++) g[j] = a[j] * (g[j] - fd);
    }
    for (int bh = 0; bh < nbh; bh++) {
        int b = bh / nh, h = bh % nh;
        if (dq)
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, Lq, D, Lk, scale, scratch + bh * LL, Lk,
                     k + (size_t)b * Lk * ldk + (size_t)h * D, ldk, 1.0f,
                     dq + (size_t)b * Lq * ldq + (size_t)h * D, ldq);
        if (dk)
            sc_sgemm(SC_TRANS, SC_NO_TRANS, Lk, D, Lq, scale, scratch + bh * LL, Lk,
                     q + (size_t)b * Lq * ldq + (size_t)h * D, ldq, 1.0f,
                     dk + (size_t)b * Lk * ldk + (size_t)h * D, ldk);
    }
}

static sc_status check_sdpa(const char *fn, int B, int nh, int Lq, int Lk, int D, int Dv) {
    if (B <= 0 || nh <= 0 || Lq <= 0 || Lk <= 0 || D <= 0 || Dv <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: dims B=%d nh=%d Lq=%d Lk=%d D=%d Dv=%d must all be > 0", fn, B, nh,
                            Lq, Lk, D, Dv);
    int L = Lq > Lk ? Lq : Lk, Dm = D > Dv ? D : Dv;
    if (!attn_prod(4, (long long[]){B, nh, Lq, Lk}) || !attn_prod(4, (long long[]){B, L, nh, Dm}))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    if ((long long)nh * Dm > INT32_MAX)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: nh*D too large", fn);
    return SC_OK;
}

static sc_status check_dropout(const char *fn, float p, int train, sc_rng *rng, const void *buf,
                               int *drop) {
    if (!(p >= 0.0f && p < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: dropout_p = %g is outside [0, 1)", fn,
                            (double)p);
    *drop = train && p > 0.0f;
    if (*drop && !rng) return sc_set_error(SC_ERR_INVALID_ARG, "%s: dropout needs an rng", fn);
    if (*drop && !buf)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: dropout needs an attn_drop buffer", fn);
    return SC_OK;
}

sc_status sc_sdpa_forward(int B, int nh, int Lq, int Lk, int D, int Dv, const float *q,
                          const float *k, const float *v, const uint8_t *attn_mask,
                          const uint8_t *key_padding_mask, float dropout_p, int train, sc_rng *rng,
                          float *out, float *attn, float *attn_drop) {
    const char *fn = "sc_sdpa_forward";
    sc_status st = check_sdpa(fn, B, nh, Lq, Lk, D, Dv);
    if (st) return st;
    if (!q || !k || !v || !out || !attn)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL q, k, v, out or attn", fn);
    int drop;
    st = check_dropout(fn, dropout_p, train, rng, attn_drop, &drop);
    if (st) return st;
    attn_sdpa_fwd(B, nh, Lq, Lk, D, Dv, q, nh * D, k, nh * D, v, nh * Dv, attn_mask,
                  key_padding_mask, dropout_p, drop, rng, out, nh * Dv, attn, attn_drop);
    return SC_OK;
}

sc_status sc_sdpa_backward(int B, int nh, int Lq, int Lk, int D, int Dv, const float *q,
                           const float *k, const float *v, const float *attn,
                           const float *attn_drop, float dropout_p, const float *dout,
                           const float *dattn, float *dq, float *dk, float *dv) {
    const char *fn = "sc_sdpa_backward";
    sc_status st = check_sdpa(fn, B, nh, Lq, Lk, D, Dv);
    if (st) return st;
    if (!q || !k || !v || !attn || !dout)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL q, k, v, attn or dout", fn);
    if (attn_drop && !(dropout_p > 0.0f && dropout_p < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: attn_drop given but dropout_p = %g", fn,
                            (double)dropout_p);
    float *scratch = sc_malloc((size_t)B * nh * Lq * Lk * sizeof(float));
    if (!scratch) return sc_set_error(SC_ERR_NOMEM, "%s: no memory for scratch", fn);
    attn_sdpa_bwd(B, nh, Lq, Lk, D, Dv, q, nh * D, k, nh * D, v, nh * Dv, attn, attn_drop,
                  dropout_p, dout, nh * Dv, dattn, dq, dk, dv, scratch);
    sc_free(scratch);
    return SC_OK;
}

/* ---------------------------------------------------------------- MHA */

static sc_status check_mha(const char *fn, const sc_mha_desc *d, const sc_mha_weights *w) {
    if (!d || !w) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL desc or weights", fn);
    if (d->B <= 0 || d->Lq <= 0 || d->Lk <= 0 || d->E <= 0 || d->num_heads <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: dims B=%d Lq=%d Lk=%d E=%d num_heads=%d must all be > 0", fn, d->B,
                            d->Lq, d->Lk, d->E, d->num_heads);
    if (d->E % d->num_heads)
        return sc_set_error(SC_ERR_SHAPE, "%s: embed dim %d is not divisible by num_heads %d", fn,
                            d->E, d->num_heads);
    if (!(d->dropout_p >= 0.0f && d->dropout_p < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: dropout_p = %g is outside [0, 1)", fn,
                            (double)d->dropout_p);
    if (!(w->in_proj_weight || (w->q_proj_weight && w->k_proj_weight && w->v_proj_weight)) ||
        !w->out_proj_weight)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL in_proj_weight or out_proj_weight", fn);
    if (!sc_mha_cache_floats(d) || !attn_prod(2, (long long[]){3LL * d->E, d->E}))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return SC_OK;
}

size_t sc_mha_cache_floats(const sc_mha_desc *d) {
    if (!d) return 0;
    size_t a = attn_prod(3, (long long[]){d->B, 2LL * (d->Lq + d->Lk), d->E});
    size_t b = attn_prod(4, (long long[]){d->B, d->num_heads, d->Lq, d->Lk});
    if (!a || !b) return 0;
    if (d->dropout_p > 0.0f) b *= 2;
    return a + b;
}

typedef struct {
    float *Q, *K, *V, *ctx, *attn, *attn_drop;
} mha_cache;

static mha_cache mha_split(const sc_mha_desc *d, float *c) {
    mha_cache m;
    size_t q = (size_t)d->B * d->Lq * d->E, k = (size_t)d->B * d->Lk * d->E;
    m.Q = c, m.K = m.Q + q, m.V = m.K + k, m.ctx = m.V + k, m.attn = m.ctx + q;
    m.attn_drop = d->dropout_p > 0.0f ? m.attn + (size_t)d->B * d->num_heads * d->Lq * d->Lk : NULL;
    return m;
}

sc_status sc_mha_forward(const sc_mha_desc *d, const sc_mha_weights *w, const float *query,
                         const float *key, const float *value, const uint8_t *attn_mask,
                         const uint8_t *key_padding_mask, int train, sc_rng *rng, float *cache,
                         float *out, float *weights, int average_weights) {
    const char *fn = "sc_mha_forward";
    sc_status st = check_mha(fn, d, w);
    if (st) return st;
    if (!query || !key || !value || !cache || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL query, key, value, cache or out", fn);
    int drop = train && d->dropout_p > 0.0f;
    if (drop && !rng) return sc_set_error(SC_ERR_INVALID_ARG, "%s: dropout needs an rng", fn);
    const int B = d->B, Lq = d->Lq, Lk = d->Lk, E = d->E, nh = d->num_heads, hd = E / nh;
    mha_cache m = mha_split(d, cache);
    const float *bi = w->in_proj_bias;
    const size_t nq = (size_t)B * Lq * E;
    /* separate projections, or the stacked one's thirds */
    const float *Wq = w->q_proj_weight ? w->q_proj_weight : w->in_proj_weight,
                *Wk = w->q_proj_weight ? w->k_proj_weight : Wq + (size_t)E * E,
                *Wv = w->q_proj_weight ? w->v_proj_weight : Wq + (size_t)2 * E * E;
    if (query == key && key == value && Lq == Lk && !w->q_proj_weight &&
        (size_t)(m.attn - m.ctx) + (size_t)B * nh * Lq * Lk >= 3 * nq) {
        /* self-attention: one product with the stacked (3E, E) weights into
         * the ctx | attn part of the cache (not used yet), then split into
         * Q, K, V adding the biases: one pass over the input instead of
         * three */
        float *qkv = m.ctx;
        const long long M = (long long)B * Lq;
        sc_sgemm(SC_NO_TRANS, SC_TRANS, (int)M, 3 * E, E, 1.0f, query, E, w->in_proj_weight, E,
                 0.0f, qkv, 3 * E);
#pragma omp parallel for schedule(static) PAR_IF(M * 3 * E)
        for (long long r = 0; r < M; r++) {
            const float *src = qkv + (size_t)r * 3 * E;
            float *dst[3] = {m.Q + (size_t)r * E, m.K + (size_t)r * E, m.V + (size_t)r * E};
            for (int part = 0; part < 3; part++) {
                const float *sp = src + (size_t)part * E, *bp = bi ? bi + (size_t)part * E : NULL;
                float *dp = dst[part];
                if (bp)
                    for (int j = 0; j < E; j++) dp[j] = sp[j] + bp[j];
                else
                    memcpy(dp, sp, (size_t)E * sizeof(float));
            }
        }
    } else {
        ATTN_TRY(sc_linear_forward(m.Q, query, Wq, bi, B * Lq, E, E));
        ATTN_TRY(sc_linear_forward(m.K, key, Wk, bi ? bi + E : NULL, B * Lk, E, E));
        ATTN_TRY(sc_linear_forward(m.V, value, Wv, bi ? bi + 2 * E : NULL, B * Lk, E, E));
    }
    attn_sdpa_fwd(B, nh, Lq, Lk, hd, hd, m.Q, E, m.K, E, m.V, E, attn_mask, key_padding_mask,
                  d->dropout_p, drop, rng, m.ctx, E, m.attn, m.attn_drop);
    ATTN_TRY(sc_linear_forward(out, m.ctx, w->out_proj_weight, w->out_proj_bias, B * Lq, E, E));
    if (weights) {
        size_t LL = (size_t)Lq * Lk;
        if (!average_weights) {
            memcpy(weights, m.attn, (size_t)B * nh * LL * sizeof(float));
        } else {
#pragma omp parallel for schedule(static) PAR_IF(B *nh *LL)
            for (int b = 0; b < B; b++)
                for (size_t i = 0; i < LL; i++) {
                    float s = 0;
                    for (int h = 0; h < nh; h++) s += m.attn[((size_t)b * nh + h) * LL + i];
                    weights[(size_t)b * LL + i] = s / (float)nh;
                }
        }
    }
    return st;
}

sc_status sc_mha_backward(const sc_mha_desc *d, const sc_mha_weights *w, const float *query,
                          const float *key, const float *value, const float *cache, int train,
                          const float *dout, float *dquery, float *dkey, float *dvalue,
                          sc_mha_grads *g) {
    const char *fn = "sc_mha_backward";
    sc_status st = check_mha(fn, d, w);
    if (st) return st;
    if (w->q_proj_weight || !w->in_proj_weight)
        return sc_set_error(SC_ERR_UNSUPPORTED, "%s: separate q/k/v projections are forward-only",
                            fn);
    if (!query || !key || !value || !cache || !dout)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL query, key, value, cache or dout", fn);
    const int B = d->B, Lq = d->Lq, Lk = d->Lk, E = d->E, nh = d->num_heads, hd = E / nh;
    mha_cache m = mha_split(d, (float *)cache);
    size_t nq = (size_t)B * Lq * E, nk = (size_t)B * Lk * E, nA = (size_t)B * nh * Lq * Lk;
    /* scratch: dctx | dQ | dK | dV | sdpa scratch */
    float *s = sc_calloc(2 * nq + 2 * nk + nA, sizeof(float));
    if (!s) return sc_set_error(SC_ERR_NOMEM, "%s: no memory for scratch", fn);
    float *dctx = s, *dQ = dctx + nq, *dK = dQ + nq, *dV = dK + nk, *scr = dV + nk;
    sc_mha_grads z = {0};
    if (!g) g = &z;
    ATTN_TRY(sc_linear_backward(dctx, g->out_proj_weight, g->out_proj_bias, dout, m.ctx,
                                w->out_proj_weight, B * Lq, E, E));
    attn_sdpa_bwd(B, nh, Lq, Lk, hd, hd, m.Q, E, m.K, E, m.V, E, m.attn,
                  train && d->dropout_p > 0.0f ? m.attn_drop : NULL, d->dropout_p, dctx, E, NULL,
                  dQ, dK, dV, scr);
    const float *Wi = w->in_proj_weight;
    float *gW = g->in_proj_weight, *gb = g->in_proj_bias;
    ATTN_TRY(sc_linear_backward(dquery, gW, gb, dQ, query, Wi, B * Lq, E, E));
    ATTN_TRY(sc_linear_backward(dkey, gW ? gW + (size_t)E * E : NULL, gb ? gb + E : NULL, dK, key,
                                Wi + (size_t)E * E, B * Lk, E, E));
    ATTN_TRY(sc_linear_backward(dvalue, gW ? gW + (size_t)2 * E * E : NULL, gb ? gb + 2 * E : NULL,
                                dV, value, Wi + (size_t)2 * E * E, B * Lk, E, E));
    sc_free(s);
    return st;
}

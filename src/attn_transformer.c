/* nn.TransformerEncoderLayer (batch_first, pre- or post-norm), forward and
 * backward, built from the MHA kernels and dense kernels. */
#include <string.h>
#include "saccade/sc_attention.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_nn.h"
#include "attn_internal.h"
#include "sc_internal.h"

static sc_mha_desc mha_of(const sc_tel_desc *d) {
    sc_mha_desc m = {d->B, d->L, d->L, d->E, d->nhead, d->dropout_p};
    return m;
}

static sc_status check_tel(const char *fn, const sc_tel_desc *d, const sc_tel_weights *w) {
    if (!d || !w) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL desc or weights", fn);
    if (d->B <= 0 || d->L <= 0 || d->E <= 0 || d->nhead <= 0 || d->F <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: dims B=%d L=%d E=%d nhead=%d F=%d must all be > 0", fn, d->B, d->L,
                            d->E, d->nhead, d->F);
    if (d->act != SC_TEL_RELU && d->act != SC_TEL_GELU)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: unknown activation %d", fn, (int)d->act);
    if (!(d->eps > 0.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: layer_norm_eps must be > 0", fn);
    if (!w->linear1_weight || !w->linear2_weight)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL linear1.weight or linear2.weight", fn);
    if (!sc_tel_cache_floats(d)) return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return SC_OK;
}

size_t sc_tel_cache_floats(const sc_tel_desc *d) {
    if (!d) return 0;
    sc_mha_desc m = mha_of(d);
    size_t a = sc_mha_cache_floats(&m);
    size_t e = attn_prod(3, (long long[]){d->B, d->L, d->E});
    size_t f = attn_prod(3, (long long[]){d->B, d->L, d->F});
    size_t r = attn_prod(2, (long long[]){d->B, d->L});
    if (!a || !e || !f || !r || e > SIZE_MAX / 64 || f > SIZE_MAX / 64) return 0;
    return a + 8 * e + 3 * f + 4 * r;
}

typedef struct {
    float *mha, *n1, *a, *m1, *r1, *x1, *f, *m2, *r2, *h, *gd, *mf, *mean1, *rstd1, *mean2, *rstd2;
} tel_cache;

static tel_cache tel_split(const sc_tel_desc *d, float *c) {
    sc_mha_desc m = mha_of(d);
    size_t e = (size_t)d->B * d->L * d->E, f = (size_t)d->B * d->L * d->F, r = (size_t)d->B * d->L;
    tel_cache t;
    t.mha = c;
    c += sc_mha_cache_floats(&m);
    t.n1 = c, t.a = c + e, t.m1 = c + 2 * e, t.r1 = c + 3 * e, t.x1 = c + 4 * e, t.f = c + 5 * e;
    t.m2 = c + 6 * e, t.r2 = c + 7 * e;
    c += 8 * e;
    t.h = c, t.gd = c + f, t.mf = c + 2 * f;
    c += 3 * f;
    t.mean1 = c, t.rstd1 = c + r, t.mean2 = c + 2 * r, t.rstd2 = c + 3 * r;
    return t;
}

static sc_activation act_code(const sc_tel_desc *d) {
    return d->act == SC_TEL_GELU ? SC_ACT_GELU : SC_ACT_RELU;
}

sc_status sc_tel_forward(const sc_tel_desc *d, const sc_tel_weights *w, const float *x,
                         const uint8_t *attn_mask, const uint8_t *key_padding_mask, int train,
                         sc_rng *rng, float *cache, float *y, float *attn_weights) {
    const char *fn = "sc_tel_forward";
    sc_status st = check_tel(fn, d, w);
    if (st) return st;
    if (!x || !cache || !y) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL x, cache or y", fn);
    int drop = train && d->dropout_p > 0.0f;
    if (drop && !rng) return sc_set_error(SC_ERR_INVALID_ARG, "%s: dropout needs an rng", fn);
    const int N = d->B * d->L, E = d->E, F = d->F;
    const size_t e = (size_t)N * E, f = (size_t)N * F;
    sc_mha_desc md = mha_of(d);
    tel_cache t = tel_split(d, cache);
    const float *sa_in = x;
    if (d->norm_first) {
        ATTN_TRY(sc_layernorm_forward(t.n1, t.mean1, t.rstd1, x, w->norm1_weight, w->norm1_bias, N,
                                      E, d->eps));
        sa_in = t.n1;
    }
    st = sc_mha_forward(&md, &w->self_attn, sa_in, sa_in, sa_in, attn_mask, key_padding_mask, train,
                        rng, t.mha, t.a, attn_weights, 0);
    if (st) return st;
    if (drop) sc_dropout_forward(t.a, e, d->dropout_p, 1, rng, t.m1, t.a);
    sc_add_forward(x, t.a, e, 1.0f, 1.0f, t.r1);
    if (d->norm_first)
        ATTN_TRY(sc_layernorm_forward(t.x1, t.mean2, t.rstd2, t.r1, w->norm2_weight, w->norm2_bias,
                                      N, E, d->eps));
    else
        ATTN_TRY(sc_layernorm_forward(t.x1, t.mean1, t.rstd1, t.r1, w->norm1_weight, w->norm1_bias,
                                      N, E, d->eps));
    ATTN_TRY(sc_linear_forward(t.h, t.x1, w->linear1_weight, w->linear1_bias, N, E, F));
    ATTN_TRY(sc_act_forward(act_code(d), t.gd, t.h, f));
    if (drop) sc_dropout_forward(t.gd, f, d->dropout_p, 1, rng, t.mf, t.gd);
    ATTN_TRY(sc_linear_forward(t.f, t.gd, w->linear2_weight, w->linear2_bias, N, F, E));
    if (drop) sc_dropout_forward(t.f, e, d->dropout_p, 1, rng, t.m2, t.f);
    if (d->norm_first) {
        sc_add_forward(t.r1, t.f, e, 1.0f, 1.0f, y);
    } else {
        sc_add_forward(t.x1, t.f, e, 1.0f, 1.0f, t.r2);
        ATTN_TRY(sc_layernorm_forward(y, t.mean2, t.rstd2, t.r2, w->norm2_weight, w->norm2_bias, N,
                                      E, d->eps));
    }
    return st;
}

sc_status sc_tel_backward(const sc_tel_desc *d, const sc_tel_weights *w, const float *x,
                          const float *cache, int train, const float *dy, float *dx,
                          sc_tel_grads *g) {
    const char *fn = "sc_tel_backward";
    sc_status st = check_tel(fn, d, w);
    if (st) return st;
    if (!x || !cache || !dy) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL x, cache or dy", fn);
    int drop = train && d->dropout_p > 0.0f;
    const int N = d->B * d->L, E = d->E, F = d->F;
    const size_t e = (size_t)N * E, f = (size_t)N * F;
    sc_mha_desc md = mha_of(d);
    tel_cache t = tel_split(d, (float *)cache);
    sc_tel_grads z;
    memset(&z, 0, sizeof z);
    if (!g) g = &z;
    float *s = sc_calloc(3 * e + 2 * f, sizeof(float));
    if (!s) return sc_set_error(SC_ERR_NOMEM, "%s: no memory for scratch", fn);
    float *dr1 = s, *dx1 = s + e, *tmp = s + 2 * e, *dgd = s + 3 * e, *dh = dgd + f;
    /* ---- feed-forward half: output y = base + drop2(f), base = x1 (post) or r1 (pre) */
    const float *dsum; /* gradient at the second residual sum */
    if (d->norm_first) {
        dsum = dy;
    } else {
        ATTN_TRY(sc_layernorm_backward(tmp, g->norm2_weight, g->norm2_bias, dy, t.r2, t.mean2,
                                       t.rstd2, w->norm2_weight, N, E));
        dsum = tmp;
    }
    /* df = dsum * m2 (dr1's space is free until the first residual) */
    float *df = dr1;
    if (drop)
        sc_dropout_backward(dsum, t.m2, e, df);
    else
        memcpy(df, dsum, e * sizeof(float));
    ATTN_TRY(sc_linear_backward(dgd, g->linear2_weight, g->linear2_bias, df, t.gd,
                                w->linear2_weight, N, F, E));
    if (drop) { /* dg = dgd * mf, in place */
        for (size_t i = 0; i < f; i++) dgd[i] *= t.mf[i];
    }
    ATTN_TRY(sc_act_backward(act_code(d), dh, dgd, t.h, NULL, f));
    ATTN_TRY(sc_linear_backward(dx1, g->linear1_weight, g->linear1_bias, dh, t.x1,
                                w->linear1_weight, N, E, F));
    /* ---- residual + first norm */
    memset(dr1, 0, e * sizeof(float));
    if (d->norm_first) {
        /* r1 feeds y directly and x1 = norm2(r1) */
        memcpy(dr1, dsum, e * sizeof(float));
        ATTN_TRY(sc_layernorm_backward(dr1, g->norm2_weight, g->norm2_bias, dx1, t.r1, t.mean2,
                                       t.rstd2, w->norm2_weight, N, E));
    } else {
        /* x1 = norm1(r1) feeds the FF and the second residual */
        sc_axpy(e, 1.0f, dsum, dx1);
        ATTN_TRY(sc_layernorm_backward(dr1, g->norm1_weight, g->norm1_bias, dx1, t.r1, t.mean1,
                                       t.rstd1, w->norm1_weight, N, E));
    }
    /* r1 = x + drop1(a) */
    if (dx) sc_axpy(e, 1.0f, dr1, dx);
    float *da = dx1; /* dx1 no longer needed */
    memset(da, 0, e * sizeof(float));
    if (drop)
        sc_dropout_backward(dr1, t.m1, e, da);
    else
        memcpy(da, dr1, e * sizeof(float));
    if (d->norm_first) {
        float *dn1 = tmp;
        memset(dn1, 0, e * sizeof(float));
        st = sc_mha_backward(&md, &w->self_attn, t.n1, t.n1, t.n1, t.mha, train, da, dn1, dn1, dn1,
                             &g->self_attn);
        if (!st)
            ATTN_TRY(sc_layernorm_backward(dx, g->norm1_weight, g->norm1_bias, dn1, x, t.mean1,
                                           t.rstd1, w->norm1_weight, N, E));
    } else {
        st = sc_mha_backward(&md, &w->self_attn, x, x, x, t.mha, train, da, dx, dx, dx,
                             &g->self_attn);
    }
    sc_free(s);
    return st;
}

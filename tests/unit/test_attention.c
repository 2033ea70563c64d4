/* Attention kernels: finite-difference gradient checks of every backward,
 * hard-attention sampling statistics, argument validation. (PyTorch parity is
 * in tests/parity/test_attention_parity.c.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_attention.h"

#define EPS 1e-3
#define RTOL 2e-2
#define ATOL 2e-4
#define CHECKS 24
/* The encoder layer's loss sums 48 float32 outputs of size ~1: its finite
 * differences carry ~1e-4 of rounding noise. */
#define TEL_ATOL 5e-4

static float *rnd(size_t n, float scale, uint64_t seed) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    sc_test_fill_uniform(p, n, -scale, scale, seed);
    return p;
}
/* ---------------------------------------------------------------- additive */

typedef struct {
    sc_addatt_desc d;
    float *f, *h, *h2, *w[6], *g[6], *ctx, *alpha, *cache, *cache2, *proj, *Gc, *Ga;
    int split; /* 1: precompute once + two steps sharing proj */
} add_ctx;

static sc_addatt_weights add_w(add_ctx *c) {
    sc_addatt_weights w = {c->w[0], c->w[1], c->w[2], c->w[3], c->w[4], c->w[5]};
    return w;
}

static double add_loss(void *vc) {
    add_ctx *c = vc;
    sc_addatt_weights w = add_w(c);
    size_t nE = (size_t)c->d.B * c->d.E, nP = (size_t)c->d.B * c->d.P;
    if (!c->split) {
        SC_TEST_OK(sc_addatt_forward(&c->d, c->f, c->h, &w, c->ctx, c->alpha, c->cache));
        return sc_test_dot(c->ctx, c->Gc, nE) + sc_test_dot(c->alpha, c->Ga, nP);
    }
    SC_TEST_OK(sc_addatt_precompute(&c->d, c->f, &w, c->proj));
    SC_TEST_OK(sc_addatt_step_forward(&c->d, c->f, c->proj, c->h, &w, c->ctx, c->alpha, c->cache));
    double l = sc_test_dot(c->ctx, c->Gc, nE) + sc_test_dot(c->alpha, c->Ga, nP);
    SC_TEST_OK(sc_addatt_step_forward(&c->d, c->f, c->proj, c->h2, &w, c->ctx, NULL, c->cache2));
    return l + 0.5 * sc_test_dot(c->ctx, c->Gc, nE);
}

static void additive_gradcheck(sc_addatt_act act, int split) {
    add_ctx c;
    memset(&c, 0, sizeof c);
    c.d = (sc_addatt_desc){3, 5, 4, 3, 6, act};
    c.split = split;
    const sc_addatt_desc *d = &c.d;
    size_t nw[6] = {(size_t)d->A * d->E, d->A, (size_t)d->A * d->H, d->A, d->A, 1};
    for (int i = 0; i < 6; i++) c.w[i] = rnd(nw[i], 0.6f, 10 + i), c.g[i] = sc_test_zeros(nw[i]);
    size_t nf = (size_t)d->B * d->P * d->E, nh = (size_t)d->B * d->H;
    c.f = rnd(nf, 1.0f, 1), c.h = rnd(nh, 1.0f, 2), c.h2 = rnd(nh, 1.0f, 3);
    c.ctx = sc_test_zeros((size_t)d->B * d->E), c.alpha = sc_test_zeros((size_t)d->B * d->P);
    c.cache = sc_test_zeros(sc_addatt_cache_floats(d)),
    c.cache2 = sc_test_zeros(sc_addatt_cache_floats(d));
    c.proj = sc_test_zeros((size_t)d->B * d->P * d->A);
    c.Gc = rnd((size_t)d->B * d->E, 1.0f, 4), c.Ga = rnd((size_t)d->B * d->P, 1.0f, 5);
    add_loss(&c);
    float *df = sc_test_zeros(nf), *dh = sc_test_zeros(nh), *dh2 = sc_test_zeros(nh);
    sc_addatt_grads g = {c.g[0], c.g[1], c.g[2], c.g[3], c.g[4], c.g[5]};
    sc_addatt_weights w = add_w(&c);
    /* alphas sum to one */
    for (int b = 0; b < d->B; b++) {
        double s = 0;
        for (int p = 0; p < d->P; p++) s += c.alpha[b * d->P + p];
        assert_true(fabs(s - 1.0) < 1e-5);
    }
    if (!split) {
        SC_TEST_OK(sc_addatt_backward(d, c.f, c.h, &w, c.cache, c.Gc, c.Ga, df, dh, &g));
    } else {
        float *dproj = sc_test_zeros((size_t)d->B * d->P * d->A),
              *half = sc_test_zeros((size_t)d->B * d->E);
        for (int i = 0; i < d->B * d->E; i++) half[i] = 0.5f * c.Gc[i];
        SC_TEST_OK(
            sc_addatt_step_backward(d, c.f, c.h, &w, c.cache, c.Gc, c.Ga, df, dproj, dh, &g));
        SC_TEST_OK(
            sc_addatt_step_backward(d, c.f, c.h2, &w, c.cache2, half, NULL, df, dproj, dh2, &g));
        SC_TEST_OK(sc_addatt_precompute_backward(d, c.f, &w, dproj, df, &g));
        free(dproj), free(half);
        sc_test_gradcheck("additive h2", add_loss, &c, c.h2, dh2, nh, CHECKS, EPS, RTOL, ATOL);
    }
    sc_test_gradcheck("additive features", add_loss, &c, c.f, df, nf, CHECKS, EPS, RTOL, ATOL);
    sc_test_gradcheck("additive hidden", add_loss, &c, c.h, dh, nh, CHECKS, EPS, RTOL, ATOL);
    const char *names[6] = {"encoder_att.weight", "encoder_att.bias", "decoder_att.weight",
                            "decoder_att.bias",   "full_att.weight",  "full_att.bias"};
    for (int i = 0; i < 6; i++)
        sc_test_gradcheck(names[i], add_loss, &c, c.w[i], c.g[i], nw[i], CHECKS, EPS, RTOL, ATOL);
    for (int i = 0; i < 6; i++) free(c.w[i]), free(c.g[i]);
    free(c.f), free(c.h), free(c.h2), free(c.ctx), free(c.alpha), free(c.cache), free(c.cache2);
    free(c.proj), free(c.Gc), free(c.Ga), free(df), free(dh), free(dh2);
}

static void test_additive_relu_gradcheck(void **s) {
    (void)s;
    additive_gradcheck(SC_ADDATT_RELU, 0);
}
static void test_additive_tanh_gradcheck(void **s) {
    (void)s;
    additive_gradcheck(SC_ADDATT_TANH, 0);
}
static void test_additive_precompute_split_gradcheck(void **s) {
    (void)s;
    additive_gradcheck(SC_ADDATT_RELU, 1);
    additive_gradcheck(SC_ADDATT_TANH, 1);
}

/* The split API gives exactly what the one-shot forward gives. */
static void test_additive_split_matches_oneshot(void **s) {
    (void)s;
    sc_addatt_desc d = {2, 7, 5, 4, 3, SC_ADDATT_TANH};
    float *f = rnd(2 * 7 * 5, 1, 1), *h = rnd(8, 1, 2), *w[6];
    size_t nw[6] = {15, 3, 12, 3, 3, 1};
    for (int i = 0; i < 6; i++) w[i] = rnd(nw[i], 0.5f, 20 + i);
    sc_addatt_weights W = {w[0], w[1], w[2], w[3], w[4], w[5]};
    float c1[10], c2[10], a1[14], a2[14], proj[42];
    float *cache = sc_test_zeros(sc_addatt_cache_floats(&d));
    SC_TEST_OK(sc_addatt_forward(&d, f, h, &W, c1, a1, cache));
    SC_TEST_OK(sc_addatt_precompute(&d, f, &W, proj));
    SC_TEST_OK(sc_addatt_step_forward(&d, f, proj, h, &W, c2, a2, cache));
    assert_memory_equal(c1, c2, sizeof c1);
    assert_memory_equal(a1, a2, sizeof a1);
    for (int i = 0; i < 6; i++) free(w[i]);
    free(f), free(h), free(cache);
}

/* ---------------------------------------------------------------- SDPA */

typedef struct {
    int B, nh, Lq, Lk, D, Dv;
    float *q, *k, *v, *out, *attn, *attn_drop, *Go, *Ga;
    uint8_t *am, *kpm;
    float p;
} sdpa_ctx;

static double sdpa_loss(void *vc) {
    sdpa_ctx *c = vc;
    sc_rng r;
    sc_rng_seed(&r, 77); /* same dropout mask at every evaluation */
    SC_TEST_OK(sc_sdpa_forward(c->B, c->nh, c->Lq, c->Lk, c->D, c->Dv, c->q, c->k, c->v, c->am,
                               c->kpm, c->p, 1, &r, c->out, c->attn, c->attn_drop));
    return sc_test_dot(c->out, c->Go, (size_t)c->B * c->Lq * c->nh * c->Dv) +
           sc_test_dot(c->attn, c->Ga, (size_t)c->B * c->nh * c->Lq * c->Lk);
}

static void sdpa_gradcheck(float p) {
    sdpa_ctx c;
    memset(&c, 0, sizeof c);
    c.B = 2, c.nh = 2, c.Lq = 4, c.Lk = 5, c.D = 3, c.Dv = 2;
    c.p = p;
    size_t nq = (size_t)c.B * c.Lq * c.nh * c.D, nk = (size_t)c.B * c.Lk * c.nh * c.D,
           nv = (size_t)c.B * c.Lk * c.nh * c.Dv, no = (size_t)c.B * c.Lq * c.nh * c.Dv,
           na = (size_t)c.B * c.nh * c.Lq * c.Lk;
    c.q = rnd(nq, 1.5f, 1), c.k = rnd(nk, 1.5f, 2), c.v = rnd(nv, 1, 3);
    c.out = sc_test_zeros(no), c.attn = sc_test_zeros(na),
    c.attn_drop = p > 0 ? sc_test_zeros(na) : NULL;
    c.Go = rnd(no, 1, 4), c.Ga = rnd(na, 1, 5);
    uint8_t am[20] = {0}, kpm[10] = {0};
    am[0 * 5 + 1] = am[2 * 5 + 3] = am[3 * 5 + 0] = 1;
    kpm[0 * 5 + 4] = 1;
    for (int j = 0; j < 5; j++) kpm[5 + j] = j >= 2; /* batch 1: keys 2..4 padded */
    am[1 * 5 + 0] = am[1 * 5 + 1] = 1;               /* batch 1, query 1: every key masked */
    c.am = am, c.kpm = kpm;
    sdpa_loss(&c);
    /* masked weights are exactly 0; the fully masked row gives zeros, not NaN */
    for (int b = 0; b < 2; b++)
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 5; j++) {
                    float a = c.attn[(((size_t)b * 2 + h) * 4 + i) * 5 + j];
                    assert_true(isfinite(a));
                    if (am[i * 5 + j] || kpm[b * 5 + j]) assert_true(a == 0.0f);
                }
    for (int h = 0; h < 2; h++)
        for (int e = 0; e < c.Dv; e++) assert_true(c.out[(1 * 4 + 1) * 4 + h * 2 + e] == 0.0f);
    float *dq = sc_test_zeros(nq), *dk = sc_test_zeros(nk), *dv = sc_test_zeros(nv);
    SC_TEST_OK(sc_sdpa_backward(c.B, c.nh, c.Lq, c.Lk, c.D, c.Dv, c.q, c.k, c.v, c.attn,
                                c.attn_drop, p, c.Go, c.Ga, dq, dk, dv));
    sc_test_gradcheck("sdpa q", sdpa_loss, &c, c.q, dq, nq, 40, EPS, RTOL, ATOL);
    sc_test_gradcheck("sdpa k", sdpa_loss, &c, c.k, dk, nk, 40, EPS, RTOL, ATOL);
    sc_test_gradcheck("sdpa v", sdpa_loss, &c, c.v, dv, nv, 40, EPS, RTOL, ATOL);
    free(c.q), free(c.k), free(c.v), free(c.out), free(c.attn), free(c.attn_drop), free(c.Go),
        free(c.Ga), free(dq), free(dk), free(dv);
}

static void test_sdpa_masked_gradcheck(void **s) {
    (void)s;
    sdpa_gradcheck(0.0f);
}
static void test_sdpa_dropout_gradcheck(void **s) {
    (void)s;
    sdpa_gradcheck(0.3f);
}

/* Dropout statistics: about p of the weights dropped, survivors scaled. */
static void test_sdpa_dropout_mask(void **s) {
    (void)s;
    int B = 1, nh = 1, L = 64, D = 4;
    float *q = rnd(L * D, 1, 1), *k = rnd(L * D, 1, 2), *v = rnd(L * D, 1, 3);
    float *out = sc_test_zeros(L * D), *a = sc_test_zeros(L * L), *ad = sc_test_zeros(L * L);
    sc_rng r;
    sc_rng_seed(&r, 5);
    SC_TEST_OK(sc_sdpa_forward(B, nh, L, L, D, D, q, k, v, NULL, NULL, 0.25f, 1, &r, out, a, ad));
    int dropped = 0;
    for (int i = 0; i < L * L; i++) {
        if (ad[i] == 0.0f)
            dropped++;
        else
            assert_true(fabsf(ad[i] - a[i] / 0.75f) <= 1e-6f * a[i]);
    }
    double frac = (double)dropped / (L * L);
    assert_true(frac > 0.22 && frac < 0.28);
    /* eval mode: no rng needed, attn_drop unused */
    SC_TEST_OK(
        sc_sdpa_forward(B, nh, L, L, D, D, q, k, v, NULL, NULL, 0.25f, 0, NULL, out, a, NULL));
    free(q), free(k), free(v), free(out), free(a), free(ad);
}

/* ---------------------------------------------------------------- MHA */

typedef struct {
    sc_mha_desc d;
    float *q, *k, *v, *w[4], *cache, *out, *G;
    int self, train;
} mha_ctx;

static sc_mha_weights mha_w(mha_ctx *c) {
    sc_mha_weights w = {c->w[0], c->w[1], c->w[2], c->w[3], NULL, NULL, NULL};
    return w;
}

static double mha_loss(void *vc) {
    mha_ctx *c = vc;
    sc_mha_weights w = mha_w(c);
    sc_rng r;
    sc_rng_seed(&r, 99);
    const float *k = c->self ? c->q : c->k, *v = c->self ? c->q : c->v;
    uint8_t kpm[2 * 6] = {0};
    kpm[5] = 1; /* batch 0, last key padded */
    SC_TEST_OK(
        sc_mha_forward(&c->d, &w, c->q, k, v, NULL, kpm, c->train, &r, c->cache, c->out, NULL, 0));
    return sc_test_dot(c->out, c->G, (size_t)c->d.B * c->d.Lq * c->d.E);
}

static void mha_gradcheck(int self, float p) {
    mha_ctx c;
    memset(&c, 0, sizeof c);
    c.d = (sc_mha_desc){2, self ? 6 : 4, 6, 6, 2, p};
    c.self = self, c.train = p > 0;
    const int E = c.d.E;
    size_t nq = (size_t)c.d.B * c.d.Lq * E, nk = (size_t)c.d.B * c.d.Lk * E;
    size_t nw[4] = {(size_t)3 * E * E, (size_t)3 * E, (size_t)E * E, E};
    float *g[4];
    for (int i = 0; i < 4; i++) c.w[i] = rnd(nw[i], 0.5f, 30 + i), g[i] = sc_test_zeros(nw[i]);
    c.q = rnd(nq, 1, 1), c.k = rnd(nk, 1, 2), c.v = rnd(nk, 1, 3);
    c.cache = sc_test_zeros(sc_mha_cache_floats(&c.d)), c.out = sc_test_zeros(nq),
    c.G = rnd(nq, 1, 4);
    mha_loss(&c);
    float *dq = sc_test_zeros(nq), *dk = self ? dq : sc_test_zeros(nk),
          *dv = self ? dq : sc_test_zeros(nk);
    sc_mha_grads gr = {g[0], g[1], g[2], g[3]};
    sc_mha_weights w = mha_w(&c);
    SC_TEST_OK(sc_mha_backward(&c.d, &w, c.q, self ? c.q : c.k, self ? c.q : c.v, c.cache, c.train,
                               c.G, dq, dk, dv, &gr));
    sc_test_gradcheck("mha query", mha_loss, &c, c.q, dq, nq, CHECKS, EPS, RTOL, ATOL);
    if (!self) {
        sc_test_gradcheck("mha key", mha_loss, &c, c.k, dk, nk, CHECKS, EPS, RTOL, ATOL);
        sc_test_gradcheck("mha value", mha_loss, &c, c.v, dv, nk, CHECKS, EPS, RTOL, ATOL);
        free(dk), free(dv);
    }
    const char *names[4] = {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"};
    for (int i = 0; i < 4; i++)
        sc_test_gradcheck(names[i], mha_loss, &c, c.w[i], g[i], nw[i], 40, EPS, RTOL, ATOL);
    for (int i = 0; i < 4; i++) free(c.w[i]), free(g[i]);
    free(c.q), free(c.k), free(c.v), free(c.cache), free(c.out), free(c.G), free(dq);
}

static void test_mha_self_gradcheck(void **s) {
    (void)s;
    mha_gradcheck(1, 0.0f);
    mha_gradcheck(1, 0.2f); /* with attention dropout, fixed mask */
}
static void test_mha_cross_gradcheck(void **s) {
    (void)s;
    mha_gradcheck(0, 0.0f);
}

/* Averaged weights are the mean of the per-head ones; rows sum to 1. */
static void test_mha_weights_average(void **s) {
    (void)s;
    sc_mha_desc d = {2, 3, 5, 6, 3, 0.0f};
    float *w0 = rnd(108, 0.5f, 1), *w2 = rnd(36, 0.5f, 2), *q = rnd(36, 1, 3), *k = rnd(60, 1, 4);
    sc_mha_weights w = {w0, NULL, w2, NULL, NULL, NULL, NULL};
    float *cache = sc_test_zeros(sc_mha_cache_floats(&d)), out[36], per[2 * 3 * 3 * 5],
          avg[2 * 3 * 5];
    SC_TEST_OK(sc_mha_forward(&d, &w, q, k, k, NULL, NULL, 0, NULL, cache, out, per, 0));
    SC_TEST_OK(sc_mha_forward(&d, &w, q, k, k, NULL, NULL, 0, NULL, cache, out, avg, 1));
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 15; i++) {
            float m = 0;
            for (int h = 0; h < 3; h++) m += per[(b * 3 + h) * 15 + i];
            assert_true(fabsf(m / 3 - avg[b * 15 + i]) < 1e-6f);
        }
    for (int r = 0; r < 2 * 3 * 3; r++) {
        double sum = 0;
        for (int j = 0; j < 5; j++) sum += per[r * 5 + j];
        assert_true(fabs(sum - 1) < 1e-5);
    }
    free(w0), free(w2), free(q), free(k), free(cache);
}

/* ---------------------------------------------------------------- transformer layer */

typedef struct {
    sc_tel_desc d;
    float *x, *w[12], *cache, *y, *G;
    int train;
} tel_ctx;

static sc_tel_weights tel_w(tel_ctx *c) {
    sc_tel_weights w = {{c->w[0], c->w[1], c->w[2], c->w[3], NULL, NULL, NULL},
                        c->w[4],
                        c->w[5],
                        c->w[6],
                        c->w[7],
                        c->w[8],
                        c->w[9],
                        c->w[10],
                        c->w[11]};
    return w;
}

static double tel_loss(void *vc) {
    tel_ctx *c = vc;
    sc_tel_weights w = tel_w(c);
    sc_rng r;
    sc_rng_seed(&r, 123);
    uint8_t am[16] = {0};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) am[i * 4 + j] = 1; /* causal */
    SC_TEST_OK(sc_tel_forward(&c->d, &w, c->x, am, NULL, c->train, &r, c->cache, c->y, NULL));
    return sc_test_dot(c->y, c->G, (size_t)c->d.B * c->d.L * c->d.E);
}

static void tel_gradcheck(int norm_first, sc_tel_act act, float p) {
    tel_ctx c;
    memset(&c, 0, sizeof c);
    c.d = (sc_tel_desc){2, 4, 6, 2, 10, p, act, norm_first, 1e-5f};
    c.train = p > 0;
    const int E = 6, F = 10;
    size_t nw[12] = {(size_t)3 * E * E,
                     (size_t)3 * E,
                     (size_t)E * E,
                     E,
                     (size_t)F * E,
                     F,
                     (size_t)E * F,
                     E,
                     E,
                     E,
                     E,
                     E};
    float *g[12];
    for (int i = 0; i < 12; i++) {
        c.w[i] = rnd(nw[i], 0.5f, 40 + i), g[i] = sc_test_zeros(nw[i]);
        if (i == 8 || i == 10)
            for (size_t j = 0; j < nw[i]; j++) c.w[i][j] += 1.0f; /* norm gains near 1 */
    }
    size_t nx = (size_t)2 * 4 * E;
    c.x = rnd(nx, 1, 1), c.cache = sc_test_zeros(sc_tel_cache_floats(&c.d)),
    c.y = sc_test_zeros(nx);
    c.G = rnd(nx, 1, 2);
    tel_loss(&c);
    float *dx = sc_test_zeros(nx);
    sc_tel_grads gr = {{g[0], g[1], g[2], g[3]}, g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11]};
    sc_tel_weights w = tel_w(&c);
    SC_TEST_OK(sc_tel_backward(&c.d, &w, c.x, c.cache, c.train, c.G, dx, &gr));
    sc_test_gradcheck("tel x", tel_loss, &c, c.x, dx, nx, CHECKS, EPS, RTOL, TEL_ATOL);
    const char *names[12] = {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias",
                             "linear1.weight", "linear1.bias", "linear2.weight",  "linear2.bias",
                             "norm1.weight",   "norm1.bias",   "norm2.weight",    "norm2.bias"};
    for (int i = 0; i < 12; i++)
        sc_test_gradcheck(names[i], tel_loss, &c, c.w[i], g[i], nw[i], 16, EPS, RTOL, TEL_ATOL);
    for (int i = 0; i < 12; i++) free(c.w[i]), free(g[i]);
    free(c.x), free(c.cache), free(c.y), free(c.G), free(dx);
}

static void test_tel_post_norm_gradcheck(void **s) {
    (void)s;
    tel_gradcheck(0, SC_TEL_RELU, 0.0f);
    tel_gradcheck(0, SC_TEL_GELU, 0.15f);
}
static void test_tel_pre_norm_gradcheck(void **s) {
    (void)s;
    tel_gradcheck(1, SC_TEL_GELU, 0.0f);
    tel_gradcheck(1, SC_TEL_RELU, 0.15f);
}

/* ---------------------------------------------------------------- ViT pieces */

typedef struct {
    int B, C, H, W, p, D;
    float *x, *w, *b, *ws, *out, *G, *cls, *pos, *emb, *G2;
} pe_ctx;

static double pe_loss(void *vc) {
    pe_ctx *c = vc;
    SC_TEST_OK(sc_patch_embed_forward(c->B, c->C, c->H, c->W, c->p, c->D, c->x, c->w, c->b, c->ws,
                                      c->out));
    int N = (c->H / c->p) * (c->W / c->p);
    SC_TEST_OK(sc_vit_embed_forward(c->B, N, c->D, c->out, c->cls, c->pos, c->emb));
    return sc_test_dot(c->emb, c->G2, (size_t)c->B * (N + 1) * c->D);
}

static void test_patch_embed_gradcheck(void **s) {
    (void)s;
    pe_ctx c; /* 2x3 patches; last row/cols ignored */
    memset(&c, 0, sizeof c);
    c.B = 2, c.C = 3, c.H = 7, c.W = 9, c.p = 3, c.D = 4;
    int N = 6, K = 27;
    size_t nx = (size_t)2 * 3 * 7 * 9;
    c.x = rnd(nx, 1, 1), c.w = rnd((size_t)4 * K, 0.3f, 2), c.b = rnd(4, 0.3f, 3);
    c.ws = sc_test_zeros(sc_patch_embed_ws_floats(2, 3, 7, 9, 3)),
    c.out = sc_test_zeros((size_t)2 * N * 4);
    c.cls = rnd(4, 1, 4), c.pos = rnd((size_t)(N + 1) * 4, 1, 5);
    c.emb = sc_test_zeros((size_t)2 * (N + 1) * 4), c.G2 = rnd((size_t)2 * (N + 1) * 4, 1, 6);
    pe_loss(&c);
    float *dtok = sc_test_zeros((size_t)2 * N * 4), *dcls = sc_test_zeros(4),
          *dpos = sc_test_zeros((size_t)(N + 1) * 4);
    SC_TEST_OK(sc_vit_embed_backward(2, N, 4, 1, c.G2, dtok, dcls, dpos));
    float *dx = sc_test_zeros(nx), *dw = sc_test_zeros((size_t)4 * K), *db = sc_test_zeros(4);
    SC_TEST_OK(sc_patch_embed_backward(2, 3, 7, 9, 3, 4, c.x, c.w, dtok, c.ws, dx, dw, db));
    sc_test_gradcheck("patch x", pe_loss, &c, c.x, dx, nx, 60, EPS, RTOL, ATOL);
    sc_test_gradcheck("patch proj.weight", pe_loss, &c, c.w, dw, (size_t)4 * K, CHECKS, EPS, RTOL,
                      ATOL);
    sc_test_gradcheck("patch proj.bias", pe_loss, &c, c.b, db, 4, 4, EPS, RTOL, ATOL);
    sc_test_gradcheck("cls_token", pe_loss, &c, c.cls, dcls, 4, 4, EPS, RTOL, ATOL);
    sc_test_gradcheck("pos_embed", pe_loss, &c, c.pos, dpos, (size_t)(N + 1) * 4, CHECKS, EPS, RTOL,
                      ATOL);
    /* pixels outside the patch grid (row 6, columns >= 9) get exactly zero */
    for (int ch = 0; ch < 3; ch++)
        for (int x = 0; x < 9; x++) assert_true(dx[((size_t)ch * 7 + 6) * 9 + x] == 0.0f);
    free(c.x), free(c.w), free(c.b), free(c.ws), free(c.out), free(c.cls), free(c.pos), free(c.emb);
    free(c.G2), free(dtok), free(dcls), free(dpos), free(dx), free(dw), free(db);
}

/* Uniform attention stays uniform through rollout; identity gives zeros. */
static void test_rollout_properties(void **s) {
    (void)s;
    int gh = 2, gw = 3, T = 7, nh = 2, nl = 3;
    float *a = sc_test_zeros((size_t)nl * nh * T * T), out[6];
    for (size_t i = 0; i < (size_t)nl * nh * T * T; i++) a[i] = 1.0f / T;
    SC_TEST_OK(sc_attention_rollout(nl, nh, gh, gw, a, 0.0f, out));
    double sum = 0;
    for (int i = 0; i < 6; i++) assert_true(fabsf(out[i] - out[0]) < 1e-6f), sum += out[i];
    assert_true(sum > 0 && sum < 1);
    memset(a, 0, (size_t)nl * nh * T * T * sizeof(float));
    for (int l = 0; l < nl * nh; l++)
        for (int i = 0; i < T; i++) a[((size_t)l * T + i) * T + i] = 1.0f;
    SC_TEST_OK(sc_attention_rollout(nl, nh, gh, gw, a, 0.5f, out));
    for (int i = 0; i < 6; i++) assert_true(out[i] == 0.0f);
    free(a);
}

/* ---------------------------------------------------------------- hard attention */

static void test_hard_attention_sampling(void **s) {
    (void)s;
    const int P = 4, B = 20000;
    float row[4] = {0.1f, 0.2f, 0.0f, 0.7f};
    float *alpha = malloc((size_t)B * P * sizeof(float)), *lp = malloc(B * sizeof(float));
    float *dl = sc_test_zeros((size_t)B * P), *sc = malloc(B * sizeof(float));
    int32_t *idx = malloc(B * sizeof(int32_t));
    for (int b = 0; b < B; b++) memcpy(alpha + (size_t)b * P, row, sizeof row), sc[b] = 2.0f;
    sc_rng r;
    sc_rng_seed(&r, 42);
    SC_TEST_OK(sc_hard_attention_sample(B, P, alpha, &r, idx, lp, sc, dl));
    int cnt[4] = {0};
    for (int b = 0; b < B; b++) {
        assert_true(idx[b] >= 0 && idx[b] < P);
        cnt[idx[b]]++;
        assert_true(fabsf(lp[b] - logf(row[idx[b]])) < 1e-6f);
        double sum = 0;
        for (int p = 0; p < P; p++) {
            float want = 2.0f * ((p == idx[b]) - row[p]);
            assert_true(fabsf(dl[(size_t)b * P + p] - want) < 1e-6f);
            sum += dl[(size_t)b * P + p];
        }
        assert_true(fabs(sum) < 1e-5);
    }
    assert_int_equal(cnt[2], 0); /* zero probability: never sampled */
    for (int p = 0; p < P; p++)  /* 4.5 sigma bands */
        assert_true(fabs((double)cnt[p] / B - row[p]) <=
                    4.5 * sqrt(row[p] * (1 - row[p]) / B) + 1e-9);
    /* reproducible from the seed */
    int32_t first = idx[0];
    sc_rng_seed(&r, 42);
    SC_TEST_OK(sc_hard_attention_sample(1, P, alpha, &r, idx, NULL, NULL, NULL));
    assert_int_equal(idx[0], first);
    /* invalid rows are rejected before anything is written */
    float bad[8] = {0.5f, 0.5f, 0, 0, 0.2f, -0.1f, 0.5f, 0.4f};
    idx[0] = idx[1] = -7;
    assert_int_equal(sc_hard_attention_sample(2, 4, bad, &r, idx, NULL, NULL, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(idx[0], -7);
    float zero[4] = {0};
    assert_int_equal(sc_hard_attention_sample(1, 4, zero, &r, idx, NULL, NULL, NULL),
                     SC_ERR_INVALID_ARG);
    float nanrow[2] = {NAN, 1};
    assert_int_equal(sc_hard_attention_sample(1, 2, nanrow, &r, idx, NULL, NULL, NULL),
                     SC_ERR_INVALID_ARG);
    free(alpha), free(lp), free(dl), free(sc), free(idx);
}

/* ---------------------------------------------------------------- validation */

static void test_argument_validation(void **s) {
    (void)s;
    float buf[4096] = {0};
    uint8_t m[64] = {0};
    sc_rng r;
    sc_rng_seed(&r, 1);
    /* additive */
    sc_addatt_desc ad = {2, 3, 4, 5, 0, SC_ADDATT_RELU};
    sc_addatt_weights aw = {buf, buf, buf, buf, buf, buf};
    assert_int_equal(sc_addatt_step_cache_floats(&ad), 0);
    assert_int_equal(sc_addatt_forward(&ad, buf, buf, &aw, buf, buf, buf), SC_ERR_INVALID_ARG);
    ad.A = 3, ad.act = (sc_addatt_act)7;
    assert_int_equal(sc_addatt_forward(&ad, buf, buf, &aw, buf, buf, buf), SC_ERR_INVALID_ARG);
    ad.act = SC_ADDATT_TANH;
    assert_int_equal(sc_addatt_step_forward(&ad, buf, buf, buf, &aw, buf, buf, NULL),
                     SC_ERR_INVALID_ARG);
    aw.full_att_weight = NULL;
    assert_int_equal(sc_addatt_step_forward(&ad, buf, buf, buf, &aw, buf, buf, buf),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "full_att"));
    ad.B = 1 << 30, ad.P = 1 << 30;
    assert_int_equal(sc_addatt_cache_floats(&ad), 0);
    assert_int_equal(sc_addatt_precompute(&ad, buf, &aw, buf), SC_ERR_INVALID_ARG);
    /* SDPA */
    assert_int_equal(
        sc_sdpa_forward(1, 1, 0, 2, 2, 2, buf, buf, buf, NULL, NULL, 0, 0, NULL, buf, buf, NULL),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_sdpa_forward(1, 1, 2, 2, 2, 2, buf, buf, buf, m, m, 1.0f, 1, &r, buf, buf, buf),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_sdpa_forward(1, 1, 2, 2, 2, 2, buf, buf, buf, m, m, 0.5f, 1, NULL, buf, buf, buf),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_sdpa_forward(1, 1, 2, 2, 2, 2, buf, buf, buf, m, m, 0.5f, 1, &r, buf, buf, NULL),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_sdpa_forward(1, 1, 2, 2, 2, 2, NULL, buf, buf, m, m, 0, 0, NULL, buf, buf, NULL),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_sdpa_backward(1, 1, 2, 2, 2, 2, buf, buf, buf, buf, buf, 0.0f, buf, NULL, buf, buf, buf),
        SC_ERR_INVALID_ARG);
    /* MHA */
    sc_mha_desc md = {1, 2, 2, 6, 4, 0.0f};
    sc_mha_weights mw = {buf, NULL, buf, NULL, NULL, NULL, NULL};
    assert_int_equal(
        sc_mha_forward(&md, &mw, buf, buf, buf, NULL, NULL, 0, NULL, buf, buf, NULL, 0),
        SC_ERR_SHAPE);
    md.num_heads = 2, md.dropout_p = -0.1f;
    assert_int_equal(
        sc_mha_forward(&md, &mw, buf, buf, buf, NULL, NULL, 0, NULL, buf, buf, NULL, 0),
        SC_ERR_INVALID_ARG);
    md.dropout_p = 0.1f;
    assert_int_equal(
        sc_mha_forward(&md, &mw, buf, buf, buf, NULL, NULL, 1, NULL, buf, buf, NULL, 0),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_mha_forward(&md, &mw, buf, buf, buf, NULL, NULL, 0, NULL, NULL, buf, NULL, 0),
        SC_ERR_INVALID_ARG);
    mw.in_proj_weight = NULL;
    assert_int_equal(sc_mha_backward(&md, &mw, buf, buf, buf, buf, 0, buf, NULL, NULL, NULL, NULL),
                     SC_ERR_INVALID_ARG);
    md.B = md.Lq = md.Lk = 1 << 20, md.E = 1 << 20;
    assert_int_equal(sc_mha_cache_floats(&md), 0);
    /* transformer layer */
    sc_tel_desc td = {1, 2, 4, 2, 8, 0.0f, SC_TEL_RELU, 0, 0.0f};
    sc_tel_weights tw = {
        {buf, buf, buf, buf, NULL, NULL, NULL}, buf, buf, buf, buf, buf, buf, buf, buf};
    assert_int_equal(sc_tel_forward(&td, &tw, buf, NULL, NULL, 0, NULL, buf, buf, NULL),
                     SC_ERR_INVALID_ARG); /* eps 0 */
    td.eps = 1e-5f, td.act = (sc_tel_act)3;
    assert_int_equal(sc_tel_forward(&td, &tw, buf, NULL, NULL, 0, NULL, buf, buf, NULL),
                     SC_ERR_INVALID_ARG);
    td.act = SC_TEL_GELU, td.nhead = 3;
    assert_int_equal(sc_tel_forward(&td, &tw, buf, NULL, NULL, 0, NULL, buf, buf, NULL),
                     SC_ERR_SHAPE);
    td.nhead = 2, tw.linear2_weight = NULL;
    assert_int_equal(sc_tel_backward(&td, &tw, buf, buf, 0, buf, buf, NULL), SC_ERR_INVALID_ARG);
    /* ViT pieces */
    assert_int_equal(sc_patch_embed_ws_floats(1, 3, 4, 4, 5), 0);
    assert_int_equal(sc_patch_embed_forward(1, 3, 4, 4, 5, 2, buf, buf, NULL, buf, buf),
                     SC_ERR_SHAPE);
    assert_int_equal(sc_patch_embed_forward(1, 3, 4, 4, 2, 2, buf, buf, NULL, NULL, buf),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_vit_embed_forward(1, 0, 4, buf, NULL, NULL, buf), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_pos_embed_sincos_2d(2, 2, 6, buf), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_pos_embed_sincos_2d(2, 2, 8, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_attention_rollout(1, 1, 2, 2, buf, 1.0f, buf), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_attention_rollout(1, 1, 2, 2, buf, NAN, buf), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_attention_rollout(1, 1, 1 << 20, 1 << 20, buf, 0, buf), SC_ERR_INVALID_ARG);
    /* hard attention */
    int32_t idx[2];
    assert_int_equal(sc_hard_attention_sample(1, 2, buf, NULL, idx, NULL, NULL, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_hard_attention_sample(0, 2, buf, &r, idx, NULL, NULL, NULL),
                     SC_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_additive_relu_gradcheck),
        cmocka_unit_test(test_additive_tanh_gradcheck),
        cmocka_unit_test(test_additive_precompute_split_gradcheck),
        cmocka_unit_test(test_additive_split_matches_oneshot),
        cmocka_unit_test(test_sdpa_masked_gradcheck),
        cmocka_unit_test(test_sdpa_dropout_gradcheck),
        cmocka_unit_test(test_sdpa_dropout_mask),
        cmocka_unit_test(test_mha_self_gradcheck),
        cmocka_unit_test(test_mha_cross_gradcheck),
        cmocka_unit_test(test_mha_weights_average),
        cmocka_unit_test(test_tel_post_norm_gradcheck),
        cmocka_unit_test(test_tel_pre_norm_gradcheck),
        cmocka_unit_test(test_patch_embed_gradcheck),
        cmocka_unit_test(test_rollout_properties),
        cmocka_unit_test(test_hard_attention_sampling),
        cmocka_unit_test(test_argument_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* sc_ops kernels: finite-difference gradient checks for every backward (all
 * inputs and parameters), argument validation, dropout statistics and
 * determinism. PyTorch parity is in tests/parity/test_ops_parity.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_rng.h"

/* float32 forward, double loss: eps 1e-3 gives FD noise ~1e-4..1e-3, while a
 * wrong factor or term is off by O(|grad|) ~ 0.1-1. */
#define EPS 1e-3
#define RTOL 2e-2
#define ATOL 2e-3

static float *fnew(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}
static float *frand(size_t n, float lo, float hi, uint64_t seed) {
    float *p = fnew(n);
    sc_test_fill_uniform(p, n, lo, hi, seed);
    return p;
}
/* ------------------------------------------------------------ embedding */

enum { EV = 9, ED = 6, EN = 12 };
static struct {
    int32_t ids[EN];
    float *W, *out, *R;
} E;

static double emb_loss(void *ctx) {
    (void)ctx;
    SC_TEST_OK(sc_embedding_forward(E.ids, EN, E.W, EV, ED, E.out));
    return sc_test_dot(E.out, E.R, (size_t)EN * ED);
}

static void test_embedding_forward_backward_padding(void **state) {
    (void)state;
    const int32_t ids[EN] = {0, 4, 4, 8, 2, 4, 1, 0, 7, 2, 4, 5}; /* repeats accumulate */
    memcpy(E.ids, ids, sizeof ids);
    E.W = frand(EV * ED, -1, 1, 1);
    E.out = fnew(EN * ED);
    E.R = frand(EN * ED, -1, 1, 2);
    emb_loss(NULL);
    for (int b = 0; b < EN; b++)
        assert_memory_equal(E.out + b * ED, E.W + ids[b] * ED, ED * sizeof(float));
    float *dW = fnew(EV * ED);
    SC_TEST_OK(sc_embedding_backward(E.ids, EN, E.R, EV, ED, -1, dW));
    sc_test_gradcheck("embedding dW", emb_loss, NULL, E.W, dW, EV * ED, EV * ED, EPS, RTOL, ATOL);
    /* padding_idx 4: that row gets nothing, all others exactly as before;
     * and backward accumulates (+=) on top of what is there. */
    float *dWp = fnew(EV * ED);
    for (int i = 0; i < EV * ED; i++) dWp[i] = 0.5f;
    SC_TEST_OK(sc_embedding_backward(E.ids, EN, E.R, EV, ED, 4, dWp));
    for (int v = 0; v < EV; v++)
        for (int d = 0; d < ED; d++)
            assert_float_equal(dWp[v * ED + d], v == 4 ? 0.5f : 0.5f + dW[v * ED + d], 1e-6);
    /* row 3 is never used: gradient stays exactly 0 */
    for (int d = 0; d < ED; d++) assert_true(dW[3 * ED + d] == 0.0f);
    free(E.W), free(E.out), free(E.R), free(dW), free(dWp);
}

static void test_embedding_rejects_bad_ids_without_reading(void **state) {
    (void)state;
    float W[4 * 3] = {0}, out[2 * 3], dout[2 * 3] = {1, 1, 1, 1, 1, 1}, dW[4 * 3] = {0};
    int32_t bad_hi[2] = {1, 4}, bad_neg[2] = {-1, 0}, ok[2] = {1, 3};
    for (int i = 0; i < 6; i++) out[i] = 42.0f;
    assert_int_equal(sc_embedding_forward(bad_hi, 2, W, 4, 3, out), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "ids[1] = 4"));
    assert_int_equal(sc_embedding_forward(bad_neg, 2, W, 4, 3, out), SC_ERR_INVALID_ARG);
    for (int i = 0; i < 6; i++) assert_true(out[i] == 42.0f); /* nothing written */
    assert_int_equal(sc_embedding_backward(bad_hi, 2, dout, 4, 3, -1, dW), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_embedding_backward(bad_neg, 2, dout, 4, 3, -1, dW), SC_ERR_INVALID_ARG);
    for (int i = 0; i < 12; i++) assert_true(dW[i] == 0.0f);
    assert_int_equal(sc_embedding_backward(ok, 2, dout, 4, 3, 4, dW), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_embedding_forward(ok, 0, W, 4, 3, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_embedding_forward(ok, 2, W, 0, 3, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_embedding_forward(ok, 2, W, 4, -3, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_embedding_forward(NULL, 2, W, 4, 3, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_embedding_forward(ok, 2, NULL, 4, 3, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_embedding_backward(ok, 2, dout, 4, 3, -1, NULL), SC_ERR_INVALID_ARG);
}

static void test_embedding_backward_deterministic_across_threads(void **state) {
    (void)state;
    enum { V = 50, D = 300, N = 2000 };
    int32_t *ids = malloc(N * sizeof(int32_t));
    sc_rng r;
    sc_rng_seed(&r, 5);
    for (int i = 0; i < N; i++) ids[i] = (int32_t)sc_rng_below(&r, V);
    float *dout = frand((size_t)N * D, -1, 1, 6), *ref = fnew(V * D), *a = fnew(V * D),
          *b = fnew(V * D);
    for (int i = 0; i < N; i++) /* serial, token order */
        for (int d = 0; d < D; d++) ref[ids[i] * D + d] += dout[(size_t)i * D + d];
    int nt = sc_get_num_threads();
    SC_TEST_OK(sc_set_num_threads(1));
    SC_TEST_OK(sc_embedding_backward(ids, N, dout, V, D, -1, a));
    SC_TEST_OK(sc_set_num_threads(2));
    SC_TEST_OK(sc_embedding_backward(ids, N, dout, V, D, -1, b));
    SC_TEST_OK(sc_set_num_threads(nt));
    assert_memory_equal(a, ref, V * D * sizeof(float));
    assert_memory_equal(b, ref, V * D * sizeof(float));
    free(ids), free(dout), free(ref), free(a), free(b);
}

/* ------------------------------------------------------------ LSTM cell */

enum { LB = 3, LI = 4, LH = 5 };
static struct {
    float *x, *h0, *c0, *wi, *wh, *bi, *bh, *h1, *c1, *cache, *Rh, *Rc;
    int null_state;
} L;

static double lstm_loss(void *ctx) {
    (void)ctx;
    SC_TEST_OK(sc_lstm_cell_forward(LB, LI, LH, L.x, L.null_state ? NULL : L.h0,
                                    L.null_state ? NULL : L.c0, L.wi, L.wh, L.bi, L.bh, L.h1, L.c1,
                                    L.cache));
    return sc_test_dot(L.h1, L.Rh, LB * LH) + sc_test_dot(L.c1, L.Rc, LB * LH);
}

static void lstm_setup(void) {
    L.x = frand(LB * LI, -1, 1, 11);
    L.h0 = frand(LB * LH, -1, 1, 12);
    L.c0 = frand(LB * LH, -2, 2, 13);
    L.wi = frand(4 * LH * LI, -0.8f, 0.8f, 14);
    L.wh = frand(4 * LH * LH, -0.8f, 0.8f, 15);
    L.bi = frand(4 * LH, -0.5f, 0.5f, 16);
    L.bh = frand(4 * LH, -0.5f, 0.5f, 17);
    L.h1 = fnew(LB * LH);
    L.c1 = fnew(LB * LH);
    L.cache = fnew(SC_LSTM_CACHE_FLOATS(LB, LH));
    L.Rh = frand(LB * LH, -1, 1, 18);
    L.Rc = frand(LB * LH, -1, 1, 19);
    L.null_state = 0;
}
static void lstm_teardown(void) {
    free(L.x), free(L.h0), free(L.c0), free(L.wi), free(L.wh), free(L.bi), free(L.bh);
    free(L.h1), free(L.c1), free(L.cache), free(L.Rh), free(L.Rc);
}

static void test_lstm_cell_gradcheck_all_inputs_and_params(void **state) {
    (void)state;
    lstm_setup();
    lstm_loss(NULL);
    /* Hand check of one unit against the defining equations. */
    {
        int b = 1, j = 2;
        double g[4];
        for (int k = 0; k < 4; k++) {
            int row = k * LH + j;
            double s = L.bi[row] + L.bh[row];
            for (int i = 0; i < LI; i++) s += (double)L.x[b * LI + i] * L.wi[row * LI + i];
            for (int i = 0; i < LH; i++) s += (double)L.h0[b * LH + i] * L.wh[row * LH + i];
            g[k] = k == 2 ? tanh(s) : 1 / (1 + exp(-s));
        }
        double c = g[1] * L.c0[b * LH + j] + g[0] * g[2];
        assert_float_equal(L.c1[b * LH + j], c, 1e-5);
        assert_float_equal(L.h1[b * LH + j], g[3] * tanh(c), 1e-5);
    }
    float *dx = fnew(LB * LI), *dh0 = fnew(LB * LH), *dc0 = fnew(LB * LH);
    float *dwi = fnew(4 * LH * LI), *dwh = fnew(4 * LH * LH), *dbi = fnew(4 * LH),
          *dbh = fnew(4 * LH);
    SC_TEST_OK(sc_lstm_cell_backward(LB, LI, LH, L.x, L.h0, L.c0, L.wi, L.wh, L.cache, L.Rh, L.Rc,
                                     dx, dh0, dc0, dwi, dwh, dbi, dbh));
    sc_test_gradcheck("lstm dx", lstm_loss, NULL, L.x, dx, LB * LI, 100, EPS, RTOL, ATOL);
    sc_test_gradcheck("lstm dh_prev", lstm_loss, NULL, L.h0, dh0, LB * LH, 100, EPS, RTOL, ATOL);
    sc_test_gradcheck("lstm dc_prev", lstm_loss, NULL, L.c0, dc0, LB * LH, 100, EPS, RTOL, ATOL);
    sc_test_gradcheck("lstm dw_ih", lstm_loss, NULL, L.wi, dwi, 4 * LH * LI, 200, EPS, RTOL, ATOL);
    sc_test_gradcheck("lstm dw_hh", lstm_loss, NULL, L.wh, dwh, 4 * LH * LH, 200, EPS, RTOL, ATOL);
    sc_test_gradcheck("lstm db_ih", lstm_loss, NULL, L.bi, dbi, 4 * LH, 100, EPS, RTOL, ATOL);
    sc_test_gradcheck("lstm db_hh", lstm_loss, NULL, L.bh, dbh, 4 * LH, 100, EPS, RTOL, ATOL);
    /* Accumulation: a second backward with only dh (dc NULL) and only some
     * outputs adds to what is there; check it against a fresh dh-only run. */
    float *dx2 = fnew(LB * LI), *dx3 = fnew(LB * LI);
    memcpy(dx2, dx, LB * LI * sizeof(float));
    SC_TEST_OK(sc_lstm_cell_backward(LB, LI, LH, L.x, L.h0, L.c0, L.wi, L.wh, L.cache, L.Rh, NULL,
                                     dx2, NULL, NULL, NULL, NULL, NULL, NULL));
    SC_TEST_OK(sc_lstm_cell_backward(LB, LI, LH, L.x, L.h0, L.c0, L.wi, L.wh, L.cache, L.Rh, NULL,
                                     dx3, NULL, NULL, NULL, NULL, NULL, NULL));
    for (int i = 0; i < LB * LI; i++) assert_float_equal(dx2[i], dx[i] + dx3[i], 1e-6);
    free(dx), free(dh0), free(dc0), free(dwi), free(dwh), free(dbi), free(dbh), free(dx2),
        free(dx3);
    lstm_teardown();
}

static void test_lstm_cell_null_state_and_bias_mean_zeros(void **state) {
    (void)state;
    lstm_setup();
    /* NULL h_prev / c_prev == zero state, NULL biases == zero biases. */
    float *z = fnew(4 * LH * LH), *h_a = fnew(LB * LH), *c_a = fnew(LB * LH), *h_b = fnew(LB * LH),
          *c_b = fnew(LB * LH);
    SC_TEST_OK(
        sc_lstm_cell_forward(LB, LI, LH, L.x, NULL, NULL, L.wi, L.wh, NULL, NULL, h_a, c_a, NULL));
    SC_TEST_OK(sc_lstm_cell_forward(LB, LI, LH, L.x, z, z, L.wi, L.wh, z, z, h_b, c_b, NULL));
    assert_memory_equal(h_a, h_b, LB * LH * sizeof(float));
    assert_memory_equal(c_a, c_b, LB * LH * sizeof(float));
    /* Gradcheck with the NULL state (the first step of a sequence). */
    L.null_state = 1;
    lstm_loss(NULL);
    float *dx = fnew(LB * LI), *dwi = fnew(4 * LH * LI), *dwh = fnew(4 * LH * LH),
          *dh0 = fnew(LB * LH);
    SC_TEST_OK(sc_lstm_cell_backward(LB, LI, LH, L.x, NULL, NULL, L.wi, L.wh, L.cache, L.Rh, L.Rc,
                                     dx, dh0, NULL, dwi, dwh, NULL, NULL));
    sc_test_gradcheck("lstm(null state) dx", lstm_loss, NULL, L.x, dx, LB * LI, 100, EPS, RTOL,
                      ATOL);
    sc_test_gradcheck("lstm(null state) dw_ih", lstm_loss, NULL, L.wi, dwi, 4 * LH * LI, 200, EPS,
                      RTOL, ATOL);
    for (int i = 0; i < 4 * LH * LH; i++) assert_true(dwh[i] == 0.0f); /* h = 0: no W_hh grad */
    /* dh_prev is still defined at h = 0: it is dgates @ W_hh, nonzero. */
    double s = 0;
    for (int i = 0; i < LB * LH; i++) s += fabs(dh0[i]);
    assert_true(s > 1e-3);
    free(z), free(h_a), free(c_a), free(h_b), free(c_b), free(dx), free(dwi), free(dwh), free(dh0);
    lstm_teardown();
}

static void test_lstm_cell_rejects_bad_args(void **state) {
    (void)state;
    float buf[64] = {0}, h[8], c[8];
    assert_int_equal(
        sc_lstm_cell_forward(0, 1, 1, buf, NULL, NULL, buf, buf, NULL, NULL, h, c, NULL),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_lstm_cell_forward(1, -1, 1, buf, NULL, NULL, buf, buf, NULL, NULL, h, c, NULL),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_lstm_cell_forward(1, 1, 1, NULL, NULL, NULL, buf, buf, NULL, NULL, h, c, NULL),
        SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_lstm_cell_forward(1, 1, 1, buf, NULL, NULL, buf, NULL, NULL, NULL, h, c, NULL),
        SC_ERR_INVALID_ARG);
    assert_int_equal(sc_lstm_cell_forward(1 << 30, 1 << 30, 1 << 30, buf, NULL, NULL, buf, buf,
                                          NULL, NULL, h, c, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_lstm_cell_backward(1, 1, 1, buf, NULL, NULL, buf, buf, NULL, NULL, NULL,
                                           NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                     SC_ERR_INVALID_ARG); /* no cache */
    assert_int_equal(sc_lstm_cell_backward(1, 0, 1, buf, NULL, NULL, buf, buf, buf, NULL, NULL,
                                           NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                     SC_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------ softmax */

enum { SR = 4, SN = 7 };
static struct {
    float *x, *y, *R;
    int log;
} S;

static double sm_loss(void *ctx) {
    (void)ctx;
    if (S.log)
        SC_TEST_OK(sc_log_softmax_forward(S.x, SR, SN, S.y));
    else
        SC_TEST_OK(sc_softmax_forward(S.x, SR, SN, S.y));
    return sc_test_dot(S.y, S.R, SR * SN);
}

static void test_softmax_and_log_softmax_gradcheck(void **state) {
    (void)state;
    for (int lg = 0; lg < 2; lg++) {
        S.x = frand(SR * SN, -3, 3, 21);
        S.y = fnew(SR * SN);
        S.R = frand(SR * SN, -1, 1, 22);
        S.log = lg;
        sm_loss(NULL);
        for (int r = 0; r < SR; r++) {
            double s = 0;
            for (int j = 0; j < SN; j++) s += lg ? exp(S.y[r * SN + j]) : S.y[r * SN + j];
            assert_float_equal(s, 1.0, 1e-6);
        }
        float *dx = fnew(SR * SN);
        for (int i = 0; i < SR * SN; i++) dx[i] = 0.25f; /* accumulates on top */
        if (lg)
            SC_TEST_OK(sc_log_softmax_backward(S.y, S.R, SR, SN, dx));
        else
            SC_TEST_OK(sc_softmax_backward(S.y, S.R, SR, SN, dx));
        for (int i = 0; i < SR * SN; i++) dx[i] -= 0.25f;
        sc_test_gradcheck(lg ? "log_softmax" : "softmax", sm_loss, NULL, S.x, dx, SR * SN, SR * SN,
                          EPS, RTOL, ATOL);
        /* In place gives the same values. */
        float *xc = fnew(SR * SN);
        memcpy(xc, S.x, SR * SN * sizeof(float));
        if (lg)
            SC_TEST_OK(sc_log_softmax_forward(xc, SR, SN, xc));
        else
            SC_TEST_OK(sc_softmax_forward(xc, SR, SN, xc));
        assert_memory_equal(xc, S.y, SR * SN * sizeof(float));
        free(S.x), free(S.y), free(S.R), free(dx), free(xc);
    }
}

static void test_softmax_stable_on_huge_logits_and_validates(void **state) {
    (void)state;
    float x[4] = {1000.0f, 999.0f, -1000.0f, 1000.0f}, y[4], ly[4];
    SC_TEST_OK(sc_softmax_forward(x, 1, 4, y));
    SC_TEST_OK(sc_log_softmax_forward(x, 1, 4, ly));
    double e1 = exp(-1.0), z = 2 + e1;
    assert_float_equal(y[0], 1 / z, 1e-6);
    assert_float_equal(y[1], e1 / z, 1e-6);
    assert_true(y[2] == 0.0f);
    assert_float_equal(ly[0], -log(z), 1e-6);
    assert_float_equal(ly[2], -2000 - log(z), 1e-3);
    assert_int_equal(sc_softmax_forward(x, 0, 4, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_softmax_forward(x, 1, -4, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_log_softmax_forward(NULL, 1, 4, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_softmax_backward(y, NULL, 1, 4, ly), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_log_softmax_backward(y, x, 1, 4, NULL), SC_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------ cross-entropy */

enum { CN = 6, CC = 5 };
static struct {
    float *logits, *loss, *w;
    int32_t t[CN];
    sc_ce_opts o;
    const float *dloss;
} X;

static double ce_loss(void *ctx) {
    (void)ctx;
    SC_TEST_OK(sc_cross_entropy(X.logits, X.t, CN, CC, &X.o, X.loss, NULL, NULL));
    if (X.o.reduction != SC_REDUCE_NONE) return (X.dloss ? X.dloss[0] : 1.0) * X.loss[0];
    return X.dloss ? sc_test_dot(X.loss, X.dloss, CN) : sc_test_dot(X.loss, X.loss, 0);
}

static void test_cross_entropy_gradcheck_all_modes(void **state) {
    (void)state;
    const int32_t t[CN] = {0, 4, -100, 2, 2, 1};
    float up[CN] = {0.7f, -1.2f, 0.4f, 2.0f, 0.3f, -0.5f};
    float w[CN] = {1.0f, 0.5f, 2.0f, 0.0f, 1.5f, 0.8f};
    struct {
        int ign;
        float ls;
        int weighted;
        sc_reduction red;
    } cfg[] = {{-100, 0.0f, 0, SC_REDUCE_MEAN},
               {2, 0.1f, 0, SC_REDUCE_SUM},
               {-100, 0.2f, 0, SC_REDUCE_NONE},
               {-100, 0.05f, 1, SC_REDUCE_MEAN},
               {1, 0.0f, 1, SC_REDUCE_SUM}};
    memcpy(X.t, t, sizeof t);
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        for (int i = 0; i < CN; i++) X.t[i] = t[i] == -100 ? cfg[k].ign : t[i];
        X.logits = frand(CN * CC, -3, 3, 30 + k);
        X.loss = fnew(CN);
        sc_ce_opts o = {cfg[k].ign, cfg[k].ls, cfg[k].weighted ? w : NULL, cfg[k].red};
        X.o = o;
        X.dloss = up;
        float *dl = fnew(CN * CC);
        SC_TEST_OK(sc_cross_entropy(X.logits, X.t, CN, CC, &X.o, X.loss, up, dl));
        char what[64];
        snprintf(what, sizeof what, "cross_entropy config %zu", k);
        sc_test_gradcheck(what, ce_loss, NULL, X.logits, dl, CN * CC, CN * CC, EPS, RTOL, ATOL);
        /* ignored rows get exactly zero gradient */
        for (int i = 0; i < CN; i++)
            if (X.t[i] == cfg[k].ign)
                for (int c = 0; c < CC; c++) assert_true(dl[i * CC + c] == 0.0f);
        free(X.logits), free(X.loss), free(dl);
    }
    /* Hand value: uniform logits, mean over the 5 non-ignored = log(C). */
    float z[CN * CC] = {0}, loss;
    SC_TEST_OK(sc_cross_entropy(z, t, CN, CC, NULL, &loss, NULL, NULL));
    assert_float_equal(loss, log(CC), 1e-6);
}

/* Mask-mass loss: value by hand, finite differences, all-zero masks left out. */
enum { MM_N = 4, MM_P = 6 };
static float mm_maps[MM_N * MM_P];
static const uint8_t mm_masks[MM_N * MM_P] = {1, 1, 0, 0, 0, 0, /* */ 0, 0, 0, 0, 0, 0,
                                              0, 0, 0, 0, 0, 1, /* */ 0, 1, 0, 1, 1, 0};
static double mm_loss(void *ctx) {
    (void)ctx;
    double l;
    SC_TEST_OK(sc_mask_mass_nll(mm_maps, mm_masks, MM_N, MM_P, 0.7f, &l, NULL, NULL));
    return l;
}
static void test_mask_mass_nll(void **state) {
    (void)state;
    sc_test_fill_uniform(mm_maps, MM_N * MM_P, 0.05f, 0.3f, 21);
    double l, want = 0;
    int count = -1;
    float d[MM_N * MM_P];
    SC_TEST_OK(sc_mask_mass_nll(mm_maps, mm_masks, MM_N, MM_P, 0.7f, &l, &count, d));
    assert_int_equal(count, 3);
    want -= log(mm_maps[0] + mm_maps[1] + 1e-6);
    want -= log(mm_maps[2 * MM_P + 5] + 1e-6);
    want -= log(mm_maps[3 * MM_P + 1] + mm_maps[3 * MM_P + 3] + mm_maps[3 * MM_P + 4] + 1e-6);
    assert_true(fabs(l - 0.7 * want / 3) < 1e-6);
    for (int p = 0; p < MM_P; p++) assert_true(d[MM_P + p] == 0.0f); /* unmasked map */
    assert_true(d[2] == 0.0f);                                       /* cell outside its mask */
    sc_test_gradcheck("mask mass", mm_loss, NULL, mm_maps, d, MM_N * MM_P, MM_N * MM_P, 1e-3, 1e-2,
                      1e-4);
    /* nothing masked: 0 and a zero gradient; bad arguments */
    static const uint8_t none[MM_N * MM_P] = {0};
    d[0] = 5.0f;
    SC_TEST_OK(sc_mask_mass_nll(mm_maps, none, MM_N, MM_P, 1.0f, &l, &count, d));
    assert_true(l == 0.0 && count == 0 && d[0] == 0.0f);
    assert_int_equal(sc_mask_mass_nll(mm_maps, mm_masks, MM_N, MM_P, -1.0f, &l, NULL, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_mask_mass_nll(mm_maps, mm_masks, MM_N, 0, 1.0f, &l, NULL, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_mask_mass_nll(NULL, mm_masks, MM_N, MM_P, 1.0f, &l, NULL, NULL),
                     SC_ERR_INVALID_ARG);
}

static void test_cross_entropy_all_ignored_and_bad_args(void **state) {
    (void)state;
    float logits[2 * 3] = {1, 2, 3, 4, 5, 6}, loss = -1, dl[6] = {0}, lossn[2] = {-1, -1};
    int32_t ign[2] = {-100, -100}, t7[2] = {7, 7}, bad[2] = {0, 3}, neg[2] = {-1, 0};
    SC_TEST_OK(sc_cross_entropy(logits, ign, 2, 3, NULL, &loss, NULL, dl));
    assert_true(loss == 0.0f); /* documented: 0 where torch gives nan */
    for (int i = 0; i < 6; i++) assert_true(dl[i] == 0.0f);
    sc_ce_opts o = SC_CE_OPTS_DEFAULT;
    o.ignore_index = 7; /* any value works as ignore_index */
    SC_TEST_OK(sc_cross_entropy(logits, t7, 2, 3, &o, &loss, NULL, dl));
    assert_true(loss == 0.0f);
    o.reduction = SC_REDUCE_NONE;
    SC_TEST_OK(sc_cross_entropy(logits, t7, 2, 3, &o, lossn, NULL, dl));
    assert_true(lossn[0] == 0.0f && lossn[1] == 0.0f);
    o.reduction = SC_REDUCE_SUM;
    SC_TEST_OK(sc_cross_entropy(logits, t7, 2, 3, &o, &loss, NULL, dl));
    assert_true(loss == 0.0f);
    /* all weights 0 -> mean denominator 0 -> 0 */
    float w0[2] = {0, 0};
    sc_ce_opts ow = {-100, 0.0f, w0, SC_REDUCE_MEAN};
    SC_TEST_OK(sc_cross_entropy(logits, neg + 1, 1, 3, &ow, &loss, NULL, dl));
    assert_true(loss == 0.0f);
    assert_int_equal(sc_cross_entropy(logits, bad, 2, 3, NULL, &loss, NULL, dl),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "targets[1] = 3"));
    assert_int_equal(sc_cross_entropy(logits, neg, 2, 3, NULL, &loss, NULL, dl),
                     SC_ERR_INVALID_ARG);
    for (int i = 0; i < 6; i++) assert_true(dl[i] == 0.0f); /* untouched on failure */
    sc_ce_opts ls = {-100, 1.5f, NULL, SC_REDUCE_MEAN};
    int32_t okt[2] = {0, 1};
    assert_int_equal(sc_cross_entropy(logits, okt, 2, 3, &ls, &loss, NULL, dl), SC_ERR_INVALID_ARG);
    float wneg[2] = {1, -1};
    sc_ce_opts on = {-100, 0.0f, wneg, SC_REDUCE_MEAN};
    assert_int_equal(sc_cross_entropy(logits, okt, 2, 3, &on, &loss, NULL, dl), SC_ERR_INVALID_ARG);
    sc_ce_opts br = {-100, 0.0f, NULL, (sc_reduction)9};
    assert_int_equal(sc_cross_entropy(logits, okt, 2, 3, &br, &loss, NULL, dl), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_cross_entropy(logits, okt, 0, 3, NULL, &loss, NULL, dl),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_cross_entropy(logits, okt, 2, 3, NULL, NULL, NULL, dl), SC_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------ dropout */

static void test_dropout_statistics_mask_and_edges(void **state) {
    (void)state;
    enum { N = 200000 };
    float *x = fnew(N), *out = fnew(N), *mask = fnew(N), *dx = fnew(N), *dout = frand(N, -1, 1, 3);
    for (int i = 0; i < N; i++) x[i] = 1.0f;
    sc_rng r;
    sc_rng_seed(&r, 42);
    const float p = 0.3f;
    SC_TEST_OK(sc_dropout_forward(x, N, p, 1, &r, mask, out));
    double mean = 0;
    int zeros = 0;
    for (int i = 0; i < N; i++) {
        mean += out[i];
        zeros += out[i] == 0.0f;
        assert_true(out[i] == 0.0f || fabsf(out[i] - 1.0f / (1 - p)) < 1e-6f);
    }
    mean /= N;
    /* sd of the mean = sqrt(p/(1-p)/N) ~ 0.0015; 5 sd bounds */
    assert_true(fabs(mean - 1.0) < 0.0075);
    assert_true(fabs((double)zeros / N - p) < 0.005);
    /* backward reuses the mask: dx = dout * mask exactly */
    SC_TEST_OK(sc_dropout_backward(dout, mask, N, dx));
    for (int i = 0; i < N; i++) assert_true(dx[i] == dout[i] * mask[i]);
    /* same seed -> same mask; different seed -> different */
    float *m2 = fnew(N);
    sc_rng_seed(&r, 42);
    SC_TEST_OK(sc_dropout_forward(x, N, p, 1, &r, m2, out));
    assert_memory_equal(m2, mask, N * sizeof(float));
    sc_rng_seed(&r, 43);
    SC_TEST_OK(sc_dropout_forward(x, N, p, 1, &r, m2, out));
    assert_true(memcmp(m2, mask, N * sizeof(float)) != 0);
    /* p = 0: identity; p = 1: zeros (torch); eval: identity, backward identity */
    float *xr = frand(N, -2, 2, 4);
    SC_TEST_OK(sc_dropout_forward(xr, N, 0.0f, 1, &r, mask, out));
    assert_memory_equal(out, xr, N * sizeof(float));
    SC_TEST_OK(sc_dropout_forward(xr, N, 1.0f, 1, NULL, mask, out));
    for (int i = 0; i < N; i++) assert_true(out[i] == 0.0f && mask[i] == 0.0f);
    SC_TEST_OK(sc_dropout_forward(xr, N, 0.5f, 0, NULL, NULL, out));
    assert_memory_equal(out, xr, N * sizeof(float));
    memset(dx, 0, N * sizeof(float));
    SC_TEST_OK(sc_dropout_backward(dout, NULL, N, dx));
    assert_memory_equal(dx, dout, N * sizeof(float));
    /* validation */
    assert_int_equal(sc_dropout_forward(xr, N, -0.1f, 1, &r, mask, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_dropout_forward(xr, N, 1.1f, 1, &r, mask, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_dropout_forward(xr, N, NAN, 0, &r, mask, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_dropout_forward(xr, N, 0.5f, 1, NULL, mask, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_dropout_forward(xr, N, 0.5f, 1, &r, NULL, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_dropout_forward(xr, 0, 0.5f, 1, &r, mask, out), SC_ERR_INVALID_ARG);
    free(x), free(out), free(mask), free(dx), free(dout), free(m2), free(xr);
}

static struct { float *x, *out, *mask, *R; } Dp;
static double dropout_loss(void *ctx) {
    (void)ctx;
    sc_rng r;
    sc_rng_seed(&r, 7); /* same mask every evaluation */
    SC_TEST_OK(sc_dropout_forward(Dp.x, 40, 0.4f, 1, &r, Dp.mask, Dp.out));
    return sc_test_dot(Dp.out, Dp.R, 40);
}

static void test_dropout_gradcheck(void **state) {
    (void)state;
    Dp.x = frand(40, -1, 1, 8), Dp.out = fnew(40), Dp.mask = fnew(40), Dp.R = frand(40, -1, 1, 9);
    dropout_loss(NULL);
    float *dx = fnew(40);
    SC_TEST_OK(sc_dropout_backward(Dp.R, Dp.mask, 40, dx));
    sc_test_gradcheck("dropout", dropout_loss, NULL, Dp.x, dx, 40, 40, EPS, RTOL, ATOL);
    free(Dp.x), free(Dp.out), free(Dp.mask), free(Dp.R), free(dx);
}

/* ------------------------------------------------------------ reductions */

enum { RO = 3, RN = 4, RI = 5 };
static struct {
    float *x, *y, *R;
    sc_reduction op;
} Rd;
static double reduce_loss(void *ctx) {
    (void)ctx;
    SC_TEST_OK(sc_reduce_forward(Rd.x, RO, RN, RI, Rd.op, Rd.y));
    return sc_test_dot(Rd.y, Rd.R, RO * RI);
}

static void test_reductions_gradcheck_and_values(void **state) {
    (void)state;
    for (int k = 0; k < 2; k++) {
        Rd.op = k ? SC_REDUCE_MEAN : SC_REDUCE_SUM;
        Rd.x = frand(RO * RN * RI, -1, 1, 50 + k), Rd.y = fnew(RO * RI);
        Rd.R = frand(RO * RI, -1, 1, 52);
        reduce_loss(NULL);
        for (int o = 0; o < RO; o++)
            for (int i = 0; i < RI; i++) {
                double s = 0;
                for (int j = 0; j < RN; j++) s += Rd.x[(o * RN + j) * RI + i];
                assert_float_equal(Rd.y[o * RI + i], k ? s / RN : s, 1e-6);
            }
        float *dx = fnew(RO * RN * RI);
        SC_TEST_OK(sc_reduce_backward(Rd.R, RO, RN, RI, Rd.op, dx));
        sc_test_gradcheck(k ? "reduce mean" : "reduce sum", reduce_loss, NULL, Rd.x, dx,
                          RO * RN * RI, RO * RN * RI, EPS, RTOL, ATOL);
        free(Rd.x), free(Rd.y), free(Rd.R), free(dx);
    }
    /* wide inner (> one 64-column block) against the naive sum */
    enum { O2 = 2, N2 = 3, I2 = 150 };
    float *x = frand(O2 * N2 * I2, -1, 1, 60), *y = fnew(O2 * I2);
    SC_TEST_OK(sc_reduce_forward(x, O2, N2, I2, SC_REDUCE_SUM, y));
    for (int o = 0; o < O2; o++)
        for (int i = 0; i < I2; i++) {
            double s = 0;
            for (int j = 0; j < N2; j++) s += x[(o * N2 + j) * I2 + i];
            assert_float_equal(y[o * I2 + i], s, 1e-6);
        }
    float s = 0, m = 0;
    SC_TEST_OK(sc_sum_all(x, O2 * N2 * I2, &s));
    SC_TEST_OK(sc_mean_all(x, O2 * N2 * I2, &m));
    assert_float_equal(m, s / (O2 * N2 * I2), 1e-6);
    assert_int_equal(sc_reduce_forward(x, 1, 5, 1, SC_REDUCE_NONE, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_reduce_forward(x, 0, 5, 1, SC_REDUCE_SUM, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_reduce_backward(x, 1, 5, -1, SC_REDUCE_SUM, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_reduce_forward(x, INT32_MAX, INT32_MAX, INT32_MAX, SC_REDUCE_SUM, y),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_sum_all(x, 0, &s), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_mean_all(NULL, 3, &s), SC_ERR_INVALID_ARG);
    free(x), free(y);
}

/* ------------------------------------------------------------ concat */

static struct { float *a, *b, *c, *y, *R; } Ct;
static const int CT_NS[3] = {2, 0, 3}; /* includes an empty input */
enum { CT_O = 2, CT_I = 3, CT_TOT = 5 };
static double concat_loss(void *ctx) {
    (void)ctx;
    const float *xs[3] = {Ct.a, Ct.b, Ct.c};
    SC_TEST_OK(sc_concat_forward(3, xs, CT_NS, CT_O, CT_I, Ct.y));
    return sc_test_dot(Ct.y, Ct.R, CT_O * CT_TOT * CT_I);
}

static void test_concat_gradcheck_and_validation(void **state) {
    (void)state;
    Ct.a = frand(CT_O * 2 * CT_I, -1, 1, 70), Ct.b = NULL, Ct.c = frand(CT_O * 3 * CT_I, -1, 1, 71);
    Ct.y = fnew(CT_O * CT_TOT * CT_I), Ct.R = frand(CT_O * CT_TOT * CT_I, -1, 1, 72);
    concat_loss(NULL);
    for (int o = 0; o < CT_O; o++) { /* layout */
        assert_memory_equal(Ct.y + o * CT_TOT * CT_I, Ct.a + o * 2 * CT_I, 2 * CT_I * 4);
        assert_memory_equal(Ct.y + (o * CT_TOT + 2) * CT_I, Ct.c + o * 3 * CT_I, 3 * CT_I * 4);
    }
    float *da = fnew(CT_O * 2 * CT_I), *dc = fnew(CT_O * 3 * CT_I);
    float *dxs[3] = {da, NULL, dc};
    SC_TEST_OK(sc_concat_backward(3, CT_NS, CT_O, CT_I, Ct.R, dxs));
    sc_test_gradcheck("concat a", concat_loss, NULL, Ct.a, da, CT_O * 2 * CT_I, 100, EPS, RTOL,
                      ATOL);
    sc_test_gradcheck("concat c", concat_loss, NULL, Ct.c, dc, CT_O * 3 * CT_I, 100, EPS, RTOL,
                      ATOL);
    const float *xs[3] = {Ct.a, NULL, Ct.c};
    int negn[3] = {2, -1, 3}, empty[2] = {0, 0};
    assert_int_equal(sc_concat_forward(3, xs, negn, CT_O, CT_I, Ct.y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_concat_forward(2, xs, empty, CT_O, CT_I, Ct.y), SC_ERR_INVALID_ARG);
    int n2[3] = {2, 1, 3}; /* xs[1] NULL but non-empty */
    assert_int_equal(sc_concat_forward(3, xs, n2, CT_O, CT_I, Ct.y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_concat_forward(0, xs, CT_NS, CT_O, CT_I, Ct.y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_concat_backward(3, CT_NS, 0, CT_I, Ct.R, dxs), SC_ERR_INVALID_ARG);
    free(Ct.a), free(Ct.c), free(Ct.y), free(Ct.R), free(da), free(dc);
}

/* ------------------------------------------------------------ add / mul */

enum { AN = 23 };
static struct {
    float *a, *b, *y, *R;
    int mul;
} Ad;
static double addmul_loss(void *ctx) {
    (void)ctx;
    if (Ad.mul)
        SC_TEST_OK(sc_mul_forward(Ad.a, Ad.b, AN, Ad.y));
    else
        SC_TEST_OK(sc_add_forward(Ad.a, Ad.b, AN, 0.6f, -1.7f, Ad.y));
    return sc_test_dot(Ad.y, Ad.R, AN);
}

static void test_add_axpy_mul_gradcheck(void **state) {
    (void)state;
    for (int m = 0; m < 2; m++) {
        Ad.mul = m;
        Ad.a = frand(AN, -2, 2, 80), Ad.b = frand(AN, -2, 2, 81), Ad.y = fnew(AN);
        Ad.R = frand(AN, -1, 1, 82);
        addmul_loss(NULL);
        float *da = fnew(AN), *db = fnew(AN);
        if (m)
            SC_TEST_OK(sc_mul_backward(Ad.a, Ad.b, Ad.R, AN, da, db));
        else
            SC_TEST_OK(sc_add_backward(Ad.R, AN, 0.6f, -1.7f, da, db));
        sc_test_gradcheck(m ? "mul a" : "add a", addmul_loss, NULL, Ad.a, da, AN, AN, EPS, RTOL,
                          ATOL);
        sc_test_gradcheck(m ? "mul b" : "add b", addmul_loss, NULL, Ad.b, db, AN, AN, EPS, RTOL,
                          ATOL);
        /* out aliasing an input */
        float *t = fnew(AN);
        memcpy(t, Ad.a, AN * sizeof(float));
        if (m)
            SC_TEST_OK(sc_mul_forward(t, Ad.b, AN, t));
        else
            SC_TEST_OK(sc_add_forward(t, Ad.b, AN, 0.6f, -1.7f, t));
        assert_memory_equal(t, Ad.y, AN * sizeof(float));
        free(Ad.a), free(Ad.b), free(Ad.y), free(Ad.R), free(da), free(db), free(t);
    }
    float x[3] = {1, 2, 3}, y[3] = {1, 1, 1};
    SC_TEST_OK(sc_axpy(3, -2.0f, x, y));
    assert_true(y[0] == -1.0f && y[1] == -3.0f && y[2] == -5.0f);
    assert_int_equal(sc_axpy(0, 1.0f, x, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_axpy(3, 1.0f, NULL, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_add_forward(x, y, 3, 1, 1, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_mul_forward(x, NULL, 3, y), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_mul_backward(x, NULL, y, 3, y, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_add_backward(NULL, 3, 1, 1, x, y), SC_ERR_INVALID_ARG);
}

/* ------------------------------------------------------------ threads */

/* Sizes above every kernel's OpenMP threshold: 1 and 2 threads must give
 * bit-identical results (the determinism promise of sc_ops.h). */
static void run_parallel_kernels(float **res) {
    enum { R = 300, C = 200, B = 64, I = 32, H = 300 };
    float *x = frand(R * C, -5, 5, 90), *dy = frand(R * C, -1, 1, 91);
    int32_t *t = malloc(R * sizeof(int32_t));
    for (int i = 0; i < R; i++) t[i] = i % 7 == 0 ? -100 : (i * 31) % C;
    res[0] = fnew(R * C), res[1] = fnew(R * C), res[2] = fnew(R * C + 1);
    SC_TEST_OK(sc_log_softmax_forward(x, R, C, res[0]));
    SC_TEST_OK(sc_softmax_backward(res[0], dy, R, C, res[1]));
    SC_TEST_OK(sc_cross_entropy(x, t, R, C, NULL, res[2] + R * C, NULL, res[2]));
    res[3] = fnew(R * 4);
    SC_TEST_OK(sc_reduce_forward(x, R, 50, 4, SC_REDUCE_MEAN, res[3]));
    float *xs = frand(B * I, -1, 1, 92), *h = frand(B * H, -1, 1, 93), *c = frand(B * H, -1, 1, 94);
    float *wi = frand(4 * H * I, -0.1f, 0.1f, 95), *wh = frand(4 * H * H, -0.1f, 0.1f, 96);
    float *cache = fnew(SC_LSTM_CACHE_FLOATS(B, H));
    res[4] = fnew(2 * B * H);
    SC_TEST_OK(
        sc_lstm_cell_forward(B, I, H, xs, h, c, wi, wh, NULL, NULL, res[4], res[4] + B * H, cache));
    res[5] = fnew(B * I + B * H + 4 * H * I + 4 * H);
    float *g = res[5];
    SC_TEST_OK(sc_lstm_cell_backward(B, I, H, xs, h, c, wi, wh, cache, h, c, g, g + B * I, NULL,
                                     g + B * I + B * H, NULL, g + B * I + B * H + 4 * H * I, NULL));
    free(x), free(dy), free(t), free(xs), free(h), free(c), free(wi), free(wh), free(cache);
}

static void test_parallel_paths_deterministic(void **state) {
    (void)state;
    const size_t sizes[6] = {300 * 200, 300 * 200,    300 * 200 + 1,
                             300 * 4,   2 * 64 * 300, 64 * 32 + 64 * 300 + 4 * 300 * 32 + 4 * 300};
    float *a[6], *b[6], *c[6];
    int nt = sc_get_num_threads();
    SC_TEST_OK(sc_set_num_threads(1));
    run_parallel_kernels(a);
    SC_TEST_OK(sc_set_num_threads(2));
    run_parallel_kernels(b);
    run_parallel_kernels(c);
    SC_TEST_OK(sc_set_num_threads(nt));
    for (int k = 0; k < 6; k++) {
        /* Same thread count: bit-identical, always. */
        if (memcmp(b[k], c[k], sizes[k] * sizeof(float)))
            fail_msg("kernel result %d differs between two 2-thread runs", k);
        /* Our own loops do not depend on the thread count at all; the LSTM
         * (k >= 4) goes through OpenBLAS, whose sgemm may split sums
         * differently with another thread count: close, not identical. */
        if (k < 4 && memcmp(a[k], b[k], sizes[k] * sizeof(float)))
            fail_msg("kernel result %d differs between 1 and 2 threads", k);
        if (k >= 4) sc_test_assert_close("lstm 1 vs 2 threads", a[k], b[k], sizes[k], 1e-5, 1e-6);
        free(a[k]), free(b[k]), free(c[k]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding_forward_backward_padding),
        cmocka_unit_test(test_embedding_rejects_bad_ids_without_reading),
        cmocka_unit_test(test_embedding_backward_deterministic_across_threads),
        cmocka_unit_test(test_lstm_cell_gradcheck_all_inputs_and_params),
        cmocka_unit_test(test_lstm_cell_null_state_and_bias_mean_zeros),
        cmocka_unit_test(test_lstm_cell_rejects_bad_args),
        cmocka_unit_test(test_softmax_and_log_softmax_gradcheck),
        cmocka_unit_test(test_softmax_stable_on_huge_logits_and_validates),
        cmocka_unit_test(test_cross_entropy_gradcheck_all_modes),
        cmocka_unit_test(test_cross_entropy_all_ignored_and_bad_args),
        cmocka_unit_test(test_mask_mass_nll),
        cmocka_unit_test(test_dropout_statistics_mask_and_edges),
        cmocka_unit_test(test_dropout_gradcheck),
        cmocka_unit_test(test_reductions_gradcheck_and_values),
        cmocka_unit_test(test_concat_gradcheck_and_validation),
        cmocka_unit_test(test_add_axpy_mul_gradcheck),
        cmocka_unit_test(test_parallel_paths_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

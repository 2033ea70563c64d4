/* sc_ops kernels against PyTorch (tools/ref/ref_ops.py, float64 autograd on
 * float32 inputs): forward within rtol 1e-5, gradients within rtol 1e-4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_ops.h"

#define FWD_RTOL 1e-5
#define FWD_ATOL 1e-6
#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-5

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_reference("ops_parity", "ref_ops.py", ">/dev/null");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sc_test_reference_free(&g_dir);
    return 0;
}

static sc_npy ld(const char *name) {
    return sc_test_npy(g_dir, name);
}

static int32_t *ids_of(const sc_npy *a) {
    int32_t *ids = malloc(a->count * sizeof(int32_t));
    assert_non_null(ids);
    for (size_t i = 0; i < a->count; i++) ids[i] = (int32_t)lrintf(a->data[i]);
    return ids;
}

static void check(const char *name, const float *got, double rtol, double atol) {
    sc_npy e = ld(name);
    sc_test_assert_close(name, got, e.data, e.count, rtol, atol);
    /* Report the real error figures (assert_close's ignores errors below atol). */
    double max_abs = 0, max_rel = 0;
    for (size_t i = 0; i < e.count; i++) {
        double d = fabs((double)got[i] - e.data[i]);
        max_abs = fmax(max_abs, d);
        if (fabs(e.data[i]) > 1e-3) max_rel = fmax(max_rel, d / fabs(e.data[i]));
    }
    printf("  %-20s n=%-6zu max abs err %.2e, max rel err (|ref|>1e-3) %.2e\n", name, e.count,
           max_abs, max_rel);
    sc_npy_free(&e);
}

static void test_embedding_parity(void **state) {
    (void)state;
    sc_npy W = ld("emb_W"), idn = ld("emb_ids"), dout = ld("emb_dout");
    int V = (int)W.shape[0], D = (int)W.shape[1], n = (int)idn.count;
    int32_t *ids = ids_of(&idn);
    float *out = sc_test_zeros((size_t)n * D), *dW = sc_test_zeros(W.count);
    SC_TEST_OK(sc_embedding_forward(ids, n, W.data, V, D, out));
    SC_TEST_OK(sc_embedding_backward(ids, n, dout.data, V, D, 3, dW));
    check("emb_out", out, 0, 0); /* a copy: exact */
    check("emb_dW", dW, GRAD_RTOL, GRAD_ATOL);
    free(ids), free(out), free(dW);
    sc_npy_free(&W), sc_npy_free(&idn), sc_npy_free(&dout);
}

typedef struct {
    sc_npy w_ih, w_hh, b_ih, b_hh;
} lstm_w;

static lstm_w load_lstm(const char *p) {
    char n[64];
    lstm_w w;
    snprintf(n, sizeof n, "%s_w_ih", p), w.w_ih = ld(n);
    snprintf(n, sizeof n, "%s_w_hh", p), w.w_hh = ld(n);
    snprintf(n, sizeof n, "%s_b_ih", p), w.b_ih = ld(n);
    snprintf(n, sizeof n, "%s_b_hh", p), w.b_hh = ld(n);
    return w;
}
static void free_lstm(lstm_w *w) {
    sc_npy_free(&w->w_ih), sc_npy_free(&w->w_hh), sc_npy_free(&w->b_ih), sc_npy_free(&w->b_hh);
}

static void test_lstm_cell_single_step_parity(void **state) {
    (void)state;
    lstm_w w = load_lstm("lstm1");
    sc_npy x = ld("lstm1_x"), h0 = ld("lstm1_h0"), c0 = ld("lstm1_c0"), dh1 = ld("lstm1_dh1"),
           dc1 = ld("lstm1_dc1");
    int B = (int)x.shape[0], I = (int)x.shape[1], H = (int)h0.shape[1];
    float *h1 = sc_test_zeros((size_t)B * H), *c1 = sc_test_zeros((size_t)B * H);
    float *cache = sc_test_zeros(SC_LSTM_CACHE_FLOATS(B, H));
    SC_TEST_OK(sc_lstm_cell_forward(B, I, H, x.data, h0.data, c0.data, w.w_ih.data, w.w_hh.data,
                                    w.b_ih.data, w.b_hh.data, h1, c1, cache));
    check("lstm1_h1", h1, FWD_RTOL, FWD_ATOL);
    check("lstm1_c1", c1, FWD_RTOL, FWD_ATOL);
    float *dx = sc_test_zeros(x.count), *dh0 = sc_test_zeros(h0.count),
          *dc0 = sc_test_zeros(c0.count);
    float *dwi = sc_test_zeros(w.w_ih.count), *dwh = sc_test_zeros(w.w_hh.count),
          *dbi = sc_test_zeros(4 * H), *dbh = sc_test_zeros(4 * H);
    SC_TEST_OK(sc_lstm_cell_backward(B, I, H, x.data, h0.data, c0.data, w.w_ih.data, w.w_hh.data,
                                     cache, dh1.data, dc1.data, dx, dh0, dc0, dwi, dwh, dbi, dbh));
    check("lstm1_dx", dx, GRAD_RTOL, GRAD_ATOL);
    check("lstm1_dh0", dh0, GRAD_RTOL, GRAD_ATOL);
    check("lstm1_dc0", dc0, GRAD_RTOL, GRAD_ATOL);
    check("lstm1_dw_ih", dwi, GRAD_RTOL, GRAD_ATOL);
    check("lstm1_dw_hh", dwh, GRAD_RTOL, GRAD_ATOL);
    check("lstm1_db_ih", dbi, GRAD_RTOL, GRAD_ATOL);
    check("lstm1_db_hh", dbh, GRAD_RTOL, GRAD_ATOL);
    free(h1), free(c1), free(cache), free(dx), free(dh0), free(dc0), free(dwi), free(dwh),
        free(dbi), free(dbh);
    free_lstm(&w);
    sc_npy_free(&x), sc_npy_free(&h0), sc_npy_free(&c0), sc_npy_free(&dh1), sc_npy_free(&dc1);
}

static void test_lstm_unrolled_bptt_parity(void **state) {
    (void)state;
    lstm_w w = load_lstm("lstmT");
    sc_npy xs = ld("lstmT_xs"), h0 = ld("lstmT_h0"), c0 = ld("lstmT_c0"), dhs = ld("lstmT_dhs"),
           dcT = ld("lstmT_dcT");
    int T = (int)xs.shape[0], B = (int)xs.shape[1], I = (int)xs.shape[2], H = (int)h0.shape[1];
    size_t BH = (size_t)B * H, cs = SC_LSTM_CACHE_FLOATS(B, H);
    /* hs[t], cs[t] for t = 0..T (index 0 = initial state). */
    float *hs = sc_test_zeros((T + 1) * BH), *cst = sc_test_zeros((T + 1) * BH),
          *cache = sc_test_zeros(T * cs);
    memcpy(hs, h0.data, BH * sizeof(float));
    memcpy(cst, c0.data, BH * sizeof(float));
    for (int t = 0; t < T; t++)
        SC_TEST_OK(sc_lstm_cell_forward(B, I, H, xs.data + (size_t)t * B * I, hs + t * BH,
                                        cst + t * BH, w.w_ih.data, w.w_hh.data, w.b_ih.data,
                                        w.b_hh.data, hs + (t + 1) * BH, cst + (t + 1) * BH,
                                        cache + t * cs));
    check("lstmT_hs", hs + BH, FWD_RTOL, FWD_ATOL);
    check("lstmT_cT", cst + T * BH, FWD_RTOL, FWD_ATOL);
    float *dxs = sc_test_zeros(xs.count), *dwi = sc_test_zeros(w.w_ih.count),
          *dwh = sc_test_zeros(w.w_hh.count), *dbi = sc_test_zeros(4 * H),
          *dbh = sc_test_zeros(4 * H);
    float *dh = sc_test_zeros(BH), *dc = sc_test_zeros(BH), *dh_prev = sc_test_zeros(BH),
          *dc_prev = sc_test_zeros(BH);
    memcpy(dc, dcT.data, BH * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        for (size_t j = 0; j < BH; j++) dh[j] += dhs.data[t * BH + j];
        memset(dh_prev, 0, BH * sizeof(float));
        memset(dc_prev, 0, BH * sizeof(float));
        SC_TEST_OK(sc_lstm_cell_backward(B, I, H, xs.data + (size_t)t * B * I, hs + t * BH,
                                         cst + t * BH, w.w_ih.data, w.w_hh.data, cache + t * cs, dh,
                                         dc, dxs + (size_t)t * B * I, dh_prev, dc_prev, dwi, dwh,
                                         dbi, dbh));
        memcpy(dh, dh_prev, BH * sizeof(float));
        memcpy(dc, dc_prev, BH * sizeof(float));
    }
    check("lstmT_dxs", dxs, GRAD_RTOL, GRAD_ATOL);
    check("lstmT_dh0", dh, GRAD_RTOL, GRAD_ATOL);
    check("lstmT_dc0", dc, GRAD_RTOL, GRAD_ATOL);
    check("lstmT_dw_ih", dwi, GRAD_RTOL, GRAD_ATOL);
    check("lstmT_dw_hh", dwh, GRAD_RTOL, GRAD_ATOL);
    check("lstmT_db_ih", dbi, GRAD_RTOL, GRAD_ATOL);
    check("lstmT_db_hh", dbh, GRAD_RTOL, GRAD_ATOL);
    free(hs), free(cst), free(cache), free(dxs), free(dwi), free(dwh), free(dbi), free(dbh);
    free(dh), free(dc), free(dh_prev), free(dc_prev);
    free_lstm(&w);
    sc_npy_free(&xs), sc_npy_free(&h0), sc_npy_free(&c0), sc_npy_free(&dhs), sc_npy_free(&dcT);
}

static void softmax_case(const char *p, int log) {
    char n[64];
    snprintf(n, sizeof n, "%s_x", p);
    sc_npy x = ld(n);
    snprintf(n, sizeof n, "%s_dy", p);
    sc_npy dy = ld(n);
    int R = (int)x.shape[0], C = (int)x.shape[1];
    float *y = sc_test_zeros(x.count), *dx = sc_test_zeros(x.count);
    if (log) {
        SC_TEST_OK(sc_log_softmax_forward(x.data, R, C, y));
        SC_TEST_OK(sc_log_softmax_backward(y, dy.data, R, C, dx));
    } else {
        SC_TEST_OK(sc_softmax_forward(x.data, R, C, y));
        SC_TEST_OK(sc_softmax_backward(y, dy.data, R, C, dx));
    }
    for (size_t i = 0; i < x.count; i++) assert_true(isfinite(y[i]) && isfinite(dx[i]));
    snprintf(n, sizeof n, "%s_y", p);
    /* softmax outputs underflow towards 0 on wide logits: atol 1e-7 there. */
    check(n, y, FWD_RTOL, log ? FWD_ATOL : 1e-7);
    snprintf(n, sizeof n, "%s_dx", p);
    check(n, dx, GRAD_RTOL, GRAD_ATOL);
    free(y), free(dx);
    sc_npy_free(&x), sc_npy_free(&dy);
}

static void test_softmax_parity(void **state) {
    (void)state;
    softmax_case("sm", 0);
    softmax_case("smbig", 0);
    softmax_case("lsm", 1);
    softmax_case("lsmbig", 1); /* logits around 100 +- 20 */
}

static void ce_case(const char *p, int ignore_index, float smoothing, sc_reduction red,
                    int weighted) {
    char n[64];
    snprintf(n, sizeof n, "%s_logits", p);
    sc_npy lg = ld(n);
    snprintf(n, sizeof n, "%s_targets", p);
    sc_npy tg = ld(n);
    snprintf(n, sizeof n, "%s_up", p);
    sc_npy up = ld(n);
    sc_npy w = {0};
    if (weighted) {
        snprintf(n, sizeof n, "%s_w", p);
        w = ld(n);
    }
    int N = (int)lg.shape[0], C = (int)lg.shape[1];
    int32_t *t = ids_of(&tg);
    sc_ce_opts o = {ignore_index, smoothing, weighted ? w.data : NULL, red};
    float *loss = sc_test_zeros(N), *dl = sc_test_zeros(lg.count);
    SC_TEST_OK(sc_cross_entropy(lg.data, t, N, C, &o, loss, up.data, dl));
    snprintf(n, sizeof n, "%s_loss", p);
    check(n, loss, FWD_RTOL, FWD_ATOL);
    snprintf(n, sizeof n, "%s_dlogits", p);
    check(n, dl, GRAD_RTOL, GRAD_ATOL);
    free(t), free(loss), free(dl);
    sc_npy_free(&lg), sc_npy_free(&tg), sc_npy_free(&up), sc_npy_free(&w);
}

static void test_cross_entropy_parity(void **state) {
    (void)state;
    ce_case("ce_mean", -100, 0.0f, SC_REDUCE_MEAN, 0);
    ce_case("ce_big", -100, 0.0f, SC_REDUCE_MEAN, 0); /* logits ~100 +- 30 */
    ce_case("ce_sum_ls", 2, 0.1f, SC_REDUCE_SUM, 0);
    ce_case("ce_none_ls", -100, 0.2f, SC_REDUCE_NONE, 0);
    ce_case("ce_wmean", -100, 0.05f, SC_REDUCE_MEAN, 1);
}

static void test_cross_entropy_all_ignored_documented_divergence(void **state) {
    (void)state;
    sc_npy lg = ld("ce_allign_logits"), tg = ld("ce_allign_targets"), tl = ld("ce_allign_loss");
    int N = (int)lg.shape[0], C = (int)lg.shape[1];
    int32_t *t = ids_of(&tg);
    assert_true(isnan(tl.data[0])); /* torch: mean over zero elements */
    float loss = -1.0f, *dl = sc_test_zeros(lg.count);
    SC_TEST_OK(sc_cross_entropy(lg.data, t, N, C, NULL, &loss, NULL, dl));
    assert_true(loss == 0.0f); /* saccade: 0 and no gradient (sc_ops.h) */
    for (size_t i = 0; i < lg.count; i++) assert_true(dl[i] == 0.0f);
    free(t), free(dl);
    sc_npy_free(&lg), sc_npy_free(&tg), sc_npy_free(&tl);
}

static void test_reductions_parity(void **state) {
    (void)state;
    const char *names[2] = {"rsum", "rmean"};
    for (int k = 0; k < 2; k++) {
        char n[64];
        snprintf(n, sizeof n, "%s_x", names[k]);
        sc_npy x = ld(n);
        snprintf(n, sizeof n, "%s_up", names[k]);
        sc_npy up = ld(n);
        int O = (int)x.shape[0], M = (int)x.shape[1], In = (int)x.shape[2];
        sc_reduction op = k ? SC_REDUCE_MEAN : SC_REDUCE_SUM;
        float *y = sc_test_zeros((size_t)O * In), *dx = sc_test_zeros(x.count);
        SC_TEST_OK(sc_reduce_forward(x.data, O, M, In, op, y));
        SC_TEST_OK(sc_reduce_backward(up.data, O, M, In, op, dx));
        snprintf(n, sizeof n, "%s_y", names[k]);
        check(n, y, FWD_RTOL, FWD_ATOL);
        snprintf(n, sizeof n, "%s_dx", names[k]);
        check(n, dx, GRAD_RTOL, GRAD_ATOL);
        free(y), free(dx);
        sc_npy_free(&x), sc_npy_free(&up);
    }
    /* Long reduction (100000 values), whole-tensor and through the view API. */
    sc_npy x = ld("rlong_x");
    float m = 0, s = 0, m2 = 0;
    SC_TEST_OK(sc_mean_all(x.data, x.count, &m));
    SC_TEST_OK(sc_sum_all(x.data, x.count, &s));
    SC_TEST_OK(sc_reduce_forward(x.data, 1, (int)x.count, 1, SC_REDUCE_MEAN, &m2));
    check("rlong_mean", &m, 1e-4, 0);
    check("rlong_sum", &s, 1e-4, 0);
    check("rlong_mean", &m2, 1e-4, 0);
    float *dx = sc_test_zeros(x.count), one = 1.0f;
    SC_TEST_OK(sc_reduce_backward(&one, 1, (int)x.count, 1, SC_REDUCE_MEAN, dx));
    check("rlong_dx", dx, GRAD_RTOL, 0);
    free(dx);
    sc_npy_free(&x);
}

static void test_concat_parity(void **state) {
    (void)state;
    sc_npy a = ld("cat_a"), b = ld("cat_b"), c = ld("cat_c"), up = ld("cat_up");
    const float *xs[3] = {a.data, b.data, c.data};
    int ns[3] = {(int)a.shape[1], (int)b.shape[1], (int)c.shape[1]};
    int O = (int)a.shape[0], In = (int)a.shape[2];
    float *y = sc_test_zeros(up.count), *da = sc_test_zeros(a.count), *db = sc_test_zeros(b.count),
          *dc = sc_test_zeros(c.count);
    SC_TEST_OK(sc_concat_forward(3, xs, ns, O, In, y));
    check("cat_y", y, 0, 0);
    float *dxs[3] = {da, db, dc};
    SC_TEST_OK(sc_concat_backward(3, ns, O, In, up.data, dxs));
    check("cat_da", da, 0, 0);
    check("cat_db", db, 0, 0);
    check("cat_dc", dc, 0, 0);
    free(y), free(da), free(db), free(dc);
    sc_npy_free(&a), sc_npy_free(&b), sc_npy_free(&c), sc_npy_free(&up);
}

static void test_add_mul_parity(void **state) {
    (void)state;
    sc_npy a = ld("add_a"), b = ld("add_b"), up = ld("add_up");
    size_t n = a.count;
    float *y = sc_test_zeros(n), *da = sc_test_zeros(n), *db = sc_test_zeros(n);
    SC_TEST_OK(sc_add_forward(a.data, b.data, n, 0.7f, -1.3f, y));
    SC_TEST_OK(sc_add_backward(up.data, n, 0.7f, -1.3f, da, db));
    check("add_y", y, FWD_RTOL, FWD_ATOL);
    check("add_da", da, GRAD_RTOL, GRAD_ATOL);
    check("add_db", db, GRAD_RTOL, GRAD_ATOL);
    sc_npy_free(&a), sc_npy_free(&b);
    a = ld("mul_a"), b = ld("mul_b");
    memset(da, 0, n * sizeof(float)), memset(db, 0, n * sizeof(float));
    SC_TEST_OK(sc_mul_forward(a.data, b.data, n, y));
    SC_TEST_OK(sc_mul_backward(a.data, b.data, up.data, n, da, db));
    check("mul_y", y, FWD_RTOL, FWD_ATOL);
    check("mul_da", da, GRAD_RTOL, GRAD_ATOL);
    check("mul_db", db, GRAD_RTOL, GRAD_ATOL);
    free(y), free(da), free(db);
    sc_npy_free(&a), sc_npy_free(&b), sc_npy_free(&up);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedding_parity),
        cmocka_unit_test(test_lstm_cell_single_step_parity),
        cmocka_unit_test(test_lstm_unrolled_bptt_parity),
        cmocka_unit_test(test_softmax_parity),
        cmocka_unit_test(test_cross_entropy_parity),
        cmocka_unit_test(test_cross_entropy_all_ignored_documented_divergence),
        cmocka_unit_test(test_reductions_parity),
        cmocka_unit_test(test_concat_parity),
        cmocka_unit_test(test_add_mul_parity),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* PyTorch parity of the nn kernels (tools/ref/ref_nn.py writes inputs, a
 * random upstream gradient, torch's forward output and autograd gradients).
 * Tolerances: forward 1e-5 relative (+1e-5 absolute for values near 0),
 * gradients 1e-4 relative (+1e-5 absolute). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_nn.h"

#define FWD_RTOL 1e-5
#define FWD_ATOL 1e-5
#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-5

static char *g_dir;

static const char *refdir(void) {
    if (!g_dir) {
        g_dir = sc_test_tmpdir("nn_parity");
        sc_test_python("ref_nn.py", "'%s'", g_dir);
    }
    return g_dir;
}

static sc_npy load(const char *c, const char *n) {
    char name[256];
    snprintf(name, sizeof name, "%s_%s", c, n);
    return sc_test_npy(refdir(), name);
}

static void expect(const char *c, const char *n, const float *got, size_t count, double rtol,
                   double atol) {
    sc_npy e = load(c, n);
    char what[256];
    snprintf(what, sizeof what, "%s %s", c, n);
    if (e.count != count) fail_msg("%s: %zu values expected, computed %zu", what, e.count, count);
    sc_test_assert_close(what, got, e.data, count, rtol, atol);
    sc_npy_free(&e);
}

static void test_linear(void **state) {
    (void)state;
    sc_npy cfg = load("linear", "cfg"), x = load("linear", "x"), w = load("linear", "w"),
           b = load("linear", "b"), g = load("linear", "gout");
    int N = (int)cfg.data[0], in = (int)cfg.data[1], out = (int)cfg.data[2];
    float *y = sc_test_zeros((size_t)N * out), *dx = sc_test_zeros(x.count),
          *dw = sc_test_zeros(w.count), *db = sc_test_zeros(b.count);
    SC_TEST_OK(sc_linear_forward(y, x.data, w.data, b.data, N, in, out));
    expect("linear", "out", y, (size_t)N * out, FWD_RTOL, FWD_ATOL);
    SC_TEST_OK(sc_linear_backward(dx, dw, db, g.data, x.data, w.data, N, in, out));
    expect("linear", "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
    expect("linear", "dw", dw, w.count, GRAD_RTOL, GRAD_ATOL);
    expect("linear", "db", db, b.count, GRAD_RTOL, GRAD_ATOL);
    free(y), free(dx), free(dw), free(db);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&w), sc_npy_free(&b), sc_npy_free(&g);
}

static void conv_case(const char *c) {
    sc_npy cfg = load(c, "cfg"), x = load(c, "x"), w = load(c, "w"), g = load(c, "gout");
    const float *f = cfg.data;
    sc_conv2d_desc d =
        sc_conv2d_make((int)f[0], (int)f[1], (int)f[2], (int)f[3], (int)f[4], (int)f[5], (int)f[6],
                       (int)f[7], (int)f[8], (int)f[9], (int)f[10]);
    int hasb = (int)f[11];
    sc_npy b = {0};
    if (hasb) b = load(c, "b");
    int OH, OW;
    SC_TEST_OK(sc_conv2d_out_size(&d, &OH, &OW));
    size_t nout = (size_t)d.N * d.OC * OH * OW;
    assert_int_equal(nout, g.count);
    size_t fws, bws;
    SC_TEST_OK(sc_conv2d_workspace_bytes(&d, &fws, &bws));
    void *ws = sc_malloc(fws > bws ? fws : bws);
    float *y = sc_test_zeros(nout), *dx = sc_test_zeros(x.count), *dw = sc_test_zeros(w.count),
          *db = sc_test_zeros(d.OC);
    SC_TEST_OK(sc_conv2d_forward(&d, y, x.data, w.data, hasb ? b.data : NULL, ws, fws));
    expect(c, "out", y, nout, FWD_RTOL, FWD_ATOL);
    SC_TEST_OK(sc_conv2d_backward(&d, dx, dw, hasb ? db : NULL, g.data, x.data, w.data, ws, bws));
    expect(c, "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
    expect(c, "dw", dw, w.count, GRAD_RTOL, GRAD_ATOL);
    if (hasb) expect(c, "db", db, d.OC, GRAD_RTOL, GRAD_ATOL);
    /* Without a caller workspace the kernel allocates its own: same result. */
    float *y2 = sc_test_zeros(nout);
    SC_TEST_OK(sc_conv2d_forward(&d, y2, x.data, w.data, hasb ? b.data : NULL, NULL, 0));
    assert_memory_equal(y, y2, nout * sizeof(float));
    free(y2);
    sc_free(ws);
    free(y), free(dx), free(dw), free(db);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&w), sc_npy_free(&g), sc_npy_free(&b);
}

static void test_conv2d_3x3_s1_p1(void **s) {
    (void)s, conv_case("conv3x3");
}
static void test_conv2d_7x7_s2_p3(void **s) {
    (void)s, conv_case("conv7x7s2");
}
static void test_conv2d_1x1_s2(void **s) {
    (void)s, conv_case("conv1x1s2");
}
static void test_conv2d_1x1_direct(void **s) {
    (void)s, conv_case("conv1x1");
}
static void test_conv2d_dilated(void **s) {
    (void)s, conv_case("convdil");
}
static void test_conv2d_grouped(void **s) {
    (void)s, conv_case("convgroup");
}
static void test_conv2d_depthwise(void **s) {
    (void)s, conv_case("convdw");
}
static void test_conv2d_depthwise_mult_dilated(void **s) {
    (void)s, conv_case("convdw2");
}

static void bn_case(const char *c, int train) {
    sc_npy cfg = load(c, "cfg"), x = load(c, "x"), gm = load(c, "gamma"), bt = load(c, "beta"),
           rm = load(c, "rm"), rv = load(c, "rv"), g = load(c, "gout");
    int N = (int)cfg.data[0], C = (int)cfg.data[1], HW = (int)(cfg.data[2] * cfg.data[3]);
    float *y = sc_test_zeros(x.count), *dx = sc_test_zeros(x.count), *dg = sc_test_zeros(C),
          *dbt = sc_test_zeros(C);
    float *mean = sc_test_zeros(C), *invstd = sc_test_zeros(C);
    if (train) {
        SC_TEST_OK(sc_batchnorm2d_forward_train(y, mean, invstd, rm.data, rv.data, x.data, gm.data,
                                                bt.data, N, C, HW, 0.1f, 1e-5f));
        SC_TEST_OK(sc_batchnorm2d_backward_train(dx, dg, dbt, g.data, x.data, mean, invstd, gm.data,
                                                 N, C, HW));
    } else {
        SC_TEST_OK(sc_batchnorm2d_forward_eval(y, x.data, gm.data, bt.data, rm.data, rv.data, N, C,
                                               HW, 1e-5f));
        SC_TEST_OK(sc_batchnorm2d_backward_eval(dx, dg, dbt, g.data, x.data, gm.data, rm.data,
                                                rv.data, N, C, HW, 1e-5f));
    }
    expect(c, "out", y, x.count, FWD_RTOL, FWD_ATOL);
    expect(c, "rm_after", rm.data, C, FWD_RTOL, FWD_ATOL);
    expect(c, "rv_after", rv.data, C, FWD_RTOL, FWD_ATOL);
    expect(c, "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
    expect(c, "dgamma", dg, C, GRAD_RTOL, GRAD_ATOL);
    expect(c, "dbeta", dbt, C, GRAD_RTOL, GRAD_ATOL);
    free(y), free(dx), free(dg), free(dbt), free(mean), free(invstd);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&gm), sc_npy_free(&bt), sc_npy_free(&rm),
        sc_npy_free(&rv), sc_npy_free(&g);
}

static void test_batchnorm2d_train_and_running_stats(void **s) {
    (void)s, bn_case("bntrain", 1);
}
static void test_batchnorm2d_eval(void **s) {
    (void)s, bn_case("bneval", 0);
}

static void test_batchnorm2d_fold_into_conv(void **state) {
    (void)state;
    const char *c = "bnfold";
    sc_npy cfg = load(c, "cfg"), x = load(c, "x"), w = load(c, "w"), gm = load(c, "gamma"),
           bt = load(c, "beta"), rm = load(c, "rm"), rv = load(c, "rv");
    const float *f = cfg.data;
    int N = (int)f[0], C = (int)f[1], H = (int)f[2], W = (int)f[3], OC = (int)f[4];
    sc_conv2d_desc d = sc_conv2d_make(N, C, H, W, OC, 3, 3, 1, 1, 1, 1);
    float *bias = sc_test_zeros(OC), *y = sc_test_zeros((size_t)N * OC * H * W);
    SC_TEST_OK(sc_batchnorm2d_fold_into_conv(w.data, bias, OC, C * 9, gm.data, bt.data, rm.data,
                                             rv.data, 1e-5f));
    SC_TEST_OK(sc_conv2d_forward(&d, y, x.data, w.data, bias, NULL, 0));
    expect(c, "out", y, (size_t)N * OC * H * W, FWD_RTOL, FWD_ATOL);
    free(bias), free(y);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&w), sc_npy_free(&gm), sc_npy_free(&bt),
        sc_npy_free(&rm), sc_npy_free(&rv);
}

static void test_layernorm(void **state) {
    (void)state;
    const char *c = "layernorm";
    sc_npy cfg = load(c, "cfg"), x = load(c, "x"), gm = load(c, "gamma"), bt = load(c, "beta"),
           g = load(c, "gout");
    int N = (int)cfg.data[0], D = (int)cfg.data[1];
    float *y = sc_test_zeros(x.count), *dx = sc_test_zeros(x.count), *dg = sc_test_zeros(D),
          *dbt = sc_test_zeros(D), *mean = sc_test_zeros(N), *rstd = sc_test_zeros(N);
    SC_TEST_OK(sc_layernorm_forward(y, mean, rstd, x.data, gm.data, bt.data, N, D, 1e-5f));
    expect(c, "out", y, x.count, FWD_RTOL, FWD_ATOL);
    SC_TEST_OK(sc_layernorm_backward(dx, dg, dbt, g.data, x.data, mean, rstd, gm.data, N, D));
    expect(c, "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
    expect(c, "dgamma", dg, D, GRAD_RTOL, GRAD_ATOL);
    expect(c, "dbeta", dbt, D, GRAD_RTOL, GRAD_ATOL);
    free(y), free(dx), free(dg), free(dbt), free(mean), free(rstd);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&gm), sc_npy_free(&bt), sc_npy_free(&g);
}

static void test_activations(void **state) {
    (void)state;
    const char *cases[] = {"act_relu", "act_tanh", "act_sigmoid", "act_gelu", "act_gelutanh"};
    for (int k = 0; k < 5; k++) {
        const char *c = cases[k];
        sc_npy cfg = load(c, "cfg"), x = load(c, "x"), g = load(c, "gout");
        sc_activation a = (sc_activation)(int)cfg.data[0];
        float *y = sc_test_zeros(x.count), *dx = sc_test_zeros(x.count),
              *dx2 = sc_test_zeros(x.count);
        SC_TEST_OK(sc_act_forward(a, y, x.data, x.count));
        expect(c, "out", y, x.count, FWD_RTOL, FWD_ATOL);
        SC_TEST_OK(sc_act_backward(a, dx, g.data, x.data, NULL, x.count));
        expect(c, "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
        if (a != SC_ACT_GELU && a != SC_ACT_GELU_TANH) { /* from the output alone */
            SC_TEST_OK(sc_act_backward(a, dx2, g.data, NULL, y, x.count));
            expect(c, "dx", dx2, x.count, GRAD_RTOL, GRAD_ATOL);
        }
        /* In place forward. */
        SC_TEST_OK(sc_act_forward(a, x.data, x.data, x.count));
        expect(c, "out", x.data, x.count, FWD_RTOL, FWD_ATOL);
        free(y), free(dx), free(dx2);
        sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&g);
    }
}

static sc_pool2d_desc pool_desc(const sc_npy *cfg) {
    const float *f = cfg->data;
    return sc_pool2d_make((int)f[0], (int)f[1], (int)f[2], (int)f[3], (int)f[4], (int)f[5],
                          (int)f[6], (int)f[7], (int)f[8]);
}

static void pool_case(const char *c, int is_max) {
    sc_npy cfg = load(c, "cfg"), x = load(c, "x"), g = load(c, "gout");
    sc_pool2d_desc d = pool_desc(&cfg);
    int OH, OW;
    SC_TEST_OK(sc_pool2d_out_size(&d, &OH, &OW));
    size_t nout = (size_t)d.N * d.C * OH * OW;
    assert_int_equal(nout, g.count);
    float *y = sc_test_zeros(nout), *dx = sc_test_zeros(x.count);
    if (is_max) {
        int32_t *am = calloc(nout, sizeof(int32_t));
        SC_TEST_OK(sc_maxpool2d_forward(&d, y, am, x.data));
        SC_TEST_OK(sc_maxpool2d_backward(&d, dx, g.data, am));
        free(am);
    } else {
        SC_TEST_OK(sc_avgpool2d_forward(&d, y, x.data));
        SC_TEST_OK(sc_avgpool2d_backward(&d, dx, g.data));
    }
    expect(c, "out", y, nout, FWD_RTOL, FWD_ATOL);
    expect(c, "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
    free(y), free(dx);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&g);
}

static void test_maxpool_floor(void **s) {
    (void)s, pool_case("maxp_floor", 1);
}
static void test_maxpool_ceil(void **s) {
    (void)s, pool_case("maxp_ceil", 1), pool_case("maxp_ceil2", 1);
}
static void test_maxpool_ties_go_to_first(void **s) {
    (void)s, pool_case("maxp_ties", 1);
}
static void test_avgpool_count_include_pad(void **s) {
    (void)s, pool_case("avgp_pad", 0), pool_case("avgp_ceil_pad", 0);
}
static void test_avgpool_exclude_pad(void **s) {
    (void)s, pool_case("avgp_nopad", 0), pool_case("avgp_ceil_nopad", 0);
}

static void adaptive_case(const char *c) {
    sc_npy cfg = load(c, "cfg"), x = load(c, "x"), g = load(c, "gout");
    const float *f = cfg.data;
    int N = (int)f[0], C = (int)f[1], H = (int)f[2], W = (int)f[3], OH = (int)f[4], OW = (int)f[5];
    size_t nout = (size_t)N * C * OH * OW;
    float *y = sc_test_zeros(nout), *dx = sc_test_zeros(x.count);
    SC_TEST_OK(sc_adaptive_avgpool2d_forward(y, x.data, N, C, H, W, OH, OW));
    SC_TEST_OK(sc_adaptive_avgpool2d_backward(dx, g.data, N, C, H, W, OH, OW));
    expect(c, "out", y, nout, FWD_RTOL, FWD_ATOL);
    expect(c, "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
    free(y), free(dx);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&g);
}

static void test_adaptive_avgpool(void **s) {
    (void)s;
    adaptive_case("adap_7_10"); /* 7->3, 10->4 */
    adaptive_case("adap_5_7");  /* 5->7: upsampling, overlapping bins */
    adaptive_case("adap_6_1");
}

static void test_global_avgpool(void **state) {
    (void)state;
    sc_npy cfg = load("gap", "cfg"), x = load("gap", "x"), g = load("gap", "gout");
    int N = (int)cfg.data[0], C = (int)cfg.data[1], HW = (int)cfg.data[2];
    float *y = sc_test_zeros((size_t)N * C), *dx = sc_test_zeros(x.count);
    SC_TEST_OK(sc_global_avgpool2d_forward(y, x.data, N, C, HW));
    SC_TEST_OK(sc_global_avgpool2d_backward(dx, g.data, N, C, HW));
    expect("gap", "out", y, (size_t)N * C, FWD_RTOL, FWD_ATOL);
    expect("gap", "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
    free(y), free(dx);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&g);
}

static void test_masked_avgpool(void **state) {
    (void)state;
    sc_npy cfg = load("mavg", "cfg"), x = load("mavg", "x"), g = load("mavg", "gout"),
           mk = load("mavg", "mask"), sr = load("mavg", "src");
    int B = (int)cfg.data[0], P = (int)cfg.data[1], E = (int)cfg.data[2], n = (int)cfg.data[3];
    uint8_t *mask = malloc((size_t)n * P);
    int32_t *src = malloc((size_t)n * sizeof *src);
    assert_true(mask && src);
    for (size_t i = 0; i < (size_t)n * P; i++) mask[i] = mk.data[i] != 0.0f;
    for (int i = 0; i < n; i++) src[i] = (int32_t)sr.data[i];
    float *y = sc_test_zeros((size_t)n * E), *dx = sc_test_zeros(x.count);
    SC_TEST_OK(sc_masked_avgpool_forward(y, x.data, B, P, E, mask, src, n));
    SC_TEST_OK(sc_masked_avgpool_backward(dx, g.data, B, P, E, mask, src, n));
    expect("mavg", "out", y, (size_t)n * E, FWD_RTOL, FWD_ATOL);
    expect("mavg", "dx", dx, x.count, GRAD_RTOL, GRAD_ATOL);
    free(y), free(dx), free(mask), free(src);
    sc_npy_free(&cfg), sc_npy_free(&x), sc_npy_free(&g), sc_npy_free(&mk), sc_npy_free(&sr);
}

static int teardown(void **state) {
    (void)state;
    if (g_dir) sc_test_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_conv2d_3x3_s1_p1),
        cmocka_unit_test(test_conv2d_7x7_s2_p3),
        cmocka_unit_test(test_conv2d_1x1_s2),
        cmocka_unit_test(test_conv2d_1x1_direct),
        cmocka_unit_test(test_conv2d_dilated),
        cmocka_unit_test(test_conv2d_grouped),
        cmocka_unit_test(test_conv2d_depthwise),
        cmocka_unit_test(test_conv2d_depthwise_mult_dilated),
        cmocka_unit_test(test_batchnorm2d_train_and_running_stats),
        cmocka_unit_test(test_batchnorm2d_eval),
        cmocka_unit_test(test_batchnorm2d_fold_into_conv),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_maxpool_floor),
        cmocka_unit_test(test_maxpool_ceil),
        cmocka_unit_test(test_maxpool_ties_go_to_first),
        cmocka_unit_test(test_avgpool_count_include_pad),
        cmocka_unit_test(test_avgpool_exclude_pad),
        cmocka_unit_test(test_adaptive_avgpool),
        cmocka_unit_test(test_global_avgpool),
        cmocka_unit_test(test_masked_avgpool),
    };
    return cmocka_run_group_tests_name("nn_parity", tests, NULL, teardown);
}

/* nn kernels: finite-difference gradient checks of every backward (every
 * input and parameter gradient), accumulation semantics, determinism and
 * argument validation. Parity with PyTorch is in tests/parity/test_nn_parity.c.
 * Each loss is sum(out * R) in double with a fixed random R, so the analytic
 * gradient is the backward pass with dout = R. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_rng.h"

#define EPS 1e-3
#define RTOL 1e-2
#define ATOL 1e-3
#define CHECKS 40

static float *rnd(size_t n, float lo, float hi, uint64_t seed) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    sc_test_fill_uniform(p, n, lo, hi, seed);
    return p;
}
/* ---- linear ---- */
typedef struct {
    float *x, *w, *b, *y, *R;
    int N, in, out;
} lin_ctx;
static double lin_loss(void *p) {
    lin_ctx *c = p;
    SC_TEST_OK(sc_linear_forward(c->y, c->x, c->w, c->b, c->N, c->in, c->out));
    return sc_test_dot(c->y, c->R, (size_t)c->N * c->out);
}
static void test_linear_gradcheck(void **state) {
    (void)state;
    lin_ctx c = {.N = 5, .in = 7, .out = 4};
    c.x = rnd(35, -1, 1, 1), c.w = rnd(28, -1, 1, 2), c.b = rnd(4, -1, 1, 3);
    c.y = sc_test_zeros(20), c.R = rnd(20, -1, 1, 4);
    float *dx = sc_test_zeros(35), *dw = sc_test_zeros(28), *db = sc_test_zeros(4);
    SC_TEST_OK(sc_linear_backward(dx, dw, db, c.R, c.x, c.w, c.N, c.in, c.out));
    sc_test_gradcheck("linear dx", lin_loss, &c, c.x, dx, 35, CHECKS, EPS, RTOL, ATOL);
    sc_test_gradcheck("linear dw", lin_loss, &c, c.w, dw, 28, CHECKS, EPS, RTOL, ATOL);
    sc_test_gradcheck("linear db", lin_loss, &c, c.b, db, 4, CHECKS, EPS, RTOL, ATOL);
    /* Accumulation: a second call adds the same again; NULL grads skip. */
    float *dx2 = sc_test_zeros(35);
    memcpy(dx2, dx, 35 * sizeof(float));
    SC_TEST_OK(sc_linear_backward(dx2, NULL, NULL, c.R, NULL, c.w, c.N, c.in, c.out));
    for (int i = 0; i < 35; i++) assert_float_equal(dx2[i], 2 * dx[i], 1e-5);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.R), free(dx), free(dw), free(db), free(dx2);
}

/* ---- conv2d ---- */
typedef struct {
    sc_conv2d_desc d;
    float *x, *w, *b, *y, *R;
    size_t ny;
} conv_ctx;
static double conv_loss(void *p) {
    conv_ctx *c = p;
    SC_TEST_OK(sc_conv2d_forward(&c->d, c->y, c->x, c->w, c->b, NULL, 0));
    return sc_test_dot(c->y, c->R, c->ny);
}
static void conv_gradcheck(const char *name, sc_conv2d_desc d, int with_bias) {
    conv_ctx c = {.d = d};
    int OH, OW;
    SC_TEST_OK(sc_conv2d_out_size(&d, &OH, &OW));
    size_t nx = (size_t)d.N * d.C * d.H * d.W, nw = (size_t)d.OC * (d.C / d.groups) * d.KH * d.KW;
    c.ny = (size_t)d.N * d.OC * OH * OW;
    c.x = rnd(nx, -1, 1, 11), c.w = rnd(nw, -1, 1, 12),
    c.b = with_bias ? rnd(d.OC, -1, 1, 13) : NULL;
    c.y = sc_test_zeros(c.ny), c.R = rnd(c.ny, -1, 1, 14);
    float *dx = sc_test_zeros(nx), *dw = sc_test_zeros(nw), *db = sc_test_zeros(d.OC);
    size_t bws;
    SC_TEST_OK(sc_conv2d_workspace_bytes(&d, NULL, &bws));
    void *ws = bws ? sc_malloc(bws) : NULL;
    SC_TEST_OK(sc_conv2d_backward(&d, dx, dw, with_bias ? db : NULL, c.R, c.x, c.w, ws, bws));
    char what[128];
    snprintf(what, sizeof what, "%s dx", name);
    sc_test_gradcheck(what, conv_loss, &c, c.x, dx, nx, CHECKS, EPS, RTOL, ATOL);
    snprintf(what, sizeof what, "%s dw", name);
    sc_test_gradcheck(what, conv_loss, &c, c.w, dw, nw, CHECKS, EPS, RTOL, ATOL);
    if (with_bias) {
        snprintf(what, sizeof what, "%s db", name);
        sc_test_gradcheck(what, conv_loss, &c, c.b, db, d.OC, CHECKS, EPS, RTOL, ATOL);
    }
    sc_free(ws);
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.R), free(dx), free(dw), free(db);
}
static void test_conv2d_gradcheck(void **state) {
    (void)state;
    /* N C H W OC KH KW stride pad dil groups */
    conv_gradcheck("conv 3x3", sc_conv2d_make(2, 3, 6, 5, 4, 3, 3, 1, 1, 1, 1), 1);
    conv_gradcheck("conv strided dilated grouped", sc_conv2d_make(2, 4, 9, 8, 6, 3, 3, 2, 2, 2, 2),
                   1);
    conv_gradcheck("conv depthwise", sc_conv2d_make(1, 4, 7, 7, 4, 3, 3, 1, 1, 1, 4), 1);
    conv_gradcheck("conv 1x1 direct", sc_conv2d_make(2, 5, 4, 3, 3, 1, 1, 1, 0, 1, 1), 0);
    conv_gradcheck("conv 1x1 stride 2", sc_conv2d_make(1, 3, 5, 6, 2, 1, 1, 2, 0, 1, 1), 1);
    sc_conv2d_desc d = sc_conv2d_make(1, 2, 8, 9, 3, 2, 3, 1, 0, 1, 1);
    d.stride_h = 2, d.pad_w = 1, d.dil_h = 3; /* asymmetric */
    conv_gradcheck("conv asymmetric", d, 1);
}

static void test_conv2d_deterministic_and_workspace(void **state) {
    (void)state;
    const int prev_threads = sc_get_num_threads();
    sc_conv2d_desc d = sc_conv2d_make(3, 16, 40, 40, 16, 3, 3, 1, 1, 1, 1);
    size_t nx = 3 * 16 * 1600, nw = 16 * 16 * 9, ny = nx;
    const size_t col = (size_t)16 * 9 * 1600 * 4; /* one share's column buffer */
    float *x = rnd(nx, -1, 1, 5), *w = rnd(nw, -1, 1, 6), *y1 = sc_test_zeros(ny),
          *y2 = sc_test_zeros(ny);
    size_t fws, bws;
    /* Two threads: the images are split in two shares, each with its own
     * column buffer; the backward's second share adds a dW partial. */
    SC_TEST_OK(sc_set_num_threads(2));
    SC_TEST_OK(sc_conv2d_workspace_bytes(&d, &fws, &bws));
    assert_int_equal(fws, 2 * col);
    assert_int_equal(bws, 2 * col + nw * 4);
    void *ws = sc_malloc(bws);
    SC_TEST_OK(sc_conv2d_forward(&d, y1, x, w, NULL, ws, fws));
    SC_TEST_OK(sc_conv2d_forward(&d, y2, x, w, NULL, ws, fws));
    assert_memory_equal(y1, y2, ny * sizeof(float));
    float *dx1 = sc_test_zeros(nx), *dx2 = sc_test_zeros(nx), *dw1 = sc_test_zeros(nw),
          *dw2 = sc_test_zeros(nw);
    SC_TEST_OK(sc_conv2d_backward(&d, dx1, dw1, NULL, y1, x, w, ws, bws));
    SC_TEST_OK(sc_conv2d_backward(&d, dx2, dw2, NULL, y1, x, w, ws, bws));
    assert_memory_equal(dx1, dx2, nx * sizeof(float));
    assert_memory_equal(dw1, dw2, nw * sizeof(float));
    /* One thread (or a workspace sized for one share) gives the same sums up
     * to rounding: only the order in which the images' dW add up differs. */
    float *y3 = sc_test_zeros(ny), *dx3 = sc_test_zeros(nx), *dw3 = sc_test_zeros(nw);
    SC_TEST_OK(sc_conv2d_forward(&d, y3, x, w, NULL, ws, col));
    SC_TEST_OK(sc_conv2d_backward(&d, dx3, dw3, NULL, y1, x, w, ws, col));
    /* Relative: OpenBLAS picks its kernel by the product's shape and CPU, so
     * one share and two may round differently (values here reach about 20). */
    for (size_t i = 0; i < ny; i++)
        assert_true(fabsf(y3[i] - y1[i]) <= 2e-6f * fabsf(y1[i]) + 1e-5f);
    for (size_t i = 0; i < nx; i++) assert_true(fabsf(dx3[i] - dx1[i]) <= 1e-4f);
    for (size_t i = 0; i < nw; i++)
        assert_true(fabsf(dw3[i] - dw1[i]) <= 1e-4f * fabsf(dw1[i]) + 1e-3f);
    SC_TEST_OK(sc_set_num_threads(1));
    SC_TEST_OK(sc_conv2d_workspace_bytes(&d, &fws, &bws));
    assert_int_equal(fws, col);
    assert_int_equal(bws, col);
    /* Too small a workspace is refused before anything is written. */
    memset(y2, 0, ny * sizeof(float));
    assert_int_equal(sc_conv2d_forward(&d, y2, x, w, NULL, ws, col - 1), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "workspace"));
    for (size_t i = 0; i < ny; i++) assert_true(y2[i] == 0.0f);
    /* 1x1 stride-1 convs need no column buffer; the backward's dW partials
     * are taken from the heap when no workspace is given. */
    sc_conv2d_desc d1 = sc_conv2d_make(1, 8, 5, 5, 4, 1, 1, 1, 0, 1, 1);
    SC_TEST_OK(sc_conv2d_workspace_bytes(&d1, &fws, &bws));
    assert_int_equal(fws, 0);
    assert_int_equal(bws, 0);
    SC_TEST_OK(sc_set_num_threads(prev_threads));
    sc_free(ws);
    free(x), free(w), free(y1), free(y2), free(y3), free(dx1), free(dx2), free(dx3);
    free(dw1), free(dw2), free(dw3);
}

/* ---- batchnorm ---- */
typedef struct {
    float *x, *g, *b, *y, *R, *rm, *rv;
    int N, C, HW, train;
} bn_ctx;
static double bn_loss(void *p) {
    bn_ctx *c = p;
    if (c->train)
        SC_TEST_OK(sc_batchnorm2d_forward_train(c->y, NULL, NULL, NULL, NULL, c->x, c->g, c->b,
                                                c->N, c->C, c->HW, 0.1f, 1e-5f));
    else
        SC_TEST_OK(sc_batchnorm2d_forward_eval(c->y, c->x, c->g, c->b, c->rm, c->rv, c->N, c->C,
                                               c->HW, 1e-5f));
    return sc_test_dot(c->y, c->R, (size_t)c->N * c->C * c->HW);
}
static void bn_gradcheck(int train) {
    bn_ctx c = {.N = 3, .C = 4, .HW = 6, .train = train};
    size_t n = 72;
    c.x = rnd(n, -2, 2, 21), c.g = rnd(4, 0.5f, 1.5f, 22), c.b = rnd(4, -1, 1, 23);
    c.rm = rnd(4, -0.5f, 0.5f, 24), c.rv = rnd(4, 0.5f, 1.5f, 25);
    c.y = sc_test_zeros(n), c.R = rnd(n, -1, 1, 26);
    float *dx = sc_test_zeros(n), *dg = sc_test_zeros(4), *db = sc_test_zeros(4),
          *mean = sc_test_zeros(4), *istd = sc_test_zeros(4);
    if (train) {
        SC_TEST_OK(sc_batchnorm2d_forward_train(c.y, mean, istd, NULL, NULL, c.x, c.g, c.b, 3, 4, 6,
                                                0.1f, 1e-5f));
        SC_TEST_OK(sc_batchnorm2d_backward_train(dx, dg, db, c.R, c.x, mean, istd, c.g, 3, 4, 6));
    } else {
        SC_TEST_OK(
            sc_batchnorm2d_backward_eval(dx, dg, db, c.R, c.x, c.g, c.rm, c.rv, 3, 4, 6, 1e-5f));
    }
    const char *m = train ? "bn train" : "bn eval";
    char what[64];
    snprintf(what, sizeof what, "%s dx", m);
    sc_test_gradcheck(what, bn_loss, &c, c.x, dx, n, CHECKS, EPS, RTOL, ATOL);
    snprintf(what, sizeof what, "%s dgamma", m);
    sc_test_gradcheck(what, bn_loss, &c, c.g, dg, 4, CHECKS, EPS, RTOL, ATOL);
    snprintf(what, sizeof what, "%s dbeta", m);
    sc_test_gradcheck(what, bn_loss, &c, c.b, db, 4, CHECKS, EPS, RTOL, ATOL);
    free(c.x), free(c.g), free(c.b), free(c.rm), free(c.rv), free(c.y), free(c.R);
    free(dx), free(dg), free(db), free(mean), free(istd);
}
static void test_batchnorm_train_gradcheck(void **s) {
    (void)s, bn_gradcheck(1);
}
static void test_batchnorm_eval_gradcheck(void **s) {
    (void)s, bn_gradcheck(0);
}

/* ---- layernorm ---- */
typedef struct {
    float *x, *g, *b, *y, *R;
    int N, D;
} ln_ctx;
static double ln_loss(void *p) {
    ln_ctx *c = p;
    SC_TEST_OK(sc_layernorm_forward(c->y, NULL, NULL, c->x, c->g, c->b, c->N, c->D, 1e-5f));
    return sc_test_dot(c->y, c->R, (size_t)c->N * c->D);
}
static void test_layernorm_gradcheck(void **state) {
    (void)state;
    ln_ctx c = {.N = 5, .D = 70}; /* D > 64: two column blocks in dgamma */
    size_t n = 350;
    c.x = rnd(n, -2, 2, 31), c.g = rnd(70, 0.5f, 1.5f, 32), c.b = rnd(70, -1, 1, 33);
    c.y = sc_test_zeros(n), c.R = rnd(n, -1, 1, 34);
    float *dx = sc_test_zeros(n), *dg = sc_test_zeros(70), *db = sc_test_zeros(70),
          *mean = sc_test_zeros(5), *rstd = sc_test_zeros(5);
    SC_TEST_OK(sc_layernorm_forward(c.y, mean, rstd, c.x, c.g, c.b, 5, 70, 1e-5f));
    SC_TEST_OK(sc_layernorm_backward(dx, dg, db, c.R, c.x, mean, rstd, c.g, 5, 70));
    sc_test_gradcheck("layernorm dx", ln_loss, &c, c.x, dx, n, CHECKS, EPS, RTOL, ATOL);
    sc_test_gradcheck("layernorm dgamma", ln_loss, &c, c.g, dg, 70, CHECKS, EPS, RTOL, ATOL);
    sc_test_gradcheck("layernorm dbeta", ln_loss, &c, c.b, db, 70, CHECKS, EPS, RTOL, ATOL);
    free(c.x), free(c.g), free(c.b), free(c.y), free(c.R), free(dx), free(dg), free(db), free(mean),
        free(rstd);
}

/* the backward that recomputes the statistics from the input: finite
 * differences, and the same values as with the forward's saved ones */
static void test_layernorm_backward_input(void **state) {
    (void)state;
    ln_ctx c = {.N = 4, .D = 70};
    size_t n = 280;
    c.x = rnd(n, -2, 2, 41), c.g = rnd(70, 0.5f, 1.5f, 42), c.b = rnd(70, -1, 1, 43);
    c.y = sc_test_zeros(n), c.R = rnd(n, -1, 1, 44);
    float *dx = sc_test_zeros(n), *dx2 = sc_test_zeros(n), *mean = sc_test_zeros(4),
          *rstd = sc_test_zeros(4);
    for (size_t i = 0; i < n; i++) dx[i] = dx2[i] = 0.25f; /* both accumulate */
    SC_TEST_OK(sc_layernorm_backward_input(dx, c.R, c.x, c.g, 4, 70, 1e-5f));
    SC_TEST_OK(sc_layernorm_forward(c.y, mean, rstd, c.x, c.g, c.b, 4, 70, 1e-5f));
    SC_TEST_OK(sc_layernorm_backward(dx2, NULL, NULL, c.R, c.x, mean, rstd, c.g, 4, 70));
    for (size_t i = 0; i < n; i++) assert_true(dx[i] == dx2[i]);
    for (size_t i = 0; i < n; i++) dx[i] -= 0.25f;
    sc_test_gradcheck("layernorm dx (input only)", ln_loss, &c, c.x, dx, n, CHECKS, EPS, RTOL,
                      ATOL);
    assert_int_equal(sc_layernorm_backward_input(dx, c.R, c.x, c.g, 4, 70, -1.0f),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_layernorm_backward_input(NULL, c.R, c.x, c.g, 4, 70, 1e-5f),
                     SC_ERR_INVALID_ARG);
    free(c.x), free(c.g), free(c.b), free(c.y), free(c.R), free(dx), free(dx2), free(mean),
        free(rstd);
}

/* ---- activations ---- */
typedef struct {
    sc_activation a;
    float *x, *y, *R;
    size_t n;
} act_ctx;
static double act_loss(void *p) {
    act_ctx *c = p;
    SC_TEST_OK(sc_act_forward(c->a, c->y, c->x, c->n));
    return sc_test_dot(c->y, c->R, c->n);
}
static void test_activation_gradcheck(void **state) {
    (void)state;
    const char *names[] = {"relu", "tanh", "sigmoid", "gelu", "gelu tanh"};
    for (int a = 0; a < 5; a++) {
        act_ctx c = {.a = (sc_activation)a, .n = 200};
        c.x = rnd(200, -4, 4, 41 + a), c.y = sc_test_zeros(200), c.R = rnd(200, -1, 1, 51);
        for (int i = 0; i < 200; i++) /* keep relu's kink away from the FD step */
            if (fabsf(c.x[i]) < 0.01f) c.x[i] = 0.5f;
        float *dx = sc_test_zeros(200);
        SC_TEST_OK(sc_act_backward(c.a, dx, c.R, c.x, NULL, 200));
        sc_test_gradcheck(names[a], act_loss, &c, c.x, dx, 200, 100, EPS, RTOL, ATOL);
        free(c.x), free(c.y), free(c.R), free(dx);
    }
}

/* ---- masked average pool ---- */
typedef struct {
    float *x, *y, *R;
    const uint8_t *mask;
    const int32_t *src;
    int B, P, E, n;
} mp_ctx;
static double mp_loss(void *p) {
    mp_ctx *c = p;
    SC_TEST_OK(sc_masked_avgpool_forward(c->y, c->x, c->B, c->P, c->E, c->mask, c->src, c->n));
    return sc_test_dot(c->y, c->R, (size_t)c->n * c->E);
}
static void test_masked_avgpool(void **state) {
    (void)state;
    /* 3 maps of 6 positions x 4 features; 4 regions: two on map 2 that
     * overlap, one single position, one empty (zeros, no gradient). */
    enum { B = 3, P = 6, E = 4, N = 4 };
    static const uint8_t mask[N * P] = {1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0,
                                        0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    static const int32_t src[N] = {2, 2, 0, 1};
    mp_ctx c = {.mask = mask, .src = src, .B = B, .P = P, .E = E, .n = N};
    c.x = rnd(B * P * E, -2, 2, 61), c.y = sc_test_zeros(N * E), c.R = rnd(N * E, -1, 1, 62);
    SC_TEST_OK(sc_masked_avgpool_forward(c.y, c.x, B, P, E, mask, src, N));
    for (int e = 0; e < E; e++) {
        const float *x2 = c.x + 2 * P * E;
        assert_float_equal(c.y[e], (x2[e] + x2[E + e] + x2[4 * E + e]) / 3.0f, 1e-6);
        assert_float_equal(c.y[2 * E + e], c.x[5 * E + e], 0);
        assert_float_equal(c.y[3 * E + e], 0.0f, 0);
    }
    float *dx = sc_test_zeros(B * P * E);
    SC_TEST_OK(sc_masked_avgpool_backward(dx, c.R, B, P, E, mask, src, N));
    sc_test_gradcheck("masked avgpool dx", mp_loss, &c, c.x, dx, B * P * E, B * P * E, EPS, RTOL,
                      ATOL);
    for (int i = 0; i < P * E; i++) assert_float_equal(dx[P * E + i], 0.0f, 0); /* map 1 */
    /* a src outside [0, B) is refused before anything is written */
    static const int32_t bad[N] = {2, 3, 0, 1};
    dx[0] = 7.0f;
    assert_int_equal(sc_masked_avgpool_backward(dx, c.R, B, P, E, mask, bad, N),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "src[1] = 3"));
    assert_float_equal(dx[0], 7.0f, 0);
    assert_int_equal(sc_masked_avgpool_forward(c.y, c.x, B, P, E, mask, bad, N),
                     SC_ERR_INVALID_ARG);
    free(c.x), free(c.y), free(c.R), free(dx);
}

/* ---- pooling ---- */
typedef struct {
    sc_pool2d_desc d;
    int kind; /* 0 max, 1 avg, 2 adaptive, 3 global */
    int OH, OW;
    float *x, *y, *R;
    size_t ny;
} pool_ctx;
static double pool_loss(void *p) {
    pool_ctx *c = p;
    const sc_pool2d_desc *d = &c->d;
    switch (c->kind) {
    case 0:
        SC_TEST_OK(sc_maxpool2d_forward(d, c->y, NULL, c->x));
        break;
    case 1:
        SC_TEST_OK(sc_avgpool2d_forward(d, c->y, c->x));
        break;
    case 2:
        SC_TEST_OK(sc_adaptive_avgpool2d_forward(c->y, c->x, d->N, d->C, d->H, d->W, c->OH, c->OW));
        break;
    default:
        SC_TEST_OK(sc_global_avgpool2d_forward(c->y, c->x, d->N, d->C, d->H * d->W));
    }
    return sc_test_dot(c->y, c->R, c->ny);
}
static void pool_gradcheck(const char *name, int kind, sc_pool2d_desc d, int OH, int OW) {
    pool_ctx c = {.d = d, .kind = kind, .OH = OH, .OW = OW};
    if (kind <= 1) SC_TEST_OK(sc_pool2d_out_size(&d, &c.OH, &c.OW));
    if (kind == 3) c.OH = c.OW = 1;
    size_t nx = (size_t)d.N * d.C * d.H * d.W;
    c.ny = (size_t)d.N * d.C * c.OH * c.OW;
    /* Distinct values at least 0.01 apart so the FD step never changes an argmax. */
    c.x = sc_test_zeros(nx);
    int *perm = malloc(nx * sizeof(int));
    for (size_t i = 0; i < nx; i++) perm[i] = (int)i;
    sc_rng r;
    sc_rng_seed(&r, 61);
    sc_rng_shuffle(&r, perm, (int)nx);
    for (size_t i = 0; i < nx; i++) c.x[i] = 0.01f * (float)perm[i] - 1.0f;
    free(perm);
    c.y = sc_test_zeros(c.ny), c.R = rnd(c.ny, -1, 1, 62);
    float *dx = sc_test_zeros(nx);
    if (kind == 0) {
        int32_t *am = malloc(c.ny * sizeof(int32_t));
        SC_TEST_OK(sc_maxpool2d_forward(&d, c.y, am, c.x));
        SC_TEST_OK(sc_maxpool2d_backward(&d, dx, c.R, am));
        free(am);
    } else if (kind == 1) {
        SC_TEST_OK(sc_avgpool2d_backward(&d, dx, c.R));
    } else if (kind == 2) {
        SC_TEST_OK(sc_adaptive_avgpool2d_backward(dx, c.R, d.N, d.C, d.H, d.W, c.OH, c.OW));
    } else {
        SC_TEST_OK(sc_global_avgpool2d_backward(dx, c.R, d.N, d.C, d.H * d.W));
    }
    sc_test_gradcheck(name, pool_loss, &c, c.x, dx, nx, 60, EPS, RTOL, ATOL);
    free(c.x), free(c.y), free(c.R), free(dx);
}
static void test_pool_gradcheck(void **state) {
    (void)state;
    pool_gradcheck("maxpool floor", 0, sc_pool2d_make(2, 2, 7, 8, 3, 2, 1, 0, 0), 0, 0);
    pool_gradcheck("maxpool ceil", 0, sc_pool2d_make(1, 2, 8, 7, 3, 2, 1, 1, 0), 0, 0);
    pool_gradcheck("avgpool pad", 1, sc_pool2d_make(2, 2, 7, 8, 3, 2, 1, 0, 1), 0, 0);
    pool_gradcheck("avgpool ceil nopad", 1, sc_pool2d_make(1, 2, 8, 7, 3, 2, 1, 1, 0), 0, 0);
    pool_gradcheck("adaptive 7x5->3x7", 2, sc_pool2d_make(2, 2, 7, 5, 1, 1, 0, 0, 0), 3, 7);
    pool_gradcheck("global", 3, sc_pool2d_make(2, 3, 4, 5, 1, 1, 0, 0, 0), 1, 1);
}

static void test_pool_output_sizes(void **state) {
    (void)state;
    int OH, OW;
    /* ResNet stem: 112 -> 56 with k3 s2 p1. */
    sc_pool2d_desc d = sc_pool2d_make(1, 1, 112, 112, 3, 2, 1, 0, 0);
    SC_TEST_OK(sc_pool2d_out_size(&d, &OH, &OW));
    assert_int_equal(OH, 56);
    /* ceil mode: 7 with k2 s2 -> 4 (floor 3); 6 with k2 s2 p1 -> 4 (last window
     * would start in the right padding, dropped). */
    d = sc_pool2d_make(1, 1, 7, 6, 2, 2, 0, 1, 0);
    SC_TEST_OK(sc_pool2d_out_size(&d, &OH, &OW));
    assert_int_equal(OH, 4);
    assert_int_equal(OW, 3);
    d = sc_pool2d_make(1, 1, 6, 6, 2, 2, 1, 1, 0);
    SC_TEST_OK(sc_pool2d_out_size(&d, &OH, &OW));
    assert_int_equal(OH, 4);
}

static void test_argument_validation(void **state) {
    (void)state;
    float buf[64] = {0}, out[64];
    for (int i = 0; i < 64; i++) out[i] = 42.0f;
    /* NULL pointers and non-positive sizes. */
    assert_int_equal(sc_linear_forward(NULL, buf, buf, NULL, 2, 2, 2), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "sc_linear_forward"));
    assert_int_equal(sc_linear_forward(out, buf, buf, NULL, 0, 2, 2), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_linear_backward(buf, NULL, NULL, buf, buf, NULL, 2, 2, 2),
                     SC_ERR_INVALID_ARG); /* dx needs w */
    /* Overflowing element counts. */
    assert_int_equal(sc_batchnorm2d_forward_eval(out, buf, NULL, NULL, buf, buf, INT32_MAX,
                                                 INT32_MAX, INT32_MAX, 1e-5f),
                     SC_ERR_LIMIT);
    /* Conv: groups must divide channels; kernel larger than padded input;
     * bad stride; negative padding. */
    sc_conv2d_desc d = sc_conv2d_make(1, 3, 4, 4, 4, 3, 3, 1, 1, 1, 2);
    assert_int_equal(sc_conv2d_forward(&d, out, buf, buf, NULL, NULL, 0), SC_ERR_SHAPE);
    assert_non_null(strstr(sc_last_error(), "groups"));
    d = sc_conv2d_make(1, 1, 2, 2, 1, 5, 5, 1, 1, 1, 1);
    assert_int_equal(sc_conv2d_forward(&d, out, buf, buf, NULL, NULL, 0), SC_ERR_SHAPE);
    d = sc_conv2d_make(1, 1, 4, 4, 1, 3, 3, 0, 1, 1, 1);
    assert_int_equal(sc_conv2d_forward(&d, out, buf, buf, NULL, NULL, 0), SC_ERR_INVALID_ARG);
    d = sc_conv2d_make(1, 1, 4, 4, 1, 3, 3, 1, -1, 1, 1);
    assert_int_equal(sc_conv2d_out_size(&d, NULL, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_conv2d_forward(NULL, out, buf, buf, NULL, NULL, 0), SC_ERR_INVALID_ARG);
    d = sc_conv2d_make(INT32_MAX, INT32_MAX, 1, 1, 1, 1, 1, 1, 0, 1, 1);
    assert_int_equal(sc_conv2d_workspace_bytes(&d, NULL, NULL), SC_OK);
    d = sc_conv2d_make(INT32_MAX, INT32_MAX, INT32_MAX, 2, 1, 1, 1, 1, 0, 1, 1);
    assert_int_equal(sc_conv2d_workspace_bytes(&d, NULL, NULL), SC_ERR_LIMIT);
    /* BN: one value per channel cannot train; bad momentum; half-given running stats. */
    assert_int_equal(sc_batchnorm2d_forward_train(out, NULL, NULL, NULL, NULL, buf, NULL, NULL, 1,
                                                  4, 1, 0.1f, 1e-5f),
                     SC_ERR_SHAPE);
    assert_int_equal(sc_batchnorm2d_forward_train(out, NULL, NULL, NULL, NULL, buf, NULL, NULL, 2,
                                                  2, 2, 1.5f, 1e-5f),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_batchnorm2d_forward_train(out, NULL, NULL, buf, NULL, buf, NULL, NULL, 2, 2,
                                                  2, 0.1f, 1e-5f),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_layernorm_backward(buf, NULL, NULL, buf, buf, NULL, buf, NULL, 2, 2),
                     SC_ERR_INVALID_ARG);
    /* Activations. */
    assert_int_equal(sc_act_forward((sc_activation)9, out, buf, 4), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_act_backward(SC_ACT_GELU, out, buf, NULL, buf, 4), SC_ERR_INVALID_ARG);
    /* Pooling: padding over half the kernel, too small input, bad flag,
     * out-of-range argmax from a caller. */
    sc_pool2d_desc p = sc_pool2d_make(1, 1, 4, 4, 2, 2, 2, 0, 0);
    assert_int_equal(sc_maxpool2d_forward(&p, out, NULL, buf), SC_ERR_INVALID_ARG);
    p = sc_pool2d_make(1, 1, 2, 2, 3, 1, 0, 0, 0);
    assert_int_equal(sc_avgpool2d_forward(&p, out, buf), SC_ERR_SHAPE);
    p = sc_pool2d_make(1, 1, 4, 4, 2, 2, 0, 2, 0);
    assert_int_equal(sc_avgpool2d_forward(&p, out, buf), SC_ERR_INVALID_ARG);
    p = sc_pool2d_make(1, 1, 4, 4, 2, 2, 0, 0, 0);
    int32_t am[4] = {0, 1, 16, 3};
    assert_int_equal(sc_maxpool2d_backward(&p, out, buf, am), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_adaptive_avgpool2d_forward(out, buf, 1, 1, 4, 4, 0, 2), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_global_avgpool2d_forward(out, NULL, 1, 1, 4), SC_ERR_INVALID_ARG);
    /* Nothing was written by any failing call. */
    for (int i = 0; i < 64; i++) assert_true(out[i] == 42.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_gradcheck),
        cmocka_unit_test(test_conv2d_gradcheck),
        cmocka_unit_test(test_conv2d_deterministic_and_workspace),
        cmocka_unit_test(test_batchnorm_train_gradcheck),
        cmocka_unit_test(test_batchnorm_eval_gradcheck),
        cmocka_unit_test(test_layernorm_gradcheck),
        cmocka_unit_test(test_layernorm_backward_input),
        cmocka_unit_test(test_activation_gradcheck),
        cmocka_unit_test(test_pool_gradcheck),
        cmocka_unit_test(test_masked_avgpool),
        cmocka_unit_test(test_pool_output_sizes),
        cmocka_unit_test(test_argument_validation),
    };
    return cmocka_run_group_tests_name("nn", tests, NULL, NULL);
}

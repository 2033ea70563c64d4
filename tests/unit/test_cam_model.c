/* sc_cam_model over the Fashion classifier (sc_classifier.h): its one layer
 * "encoder", logits equal to the classifier's own forward, the input gradient
 * equal to sc_classifier_backward's, and finite differences of the logits for
 * the layer gradient (through sc_cam_model_forward_from: pool + linear head,
 * so exact up to rounding) and the input gradient. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_cam_model.h"

typedef struct fd_ctx {
    sc_cam_model *m;
    float *act, *x, *lg;
    const float *dl;
    int N, K;
} fd_ctx;

static double loss_from_layer(void *arg) {
    fd_ctx *c = arg;
    SC_TEST_OK(sc_cam_model_forward_from(c->m, "encoder", c->act, c->N, c->lg));
    return sc_test_dot(c->lg, c->dl, (size_t)c->N * c->K);
}

static double loss_from_input(void *arg) {
    fd_ctx *c = arg;
    SC_TEST_OK(sc_cam_model_logits(c->m, c->x, c->N, c->lg));
    return sc_test_dot(c->lg, c->dl, (size_t)c->N * c->K);
}

static void test_fashion_classifier(void **state) {
    (void)state;
    sc_classifier_config cfg = sc_classifier_default_config();
    cfg.dropout = 0.0f;
    sc_classifier *c = NULL;
    SC_TEST_OK(sc_classifier_create(&cfg, NULL, 11, &c));
    sc_cam_model *m = NULL;
    SC_TEST_OK(sc_cam_model_from_classifier(c, &m));
    assert_int_equal(sc_cam_model_layer_count(m), 1);
    assert_string_equal(sc_cam_model_layer_name(m, 0), "encoder");
    sc_cam_model_info info;
    SC_TEST_OK(sc_cam_model_get_info(m, &info));
    assert_int_equal(info.in_h, 28);
    assert_int_equal(info.num_classes, 10);
    assert_string_equal(info.default_layer, "encoder");
    int C, h, w;
    SC_TEST_OK(sc_cam_model_layer_shape(m, "encoder", &C, &h, &w));
    assert_int_equal(sc_cam_model_layer_shape(m, "layer4", &C, &h, &w), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "valid layers: encoder"));
    SC_TEST_OK(sc_cam_model_layer_shape(m, "encoder", &C, &h, &w));
    assert_int_equal(sc_cam_model_set_input_size(m, 32, 32), SC_ERR_UNSUPPORTED);

    const int N = 2, K = 10;
    const size_t nin = (size_t)N * 28 * 28, na = (size_t)N * C * h * w;
    float *x = sc_test_random(nin, 0.0f, 1.0f, 3), *act = malloc(na * sizeof(float)),
          *dact = malloc(na * sizeof(float)), *dx = malloc(nin * sizeof(float)),
          *dx_ref = sc_test_zeros(nin), lg[20], dl[20] = {0};
    dl[4] = 1.0f, dl[K + 7] = 1.0f;
    SC_TEST_OK(sc_cam_model_forward(m, x, N, "encoder", lg, act));
    const float *ref;
    SC_TEST_OK(sc_classifier_forward(c, x, N, 0, NULL, &ref));
    sc_test_assert_close("logits", lg, ref, (size_t)N * K, 1e-5, 1e-6);
    SC_TEST_OK(sc_classifier_backward(c, dl, dx_ref));
    SC_TEST_OK(sc_cam_model_forward(m, x, N, "encoder", lg, act));
    SC_TEST_OK(sc_cam_model_backward(m, dl, dact, dx));
    sc_test_assert_close("dx", dx, dx_ref, nin, 1e-5, 1e-7);
    fd_ctx ctx = {m, act, x, lg, dl, N, K};
    sc_test_gradcheck("encoder", loss_from_layer, &ctx, act, dact, na, 40, 1e-2, 1e-3, 1e-5);
    sc_test_gradcheck("input", loss_from_input, &ctx, x, dx, nin, 40, 5e-4, 2e-2, 5e-4);
    int k;
    assert_int_equal(sc_cam_model_class_from_string(m, "10", &k), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_cam_model_class_from_string(m, "9", &k));
    assert_int_equal(k, 9);
    free(x);
    free(act);
    free(dact);
    free(dx);
    free(dx_ref);
    sc_cam_model_free(m);
    sc_classifier_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_fashion_classifier)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

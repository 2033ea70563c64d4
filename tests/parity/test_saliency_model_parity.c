/* Grad-CAM and input-gradient saliency against PyTorch 1.13 autograd
 * (tools/ref/ref_saliency_model.py, hooks on the last conv feature map):
 * the shipped ST-CNN (assets/models/fashion-stn.safetensors, the predicted
 * class and a chosen one, the runner-up) and a random plain classifier. Compared: the
 * class, its logit, the feature-level CAM, the CAM placed on the input
 * (warped through theta^-1 for the ST-CNN), d logit / d x and the gradient
 * map. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_saliency_model.h"

SC_TEST_REFERENCE_GROUP("salmodel_parity", "ref_saliency_model.py", sc_test_source_arg())

static sc_npy load(const char *c, const char *name, const char *suffix) {
    char buf[640];
    snprintf(buf, sizeof buf, "%s_%s%s", c, name, suffix);
    return sc_test_npy(g_dir, buf);
}

/* Compare one target's outputs; st or cls is the model. */
static void check(const char *c, const char *suffix, sc_stcnn *st, sc_classifier *cls, int target) {
    sc_npy x = load(c, "x", ""), rt = load(c, "target", suffix), rl = load(c, "logit", suffix),
           rcam = load(c, "cam", suffix), rmap = load(c, "map", suffix),
           rdx = load(c, "dx", suffix), rg = load(c, "gmap", suffix);
    float *cam = calloc(rcam.count, sizeof(float)), *map = calloc(rmap.count, sizeof(float));
    float *dx = calloc(rdx.count, sizeof(float)), *gmap = calloc(rg.count, sizeof(float));
    int k = -7, k2 = -7;
    double logit = 0, logit2 = 0;
    if (st) {
        SC_TEST_OK(sc_stcnn_gradcam(st, x.data, target, cam, map, &k, &logit));
        SC_TEST_OK(sc_stcnn_gradient(st, x.data, target, dx, gmap, &k2, &logit2));
    } else {
        SC_TEST_OK(sc_classifier_gradcam(cls, x.data, target, cam, map, &k, &logit));
        SC_TEST_OK(sc_classifier_gradient(cls, x.data, target, dx, gmap, &k2, &logit2));
    }
    char what[200];
    if (target >= 0) assert_int_equal(target, (int)rt.data[0]);
    assert_int_equal(k, (int)rt.data[0]);
    assert_int_equal(k2, (int)rt.data[0]);
    float lf = (float)logit, lf2 = (float)logit2;
    snprintf(what, sizeof what, "%s%s logit (gradcam)", c, suffix);
    sc_test_assert_close(what, &lf, rl.data, 1, 1e-4, 1e-4);
    snprintf(what, sizeof what, "%s%s logit (gradient)", c, suffix);
    sc_test_assert_close(what, &lf2, rl.data, 1, 1e-4, 1e-4);
    snprintf(what, sizeof what, "%s%s Grad-CAM", c, suffix);
    sc_test_assert_close(what, cam, rcam.data, rcam.count, 0, 1e-4);
    snprintf(what, sizeof what, "%s%s Grad-CAM on the input", c, suffix);
    sc_test_assert_close(what, map, rmap.data, rmap.count, 0, 1e-4);
    /* dx: relative to the gradient's scale */
    double mx = 0;
    for (size_t i = 0; i < rdx.count; i++) mx = fmax(mx, fabs(rdx.data[i]));
    snprintf(what, sizeof what, "%s%s d logit / dx", c, suffix);
    sc_test_assert_close(what, dx, rdx.data, rdx.count, 1e-3, 1e-4 * mx);
    snprintf(what, sizeof what, "%s%s gradient map", c, suffix);
    sc_test_assert_close(what, gmap, rg.data, rg.count, 0, 1e-4);
    /* the maps are not trivial */
    double s = 0;
    for (size_t i = 0; i < rmap.count; i++) s += map[i];
    assert_true(s > 0.02 * (double)rmap.count && s < 0.9 * (double)rmap.count);
    free(cam), free(map), free(dx), free(gmap);
    sc_npy_free(&x), sc_npy_free(&rt), sc_npy_free(&rl), sc_npy_free(&rcam);
    sc_npy_free(&rmap), sc_npy_free(&rdx), sc_npy_free(&rg);
}

static void test_stn_shipped(void **state) {
    (void)state;
    char *path = sc_test_source_path("assets/models/fashion-stn.safetensors");
    sc_stcnn *m;
    SC_TEST_OK(sc_stcnn_load(path, &m));
    check("stn", "", m, NULL, -1);
    sc_npy t1 = load("stn", "target", "_t1"); /* a chosen class: the runner-up */
    check("stn", "_t1", m, NULL, (int)t1.data[0]);
    sc_npy_free(&t1);
    /* a class out of range is an error, not a crash */
    sc_npy x = load("stn", "x", "");
    float map[3600];
    assert_int_equal(sc_stcnn_gradcam(m, x.data, 10, NULL, map, NULL, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_stcnn_gradient(m, x.data, -2, NULL, map, NULL, NULL), SC_ERR_INVALID_ARG);
    sc_npy_free(&x);
    sc_stcnn_free(m);
    free(path);
}

static void test_classifier_random(void **state) {
    (void)state;
    char *path = sc_test_join(g_dir, "cls.safetensors");
    sc_classifier *m;
    SC_TEST_OK(sc_classifier_load(path, &m));
    check("cls", "", NULL, m, -1);
    sc_classifier_free(m);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stn_shipped),
        cmocka_unit_test(test_classifier_random),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* sc_cnn / sc_classifier against PyTorch (tools/ref/ref_cnn.py): the model
 * files are written by the Python side (st_numpy, PyTorch state_dict names),
 * loaded by saccade, and forward (train + eval), running statistics and
 * every parameter and input gradient are compared. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_cnn.h"
#include "saccade/sc_classifier.h"

#define RTOL 1e-4
#define ATOL 1e-4

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_tmpdir("cnn_parity");
    sc_test_python("ref_cnn.py", "%s", g_dir);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    sc_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static sc_npy npy(const char *case_, const char *name) {
    char buf[600];
    snprintf(buf, sizeof buf, "%.60s_%.500s", case_, name);
    return sc_test_npy(g_dir, buf);
}

static void close_to(const char *what, const float *a, const sc_npy *ref) {
    sc_test_close_to_npy(what, a, ref, RTOL, ATOL);
}

/* Compare the grads of `params` (names as in PyTorch, minus `strip`). */
static void check_grads(const char *case_, const sc_param *ps, size_t np, const char *strip) {
    for (size_t i = 0; i < np; i++) {
        char name[256];
        const char *n = ps[i].name;
        if (strip && !strncmp(n, strip, strlen(strip))) n += strlen(strip);
        snprintf(name, sizeof name, "grad_%s", n);
        sc_npy ref = npy(case_, name);
        assert_int_equal(ref.ndim, ps[i].ndim);
        close_to(ps[i].name, ps[i].grad, &ref);
        sc_npy_free(&ref);
    }
}

static void check_classifier(const char *cs, int head_grid) {
    char fname[64];
    snprintf(fname, sizeof fname, "%s.safetensors", cs);
    char *path = sc_test_join(g_dir, fname);
    sc_classifier *m;
    SC_TEST_OK(sc_classifier_load(path, &m));
    assert_int_equal(sc_classifier_get_config(m)->head_grid, head_grid);
    assert_string_equal(sc_classifier_class_name(m, 4), "e");
    sc_npy x = npy(cs, "x");
    int N = (int)x.shape[0];
    size_t nx = (size_t)N * 400;
    const float *logits;
    /* Eval mode first (running stats from the file), with the input gradient. */
    sc_npy eo = npy(cs, "eval_out"), eg = npy(cs, "eval_gout"), edx = npy(cs, "eval_dx");
    float *dx = calloc(nx, sizeof(float));
    SC_TEST_OK(sc_classifier_forward(m, x.data, N, 0, NULL, &logits));
    close_to("eval logits", logits, &eo);
    SC_TEST_OK(sc_classifier_backward(m, eg.data, dx));
    close_to("eval d input", dx, &edx);
    /* Training mode. */
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_classifier_params(m, &ps, &np));
    assert_int_equal(np, 11);
    for (size_t i = 0; i < np; i++) memset(ps[i].grad, 0, ps[i].n * sizeof(float));
    memset(dx, 0, nx * sizeof(float));
    sc_npy o = npy(cs, "out"), g = npy(cs, "gout"), rdx = npy(cs, "dx");
    SC_TEST_OK(sc_classifier_forward(m, x.data, N, 1, NULL, &logits));
    close_to("train logits", logits, &o);
    SC_TEST_OK(sc_classifier_backward(m, g.data, dx));
    close_to("train d input", dx, &rdx);
    check_grads(cs, ps, np, NULL);
    const sc_param *bs;
    size_t nb;
    SC_TEST_OK(sc_classifier_buffers(m, &bs, &nb));
    assert_int_equal(nb, 6);
    for (size_t i = 0; i < nb; i++) {
        char name[256];
        snprintf(name, sizeof name, "after_%s", bs[i].name);
        sc_npy r = npy(cs, name);
        close_to(bs[i].name, bs[i].param, &r);
        sc_npy_free(&r);
    }
    sc_npy *all[] = {&x, &eo, &eg, &edx, &o, &g, &rdx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sc_npy_free(all[i]);
    free(dx);
    free(path);
    sc_classifier_free(m);
}

static void test_classifier_matches_torch(void **state) {
    (void)state;
    check_classifier("clf", 0);
}

/* Head on an adaptive 3x3 grid of the 5x5 map, flattened as torch.flatten. */
static void test_classifier_grid_head_matches_torch(void **state) {
    (void)state;
    check_classifier("clf_grid", 3);
}

static void test_encoder_matches_torch(void **state) {
    (void)state;
    char *path = sc_test_join(g_dir, "enc.safetensors");
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    sc_cnn_config cfg;
    SC_TEST_OK(sc_cnn_config_from_json(sc_safetensors_metadata(st, "saccade.config"), &cfg));
    assert_int_equal(cfg.batchnorm, 0);
    sc_rng rng;
    sc_rng_seed(&rng, 1);
    sc_cnn *m;
    SC_TEST_OK(sc_cnn_create(&cfg, NULL, &rng, &m));
    SC_TEST_OK(sc_cnn_load(m, st));
    sc_safetensors_free(st);
    sc_npy x = npy("enc", "x");
    int N = (int)x.shape[0], H = (int)x.shape[2], W = (int)x.shape[3];
    size_t nx = (size_t)N * 3 * H * W;
    float *dx = calloc(nx, sizeof(float));
    const float *out;
    int C, h, w;
    sc_npy eo = npy("enc", "eval_out"), eg = npy("enc", "eval_gout"), edx = npy("enc", "eval_dx");
    SC_TEST_OK(sc_cnn_forward(m, x.data, N, H, W, 0, &out, &C, &h, &w));
    assert_int_equal(eo.ndim, 4);
    assert_int_equal(C, eo.shape[1]);
    assert_int_equal(h, eo.shape[2]);
    assert_int_equal(w, eo.shape[3]);
    close_to("encoder eval out", out, &eo);
    SC_TEST_OK(sc_cnn_backward(m, eg.data, dx));
    close_to("encoder eval d input", dx, &edx);
    sc_cnn_zero_grad(m);
    memset(dx, 0, nx * sizeof(float));
    sc_npy o = npy("enc", "out"), g = npy("enc", "gout"), rdx = npy("enc", "dx");
    SC_TEST_OK(sc_cnn_forward(m, x.data, N, H, W, 1, &out, &C, &h, &w));
    close_to("encoder train out", out, &o);
    SC_TEST_OK(sc_cnn_backward(m, g.data, dx));
    close_to("encoder train d input", dx, &rdx);
    const sc_param *ps;
    size_t np;
    sc_cnn_params(m, &ps, &np);
    assert_int_equal(np, 6);
    check_grads("enc", ps, np, NULL);
    sc_npy *all[] = {&x, &eo, &eg, &edx, &o, &g, &rdx};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) sc_npy_free(all[i]);
    free(dx);
    free(path);
    sc_cnn_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifier_matches_torch),
        cmocka_unit_test(test_classifier_grid_head_matches_torch),
        cmocka_unit_test(test_encoder_matches_torch),
    };
    return cmocka_run_group_tests_name("cnn_parity", tests, setup, teardown);
}

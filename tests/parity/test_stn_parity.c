/* ST-CNN against PyTorch 1.13 (tools/ref/ref_stn.py): the model file
 * written from PyTorch's state_dict loads by name; train-mode logits and
 * theta, every parameter gradient, the input gradient, the BN running
 * statistics after the step, and eval-mode logits agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_stn.h"

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_tmpdir("stn_parity");
    sc_test_python("ref_stn.py", "'%s'", g_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sc_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static sc_npy load(const char *c, const char *name) {
    char buf[640];
    snprintf(buf, sizeof buf, "%s_%s", c, name);
    return sc_test_npy(g_dir, buf);
}

static void run_case(const char *c, int nexpect_params) {
    char path[512], what[300];
    snprintf(path, sizeof path, "%s/%s.safetensors", g_dir, c);
    sc_stcnn *m;
    SC_TEST_OK(sc_stcnn_load(path, &m));
    sc_npy x = load(c, "x"), out = load(c, "out"), gout = load(c, "gout"), dx = load(c, "dx");
    sc_npy eout = load(c, "eval_out"), eth = load(c, "eval_theta");
    int N = (int)x.shape[0];
    /* eval mode first (stored running statistics) */
    const float *logits;
    float *probs = malloc(eout.count * sizeof(float)),
          *theta = malloc(6 * (size_t)N * sizeof(float));
    SC_TEST_OK(sc_stcnn_forward(m, x.data, N, 0, NULL, &logits));
    snprintf(what, sizeof what, "%s eval logits", c);
    sc_test_assert_close(what, logits, eout.data, eout.count, 1e-4, 1e-4);
    SC_TEST_OK(sc_stcnn_predict(m, x.data, (size_t)N, probs, theta));
    snprintf(what, sizeof what, "%s eval theta", c);
    sc_test_assert_close(what, theta, eth.data, eth.count, 1e-4, 1e-5);
    /* train mode */
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_stcnn_params(m, &ps, &np));
    assert_int_equal((int)np, nexpect_params);
    for (size_t i = 0; i < np; i++) memset(ps[i].grad, 0, ps[i].n * sizeof(float));
    SC_TEST_OK(sc_stcnn_forward(m, x.data, N, 1, NULL, &logits));
    snprintf(what, sizeof what, "%s train logits", c);
    sc_test_assert_close(what, logits, out.data, out.count, 1e-4, 1e-4);
    float *dxc = calloc(x.count, sizeof(float));
    SC_TEST_OK(sc_stcnn_backward(m, gout.data, dxc));
    snprintf(what, sizeof what, "%s dx", c);
    sc_test_assert_close(what, dxc, dx.data, dx.count, 1e-4, 1e-4);
    for (size_t i = 0; i < np; i++) {
        sc_npy gp = load(c, (snprintf(what, sizeof what, "grad_%s", ps[i].name), what));
        assert_int_equal(gp.count, ps[i].n);
        char w2[300];
        snprintf(w2, sizeof w2, "%s grad %s", c, ps[i].name);
        sc_test_assert_close(w2, ps[i].grad, gp.data, gp.count, 1e-4, 1e-4);
        sc_npy_free(&gp);
    }
    const sc_param *bs;
    size_t nb;
    SC_TEST_OK(sc_stcnn_buffers(m, &bs, &nb));
    for (size_t i = 0; i < nb; i++) {
        if (!strstr(bs[i].name, "running")) continue;
        sc_npy b = load(c, (snprintf(what, sizeof what, "after_%s", bs[i].name), what));
        char w2[300];
        snprintf(w2, sizeof w2, "%s %s after step", c, bs[i].name);
        sc_test_assert_close(w2, bs[i].param, b.data, b.count, 1e-4, 1e-5);
        sc_npy_free(&b);
    }
    free(probs);
    free(theta);
    free(dxc);
    sc_npy_free(&x);
    sc_npy_free(&out);
    sc_npy_free(&gout);
    sc_npy_free(&dx);
    sc_npy_free(&eout);
    sc_npy_free(&eth);
    sc_stcnn_free(m);
}

static void test_cnn_loc_affine(void **state) {
    (void)state;
    /* stn: 2 stages x (conv, bn w, bn b) + fc1 w/b + fc2 w/b = 10;
     * classifier: 2 x 3 + head w/b = 8 */
    run_case("cnnloc", 18);
}

static void test_mlp_loc_trans_scale(void **state) {
    (void)state;
    run_case("mlploc", 2 + 8);
}

static void test_cnn_loc_similarity_grid_head(void **state) {
    (void)state;
    run_case("simloc", 18);
}

static void test_cnn_loc_translation(void **state) {
    (void)state;
    run_case("transloc", 18);
}

static void test_thread_counts_agree(void **state) {
    (void)state;
    SC_TEST_OK(sc_set_num_threads(1));
    run_case("cnnloc", 18);
    SC_TEST_OK(sc_set_num_threads(2));
    run_case("cnnloc", 18);
    sc_set_num_threads(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_loc_affine),
        cmocka_unit_test(test_mlp_loc_trans_scale),
        cmocka_unit_test(test_cnn_loc_similarity_grid_head),
        cmocka_unit_test(test_cnn_loc_translation),
        cmocka_unit_test(test_thread_counts_agree),
    };
    return cmocka_run_group_tests_name("stn_parity", tests, setup, teardown);
}

/* grid_sample / affine_grid against PyTorch 1.13 (tools/ref/ref_grid.py):
 * forward outputs and autograd gradients for every mode x padding x
 * align_corners combination on several shapes, with far-out grids. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_grid.h"

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_reference("grid_parity", "ref_grid.py", "");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sc_test_reference_free(&g_dir);
    return 0;
}

static sc_npy load(const char *prefix, int i, const char *name) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s_%d_%s", prefix, i, name);
    return sc_test_npy(g_dir, buf);
}

static const char *mode_name[] = {"bilinear", "nearest"};
static const char *pad_name[] = {"zeros", "border", "reflection"};

static void run_grid_sample_cases(int threads) {
    SC_TEST_OK(sc_set_num_threads(threads));
    int idx = 0;
    for (int s = 0; s < 4; s++)
        for (int mode = 0; mode < 2; mode++)
            for (int pad = 0; pad < 3; pad++)
                for (int al = 1; al >= 0; al--, idx++) {
                    sc_npy in = load("gs", idx, "input"), grid = load("gs", idx, "grid");
                    sc_npy gout = load("gs", idx, "gout"), out = load("gs", idx, "out");
                    sc_npy gin = load("gs", idx, "gin"), ggrid = load("gs", idx, "ggrid");
                    int n = (int)in.shape[0], c = (int)in.shape[1], hi = (int)in.shape[2],
                        wi = (int)in.shape[3], ho = (int)grid.shape[1], wo = (int)grid.shape[2];
                    char what[160];
                    snprintf(what, sizeof what,
                             "case %d (%dx%dx%dx%d -> %dx%d, %s, %s, align %d, %d threads)", idx, n,
                             c, hi, wi, ho, wo, mode_name[mode], pad_name[pad], al, threads);
                    float *o = malloc(out.count * sizeof(float));
                    SC_TEST_OK(sc_grid_sample(in.data, grid.data, o, n, c, hi, wi, ho, wo,
                                              (sc_grid_interp)mode, (sc_grid_padding)pad, al));
                    char w2[200];
                    snprintf(w2, sizeof w2, "%s forward", what);
                    sc_test_assert_close(w2, o, out.data, out.count, 1e-5, 1e-6);
                    /* gradients accumulate: start from 1 and subtract it again */
                    float *gi = malloc(in.count * sizeof(float));
                    float *gg = malloc(grid.count * sizeof(float));
                    for (size_t i = 0; i < in.count; i++) gi[i] = 1.0f;
                    for (size_t i = 0; i < grid.count; i++) gg[i] = 1.0f;
                    SC_TEST_OK(sc_grid_sample_backward(gout.data, in.data, grid.data, gi, gg, n, c,
                                                       hi, wi, ho, wo, (sc_grid_interp)mode,
                                                       (sc_grid_padding)pad, al));
                    for (size_t i = 0; i < in.count; i++) gi[i] -= 1.0f;
                    for (size_t i = 0; i < grid.count; i++) gg[i] -= 1.0f;
                    snprintf(w2, sizeof w2, "%s grad input", what);
                    sc_test_assert_close(w2, gi, gin.data, gin.count, 1e-4, 1e-5);
                    snprintf(w2, sizeof w2, "%s grad grid", what);
                    sc_test_assert_close(w2, gg, ggrid.data, ggrid.count, 1e-4, 1e-5);
                    /* each gradient alone (the other NULL) gives the same */
                    memset(gi, 0, in.count * sizeof(float));
                    memset(gg, 0, grid.count * sizeof(float));
                    SC_TEST_OK(sc_grid_sample_backward(gout.data, NULL, grid.data, gi, NULL, n, c,
                                                       hi, wi, ho, wo, (sc_grid_interp)mode,
                                                       (sc_grid_padding)pad, al));
                    SC_TEST_OK(sc_grid_sample_backward(gout.data, in.data, grid.data, NULL, gg, n,
                                                       c, hi, wi, ho, wo, (sc_grid_interp)mode,
                                                       (sc_grid_padding)pad, al));
                    snprintf(w2, sizeof w2, "%s grad input alone", what);
                    sc_test_assert_close(w2, gi, gin.data, gin.count, 1e-4, 1e-5);
                    snprintf(w2, sizeof w2, "%s grad grid alone", what);
                    sc_test_assert_close(w2, gg, ggrid.data, ggrid.count, 1e-4, 1e-5);
                    free(o);
                    free(gi);
                    free(gg);
                    sc_npy_free(&in), sc_npy_free(&grid), sc_npy_free(&gout);
                    sc_npy_free(&out), sc_npy_free(&gin), sc_npy_free(&ggrid);
                }
}

static void test_grid_sample_matches_torch_one_thread(void **state) {
    (void)state;
    run_grid_sample_cases(1);
}

static void test_grid_sample_matches_torch_three_threads(void **state) {
    (void)state;
    /* 3 threads split batch items between threads: exercises the private
     * grad_input buffers. */
    run_grid_sample_cases(3);
    SC_TEST_OK(sc_set_num_threads(1));
}

static void test_affine_grid_matches_torch(void **state) {
    (void)state;
    for (int j = 0; j < 6; j++) {
        int align = j % 2 == 0;
        sc_npy theta = load("ag", j, "theta"), grid = load("ag", j, "grid");
        sc_npy gup = load("ag", j, "gupstream"), gth = load("ag", j, "gtheta");
        int n = (int)grid.shape[0], h = (int)grid.shape[1], w = (int)grid.shape[2];
        char what[96];
        float *g = malloc(grid.count * sizeof(float));
        SC_TEST_OK(sc_affine_grid(theta.data, n, h, w, align, g));
        snprintf(what, sizeof what, "affine_grid %dx%dx%d align %d", n, h, w, align);
        sc_test_assert_close(what, g, grid.data, grid.count, 1e-5, 1e-6);
        float dt[18] = {0};
        SC_TEST_OK(sc_affine_grid_backward(gup.data, n, h, w, align, dt));
        snprintf(what, sizeof what, "affine_grid backward %dx%dx%d align %d", n, h, w, align);
        sc_test_assert_close(what, dt, gth.data, gth.count, 1e-4, 1e-5);
        free(g);
        sc_npy_free(&theta), sc_npy_free(&grid), sc_npy_free(&gup), sc_npy_free(&gth);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_sample_matches_torch_one_thread),
        cmocka_unit_test(test_grid_sample_matches_torch_three_threads),
        cmocka_unit_test(test_affine_grid_matches_torch),
    };
    return cmocka_run_group_tests_name("grid_parity", tests, setup, teardown);
}

/* Winograd 3x3 convolution (src/winograd.c), F(2x2) and F(4x4), against
 * PyTorch's conv2d (tools/ref/ref_winograd.py: stride 1, pad 1, bias,
 * optional residual add and ReLU) and against saccade's plain im2col conv
 * (sc_conv2d_forward), on awkward sizes: H, W not multiples of the tile,
 * 1x1 and 2x3 images, channel counts that are not multiples of a vector
 * width, batch > 1. Tolerance 1e-4 relative with an absolute floor of 1e-5
 * x max |ref|; the measured error of each case is printed. Also: argument
 * errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_nn.h"
#include "winograd.h"
#include "saccade/sc_blas.h"

static char *g_dir;
#define NCASES 7

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static double max_err(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void test_cases(void **state) {
    (void)state;
    g_dir = sc_test_reference("winograd", "ref_winograd.py", "");
    for (int ci = 0; ci < NCASES; ci++) {
        char nm[32];
#define LOAD(v, s)                                                                                 \
    snprintf(nm, sizeof nm, "case%d_%s", ci, s);                                                   \
    sc_npy v = sc_test_npy(g_dir, nm)
        LOAD(sh, "shape");
        LOAD(x, "x");
        LOAD(w, "w");
        LOAD(b, "b");
        LOAD(r, "r");
        LOAD(y, "y");
#undef LOAD
        const int N = (int)sh.data[0], C = (int)sh.data[1], OC = (int)sh.data[2],
                  H = (int)sh.data[3], W = (int)sh.data[4], res = (int)sh.data[5],
                  relu = (int)sh.data[6];
        const size_t ny = (size_t)N * OC * H * W;
        assert_int_equal(y.count, ny);
        /* plain conv (+ residual, ReLU) as the in-library oracle */
        sc_conv2d_desc d = sc_conv2d_make(N, C, H, W, OC, 3, 3, 1, 1, 1, 1);
        size_t wsb = 0;
        SC_TEST_OK(sc_conv2d_workspace_bytes(&d, &wsb, NULL));
        void *cws = wsb ? malloc(wsb) : NULL;
        float *plain = sc_test_zeros(ny);
        SC_TEST_OK(sc_conv2d_forward(&d, plain, x.data, w.data, b.data, cws, wsb));
        for (size_t i = 0; i < ny; i++) {
            float v = plain[i] + (res ? r.data[i] : 0.0f);
            plain[i] = relu && v < 0.0f ? 0.0f : v;
        }
        const double atol = 1e-5 * max_abs(y.data, ny);
        for (int m = 2; m <= 4; m += 2) {
            size_t nu = sc_winograd_weight_floats(m, C, OC);
            size_t nws = sc_winograd_workspace_floats(m, C, OC, H, W);
            assert_int_equal(nu, (size_t)(m + 2) * (m + 2) * sc_gemm_pack_floats(OC, C));
            assert_true(nws > 0);
            float *U = malloc(nu * sizeof(float)), *ws = malloc(nws * sizeof(float));
            float *out = sc_test_zeros(ny);
            assert_non_null(U);
            assert_non_null(ws);
            SC_TEST_OK(sc_winograd_weights(m, w.data, C, OC, U));
            /* garbage in the workspace must not matter */
            memset(ws, 0x7f, nws * sizeof(float));
            SC_TEST_OK(sc_winograd_conv3x3(m, U, b.data, x.data, N, C, OC, H, W,
                                           res ? r.data : NULL, relu, out, ws, nws));
            char what[96];
            snprintf(what, sizeof what, "case %d F(%dx%d) vs PyTorch", ci, m, m);
            sc_test_assert_close(what, out, y.data, ny, 1e-4, atol);
            snprintf(what, sizeof what, "case %d F(%dx%d) vs plain conv", ci, m, m);
            sc_test_assert_close(what, out, plain, ny, 1e-4, atol);
            printf("case %d N%d C%d OC%d %dx%d res %d relu %d F(%dx%d): max abs err vs PyTorch "
                   "%.3g (%.3g of max |ref|)\n",
                   ci, N, C, OC, H, W, res, relu, m, m, max_err(out, y.data, ny),
                   max_err(out, y.data, ny) / fmax(max_abs(y.data, ny), 1e-30));
            free(U), free(ws), free(out);
        }
        free(plain), free(cws);
        sc_npy_free(&sh), sc_npy_free(&x), sc_npy_free(&w), sc_npy_free(&b), sc_npy_free(&r),
            sc_npy_free(&y);
    }
    sc_test_reference_free(&g_dir);
}

/* A large image (more tiles than the kernel's on-stack row buffer holds)
 * against the plain conv. */
static void test_wide(void **state) {
    (void)state;
    const int C = 2, OC = 3, H = 5, W = 3001;
    const size_t nx = (size_t)C * H * W, ny = (size_t)OC * H * W;
    float *x = sc_test_random(nx, -1, 1, 1), *w = sc_test_random((size_t)OC * C * 9, -1, 1, 2);
    float *plain = sc_test_zeros(ny), *out = sc_test_zeros(ny);
    sc_conv2d_desc d = sc_conv2d_make(1, C, H, W, OC, 3, 3, 1, 1, 1, 1);
    size_t wsb = 0;
    SC_TEST_OK(sc_conv2d_workspace_bytes(&d, &wsb, NULL));
    void *cws = wsb ? malloc(wsb) : NULL;
    SC_TEST_OK(sc_conv2d_forward(&d, plain, x, w, NULL, cws, wsb));
    for (int m = 2; m <= 4; m += 2) {
        size_t nu = sc_winograd_weight_floats(m, C, OC),
               nws = sc_winograd_workspace_floats(m, C, OC, H, W);
        float *U = malloc(nu * sizeof(float)), *ws = malloc(nws * sizeof(float));
        SC_TEST_OK(sc_winograd_weights(m, w, C, OC, U));
        SC_TEST_OK(sc_winograd_conv3x3(m, U, NULL, x, 1, C, OC, H, W, NULL, 0, out, ws, nws));
        sc_test_assert_close("wide image", out, plain, ny, 1e-4, 1e-5 * max_abs(plain, ny));
        free(U), free(ws);
    }
    free(x), free(w), free(plain), free(out), free(cws);
}

static void test_errors(void **state) {
    (void)state;
    float U[16 * 4], x[4], out[4], ws[256];
    assert_int_equal(sc_winograd_weight_floats(3, 2, 2), 0);
    assert_int_equal(sc_winograd_weight_floats(4, 0, 2), 0);
    assert_int_equal(sc_winograd_weight_floats(4, 1 << 30, 1 << 30), 0);
    assert_int_equal(sc_winograd_workspace_floats(4, 2, 2, 0, 3), 0);
    assert_int_equal(sc_winograd_workspace_floats(4, 1 << 30, 1 << 30, 1 << 30, 1 << 30), 0);
    assert_int_equal(sc_winograd_weights(3, x, 1, 1, U), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_winograd_weights(2, NULL, 1, 1, U), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_winograd_conv3x3(6, U, NULL, x, 1, 1, 1, 2, 2, NULL, 0, out, ws, 256),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "tile size"));
    assert_int_equal(sc_winograd_conv3x3(2, U, NULL, x, 0, 1, 1, 2, 2, NULL, 0, out, ws, 256),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_winograd_conv3x3(2, U, NULL, NULL, 1, 1, 1, 2, 2, NULL, 0, out, ws, 256),
                     SC_ERR_INVALID_ARG);
    /* one thread's product buffer at least */
    const int threads = sc_get_num_threads();
    SC_TEST_OK(sc_set_num_threads(1));
    size_t need = sc_winograd_workspace_floats(2, 1, 1, 2, 2);
    float *big = calloc(need, sizeof(float));
    assert_non_null(big);
    assert_int_equal(sc_winograd_conv3x3(2, U, NULL, x, 1, 1, 1, 2, 2, NULL, 0, out, big, need - 1),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "workspace"));
    free(big);
    SC_TEST_OK(sc_set_num_threads(threads));
}

/* A workspace sized while one thread was set still works with two (the
 * conv then runs on one): the same numbers. */
static void test_workspace_threads(void **state) {
    (void)state;
    const int C = 16, OC = 24, H = 20, W = 20, threads = sc_get_num_threads();
    const size_t nx = (size_t)C * H * W, ny = (size_t)OC * H * W;
    float *x = sc_test_random(nx, -1, 1, 3), *w = sc_test_random((size_t)OC * C * 9, -1, 1, 4);
    float *a = sc_test_zeros(ny), *b = sc_test_zeros(ny);
    size_t nu = sc_winograd_weight_floats(4, C, OC);
    float *U = malloc(nu * sizeof(float));
    assert_non_null(U);
    SC_TEST_OK(sc_winograd_weights(4, w, C, OC, U));
    SC_TEST_OK(sc_set_num_threads(1));
    size_t n1 = sc_winograd_workspace_floats(4, C, OC, H, W);
    SC_TEST_OK(sc_set_num_threads(2));
    size_t n2 = sc_winograd_workspace_floats(4, C, OC, H, W);
    assert_true(n2 > n1);
    float *ws = malloc(n2 * sizeof(float));
    assert_non_null(ws);
    SC_TEST_OK(sc_winograd_conv3x3(4, U, NULL, x, 1, C, OC, H, W, NULL, 1, a, ws, n1));
    SC_TEST_OK(sc_winograd_conv3x3(4, U, NULL, x, 1, C, OC, H, W, NULL, 1, b, ws, n2));
    assert_memory_equal(a, b, ny * sizeof(float));
    SC_TEST_OK(sc_set_num_threads(threads));
    free(x), free(w), free(a), free(b), free(U), free(ws);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_wide),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_workspace_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

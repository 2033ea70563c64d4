/* affine_grid / grid_sample: finite-difference gradient checks, identity
 * sampling, hostile coordinates, determinism and argument validation.
 * (Exact agreement with PyTorch is in tests/parity/test_grid_parity.c.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_grid.h"
#include "saccade/sc_rng.h"

enum { N = 2, C = 2, HI = 4, WI = 5, HO = 3, WO = 4 };
#define NIN (N * C * HI * WI)
#define NOUT (N * C * HO * WO)
#define NGRID (N * HO * WO * 2)

typedef struct gs_case {
    float in[NIN], grid[NGRID], r[NOUT], out[NOUT];
    float theta[N * 6];
    int mode, pad, align;
} gs_case;

/* A normalised coordinate whose pixel coordinate is k + f with f in
 * [0.1, 0.4] or [0.6, 0.9]: away from the kinks of bilinear interpolation
 * (integers), clipping (integers) and reflection (integers or half-integers),
 * from k = -6 (outside the image, several reflections) to size + 4. */
static float safe_coord(sc_rng *r, int size, int align) {
    int k = -6 + (int)sc_rng_below(r, (uint64_t)size + 10);
    float f = 0.1f + 0.3f * sc_rng_uniform(r);
    if (sc_rng_uniform(r) < 0.5f) f += 0.5f;
    double u = k + f;
    return align ? (float)(u / ((size - 1) / 2.0) - 1.0) : (float)((u + 0.5) / (size / 2.0) - 1.0);
}

static void make_case(gs_case *g, int mode, int pad, int align, uint64_t seed) {
    sc_rng r;
    sc_rng_seed(&r, seed);
    for (int i = 0; i < NIN; i++) g->in[i] = sc_rng_normal(&r);
    for (int i = 0; i < NOUT; i++) g->r[i] = sc_rng_normal(&r);
    for (int i = 0; i < NGRID; i += 2) {
        g->grid[i] = safe_coord(&r, WI, align);
        g->grid[i + 1] = safe_coord(&r, HI, align);
    }
    g->mode = mode, g->pad = pad, g->align = align;
}

static double gs_loss(void *ctx) {
    gs_case *g = ctx;
    SC_TEST_OK(sc_grid_sample(g->in, g->grid, g->out, N, C, HI, WI, HO, WO, (sc_grid_interp)g->mode,
                              (sc_grid_padding)g->pad, g->align));
    double s = 0;
    for (int i = 0; i < NOUT; i++) s += (double)g->out[i] * g->r[i];
    return s;
}

static const char *pad_name[] = {"zeros", "border", "reflection"};

static void test_grid_sample_gradcheck(void **state) {
    (void)state;
    static gs_case g;
    float gin[NIN], gg[NGRID];
    for (int mode = 0; mode < 2; mode++)
        for (int pad = 0; pad < 3; pad++)
            for (int align = 0; align < 2; align++) {
                make_case(&g, mode, pad, align, 100 + mode * 10 + pad * 2 + align);
                memset(gin, 0, sizeof gin);
                memset(gg, 0, sizeof gg);
                SC_TEST_OK(sc_grid_sample_backward(g.r, g.in, g.grid, gin, gg, N, C, HI, WI, HO, WO,
                                                   (sc_grid_interp)mode, (sc_grid_padding)pad,
                                                   align));
                char what[96];
                snprintf(what, sizeof what, "%s %s align %d d_input", mode ? "nearest" : "bilinear",
                         pad_name[pad], align);
                /* the loss is linear in the input: central differences are exact up to rounding */
                sc_test_gradcheck(what, gs_loss, &g, g.in, gin, NIN, NIN, 1e-2, 1e-3, 1e-4);
                if (mode == SC_GRID_BILINEAR) {
                    snprintf(what, sizeof what, "bilinear %s align %d d_grid", pad_name[pad],
                             align);
                    /* eps 1e-2 moves a point by < 0.03 pixel: it stays inside its cell */
                    sc_test_gradcheck(what, gs_loss, &g, g.grid, gg, NGRID, NGRID, 1e-2, 1e-3,
                                      1e-3);
                    /* the grid gradient is not trivially zero */
                    double norm = 0;
                    for (int i = 0; i < NGRID; i++) norm += fabs(gg[i]);
                    assert_true(norm > 1.0);
                } else {
                    for (int i = 0; i < NGRID; i++) assert_true(gg[i] == 0.0f);
                }
            }
}

/* loss(theta) = sum(grid_sample(input, affine_grid(theta)) * r) */
static double theta_loss(void *ctx) {
    gs_case *g = ctx;
    SC_TEST_OK(sc_affine_grid(g->theta, N, HO, WO, g->align, g->grid));
    return gs_loss(g);
}

static int theta_grid_is_safe(gs_case *g) {
    theta_loss(g);
    for (int i = 0; i < NGRID; i++) {
        int size = i % 2 ? HI : WI;
        double u = g->align ? (g->grid[i] + 1.0) * (size - 1) / 2.0
                            : (g->grid[i] + 1.0) * size / 2.0 - 0.5;
        double d = u * 2 - floor(u * 2); /* distance to the half-integer lattice */
        if (d < 0.1 || d > 0.9) return 0;
    }
    return 1;
}

static void test_dtheta_through_affine_grid(void **state) {
    (void)state;
    static gs_case g;
    for (int pad = 0; pad < 3; pad++)
        for (int align = 0; align < 2; align++) {
            make_case(&g, SC_GRID_BILINEAR, pad, align, 300 + pad * 2 + align);
            sc_rng r;
            sc_rng_seed(&r, 77 + pad);
            int tries = 0;
            do { /* rotated, scaled, shifted; re-drawn until no point sits near a kink */
                for (int i = 0; i < N; i++) {
                    float a = sc_rng_normal(&r), s = 0.8f + 1.2f * sc_rng_uniform(&r);
                    float t[6] = {s * cosf(a), -s * sinf(a), 0.5f * sc_rng_normal(&r),
                                  s * sinf(a), s * cosf(a),  0.5f * sc_rng_normal(&r)};
                    memcpy(g.theta + i * 6, t, sizeof t);
                }
                assert_true(++tries < 10000);
            } while (!theta_grid_is_safe(&g));
            float dgrid[NGRID] = {0}, dtheta[N * 6] = {0};
            theta_loss(&g);
            SC_TEST_OK(sc_grid_sample_backward(g.r, g.in, g.grid, NULL, dgrid, N, C, HI, WI, HO, WO,
                                               SC_GRID_BILINEAR, (sc_grid_padding)pad, align));
            SC_TEST_OK(sc_affine_grid_backward(dgrid, N, HO, WO, align, dtheta));
            char what[64];
            snprintf(what, sizeof what, "dtheta %s align %d", pad_name[pad], align);
            sc_test_gradcheck(what, theta_loss, &g, g.theta, dtheta, N * 6, N * 6, 1e-3, 1e-2,
                              2e-3);
        }
}

/* affine_grid alone: grid is linear in theta, and dtheta accumulates */
typedef struct ag_case {
    float theta[12], grid[3 * 4 * 5 * 2], r[3 * 4 * 5 * 2];
    int align;
} ag_case;

static double ag_loss(void *ctx) {
    ag_case *a = ctx;
    SC_TEST_OK(sc_affine_grid(a->theta, 2, 4, 5, a->align, a->grid));
    double s = 0;
    for (int i = 0; i < 2 * 4 * 5 * 2; i++) s += (double)a->grid[i] * a->r[i];
    return s;
}

static void test_affine_grid_backward_gradcheck(void **state) {
    (void)state;
    ag_case a;
    for (int align = 0; align < 2; align++) {
        a.align = align;
        sc_test_fill_uniform(a.theta, 12, -2, 2, 5 + align);
        sc_test_fill_uniform(a.r, 80, -1, 1, 9 + align);
        float dt[12];
        for (int i = 0; i < 12; i++) dt[i] = 0.5f;
        SC_TEST_OK(sc_affine_grid_backward(a.r, 2, 4, 5, align, dt));
        for (int i = 0; i < 12; i++) dt[i] -= 0.5f;
        sc_test_gradcheck(align ? "affine_grid align 1" : "affine_grid align 0", ag_loss, &a,
                          a.theta, dt, 12, 12, 1e-2, 1e-3, 1e-4);
    }
    /* corner points: align_corners=1 reaches +-1, 0 reaches +-(1 - 1/size) */
    float id[6] = {1, 0, 0, 0, 1, 0}, g[4 * 5 * 2];
    SC_TEST_OK(sc_affine_grid(id, 1, 4, 5, 1, g));
    assert_true(g[0] == -1.0f && g[1] == -1.0f && g[38] == 1.0f && g[39] == 1.0f);
    SC_TEST_OK(sc_affine_grid(id, 1, 4, 5, 0, g));
    assert_true(fabsf(g[0] + 0.8f) < 1e-6f && fabsf(g[1] + 0.75f) < 1e-6f);
}

static void test_identity_reproduces_input(void **state) {
    (void)state;
    enum { n = 2, c = 3, h = 7, w = 9 };
    static float in[n * c * h * w], out[n * c * h * w], grid[n * h * w * 2];
    float theta[12] = {1, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1, 0};
    sc_test_fill_uniform(in, n * c * h * w, -3, 3, 11);
    for (int align = 0; align < 2; align++) {
        SC_TEST_OK(sc_affine_grid(theta, n, h, w, align, grid));
        for (int pad = 0; pad < 3; pad++) {
            /* nearest: exact */
            SC_TEST_OK(sc_grid_sample(in, grid, out, n, c, h, w, h, w, SC_GRID_NEAREST,
                                      (sc_grid_padding)pad, align));
            assert_memory_equal(in, out, sizeof in);
            /* bilinear: up to the rounding of the unnormalised coordinates */
            SC_TEST_OK(sc_grid_sample(in, grid, out, n, c, h, w, h, w, SC_GRID_BILINEAR,
                                      (sc_grid_padding)pad, align));
            sc_test_assert_close("bilinear identity", out, in, n * c * h * w, 0, 3e-6);
        }
    }
}

static void test_far_and_nonfinite_coordinates(void **state) {
    (void)state;
    float in[2 * 3 * 4] = {0}, gin[2 * 3 * 4], out[2 * 5], gout[2 * 5], gg[10];
    for (int i = 0; i < 24; i++) in[i] = (float)(i + 1);
    for (int i = 0; i < 10; i++) gout[i] = 1.0f;
    float grid[10] = {NAN, 0.0f, INFINITY, -INFINITY, 1e30f, -1e30f, 3.5f, -3.5f, 0.0f, NAN};
    for (int pad = 0; pad < 3; pad++)
        for (int mode = 0; mode < 2; mode++)
            for (int align = 0; align < 2; align++) {
                SC_TEST_OK(sc_grid_sample(in, grid, out, 1, 2, 3, 4, 1, 5, (sc_grid_interp)mode,
                                          (sc_grid_padding)pad, align));
                for (int i = 0; i < 10; i++) {
                    /* never NaN; zeros padding samples 0 outside */
                    assert_false(isnan(out[i]));
                    if (pad == SC_GRID_PAD_ZEROS && i % 5 != 3) assert_true(out[i] == 0.0f);
                }
                memset(gin, 0, sizeof gin);
                memset(gg, 0, sizeof gg);
                SC_TEST_OK(sc_grid_sample_backward(gout, in, grid, gin, gg, 1, 2, 3, 4, 1, 5,
                                                   (sc_grid_interp)mode, (sc_grid_padding)pad,
                                                   align));
                for (int i = 0; i < 24; i++) assert_false(isnan(gin[i]));
            }
    /* border: NaN samples pixel 0 (PyTorch clips NaN to 0); +inf x clips to the last column */
    SC_TEST_OK(
        sc_grid_sample(in, grid, out, 1, 1, 3, 4, 1, 5, SC_GRID_NEAREST, SC_GRID_PAD_BORDER, 1));
    assert_true(out[0] == in[4]); /* x NaN -> 0, y 0 -> row 1 */
    assert_true(out[1] == in[3]); /* x +inf -> 3, y -inf -> 0 */
}

static void test_backward_is_deterministic_across_runs(void **state) {
    (void)state;
    enum { n = 3, c = 2, h = 9, w = 8, ho = 7, wo = 6 };
    static float in[n * c * h * w], gout[n * c * ho * wo], grid[n * ho * wo * 2];
    static float a[n * c * h * w], b[n * c * h * w], one[n * c * h * w];
    static float ga[n * ho * wo * 2], gb[n * ho * wo * 2];
    sc_test_fill_uniform(in, sizeof in / 4, -1, 1, 1);
    sc_test_fill_uniform(gout, sizeof gout / 4, -1, 1, 2);
    sc_test_fill_uniform(grid, sizeof grid / 4, -1.2f, 1.2f, 3);
    memset(one, 0, sizeof one);
    SC_TEST_OK(sc_set_num_threads(1));
    SC_TEST_OK(sc_grid_sample_backward(gout, in, grid, one, NULL, n, c, h, w, ho, wo,
                                       SC_GRID_BILINEAR, SC_GRID_PAD_ZEROS, 0));
    SC_TEST_OK(sc_set_num_threads(4)); /* rows split inside batch items */
    for (int rep = 0; rep < 2; rep++) {
        float *d = rep ? b : a, *g = rep ? gb : ga;
        memset(d, 0, sizeof a);
        memset(g, 0, sizeof ga);
        SC_TEST_OK(sc_grid_sample_backward(gout, in, grid, d, g, n, c, h, w, ho, wo,
                                           SC_GRID_BILINEAR, SC_GRID_PAD_ZEROS, 0));
    }
    SC_TEST_OK(sc_set_num_threads(1));
    assert_memory_equal(a, b, sizeof a);
    assert_memory_equal(ga, gb, sizeof ga);
    sc_test_assert_close("4 threads vs 1", a, one, n * c * h * w, 1e-5, 1e-6);
}

static void test_argument_validation(void **state) {
    (void)state;
    float x[64] = {0}, g[64] = {0}, o[64];
    assert_int_equal(sc_grid_sample(NULL, g, o, 1, 1, 2, 2, 2, 2, 0, 0, 0), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "sc_grid_sample"));
    assert_int_equal(sc_grid_sample(x, NULL, o, 1, 1, 2, 2, 2, 2, 0, 0, 0), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_grid_sample(x, g, NULL, 1, 1, 2, 2, 2, 2, 0, 0, 0), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_grid_sample(x, g, o, 0, 1, 2, 2, 2, 2, 0, 0, 0), SC_ERR_SHAPE);
    assert_int_equal(sc_grid_sample(x, g, o, 1, 1, -2, 2, 2, 2, 0, 0, 0), SC_ERR_SHAPE);
    assert_int_equal(sc_grid_sample(x, g, o, 1, 1, 2, 2, 2, 0, 0, 0, 0), SC_ERR_SHAPE);
    assert_int_equal(sc_grid_sample(x, g, o, 1, 1, 2, 2, 2, 2, (sc_grid_interp)2, 0, 0),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "mode"));
    assert_int_equal(sc_grid_sample(x, g, o, 1, 1, 2, 2, 2, 2, 0, (sc_grid_padding)3, 0),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "padding"));
    /* sizes whose products overflow, and planes too large for 32-bit offsets */
    assert_int_equal(sc_grid_sample(x, g, o, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 2, 2, 0, 0, 0),
                     SC_ERR_LIMIT);
    assert_int_equal(sc_grid_sample(x, g, o, 1, 1, 1 << 16, 1 << 16, 1, 1, 0, 0, 0), SC_ERR_LIMIT);
    assert_int_equal(sc_grid_sample_backward(NULL, x, g, o, NULL, 1, 1, 2, 2, 2, 2, 0, 0, 0),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_grid_sample_backward(x, NULL, g, NULL, o, 1, 1, 2, 2, 2, 2, 0, 0, 0),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "input"));
    assert_int_equal(sc_grid_sample_backward(x, x, g, o, o, 1, 0, 2, 2, 2, 2, 0, 0, 0),
                     SC_ERR_SHAPE);
    /* nothing requested is fine */
    SC_TEST_OK(sc_grid_sample_backward(x, NULL, g, NULL, NULL, 1, 1, 2, 2, 2, 2, 0, 0, 0));
    assert_int_equal(sc_affine_grid(NULL, 1, 2, 2, 0, g), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_affine_grid(x, 1, 2, 2, 0, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_affine_grid(x, 1, 0, 2, 0, g), SC_ERR_SHAPE);
    assert_int_equal(sc_affine_grid(x, 1 << 30, 1 << 30, 1 << 30, 0, g), SC_ERR_LIMIT);
    assert_int_equal(sc_affine_grid_backward(g, -1, 2, 2, 0, x), SC_ERR_SHAPE);
    assert_int_equal(sc_affine_grid_backward(NULL, 1, 2, 2, 0, x), SC_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_sample_gradcheck),
        cmocka_unit_test(test_dtheta_through_affine_grid),
        cmocka_unit_test(test_affine_grid_backward_gradcheck),
        cmocka_unit_test(test_identity_reproduces_input),
        cmocka_unit_test(test_far_and_nonfinite_coordinates),
        cmocka_unit_test(test_backward_is_deterministic_across_runs),
        cmocka_unit_test(test_argument_validation),
    };
    return cmocka_run_group_tests_name("grid", tests, NULL, NULL);
}

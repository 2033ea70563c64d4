/* Saliency methods (properties) and metrics (hand-computed cases). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "image/resize_cv.h"
#include "saccade/sc_saliency.h"

typedef sc_status (*method_fn)(const sc_image *, sc_map *);

static sc_status m_sr_cv(const sc_image *im, sc_map *m) {
    return sc_saliency_sr_opencv(im, m);
}
static sc_status m_sr(const sc_image *im, sc_map *m) {
    return sc_saliency_sr(im, NULL, m);
}
static sc_status m_pqft(const sc_image *im, sc_map *m) {
    return sc_saliency_pqft(im, NULL, m);
}
static sc_status m_fg(const sc_image *im, sc_map *m) {
    return sc_saliency_finegrained(im, m);
}

static const struct {
    const char *name;
    method_fn fn;
} METHODS[] = {{"sr_opencv", m_sr_cv}, {"sr", m_sr}, {"pqft", m_pqft}, {"finegrained", m_fg}};
#define NMETHODS 4

static sc_image make_image(int w, int h, int c, float v) {
    sc_image im;
    SC_TEST_OK(sc_image_alloc(&im, w, h, c));
    for (size_t i = 0; i < (size_t)w * h * c; i++) im.data[i] = v;
    return im;
}

static void map_range(const sc_map *m, float *lo, float *hi) {
    *lo = INFINITY, *hi = -INFINITY;
    for (size_t i = 0; i < (size_t)m->w * m->h; i++) {
        assert_true(isfinite(m->data[i]));
        *lo = fminf(*lo, m->data[i]), *hi = fmaxf(*hi, m->data[i]);
    }
}

static void test_constant_image_gives_flat_map(void **state) {
    (void)state;
    for (int c = 1; c <= 3; c += 2) {
        sc_image im = make_image(80, 60, c, 0.5f);
        for (int k = 0; k < NMETHODS; k++) {
            sc_map m;
            SC_TEST_OK(METHODS[k].fn(&im, &m));
            assert_int_equal(m.w, 80);
            assert_int_equal(m.h, 60);
            float lo, hi;
            map_range(&m, &lo, &hi);
            printf("  constant c=%d %-12s range [%g, %g]\n", c, METHODS[k].name, lo, hi);
            if (hi - lo > 1e-3f)
                fail_msg("%s: constant image gave a non-flat map", METHODS[k].name);
            sc_free(m.data);
        }
        sc_image_free(&im);
    }
}

static void test_bright_square_has_peak_inside(void **state) {
    (void)state;
    const int w = 160, h = 120, x0 = 100, x1 = 124, y0 = 30, y1 = 54;
    for (int colour = 0; colour < 2; colour++) {
        sc_image im = make_image(w, h, 3, 0.3f);
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                for (int c = 0; c < 3; c++) /* white square, or a red one of the same
                                             * intensity (r+g+b)/3 as the background */
                    im.data[((size_t)c * h + y) * w + x] = colour ? (c == 0 ? 0.5f : 0.2f) : 0.9f;
        for (int k = 0; k < NMETHODS; k++) {
            /* The isoluminant square is only visible to the colour method. */
            if (colour && strcmp(METHODS[k].name, "pqft") != 0) continue;
            sc_map m;
            SC_TEST_OK(METHODS[k].fn(&im, &m));
            /* The maximum is reached inside the square. (Fine-grained maps
             * normalise the on and off channels separately, so the dark
             * ring just outside the square ties with the inside.) */
            size_t best = 0;
            for (size_t i = 1; i < (size_t)w * h; i++)
                if (m.data[i] > m.data[best]) best = i;
            float inmax = -1.f;
            int bx = -1, by = -1;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    if (m.data[(size_t)y * w + x] > inmax)
                        inmax = m.data[(size_t)y * w + x], bx = x, by = y;
            /* Mean saliency inside the square vs far away from it. */
            double in = 0, out = 0;
            int nin = 0, nout = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int inside = x >= x0 && x < x1 && y >= y0 && y < y1;
                    int far = x < x0 - 30 && (y < y0 - 10 || y > y1 + 10);
                    if (inside) in += m.data[(size_t)y * w + x], nin++;
                    if (far) out += m.data[(size_t)y * w + x], nout++;
                }
            printf("  square %-5s %-12s max %.4f, max inside %.4f at (%d,%d), mean in %.3f, far "
                   "%.3f\n",
                   colour ? "red" : "white", METHODS[k].name, m.data[best], inmax, bx, by, in / nin,
                   out / nout);
            if (!(inmax >= m.data[best]))
                fail_msg("%s: peak %.4f at (%d,%d) outside the square (inside max %.4f)",
                         METHODS[k].name, m.data[best], (int)(best % w), (int)(best / w), inmax);
            assert_true(in / nin > 2 * (out / nout));
            sc_free(m.data);
        }
        sc_image_free(&im);
    }
}

static void test_tiny_and_odd_images(void **state) {
    (void)state;
    const int sizes[][2] = {{1, 1}, {1, 5}, {7, 1}, {3, 2}, {2, 3}, {65, 4}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        sc_image im = make_image(sizes[s][0], sizes[s][1], 3, 0.f);
        sc_test_fill_uniform(im.data, (size_t)im.w * im.h * 3, 0.f, 1.f, 7 + s);
        for (int k = 0; k < NMETHODS; k++) {
            sc_map m;
            SC_TEST_OK(METHODS[k].fn(&im, &m));
            assert_int_equal(m.w, im.w);
            assert_int_equal(m.h, im.h);
            float lo, hi;
            map_range(&m, &lo, &hi);
            assert_true(lo >= 0.f && hi <= 1.f);
            sc_free(m.data);
        }
        sc_image_free(&im);
    }
    /* Out-of-range and NaN pixels are clamped, not trusted. */
    sc_image im = make_image(20, 10, 3, 0.5f);
    im.data[3] = NAN, im.data[50] = -4.f, im.data[70] = 1e30f;
    for (int k = 0; k < NMETHODS; k++) {
        sc_map m;
        if (k == 1 || k == 2) continue; /* authors' versions use the float values as given */
        SC_TEST_OK(METHODS[k].fn(&im, &m));
        float lo, hi;
        map_range(&m, &lo, &hi);
        sc_free(m.data);
    }
    sc_image_free(&im);
}

static void test_invalid_arguments(void **state) {
    (void)state;
    sc_image im = make_image(8, 8, 3, 0.5f);
    sc_map m;
    for (int k = 0; k < NMETHODS; k++) {
        assert_int_equal(METHODS[k].fn(NULL, &m), SC_ERR_INVALID_ARG);
        assert_int_equal(METHODS[k].fn(&im, NULL), SC_ERR_INVALID_ARG);
        sc_image bad = im;
        bad.c = 2;
        assert_int_equal(METHODS[k].fn(&bad, &m), SC_ERR_INVALID_ARG);
        assert_non_null(strstr(sc_last_error(), "channels"));
        bad = im;
        bad.w = 0;
        assert_int_equal(METHODS[k].fn(&bad, &m), SC_ERR_INVALID_ARG);
        bad = im;
        bad.data = NULL;
        assert_int_equal(METHODS[k].fn(&bad, &m), SC_ERR_INVALID_ARG);
    }
    sc_saliency_params p = sc_saliency_default_params();
    p.work_width = 0;
    assert_int_equal(sc_saliency_sr(&im, &p, &m), SC_ERR_INVALID_ARG);
    p = sc_saliency_default_params();
    p.sigma = NAN;
    assert_int_equal(sc_saliency_pqft(&im, &p, &m), SC_ERR_INVALID_ARG);
    uint8_t a[4] = {0}, b[4];
    assert_int_equal(sc_resize_cv_linear_u8(a, 2, 2, b, 0, 2), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_resize_cv_area_f32((float *)a, 1, 1, (float *)b, 2, 1), SC_ERR_UNSUPPORTED);
    sc_image_free(&im);
}

static void test_working_size_and_params(void **state) {
    (void)state;
    sc_image im = make_image(200, 100, 3, 0.f);
    sc_test_fill_uniform(im.data, 200 * 100 * 3, 0.f, 1.f, 3);
    sc_saliency_params p = sc_saliency_default_params();
    assert_int_equal(p.work_width, 64);
    p.full_size = 0;
    sc_map m;
    SC_TEST_OK(sc_saliency_sr(&im, &p, &m));
    assert_int_equal(m.w, 64);
    assert_int_equal(m.h, 32);
    float lo, hi;
    map_range(&m, &lo, &hi);
    assert_float_equal(lo, 0.f, 1e-7);
    assert_float_equal(hi, 1.f, 1e-6);
    sc_free(m.data);
    p.work_width = 50, p.sigma = 0;
    SC_TEST_OK(sc_saliency_pqft(&im, &p, &m));
    assert_int_equal(m.w, 50);
    assert_int_equal(m.h, 25);
    sc_free(m.data);
    sc_image_free(&im);
}

/* ---- thread safety of the plan cache, determinism over thread counts ---- */

typedef struct job {
    sc_image im;
    sc_map out;
    sc_status st;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    for (int r = 0; r < 5; r++) {
        if (r) sc_free(j->out.data);
        sc_saliency_params p = sc_saliency_default_params();
        p.work_width = 40 + j->im.w % 7; /* distinct plan sizes per thread */
        j->st = sc_saliency_pqft(&j->im, &p, &j->out);
        if (j->st) break;
    }
    return NULL;
}

static void test_concurrent_calls_match_serial(void **state) {
    (void)state;
    sc_saliency_fftw_cleanup();
    enum { NT = 4 };
    job jobs[NT];
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) {
        jobs[t].im = make_image(90 + t, 70, 3, 0.f);
        sc_test_fill_uniform(jobs[t].im.data, (size_t)(90 + t) * 70 * 3, 0.f, 1.f, 100 + t);
        assert_int_equal(pthread_create(&th[t], NULL, run_job, &jobs[t]), 0);
    }
    for (int t = 0; t < NT; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < NT; t++) {
        SC_TEST_OK(jobs[t].st);
        sc_map m;
        sc_saliency_params p = sc_saliency_default_params();
        p.work_width = 40 + jobs[t].im.w % 7;
        SC_TEST_OK(sc_saliency_pqft(&jobs[t].im, &p, &m));
        assert_memory_equal(m.data, jobs[t].out.data, (size_t)m.w * m.h * sizeof(float));
        sc_free(m.data);
        sc_free(jobs[t].out.data);
        sc_image_free(&jobs[t].im);
    }
}

static void test_same_result_for_any_thread_count(void **state) {
    (void)state;
    sc_image im = make_image(400, 300, 3, 0.f);
    sc_test_fill_uniform(im.data, 400 * 300 * 3, 0.f, 1.f, 11);
    int saved = sc_get_num_threads();
    sc_map a[NMETHODS], b[NMETHODS];
    SC_TEST_OK(sc_set_num_threads(1));
    for (int k = 0; k < NMETHODS; k++) SC_TEST_OK(METHODS[k].fn(&im, &a[k]));
    SC_TEST_OK(sc_set_num_threads(2));
    for (int k = 0; k < NMETHODS; k++) SC_TEST_OK(METHODS[k].fn(&im, &b[k]));
    SC_TEST_OK(sc_set_num_threads(saved));
    for (int k = 0; k < NMETHODS; k++) {
        assert_memory_equal(a[k].data, b[k].data, (size_t)400 * 300 * sizeof(float));
        sc_free(a[k].data);
        sc_free(b[k].data);
    }
    sc_image_free(&im);
}

static void test_wisdom_roundtrip_and_errors(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("saliency_wisdom");
    char *path = sc_test_join(dir, "wisdom.txt");
    sc_image im = make_image(64, 48, 3, 0.f);
    sc_test_fill_uniform(im.data, 64 * 48 * 3, 0.f, 1.f, 5);
    sc_map m;
    SC_TEST_OK(sc_saliency_sr_opencv(&im, &m));
    sc_free(m.data);
    SC_TEST_OK(sc_saliency_fftw_wisdom_save(path));
    SC_TEST_OK(sc_saliency_fftw_wisdom_load(path));
    char *bad = sc_test_join(dir, "bad.txt");
    SC_TEST_OK(sc_write_file_atomic(bad, "not wisdom at all", 17));
    assert_int_equal(sc_saliency_fftw_wisdom_load(bad), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "bad.txt"));
    char *missing = sc_test_join(dir, "missing.txt");
    assert_int_equal(sc_saliency_fftw_wisdom_load(missing), SC_ERR_IO);
    assert_int_equal(sc_saliency_fftw_wisdom_save(NULL), SC_ERR_INVALID_ARG);
    sc_image_free(&im);
    free(bad);
    free(missing);
    free(path);
    sc_test_rmtree(dir);
    free(dir);
}

/* ---- metrics on hand-computed cases ------------------------------------- */

static void test_metrics_hand_computed(void **state) {
    (void)state;
    float s[4] = {0.1f, 0.4f, 0.35f, 0.8f}, f[4] = {0, 1, 0, 1};
    sc_map S = {2, 2, s}, F = {2, 2, f};
    double v;
    /* Fixations on the two highest values: both thresholds give fp = 0. */
    SC_TEST_OK(sc_saliency_auc_judd(&S, &F, 0, 0, &v));
    assert_float_equal(v, 1.0, 1e-12);
    /* A single fixation on the lowest value: ROC (0,0) (1,1) (1,1) -> 0.5. */
    float f2[4] = {1, 0, 0, 0};
    sc_map F2 = {2, 2, f2};
    SC_TEST_OK(sc_saliency_auc_judd(&S, &F2, 0, 0, &v));
    assert_float_equal(v, 0.5, 1e-12);
    /* Fixation on the 2nd highest of 4: thresh 0.4286 -> above 2, fp 1/3;
     * area = trapz([0,1/3,1],[0,1,1]) = 1/6 + 2/3. */
    float f3[4] = {0, 1, 0, 0};
    sc_map F3 = {2, 2, f3};
    SC_TEST_OK(sc_saliency_auc_judd(&S, &F3, 0, 0, &v));
    assert_float_equal(v, 1.0 / 6 + 2.0 / 3, 1e-12);
    /* Jitter is seeded: reproducible, and tiny. */
    double j1, j2;
    SC_TEST_OK(sc_saliency_auc_judd(&S, &F3, 1, 42, &j1));
    SC_TEST_OK(sc_saliency_auc_judd(&S, &F3, 1, 42, &j2));
    assert_true(j1 == j2);
    assert_float_equal(j1, v, 1e-6);

    float n[4] = {1, 2, 3, 4}, nf[4] = {0, 0, 0, 1};
    sc_map N = {2, 2, n}, NF = {2, 2, nf};
    SC_TEST_OK(sc_saliency_nss(&N, &NF, &v));
    assert_float_equal(v, 1.5 / sqrt(5.0 / 3.0), 1e-12);

    float neg[4] = {-1, -2, -3, -4}, aff[4] = {5, 7, 9, 11};
    sc_map NEG = {2, 2, neg}, AFF = {2, 2, aff};
    SC_TEST_OK(sc_saliency_cc(&N, &NEG, &v));
    assert_float_equal(v, -1.0, 1e-12);
    SC_TEST_OK(sc_saliency_cc(&N, &AFF, &v));
    assert_float_equal(v, 1.0, 1e-12);

    SC_TEST_OK(sc_saliency_sim(&N, &AFF, &v));
    assert_float_equal(v, 1.0, 1e-12);
    float a2[2] = {1, 0}, b2[2] = {0, 1}, c2[2] = {1, 1};
    sc_map A2 = {2, 1, a2}, B2 = {2, 1, b2}, C2 = {2, 1, c2};
    SC_TEST_OK(sc_saliency_sim(&A2, &B2, &v));
    assert_float_equal(v, 0.0, 1e-12);

    SC_TEST_OK(sc_saliency_kld(&N, &N, &v));
    assert_float_equal(v, 0.0, 1e-12);
    SC_TEST_OK(sc_saliency_kld(&C2, &A2, &v)); /* gt (1,0) vs uniform: log 2 */
    assert_float_equal(v, log(2.0), 1e-12);
    SC_TEST_OK(sc_saliency_kld(&B2, &A2, &v)); /* prediction 0 where gt is: log(1/eps) */
    assert_float_equal(v, log(1.0 / 2.220446049250313e-16), 1e-9);
}

static void test_metrics_nan_cases_and_errors(void **state) {
    (void)state;
    float s[4] = {1, 2, 3, 4}, z[4] = {0}, c[4] = {2, 2, 2, 2};
    sc_map S = {2, 2, s}, Z = {2, 2, z}, C = {2, 2, c};
    double v = 0;
    SC_TEST_OK(sc_saliency_auc_judd(&S, &Z, 0, 0, &v)); /* no fixations */
    assert_true(isnan(v));
    SC_TEST_OK(sc_saliency_nss(&S, &Z, &v));
    assert_true(isnan(v));
    SC_TEST_OK(sc_saliency_auc_judd(&C, &S, 0, 0, &v)); /* constant map, no jitter */
    assert_true(isnan(v));
    float f1[4] = {0, 1, 0, 0};
    sc_map F1 = {2, 2, f1};
    SC_TEST_OK(sc_saliency_auc_judd(&C, &F1, 1, 1, &v)); /* jitter breaks the ties */
    assert_true(v >= 0.0 && v <= 1.0);
    SC_TEST_OK(sc_saliency_cc(&C, &S, &v));
    assert_true(isnan(v));
    SC_TEST_OK(sc_saliency_sim(&C, &S, &v));
    assert_true(isnan(v));
    SC_TEST_OK(sc_saliency_sim(&Z, &S, &v)); /* zero map stays zero: score 0 */
    assert_float_equal(v, 0.0, 0);

    sc_map S3 = {1, 3, s};
    assert_int_equal(sc_saliency_cc(&S, &S3, &v), SC_ERR_SHAPE);
    assert_non_null(strstr(sc_last_error(), "differ in size"));
    assert_int_equal(sc_saliency_nss(NULL, &S, &v), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_saliency_kld(&S, &S, NULL), SC_ERR_INVALID_ARG);
    float bad[4] = {1, NAN, 3, 4};
    sc_map B = {2, 2, bad};
    assert_int_equal(sc_saliency_sim(&B, &S, &v), SC_ERR_INVALID_ARG);
    assert_true(isnan(v));
}

static int teardown(void **state) {
    (void)state;
    sc_saliency_fftw_cleanup();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constant_image_gives_flat_map),
        cmocka_unit_test(test_bright_square_has_peak_inside),
        cmocka_unit_test(test_tiny_and_odd_images),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_working_size_and_params),
        cmocka_unit_test(test_concurrent_calls_match_serial),
        cmocka_unit_test(test_same_result_for_any_thread_count),
        cmocka_unit_test(test_wisdom_roundtrip_and_errors),
        cmocka_unit_test(test_metrics_hand_computed),
        cmocka_unit_test(test_metrics_nan_cases_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}

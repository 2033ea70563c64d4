/* Saliency against OpenCV 4.6 (cv2.saliency, cv2.resize) on skimage's real
 * photos, and the saliency metrics against numpy implementations of the MIT
 * benchmark formulas (tools/ref/ref_saliency.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "image/resize_cv.h"
#include "saccade/sc_saliency.h"

static char *g_dir;
static const char *PHOTOS[] = {"astronaut", "coffee", "chelsea", "camera"};

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_reference("saliency_parity", "ref_saliency.py", ">/dev/null 2>&1");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sc_test_reference_free(&g_dir);
    sc_saliency_fftw_cleanup();
    return 0;
}

static sc_npy ld(const char *fmt, const char *a) {
    char name[128];
    snprintf(name, sizeof name, fmt, a);
    return sc_test_npy(g_dir, name);
}

static double pearson(const float *a, const float *b, size_t n) {
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) ma += a[i], mb += b[i];
    ma /= (double)n, mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db, saa += da * da, sbb += db * db;
    }
    return sab / sqrt(saa * sbb);
}

/* Load <name>_rgb.npy (3 x H x W) as an sc_image (the data buffer is borrowed). */
static sc_image photo(const sc_npy *a) {
    assert_int_equal(a->ndim, 3);
    assert_int_equal(a->shape[0], 3);
    sc_image im = {(int)a->shape[2], (int)a->shape[1], 3, a->data};
    return im;
}

static void compare_map(const char *what, const char *name, const sc_map *m, const sc_npy *ref,
                        double min_r, double *exact_frac) {
    assert_int_equal(ref->count, (size_t)m->w * m->h);
    double r = pearson(m->data, ref->data, ref->count), maxd = 0;
    size_t exact = 0;
    for (size_t i = 0; i < ref->count; i++) {
        double d = fabs((double)m->data[i] - ref->data[i]);
        maxd = fmax(maxd, d);
        exact += d < 0.5 / 255.0;
    }
    *exact_frac = (double)exact / (double)ref->count;
    printf("  %-12s %-10s %4dx%-4d Pearson r = %.6f, max |diff| = %.4f, within 0.5/255: %.2f%%\n",
           what, name, m->w, m->h, r, maxd, 100.0 * *exact_frac);
    if (!(r >= min_r)) fail_msg("%s on %s: Pearson r %.6f < %.3f", what, name, r, min_r);
}

static void test_spectral_residual_matches_opencv(void **state) {
    (void)state;
    for (int k = 0; k < 4; k++) {
        sc_npy rgb = ld("%s_rgb", PHOTOS[k]), ref = ld("%s_sr", PHOTOS[k]);
        sc_image im = photo(&rgb);
        sc_map m;
        SC_TEST_OK(sc_saliency_sr_opencv(&im, &m));
        assert_int_equal(m.w, im.w);
        assert_int_equal(m.h, im.h);
        double ex;
        compare_map("SR-opencv", PHOTOS[k], &m, &ref, 0.99, &ex);
        sc_free(m.data);
        sc_npy_free(&rgb);
        sc_npy_free(&ref);
    }
}

static void test_finegrained_matches_opencv(void **state) {
    (void)state;
    for (int k = 0; k < 4; k++) {
        sc_npy rgb = ld("%s_rgb", PHOTOS[k]), ref = ld("%s_fg", PHOTOS[k]);
        sc_image im = photo(&rgb);
        sc_map m;
        SC_TEST_OK(sc_saliency_finegrained(&im, &m));
        double ex;
        compare_map("FineGrained", PHOTOS[k], &m, &ref, 0.99, &ex);
        /* Same 8-bit arithmetic: nearly every pixel must be identical. */
        if (ex < 0.99) fail_msg("fine-grained on %s: only %.2f%% identical", PHOTOS[k], 100 * ex);
        sc_free(m.data);
        sc_npy_free(&rgb);
        sc_npy_free(&ref);
    }
}

static void test_resize_matches_cv2(void **state) {
    (void)state;
    sc_npy cnt = sc_test_npy(g_dir, "rs_count");
    int n = (int)cnt.data[0];
    sc_npy_free(&cnt);
    for (int k = 0; k < n; k++) {
        char nm[64];
        snprintf(nm, sizeof nm, "rs_%d_meta", k);
        sc_npy meta = sc_test_npy(g_dir, nm);
        snprintf(nm, sizeof nm, "rs_%d_src", k);
        sc_npy src = sc_test_npy(g_dir, nm);
        snprintf(nm, sizeof nm, "rs_%d_dst", k);
        sc_npy dst = sc_test_npy(g_dir, nm);
        int kind = (int)meta.data[0], sw = (int)meta.data[1], sh = (int)meta.data[2],
            dw = (int)meta.data[3], dh = (int)meta.data[4];
        size_t nd = (size_t)dw * dh;
        float *got = malloc(nd * sizeof(float));
        assert_non_null(got);
        if (kind == 0) {
            uint8_t *s8 = malloc((size_t)sw * sh), *d8 = malloc(nd);
            for (size_t i = 0; i < (size_t)sw * sh; i++) s8[i] = (uint8_t)src.data[i];
            SC_TEST_OK(sc_resize_cv_linear_u8(s8, sw, sh, d8, dw, dh));
            for (size_t i = 0; i < nd; i++) got[i] = d8[i];
            free(s8);
            free(d8);
            /* 8-bit: bit-exact. */
            sc_test_assert_close(nm, got, dst.data, nd, 0, 0);
        } else {
            if (kind == 1)
                SC_TEST_OK(sc_resize_cv_linear_f32(src.data, sw, sh, got, dw, dh));
            else
                SC_TEST_OK(sc_resize_cv_area_f32(src.data, sw, sh, got, dw, dh));
            sc_test_assert_close(nm, got, dst.data, nd, 1e-5, 1e-6);
        }
        printf("  resize kind %d %dx%d -> %dx%d ok\n", kind, sw, sh, dw, dh);
        free(got);
        sc_npy_free(&meta);
        sc_npy_free(&src);
        sc_npy_free(&dst);
    }
}

static sc_map as_map(const sc_npy *a) {
    assert_int_equal(a->ndim, 2);
    sc_map m = {(int)a->shape[1], (int)a->shape[0], a->data};
    return m;
}

static void test_metrics_match_reference(void **state) {
    (void)state;
    sc_npy cnt = sc_test_npy(g_dir, "met_count");
    int n = (int)cnt.data[0];
    sc_npy_free(&cnt);
    static const char *names[5] = {"AUC-Judd", "NSS", "CC", "SIM", "KLD"};
    for (int k = 0; k < n; k++) {
        char nm[64];
        char idx[16];
        snprintf(idx, sizeof idx, "%d", k);
        sc_npy sal = ld("met_%s_sal", idx), fix = ld("met_%s_fix", idx), gt = ld("met_%s_gt", idx),
               ref = ld("met_%s_scores", idx);
        sc_map ms = as_map(&sal), mf = as_map(&fix), mg = as_map(&gt);
        double got[5];
        SC_TEST_OK(sc_saliency_auc_judd(&ms, &mf, 0, 0, &got[0]));
        SC_TEST_OK(sc_saliency_nss(&ms, &mf, &got[1]));
        SC_TEST_OK(sc_saliency_cc(&ms, &mg, &got[2]));
        SC_TEST_OK(sc_saliency_sim(&ms, &mg, &got[3]));
        SC_TEST_OK(sc_saliency_kld(&ms, &mg, &got[4]));
        for (int j = 0; j < 5; j++) {
            double e = ref.data[j], d = fabs(got[j] - e);
            printf("  case %d %-8s ours %.7f ref %.7f |diff| %.1e\n", k, names[j], got[j], e, d);
            snprintf(nm, sizeof nm, "case %d %s", k, names[j]);
            if (!(d <= 1e-5 * fmax(1.0, fabs(e))))
                fail_msg("%s: %.8f vs reference %.8f", nm, got[j], e);
        }
        sc_npy_free(&sal);
        sc_npy_free(&fix);
        sc_npy_free(&gt);
        sc_npy_free(&ref);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_matches_cv2),
        cmocka_unit_test(test_spectral_residual_matches_opencv),
        cmocka_unit_test(test_finegrained_matches_opencv),
        cmocka_unit_test(test_metrics_match_reference),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* The saliency method table (sc_saliency.h) and sc_saliency_compute: every
 * bottom-up method gives exactly its own function's map; the table is
 * consistent; model methods and unknown values are refused clearly. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_saliency.h"
#include "saccade/sc_saliency_model.h"
#include "sc_test.h"

static sc_image test_image(int c) {
    sc_image img;
    SC_TEST_OK(sc_image_alloc(&img, 53, 41, c));
    sc_test_fill_uniform(img.data, (size_t)53 * 41 * (size_t)c, 0.0f, 1.0f, 7u + (uint64_t)c);
    return img;
}

/* The direct call of each bottom-up method, p as given. */
static sc_status direct(sc_saliency_method m, const sc_image *img, const sc_saliency_params *p,
                        sc_map *out) {
    switch (m) {
    case SC_SAL_SPECTRAL:
        return sc_saliency_sr_opencv(img, out);
    case SC_SAL_SPECTRAL_HZ:
        return sc_saliency_sr(img, p, out);
    case SC_SAL_PQFT:
        return sc_saliency_pqft(img, p, out);
    case SC_SAL_FINEGRAINED:
        return sc_saliency_finegrained(img, out);
    default:
        return SC_ERR_INVALID_ARG;
    }
}

static void expect_same(const sc_map *a, const sc_map *b) {
    assert_int_equal(a->w, b->w);
    assert_int_equal(a->h, b->h);
    assert_memory_equal(a->data, b->data, sizeof(float) * (size_t)a->w * (size_t)a->h);
}

static void test_compute_equals_direct_call(void **state) {
    (void)state;
    sc_saliency_params tuned = sc_saliency_default_params();
    tuned.work_width = 32;
    tuned.sigma = 3.0f;
    tuned.full_size = 0;
    int bottom_up = 0;
    for (int c = 1; c <= 4; c += c == 1 ? 2 : 1) { /* gray, RGB, RGBA */
        sc_image img = test_image(c);
        for (int i = 0; i < sc_saliency_method_count(); i++) {
            const sc_saliency_method_info *r = sc_saliency_method_at(i);
            if (r->needs_model) continue;
            bottom_up += c == 1;
            for (int t = 0; t < 2; t++) {
                const sc_saliency_params *p = t ? &tuned : NULL;
                sc_map a = {0}, b = {0};
                SC_TEST_OK(sc_saliency_compute(r->method, &img, p, &a));
                SC_TEST_OK(direct(r->method, &img, r->takes_params ? p : NULL, &b));
                expect_same(&a, &b);
                if (t && r->takes_params) { /* the parameters did reach the method */
                    assert_int_equal(a.w, 32);
                } else {
                    assert_int_equal(a.w, img.w);
                    assert_int_equal(a.h, img.h);
                }
                sc_map_free(&a);
                sc_map_free(&b);
            }
        }
        sc_image_free(&img);
    }
    assert_int_equal(bottom_up, 4);
    sc_saliency_fftw_cleanup();
}

static void test_table_is_consistent(void **state) {
    (void)state;
    int n = sc_saliency_method_count();
    assert_int_equal(n, 19);
    assert_null(sc_saliency_method_at(-1));
    assert_null(sc_saliency_method_at(n));
    assert_null(sc_saliency_method_name(n));
    assert_null(sc_saliency_method_summary(n));
    assert_int_equal(sc_saliency_method_needs_model(n), -1);
    assert_int_equal(sc_saliency_method_takes_params(-1), -1);
    /* The CLI's names and order, which scripts rely on. */
    static const char *const names[19] = {"spectral",   "spectral-hz",  "pqft",     "finegrained",
                                          "attention",  "gradcam",      "gradient", "rollout",
                                          "gradcam++",  "xgradcam",     "hirescam", "layercam",
                                          "eigencam",   "eigengradcam", "scorecam", "ablationcam",
                                          "smoothgrad", "intgrad",      "itm"};
    for (int i = 0; i < n; i++) {
        const sc_saliency_method_info *r = sc_saliency_method_at(i);
        assert_string_equal(r->name, names[i]);
        assert_string_equal(sc_saliency_method_name(i), r->name);
        assert_ptr_equal(sc_saliency_method_info_of(r->method), r);
        assert_true(r->caption && r->caption[0] && r->summary && r->summary[0]);
        assert_null(strchr(r->summary, '\n'));
        assert_int_equal(sc_saliency_method_needs_model(i), r->needs_model);
        assert_int_equal(sc_saliency_method_takes_params(i), r->takes_params);
        sc_saliency_method m;
        SC_TEST_OK(sc_saliency_method_from_name(r->name, &m));
        assert_int_equal(m, r->method);
        if (r->needs_model) {
            assert_null(r->compute);
            assert_string_equal(
                sc_model_saliency_method_name((sc_model_saliency_method)r->model_method), r->name);
        } else {
            assert_non_null(r->compute);
            assert_int_equal(r->model_method, -1);
        }
        for (int j = 0; j < i; j++)
            assert_int_not_equal(sc_saliency_method_at(j)->method, r->method);
    }
}

static void test_refusals_are_clear(void **state) {
    (void)state;
    sc_saliency_method m = SC_SAL_PQFT;
    assert_int_equal(sc_saliency_method_from_name("itti", &m), SC_ERR_INVALID_ARG);
    assert_int_equal(m, SC_SAL_PQFT); /* untouched */
    assert_string_equal(sc_last_error(),
                        "unknown method 'itti' (choose spectral, spectral-hz, pqft, finegrained, "
                        "attention, gradcam, gradient, rollout, gradcam++, xgradcam, hirescam, "
                        "layercam, eigencam, eigengradcam, scorecam, ablationcam, smoothgrad, "
                        "intgrad or itm)");
    assert_int_equal(sc_saliency_method_from_name(NULL, &m), SC_ERR_INVALID_ARG);
    sc_image img = test_image(3);
    sc_map out = {0};
    assert_int_equal(sc_saliency_compute(SC_SAL_GRADCAM, &img, NULL, &out), SC_ERR_UNSUPPORTED);
    assert_non_null(strstr(sc_last_error(), "'gradcam' needs a model"));
    assert_null(out.data);
    assert_int_equal(sc_saliency_compute((sc_saliency_method)99, &img, NULL, &out),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "unknown method 99"));
    /* The method's own argument checks still apply. */
    assert_int_equal(sc_saliency_compute(SC_SAL_SPECTRAL, NULL, NULL, &out), SC_ERR_INVALID_ARG);
    assert_null(out.data);
    sc_image_free(&img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compute_equals_direct_call),
        cmocka_unit_test(test_table_is_consistent),
        cmocka_unit_test(test_refusals_are_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

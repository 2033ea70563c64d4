/* sc_image_resize_pil against PIL.Image.resize (tools/ref/ref_resize_pil.py):
 * every case must match Pillow to the last 8-bit level (and bit for bit as
 * float32 v / 255), on real photos (the
 * suite's samples and scikit-image's data photos), up and down, at 384x384 and
 * 224x224, odd sizes, one side only, extreme ratios, every filter, in modes L,
 * LA, RGB and RGBA. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"

static void test_resize_pil_bit_exact(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("resize_pil");
    sc_test_python("ref_resize_pil.py", "'%s'", dir);
    char *list = sc_test_join(dir, "cases.txt");
    FILE *f = fopen(list, "r");
    assert_non_null(f);
    char name[128], src_name[64];
    int w, h, flt, ncases = 0, nbicubic = 0;
    size_t nvalues = 0;
    while (fscanf(f, "%127s %63s %d %d %d", name, src_name, &w, &h, &flt) == 5) {
        char file[160];
        snprintf(file, sizeof file, "in_%s", src_name);
        sc_npy in = sc_test_npy(dir, file);
        snprintf(file, sizeof file, "out_%s", name);
        sc_npy ref = sc_test_npy(dir, file);
        assert_int_equal(in.ndim, 3);
        sc_image src = {(int)in.shape[2], (int)in.shape[1], (int)in.shape[0], in.data};
        sc_image out;
        SC_TEST_OK(sc_image_resize_pil(&src, w, h, (sc_pil_filter)flt, &out));
        assert_int_equal(out.w, w);
        assert_int_equal(out.h, h);
        assert_int_equal(out.c, src.c);
        assert_int_equal((size_t)w * h * src.c, ref.count);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < ref.count; i++) {
            /* The same float: v / 255 rounded once, as numpy divides the uint8 result. */
            if (out.data[i] != ref.data[i] && bad++ == 0) first = i;
        }
        if (bad)
            fail_msg("%s: %zu of %zu values differ from PIL (first at %zu: %.0f vs %.0f)", name,
                     bad, ref.count, first, out.data[first] * 255.f, ref.data[first] * 255.f);
        ncases++;
        nbicubic += flt == SC_PIL_BICUBIC;
        nvalues += ref.count;
        sc_image_free(&out);
        sc_npy_free(&in);
        sc_npy_free(&ref);
    }
    fclose(f);
    printf("%d cases (%d bicubic), %zu values, all equal to PIL\n", ncases, nbicubic, nvalues);
    assert_true(ncases >= 40);
    free(list);
    sc_test_rmtree(dir);
    free(dir);
}

/* A plain float bicubic (no 8-bit intermediate) is what the Pillow path
 * replaces: check the two really differ on a photo, so the exact test above
 * measures something. */
static void test_resize_pil_differs_from_float_bicubic(void **state) {
    (void)state;
    char *path = sc_test_source_path("assets/samples/chelsea.jpg");
    sc_image img, a, b;
    SC_TEST_OK(sc_image_load(path, NULL, &img, NULL));
    SC_TEST_OK(sc_image_resize_pil(&img, 384, 384, SC_PIL_BICUBIC, &a));
    SC_TEST_OK(sc_image_resize(&img, 384, 384, SC_FILTER_CATMULLROM, &b));
    double worst = 0;
    for (size_t i = 0; i < (size_t)384 * 384 * 3; i++)
        worst = fmax(worst, fabs((double)a.data[i] - b.data[i]) * 255.0);
    printf("largest difference from the float Catmull-Rom resize: %.1f levels\n", worst);
    assert_true(worst > 2.0);
    sc_image_free(&img);
    sc_image_free(&a);
    sc_image_free(&b);
    free(path);
}

static void test_resize_pil_bad_arguments(void **state) {
    (void)state;
    float px[12] = {0};
    sc_image src = {2, 2, 3, px}, out;
    assert_int_equal(sc_image_resize_pil(&src, 0, 4, SC_PIL_BICUBIC, &out), SC_ERR_INVALID_ARG);
    assert_null(out.data);
    assert_int_equal(sc_image_resize_pil(&src, 4, 4, (sc_pil_filter)0, &out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_image_resize_pil(&src, 4, 4, (sc_pil_filter)6, &out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_image_resize_pil(NULL, 4, 4, SC_PIL_BICUBIC, &out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_image_resize_pil(&src, 4, 4, SC_PIL_BICUBIC, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_image_resize_pil(&src, 1 << 30, 1 << 30, SC_PIL_BICUBIC, &out),
                     SC_ERR_LIMIT);
    assert_null(out.data);
    /* Out-of-range and NaN values are clamped like the image writers do. */
    float odd[3] = {-1.f, NAN, 7.f};
    sc_image o = {1, 1, 3, odd};
    SC_TEST_OK(sc_image_resize_pil(&o, 2, 1, SC_PIL_BILINEAR, &out));
    assert_true(out.data[0] == 0.f && out.data[2] == 0.f && out.data[4] == 1.f);
    sc_image_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_pil_bit_exact),
        cmocka_unit_test(test_resize_pil_differs_from_float_bicubic),
        cmocka_unit_test(test_resize_pil_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* sc_image_to_rgb: gray repeated in three channels, RGB copied, RGBA without
 * its alpha; anything else refused. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_image.h"
#include "sc_test.h"

static void test_to_rgb(void **state) {
    (void)state;
    const int w = 5, h = 3;
    const size_t plane = (size_t)w * h;
    for (int c = 1; c <= 4; c++) {
        if (c == 2) continue;
        sc_image img, rgb;
        SC_TEST_OK(sc_image_alloc(&img, w, h, c));
        for (size_t i = 0; i < plane * (size_t)c; i++) img.data[i] = (float)i / 100.0f;
        SC_TEST_OK(sc_image_to_rgb(&img, &rgb));
        assert_int_equal(rgb.w, w);
        assert_int_equal(rgb.h, h);
        assert_int_equal(rgb.c, 3);
        for (int ch = 0; ch < 3; ch++)
            for (size_t i = 0; i < plane; i++)
                assert_true(rgb.data[(size_t)ch * plane + i] ==
                            img.data[(size_t)(c == 1 ? 0 : ch) * plane + i]);
        sc_image_free(&rgb);
        sc_image_free(&img);
    }
    sc_image two, out;
    SC_TEST_OK(sc_image_alloc(&two, 2, 2, 2));
    memset(&out, 0x55, sizeof out);
    assert_int_equal(sc_image_to_rgb(&two, &out), SC_ERR_INVALID_ARG);
    assert_null(out.data);
    assert_non_null(strstr(sc_last_error(), "2 channels"));
    sc_image_free(&two);
    assert_int_equal(sc_image_to_rgb(NULL, &out), SC_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_to_rgb)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

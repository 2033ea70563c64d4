/* The VQA attention figure (sc_vqa_render.h). tests/python/test_binding.py
 * checks it against the figure of 'saccade vqa --attention'. */
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_vqa_render.h"

static float px(const sc_image *im, int c, int x, int y) {
    return im->data[(size_t)c * im->w * im->h + (size_t)y * im->w + x];
}

static void test_hop_figure_layout_and_content(void **state) {
    (void)state;
    sc_image img;
    SC_TEST_OK(sc_image_alloc(&img, 96, 96, 3));
    for (size_t i = 0; i < (size_t)3 * 96 * 96; i++) img.data[i] = 0.5f;
    enum { G = 4, K = 2 };
    float att[K * G * G] = {0};
    att[0] = 1.0f;                 /* hop 1: top-left cell */
    att[G * G + G * G - 1] = 1.0f; /* hop 2: bottom-right cell */
    sc_image out;
    sc_vqa_figure_params p = sc_vqa_figure_default_params();
    assert_int_equal(p.panel, 192);
    SC_TEST_OK(sc_vqa_hop_figure(&img, att, K, G, "is there a bag?", "yes", 0.93f, &p, &out));
    assert_int_equal(out.c, 3);
    /* one row of K + 1 panels (sc_contact_sheet's layout, margin 8) */
    assert_int_equal(out.w, 8 + (K + 1) * (192 + 8));
    assert_int_equal(out.h, 8 + 192 + sc_text_height(13) + 4 + 8);
    /* panel 0 is the image */
    assert_float_equal(px(&out, 1, 8 + 96, 8 + 96), 0.5f, 1e-3);
    /* viridis over gray at alpha 0.5: the attended cell is bright green,
     * the rest dark (green 0.5 * 0.5 + 0.5 * viridis' 0.906 vs 0.005) */
    int x1 = 8 + 200, x2 = 8 + 400;
    assert_true(px(&out, 1, x1 + 24, 8 + 24) > 0.65f);
    assert_true(px(&out, 1, x1 + 168, 8 + 168) < 0.3f);
    assert_true(px(&out, 1, x2 + 168, 8 + 168) > 0.65f);
    assert_true(px(&out, 1, x2 + 24, 8 + 24) < 0.3f);
    /* every panel is captioned: dark text on the white strip under it */
    for (int k = 0; k <= K; k++) {
        float lo = 1.0f;
        for (int y = 8 + 192 + 2; y < out.h - 8; y++)
            for (int x = 8 + 200 * k; x < 8 + 200 * k + 192; x++)
                if (px(&out, 0, x, y) < lo) lo = px(&out, 0, x, y);
        assert_true(lo < 0.3f);
    }

    /* the answer form draws the same figure */
    sc_vqa_answer *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->n_top = 1;
    a->prob[0] = 0.93f;
    a->hops = K;
    a->grid = G;
    memcpy(a->att, att, sizeof att);
    sc_image out2;
    SC_TEST_OK(sc_vqa_answer_figure(&img, a, "is there a bag?", "yes", NULL, &out2));
    assert_int_equal(out2.w, out.w);
    assert_int_equal(out2.h, out.h);
    assert_memory_equal(out2.data, out.data, sizeof(float) * 3 * (size_t)out.w * out.h);
    sc_image_free(&out2);

    /* smaller panels scale the figure */
    p.panel = 64;
    SC_TEST_OK(sc_vqa_hop_figure(&img, att, 1, G, "q", "a", 0.5f, &p, &out2));
    assert_int_equal(out2.w, 8 + 2 * (64 + 8));
    sc_image_free(&out2);

    /* bad arguments */
    p = sc_vqa_figure_default_params();
    assert_int_equal(sc_vqa_hop_figure(&img, att, 0, G, "q", "a", 0.5f, &p, &out2),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(
        sc_vqa_hop_figure(&img, att, SC_VQA_MAX_HOPS + 1, G, "q", "a", 0.5f, &p, &out2),
        SC_ERR_INVALID_ARG);
    assert_int_equal(sc_vqa_hop_figure(&img, att, K, 0, "q", "a", 0.5f, &p, &out2),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_vqa_hop_figure(&img, NULL, K, G, "q", "a", 0.5f, &p, &out2),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_vqa_hop_figure(&img, att, K, G, NULL, "a", 0.5f, &p, &out2),
                     SC_ERR_INVALID_ARG);
    p.panel = 8;
    assert_int_equal(sc_vqa_hop_figure(&img, att, K, G, "q", "a", 0.5f, &p, &out2),
                     SC_ERR_INVALID_ARG);
    a->hops = 0; /* a baseline model's answer has no maps */
    assert_int_equal(sc_vqa_answer_figure(&img, a, "q", "a", NULL, &out2), SC_ERR_INVALID_ARG);
    a->hops = SC_VQA_MAX_HOPS;
    a->grid = 64; /* more maps than the answer holds */
    assert_int_equal(sc_vqa_answer_figure(&img, a, "q", "a", NULL, &out2), SC_ERR_INVALID_ARG);
    free(a);
    sc_image_free(&out);
    sc_image_free(&img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hop_figure_layout_and_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

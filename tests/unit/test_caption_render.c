/* Attention grid figures and the HTML gallery (sc_caption_render.h). The
 * browser-level checks of the gallery are in tests/cli/test_gallery.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "sc_test.h"
#include "saccade/sc_caption_render.h"
#include "saccade/sc_util.h"

static float luma(const sc_image *im, int x, int y) {
    size_t pl = (size_t)im->w * im->h, i = (size_t)y * im->w + x;
    return (im->data[i] + im->data[pl + i] + im->data[2 * pl + i]) / 3.0f;
}

static void test_grid_layout_and_content(void **state) {
    (void)state;
    /* 451 x 300: squashing 300 -> 224 with the triangle filter used to abort
     * inside libstb's stb_image_resize (coefficient assert). */
    sc_image img;
    assert_int_equal(sc_image_alloc(&img, 451, 300, 3), SC_OK);
    size_t pl = (size_t)451 * 300;
    for (size_t i = 0; i < pl; i++) {
        img.data[i] = 0.6f;
        img.data[pl + i] = 0.4f;
        img.data[2 * pl + i] = 0.2f;
    }
    enum { G = 4, N = 3 };
    float al[N * G * G] = {0};
    al[0] = 1.0f;                     /* token 0: top-left cell */
    al[G * G + G * G - 1] = 1.0f;     /* token 1: bottom-right cell */
    for (int i = 0; i < G * G; i++) { /* token 2: uniform */
        al[2 * G * G + i] = 1.0f / (G * G);
    }
    const char *words[N] = {"a", "cat", "<end>"};
    sc_image out;
    sc_attention_grid_params p = sc_attention_grid_default_params();
    assert_int_equal(sc_attention_grid(&img, al, G, N, words, &p, &out), SC_OK);
    assert_int_equal(out.c, 3);
    assert_int_equal(out.w, 8 + 4 * (224 + 8));
    assert_int_equal(out.h, 8 + 224 + (sc_text_height(16) + 4) + 8);
    /* panel 0 is the image itself */
    assert_float_equal(out.data[(size_t)100 * out.w + 100], 0.6f, 1e-3);
    assert_float_equal(out.data[2 * (size_t)out.w * out.h + (size_t)100 * out.w + 100], 0.2f, 1e-3);
    /* token 0 lights its top-left cell, token 1 the bottom-right one */
    int x1 = 8 + 232, x2 = 8 + 2 * 232, x3 = 8 + 3 * 232;
    assert_true(luma(&out, x1 + 20, 8 + 20) > luma(&out, x1 + 200, 8 + 200) + 0.3f);
    assert_true(luma(&out, x2 + 200, 8 + 200) > luma(&out, x2 + 20, 8 + 20) + 0.3f);
    /* a uniform map (min == max) is drawn as the colormap's lowest value: dark */
    assert_true(luma(&out, x3 + 112, 8 + 112) < 0.4f * 0.2f + 0.8f * 0.0f + 0.05f);
    sc_image_free(&out);

    /* more panels than cols wrap into rows */
    p.cols = 2;
    p.panel = 32;
    assert_int_equal(sc_attention_grid(&img, al, G, N, NULL, &p, &out), SC_OK);
    assert_int_equal(out.w, 8 + 2 * (32 + 8));
    assert_int_equal(out.h, 8 + 2 * (32 + sc_text_height(16) + 4 + 8));
    sc_image_free(&out);

    /* bad arguments */
    p = sc_attention_grid_default_params();
    assert_int_equal(sc_attention_grid(&img, al, 0, N, words, &p, &out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_attention_grid(&img, al, G, -1, words, &p, &out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_attention_grid(&img, NULL, G, N, words, &p, &out), SC_ERR_INVALID_ARG);
    p.panel = 8;
    assert_int_equal(sc_attention_grid(&img, al, G, N, words, &p, &out), SC_ERR_INVALID_ARG);
    p = sc_attention_grid_default_params();
    p.alpha = 1.5f;
    assert_int_equal(sc_attention_grid(&img, al, G, N, words, &p, &out), SC_ERR_INVALID_ARG);
    sc_caption_result empty = {0};
    assert_int_equal(sc_caption_attention_grid(&img, &empty, NULL, &out), SC_ERR_INVALID_ARG);
    sc_image_free(&img);
}

static int exists(const char *dir, const char *rel) {
    char *p = sc_test_join(dir, rel);
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    free(p);
    return ok;
}

static void test_gallery(void **state) {
    (void)state;
    char *tmp = sc_test_tmpdir("gallery");
    char *dir = sc_test_join(tmp, "gal");
    sc_image img;
    assert_int_equal(sc_image_alloc(&img, 640, 200, 4), SC_OK); /* RGBA: thumbnail drops alpha */
    for (size_t i = 0; i < (size_t)4 * 640 * 200; i++) img.data[i] = (float)(i % 7) / 7.0f;
    sc_gallery_params gp = sc_gallery_default_params();
    gp.title = "Tom & Jerry <test>";
    gp.thumb = 64;
    sc_gallery *g = NULL;
    assert_int_equal(sc_gallery_open(dir, &gp, &g), SC_OK);
    const char *words[3] = {"a", "<b>", "<end>"};
    const float lp[3] = {-0.5f, -0.25f, -0.125f};
    sc_image grid;
    assert_int_equal(sc_image_alloc(&grid, 40, 20, 3), SC_OK);
    assert_int_equal(sc_gallery_add(g, "x y&z#?", "in/x y&z#?.jpg", &img, "a <b> & \"c\"", words,
                                    lp, 3, -0.875, &grid),
                     SC_OK);
    assert_int_equal(sc_gallery_add(g, "plain", NULL, &img, "no grid", NULL, NULL, 0, -1.0, NULL),
                     SC_OK);
    assert_int_equal(sc_gallery_add(g, "plain", NULL, &img, "dup", NULL, NULL, 0, 0, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gallery_add(g, "../evil", NULL, &img, "x", NULL, NULL, 0, 0, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gallery_add(g, ".hidden", NULL, &img, "x", NULL, NULL, 0, 0, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gallery_add(g, "", NULL, &img, "x", NULL, NULL, 0, 0, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gallery_add_failure(g, "bad<1>.jpg", "corrupt & truncated"), SC_OK);
    assert_int_equal(sc_gallery_close(g), SC_OK);

    assert_true(exists(dir, "index.html"));
    assert_true(exists(dir, "images/x y&z#?.jpg"));
    assert_true(exists(dir, "attention/x y&z#?.png"));
    assert_true(exists(dir, "images/plain.jpg"));
    assert_false(exists(dir, "attention/plain.png"));
    char *thumb = sc_test_join(dir, "images/plain.jpg");
    sc_image t;
    assert_int_equal(sc_image_load(thumb, NULL, &t, NULL), SC_OK);
    assert_int_equal(t.w, 64);
    assert_int_equal(t.h, 20);
    sc_image_free(&t);
    free(thumb);

    char *index = sc_test_join(dir, "index.html");
    unsigned char *html;
    size_t n;
    assert_int_equal(sc_read_file(index, 1 << 20, &html, &n), SC_OK);
    const char *h = (const char *)html;
    assert_non_null(strstr(h, "<title>Tom &amp; Jerry &lt;test&gt;</title>"));
    assert_non_null(strstr(h, "<p class=\"caption\">a &lt;b&gt; &amp; &quot;c&quot;</p>"));
    assert_non_null(strstr(h, "src=\"images/x%20y%26z%23%3F.jpg\" width=\"64\" height=\"20\""));
    assert_non_null(strstr(h, "href=\"attention/x%20y%26z%23%3F.png\""));
    assert_non_null(strstr(h, "title=\"log p = -0.2500\">&lt;b&gt;"));
    assert_non_null(strstr(h, "<li>bad&lt;1&gt;.jpg: corrupt &amp; truncated</li>"));
    assert_non_null(strstr(h, "2 images, 1 failed"));
    assert_null(strstr(h, "<b>"));
    assert_null(strstr(h, "http"));
    free(html);
    free(index);

    /* a gallery directory that cannot be created */
    char *bad = sc_test_join(tmp, "gal/index.html/sub");
    assert_int_equal(sc_gallery_open(bad, NULL, &g), SC_ERR_IO);
    assert_null(g);
    free(bad);
    sc_image_free(&img);
    sc_image_free(&grid);
    sc_test_rmtree(tmp);
    free(dir);
    free(tmp);
}

/* A gallery written in two pieces into one folder (as by two MPI ranks):
 * the merged index is the one a single writer makes. */
static void test_gallery_pieces(void **state) {
    (void)state;
    char *tmp = sc_test_tmpdir("gallery_pieces");
    char *one = sc_test_join(tmp, "one"), *two = sc_test_join(tmp, "two");
    sc_image img;
    assert_int_equal(sc_image_alloc(&img, 50, 30, 3), SC_OK);
    for (size_t i = 0; i < (size_t)3 * 50 * 30; i++) img.data[i] = (float)(i % 5) / 5.0f;
    const char *words[2] = {"a", "<coat>"};
    const float lp[2] = {-0.1f, -1.0f / 3.0f};
    sc_gallery_params gp = sc_gallery_default_params();
    gp.subtitle = "model m";
    sc_gallery *g = NULL, *a = NULL, *b = NULL;
    SC_TEST_OK(sc_gallery_open(one, &gp, &g));
    SC_TEST_OK(sc_gallery_add(g, "p", "in/p.png", &img, "a coat", words, lp, 2, -0.43, &img));
    SC_TEST_OK(sc_gallery_add_failure(g, "in/bad.png", "not an image"));
    SC_TEST_OK(sc_gallery_add(g, "q", "in/q.png", &img, "plain", NULL, NULL, 0, -1.0, NULL));
    SC_TEST_OK(sc_gallery_close(g));
    SC_TEST_OK(sc_gallery_open(two, &gp, &a));
    SC_TEST_OK(sc_gallery_open(two, &gp, &b));
    SC_TEST_OK(sc_gallery_add(a, "p", "in/p.png", &img, "a coat", words, lp, 2, -0.43, &img));
    SC_TEST_OK(sc_gallery_add_failure(b, "in/bad.png", "not an image"));
    SC_TEST_OK(sc_gallery_add(b, "q", "in/q.png", &img, "plain", NULL, NULL, 0, -1.0, NULL));
    char *data = NULL;
    size_t len = 0;
    SC_TEST_OK(sc_gallery_export(b, &data, &len));
    sc_gallery_free(b); /* its files stay; only a's index is written */
    assert_int_equal(sc_gallery_import(a, data, len - 1), SC_ERR_FORMAT); /* cut short */
    assert_int_equal(sc_gallery_import(a, "{\"x\": 1}", 8), SC_ERR_FORMAT);
    assert_int_equal(sc_gallery_import(a, "[{\"label\": \"l\"}]", 16), SC_ERR_FORMAT);
    SC_TEST_OK(sc_gallery_import(a, data, len));
    SC_TEST_OK(sc_gallery_import(a, NULL, 0));
    free(data);
    SC_TEST_OK(sc_gallery_close(a));
    char *i1 = sc_test_join(one, "index.html"), *i2 = sc_test_join(two, "index.html");
    unsigned char *h1, *h2;
    size_t n1, n2;
    SC_TEST_OK(sc_read_file(i1, 1 << 20, &h1, &n1));
    SC_TEST_OK(sc_read_file(i2, 1 << 20, &h2, &n2));
    assert_int_equal(n1, n2);
    assert_memory_equal(h1, h2, n1);
    assert_non_null(strstr((const char *)h2, "2 images, 1 failed"));
    assert_true(exists(two, "images/q.jpg") && exists(two, "attention/p.png"));
    free(h1), free(h2), free(i1), free(i2);
    sc_image_free(&img);
    sc_test_rmtree(tmp);
    free(one), free(two), free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_layout_and_content),
        cmocka_unit_test(test_gallery),
        cmocka_unit_test(test_gallery_pieces),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

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

/* Word panels drawn on two threads make the same figure as on one. */
static void test_grid_threads(void **state) {
    (void)state;
    sc_image img;
    assert_int_equal(sc_image_alloc(&img, 37, 29, 3), SC_OK);
    sc_test_fill_uniform(img.data, (size_t)37 * 29 * 3, 0.f, 1.f, 5);
    enum { G = 7, N = 13 };
    float *al = sc_test_random((size_t)N * G * G, 0.f, 1.f, 9);
    const char *words[N] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"};
    sc_attention_grid_params p = sc_attention_grid_default_params();
    p.panel = 40;
    sc_image one, two;
    const int was = sc_get_num_threads();
    sc_set_num_threads(1);
    assert_int_equal(sc_attention_grid(&img, al, G, N, words, &p, &one), SC_OK);
    sc_set_num_threads(2);
    assert_int_equal(sc_attention_grid(&img, al, G, N, words, &p, &two), SC_OK);
    sc_set_num_threads(was);
    assert_int_equal(one.w, two.w);
    assert_int_equal(one.h, two.h);
    assert_memory_equal(one.data, two.data, (size_t)one.w * one.h * 3 * sizeof(float));
    sc_image_free(&one);
    sc_image_free(&two);
    sc_image_free(&img);
    free(al);
}

static int exists(const char *dir, const char *rel) {
    char *p = sc_test_join(dir, rel);
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    free(p);
    return ok;
}

static char *slurp(const char *dir, const char *rel) {
    char *p = sc_test_join(dir, rel);
    unsigned char *text = NULL;
    size_t n;
    assert_int_equal(sc_read_file(p, 1 << 20, &text, &n), SC_OK);
    free(p);
    return (char *)text;
}

static void test_gallery(void **state) {
    (void)state;
    char *tmp = sc_test_tmpdir("gallery");
    char *dir = sc_test_join(tmp, "gal");
    sc_image img;
    assert_int_equal(sc_image_alloc(&img, 640, 200, 4), SC_OK); /* RGBA: thumbnail drops alpha */
    for (size_t i = 0; i < (size_t)4 * 640 * 200; i++) img.data[i] = (float)(i % 7) / 7.0f;
    sc_gallery_params gp = sc_gallery_default_params();
    assert_int_equal(gp.page_size, 100);
    gp.title = "Tom & Jerry <test>";
    gp.thumb = 64;
    gp.page_size = 2;
    gp.figure.panel = 16;
    sc_gallery *g = NULL;
    assert_int_equal(sc_gallery_open(dir, &gp, &g), SC_OK);
    assert_true(sc_gallery_is_dir(dir));
    assert_false(sc_gallery_is_dir(tmp));
    const char *words[3] = {"a", "<b>", "<end>"};
    const float lp[3] = {-0.5f, -0.25f, -0.125f};
    float alphas[3 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 6};
    sc_gallery_item it = {.name = "x y&z#?",
                          .label = "in/x y&z#?.jpg",
                          .caption = "a <b> & \"c\"",
                          .words = words,
                          .logprobs = lp,
                          .n = 3,
                          .score = -0.875,
                          .alphas = alphas,
                          .grid = 2};
    assert_int_equal(sc_gallery_add(g, &img, &it), SC_OK);
    sc_gallery_item plain = {.name = "plain", .caption = "no figure", .score = -1.0};
    assert_int_equal(sc_gallery_add(g, &img, &plain), SC_OK);
    sc_gallery_item bad = plain;
    assert_int_equal(sc_gallery_add(g, &img, &bad), SC_ERR_INVALID_ARG); /* name taken */
    const char *bad_names[] = {"../evil", ".hidden", ""};
    for (int i = 0; i < 3; i++) {
        bad.name = bad_names[i];
        assert_int_equal(sc_gallery_add(g, &img, &bad), SC_ERR_INVALID_ARG);
    }
    bad = it;
    bad.name = "grid0";
    bad.grid = 0;
    assert_int_equal(sc_gallery_add(g, &img, &bad), SC_ERR_INVALID_ARG);
    sc_gallery_item third = {.name = "third", .caption = "third one"};
    assert_int_equal(sc_gallery_add(g, &img, &third), SC_OK);
    /* a reason that names the file already is not shown twice */
    assert_int_equal(sc_gallery_add_failure(g, "bad<1>.jpg", "bad<1>.jpg: corrupt & truncated"),
                     SC_OK);
    assert_int_equal(sc_gallery_close(g), SC_OK);

    const char *files[] = {"index.html",       "page-2.html",        "failed.html",
                           "search.js",        "gallery.css",        "gallery.js",
                           SC_GALLERY_MARKER,  "images/x y&z#?.jpg", "items/x y&z#?.html",
                           "images/plain.jpg", "items/plain.html",   "items/third.html"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) assert_true(exists(dir, files[i]));
    assert_false(exists(dir, "page-3.html"));
    sc_image t;
    char *path = sc_test_join(dir, "images/plain.jpg");
    assert_int_equal(sc_image_load(path, NULL, &t, NULL), SC_OK);
    assert_int_equal(t.w, 64);
    assert_int_equal(t.h, 20);
    sc_image_free(&t);
    free(path);
    char *h = slurp(dir, "index.html");
    assert_non_null(strstr(h, "<title>Tom &amp; Jerry &lt;test&gt;</title>"));
    assert_non_null(strstr(h, "<span class=\"cap\">a &lt;b&gt; &amp; &quot;c&quot;</span>"));
    assert_non_null(strstr(h, "href=\"items/x%20y%26z%23%3F.html\"><img "
                              "src=\"images/x%20y%26z%23%3F.jpg\" width=\"64\" height=\"20\" "
                              "loading=\"lazy\""));
    assert_non_null(strstr(h, "<a rel=\"next\" href=\"page-2.html\">"));
    assert_non_null(strstr(h, "3 images, <a href=\"failed.html\">1 failed</a>"));
    assert_null(strstr(h, "third one")); /* on page 2 */
    assert_null(strstr(h, "<b>"));
    assert_null(strstr(h, "http"));
    free(h);
    h = slurp(dir, "page-2.html");
    assert_non_null(strstr(h, "third one"));
    assert_non_null(strstr(h, "<a rel=\"prev\" href=\"index.html\">"));
    free(h);
    /* the entry's page: the photo, and each word with its map for the
     * browser, min-max scaled to 0..255 (1 2 3 6: 0 51 102 255) */
    h = slurp(dir, "items/x y&z#?.html");
    const char *item[] = {
        "<img src=\"../images/x%20y%26z%23%3F.jpg\" width=\"64\" height=\"20\"",
        "<figure class=\"fig\" data-grid=\"2\" data-alpha=\"0.8\">",
        "<li><canvas class=\"map\" width=\"16\" height=\"16\" data-a=\"ff000000\"></canvas>"
        "<span class=\"w\">a</span><small>log p -0.5000</small></li>",
        "data-a=\"00ff0000\"></canvas><span class=\"w\">&lt;b&gt;</span>",
        "data-a=\"003366ff\"></canvas><span class=\"w\">&lt;end&gt;",
        "<a rel=\"next\" href=\"plain.html\">",
    };
    for (size_t i = 0; i < sizeof item / sizeof *item; i++) assert_non_null(strstr(h, item[i]));
    assert_non_null(strstr(h, "href=\"../index.html#e1\">page 1</a>"));
    free(h);
    h = slurp(dir, "items/plain.html"); /* no maps: the words alone */
    assert_null(strstr(h, "<canvas"));
    free(h);
    h = slurp(dir, "items/third.html");
    assert_non_null(strstr(h, "<a rel=\"prev\" href=\"plain.html\">"));
    assert_non_null(strstr(h, "href=\"../page-2.html#e3\">page 2</a>"));
    free(h);
    h = slurp(dir, "failed.html");
    assert_non_null(strstr(h, "<li>bad&lt;1&gt;.jpg: corrupt &amp; truncated</li>"));
    free(h);
    h = slurp(dir, "search.js");
    assert_non_null(strstr(h, "[\"x%20y%26z%23%3F\",\"a \\u003cb> & \\\"c\\\"\","
                              "\"in/x y&z#?.jpg\",64,20],"));
    assert_non_null(strstr(h, "[\"third\",\"third one\",\"third\",64,20]\n]});"));
    free(h);

    /* the script draws the maps in the gallery's colormap (gray: entry k is
     * k, k, k) */
    h = slurp(dir, "gallery.js");
    assert_non_null(strstr(h, "window.saccadeColormap = '000000010101020202"));
    assert_non_null(strstr(h, "fdfdfdfefefeffffff';\n"));
    free(h);

    /* written again with one entry and no failure: no stale page or list */
    assert_int_equal(sc_gallery_open(dir, &gp, &g), SC_OK);
    assert_int_equal(sc_gallery_add(g, &img, &it), SC_OK);
    assert_int_equal(sc_gallery_close(g), SC_OK);
    assert_false(exists(dir, "page-2.html"));
    assert_false(exists(dir, "failed.html"));
    h = slurp(dir, "index.html");
    assert_non_null(strstr(h, "1 image</p>"));
    free(h);
    /* a gallery directory that cannot be created */
    char *baddir = sc_test_join(tmp, "gal/index.html/sub");
    assert_int_equal(sc_gallery_open(baddir, NULL, &g), SC_ERR_IO);
    assert_null(g);
    free(baddir);
    gp.page_size = 0;
    assert_int_equal(sc_gallery_open(dir, &gp, &g), SC_ERR_INVALID_ARG);
    gp.page_size = 2;
    gp.figure.colormap = (sc_colormap)99;
    assert_int_equal(sc_gallery_open(dir, &gp, &g), SC_ERR_INVALID_ARG);
    sc_image_free(&img);
    sc_test_rmtree(tmp);
    free(dir);
    free(tmp);
}

/* The listing, search index, failures page and the items p and q of two
 * galleries are byte for byte equal. */
static void same_pages(const char *dir1, const char *dir2) {
    const char *pages[] = {"index.html", "search.js", "failed.html", "items/p.html",
                           "items/q.html"};
    for (size_t k = 0; k < sizeof pages / sizeof *pages; k++) {
        char *i1 = sc_test_join(dir1, pages[k]), *i2 = sc_test_join(dir2, pages[k]);
        unsigned char *h1, *h2;
        size_t n1, n2;
        SC_TEST_OK(sc_read_file(i1, 1 << 20, &h1, &n1));
        SC_TEST_OK(sc_read_file(i2, 1 << 20, &h2, &n2));
        assert_int_equal(n1, n2);
        assert_memory_equal(h1, h2, n1);
        free(h1), free(h2), free(i1), free(i2);
    }
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
    float alphas[2 * 4] = {1, 0, 0, 0, 0, 0, 0.5f, 0.5f};
    const sc_gallery_item p = {.name = "p",
                               .label = "in/p.png",
                               .caption = "a coat",
                               .words = words,
                               .logprobs = lp,
                               .n = 2,
                               .score = -0.43,
                               .alphas = alphas,
                               .grid = 2};
    const float qalphas[2 * 4] = {0, 1, 2, 3, 3, 3, 3, 3}; /* 00 55 aa ff, constant: 0 */
    const sc_gallery_item q = {.name = "q",
                               .label = "in/q.png",
                               .caption = "a coat",
                               .words = words,
                               .n = 2,
                               .score = -1.0,
                               .alphas = qalphas,
                               .grid = 2};
    sc_gallery_params gp = sc_gallery_default_params();
    gp.subtitle = "model m";
    sc_gallery *g = NULL, *a = NULL, *b = NULL;
    SC_TEST_OK(sc_gallery_open(one, &gp, &g));
    SC_TEST_OK(sc_gallery_add(g, &img, &p));
    SC_TEST_OK(sc_gallery_add_failure(g, "in/bad.png", "not an image"));
    SC_TEST_OK(sc_gallery_add(g, &img, &q));
    /* once written, a live gallery lets go of the maps of final pages: it
     * cannot be exported */
    SC_TEST_OK(sc_gallery_write(g));
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(sc_gallery_export(g, &data, &len), SC_ERR_INVALID_ARG);
    assert_null(data);
    SC_TEST_OK(sc_gallery_close(g));
    SC_TEST_OK(sc_gallery_open(two, &gp, &a));
    gp.live = 0; /* as the CLI's other ranks: pages only from the one that imports */
    SC_TEST_OK(sc_gallery_open(two, &gp, &b));
    SC_TEST_OK(sc_gallery_add(a, &img, &p));
    SC_TEST_OK(sc_gallery_add_failure(b, "in/bad.png", "not an image"));
    SC_TEST_OK(sc_gallery_add(b, &img, &q));
    SC_TEST_OK(sc_gallery_export(b, &data, &len));
    sc_gallery_free(b); /* its files stay; only a's index is written */
    assert_int_equal(sc_gallery_import(a, data, len - 1), SC_ERR_FORMAT); /* cut short */
    assert_int_equal(sc_gallery_import(a, "{\"x\": 1}", 8), SC_ERR_FORMAT);
    assert_int_equal(sc_gallery_import(a, "[{\"label\": \"l\"}]", 16), SC_ERR_FORMAT);
    SC_TEST_OK(sc_gallery_import(a, data, len));
    SC_TEST_OK(sc_gallery_import(a, NULL, 0));
    free(data);
    SC_TEST_OK(sc_gallery_close(a));
    /* The pages written from the pieces equal the one-process gallery's. */
    same_pages(one, two);
    char *index = sc_test_join(two, "index.html"), *qpage = sc_test_join(two, "items/q.html");
    unsigned char *h;
    size_t nh;
    SC_TEST_OK(sc_read_file(index, 1 << 20, &h, &nh));
    assert_non_null(strstr((const char *)h, "2 images, <a href=\"failed.html\">1 failed"));
    free(h);
    SC_TEST_OK(sc_read_file(qpage, 1 << 20, &h, &nh));
    /* the maps came through the export */
    assert_non_null(strstr((const char *)h, "data-a=\"0055aaff\"></canvas><span "
                                            "class=\"w\">a</span></li>\n<li><canvas "
                                            "class=\"map\" width=\"64\" height=\"64\" "
                                            "data-a=\"00000000\">"));
    free(h), free(index), free(qpage);
    assert_true(exists(two, "images/q.jpg") && exists(two, "images/p.jpg"));
    sc_image_free(&img);
    sc_test_rmtree(tmp);
    free(one), free(two), free(tmp);
}

/* A thumbnail the writer thread could not write (its folder gone) is
 * reported by a later call, naming the file, and no page is written. */
static void test_gallery_thumb_error(void **state) {
    (void)state;
    char *tmp = sc_test_tmpdir("gallery_thumb_error");
    char *dir = sc_test_join(tmp, "g"), *images = sc_test_join(dir, "images");
    sc_image img;
    assert_int_equal(sc_image_alloc(&img, 30, 20, 3), SC_OK);
    for (size_t i = 0; i < (size_t)3 * 30 * 20; i++) img.data[i] = (float)(i % 3) / 3.0f;
    const sc_gallery_item p = {.name = "p", .caption = "a coat", .score = -0.5};
    const sc_gallery_item q = {.name = "q", .caption = "a bag", .score = -0.7};
    sc_gallery_params gp = sc_gallery_default_params();
    gp.live = 0;
    sc_gallery *g = NULL;
    SC_TEST_OK(sc_gallery_open(dir, &gp, &g));
    sc_test_rmtree(images);
    sc_status s = sc_gallery_add(g, &img, &p);
    if (!s) s = sc_gallery_add(g, &img, &q);
    if (!s) s = sc_gallery_write(g);
    assert_int_equal(s, SC_ERR_IO);
    assert_non_null(strstr(sc_last_error(), "images/"));
    assert_false(exists(dir, "index.html"));
    assert_int_equal(sc_gallery_close(g), SC_ERR_IO); /* still reported, nothing written */
    assert_false(exists(dir, "index.html"));
    sc_image_free(&img);
    sc_test_rmtree(tmp);
    free(images), free(dir), free(tmp);
}

/* Pieces taken in no fixed order (MPI ranks handed images as they became
 * free): the writer's own entries and the imported ones interleave, and
 * sc_gallery_order puts images and failures back in input order, pages
 * already written included. */
static void test_gallery_order(void **state) {
    (void)state;
    char *tmp = sc_test_tmpdir("gallery_order");
    char *ref = sc_test_join(tmp, "ref"), *two = sc_test_join(tmp, "two");
    sc_image img;
    assert_int_equal(sc_image_alloc(&img, 40, 20, 3), SC_OK);
    for (size_t i = 0; i < (size_t)3 * 40 * 20; i++) img.data[i] = (float)(i % 7) / 7.0f;
    const sc_gallery_item p = {
        .name = "p", .label = "in/p.png", .caption = "a coat", .score = -0.5};
    const sc_gallery_item q = {.name = "q", .label = "in/q.png", .caption = "a bag", .score = -1.0};
    /* input order: a (fails), p, bad (fails), q */
    const char *names[4] = {"a", "p", "bad", "q"};
    const char *labels[4] = {"in/a.png", "in/p.png", "in/bad.png", "in/q.png"};
    sc_gallery_params gp = sc_gallery_default_params();
    sc_gallery *g = NULL, *x = NULL, *y = NULL;
    SC_TEST_OK(sc_gallery_open(ref, &gp, &g));
    SC_TEST_OK(sc_gallery_add_failure(g, "in/a.png", "not an image"));
    SC_TEST_OK(sc_gallery_add(g, &img, &p));
    SC_TEST_OK(sc_gallery_add_failure(g, "in/bad.png", "truncated"));
    SC_TEST_OK(sc_gallery_add(g, &img, &q));
    SC_TEST_OK(sc_gallery_close(g));
    /* the writer took q and bad, the other p and a, each in its own order */
    SC_TEST_OK(sc_gallery_open(two, &gp, &x));
    SC_TEST_OK(sc_gallery_open(two, &gp, &y));
    SC_TEST_OK(sc_gallery_add(x, &img, &q)); /* live pages: q first */
    SC_TEST_OK(sc_gallery_add_failure(x, "in/bad.png", "truncated"));
    SC_TEST_OK(sc_gallery_add(y, &img, &p));
    SC_TEST_OK(sc_gallery_add_failure(y, "in/a.png", "not an image"));
    char *data = NULL;
    size_t len = 0;
    SC_TEST_OK(sc_gallery_export(y, &data, &len));
    sc_gallery_free(y);
    SC_TEST_OK(sc_gallery_import(x, data, len));
    free(data);
    assert_int_equal(sc_gallery_order(NULL, names, labels, 4), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gallery_order(x, names, labels, -1), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_gallery_order(x, names, labels, 4));
    SC_TEST_OK(sc_gallery_close(x));
    same_pages(ref, two);
    /* unnamed entries keep their order after the named ones; NULL lists are fine */
    SC_TEST_OK(sc_gallery_open(two, &gp, &x));
    SC_TEST_OK(sc_gallery_add(x, &img, &q));
    SC_TEST_OK(sc_gallery_add(x, &img, &p));
    SC_TEST_OK(sc_gallery_order(x, NULL, NULL, 0));
    SC_TEST_OK(sc_gallery_export(x, &data, &len));
    char *pq = strstr(data, "\"name\":\"q\""), *pp = strstr(data, "\"name\":\"p\"");
    assert_true(pq && pp && pq < pp);
    free(data);
    sc_gallery_free(x);
    sc_image_free(&img);
    sc_test_rmtree(tmp);
    free(ref), free(two), free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_layout_and_content),
        cmocka_unit_test(test_grid_threads),
        cmocka_unit_test(test_gallery),
        cmocka_unit_test(test_gallery_pieces),
        cmocka_unit_test(test_gallery_order),
        cmocka_unit_test(test_gallery_thumb_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

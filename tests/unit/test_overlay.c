/* Colormaps, map resizing/blur/colorize, heatmap overlays, text, shapes and
 * contact sheets. Oracles: matplotlib (colormaps), torch interpolate
 * (bilinear), cv2.GaussianBlur (blur), numpy (overlay formula); see
 * tools/ref/ref_colormap.py and tools/ref/ref_overlay.py. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include "sc_test.h"
#include "sc_internal.h"

static const float RED[3] = {1, 0, 0};

static char *ref_dir; /* reference outputs of ref_overlay.py, made once */

static int setup_refs(void **state) {
    (void)state;
    ref_dir = sc_test_tmpdir("overlay");
    sc_test_python("ref_overlay.py", "'%s'", ref_dir);
    return 0;
}

static int teardown_refs(void **state) {
    (void)state;
    sc_test_rmtree(ref_dir);
    free(ref_dir);
    return 0;
}

static sc_map map_from_npy(const sc_npy *a) {
    assert_int_equal(a->ndim, 2);
    sc_map m;
    SC_TEST_OK(sc_map_alloc(&m, (int)a->shape[1], (int)a->shape[0]));
    memcpy(m.data, a->data, a->count * sizeof(float));
    return m;
}

static void fill_image(sc_image *im, float v) {
    for (size_t i = 0; i < (size_t)im->w * im->h * im->c; i++) im->data[i] = v;
}

/* ---- Colormaps ---- */

static void test_colormap_tables_match_matplotlib(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("cmap");
    sc_test_python("ref_colormap.py", "'%s'", dir);
    const char *names[] = {"viridis", "inferno", "magma", "jet", "gray"};
    for (int i = 0; i < 5; i++) {
        sc_colormap cm;
        SC_TEST_OK(sc_colormap_from_name(names[i], &cm));
        assert_int_equal(cm, i);
        assert_string_equal(sc_colormap_name(cm), names[i]);
        sc_npy ref = sc_test_npy(dir, names[i]);
        assert_int_equal(ref.count, 256 * 3);
        const float(*tab)[3] = sc_colormap_table(cm);
        assert_non_null(tab);
        sc_test_assert_close(names[i], &tab[0][0], ref.data, 768, 0, 1e-6);
        sc_npy_free(&ref);
    }
    /* gray is exactly v, v, v with v = i / 255. */
    const float(*g)[3] = sc_colormap_table(SC_CMAP_GRAY);
    for (int i = 0; i < 256; i++)
        for (int c = 0; c < 3; c++) assert_true(g[i][c] == (float)i / 255.0f);
    sc_colormap cm;
    assert_int_equal(sc_colormap_from_name("parula", &cm), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "viridis"));
    assert_null(sc_colormap_table((sc_colormap)99));
    sc_test_rmtree(dir);
    free(dir);
}

static void test_colormap_index_and_lookup(void **state) {
    (void)state;
    sc_npy in = sc_test_npy(ref_dir, "index_in"), want = sc_test_npy(ref_dir, "index_out");
    for (size_t i = 0; i < in.count; i++) {
        int idx = sc_colormap_index(in.data[i]);
        if (idx != (int)want.data[i])
            fail_msg("index of %.9g: got %d, numpy %d", (double)in.data[i], idx, (int)want.data[i]);
        float rgb[3];
        sc_colormap_lookup(SC_CMAP_MAGMA, in.data[i], rgb);
        assert_memory_equal(rgb, sc_colormap_table(SC_CMAP_MAGMA)[idx], sizeof rgb);
    }
    assert_int_equal(sc_colormap_index(0.5f), 128); /* 127.5 rounds up */
    assert_int_equal(sc_colormap_index(NAN), 0);
    assert_int_equal(sc_colormap_index(INFINITY), 255);
    assert_int_equal(sc_colormap_index(-INFINITY), 0);
    sc_npy_free(&in);
    sc_npy_free(&want);
}

/* ---- Maps ---- */

static void test_resize_bilinear_matches_torch(void **state) {
    (void)state;
    const int sizes[][4] = {{14, 14, 224, 200}, {7, 5, 31, 13},    {10, 3, 2, 4},
                            {1, 1, 3, 5},       {9, 16, 224, 224}, {14, 14, 14, 14}};
    for (int k = 0; k < 6; k++) {
        char name[64];
        snprintf(name, sizeof name, "resize_%d_in", k);
        sc_npy in = sc_test_npy(ref_dir, name);
        snprintf(name, sizeof name, "resize_%d_out", k);
        sc_npy want = sc_test_npy(ref_dir, name);
        sc_map m = map_from_npy(&in), r;
        assert_int_equal(m.h, sizes[k][0]);
        assert_int_equal(m.w, sizes[k][1]);
        SC_TEST_OK(sc_map_resize_bilinear(&m, sizes[k][3], sizes[k][2], &r));
        assert_int_equal(r.w, sizes[k][3]);
        assert_int_equal(r.h, sizes[k][2]);
        assert_int_equal(want.count, (size_t)r.w * r.h);
        sc_test_assert_close(name, r.data, want.data, want.count, 0, 1e-5);
        sc_map_free(&m);
        sc_map_free(&r);
        sc_npy_free(&in);
        sc_npy_free(&want);
    }
    sc_map m, r;
    SC_TEST_OK(sc_map_alloc(&m, 2, 2));
    assert_int_equal(sc_map_resize_bilinear(&m, 0, 5, &r), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_map_resize_bilinear(NULL, 5, 5, &r), SC_ERR_INVALID_ARG);
    sc_map_free(&m);
}

static void test_gaussian_blur_matches_opencv(void **state) {
    (void)state;
    const float sigmas[] = {1.0f, 2.3f, 3.0f, 0.8f, 0.5f};
    for (int k = 0; k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "blur_%d_in", k);
        sc_npy in = sc_test_npy(ref_dir, name);
        snprintf(name, sizeof name, "blur_%d_out", k);
        sc_npy want = sc_test_npy(ref_dir, name);
        sc_map m = map_from_npy(&in);
        SC_TEST_OK(sc_map_gaussian_blur(&m, sigmas[k]));
        sc_test_assert_close(name, m.data, want.data, want.count, 0, 1e-4);
        sc_map_free(&m);
        sc_npy_free(&in);
        sc_npy_free(&want);
    }
    sc_map m;
    SC_TEST_OK(sc_map_alloc(&m, 3, 3));
    m.data[4] = 1;
    SC_TEST_OK(sc_map_gaussian_blur(&m, 0)); /* no-op */
    assert_true(m.data[4] == 1 && m.data[0] == 0);
    assert_int_equal(sc_map_gaussian_blur(&m, -1), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_map_gaussian_blur(&m, NAN), SC_ERR_INVALID_ARG);
    sc_map_free(&m);
}

/* ---- Overlay ---- */

static void test_overlay_matches_numpy_exactly(void **state) {
    (void)state;
    /* Must match OVL in ref_overlay.py. */
    const struct {
        int c;
        sc_colormap cm;
        sc_norm_mode norm;
        float lo, hi, alpha;
    } cases[] = {{3, SC_CMAP_VIRIDIS, SC_NORM_MINMAX, 0, 0, 0.5f},
                 {1, SC_CMAP_JET, SC_NORM_FIXED, 0.2f, 0.7f, 0.3f},
                 {4, SC_CMAP_INFERNO, SC_NORM_MINMAX, 0, 0, 0.75f},
                 {3, SC_CMAP_MAGMA, SC_NORM_MINMAX, 0, 0, 0.6f},
                 {3, SC_CMAP_GRAY, SC_NORM_FIXED, -1.0f, 2.0f, 1.0f}};
    for (int k = 0; k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "ovl_%d_img", k);
        sc_npy ia = sc_test_npy(ref_dir, name);
        snprintf(name, sizeof name, "ovl_%d_map", k);
        sc_npy ma = sc_test_npy(ref_dir, name);
        snprintf(name, sizeof name, "ovl_%d_out", k);
        sc_npy want = sc_test_npy(ref_dir, name);
        sc_image img;
        SC_TEST_OK(sc_image_alloc(&img, (int)ia.shape[2], (int)ia.shape[1], (int)ia.shape[0]));
        assert_int_equal(img.c, cases[k].c);
        memcpy(img.data, ia.data, ia.count * sizeof(float));
        sc_map m = map_from_npy(&ma);
        sc_heatmap_params p = sc_heatmap_default_params();
        p.colormap = cases[k].cm;
        p.norm = cases[k].norm;
        p.lo = cases[k].lo;
        p.hi = cases[k].hi;
        p.alpha = cases[k].alpha;
        sc_image out;
        SC_TEST_OK(sc_overlay_heatmap(&img, &m, &p, &out));
        assert_int_equal(out.c, 3);
        assert_int_equal(out.w, img.w);
        assert_int_equal(out.h, img.h);
        assert_int_equal(want.count, (size_t)3 * out.w * out.h);
        sc_test_assert_close(name, out.data, want.data, want.count, 0, 0); /* exact */
        sc_image_free(&out);
        sc_image_free(&img);
        sc_map_free(&m);
        sc_npy_free(&ia);
        sc_npy_free(&ma);
        sc_npy_free(&want);
    }
}

static void test_overlay_pipeline_upsamples_and_smooths(void **state) {
    (void)state;
    sc_image img;
    SC_TEST_OK(sc_image_alloc(&img, 40, 30, 3));
    sc_test_fill_uniform(img.data, (size_t)3 * 40 * 30, 0, 1, 7);
    sc_map m;
    SC_TEST_OK(sc_map_alloc(&m, 5, 4));
    sc_test_fill_uniform(m.data, 20, -1, 1, 8);
    m.data[4] = 5; /* peak in the top-right cell */
    sc_heatmap_params p = sc_heatmap_default_params();
    p.smooth_sigma = 1.5f;
    p.colormap = SC_CMAP_JET;
    sc_image out;
    SC_TEST_OK(sc_overlay_heatmap(&img, &m, &p, &out));
    /* Same as composing the documented steps by hand. */
    sc_map up;
    SC_TEST_OK(sc_map_resize_bilinear(&m, 40, 30, &up));
    SC_TEST_OK(sc_map_gaussian_blur(&up, 1.5f));
    sc_image heat;
    SC_TEST_OK(sc_map_colorize(&up, &p, &heat));
    for (size_t i = 0; i < (size_t)3 * 40 * 30; i++) {
        float e = 0.5f * img.data[i] + 0.5f * heat.data[i];
        if (out.data[i] != e) fail_msg("pixel %zu: %g vs %g", i, (double)out.data[i], (double)e);
    }
    /* The hottest output pixel lies in the top-right cell (x >= 32, y < 8). */
    size_t best = 0;
    for (size_t i = 1; i < (size_t)40 * 30; i++)
        if (up.data[i] > up.data[best]) best = i;
    assert_true(best % 40 >= 32 && best / 40 < 8);
    assert_int_equal(sc_colormap_index(1.0f), 255);
    /* Bad parameters are refused with a message. */
    p.alpha = 1.5f;
    assert_int_equal(sc_overlay_heatmap(&img, &m, &p, &out), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "alpha"));
    p = sc_heatmap_default_params();
    p.norm = SC_NORM_FIXED;
    p.lo = p.hi = 1;
    assert_int_equal(sc_map_colorize(&m, &p, &heat), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_overlay_heatmap(&img, &m, NULL, &img), SC_ERR_INVALID_ARG);
    sc_image_free(&heat);
    sc_map_free(&up);
    sc_image_free(&out);
    sc_image_free(&img);
    sc_map_free(&m);
}

static void test_colorize_constant_and_nan(void **state) {
    (void)state;
    sc_map m;
    SC_TEST_OK(sc_map_alloc(&m, 3, 2));
    for (int i = 0; i < 6; i++) m.data[i] = 7.0f;
    m.data[2] = NAN;
    sc_image out;
    SC_TEST_OK(sc_map_colorize(&m, NULL, &out));
    const float *v0 = sc_colormap_table(SC_CMAP_VIRIDIS)[0];
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++) assert_true(out.data[c * 6 + i] == v0[c]);
    sc_image_free(&out);
    /* A range wider than float: still ordered from lowest to highest colour. */
    m.data[0] = -3e38f;
    m.data[1] = 0;
    m.data[2] = 3e38f;
    SC_TEST_OK(sc_map_colorize(&m, NULL, &out));
    const float *v1 = sc_colormap_table(SC_CMAP_VIRIDIS)[128],
                *v2 = sc_colormap_table(SC_CMAP_VIRIDIS)[255];
    for (int c = 0; c < 3; c++)
        assert_true(out.data[c * 6] == v0[c] && out.data[c * 6 + 1] == v1[c] &&
                    out.data[c * 6 + 2] == v2[c]);
    sc_image_free(&out);
    sc_map_free(&m);
}

/* ---- Text ---- */

static int count_changed(const sc_image *im) {
    int n = 0;
    for (size_t i = 0; i < (size_t)im->w * im->h * im->c; i++) n += im->data[i] != 0;
    return n;
}

/* First use of the font from several threads at once: pthread_once makes it
 * load once; every thread draws the same pixels. */
typedef struct text_job {
    sc_image im;
    int status;
} text_job;

static void *draw_job(void *arg) {
    text_job *j = arg;
    j->status = sc_draw_text(&j->im, 2, 2, "Hello threads", 18, RED);
    return NULL;
}

static void test_text_concurrent_first_use(void **state) {
    (void)state;
    enum { T = 4 };
    text_job jobs[T];
    pthread_t th[T];
    for (int t = 0; t < T; t++) SC_TEST_OK(sc_image_alloc(&jobs[t].im, 120, 30, 3));
    for (int t = 0; t < T; t++)
        assert_int_equal(pthread_create(&th[t], NULL, draw_job, &jobs[t]), 0);
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    for (int t = 0; t < T; t++) {
        assert_int_equal(jobs[t].status, SC_OK);
        assert_memory_equal(jobs[t].im.data, jobs[0].im.data, sizeof(float) * 3 * 120 * 30);
    }
    assert_true(count_changed(&jobs[0].im) > 100);
    for (int t = 0; t < T; t++) sc_image_free(&jobs[t].im);
}

static void test_text_stays_in_its_box(void **state) {
    (void)state;
    const char *s = "Hello, Attention! gjpq (AV) Wy";
    const float px = 20;
    int w = sc_text_width(s, px), h = sc_text_height(px);
    assert_true(w > 100 && w < 400);
    assert_int_equal(h, 21);
    sc_image im;
    SC_TEST_OK(sc_image_alloc(&im, 400, 60, 3));
    fill_image(&im, 0.5f);
    const int x = 17, y = 13;
    SC_TEST_OK(sc_draw_text(&im, x, y, s, px, RED));
    int changed = 0, minx = INT_MAX, maxx = -1, miny = INT_MAX, maxy = -1;
    for (int yy = 0; yy < im.h; yy++)
        for (int xx = 0; xx < im.w; xx++) {
            size_t i = (size_t)yy * im.w + xx;
            if (im.data[i] == 0.5f && im.data[i + 400 * 60] == 0.5f) continue;
            changed++;
            if (xx < x || xx >= x + w || yy < y || yy >= y + h)
                fail_msg("pixel (%d,%d) changed outside the text box [%d,%d)x[%d,%d)", xx, yy, x,
                         x + w, y, y + h);
            minx = SC_MIN(minx, xx), maxx = SC_MAX(maxx, xx);
            miny = SC_MIN(miny, yy), maxy = SC_MAX(maxy, yy);
            /* Blending towards red: red grows, green/blue shrink. */
            assert_true(im.data[i] >= 0.5f && im.data[i + 400 * 60] <= 0.5f);
        }
    assert_true(changed > 300);
    /* The box is tight: ink reaches close to each side. */
    assert_true(minx <= x + 2 && maxx >= x + w - 3 && miny <= y + 3 && maxy >= y + h - 3);
    /* Some pixels are fully covered (pure red), some partially (antialiased). */
    int full = 0, partial = 0;
    for (size_t i = 0; i < (size_t)400 * 60; i++) {
        if (im.data[i] == 1.0f && im.data[i + 400 * 60] == 0.0f)
            full++;
        else if (im.data[i] > 0.5f && im.data[i] < 1.0f)
            partial++;
    }
    assert_true(full > 50 && partial > 50);
    sc_image_free(&im);
}

static void test_text_width_stable_and_kerned(void **state) {
    (void)state;
    int w = sc_text_width("Attention", 16);
    assert_int_equal(w, sc_text_width("Attention", 16));
    /* DejaVu Sans at 16 px: ceil(sum of hmtx advances * 16 / 2384) = ceil(63.68)
     * (fontTools, in ref_overlay.py); "Attention" has no kerning pairs. */
    assert_int_equal(w, 64);
    sc_npy tw = sc_test_npy(ref_dir, "text_width");
    const char *strs[] = {"Attention", "Hello world", "saccade 0123456789"};
    const float pxs[] = {16, 33, 12.5f};
    assert_int_equal(tw.count, 9);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int got = sc_text_width(strs[i], pxs[j]), want = (int)tw.data[i * 3 + j];
            if (abs(got - want) > 1)
                fail_msg("width of '%s' at %g px: %d, fontTools advances give %d", strs[i],
                         (double)pxs[j], got, want);
        }
    sc_npy_free(&tw);
    assert_true(sc_text_width("Attention", 32) >= 2 * w - 2);
    assert_int_equal(sc_text_width("", 16), 0);
    assert_int_equal(sc_text_width(NULL, 16), 0);
    assert_int_equal(sc_text_width("x", 0), -1);
    assert_int_equal(sc_text_width("x", NAN), -1);
    /* Kerning pulls A and V together. */
    assert_true(sc_text_width("AV", 40) < sc_text_width("A", 40) + sc_text_width("V", 40));
    /* A text wider than INT_MAX pixels: width saturates, drawing is clipped. */
    size_t n = 3000000;
    char *big = malloc(n + 1);
    memset(big, 'W', n);
    big[n] = 0;
    assert_int_equal(sc_text_width(big, 1000), INT_MAX);
    /* Only the first W reaches the image: same pixels as drawing "W" alone. */
    sc_image im, one;
    SC_TEST_OK(sc_image_alloc(&im, 50, 50, 3));
    SC_TEST_OK(sc_image_alloc(&one, 50, 50, 3));
    SC_TEST_OK(sc_draw_text(&im, -30, -170, big, 1000, RED));
    SC_TEST_OK(sc_draw_text(&one, -30, -170, "W", 1000, RED));
    assert_true(count_changed(&im) > 100);
    assert_memory_equal(im.data, one.data, sizeof(float) * 3 * 50 * 50);
    sc_image_free(&im);
    sc_image_free(&one);
    free(big);
    /* Control characters are skipped. */
    assert_int_equal(sc_text_width("a\tb\n", 16), sc_text_width("ab", 16));
}

static void test_text_invalid_utf8(void **state) {
    (void)state;
    const float px = 16;
    int rep = sc_text_width("\xEF\xBF\xBD", px); /* U+FFFD */
    assert_true(rep > 0);
    assert_int_equal(sc_text_width("\xFF", px), rep);
    assert_int_equal(sc_text_width("\xC0\xAF", px), sc_text_width("\xEF\xBF\xBD\xEF\xBF\xBD", px));
    assert_int_equal(sc_text_width("\xED\xA0\x80", px),
                     sc_text_width("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", px)); /* surrogate */
    assert_int_equal(sc_text_width("a\xE2\x82", px), sc_text_width("a\xEF\xBF\xBD", px));
    assert_int_equal(sc_text_width("\xF4\x90\x80\x80", px), /* > U+10FFFF: 4 x U+FFFD */
                     sc_text_width("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", px));
    assert_true(sc_text_width("caf\xC3\xA9 \xE2\x86\x92 \xF0\x9F\x98\x80", px) > 0);
    /* Truncated sequences at the very end of an exactly sized heap buffer
     * (ASan catches any read past the terminator). */
    const char *tails[] = {"\xF0", "\xF0\x9F", "\xF0\x9F\x98", "\xE2\x82", "\xC3"};
    sc_image im;
    SC_TEST_OK(sc_image_alloc(&im, 64, 24, 3));
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(tails[i]);
        char *b = malloc(n + 1);
        memcpy(b, tails[i], n + 1);
        assert_int_equal(sc_text_width(b, px), rep);
        SC_TEST_OK(sc_draw_text(&im, 0, 0, b, px, RED));
        free(b);
    }
    sc_image_free(&im);
}

static void test_text_clipped_at_every_edge(void **state) {
    (void)state;
    sc_image im;
    SC_TEST_OK(sc_image_alloc(&im, 40, 20, 4));
    const char *s = "Wide clipped text";
    const int pos[][2] = {{-30, 4},     {25, 4},      {5, -12},     {5, 12},
                          {-60, -15},   {35, 15},     {-100000, 0}, {0, 100000},
                          {INT_MAX, 0}, {INT_MIN, 0}, {0, INT_MIN}, {INT_MAX, INT_MAX}};
    for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
        fill_image(&im, 0);
        SC_TEST_OK(sc_draw_text(&im, pos[k][0], pos[k][1], s, 16, RED));
        int changed = 0;
        for (size_t i = 0; i < (size_t)40 * 20; i++) changed += im.data[i] != 0;
        /* The first four overlap the image partly and must draw something there. */
        if (k < 4) assert_true(changed > 5);
        if (k >= 6) assert_int_equal(changed, 0);
    }
    /* Gray and RGBA images: luma and alpha towards 1. */
    fill_image(&im, 0);
    SC_TEST_OK(sc_draw_text(&im, 0, 0, "M", 18, RED));
    float amax = 0;
    for (size_t i = 0; i < (size_t)40 * 20; i++) amax = fmaxf(amax, im.data[3 * 800 + i]);
    assert_true(amax == 1.0f);
    sc_image g;
    SC_TEST_OK(sc_image_alloc(&g, 30, 20, 1));
    SC_TEST_OK(sc_draw_text(&g, 0, 0, "M", 18, (const float[3]){1, 1, 1}));
    float gmax = 0;
    for (size_t i = 0; i < (size_t)30 * 20; i++) gmax = fmaxf(gmax, g.data[i]);
    assert_true(fabsf(gmax - 1.0f) < 1e-6f);
    assert_int_equal(sc_draw_text(&g, 0, 0, "M", -3, RED), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_draw_text(NULL, 0, 0, "M", 10, RED), SC_ERR_INVALID_ARG);
    sc_image_free(&g);
    sc_image_free(&im);
}

static void test_font_load_errors_and_override(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("font");
    char *bad = sc_test_join(dir, "bad.ttf");
    FILE *f = fopen(bad, "wb");
    fputs("this is not a font file at all", f);
    fclose(f);
    int before = sc_text_width("Attention", 16);
    assert_int_equal(sc_font_load(bad), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "bad.ttf"));
    assert_int_equal(sc_font_load("/nonexistent/font.ttf"), SC_ERR_IO);
    assert_int_equal(sc_text_width("Attention", 16), before); /* still the default */
    SC_TEST_OK(sc_font_load(NULL));
    char *ttf = sc_test_source_path("assets/fonts/DejaVuSans.ttf");
    SC_TEST_OK(sc_font_load(ttf));
    assert_int_equal(sc_text_width("Attention", 16), before);
    free(ttf);
    free(bad);
    sc_test_rmtree(dir);
    free(dir);
}

/* ---- Shapes ---- */

static int count_color(const sc_image *im, float r, float g, float b) {
    int n = 0;
    size_t pl = (size_t)im->w * im->h;
    for (size_t i = 0; i < pl; i++)
        n += im->data[i] == r && im->data[pl + i] == g && im->data[2 * pl + i] == b;
    return n;
}

static float at(const sc_image *im, int c, int x, int y) {
    return im->data[((size_t)c * im->h + y) * im->w + x];
}

static void test_rectangles(void **state) {
    (void)state;
    sc_image im;
    SC_TEST_OK(sc_image_alloc(&im, 30, 20, 3));
    sc_draw_rect(&im, 12, 9, 3, 2, RED, 1, 1); /* swapped corners, inclusive */
    assert_int_equal(count_color(&im, 1, 0, 0), 10 * 8);
    assert_true(at(&im, 0, 3, 2) == 1 && at(&im, 0, 12, 9) == 1 && at(&im, 0, 13, 9) == 0);
    fill_image(&im, 0);
    sc_draw_rect(&im, 5, 5, 14, 14, RED, 0, 2); /* 10x10 outline, 2 px inwards */
    assert_int_equal(count_color(&im, 1, 0, 0), 100 - 36);
    assert_true(at(&im, 0, 6, 6) == 1 && at(&im, 0, 7, 7) == 0 && at(&im, 0, 4, 5) == 0);
    fill_image(&im, 0);
    sc_draw_rect(&im, INT_MIN, INT_MIN, INT_MAX, INT_MAX, RED, 1, 1); /* clipped */
    assert_int_equal(count_color(&im, 1, 0, 0), 30 * 20);
    fill_image(&im, 0);
    sc_draw_rect(&im, -5, -5, 40, 30, RED, 0, 3); /* outline wholly outside: nothing */
    assert_int_equal(count_color(&im, 1, 0, 0), 0);
    sc_draw_rect(&im, -5, 2, 3, 100, RED, 0, 1);         /* only the right edge shows */
    assert_int_equal(count_color(&im, 1, 0, 0), 4 + 17); /* top (x 0..3), right (y 3..19) */
    sc_image_free(&im);
}

static void test_lines(void **state) {
    (void)state;
    sc_image im;
    SC_TEST_OK(sc_image_alloc(&im, 30, 20, 3));
    sc_draw_line(&im, 2, 5, 12, 5, RED, 1);
    assert_int_equal(count_color(&im, 1, 0, 0), 11);
    for (int x = 2; x <= 12; x++) assert_true(at(&im, 0, x, 5) == 1);
    fill_image(&im, 0);
    sc_draw_line(&im, 5, 10, 15, 10, RED, 3); /* rows 9..11 plus round caps */
    for (int x = 5; x <= 15; x++)
        for (int y = 9; y <= 11; y++) assert_true(at(&im, 0, x, y) == 1);
    assert_true(at(&im, 0, 4, 10) == 1 && at(&im, 0, 3, 10) == 0 && at(&im, 0, 10, 8) == 0);
    /* A diagonal from far outside crosses the image along x == y. */
    fill_image(&im, 0);
    sc_draw_line(&im, -1e6f, -1e6f, 1e6f, 1e6f, RED, 1);
    assert_int_equal(count_color(&im, 1, 0, 0), 20);
    for (int i = 0; i < 20; i++) assert_true(at(&im, 0, i, i) == 1);
    /* A shallow line is 8-connected: one pixel in every column. */
    fill_image(&im, 0);
    sc_draw_line(&im, 0, 0, 29, 7, RED, 1);
    for (int x = 0; x < 30; x++) {
        int n = 0;
        for (int y = 0; y < 20; y++) n += at(&im, 0, x, y) == 1;
        assert_true(n >= 1 && n <= 2);
    }
    fill_image(&im, 0);
    sc_draw_line(&im, -50, -50, -10, -3, RED, 5); /* outside */
    sc_draw_line(&im, NAN, 0, 5, 5, RED, 1);
    sc_draw_line(&im, 0, 0, INFINITY, 5, RED, 1);
    assert_int_equal(count_color(&im, 1, 0, 0), 0);
    sc_image_free(&im);
}

/* ---- Contact sheet ---- */

static void test_contact_sheet_layout_and_pixels(void **state) {
    (void)state;
    sc_sheet_params p = sc_sheet_default_params();
    p.panel_w = 40;
    p.panel_h = 30;
    p.margin = 4;
    p.font_px = 10;
    sc_sheet_layout L;
    SC_TEST_OK(sc_contact_sheet_layout(5, &p, 1, &L));
    assert_int_equal(L.cols, 3);
    assert_int_equal(L.rows, 2);
    assert_int_equal(L.caption_h, sc_text_height(10) + 4);
    assert_int_equal(L.w, 4 + 3 * (40 + 4));
    assert_int_equal(L.h, 4 + 2 * (30 + L.caption_h + 4));
    SC_TEST_OK(sc_contact_sheet_layout(5, &p, 0, &L));
    assert_int_equal(L.caption_h, 0);
    assert_int_equal(L.h, 4 + 2 * (30 + 4));
    SC_TEST_OK(sc_contact_sheet_layout(4, &p, 0, &L));
    assert_int_equal(L.cols, 2);
    SC_TEST_OK(sc_contact_sheet_layout(10, &p, 0, &L));
    assert_int_equal(L.cols, 4);
    assert_int_equal(L.rows, 3);
    p.cols = 9; /* more columns than panels: clamped */
    SC_TEST_OK(sc_contact_sheet_layout(3, &p, 0, &L));
    assert_int_equal(L.cols, 3);
    assert_int_equal(L.rows, 1);
    p.cols = 2;

    /* Panels: 20x10 red (wide), 10x30 gray 0.25 (tall), 40x30 RGBA green. */
    sc_image pan[3];
    SC_TEST_OK(sc_image_alloc(&pan[0], 20, 10, 3));
    for (int i = 0; i < 200; i++) pan[0].data[i] = 1;
    SC_TEST_OK(sc_image_alloc(&pan[1], 10, 30, 1));
    fill_image(&pan[1], 0.25f);
    SC_TEST_OK(sc_image_alloc(&pan[2], 40, 30, 4));
    for (int i = 0; i < 1200; i++) pan[2].data[1200 + i] = 1, pan[2].data[3600 + i] = 0.3f;
    const char *caps[3] = {"red", NULL, "a caption far too long to fit under a forty pixel panel"};
    sc_image sheet;
    SC_TEST_OK(sc_contact_sheet(pan, caps, 3, &p, &sheet));
    SC_TEST_OK(sc_contact_sheet_layout(3, &p, 1, &L));
    assert_int_equal(sheet.w, L.w);
    assert_int_equal(sheet.h, L.h);
    assert_int_equal(sheet.c, 3);
    assert_int_equal(L.cols, 2);
    int ox[3], oy[3];
    for (int i = 0; i < 3; i++)
        SC_TEST_OK(sc_contact_sheet_panel_origin(&L, &p, i, &ox[i], &oy[i]));
    assert_int_equal(ox[1], 4 + 44);
    assert_int_equal(oy[2], 4 + 30 + L.caption_h + 4);
    /* Every pixel: inside a panel's image area it has the panel colour;
     * outside panels and captions it is background; captions only in their
     * strip, within the panel's width. */
    int caption_ink[3] = {0, 0, 0};
    for (int y = 0; y < sheet.h; y++)
        for (int x = 0; x < sheet.w; x++) {
            float r = at(&sheet, 0, x, y), g = at(&sheet, 1, x, y), b = at(&sheet, 2, x, y);
            int where = -1, in_cap = 0;
            for (int i = 0; i < 3; i++) {
                if (x >= ox[i] && x < ox[i] + 40 && y >= oy[i] && y < oy[i] + 30) where = i;
                if (x >= ox[i] && x < ox[i] + 40 && y >= oy[i] + 30 && y < oy[i] + 30 + L.caption_h)
                    where = i, in_cap = 1;
            }
            int bg = r == 1 && g == 1 && b == 1;
            if (where < 0) {
                if (!bg) fail_msg("sheet pixel (%d,%d) outside panels is not background", x, y);
                continue;
            }
            if (in_cap) {
                caption_ink[where] += !bg;
                continue;
            }
            int lx = x - ox[where], ly = y - oy[where];
            const float *want = NULL, bgc[3] = {1, 1, 1}, red[3] = {1, 0, 0},
                        gray[3] = {0.25f, 0.25f, 0.25f}, green[3] = {0, 1, 0};
            if (where == 0)
                want = ly >= 5 && ly < 25 ? red : bgc; /* 40x20, centred */
            else if (where == 1)
                want = lx >= 15 && lx < 25 ? gray : bgc; /* 10x30 */
            else
                want = green; /* fills the box */
            if (fabsf(r - want[0]) > 1e-6f || fabsf(g - want[1]) > 1e-6f ||
                fabsf(b - want[2]) > 1e-6f)
                fail_msg("panel %d pixel (%d,%d) is (%g,%g,%g)", where, lx, ly, (double)r,
                         (double)g, (double)b);
        }
    assert_true(caption_ink[0] > 10);    /* "red" */
    assert_int_equal(caption_ink[1], 0); /* no caption */
    assert_true(caption_ink[2] > 10);    /* truncated with an ellipsis, inside the panel width */
    sc_image_free(&sheet);
    /* Errors. */
    assert_int_equal(sc_contact_sheet(pan, caps, 0, &p, &sheet), SC_ERR_INVALID_ARG);
    p.panel_w = 0;
    assert_int_equal(sc_contact_sheet(pan, caps, 3, &p, &sheet), SC_ERR_INVALID_ARG);
    p.panel_w = 40;
    p.margin = 1 << 30;
    assert_int_equal(sc_contact_sheet(pan, NULL, 3, &p, &sheet), SC_ERR_INVALID_ARG);
    for (int i = 0; i < 3; i++) sc_image_free(&pan[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_concurrent_first_use),
        cmocka_unit_test(test_colormap_tables_match_matplotlib),
        cmocka_unit_test(test_colormap_index_and_lookup),
        cmocka_unit_test(test_resize_bilinear_matches_torch),
        cmocka_unit_test(test_gaussian_blur_matches_opencv),
        cmocka_unit_test(test_overlay_matches_numpy_exactly),
        cmocka_unit_test(test_overlay_pipeline_upsamples_and_smooths),
        cmocka_unit_test(test_colorize_constant_and_nan),
        cmocka_unit_test(test_text_stays_in_its_box),
        cmocka_unit_test(test_text_width_stable_and_kerned),
        cmocka_unit_test(test_text_invalid_utf8),
        cmocka_unit_test(test_text_clipped_at_every_edge),
        cmocka_unit_test(test_font_load_errors_and_override),
        cmocka_unit_test(test_rectangles),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_contact_sheet_layout_and_pixels),
    };
    return cmocka_run_group_tests(tests, setup_refs, teardown_refs);
}

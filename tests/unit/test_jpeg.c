/* The baseline JPEG encoder (sc_jpeg_encode) against stb_image_write's at the
 * same quality: a photo, its gray version, smooth and noisy images of odd
 * sizes (1x1, 7x13, 17x9, ...), qualities 1..100. Each file is decoded by stb
 * here and by OpenCV in tools/ref/ref_jpeg.py: the size and channels are
 * right, the PSNR against the source is at least stb's minus 0.5 dB, the size
 * is comparable, and the quantisation tables are libjpeg's. Bad arguments are
 * refused; sc_image_save_jpeg writes the same bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include "sc_test.h"
#include "saccade/sc_image.h"
#include "saccade/sc_rng.h"

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_tmpdir("jpeg");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sc_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

typedef struct u8img {
    int w, h, c;
    unsigned char *px; /* interleaved */
} u8img;

static double psnr(const unsigned char *a, const unsigned char *b, size_t n) {
    double se = 0;
    for (size_t i = 0; i < n; i++) se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * (double)n / se);
}

/* PSNR of a JPEG decoded by stb against src (channels as src). */
static double stb_psnr(const u8img *src, const unsigned char *jpg, size_t n, int *file_comp) {
    int w, h, comp;
    unsigned char *d = stbi_load_from_memory(jpg, (int)n, &w, &h, &comp, src->c);
    if (!d) fail_msg("stb cannot decode: %s", stbi_failure_reason());
    assert_int_equal(w, src->w);
    assert_int_equal(h, src->h);
    *file_comp = comp;
    double p = psnr(d, src->px, (size_t)w * h * src->c);
    stbi_image_free(d);
    return p;
}

typedef struct membuf {
    unsigned char *p;
    size_t n;
} membuf;

static void put(void *ctx, void *data, int size) {
    membuf *m = ctx;
    m->p = realloc(m->p, m->n + (size_t)size);
    assert_non_null(m->p);
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static void write_file(const char *name, const unsigned char *p, size_t n) {
    char *path = sc_test_join(g_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(path);
}

/* Encode src at quality q with both encoders, check them with stb's decoder
 * and leave the files (and a manifest line) for ref_jpeg.py. Returns our
 * PSNR. */
static double check_one(FILE *manifest, const char *name, const u8img *src, int q) {
    unsigned char *ours = NULL;
    size_t n = 0;
    SC_TEST_OK(
        sc_jpeg_encode(src->px, src->w, src->h, src->c, (size_t)src->w * src->c, q, &ours, &n));
    membuf stb = {0};
    assert_true(stbi_write_jpg_to_func(put, &stb, src->w, src->h, src->c, src->px, q));
    int comp_ours, comp_stb;
    double po = stb_psnr(src, ours, n, &comp_ours), ps = stb_psnr(src, stb.p, stb.n, &comp_stb);
    assert_int_equal(comp_ours, src->c == 1 ? 1 : 3);
    if (po < ps - 0.5)
        fail_msg("%s q%d: PSNR %.2f dB, stb's %.2f dB (decoded by stb)", name, q, po, ps);
    if ((double)n > 1.1 * (double)stb.n + 64)
        fail_msg("%s q%d: %zu bytes, stb's %zu", name, q, n, stb.n);
    char file[256];
    snprintf(file, sizeof file, "%s-%d.ours.jpg", name, q);
    write_file(file, ours, n);
    snprintf(file, sizeof file, "%s-%d.stb.jpg", name, q);
    write_file(file, stb.p, stb.n);
    fprintf(manifest, "%s %d %d\n", name, src->c, q);
    free(ours);
    free(stb.p);
    return po;
}

static void save_source(const char *name, const u8img *src) {
    char file[256];
    snprintf(file, sizeof file, "%s.png", name);
    char *path = sc_test_join(g_dir, file);
    assert_true(stbi_write_png(path, src->w, src->h, src->c, src->px, src->w * src->c));
    free(path);
}

/* Smooth colour ramps with a little noise, or uniform noise. */
static u8img synthetic(int w, int h, int c, int noisy, uint64_t seed) {
    u8img m = {w, h, c, malloc((size_t)w * h * c)};
    assert_non_null(m.px);
    sc_rng r;
    sc_rng_seed(&r, seed);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++) {
                double v =
                    noisy ? 255.0 * sc_rng_uniform(&r)
                          : 128 + 100 * sin(0.3 * x + 0.2 * y + k) + 8 * (sc_rng_uniform(&r) - 0.5);
                m.px[((size_t)y * w + x) * c + k] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return m;
}

static void test_against_stb_and_opencv(void **state) {
    (void)state;
    char *mpath = sc_test_join(g_dir, "manifest.txt");
    FILE *manifest = fopen(mpath, "w");
    assert_non_null(manifest);
    /* the photo, RGB and gray */
    char *photo = sc_test_source_path("assets/samples/chelsea.jpg");
    u8img rgb = {0}, gray = {0};
    rgb.px = stbi_load(photo, &rgb.w, &rgb.h, &rgb.c, 3);
    assert_non_null(rgb.px);
    rgb.c = 3;
    gray = rgb;
    gray.c = 1;
    gray.px = malloc((size_t)rgb.w * rgb.h);
    for (size_t i = 0; i < (size_t)rgb.w * rgb.h; i++)
        gray.px[i] = (unsigned char)(0.299 * rgb.px[3 * i] + 0.587 * rgb.px[3 * i + 1] +
                                     0.114 * rgb.px[3 * i + 2] + 0.5);
    save_source("photo", &rgb);
    save_source("photo_gray", &gray);
    static const int qs[] = {1, 2, 5, 10, 20, 35, 50, 65, 75, 80, 85, 90, 91, 95, 98, 100};
    double p[sizeof qs / sizeof *qs];
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        p[i] = check_one(manifest, "photo", &rgb, qs[i]);
        check_one(manifest, "photo_gray", &gray, qs[i]);
    }
    /* better with quality (not at every step: the photo was itself a JPEG,
     * so quality 90 nearly reproduces it) */
    assert_true(p[0] < p[6] - 5 && p[6] < p[15] - 5 && p[15] > 45);
    /* odd sizes, gray and colour, smooth and noisy */
    static const int sizes[][2] = {{1, 1}, {7, 13}, {17, 9}, {8, 8}, {33, 20}, {40, 24}};
    static const int qsmall[] = {1, 10, 50, 80, 90, 91, 100};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int c = 1; c <= 3; c += 2)
            for (int noisy = 0; noisy < 2; noisy++) {
                char name[64];
                snprintf(name, sizeof name, "%s%dx%d_c%d", noisy ? "noise" : "smooth", sizes[s][0],
                         sizes[s][1], c);
                u8img m = synthetic(sizes[s][0], sizes[s][1], c, noisy, 17 + s);
                save_source(name, &m);
                for (size_t i = 0; i < sizeof qsmall / sizeof *qsmall; i++)
                    check_one(manifest, name, &m, qsmall[i]);
                free(m.px);
            }
    assert_int_equal(fclose(manifest), 0);
    sc_test_python("ref_jpeg.py", "'%s'", g_dir);
    stbi_image_free(rgb.px);
    free(gray.px);
    free(photo);
    free(mpath);
}

/* An RGBA image encodes as its RGB; a stride past the row is honoured. */
static void test_alpha_and_stride(void **state) {
    (void)state;
    u8img a = synthetic(19, 11, 4, 0, 3), b = synthetic(19, 11, 3, 0, 3);
    for (int i = 0; i < 19 * 11; i++) memcpy(b.px + 3 * i, a.px + 4 * i, 3);
    const size_t stride = 19 * 3 + 5;
    unsigned char *padded = calloc(stride * 11, 1);
    for (int y = 0; y < 11; y++) memcpy(padded + y * stride, b.px + y * 19 * 3, 19 * 3);
    unsigned char *ja, *jb, *jc;
    size_t na, nb, nc;
    SC_TEST_OK(sc_jpeg_encode(a.px, 19, 11, 4, 19 * 4, 75, &ja, &na));
    SC_TEST_OK(sc_jpeg_encode(b.px, 19, 11, 3, 19 * 3, 75, &jb, &nb));
    SC_TEST_OK(sc_jpeg_encode(padded, 19, 11, 3, stride, 75, &jc, &nc));
    assert_int_equal(na, nb);
    assert_int_equal(nc, nb);
    assert_memory_equal(ja, jb, nb);
    assert_memory_equal(jc, jb, nb);
    /* sc_image_encode_jpeg: the same encoder from float planes */
    sc_image img;
    SC_TEST_OK(sc_image_alloc(&img, 19, 11, 3));
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 19 * 11; i++) img.data[k * 19 * 11 + i] = b.px[3 * i + k] / 255.0f;
    unsigned char *jd;
    size_t nd;
    SC_TEST_OK(sc_image_encode_jpeg(&img, 75, &jd, &nd));
    assert_int_equal(nd, nb);
    assert_memory_equal(jd, jb, nb);
    sc_image_free(&img);
    free(ja), free(jb), free(jc), free(jd), free(padded), free(a.px), free(b.px);
}

static void test_bad_arguments(void **state) {
    (void)state;
    unsigned char px[4 * 4 * 3] = {0}, *out = (unsigned char *)1;
    size_t n = 7;
    assert_int_equal(sc_jpeg_encode(NULL, 4, 4, 3, 12, 80, &out, &n), SC_ERR_INVALID_ARG);
    assert_null(out);
    assert_int_equal(n, 0);
    assert_int_equal(sc_jpeg_encode(px, 4, 4, 3, 12, 80, NULL, &n), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_jpeg_encode(px, 4, 4, 3, 12, 80, &out, NULL), SC_ERR_INVALID_ARG);
    const int bad[][5] = {/* w, h, c, stride, quality */
                          {0, 4, 3, 12, 80},        {4, 0, 3, 12, 80},    {-1, 4, 3, 12, 80},
                          {65536, 1, 1, 65536, 80}, {1, 65536, 1, 1, 80}, {4, 4, 2, 12, 80},
                          {4, 4, 0, 12, 80},        {4, 4, 5, 20, 80},    {4, 4, 3, 11, 80},
                          {4, 4, 3, 12, 0},         {4, 4, 3, 12, 101},   {4, 4, 3, 12, -5}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        out = (unsigned char *)1;
        assert_int_equal(sc_jpeg_encode(px, bad[i][0], bad[i][1], bad[i][2], (size_t)bad[i][3],
                                        bad[i][4], &out, &n),
                         SC_ERR_INVALID_ARG);
        assert_null(out);
        assert_true(strlen(sc_last_error()) > 10);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_stb_and_opencv),
        cmocka_unit_test(test_alpha_and_stride),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

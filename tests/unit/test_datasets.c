/* Fashion-MNIST reader: the real Debian files against numpy
 * (tools/ref/ref_fashion.py), and corrupt files made here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "sc_test.h"
#include "saccade/sc_datasets.h"

static char *g_ref; /* numpy reference folder */

static int setup(void **state) {
    (void)state;
    g_ref = sc_test_tmpdir("fashion_ref");
    sc_test_python("ref_fashion.py", "'%s' '%s'", g_ref, SC_FASHION_MNIST_DEFAULT_DIR);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sc_test_rmtree(g_ref);
    free(g_ref);
    return 0;
}

static void check_split_against_numpy(const char *split, size_t want_n) {
    sc_fashion_mnist d;
    SC_TEST_OK(sc_fashion_mnist_load(split, SC_FASHION_MNIST_DEFAULT_DIR, &d));
    assert_int_equal(d.n, want_n);
    assert_int_equal(d.rows, 28);
    assert_int_equal(d.cols, 28);
    char nm[64];
    /* Labels: counts and every value. */
    float counts[10] = {0};
    float *lab = malloc(d.n * sizeof(float));
    float *sums = malloc(d.n * sizeof(float));
    for (size_t i = 0; i < d.n; i++) {
        counts[d.labels[i]] += 1;
        lab[i] = d.labels[i];
        unsigned s = 0;
        for (int j = 0; j < 784; j++) s += d.images[i * 784 + j];
        sums[i] = (float)s;
    }
    snprintf(nm, sizeof nm, "%s_label_counts", split);
    sc_npy ref = sc_test_npy(g_ref, nm);
    sc_test_assert_close(nm, counts, ref.data, 10, 0, 0);
    sc_npy_free(&ref);
    snprintf(nm, sizeof nm, "%s_labels", split);
    ref = sc_test_npy(g_ref, nm);
    assert_int_equal(ref.count, d.n);
    sc_test_assert_close(nm, lab, ref.data, d.n, 0, 0);
    sc_npy_free(&ref);
    /* Every image's pixel sum, and a few whole images pixel by pixel. */
    snprintf(nm, sizeof nm, "%s_image_sums", split);
    ref = sc_test_npy(g_ref, nm);
    sc_test_assert_close(nm, sums, ref.data, d.n, 0, 0);
    sc_npy_free(&ref);
    float px[3 * 784];
    for (int j = 0; j < 3 * 784; j++) px[j] = d.images[j];
    snprintf(nm, sizeof nm, "%s_first", split);
    ref = sc_test_npy(g_ref, nm);
    sc_test_assert_close(nm, px, ref.data, 3 * 784, 0, 0);
    sc_npy_free(&ref);
    for (int j = 0; j < 784; j++) px[j] = d.images[(d.n - 1) * 784 + j];
    snprintf(nm, sizeof nm, "%s_last", split);
    ref = sc_test_npy(g_ref, nm);
    sc_test_assert_close(nm, px, ref.data, 784, 0, 0);
    sc_npy_free(&ref);
    free(lab);
    free(sums);
    sc_fashion_mnist_free(&d);
    assert_null(d.images);
}

static void test_real_data_matches_numpy(void **state) {
    (void)state;
    check_split_against_numpy("train", 60000);
    check_split_against_numpy("test", 10000);
    assert_string_equal(sc_fashion_mnist_class_name(0), "T-shirt/top");
    assert_string_equal(sc_fashion_mnist_class_name(9), "Ankle boot");
    assert_null(sc_fashion_mnist_class_name(10));
    assert_null(sc_fashion_mnist_class_name(-1));
}

/* ---- Synthetic files ---- */

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void write_gz(const char *path, const void *data, size_t len) {
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    if (len) assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void write_plain(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Image file: header claims `claimed` images of rows x cols, `present` are written. */
static void make_images(const char *path, uint32_t magic, uint32_t claimed, uint32_t rows,
                        uint32_t cols, size_t present, int gz) {
    size_t len = 16 + present * rows * cols;
    unsigned char *b = calloc(1, len);
    put_be32(b, magic);
    put_be32(b + 4, claimed);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    for (size_t i = 16; i < len; i++) b[i] = (unsigned char)(i * 7 + 3);
    if (gz)
        write_gz(path, b, len);
    else
        write_plain(path, b, len);
    free(b);
}

static void make_labels(const char *path, uint32_t claimed, size_t present, int bad_label) {
    size_t len = 8 + present;
    unsigned char *b = calloc(1, len);
    put_be32(b, 0x801);
    put_be32(b + 4, claimed);
    for (size_t i = 0; i < present; i++) b[8 + i] = (unsigned char)(i % 10);
    if (bad_label && present) b[8 + present - 1] = 10;
    write_gz(path, b, len);
    free(b);
}

static void expect_error(const char *img, const char *lab, sc_status want, const char *in_msg,
                         const char *in_msg2) {
    sc_fashion_mnist d;
    sc_status st = sc_fashion_mnist_load_files(img, lab, &d);
    if (st != want)
        fail_msg("loading %s / %s: got %s (%s), expected %s", img, lab, sc_status_name(st),
                 sc_last_error(), sc_status_name(want));
    const char *msg = sc_last_error();
    printf("[ error ] %s\n", msg);
    if (!strstr(msg, in_msg) || (in_msg2 && !strstr(msg, in_msg2)))
        fail_msg("error message '%s' lacks '%s' / '%s'", msg, in_msg, in_msg2 ? in_msg2 : "");
    assert_null(d.images);
    assert_null(d.labels);
    assert_int_equal(d.n, 0);
}

static void test_synthetic_files_load_and_env_override(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("fashion_ok");
    char *img = sc_test_join(dir, "train-images-idx3-ubyte.gz");
    char *lab = sc_test_join(dir, "train-labels-idx1-ubyte.gz");
    make_images(img, 0x803, 5, 28, 28, 5, 1);
    make_labels(lab, 5, 5, 0);
    sc_fashion_mnist d;
    SC_TEST_OK(sc_fashion_mnist_load_files(img, lab, &d));
    assert_int_equal(d.n, 5);
    assert_int_equal(d.images[0], (unsigned char)(16 * 7 + 3));
    assert_int_equal(d.images[5 * 784 - 1], (unsigned char)((16 + 5 * 784 - 1) * 7 + 3));
    assert_int_equal(d.labels[4], 4);
    sc_fashion_mnist_free(&d);
    /* Environment variable picks the folder when none is given... */
    setenv(SC_FASHION_MNIST_ENV, dir, 1);
    SC_TEST_OK(sc_fashion_mnist_load("train", NULL, &d));
    assert_int_equal(d.n, 5);
    sc_fashion_mnist_free(&d);
    /* ...an explicit folder wins over it... */
    SC_TEST_OK(sc_fashion_mnist_load("test", SC_FASHION_MNIST_DEFAULT_DIR, &d));
    assert_int_equal(d.n, 10000);
    sc_fashion_mnist_free(&d);
    /* ...and a folder without the files is an I/O error naming the file. */
    assert_int_equal(sc_fashion_mnist_load("test", NULL, &d), SC_ERR_IO);
    assert_non_null(strstr(sc_last_error(), "t10k-labels-idx1-ubyte.gz"));
    assert_non_null(strstr(sc_last_error(), SC_FASHION_MNIST_ENV));
    unsetenv(SC_FASHION_MNIST_ENV);
    assert_int_equal(sc_fashion_mnist_load("valid", NULL, &d), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "valid"));
    assert_int_equal(sc_fashion_mnist_load(NULL, NULL, &d), SC_ERR_INVALID_ARG);
    sc_test_rmtree(dir);
    free(img);
    free(lab);
    free(dir);
}

static void test_corrupt_files_give_clear_errors(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("fashion_bad");
    char *lab = sc_test_join(dir, "labels.gz");
    char *img = sc_test_join(dir, "images.gz");
    char *p = sc_test_join(dir, "bad.gz");
    make_labels(lab, 4, 4, 0);
    make_images(img, 0x803, 4, 28, 28, 4, 1);
    {
        sc_fashion_mnist d;
        SC_TEST_OK(sc_fashion_mnist_load_files(img, lab, &d));
        sc_fashion_mnist_free(&d);
    }
    /* Bad magic (labels file given as images and a wrong number). */
    make_images(p, 0x804, 4, 28, 28, 4, 1);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "bad magic 0x00000804");
    expect_error(lab, lab, SC_ERR_FORMAT, "labels.gz", "bad magic 0x00000801");
    expect_error(img, img, SC_ERR_FORMAT, "images.gz", "bad magic 0x00000803");
    /* Wrong image size. */
    make_images(p, 0x803, 4, 32, 32, 4, 1);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "32x32");
    /* IDX data shorter than the header says (valid gzip). */
    make_images(p, 0x803, 4, 28, 28, 3, 1);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "truncated");
    /* Trailing data. */
    make_images(p, 0x803, 3, 28, 28, 4, 1);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "trailing");
    /* Count mismatch between the files. */
    make_images(p, 0x803, 3, 28, 28, 3, 1);
    expect_error(p, lab, SC_ERR_FORMAT, "3 images", "4 labels");
    /* Hostile counts: over the cap, and under it but with no data (no huge allocation). */
    make_images(p, 0x803, 0x7fffffff, 28, 28, 1, 1);
    expect_error(p, lab, SC_ERR_LIMIT, "bad.gz", "limit");
    make_images(p, 0x803, 9999999, 28, 28, 1, 1);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "truncated");
    /* Label out of range. */
    make_labels(p, 4, 4, 1);
    expect_error(img, p, SC_ERR_FORMAT, "bad.gz", "outside 0..9");
    /* Not gzip, empty, missing. */
    make_images(p, 0x803, 4, 28, 28, 4, 0);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "not a gzip file");
    write_plain(p, "", 0);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "empty");
    write_gz(p, "", 0); /* valid gzip holding nothing */
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "truncated IDX header");
    char *missing = sc_test_join(dir, "missing.gz");
    expect_error(missing, lab, SC_ERR_IO, "missing.gz", "cannot open");
    free(missing);
    /* Truncated gzip stream (a real file cut in half) and a corrupted CRC. */
    unsigned char *buf;
    size_t len;
    SC_TEST_OK(sc_read_file(img, 1 << 20, &buf, &len));
    write_plain(p, buf, len / 2);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "gzip");
    buf[len - 6] ^= 0x55; /* inside the CRC-32 of the trailer */
    write_plain(p, buf, len);
    expect_error(p, lab, SC_ERR_FORMAT, "bad.gz", "corrupt");
    free(buf);
    assert_int_equal(sc_fashion_mnist_load_files(NULL, lab, &(sc_fashion_mnist){0}),
                     SC_ERR_INVALID_ARG);
    sc_test_rmtree(dir);
    free(p);
    free(img);
    free(lab);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_data_matches_numpy),
        cmocka_unit_test(test_synthetic_files_load_and_env_override),
        cmocka_unit_test(test_corrupt_files_give_clear_errors),
    };
    return cmocka_run_group_tests_name("datasets", tests, setup, teardown);
}

/* ResNet parity with torchvision (tools/ref/ref_resnet.py): seeded random
 * resnet18 / resnet50 / resnet101 with perturbed BatchNorm statistics and affine (so the
 * folding is really exercised), eval mode, converted by
 * tools/convert_torchvision.py; input skimage's astronaut at 1x3x256x256,
 * ImageNet-normalised. Layer4 features and logits must match within 1e-4
 * relative, plus an absolute floor of 1e-5 x the largest |value| (float32
 * sums over up to 4608 terms per conv, 50 layers deep), with both the plain
 * im2col path and Winograd. Also: clear errors for corrupt, misshaped,
 * incomplete, mislabelled and unsupported files; pre-folded weights used in
 * place from a file mapping give the same bits and are kept once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_resnet.h"

static char *g_dir;

static const char *refdir(void) {
    if (!g_dir) {
        g_dir = sc_test_tmpdir("resnet_parity");
        sc_test_python("ref_resnet.py", "'%s' resnet18 resnet50 resnet101", g_dir);
    }
    return g_dir;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

static void check_arch(const char *arch, int expect_c) {
    const char *dir = refdir();
    char name[64];
    snprintf(name, sizeof name, "%s.safetensors", arch);
    char *path = sc_test_join(dir, name);
    sc_npy x = sc_test_npy(dir, "input");
    snprintf(name, sizeof name, "%s_features", arch);
    sc_npy ef = sc_test_npy(dir, name);
    snprintf(name, sizeof name, "%s_logits", arch);
    sc_npy el = sc_test_npy(dir, name);
    for (int wino = 0; wino <= 1; wino++) {
        sc_resnet_params p = sc_resnet_default_params();
        p.include_head = 1;
        p.winograd = wino;
        sc_resnet *m = NULL;
        SC_TEST_OK(sc_resnet_load(path, &p, &m));
        sc_resnet_info info;
        SC_TEST_OK(sc_resnet_get_info(m, &info));
        assert_int_equal(info.arena_bytes, 0);
        assert_int_equal(info.feature_channels, expect_c);
        assert_int_equal(info.num_classes, 1000);
        int FH, FW;
        SC_TEST_OK(sc_resnet_feature_size(m, 256, 256, &FH, &FW));
        assert_int_equal(FH, 8);
        assert_int_equal(FW, 8);
        size_t nf = (size_t)expect_c * FH * FW;
        assert_int_equal(ef.count, nf);
        SC_TEST_OK(sc_resnet_plan(m, 1, 256, 256));
        SC_TEST_OK(sc_resnet_get_info(m, &info));
        assert_true(info.arena_bytes > 0);
        float *f = calloc(nf, sizeof(float)), *lg = calloc(1000, sizeof(float));
        assert_non_null(f);
        assert_non_null(lg);
        SC_TEST_OK(sc_resnet_forward(m, x.data, 1, 256, 256, f, lg));
        char what[96];
        snprintf(what, sizeof what, "%s features (winograd %d)", arch, wino);
        double rf = sc_test_assert_close(what, f, ef.data, nf, 1e-4, 1e-5 * max_abs(ef.data, nf));
        snprintf(what, sizeof what, "%s logits (winograd %d)", arch, wino);
        double rl =
            sc_test_assert_close(what, lg, el.data, 1000, 1e-4, 1e-5 * max_abs(el.data, 1000));
        double da = 0;
        for (size_t i = 0; i < nf; i++) da = fmax(da, fabs((double)f[i] - ef.data[i]));
        printf(
            "%s winograd %d: features max|ref| %.4g, max abs err %.3g (%.3g of max), max rel err "
            "(above atol) %.3g; logits max rel err %.3g; arena %zu bytes, weights %zu bytes\n",
            arch, wino, max_abs(ef.data, nf), da, da / max_abs(ef.data, nf), rf, rl,
            info.arena_bytes, info.weight_bytes);
        /* a second forward at the planned size gives the same result */
        float *f2 = calloc(nf, sizeof(float));
        assert_non_null(f2);
        SC_TEST_OK(sc_resnet_forward(m, x.data, 1, 256, 256, f2, NULL));
        assert_memory_equal(f, f2, nf * sizeof(float));
        free(f), free(f2), free(lg);
        sc_resnet_free(m);
    }
    sc_npy_free(&x), sc_npy_free(&ef), sc_npy_free(&el);
    free(path);
}

static void test_resnet18(void **state) {
    (void)state;
    check_arch("resnet18", 512);
}

static void test_resnet50(void **state) {
    (void)state;
    check_arch("resnet50", 2048);
}

static void test_resnet101(void **state) {
    (void)state;
    check_arch("resnet101", 2048);
}

/* Batch of 2 (second image flipped) and an odd size: each image of the batch
 * equals its own single-image forward; encoder-only load refuses logits. */
static void test_batch_and_sizes(void **state) {
    (void)state;
    char *path = sc_test_join(refdir(), "resnet18.safetensors");
    sc_resnet *m = NULL;
    SC_TEST_OK(sc_resnet_load(path, NULL, &m));
    const int H = 97, W = 131;
    int FH, FW;
    SC_TEST_OK(sc_resnet_feature_size(m, H, W, &FH, &FW));
    assert_int_equal(FH, 4);
    assert_int_equal(FW, 5);
    size_t in = (size_t)3 * H * W, nf = (size_t)512 * FH * FW;
    float *x = malloc(2 * in * sizeof(float)), *f = malloc(2 * nf * sizeof(float)),
          *g = malloc(nf * sizeof(float));
    assert_non_null(x), assert_non_null(f), assert_non_null(g);
    sc_test_fill_uniform(x, 2 * in, -2.0f, 2.0f, 7);
    SC_TEST_OK(sc_resnet_plan(m, 2, H, W));
    SC_TEST_OK(sc_resnet_forward(m, x, 2, H, W, f, NULL));
    SC_TEST_OK(sc_resnet_forward(m, x + in, 1, H, W, g, NULL));
    if (strcmp(sc_gemm_packed_kernel(), "openblas") != 0)
        assert_memory_equal(f + nf, g, nf * sizeof(float));
    else /* OpenBLAS (AVX2 CPUs) may split a product's sums by its width */
        sc_test_assert_close("second image of a batch", f + nf, g, nf, 1e-4, 1e-4);
    float lg[4];
    assert_int_equal(sc_resnet_forward(m, x, 1, H, W, NULL, lg), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "include_head"));
    assert_int_equal(sc_resnet_forward(m, x, 1, 0, 16, f, NULL), SC_ERR_INVALID_ARG);
    /* Winograd (default) against im2col at this size, and re-planning to
     * sizes that pick other tile sizes (F(4x4) / F(2x2) / none) and back. */
    sc_resnet_params p = sc_resnet_default_params();
    assert_int_equal(p.winograd, 1);
    p.winograd = 0;
    sc_resnet *plain = NULL;
    SC_TEST_OK(sc_resnet_load(path, &p, &plain));
    SC_TEST_OK(sc_resnet_forward(plain, x, 1, H, W, g, NULL));
    SC_TEST_OK(sc_resnet_forward(m, x, 1, H, W, f, NULL));
    double mx = 0;
    for (size_t i = 0; i < nf; i++) mx = fmax(mx, fabs(g[i]));
    sc_test_assert_close("winograd vs im2col at 97x131", f, g, nf, 1e-4, 1e-5 * mx);
    float *big = malloc((size_t)3 * 256 * 256 * sizeof(float)), *fb = malloc(512 * 64 * 4);
    assert_non_null(big), assert_non_null(fb);
    sc_test_fill_uniform(big, (size_t)3 * 256 * 256, -2.0f, 2.0f, 8);
    SC_TEST_OK(sc_resnet_forward(m, big, 1, 256, 256, fb, NULL));
    sc_resnet_info i1, i2;
    SC_TEST_OK(sc_resnet_get_info(m, &i1));
    SC_TEST_OK(sc_resnet_forward(m, x, 1, H, W, g, NULL));
    assert_memory_equal(f, g, nf * sizeof(float));
    SC_TEST_OK(sc_resnet_get_info(m, &i2));
    assert_true(i1.weight_bytes > i2.weight_bytes); /* more convs use Winograd at 256 */
    free(big), free(fb);
    sc_resnet_free(plain);
    free(x), free(f), free(g);
    sc_resnet_free(m);
    free(path);
}

/* The forward splits every conv between threads (src/par.c): 2 threads
 * twice give the same bits, and 1, 2 and 3 threads agree within float32
 * rounding, with Winograd F(4x4) and F(2x2) (resnet18 at 256x256, then
 * 97x131) and im2col. */
static void test_threads(void **state) {
    (void)state;
    char *path = sc_test_join(refdir(), "resnet18.safetensors");
    const int sizes[2][2] = {{256, 256}, {97, 131}};
    for (int wino = 0; wino <= 1; wino++)
        for (int k = 0; k < 2; k++) {
            const int H = sizes[k][0], W = sizes[k][1];
            const size_t in = (size_t)3 * H * W;
            float *x = malloc(in * sizeof(float)), *f[4] = {0};
            assert_non_null(x);
            sc_test_fill_uniform(x, in, -2.0f, 2.0f, 11);
            size_t nf = 0;
            const int threads[4] = {1, 2, 3, 2};
            for (int t = 0; t < 4; t++) {
                sc_resnet_params p = sc_resnet_default_params();
                p.winograd = wino;
                p.threads = threads[t];
                sc_resnet *m = NULL;
                SC_TEST_OK(sc_resnet_load(path, &p, &m));
                assert_int_equal(sc_get_num_threads(), threads[t]);
                int FH, FW;
                SC_TEST_OK(sc_resnet_feature_size(m, H, W, &FH, &FW));
                nf = (size_t)512 * FH * FW;
                f[t] = malloc(nf * sizeof(float));
                assert_non_null(f[t]);
                SC_TEST_OK(sc_resnet_forward(m, x, 1, H, W, f[t], NULL));
                sc_resnet_free(m);
            }
            /* same thread count: same bits; other counts: the products are
             * split differently (OpenBLAS's edge kernels may round
             * differently), so close but not necessarily equal */
            assert_memory_equal(f[1], f[3], nf * sizeof(float));
            double mx = 0;
            for (size_t i = 0; i < nf; i++) mx = fmax(mx, fabs(f[0][i]));
            for (int t = 1; t < 3; t++) {
                char what[80];
                snprintf(what, sizeof what, "winograd %d %dx%d: %d threads vs 1", wino, H, W,
                         threads[t]);
                sc_test_assert_close(what, f[t], f[0], nf, 1e-5, 1e-6 * mx);
            }
            for (int t = 0; t < 4; t++) free(f[t]);
            free(x);
        }
    SC_TEST_OK(sc_set_num_threads(0));
    free(path);
}

/* A batch on 2 threads runs each image on a thread of its own: every
 * image's features are the bits of that image alone on 1 thread (whose
 * forward the tests above hold against PyTorch), whichever thread took it,
 * with Winograd and im2col, for batches of 2 and 5 (more images than
 * threads: the threads take the next image left). */
static void test_batch_threads(void **state) {
    (void)state;
    char *path = sc_test_join(refdir(), "resnet18.safetensors");
    const int H = 97, W = 131, N = 5;
    const size_t in = (size_t)3 * H * W;
    float *x = malloc(N * in * sizeof(float));
    assert_non_null(x);
    sc_test_fill_uniform(x, N * in, -2.0f, 2.0f, 12);
    for (int wino = 0; wino <= 1; wino++) {
        sc_resnet_params p = sc_resnet_default_params();
        p.winograd = wino;
        p.threads = 1;
        sc_resnet *one = NULL, *two = NULL;
        SC_TEST_OK(sc_resnet_load(path, &p, &one));
        int FH, FW;
        SC_TEST_OK(sc_resnet_feature_size(one, H, W, &FH, &FW));
        const size_t nf = (size_t)512 * FH * FW;
        float *ref = malloc(N * nf * sizeof(float)), *f = malloc(N * nf * sizeof(float));
        assert_non_null(ref);
        assert_non_null(f);
        for (int n = 0; n < N; n++)
            SC_TEST_OK(sc_resnet_forward(one, x + n * in, 1, H, W, ref + n * nf, NULL));
        p.threads = 2;
        SC_TEST_OK(sc_resnet_load(path, &p, &two));
        for (int b = 2; b <= N; b += 3) {
            memset(f, 0, N * nf * sizeof(float));
            SC_TEST_OK(sc_resnet_forward(two, x, b, H, W, f, NULL));
            assert_memory_equal(f, ref, b * nf * sizeof(float));
        }
        sc_resnet_free(one);
        sc_resnet_free(two);
        free(ref), free(f);
    }
    SC_TEST_OK(sc_set_num_threads(0));
    free(x);
    free(path);
}

/* resnet18.safetensors with every BatchNorm folded into its conv (a conv
 * bias), the tensors under prefix "encoder." and no fc: the pre-folded
 * layout of convert_sat.py --fold-bn that a captioner file holds. */
static void write_prefolded(const char *out) {
    char *src = sc_test_join(refdir(), "resnet18.safetensors");
    sc_safetensors *st = NULL;
    SC_TEST_OK(sc_safetensors_open(src, &st));
    sc_st_writer *w = sc_st_writer_new();
    assert_non_null(w);
    size_t n = sc_safetensors_count(st);
    float **keep = calloc(2 * n, sizeof(float *));
    assert_non_null(keep);
    for (size_t i = 0; i < n; i++) {
        sc_st_tensor_info ti;
        SC_TEST_OK(sc_safetensors_info(st, i, &ti));
        if (ti.ndim != 4) continue; /* BN tensors are folded below, fc dropped */
        char bn[128], nm[160];
        const size_t len = strlen(ti.name) - strlen(".weight");
        snprintf(bn, sizeof bn, "%.*s", (int)len, ti.name);
        char *last = strrchr(bn, '.');
        last = last ? last + 1 : bn;
        if (!strncmp(last, "conv", 4))
            memmove(last + 2, last + 4, strlen(last + 4) + 1), memcpy(last, "bn", 2);
        else
            *last = '1'; /* downsample.0 -> downsample.1 */
        const float *d, *g, *be, *mu, *var;
        SC_TEST_OK(sc_safetensors_get_f32_at(st, i, &d));
        snprintf(nm, sizeof nm, "%s.weight", bn);
        SC_TEST_OK(sc_safetensors_get_f32(st, nm, 1, NULL, &g));
        snprintf(nm, sizeof nm, "%s.bias", bn);
        SC_TEST_OK(sc_safetensors_get_f32(st, nm, 1, NULL, &be));
        snprintf(nm, sizeof nm, "%s.running_mean", bn);
        SC_TEST_OK(sc_safetensors_get_f32(st, nm, 1, NULL, &mu));
        snprintf(nm, sizeof nm, "%s.running_var", bn);
        SC_TEST_OK(sc_safetensors_get_f32(st, nm, 1, NULL, &var));
        const int OC = (int)ti.shape[0], per = (int)(ti.numel / (size_t)OC);
        float *fw = keep[2 * i] = malloc(ti.numel * sizeof(float));
        float *fb = keep[2 * i + 1] = calloc((size_t)OC, sizeof(float));
        assert_non_null(fw);
        assert_non_null(fb);
        memcpy(fw, d, ti.numel * sizeof(float));
        SC_TEST_OK(sc_batchnorm2d_fold_into_conv(fw, fb, OC, per, g, be, mu, var, 1e-5f));
        const int64_t bshape[1] = {OC};
        snprintf(nm, sizeof nm, "encoder.%s", ti.name);
        SC_TEST_OK(sc_st_writer_add_f32(w, nm, fw, 4, ti.shape, SC_ST_F32));
        snprintf(nm, sizeof nm, "encoder.%.*s.bias", (int)len, ti.name);
        SC_TEST_OK(sc_st_writer_add_f32(w, nm, fb, 1, bshape, SC_ST_F32));
    }
    SC_TEST_OK(sc_st_writer_write(w, out));
    sc_st_writer_free(w);
    for (size_t i = 0; i < 2 * n; i++) free(keep[i]);
    free(keep);
    sc_safetensors_free(st);
    free(src);
}

static float *features(sc_resnet *m, const float *x, int H, int W, size_t *nf) {
    int FH, FW;
    SC_TEST_OK(sc_resnet_feature_size(m, H, W, &FH, &FW));
    *nf = (size_t)512 * FH * FW;
    float *f = calloc(*nf, sizeof(float));
    assert_non_null(f);
    SC_TEST_OK(sc_resnet_forward(m, x, 1, H, W, f, NULL));
    return f;
}

/* Pre-folded convs used in place from the mapping (borrow_weights) give the
 * same bits as the weights folded at load, at every planned size, while the
 * plain weights of the packed convs leave the process's memory: each conv's
 * weights are kept once, packed. */
static void test_borrowed_weights_kept_once(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("resnet_borrow");
    char *path = sc_test_join(dir, "prefolded.safetensors");
    write_prefolded(path);
    char *plain = sc_test_join(refdir(), "resnet18.safetensors");
    const int sizes[3][2] = {{256, 256}, {97, 131}, {256, 256}};
    float *x = malloc((size_t)3 * 256 * 256 * sizeof(float));
    assert_non_null(x);
    sc_test_fill_uniform(x, (size_t)3 * 256 * 256, -2.0f, 2.0f, 21);
    for (int wino = 0; wino <= 1; wino++) {
        sc_resnet_params p = sc_resnet_default_params();
        p.winograd = wino;
        sc_resnet *ref = NULL, *m = NULL;
        SC_TEST_OK(sc_resnet_load(plain, &p, &ref));
        sc_safetensors *st = NULL;
        SC_TEST_OK(sc_safetensors_open(path, &st));
        p.borrow_weights = 1;
        SC_TEST_OK(sc_resnet_load_st(st, "encoder.", &p, &m));
        const float *w0;
        SC_TEST_OK(sc_safetensors_get_f32(st, "encoder.layer1.0.conv1.weight", 4, NULL, &w0));
        for (int k = 0; k < 3; k++) {
            const int H = sizes[k][0], W = sizes[k][1];
            SC_TEST_OK(sc_resnet_plan(ref, 1, H, W));
            SC_TEST_OK(sc_resnet_plan(m, 1, H, W));
            /* the file holds 44.7 MB of folded weights */
            const long rss = sc_test_mapping_rss_kb(w0);
            print_message("winograd %d, %dx%d: %ld KiB of the mapping resident after planning\n",
                          wino, H, W, rss);
            assert_true(rss < 4096); /* biases and the pages around them */
            size_t nf, nr;
            float *f = features(m, x, H, W, &nf), *fr = features(ref, x, H, W, &nr);
            assert_int_equal(nf, nr);
            assert_memory_equal(f, fr, nf * sizeof(float));
            free(f), free(fr);
        }
        sc_resnet_free(m);
        sc_resnet_free(ref);
        sc_safetensors_free(st);
    }
    free(x);
    free(plain);
    free(path);
    sc_test_rmtree(dir);
    free(dir);
}

/* Copy resnet18.safetensors to `out`, replacing tensor `replace` (if not
 * NULL) by `rdata` of shape rshape (NULL rdata: drop it), adding `extra`,
 * and setting saccade.config to `config` (NULL: no config). */
static void rewrite(const char *out, const char *replace, int rnd, const int64_t *rshape, int drop,
                    const char *extra, const char *config) {
    char *src = sc_test_join(refdir(), "resnet18.safetensors");
    sc_safetensors *st = NULL;
    SC_TEST_OK(sc_safetensors_open(src, &st));
    sc_st_writer *w = sc_st_writer_new();
    assert_non_null(w);
    static float junk[64 * 64 * 9];
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) junk[i] = 0.5f;
    for (size_t i = 0; i < sc_safetensors_count(st); i++) {
        sc_st_tensor_info ti;
        const float *d;
        SC_TEST_OK(sc_safetensors_info(st, i, &ti));
        SC_TEST_OK(sc_safetensors_get_f32_at(st, i, &d));
        if (replace && !strcmp(ti.name, replace)) {
            if (!drop) SC_TEST_OK(sc_st_writer_add_f32(w, ti.name, junk, rnd, rshape, SC_ST_F32));
            continue;
        }
        SC_TEST_OK(sc_st_writer_add_f32(w, ti.name, d, ti.ndim, ti.shape, SC_ST_F32));
    }
    if (extra) {
        int64_t s1[1] = {8};
        SC_TEST_OK(sc_st_writer_add_f32(w, extra, junk, 1, s1, SC_ST_F32));
    }
    if (config) SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.config", config));
    SC_TEST_OK(sc_st_writer_write(w, out));
    sc_st_writer_free(w);
    sc_safetensors_free(st);
    free(src);
}

static void expect_fail(const char *path, sc_status code, const char *needle) {
    sc_resnet *m = (sc_resnet *)1;
    sc_status s = sc_resnet_load(path, NULL, &m);
    if (s != code || !strstr(sc_last_error(), needle))
        fail_msg("%s: expected %s mentioning '%s', got %s: %s", path, sc_status_name(code), needle,
                 sc_status_name(s), sc_last_error());
    assert_null(m);
}

static void test_errors(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("resnet_errors");
    char *p = sc_test_join(dir, "bad.safetensors");
    const char *r18 = "{\"arch\": \"resnet18\"}";
    int64_t s_conv[4] = {64, 3, 3, 3}, s_bn[1] = {32};
    rewrite(p, "conv1.weight", 4, s_conv, 0, NULL, r18);
    expect_fail(p, SC_ERR_SHAPE, "conv1.weight");
    rewrite(p, "layer2.0.bn1.running_var", 1, s_bn, 0, NULL, r18);
    expect_fail(p, SC_ERR_SHAPE, "layer2.0.bn1.running_var");
    rewrite(p, "layer3.1.downsample.0.weight", 0, NULL, 1, NULL, r18); /* absent anyway */
    rewrite(p, "layer3.0.downsample.1.running_mean", 0, NULL, 1, NULL, r18);
    expect_fail(p, SC_ERR_FORMAT, "layer3.0.downsample.1.running_mean");
    rewrite(p, NULL, 0, NULL, 0, "layer4.2.conv1.weight", r18);
    expect_fail(p, SC_ERR_FORMAT, "layer4.2.conv1.weight");
    rewrite(p, NULL, 0, NULL, 0, NULL, "{\"arch\": \"resnet34\"}");
    expect_fail(p, SC_ERR_FORMAT, "layer1.2.conv1.weight");
    rewrite(p, NULL, 0, NULL, 0, NULL, "{\"arch\": \"resnet50\"}");
    expect_fail(p, SC_ERR_SHAPE, "layer1.0.conv1.weight");
    rewrite(p, NULL, 0, NULL, 0, NULL, "{\"arch\": \"vgg16\"}");
    expect_fail(p, SC_ERR_UNSUPPORTED, "vgg16");
    rewrite(p, NULL, 0, NULL, 0, NULL, "{\"arch\": 18}");
    expect_fail(p, SC_ERR_FORMAT, "arch");
    rewrite(p, NULL, 0, NULL, 0, NULL, "not json");
    expect_fail(p, SC_ERR_FORMAT, "saccade.config");
    rewrite(p, NULL, 0, NULL, 0, NULL, NULL);
    expect_fail(p, SC_ERR_FORMAT, "saccade.config");
    /* head requested but the file has none */
    rewrite(p, "fc.weight", 0, NULL, 1, NULL, r18);
    {
        sc_resnet_params prm = sc_resnet_default_params();
        prm.include_head = 1;
        sc_resnet *m = NULL;
        assert_int_equal(sc_resnet_load(p, &prm, &m), SC_ERR_FORMAT);
        assert_non_null(strstr(sc_last_error(), "fc.weight"));
        prm.include_head = 0; /* fc.bias alone is tolerated without the head */
        SC_TEST_OK(sc_resnet_load(p, &prm, &m));
        sc_resnet_free(m);
    }
    /* truncated file */
    char *good = sc_test_join(refdir(), "resnet18.safetensors");
    assert_int_equal(sc_test_system("head -c 1000000 '%s' > '%s'", good, p), 0);
    expect_fail(p, SC_ERR_FORMAT, "bad.safetensors");
    expect_fail("/nonexistent/x.safetensors", SC_ERR_IO, "/nonexistent/x.safetensors");
    free(good);
    free(p);
    sc_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resnet18),      cmocka_unit_test(test_resnet50),
        cmocka_unit_test(test_resnet101),     cmocka_unit_test(test_batch_and_sizes),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_batch_threads), cmocka_unit_test(test_borrowed_weights_kept_once),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    if (g_dir) {
        sc_test_rmtree(g_dir);
        free(g_dir);
    }
    return r;
}

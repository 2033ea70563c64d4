/* Spatial transformer: gradchecks, identity init, constrained theta, glimpse,
 * corners; distorted Fashion-MNIST generator: determinism, split separation,
 * ground-truth theta. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_datasets.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_stn.h"

/* ---------------------------------------------------------------- theta */

static void test_theta_parametrisation(void **state) {
    (void)state;
    assert_int_equal(sc_stn_num_params(SC_STN_AFFINE), 6);
    assert_int_equal(sc_stn_num_params(SC_STN_TRANS_SCALE), 3);
    float p[6] = {0.5f, 0.25f, -0.75f, 2.0f, -1.0f, 0.125f}, th[12];
    SC_TEST_OK(sc_stn_theta_forward(SC_STN_TRANS_SCALE, 1.0f, p, 2, th));
    const float want[12] = {0.5f, 0, 0.25f, 0, 0.5f, -0.75f, 2.0f, 0, -1.0f, 0, 2.0f, 0.125f};
    assert_memory_equal(th, want, sizeof want);
    float dth[12], dp[6] = {0};
    for (int i = 0; i < 12; i++) dth[i] = (float)(i + 1);
    SC_TEST_OK(sc_stn_theta_backward(SC_STN_TRANS_SCALE, dth, 2, dp));
    /* ds = dtheta[0] + dtheta[4], dtx = dtheta[2], dty = dtheta[5] */
    const float wdp[6] = {1 + 5, 3, 6, 7 + 11, 9, 12};
    assert_memory_equal(dp, wdp, sizeof wdp);
    SC_TEST_OK(sc_stn_theta_forward(SC_STN_AFFINE, 1.0f, p, 1, th));
    assert_memory_equal(th, p, 6 * sizeof(float));
    /* similarity: p = (a, b, tx, ty) -> [a -b tx; b a ty] */
    assert_int_equal(sc_stn_num_params(SC_STN_SIMILARITY), 4);
    SC_TEST_OK(sc_stn_theta_forward(SC_STN_SIMILARITY, 1.0f, p, 1, th));
    const float wsim[6] = {0.5f, -0.25f, -0.75f, 0.25f, 0.5f, 2.0f};
    assert_memory_equal(th, wsim, sizeof wsim);
    float dq[4] = {0};
    SC_TEST_OK(sc_stn_theta_backward(SC_STN_SIMILARITY, dth, 1, dq));
    const float wdq[4] = {1 + 5, 4 - 2, 3, 6}; /* da = d0 + d4, db = d3 - d1 */
    assert_memory_equal(dq, wdq, sizeof wdq);
    /* translation: p = (tx, ty) -> [z 0 tx; 0 z ty], z fixed (the trans_scale
     * parameters above would give a different theta) */
    assert_int_equal(sc_stn_num_params(SC_STN_TRANSLATION), 2);
    SC_TEST_OK(sc_stn_theta_forward(SC_STN_TRANSLATION, 0.6f, p, 2, th));
    const float wtr[12] = {0.6f, 0, 0.5f, 0, 0.6f, 0.25f, 0.6f, 0, -0.75f, 0, 0.6f, 2.0f};
    assert_memory_equal(th, wtr, sizeof wtr);
    float dt[4] = {0};
    SC_TEST_OK(sc_stn_theta_backward(SC_STN_TRANSLATION, dth, 2, dt));
    const float wdt[4] = {3, 6, 9, 12}; /* the zoom takes no gradient */
    assert_memory_equal(dt, wdt, sizeof wdt);
    sc_stn_transform tt;
    for (int t = 0; t < 4; t++) {
        SC_TEST_OK(sc_stn_transform_from_name(sc_stn_transform_name((sc_stn_transform)t), &tt));
        assert_int_equal(tt, t);
    }
    assert_int_equal(sc_stn_transform_from_name("shear", &tt), SC_ERR_INVALID_ARG);
    assert_null(sc_stn_transform_name((sc_stn_transform)9));
    assert_int_equal(sc_stn_theta_forward((sc_stn_transform)7, 1.0f, p, 1, th), SC_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------- module */

static sc_stn_config small_config(int use_cnn, sc_stn_transform t, int hidden) {
    sc_stn_config c = sc_stn_default_config(12);
    c.in_c = 2;
    c.in_h = 12, c.in_w = 10;
    c.out_h = 7, c.out_w = 6;
    c.transform = t;
    c.hidden = hidden;
    c.use_cnn = use_cnn;
    int ch[2] = {3, 4};
    c.loc_cnn = sc_cnn_config_make(2, 2, ch);
    c.loc_cnn.stride[0] = 2; /* no max pool: fewer kinks for finite differences */
    return c;
}

/* variant 0: affine + CNN, 1: affine MLP, 2: trans_scale, 3: similarity */
static sc_stn_transform variant_transform(int variant) {
    return variant == 2 ? SC_STN_TRANS_SCALE : variant == 3 ? SC_STN_SIMILARITY : SC_STN_AFFINE;
}

static void test_identity_init_returns_input(void **state) {
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        sc_stn_config c =
            small_config(variant != 1, variant_transform(variant), variant == 1 ? 0 : 5);
        c.out_h = c.in_h, c.out_w = c.in_w; /* same size: identity is exact */
        sc_rng r;
        sc_rng_seed(&r, 3);
        sc_stn *m;
        SC_TEST_OK(sc_stn_create(&c, &r, &m));
        enum { N = 3 };
        float x[N * 2 * 12 * 10];
        sc_test_fill_uniform(x, sizeof x / sizeof *x, 0, 1, 11 + variant);
        const float *g, *th;
        SC_TEST_OK(sc_stn_forward(m, x, N, 1, &g, &th));
        for (int n = 0; n < N; n++) {
            const float id[6] = {1, 0, 0, 0, 1, 0};
            assert_memory_equal(th + 6 * n, id, sizeof id);
        }
        sc_test_assert_close("identity glimpse", g, x, sizeof x / sizeof *x, 0, 1e-6);
        /* zero fc2 weights: only the bias of fc2 (and the sampler) get
         * gradient, loc-net weights get none yet */
        float dg[N * 2 * 12 * 10];
        sc_test_fill_uniform(dg, sizeof dg / sizeof *dg, -1, 1, 5);
        SC_TEST_OK(sc_stn_backward(m, dg, NULL));
        const sc_param *ps;
        size_t np;
        sc_stn_params(m, &ps, &np);
        const sc_param *b2 = &ps[np - 1], *w2 = &ps[np - 2];
        assert_string_equal(b2->name, "stn.fc2.bias");
        assert_string_equal(w2->name, "stn.fc2.weight");
        double nb = 0;
        for (size_t i = 0; i < b2->n; i++) nb += fabs(b2->grad[i]);
        assert_true(nb > 1e-3);
        for (size_t i = 0; i + 2 < np; i++)
            for (size_t k = 0; k < ps[i].n; k++) assert_true(ps[i].grad[k] == 0.0f);
        sc_stn_free(m);
    }
}

typedef struct {
    sc_stn *m;
    float *x, *r;
    int N;
    size_t nout;
} stn_case;

static double stn_loss(void *ctx) {
    stn_case *k = ctx;
    const float *g;
    if (sc_stn_forward(k->m, k->x, k->N, 1, &g, NULL)) fail_msg("%s", sc_last_error());
    double s = 0;
    for (size_t i = 0; i < k->nout; i++) s += (double)g[i] * k->r[i];
    return s;
}

static void test_stn_gradcheck(void **state) {
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        sc_stn_config c =
            small_config(variant != 1, variant_transform(variant), variant == 1 ? 0 : 5);
        sc_rng rg;
        sc_rng_seed(&rg, 21 + variant);
        stn_case k = {.N = 2};
        SC_TEST_OK(sc_stn_create(&c, &rg, &k.m));
        size_t nin = (size_t)k.N * 2 * 12 * 10;
        k.nout = (size_t)k.N * 2 * 7 * 6;
        k.x = malloc(nin * sizeof(float));
        k.r = malloc(k.nout * sizeof(float));
        float *dx = calloc(nin, sizeof(float));
        /* a smooth input: the bilinear sampler's grid gradient then barely
         * jumps where a finite-difference step crosses a pixel boundary */
        for (size_t i = 0; i < nin; i++) {
            int xx = (int)(i % 10), yy = (int)(i / 10 % 12), cc = (int)(i / 120);
            k.x[i] = 0.5f + 0.4f * sinf(0.6f * yy + 0.9f * cc + 0.2f * xx) * cosf(0.45f * xx);
        }
        sc_test_fill_uniform(k.r, k.nout, -1, 1, 32);
        const sc_param *ps;
        size_t np;
        sc_stn_params(k.m, &ps, &np);
        /* move away from the identity so that every path carries gradient */
        float bw = 0.5f / sqrtf((float)ps[np - 2].shape[1]);
        sc_test_fill_uniform(ps[np - 2].param, ps[np - 2].n, -bw, bw, 33);
        float jit[6];
        sc_test_fill_uniform(jit, 6, -0.2f, 0.2f, 34);
        for (size_t i = 0; i < ps[np - 1].n; i++) ps[np - 1].param[i] += jit[i];
        for (size_t i = 0; i < np; i++) memset(ps[i].grad, 0, ps[i].n * sizeof(float));
        stn_loss(&k);
        SC_TEST_OK(sc_stn_backward(k.m, k.r, dx));
        char what[96];
        for (size_t i = 0; i < np; i++) {
            /* copy: the module's grad buffers are not touched by forward */
            float *g = malloc(ps[i].n * sizeof(float));
            memcpy(g, ps[i].grad, ps[i].n * sizeof(float));
            double norm = 0;
            for (size_t e = 0; e < ps[i].n; e++) norm += fabs(g[e]);
            snprintf(what, sizeof what, "variant %d %s", variant, ps[i].name);
            if (strstr(ps[i].name, ".bn.bias") == NULL || norm > 0) assert_true(norm > 1e-6);
            sc_test_gradcheck(what, stn_loss, &k, ps[i].param, g, ps[i].n, 24, 1e-3, 3e-2, 2e-3);
            free(g);
        }
        snprintf(what, sizeof what, "variant %d input", variant);
        sc_test_gradcheck(what, stn_loss, &k, k.x, dx, nin, 40, 1e-3, 3e-2, 2e-3);
        sc_stn_free(k.m);
        free(k.x);
        free(k.r);
        free(dx);
    }
}

static void test_config_json_and_errors(void **state) {
    (void)state;
    sc_stn_config c = sc_stn_default_config(60);
    c.transform = SC_STN_TRANS_SCALE;
    char *j = sc_stn_config_to_json(&c);
    assert_non_null(j);
    sc_stn_config d;
    SC_TEST_OK(sc_stn_config_from_json(j, &d));
    assert_int_equal(d.in_h, 60);
    assert_int_equal(d.transform, SC_STN_TRANS_SCALE);
    assert_int_equal(d.use_cnn, 1);
    assert_int_equal(d.loc_cnn.nstages, 3);
    assert_int_equal(d.hidden, 32);
    free(j);
    c.transform = SC_STN_SIMILARITY;
    j = sc_stn_config_to_json(&c);
    assert_non_null(strstr(j, "\"similarity\""));
    SC_TEST_OK(sc_stn_config_from_json(j, &d));
    assert_int_equal(d.transform, SC_STN_SIMILARITY);
    assert_null(strstr(j, "zoom")); /* only translation has one */
    free(j);
    c.transform = SC_STN_TRANSLATION;
    c.zoom = 0.6f;
    j = sc_stn_config_to_json(&c);
    assert_non_null(strstr(j, "\"translation\""));
    SC_TEST_OK(sc_stn_config_from_json(j, &d));
    assert_int_equal(d.transform, SC_STN_TRANSLATION);
    assert_true(d.zoom == 0.6f);
    free(j);
    c.zoom = 0.0f;
    assert_int_equal(sc_stn_config_validate(&c), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "zoom"));
    /* translation needs its zoom; the other transforms take none */
    assert_int_equal(sc_stn_config_from_json("{\"input\": [1,8,8], \"output\": [4,4], "
                                             "\"transform\": \"translation\", \"loc_cnn\": "
                                             "null, \"hidden\": 3}",
                                             &d),
                     SC_ERR_FORMAT);
    assert_int_equal(sc_stn_config_from_json("{\"input\": [1,8,8], \"output\": [4,4], "
                                             "\"transform\": \"affine\", \"loc_cnn\": null, "
                                             "\"hidden\": 3, \"zoom\": 0.5}",
                                             &d),
                     SC_ERR_FORMAT);
    assert_int_equal(sc_stn_config_from_json("{\"input\": [1, 4, 4]}", &d), SC_ERR_FORMAT);
    /* integers beyond int are refused before any conversion */
    assert_int_equal(sc_stn_config_from_json("{\"input\": [1,8,6.9e77], \"output\": [4,4], "
                                             "\"transform\": \"affine\", \"loc_cnn\": null, "
                                             "\"hidden\": 3}",
                                             &d),
                     SC_ERR_FORMAT);
    assert_int_equal(sc_stn_config_from_json("{\"input\": [1,8,8], \"output\": [4,4], "
                                             "\"transform\": \"affine\", \"loc_cnn\": null, "
                                             "\"hidden\": 3e9}",
                                             &d),
                     SC_ERR_FORMAT);
    assert_int_equal(sc_stn_config_from_json("{\"input\": [1,8,8], \"output\": [4,4], "
                                             "\"transform\": \"affine\", \"loc_cnn\": null, "
                                             "\"hidden\": 3, \"extra\": 1}",
                                             &d),
                     SC_ERR_FORMAT);
    SC_TEST_OK(sc_stn_config_from_json("{\"input\": [1,8,8], \"output\": [4,4], \"transform\": "
                                       "\"affine\", \"loc_cnn\": null, \"hidden\": 3}",
                                       &d));
    assert_int_equal(d.use_cnn, 0);
    c.out_h = 0;
    assert_int_equal(sc_stn_config_validate(&c), SC_ERR_INVALID_ARG);
    c = sc_stn_default_config(60);
    c.in_c = 3; /* loc cnn takes 1 channel */
    assert_int_equal(sc_stn_config_validate(&c), SC_ERR_INVALID_ARG);
    sc_stn *m;
    sc_rng r;
    sc_rng_seed(&r, 1);
    assert_int_equal(sc_stn_create(&c, &r, &m), SC_ERR_INVALID_ARG);
    c = sc_stn_default_config(60);
    SC_TEST_OK(sc_stn_create(&c, &r, &m));
    float dg[4] = {0};
    assert_int_equal(sc_stn_backward(m, dg, NULL), SC_ERR_INVALID_ARG); /* no forward yet */
    sc_stn_free(m);
}

/* ---------------------------------------------------------------- glimpse */

static void test_glimpse_and_corners(void **state) {
    (void)state;
    sc_image img;
    SC_TEST_OK(sc_image_alloc(&img, 8, 6, 3));
    sc_test_fill_uniform(img.data, 8 * 6 * 3, 0, 1, 9);
    sc_image g;
    const float id[6] = {1, 0, 0, 0, 1, 0};
    SC_TEST_OK(sc_stn_glimpse(&img, id, 8, 6, &g));
    assert_int_equal(g.c, 3);
    sc_test_assert_close("identity glimpse", g.data, img.data, 8 * 6 * 3, 0, 1e-6);
    sc_image_free(&g);
    /* top-left quadrant: scale 0.5, shift -0.5 lands on pixel centres */
    const float q[6] = {0.5f, 0, -0.5f, 0, 0.5f, -0.5f};
    SC_TEST_OK(sc_stn_glimpse(&img, q, 4, 3, &g));
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                assert_float_equal(g.data[(c * 3 + y) * 4 + x], img.data[(c * 6 + y) * 8 + x],
                                   1e-6);
    sc_image_free(&g);
    /* horizontal flip */
    const float fl[6] = {-1, 0, 0, 0, 1, 0};
    SC_TEST_OK(sc_stn_glimpse(&img, fl, 8, 6, &g));
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 8; x++)
            assert_float_equal(g.data[y * 8 + x], img.data[y * 8 + 7 - x], 1e-6);
    sc_image_free(&g);
    const float bad[6] = {NAN, 0, 0, 0, 1, 0};
    assert_int_equal(sc_stn_glimpse(&img, bad, 4, 4, &g), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_stn_glimpse(&img, id, 0, 4, &g), SC_ERR_INVALID_ARG);
    float cr[8];
    sc_stn_corners(id, 8, 6, cr);
    const float want[8] = {-0.5f, -0.5f, 7.5f, -0.5f, 7.5f, 5.5f, -0.5f, 5.5f};
    for (int i = 0; i < 8; i++) assert_float_equal(cr[i], want[i], 1e-6);
    sc_stn_corners(q, 8, 6, cr); /* top-left quadrant: edges 0..4 x 0..3 */
    const float wq[8] = {-0.5f, -0.5f, 3.5f, -0.5f, 3.5f, 2.5f, -0.5f, 2.5f};
    for (int i = 0; i < 8; i++) assert_float_equal(cr[i], wq[i], 1e-6);
    sc_image_free(&img);
}

/* ---------------------------------------------------------------- generator */

/* Synthetic 28x28 source set: item i is a filled rectangle of value v. */
static void fake_set(sc_fashion_mnist *d, size_t n, uint8_t v, uint64_t seed) {
    d->n = n;
    d->rows = d->cols = 28;
    d->images = calloc(n * 784, 1);
    d->labels = calloc(n, 1);
    sc_rng r;
    sc_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        d->labels[i] = (uint8_t)(i % 10);
        int x0 = 4 + (int)sc_rng_below(&r, 6), y0 = 4 + (int)sc_rng_below(&r, 6);
        for (int y = y0; y < y0 + 14; y++)
            for (int x = x0; x < x0 + 12; x++) d->images[i * 784 + y * 28 + x] = v;
    }
}

static void fake_free(sc_fashion_mnist *d) {
    free(d->images);
    free(d->labels);
}

static void test_generator_determinism(void **state) {
    (void)state;
    sc_fashion_mnist a;
    fake_set(&a, 50, 200, 1);
    for (int kind = 0; kind < 2; kind++) {
        sc_distort_params p = sc_distort_default_params((sc_distortion)kind);
        int S = p.canvas;
        assert_int_equal(S, kind ? 60 : 42);
        size_t plane = (size_t)S * S;
        float *e1 = malloc(plane * 4), *e2 = malloc(plane * 4);
        float *batch1 = malloc(plane * 40 * 4), *batch2 = malloc(plane * 40 * 4);
        int l1, l2;
        SC_TEST_OK(sc_distort_example(&p, &a, 7, 123, e1, &l1, NULL));
        SC_TEST_OK(sc_distort_example(&p, &a, 7, 123, e2, &l2, NULL));
        assert_memory_equal(e1, e2, plane * 4);
        assert_int_equal(l1, a.labels[123 % 50]);
        SC_TEST_OK(sc_distort_example(&p, &a, 8, 123, e2, NULL, NULL)); /* other seed */
        assert_memory_not_equal(e1, e2, plane * 4);
        SC_TEST_OK(sc_distort_example(&p, &a, 7, 173, e2, NULL, NULL)); /* same item, new scene */
        assert_memory_not_equal(e1, e2, plane * 4);
        /* batch == single examples, for 1 and 2 threads */
        int32_t lab[40];
        SC_TEST_OK(sc_set_num_threads(1));
        SC_TEST_OK(sc_distort_batch(&p, &a, 7, 100, 40, batch1, lab));
        SC_TEST_OK(sc_set_num_threads(2));
        SC_TEST_OK(sc_distort_batch(&p, &a, 7, 100, 40, batch2, NULL));
        assert_memory_equal(batch1, batch2, plane * 40 * 4);
        assert_memory_equal(batch1 + 23 * plane, e1, plane * 4);
        assert_int_equal(lab[23], l1);
        uint64_t idx[2] = {123, 100};
        SC_TEST_OK(sc_distort_gather(&p, &a, 7, idx, 2, batch2, lab));
        assert_memory_equal(batch2, e1, plane * 4);
        assert_memory_equal(batch2 + plane, batch1, plane * 4);
        /* values in [0, 1], some ink */
        double ink = 0;
        for (size_t i = 0; i < plane; i++) {
            assert_true(e1[i] >= 0 && e1[i] <= 1);
            ink += e1[i];
        }
        assert_true(ink > 50);
        free(e1);
        free(e2);
        free(batch1);
        free(batch2);
    }
    sc_set_num_threads(0);
    sc_distort_params p = sc_distort_default_params(SC_DISTORT_RTS);
    p.max_scale = 2.0f; /* 56 px item does not fit a 42 canvas */
    float buf[42 * 42];
    assert_int_equal(sc_distort_example(&p, &a, 0, 0, buf, NULL, NULL), SC_ERR_INVALID_ARG);
    sc_distortion k;
    assert_int_equal(sc_distortion_from_name("warp", &k), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_distortion_from_name("cluttered", &k));
    assert_int_equal(k, SC_DISTORT_CLUTTERED);
    fake_free(&a);
}

/* Scenes of one split only contain that split's pixels, clutter included:
 * the train set is painted 255, the test set 100. */
static void test_generator_split_separation(void **state) {
    (void)state;
    sc_fashion_mnist tr, te;
    fake_set(&tr, 30, 255, 2);
    fake_set(&te, 30, 100, 3);
    sc_distort_params p = sc_distort_default_params(SC_DISTORT_CLUTTERED);
    float *x = malloc(3600 * 4 * 30);
    SC_TEST_OK(sc_distort_batch(&p, &te, 1, 0, 30, x, NULL));
    for (size_t i = 0; i < 3600 * 30; i++) assert_true(x[i] <= 100.0f / 255 + 1e-6f);
    SC_TEST_OK(sc_distort_batch(&p, &tr, 1, 0, 30, x, NULL));
    size_t full = 0;
    for (size_t i = 0; i < 3600 * 30; i++) full += x[i] == 1.0f;
    assert_true(full > 30 * 14 * 12); /* the items and some clutter */
    free(x);
    fake_free(&tr);
    fake_free(&te);
}

/* theta_true takes a 28x28 glimpse of the canvas that is the upright item. */
static void test_generator_true_theta(void **state) {
    (void)state;
    sc_fashion_mnist a;
    fake_set(&a, 20, 255, 4);
    for (int kind = 0; kind < 2; kind++) {
        sc_distort_params p = sc_distort_default_params((sc_distortion)kind);
        sc_image canvas;
        SC_TEST_OK(sc_image_alloc(&canvas, p.canvas, p.canvas, 1));
        for (uint64_t i = 0; i < 20; i++) {
            float th[6];
            SC_TEST_OK(sc_distort_example(&p, &a, 5, i, canvas.data, NULL, th));
            sc_image g;
            SC_TEST_OK(sc_stn_glimpse(&canvas, th, 28, 28, &g));
            const uint8_t *item = a.images + (i % 20) * 784;
            double err = 0, mass = 0;
            for (int k = 0; k < 784; k++) {
                float v = item[k] / 255.0f;
                mass += v;
                if (kind == 1) { /* integer placement: the item exactly, clutter only
                                    where the item has no ink */
                    assert_true(g.data[k] >= v - 1e-4f);
                    if (v > 0) assert_float_equal(g.data[k], v, 1e-4);
                } else {
                    err += fabs(g.data[k] - v);
                }
            }
            /* RTS: two bilinear resamplings blur the rectangle's edges only */
            if (!(err < (kind ? 0.3 : 0.25) * mass))
                fail_msg("kind %d example %d: err %g mass %g", kind, (int)i, err, mass);
            sc_image_free(&g);
        }
        sc_image_free(&canvas);
    }
    fake_free(&a);
}

/* The shipped ST-CNN and its classifier refuse images with a NaN or an
 * infinity (they would otherwise give NaN probabilities) and name the pixel. */
static void test_predict_refuses_non_finite_pixels(void **state) {
    (void)state;
    char *path = sc_test_source_path("assets/models/fashion-stn.safetensors");
    sc_stcnn *m;
    SC_TEST_OK(sc_stcnn_load(path, &m));
    const sc_stn_config *c = sc_stn_get_config(sc_stcnn_stn(m));
    size_t pix = (size_t)c->in_c * c->in_h * c->in_w;
    float *x = calloc(2 * pix, sizeof *x), probs[20];
    SC_TEST_OK(sc_stcnn_predict(m, x, 2, probs, NULL));
    x[pix + 3 * (size_t)c->in_w + 5] = NAN; /* image 1, pixel (5, 3) */
    assert_int_equal(sc_stcnn_predict(m, x, 2, probs, NULL), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "pixel (5, 3) of channel 0 of image 1 is NaN"));
    x[pix + 3 * (size_t)c->in_w + 5] = 0;
    x[7] = INFINITY;
    assert_int_equal(sc_stcnn_predict(m, x, 1, probs, NULL), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "is infinite"));
    /* the classifier on its own (its input is the glimpse size) */
    sc_classifier *cls = sc_stcnn_classifier(m);
    const sc_classifier_config *cc = sc_classifier_get_config(cls);
    size_t cpix = (size_t)cc->encoder.in_channels * cc->in_h * cc->in_w;
    float *g = calloc(cpix, sizeof *g);
    SC_TEST_OK(sc_classifier_predict(cls, g, 1, probs));
    g[cpix - 1] = NAN;
    assert_int_equal(sc_classifier_predict(cls, g, 1, probs), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "is NaN"));
    free(g);
    free(x);
    sc_stcnn_free(m);
    free(path);
}

/* The shipped model's metadata without its tensors: refused with a message
 * that names the file once and the missing tensor. */
static void test_load_names_the_file_once(void **state) {
    (void)state;
    char *src = sc_test_source_path("assets/models/fashion-stn.safetensors");
    char *dir = sc_test_tmpdir("stn_load");
    char *path = sc_test_join(dir, "empty.safetensors");
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(src, &st));
    sc_st_writer *w = sc_st_writer_new();
    for (size_t i = 0; i < sc_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        SC_TEST_OK(sc_safetensors_metadata_at(st, i, &k, &v));
        SC_TEST_OK(sc_st_writer_set_metadata(w, k, v));
    }
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);
    sc_safetensors_free(st);
    sc_stcnn *m = NULL;
    assert_int_equal(sc_stcnn_load(path, &m), SC_ERR_FORMAT);
    assert_null(m);
    const char *e = sc_last_error();
    assert_non_null(strstr(e, "no tensor named"));
    if (strncmp(e, path, strlen(path)) || strstr(e + 1, path))
        fail_msg("\"%s\" should name %s once, first", e, path);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_names_the_file_once),
        cmocka_unit_test(test_predict_refuses_non_finite_pixels),
        cmocka_unit_test(test_theta_parametrisation),
        cmocka_unit_test(test_identity_init_returns_input),
        cmocka_unit_test(test_stn_gradcheck),
        cmocka_unit_test(test_config_json_and_errors),
        cmocka_unit_test(test_glimpse_and_corners),
        cmocka_unit_test(test_generator_determinism),
        cmocka_unit_test(test_generator_split_separation),
        cmocka_unit_test(test_generator_true_theta),
    };
    return cmocka_run_group_tests_name("stn", tests, NULL, NULL);
}

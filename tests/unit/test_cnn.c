/* sc_cnn encoder and sc_classifier: finite-difference gradients through a
 * whole network, training on real Fashion-MNIST, save/load, bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_cnn.h"
#include "saccade/sc_classifier.h"

/* ---- gradcheck through the encoder (train-mode BN, pools, stride 2) ---- */

typedef struct {
    sc_cnn *m;
    float *x, *gout;
    int N, H, W;
    size_t nout;
} enc_ctx;

/* L = sum(out * gout), accumulated in double. */
static double enc_loss(void *p) {
    enc_ctx *c = p;
    const float *out;
    int C, h, w;
    if (sc_cnn_forward(c->m, c->x, c->N, c->H, c->W, 1, &out, &C, &h, &w)) return NAN;
    double l = 0;
    for (size_t i = 0; i < c->nout; i++) l += (double)out[i] * c->gout[i];
    return l;
}

static void gradcheck_encoder(int batchnorm) {
    int ch[3] = {3, 4, 3};
    sc_cnn_config cfg = sc_cnn_config_make(2, 3, ch);
    cfg.pool[0] = 1;
    cfg.stride[1] = 2;
    cfg.kernel[2] = 1;
    cfg.batchnorm = batchnorm;
    sc_rng rng;
    sc_rng_seed(&rng, 5);
    enc_ctx c = {.N = 2, .H = 7, .W = 8};
    SC_TEST_OK(sc_cnn_create(&cfg, "enc.", &rng, &c.m));
    int C, h, w;
    SC_TEST_OK(sc_cnn_output_size(&cfg, c.H, c.W, &C, &h, &w));
    assert_int_equal(C, 3);
    assert_int_equal(h, 2); /* 7 -> pool 3 -> stride 2: 2 -> 1x1: 2 */
    assert_int_equal(w, 2);
    c.nout = (size_t)c.N * C * h * w;
    size_t nx = (size_t)c.N * 2 * c.H * c.W;
    c.x = malloc(nx * sizeof(float));
    c.gout = malloc(c.nout * sizeof(float));
    float *dx = calloc(nx, sizeof(float));
    sc_test_fill_uniform(c.x, nx, -1, 1, 1);
    sc_test_fill_uniform(c.gout, c.nout, -1, 1, 2);
    const sc_param *ps;
    size_t np;
    sc_cnn_params(c.m, &ps, &np);
    assert_int_equal(np, batchnorm ? 9 : 6);
    /* Non-trivial BN affine parameters. */
    for (size_t i = 0; i < np; i++)
        if (strstr(ps[i].name, "bn."))
            sc_test_fill_uniform(ps[i].param, ps[i].n, 0.5f, 1.5f, 10 + i);
    enc_loss(&c);
    sc_cnn_zero_grad(c.m);
    SC_TEST_OK(sc_cnn_backward(c.m, c.gout, dx));
    for (size_t i = 0; i < np; i++)
        sc_test_gradcheck(ps[i].name, enc_loss, &c, ps[i].param, ps[i].grad, ps[i].n, 40, 1e-3,
                          2e-2, 2e-3);
    sc_test_gradcheck("input", enc_loss, &c, c.x, dx, nx, 80, 1e-3, 2e-2, 2e-3);
    /* Backward accumulates: a second call doubles the grads. */
    float g0 = ps[0].grad[3];
    SC_TEST_OK(sc_cnn_backward(c.m, c.gout, NULL));
    assert_float_equal(ps[0].grad[3], 2 * g0, 1e-5 * fabsf(g0) + 1e-7);
    sc_cnn_free(c.m);
    free(c.x);
    free(c.gout);
    free(dx);
}

static void test_encoder_gradcheck_bn(void **state) {
    (void)state;
    gradcheck_encoder(1);
}
static void test_encoder_gradcheck_nobn(void **state) {
    (void)state;
    gradcheck_encoder(0);
}

/* ---- gradcheck of the classifier's cross-entropy (dropout on, fixed mask) ---- */

typedef struct {
    sc_classifier *m;
    float *x;
    int32_t y[3];
    int N;
} clf_ctx;

static double clf_loss(void *p) {
    clf_ctx *c = p;
    sc_rng rng;
    sc_rng_seed(&rng, 77); /* the same dropout mask every call */
    const float *z;
    if (sc_classifier_forward(c->m, c->x, c->N, 1, &rng, &z)) return NAN;
    int K = sc_classifier_get_config(c->m)->num_classes;
    double l = 0;
    for (int n = 0; n < c->N; n++) {
        double mx = z[n * K], s = 0;
        for (int k = 1; k < K; k++) mx = fmax(mx, z[n * K + k]);
        for (int k = 0; k < K; k++) s += exp(z[n * K + k] - mx);
        l += log(s) + mx - z[n * K + c->y[n]];
    }
    return l / c->N;
}

static sc_classifier_config tiny_config(int side, int K) {
    sc_classifier_config cfg = sc_classifier_default_config();
    int ch[2] = {3, 4};
    cfg.encoder = sc_cnn_config_make(1, 2, ch);
    cfg.encoder.pool[0] = 1;
    cfg.num_classes = K;
    cfg.in_h = cfg.in_w = side;
    cfg.dropout = 0.3f;
    return cfg;
}

static void gradcheck_classifier(int head_grid) {
    sc_classifier_config cfg = tiny_config(8, 3);
    cfg.head_grid = head_grid;
    /* With a grid: no max pool (an 8x8 map: uneven 3x3 bins) and no BN. Few map
     * cells feed each head input, so finite differences across the ReLU kinks
     * of BN-centred pre-activations would swamp the check; BN's backward is
     * checked with the global pool above and against PyTorch in the parity test. */
    if (head_grid) cfg.encoder.pool[0] = 0, cfg.encoder.batchnorm = 0;
    clf_ctx c = {.N = 3, .y = {2, 0, 1}};
    SC_TEST_OK(sc_classifier_create(&cfg, NULL, 3, &c.m));
    assert_string_equal(sc_classifier_class_name(c.m, 2), "2");
    size_t nx = (size_t)c.N * 64;
    c.x = malloc(nx * sizeof(float));
    float *dx = calloc(nx, sizeof(float));
    sc_test_fill_uniform(c.x, nx, 0, 1, 3);
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_classifier_params(c.m, &ps, &np));
    assert_int_equal(np, head_grid ? 6 : 8);
    assert_string_equal(ps[np - 2].name, "head.weight");
    /* 4 channels: head on 4 (global pool) or 4 * G * G features */
    assert_int_equal(ps[np - 2].shape[1], head_grid ? 4 * head_grid * head_grid : 4);
    for (size_t i = 0; i < np; i++) memset(ps[i].grad, 0, ps[i].n * sizeof(float));
    sc_rng rng;
    sc_rng_seed(&rng, 77);
    double loss;
    SC_TEST_OK(sc_classifier_train_batch(c.m, c.x, c.y, c.N, &rng, &loss, dx));
    assert_true(fabs(loss - clf_loss(&c)) < 1e-5);
    /* a smaller step with the grid: fewer ReLU kinks crossed (see above) */
    double eps = head_grid ? 3e-4 : 1e-3;
    for (size_t i = 0; i < np; i++)
        sc_test_gradcheck(ps[i].name, clf_loss, &c, ps[i].param, ps[i].grad, ps[i].n, 30, eps,
                          2e-2, 1e-3);
    sc_test_gradcheck("classifier input", clf_loss, &c, c.x, dx, nx, 60, eps, 2e-2, 1e-3);
    sc_classifier_free(c.m);
    free(c.x);
    free(dx);
}

static void test_classifier_gradcheck(void **state) {
    (void)state;
    gradcheck_classifier(0);
}

/* Head on an adaptive 3x3 grid of the 8x8 map (uneven, overlapping bins). */
static void test_classifier_gradcheck_grid(void **state) {
    (void)state;
    gradcheck_classifier(3);
}

/* ---- train on real Fashion-MNIST images; save / load ---- */

enum { NTRAIN = 384, SIDE = 28 };

static void test_train_save_load(void **state) {
    (void)state;
    sc_fashion_mnist d;
    SC_TEST_OK(sc_fashion_mnist_load("train", NULL, &d));
    sc_classifier_config cfg = sc_classifier_default_config();
    int ch[2] = {16, 32};
    cfg.encoder = sc_cnn_config_make(1, 2, ch);
    cfg.encoder.pool[0] = cfg.encoder.pool[1] = 1;
    const char *names[10];
    for (int k = 0; k < 10; k++) names[k] = sc_fashion_mnist_class_name(k);
    sc_classifier *m;
    SC_TEST_OK(sc_classifier_create(&cfg, names, 1, &m));
    const sc_param *ps, *bs;
    size_t np, nb;
    SC_TEST_OK(sc_classifier_params(m, &ps, &np));
    SC_TEST_OK(sc_classifier_buffers(m, &bs, &nb));
    sc_train_params tp = sc_train_default_params();
    tp.epochs = 4;
    tp.batch_size = 48;
    tp.seed = 2;
    tp.optim.lr = 1e-2;
    tp.progress_mode = 3;
    sc_trainer *tr;
    SC_TEST_OK(sc_trainer_create(&tp, NTRAIN, ps, np, bs, nb, &tr));
    float *x = malloc(48 * SIDE * SIDE * sizeof(float));
    int32_t y[48];
    const int *idx;
    size_t n;
    double first = -1, epoch_loss[4] = {0};
    while (sc_trainer_next(tr, &idx, &n) == 1) {
        for (size_t b = 0; b < n; b++) {
            y[b] = d.labels[idx[b]];
            for (int i = 0; i < SIDE * SIDE; i++)
                x[b * SIDE * SIDE + i] = d.images[(size_t)idx[b] * SIDE * SIDE + i] / 255.0f;
        }
        double loss;
        SC_TEST_OK(sc_classifier_train_batch(m, x, y, (int)n, sc_trainer_rng(tr), &loss, NULL));
        if (first < 0) first = loss;
        SC_TEST_OK(sc_trainer_step(tr, loss, 0, NULL, NULL));
        if (sc_trainer_at_epoch_end(tr))
            epoch_loss[sc_trainer_epoch(tr)] = sc_trainer_epoch_loss(tr);
    }
    sc_trainer_free(tr);
    printf("  loss: first batch %.3f, epoch means %.3f %.3f %.3f %.3f\n", first, epoch_loss[0],
           epoch_loss[1], epoch_loss[2], epoch_loss[3]);
    assert_true(first > 2.0);                 /* ~ln 10 at the start */
    assert_true(epoch_loss[3] < first - 0.6); /* and it falls well below */
    assert_true(epoch_loss[3] < epoch_loss[0] - 0.4);
    double acc;
    int64_t conf[100];
    SC_TEST_OK(sc_classifier_evaluate(m, d.images, d.labels, NTRAIN, conf, &acc, NULL));
    printf("  accuracy on the %d training images: %.3f\n", NTRAIN, acc);
    assert_true(acc > 0.3); /* chance is 0.1; eval-mode BN stats lag after 32 steps */
    int64_t total = 0;
    for (int i = 0; i < 100; i++) total += conf[i];
    assert_int_equal(total, NTRAIN);

    /* Save / load round trip: identical predictions, names, config. */
    char *dir = sc_test_tmpdir("cnn");
    char *path = sc_test_join(dir, "m.safetensors");
    SC_TEST_OK(sc_classifier_save(m, path));
    sc_classifier *m2;
    SC_TEST_OK(sc_classifier_load(path, &m2));
    assert_string_equal(sc_classifier_class_name(m2, 9), "Ankle boot");
    assert_int_equal(sc_classifier_get_config(m2)->encoder.channels[1], 32);
    assert_float_equal(sc_classifier_get_config(m2)->std[0], 0.3530f, 0);
    const size_t NP = 300; /* more than one internal chunk */
    float *p1 = malloc(NP * 10 * sizeof(float)), *p2 = malloc(NP * 10 * sizeof(float));
    float *p3 = malloc(NP * 10 * sizeof(float)), *xf = malloc(NP * SIDE * SIDE * sizeof(float));
    SC_TEST_OK(sc_classifier_predict_u8(m, d.images, NP, p1));
    SC_TEST_OK(sc_classifier_predict_u8(m2, d.images, NP, p2));
    assert_memory_equal(p1, p2, NP * 10 * sizeof(float));
    for (size_t i = 0; i < NP * SIDE * SIDE; i++) xf[i] = d.images[i] / 255.0f;
    SC_TEST_OK(sc_classifier_predict(m2, xf, NP, p3));
    sc_test_assert_close("float vs uint8 input", p3, p1, NP * 10, 1e-5, 1e-6);
    double s = 0;
    for (int k = 0; k < 10; k++) s += p1[k];
    assert_true(fabs(s - 1) < 1e-5);
    free(p1);
    free(p2);
    free(p3);
    free(xf);
    free(x);
    sc_classifier_free(m);
    sc_classifier_free(m2);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
    sc_fashion_mnist_free(&d);
}

/* ---- bad configs and files ---- */

static void expect_bad_json(const char *json, sc_status want, const char *needle) {
    sc_cnn_config c;
    sc_status s = sc_cnn_config_from_json(json, &c);
    if (s != want || !strstr(sc_last_error(), needle))
        fail_msg("config %s: got status %d '%s', wanted %d containing '%s'", json, s,
                 sc_last_error(), want, needle);
}

static void test_bad_config_and_files(void **state) {
    (void)state;
    sc_cnn_config c;
    SC_TEST_OK(sc_cnn_config_from_json(
        "{\"in_channels\": 3, \"channels\": [4, 8], \"pool\": [1, false], \"stride\": [2, 1], "
        "\"kernel\": [5, 1], \"batchnorm\": false}",
        &c));
    assert_int_equal(c.nstages, 2);
    assert_int_equal(c.pool[0], 1);
    assert_int_equal(c.stride[0], 2);
    assert_int_equal(c.kernel[0], 5);
    assert_int_equal(c.batchnorm, 0);
    char *j = sc_cnn_config_to_json(&c);
    sc_cnn_config c2;
    SC_TEST_OK(sc_cnn_config_from_json(j, &c2));
    assert_memory_equal(&c, &c2, sizeof c);
    free(j);
    expect_bad_json("not json", SC_ERR_FORMAT, "JSON");
    expect_bad_json("{\"in_channels\": 1, \"channels\": []}", SC_ERR_FORMAT, "channels");
    expect_bad_json("{\"in_channels\": 1, \"channels\": [4], \"strides\": [1]}", SC_ERR_FORMAT,
                    "unknown key \"strides\"");
    expect_bad_json("{\"in_channels\": 1, \"channels\": [4, 4], \"pool\": [true]}", SC_ERR_FORMAT,
                    "one per stage");
    expect_bad_json("{\"in_channels\": 1, \"channels\": [4], \"stride\": [3]}", SC_ERR_INVALID_ARG,
                    "stride 3");
    expect_bad_json("{\"in_channels\": 1, \"channels\": [4], \"kernel\": [4]}", SC_ERR_INVALID_ARG,
                    "odd");
    expect_bad_json("{\"in_channels\": 0, \"channels\": [4]}", SC_ERR_INVALID_ARG, "in_channels");
    expect_bad_json("{\"in_channels\": 1, \"channels\": [4.5]}", SC_ERR_FORMAT, "integer");
    /* Too small an input for the pools. */
    int ch[3] = {2, 2, 2};
    sc_cnn_config p = sc_cnn_config_make(1, 3, ch);
    p.pool[0] = p.pool[1] = p.pool[2] = 1;
    assert_int_equal(sc_cnn_output_size(&p, 5, 5, NULL, NULL, NULL), SC_ERR_SHAPE);
    SC_TEST_OK(sc_cnn_output_size(&p, 8, 8, NULL, NULL, NULL));
    sc_classifier_config cc = sc_classifier_default_config();
    cc.in_h = 3;
    assert_int_equal(sc_classifier_config_validate(&cc), SC_ERR_SHAPE);
    cc = sc_classifier_default_config();
    cc.std[0] = 0;
    assert_int_equal(sc_classifier_config_validate(&cc), SC_ERR_INVALID_ARG);
    /* head_grid: range-checked, round-trips through JSON, absent = 0 (old files). */
    cc = sc_classifier_default_config();
    cc.head_grid = 17;
    assert_int_equal(sc_classifier_config_validate(&cc), SC_ERR_INVALID_ARG);
    cc.head_grid = 4;
    char *hj = sc_classifier_config_to_json(&cc);
    assert_non_null(strstr(hj, "\"head_grid\":4"));
    sc_classifier_config cc2;
    SC_TEST_OK(sc_classifier_config_from_json(hj, &cc2));
    assert_int_equal(cc2.head_grid, 4);
    free(hj);
    cc.head_grid = 0;
    hj = sc_classifier_config_to_json(&cc);
    assert_null(strstr(hj, "head_grid"));
    cc2.head_grid = 9;
    SC_TEST_OK(sc_classifier_config_from_json(hj, &cc2));
    assert_int_equal(cc2.head_grid, 0);
    free(hj);
    assert_int_equal(sc_classifier_config_from_json(
                         "{\"arch\": \"classifier\", \"encoder\": {\"in_channels\": 1, "
                         "\"channels\": [4]}, \"num_classes\": 3, \"input\": [1, 8, 8], "
                         "\"head_grid\": 2.5}",
                         &cc2),
                     SC_ERR_FORMAT);
    /* Training BN with a single value per channel is refused, not NaN. */
    sc_rng rng;
    sc_rng_seed(&rng, 1);
    sc_cnn *m;
    int one = 2;
    sc_cnn_config c1 = sc_cnn_config_make(1, 1, &one);
    SC_TEST_OK(sc_cnn_create(&c1, NULL, &rng, &m));
    float x1 = 0.5f;
    const float *out;
    assert_int_equal(sc_cnn_forward(m, &x1, 1, 1, 1, 1, &out, NULL, NULL, NULL), SC_ERR_SHAPE);
    SC_TEST_OK(sc_cnn_forward(m, &x1, 1, 1, 1, 0, &out, NULL, NULL, NULL));
    sc_cnn_free(m);

    /* Model files: missing tensor, wrong shape, missing / bad metadata. */
    char *dir = sc_test_tmpdir("cnn_bad");
    char *path = sc_test_join(dir, "bad.safetensors");
    sc_classifier_config cfg = tiny_config(8, 3);
    sc_classifier *clf;
    SC_TEST_OK(sc_classifier_create(&cfg, NULL, 1, &clf));
    const sc_param *ps, *bs;
    size_t np, nb;
    SC_TEST_OK(sc_classifier_params(clf, &ps, &np));
    SC_TEST_OK(sc_classifier_buffers(clf, &bs, &nb));
    char *cj = sc_classifier_config_to_json(&cfg);
    char *cls = sc_classifier_classes_json(clf);
    for (int variant = 0; variant < 5; variant++) {
        sc_st_writer *w = sc_st_writer_new();
        for (size_t i = 0; i < np; i++) {
            if (variant == 0 && !strcmp(ps[i].name, "head.bias")) continue;
            int64_t shape[6];
            memcpy(shape, ps[i].shape, sizeof shape);
            if (variant == 1 && !strcmp(ps[i].name, "head.weight")) shape[0] = 1, shape[1] *= 3;
            SC_TEST_OK(
                sc_st_writer_add_f32(w, ps[i].name, ps[i].param, ps[i].ndim, shape, SC_ST_F32));
        }
        for (size_t i = 0; i < nb; i++)
            SC_TEST_OK(sc_st_writer_add_f32(w, bs[i].name, bs[i].param, bs[i].ndim, bs[i].shape,
                                            SC_ST_F32));
        if (variant != 2) SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.config", cj));
        SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.classes", variant == 3 ? "[\"a\"]" : cls));
        if (variant == 4)
            SC_TEST_OK(
                sc_st_writer_set_metadata(w, "saccade.config", "{\"arch\": \"classifier\"}"));
        SC_TEST_OK(sc_st_writer_write(w, path));
        sc_st_writer_free(w);
        sc_classifier *bad = (sc_classifier *)1;
        sc_status s = sc_classifier_load(path, &bad);
        static const sc_status want[5] = {SC_ERR_FORMAT, SC_ERR_SHAPE, SC_ERR_FORMAT, SC_ERR_FORMAT,
                                          SC_ERR_FORMAT};
        static const char *needle[5] = {"head.bias", "head.weight", "saccade.config",
                                        "saccade.classes", "encoder"};
        if (s != want[variant] || !strstr(sc_last_error(), needle[variant]) ||
            !strstr(sc_last_error(), "bad.safetensors") || bad != NULL)
            fail_msg("variant %d: status %d, message '%s'", variant, s, sc_last_error());
    }
    free(cj);
    free(cls);
    sc_classifier_free(clf);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoder_gradcheck_bn),
        cmocka_unit_test(test_encoder_gradcheck_nobn),
        cmocka_unit_test(test_classifier_gradcheck),
        cmocka_unit_test(test_classifier_gradcheck_grid),
        cmocka_unit_test(test_train_save_load),
        cmocka_unit_test(test_bad_config_and_files),
    };
    return cmocka_run_group_tests_name("cnn", tests, NULL, NULL);
}

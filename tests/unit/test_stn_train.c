/* Training library calls for classifiers and ST-CNNs (sc_stn_train.h): the
 * recipes, Fashion-MNIST batches with augmentation, the models, the
 * transformer's scaled step, and the test figures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_stn_train.h"

/* n synthetic 28x28 items: a bright bar at a per-item place, label i % 10. */
static void fake_fashion(sc_fashion_mnist *d, size_t n) {
    d->n = n;
    d->rows = d->cols = 28;
    d->images = calloc(n * 784, 1);
    d->labels = malloc(n);
    for (size_t i = 0; i < n; i++) {
        d->labels[i] = (uint8_t)(i % 10);
        for (int r = 4; r < 24; r++)
            for (int c = 0; c < 6; c++) d->images[i * 784 + r * 28 + 3 + 2 * (i % 10) + c] = 200;
        d->images[i * 784 + 2 * 28 + 5] = 255; /* an asymmetric dot */
    }
}

static void test_recipes(void **state) {
    (void)state;
    sc_train_params tp;
    sc_classifier_train_params cp = sc_classifier_train_default_params();
    assert_int_equal(cp.batch, 128);
    SC_TEST_OK(sc_classifier_train_recipe(&cp, 60000, &tp));
    assert_int_equal((int)tp.schedule.t_max, 469 * 3); /* ceil(60000 / 128) a epoch */
    assert_float_equal(tp.optim.weight_decay, 0.01, 1e-9);
    assert_float_equal(tp.clip_grad_norm, 0, 0);
    cp.weight_decay = -1;
    assert_int_equal(sc_classifier_train_recipe(&cp, 100, &tp), SC_ERR_INVALID_ARG);

    sc_stn_train_params p = sc_stn_train_default_params();
    assert_int_equal(p.use_st, 1);
    assert_int_equal(p.n_channels, 3);
    assert_int_equal(p.channels[2], 80);
    SC_TEST_OK(sc_stn_train_recipe(&p, 60000, &tp));
    assert_int_equal((int)tp.schedule.t_max, 938 * 3);
    assert_float_equal(tp.optim.weight_decay, 1e-4, 1e-12);
    assert_float_equal(tp.clip_grad_norm, 5.0, 0);
    p.clip_groups = 1; /* clipped per group in the step instead */
    SC_TEST_OK(sc_stn_train_recipe(&p, 60000, &tp));
    assert_float_equal(tp.clip_grad_norm, 0, 0);
    p.use_st = 0; /* a CNN has one group */
    SC_TEST_OK(sc_stn_train_recipe(&p, 60000, &tp));
    assert_float_equal(tp.clip_grad_norm, 5.0, 0);
    p.n_channels = 0;
    assert_int_equal(sc_stn_train_recipe(&p, 60000, &tp), SC_ERR_INVALID_ARG);
}

static void test_fashion_batch(void **state) {
    (void)state;
    sc_fashion_mnist d;
    fake_fashion(&d, 12);
    int idx[3] = {7, 0, 11};
    float x[3 * 784];
    int32_t y[3];
    sc_rng rng;
    sc_rng_seed(&rng, 5);
    sc_fashion_mnist_batch(&d, idx, 3, 0, &rng, x, y);
    assert_int_equal(y[0], 7);
    assert_int_equal(y[2], 1);
    for (int i = 0; i < 784; i++) assert_float_equal(x[784 + i], d.images[i] / 255.0f, 1e-7);
    /* augmented: each image is the item shifted by at most 2 pixels (zeros
     * shifted in) and maybe mirrored */
    int moved = 0;
    for (int rep = 0; rep < 4; rep++) {
        sc_fashion_mnist_batch(&d, idx, 3, 1, &rng, x, y);
        for (int b = 0; b < 3; b++) {
            const uint8_t *src = d.images + (size_t)idx[b] * 784;
            int found = 0;
            for (int dy = -2; dy <= 2 && !found; dy++)
                for (int dx = -2; dx <= 2 && !found; dx++)
                    for (int flip = 0; flip < 2 && !found; flip++) {
                        int same = 1;
                        for (int r = 0; r < 28 && same; r++)
                            for (int c = 0; c < 28 && same; c++) {
                                int sr = r + dy, sc = (flip ? 27 - c : c) + dx;
                                float want = sr >= 0 && sr < 28 && sc >= 0 && sc < 28
                                                 ? src[sr * 28 + sc] / 255.0f
                                                 : 0.0f;
                                same = fabsf(x[b * 784 + r * 28 + c] - want) < 1e-7f;
                            }
                        found = same;
                        moved += same && (dy || dx || flip);
                    }
            assert_true(found);
        }
    }
    assert_true(moved > 0);
    free(d.images);
    free(d.labels);
}

static void copy_params(const sc_param *ps, size_t n, float *out) {
    for (size_t i = 0, o = 0; i < n; o += ps[i].n, i++)
        memcpy(out + o, ps[i].param, ps[i].n * sizeof(float));
}

static void test_models_and_scaled_step(void **state) {
    (void)state;
    const char *names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    sc_stn_train_params p = sc_stn_train_default_params();
    p.n_channels = 2;
    p.channels[0] = 4, p.channels[1] = 8;
    p.n_loc_channels = 2;
    p.loc_channels[0] = 4, p.loc_channels[1] = 4;
    p.init_scale = 0.8f;
    p.glimpse = 28;
    sc_stcnn *st, *st2;
    sc_classifier *cls;
    SC_TEST_OK(sc_stn_train_models(&p, 42, names, 10, &st, &cls));
    assert_non_null(st);
    assert_null(cls);
    assert_int_equal(sc_stn_get_config(sc_stcnn_stn(st))->out_h, 28);
    /* the localisation net starts at its bias: the affine map (0.8, 0, 0; 0, 0.8, 0) */
    float x[4 * 42 * 42], pr[4 * 10], th[4 * 6];
    sc_test_fill_uniform(x, 4 * 42 * 42, 0, 1, 3);
    SC_TEST_OK(sc_stcnn_predict(st, x, 4, pr, th));
    const float want[6] = {0.8f, 0, 0, 0, 0.8f, 0};
    for (int k = 0; k < 6; k++) assert_float_equal(th[6 + k], want[k], 1e-6);

    /* the transformer's steps are loc_lr_scale times a full step; none in the warm-up */
    p.use_st = 1;
    p.lr = 0.01f;
    SC_TEST_OK(sc_stn_train_models(&p, 42, names, 10, &st2, &cls));
    const sc_param *ps, *ps2, *lp;
    size_t np, nloc, total = 0;
    sc_stcnn_params(st, &ps, &np);
    sc_stcnn_params(st2, &ps2, &np);
    sc_stn_params(sc_stcnn_stn(st), &lp, &nloc);
    for (size_t i = 0; i < np; i++) total += ps[i].n;
    float *p0 = malloc(total * sizeof(float)), *pa = malloc(total * sizeof(float)),
          *pb = malloc(total * sizeof(float));
    copy_params(ps, np, p0);
    int32_t y[4] = {1, 2, 3, 4};
    sc_train_params tp;
    sc_stn_train_params full = p, scaled = p;
    full.loc_lr_scale = 1.0f;
    scaled.loc_lr_scale = 0.25f;
    scaled.loc_warmup = 1; /* step 0 is in the warm-up */
    sc_trainer *ta, *tb;
    const sc_param *bs;
    size_t nb;
    sc_stcnn_buffers(st, &bs, &nb);
    SC_TEST_OK(sc_stn_train_recipe(&full, 8, &tp));
    tp.batch_size = 4;
    tp.progress_mode = 3;
    SC_TEST_OK(sc_trainer_create(&tp, 8, ps, np, bs, nb, &ta));
    sc_stcnn_buffers(st2, &bs, &nb);
    SC_TEST_OK(sc_trainer_create(&tp, 8, ps2, np, bs, nb, &tb));
    const int *idx;
    size_t cnt;
    double la, lb;
    for (int step = 0; step < 2; step++) {
        assert_int_equal(sc_trainer_next(ta, &idx, &cnt), 1);
        assert_int_equal(sc_trainer_next(tb, &idx, &cnt), 1);
        copy_params(ps, np, p0);
        SC_TEST_OK(sc_stn_train_step(ta, st, NULL, x, y, 4, &full, &la));
        SC_TEST_OK(sc_stn_train_step(tb, st2, NULL, x, y, 4, &scaled, &lb));
        assert_float_equal(la, lb, 1e-9); /* same model, same batch, same rng */
        copy_params(ps, np, pa);
        copy_params(ps2, np, pb);
        size_t nl = 0;
        for (size_t i = 0; i < nloc; i++) nl += ps[i].n;
        double moved = 0;
        for (size_t k = 0; k < nl; k++) {
            double da = pa[k] - p0[k], db = pb[k] - p0[k];
            moved += fabs(da);
            assert_true(fabs(db - (step == 0 ? 0.0 : 0.25) * da) <= 1e-6 + 1e-4 * fabs(da));
        }
        assert_true(moved > 0);
        /* the classifier takes the full step in both */
        for (size_t k = nl; k < total; k++) assert_float_equal(pa[k], pb[k], 1e-6);
        /* keep both on the same parameters for the next step */
        for (size_t i = 0, o = 0; i < np; o += ps[i].n, i++)
            memcpy(ps2[i].param, ps[i].param, ps[i].n * sizeof(float));
    }
    sc_trainer_free(ta);
    sc_trainer_free(tb);
    free(p0), free(pa), free(pb);
    sc_stcnn_free(st2);

    /* the plain CNN takes the whole canvas */
    p.use_st = 0;
    SC_TEST_OK(sc_stn_train_models(&p, 42, names, 10, &st2, &cls));
    assert_null(st2);
    assert_int_equal(sc_classifier_get_config(cls)->in_h, 42);
    sc_classifier_free(cls);
    sc_stcnn_free(st);
}

static void test_stn_test_figures(void **state) {
    (void)state;
    const char *names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    sc_fashion_mnist d;
    fake_fashion(&d, 30);
    sc_distort_params dp = sc_distort_default_params(SC_DISTORT_RTS);
    sc_stn_train_params p = sc_stn_train_default_params();
    p.n_channels = 2;
    p.channels[0] = 4, p.channels[1] = 8;
    sc_stcnn *st;
    sc_classifier *cls;
    SC_TEST_OK(sc_stn_train_models(&p, dp.canvas, names, 10, &st, &cls));
    sc_stn_test_result r;
    const size_t n = 37;
    SC_TEST_OK(sc_stn_test(st, NULL, &dp, &d, 1, n, &r));
    /* the error against the model's own predictions on the same scenes */
    float *x = malloc(n * (size_t)dp.canvas * dp.canvas * sizeof(float)), pr[37 * 10];
    int32_t lab[37];
    SC_TEST_OK(sc_distort_batch(&dp, &d, 1, 0, n, x, lab));
    SC_TEST_OK(sc_stcnn_predict(st, x, n, pr, NULL));
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        int best = 0;
        for (int c = 1; c < 10; c++)
            if (pr[i * 10 + c] > pr[i * 10 + best]) best = c;
        wrong += best != lab[i];
    }
    assert_float_equal(r.error, (double)wrong / n, 1e-12);
    /* an untrained transformer is the identity: its glimpse is where an
     * identity transform looks, with no rotation, the whole canvas */
    assert_true(r.has_loc);
    assert_float_equal(r.centre_px_median, r.identity_px_median, 1e-4);
    assert_float_equal(r.angle_deg_median, r.identity_angle_deg_median, 1e-3);
    assert_true(r.identity_angle_deg_median > 1.0); /* RTS items are rotated */
    assert_true(r.side_ratio_median > 1.0);         /* the canvas is larger than the item */
    /* a plain CNN has no glimpse */
    p.use_st = 0;
    sc_stcnn *none;
    SC_TEST_OK(sc_stn_train_models(&p, dp.canvas, names, 10, &none, &cls));
    SC_TEST_OK(sc_stn_test(NULL, cls, &dp, &d, 1, n, &r));
    assert_false(r.has_loc);
    assert_true(r.error >= 0 && r.error <= 1);
    assert_int_equal(sc_stn_test(NULL, NULL, &dp, &d, 1, n, &r), SC_ERR_INVALID_ARG);
    sc_classifier_free(cls);
    sc_stcnn_free(st);
    free(x);
    free(d.images);
    free(d.labels);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipes),
        cmocka_unit_test(test_fashion_batch),
        cmocka_unit_test(test_models_and_scaled_step),
        cmocka_unit_test(test_stn_test_figures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

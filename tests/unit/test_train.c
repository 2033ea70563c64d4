/* The shared training loop: loss falls, checkpoints, exact resume. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_train.h"
#include "saccade/sc_safetensors.h"

/* Softmax regression on a synthetic 3-class problem, with a dropout-like use
 * of the trainer's rng so that resuming must restore the generator too. */
enum { N = 240, D = 5, K = 3 };
typedef struct {
    float x[N][D];
    int y[N];
    float w[K * D], b[K], gw[K * D], gb[K];
    float buf[K]; /* a "buffer" (like BN running stats): mean of logits */
} toy;

static void toy_init(toy *t) {
    memset(t, 0, sizeof *t);
    sc_rng r;
    sc_rng_seed(&r, 7);
    for (int i = 0; i < N; i++) {
        t->y[i] = i % K;
        for (int d = 0; d < D; d++) t->x[i][d] = sc_rng_normal(&r) + (d == t->y[i] ? 2.0f : 0.0f);
    }
    for (int i = 0; i < K * D; i++) t->w[i] = 0.01f * (float)(i % 7 - 3);
}

static double toy_step(toy *t, const int *idx, size_t n, sc_rng *rng) {
    double loss = 0;
    for (size_t s = 0; s < n; s++) {
        const float *x = t->x[idx[s]];
        float keep = sc_rng_uniform(rng) < 0.9f ? 1.0f / 0.9f : 0.0f; /* input dropout */
        float z[K], m = -1e30f;
        for (int k = 0; k < K; k++) {
            z[k] = t->b[k];
            for (int d = 0; d < D; d++) z[k] += t->w[k * D + d] * x[d] * keep;
            m = fmaxf(m, z[k]);
        }
        double sum = 0;
        for (int k = 0; k < K; k++) sum += exp(z[k] - m);
        loss += -(z[t->y[idx[s]]] - m - log(sum));
        for (int k = 0; k < K; k++) {
            float g = (float)(exp(z[k] - m) / sum) - (k == t->y[idx[s]]);
            g /= (float)n;
            t->gb[k] += g;
            for (int d = 0; d < D; d++) t->gw[k * D + d] += g * x[d] * keep;
            t->buf[k] = 0.9f * t->buf[k] + 0.1f * z[k];
        }
    }
    return loss / (double)n;
}

static void toy_lists(toy *t, sc_param *p, sc_param *bufs) {
    memset(p, 0, 2 * sizeof *p);
    memset(bufs, 0, sizeof *bufs);
    p[0] = (sc_param){
        .name = "fc.weight", .param = t->w, .grad = t->gw, .n = K * D, .ndim = 2, .shape = {K, D}};
    p[1] =
        (sc_param){.name = "fc.bias", .param = t->b, .grad = t->gb, .n = K, .no_weight_decay = 1};
    bufs[0] = (sc_param){.name = "running", .param = t->buf, .n = K};
}

/* Train from scratch or resume; stop after max_steps (0 = all). */
static double run(toy *t, const char *ckpt, const char *metrics, int resume, int64_t max_steps) {
    sc_param p[2], bufs[1];
    toy_lists(t, p, bufs);
    sc_train_params tp = sc_train_default_params();
    tp.epochs = 4;
    tp.batch_size = 16;
    tp.seed = 11;
    tp.optim = sc_adam_default_params();
    tp.optim.lr = 0.05;
    tp.schedule.kind = SC_LR_COSINE;
    tp.schedule.t_max = 60;
    tp.clip_grad_norm = 5.0;
    tp.checkpoint_every = 7;
    tp.checkpoint_path = ckpt;
    tp.metrics_path = metrics;
    tp.resume = resume;
    tp.max_steps = max_steps;
    tp.progress_mode = 3;
    sc_trainer *tr;
    SC_TEST_OK(sc_trainer_create(&tp, N, p, 2, bufs, 1, &tr));
    SC_TEST_OK(sc_trainer_set_metadata(tr, "saccade.config", "{\"arch\": \"toy\"}"));
    const int *idx;
    size_t n;
    int rc;
    double first = -1;
    while ((rc = sc_trainer_next(tr, &idx, &n)) == 1) {
        double loss = toy_step(t, idx, n, sc_trainer_rng(tr));
        if (first < 0) first = loss;
        SC_TEST_OK(sc_trainer_step(tr, loss, 0, NULL, NULL));
    }
    assert_int_equal(rc, 0);
    double last = sc_trainer_epoch_loss(tr);
    sc_trainer_free(tr);
    return resume ? last : last - first; /* fresh runs report the fall */
}

static void test_loss_falls_and_resume_is_exact(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("train");
    char *ck1 = sc_test_join(dir, "a.safetensors"), *ck2 = sc_test_join(dir, "b.safetensors");
    char *m2 = sc_test_join(dir, "b.jsonl");
    toy *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    toy_init(a);
    toy_init(b);
    double fall = run(a, ck1, NULL, 0, 0);
    assert_true(fall < -0.5); /* loss fell by more than 0.5 nats */
    /* Stopped after 23 steps (mid-epoch 2; a run always checkpoints its last
     * step), then resumed from that checkpoint: the params must equal the
     * uninterrupted run's bit for bit. */
    run(b, ck2, m2, 0, 23);
    toy_init(b); /* forget everything in memory: all state must come from the file */
    memset(b->w, 0, sizeof b->w);
    run(b, ck2, m2, 1, 0);
    assert_memory_equal(a->w, b->w, sizeof a->w);
    assert_memory_equal(a->b, b->b, sizeof a->b);
    assert_memory_equal(a->buf, b->buf, sizeof a->buf);
    /* The checkpoint is a model file: config metadata and named, shaped weights. */
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(ck2, &st));
    assert_string_equal(sc_safetensors_metadata(st, "saccade.config"), "{\"arch\": \"toy\"}");
    const float *w;
    int64_t shape[2] = {K, D};
    SC_TEST_OK(sc_safetensors_get_f32(st, "fc.weight", 2, shape, &w));
    assert_memory_equal(w, a->w, sizeof a->w);
    sc_safetensors_free(st);
    /* Metrics: one JSON line per step of both runs (23 + 37 = 60 steps). */
    int rc = sc_test_system("'%s' -c \"import json; L=[json.loads(l) for l in open('%s')]; "
                            "assert len(L)==60, len(L); assert [d['step'] for d in "
                            "L]==list(range(1,61)); assert L[-1]['step']==60; "
                            "assert all('loss' in d and 'lr' in d for d in L)\"",
                            sc_test_env("SACCADE_PYTHON"), m2);
    assert_int_equal(rc, 0);
    free(a);
    free(b);
    sc_test_rmtree(dir);
    free(ck1);
    free(ck2);
    free(m2);
    free(dir);
}

/* The checkpoint at path with its "saccade.train" metadata replaced. */
static void set_train_metadata(const char *path, const char *meta) {
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    sc_st_writer *w = sc_st_writer_new();
    for (size_t i = 0; i < sc_safetensors_count(st); i++) {
        sc_st_tensor_info in;
        SC_TEST_OK(sc_safetensors_info(st, i, &in));
        SC_TEST_OK(sc_st_writer_add_raw(w, in.name, in.dtype_id, in.data, in.ndim, in.shape));
    }
    SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.train", meta));
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);
    sc_safetensors_free(st);
}

static void test_resume_refuses_mismatch_and_garbage(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("train2");
    char *ck = sc_test_join(dir, "c.safetensors");
    toy *t = malloc(sizeof *t);
    toy_init(t);
    run(t, ck, NULL, 0, 5);
    sc_param p[2], bufs[1];
    toy_lists(t, p, bufs);
    sc_train_params tp = sc_train_default_params();
    tp.batch_size = 16;
    tp.seed = 12; /* different seed: a different batch order */
    tp.checkpoint_path = ck;
    tp.resume = 1;
    tp.progress_mode = 3;
    sc_trainer *tr;
    assert_int_equal(sc_trainer_create(&tp, N, p, 2, bufs, 1, &tr), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "seed 11"));
    tp.seed = 11;
    /* A negative or out-of-range step, or a generator state that is not 64
     * hex digits, is not a position to resume from. */
    static const char *const bad_meta[] = {
        "{\"step\": -1, \"seed\": 11, \"batch_size\": 16, \"n_examples\": 240, \"rng\": "
        "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
        "{\"step\": 9223372036854775808, \"seed\": 11, \"batch_size\": 16, \"n_examples\": 240, "
        "\"rng\": \"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
        "{\"step\": 1, \"seed\": 11, \"batch_size\": 16, \"n_examples\": 240, \"rng\": "
        "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\"}",
    };
    for (int i = 0; i < 3; i++) {
        set_train_metadata(ck, bad_meta[i]);
        assert_int_equal(sc_trainer_create(&tp, N, p, 2, bufs, 1, &tr), SC_ERR_FORMAT);
        assert_non_null(strstr(sc_last_error(), "c.safetensors"));
    }
    SC_TEST_OK(sc_write_file_atomic(ck, "garbage", 7));
    assert_int_equal(sc_trainer_create(&tp, N, p, 2, bufs, 1, &tr), SC_ERR_FORMAT);
    /* Divergence is reported, not trained through. */
    tp.resume = 0;
    tp.checkpoint_path = NULL;
    SC_TEST_OK(sc_trainer_create(&tp, N, p, 2, bufs, 1, &tr));
    const int *idx;
    size_t n;
    assert_int_equal(sc_trainer_next(tr, &idx, &n), 1);
    assert_int_equal(sc_trainer_step(tr, NAN, 0, NULL, NULL), SC_ERR_INTERNAL);
    assert_non_null(strstr(sc_last_error(), "diverged"));
    assert_int_equal(sc_trainer_next(tr, &idx, &n), 0);
    sc_trainer_free(tr);
    free(t);
    sc_test_rmtree(dir);
    free(ck);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_falls_and_resume_is_exact),
        cmocka_unit_test(test_resume_refuses_mismatch_and_garbage),
    };
    return cmocka_run_group_tests_name("train", tests, NULL, NULL);
}

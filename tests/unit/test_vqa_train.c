/* VQA training and evaluation library calls (sc_vqa_train.h): the recipe,
 * question sets from JSON lines, batches, the loss step (finite differences)
 * and the evaluation (against the model's own forward pass). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_vqa_train.h"

static void test_recipe(void **state) {
    (void)state;
    sc_vqa_train_params p = sc_vqa_train_default_params();
    assert_int_equal(p.epochs, 10);
    assert_int_equal(p.batch, 64);
    sc_train_params tp;
    SC_TEST_OK(sc_vqa_train_recipe(&p, 40000, &tp));
    /* 625 steps an epoch, cosine over all 6250, warm-up min(200, 6250 / 4) from 0.1 lr */
    assert_int_equal(tp.schedule.kind, SC_LR_COSINE);
    assert_int_equal((int)tp.schedule.t_max, 6250);
    assert_int_equal((int)tp.schedule.warmup_steps, 200);
    assert_float_equal(tp.schedule.warmup_start_factor, 0.1, 1e-12);
    assert_float_equal(tp.optim.lr, 0.002, 1e-9);
    assert_float_equal(tp.clip_grad_norm, 5.0, 0);
    assert_int_equal((int)tp.batch_size, 64);
    /* max_steps shortens the schedule and the warm-up with it */
    p.max_steps = 100;
    p.batch = 30;
    SC_TEST_OK(sc_vqa_train_recipe(&p, 1000, &tp));
    assert_int_equal((int)tp.schedule.t_max, 100);
    assert_int_equal((int)tp.schedule.warmup_steps, 25);
    assert_int_equal((int)tp.max_steps, 100);
    p.lr = 0;
    assert_int_equal(sc_vqa_train_recipe(&p, 1000, &tp), SC_ERR_INVALID_ARG);
    p = sc_vqa_train_default_params();
    assert_int_equal(sc_vqa_train_recipe(&p, 0, &tp), SC_ERR_INVALID_ARG);
}

/* Two flat-colour images (an RGB one and a gray one) and a JSON-lines file
 * of four questions about them in dir; returns the file's path. */
static char *write_jsonl(const char *dir, const char *lines_fmt) {
    sc_image a, b;
    SC_TEST_OK(sc_image_alloc(&a, 20, 10, 3));
    SC_TEST_OK(sc_image_alloc(&b, 8, 8, 1));
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 200; i++) a.data[c * 200 + i] = 0.2f + 0.3f * (float)c;
    for (int i = 0; i < 64; i++) b.data[i] = 0.6f;
    char pa[512], pb[512], path[512], text[2048];
    snprintf(pa, sizeof pa, "%s/a.png", dir);
    snprintf(pb, sizeof pb, "%s/b.png", dir);
    SC_TEST_OK(sc_image_save_png(&a, pa));
    SC_TEST_OK(sc_image_save_png(&b, pb));
    sc_image_free(&a);
    sc_image_free(&b);
    snprintf(path, sizeof path, "%s/q.jsonl", dir);
    snprintf(text, sizeof text, lines_fmt, pb); /* %s: an absolute image path */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return strdup(path);
}

static const char *GOOD =
    "{\"image\": \"a.png\", \"question\": \"what colour is it?\", \"answer\": \"Blue\"}\n"
    "\n"
    "{\"image\": \"%s\", \"question\": \"is it gray?\", \"answer\": \"yes\"}\n"
    "{\"image\": \"a.png\", \"question\": \"is it gray?\", \"answer\": \"no\"}\n"
    "{\"image\": \"b.png\", \"question\": \"what colour is it?\", \"answer\": \"GRAY\"}\n";

static sc_vqa_config tiny_config(void) {
    sc_vqa_config c = sc_vqa_default_config();
    c.image_size = 12;
    int ch[2] = {3, 4};
    c.encoder = sc_cnn_config_make(3, 2, ch);
    c.encoder.pool[0] = 1;
    c.encoder.batchnorm = 0;
    c.embed_dim = 5;
    c.hidden_dim = 6;
    c.att_dim = 4;
    c.hops = 2;
    c.max_len = 5;
    return c;
}

static void test_jsonl_dataset_batch_evaluate(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("vqa_train_jsonl");
    char *path = write_jsonl(dir, GOOD);
    sc_vqa_dataset d;
    SC_TEST_OK(sc_vqa_dataset_jsonl(&d, path, 12));
    assert_false(d.is_scenes);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.n_images, 2); /* b.png by relative and absolute path is one image */
    assert_int_equal(sc_vqa_dataset_n_images(&d), 2);
    assert_string_equal(d.answers[0], "blue"); /* lowercased */
    assert_string_equal(d.answers[3], "gray");
    assert_int_equal(d.image_of[0], 0);
    assert_int_equal(d.image_of[1], 1);
    assert_int_equal(d.image_of[2], 0);
    assert_int_equal(d.image_of[3], 1);
    /* flat colours survive the resize; the gray image is replicated */
    float img[3 * 12 * 12];
    sc_vqa_dataset_image(&d, 0, img);
    assert_float_equal(img[5], 0.2f, 2e-3);
    assert_float_equal(img[144 + 5], 0.5f, 2e-3);
    assert_float_equal(img[288 + 5], 0.8f, 2e-3);
    sc_vqa_dataset_image(&d, 1, img);
    assert_float_equal(img[5], img[288 + 5], 0);
    assert_float_equal(img[5], 0.6f, 2e-3);
    sc_vqa_vocab answers, vocab;
    SC_TEST_OK(sc_vqa_dataset_answers(&d, &answers));
    assert_int_equal(answers.n, 4); /* first appearance order */
    assert_string_equal(answers.words[0], "blue");
    assert_string_equal(answers.words[1], "yes");
    assert_string_equal(answers.words[2], "no");
    assert_string_equal(answers.words[3], "gray");

    SC_TEST_OK(sc_vqa_vocab_build((const char *const *)d.questions, (size_t)d.n, &vocab));
    sc_vqa_config cfg = tiny_config();
    sc_vqa_model *m;
    SC_TEST_OK(sc_vqa_create(&cfg, &vocab, &answers, 4, &m));
    int idx[4] = {3, 2, 1, 0}, lens[4], fam[4], box[4][4], ix[4];
    int32_t ids[4 * 5], tg[4];
    float imgs[4 * 3 * 12 * 12];
    SC_TEST_OK(sc_vqa_dataset_batch(&d, m, idx, 4, imgs, ids, lens, tg, fam, box, ix, NULL));
    assert_int_equal(tg[0], 3); /* "gray" */
    assert_int_equal(tg[1], 2);
    assert_int_equal(tg[3], 0);
    assert_int_equal(ix[0], 1);
    assert_int_equal(fam[0], -1);
    assert_int_equal(box[0][0], -1);
    assert_int_equal(lens[0], 4); /* what colour is it */
    sc_vqa_dataset_image(&d, 1, img);
    assert_memory_equal(imgs, img, sizeof img);

    /* evaluation: the model's own argmax, counted */
    sc_vqa_eval_result r;
    SC_TEST_OK(sc_vqa_evaluate(m, &d, 0, &r));
    int idx2[4] = {0, 1, 2, 3};
    SC_TEST_OK(sc_vqa_dataset_batch(&d, m, idx2, 4, imgs, ids, lens, tg, NULL, NULL, NULL, NULL));
    const float *logits, *att;
    SC_TEST_OK(sc_vqa_forward(m, imgs, ids, lens, 4, 0, &logits, &att));
    int correct = 0, per[4] = {0};
    for (int b = 0; b < 4; b++) {
        int best = 0;
        for (int a = 1; a < 4; a++)
            if (logits[b * 4 + a] > logits[b * 4 + best]) best = a;
        correct += best == tg[b];
        per[tg[b]] += best == tg[b];
    }
    assert_int_equal(r.n, 4);
    assert_int_equal(r.correct, correct);
    for (int a = 0; a < 4; a++) {
        assert_int_equal(r.ans_n[a], 1);
        assert_int_equal(r.ans_correct[a], per[a]);
    }
    assert_int_equal(r.point_n, 0); /* no boxes in a file */
    sc_vqa_eval_result_free(&r);

    /* frozen-encoder cache: the encoder's features of every image */
    float *cache, feats[2 * 64 * 4];
    SC_TEST_OK(sc_vqa_dataset_features(m, &d, &cache));
    int P = sc_vqa_grid_side(m) * sc_vqa_grid_side(m), C = sc_vqa_feature_dim(m);
    assert_true(P * C <= 64 * 4);
    float two[2 * 3 * 12 * 12];
    sc_vqa_dataset_image(&d, 0, two);
    sc_vqa_dataset_image(&d, 1, two + 3 * 144);
    SC_TEST_OK(sc_vqa_encode_images(m, two, 2, feats));
    assert_memory_equal(cache, feats, sizeof(float) * 2 * (size_t)P * C);
    free(cache);

    /* a model of another input size does not fit the set */
    sc_vqa_config c2 = tiny_config();
    c2.image_size = 16;
    sc_vqa_model *m2;
    SC_TEST_OK(sc_vqa_create(&c2, &vocab, &answers, 4, &m2));
    assert_int_equal(
        sc_vqa_dataset_batch(&d, m2, idx, 4, imgs, ids, lens, tg, NULL, NULL, NULL, NULL),
        SC_ERR_SHAPE);
    sc_vqa_free(m2);
    sc_vqa_free(m);
    sc_vqa_vocab_free(&vocab);
    sc_vqa_vocab_free(&answers);
    sc_vqa_dataset_free(&d);
    free(path);

    /* bad files: the line is named; nothing is kept */
    path = write_jsonl(dir, "{\"image\": \"a.png\", \"question\": \"q\", \"answer\": \"a\"}\n"
                            "{\"image\": \"%s\", \"question\": 3}\n");
    assert_int_equal(sc_vqa_dataset_jsonl(&d, path, 12), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "line 2"));
    assert_int_equal(d.n, 0);
    free(path);
    path = write_jsonl(dir, "\n\n%.0s");
    assert_int_equal(sc_vqa_dataset_jsonl(&d, path, 12), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "no questions"));
    free(path);
    path =
        write_jsonl(dir, "{\"image\": \"none.png\", \"question\": \"q\", \"answer\": \"a\"}\n%.0s");
    assert_int_not_equal(sc_vqa_dataset_jsonl(&d, path, 12), SC_OK);
    assert_non_null(strstr(sc_last_error(), "none.png"));
    free(path);
    free(dir);
}

/* Holding out part of a file: a partition of its questions in file order,
 * the same for the same seed, the held-out images copied. */
static void test_jsonl_split(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("vqa_train_split");
    char *path = write_jsonl(dir, GOOD);
    sc_vqa_dataset d, v, all;
    SC_TEST_OK(sc_vqa_dataset_jsonl(&all, path, 12));
    const size_t per = 3 * 12 * 12;
    int seen_other = 0;
    char first[64] = "";
    for (uint64_t seed = 0; seed < 8; seed++) {
        SC_TEST_OK(sc_vqa_dataset_jsonl(&d, path, 12));
        SC_TEST_OK(sc_vqa_dataset_split(&d, 0.5, seed, &v));
        assert_int_equal(d.n, 2);
        assert_int_equal(v.n, 2);
        assert_int_equal(d.n_images, 2); /* the training part keeps every image */
        assert_true(v.n_images >= 1 && v.n_images <= 2);
        /* each question in exactly one part, both parts in file order */
        int part[4], k = 0, t = 0, h = 0;
        for (int i = 0; i < 4; i++) {
            int in_t = t < d.n && !strcmp(d.questions[t], all.questions[i]) &&
                       !strcmp(d.answers[t], all.answers[i]) && d.image_of[t] == all.image_of[i];
            int in_v = h < v.n && !strcmp(v.questions[h], all.questions[i]) &&
                       !strcmp(v.answers[h], all.answers[i]);
            assert_true(in_t || in_v);
            part[i] = in_t ? 0 : 1;
            if (in_t) {
                t++;
            } else {
                /* its image, copied */
                assert_memory_equal(v.images + per * (size_t)v.image_of[h],
                                    all.images + per * (size_t)all.image_of[i],
                                    per * sizeof(float));
                h++;
            }
            k += part[i];
        }
        assert_int_equal(k, 2);
        /* the same seed holds out the same questions */
        sc_vqa_dataset d2, v2;
        SC_TEST_OK(sc_vqa_dataset_jsonl(&d2, path, 12));
        SC_TEST_OK(sc_vqa_dataset_split(&d2, 0.5, seed, &v2));
        for (int i = 0; i < v.n; i++) assert_string_equal(v.questions[i], v2.questions[i]);
        /* answers are distinct in GOOD: they name the held-out lines */
        char held[64];
        snprintf(held, sizeof held, "%s,%s", v.answers[0], v.answers[1]);
        if (seed == 0) snprintf(first, sizeof first, "%s", held);
        seen_other |= strcmp(held, first) != 0;
        sc_vqa_dataset_free(&d2);
        sc_vqa_dataset_free(&v2);
        sc_vqa_dataset_free(&d);
        sc_vqa_dataset_free(&v);
    }
    assert_true(seen_other); /* another seed, another split */
    /* 0 holds out nothing; at least one question, and never all */
    SC_TEST_OK(sc_vqa_dataset_jsonl(&d, path, 12));
    SC_TEST_OK(sc_vqa_dataset_split(&d, 0, 1, &v));
    assert_int_equal(d.n, 4);
    assert_int_equal(v.n, 0);
    SC_TEST_OK(sc_vqa_dataset_split(&d, 0.01, 1, &v));
    assert_int_equal(v.n, 1);
    assert_int_equal(d.n, 3);
    sc_vqa_dataset_free(&v);
    SC_TEST_OK(sc_vqa_dataset_split(&d, 0.99, 1, &v));
    assert_int_equal(v.n, 2);
    assert_int_equal(d.n, 1);
    sc_vqa_dataset_free(&v);
    assert_int_equal(sc_vqa_dataset_split(&d, 1.0, 1, &v), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_vqa_dataset_split(&d, -0.1, 1, &v), SC_ERR_INVALID_ARG);
    sc_vqa_dataset_free(&d);
    sc_vqa_dataset scenes = {.is_scenes = 1};
    assert_int_equal(sc_vqa_dataset_split(&scenes, 0.5, 1, &v), SC_ERR_INVALID_ARG);
    sc_vqa_dataset_free(&all);
    sc_test_rmtree(dir);
    free(path);
    free(dir);
}

/* The loss step's gradients against finite differences of its loss
 * (cross-entropy plus the attention-supervision term). */
typedef struct step_ctx {
    sc_vqa_model *m;
    const float *img;
    const int32_t *ids, *tg;
    const int *lens;
    const uint8_t *mask;
    float w;
} step_ctx;

static double step_loss(void *p) {
    step_ctx *c = p;
    float ce;
    double sup;
    SC_TEST_OK(
        sc_vqa_train_step(c->m, c->img, NULL, c->ids, c->lens, c->tg, c->mask, 3, c->w, &ce, &sup));
    return (double)ce + sup;
}

static void test_train_step_gradcheck(void **state) {
    (void)state;
    const char *texts[1] = {"a b c d e f"};
    const char *ans[1] = {"x y z"};
    sc_vqa_vocab v, a;
    SC_TEST_OK(sc_vqa_vocab_build(texts, 1, &v));
    SC_TEST_OK(sc_vqa_vocab_build(ans, 1, &a));
    sc_vqa_config cfg = tiny_config();
    sc_vqa_model *m;
    SC_TEST_OK(sc_vqa_create(&cfg, &v, &a, 3, &m));
    const int g = sc_vqa_grid_side(m), P = g * g, KP = cfg.hops * P;
    float *img = malloc(sizeof(float) * 3 * 3 * 144);
    sc_test_fill_uniform(img, 3 * 3 * 144, 0, 1, 1);
    int32_t ids[15] = {2, 3, 4, 5, 6, 7, 1, 0, 0, 0, 3, 3, 2, 0, 0}, tg[3] = {1, 0, 2};
    int lens[3] = {5, 2, 3};
    uint8_t *mask = calloc((size_t)3 * KP, 1);
    mask[0] = mask[1] = 1;    /* question 0: hop 1 on cells 0, 1 */
    mask[KP + P + P - 1] = 1; /* question 1: hop 2 on the last cell */
    step_ctx c = {m, img, ids, tg, lens, mask, 0.7f};
    /* without a mask (or weight) the attention term is 0 */
    float ce;
    double sup;
    SC_TEST_OK(sc_vqa_train_step(m, img, NULL, ids, lens, tg, NULL, 3, 0.7f, &ce, &sup));
    assert_true(ce > 0);
    assert_float_equal(sup, 0, 0);
    SC_TEST_OK(sc_vqa_train_step(m, img, NULL, ids, lens, tg, mask, 3, 0.0f, &ce, &sup));
    assert_float_equal(sup, 0, 0);
    const sc_param *ps;
    size_t np;
    sc_vqa_params(m, &ps, &np);
    sc_vqa_zero_grad(m);
    double l = step_loss(&c);
    SC_TEST_OK(sc_vqa_train_step(m, img, NULL, ids, lens, tg, mask, 3, 0.7f, &ce, &sup));
    assert_true(sup > 0);
    assert_float_equal(l, (double)ce + sup, 1e-6);
    sc_vqa_zero_grad(m);
    step_loss(&c);
    /* every gradient of that one step, before the checks' own steps add to them */
    float **gr = calloc(np, sizeof *gr);
    for (size_t i = 0; i < np; i++) {
        gr[i] = malloc(sizeof(float) * ps[i].n);
        memcpy(gr[i], ps[i].grad, sizeof(float) * ps[i].n);
    }
    int checked = 0;
    for (size_t i = 0; i < np; i++) {
        if (strncmp(ps[i].name, "encoder.", 8)) { /* the encoder: ReLU / max-pool kinks */
            sc_test_gradcheck(ps[i].name, step_loss, &c, ps[i].param, gr[i], ps[i].n, 8, 1e-2, 2e-2,
                              2e-3);
            checked++;
        }
        free(gr[i]);
    }
    free(gr);
    assert_true(checked >= 10);
    free(img);
    free(mask);
    sc_vqa_free(m);
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipe),
        cmocka_unit_test(test_jsonl_dataset_batch_evaluate),
        cmocka_unit_test(test_jsonl_split),
        cmocka_unit_test(test_train_step_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

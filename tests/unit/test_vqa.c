/* VQA: tokenizer, scenes VQA generator, SAN gradients, a tiny training run,
 * model files and the one-image API. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_captioner.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_vqa.h"

/* ------------------------------------------------------------ tokenizer */

static void test_tokenize(void **state) {
    (void)state;
    sc_vqa_tokens *t = malloc(sizeof *t);
    SC_TEST_OK(sc_vqa_tokenize("Is there a RED bag?", t));
    assert_int_equal(t->n, 5);
    assert_string_equal(t->words[0], "is");
    assert_string_equal(t->words[3], "red");
    assert_string_equal(t->words[4], "bag"); /* "?" dropped */
    SC_TEST_OK(sc_vqa_tokenize("  What's the T-Shirt's colour?!,.  ", t));
    assert_int_equal(t->n, 4);
    assert_string_equal(t->words[0], "what's");
    assert_string_equal(t->words[2], "t-shirt's");
    assert_string_equal(t->words[3], "colour");
    SC_TEST_OK(sc_vqa_tokenize("", t));
    assert_int_equal(t->n, 0);
    SC_TEST_OK(sc_vqa_tokenize("?? !! ...", t));
    assert_int_equal(t->n, 0);
    /* UTF-8: letters of every script are kept and lower-cased; malformed
     * bytes (a stray \xff, an overlong "/") separate tokens and never crash */
    SC_TEST_OK(sc_vqa_tokenize("caf\xc3\xa9 bag\xff", t));
    assert_int_equal(t->n, 2);
    assert_string_equal(t->words[0], "caf\xc3\xa9");
    assert_string_equal(t->words[1], "bag");
    SC_TEST_OK(sc_vqa_tokenize("B\xc3\x81G b\xc3\xa1g\xc2\xbf \xd0\xa7\xd1\x82\xd0\xbe "
                               "\xe4\xbb\x80\xe4\xb9\x88? what\xe2\x80\x99s a\xc0\xaf"
                               "b",
                               t));
    assert_int_equal(t->n, 7);
    assert_string_equal(t->words[0], "b\xc3\xa1g");               /* "BÁG" -> "bág" */
    assert_string_equal(t->words[1], "b\xc3\xa1g");               /* "¿" separates */
    assert_string_equal(t->words[2], "\xd1\x87\xd1\x82\xd0\xbe"); /* "Что" -> "что" */
    assert_string_equal(t->words[3], "\xe4\xbb\x80\xe4\xb9\x88"); /* "什么" */
    assert_string_equal(t->words[4], "what's");                   /* U+2019 apostrophe */
    assert_string_equal(t->words[5], "a");
    assert_string_equal(t->words[6], "b");
    /* a combining accent stays with its letter; alone it separates */
    SC_TEST_OK(sc_vqa_tokenize("ba\xcc\x81g \xcc\x81x", t));
    assert_int_equal(t->n, 2);
    assert_string_equal(t->words[0], "ba\xcc\x81g");
    assert_string_equal(t->words[1], "x");
    /* long words of 2-byte letters are cut at a character boundary */
    char wide[81] = "";
    for (int i = 0; i < 40; i++) strcat(wide, "\xc3\xa9");
    SC_TEST_OK(sc_vqa_tokenize(wide, t));
    assert_int_equal(t->n, 1);
    assert_int_equal((int)strlen(t->words[0]), 30);
    assert_memory_equal(t->words[0], wide, 30);
    /* very long words are cut, many tokens are counted */
    char big[400];
    memset(big, 'a', 100);
    big[100] = 0;
    SC_TEST_OK(sc_vqa_tokenize(big, t));
    assert_int_equal(t->n, 1);
    assert_int_equal((int)strlen(t->words[0]), SC_VQA_MAX_WORD - 1);
    big[0] = 0;
    for (int i = 0; i < 70; i++) strcat(big, "x ");
    SC_TEST_OK(sc_vqa_tokenize(big, t));
    assert_int_equal(t->n, SC_VQA_MAX_TOKENS);
    assert_int_equal(t->n_total, 70);
    assert_int_equal(sc_vqa_tokenize(NULL, t), SC_ERR_INVALID_ARG);
    free(t);
}

static void test_vocab_encode(void **state) {
    (void)state;
    const char *texts[2] = {"is there a red bag?", "What colour is the bag"};
    sc_vqa_vocab v;
    SC_TEST_OK(sc_vqa_vocab_build(texts, 2, &v));
    /* <pad> <unk> a bag colour is red the there what */
    assert_int_equal(v.n, 10);
    assert_string_equal(v.words[0], "<pad>");
    assert_string_equal(v.words[1], "<unk>");
    assert_string_equal(v.words[2], "a");
    assert_int_equal(sc_vqa_vocab_find(&v, "there"), 8);
    int32_t ids[6];
    int len, trunc;
    char unk[64];
    SC_TEST_OK(sc_vqa_encode(&v, "Is there a PURPLE bag, or a zebra?", 6, ids, &len, &trunc, unk,
                             sizeof unk));
    assert_int_equal(len, 6);
    assert_int_equal(trunc, 1); /* 8 tokens cut to 6 */
    assert_int_equal(ids[0], sc_vqa_vocab_find(&v, "is"));
    assert_int_equal(ids[3], SC_VQA_UNK);
    assert_int_equal(ids[5], SC_VQA_UNK); /* "or" */
    assert_string_equal(unk, "purple or");
    SC_TEST_OK(sc_vqa_encode(&v, "red bag", 6, ids, &len, &trunc, unk, sizeof unk));
    assert_int_equal(len, 2);
    assert_int_equal(trunc, 0);
    assert_int_equal(ids[2], SC_VQA_PAD);
    assert_string_equal(unk, "");
    SC_TEST_OK(sc_vqa_encode(&v, "?", 6, ids, &len, &trunc, unk, sizeof unk));
    assert_int_equal(len, 0);
    /* a one-word list has no id for unknown words: refused, not encoded */
    sc_vqa_vocab one;
    SC_TEST_OK(sc_vqa_vocab_from_json("[\"red\"]", &one));
    assert_int_equal(sc_vqa_encode(&one, "red bag", 6, ids, &len, &trunc, unk, sizeof unk),
                     SC_ERR_INVALID_ARG);
    sc_vqa_vocab_free(&one);
    /* JSON round trip */
    char *j = sc_vqa_vocab_to_json(&v);
    sc_vqa_vocab w;
    SC_TEST_OK(sc_vqa_vocab_from_json(j, &w));
    assert_int_equal(w.n, v.n);
    for (int i = 0; i < v.n; i++) assert_string_equal(w.words[i], v.words[i]);
    sc_vqa_vocab_free(&w);
    free(j);
    assert_int_not_equal(sc_vqa_vocab_from_json("{\"a\":1}", &w), SC_OK);
    assert_int_not_equal(sc_vqa_vocab_from_json("[1,2]", &w), SC_OK);
    sc_vqa_vocab_free(&v);
}

/* ------------------------------------------------------------ scenes VQA */

static sc_fashion_mnist g_train, g_test;
static sc_vqa_scene_pool g_ptrain, g_ptest;

static int setup_pools(void **state) {
    (void)state;
    if (sc_fashion_mnist_load("train", NULL, &g_train) ||
        sc_fashion_mnist_load("test", NULL, &g_test))
        return -1;
    sc_scenes_params p = sc_scenes_default_params();
    p.seed = 5;
    p.train = &g_train;
    p.test = &g_test;
    if (sc_vqa_scene_pool_make(&p, SC_SCENES_TRAIN, 200, &g_ptrain)) return -1;
    if (sc_vqa_scene_pool_make(&p, SC_SCENES_TEST, 200, &g_ptest)) return -1;
    return 0;
}
static int teardown_pools(void **state) {
    (void)state;
    sc_vqa_scene_pool_free(&g_ptrain);
    sc_vqa_scene_pool_free(&g_ptest);
    sc_fashion_mnist_free(&g_train);
    sc_fashion_mnist_free(&g_test);
    return 0;
}

static int has_word(const char *text, const char *w) {
    sc_vqa_tokens t;
    sc_vqa_tokenize(text, &t);
    for (int i = 0; i < t.n; i++)
        if (!strcmp(t.words[i], w)) return 1;
    return 0;
}

/* Independent oracle from the question text and the scene annotation, for
 * the families whose text determines the answer directly. Returns the
 * expected answer word or NULL if this oracle does not cover the question. */
static const char *oracle(const sc_scene_info *s, const char *text, char *buf) {
    int colour = -1, cls = -1;
    for (int c = 0; c < SC_SCENES_NUM_COLOURS; c++)
        if (has_word(text, sc_scenes_colour_name(c))) colour = c;
    for (int k = 0; k < 10; k++)
        if (has_word(text, sc_scenes_noun(k))) cls = k;
    if (has_word(text, "many") || has_word(text, "number")) {
        int n = 0;
        for (int i = 0; i < s->n_items; i++) {
            int k = s->items[i].cls;
            if (has_word(text, "shoes"))
                n += k == 5 || k == 7 || k == 9;
            else if (colour >= 0)
                n += s->items[i].colour == colour;
            else
                n++;
        }
        sprintf(buf, "%d", n);
        return buf;
    }
    if (has_word(text, "colour") && !has_word(text, "same") && cls >= 0) {
        for (int i = 0; i < s->n_items; i++)
            if (s->items[i].cls == cls) return sc_scenes_colour_name(s->items[i].colour);
        return "missing";
    }
    if ((has_word(text, "there") || has_word(text, "see") || has_word(text, "contain")) &&
        !has_word(text, "many") && !has_word(text, "number")) {
        int any = 0;
        for (int i = 0; i < s->n_items; i++)
            any |=
                (colour < 0 || s->items[i].colour == colour) && (cls < 0 || s->items[i].cls == cls);
        return any ? "yes" : "no";
    }
    return NULL;
}

static void test_scene_questions(void **state) {
    (void)state;
    sc_vqa_vocab answers, vocab;
    SC_TEST_OK(sc_vqa_scene_answers(&answers));
    SC_TEST_OK(sc_vqa_scene_vocab(&vocab));
    assert_int_equal(answers.n, 24);
    enum { N = 1200 };
    int counts[24] = {0}, fam_n[SC_VQA_NUM_FAMILIES] = {0}, oracle_checked = 0, named = 0;
    for (int i = 0; i < N; i++) {
        sc_vqa_question q, q2;
        SC_TEST_OK(sc_vqa_scene_question(&g_ptest, 9, (uint64_t)i, &q));
        /* determinism: a function of (seed, split, index) */
        SC_TEST_OK(sc_vqa_scene_question(&g_ptest, 9, (uint64_t)i, &q2));
        assert_memory_equal(&q, &q2, sizeof q);
        assert_int_equal(q.family, i % SC_VQA_NUM_FAMILIES);
        fam_n[q.family]++;
        assert_true(q.scene >= 0 && q.scene < g_ptest.n);
        const sc_scene_info *s = &g_ptest.info[q.scene];
        assert_int_equal(s->split, SC_SCENES_TEST);
        assert_int_equal(sc_vqa_scene_check(s, &q), 1);
        assert_string_equal(answers.words[q.answer_id], q.answer);
        counts[q.answer_id]++;
        char buf[16];
        const char *exp = oracle(s, q.text, buf);
        if (exp &&
            (q.family == SC_VQA_COUNT || q.family == SC_VQA_COLOUR || q.family == SC_VQA_EXIST)) {
            if (strcmp(exp, q.answer))
                fail_msg("'%s' on scene %d: expected %s, generator says %s", q.text, q.scene, exp,
                         q.answer);
            oracle_checked++;
        }
        /* every template word is in the scenes vocabulary */
        int32_t ids[SC_VQA_MAX_TOKENS];
        int len, tr;
        char unk[128];
        SC_TEST_OK(
            sc_vqa_encode(&vocab, q.text, SC_VQA_MAX_TOKENS, ids, &len, &tr, unk, sizeof unk));
        if (unk[0]) fail_msg("'%s': words outside the scenes vocabulary: %s", q.text, unk);
        if (q.item >= 0) {
            named++;
            assert_true(q.item < s->n_items);
        }
        if (q.family == SC_VQA_COLOUR || q.family == SC_VQA_CLASS) assert_true(q.item >= 0);
        if (q.family == SC_VQA_RELATION) { /* yes exactly when the pair is in that relation */
            int rr = sc_vqa_scene_relation(s, q.ref[0], q.ref[1]);
            assert_true(rr >= 0 && rr < 4);
            assert_int_equal(rr == q.rel, !strcmp(q.answer, "yes"));
            /* and its converse: A left of B <=> B right of A */
            assert_int_equal(sc_vqa_scene_relation(s, q.ref[1], q.ref[0]), rr ^ 1);
        }
        if (q.family == SC_VQA_CLASS)
            assert_int_equal(sc_vqa_scene_relation(s, q.item, q.ref[0]), q.rel);
    }
    assert_int_equal(sc_vqa_scene_relation(&g_ptest.info[0], 0, 0), -1);
    assert_int_equal(sc_vqa_scene_relation(&g_ptest.info[0], 0, 7), -1);
    assert_int_equal(sc_vqa_scene_relation(NULL, 0, 1), -1);
    /* Only count, colour and exist are covered by the text oracle. */
    assert_true(oracle_checked >= N / 2 - 5);
    assert_true(named > N / 4);
    /* Balance: yes/no near 50/50 within yes/no families; counts, colours and
     * classes near uniform (200 questions per family). */
    int yes = counts[0], no = counts[1];
    assert_true(abs(yes - no) < (yes + no) / 6);
    for (int a = 2; a < 6; a++) assert_true(counts[a] > 200 / 4 / 2 && counts[a] < 200 / 4 * 2);
    for (int a = 6; a < 14; a++) assert_true(counts[a] > 200 / 8 / 3 && counts[a] < 200 / 8 * 3);
    for (int a = 14; a < 24; a++) assert_true(counts[a] > 200 / 10 / 3 && counts[a] < 200 / 10 * 3);
    /* seeds matter, splits are separate */
    int differ = 0;
    for (int i = 0; i < 30; i++) {
        sc_vqa_question a, b;
        SC_TEST_OK(sc_vqa_scene_question(&g_ptest, 9, (uint64_t)i, &a));
        SC_TEST_OK(sc_vqa_scene_question(&g_ptest, 10, (uint64_t)i, &b));
        differ += strcmp(a.text, b.text) != 0 || a.scene != b.scene;
        SC_TEST_OK(sc_vqa_scene_question(&g_ptrain, 9, (uint64_t)i, &b));
        assert_int_equal(g_ptrain.info[b.scene].split, SC_SCENES_TRAIN);
    }
    assert_true(differ > 20);
    for (int i = 0; i < 50; i++)
        for (int k = 0; k < g_ptrain.info[i].n_items; k++)
            assert_true(g_ptrain.info[i].items[k].source_index < g_train.n);
    assert_true(memcmp(g_ptrain.pixels, g_ptest.pixels, 3 * 96 * 96) != 0);
    /* a tampered answer is caught by the checker */
    sc_vqa_question q;
    SC_TEST_OK(sc_vqa_scene_question(&g_ptest, 9, 1, &q));
    q.answer_id = q.answer_id == 2 ? 3 : 2;
    assert_int_equal(sc_vqa_scene_check(&g_ptest.info[q.scene], &q), 0);
    sc_vqa_vocab_free(&answers);
    sc_vqa_vocab_free(&vocab);
}

/* ------------------------------------------------------------ gradients */

typedef struct gc_ctx {
    sc_vqa_model *m;
    float *img;
    int32_t *ids;
    int *lens;
    float *wgt;
    float *watt; /* NULL, or weights of the attention maps (B, hops, P) */
    int B, NA, KP;
} gc_ctx;

static double gc_loss(void *p) {
    gc_ctx *c = p;
    const float *logits, *att = NULL;
    if (sc_vqa_forward(c->m, c->img, c->ids, c->lens, c->B, 1, &logits, c->watt ? &att : NULL))
        return NAN;
    double s = 0;
    for (int i = 0; i < c->B * c->NA; i++) s += (double)logits[i] * c->wgt[i];
    if (c->watt)
        for (int i = 0; i < c->B * c->KP; i++) s += (double)att[i] * c->watt[i];
    return s;
}

static sc_vqa_config tiny_config(sc_vqa_arch arch, int batchnorm) {
    sc_vqa_config c = sc_vqa_default_config();
    c.arch = arch;
    c.image_size = 12;
    int ch[2] = {3, 4};
    c.encoder = sc_cnn_config_make(3, 2, ch);
    c.encoder.pool[0] = 1;
    c.encoder.batchnorm = batchnorm;
    c.embed_dim = 5;
    c.hidden_dim = 6;
    c.att_dim = 4;
    c.hops = 2;
    c.max_len = 5;
    return c;
}

/* att: the loss also weighs the attention maps (sc_vqa_backward_att), as an
 * attention-supervision term does. */
static int g_hop_coords; /* gradcheck_arch builds hop_coords models while set */
static void gradcheck_arch(sc_vqa_arch arch, int mlp, int att) {
    const char *texts[1] = {"a b c d e f"};
    const char *ans[1] = {"x y z"};
    sc_vqa_vocab v, a;
    SC_TEST_OK(sc_vqa_vocab_build(texts, 1, &v));
    SC_TEST_OK(sc_vqa_vocab_build(ans, 1, &a)); /* 5 answers incl. specials: fine */
    sc_vqa_config cfg = tiny_config(arch, 1);
    cfg.mlp_dim = mlp;
    cfg.hop_coords = g_hop_coords;
    if (arch == SC_VQA_COATT) cfg.embed_dim = cfg.hidden_dim; /* Q_w and V share D */
    sc_vqa_model *m;
    SC_TEST_OK(sc_vqa_create(&cfg, &v, &a, 3, &m));
    gc_ctx c = {.m = m, .B = 3, .NA = a.n};
    c.img = malloc(sizeof(float) * 3 * 3 * 12 * 12);
    sc_test_fill_uniform(c.img, 3 * 3 * 12 * 12, 0, 1, 1);
    int32_t ids[15] = {2, 3, 4, 5, 6, 7, 1, 0, 0, 0, 3, 3, 2, 0, 0};
    int lens[3] = {5, 2, 3};
    c.ids = ids;
    c.lens = lens;
    c.wgt = malloc(sizeof(float) * 3 * (size_t)a.n);
    sc_test_fill_uniform(c.wgt, 3 * (size_t)a.n, -1, 1, 2);
    /* weights large enough that the LSTM and attention are far from linear */
    const sc_param *ps;
    size_t np;
    sc_vqa_params(m, &ps, &np);
    for (size_t i = 0; i < np; i++)
        if (strstr(ps[i].name, "hops") || strstr(ps[i].name, "lstm") ||
            strstr(ps[i].name, "coatt") || strstr(ps[i].name, "phrase"))
            for (size_t j = 0; j < ps[i].n; j++) ps[i].param[j] *= 3.0f;
    if (att) {
        c.KP = sc_vqa_attention_maps(m) * sc_vqa_grid_side(m) * sc_vqa_grid_side(m);
        c.watt = malloc(sizeof(float) * 3 * (size_t)c.KP);
        sc_test_fill_uniform(c.watt, 3 * (size_t)c.KP, -2, 2, 3);
    }
    sc_vqa_zero_grad(m);
    assert_false(isnan(gc_loss(&c)));
    SC_TEST_OK(sc_vqa_backward_att(m, c.wgt, c.watt));
    int checked = 0;
    for (size_t i = 0; i < np; i++) {
        /* The encoder (sc_cnn, ReLU + max-pool kinks) is checked exactly
         * against PyTorch in tests/parity/test_vqa_parity.c. */
        if (!strncmp(ps[i].name, "encoder.", 8)) continue;
        /* copy the gradient: the loss callback reruns forward only */
        float *g = malloc(sizeof(float) * ps[i].n);
        memcpy(g, ps[i].grad, sizeof(float) * ps[i].n);
        char what[160];
        snprintf(what, sizeof what, "%s %s", sc_vqa_arch_name(arch), ps[i].name);
        sc_test_gradcheck(what, gc_loss, &c, ps[i].param, g, ps[i].n, 12, 1e-2, 2e-2, 2e-3);
        free(g);
        checked++;
    }
    assert_true(checked >= (arch == SC_VQA_SAN     ? 17
                            : arch == SC_VQA_COATT ? 36
                                                   : 7) +
                               (mlp && arch != SC_VQA_COATT ? 2 : 0));
    free(c.img);
    free(c.wgt);
    free(c.watt);
    sc_vqa_free(m);
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
}

static void test_gradcheck_san(void **state) {
    (void)state;
    gradcheck_arch(SC_VQA_SAN, 0, 0);
    gradcheck_arch(SC_VQA_SAN, 7, 0); /* MLP answer head */
    gradcheck_arch(SC_VQA_SAN, 0, 1); /* a gradient on the hops' attention maps */
    g_hop_coords = 1;                 /* the hops' expected positions feed the classifier */
    gradcheck_arch(SC_VQA_SAN, 0, 0);
    gradcheck_arch(SC_VQA_SAN, 6, 1);
    g_hop_coords = 0;
}
/* Co-attention: phrases (max over widths), the LSTM over them, three levels,
 * the answer MLP; padded questions of lengths 5, 2, 3. */
static void test_gradcheck_coatt(void **state) {
    (void)state;
    gradcheck_arch(SC_VQA_COATT, 0, 0);
    gradcheck_arch(SC_VQA_COATT, 7, 1); /* answer width 7; a gradient on the image attention */
}
static void test_gradcheck_baselines(void **state) {
    (void)state;
    gradcheck_arch(SC_VQA_QONLY, 0, 0);
    gradcheck_arch(SC_VQA_POOLED, 5, 0);
}

/* ------------------------------------------------------------ training */

static void test_tiny_training(void **state) {
    (void)state;
    sc_vqa_vocab v, a;
    SC_TEST_OK(sc_vqa_scene_vocab(&v));
    SC_TEST_OK(sc_vqa_scene_answers(&a));
    sc_vqa_config cfg = sc_vqa_default_config();
    int ch[2] = {8, 16};
    cfg.encoder = sc_cnn_config_make(3, 2, ch);
    cfg.encoder.stride[0] = 2;
    cfg.encoder.kernel[0] = 5;
    cfg.encoder.pool[0] = cfg.encoder.pool[1] = 1;
    cfg.hidden_dim = 32;
    cfg.embed_dim = 16;
    cfg.att_dim = 16;
    sc_vqa_model *m;
    SC_TEST_OK(sc_vqa_create(&cfg, &v, &a, 1, &m));
    enum { B = 16 };
    int T = cfg.max_len;
    float *img = malloc(sizeof(float) * B * 3 * 96 * 96);
    int32_t ids[B * 20], tg[B];
    int lens[B];
    for (int b = 0; b < B; b++) {
        sc_vqa_question q;
        SC_TEST_OK(sc_vqa_scene_question(&g_ptrain, 1, (uint64_t)b, &q));
        sc_vqa_scene_pool_image(&g_ptrain, q.scene, img + (size_t)b * 3 * 96 * 96);
        SC_TEST_OK(sc_vqa_encode(&v, q.text, T, ids + b * T, &lens[b], NULL, NULL, 0));
        tg[b] = q.answer_id;
    }
    const sc_param *ps;
    size_t np;
    sc_vqa_params(m, &ps, &np);
    sc_optim_params op = sc_adam_default_params();
    op.lr = 3e-3;
    sc_optim *o;
    SC_TEST_OK(sc_optim_create(&op, ps, np, &o));
    float dl[B * 24], first = 0, last = 0;
    for (int step = 0; step < 50; step++) {
        const float *logits;
        sc_vqa_zero_grad(m);
        SC_TEST_OK(sc_vqa_forward(m, img, ids, lens, B, 1, &logits, NULL));
        float loss;
        memset(dl, 0, sizeof dl);
        SC_TEST_OK(sc_cross_entropy(logits, tg, B, a.n, NULL, &loss, NULL, dl));
        SC_TEST_OK(sc_vqa_backward(m, dl));
        SC_TEST_OK(sc_optim_step(o));
        if (step == 0) first = loss;
        last = loss;
    }
    /* memorising 16 questions: the loss must fall far below its start (~log 24) */
    assert_true(first > 2.0f);
    assert_true(last < 0.5f * first);
    sc_optim_free(o);
    free(img);
    sc_vqa_free(m);
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
}

/* ------------------------------------------------------------ files, ask */

static void test_save_load_ask(void **state) {
    (void)state;
    sc_vqa_vocab v, a;
    SC_TEST_OK(sc_vqa_scene_vocab(&v));
    SC_TEST_OK(sc_vqa_scene_answers(&a));
    sc_vqa_config cfg = tiny_config(SC_VQA_SAN, 1);
    cfg.image_size = 24;
    sc_vqa_model *m, *m2;
    SC_TEST_OK(sc_vqa_create(&cfg, &v, &a, 7, &m));
    char *dir = sc_test_tmpdir("vqa_unit");
    char *path = sc_test_join(dir, "m.safetensors");
    SC_TEST_OK(sc_vqa_save(m, path));
    SC_TEST_OK(sc_vqa_load(path, &m2));
    assert_int_equal(sc_vqa_get_vocab(m2)->n, v.n);
    assert_int_equal(sc_vqa_get_answers(m2)->n, 24);
    assert_int_equal(sc_vqa_get_config(m2)->hops, 2);
    sc_image img;
    SC_TEST_OK(sc_image_alloc(&img, 40, 30, 3)); /* any size: resized */
    sc_test_fill_uniform(img.data, 3 * 40 * 30, 0, 1, 4);
    SC_TEST_OK(sc_vqa_set_image(m, &img));
    SC_TEST_OK(sc_vqa_set_image(m2, &img));
    sc_vqa_answer *r1 = malloc(sizeof *r1), *r2 = malloc(sizeof *r2);
    SC_TEST_OK(sc_vqa_ask(m, "is there a red zebra?", 3, r1));
    SC_TEST_OK(sc_vqa_ask(m2, "is there a red zebra?", 3, r2));
    assert_int_equal(r1->n_top, 3);
    assert_int_equal(r1->top[0], r2->top[0]);
    assert_float_equal(r1->prob[0], r2->prob[0], 1e-6);
    assert_true(r1->prob[0] >= r1->prob[1] && r1->prob[1] >= r1->prob[2]);
    assert_string_equal(r1->unknown, "zebra");
    assert_int_equal(r1->hops, 2);
    int P = r1->grid * r1->grid;
    for (int k = 0; k < 2; k++) {
        double s = 0;
        for (int i = 0; i < P; i++) s += r1->att[k * P + i];
        assert_float_equal(s, 1.0, 1e-4);
    }
    assert_int_equal(sc_vqa_ask(m, " ? ", 1, r1), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_vqa_ask(m,
                          "is is is is is is is is is is is is is is is is is is is is is is "
                          "is is is is",
                          1, r1));
    assert_int_equal(r1->truncated, 1);
    assert_int_equal(r1->n_tokens, cfg.max_len);
    /* a model file missing its metadata is refused with a message */
    sc_st_writer *w = sc_st_writer_new();
    float x = 1;
    int64_t shape[1] = {1};
    SC_TEST_OK(sc_st_writer_add_f32(w, "x", &x, 1, shape, SC_ST_F32));
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);
    sc_vqa_model *bad = NULL;
    assert_int_equal(sc_vqa_load(path, &bad), SC_ERR_FORMAT);
    assert_null(bad);
    assert_non_null(strstr(sc_last_error(), "not a VQA model"));
    /* bad configs */
    sc_vqa_config c2 = cfg;
    c2.hops = 0;
    assert_int_equal(sc_vqa_create(&c2, &v, &a, 1, &bad), SC_ERR_INVALID_ARG);
    assert_int_not_equal(sc_vqa_config_from_json("{\"arch\":\"nope\"}", &c2), SC_OK);
    char *js = sc_vqa_config_to_json(&cfg);
    SC_TEST_OK(sc_vqa_config_from_json(js, &c2));
    assert_int_equal(c2.image_size, 24);
    assert_int_equal(c2.encoder.nstages, 2);
    assert_int_equal(c2.mlp_dim, 0);
    assert_string_equal(c2.encoder_from, "");
    assert_null(strstr(js, "encoder_from")); /* files of the old form stay the same */
    free(js);
    /* encoder_from (escaped), freeze_encoder and mlp_dim round trip */
    sc_vqa_config c3 = cfg;
    snprintf(c3.encoder_from, sizeof c3.encoder_from, "my \"enc\".safetensors");
    c3.freeze_encoder = 1;
    c3.mlp_dim = 9;
    js = sc_vqa_config_to_json(&c3);
    SC_TEST_OK(sc_vqa_config_from_json(js, &c2));
    assert_string_equal(c2.encoder_from, "my \"enc\".safetensors");
    assert_int_equal(c2.freeze_encoder, 1);
    assert_int_equal(c2.mlp_dim, 9);
    char *bad_js = strdup(js);
    char *f = strstr(bad_js, "\"freeze_encoder\":true");
    assert_non_null(f);
    memcpy(f + 17, "1   ", 4); /* freeze_encoder must be a boolean */
    assert_int_equal(sc_vqa_config_from_json(bad_js, &c2), SC_ERR_FORMAT);
    free(bad_js);
    free(js);
    /* hop_coords round trips, is absent when off, and needs the SAN */
    assert_int_equal(c2.hop_coords, 0);
    c3.hop_coords = 1;
    js = sc_vqa_config_to_json(&c3);
    SC_TEST_OK(sc_vqa_config_from_json(js, &c2));
    assert_int_equal(c2.hop_coords, 1);
    free(js);
    c3.arch = SC_VQA_POOLED;
    assert_int_equal(sc_vqa_config_validate(&c3), SC_ERR_INVALID_ARG);
    assert_null(sc_vqa_config_to_json(&c3));
    free(r1);
    free(r2);
    sc_image_free(&img);
    sc_vqa_free(m);
    sc_vqa_free(m2);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
}

/* Hostile model files: a refusal names the file once and keeps its reason;
 * an image with a NaN is refused rather than answered. */
static void test_hostile_files_and_images(void **state) {
    (void)state;
    sc_vqa_vocab v, a;
    SC_TEST_OK(sc_vqa_scene_vocab(&v));
    SC_TEST_OK(sc_vqa_scene_answers(&a));
    sc_vqa_config cfg = tiny_config(SC_VQA_SAN, 0);
    sc_vqa_model *m, *bad = NULL;
    SC_TEST_OK(sc_vqa_create(&cfg, &v, &a, 3, &m));
    char *dir = sc_test_tmpdir("vqa_hostile");
    char *path = sc_test_join(dir, "M");
    /* the model's metadata without its tensors, then with a broken vocabulary */
    for (int round = 0; round < 2; round++) {
        sc_st_writer *w = sc_st_writer_new();
        for (int i = 0; i < sc_vqa_metadata_count(m); i++) {
            const char *k;
            char *val;
            SC_TEST_OK(sc_vqa_metadata_at(m, i, &k, &val));
            SC_TEST_OK(sc_st_writer_set_metadata(
                w, k, round && !strcmp(k, "saccade.vocab") ? "[\"<pad>\", 7]" : val));
            free(val);
        }
        SC_TEST_OK(sc_st_writer_write(w, path));
        sc_st_writer_free(w);
        assert_int_not_equal(sc_vqa_load(path, &bad), SC_OK);
        assert_null(bad);
        const char *e = sc_last_error();
        size_t n = strlen(e);
        if (strncmp(e, path, strlen(path)) || strstr(e + strlen(path), path) ||
            n < strlen(path) + 8)
            fail_msg("round %d: message \"%s\" should name %s once and give a reason", round, e,
                     path);
        if (round) assert_non_null(strstr(e, "vqa vocab: entries must be strings"));
    }
    sc_image img;
    SC_TEST_OK(sc_image_alloc(&img, 20, 16, 3));
    sc_test_fill_uniform(img.data, 3 * 20 * 16, 0, 1, 2);
    img.data[2 * 20 * 16 + 4 * 20 + 9] = NAN; /* blue, x 9, y 4 */
    assert_int_equal(sc_vqa_set_image(m, &img), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "pixel (9, 4) of channel 2 is NaN"));
    img.data[2 * 20 * 16 + 4 * 20 + 9] = 0.5f;
    SC_TEST_OK(sc_vqa_set_image(m, &img));
    sc_image_free(&img);
    sc_vqa_free(m);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
}

/* ------------------------------------------------------------ pretrained encoder */

/* A small scenes SAN whose encoder is the shipped captioner's. */
static sc_vqa_model *captioner_san(int freeze, sc_vqa_config *cfg_out) {
    char *cap = sc_test_source_path("assets/models/scenes-captioner.safetensors");
    sc_vqa_vocab v, a;
    SC_TEST_OK(sc_vqa_scene_vocab(&v));
    SC_TEST_OK(sc_vqa_scene_answers(&a));
    sc_vqa_config cfg = sc_vqa_default_config();
    cfg.hidden_dim = 32;
    cfg.embed_dim = 16;
    cfg.att_dim = 16;
    SC_TEST_OK(sc_vqa_encoder_config_from_file(cap, &cfg));
    cfg.freeze_encoder = freeze;
    sc_vqa_model *m;
    SC_TEST_OK(sc_vqa_create(&cfg, &v, &a, 5, &m));
    SC_TEST_OK(sc_vqa_load_encoder(m, cap));
    if (cfg_out) *cfg_out = cfg;
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
    free(cap);
    return m;
}

/* Every encoder.* tensor of the model file equals the model's, bit for bit. */
static int encoder_tensors_equal(const char *path, sc_vqa_model *m) {
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    const sc_param *ps, *bs;
    size_t np, nb;
    sc_vqa_params(m, &ps, &np);
    sc_vqa_buffers(m, &bs, &nb);
    int n = 0, bad = 0;
    for (size_t i = 0; i < sc_safetensors_count(st); i++) {
        sc_st_tensor_info info;
        SC_TEST_OK(sc_safetensors_info(st, i, &info));
        if (strncmp(info.name, "encoder.", 8)) continue;
        const float *data;
        SC_TEST_OK(sc_safetensors_get_f32(st, info.name, -1, NULL, &data));
        const sc_param *p = NULL;
        for (size_t k = 0; k < np; k++)
            if (!strcmp(ps[k].name, info.name)) p = &ps[k];
        for (size_t k = 0; k < nb; k++)
            if (!strcmp(bs[k].name, info.name)) p = &bs[k];
        if (!p) { /* frozen: the encoder is not in the trainable list */
            assert_true(sc_vqa_get_config(m)->freeze_encoder);
            continue;
        }
        assert_int_equal(p->n, info.numel);
        bad += memcmp(p->param, data, sizeof(float) * p->n) != 0;
        n++;
    }
    sc_safetensors_free(st);
    return bad ? -1 : n;
}

static void test_encoder_from_captioner(void **state) {
    (void)state;
    char *cap = sc_test_source_path("assets/models/scenes-captioner.safetensors");
    sc_vqa_config cfg;
    sc_vqa_model *m = captioner_san(0, &cfg);
    /* config carried over: CoordConv CNN, ImageNet normalisation, 12x12x128 grid
     * (the shipped captioner's encoder: 5 stages, pools after the first 3) */
    assert_int_equal(cfg.encoder.in_channels, 5);
    assert_int_equal(cfg.encoder.nstages, 5);
    assert_int_equal(cfg.encoder.channels[cfg.encoder.nstages - 1], 128);
    assert_int_equal(cfg.image_size, 96);
    assert_float_equal(cfg.mean[0], 0.485f, 1e-7);
    assert_float_equal(cfg.std[2], 0.225f, 1e-7);
    assert_string_equal(cfg.encoder_from, "scenes-captioner.safetensors");
    assert_int_equal(sc_vqa_grid_side(m), 12);
    assert_int_equal(sc_vqa_feature_dim(m), 128);
    /* unfrozen: the 20 encoder tensors (12 params + 8 BN statistics), bit-exact */
    /* per stage: conv weight (no bias before BN), BN weight, bias, running mean, variance */
    assert_int_equal(encoder_tensors_equal(cap, m), 5 * cfg.encoder.nstages);
    /* The features are the captioner's own (its encode on ImageNet-normalised input). */
    sc_captioner *c;
    SC_TEST_OK(sc_captioner_load(cap, &c));
    float *img = malloc(sizeof(float) * 2 * 3 * 96 * 96), *x = malloc(sizeof(float) * 3 * 96 * 96);
    sc_vqa_scene_pool_image(&g_ptest, 3, img);
    sc_vqa_scene_pool_image(&g_ptest, 4, img + 3 * 96 * 96);
    float *fv = malloc(sizeof(float) * 2 * 144 * 128), *fc = malloc(sizeof(float) * 144 * 128);
    SC_TEST_OK(sc_vqa_encode_images(m, img, 2, fv));
    for (int b = 0; b < 2; b++) {
        for (int ch = 0; ch < 3; ch++)
            for (int i = 0; i < 96 * 96; i++)
                x[ch * 96 * 96 + i] =
                    (img[(b * 3 + ch) * 96 * 96 + i] - SC_IMAGENET_MEAN[ch]) / SC_IMAGENET_STD[ch];
        SC_TEST_OK(sc_captioner_encode(c, x, 96, 96, fc));
        sc_test_assert_close("vqa features vs captioner", fv + (size_t)b * 144 * 128, fc, 144 * 128,
                             1e-5, 1e-5);
    }
    sc_captioner_free(c);
    /* self-contained: saved and reloaded without the captioner file */
    char *dir = sc_test_tmpdir("vqa_enc");
    char *path = sc_test_join(dir, "m.safetensors");
    sc_vqa_free(m);
    m = captioner_san(1, NULL);
    SC_TEST_OK(sc_vqa_save(m, path));
    sc_vqa_model *m2;
    SC_TEST_OK(sc_vqa_load(path, &m2));
    const sc_vqa_config *c2 = sc_vqa_get_config(m2);
    assert_int_equal(c2->encoder.in_channels, 5);
    assert_int_equal(c2->freeze_encoder, 1);
    assert_string_equal(c2->encoder_from, "scenes-captioner.safetensors");
    assert_float_equal(c2->mean[1], 0.456f, 1e-7);
    float *fv2 = malloc(sizeof(float) * 2 * 144 * 128);
    SC_TEST_OK(sc_vqa_encode_images(m2, img, 2, fv2));
    assert_memory_equal(fv, fv2, sizeof(float) * 2 * 144 * 128);
    sc_vqa_answer *r1 = malloc(sizeof *r1), *r2 = malloc(sizeof *r2);
    sc_image im = {.w = 96, .h = 96, .c = 3, .data = img};
    SC_TEST_OK(sc_vqa_set_image(m, &im));
    SC_TEST_OK(sc_vqa_set_image(m2, &im));
    SC_TEST_OK(sc_vqa_ask(m, "what colour is the bag?", 2, r1));
    SC_TEST_OK(sc_vqa_ask(m2, "what colour is the bag?", 2, r2));
    assert_int_equal(r1->top[0], r2->top[0]);
    assert_float_equal(r1->prob[0], r2->prob[0], 1e-6);
    /* the reloaded model's config is frozen: its encoder is not trainable */
    const sc_param *ps;
    size_t np;
    sc_vqa_params(m2, &ps, &np);
    for (size_t i = 0; i < np; i++) assert_true(strncmp(ps[i].name, "encoder.", 8) != 0);
    /* and a VQA file is itself a valid encoder source */
    sc_vqa_config c3 = sc_vqa_default_config();
    SC_TEST_OK(sc_vqa_encoder_config_from_file(path, &c3));
    assert_int_equal(c3.encoder.in_channels, 5);
    assert_float_equal(c3.std[0], 0.229f, 1e-7);
    assert_string_equal(c3.encoder_from, "m.safetensors");
    free(r1);
    free(r2);
    free(fv2);
    sc_vqa_free(m2);
    sc_vqa_free(m);
    free(img);
    free(x);
    free(fv);
    free(fc);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
    free(cap);
}

static void write_st(const char *path, const char *config, const char *name, int64_t d0,
                     int64_t d1) {
    sc_st_writer *w = sc_st_writer_new();
    float *x = calloc((size_t)(d0 * d1 * 9), sizeof(float));
    int64_t shape[4] = {d0, d1, 3, 3};
    SC_TEST_OK(sc_st_writer_add_f32(w, name, x, 4, shape, SC_ST_F32));
    if (config) SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.config", config));
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);
    free(x);
}

static void test_encoder_from_bad_files(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("vqa_badenc");
    char *path = sc_test_join(dir, "x.safetensors");
    sc_vqa_config c = sc_vqa_default_config(), c0 = c;
    /* missing file */
    assert_int_not_equal(sc_vqa_encoder_config_from_file(path, &c), SC_OK);
    /* no encoder at all */
    write_st(path, NULL, "w", 2, 2);
    assert_int_equal(sc_vqa_encoder_config_from_file(path, &c), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "no cnn encoder"));
    assert_non_null(strstr(sc_last_error(), "x.safetensors"));
    /* a grayscale classifier: 1 input channel */
    write_st(path,
             "{\"arch\":\"classifier\",\"encoder\":{\"in_channels\":1,\"channels\":[4]},"
             "\"mean\":[0.3],\"std\":[0.3]}",
             "encoder.stages.0.conv.weight", 4, 1);
    assert_int_equal(sc_vqa_encoder_config_from_file(path, &c), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "1 input channel"));
    /* RGB config but the tensors are missing (only the conv, no BN) */
    write_st(path,
             "{\"encoder\":{\"in_channels\":3,\"channels\":[4]},\"image_size\":24,"
             "\"mean\":[0,0,0],\"std\":[1,1,1]}",
             "encoder.stages.0.conv.weight", 4, 3);
    assert_int_equal(sc_vqa_encoder_config_from_file(path, &c), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "x.safetensors"));
    assert_non_null(strstr(sc_last_error(), "bn"));
    /* a grid too large for the attention (96x96 positions) */
    write_st(path,
             "{\"encoder\":{\"in_channels\":3,\"channels\":[4],\"batchnorm\":false},"
             "\"mean\":[0,0,0],\"std\":[1,1,1]}",
             "encoder.stages.0.conv.weight", 4, 3);
    assert_int_equal(sc_vqa_encoder_config_from_file(path, &c), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "does not fit"));
    /* a wrong shape */
    write_st(path,
             "{\"encoder\":{\"in_channels\":3,\"channels\":[4],\"batchnorm\":false},"
             "\"image_size\":24,\"mean\":[0,0,0],\"std\":[1,1,1]}",
             "encoder.stages.0.conv.weight", 5, 3);
    assert_int_not_equal(sc_vqa_encoder_config_from_file(path, &c), SC_OK);
    /* no normalisation */
    write_st(path,
             "{\"encoder\":{\"in_channels\":3,\"channels\":[4],\"batchnorm\":false},"
             "\"image_size\":24}",
             "encoder.stages.0.conv.weight", 4, 3);
    assert_int_equal(sc_vqa_encoder_config_from_file(path, &c), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "normalisation"));
    /* cfg untouched by every failure */
    assert_memory_equal(&c, &c0, sizeof c);
    /* load_encoder refuses an encoder that differs from the model's */
    sc_vqa_vocab v, a;
    SC_TEST_OK(sc_vqa_scene_vocab(&v));
    SC_TEST_OK(sc_vqa_scene_answers(&a));
    sc_vqa_model *m;
    SC_TEST_OK(sc_vqa_create(&c, &v, &a, 1, &m));
    char *cap = sc_test_source_path("assets/models/scenes-captioner.safetensors");
    assert_int_equal(sc_vqa_load_encoder(m, cap), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "differs"));
    free(cap);
    sc_vqa_free(m);
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
}

/* A batch of scenes questions (images, ids, lens, targets). */
static void scene_batch(int B, int T, float *img, int32_t *ids, int *lens, int32_t *tg) {
    sc_vqa_vocab v;
    SC_TEST_OK(sc_vqa_scene_vocab(&v));
    for (int b = 0; b < B; b++) {
        sc_vqa_question q;
        SC_TEST_OK(sc_vqa_scene_question(&g_ptrain, 2, (uint64_t)b, &q));
        sc_vqa_scene_pool_image(&g_ptrain, q.scene, img + (size_t)b * 3 * 96 * 96);
        SC_TEST_OK(sc_vqa_encode(&v, q.text, T, ids + b * T, &lens[b], NULL, NULL, 0));
        tg[b] = q.answer_id;
    }
    sc_vqa_vocab_free(&v);
}

static void test_frozen_training(void **state) {
    (void)state;
    sc_vqa_model *m = captioner_san(1, NULL);
    char *cap = sc_test_source_path("assets/models/scenes-captioner.safetensors");
    enum { B = 8 };
    int T = sc_vqa_get_config(m)->max_len;
    float *img = malloc(sizeof(float) * B * 3 * 96 * 96);
    int32_t ids[B * 20], tg[B];
    int lens[B];
    scene_batch(B, T, img, ids, lens, tg);
    const sc_param *ps;
    size_t np;
    sc_vqa_params(m, &ps, &np);
    sc_optim_params op = sc_adam_default_params();
    op.lr = 3e-3;
    sc_optim *o;
    SC_TEST_OK(sc_optim_create(&op, ps, np, &o));
    float dl[B * 24], first = 0, last = 0;
    for (int step = 0; step < 10; step++) {
        const float *logits;
        sc_vqa_zero_grad(m);
        SC_TEST_OK(sc_vqa_forward(m, img, ids, lens, B, 1, &logits, NULL)); /* train mode */
        float loss;
        memset(dl, 0, sizeof dl);
        SC_TEST_OK(sc_cross_entropy(logits, tg, B, 24, NULL, &loss, NULL, dl));
        SC_TEST_OK(sc_vqa_backward(m, dl));
        SC_TEST_OK(sc_optim_step(o));
        if (step == 0) first = loss;
        last = loss;
    }
    assert_true(last < 0.7f * first);
    /* weights and BN running statistics bit-identical to the captioner's */
    /* BN running statistics: 2 buffers a stage; params checked below */
    assert_true(encoder_tensors_equal(cap, m) == 2 * sc_vqa_get_config(m)->encoder.nstages);
    char *dir = sc_test_tmpdir("vqa_frozen");
    char *path = sc_test_join(dir, "m.safetensors");
    SC_TEST_OK(sc_vqa_save(m, path));
    sc_vqa_model *m2;
    SC_TEST_OK(sc_vqa_load(path, &m2));
    sc_vqa_config c2 = *sc_vqa_get_config(m2);
    sc_vqa_free(m2);
    /* reload unfrozen so every encoder tensor is listed, then compare */
    c2.freeze_encoder = 0;
    sc_vqa_vocab v, a;
    SC_TEST_OK(sc_vqa_scene_vocab(&v));
    SC_TEST_OK(sc_vqa_scene_answers(&a));
    SC_TEST_OK(sc_vqa_create(&c2, &v, &a, 0, &m2));
    SC_TEST_OK(sc_vqa_load_encoder(m2, path));
    assert_int_equal(encoder_tensors_equal(cap, m2), 5 * c2.encoder.nstages);
    sc_vqa_free(m2);
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
    sc_optim_free(o);
    free(img);
    sc_vqa_free(m);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
    free(cap);
}

static void test_cached_features(void **state) {
    (void)state;
    sc_vqa_model *m = captioner_san(1, NULL);
    enum { B = 6 };
    int T = sc_vqa_get_config(m)->max_len;
    float *img = malloc(sizeof(float) * B * 3 * 96 * 96);
    float *feats = malloc(sizeof(float) * B * 144 * 128);
    int32_t ids[B * 20], tg[B];
    int lens[B];
    scene_batch(B, T, img, ids, lens, tg);
    const sc_param *ps;
    size_t np;
    sc_vqa_params(m, &ps, &np);
    size_t total = 0;
    for (size_t i = 0; i < np; i++) total += ps[i].n;
    float *g1 = malloc(sizeof(float) * total), *g2 = malloc(sizeof(float) * total);
    float l1[B * 24], l2[B * 24], dl[B * 24], loss1, loss2;
    const float *logits;
    /* uncached, train mode (the frozen encoder runs in eval mode) */
    sc_vqa_zero_grad(m);
    SC_TEST_OK(sc_vqa_forward(m, img, ids, lens, B, 1, &logits, NULL));
    memcpy(l1, logits, sizeof l1);
    memset(dl, 0, sizeof dl);
    SC_TEST_OK(sc_cross_entropy(l1, tg, B, 24, NULL, &loss1, NULL, dl));
    SC_TEST_OK(sc_vqa_backward(m, dl));
    for (size_t i = 0, o = 0; i < np; o += ps[i].n, i++)
        memcpy(g1 + o, ps[i].grad, sizeof(float) * ps[i].n);
    /* cached: features computed once (in a different batch order), then the head */
    SC_TEST_OK(sc_vqa_encode_images(m, img + 3 * 96 * 96, B - 1, feats + 144 * 128));
    SC_TEST_OK(sc_vqa_encode_images(m, img, 1, feats));
    sc_vqa_zero_grad(m);
    SC_TEST_OK(sc_vqa_forward_features(m, feats, ids, lens, B, 1, &logits, NULL));
    memcpy(l2, logits, sizeof l2);
    memset(dl, 0, sizeof dl);
    SC_TEST_OK(sc_cross_entropy(l2, tg, B, 24, NULL, &loss2, NULL, dl));
    SC_TEST_OK(sc_vqa_backward(m, dl));
    for (size_t i = 0, o = 0; i < np; o += ps[i].n, i++)
        memcpy(g2 + o, ps[i].grad, sizeof(float) * ps[i].n);
    assert_true(loss1 > 1.0f);
    assert_float_equal(loss1, loss2, 1e-5);
    sc_test_assert_close("cached logits", l2, l1, B * 24, 1e-5, 1e-5);
    sc_test_assert_close("cached grads", g2, g1, total, 1e-5, 1e-4);
    sc_vqa_free(m);
    free(img);
    free(feats);
    free(g1);
    free(g2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),
        cmocka_unit_test(test_vocab_encode),
        cmocka_unit_test(test_scene_questions),
        cmocka_unit_test(test_gradcheck_san),
        cmocka_unit_test(test_gradcheck_coatt),
        cmocka_unit_test(test_gradcheck_baselines),
        cmocka_unit_test(test_tiny_training),
        cmocka_unit_test(test_save_load_ask),
        cmocka_unit_test(test_hostile_files_and_images),
        cmocka_unit_test(test_encoder_from_captioner),
        cmocka_unit_test(test_encoder_from_bad_files),
        cmocka_unit_test(test_frozen_training),
        cmocka_unit_test(test_cached_features),
    };
    return cmocka_run_group_tests(tests, setup_pools, teardown_pools);
}

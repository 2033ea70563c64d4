/* Captioner unit tests: gradcheck of the training loss (LSTM + attention +
 * gate + dropout + cross-entropy + doubly stochastic penalty), training on a
 * toy task with the shared trainer, beam search invariants, vocabulary
 * validation, model file round trip and corrupt files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_train.h"
#include "sc_test.h"

static const char *toy_words[] = {"<pad>", "a", "b", "c", "d", "<unk>", "<start>", "<end>"};
static int g_ctx2out;    /* tiny_model builds ctx2out models while set */
static int g_att_coords; /* ... and att_coords models */

static sc_captioner *tiny_model(int gate, int tanh_att, float dropout, uint64_t seed) {
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(toy_words, 8, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.grid = 2;
    c.encoder_dim = 6;
    c.attention_dim = 5;
    c.embed_dim = 4;
    c.decoder_dim = 7;
    c.vocab_size = 8;
    c.gate = (sc_cap_gate)gate;
    c.attention_tanh = tanh_att;
    c.dropout = dropout;
    c.ctx2out = g_ctx2out;
    c.att_coords = g_att_coords;
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_create(&c, &v, seed, &m));
    sc_vocab_free(&v);
    return m;
}

/* ---------------------------------------------------------------- gradcheck */
enum { GB = 3, GL = 6, GP = 4, GE = 6 };
static const int32_t g_caps[GB * GL] = {6, 1, 2, 3, 7, 0, /* len 5 */
                                        6, 4, 7, 0, 0, 0, /* len 3 */
                                        6, 2, 2, 1, 3, 7 /* len 6 */};
static const int32_t g_lens[GB] = {5, 3, 6};

/* supervised attention (att_sup): targets per (b, j) of the captions above;
 * b1 j4 lies past caption 1's length and must be ignored */
static uint8_t g_mask[GB * GL * GP];
static const uint8_t *g_amask; /* NULL or g_mask */
static float g_sup;

static void fill_mask(void) {
    memset(g_mask, 0, sizeof g_mask);
    g_mask[(0 * GL + 2) * GP + 0] = g_mask[(0 * GL + 2) * GP + 1] = 1;
    g_mask[(0 * GL + 3) * GP + 3] = 1;
    g_mask[(1 * GL + 1) * GP + 2] = 1;
    g_mask[(1 * GL + 4) * GP + 0] = 1; /* past the end: ignored */
    g_mask[(2 * GL + 5) * GP + 1] = g_mask[(2 * GL + 5) * GP + 2] = 1;
}

typedef struct gctx {
    sc_captioner *m;
    float *feat;
} gctx;

static double g_loss(void *p) {
    gctx *c = p;
    sc_rng r;
    sc_rng_seed(&r, 99);
    sc_caption_batch b = {GB, GL, g_caps, g_lens, g_amask, NULL};
    sc_caption_loss_opts o = {
        .alpha_c = 1.0f, .train = 1, .backward = 0, .att_sup = g_sup, .item_heads = 0.0f};
    sc_caption_loss out;
    SC_TEST_OK(sc_captioner_loss(c->m, c->feat, &b, &o, &r, &out, NULL));
    return out.loss;
}

static void gradcheck_variant(int gate, int tanh_att) {
    sc_captioner *m = tiny_model(gate, tanh_att, 0.3f, 5);
    float feat[GB * GP * GE], dfeat[GB * GP * GE];
    sc_test_fill_uniform(feat, GB * GP * GE, -1.0f, 1.0f, 11);
    memset(dfeat, 0, sizeof dfeat);
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_captioner_params(m, &ps, &np));
    assert_int_equal(np, (gate ? 19 : 17) + (g_ctx2out ? 1 : 0));
    for (size_t i = 0; i < np; i++) memset(ps[i].grad, 0, ps[i].n * sizeof(float));
    for (size_t i = 0; g_att_coords && i < np; i++)
        if (!strcmp(ps[i].name, "decoder.decode_step.weight_ih")) {
            /* strong weights on the position inputs, so a wrong gradient through
             * them cannot hide inside the tolerances */
            int X = (int)ps[i].shape[1];
            assert_int_equal(X, 4 + 6 + 2);
            for (int r = 0; r < (int)ps[i].shape[0]; r++)
                for (int j = X - 2; j < X; j++) ps[i].param[(size_t)r * X + j] *= 25.0f;
        }
    sc_rng r;
    sc_rng_seed(&r, 99);
    sc_caption_batch b = {GB, GL, g_caps, g_lens, g_amask, NULL};
    sc_caption_loss_opts o = {
        .alpha_c = 1.0f, .train = 1, .backward = 1, .att_sup = g_sup, .item_heads = 0.0f};
    sc_caption_loss out;
    SC_TEST_OK(sc_captioner_loss(m, feat, &b, &o, &r, &out, dfeat));
    assert_int_equal(out.ntokens, 4 + 2 + 5);
    assert_true(out.penalty > 0 && out.ce > 0);
    assert_true(fabs(out.loss - out.ce - out.penalty - out.att_sup) < 1e-6);
    if (g_amask && g_sup > 0) {
        /* the value: -log of the mask's attention mass, from teacher forcing's
         * alphas (dropout acts after the attention, so eval alphas are the same) */
        assert_int_equal(out.att_steps, 4);
        double want = 0;
        for (int bb = 0; bb < GB; bb++) {
            float al[GL * GP];
            SC_TEST_OK(sc_captioner_teacher_force(m, feat + bb * GP * GE, g_caps + bb * GL,
                                                  g_lens[bb] - 1, NULL, al));
            for (int t = 0; t < g_lens[bb] - 1; t++) {
                double in = 0;
                int any = 0;
                for (int p = 0; p < GP; p++)
                    if (g_mask[(bb * GL + t + 1) * GP + p]) in += al[t * GP + p], any = 1;
                if (any) want -= log(in + 1e-6);
            }
        }
        want *= g_sup / 4;
        assert_true(fabs(out.att_sup - want) < 1e-5);
    } else {
        assert_int_equal(out.att_steps, 0);
        assert_true(out.att_sup == 0.0);
    }
    gctx c = {m, feat};
    for (size_t i = 0; i < np; i++) {
        char what[160];
        snprintf(what, sizeof what, "gate %d tanh %d ctx2out %d coords %d: %s", gate, tanh_att,
                 g_ctx2out, g_att_coords, ps[i].name);
        sc_test_gradcheck(what, g_loss, &c, ps[i].param, ps[i].grad, ps[i].n, 12, 1e-3, 3e-2, 2e-3);
    }
    sc_test_gradcheck("dfeatures", g_loss, &c, feat, dfeat, GB * GP * GE, 24, 1e-3, 3e-2, 2e-3);
    sc_captioner_free(m);
}

static void test_gradcheck(void **state) {
    (void)state;
    gradcheck_variant(SC_CAP_GATE_VECTOR, 0);
    gradcheck_variant(SC_CAP_GATE_SCALAR, 1);
    gradcheck_variant(SC_CAP_GATE_NONE, 0);
    g_ctx2out = 1; /* deep output: fc_ctx's gradient and the context's extra path */
    gradcheck_variant(SC_CAP_GATE_VECTOR, 0);
    gradcheck_variant(SC_CAP_GATE_NONE, 1);
    g_ctx2out = 0;
    g_att_coords = 1; /* the attended position enters the LSTM: a second path to alpha */
    gradcheck_variant(SC_CAP_GATE_VECTOR, 0);
    g_ctx2out = 1;
    gradcheck_variant(SC_CAP_GATE_SCALAR, 1);
    g_ctx2out = 0;
    g_att_coords = 0;
}

/* Supervised attention: its value and gradients (params and features). A mask
 * with a zero weight adds nothing. */
static void test_gradcheck_att_sup(void **state) {
    (void)state;
    fill_mask();
    g_amask = g_mask;
    g_sup = 0.0f;
    gradcheck_variant(SC_CAP_GATE_VECTOR, 0);
    g_sup = 0.7f;
    gradcheck_variant(SC_CAP_GATE_VECTOR, 0);
    gradcheck_variant(SC_CAP_GATE_SCALAR, 1);
    g_ctx2out = 1;
    gradcheck_variant(SC_CAP_GATE_VECTOR, 0);
    g_att_coords = 1;
    gradcheck_variant(SC_CAP_GATE_VECTOR, 0);
    g_att_coords = 0;
    g_ctx2out = 0;
    g_amask = NULL;
    g_sup = 0.0f;
    sc_captioner *m = tiny_model(SC_CAP_GATE_VECTOR, 0, 0.0f, 5);
    float feat[GB * GP * GE] = {0};
    sc_caption_batch b = {GB, GL, g_caps, g_lens, g_mask, NULL};
    sc_caption_loss out;
    sc_caption_loss_opts bad = {
        .alpha_c = 1.0f, .train = 0, .backward = 0, .att_sup = -1.0f, .item_heads = 0.0f};
    assert_int_equal(sc_captioner_loss(m, feat, &b, &bad, NULL, &out, NULL), SC_ERR_INVALID_ARG);
    bad.att_sup = NAN;
    assert_int_equal(sc_captioner_loss(m, feat, &b, &bad, NULL, &out, NULL), SC_ERR_INVALID_ARG);
    sc_captioner_free(m);
}

/* Padding beyond a caption's length must not change its loss terms: the
 * masked batch equals the per-sample losses weighted as the tutorial does. */
static void masking_matches_single(void) {
    sc_captioner *m = tiny_model(SC_CAP_GATE_VECTOR, 0, 0.0f, 3);
    float feat[GB * GP * GE];
    sc_test_fill_uniform(feat, GB * GP * GE, -1.0f, 1.0f, 12);
    sc_caption_loss_opts o = {
        .alpha_c = 0.0f, .train = 0, .backward = 0, .att_sup = 0.0f, .item_heads = 0.0f};
    sc_caption_batch b = {GB, GL, g_caps, g_lens, NULL, NULL};
    sc_caption_loss all, one;
    SC_TEST_OK(sc_captioner_loss(m, feat, &b, &o, NULL, &all, NULL));
    double sum = 0;
    for (int i = 0; i < GB; i++) {
        sc_caption_batch bi = {1, GL, g_caps + i * GL, g_lens + i, NULL, NULL};
        SC_TEST_OK(sc_captioner_loss(m, feat + i * GP * GE, &bi, &o, NULL, &one, NULL));
        sum += one.ce * one.ntokens;
    }
    assert_true(fabs(all.ce - sum / all.ntokens) < 1e-5);
    /* teacher forcing gives the same cross-entropy for one caption */
    float logits[5 * 8];
    SC_TEST_OK(sc_captioner_teacher_force(m, feat, g_caps, 4, logits, NULL));
    double ce = 0;
    for (int t = 0; t < 4; t++) {
        double mx = -1e30, s = 0;
        for (int v = 0; v < 8; v++) mx = fmax(mx, logits[t * 8 + v]);
        for (int v = 0; v < 8; v++) s += exp(logits[t * 8 + v] - mx);
        ce += -(logits[t * 8 + g_caps[t + 1]] - mx - log(s));
    }
    sc_caption_batch b0 = {1, GL, g_caps, g_lens, NULL, NULL};
    SC_TEST_OK(sc_captioner_loss(m, feat, &b0, &o, NULL, &one, NULL));
    assert_true(fabs(one.ce - ce / 4) < 1e-5);
    sc_captioner_free(m);
}

/* The inference step (teacher forcing, beam search) and the training loss are
 * separate code paths: they must agree, with and without ctx2out and att_coords. */
static void test_masking_matches_single(void **state) {
    (void)state;
    masking_matches_single();
    g_ctx2out = 1;
    masking_matches_single();
    g_att_coords = 1;
    masking_matches_single();
    g_ctx2out = 0;
    masking_matches_single();
    g_att_coords = 0;
}

/* ---------------------------------------------------------------- training */
static void test_training_loss_falls(void **state) {
    (void)state;
    /* 3 classes of images (features = class pattern + noise) and a fixed
     * caption per class. */
    enum { N = 24, L = 5 };
    sc_captioner *m = tiny_model(SC_CAP_GATE_VECTOR, 0, 0.1f, 8);
    static float feats[N * GP * GE];
    static int32_t caps[N * L], lens[N];
    const int32_t cls_caps[3][L] = {{6, 1, 2, 7, 0}, {6, 3, 3, 4, 7}, {6, 4, 7, 0, 0}};
    const int32_t cls_len[3] = {4, 5, 3};
    sc_test_fill_uniform(feats, N * GP * GE, -0.2f, 0.2f, 21);
    for (int i = 0; i < N; i++) {
        int k = i % 3;
        for (int p = 0; p < GP; p++) feats[(i * GP + p) * GE + k] += 1.5f;
        memcpy(caps + i * L, cls_caps[k], sizeof cls_caps[k]);
        lens[i] = cls_len[k];
    }
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_captioner_params(m, &ps, &np));
    sc_train_params tp = sc_train_default_params();
    tp.epochs = 40;
    tp.batch_size = 8;
    tp.seed = 3;
    tp.optim = sc_adam_default_params();
    tp.optim.lr = 0.02;
    tp.clip_grad_norm = 5.0;
    tp.log_every = 1000000;
    tp.progress_mode = 2;
    sc_trainer *tr;
    SC_TEST_OK(sc_trainer_create(&tp, N, ps, np, NULL, 0, &tr));
    const int *idx;
    size_t cnt;
    double first = -1, last = 0;
    static float bf[8 * GP * GE];
    static int32_t bc[8 * L], bl[8];
    int rc;
    while ((rc = sc_trainer_next(tr, &idx, &cnt)) == 1) {
        for (size_t j = 0; j < cnt; j++) {
            memcpy(bf + j * GP * GE, feats + idx[j] * GP * GE, sizeof(float) * GP * GE);
            memcpy(bc + j * L, caps + idx[j] * L, sizeof(int32_t) * L);
            bl[j] = lens[idx[j]];
        }
        sc_caption_batch b = {(int)cnt, L, bc, bl, NULL, NULL};
        sc_caption_loss_opts o = {
            .alpha_c = 1.0f, .train = 1, .backward = 1, .att_sup = 0.0f, .item_heads = 0.0f};
        sc_caption_loss out;
        SC_TEST_OK(sc_captioner_loss(m, bf, &b, &o, sc_trainer_rng(tr), &out, NULL));
        if (first < 0) first = out.loss;
        last = out.loss;
        SC_TEST_OK(sc_trainer_step(tr, out.loss, 0, NULL, NULL));
    }
    assert_int_equal(rc, 0);
    sc_trainer_free(tr);
    print_message("toy training: loss %.4f -> %.4f\n", first, last);
    assert_true(last < 0.3 * first);
    /* the trained model captions each class correctly (greedy) */
    for (int k = 0; k < 3; k++) {
        sc_beam_params bp = sc_captioner_beam_default_params();
        bp.beam_size = 1;
        sc_caption_result r;
        SC_TEST_OK(sc_captioner_beam_search(m, feats + k * GP * GE, &bp, &r));
        assert_true(r.hyps[0].finished);
        assert_int_equal(r.hyps[0].len, cls_len[k] - 1);
        for (int t = 0; t < r.hyps[0].len; t++)
            assert_int_equal(r.hyps[0].tokens[t], cls_caps[k][t + 1]);
        sc_caption_result_free(&r);
    }
    sc_captioner_free(m);
}

/* ---------------------------------------------------------------- beam search */
static sc_captioner *beam_model(float end_bias) {
    sc_captioner *m = tiny_model(SC_CAP_GATE_VECTOR, 0, 0.5f, 17);
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_captioner_params(m, &ps, &np));
    for (size_t i = 0; i < np; i++) {
        if (strcmp(ps[i].name, "decoder.fc.weight") == 0)
            for (size_t j = 0; j < ps[i].n; j++) ps[i].param[j] *= 20.0f; /* peaky */
        if (strcmp(ps[i].name, "decoder.fc.bias") == 0) ps[i].param[7] = end_bias;
    }
    return m;
}

static void test_beam_invariants(void **state) {
    (void)state;
    float feat[GP * GE];
    sc_test_fill_uniform(feat, GP * GE, -1.0f, 1.0f, 31);
    sc_captioner *m = beam_model(0.0f);
    /* beam 1 == greedy (argmax under teacher forcing of its own output) */
    sc_beam_params bp = sc_captioner_beam_default_params();
    bp.beam_size = 1;
    bp.max_len = 12;
    sc_caption_result r;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &r));
    int32_t tok[13] = {6};
    float logits[13 * 8];
    int n = 0;
    for (; n < 12; n++) {
        SC_TEST_OK(sc_captioner_teacher_force(m, feat, tok, n + 1, logits, NULL));
        int best = 0;
        for (int v = 1; v < 8; v++)
            if (logits[n * 8 + v] > logits[n * 8 + best]) best = v;
        tok[n + 1] = best;
        if (best == 7) {
            n++;
            break;
        }
    }
    assert_int_equal(r.hyps[0].len, n);
    for (int t = 0; t < n; t++) assert_int_equal(r.hyps[0].tokens[t], tok[t + 1]);
    sc_caption_result_free(&r);
    /* several beams: sorted, score = sum of logprobs, all finished */
    for (int k = 2; k <= 6; k++) {
        bp.beam_size = k;
        bp.length_penalty = k % 2 ? 1.0f : 0.0f;
        SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &r));
        assert_true(r.n_hyps >= 1 && r.n_hyps <= k);
        for (int i = 0; i < r.n_hyps; i++) {
            const sc_caption_hyp *h = &r.hyps[i];
            double s = 0;
            for (int t = 0; t < h->len; t++) {
                s += h->logprobs[t];
                assert_true(h->logprobs[t] <= 0);
                double as = 0;
                for (int p = 0; p < GP; p++) as += h->alphas[t * GP + p];
                assert_true(fabs(as - 1) < 1e-5);
            }
            assert_true(fabs(s - h->score) < 1e-4);
            double ns = bp.length_penalty ? h->score / h->len : h->score;
            assert_true(fabs(ns - h->norm_score) < 1e-5);
            if (h->finished) assert_int_equal(h->tokens[h->len - 1], 7);
            if (i > 0) assert_true(r.hyps[i - 1].norm_score >= h->norm_score);
        }
        sc_caption_result_free(&r);
    }
    sc_captioner_free(m);
}

static void test_beam_min_len_and_fallback(void **state) {
    (void)state;
    float feat[GP * GE];
    sc_test_fill_uniform(feat, GP * GE, -1.0f, 1.0f, 32);
    /* <end> very likely: captions are just <end> ... */
    sc_captioner *m = beam_model(100.0f);
    sc_beam_params bp = sc_captioner_beam_default_params();
    sc_caption_result r;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &r));
    assert_int_equal(r.hyps[0].len, 1);
    assert_string_equal(r.text, "");
    sc_caption_result_free(&r);
    /* ... unless a minimum length suppresses it */
    bp.min_len = 4;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &r));
    for (int i = 0; i < r.n_hyps; i++) {
        assert_true(r.hyps[i].finished);
        assert_int_equal(r.hyps[i].len, 5);
    }
    assert_non_null(r.words);
    assert_string_equal(r.words[4], "<end>");
    sc_caption_result_free(&r);
    sc_captioner_free(m);
    /* <end> impossible: the best unfinished beams come back (the tutorial crashes) */
    m = beam_model(-1e4f);
    bp = sc_captioner_beam_default_params();
    bp.beam_size = 3;
    bp.max_len = 7;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &r));
    assert_int_equal(r.n_hyps, 3);
    for (int i = 0; i < 3; i++) {
        assert_false(r.hyps[i].finished);
        assert_int_equal(r.hyps[i].len, 7);
        if (i) assert_true(r.hyps[i - 1].score >= r.hyps[i].score);
    }
    assert_non_null(r.text);
    for (int t = 0; t < 7; t++) assert_string_equal(r.words[t], toy_words[r.hyps[0].tokens[t]]);
    sc_caption_result_free(&r);
    /* bad params */
    bp.beam_size = 0;
    assert_int_equal(sc_captioner_beam_search(m, feat, &bp, &r), SC_ERR_INVALID_ARG);
    sc_captioner_free(m);
}

/* ---------------------------------------------------------------- vocabulary */
static void expect_vocab_error(const char *json, sc_status want, const char *needle) {
    sc_vocab v;
    sc_status st = sc_vocab_from_json(json, strlen(json), &v);
    if (st != want || !strstr(sc_last_error(), needle))
        fail_msg("vocab %s: got %d \"%s\", want %d with \"%s\"", json, st, sc_last_error(), want,
                 needle);
    assert_null(v.words);
}

static void test_vocab(void **state) {
    (void)state;
    const char *ok =
        "{\"a\": 1, \"b\": 2, \"<unk>\": 3, \"<start>\": 4, \"<end>\": 5, \"<pad>\": 0}";
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_json(ok, strlen(ok), &v));
    assert_int_equal(v.n, 6);
    assert_int_equal(v.pad, 0);
    assert_int_equal(v.unk, 3);
    assert_int_equal(v.start, 4);
    assert_int_equal(v.end, 5);
    assert_int_equal(sc_vocab_id(&v, "b"), 2);
    assert_int_equal(sc_vocab_id(&v, "zebra"), 3);
    assert_string_equal(sc_vocab_word(&v, 1), "a");
    assert_null(sc_vocab_word(&v, 6));
    char *js = sc_vocab_to_json(&v);
    sc_vocab w;
    SC_TEST_OK(sc_vocab_from_json(js, strlen(js), &w));
    for (int i = 0; i < v.n; i++) assert_string_equal(v.words[i], w.words[i]);
    free(js);
    sc_vocab_free(&v);
    sc_vocab_free(&w);
    expect_vocab_error("{\"a\": 1, \"<unk>\": 2, \"<start>\": 3, \"<pad>\": 0}", SC_ERR_FORMAT,
                       "<end> is missing");
    expect_vocab_error("{\"a\": 0, \"<unk>\": 2, \"<start>\": 3, \"<end>\": 4, \"<pad>\": 1}",
                       SC_ERR_FORMAT, "<pad> must have id 0");
    expect_vocab_error(
        "{\"a\": 1, \"a\": 2, \"<unk>\": 3, \"<start>\": 4, \"<end>\": 5, \"<pad>\": 0}",
        SC_ERR_FORMAT, "duplicate word");
    expect_vocab_error(
        "{\"a\": 1, \"b\": 1, \"<unk>\": 3, \"<start>\": 4, \"<end>\": 5, \"<pad>\": 0}",
        SC_ERR_FORMAT, "id 1 is used by");
    expect_vocab_error("{\"a\": 9, \"<unk>\": 2, \"<start>\": 3, \"<end>\": 4, \"<pad>\": 0}",
                       SC_ERR_FORMAT, "contiguous");
    expect_vocab_error("{\"a\": 1.5, \"<unk>\": 2, \"<start>\": 3, \"<end>\": 4, \"<pad>\": 0}",
                       SC_ERR_FORMAT, "not an integer");
    expect_vocab_error("{\"a\": -1, \"<unk>\": 2, \"<start>\": 3, \"<end>\": 4, \"<pad>\": 0}",
                       SC_ERR_FORMAT, "not an integer");
    expect_vocab_error("{\"a\": \"1\", \"<unk>\": 2, \"<start>\": 3, \"<end>\": 4, \"<pad>\": 0}",
                       SC_ERR_FORMAT, "not a number");
    expect_vocab_error("[1, 2]", SC_ERR_FORMAT, "not an object");
    expect_vocab_error("{}", SC_ERR_FORMAT, "empty");
    expect_vocab_error("{\"a\": 1", SC_ERR_FORMAT, "invalid JSON");
    char big[400];
    memset(big, 'x', 300);
    big[300] = 0;
    char js2[600];
    snprintf(js2, sizeof js2,
             "{\"%s\": 1, \"<unk>\": 2, \"<start>\": 3, \"<end>\": 4, \"<pad>\": 0}", big);
    expect_vocab_error(js2, SC_ERR_FORMAT, "bytes (limit");
    expect_vocab_error("{\"\": 1, \"<unk>\": 2, \"<start>\": 3, \"<end>\": 4, \"<pad>\": 0}",
                       SC_ERR_FORMAT, "empty word");
}

/* ---------------------------------------------------------------- files */
static const float g_zero = 0.0f; /* borrowed by the writer until it writes */
static void test_save_load_and_corrupt(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("captioner_unit");
    char *path = sc_test_join(dir, "m.safetensors");
    sc_captioner *m = beam_model(0.0f);
    SC_TEST_OK(sc_captioner_save(m, path));
    sc_captioner *m2 = NULL;
    SC_TEST_OK(sc_captioner_load(path, &m2));
    float feat[GP * GE];
    sc_test_fill_uniform(feat, GP * GE, -1.0f, 1.0f, 33);
    sc_caption_result r1, r2;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, NULL, &r1));
    SC_TEST_OK(sc_captioner_beam_search(m2, feat, NULL, &r2));
    assert_int_equal(r1.hyps[0].len, r2.hyps[0].len);
    assert_string_equal(r1.text, r2.text);
    assert_true(r1.hyps[0].score == r2.hyps[0].score);
    sc_caption_result_free(&r1);
    sc_caption_result_free(&r2);
    sc_captioner_free(m2);

    /* truncated file */
    unsigned char *buf;
    size_t len;
    SC_TEST_OK(sc_read_file(path, 1 << 24, &buf, &len));
    char *bad = sc_test_join(dir, "bad.safetensors");
    SC_TEST_OK(sc_write_file_atomic(bad, buf, len - 10));
    m2 = (sc_captioner *)1;
    assert_int_equal(sc_captioner_load(bad, &m2), SC_ERR_FORMAT);
    assert_null(m2);
    free(buf);
    /* wrong shape / missing metadata / vocab mismatch / extra tensor */
    const sc_captioner_config *cf = sc_captioner_get_config(m);
    char *cj = sc_captioner_config_to_json(cf);
    char *vj = sc_vocab_to_json(sc_captioner_get_vocab(m));
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_captioner_params(m, &ps, &np));
    for (int variant = 0; variant < 5; variant++) {
        sc_st_writer *w = sc_st_writer_new();
        if (variant != 1) SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.config", cj));
        if (variant == 2)
            SC_TEST_OK(sc_st_writer_set_metadata(
                w, "saccade.vocab", "{\"<pad>\": 0, \"<unk>\": 1, \"<start>\": 2, \"<end>\": 3}"));
        else
            SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.vocab", vj));
        for (size_t i = 0; i < np; i++) {
            int64_t shape[2] = {ps[i].shape[0], ps[i].shape[1]};
            if (variant == 0 && i == 0) shape[1] -= 1; /* misshaped */
            if (variant == 4 && i == 3) continue;      /* missing */
            SC_TEST_OK(
                sc_st_writer_add_f32(w, ps[i].name, ps[i].param, ps[i].ndim, shape, SC_ST_F32));
        }
        if (variant == 3) {
            int64_t one = 1;
            SC_TEST_OK(sc_st_writer_add_f32(w, "decoder.bogus", &g_zero, 1, &one, SC_ST_F32));
        }
        SC_TEST_OK(sc_st_writer_write(w, bad));
        sc_st_writer_free(w);
        sc_status want[5] = {SC_ERR_SHAPE, SC_ERR_FORMAT, SC_ERR_FORMAT, SC_ERR_FORMAT,
                             SC_ERR_FORMAT};
        const char *needle[5] = {"encoder_att.weight", "saccade.config", "vocab_size",
                                 "decoder.bogus", "decoder_att.bias"};
        sc_status st = sc_captioner_load(bad, &m2);
        if (st != want[variant] || !strstr(sc_last_error(), needle[variant]))
            fail_msg("variant %d: %d \"%s\"", variant, st, sc_last_error());
        assert_null(m2);
    }
    free(cj);
    free(vj);
    assert_int_equal(sc_captioner_load("/nonexistent/x.safetensors", &m2), SC_ERR_IO);
    sc_captioner_free(m);
    sc_test_rmtree(dir);
    free(bad);
    free(path);
    free(dir);
}

/* ctx2out models round-trip; fc_ctx must agree with the config either way. */
static void test_ctx2out_file(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("captioner_ctx2out");
    char *path = sc_test_join(dir, "m.safetensors"), *bad = sc_test_join(dir, "bad.safetensors");
    g_ctx2out = 1;
    g_att_coords = 1;
    sc_captioner *m = tiny_model(SC_CAP_GATE_VECTOR, 0, 0.0f, 8);
    g_ctx2out = 0;
    g_att_coords = 0;
    SC_TEST_OK(sc_captioner_save(m, path));
    sc_captioner *m2 = NULL;
    SC_TEST_OK(sc_captioner_load(path, &m2));
    assert_true(sc_captioner_get_config(m2)->ctx2out);
    assert_true(sc_captioner_get_config(m2)->att_coords);
    float feat[GP * GE], l1[4 * 8], l2[4 * 8];
    sc_test_fill_uniform(feat, GP * GE, -1.0f, 1.0f, 34);
    SC_TEST_OK(sc_captioner_teacher_force(m, feat, g_caps, 4, l1, NULL));
    SC_TEST_OK(sc_captioner_teacher_force(m2, feat, g_caps, 4, l2, NULL));
    assert_memory_equal(l1, l2, sizeof l1);
    sc_captioner_free(m2);
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_captioner_params(m, &ps, &np));
    sc_captioner_config plain = *sc_captioner_get_config(m);
    plain.ctx2out = 0;
    char *cj[2] = {sc_captioner_config_to_json(&plain),
                   sc_captioner_config_to_json(sc_captioner_get_config(m))};
    char *vj = sc_vocab_to_json(sc_captioner_get_vocab(m));
    const char *needle[2] = {"has no \"ctx2out\"", "fc_ctx.weight"};
    for (int variant = 0; variant < 2; variant++) {
        /* 0: fc_ctx present, config without ctx2out; 1: ctx2out config, fc_ctx missing */
        sc_st_writer *w = sc_st_writer_new();
        SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.config", cj[variant]));
        SC_TEST_OK(sc_st_writer_set_metadata(w, "saccade.vocab", vj));
        for (size_t i = 0; i < np; i++) {
            if (variant == 1 && strcmp(ps[i].name, "decoder.fc_ctx.weight") == 0) continue;
            SC_TEST_OK(sc_st_writer_add_f32(w, ps[i].name, ps[i].param, ps[i].ndim, ps[i].shape,
                                            SC_ST_F32));
        }
        SC_TEST_OK(sc_st_writer_write(w, bad));
        sc_st_writer_free(w);
        m2 = (sc_captioner *)1;
        sc_status st = sc_captioner_load(bad, &m2);
        if (st == SC_OK || !strstr(sc_last_error(), needle[variant]))
            fail_msg("variant %d: %d \"%s\"", variant, st, sc_last_error());
        assert_null(m2);
    }
    free(cj[0]);
    free(cj[1]);
    free(vj);
    sc_captioner_free(m);
    sc_test_rmtree(dir);
    free(bad);
    free(path);
    free(dir);
}

static void test_config_json(void **state) {
    (void)state;
    sc_captioner_config c = sc_captioner_default_config(), d;
    c.vocab_size = 100;
    c.gate = SC_CAP_GATE_SCALAR;
    c.attention_tanh = 1;
    c.ctx2out = 1;
    c.att_coords = 1;
    strcpy(c.encoder_arch, "resnet50");
    c.encoder = SC_CAP_ENC_RESNET;
    char *s = sc_captioner_config_to_json(&c);
    SC_TEST_OK(sc_captioner_config_from_json(s, &d));
    assert_memory_equal(&c, &d, sizeof c);
    free(s);
    assert_int_equal(sc_captioner_config_from_json("{\"encoder_dim\": 5}", &d), SC_ERR_FORMAT);
    assert_int_equal(
        sc_captioner_config_from_json(
            "{\"encoder_dim\": 5, \"attention_dim\": 5, \"embed_dim\": 5, \"decoder_dim\": "
            "5, \"vocab_size\": 5, \"gate\": \"weird\"}",
            &d),
        SC_ERR_UNSUPPORTED);
    assert_int_equal(
        sc_captioner_config_from_json(
            "{\"encoder_dim\": 5, \"attention_dim\": 5, \"embed_dim\": 5, \"decoder_dim\": "
            "5, \"vocab_size\": 5, \"ctx2out\": 1}",
            &d),
        SC_ERR_FORMAT);
    assert_int_equal(
        sc_captioner_config_from_json(
            "{\"encoder_dim\": 5, \"attention_dim\": 5, \"embed_dim\": 5, \"decoder_dim\": "
            "5, \"vocab_size\": 5, \"att_coords\": \"yes\"}",
            &d),
        SC_ERR_FORMAT);
    assert_int_equal(
        sc_captioner_config_from_json(
            "{\"encoder_dim\": -5, \"attention_dim\": 5, \"embed_dim\": 5, \"decoder_dim\": "
            "5, \"vocab_size\": 5}",
            &d),
        SC_ERR_FORMAT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_gradcheck_att_sup),
        cmocka_unit_test(test_ctx2out_file),
        cmocka_unit_test(test_masking_matches_single),
        cmocka_unit_test(test_training_loss_falls),
        cmocka_unit_test(test_beam_invariants),
        cmocka_unit_test(test_beam_min_len_and_fallback),
        cmocka_unit_test(test_vocab),
        cmocka_unit_test(test_save_load_and_corrupt),
        cmocka_unit_test(test_config_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

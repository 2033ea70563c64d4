/* BLIP VQA (sc_blip_vqa.h) and image-text matching (sc_blip_itm.h) against
 * their PyTorch twin tools/ref/ref_blip_vqa.py (written from transformers'
 * BlipForQuestionAnswering / BlipForImageTextRetrieval and LAVIS's
 * compute_gradcam), on random-weight Hugging Face folders from
 * tools/ref/make_blip_task_folder.py (cases: tools/ref/ref_blip_vqa_cases.py).
 * Compared: question ids, question embeddings and the encoder's
 * cross-attention, answer ids (greedy, beam 3, min length; answers ended by
 * [SEP] and cut at max length), the decoder's logits and cross-attention over
 * the question at every answer step, the answer maps kept with the answer;
 * ITM logits and probability, the contrastive cosine, the gradient of the
 * positive ITM logit w.r.t. the chosen layer's cross-attention (PyTorch
 * autograd and finite differences) and the Grad-CAM maps of each token and
 * of the phrase. Also the errors of bad questions and bad folders. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_blip_itm.h"
#include "saccade/sc_blip_vqa.h"
#include "blip/blip_internal.h"

#define RTOL 1e-4

#ifndef BLIP_VQA_CASES_ARGS
#define BLIP_VQA_CASES_ARGS ""
#endif

/* tools/ref/ref_blip_vqa_cases.py's QUESTIONS and TEXTS */
static const char *const QUESTIONS[] = {"what is the cat doing?", "Is the dog RED, or blue?",
                                        "where?"};
static const char *const TEXTS[] = {"a red cat on the grass", "dog",
                                    "the man's caf\xc3\xa9 (in the city)"};

SC_TEST_REFERENCE_GROUP("blip_vqa_parity", "ref_blip_vqa_cases.py", BLIP_VQA_CASES_ARGS)

static sc_npy npy(const char *case_, const char *name) {
    return sc_test_case_npy(g_dir, case_, name);
}

static void check_rel(const char *what, const float *a, const float *b, size_t n, double tol) {
    sc_test_check_rel(what, a, b, n, tol);
}

/* 1 if the twin's ids (T) end with [SEP] after [DEC] */
static int all_sep(const float *ids, int T, int sep) {
    return T > 1 && (int)ids[T - 1] == sep;
}

typedef struct {
    const char *name, *folder;
    int beams, max_len, min_len;
} vqa_case;

#ifdef BLIP_VQA_BASE_CASES
static const vqa_case VQA_CASES[] = {BLIP_VQA_BASE_CASES};
#else
static const vqa_case VQA_CASES[] = {
    {"vqa_greedy", "vqa", 1, 20, 0},
    {"vqa_beam3", "vqa", 3, 8, 0},
    {"vqa_short_greedy", "vqa_short", 1, 20, 0},
    {"vqa_short_beam3", "vqa_short", 3, 20, 0},
    {"vqa_short_min", "vqa_short", 1, 6, 3},
};
#endif

static void run_vqa_case(const vqa_case *c) {
    printf("case %s (%s)\n", c->name, c->folder);
    char *path = sc_test_join(g_dir, c->folder);
    sc_blip_vqa *v = NULL;
    SC_TEST_OK(sc_blip_vqa_load(path, &v));
    free(path);
    sc_blip *m = sc_blip_vqa_model(v);
    const sc_blip_config *cfg = sc_blip_get_config(m);
    const int V = cfg->text.vocab_size, NL = cfg->text.num_hidden_layers,
              H = cfg->text.num_attention_heads, D = cfg->text.hidden_size,
              Ti = sc_blip_image_tokens(m), G = sc_blip_grid(m), layer = 2 * NL / 3;
    sc_npy px = npy(c->name, "pixel_values"), feats = npy(c->name, "features");
    float *f = malloc(feats.count * sizeof(float));
    SC_TEST_OK(sc_blip_vision_forward(m, px.data, f));
    check_rel("vision features", f, feats.data, feats.count, RTOL);
    SC_TEST_OK(sc_blip_vqa_set_pixels(v, px.data)); /* once for every question */
    for (int qi = 0; qi < (int)(sizeof QUESTIONS / sizeof QUESTIONS[0]); qi++) {
        char sub[64];
        printf(" question %d: %s\n", qi, QUESTIONS[qi]);
        snprintf(sub, sizeof sub, "%s/q%d", c->name, qi);
        sc_npy qid = npy(sub, "question_ids"), qe = npy(sub, "question_embeds"),
               ec = npy(sub, "enc_cross_attn"), ids = npy(sub, "ids"), sl = npy(sub, "step_logits"),
               sx = npy(sub, "step_cross_attn");
        const int nq = (int)qid.count, T = (int)ids.count;
        sc_blip_generate_params gp = sc_blip_default_generate_params(m);
        gp.num_beams = c->beams, gp.max_new_tokens = c->max_len, gp.min_length = c->min_len;
        sc_blip_answer a;
        SC_TEST_OK(sc_blip_vqa_answer(v, QUESTIONS[qi], &gp, &a));
        /* ids as the processor gives them: [CLS] first */
        assert_int_equal(a.nq, nq);
        for (int i = 0; i < nq; i++) assert_int_equal(a.question_ids[i], (int)qid.data[i]);
        assert_int_equal(a.question_ids[0], sc_blip_token_id(m, "[CLS]"));
        /* the answer: twin ids = [DEC] new tokens ([SEP] when it ended) */
        const int ended = all_sep(ids.data, T, cfg->text.sep_token_id);
        printf("  answer \"%s\": saccade %d tokens%s, twin %d%s\n", a.text, a.n,
               a.ended ? " + [SEP]" : "", T - 1 - ended, ended ? " + [SEP]" : "");
        assert_int_equal((int)ids.data[0], cfg->text.bos_token_id);
        assert_int_equal(a.ended, ended);
        assert_int_equal(a.n, T - 1 - ended);
        for (int i = 0; i < a.n; i++) assert_int_equal(a.ids[i], (int)ids.data[1 + i]);
        /* the encoder */
        float *emb = malloc((size_t)nq * D * sizeof(float));
        float *cross = malloc((size_t)nq * NL * H * Ti * sizeof(float));
        SC_TEST_OK(sc_blip_vqa_encode_question(v, a.question_ids, nq, emb, cross));
        check_rel("question embeddings", emb, qe.data, qe.count, RTOL);
        check_rel("encoder cross-attention", cross, ec.data, ec.count, RTOL);
        /* the question maps kept with the answer: layer 2L/3, mean of heads */
        float *qmap = calloc((size_t)nq * G * G, sizeof(float));
        for (int i = 0; i < nq; i++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < G * G; j++)
                    qmap[(size_t)i * G * G + j] +=
                        ec.data[(((size_t)i * NL + layer) * H + h) * Ti + 1 + j] / H;
        check_rel("question maps of the answer", a.question_attention, qmap, (size_t)nq * G * G,
                  RTOL);
        /* the decoder, teacher-forced over [DEC] answer (the twin's embeddings) */
        const int n = T - 1;
        if (n > 0) {
            int *dec = malloc((size_t)n * sizeof(int));
            for (int i = 0; i < n; i++) dec[i] = (int)ids.data[i];
            float *logits = malloc((size_t)n * V * sizeof(float));
            float *dx = malloc((size_t)n * NL * H * nq * sizeof(float));
            SC_TEST_OK(sc_blip_vqa_decode_forward(v, qe.data, nq, dec, n, logits, dx));
            check_rel("answer step logits", logits, sl.data, sl.count, RTOL);
            check_rel("answer cross-attention over the question", dx, sx.data, sx.count, RTOL);
            if (a.n > 0) {
                float *amap = calloc((size_t)a.n * nq, sizeof(float));
                for (int i = 0; i < a.n; i++)
                    for (int h = 0; h < H; h++)
                        for (int j = 0; j < nq; j++)
                            amap[(size_t)i * nq + j] +=
                                sx.data[(((size_t)i * NL + layer) * H + h) * nq + j] / H;
                check_rel("answer maps", a.answer_attention, amap, (size_t)a.n * nq, RTOL);
                free(amap);
            }
            free(dec), free(logits), free(dx);
        }
        free(emb), free(cross), free(qmap);
        sc_blip_answer_free(&a);
        sc_npy_free(&qid), sc_npy_free(&qe), sc_npy_free(&ec), sc_npy_free(&ids);
        sc_npy_free(&sl), sc_npy_free(&sx);
    }
    free(f);
    sc_npy_free(&px), sc_npy_free(&feats);
    sc_blip_vqa_free(v);
}

static void test_vqa_cases(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof VQA_CASES / sizeof VQA_CASES[0]; i++) run_vqa_case(&VQA_CASES[i]);
}

#ifndef BLIP_VQA_BASE_CASES
/* positive ITM logit of the text, for finite differences through the probe */
static double itm_logit(sc_blip_itm *r, const int *ids, int n) {
    float z[2];
    SC_TEST_OK(sc_blip_itm_scores(r, ids, n, z, NULL, NULL));
    return z[1];
}

static void run_itm_case(const char *name, int layer) {
    printf("case %s (layer %d)\n", name, layer);
    char *path = sc_test_join(g_dir, "itm");
    sc_blip_itm *r = NULL;
    SC_TEST_OK(sc_blip_itm_load(path, &r));
    free(path);
    sc_blip *m = sc_blip_itm_model(r);
    const int H = sc_blip_get_config(m)->text.num_attention_heads, Ti = sc_blip_image_tokens(m),
              G = sc_blip_grid(m);
    sc_npy px = npy(name, "pixel_values");
    SC_TEST_OK(sc_blip_itm_set_pixels(r, px.data));
    for (int k = 0; k < (int)(sizeof TEXTS / sizeof TEXTS[0]); k++) {
        char sub[64];
        snprintf(sub, sizeof sub, "%s/t%d", name, k);
        printf(" text %d: %s\n", k, TEXTS[k]);
        sc_npy ids = npy(sub, "ids"), zl = npy(sub, "itm_logits"), cg = npy(sub, "cross_grad"),
               ca = npy(sub, "cross_attn"), gc = npy(sub, "gradcam"), ph = npy(sub, "phrase");
        sc_blip_match mt;
        SC_TEST_OK(sc_blip_itm_match(r, TEXTS[k], 1, layer, 0, &mt));
        const int n = mt.n;
        assert_int_equal(n, (int)ids.count);
        for (int i = 0; i < n; i++) assert_int_equal(mt.ids[i], (int)ids.data[i]);
        /* scores: ITM logits and probability, contrastive cosine within 1e-5 */
        char *sj = NULL;
        {
            char *p = sc_test_join(g_dir, sub);
            char *q = sc_test_join(p, "scores.json");
            FILE *fp = fopen(q, "rb");
            assert_non_null(fp);
            sj = calloc(1, 4096);
            assert_true(fread(sj, 1, 4095, fp) > 0);
            fclose(fp);
            free(p), free(q);
        }
        double prob = 0, cosine = 0;
        assert_non_null(strstr(sj, "\"probability\": "));
        prob = strtod(strstr(sj, "\"probability\": ") + 15, NULL);
        cosine = strtod(strstr(sj, "\"cosine\": ") + 10, NULL);
        free(sj);
        printf("  itm %.7f (twin %.7f), cosine %.7f (twin %.7f)\n", mt.probability, prob, mt.cosine,
               cosine);
        check_rel("itm logits", mt.itm_logits, zl.data, 2, 1e-5);
        assert_true(fabs(mt.probability - prob) <= 1e-5);
        assert_true(fabs(mt.cosine - cosine) <= 1e-5);
        /* the gradient of logits[1] w.r.t. the layer's cross-attention */
        float *g = malloc((size_t)2 * n * H * Ti * sizeof(float));
        SC_TEST_OK(sc_blip_itm_cross_grad(r, mt.ids, n, layer, g, g + (size_t)n * H * Ti));
        check_rel("d itm logit / d cross-attention", g, cg.data, cg.count, RTOL);
        check_rel("that layer's cross-attention", g + (size_t)n * H * Ti, ca.data, ca.count, RTOL);
        check_rel("Grad-CAM of each token", mt.gradcam, gc.data, gc.count, RTOL);
        check_rel("Grad-CAM of the phrase", mt.phrase, ph.data, (size_t)G * G, RTOL);
        /* finite differences of a few entries through the probe (float32
         * forward: a loose tolerance, the twin's autograd is the exact check) */
        const int probes[3][3] = {{0, 0, 1}, {0, H - 1, Ti - 1}, {n - 1, H / 2, Ti / 2}};
        for (int t = 0; t < 3; t++) {
            const int qi = probes[t][0], h = probes[t][1], key = probes[t][2];
            const float eps = 1e-2f;
            m->probe = (blip_probe){1, mt.layer, h, qi, key, eps};
            double up = itm_logit(r, mt.ids, n);
            m->probe.delta = -eps;
            double down = itm_logit(r, mt.ids, n);
            m->probe.on = 0;
            double fd = (up - down) / (2 * eps), an = g[((size_t)qi * H + h) * Ti + key];
            printf("  finite difference (%d, %d, %d): %.6f vs %.6f\n", qi, h, key, fd, an);
            assert_true(fabs(fd - an) <= 2e-3 * (1 + fabs(an)));
        }
        free(g);
        sc_blip_match_free(&mt);
        sc_npy_free(&ids), sc_npy_free(&zl), sc_npy_free(&cg), sc_npy_free(&ca);
        sc_npy_free(&gc), sc_npy_free(&ph);
    }
    sc_npy_free(&px);
    sc_blip_itm_free(r);
}

static void test_itm(void **state) {
    (void)state;
    run_itm_case("itm", -1);
    run_itm_case("itm_layer0", 0);
}

/* empty, only spaces, invalid UTF-8, too long: clear errors, no answer */
static void test_bad_questions(void **state) {
    (void)state;
    char *path = sc_test_join(g_dir, "vqa");
    sc_blip_vqa *v = NULL;
    SC_TEST_OK(sc_blip_vqa_load(path, &v));
    free(path);
    sc_npy px = npy("vqa_greedy", "pixel_values");
    sc_blip_answer a;
    assert_int_equal(sc_blip_vqa_answer(v, "what?", NULL, &a), SC_ERR_INVALID_ARG); /* no image */
    assert_non_null(strstr(sc_last_error(), "no image"));
    SC_TEST_OK(sc_blip_vqa_set_pixels(v, px.data));
    const char *bad[] = {"", "   \t ", "what is \xff\xfe?"};
    const char *why[] = {"empty", "empty", "UTF-8"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sc_blip_vqa_answer(v, bad[i], NULL, &a), SC_ERR_INVALID_ARG);
        printf("  \"%s\": %s\n", bad[i], sc_last_error());
        assert_non_null(strstr(sc_last_error(), why[i]));
        assert_null(a.text);
    }
    /* longer than the 64 positions of the tiny text model */
    char longq[1024] = "";
    for (int i = 0; i < 80; i++) strcat(longq, "cat ");
    assert_int_equal(sc_blip_vqa_answer(v, longq, NULL, &a), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "too long"));
    /* and the model still answers */
    SC_TEST_OK(sc_blip_vqa_answer(v, QUESTIONS[0], NULL, &a));
    sc_blip_answer_free(&a);
    sc_npy_free(&px);
    sc_blip_vqa_free(v);
}

/* a captioning folder is not a VQA / ITM one: the missing tensor is named */
static void test_bad_folders(void **state) {
    (void)state;
    char *vqa = sc_test_join(g_dir, "vqa"), *itm = sc_test_join(g_dir, "itm");
    sc_blip_vqa *v = NULL;
    sc_blip_itm *r = NULL;
    assert_int_not_equal(sc_blip_vqa_load(itm, &v), SC_OK);
    printf("  itm folder as VQA: %s\n", sc_last_error());
    assert_non_null(strstr(sc_last_error(), "text_decoder"));
    assert_null(v);
    assert_int_not_equal(sc_blip_itm_load(vqa, &r), SC_OK);
    printf("  vqa folder as ITM: %s\n", sc_last_error());
    assert_non_null(strstr(sc_last_error(), "vision_proj"));
    assert_null(r);
    char *none = sc_test_join(g_dir, "no_such_folder");
    assert_int_not_equal(sc_blip_vqa_load(none, &v), SC_OK);
    assert_non_null(strstr(sc_last_error(), "no_such_folder"));
    free(vqa), free(itm), free(none);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vqa_cases),
#ifndef BLIP_VQA_BASE_CASES
        cmocka_unit_test(test_itm),
        cmocka_unit_test(test_bad_questions),
        cmocka_unit_test(test_bad_folders),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

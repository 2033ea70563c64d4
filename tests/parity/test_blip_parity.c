/* sc_blip against its PyTorch twin (tools/ref/ref_blip.py, written from
 * transformers' BlipForConditionalGeneration): random-weight Hugging Face
 * folders from tools/ref/make_blip_folder.py, reference runs from
 * tools/ref/ref_blip_cases.py. Compared: vision features, the logits and
 * cross-attentions of every generated step (teacher-forced forward and the
 * maps kept while decoding with the cache), token ids of greedy search and
 * beam search (3 and 5 beams, with and without a prompt, length penalty and
 * min length; captions cut at max length and ended by [SEP]), the gradient of
 * each token's log-probability with respect to every layer's cross-attention
 * (PyTorch autograd) and the gradient-weighted maps made from it, the
 * processor (pixel values of an RGB and an RGBA PNG, prompt ids, decoded
 * text), tied LM heads, and F16 / BF16
 * files against F32 copies of the same rounded weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include <cjson/cJSON.h>
#include "saccade/sc_blip.h"
#include "saccade/sc_image.h"
#include "blip/blip_internal.h"

#define RTOL 1e-4

#ifndef BLIP_CASES_ARGS /* test_blip_base_parity.c sets the base-size cases */
#define BLIP_CASES_ARGS ""
#endif

SC_TEST_REFERENCE_GROUP("blip_parity", "ref_blip_cases.py", BLIP_CASES_ARGS)

static sc_npy npy(const char *case_, const char *name) {
    return sc_test_case_npy(g_dir, case_, name);
}

static sc_blip *load(const char *folder) {
    char *p = sc_test_join(g_dir, folder);
    sc_blip *m = NULL;
    SC_TEST_OK(sc_blip_load(p, &m));
    free(p);
    return m;
}

static void check_rel(const char *what, const float *a, const float *b, size_t n) {
    sc_test_check_rel(what, a, b, n, RTOL);
}

typedef struct {
    const char *name, *folder;
    int beams, max_len, min_len;
    float length_penalty;
    int early_stopping;
} blip_case;

/* the table of tools/ref/ref_blip_cases.py */
#ifdef BLIP_BASE_CASES
static const blip_case CASES[] = {BLIP_BASE_CASES};
#else
static const blip_case CASES[] = {
    {"greedy", "tiny", 1, 20, 0, 1.0f, 0},
    {"greedy_prompt", "tiny", 1, 20, 0, 1.0f, 0},
    {"beam3", "tiny", 3, 20, 0, 1.0f, 0},
    {"beam3_prompt", "tiny", 3, 20, 0, 1.0f, 0},
    {"beam5", "tiny", 5, 20, 0, 1.0f, 0},
    {"beam5_prompt", "tiny", 5, 20, 0, 1.0f, 0},
    {"beam3_lp", "tiny", 3, 15, 6, 0.6f, 0},
    {"greedy_min", "tiny", 1, 12, 8, 1.0f, 0},
    {"tied_greedy", "tied", 1, 20, 0, 1.0f, 0},
    {"tied_beam3", "tied", 3, 20, 0, 1.0f, 0},
    {"f16r_greedy", "f16r", 1, 20, 0, 1.0f, 0},
    {"f16r_beam3", "f16r", 3, 20, 0, 1.0f, 0},
    {"bf16r_greedy", "bf16r", 1, 20, 0, 1.0f, 0},
    {"bf16r_beam3", "bf16r", 3, 20, 0, 1.0f, 0},
    {"short_greedy", "short", 1, 20, 0, 1.0f, 0},
    {"short_greedy_prompt", "short", 1, 20, 0, 1.0f, 0},
    {"short_beam3", "short", 3, 20, 0, 1.0f, 0},
    {"short_beam3_prompt", "short", 3, 20, 0, 1.0f, 0},
    {"short_beam5", "short", 5, 20, 0, 1.0f, 0},
    {"short_beam5_prompt", "short", 5, 20, 0, 1.0f, 0},
    {"short_beam3_lp2", "short", 3, 20, 0, 2.0f, 0},
    {"short_beam5_lp0", "short", 5, 20, 3, 0.0f, 0},
    {"short_beam3_early", "short", 3, 20, 0, 1.0f, 1},
    {"short_beam5_never", "short", 5, 20, 0, 1.5f, 2},
    {"beam5_never", "tiny", 5, 20, 0, 2.0f, 2},
};
#endif

/* The gradient of every new token's log-probability w.r.t. each layer's
 * cross-attention of its query, and the gradient-weighted maps. */
static void check_grads(sc_blip *m, const char *name, const float *f, const int *all, int T, int P,
                        int n_new) {
    const sc_blip_config *cfg = sc_blip_get_config(m);
    const int NL = cfg->text.num_hidden_layers, H = cfg->text.num_attention_heads,
              Ti = sc_blip_image_tokens(m), G = sc_blip_grid(m), nq = T - P;
    sc_npy gr = npy(name, "step_cross_grad"), sx = npy(name, "step_cross_attn");
    assert_int_equal((int)gr.shape[0], nq);
    float *g = malloc((size_t)nq * H * Ti * sizeof(float)),
          *want = malloc((size_t)nq * H * Ti * sizeof(float));
    for (int l = 0; l < NL; l++) {
        SC_TEST_OK(blip_cross_attention_grads(m, f, all, T, P - 1, l, g, NULL));
        for (int t = 0; t < nq; t++)
            memcpy(want + (size_t)t * H * Ti, gr.data + ((size_t)t * NL + l) * H * Ti,
                   (size_t)H * Ti * sizeof(float));
        char what[64];
        snprintf(what, sizeof what, "d log p / d cross-attention, layer %d", l);
        check_rel(what, g, want, (size_t)nq * H * Ti);
    }
    /* gradient-weighted maps of the generated ids (the [SEP] step left out) */
    sc_npy px = npy(name, "pixel_values");
    float *maps = malloc((size_t)(n_new > 0 ? n_new : 1) * G * G * sizeof(float));
    float *ref = calloc((size_t)(n_new > 0 ? n_new : 1) * G * G, sizeof(float));
    const int layer = 2 * NL / 3;
    SC_TEST_OK(sc_blip_gradcam(m, px.data, all + 1, P - 1, all + P, n_new, -1, 0, maps));
    sc_test_gradcam_maps(sx.data, gr.data, n_new, NL, layer, H, G, ref);
    if (n_new > 0) check_rel("gradient-weighted maps", maps, ref, (size_t)n_new * G * G);
    /* the same maps straight from generation */
    sc_blip_generate_params gp = sc_blip_default_generate_params(m);
    gp.gradcam = 1;
    gp.num_beams = strstr(name, "beam3") ? 3 : 1;
    sc_blip_caption cap;
    SC_TEST_OK(sc_blip_generate(m, px.data, all + 1, P - 1, &gp, &cap));
    assert_int_equal(cap.n, n_new);
    if (n_new > 0)
        check_rel("gradient-weighted maps from generation", cap.gradcam, ref,
                  (size_t)n_new * G * G);
    sc_blip_caption_free(&cap);
    free(g), free(want), free(maps), free(ref);
    sc_npy_free(&gr), sc_npy_free(&sx), sc_npy_free(&px);
}

/* Per-token log-probabilities ([SEP]'s last when it ended) against the
 * twin's, and the score made from them: their sum, divided by the new
 * length^length_penalty for beam search. */
static void check_logprobs(const blip_case *c, const sc_blip_caption *cap, int twin_new) {
    sc_npy tl = npy(c->name, "token_logprobs");
    assert_int_equal((int)tl.count, twin_new);
    float *got = malloc(((size_t)cap->n + 1) * sizeof(float));
    double sum = 0;
    for (int i = 0; i < cap->n; i++) got[i] = cap->logprobs[i];
    if (cap->ended) got[cap->n] = cap->end_logprob;
    for (int i = 0; i < twin_new; i++) sum += tl.data[i];
    if (twin_new > 0) check_rel("token log-probabilities", got, tl.data, (size_t)twin_new);
    const double want = c->beams > 1 ? sum / pow((double)twin_new, (double)c->length_penalty) : sum;
    printf("  score %.6f, twin's log-probabilities give %.6f\n", (double)cap->score, want);
    assert_true(fabs(cap->score - want) <= RTOL * (1.0 + fabs(want)));
    free(got);
    sc_npy_free(&tl);
}

/* Runs one case on model m; checks ids (and, when full, features, step
 * logits, cross-attentions and the maps kept while decoding). */
static void run_case(sc_blip *m, const blip_case *c, int full) {
    printf("case %s (%s)\n", c->name, c->folder);
    const sc_blip_config *cfg = sc_blip_get_config(m);
    const int V = cfg->text.vocab_size, NL = cfg->text.num_hidden_layers,
              H = cfg->text.num_attention_heads, Ti = sc_blip_image_tokens(m),
              Dv = cfg->vision.hidden_size, G = sc_blip_grid(m);
    sc_npy px = npy(c->name, "pixel_values"), feats = npy(c->name, "features"),
           ids = npy(c->name, "ids"), pids = npy(c->name, "prompt_ids");
    const int T = (int)ids.count, P = (int)pids.count;
    int *prompt = malloc((size_t)P * sizeof(int)), *all = malloc((size_t)T * sizeof(int));
    for (int i = 0; i < P; i++) prompt[i] = (int)pids.data[i];
    for (int i = 0; i < T; i++) all[i] = (int)ids.data[i];
    assert_int_equal(prompt[0], cfg->text.bos_token_id);
    sc_blip_generate_params gp = sc_blip_default_generate_params(m);
    gp.num_beams = c->beams, gp.max_new_tokens = c->max_len, gp.min_length = c->min_len;
    gp.length_penalty = c->length_penalty;
    gp.early_stopping = c->early_stopping;
    gp.keep_all_attention = full;
    sc_blip_caption cap;
    SC_TEST_OK(sc_blip_generate(m, px.data, prompt + 1, P - 1, &gp, &cap));
    /* twin ids = prompt + new tokens (with [SEP] when it ended) */
    const int twin_new = T - P, twin_ended = T > P && all[T - 1] == cfg->text.sep_token_id;
    printf("  new tokens: saccade %d%s, twin %d%s\n", cap.n, cap.ended ? " + [SEP]" : "",
           twin_new - twin_ended, twin_ended ? " + [SEP]" : "");
    assert_int_equal(cap.ended, twin_ended);
    assert_int_equal(cap.n, twin_new - twin_ended);
    for (int i = 0; i < cap.n; i++) assert_int_equal(cap.ids[i], all[P + i]);
    check_logprobs(c, &cap, twin_new);
    if (full) {
        float *f = malloc((size_t)Ti * Dv * sizeof(float));
        SC_TEST_OK(sc_blip_vision_forward(m, px.data, f));
        check_rel("vision features", f, feats.data, feats.count);
        sc_npy sl = npy(c->name, "step_logits"), sx = npy(c->name, "step_cross_attn");
        const int n = T - 1; /* forward over ids[:-1]; steps are positions P-1.. */
        float *logits = malloc((size_t)n * V * sizeof(float));
        float *cross = malloc((size_t)n * NL * H * Ti * sizeof(float));
        SC_TEST_OK(sc_blip_decoder_forward(m, f, all, n, logits, cross));
        check_rel("step logits", logits + (size_t)(P - 1) * V, sl.data, sl.count);
        check_rel("step cross-attention (all layers, heads)", cross + (size_t)(P - 1) * NL * H * Ti,
                  sx.data, sx.count);
        /* the maps kept while decoding: default layer, mean over heads */
        const int layer = 2 * NL / 3;
        float *want = calloc((size_t)cap.n * G * G, sizeof(float));
        for (int t = 0; t < cap.n; t++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < G * G; j++)
                    want[(size_t)t * G * G + j] +=
                        sx.data[(((size_t)t * NL + layer) * H + h) * Ti + 1 + j] / H;
        check_rel("decoding maps (layer 2L/3, head mean)", cap.attention, want,
                  (size_t)cap.n * G * G);
        if (cap.n > 0)
            check_rel("decoding cross-attention (all layers, heads)", cap.attention_all, sx.data,
                      (size_t)cap.n * NL * H * Ti);
        free(want), free(logits), free(cross);
        char gpath[300];
        snprintf(gpath, sizeof gpath, "%s/%s/step_cross_grad.npy", g_dir, c->name);
        FILE *gf = fopen(gpath, "rb");
        if (gf) { /* the cases run with --gradients (GRAD_CASES in ref_blip_cases.py) */
            fclose(gf);
            check_grads(m, c->name, f, all, T, P, cap.n);
        }
        free(f);
        sc_npy_free(&sl), sc_npy_free(&sx);
    }
    sc_blip_caption_free(&cap);
    free(prompt), free(all);
    sc_npy_free(&px), sc_npy_free(&feats), sc_npy_free(&ids), sc_npy_free(&pids);
}

static void test_twin_cases(void **state) {
    (void)state;
    const char *folder = NULL;
    sc_blip *m = NULL;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        if (!folder || strcmp(folder, CASES[i].folder)) {
            sc_blip_free(m);
            m = load(CASES[i].folder);
            folder = CASES[i].folder;
        }
        run_case(m, &CASES[i], 1);
    }
    sc_blip_free(m);
}

#ifndef BLIP_BASE_CASES
/* result.json's string `key` of a case (malloc'd) */
static char *result_text(const char *case_, const char *key) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s/result.json", g_dir, case_);
    unsigned char *buf = NULL;
    size_t len = 0;
    SC_TEST_OK(sc_read_file(path, 1 << 20, &buf, &len));
    cJSON *root = cJSON_Parse((const char *)buf);
    free(buf);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    assert_true(cJSON_IsString(v));
    char *out = strdup(v->valuestring);
    cJSON_Delete(root);
    return out;
}

/* BlipProcessor's side: pixel values (bit-exact with PIL), prompt ids, decoding. */
static void test_processor(void **state) {
    (void)state;
    sc_blip *m = load("tiny");
    const int S = sc_blip_get_config(m)->vision.image_size;
    const char *images[2] = {"chelsea", "chelsea_rgba"};
    float *px = malloc(3 * (size_t)S * S * sizeof(float));
    for (int k = 0; k < 2; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.png", images[k]);
        char *path = sc_test_join(g_dir, name);
        sc_image_load_params lp = sc_image_load_default_params();
        lp.keep_alpha = k; /* the RGBA file keeps its alpha for the processor */
        sc_image img;
        SC_TEST_OK(sc_image_load(path, &lp, &img, NULL));
        assert_int_equal(img.c, k ? 4 : 3);
        SC_TEST_OK(sc_blip_preprocess(m, &img, px));
        snprintf(name, sizeof name, "pre_%s", images[k]);
        sc_npy want = sc_test_npy(g_dir, name);
        assert_int_equal((int)want.count, 3 * S * S);
        int differ = 0;
        for (size_t i = 0; i < want.count; i++) differ += px[i] != want.data[i];
        printf("  %s: %d of %zu pixel values differ from PIL's\n", images[k], differ, want.count);
        assert_int_equal(differ, 0);
        sc_npy_free(&want);
        sc_image_free(&img);
        free(path);
    }
    free(px);
    /* prompt ids: the twin's decoder prompt is [DEC] + these */
    const char *cases[2] = {"greedy", "greedy_prompt"}, *texts[2] = {"", "a picture of"};
    for (int k = 0; k < 2; k++) {
        sc_npy pids = npy(cases[k], "prompt_ids");
        int *ids = NULL, n = -1;
        SC_TEST_OK(sc_blip_prompt_ids(m, texts[k], &ids, &n));
        assert_int_equal(n, (int)pids.count - 1);
        for (int i = 0; i < n; i++) assert_int_equal(ids[i], (int)pids.data[1 + i]);
        free(ids);
        sc_npy_free(&pids);
    }
    sc_blip_free(m);
    /* decoding: the twin's text (prompt kept) and text_new */
    const char *dec[3][2] = {
        {"greedy_prompt", "tiny"}, {"short_beam3", "short"}, {"short_greedy_prompt", "short"}};
    for (int k = 0; k < 3; k++) {
        m = load(dec[k][1]);
        sc_npy ids = npy(dec[k][0], "ids"), pids = npy(dec[k][0], "prompt_ids");
        int *v = malloc(ids.count * sizeof(int));
        for (size_t i = 0; i < ids.count; i++) v[i] = (int)ids.data[i];
        char *text = NULL, *text_new = NULL, *want = result_text(dec[k][0], "text"),
             *want_new = result_text(dec[k][0], "text_new");
        SC_TEST_OK(sc_blip_decode(m, v, (int)ids.count, 1, &text));
        SC_TEST_OK(sc_blip_decode(m, v + pids.count, (int)(ids.count - pids.count), 1, &text_new));
        printf("  %s: \"%s\" (twin \"%s\")\n", dec[k][0], text, want);
        assert_string_equal(text, want);
        assert_string_equal(text_new, want_new);
        free(text), free(text_new), free(want), free(want_new), free(v);
        sc_npy_free(&ids), sc_npy_free(&pids);
        sc_blip_free(m);
    }
}

/* F16 / BF16 files give the tokens of the F32 copies of their rounded weights. */
static void test_half_files(void **state) {
    (void)state;
    const char *pairs[2][2] = {{"f16", "f16r"}, {"bf16", "bf16r"}};
    for (int k = 0; k < 2; k++) {
        sc_blip *m = load(pairs[k][0]);
        for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
            if (!strcmp(CASES[i].folder, pairs[k][1])) run_case(m, &CASES[i], 0);
        sc_blip_free(m);
    }
}

#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twin_cases),
#ifndef BLIP_BASE_CASES
        cmocka_unit_test(test_half_files),
        cmocka_unit_test(test_processor),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

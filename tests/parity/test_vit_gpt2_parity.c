/* sc_vit_gpt2 against its PyTorch twin (tools/ref/ref_vit_gpt2.py, written
 * from transformers' ViTModel, GPT2LMHeadModel with cross-attention,
 * VisionEncoderDecoderModel and GPT2Tokenizer): random-weight Hugging Face
 * folders from tools/ref/make_vit_gpt2_folder.py, reference runs from
 * tools/ref/ref_vit_gpt2_cases.py. Compared: the processor's pixel values
 * (Pillow's bilinear resize, at 48 and 224 pixels), encoder features, token
 * ids of greedy search and beam search (3, 4, 5 beams; captions cut at
 * max_length and ended by eos; settings from generation_config.json and from
 * the decoder config; eos_token_id lists in both), the logits and every layer's cross-attention of
 * each generated step (teacher-forced) and the per-word maps made from them, a file holding lm_head
 * and GPT-2's attention buffers, F16 and BF16 files, the byte-level BPE on hard strings (ids,
 * tokens, decoded text), and broken folders (eos_token_id of a wrong type among them) refused with
 * a message naming the file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include <cjson/cJSON.h>
#include "saccade/sc_bpe.h"
#include "saccade/sc_caption_render.h"
#include "saccade/sc_image.h"
#include "saccade/sc_saliency_model.h"
#include "saccade/sc_util.h"
#include "saccade/sc_vit_gpt2.h"
#include "vitgpt2/vitgpt2_internal.h"

#define RTOL 1e-4

SC_TEST_REFERENCE_GROUP("vit_gpt2_parity", "ref_vit_gpt2_cases.py", "")

static sc_npy npy(const char *case_, const char *name) {
    return sc_test_case_npy(g_dir, case_, name);
}

static sc_vit_gpt2 *load(const char *folder) {
    char *p = sc_test_join(g_dir, folder);
    sc_vit_gpt2 *m = NULL;
    SC_TEST_OK(sc_vit_gpt2_load(p, &m));
    free(p);
    return m;
}

static void check_rel(const char *what, const float *a, const float *b, size_t n) {
    sc_test_check_rel(what, a, b, n, RTOL);
}

typedef struct {
    const char *name, *folder;
    int beams, max_len; /* 0: the folder's own settings */
    int ends_on;        /* the stop id the caption must end on (0: any or none) */
    int grads;          /* 1: the twin wrote step_cross_grad.npy (run with --gradients) */
} vg_case;

/* the table of tools/ref/ref_vit_gpt2_cases.py */
static const vg_case CASES[] = {
    {"greedy", "tiny", 0, 0, 0, 1},
    {"beam3", "tiny", 3, 0, 0, 1},
    {"beam5", "tiny", 5, 12, 0, 0},
    {"lmhead_greedy", "lmhead", 0, 0, 0, 0},
    {"short_greedy", "short", 0, 0, 0, 1},
    {"short_beam3", "short", 3, 0, 0, 0},
    {"short_beam4", "short", 4, 0, 0, 0},
    {"f16_greedy", "f16", 0, 0, 0, 0},
    {"bf16_beam3", "bf16", 3, 0, 0, 0},
    {"gen_default", "gen", 0, 0, 0, 0},
    {"decgen_default", "decgen", 0, 0, 0, 0},
    {"p224_greedy", "p224", 0, 8, 0, 1},
    /* eos_token_id lists: stop at any of them (not the first: the others) */
    {"eoslist_greedy", "eoslist", 0, 0, 86, 0},
    {"eoslist_beam3", "eoslist", 3, 0, 0, 0},
    {"eoscfg_beam3", "eoscfg", 3, 0, 142, 0},
    {"eoscfg_greedy", "eoscfg", 0, 0, 0, 0},
};

/* The gradient of every new token's log-probability (the stop id's too)
 * w.r.t. each layer's cross-attention of its query against PyTorch's
 * autograd, and the gradient-weighted maps of the caption (from
 * sc_vit_gpt2_gradcam and from generation). all: start + the twin's ids (T). */
static void check_grads(sc_vit_gpt2 *m, const vg_case *k, const sc_blip_generate_params *gp,
                        const float *feat, const float *px, const int *all, int T, int n_new) {
    const sc_vit_gpt2_config *cf = sc_vit_gpt2_get_config(m);
    const int NL = cf->decoder.n_layer, H = cf->decoder.n_head, Ti = sc_vit_gpt2_image_tokens(m),
              G = sc_vit_gpt2_grid(m), nq = T - 1;
    sc_npy gr = npy(k->name, "step_cross_grad"), sx = npy(k->name, "step_cross_attn");
    assert_int_equal((int)gr.shape[0], nq);
    float *g = malloc((size_t)nq * H * Ti * sizeof(float)),
          *want = malloc((size_t)nq * H * Ti * sizeof(float));
    for (int l = 0; l < NL; l++) {
        SC_TEST_OK(gpt2_cross_attention_grads(m, feat, all, T, 0, l, g, NULL));
        for (int t = 0; t < nq; t++)
            memcpy(want + (size_t)t * H * Ti, gr.data + ((size_t)t * NL + l) * H * Ti,
                   (size_t)H * Ti * sizeof(float));
        char what[64];
        snprintf(what, sizeof what, "d log p / d cross-attention, layer %d", l);
        check_rel(what, g, want, (size_t)nq * H * Ti);
    }
    /* gradient-weighted maps of the caption's tokens (the stop id's left out) */
    const int layer = 2 * NL / 3, nn = n_new > 0 ? n_new : 1;
    float *maps = malloc((size_t)nn * G * G * sizeof(float)),
          *ref = calloc((size_t)nn * G * G, sizeof(float));
    SC_TEST_OK(sc_vit_gpt2_gradcam(m, px, all + 1, n_new, -1, 0, maps));
    sc_test_gradcam_maps(sx.data, gr.data, n_new, NL, layer, H, G, ref);
    check_rel("gradient-weighted maps", maps, ref, (size_t)n_new * G * G);
    sc_blip_generate_params p = *gp;
    p.gradcam = 1;
    sc_blip_caption cap;
    SC_TEST_OK(sc_vit_gpt2_generate(m, px, &p, &cap));
    assert_int_equal(cap.n, n_new);
    check_rel("gradient-weighted maps from generation", cap.gradcam, ref, (size_t)n_new * G * G);
    sc_blip_caption_free(&cap);
    free(g), free(want), free(maps), free(ref);
    sc_npy_free(&gr), sc_npy_free(&sx);
}

static void test_cases(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++) {
        const vg_case *k = &CASES[c];
        printf("case %s\n", k->name);
        sc_vit_gpt2 *m = load(k->folder);
        const sc_vit_gpt2_config *cf = sc_vit_gpt2_get_config(m);
        const int L = cf->decoder.n_layer, H = cf->decoder.n_head, V = cf->decoder.vocab_size,
                  Ti = sc_vit_gpt2_image_tokens(m), G = sc_vit_gpt2_grid(m),
                  Dv = cf->encoder.hidden_size;
        sc_npy px = npy(k->name, "pixel_values"), feat = npy(k->name, "features"),
               ids = npy(k->name, "ids"), slog = npy(k->name, "step_logits"),
               scross = npy(k->name, "step_cross_attn");
        /* features */
        float *f = malloc((size_t)Ti * Dv * sizeof(float));
        SC_TEST_OK(sc_vit_gpt2_vision_forward(m, px.data, f));
        check_rel("features", f, feat.data, (size_t)Ti * Dv);
        /* generation */
        sc_blip_generate_params p = sc_vit_gpt2_default_generate_params(m);
        if (k->beams) p.num_beams = k->beams;
        if (k->max_len) p.max_new_tokens = k->max_len - 1;
        sc_blip_caption cap;
        SC_TEST_OK(sc_vit_gpt2_generate(m, px.data, &p, &cap));
        const int T = (int)ids.shape[0];
        const int mine = 1 + cap.n + (cap.ended ? 1 : 0);
        const float *ref = ids.data; /* int64 read as float32 (exact below 2^24) */
        int same = mine == T && (int)ref[0] == cf->generation.decoder_start_token_id;
        for (int t = 0; same && t < cap.n; t++) same = cap.ids[t] == (int)ref[1 + t];
        int stop = -1; /* the twin's last id when it is a stop id */
        for (int e = 0; e < cf->generation.n_eos; e++)
            if ((int)ref[T - 1] == cf->generation.eos_token_ids[e]) stop = (int)ref[T - 1];
        if (same && cap.ended) same = stop >= 0;
        if (k->ends_on && (!cap.ended || stop != k->ends_on))
            fail_msg("%s: the caption should end on %d (ended %d, twin's last id %d)", k->name,
                     k->ends_on, cap.ended, (int)ref[T - 1]);
        printf("  ids: %d new tokens%s, %s\n", cap.n, cap.ended ? " + eos" : "",
               same ? "identical" : "DIFFERENT");
        if (!same) {
            printf("  saccade:");
            for (int t = 0; t < cap.n; t++) printf(" %d", cap.ids[t]);
            printf("\n  twin:   ");
            for (int t = 1; t < T; t++) printf(" %d", (int)ref[t]);
            printf("\n");
        }
        /* teacher-forced logits and cross-attention of every generated step */
        int *all = malloc((size_t)T * sizeof(int));
        for (int t = 0; t < T; t++) all[t] = (int)ref[t];
        const size_t per_q = (size_t)L * H * Ti;
        float *lg = malloc((size_t)(T - 1) * V * sizeof(float)),
              *cr = malloc((size_t)(T - 1) * per_q * sizeof(float));
        SC_TEST_OK(sc_vit_gpt2_decoder_forward(m, feat.data, all, T - 1, lg, cr));
        check_rel("step logits", lg, slog.data, (size_t)(T - 1) * V);
        check_rel("step cross-attention", cr, scross.data, (size_t)(T - 1) * per_q);
        /* the per-word maps: mean over heads of the default layer */
        const int layer = 2 * L / 3;
        float *want = calloc((size_t)G * G + 1, sizeof(float));
        for (int t = 0; t < cap.n; t++) {
            const float *q = scross.data + (size_t)t * per_q + (size_t)layer * H * Ti;
            for (int j = 0; j < G * G; j++) {
                want[j] = 0;
                for (int h = 0; h < H; h++) want[j] += q[(size_t)h * Ti + 1 + j] / (float)H;
            }
            sc_test_assert_close("map", cap.attention + (size_t)t * G * G, want, (size_t)G * G,
                                 1e-4, 1e-6);
        }
        if (!same) fail_msg("%s: token ids differ from the twin's", k->name);
        if (k->grads) check_grads(m, k, &p, feat.data, px.data, all, T, cap.n);
        free(want), free(all), free(lg), free(cr), free(f);
        sc_blip_caption_free(&cap);
        sc_npy_free(&px), sc_npy_free(&feat), sc_npy_free(&ids), sc_npy_free(&slog),
            sc_npy_free(&scross);
        sc_vit_gpt2_free(m);
    }
}

static double token_logp(sc_vit_gpt2 *m, const float *f, const int *seq, int n, int q,
                         float *logits) {
    const int V = sc_vit_gpt2_get_config(m)->decoder.vocab_size;
    SC_TEST_OK(sc_vit_gpt2_decoder_forward(m, f, seq, n, logits, NULL));
    const float *z = logits + (size_t)q * V;
    double mx = z[0], s = 0;
    for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
    for (int v = 0; v < V; v++) s += exp(z[v] - mx);
    return z[seq[q + 1]] - mx - log(s);
}

/* d log p(seq[q + 1]) / d cross-attention against central differences of
 * the forward with one probability moved (every layer, some heads, queries
 * and keys). */
static void test_gradcam_finite_differences(void **state) {
    (void)state;
    sc_vit_gpt2 *m = load("tiny");
    const sc_vit_gpt2_config *c = sc_vit_gpt2_get_config(m);
    const int V = c->decoder.vocab_size, NL = c->decoder.n_layer, H = c->decoder.n_head,
              Ti = sc_vit_gpt2_image_tokens(m);
    const int n = 6, seq[6] = {c->generation.decoder_start_token_id, 12, 40, 7, 55, 9};
    sc_npy feat = npy("greedy", "features");
    float *logits = malloc((size_t)n * V * sizeof(float));
    float *g = malloc((size_t)(n - 1) * H * Ti * sizeof(float));
    const float delta = 1e-2f;
    int checked = 0;
    for (int l = 0; l < NL; l++) {
        SC_TEST_OK(gpt2_cross_attention_grads(m, feat.data, seq, n, 0, l, g, NULL));
        for (int q = 0; q < n - 1; q++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < Ti; j += 2) {
                    m->probe = (dec_probe){1, l, h, q, j, delta};
                    double up = token_logp(m, feat.data, seq, n, q, logits);
                    m->probe.delta = -delta;
                    double down = token_logp(m, feat.data, seq, n, q, logits);
                    m->probe.on = 0;
                    double fd = (up - down) / (2 * delta), an = g[((size_t)q * H + h) * Ti + j];
                    if (fabs(fd - an) > 2e-3 + 2e-3 * fabs(fd))
                        fail_msg("layer %d head %d query %d key %d: finite differences %.6f, "
                                 "gradient %.6f",
                                 l, h, q, j, fd, an);
                    checked++;
                }
    }
    printf("  %d finite-difference checks\n", checked);
    assert_true(checked > 100);
    /* bad layers and head masks are refused */
    float out[16];
    sc_npy px = npy("greedy", "pixel_values");
    assert_int_equal(sc_vit_gpt2_gradcam(m, px.data, seq + 1, 2, NL, 0, out), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_vit_gpt2_gradcam(m, px.data, seq + 1, 2, -1, (uint64_t)1 << H, out),
                     SC_ERR_INVALID_ARG);
    free(logits), free(g);
    sc_npy_free(&feat), sc_npy_free(&px);
    sc_vit_gpt2_free(m);
}

/* saccade saliency with a ViT-GPT2 folder: the map of one word of the
 * greedy caption from the twin's cross-attention (attention: mean over the
 * heads of the default layer) and gradients (gradcam: attention times the
 * positive gradient), averaged over the word's tokens, upsampled as the
 * attention figures; attention min-max normalised, gradcam divided by its
 * maximum. Then the errors. */
static void test_saliency(void **state) {
    (void)state;
    char *dir = sc_test_join(g_dir, "tiny"), *png = sc_test_join(g_dir, "chelsea.png");
    sc_saliency_model *sm = NULL;
    SC_TEST_OK(sc_saliency_model_load(dir, &sm));
    assert_int_equal(sc_saliency_model_get_kind(sm), SC_SMODEL_VIT_GPT2);
    assert_string_equal(sc_saliency_model_kind_name(SC_SMODEL_VIT_GPT2), "vit-gpt2");
    sc_vit_gpt2 *m = sc_saliency_model_vit_gpt2(sm);
    const sc_vit_gpt2_config *cf = sc_vit_gpt2_get_config(m);
    const int NL = cf->decoder.n_layer, H = cf->decoder.n_head, Ti = sc_vit_gpt2_image_tokens(m),
              G = sc_vit_gpt2_grid(m), layer = 2 * NL / 3;
    sc_image img = {0};
    sc_image_load_params lp = sc_image_load_default_params();
    SC_TEST_OK(sc_image_load(png, &lp, &img, NULL));
    sc_blip_result r;
    SC_TEST_OK(sc_vit_gpt2_caption_image(m, &img, NULL, &r));
    sc_npy sx = npy("greedy", "step_cross_attn"), gr = npy("greedy", "step_cross_grad"),
           ids = npy("greedy", "ids");
    /* a word saliency finds where it is: the first that is no other
     * word and no piece but its own single one; a multi-piece one preferred */
    int w = -1;
    for (int k = 0; k < r.n_words; k++) {
        int other = 0, multi = r.word_start[k + 1] - r.word_start[k] > 1;
        for (int j = 0; j < r.n_words; j++) other |= j != k && !strcmp(r.words[j], r.words[k]);
        for (int t = 0; t < r.caption.n; t++)
            other |= !strcmp(r.pieces[t], r.words[k]) && (multi || t != r.word_start[k]);
        if (!other && (w < 0 || multi)) w = k;
        if (!other && multi) break;
    }
    assert_true(w >= 0);
    const int t0 = r.word_start[w], t1 = r.word_start[w + 1];
    for (int method = 0; method < 2; method++) { /* attention, gradcam */
        float small[64] = {0};
        for (int t = t0; t < t1; t++)
            for (int h = 0; h < H; h++)
                for (int j = 0; j < G * G; j++) {
                    size_t o = (((size_t)t * NL + layer) * H + h) * Ti + 1 + j;
                    float a = sx.data[o], d = gr.data[o];
                    small[j] += (method ? a * (d > 0 ? d : 0.0f) : a) / H / (float)(t1 - t0);
                }
        sc_map want = {0}, got = {0};
        SC_TEST_OK(sc_attention_upsample(small, G, img.w, img.h, &want));
        const size_t n = (size_t)img.w * img.h;
        float lo = want.data[0], hi = want.data[0];
        for (size_t i = 0; i < n; i++) {
            lo = fminf(lo, want.data[i]);
            hi = fmaxf(hi, want.data[i]);
        }
        if (method) lo = 0;
        for (size_t i = 0; i < n; i++) want.data[i] = (want.data[i] - lo) / (hi - lo);
        sc_model_saliency_params p = sc_model_saliency_default_params();
        p.word = r.words[w];
        sc_model_saliency_info info;
        SC_TEST_OK(sc_saliency_model_compute(sm, method ? SC_MSAL_GRADCAM : SC_MSAL_ATTENTION, &img,
                                             &p, &got, &info));
        printf("  %s of \"%s\" (tokens %d..%d of \"%s\")\n", method ? "gradcam" : "attention",
               p.word, t0, t1 - 1, info.caption);
        assert_int_equal(info.step, t0);
        assert_int_equal(info.target, (int)ids.data[1 + t0]);
        assert_string_equal(info.caption, r.text);
        sc_test_assert_close(method ? "gradcam map" : "attention map", got.data, want.data, n, 1e-4,
                             1e-5);
        sc_map_free(&want), sc_map_free(&got);
    }
    sc_map bad = {0};
    sc_model_saliency_params p = sc_model_saliency_default_params();
    p.word = "zebra";
    assert_int_equal(sc_saliency_model_compute(sm, SC_MSAL_ATTENTION, &img, &p, &bad, NULL),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "not in the caption"));
    p.word = NULL;
    assert_int_equal(sc_saliency_model_compute(sm, SC_MSAL_GRADIENT, &img, &p, &bad, NULL),
                     SC_ERR_UNSUPPORTED);
    assert_non_null(strstr(sc_last_error(), "ViT-GPT2 explains words with attention or gradcam"));
    assert_null(bad.data);
    sc_blip_result_free(&r);
    sc_npy_free(&sx), sc_npy_free(&gr), sc_npy_free(&ids);
    sc_image_free(&img);
    sc_saliency_model_free(sm);
    free(dir), free(png);
}

/* ViTImageProcessor: PIL bilinear resize, rescale, normalise (48 and 224 pixels) */
static void test_preprocess(void **state) {
    (void)state;
    const char *folders[2] = {"tiny", "p224"};
    char *png = sc_test_join(g_dir, "chelsea.png");
    sc_image img = {0};
    sc_image_load_params lp = sc_image_load_default_params();
    SC_TEST_OK(sc_image_load(png, &lp, &img, NULL));
    for (int i = 0; i < 2; i++) {
        sc_vit_gpt2 *m = load(folders[i]);
        const int S = sc_vit_gpt2_get_config(m)->encoder.image_size;
        char name[64];
        snprintf(name, sizeof name, "pre_%s", folders[i]);
        sc_npy ref = sc_test_npy(g_dir, name);
        float *px = malloc((size_t)3 * S * S * sizeof(float));
        SC_TEST_OK(sc_vit_gpt2_preprocess(m, &img, px));
        double worst = 0;
        for (size_t j = 0; j < (size_t)3 * S * S; j++)
            worst = fmax(worst, fabs((double)px[j] - ref.data[j]));
        printf("  pixel values at %d: max abs diff %.3g\n", S, worst);
        assert_true(worst <= 1e-6);
        free(px);
        sc_npy_free(&ref);
        sc_vit_gpt2_free(m);
    }
    sc_image_free(&img);
    free(png);
}

/* ids, tokens and decoded text of every line of the twin's jsonl file */
static int check_tokens(const sc_bpe *b, const char *file) {
    char *path = sc_test_join(g_dir, file);
    unsigned char *text = NULL;
    size_t len = 0;
    SC_TEST_OK(sc_read_file(path, 1 << 24, &text, &len));
    int lines = 0;
    for (char *line = strtok((char *)text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        const char *s = cJSON_GetObjectItem(o, "text")->valuestring;
        /* id_tokens: the vocabulary's token of each id (the BPE symbol itself
         * unless the vocabulary gives its id to another key too) */
        const cJSON *toks = cJSON_GetObjectItem(o, "id_tokens"),
                    *ids = cJSON_GetObjectItem(o, "ids");
        int32_t *got = NULL;
        size_t n = 0;
        SC_TEST_OK(sc_bpe_encode(b, s, strlen(s), &got, &n));
        if ((int)n != cJSON_GetArraySize(ids))
            fail_msg("\"%s\": %zu ids, twin %d", s, n, cJSON_GetArraySize(ids));
        for (size_t i = 0; i < n; i++) {
            if (got[i] != cJSON_GetArrayItem(ids, (int)i)->valueint)
                fail_msg("\"%s\": id %zu is %d, twin %d", s, i, got[i],
                         cJSON_GetArrayItem(ids, (int)i)->valueint);
            assert_string_equal(sc_bpe_token(b, got[i]),
                                cJSON_GetArrayItem(toks, (int)i)->valuestring);
        }
        char *dec = NULL;
        SC_TEST_OK(sc_bpe_decode(b, got, n, 0, &dec));
        assert_string_equal(dec, cJSON_GetObjectItem(o, "decoded")->valuestring);
        free(dec), free(got);
        cJSON_Delete(o);
    }
    printf("  %s: %d strings: ids, tokens and decoded text identical\n", file, lines);
    free(path), free(text);
    return lines;
}

/* The byte-level BPE on the twin's hard strings, with the tiny folder's files
 * and with files full of traps */
static void test_tokenizer(void **state) {
    (void)state;
    sc_vit_gpt2 *m = load("tiny");
    const sc_bpe *b = sc_vit_gpt2_tokenizer(m);
    assert_true(check_tokens(b, "tokens.jsonl") >= 20);
    char *v = sc_test_join(g_dir, "odd/vocab.json"), *mg = sc_test_join(g_dir, "odd/merges.txt");
    sc_bpe *odd = NULL;
    SC_TEST_OK(sc_bpe_load(v, mg, NULL, &odd));
    assert_true(check_tokens(odd, "tokens_odd.jsonl") >= 20);
    sc_bpe_free(odd);
    free(v), free(mg);
    /* invalid UTF-8 is refused; bytes that are not UTF-8 decode to U+FFFD as Python's */
    int32_t *got = NULL;
    size_t n = 0;
    assert_int_equal(sc_bpe_encode(b, "ab\xff", 3, &got, &n), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "UTF-8"));
    /* a NUL could not come back from decoding's C string: refused, naming where */
    assert_int_equal(sc_bpe_encode(b, "ab\0c", 4, &got, &n), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "NUL byte at 2"));
    assert_null(got);
    const int32_t raw[3] = {sc_bpe_id(b, "\xc3\xa2"), sc_bpe_id(b, "\xc4\xa2"), 'A' - 33};
    /* "â" is byte 0xE2, "Ģ" byte 0x82 (a truncated 3-byte sequence), then "b" */
    const int32_t seq[3] = {raw[0], raw[1], sc_bpe_id(b, "b")};
    char *dec = NULL;
    SC_TEST_OK(sc_bpe_decode(b, seq, 3, 0, &dec));
    assert_string_equal(dec, "\xef\xbf\xbd"
                             "b");
    free(dec);
    sc_vit_gpt2_free(m);
}

/* Broken folders: a clear error naming the file */
static void test_bad_folders(void **state) {
    (void)state;
    const struct {
        const char *name;
        sc_status code;
        const char *says;
    } bad[] = {{"type", SC_ERR_FORMAT, "decoder.n_embd must be an integer"},
               {"model_type", SC_ERR_FORMAT, "model_type"},
               {"act", SC_ERR_UNSUPPORTED, "activation_function"},
               {"nocross", SC_ERR_FORMAT, "add_cross_attention"},
               {"vocab", SC_ERR_FORMAT, "ids up to 400"},
               {"sample", SC_ERR_UNSUPPORTED, "do_sample"},
               {"tensor", SC_ERR_FORMAT, "decoder.transformer.h.1.ln_2.bias"},
               {"shape", SC_ERR_SHAPE, "decoder.transformer.wpe.weight"},
               {"merges", SC_ERR_IO, "merges.txt: missing"},
               {"bin", SC_ERR_IO, "convert_hf.py"},
               {"json", SC_ERR_FORMAT, "vocab.json"},
               {"eos", SC_ERR_FORMAT, "eos_token_id must be an integer or a list"},
               {"eos_list", SC_ERR_FORMAT, "eos_token_id must be an integer or a list"},
               {"eos_empty", SC_ERR_FORMAT, "eos_token_id must be an integer or a list"},
               {"eos_range", SC_ERR_FORMAT, "eos_token_id[1] is 377"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "bad_%s", bad[i].name);
        char *p = sc_test_join(g_dir, name);
        sc_vit_gpt2 *m = NULL;
        sc_status s = sc_vit_gpt2_load(p, &m);
        printf("  %-16s %s\n", name, sc_last_error());
        assert_null(m);
        assert_int_equal(s, bad[i].code);
        assert_non_null(strstr(sc_last_error(), bad[i].says));
        free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_preprocess),
        cmocka_unit_test(test_gradcam_finite_differences),
        cmocka_unit_test(test_saliency),
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_bad_folders),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

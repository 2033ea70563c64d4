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
#include "saccade/sc_image.h"
#include "saccade/sc_util.h"
#include "saccade/sc_vit_gpt2.h"

#define RTOL 1e-4

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_reference("vit_gpt2_parity", "ref_vit_gpt2_cases.py", "");
    return 0;
}
static int teardown(void **state) {
    (void)state;
    sc_test_reference_free(&g_dir);
    return 0;
}

static sc_npy npy(const char *case_, const char *name) {
    char buf[300];
    snprintf(buf, sizeof buf, "%.100s/%.100s", case_, name);
    return sc_test_npy(g_dir, buf);
}

static sc_vit_gpt2 *load(const char *folder) {
    char *p = sc_test_join(g_dir, folder);
    sc_vit_gpt2 *m = NULL;
    SC_TEST_OK(sc_vit_gpt2_load(p, &m));
    free(p);
    return m;
}

/* max |a - b| / max |b| */
static void check_rel(const char *what, const float *a, const float *b, size_t n) {
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), r = fabs((double)b[i]);
        num = d > num ? d : num;
        den = r > den ? r : den;
    }
    printf("  %-40s rel err %.2e\n", what, num / den);
    if (!(num / den <= RTOL)) fail_msg("%s: relative error %.3e > %.0e", what, num / den, RTOL);
}

typedef struct {
    const char *name, *folder;
    int beams, max_len; /* 0: the folder's own settings */
    int ends_on;        /* the stop id the caption must end on (0: any or none) */
} vg_case;

/* the table of tools/ref/ref_vit_gpt2_cases.py */
static const vg_case CASES[] = {
    {"greedy", "tiny", 0, 0, 0},
    {"beam3", "tiny", 3, 0, 0},
    {"beam5", "tiny", 5, 12, 0},
    {"lmhead_greedy", "lmhead", 0, 0, 0},
    {"short_greedy", "short", 0, 0, 0},
    {"short_beam3", "short", 3, 0, 0},
    {"short_beam4", "short", 4, 0, 0},
    {"f16_greedy", "f16", 0, 0, 0},
    {"bf16_beam3", "bf16", 3, 0, 0},
    {"gen_default", "gen", 0, 0, 0},
    {"decgen_default", "decgen", 0, 0, 0},
    {"p224_greedy", "p224", 0, 8, 0},
    /* eos_token_id lists: stop at any of them (not the first: the others) */
    {"eoslist_greedy", "eoslist", 0, 0, 86},
    {"eoslist_beam3", "eoslist", 3, 0, 0},
    {"eoscfg_beam3", "eoscfg", 3, 0, 142},
    {"eoscfg_greedy", "eoscfg", 0, 0, 0},
};

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
        free(want), free(all), free(lg), free(cr), free(f);
        sc_blip_caption_free(&cap);
        sc_npy_free(&px), sc_npy_free(&feat), sc_npy_free(&ids), sc_npy_free(&slog),
            sc_npy_free(&scross);
        sc_vit_gpt2_free(m);
    }
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
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_bad_folders),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

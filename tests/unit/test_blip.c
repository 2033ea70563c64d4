/* sc_blip: configuration defaults and typing, loading (folders, single files,
 * bad folders with clear errors), the key/value cache against the full
 * forward, attention maps, sampling settings, the gradient of a token's
 * log-probability with respect to the cross-attention against finite
 * differences. The random-weight folder comes
 * from tools/ref/make_blip_folder.py (tiny sizes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_blip.h"
#include "saccade/sc_blip_caption.h"
#include "saccade/sc_image.h"
#include "saccade/sc_safetensors.h"
#include "blip/blip_internal.h"

static char *g_dir;  /* the reference folder (tiny, F32) */
static char *g_work; /* scratch folders */
static float *g_px;  /* pixel values (3, S, S) */

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_reference("blip_unit", "make_blip_folder.py", "--size tiny --seed 11");
    g_work = sc_test_tmpdir("blip_unit_work");
    g_px = sc_test_random(3 * 48 * 48, -1.8f, 2.1f, 5);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    sc_test_reference_free(&g_dir);
    sc_test_rmtree(g_work);
    free(g_work);
    free(g_px);
    return 0;
}

static sc_blip *load_ok(const char *path) {
    sc_blip *m = NULL;
    SC_TEST_OK(sc_blip_load(path, &m));
    return m;
}

/* A copy of the reference folder under g_work/name; returns its path. */
static char *copy_folder(const char *name) {
    char *dst = sc_test_join(g_work, name);
    assert_int_equal(sc_test_system("rm -rf '%s' && cp -r '%s' '%s'", dst, g_dir, dst), 0);
    return dst;
}

/* Loading fails with status want and a message containing every part. */
static void load_fails(const char *path, sc_status want, const char *part1, const char *part2) {
    sc_blip *m = (sc_blip *)0x1;
    sc_status s = sc_blip_load(path, &m);
    printf("  %s\n", sc_last_error());
    assert_int_equal(s, want);
    assert_null(m);
    assert_non_null(strstr(sc_last_error(), part1));
    if (part2) assert_non_null(strstr(sc_last_error(), part2));
}

static void test_config_defaults(void **state) {
    (void)state;
    sc_blip_config c = sc_blip_default_config();
    SC_TEST_OK(sc_blip_config_parse("{}", "x.json", &c));
    assert_int_equal(c.text.num_attention_heads, 8); /* the class default, not BLIP-base's 12 */
    assert_int_equal(c.text.vocab_size, 30524);
    assert_int_equal(c.text.bos_token_id, 30522);
    assert_int_equal(c.text.sep_token_id, 102);
    assert_true(c.text.layer_norm_eps == 1e-12f);
    assert_true(c.vision.layer_norm_eps == 1e-5f);
    assert_int_equal(c.vision.image_size, 384);
    assert_int_equal(c.vision.patch_size, 16);
    assert_int_equal(c.text.max_length, 20);
    assert_int_equal(c.text.num_beams, 1);
    assert_int_equal(c.preprocess.size, 384);
    /* the text model's encoder_hidden_size is the vision width, whatever it says */
    SC_TEST_OK(sc_blip_config_parse(
        "{\"vision_config\": {\"hidden_size\": 96, \"num_attention_heads\": 4},"
        " \"text_config\": {\"encoder_hidden_size\": 768, \"num_attention_heads\": 12,"
        " \"unknown_key\": [1, 2]}}",
        "x.json", &c));
    assert_int_equal(c.text.encoder_hidden_size, 96);
    assert_int_equal(c.text.num_attention_heads, 12);
    SC_TEST_OK(sc_blip_config_parse("{\"text_config\": {\"early_stopping\": \"never\", "
                                    "\"repetition_penalty\": 1.0, \"num_beams\": 3}}",
                                    "x.json", &c));
    assert_int_equal(c.text.early_stopping, 2);
    assert_int_equal(c.text.num_beams, 3);
    /* eos_token_id as a list, as transformers allows (BLIP stops at sep_token_id) */
    SC_TEST_OK(sc_blip_config_parse("{\"text_config\": {\"eos_token_id\": [5, 2]}}", "x.json", &c));
    assert_int_equal(c.text.eos_token_id, 5);
    assert_int_equal(c.text.sep_token_id, 102);
    /* typed fields */
    const struct {
        const char *json, *part;
        sc_status st;
    } bad[] = {
        {"{\"text_config\": {\"hidden_size\": \"32\"}}",
         "text_config.hidden_size must be an integer", SC_ERR_FORMAT},
        {"{\"vision_config\": {\"layer_norm_eps\": \"1e-5\"}}", "vision_config.layer_norm_eps",
         SC_ERR_FORMAT},
        {"{\"text_config\": {\"num_hidden_layers\": 2.5}}", "text_config.num_hidden_layers",
         SC_ERR_FORMAT},
        {"{\"text_config\": {\"do_sample\": 1}}", "text_config.do_sample must be true or false",
         SC_ERR_FORMAT},
        {"{\"text_config\": [1]}", "text_config must be an object", SC_ERR_FORMAT},
        {"{\"model_type\": \"bert\"}", "model_type is \"bert\"", SC_ERR_FORMAT},
        {"{\"text_config\": {\"hidden_act\": \"relu\"}}", "hidden_act \"relu\"",
         SC_ERR_UNSUPPORTED},
        {"{\"text_config\": {\"hidden_size\": 100}}", "not a multiple of its 8 heads",
         SC_ERR_FORMAT},
        {"[1, 2", "not valid JSON", SC_ERR_FORMAT},
        {"{\"text_config\": {\"repetition_penalty\": 1.2}}",
         "text_config.repetition_penalty 1.2 is not supported", SC_ERR_UNSUPPORTED},
        {"{\"text_config\": {\"early_stopping\": \"soon\"}}", "early_stopping must be",
         SC_ERR_FORMAT},
        {"{\"text_config\": {\"eos_token_id\": [2, \"3\"]}}",
         "text_config.eos_token_id must be an integer or a list", SC_ERR_FORMAT},
        {"{\"text_config\": {\"eos_token_id\": {}}}", "text_config.eos_token_id must be",
         SC_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sc_blip_config before = sc_blip_default_config(), c2 = before;
        assert_int_equal(sc_blip_config_parse(bad[i].json, "cfg.json", &c2), bad[i].st);
        printf("  %s\n", sc_last_error());
        assert_non_null(strstr(sc_last_error(), "cfg.json"));
        assert_non_null(strstr(sc_last_error(), bad[i].part));
        assert_memory_equal(&c2, &before, sizeof c2); /* unchanged on failure */
    }
    /* preprocessor_config.json */
    SC_TEST_OK(sc_blip_preprocess_parse(
        "{\"size\": {\"height\": 224, \"width\": 224}, \"image_mean\": [0.5, 0.5, 0.5]}", "p.json",
        &c));
    assert_int_equal(c.preprocess.size, 224);
    assert_true(c.preprocess.mean[1] == 0.5f);
    assert_int_equal(sc_blip_preprocess_parse("{\"image_std\": [1, 2]}", "p.json", &c),
                     SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "image_std"));
}

static void test_load_folder(void **state) {
    (void)state;
    sc_blip *m = load_ok(g_dir);
    const sc_blip_config *c = sc_blip_get_config(m);
    assert_int_equal(c->text.num_attention_heads, 4);
    assert_int_equal(c->text.encoder_hidden_size, 48);
    assert_int_equal(sc_blip_grid(m), 3);
    assert_int_equal(sc_blip_image_tokens(m), 10);
    assert_int_equal(sc_blip_vocab_size(m), c->text.vocab_size);
    /* special ids from the files: [DEC] and [SEP] are where the config says */
    assert_int_equal(sc_blip_token_id(m, "[DEC]"), c->text.bos_token_id);
    assert_int_equal(sc_blip_token_id(m, "[SEP]"), c->text.sep_token_id);
    assert_string_equal(sc_blip_token(m, c->text.bos_token_id), "[DEC]");
    assert_null(sc_blip_token(m, -1));
    assert_null(sc_blip_token(m, c->text.vocab_size));
    assert_int_equal(sc_blip_token_id(m, "no-such-token"), -1);
    sc_blip_free(m);
    load_fails("/nonexistent/blip", SC_ERR_IO, "/nonexistent/blip", NULL);
}

/* Rewrites dir/model.safetensors without tensor `drop` and with tensor
 * `reshape` given a leading dimension of 1 more. */
static void rewrite_weights(const char *dir, const char *drop, const char *reshape) {
    char *src = sc_test_join(g_dir, "model.safetensors");
    char *dst = sc_test_join(dir, "model.safetensors");
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(src, &st));
    sc_st_writer *w = sc_st_writer_new();
    float *grown = NULL;
    for (size_t i = 0; i < sc_safetensors_count(st); i++) {
        sc_st_tensor_info ti;
        const float *d;
        SC_TEST_OK(sc_safetensors_info(st, i, &ti));
        if (drop && !strcmp(ti.name, drop)) continue;
        SC_TEST_OK(sc_safetensors_get_f32_at(st, i, &d));
        if (reshape && !strcmp(ti.name, reshape)) {
            int64_t shape[8];
            memcpy(shape, ti.shape, (size_t)ti.ndim * sizeof(int64_t));
            size_t row = ti.numel / (size_t)shape[0];
            shape[0]++;
            grown = calloc(ti.numel + row, sizeof(float));
            memcpy(grown, d, ti.numel * sizeof(float));
            SC_TEST_OK(sc_st_writer_add_f32(w, ti.name, grown, ti.ndim, shape, SC_ST_F32));
        } else
            SC_TEST_OK(sc_st_writer_add_f32(w, ti.name, d, ti.ndim, ti.shape, SC_ST_F32));
    }
    SC_TEST_OK(sc_st_writer_write(w, dst));
    sc_st_writer_free(w);
    sc_safetensors_free(st);
    free(grown), free(src), free(dst);
}

static void test_bad_folders(void **state) {
    (void)state;
    const char *files[3] = {"config.json", "vocab.txt", "model.safetensors"};
    for (int i = 0; i < 3; i++) {
        char *d = copy_folder("missing");
        assert_int_equal(sc_test_system("rm '%s/%s'", d, files[i]), 0);
        load_fails(d, SC_ERR_IO, files[i], "missing");
        free(d);
    }
    char *d = copy_folder("bin");
    assert_int_equal(sc_test_system("mv '%s/model.safetensors' '%s/pytorch_model.bin'", d, d), 0);
    load_fails(d, SC_ERR_IO, "model.safetensors", "tools/convert_hf.py");
    free(d);
    /* a tensor missing, one of the wrong shape */
    d = copy_folder("tensors");
    const char *name = "text_decoder.bert.encoder.layer.1.crossattention.self.key.weight";
    rewrite_weights(d, name, NULL);
    load_fails(d, SC_ERR_FORMAT, "model.safetensors", name);
    rewrite_weights(d, NULL, "vision_model.encoder.layers.0.self_attn.qkv.weight");
    load_fails(d, SC_ERR_SHAPE, "vision_model.encoder.layers.0.self_attn.qkv.weight", "[145, 48]");
    free(d);
    /* the vocabulary: one token short of text_config.vocab_size, or one more */
    d = copy_folder("vocab");
    assert_int_equal(sc_test_system("sed -i '$d' '%s/vocab.txt'", d), 0);
    load_fails(d, SC_ERR_FORMAT, "vocab.txt", "vocab_size");
    assert_int_equal(
        sc_test_system("cp '%s/vocab.txt' '%s/v' && cat '%s/v' '%s/v' > '%s/vocab.txt'", g_dir, d,
                       d, d, d),
        0);
    load_fails(d, SC_ERR_FORMAT, "vocab.txt", "vocab_size");
    free(d);
    /* a config field of the wrong type */
    d = copy_folder("config");
    assert_int_equal(
        sc_test_system("sed -i 's/\"num_hidden_layers\": 2,/\"num_hidden_layers\": \"2\",/' "
                       "'%s/config.json'",
                       d),
        0);
    load_fails(d, SC_ERR_FORMAT, "config.json", "num_hidden_layers must be an integer");
    free(d);
    d = copy_folder("preproc");
    assert_int_equal(sc_test_system("sed -i 's/\"do_resize\": true/\"do_resize\": \"yes\"/' "
                                    "'%s/preprocessor_config.json'",
                                    d),
                     0);
    load_fails(d, SC_ERR_FORMAT, "preprocessor_config.json", "do_resize");
    free(d);
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Greedy decoding with the key/value cache gives what the full forward over
 * the generated sequence gives: each id is the argmax of the teacher-forced
 * logits, and the maps kept while decoding are its cross-attention. */
static void test_cache_matches_full_forward(void **state) {
    (void)state;
    sc_blip *m = load_ok(g_dir);
    const sc_blip_config *c = sc_blip_get_config(m);
    const int V = c->text.vocab_size, NL = c->text.num_hidden_layers,
              H = c->text.num_attention_heads, Ti = sc_blip_image_tokens(m), G = sc_blip_grid(m);
    const int prompt[3] = {12, 13, 14};
    for (int np = 0; np <= 3; np += 3) {
        sc_blip_generate_params p = sc_blip_default_generate_params(m);
        p.max_new_tokens = 12;
        sc_blip_caption cap;
        SC_TEST_OK(sc_blip_generate(m, g_px, prompt, np, &p, &cap));
        assert_int_equal(cap.grid, G);
        const int n0 = 1 + np, n = n0 + cap.n;
        int *ids = malloc((size_t)n * sizeof(int));
        ids[0] = c->text.bos_token_id;
        memcpy(ids + 1, prompt, (size_t)np * sizeof(int));
        memcpy(ids + n0, cap.ids, (size_t)cap.n * sizeof(int));
        float *f = malloc((size_t)Ti * c->vision.hidden_size * sizeof(float));
        float *logits = malloc((size_t)n * V * sizeof(float));
        float *cross = malloc((size_t)n * NL * H * Ti * sizeof(float));
        SC_TEST_OK(sc_blip_vision_forward(m, g_px, f));
        SC_TEST_OK(sc_blip_decoder_forward(m, f, ids, n, logits, cross));
        double lp = 0;
        for (int t = 0; t < cap.n; t++) {
            const float *row = logits + (size_t)(n0 - 1 + t) * V;
            assert_int_equal(argmax(row, V), cap.ids[t]);
            double mx = row[cap.ids[t]], s = 0;
            for (int v = 0; v < V; v++) s += exp(row[v] - mx);
            lp += -log(s);
            for (int j = 0; j < G * G; j++) {
                double want = 0;
                for (int h = 0; h < H; h++)
                    want += cross[(((size_t)(n0 - 1 + t) * NL + 2 * NL / 3) * H + h) * Ti + 1 + j];
                assert_true(fabs(cap.attention[(size_t)t * G * G + j] - want / H) < 1e-5);
            }
        }
        if (cap.ended) { /* [SEP] came after the last id */
            const float *row = logits + (size_t)(n - 1) * V;
            assert_int_equal(argmax(row, V), c->text.sep_token_id);
        }
        if (!cap.ended) assert_int_equal(cap.n, 12);
        printf("  prompt %d: %d ids, score %.4f (full forward %.4f)\n", np, cap.n, cap.score, lp);
        if (!cap.ended) assert_true(fabs(cap.score - lp) < 1e-3 * (1 + fabs(lp)));
        /* causality: a prefix's logits do not depend on what follows */
        float *pre = malloc((size_t)n * V * sizeof(float));
        SC_TEST_OK(sc_blip_decoder_forward(m, f, ids, n - 2, pre, NULL));
        sc_test_assert_close("prefix logits", pre, logits, (size_t)(n - 2) * V, 1e-5, 1e-5);
        free(pre), free(ids), free(f), free(logits), free(cross);
        sc_blip_caption_free(&cap);
    }
    sc_blip_free(m);
}

static void test_attention_choice_and_params(void **state) {
    (void)state;
    sc_blip *m = load_ok(g_dir);
    const sc_blip_config *c = sc_blip_get_config(m);
    const int NL = c->text.num_hidden_layers, H = c->text.num_attention_heads,
              Ti = sc_blip_image_tokens(m), G = sc_blip_grid(m);
    sc_blip_generate_params p = sc_blip_default_generate_params(m);
    p.max_new_tokens = 6;
    p.attention_layer = 0;
    p.head_mask = 1u << 2;
    sc_blip_caption a;
    SC_TEST_OK(sc_blip_generate(m, g_px, NULL, 0, &p, &a));
    const int n = 1 + a.n;
    int *ids = malloc((size_t)n * sizeof(int));
    ids[0] = c->text.bos_token_id;
    memcpy(ids + 1, a.ids, (size_t)a.n * sizeof(int));
    float *f = malloc((size_t)Ti * c->vision.hidden_size * sizeof(float));
    float *cross = malloc((size_t)n * NL * H * Ti * sizeof(float));
    SC_TEST_OK(sc_blip_vision_forward(m, g_px, f));
    SC_TEST_OK(sc_blip_decoder_forward(m, f, ids, n, NULL, cross));
    for (int t = 0; t < a.n; t++) {
        const float *w = cross + (((size_t)t * NL + 0) * H + 2) * Ti; /* layer 0, head 2 */
        assert_true(fabs(a.class_attention[t] - w[0]) < 1e-6);
        double sum = a.class_attention[t];
        for (int j = 0; j < G * G; j++) {
            assert_true(fabs(a.attention[(size_t)t * G * G + j] - w[1 + j]) < 1e-6);
            sum += a.attention[(size_t)t * G * G + j];
        }
        assert_true(fabs(sum - 1.0) < 1e-5); /* one head's weights sum to 1 */
    }
    sc_blip_caption_free(&a);
    free(ids), free(f), free(cross);
    /* bad settings: clear errors, nothing returned */
    const struct {
        int field, value;
        const char *part;
    } bad[] = {{0, 0, "max_new_tokens"},
               {1, 0, "num_beams"},
               {2, NL, "attention layer"},
               {3, 1, "sampling with beams"},
               {4, H, "head mask"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sc_blip_generate_params q = sc_blip_default_generate_params(m);
        if (bad[i].field == 0) q.max_new_tokens = bad[i].value;
        if (bad[i].field == 1) q.num_beams = bad[i].value;
        if (bad[i].field == 2) q.attention_layer = bad[i].value;
        if (bad[i].field == 3) q.do_sample = 1, q.num_beams = 3;
        if (bad[i].field == 4) q.head_mask = (uint64_t)1 << bad[i].value;
        sc_blip_caption b;
        assert_int_not_equal(sc_blip_generate(m, g_px, NULL, 0, &q, &b), SC_OK);
        printf("  %s\n", sc_last_error());
        assert_non_null(strstr(sc_last_error(), bad[i].part));
        assert_null(b.ids);
    }
    const int bad_id = c->text.vocab_size;
    sc_blip_caption b;
    assert_int_equal(sc_blip_generate(m, g_px, &bad_id, 1, NULL, &b), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "token id"));
    sc_blip_free(m);
}

static int same_ids(const sc_blip_caption *a, const sc_blip_caption *b) {
    return a->n == b->n && a->ended == b->ended &&
           !memcmp(a->ids, b->ids, (size_t)a->n * sizeof(int));
}

static void test_sampling(void **state) {
    (void)state;
    sc_blip *m = load_ok(g_dir);
    sc_blip_generate_params p = sc_blip_default_generate_params(m);
    p.max_new_tokens = 10;
    sc_blip_caption greedy, s1, s2, s3;
    SC_TEST_OK(sc_blip_generate(m, g_px, NULL, 0, &p, &greedy));
    p.do_sample = 1;
    p.top_k = 1; /* only the most likely token survives */
    SC_TEST_OK(sc_blip_generate(m, g_px, NULL, 0, &p, &s1));
    assert_true(same_ids(&greedy, &s1));
    sc_blip_caption_free(&s1);
    p.top_k = 0;
    p.top_p = 1e-6f; /* the nucleus is the most likely token alone */
    SC_TEST_OK(sc_blip_generate(m, g_px, NULL, 0, &p, &s1));
    assert_true(same_ids(&greedy, &s1));
    sc_blip_caption_free(&s1);
    /* a flat distribution: the seed decides, the same seed gives the same ids */
    p.top_p = 1.0f, p.temperature = 50.0f, p.seed = 7;
    SC_TEST_OK(sc_blip_generate(m, g_px, NULL, 0, &p, &s1));
    SC_TEST_OK(sc_blip_generate(m, g_px, NULL, 0, &p, &s2));
    assert_true(same_ids(&s1, &s2));
    p.seed = 8;
    SC_TEST_OK(sc_blip_generate(m, g_px, NULL, 0, &p, &s3));
    assert_false(same_ids(&s1, &s3));
    sc_blip_caption_free(&greedy), sc_blip_caption_free(&s1), sc_blip_caption_free(&s2),
        sc_blip_caption_free(&s3);
    sc_blip_free(m);
}

/* One saccade .safetensors with the config and vocabulary in its metadata
 * loads and captions as the folder does. */
static void test_single_file(void **state) {
    (void)state;
    sc_blip *m = load_ok(g_dir);
    char *path = sc_test_join(g_work, "blip.safetensors");
    SC_TEST_OK(sc_blip_save_single(m, path));
    sc_blip *s = load_ok(path);
    assert_memory_equal(sc_blip_get_config(m), sc_blip_get_config(s), sizeof(sc_blip_config));
    for (int i = 0; i < sc_blip_vocab_size(m); i++)
        assert_string_equal(sc_blip_token(m, i), sc_blip_token(s, i));
    sc_blip_generate_params p = sc_blip_default_generate_params(m);
    p.num_beams = 3;
    sc_blip_caption a, b;
    SC_TEST_OK(sc_blip_generate(m, g_px, NULL, 0, &p, &a));
    SC_TEST_OK(sc_blip_generate(s, g_px, NULL, 0, &p, &b));
    assert_true(same_ids(&a, &b));
    assert_memory_equal(a.attention, b.attention, (size_t)a.n * a.grid * a.grid * sizeof(float));
    sc_blip_caption_free(&a), sc_blip_caption_free(&b);
    sc_blip_free(s);
    sc_blip_free(m);
    /* a .safetensors without the metadata is not a BLIP model file */
    char *plain = sc_test_join(g_dir, "model.safetensors");
    load_fails(plain, SC_ERR_FORMAT, "saccade.config", NULL);
    free(plain), free(path);
}

static double token_logp(sc_blip *m, const float *f, const int *seq, int n, int q, float *logits) {
    const int V = sc_blip_vocab_size(m);
    SC_TEST_OK(sc_blip_decoder_forward(m, f, seq, n, logits, NULL));
    const float *z = logits + (size_t)q * V;
    double mx = z[0], s = 0;
    for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
    for (int v = 0; v < V; v++) s += exp(z[v] - mx);
    return z[seq[q + 1]] - mx - log(s);
}

/* d log p(seq[q + 1]) / d cross-attention against central differences of
 * the forward with one probability moved (every layer, some heads, queries
 * and keys), and the gradient-weighted map built from it. */
static void test_gradcam_finite_differences(void **state) {
    (void)state;
    sc_blip *m = load_ok(g_dir);
    const sc_blip_config *c = sc_blip_get_config(m);
    const int V = c->text.vocab_size, NL = c->text.num_hidden_layers,
              H = c->text.num_attention_heads, Ti = sc_blip_image_tokens(m), G = sc_blip_grid(m);
    const int n = 6, seq[6] = {c->text.bos_token_id, 12, 40, 7, 55, 9};
    float *f = malloc((size_t)Ti * c->vision.hidden_size * sizeof(float));
    float *logits = malloc((size_t)n * V * sizeof(float));
    float *g = malloc((size_t)(n - 1) * H * Ti * sizeof(float));
    float *a = malloc((size_t)(n - 1) * H * Ti * sizeof(float));
    SC_TEST_OK(sc_blip_vision_forward(m, g_px, f));
    const float delta = 1e-2f;
    int checked = 0;
    for (int l = 0; l < NL; l++) {
        SC_TEST_OK(blip_cross_attention_grads(m, f, seq, n, 0, l, g, a));
        for (int q = 0; q < n - 1; q += 2)
            for (int h = 0; h < H; h += 3)
                for (int j = 0; j < Ti; j += 4) {
                    m->probe = (blip_probe){1, l, h, q, j, delta};
                    double up = token_logp(m, f, seq, n, q, logits);
                    m->probe.delta = -delta;
                    double down = token_logp(m, f, seq, n, q, logits);
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
    /* sc_blip_gradcam: mean over heads of A * relu(dA) at the default layer */
    const int layer = 2 * NL / 3;
    SC_TEST_OK(blip_cross_attention_grads(m, f, seq, n, 0, layer, g, a));
    float *maps = malloc((size_t)(n - 1) * G * G * sizeof(float));
    SC_TEST_OK(sc_blip_gradcam(m, g_px, NULL, 0, seq + 1, n - 1, -1, 0, maps));
    for (int t = 0; t < n - 1; t++)
        for (int j = 0; j < G * G; j++) {
            double want = 0;
            for (int h = 0; h < H; h++) {
                size_t o = ((size_t)t * H + h) * Ti + 1 + j;
                want += a[o] * (g[o] > 0 ? g[o] : 0) / H;
            }
            assert_true(fabs(maps[(size_t)t * G * G + j] - want) < 1e-6);
        }
    assert_int_equal(sc_blip_gradcam(m, g_px, NULL, 0, seq + 1, n - 1, NL, 0, maps),
                     SC_ERR_INVALID_ARG);
    free(f), free(logits), free(g), free(a), free(maps);
    sc_blip_free(m);
}

/* The processor's argument checks (its values are compared with PIL in
 * tests/parity/test_blip_parity.c). */
static void test_preprocess_errors(void **state) {
    (void)state;
    sc_blip *m = load_ok(g_dir);
    float *px = malloc(3 * 48 * 48 * sizeof(float));
    sc_image gray;
    SC_TEST_OK(sc_image_alloc(&gray, 20, 10, 1));
    assert_int_equal(sc_blip_preprocess(m, &gray, px), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "1 channels"));
    sc_image_free(&gray);
    sc_image rgb;
    SC_TEST_OK(sc_image_alloc(&rgb, 31, 17, 3));
    for (size_t i = 0; i < 3 * 31 * 17; i++) rgb.data[i] = (float)(i % 256) / 255.0f;
    SC_TEST_OK(sc_blip_preprocess(m, &rgb, px)); /* any size is resized to 48 x 48 */
    const sc_blip_config *c = sc_blip_get_config(m);
    for (size_t i = 0; i < 3 * 48 * 48; i++) {
        int ch = (int)(i / (48 * 48));
        float lo = (0 - c->preprocess.mean[ch]) / c->preprocess.std[ch],
              hi = (1 - c->preprocess.mean[ch]) / c->preprocess.std[ch];
        assert_true(px[i] >= lo - 1e-6f && px[i] <= hi + 1e-6f);
    }
    sc_image_free(&rgb);
    free(px);
    sc_blip_free(m);
    /* a processor whose size is not the model's, or an unsupported filter */
    char *d = copy_folder("pre_size");
    assert_int_equal(sc_test_system("sed -i 's/\"height\": 48/\"height\": 40/; s/\"width\": 48/"
                                    "\"width\": 40/' '%s/preprocessor_config.json'",
                                    d),
                     0);
    m = load_ok(d);
    SC_TEST_OK(sc_image_alloc(&rgb, 8, 8, 3));
    px = malloc(3 * 48 * 48 * sizeof(float));
    assert_int_equal(sc_blip_preprocess(m, &rgb, px), SC_ERR_UNSUPPORTED);
    assert_non_null(strstr(sc_last_error(), "resizes to 40"));
    sc_image_free(&rgb);
    free(px);
    sc_blip_free(m);
    assert_int_equal(
        sc_test_system("sed -i 's/\"resample\": 3/\"resample\": 0/' '%s/preprocessor_config.json'",
                       d),
        0);
    load_fails(d, SC_ERR_UNSUPPORTED, "preprocessor_config.json", "resample 0");
    free(d);
}

/* Word pieces joined into whole words: labels, token ranges, maps (mean of
 * the pieces') and log-probabilities (sum), a leading continuation, a bare
 * "##", an empty caption, and a second merge replacing the first. */
static void test_merge_words(void **state) {
    (void)state;
    const char *pieces[] = {"##x", "a", "surf", "##board", "##s", ".", "##", "[UNK]"};
    enum { N = 8, G = 2, P = G * G };
    sc_blip_result r;
    memset(&r, 0, sizeof r);
    r.caption.n = N, r.caption.grid = G;
    r.pieces = calloc(N + 1, sizeof *r.pieces);
    r.caption.attention = malloc(N * P * sizeof(float));
    r.caption.logprobs = malloc(N * sizeof(float));
    assert_true(r.pieces && r.caption.attention && r.caption.logprobs);
    for (int t = 0; t < N; t++) {
        r.pieces[t] = strdup(pieces[t]);
        r.caption.logprobs[t] = -0.25f * (float)(t + 1);
        for (int q = 0; q < P; q++) r.caption.attention[t * P + q] = (float)(t * P + q) / 64.0f;
    }
    for (int pass = 0; pass < 2; pass++) SC_TEST_OK(sc_blip_merge_words(&r));
    const char *want[] = {"x", "a", "surfboards", ".", "##", "[UNK]"};
    const int start[] = {0, 1, 2, 5, 6, 7, 8};
    assert_int_equal(r.n_words, 6);
    for (int w = 0; w < 6; w++) {
        assert_string_equal(r.words[w], want[w]);
        assert_int_equal(r.word_start[w], start[w]);
        double lp = 0;
        for (int t = start[w]; t < start[w + 1]; t++) lp += r.caption.logprobs[t];
        assert_true(fabs(r.word_logprobs[w] - lp) < 1e-6);
        for (int q = 0; q < P; q++) {
            double m = 0;
            for (int t = start[w]; t < start[w + 1]; t++) m += r.caption.attention[t * P + q];
            m /= start[w + 1] - start[w];
            assert_true(fabs(r.word_attention[w * P + q] - m) < 1e-6);
        }
    }
    assert_int_equal(r.word_start[6], N);
    /* no logprobs: no merged ones; no tokens: no words */
    free(r.caption.logprobs);
    r.caption.logprobs = NULL;
    SC_TEST_OK(sc_blip_merge_words(&r));
    assert_null(r.word_logprobs);
    assert_non_null(r.word_attention);
    for (int t = 0; t < N; t++) free(r.pieces[t]);
    r.caption.n = 0;
    SC_TEST_OK(sc_blip_merge_words(&r));
    assert_int_equal(r.n_words, 0);
    assert_int_equal(r.word_start[0], 0);
    r.caption.n = 1;
    r.pieces[0] = NULL;
    assert_int_equal(sc_blip_merge_words(&r), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_blip_merge_words(NULL), SC_ERR_INVALID_ARG);
    r.caption.n = 0;
    sc_blip_result_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_load_folder),
        cmocka_unit_test(test_bad_folders),
        cmocka_unit_test(test_cache_matches_full_forward),
        cmocka_unit_test(test_attention_choice_and_params),
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_single_file),
        cmocka_unit_test(test_gradcam_finite_differences),
        cmocka_unit_test(test_preprocess_errors),
        cmocka_unit_test(test_merge_words),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

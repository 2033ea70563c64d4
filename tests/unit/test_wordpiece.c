/* BERT WordPiece tokenizer: ids, tokens and decoded text equal to the twin
 * (tools/ref/ref_wordpiece.py, written from transformers 5.x BertTokenizer)
 * on hard strings, for BLIP's uncased set-up and a cased one; invalid UTF-8
 * and bad files are clear errors. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_wordpiece.h"

static char *g_dir;

static int setup_group(void **state) {
    (void)state;
    g_dir = sc_test_tmpdir("wordpiece");
    sc_test_python("ref_wordpiece.py", "'%s'", g_dir);
    return 0;
}

static int teardown_group(void **state) {
    (void)state;
    sc_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static cJSON *read_json(const char *setup, const char *what) {
    char name[128];
    snprintf(name, sizeof name, "%s_%s.json", setup, what);
    char *path = sc_test_join(g_dir, name);
    unsigned char *buf;
    size_t len;
    SC_TEST_OK(sc_read_file(path, (size_t)64 << 20, &buf, &len));
    cJSON *j = cJSON_ParseWithLength((const char *)buf, len);
    assert_non_null(j);
    free(buf);
    free(path);
    return j;
}

static sc_wordpiece *load_setup(const char *setup) {
    char name[128];
    snprintf(name, sizeof name, "%s_vocab.txt", setup);
    char *vocab = sc_test_join(g_dir, name);
    snprintf(name, sizeof name, "%s_tokenizer_config.json", setup);
    char *config = sc_test_join(g_dir, name);
    sc_wordpiece *wp;
    SC_TEST_OK(sc_wordpiece_load(vocab, config, &wp));
    free(vocab);
    free(config);
    return wp;
}

static size_t unhex(const char *hex, char *out) {
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (char)v;
    }
    return n;
}

static void check_decodes(const sc_wordpiece *wp, const int32_t *ids, size_t n, const cJSON *want,
                          const char *what) {
    static const char *keys[4] = {"skip_clean", "skip_raw", "all_clean", "all_raw"};
    for (int k = 0; k < 4; k++) {
        char *text;
        SC_TEST_OK(sc_wordpiece_decode(wp, ids, n, k < 2, !(k & 1) ? 1 : 0, &text));
        const char *exp = cJSON_GetObjectItem(want, keys[k])->valuestring;
        if (strcmp(text, exp) != 0)
            fail_msg("%s: decode %s gives \"%s\", the twin \"%s\"", what, keys[k], text, exp);
        free(text);
    }
}

static void run_parity(const char *setup) {
    sc_wordpiece *wp = load_setup(setup);
    cJSON *sp = read_json(setup, "specials");
    static const char *names[SC_WP_NSPECIAL] = {"unk", "sep", "pad", "cls", "mask", "bos", "eos"};
    for (int k = 0; k < SC_WP_NSPECIAL; k++)
        assert_int_equal(sc_wordpiece_special_id(wp, (sc_wordpiece_special)k),
                         cJSON_GetObjectItem(sp, names[k])->valueint);
    assert_int_equal(sc_wordpiece_size(wp), cJSON_GetObjectItem(sp, "size")->valueint);
    int clean_default = cJSON_IsTrue(cJSON_GetObjectItem(sp, "clean_up"));
    cJSON_Delete(sp);

    cJSON *cases = read_json(setup, "cases");
    char *buf = malloc(1 << 16);
    int ncases = 0, nerrors = 0, nunk = 0, ncont = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        size_t len = unhex(cJSON_GetObjectItem(c, "hex")->valuestring, buf);
        int32_t *ids;
        size_t n;
        sc_status s = sc_wordpiece_encode(wp, buf, len, 0, &ids, &n);
        char what[160];
        snprintf(what, sizeof what, "%s case \"%.60s\"", setup,
                 cJSON_GetObjectItem(c, "hex")->valuestring);
        ncases++;
        if (cJSON_IsTrue(cJSON_GetObjectItem(c, "error"))) {
            if (s != SC_ERR_INVALID_ARG) fail_msg("%s: invalid UTF-8 accepted", what);
            assert_null(ids);
            assert_non_null(strstr(sc_last_error(), "UTF-8"));
            nerrors++;
            continue;
        }
        if (s) fail_msg("%s: %s", what, sc_last_error());
        const cJSON *want = cJSON_GetObjectItem(c, "ids"), *toks = cJSON_GetObjectItem(c, "tokens");
        if ((size_t)cJSON_GetArraySize(want) != n)
            fail_msg("%s: %zu ids, the twin %d", what, n, cJSON_GetArraySize(want));
        for (size_t i = 0; i < n; i++) {
            int w = cJSON_GetArrayItem(want, (int)i)->valueint;
            const char *wt = cJSON_GetArrayItem(toks, (int)i)->valuestring;
            if (ids[i] != w || strcmp(sc_wordpiece_token(wp, ids[i]), wt) != 0)
                fail_msg("%s: id %zu is %d (%s), the twin %d (%s)", what, i, ids[i],
                         sc_wordpiece_token(wp, ids[i]), w, wt);
            nunk += ids[i] == sc_wordpiece_special_id(wp, SC_WP_UNK);
            ncont += strncmp(wt, "##", 2) == 0;
        }
        check_decodes(wp, ids, n, cJSON_GetObjectItem(c, "decode"), what);
        /* The config's clean-up is the default. */
        char *a, *b;
        SC_TEST_OK(sc_wordpiece_decode(wp, ids, n, 1, -1, &a));
        SC_TEST_OK(sc_wordpiece_decode(wp, ids, n, 1, clean_default, &b));
        assert_string_equal(a, b);
        free(a);
        free(b);
        free(ids);
    }
    cJSON_Delete(cases);
    free(buf);

    cJSON *dec = read_json(setup, "decode");
    cJSON_ArrayForEach(c, dec) {
        const cJSON *list = cJSON_GetObjectItem(c, "ids");
        int32_t ids[64];
        size_t n = (size_t)cJSON_GetArraySize(list);
        for (size_t i = 0; i < n; i++) ids[i] = cJSON_GetArrayItem(list, (int)i)->valueint;
        check_decodes(wp, ids, n, c, "decode sequence");
    }
    cJSON_Delete(dec);
    printf("%s: %d strings (%d invalid UTF-8), %d [UNK], %d ## pieces: all equal to the twin\n",
           setup, ncases, nerrors, nunk, ncont);
    assert_true(ncases > 80 && nerrors >= 8 && nunk > 5 && ncont > 20);
    sc_wordpiece_free(wp);
}

static void test_wordpiece_parity_blip(void **state) {
    (void)state;
    run_parity("blip");
}

static void test_wordpiece_parity_cased(void **state) {
    (void)state;
    run_parity("cased");
}

/* BLIP's prompt: the processor's [CLS] prompt [SEP], first id replaced by
 * [DEC] (bos, appended after vocab.txt's ids), the last dropped. */
static void test_wordpiece_blip_prompt(void **state) {
    (void)state;
    sc_wordpiece *wp = load_setup("blip");
    int32_t *ids;
    size_t n;
    const char *prompt = "A picture of";
    SC_TEST_OK(sc_wordpiece_encode(wp, prompt, strlen(prompt), 1, &ids, &n));
    assert_int_equal(n, 5);
    assert_int_equal(ids[0], sc_wordpiece_id(wp, "[CLS]"));
    assert_int_equal(ids[4], sc_wordpiece_id(wp, "[SEP]"));
    int dec = sc_wordpiece_special_id(wp, SC_WP_BOS);
    assert_string_equal(sc_wordpiece_token(wp, dec), "[DEC]");
    assert_int_equal(dec, sc_wordpiece_size(wp) - 2); /* [DEC] then [ENC] */
    assert_true(sc_wordpiece_is_special(wp, dec));
    assert_int_equal(sc_wordpiece_id(wp, "[ENC]"), sc_wordpiece_size(wp) - 1);
    ids[0] = dec;
    char *text;
    SC_TEST_OK(sc_wordpiece_decode(wp, ids, n - 1, 1, -1, &text));
    assert_string_equal(text, "a picture of");
    free(text);
    free(ids);
    /* An added special token is matched whole, its vocab id kept if it has one. */
    int id;
    SC_TEST_OK(sc_wordpiece_add_special(wp, "the cat", &id));
    assert_int_equal(id, sc_wordpiece_size(wp) - 1);
    SC_TEST_OK(sc_wordpiece_add_special(wp, "dog", &id));
    assert_int_equal(id, sc_wordpiece_id(wp, "dog"));
    SC_TEST_OK(sc_wordpiece_encode(wp, "the catdog", 10, 0, &ids, &n));
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], sc_wordpiece_size(wp) - 1);
    assert_int_equal(ids[1], id);
    free(ids);
    sc_wordpiece_free(wp);
}

static void test_wordpiece_bad_input(void **state) {
    (void)state;
    sc_wordpiece *wp = NULL;
    const char *vocab = "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\nhello\n##s";
    const char *good = "{\"do_lower_case\": true}";
    SC_TEST_OK(sc_wordpiece_load_memory(vocab, strlen(vocab), good, strlen(good), &wp));
    assert_int_equal(sc_wordpiece_size(wp), 7); /* 6 lines, then [MASK] added */
    assert_int_equal(sc_wordpiece_id(wp, "[CLS]"), 2);
    assert_int_equal(sc_wordpiece_id(wp, "##s"), 5);
    assert_int_equal(sc_wordpiece_special_id(wp, SC_WP_MASK), 6);
    assert_int_equal(sc_wordpiece_special_id(wp, SC_WP_BOS), -1);
    int32_t *ids;
    size_t n;
    SC_TEST_OK(sc_wordpiece_encode(wp, "Hellos", 6, 0, &ids, &n));
    assert_int_equal(n, 2);
    free(ids);
    /* Bounded input: over the limit is refused before any work. */
    assert_int_equal(sc_wordpiece_encode(wp, "x", SC_WORDPIECE_MAX_TEXT + 1, 0, &ids, &n),
                     SC_ERR_LIMIT);
    assert_null(ids);
    /* A megabyte of one word and of many words: one [UNK], and ids for all. */
    size_t big = (size_t)1 << 20;
    char *text = malloc(big);
    memset(text, 'h', big);
    SC_TEST_OK(sc_wordpiece_encode(wp, text, big, 0, &ids, &n));
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    for (size_t i = 0; i + 6 <= big; i += 6) memcpy(text + i, "hello ", 6);
    SC_TEST_OK(sc_wordpiece_encode(wp, text, big, 0, &ids, &n));
    assert_int_equal(n, big / 6 + 1);
    free(ids);
    free(text);
    assert_int_equal(sc_wordpiece_decode(wp, (const int32_t[]){1, -3}, 2, 0, 0, (char **)&text),
                     SC_ERR_INVALID_ARG);
    assert_null(text);
    sc_wordpiece_free(wp);

    /* Bad files: clear errors, nothing returned. */
    static const struct {
        const char *vocab, *config;
        sc_status want;
        const char *msg;
    } bad[] = {
        {"a\n\xff\n", NULL, SC_ERR_FORMAT, "UTF-8"},
        {"", NULL, SC_ERR_FORMAT, "empty"},
        {"[UNK]\n", "{\"do_lower_case\": \"yes\"}", SC_ERR_FORMAT, "do_lower_case"},
        {"[UNK]\n", "[1, 2]", SC_ERR_FORMAT, "JSON object"},
        {"[UNK]\n", "{\"unk_token\": 5}", SC_ERR_FORMAT, "unk_token"},
        {"[UNK]\n", "{\"added_tokens_decoder\": {\"x\": {\"content\": \"[X]\"}}}", SC_ERR_FORMAT,
         "not an id"},
        {"[UNK]\n", "{\"added_tokens_decoder\": {\"3\": {\"special\": true}}}", SC_ERR_FORMAT,
         "content"},
        {"[UNK]\n", "{\"additional_special_tokens\": \"[ENC]\"}", SC_ERR_FORMAT, "list"},
        {"[UNK]\n", "{\"cls_token\": \"\"}", SC_ERR_FORMAT, "empty"},
        {"[UNK]\n", "{\"strip_accents\": 1}", SC_ERR_FORMAT, "strip_accents"},
        {"[UNK]\n", "{\"added_tokens_decoder\": {\"400000000\": {\"content\": \"[X]\"}}}",
         SC_ERR_FORMAT, "past the 1 vocab.txt lines"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        wp = (sc_wordpiece *)&bad; /* must be reset */
        sc_status s = sc_wordpiece_load_memory(bad[i].vocab, strlen(bad[i].vocab), bad[i].config,
                                               bad[i].config ? strlen(bad[i].config) : 0, &wp);
        if (s != bad[i].want) fail_msg("bad case %zu: status %d (%s)", i, s, sc_last_error());
        assert_null(wp);
        if (!strstr(sc_last_error(), bad[i].msg))
            fail_msg("bad case %zu: message \"%s\" lacks \"%s\"", i, sc_last_error(), bad[i].msg);
    }
    /* Too many lines: refused before any per-line allocation. */
    size_t nl = (size_t)SC_WORDPIECE_MAX_TOKENS + 1;
    char *lines = malloc(nl);
    memset(lines, '\n', nl);
    wp = NULL;
    assert_int_equal(sc_wordpiece_load_memory(lines, nl, NULL, 0, &wp), SC_ERR_LIMIT);
    assert_null(wp);
    free(lines);
    /* A word that needs [UNK] when the vocabulary has none. */
    const char *cfg = "{\"unk_token\": null}";
    SC_TEST_OK(sc_wordpiece_load_memory("a\n", 2, cfg, strlen(cfg), &wp));
    assert_int_equal(sc_wordpiece_encode(wp, "b", 1, 0, &ids, &n), SC_ERR_FORMAT);
    SC_TEST_OK(sc_wordpiece_encode(wp, "A", 1, 0, &ids, &n));
    assert_int_equal(n, 1);
    free(ids);
    sc_wordpiece_free(wp);
    /* Files: the missing one is named. */
    assert_int_equal(sc_wordpiece_load("/nonexistent/vocab.txt", NULL, &wp), SC_ERR_IO);
    assert_null(wp);
    assert_non_null(strstr(sc_last_error(), "/nonexistent/vocab.txt"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wordpiece_parity_blip),
        cmocka_unit_test(test_wordpiece_parity_cased),
        cmocka_unit_test(test_wordpiece_blip_prompt),
        cmocka_unit_test(test_wordpiece_bad_input),
    };
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}

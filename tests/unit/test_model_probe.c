/* sc_model_probe (sc_model_probe.h): the kind of every shipped model, of the
 * files the library's writers make (which carry saccade.kind), of files in
 * the older metadata conventions, BLIP files and folders, and clear errors for files that are not
 * saccade models or not safetensors at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_classifier.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_vqa.h"
#include "sc_test.h"

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_tmpdir("probe");
    return 0;
}
static int teardown(void **state) {
    (void)state;
    sc_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static void expect_kind(const char *path, sc_model_kind want) {
    sc_model_kind k = (sc_model_kind)-1;
    sc_status s = sc_model_probe(path, &k);
    if (s) fail_msg("%s: %s", path, sc_last_error());
    assert_int_equal(k, want);
}

static void expect_error(const char *path, sc_status want, const char *needle) {
    sc_model_kind k = SC_MODEL_VQA;
    assert_int_equal(sc_model_probe(path, &k), want);
    const char *e = sc_last_error();
    if (!strstr(e, path) || (needle && !strstr(e, needle)))
        fail_msg("error \"%s\" should name %s and say \"%s\"", e, path, needle ? needle : "");
}

/* A one-tensor file with metadata pairs kv[0..2n-1]; returns its path. */
static char *write_file(const char *name, const char *const *kv, int n) {
    char *path = sc_test_join(g_dir, name);
    sc_st_writer *w = sc_st_writer_new();
    assert_non_null(w);
    float x[2] = {1, 2};
    int64_t shape[1] = {2};
    SC_TEST_OK(sc_st_writer_add_f32(w, "w", x, 1, shape, SC_ST_F32));
    for (int i = 0; i < n; i++) SC_TEST_OK(sc_st_writer_set_metadata(w, kv[2 * i], kv[2 * i + 1]));
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);
    return path;
}

static void test_kind_names(void **state) {
    (void)state;
    static const char *const names[7] = {"captioner", "vqa",  "classifier",    "stcnn",
                                         "resnet",    "blip", "vit_classifier"};
    for (int i = 0; i < 7; i++) {
        assert_string_equal(sc_model_kind_name((sc_model_kind)i), names[i]);
        sc_model_kind k;
        SC_TEST_OK(sc_model_kind_from_name(names[i], &k));
        assert_int_equal(k, i);
    }
    assert_null(sc_model_kind_name((sc_model_kind)7));
    assert_null(sc_model_kind_name((sc_model_kind)-1));
    sc_model_kind k;
    assert_int_equal(sc_model_kind_from_name("Captioner", &k), SC_ERR_UNSUPPORTED);
    assert_non_null(strstr(sc_last_error(), "known: captioner, vqa"));
    assert_string_equal(SC_MODEL_KIND_KEY, "saccade.kind");
}

static void test_shipped_models(void **state) {
    (void)state;
    static const struct {
        const char *file;
        sc_model_kind kind;
    } shipped[] = {{"assets/models/fashion-stn.safetensors", SC_MODEL_STCNN},
                   {"assets/models/scenes-captioner.safetensors", SC_MODEL_CAPTIONER},
                   {"assets/models/scenes-vqa.safetensors", SC_MODEL_VQA}};
    for (size_t i = 0; i < sizeof shipped / sizeof shipped[0]; i++) {
        char *p = sc_test_source_path(shipped[i].file);
        expect_kind(p, shipped[i].kind);
        free(p);
    }
}

/* The file's saccade.kind must be `want` and the probe must say so. */
static void expect_written_kind(const char *path, const char *want, sc_model_kind kind) {
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    const char *k = sc_safetensors_metadata(st, SC_MODEL_KIND_KEY);
    assert_non_null(k);
    assert_string_equal(k, want);
    sc_safetensors_free(st);
    expect_kind(path, kind);
}

static void test_library_writers_record_the_kind(void **state) {
    (void)state;
    /* classifier */
    sc_classifier_config cc = sc_classifier_default_config();
    int ch[2] = {3, 4};
    cc.encoder = sc_cnn_config_make(1, 2, ch);
    sc_classifier *cls;
    SC_TEST_OK(sc_classifier_create(&cc, NULL, 1, &cls));
    char *p = sc_test_join(g_dir, "cls.safetensors");
    SC_TEST_OK(sc_classifier_save(cls, p));
    sc_classifier_free(cls);
    expect_written_kind(p, "classifier", SC_MODEL_CLASSIFIER);
    free(p);
    /* captioner */
    static const char *words[] = {"<pad>", "a", "b", "<unk>", "<start>", "<end>"};
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(words, 6, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.grid = 2;
    c.encoder_dim = 6;
    c.attention_dim = 5;
    c.embed_dim = 4;
    c.decoder_dim = 7;
    c.vocab_size = 6;
    sc_captioner *cap;
    SC_TEST_OK(sc_captioner_create(&c, &v, 1, &cap));
    sc_vocab_free(&v);
    p = sc_test_join(g_dir, "cap.safetensors");
    SC_TEST_OK(sc_captioner_save(cap, p));
    sc_captioner_free(cap);
    expect_written_kind(p, "captioner", SC_MODEL_CAPTIONER);
    free(p);
    /* VQA: saccade.kind first among the trainer's metadata entries too */
    const char *texts[1] = {"a b c"}, *ans[1] = {"x y"};
    sc_vqa_vocab qv, av;
    SC_TEST_OK(sc_vqa_vocab_build(texts, 1, &qv));
    SC_TEST_OK(sc_vqa_vocab_build(ans, 1, &av));
    sc_vqa_config vc = sc_vqa_default_config();
    vc.image_size = 12;
    vc.encoder = sc_cnn_config_make(3, 2, ch);
    vc.encoder.pool[0] = 1;
    vc.embed_dim = 5;
    vc.hidden_dim = 6;
    vc.att_dim = 4;
    vc.hops = 2;
    vc.max_len = 5;
    sc_vqa_model *vq;
    SC_TEST_OK(sc_vqa_create(&vc, &qv, &av, 1, &vq));
    assert_int_equal(sc_vqa_metadata_count(vq), 5);
    const char *key;
    char *val;
    SC_TEST_OK(sc_vqa_metadata_at(vq, 0, &key, &val));
    assert_string_equal(key, "saccade.kind");
    assert_string_equal(val, "vqa");
    free(val);
    SC_TEST_OK(sc_vqa_metadata_at(vq, 1, &key, &val));
    assert_string_equal(key, "saccade.task");
    free(val);
    assert_int_equal(sc_vqa_metadata_at(vq, 5, &key, &val), SC_ERR_INVALID_ARG);
    p = sc_test_join(g_dir, "vqa.safetensors");
    SC_TEST_OK(sc_vqa_save(vq, p));
    sc_vqa_free(vq);
    sc_vqa_vocab_free(&qv);
    sc_vqa_vocab_free(&av);
    expect_written_kind(p, "vqa", SC_MODEL_VQA);
    sc_vqa_model *back;
    SC_TEST_OK(sc_vqa_load(p, &back)); /* the extra key does not disturb the loader */
    sc_vqa_free(back);
    free(p);
}

static void test_older_conventions(void **state) {
    (void)state;
    static const struct {
        const char *name;
        const char *kv[6];
        int n;
        sc_model_kind kind;
    } cases[] = {
        {"stcnn.safetensors", {"saccade.config", "{\"arch\": \"stcnn\"}"}, 1, SC_MODEL_STCNN},
        {"cls.safetensors",
         {"saccade.config", "{\"arch\": \"classifier\"}"},
         1,
         SC_MODEL_CLASSIFIER},
        {"resnet.safetensors",
         {"saccade.config", "{\"arch\": \"resnet50\", \"bn_eps\": 1e-05}", "saccade.source", "x"},
         2,
         SC_MODEL_RESNET},
        {"vqa-task.safetensors",
         {"saccade.task", "vqa", "saccade.config", "{\"arch\": \"san\"}"},
         2,
         SC_MODEL_VQA},
        {"cap-task.safetensors",
         {"saccade.task", "caption", "saccade.vocab", "{}"},
         2,
         SC_MODEL_CAPTIONER},
        {"cap-vocab.safetensors",
         {"saccade.config", "{\"model\": \"show_attend_tell\"}", "saccade.vocab", "{}"},
         2,
         SC_MODEL_CAPTIONER},
        {"vqa-answers.safetensors",
         {"saccade.vocab", "{}", "saccade.answers", "[]"},
         2,
         SC_MODEL_VQA},
        /* sc_blip_save_single's files: saccade.model "blip" (with a vocabulary) */
        {"blip.safetensors",
         {"saccade.model", "blip", "saccade.vocab", "[PAD]", "saccade.config", "{}"},
         3,
         SC_MODEL_BLIP},
        /* saccade.kind decides over every older key */
        {"kind-first.safetensors",
         {"saccade.kind", "classifier", "saccade.config", "{\"arch\": \"stcnn\"}", "saccade.task",
          "vqa"},
         3,
         SC_MODEL_CLASSIFIER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = write_file(cases[i].name, cases[i].kv, cases[i].n);
        expect_kind(p, cases[i].kind);
        free(p);
    }
}

/* A folder is a Hugging Face model folder (BLIP) when it has config.json; a
 * folder without one is a clear error. */
static void test_folders(void **state) {
    (void)state;
    char *dir = sc_test_join(g_dir, "hf");
    char *empty = sc_test_join(g_dir, "empty");
    char *cfg = sc_test_join(dir, "config.json");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(empty, 0755), 0);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs("{}", f);
    fclose(f);
    expect_kind(dir, SC_MODEL_BLIP);
    expect_error(empty, SC_ERR_FORMAT, "config.json");
    free(dir);
    free(empty);
    free(cfg);
}

static void test_unknown_and_hostile_files(void **state) {
    (void)state;
    static const struct {
        const char *name;
        const char *kv[4];
        int n;
        sc_status status;
        const char *needle;
    } cases[] = {
        {"kind-zebra.safetensors", {"saccade.kind", "zebra"}, 1, SC_ERR_UNSUPPORTED, "\"zebra\""},
        {"kind-empty.safetensors",
         {"saccade.kind", ""},
         1,
         SC_ERR_UNSUPPORTED,
         "unknown model kind"},
        {"nothing.safetensors", {NULL}, 0, SC_ERR_FORMAT, "not a saccade model"},
        {"task.safetensors",
         {"saccade.task", "detection"},
         1,
         SC_ERR_UNSUPPORTED,
         "a detection model"},
        {"badjson.safetensors",
         {"saccade.config", "{\"arch\": "},
         1,
         SC_ERR_FORMAT,
         "not a saccade"},
        {"array.safetensors", {"saccade.config", "[\"arch\", \"stcnn\"]"}, 1, SC_ERR_FORMAT, NULL},
        {"numarch.safetensors", {"saccade.config", "{\"arch\": 5}"}, 1, SC_ERR_FORMAT, NULL},
        {"other.safetensors", {"saccade.config", "{\"arch\": \"toy\"}"}, 1, SC_ERR_FORMAT, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *p = write_file(cases[i].name, cases[i].kv, cases[i].n);
        expect_error(p, cases[i].status, cases[i].needle);
        free(p);
    }
    /* Not safetensors at all: the reader's own error, naming the file. */
    char *p = sc_test_join(g_dir, "random.safetensors");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    unsigned char junk[64];
    for (int i = 0; i < 64; i++) junk[i] = (unsigned char)(37 * i + 11);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    sc_model_kind k;
    assert_int_not_equal(sc_model_probe(p, &k), SC_OK);
    assert_non_null(strstr(sc_last_error(), "random.safetensors"));
    free(p);
    /* A header that claims more bytes than the file has. */
    p = sc_test_join(g_dir, "short.safetensors");
    f = fopen(p, "wb");
    assert_non_null(f);
    unsigned char hdr[8] = {0xff, 0xff, 0, 0, 0, 0, 0, 0};
    fwrite(hdr, 1, 8, f);
    fputs("{\"__metadata__\": {\"saccade.kind\": \"vqa\"}}", f);
    fclose(f);
    assert_int_not_equal(sc_model_probe(p, &k), SC_OK);
    free(p);
    p = sc_test_join(g_dir, "missing.safetensors");
    assert_int_not_equal(sc_model_probe(p, &k), SC_OK);
    assert_non_null(strstr(sc_last_error(), "missing.safetensors"));
    free(p);
    assert_int_not_equal(sc_model_probe(g_dir, &k), SC_OK); /* a directory */
    assert_int_equal(sc_model_probe(NULL, &k), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_model_probe(g_dir, NULL), SC_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_shipped_models),
        cmocka_unit_test(test_library_writers_record_the_kind),
        cmocka_unit_test(test_older_conventions),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_unknown_and_hostile_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

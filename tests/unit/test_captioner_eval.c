/* Captioner evaluation (sc_captioner_evaluate) with the shipped scenes
 * captioner on the sample scenes folder: each scene's caption equals
 * sc_captioner_caption_image's, the scores equal sc_caption_metrics_compute
 * and sc_capscenes_score on those captions; argument, file and format errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_caption_metrics.h"
#include "saccade/sc_captioner_eval.h"
#include "sc_test.h"

enum { MAXN = 16 };

typedef struct {
    size_t n;
    char *caption[MAXN];
    sc_scene_info scene[MAXN];
} seen_t;

static void on_caption(void *user, size_t i, const char *caption, const sc_scene_info *scene) {
    seen_t *s = user;
    assert_int_equal(i, s->n); /* in order */
    if (s->n < MAXN) {
        s->caption[s->n] = strdup(caption);
        s->scene[s->n] = *scene;
    }
    s->n++;
}

static void test_sample_folder(void **state) {
    (void)state;
    char *model = sc_test_source_path("assets/models/scenes-captioner.safetensors");
    char *folder = sc_test_source_path("assets/samples/scenes");
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_load(model, &m));
    seen_t seen;
    memset(&seen, 0, sizeof seen);
    sc_captioner_eval_params p = sc_captioner_eval_default_params();
    assert_int_equal(p.beam_size, 3);
    assert_int_equal(p.max_len, 30);
    p.folder = folder;
    p.on_caption = on_caption;
    p.user = &seen;
    sc_captioner_eval_result r;
    SC_TEST_OK(sc_captioner_evaluate(m, &p, &r));
    assert_int_equal(r.n, 6); /* n (1000) capped at the folder's scenes */
    assert_int_equal(seen.n, 6);
    /* the same captions one image at a time, scored here */
    sc_beam_params bp = sc_captioner_beam_default_params();
    bp.max_len = 30;
    const char *cands[6], *const *refs[6];
    const char *refp[6][SC_SCENES_MAX_CAPTIONS];
    size_t nrefs[6];
    sc_capscenes_counts c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 6; i++) {
        char rel[64], *path;
        snprintf(rel, sizeof rel, "images/test_%06d.png", i);
        path = sc_test_join(folder, rel);
        sc_image img = {0};
        SC_TEST_OK(sc_image_load(path, NULL, &img, NULL));
        sc_caption_result cr;
        SC_TEST_OK(sc_captioner_caption_image(m, &img, &bp, &cr));
        assert_string_equal(cr.text, seen.caption[i]);
        const sc_caption_hyp *h = &cr.hyps[0];
        SC_TEST_OK(sc_capscenes_score(&seen.scene[i], cr.words, h->len - h->finished, h->alphas,
                                      cr.grid, &c));
        sc_caption_result_free(&cr);
        sc_image_free(&img);
        free(path);
        cands[i] = seen.caption[i];
        for (int k = 0; k < seen.scene[i].n_captions; k++) refp[i][k] = seen.scene[i].captions[k];
        refs[i] = refp[i];
        nrefs[i] = (size_t)seen.scene[i].n_captions;
    }
    assert_memory_equal(&c, &r.counts, sizeof c);
    sc_caption_scores sc;
    SC_TEST_OK(sc_caption_metrics_compute(cands, refs, nrefs, 6, &sc));
    for (int k = 0; k < 4; k++) assert_true(sc.bleu[k] == r.bleu[k]);
    assert_true(sc.cider_d == r.cider_d);
    sc_caption_scores_free(&sc);
    assert_true(r.exact_match == (double)c.exact / 6 &&
                r.colour_accuracy == (double)c.colour_ok / c.slots);
    assert_true(r.pointing_game == (double)c.point_hit / c.point_total);
    for (int i = 0; i < 6; i++) free(seen.caption[i]);
    /* n below the folder's count */
    p.n = 2;
    p.on_caption = NULL;
    SC_TEST_OK(sc_captioner_evaluate(m, &p, &r));
    assert_int_equal(r.n, 2);
    assert_int_equal(r.counts.scenes, 2);
    sc_captioner_free(m);
    free(model);
    free(folder);
}

static void test_errors(void **state) {
    (void)state;
    char *model = sc_test_source_path("assets/models/scenes-captioner.safetensors");
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_load(model, &m));
    sc_captioner_eval_result r;
    sc_captioner_eval_params p = sc_captioner_eval_default_params();
    assert_int_equal(sc_captioner_evaluate(NULL, &p, &r), SC_ERR_INVALID_ARG);
    p.beam_size = 0;
    assert_int_equal(sc_captioner_evaluate(m, &p, &r), SC_ERR_INVALID_ARG);
    p = sc_captioner_eval_default_params();
    char *dir = sc_test_tmpdir("capeval");
    char *missing = sc_test_join(dir, "none");
    p.folder = missing;
    assert_int_equal(sc_captioner_evaluate(m, &p, &r), SC_ERR_IO);
    assert_non_null(strstr(sc_last_error(), "none/annotations.jsonl"));
    /* a bad second line, after a good first one */
    char *ann = sc_test_join(dir, "annotations.jsonl");
    char *img = sc_test_source_path("assets/samples/scenes/images/test_000000.png");
    p.folder = dir;
    char *link = sc_test_join(dir, "x.png");
    assert_int_equal(sc_test_system("ln -s '%s' '%s'", img, link), 0);
    FILE *f = fopen(ann, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"image\": \"x.png\", \"width\": 96, \"height\": 96, \"items\": [{\"class\": 4, "
            "\"colour\": \"blue\", \"box\": [60, 32, 85, 70]}], \"captions\": [\"a blue coat\"]}\n"
            "{\"image\": 3}\n");
    fclose(f);
    assert_int_equal(sc_captioner_evaluate(m, &p, &r), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "bad line 2"));
    assert_int_equal(r.n, 0);
    p.n = 1; /* the good line alone */
    SC_TEST_OK(sc_captioner_evaluate(m, &p, &r));
    assert_int_equal(r.n, 1);
    sc_captioner_free(m);
    /* a features-only model cannot caption images */
    const char *words[] = {"<pad>", "<unk>", "<start>", "<end>", "a"};
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(words, 5, &v));
    sc_captioner_config cfg = sc_captioner_default_config();
    cfg.grid = 2, cfg.encoder_dim = 4, cfg.attention_dim = 4, cfg.embed_dim = 4;
    cfg.decoder_dim = 4, cfg.vocab_size = 5;
    SC_TEST_OK(sc_captioner_create(&cfg, &v, 1, &m));
    sc_vocab_free(&v);
    assert_int_equal(sc_captioner_evaluate(m, &p, &r), SC_ERR_UNSUPPORTED);
    sc_captioner_free(m);
    sc_test_rmtree(dir);
    free(dir), free(missing), free(ann), free(img), free(link), free(model);
}

/* One default beam for the shipped captioner: search, evaluation, the CLI and
 * Python all take it from here (the model card's figures are at beam 3). */
static void test_default_beam(void **state) {
    (void)state;
    assert_int_equal(sc_captioner_beam_default_params().beam_size, 3);
    assert_int_equal(sc_captioner_eval_default_params().beam_size, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_beam),
        cmocka_unit_test(test_sample_folder),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

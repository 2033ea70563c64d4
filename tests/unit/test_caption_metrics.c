/* Caption metrics against a faithful Python port of pycocoevalcap's
 * bleu_scorer.py / cider_scorer.py (tools/ref/ref_caption_metrics.py) on
 * seeded random corpora, plus small cases worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "sc_test.h"
#include "saccade/sc_caption_metrics.h"

static void near(const char *what, double got, double want, double tol) {
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.17g, want %.17g (tol %g)", what, got, want, tol);
}

static const double TINY = 1e-15, SMALL = 1e-9;

/* Identical candidate and single reference of 7 words: every n-gram matches,
 * correct = guess = (7, 6, 5, 4), but the toolkit's epsilons keep the scores
 * a hair below 1: p_k = (c + 1e-15) / (c + 1e-9), and the length ratio
 * (7 + 1e-15) / (7 + 1e-9) < 1 triggers the brevity penalty exp(1 - 1/r). */
static void test_bleu_identical(void **state) {
    (void)state;
    const char *cand[] = {"a red sneaker on a dark background"};
    const char *r0[] = {"a red sneaker on a dark background", NULL};
    const char *const *refs[] = {r0};
    sc_caption_scores s;
    SC_TEST_OK(sc_caption_metrics_compute(cand, refs, NULL, 1, &s));
    double c[4] = {7, 6, 5, 4}, prod = 1, ratio = (7 + TINY) / (7 + SMALL);
    double bp = exp(1 - 1 / ratio);
    for (int k = 0; k < 4; k++) {
        prod *= (c[k] + TINY) / (c[k] + SMALL);
        near("bleu identical", s.bleu[k], pow(prod, 1.0 / (k + 1)) * bp, 1e-15);
        assert_true(s.bleu[k] < 1.0 && s.bleu[k] > 1.0 - 1e-9);
    }
    near("bleu4 per image", s.bleu4_per_image[0], s.bleu[3], 1e-15);
    /* One image: log(N) = 0, so every tf-idf weight and CIDEr-D are 0. */
    near("cider one image", s.cider_d, 0.0, 0.0);
    sc_caption_scores_free(&s);

    /* A 3-word caption has no 4-gram: guess_4 = 0, so p_4 = 1e-15 / 1e-9 and
     * BLEU-4 of a perfect 3-word caption is about (1e-6)^(1/4) = 0.0316. */
    const char *cand3[] = {"a red sneaker"};
    const char *r3[] = {"a red sneaker", NULL};
    const char *const *refs3[] = {r3};
    SC_TEST_OK(sc_caption_metrics_compute(cand3, refs3, NULL, 1, &s));
    double c3[3] = {3, 2, 1};
    prod = 1;
    for (int k = 0; k < 3; k++) prod *= (c3[k] + TINY) / (c3[k] + SMALL);
    prod *= TINY / SMALL;
    ratio = (3 + TINY) / (3 + SMALL);
    near("bleu4 3 words", s.bleu[3], pow(prod, 0.25) * exp(1 - 1 / ratio), 1e-15);
    near("bleu4 3 words approx", s.bleu[3], 0.0316227766, 1e-9);
    sc_caption_scores_free(&s);
}

/* Candidate "a red bag on the left" (6 words) against
 *   "a red bag to the left of a blue coat" and "a blue coat to the right of a red bag"
 * (10 words each). Clipped matches: unigrams a, red, bag, the, left = 5 of 6;
 * bigrams "a red", "red bag", "the left" = 3 of 5; trigram "a red bag" = 1 of 4;
 * 4-grams 0 of 3. Closest reference length 10, ratio 0.6, brevity penalty
 * exp(1 - 10/6) = exp(-2/3). So BLEU-1 = 5/6 bp, BLEU-2 = sqrt(1/2) bp,
 * BLEU-3 = (1/8)^(1/3) bp = bp / 2, BLEU-4 = (1/8 * 1e-15 / 3)^(1/4) bp (up to
 * the epsilons in the other factors). The candidate's "A" and trailing "."
 * exercise the tokeniser (lowercased, punctuation dropped). */
static void test_bleu_partial(void **state) {
    (void)state;
    const char *cand[] = {"A red bag on the left ."};
    const char *r0[] = {"a red bag to the left of a blue coat",
                        "a blue coat to the right of a red bag"};
    const char *const *refs[] = {r0};
    size_t nr[] = {2};
    sc_caption_scores s;
    SC_TEST_OK(sc_caption_metrics_compute(cand, refs, nr, 1, &s));
    double bp = exp(-2.0 / 3.0);
    near("bleu1", s.bleu[0], 5.0 / 6.0 * bp, 1e-9);
    near("bleu2", s.bleu[1], sqrt(0.5) * bp, 1e-9);
    near("bleu3", s.bleu[2], 0.5 * bp, 1e-9);
    near("bleu4", s.bleu[3], pow(0.125 * 1e-15 / 3.0, 0.25) * bp, 1e-12);
    sc_caption_scores_free(&s);
}

/* CIDEr-D by hand, two images so that log(N) = log 2 = L.
 * (a) "red bag" / ["red bag"] and "blue coat" / ["blue coat"]: every n-gram has
 *     df 1, weight L; n = 1, 2 cosines are 1, n = 3, 4 are empty (0); equal
 *     lengths: score = (1 + 1 + 0 + 0) / 4 * 10 = 5 for each image.
 * (b) "a red bag" / ["a red bag"], "a blue coat" / ["a blue coat"]: "a" has df 2,
 *     weight L - log 2 = 0; the rest as before: (1 + 1 + 1 + 0) / 4 * 10 = 7.5.
 * (c) clipping and length penalty: "red red red" / ["red bag"] and
 *     "x" / ["blue coat"]. Image 1, n = 1: candidate weight red 3L, reference
 *     red L, bag L: min(3L, L) L / (3L * sqrt(2) L) = 1 / (3 sqrt 2) (CIDEr without
 *     the D clipping would give 1 / sqrt 2); n = 2: "red red" is not in the
 *     reference -> 0; lengths (bigram counts) 2 vs 1 -> exp(-1 / 72).
 *     Score = 10 / 4 * exp(-1/72) / (3 sqrt 2); image 2 scores 0. */
static void test_cider_hand(void **state) {
    (void)state;
    sc_caption_scores s;
    const char *ca[] = {"red bag", "blue coat"};
    const char *ra0[] = {"red bag", NULL}, *ra1[] = {"blue coat", NULL};
    const char *const *refa[] = {ra0, ra1};
    SC_TEST_OK(sc_caption_metrics_compute(ca, refa, NULL, 2, &s));
    near("cider (a) img0", s.cider_d_per_image[0], 5.0, 1e-12);
    near("cider (a) img1", s.cider_d_per_image[1], 5.0, 1e-12);
    near("cider (a)", s.cider_d, 5.0, 1e-12);
    sc_caption_scores_free(&s);

    const char *cb[] = {"a red bag", "a blue coat"};
    const char *rb0[] = {"a red bag", NULL}, *rb1[] = {"a blue coat", NULL};
    const char *const *refb[] = {rb0, rb1};
    SC_TEST_OK(sc_caption_metrics_compute(cb, refb, NULL, 2, &s));
    near("cider (b)", s.cider_d, 7.5, 1e-12);
    sc_caption_scores_free(&s);

    const char *cc[] = {"red red red", "x"};
    const char *rc0[] = {"red bag", NULL}, *rc1[] = {"blue coat", NULL};
    const char *const *refc[] = {rc0, rc1};
    SC_TEST_OK(sc_caption_metrics_compute(cc, refc, NULL, 2, &s));
    double want = 10.0 / 4.0 * exp(-1.0 / 72.0) / (3.0 * sqrt(2.0));
    near("cider (c) img0", s.cider_d_per_image[0], want, 1e-12);
    near("cider (c) img1", s.cider_d_per_image[1], 0.0, 0.0);
    near("cider (c)", s.cider_d, want / 2, 1e-12);
    sc_caption_scores_free(&s);
}

static void test_tokenize(void **state) {
    (void)state;
    char buf[128];
    assert_int_equal(
        sc_caption_tokenize("  A Red T-shirt, left of (a) bag . -- ' ", buf, sizeof buf), 7);
    assert_string_equal(buf, "a red t-shirt left of a bag");
    assert_int_equal(sc_caption_tokenize("", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    assert_int_equal(sc_caption_tokenize("a red sneaker", buf, 5), -1);
}

static void test_bad_args(void **state) {
    (void)state;
    sc_caption_scores s;
    const char *c[] = {"a"};
    const char *r0[] = {NULL};
    const char *const *refs[] = {r0};
    assert_int_equal(sc_caption_metrics_compute(c, refs, NULL, 1, &s), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "no reference"));
    assert_int_equal(sc_caption_metrics_compute(c, refs, NULL, 0, &s), SC_ERR_INVALID_ARG);
    const char *nc[] = {NULL};
    const char *r1[] = {"a", NULL};
    const char *const *refs1[] = {r1};
    assert_int_equal(sc_caption_metrics_compute(nc, refs1, NULL, 1, &s), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_caption_metrics_compute(c, refs1, NULL, 1, NULL), SC_ERR_INVALID_ARG);
}

static void test_against_port(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("caption_metrics");
    sc_test_python("ref_caption_metrics.py", "'%s'", dir);
    char *path = sc_test_join(dir, "cases.json");
    unsigned char *buf;
    size_t len;
    SC_TEST_OK(sc_read_file(path, 1 << 26, &buf, &len));
    cJSON *root = cJSON_Parse((const char *)buf);
    assert_non_null(root);
    int ncases = cJSON_GetArraySize(root);
    assert_true(ncases >= 8);
    int nonzero_cider = 0;
    for (int ci = 0; ci < ncases; ci++) {
        cJSON *cs = cJSON_GetArrayItem(root, ci);
        cJSON *jc = cJSON_GetObjectItem(cs, "candidates"),
              *jr = cJSON_GetObjectItem(cs, "references");
        int n = cJSON_GetArraySize(jc);
        const char **cand = calloc((size_t)n, sizeof *cand);
        const char ***refs = calloc((size_t)n, sizeof *refs);
        size_t *nr = calloc((size_t)n, sizeof *nr);
        for (int i = 0; i < n; i++) {
            cand[i] = cJSON_GetArrayItem(jc, i)->valuestring;
            cJSON *ri = cJSON_GetArrayItem(jr, i);
            nr[i] = (size_t)cJSON_GetArraySize(ri);
            refs[i] = calloc(nr[i], sizeof(char *));
            for (size_t r = 0; r < nr[i]; r++)
                refs[i][r] = cJSON_GetArrayItem(ri, (int)r)->valuestring;
        }
        sc_caption_scores s;
        SC_TEST_OK(
            sc_caption_metrics_compute(cand, (const char *const *const *)refs, nr, (size_t)n, &s));
        char what[64];
        cJSON *jb = cJSON_GetObjectItem(cs, "bleu");
        for (int k = 0; k < 4; k++) {
            snprintf(what, sizeof what, "case %d BLEU-%d", ci, k + 1);
            near(what, s.bleu[k], cJSON_GetArrayItem(jb, k)->valuedouble, 1e-12);
        }
        snprintf(what, sizeof what, "case %d CIDEr-D", ci);
        near(what, s.cider_d, cJSON_GetObjectItem(cs, "cider_d")->valuedouble, 1e-9);
        if (s.cider_d > 0.1) nonzero_cider++;
        cJSON *jpc = cJSON_GetObjectItem(cs, "cider_d_per_image"),
              *jpb = cJSON_GetObjectItem(cs, "bleu4_per_image");
        for (int i = 0; i < n; i++) {
            snprintf(what, sizeof what, "case %d image %d CIDEr-D", ci, i);
            near(what, s.cider_d_per_image[i], cJSON_GetArrayItem(jpc, i)->valuedouble, 1e-9);
            snprintf(what, sizeof what, "case %d image %d BLEU-4", ci, i);
            near(what, s.bleu4_per_image[i], cJSON_GetArrayItem(jpb, i)->valuedouble, 1e-12);
        }
        sc_caption_scores_free(&s);
        for (int i = 0; i < n; i++) free(refs[i]);
        free(refs);
        free(nr);
        free(cand);
    }
    assert_true(nonzero_cider >= 5); /* the corpora are not degenerate */
    cJSON_Delete(root);
    free(buf);
    free(path);
    sc_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize),     cmocka_unit_test(test_bleu_identical),
        cmocka_unit_test(test_bleu_partial), cmocka_unit_test(test_cider_hand),
        cmocka_unit_test(test_bad_args),     cmocka_unit_test(test_against_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* A loaded captioner reads its decoder weights in place from the file's
 * mapping until sc_captioner_params, which gives it a writable copy: training
 * a loaded model must work and must not touch the file or other loads. */
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_captioner.h"
#include "saccade/sc_util.h"

static const char *const words[8] = {"<pad>", "a", "cat", "dog", "on", "<unk>", "<start>", "<end>"};

static void test_params_after_load(void **state) {
    (void)state;
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(words, 8, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.grid = 2;
    c.encoder_dim = 6;
    c.attention_dim = 5;
    c.embed_dim = 4;
    c.decoder_dim = 7;
    c.vocab_size = 8;
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_create(&c, &v, 7, &m));
    sc_vocab_free(&v);
    char *dir = sc_test_tmpdir("captioner_zerocopy");
    char *path = sc_test_join(dir, "m.safetensors");
    SC_TEST_OK(sc_captioner_save(m, path));
    unsigned char *before;
    size_t nb;
    SC_TEST_OK(sc_read_file(path, 1 << 24, &before, &nb));

    sc_captioner *a = NULL, *b = NULL;
    SC_TEST_OK(sc_captioner_load(path, &a));
    SC_TEST_OK(sc_captioner_load(path, &b));
    const sc_param *pm, *pa;
    size_t nm, na;
    SC_TEST_OK(sc_captioner_params(m, &pm, &nm));
    SC_TEST_OK(sc_captioner_params(a, &pa, &na));
    assert_int_equal(nm, na);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(pm[i].name, pa[i].name);
        assert_int_equal(pm[i].n, pa[i].n);
        assert_memory_equal(pm[i].param, pa[i].param, pa[i].n * sizeof(float));
        for (size_t k = 0; k < pa[i].n; k++) pa[i].param[k] += 0.25f; /* writable */
    }
    /* a loss with backward on the loaded model accumulates into its grads */
    float feat[4 * 6];
    sc_test_fill_uniform(feat, 24, -1.0f, 1.0f, 3);
    const int32_t caps[5] = {6, 1, 2, 7, 0}, lens[1] = {4};
    sc_caption_batch batch = {1, 5, caps, lens, NULL, NULL};
    sc_caption_loss_opts o = {
        .alpha_c = 1.0f, .train = 0, .backward = 1, .att_sup = 0.0f, .item_heads = 0.0f};
    sc_caption_loss out;
    SC_TEST_OK(sc_captioner_loss(a, feat, &batch, &o, NULL, &out, NULL));
    double gsum = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t k = 0; k < pa[i].n; k++) gsum += (double)pa[i].grad[k] * pa[i].grad[k];
    assert_true(gsum > 0);
    /* the other load and the file are untouched */
    sc_caption_result rm, ra, rb;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, NULL, &rm));
    SC_TEST_OK(sc_captioner_beam_search(a, feat, NULL, &ra));
    SC_TEST_OK(sc_captioner_beam_search(b, feat, NULL, &rb));
    assert_true(rm.hyps[0].score == rb.hyps[0].score);
    assert_true(rm.hyps[0].score != ra.hyps[0].score);
    sc_caption_result_free(&rm);
    sc_caption_result_free(&ra);
    sc_caption_result_free(&rb);
    sc_captioner_free(a);
    sc_captioner_free(b);
    unsigned char *after;
    size_t na2;
    SC_TEST_OK(sc_read_file(path, 1 << 24, &after, &na2));
    assert_int_equal(nb, na2);
    assert_memory_equal(before, after, nb);
    free(before);
    free(after);
    sc_captioner_free(m);
    sc_test_rmtree(dir);
    free(path);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_params_after_load)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

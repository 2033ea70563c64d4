/* Captioner parity against the tutorial's PyTorch model (tools/ref/ref_sat.py):
 * a random small model saved in the tutorial's checkpoint layout, converted by
 * tools/convert_sat.py, then per-step logits / alphas under teacher forcing
 * (1e-4) and beam search words for k = 1, 3, 5 (identical) on three photos. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_captioner.h"
#include "sc_test.h"

static char *g_dir;
static const char *images[] = {"astronaut", "coffee", "chelsea"};

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_tmpdir("captioner_parity");
    sc_test_python("ref_sat.py", "%s", g_dir);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    sc_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static sc_captioner *load_model(void) {
    char *path = sc_test_join(g_dir, "model.safetensors");
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_load(path, &m));
    free(path);
    return m;
}

static void test_converted_config(void **state) {
    (void)state;
    sc_captioner *m = load_model();
    const sc_captioner_config *c = sc_captioner_get_config(m);
    assert_int_equal(c->encoder, SC_CAP_ENC_RESNET);
    assert_string_equal(c->encoder_arch, "resnet18");
    assert_int_equal(c->grid, 5);
    assert_int_equal(c->encoder_dim, 512);
    assert_int_equal(c->attention_dim, 48);
    assert_int_equal(c->embed_dim, 40);
    assert_int_equal(c->decoder_dim, 56);
    assert_int_equal(c->gate, SC_CAP_GATE_VECTOR);
    assert_int_equal(c->attention_tanh, 0);
    const sc_vocab *v = sc_captioner_get_vocab(m);
    assert_int_equal(v->n, c->vocab_size);
    assert_int_equal(v->pad, 0);
    assert_string_equal(sc_vocab_word(v, v->start), "<start>");
    assert_int_equal(sc_vocab_id(v, "coffee"), 14);
    sc_captioner_free(m);
}

static void test_teacher_forcing(void **state) {
    (void)state;
    sc_captioner *m = load_model();
    int V = sc_captioner_get_config(m)->vocab_size;
    double worst_l = 0, worst_a = 0;
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s_features", images[i]);
        sc_npy f = sc_test_npy(g_dir, name);
        for (int k = 1; k <= 5; k += 2) {
            snprintf(name, sizeof name, "%s_k%d_seq", images[i], k);
            sc_npy seq = sc_test_npy(g_dir, name);
            snprintf(name, sizeof name, "%s_k%d_logits", images[i], k);
            sc_npy lg = sc_test_npy(g_dir, name);
            snprintf(name, sizeof name, "%s_k%d_tf_alphas", images[i], k);
            sc_npy al = sc_test_npy(g_dir, name);
            int n = (int)seq.count;
            int32_t *tok = malloc(sizeof(int32_t) * n);
            tok[0] = sc_captioner_get_vocab(m)->start;
            for (int t = 1; t < n; t++) tok[t] = (int32_t)seq.data[t - 1];
            float *L = malloc(sizeof(float) * n * V), *A = malloc(sizeof(float) * al.count);
            SC_TEST_OK(sc_captioner_teacher_force(m, f.data, tok, n, L, A));
            double el = sc_test_assert_close("teacher-forced logits", L, lg.data, lg.count, 1e-4, 1e-4);
            double ea = sc_test_assert_close("teacher-forced alphas", A, al.data, al.count, 1e-4, 1e-5);
            if (el > worst_l) worst_l = el;
            if (ea > worst_a) worst_a = ea;
            free(tok);
            free(L);
            free(A);
            sc_npy_free(&seq);
            sc_npy_free(&lg);
            sc_npy_free(&al);
        }
        sc_npy_free(&f);
    }
    print_message("teacher forcing: max rel err logits %.3g, alphas %.3g\n", worst_l, worst_a);
    sc_captioner_free(m);
}

static void test_beam_search(void **state) {
    (void)state;
    sc_captioner *m = load_model();
    int P = 25;
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s_features", images[i]);
        sc_npy f = sc_test_npy(g_dir, name);
        for (int k = 1; k <= 5; k += 2) {
            snprintf(name, sizeof name, "%s_k%d_seq", images[i], k);
            sc_npy seq = sc_test_npy(g_dir, name);
            snprintf(name, sizeof name, "%s_k%d_score", images[i], k);
            sc_npy score = sc_test_npy(g_dir, name);
            snprintf(name, sizeof name, "%s_k%d_alphas", images[i], k);
            sc_npy al = sc_test_npy(g_dir, name);
            sc_beam_params bp = sc_captioner_beam_default_params();
            bp.beam_size = k;
            sc_caption_result r;
            SC_TEST_OK(sc_captioner_beam_search(m, f.data, &bp, &r));
            const sc_caption_hyp *h = &r.hyps[0];
            assert_true(h->finished);
            assert_int_equal(h->len, (int)seq.count);
            for (int t = 0; t < h->len; t++) assert_int_equal(h->tokens[t], (int)seq.data[t]);
            assert_true(fabs(h->score - score.data[0]) <= 1e-4 * (1 + fabs(score.data[0])));
            sc_test_assert_close("beam alphas", h->alphas, al.data, (size_t)h->len * P, 1e-4, 1e-5);
            double s = 0;
            for (int t = 0; t < h->len; t++) s += h->logprobs[t];
            assert_true(fabs(s - h->score) < 1e-4 * (1 + fabs(s)));
            print_message("%s k=%d: \"%s\" score %.5f (torch %.5f)\n", images[i], k, r.text,
                          h->score, score.data[0]);
            sc_caption_result_free(&r);
            sc_npy_free(&seq);
            sc_npy_free(&score);
            sc_npy_free(&al);
        }
        sc_npy_free(&f);
    }
    sc_captioner_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converted_config),
        cmocka_unit_test(test_teacher_forcing),
        cmocka_unit_test(test_beam_search),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

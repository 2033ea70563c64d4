/* Captioner parity against the tutorial's PyTorch model (tools/ref/ref_sat.py):
 * a random small model saved in the tutorial's checkpoint layout, converted by
 * tools/convert_sat.py, then per-step logits / alphas under teacher forcing
 * (1e-4) and beam search words for k = 1, 3, 5 (identical) on three photos;
 * then the resnet encoder itself (features within 1e-4 of torch's Encoder on
 * the torch-preprocessed photos) and image -> caption words for k = 1, 3, 5. */
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

static double max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
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
            sc_test_assert_close("teacher-forced logits", L, lg.data, lg.count, 1e-4, 1e-4);
            sc_test_assert_close("teacher-forced alphas", A, al.data, al.count, 1e-4, 1e-5);
            double el = max_abs(L, lg.data, lg.count), ea = max_abs(A, al.data, al.count);
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
    print_message("teacher forcing: max abs err logits %.3g, alphas %.3g\n", worst_l, worst_a);
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

/* sc_captioner_preprocess (stb triangle filter, float) against the tutorial's
 * scipy imresize (PIL bilinear to uint8) + ImageNet normalisation. */
static void test_preprocess(void **state) {
    (void)state;
    sc_captioner *m = load_model();
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s_raw", images[i]);
        sc_npy raw = sc_test_npy(g_dir, name);
        snprintf(name, sizeof name, "%s_input", images[i]);
        sc_npy ref = sc_test_npy(g_dir, name);
        sc_image img = {(int)raw.shape[2], (int)raw.shape[1], 3, raw.data}, out;
        SC_TEST_OK(sc_captioner_preprocess(m, &img, &out));
        assert_int_equal(out.w, 256);
        assert_int_equal(out.h, 256);
        double mean = 0, inner = 0;
        for (size_t k = 0; k < ref.count; k++) {
            double d = fabs(out.data[k] - ref.data[k]);
            int y = (int)(k / 256 % 256), x = (int)(k % 256);
            mean += d;
            if (y >= 2 && y < 254 && x >= 2 && x < 254) inner = fmax(inner, d);
        }
        mean /= (double)ref.count;
        double mx = max_abs(out.data, ref.data, ref.count);
        print_message("preprocess %s: max abs %.4f (%.4f away from the 2-pixel border), mean abs "
                      "%.5f (normalised units)\n",
                      images[i], mx, inner, mean);
        /* PIL rounds to uint8 and treats the border differently from stb */
        assert_true(inner < 0.05);
        assert_true(mx < 0.25);
        assert_true(mean < 0.008);
        sc_image_free(&out);
        sc_npy_free(&raw);
        sc_npy_free(&ref);
    }
    sc_captioner_free(m);
}

/* The resnet encoder wired in sc_captioner_encode (sc_resnet_load_st with the
 * "encoder." prefix, adaptive pool to the grid) against torch's Encoder on the
 * torch-preprocessed photos, then image -> features -> beam search words. */
static void test_encoder_and_full_path(void **state) {
    (void)state;
    sc_captioner *m = load_model();
    const sc_captioner_config *c = sc_captioner_get_config(m);
    const int P = c->grid * c->grid, E = c->encoder_dim;
    double worst = 0;
    float *f = malloc(sizeof(float) * P * E);
    for (int i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s_input", images[i]);
        sc_npy in = sc_test_npy(g_dir, name);
        snprintf(name, sizeof name, "%s_features", images[i]);
        sc_npy ref = sc_test_npy(g_dir, name);
        assert_int_equal(in.ndim, 3); /* (3, 256, 256) */
        assert_int_equal(ref.count, (size_t)P * E);
        SC_TEST_OK(sc_captioner_encode(m, in.data, (int)in.shape[1], (int)in.shape[2], f));
        double scale = 0;
        for (size_t k = 0; k < ref.count; k++) scale = fmax(scale, fabs(ref.data[k]));
        sc_test_assert_close("encoder features", f, ref.data, ref.count, 1e-4, 1e-4 * scale);
        double e = max_abs(f, ref.data, ref.count);
        worst = fmax(worst, e / fmax(1.0, scale));
        for (int k = 1; k <= 5; k += 2) {
            snprintf(name, sizeof name, "%s_k%d_seq", images[i], k);
            sc_npy seq = sc_test_npy(g_dir, name);
            sc_beam_params bp = sc_captioner_beam_default_params();
            bp.beam_size = k;
            sc_caption_result r;
            SC_TEST_OK(sc_captioner_beam_search(m, f, &bp, &r));
            assert_int_equal(r.hyps[0].len, (int)seq.count);
            for (int t = 0; t < r.hyps[0].len; t++)
                assert_int_equal(r.hyps[0].tokens[t], (int)seq.data[t]);
            print_message("%s k=%d image->caption: \"%s\" (same words as torch)\n", images[i], k,
                          r.text);
            sc_caption_result_free(&r);
            /* the whole public path from the raw photo (saccade's own preprocessing, which
             * differs from PIL's uint8 resize by < 0.05 inside the border) */
            snprintf(name, sizeof name, "%s_raw", images[i]);
            sc_npy raw = sc_test_npy(g_dir, name);
            sc_image img = {(int)raw.shape[2], (int)raw.shape[1], 3, raw.data};
            SC_TEST_OK(sc_captioner_caption_image(m, &img, &bp, &r));
            assert_int_equal(r.hyps[0].len, (int)seq.count);
            for (int t = 0; t < r.hyps[0].len; t++)
                assert_int_equal(r.hyps[0].tokens[t], (int)seq.data[t]);
            sc_caption_result_free(&r);
            sc_npy_free(&raw);
            sc_npy_free(&seq);
        }
        sc_npy_free(&in);
        sc_npy_free(&ref);
    }
    print_message("resnet18 encoder features: max abs err %.3g (relative to max |feature|)\n",
                  worst);
    free(f);
    /* a resnet model cannot be re-saved (folded weights) */
    char *path = sc_test_join(g_dir, "resave.safetensors");
    assert_int_equal(sc_captioner_save(m, path), SC_ERR_UNSUPPORTED);
    free(path);
    sc_captioner_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_converted_config),      cmocka_unit_test(test_teacher_forcing),
        cmocka_unit_test(test_beam_search),           cmocka_unit_test(test_preprocess),
        cmocka_unit_test(test_encoder_and_full_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

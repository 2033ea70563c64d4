/* Captioner image encoders: cnn create/save/load round trip, batched encode
 * consistency, and finite-difference checks of the gradient through the whole
 * model (decoder loss -> dfeatures -> adaptive pool -> CNN weights). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_cnn.h"
#include "sc_test.h"

static const char *words[] = {"<pad>", "<unk>", "<start>", "<end>", "a", "red", "bag", "boot"};

static sc_captioner *make_in(int grid, int pool_last, int in_ch) {
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(words, 8, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.encoder = SC_CAP_ENC_CNN;
    c.grid = grid;
    c.image_size = 16;
    c.encoder_dim = 6;
    c.attention_dim = 5;
    c.embed_dim = 4;
    c.decoder_dim = 7;
    c.vocab_size = 8;
    c.dropout = 0;
    int ch[2] = {4, 6};
    sc_cnn_config cc = sc_cnn_config_make(in_ch, 2, ch);
    cc.pool[0] = 1;
    cc.pool[1] = pool_last;
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_create_cnn(&c, &cc, &v, 7, &m));
    sc_vocab_free(&v);
    return m;
}

static sc_captioner *make(int grid, int pool_last) {
    return make_in(grid, pool_last, 3);
}

typedef struct {
    sc_captioner *m;
    float *img, *feat, *dfeat;
    int N;
    sc_caption_batch b;
} ctx_t;

static const int32_t caps[3 * 5] = {2, 4, 5, 6, 3, 2, 4, 7, 3, 0, 2, 6, 3, 0, 0};
static const int32_t lens[3] = {5, 4, 3};

static double loss_fn(void *vc) {
    ctx_t *c = vc;
    SC_TEST_OK(sc_captioner_encode_batch(c->m, c->img, c->N, 16, 16, 1, c->feat));
    sc_caption_loss_opts o = {
        .alpha_c = 1.0f, .train = 0, .backward = 0, .att_sup = 0.0f, .item_heads = 0.0f};
    sc_caption_loss out;
    SC_TEST_OK(sc_captioner_loss(c->m, c->feat, &c->b, &o, NULL, &out, NULL));
    return out.loss;
}

static void run_gradcheck(int grid, int pool_last, int in_ch) {
    sc_captioner *m = make_in(grid, pool_last, in_ch);
    ctx_t c = {m, NULL, NULL, NULL, 3, {3, 5, caps, lens, NULL, NULL}};
    size_t P = (size_t)grid * grid, npix = (size_t)3 * 3 * 16 * 16;
    c.img = malloc(npix * sizeof(float));
    c.feat = malloc(3 * P * 6 * sizeof(float));
    c.dfeat = calloc(3 * P * 6, sizeof(float));
    sc_test_fill_uniform(c.img, npix, -1, 1, 3);
    const sc_param *dp, *ep, *eb;
    size_t nd, ne, nb;
    SC_TEST_OK(sc_captioner_params(m, &dp, &nd));
    SC_TEST_OK(sc_captioner_encoder_params(m, &ep, &ne, &eb, &nb));
    assert_true(ne >= 4); /* conv weights + BN weight/bias per stage */
    assert_true(nb >= 4); /* running mean/var per stage */
    for (size_t i = 0; i < ne; i++) {
        assert_non_null(ep[i].grad);
        assert_true(strncmp(ep[i].name, "encoder.", 8) == 0);
        memset(ep[i].grad, 0, ep[i].n * sizeof(float));
    }
    SC_TEST_OK(sc_captioner_encode_batch(m, c.img, 3, 16, 16, 1, c.feat));
    sc_caption_loss_opts o = {
        .alpha_c = 1.0f, .train = 0, .backward = 1, .att_sup = 0.0f, .item_heads = 0.0f};
    sc_caption_loss out;
    SC_TEST_OK(sc_captioner_loss(m, c.feat, &c.b, &o, NULL, &out, c.dfeat));
    SC_TEST_OK(sc_captioner_encode_backward(m, c.dfeat));
    double gsum = 0;
    for (size_t i = 0; i < ne; i++) {
        for (size_t k = 0; k < ep[i].n; k++) gsum += fabs(ep[i].grad[k]);
        sc_test_gradcheck(ep[i].name, loss_fn, &c, ep[i].param, ep[i].grad, ep[i].n, 6, 1e-3, 5e-2,
                          2e-4);
    }
    assert_true(gsum > 1e-4); /* gradients actually reach the CNN */
    free(c.img);
    free(c.feat);
    free(c.dfeat);
    sc_captioner_free(m);
}

static void test_gradcheck_pooled(void **state) {
    (void)state;
    run_gradcheck(3, 0, 3); /* CNN gives 8x8 -> adaptive pool to 3x3 */
}
static void test_gradcheck_native_grid(void **state) {
    (void)state;
    run_gradcheck(4, 1, 3); /* CNN gives 4x4 = grid */
}

static void test_gradcheck_coords(void **state) {
    (void)state;
    run_gradcheck(3, 0, 5); /* RGB + x, y coordinate channels */
}

/* The coordinate channels make identical content at different places encode
 * differently; without them a shifted item gives shifted (equal) features. */
static void test_coords_break_translation(void **state) {
    (void)state;
    for (int in_ch = 3; in_ch <= 5; in_ch += 2) {
        sc_captioner *m = make_in(4, 1, in_ch);
        float img[2 * 3 * 16 * 16], f[2 * 16 * 6];
        memset(img, 0, sizeof img);
        for (int c = 0; c < 3; c++) /* a 4x4 patch at (4, 4) and at (4, 8) */
            for (int y = 4; y < 8; y++)
                for (int x = 0; x < 4; x++) {
                    img[(c * 16 + y) * 16 + 4 + x] = 1;
                    img[3 * 256 + (c * 16 + y) * 16 + 8 + x] = 1;
                }
        SC_TEST_OK(sc_captioner_encode_batch(m, img, 2, 16, 16, 0, f));
        /* grid 4: the patch covers cell (1, 1) in image 0 and cell (1, 2) in image 1 */
        double d = 0;
        for (int k = 0; k < 6; k++) d += fabs(f[(1 * 4 + 1) * 6 + k] - f[96 + (1 * 4 + 2) * 6 + k]);
        if (in_ch == 3)
            assert_true(d < 1e-5);
        else
            assert_true(d > 1e-3);
        sc_captioner_free(m);
    }
}

static void test_save_load_round_trip(void **state) {
    (void)state;
    sc_captioner *m = make(3, 0);
    float img[3 * 16 * 16], f1[9 * 6], f2[9 * 6];
    sc_test_fill_uniform(img, sizeof img / sizeof img[0], -1, 1, 11);
    /* one train-mode pass changes the BN running statistics: they must be saved too */
    float fb[2 * 9 * 6], img2[2 * 3 * 16 * 16];
    sc_test_fill_uniform(img2, sizeof img2 / sizeof img2[0], -1, 1, 12);
    SC_TEST_OK(sc_captioner_encode_batch(m, img2, 2, 16, 16, 1, fb));
    SC_TEST_OK(sc_captioner_encode(m, img, 16, 16, f1));
    char *dir = sc_test_tmpdir("capenc");
    char *path = sc_test_join(dir, "m.safetensors");
    SC_TEST_OK(sc_captioner_save(m, path));
    sc_captioner *m2 = NULL;
    SC_TEST_OK(sc_captioner_load(path, &m2));
    const sc_captioner_config *c2 = sc_captioner_get_config(m2);
    assert_int_equal(c2->encoder, SC_CAP_ENC_CNN);
    assert_string_equal(c2->encoder_arch, "cnn");
    assert_int_equal(c2->grid, 3);
    SC_TEST_OK(sc_captioner_encode(m2, img, 16, 16, f2));
    assert_memory_equal(f1, f2, sizeof f1);
    sc_beam_params bp = sc_captioner_beam_default_params();
    bp.max_len = 6;
    sc_caption_result r1, r2;
    SC_TEST_OK(sc_captioner_beam_search(m, f1, &bp, &r1));
    SC_TEST_OK(sc_captioner_beam_search(m2, f2, &bp, &r2));
    assert_string_equal(r1.text, r2.text);
    assert_int_equal(r1.hyps[0].len, r2.hyps[0].len);
    /* batched = one by one in eval mode */
    float fb2[2 * 9 * 6];
    SC_TEST_OK(sc_captioner_encode_batch(m2, img2, 2, 16, 16, 0, fb2));
    SC_TEST_OK(sc_captioner_encode(m2, img2 + 3 * 16 * 16, 16, 16, f2));
    sc_test_assert_close("batched encode", fb2 + 9 * 6, f2, 9 * 6, 1e-6, 1e-6);
    sc_caption_result_free(&r1);
    sc_caption_result_free(&r2);
    sc_captioner_free(m2);
    sc_captioner_free(m);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
}

static void test_bad_args(void **state) {
    (void)state;
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(words, 8, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.encoder = SC_CAP_ENC_CNN;
    c.grid = 3, c.image_size = 16, c.encoder_dim = 5, c.vocab_size = 8;
    int ch[1] = {6};
    sc_cnn_config cc = sc_cnn_config_make(3, 1, ch);
    sc_captioner *m = NULL;
    assert_int_equal(sc_captioner_create_cnn(&c, &cc, &v, 1, &m), SC_ERR_INVALID_ARG);
    assert_null(m);
    c.encoder_dim = 6;
    cc.in_channels = 4;
    assert_int_equal(sc_captioner_create_cnn(&c, &cc, &v, 1, &m), SC_ERR_INVALID_ARG);
    c.encoder = SC_CAP_ENC_FEATURES;
    cc.in_channels = 3;
    assert_int_equal(sc_captioner_create_cnn(&c, &cc, &v, 1, &m), SC_ERR_INVALID_ARG);
    /* features model: no encoder */
    c.encoder_dim = 6, c.attention_dim = c.embed_dim = c.decoder_dim = 4;
    SC_TEST_OK(sc_captioner_create(&c, &v, 1, &m));
    float img[3 * 16 * 16] = {0}, f[9 * 6];
    assert_int_equal(sc_captioner_encode(m, img, 16, 16, f), SC_ERR_UNSUPPORTED);
    assert_int_equal(sc_captioner_encode_backward(m, f), SC_ERR_UNSUPPORTED);
    const sc_param *p, *b;
    size_t n = 9, nb = 9;
    SC_TEST_OK(sc_captioner_encoder_params(m, &p, &n, &b, &nb));
    assert_int_equal(n, 0);
    assert_int_equal(nb, 0);
    sc_captioner_free(m);
    sc_vocab_free(&v);
    /* backward without a train-mode forward */
    m = make(3, 0);
    assert_int_equal(sc_captioner_encode_backward(m, f), SC_ERR_INVALID_ARG);
    sc_captioner_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_pooled),
        cmocka_unit_test(test_gradcheck_native_grid),
        cmocka_unit_test(test_gradcheck_coords),
        cmocka_unit_test(test_coords_break_translation),
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

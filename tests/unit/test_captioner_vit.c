/* Captioner with a ViT patch encoder (sc_vit.h): finite-difference checks of
 * the gradient through the whole model (decoder loss -> dfeatures -> pool ->
 * patch tokens -> ViT weights, and to the input image), the token -> grid
 * layout against a bare sc_vit, save/load round trip, rollout through the
 * captioner, and rejection of inconsistent model files. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_vit.h"
#include "sc_test.h"

static const char *words[] = {"<pad>", "<unk>", "<start>", "<end>", "a", "red", "bag", "boot"};
enum { S = 16, D = 8 };

static sc_vit_config vit_cfg(int cls, sc_vit_pos pos) {
    sc_vit_config v = sc_vit_default_config();
    v.image_size = S, v.patch = 4, v.dim = D, v.depth = 2, v.heads = 2, v.mlp_dim = 12;
    v.cls_token = cls, v.pos = pos;
    return v;
}

static sc_captioner *make(int grid, int cls, sc_vit_pos pos) {
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(words, 8, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.encoder = SC_CAP_ENC_VIT;
    c.grid = grid, c.image_size = S, c.encoder_dim = D;
    c.attention_dim = 5, c.embed_dim = 4, c.decoder_dim = 7, c.vocab_size = 8, c.dropout = 0;
    sc_vit_config vc = vit_cfg(cls, pos);
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_create_vit(&c, &vc, &v, 7, &m));
    sc_vocab_free(&v);
    return m;
}

typedef struct {
    sc_captioner *m;
    float *img, *feat;
    int N, train;
    sc_caption_batch b;
} ctx_t;

static const int32_t caps[3 * 5] = {2, 4, 5, 6, 3, 2, 4, 7, 3, 0, 2, 6, 3, 0, 0};
static const int32_t lens[3] = {5, 4, 3};

static double loss_fn(void *vc) {
    ctx_t *c = vc;
    SC_TEST_OK(sc_captioner_encode_batch(c->m, c->img, c->N, S, S, c->train, c->feat));
    sc_caption_loss_opts o = {
        .alpha_c = 1.0f, .train = 0, .backward = 0, .att_sup = 0.0f, .item_heads = 0.0f};
    sc_caption_loss out;
    SC_TEST_OK(sc_captioner_loss(c->m, c->feat, &c->b, &o, NULL, &out, NULL));
    return out.loss;
}

static void run_gradcheck(int grid, int cls, sc_vit_pos pos) {
    sc_captioner *m = make(grid, cls, pos);
    ctx_t c = {m, NULL, NULL, 3, 1, {3, 5, caps, lens, NULL, NULL}};
    size_t P = (size_t)grid * grid, npix = (size_t)3 * 3 * S * S;
    c.img = malloc(npix * sizeof(float));
    c.feat = malloc(3 * P * D * sizeof(float));
    float *dfeat = calloc(3 * P * D, sizeof(float)), *dimg = calloc(npix, sizeof(float));
    sc_test_fill_uniform(c.img, npix, -1, 1, 3);
    const sc_param *dp, *ep, *eb;
    size_t nd, ne, nb;
    SC_TEST_OK(sc_captioner_params(m, &dp, &nd));
    SC_TEST_OK(sc_captioner_encoder_params(m, &ep, &ne, &eb, &nb));
    assert_int_equal(ne, 2 + (size_t)cls + (pos == SC_VIT_POS_LEARNED) + 12 * 2 + 2);
    assert_int_equal(nb, 0);
    for (size_t i = 0; i < ne; i++) {
        assert_true(strncmp(ep[i].name, "encoder.", 8) == 0);
        memset(ep[i].grad, 0, ep[i].n * sizeof(float));
    }
    SC_TEST_OK(sc_captioner_encode_batch(m, c.img, 3, S, S, 1, c.feat));
    sc_caption_loss_opts o = {
        .alpha_c = 1.0f, .train = 0, .backward = 1, .att_sup = 0.0f, .item_heads = 0.0f};
    sc_caption_loss out;
    SC_TEST_OK(sc_captioner_loss(m, c.feat, &c.b, &o, NULL, &out, dfeat));
    SC_TEST_OK(sc_captioner_encode_backward(m, dfeat));
    double gsum = 0;
    for (size_t i = 0; i < ne; i++) {
        double g = 0;
        for (size_t k = 0; k < ep[i].n; k++) g += fabs(ep[i].grad[k]);
        gsum += g;
        if (strstr(ep[i].name, "cls_token") && grid * grid == 16 && cls) {
            /* the class token reaches the patch tokens through attention */
            assert_true(g > 0);
        }
        sc_test_gradcheck(ep[i].name, loss_fn, &c, ep[i].param, ep[i].grad, ep[i].n, 5, 1e-3, 5e-2,
                          2e-4);
    }
    assert_true(gsum > 1e-4);
    /* input gradient (eval mode, as saliency uses it) */
    c.train = 0;
    SC_TEST_OK(sc_captioner_encode_batch(m, c.img, 3, S, S, 0, c.feat));
    memset(dfeat, 0, 3 * P * D * sizeof(float));
    SC_TEST_OK(sc_captioner_loss(m, c.feat, &c.b, &o, NULL, &out, dfeat));
    SC_TEST_OK(sc_captioner_encode_input_backward(m, dfeat, dimg));
    sc_test_gradcheck("input image", loss_fn, &c, c.img, dimg, npix, 40, 1e-3, 5e-2, 2e-4);
    free(c.img);
    free(c.feat);
    free(dfeat);
    free(dimg);
    sc_captioner_free(m);
}

static void test_gradcheck_native_grid(void **state) {
    (void)state;
    run_gradcheck(4, 1, SC_VIT_POS_LEARNED); /* 4x4 patches = grid */
}
static void test_gradcheck_pooled_sincos(void **state) {
    (void)state;
    run_gradcheck(3, 0, SC_VIT_POS_SINCOS); /* 4x4 patches -> adaptive pool to 3x3 */
}

/* Write src's tensors and metadata to dst, skipping tensor `skip`, adding a
 * tensor `extra` and replacing metadata key `mkey` by `mval` (each optional). */
static void rewrite(const char *src, const char *dst, const char *skip, const char *extra,
                    const char *mkey, const char *mval) {
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(src, &st));
    sc_st_writer *w = sc_st_writer_new();
    for (size_t i = 0; i < sc_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        SC_TEST_OK(sc_safetensors_metadata_at(st, i, &k, &v));
        SC_TEST_OK(sc_st_writer_set_metadata(w, k, mkey && !strcmp(k, mkey) ? mval : v));
    }
    for (size_t i = 0; i < sc_safetensors_count(st); i++) {
        sc_st_tensor_info info;
        const float *d;
        SC_TEST_OK(sc_safetensors_info(st, i, &info));
        if (skip && !strcmp(info.name, skip)) continue;
        SC_TEST_OK(sc_safetensors_get_f32_at(st, i, &d));
        SC_TEST_OK(sc_st_writer_add_f32(w, info.name, d, info.ndim, info.shape, SC_ST_F32));
    }
    float z[3] = {0};
    int64_t sh[1] = {3};
    if (extra) SC_TEST_OK(sc_st_writer_add_f32(w, extra, z, 1, sh, SC_ST_F32));
    SC_TEST_OK(sc_st_writer_write(w, dst));
    sc_st_writer_free(w);
    sc_safetensors_free(st);
}

static void test_save_load_layout_rollout(void **state) {
    (void)state;
    sc_captioner *m = make(4, 1, SC_VIT_POS_LEARNED);
    float img[2 * 3 * S * S], f1[2 * 16 * D], f2[16 * D];
    sc_test_fill_uniform(img, sizeof img / sizeof img[0], -1, 1, 11);
    SC_TEST_OK(sc_captioner_encode_batch(m, img, 2, S, S, 0, f1));
    char *dir = sc_test_tmpdir("capvit");
    char *path = sc_test_join(dir, "m.safetensors");
    SC_TEST_OK(sc_captioner_save(m, path));
    sc_captioner *m2 = NULL;
    SC_TEST_OK(sc_captioner_load(path, &m2));
    const sc_captioner_config *c2 = sc_captioner_get_config(m2);
    assert_int_equal(c2->encoder, SC_CAP_ENC_VIT);
    assert_string_equal(c2->encoder_arch, "vit");
    SC_TEST_OK(sc_captioner_encode(m2, img + 3 * S * S, S, S, f2));
    sc_test_assert_close("reloaded, one by one", f2, f1 + 16 * D, 16 * D, 1e-6, 1e-6);

    /* grid = patch grid: feature p is the ViT's patch token p (after the class token) */
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    sc_vit_config vc;
    SC_TEST_OK(sc_vit_config_from_json(sc_safetensors_metadata(st, "saccade.encoder"), &vc));
    sc_rng r;
    sc_rng_seed(&r, 3);
    sc_vit *v;
    SC_TEST_OK(sc_vit_create(&vc, "encoder.", &r, &v));
    SC_TEST_OK(sc_vit_load(v, st));
    const float *tok;
    SC_TEST_OK(sc_vit_forward(v, img, 2, 0, NULL, &tok));
    for (int b = 0; b < 2; b++)
        sc_test_assert_close("features = patch tokens", f1 + b * 16 * D, tok + (b * 17 + 1) * D,
                             16 * D, 1e-6, 1e-6);
    /* rollout through the captioner = the ViT's own */
    float ra[16], rb[16];
    int gh = 0, gw = 0;
    SC_TEST_OK(sc_captioner_encode_batch(m2, img, 2, S, S, 0, f1));
    SC_TEST_OK(sc_captioner_encoder_rollout(m2, 1, 0.5f, NULL, ra, &gh, &gw));
    assert_int_equal(gh, 4);
    assert_int_equal(gw, 4);
    SC_TEST_OK(sc_vit_rollout(v, 1, 0.5f, rb));
    sc_test_assert_close("rollout", ra, rb, 16, 1e-6, 1e-7);
    /* from the decoder's attention: a one-hot alpha on cell q gives patch q's row of R */
    float R[17 * 17], alpha[16] = {0};
    SC_TEST_OK(sc_vit_rollout_matrix(v, 1, 0.5f, R));
    for (int q = 0; q < 16; q += 5) {
        memset(alpha, 0, sizeof alpha);
        alpha[q] = 1;
        SC_TEST_OK(sc_captioner_encoder_rollout(m2, 1, 0.5f, alpha, ra, NULL, NULL));
        sc_test_assert_close("rollout of a one-hot alpha", ra, R + (1 + q) * 17 + 1, 16, 1e-5,
                             1e-7);
    }
    /* a train-mode encode keeps no attention */
    SC_TEST_OK(sc_captioner_encode_batch(m2, img, 2, S, S, 1, f1));
    assert_int_equal(sc_captioner_encoder_rollout(m2, 0, 0, NULL, ra, NULL, NULL),
                     SC_ERR_INVALID_ARG);
    sc_vit_free(v);
    sc_safetensors_free(st);

    /* inconsistent files are rejected with the reason */
    char *bad = sc_test_join(dir, "bad.safetensors");
    sc_captioner *m3 = NULL;
    rewrite(path, bad, NULL, "encoder.layers.9.bogus", NULL, NULL);
    assert_int_equal(sc_captioner_load(bad, &m3), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "encoder.layers.9.bogus"));
    rewrite(path, bad, "encoder.layers.1.linear1.bias", NULL, NULL, NULL);
    assert_int_not_equal(sc_captioner_load(bad, &m3), SC_OK);
    assert_non_null(strstr(sc_last_error(), "linear1.bias"));
    rewrite(path, bad, NULL, NULL, "saccade.encoder",
            "{\"image_size\": 16, \"patch\": 4, \"in_channels\": 3, \"dim\": 8, \"depth\": 2, "
            "\"heads\": 2, \"mlp_dim\": 16}");
    assert_int_not_equal(sc_captioner_load(bad, &m3), SC_OK); /* mlp 16: shapes differ */
    rewrite(path, bad, NULL, NULL, "saccade.encoder",
            "{\"image_size\": 32, \"patch\": 4, \"in_channels\": 3, \"dim\": 8, \"depth\": 2, "
            "\"heads\": 2, \"mlp_dim\": 12}");
    assert_int_equal(sc_captioner_load(bad, &m3), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "image_size"));
    rewrite(path, bad, NULL, NULL, "saccade.encoder", "{\"image_size\": 16");
    assert_int_equal(sc_captioner_load(bad, &m3), SC_ERR_FORMAT);
    assert_null(m3);
    /* wrong input size */
    float big[3 * 20 * 20] = {0};
    assert_int_equal(sc_captioner_encode(m2, big, 20, 20, f2), SC_ERR_SHAPE);
    free(bad);
    sc_captioner_free(m2);
    sc_captioner_free(m);
    sc_test_rmtree(dir);
    free(dir);
    free(path);
}

static void test_create_errors(void **state) {
    (void)state;
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(words, 8, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.encoder = SC_CAP_ENC_VIT;
    c.grid = 4, c.image_size = S, c.encoder_dim = D, c.vocab_size = 8;
    sc_vit_config vc = vit_cfg(1, SC_VIT_POS_LEARNED);
    sc_captioner *m = NULL;
    c.encoder_dim = D + 1;
    assert_int_equal(sc_captioner_create_vit(&c, &vc, &v, 1, &m), SC_ERR_INVALID_ARG);
    c.encoder_dim = D, c.grid = 5; /* finer than the 4x4 patches */
    assert_int_equal(sc_captioner_create_vit(&c, &vc, &v, 1, &m), SC_ERR_INVALID_ARG);
    c.grid = 4, c.image_size = 32;
    assert_int_equal(sc_captioner_create_vit(&c, &vc, &v, 1, &m), SC_ERR_INVALID_ARG);
    c.image_size = S, c.encoder = SC_CAP_ENC_CNN;
    assert_int_equal(sc_captioner_create_vit(&c, &vc, &v, 1, &m), SC_ERR_INVALID_ARG);
    c.encoder = SC_CAP_ENC_VIT, vc.in_channels = 5;
    assert_int_equal(sc_captioner_create_vit(&c, &vc, &v, 1, &m), SC_ERR_INVALID_ARG);
    assert_null(m);
    sc_vocab_free(&v);
    /* no class token: no rollout */
    m = make(4, 0, SC_VIT_POS_SINCOS);
    float img[3 * S * S] = {0}, f[16 * D], out[16];
    SC_TEST_OK(sc_captioner_encode(m, img, S, S, f));
    assert_int_equal(sc_captioner_encoder_rollout(m, 0, 0, NULL, out, NULL, NULL),
                     SC_ERR_UNSUPPORTED);
    sc_captioner_free(m);
    /* grid 3 over 4x4 patches (bins [0,2), [1,3), [2,4) per axis): a cell's
     * attention is shared by its 4 patches, then carried through R */
    m = make(3, 0, SC_VIT_POS_SINCOS);
    sc_test_fill_uniform(img, 3 * S * S, -1, 1, 4);
    SC_TEST_OK(sc_captioner_encode(m, img, S, S, f));
    float alpha[9], w[16] = {0}, R[16 * 16], expect[16] = {0};
    sc_test_fill_uniform(alpha, 9, 0, 1, 5);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            for (int y = i; y < i + 2; y++)
                for (int x = j; x < j + 2; x++) w[y * 4 + x] += alpha[i * 3 + j] / 4;
    const sc_param *ep, *eb;
    size_t ne, nb;
    SC_TEST_OK(sc_captioner_encoder_params(m, &ep, &ne, &eb, &nb));
    /* R from a bare sc_vit with the captioner's weights */
    sc_vit_config vc2 = vit_cfg(0, SC_VIT_POS_SINCOS);
    sc_rng r;
    sc_rng_seed(&r, 1);
    sc_vit *vit;
    SC_TEST_OK(sc_vit_create(&vc2, "encoder.", &r, &vit));
    const sc_param *vp;
    size_t nv;
    sc_vit_params(vit, &vp, &nv);
    assert_int_equal(nv, ne);
    for (size_t i = 0; i < nv; i++) memcpy(vp[i].param, ep[i].param, vp[i].n * sizeof(float));
    const float *tok;
    SC_TEST_OK(sc_vit_forward(vit, img, 1, 0, NULL, &tok));
    SC_TEST_OK(sc_vit_rollout_matrix(vit, 0, 0, R));
    for (int j = 0; j < 16; j++)
        for (int p = 0; p < 16; p++) expect[j] += w[p] * R[p * 16 + j];
    int gh = 0;
    SC_TEST_OK(sc_captioner_encoder_rollout(m, 0, 0, alpha, out, &gh, NULL));
    assert_int_equal(gh, 4);
    sc_test_assert_close("pooled rollout", out, expect, 16, 1e-5, 1e-7);
    sc_vit_free(vit);
    sc_captioner_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_native_grid),
        cmocka_unit_test(test_gradcheck_pooled_sincos),
        cmocka_unit_test(test_save_load_layout_rollout),
        cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Model-based saliency: the Grad-CAM and gradient-map kernels on hand-worked
 * cases; the captioner's word log-probability and its gradient w.r.t. the
 * features against an independent computation (teacher forcing + log-softmax)
 * and finite differences; the cnn encoder's input gradient against finite
 * differences; attention maps of the shipped scenes captioner against the
 * item boxes of generated Fashion scenes; errors. (Grad-CAM and gradients of
 * classifiers are compared with PyTorch in tests/parity.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_caption_render.h"
#include "saccade/sc_saliency_model.h"
#include "saccade/sc_scenes.h"
#include "sc_test.h"

/* ---------------------------------------------------------------- kernels */
static void test_gradcam_kernel(void **state) {
    (void)state;
    /* C = 2, 1 x 3 map. weights: mean grad = (1, -0.5). */
    const float fmap[6] = {1, 2, 0, /* c0 */ 4, 0, 2 /* c1 */};
    const float grad[6] = {0, 3, 0, -0.5f, -0.5f, -0.5f};
    float cam[3];
    SC_TEST_OK(sc_gradcam(fmap, grad, 2, 1, 3, cam));
    /* 1*f0 - 0.5*f1 = (-1, 2, -1) -> ReLU (0, 2, 0) -> / 2 */
    const float want[3] = {0, 1, 0};
    sc_test_assert_close("gradcam", cam, want, 3, 0, 1e-7);
    /* all weights negative: everything ReLU'd away -> zeros, not NaN */
    const float gneg[6] = {-1, -1, -1, -1, -1, -1};
    SC_TEST_OK(sc_gradcam(fmap, gneg, 2, 1, 3, cam));
    for (int i = 0; i < 3; i++) assert_true(cam[i] == 0.0f);
    /* gradient map: max |.| over channels, / max */
    float map[3];
    const float g2[6] = {0.5f, -2, 0, -1, 1, 0};
    SC_TEST_OK(sc_gradient_map(g2, 2, 1, 3, map));
    const float want2[3] = {0.5f, 1, 0};
    sc_test_assert_close("gradient map", map, want2, 3, 0, 1e-7);
    assert_int_equal(sc_gradcam(NULL, grad, 2, 1, 3, cam), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gradient_map(g2, 0, 1, 3, map), SC_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------- captioner */
static const char *toy_words[] = {"<pad>", "a", "b", "c", "d", "<unk>", "<start>", "<end>"};
enum { TP = 4, TE = 6, TV = 8, TN = 6 };
static const int32_t toy_seq[TN] = {6, 1, 3, 2, 4, 7};

static sc_captioner *tiny_model(void) {
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(toy_words, TV, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.grid = 2;
    c.encoder_dim = TE;
    c.attention_dim = 5;
    c.embed_dim = 4;
    c.decoder_dim = 7;
    c.vocab_size = TV;
    c.dropout = 0.3f; /* eval mode must ignore it */
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_create(&c, &v, 3, &m));
    sc_vocab_free(&v);
    return m;
}

/* log p(seq[t]) from teacher forcing's logits (t = 0: the sum), in double. */
typedef struct lctx {
    sc_captioner *m;
    float *feat;
    int t;
} lctx;
static double tf_logp(void *p) {
    lctx *c = p;
    float logits[TN * TV];
    SC_TEST_OK(sc_captioner_teacher_force(c->m, c->feat, toy_seq, TN - 1, logits, NULL));
    double total = 0;
    for (int s = 1; s < TN; s++) {
        if (c->t && s != c->t) continue;
        const float *l = logits + (size_t)(s - 1) * TV;
        double mx = l[0], z = 0;
        for (int k = 1; k < TV; k++) mx = fmax(mx, l[k]);
        for (int k = 0; k < TV; k++) z += exp(l[k] - mx);
        total += l[toy_seq[s]] - mx - log(z);
    }
    return total;
}

static void test_captioner_logprob_grad(void **state) {
    (void)state;
    sc_captioner *m = tiny_model();
    float feat[TP * TE], dfeat[TP * TE];
    sc_test_fill_uniform(feat, TP * TE, -1, 1, 5);
    const int steps[] = {0, 1, 3, 5};
    for (int i = 0; i < 4; i++) {
        lctx c = {m, feat, steps[i]};
        double lp;
        SC_TEST_OK(sc_captioner_logprob_grad(m, feat, toy_seq, TN, steps[i], &lp, dfeat));
        float got = (float)lp, want = (float)tf_logp(&c);
        char what[64];
        snprintf(what, sizeof what, "log p, step %d", steps[i]);
        sc_test_assert_close(what, &got, &want, 1, 1e-5, 1e-5);
        assert_true(lp < 0);
        snprintf(what, sizeof what, "d log p / d features, step %d", steps[i]);
        sc_test_gradcheck(what, tf_logp, &c, feat, dfeat, TP * TE, TP * TE, 1e-3, 2e-2, 1e-3);
    }
    /* one step's gradient is not the caption's */
    float d1[TP * TE];
    double lp;
    SC_TEST_OK(sc_captioner_logprob_grad(m, feat, toy_seq, TN, 3, &lp, d1));
    SC_TEST_OK(sc_captioner_logprob_grad(m, feat, toy_seq, TN, 0, &lp, dfeat));
    double diff = 0;
    for (int i = 0; i < TP * TE; i++) diff += fabs(d1[i] - dfeat[i]);
    assert_true(diff > 1e-3);
    assert_int_equal(sc_captioner_logprob_grad(m, feat, toy_seq, TN, TN, &lp, d1),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_captioner_logprob_grad(m, feat, toy_seq, 1, 0, &lp, d1),
                     SC_ERR_INVALID_ARG);
    sc_captioner_free(m);
}

/* The cnn encoder's input gradient: d sum(features * g) / d image. */
enum { IS = 12 };
typedef struct ectx {
    sc_captioner *m;
    float *img, *g, *feat;
    size_t nf;
} ectx;
static double enc_loss(void *p) {
    ectx *c = p;
    SC_TEST_OK(sc_captioner_encode(c->m, c->img, IS, IS, c->feat));
    return sc_test_dot(c->feat, c->g, c->nf);
}

static void test_encoder_input_backward(void **state) {
    (void)state;
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(toy_words, TV, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.encoder = SC_CAP_ENC_CNN;
    c.grid = 3;
    c.image_size = IS;
    c.encoder_dim = 5;
    c.attention_dim = c.embed_dim = c.decoder_dim = 4;
    c.vocab_size = TV;
    const int ch[2] = {4, 5};
    sc_cnn_config cc = sc_cnn_config_make(5, 2, ch); /* CoordConv: RGB + x, y */
    cc.pool[0] = 1;
    sc_captioner *m;
    SC_TEST_OK(sc_captioner_create_cnn(&c, &cc, &v, 9, &m));
    sc_vocab_free(&v);
    size_t nf = 9 * 5, ni = 3 * IS * IS;
    float *img = sc_test_random(ni, -1, 1, 1), *g = sc_test_random(nf, -1, 1, 2);
    float *feat = calloc(nf, sizeof(float)), *dimg = calloc(ni, sizeof(float));
    ectx e = {m, img, g, feat, nf};
    assert_int_equal(sc_captioner_encode_input_backward(m, g, dimg), SC_ERR_INVALID_ARG);
    enc_loss(&e);
    SC_TEST_OK(sc_captioner_encode_input_backward(m, g, dimg));
    sc_test_gradcheck("encoder d image", enc_loss, &e, img, dimg, ni, 80, 1e-3, 2e-2, 1e-3);
    /* accumulates */
    float *d2 = calloc(ni, sizeof(float));
    memcpy(d2, dimg, ni * sizeof(float));
    enc_loss(&e);
    SC_TEST_OK(sc_captioner_encode_input_backward(m, g, d2));
    for (size_t i = 0; i < ni; i++)
        assert_true(fabsf(d2[i] - 2 * dimg[i]) <= 1e-5f + 1e-4f * fabsf(dimg[i]));
    free(img), free(g), free(feat), free(dimg), free(d2);
    sc_captioner_free(m);
}

/* ---------------------------------------------------------------- scenes */
static int in_box(const int *b, int x, int y) {
    return x >= b[0] && x < b[2] && y >= b[1] && y < b[3];
}

/* For every item whose noun (by_noun) or colour word the caption uses: the
 * map for that word has its peak in the box of an item of that class or
 * colour. (The shipped captioner has a deep output layer, ctx2out, so it
 * looks at an item at its noun's step too.) Returns hits / items. */
static double hit_rate(sc_saliency_model *sm, sc_model_saliency_method meth, int nscenes,
                       const sc_fashion_mnist *fm, int by_noun, int *nitems) {
    sc_scenes_params sp = sc_scenes_default_params();
    sp.seed = 0;
    sp.test = fm;
    int hits = 0, n = 0;
    for (int i = 0; i < nscenes; i++) {
        sc_image img;
        sc_scene_info info;
        SC_TEST_OK(sc_scenes_generate(&sp, SC_SCENES_TEST, (uint64_t)i, &img, &info));
        sc_model_saliency_params p = sc_model_saliency_default_params();
        sc_model_saliency_info mi;
        for (int k = 0; k < info.n_items; k++) {
            p.word = by_noun ? sc_scenes_noun(info.items[k].cls)
                             : sc_scenes_colour_name(info.items[k].colour);
            sc_map map;
            sc_status s = sc_saliency_model_compute(sm, meth, &img, &p, &map, &mi);
            if (s == SC_ERR_INVALID_ARG) continue; /* the caption misnamed it */
            SC_TEST_OK(s);
            assert_int_equal(map.w, 96);
            assert_int_equal(map.h, 96);
            size_t best = 0;
            for (size_t q = 1; q < 96 * 96; q++)
                if (map.data[q] > map.data[best]) best = q;
            int x = (int)(best % 96), y = (int)(best / 96), hit = 0;
            for (int j = 0; j < info.n_items; j++)
                if ((by_noun ? info.items[j].cls == info.items[k].cls
                             : info.items[j].colour == info.items[k].colour) &&
                    in_box(info.items[j].box, x, y))
                    hit = 1;
            hits += hit;
            n++;
            sc_map_free(&map);
        }
        sc_image_free(&img);
    }
    *nitems = n;
    return n ? (double)hits / n : 0.0;
}

static void test_attention_on_scenes(void **state) {
    (void)state;
    sc_fashion_mnist fm;
    SC_TEST_OK(sc_fashion_mnist_load("test", SC_FASHION_MNIST_DEFAULT_DIR, &fm));
    char *path = sc_test_source_path("assets/models/scenes-captioner.safetensors");
    sc_saliency_model *sm;
    SC_TEST_OK(sc_saliency_model_load(path, &sm));
    assert_int_equal(sc_saliency_model_get_kind(sm), SC_SMODEL_CAPTIONER);
    int n;
    double att = hit_rate(sm, SC_MSAL_ATTENTION, 40, &fm, 1, &n);
    print_message("attention: the named item's box holds the map's peak for %.3f of %d items\n",
                  att, n);
    int nc;
    double attc = hit_rate(sm, SC_MSAL_ATTENTION, 40, &fm, 0, &nc);
    print_message("attention at colour words: %.3f of %d items\n", attc, nc);
    /* Random maps hit a box about 12% of the time (an item covers ~1/9 of
     * the canvas), a uniform map's peak is the corner (never); the shipped
     * captioner's attention at nouns: 0.985 (before supervised attention 0.84). */
    assert_true(n >= 40);
    assert_true(att >= 0.75);
    /* the gradient map (through encoder and decoder) also finds the item */
    double gr = hit_rate(sm, SC_MSAL_GRADIENT, 20, &fm, 1, &n);
    print_message("gradient: %.3f of %d items\n", gr, n);
    assert_true(gr >= 0.25); /* 0.52 with the shipped model (the model of acbb0d4: 0.30; of
                                1db6bcc, 3x3 last conv: 0.52); random maps ~0.12 */

    /* aggregates: mean and max of the same alphas; a bad word names the caption */
    sc_scenes_params sp = sc_scenes_default_params();
    sp.test = &fm;
    sc_image img;
    sc_scene_info info;
    SC_TEST_OK(sc_scenes_generate(&sp, SC_SCENES_TEST, 0, &img, &info));
    sc_model_saliency_params p = sc_model_saliency_default_params();
    sc_model_saliency_info mi;
    sc_map a = {0}, b = {0};
    SC_TEST_OK(sc_saliency_model_compute(sm, SC_MSAL_ATTENTION, &img, &p, &a, &mi));
    assert_true(strlen(mi.caption) > 3);
    assert_int_equal(mi.step, -1);
    p.aggregate = SC_SAL_AGG_MAX;
    SC_TEST_OK(sc_saliency_model_compute(sm, SC_MSAL_ATTENTION, &img, &p, &b, NULL));
    double d = 0, lo = 1, hi = 0;
    for (int i = 0; i < 96 * 96; i++) {
        d += fabs(a.data[i] - b.data[i]);
        lo = fmin(lo, a.data[i]), hi = fmax(hi, a.data[i]);
    }
    assert_true(d > 1.0);
    assert_true(lo == 0.0 && hi == 1.0);
    sc_map_free(&a), sc_map_free(&b);
    p.word = "zebra";
    assert_int_equal(sc_saliency_model_compute(sm, SC_MSAL_GRADCAM, &img, &p, &a, &mi),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "zebra"));
    assert_non_null(strstr(sc_last_error(), mi.caption));
    assert_null(a.data);
    p.word = NULL;
    assert_int_equal(sc_saliency_model_compute(sm, SC_MSAL_ROLLOUT, &img, &p, &a, NULL),
                     SC_ERR_UNSUPPORTED);
    assert_non_null(strstr(sc_last_error(), "ViT"));
    p.target = 2;
    assert_int_equal(sc_saliency_model_compute(sm, SC_MSAL_GRADCAM, &img, &p, &a, NULL),
                     SC_ERR_INVALID_ARG);
    sc_image_free(&img);
    sc_saliency_model_free(sm);
    free(path);
    sc_fashion_mnist_free(&fm);
}

/* The ST-CNN through the generic entry point: sizes, range, errors. */
static void test_stcnn_model(void **state) {
    (void)state;
    char *path = sc_test_source_path("assets/models/fashion-stn.safetensors");
    sc_saliency_model *sm;
    SC_TEST_OK(sc_saliency_model_load(path, &sm));
    assert_int_equal(sc_saliency_model_get_kind(sm), SC_SMODEL_STCNN);
    sc_image img;
    SC_TEST_OK(sc_image_alloc(&img, 90, 70, 3));
    sc_test_fill_uniform(img.data, (size_t)90 * 70 * 3, 0, 0.2f, 4);
    for (int y = 20; y < 50; y++)
        for (int x = 30; x < 60; x++)
            for (int c = 0; c < 3; c++) img.data[((size_t)c * 70 + y) * 90 + x] = 0.9f;
    sc_model_saliency_info mi;
    sc_map m = {0};
    for (int meth = SC_MSAL_GRADCAM; meth <= SC_MSAL_GRADIENT; meth++) {
        SC_TEST_OK(
            sc_saliency_model_compute(sm, (sc_model_saliency_method)meth, &img, NULL, &m, &mi));
        assert_int_equal(m.w, 90);
        assert_int_equal(m.h, 70);
        float lo = 1, hi = 0;
        for (int i = 0; i < 90 * 70; i++) lo = fminf(lo, m.data[i]), hi = fmaxf(hi, m.data[i]);
        assert_true(lo >= 0 && hi > 0.9f &&
                    hi <= 1.0f); /* scaled with an absolute 1e-7, then resized */
        assert_true(mi.target >= 0 && mi.target < 10 && isfinite(mi.score));
        assert_true(strlen(mi.caption) > 0); /* the class name */
        sc_map_free(&m);
    }
    sc_model_saliency_params p = sc_model_saliency_default_params();
    assert_int_equal(sc_saliency_model_compute(sm, SC_MSAL_ATTENTION, &img, &p, &m, NULL),
                     SC_ERR_UNSUPPORTED);
    p.word = "coat";
    assert_int_equal(sc_saliency_model_compute(sm, SC_MSAL_GRADCAM, &img, &p, &m, NULL),
                     SC_ERR_INVALID_ARG);
    p.word = NULL;
    p.target = 10;
    assert_int_equal(sc_saliency_model_compute(sm, SC_MSAL_GRADCAM, &img, &p, &m, NULL),
                     SC_ERR_INVALID_ARG);
    sc_image_free(&img);
    sc_saliency_model_free(sm);
    free(path);
    /* not a model saliency understands */
    path = sc_test_source_path("assets/models/scenes-vqa.safetensors");
    assert_int_equal(sc_saliency_model_load(path, &sm), SC_ERR_UNSUPPORTED);
    assert_null(sm);
    free(path);
}

/* sc_attention_upsample is what the attention grid shows. */
static void test_attention_upsample(void **state) {
    (void)state;
    float a[4] = {0, 1, 0, 0};
    sc_map m;
    SC_TEST_OK(sc_attention_upsample(a, 2, 40, 20, &m));
    assert_int_equal(m.w, 40);
    assert_int_equal(m.h, 20);
    /* peak in the top-right quadrant, symmetric smoothing keeps the sum */
    size_t best = 0;
    double sum = 0;
    for (size_t i = 0; i < 800; i++) {
        sum += m.data[i];
        if (m.data[i] > m.data[best]) best = i;
    }
    assert_true(best % 40 >= 20 && best / 40 < 10);
    assert_true(fabs(sum / 800 - 0.25) < 0.02);
    sc_map_free(&m);
    assert_int_equal(sc_attention_upsample(a, 0, 4, 4, &m), SC_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcam_kernel),
        cmocka_unit_test(test_captioner_logprob_grad),
        cmocka_unit_test(test_encoder_input_backward),
        cmocka_unit_test(test_attention_upsample),
        cmocka_unit_test(test_attention_on_scenes),
        cmocka_unit_test(test_stcnn_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

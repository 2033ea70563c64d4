/* Captioner item heads (sc_captioner_item_heads, sc_caption_loss_opts.item_heads):
 * loss and gradients against PyTorch (tools/ref/ref_item_heads.py), a
 * finite-difference check, the total loss as the decoder's plus the items',
 * and the argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_npy.h"
#include "sc_test.h"

static const char *words[] = {"<pad>", "a", "b", "c", "<unk>", "<start>", "<end>"};
enum { B = 3, L = 5, G = 2, P = G * G, E = 6, MAXI = 3, NCLS = 4, NCOL = 3 };
static const int32_t caps[B * L] = {5, 1, 2, 6, 0, 5, 3, 6, 0, 0, 5, 2, 2, 1, 6};
static const int32_t lens[B] = {4, 3, 5};
/* example 0: two items, example 1: none, example 2: one */
static const int n_items[B] = {2, 0, 1};
static const int32_t cls[B * MAXI] = {1, 3, 0, 0, 0, 0, 2, 0, 0};
static const int32_t colour[B * MAXI] = {0, 2, 0, 0, 0, 0, 1, 0, 0};
static const uint8_t cells[B * MAXI * P] = {1, 1, 0, 0, /* ex 0 item 0 */
                                            0, 0, 0, 1, /* ex 0 item 1 */
                                            0, 0, 0, 0, /* ex 0 slot 2 (empty) */
                                            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* ex 1: no items */
                                            0, 1, 1, 1,                         /* ex 2 item 0 */
                                            0, 0, 0, 0, 0, 0, 0, 0};
static const sc_caption_items g_items = {MAXI, n_items, cls, colour, cells};
static const float W = 0.8f;

static sc_captioner *tiny(void) {
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(words, 7, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.grid = G, c.encoder_dim = E, c.attention_dim = 5, c.embed_dim = 4, c.decoder_dim = 7;
    c.vocab_size = 7;
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_create(&c, &v, 3, &m));
    sc_vocab_free(&v);
    return m;
}

typedef struct {
    sc_captioner *m;
    float *feat;
    float weight;
} ctx_t;

static double loss_of(ctx_t *c, int backward, float *dfeat, sc_caption_loss *out) {
    sc_caption_batch b = {B, L, caps, lens, NULL, &g_items};
    sc_caption_loss_opts o = {.alpha_c = 1.0f,
                              .train = 0,
                              .backward = backward,
                              .att_sup = 0.0f,
                              .item_heads = c->weight};
    SC_TEST_OK(sc_captioner_loss(c->m, c->feat, &b, &o, NULL, out, dfeat));
    return out->loss;
}

static double fd_loss(void *p) {
    sc_caption_loss out;
    return loss_of(p, 0, NULL, &out);
}

static void save(const char *dir, const char *name, const float *x, int ndim, int64_t d0,
                 int64_t d1, int64_t d2) {
    char *path = malloc(strlen(dir) + strlen(name) + 8);
    sprintf(path, "%s/%s.npy", dir, name);
    int64_t shape[3] = {d0, d1, d2};
    SC_TEST_OK(sc_npy_write(path, x, ndim, shape));
    free(path);
}

/* Items loss and gradients equal PyTorch's; the total adds them to the
 * decoder's loss; the gradients pass a finite-difference check. */
static void test_item_heads_vs_torch(void **state) {
    (void)state;
    sc_captioner *m = tiny();
    const sc_param *hp;
    size_t nh;
    SC_TEST_OK(sc_captioner_item_heads(m, NCLS, NCOL, 11, &hp, &nh));
    assert_int_equal(nh, 4);
    assert_string_equal(hp[0].name, "aux.class.weight");
    assert_int_equal(hp[0].n, NCLS * E);
    assert_int_equal(hp[3].n, NCOL);
    float *feat = sc_test_random((size_t)B * P * E, -1, 1, 5);
    float *dfeat = sc_test_zeros((size_t)B * P * E);
    ctx_t c = {m, feat, W};
    sc_caption_loss with, without;
    loss_of(&c, 1, dfeat, &with);
    assert_int_equal(with.nitems, 3);
    c.weight = 0.0f;
    loss_of(&c, 0, NULL, &without);
    c.weight = W;
    assert_true(without.items == 0.0 && without.nitems == 0);
    assert_true(fabs(with.loss - (without.loss + with.items)) < 1e-12);
    assert_true(with.ce == without.ce && with.penalty == without.penalty);

    /* PyTorch: the items term alone; the decoder's share of dfeat is taken
     * out by a run without items */
    float *dfeat0 = sc_test_zeros((size_t)B * P * E);
    c.weight = 0.0f;
    sc_caption_loss tmp;
    for (size_t k = 0; k < nh; k++) memset(hp[k].grad, 0, hp[k].n * sizeof(float));
    loss_of(&c, 1, dfeat0, &tmp);
    c.weight = W;
    for (size_t i = 0; i < (size_t)B * P * E; i++) dfeat[i] -= dfeat0[i];
    char *dir = sc_test_tmpdir("item_heads");
    save(dir, "feat", feat, 3, B, P, E);
    save(dir, "wc", hp[0].param, 2, NCLS, E, 0);
    save(dir, "bc", hp[1].param, 1, NCLS, 0, 0);
    save(dir, "wo", hp[2].param, 2, NCOL, E, 0);
    save(dir, "bo", hp[3].param, 1, NCOL, 0, 0);
    float rows[3 * (3 + P)];
    for (int b = 0, i = 0; b < B; b++)
        for (int k = 0; k < n_items[b]; k++, i++) {
            const int s = b * MAXI + k;
            rows[i * (3 + P)] = (float)b, rows[i * (3 + P) + 1] = (float)cls[s];
            rows[i * (3 + P) + 2] = (float)colour[s];
            for (int p = 0; p < P; p++) rows[i * (3 + P) + 3 + p] = cells[s * P + p];
        }
    save(dir, "items", rows, 2, 3, 3 + P, 0);
    sc_test_python("ref_item_heads.py", "'%s' %.9g", dir, (double)W);
    sc_npy ref = sc_test_npy(dir, "loss");
    assert_true(fabs(with.items - ref.data[0]) < 1e-5 * (1 + fabs(ref.data[0])));
    sc_npy_free(&ref);
    /* the heads' gradients of one backward with items */
    for (size_t k = 0; k < nh; k++) memset(hp[k].grad, 0, hp[k].n * sizeof(float));
    float *scratch = sc_test_zeros((size_t)B * P * E);
    loss_of(&c, 1, scratch, &tmp);
    const char *gn[4] = {"dwc", "dbc", "dwo", "dbo"};
    for (int k = 0; k < 4; k++) {
        sc_npy g = sc_test_npy(dir, gn[k]);
        sc_test_close_to_npy(gn[k], hp[k].grad, &g, 1e-4, 1e-6);
        sc_npy_free(&g);
    }
    sc_npy g = sc_test_npy(dir, "dfeat");
    sc_test_close_to_npy("dfeat (items)", dfeat, &g, 1e-4, 1e-6);
    sc_npy_free(&g);

    /* finite differences through the whole loss (decoder and items) */
    memset(dfeat, 0, (size_t)B * P * E * sizeof(float));
    for (size_t k = 0; k < nh; k++) memset(hp[k].grad, 0, hp[k].n * sizeof(float));
    const sc_param *dp;
    size_t nd;
    SC_TEST_OK(sc_captioner_params(m, &dp, &nd));
    for (size_t k = 0; k < nd; k++) memset(dp[k].grad, 0, dp[k].n * sizeof(float));
    loss_of(&c, 1, dfeat, &tmp);
    sc_test_gradcheck("dfeatures", fd_loss, &c, feat, dfeat, (size_t)B * P * E, 30, 1e-3, 3e-2,
                      2e-3);
    for (size_t k = 0; k < nh; k++)
        sc_test_gradcheck(hp[k].name, fd_loss, &c, hp[k].param, hp[k].grad, hp[k].n, 12, 1e-3, 3e-2,
                          2e-3);
    sc_test_rmtree(dir);
    free(dir);
    free(feat), free(dfeat), free(dfeat0), free(scratch);
    sc_captioner_free(m);
}

static void test_item_heads_errors(void **state) {
    (void)state;
    sc_captioner *m = tiny();
    float *feat = sc_test_random((size_t)B * P * E, -1, 1, 5);
    ctx_t c = {m, feat, W};
    sc_caption_batch b = {B, L, caps, lens, NULL, &g_items};
    sc_caption_loss_opts o = {
        .alpha_c = 1.0f, .train = 0, .backward = 0, .att_sup = 0.0f, .item_heads = W};
    sc_caption_loss out;
    /* no heads yet */
    assert_int_equal(sc_captioner_loss(m, feat, &b, &o, NULL, &out, NULL), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "sc_captioner_item_heads"));
    const sc_param *hp, *hp2;
    size_t nh;
    assert_int_equal(sc_captioner_item_heads(m, 0, NCOL, 1, &hp, &nh), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_captioner_item_heads(m, 2, NCOL, 1, &hp, &nh));
    /* class 3 is beyond 2 classes */
    assert_int_equal(sc_captioner_loss(m, feat, &b, &o, NULL, &out, NULL), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "class 3"));
    /* the same heads again, or other sizes refused */
    SC_TEST_OK(sc_captioner_item_heads(m, 2, NCOL, 9, &hp2, &nh));
    assert_ptr_equal(hp, hp2);
    assert_int_equal(sc_captioner_item_heads(m, NCLS, NCOL, 1, &hp, &nh), SC_ERR_INVALID_ARG);
    o.item_heads = -1.0f;
    assert_int_equal(sc_captioner_loss(m, feat, &b, &o, NULL, &out, NULL), SC_ERR_INVALID_ARG);
    /* weight 0 or no items: the term is off */
    o.item_heads = 0.0f;
    SC_TEST_OK(sc_captioner_loss(m, feat, &b, &o, NULL, &out, NULL));
    assert_true(out.items == 0.0 && out.nitems == 0);
    (void)c;
    free(feat);
    sc_captioner_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_item_heads_vs_torch),
        cmocka_unit_test(test_item_heads_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

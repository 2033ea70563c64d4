/* Attention kernels against PyTorch (tools/ref/ref_attn.py: float64 autograd
 * on float32 inputs; rollout and sin-cos in numpy): forward within rtol 1e-5,
 * gradients within rtol 1e-4. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_attention.h"

#define FWD_RTOL 1e-5
#define FWD_ATOL 1e-6
#define GRAD_RTOL 1e-4
#define GRAD_ATOL 1e-5

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_reference("attn_parity", "ref_attn.py", ">/dev/null");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sc_test_reference_free(&g_dir);
    return 0;
}

/* Loaded arrays live until the end of the test (freed by ld_free_all). */
#define MAXLD 128
static sc_npy g_ld[MAXLD];
static int g_nld;

static sc_npy *ldn(const char *prefix, const char *name) {
    char n[128];
    snprintf(n, sizeof n, "%s%s", prefix, name);
    assert_true(g_nld < MAXLD);
    g_ld[g_nld] = sc_test_npy(g_dir, n);
    return &g_ld[g_nld++];
}
static const float *ld(const char *prefix, const char *name) {
    return ldn(prefix, name)->data;
}
static void ld_free_all(void) {
    for (int i = 0; i < g_nld; i++) sc_npy_free(&g_ld[i]);
    g_nld = 0;
}

static uint8_t *mask_of(const sc_npy *a) {
    uint8_t *m = malloc(a->count);
    assert_non_null(m);
    for (size_t i = 0; i < a->count; i++) m[i] = a->data[i] != 0.0f;
    return m;
}

static void check(const char *prefix, const char *name, const float *got, double rtol,
                  double atol) {
    char n[128];
    snprintf(n, sizeof n, "%s%s", prefix, name);
    sc_npy e = sc_test_npy(g_dir, n);
    sc_test_assert_close(n, got, e.data, e.count, rtol, atol);
    double max_abs = 0, max_rel = 0;
    for (size_t i = 0; i < e.count; i++) {
        double d = fabs((double)got[i] - e.data[i]);
        max_abs = fmax(max_abs, d);
        if (fabs(e.data[i]) > 1e-3) max_rel = fmax(max_rel, d / fabs(e.data[i]));
    }
    printf("  %-36s n=%-5zu max abs err %.2e, max rel err (|ref|>1e-3) %.2e\n", n, e.count, max_abs,
           max_rel);
    sc_npy_free(&e);
}

/* ---------------------------------------------------------------- additive */

static void additive_case(const char *p, sc_addatt_act act, int split) {
    sc_npy *f = ldn(p, "f"), *h = ldn(p, "h"), *ew = ldn(p, "encoder_att.weight");
    sc_addatt_desc d = {(int)f->shape[0], (int)f->shape[1],  (int)f->shape[2],
                        (int)h->shape[1], (int)ew->shape[0], act};
    int B = d.B, P = d.P, E = d.E, H = d.H, A = d.A;
    sc_addatt_weights w = {ew->data,
                           ld(p, "encoder_att.bias"),
                           ld(p, "decoder_att.weight"),
                           ld(p, "decoder_att.bias"),
                           ld(p, "full_att.weight"),
                           ld(p, "full_att.bias")};
    float *ctx = sc_test_zeros((size_t)B * E), *alpha = sc_test_zeros((size_t)B * P);
    float *cache = sc_test_zeros(sc_addatt_cache_floats(&d));
    float *df = sc_test_zeros(f->count), *dh = sc_test_zeros(h->count);
    float *gb[6];
    size_t gn[6] = {(size_t)A * E, A, (size_t)A * H, A, A, 1};
    for (int i = 0; i < 6; i++) gb[i] = sc_test_zeros(gn[i]);
    sc_addatt_grads g = {gb[0], gb[1], gb[2], gb[3], gb[4], gb[5]};
    const float *dctx = ld(p, "dctx"), *dal = ld(p, "dalpha");
    if (!split) {
        SC_TEST_OK(sc_addatt_forward(&d, f->data, h->data, &w, ctx, alpha, cache));
        SC_TEST_OK(sc_addatt_backward(&d, f->data, h->data, &w, cache, dctx, dal, df, dh, &g));
    } else {
        float *proj = sc_test_zeros((size_t)B * P * A), *dproj = sc_test_zeros((size_t)B * P * A);
        SC_TEST_OK(sc_addatt_precompute(&d, f->data, &w, proj));
        SC_TEST_OK(sc_addatt_step_forward(&d, f->data, proj, h->data, &w, ctx, alpha, cache));
        SC_TEST_OK(
            sc_addatt_step_backward(&d, f->data, h->data, &w, cache, dctx, dal, df, dproj, dh, &g));
        SC_TEST_OK(sc_addatt_precompute_backward(&d, f->data, &w, dproj, df, &g));
        free(proj), free(dproj);
    }
    check(p, "ctx", ctx, FWD_RTOL, FWD_ATOL);
    check(p, "alpha", alpha, FWD_RTOL, FWD_ATOL);
    check(p, "df", df, GRAD_RTOL, GRAD_ATOL);
    check(p, "dh", dh, GRAD_RTOL, GRAD_ATOL);
    const char *names[6] = {"dencoder_att.weight", "dencoder_att.bias", "ddecoder_att.weight",
                            "ddecoder_att.bias",   "dfull_att.weight",  "dfull_att.bias"};
    for (int i = 0; i < 6; i++) check(p, names[i], gb[i], GRAD_RTOL, GRAD_ATOL), free(gb[i]);
    free(ctx), free(alpha), free(cache), free(df), free(dh);
    ld_free_all();
}

static void test_additive_relu_tutorial_parity(void **state) {
    (void)state;
    additive_case("add_relu_", SC_ADDATT_RELU, 0);
    additive_case("add_relu_", SC_ADDATT_RELU, 1);
}

static void test_additive_tanh_parity(void **state) {
    (void)state;
    additive_case("add_tanh_", SC_ADDATT_TANH, 0);
    additive_case("add_tanh_", SC_ADDATT_TANH, 1);
}

/* ---------------------------------------------------------------- MHA */

static void mha_case(const char *p, int self, int masks, int average) {
    sc_npy *q = ldn(p, "q"), *ipw = ldn(p, "in_proj_weight");
    sc_npy *k = self ? q : ldn(p, "k"), *v = self ? q : ldn(p, "v");
    int B = (int)q->shape[0], Lq = (int)q->shape[1], Lk = (int)k->shape[1], E = (int)q->shape[2];
    int nh = self ? 2 : 3; /* as ref_attn.py */
    (void)ipw;
    sc_mha_desc d = {B, Lq, Lk, E, nh, 0.0f};
    sc_mha_weights w = {ipw->data,
                        ld(p, "in_proj_bias"),
                        ld(p, "out_proj.weight"),
                        ld(p, "out_proj.bias"),
                        NULL,
                        NULL,
                        NULL};
    uint8_t *am = NULL, *kpm = NULL;
    if (masks) am = mask_of(ldn(p, "am")), kpm = mask_of(ldn(p, "kpm"));
    float *cache = sc_test_zeros(sc_mha_cache_floats(&d)), *out = sc_test_zeros((size_t)B * Lq * E);
    float *wts = sc_test_zeros((size_t)B * nh * Lq * Lk);
    SC_TEST_OK(sc_mha_forward(&d, &w, q->data, k->data, v->data, am, kpm, 1, NULL, cache, out, wts,
                              average));
    check(p, "out", out, FWD_RTOL, FWD_ATOL);
    check(p, "w", wts, FWD_RTOL, 1e-7);
    float *dq = sc_test_zeros(q->count), *dk = self ? dq : sc_test_zeros(k->count),
          *dv = self ? dq : sc_test_zeros(v->count);
    float *gw = sc_test_zeros((size_t)3 * E * E), *gb = sc_test_zeros((size_t)3 * E),
          *go = sc_test_zeros((size_t)E * E), *gob = sc_test_zeros(E);
    sc_mha_grads g = {gw, gb, go, gob};
    SC_TEST_OK(sc_mha_backward(&d, &w, q->data, k->data, v->data, cache, 1, ld(p, "dout"), dq, dk,
                               dv, &g));
    check(p, "dq", dq, GRAD_RTOL, GRAD_ATOL);
    if (!self) check(p, "dk", dk, GRAD_RTOL, GRAD_ATOL), check(p, "dv", dv, GRAD_RTOL, GRAD_ATOL);
    check(p, "din_proj_weight", gw, GRAD_RTOL, GRAD_ATOL);
    check(p, "din_proj_bias", gb, GRAD_RTOL, GRAD_ATOL);
    check(p, "dout_proj.weight", go, GRAD_RTOL, GRAD_ATOL);
    check(p, "dout_proj.bias", gob, GRAD_RTOL, GRAD_ATOL);
    if (!self) free(dk), free(dv);
    free(dq), free(gw), free(gb), free(go), free(gob), free(cache), free(out), free(wts);
    free(am), free(kpm);
    ld_free_all();
}

static void test_mha_self_masked_per_head_parity(void **state) {
    (void)state;
    mha_case("mhas_", 1, 1, 0);
}

/* long enough for the fused Q/K/V projection path of sc_mha_forward */
static void test_mha_self_fused_qkv_parity(void **state) {
    (void)state;
    mha_case("mhaf_", 1, 1, 0);
}

static void test_mha_cross_averaged_parity(void **state) {
    (void)state;
    mha_case("mhac_", 0, 0, 1);
}

/* ---------------------------------------------------------------- transformer layer */

static void tel_case(const char *p, int norm_first, sc_tel_act act, int masks, int train) {
    sc_npy *x = ldn(p, "x"), *l1 = ldn(p, "linear1.weight");
    int B = (int)x->shape[0], L = (int)x->shape[1], E = (int)x->shape[2], F = (int)l1->shape[0];
    sc_tel_desc d = {B, L, E, 2, F, 0.0f, act, norm_first, 1e-5f};
    sc_tel_weights w = {{ld(p, "self_attn.in_proj_weight"), ld(p, "self_attn.in_proj_bias"),
                         ld(p, "self_attn.out_proj.weight"), ld(p, "self_attn.out_proj.bias"), NULL,
                         NULL, NULL},
                        l1->data,
                        ld(p, "linear1.bias"),
                        ld(p, "linear2.weight"),
                        ld(p, "linear2.bias"),
                        ld(p, "norm1.weight"),
                        ld(p, "norm1.bias"),
                        ld(p, "norm2.weight"),
                        ld(p, "norm2.bias")};
    uint8_t *kpm = masks ? mask_of(ldn(p, "kpm")) : NULL;
    float *cache = sc_test_zeros(sc_tel_cache_floats(&d)), *y = sc_test_zeros(x->count),
          *dx = sc_test_zeros(x->count);
    SC_TEST_OK(sc_tel_forward(&d, &w, x->data, NULL, kpm, train, NULL, cache, y, NULL));
    check(p, "y", y, FWD_RTOL, FWD_ATOL);
    const char *names[12] = {"dself_attn.in_proj_weight",
                             "dself_attn.in_proj_bias",
                             "dself_attn.out_proj.weight",
                             "dself_attn.out_proj.bias",
                             "dlinear1.weight",
                             "dlinear1.bias",
                             "dlinear2.weight",
                             "dlinear2.bias",
                             "dnorm1.weight",
                             "dnorm1.bias",
                             "dnorm2.weight",
                             "dnorm2.bias"};
    size_t n[12] = {(size_t)3 * E * E,
                    (size_t)3 * E,
                    (size_t)E * E,
                    E,
                    (size_t)F * E,
                    F,
                    (size_t)E * F,
                    E,
                    E,
                    E,
                    E,
                    E};
    float *gb[12];
    for (int i = 0; i < 12; i++) gb[i] = sc_test_zeros(n[i]);
    sc_tel_grads g = {
        {gb[0], gb[1], gb[2], gb[3]}, gb[4], gb[5], gb[6], gb[7], gb[8], gb[9], gb[10], gb[11]};
    SC_TEST_OK(sc_tel_backward(&d, &w, x->data, cache, train, ld(p, "dy"), dx, &g));
    check(p, "dx", dx, GRAD_RTOL, GRAD_ATOL);
    for (int i = 0; i < 12; i++) check(p, names[i], gb[i], GRAD_RTOL, GRAD_ATOL), free(gb[i]);
    free(cache), free(y), free(dx), free(kpm);
    ld_free_all();
}

static void test_tel_post_norm_relu_parity(void **state) {
    (void)state;
    tel_case("telpost_", 0, SC_TEL_RELU, 1, 1);
}

static void test_tel_pre_norm_gelu_parity(void **state) {
    (void)state;
    tel_case("telpre_", 1, SC_TEL_GELU, 0, 0);
}

/* ---------------------------------------------------------------- ViT pieces */

static void test_patch_embed_vs_conv2d_parity(void **state) {
    (void)state;
    sc_npy *x = ldn("pe_", "x"), *w = ldn("pe_", "w");
    int B = (int)x->shape[0], C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    int D = (int)w->shape[0], p = (int)w->shape[2];
    int N = (H / p) * (W / p);
    float *ws = sc_test_zeros(sc_patch_embed_ws_floats(B, C, H, W, p)),
          *y = sc_test_zeros((size_t)B * N * D);
    SC_TEST_OK(sc_patch_embed_forward(B, C, H, W, p, D, x->data, w->data, ld("pe_", "b"), ws, y));
    check("pe_", "y", y, FWD_RTOL, FWD_ATOL);
    float *dx = sc_test_zeros(x->count), *dw = sc_test_zeros(w->count), *db = sc_test_zeros(D);
    SC_TEST_OK(sc_patch_embed_backward(B, C, H, W, p, D, x->data, w->data, ld("pe_", "dy"), ws, dx,
                                       dw, db));
    check("pe_", "dx", dx, GRAD_RTOL, GRAD_ATOL); /* zero on the ignored last row */
    check("pe_", "dw", dw, GRAD_RTOL, GRAD_ATOL);
    check("pe_", "db", db, GRAD_RTOL, GRAD_ATOL);
    free(ws), free(y), free(dx), free(dw), free(db);
    ld_free_all();
}

static void test_sincos_vs_mae_numpy(void **state) {
    (void)state;
    float *o = sc_test_zeros(3 * 5 * 16);
    SC_TEST_OK(sc_pos_embed_sincos_2d(3, 5, 16, o));
    check("", "sincos_3x5x16", o, FWD_RTOL, FWD_ATOL);
    free(o);
    o = sc_test_zeros(14 * 14 * 64);
    SC_TEST_OK(sc_pos_embed_sincos_2d(14, 14, 64, o));
    check("", "sincos_14x14x64", o, FWD_RTOL, FWD_ATOL);
    free(o);
}

static void test_rollout_vs_numpy(void **state) {
    (void)state;
    sc_npy *a = ldn("roll_", "attn");
    int nl = (int)a->shape[0], nh = (int)a->shape[1], gh = 3, gw = 4;
    assert_int_equal(a->shape[2], 1 + gh * gw);
    float out[12];
    SC_TEST_OK(sc_attention_rollout(nl, nh, gh, gw, a->data, 0.0f, out));
    check("roll_", "out", out, FWD_RTOL, FWD_ATOL);
    SC_TEST_OK(sc_attention_rollout(nl, nh, gh, gw, a->data, 0.3f, out));
    check("roll_", "out_d30", out, FWD_RTOL, FWD_ATOL);
    float R[13 * 13];
    SC_TEST_OK(sc_attention_rollout_matrix(nl, nh, 13, a->data, 0.3f, R));
    check("roll_", "matrix_d30", R, FWD_RTOL, FWD_ATOL);
    ld_free_all();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_additive_relu_tutorial_parity),
        cmocka_unit_test(test_additive_tanh_parity),
        cmocka_unit_test(test_mha_self_masked_per_head_parity),
        cmocka_unit_test(test_mha_self_fused_qkv_parity),
        cmocka_unit_test(test_mha_cross_averaged_parity),
        cmocka_unit_test(test_tel_post_norm_relu_parity),
        cmocka_unit_test(test_tel_pre_norm_gelu_parity),
        cmocka_unit_test(test_patch_embed_vs_conv2d_parity),
        cmocka_unit_test(test_sincos_vs_mae_numpy),
        cmocka_unit_test(test_rollout_vs_numpy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

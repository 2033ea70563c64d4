/* The packed pre-norm encoder layers (src/tel_packed.c) against
 * sc_tel_forward (itself checked against PyTorch in test_attention): stacks
 * of one and three layers, GELU and ReLU, token counts below, at and above
 * the 16 / 32 column tiles, one and two threads; the fused attention head
 * against sc_sdpa_forward; the vectorised GELU against libm's erfc in double; argument errors. The
 * suite runs this twice: with the AVX-512 kernels where the CPU has them, and with
 * SACCADE_GEMM=openblas (the scalar and OpenBLAS fallbacks). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_blas.h"
#include "tel_packed.h"
#include "vmath.h"

enum { E = 48, NH = 3, F = 80, MAXL = 70, MAXDEPTH = 3 };

typedef struct layer_w {
    float *in_w, *in_b, *out_w, *out_b, *l1w, *l1b, *l2w, *l2b, *n1w, *n1b, *n2w, *n2b;
} layer_w;

static float *rnd(size_t n, float lo, float hi, uint64_t seed) {
    float *p = sc_test_random(n, lo, hi, seed);
    assert_non_null(p);
    return p;
}

static layer_w make_layer(uint64_t seed) {
    layer_w w = {rnd(3 * E * E, -0.25f, 0.25f, seed + 1),
                 rnd(3 * E, -0.1f, 0.1f, seed + 2),
                 rnd(E * E, -0.2f, 0.2f, seed + 3),
                 rnd(E, -0.1f, 0.1f, seed + 4),
                 rnd(F * E, -0.2f, 0.2f, seed + 5),
                 rnd(F, -0.3f, 0.3f, seed + 6),
                 rnd(E * F, -0.15f, 0.15f, seed + 7),
                 rnd(E, -0.1f, 0.1f, seed + 8),
                 rnd(E, 0.5f, 1.5f, seed + 9),
                 rnd(E, -0.2f, 0.2f, seed + 10),
                 rnd(E, 0.5f, 1.5f, seed + 11),
                 rnd(E, -0.2f, 0.2f, seed + 12)};
    return w;
}

static void free_layer(layer_w *w) {
    float *p[] = {w->in_w, w->in_b, w->out_w, w->out_b, w->l1w, w->l1b,
                  w->l2w,  w->l2b,  w->n1w,   w->n1b,   w->n2w, w->n2b};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

static sc_tel_weights weights_of(const layer_w *w) {
    sc_tel_weights t = {{w->in_w, w->in_b, w->out_w, w->out_b, NULL, NULL, NULL},
                        w->l1w,
                        w->l1b,
                        w->l2w,
                        w->l2b,
                        w->n1w,
                        w->n1b,
                        w->n2w,
                        w->n2b};
    return t;
}

/* depth layers on L tokens, nt threads: packed (feature-major) against
 * sc_tel_forward (token-major). */
static void check_stack(int depth, int L, sc_tel_act act, int nt) {
    sc_tel_desc d = {1, L, E, NH, F, 0.0f, act, 1, 1e-5f};
    layer_w lw[MAXDEPTH];
    sc_tel_weights tw[MAXDEPTH];
    sc_tel_packed *packed[MAXDEPTH];
    for (int l = 0; l < depth; l++) {
        lw[l] = make_layer(100 * (uint64_t)l + 7);
        tw[l] = weights_of(&lw[l]);
        SC_TEST_OK(sc_tel_packed_create(&d, &tw[l], &packed[l]));
        assert_int_equal(
            sc_tel_packed_bytes(packed[l]) >= (size_t)(4 * E * E + 2 * E * F) * sizeof(float), 1);
    }
    const size_t n = (size_t)L * E;
    float *x = rnd(n, -2.0f, 2.0f, (uint64_t)L), *ref = malloc(n * sizeof(float)),
          *tmp = malloc(n * sizeof(float)), *xt = malloc(n * sizeof(float)),
          *got = malloc(n * sizeof(float));
    float *cache = malloc(sc_tel_cache_floats(&d) * sizeof(float));
    const size_t wsn = sc_tel_packed_ws_floats(packed[0], L, nt);
    assert_true(wsn > 0);
    float *ws = malloc(wsn * sizeof(float));
    assert_true(ref && tmp && xt && got && cache && ws);
    memcpy(ref, x, n * sizeof(float));
    for (int l = 0; l < depth; l++) {
        SC_TEST_OK(sc_tel_forward(&d, &tw[l], ref, NULL, NULL, 0, NULL, cache, tmp, NULL));
        memcpy(ref, tmp, n * sizeof(float));
    }
    sc_transpose_f32(x, L, E, xt);
    SC_TEST_OK(sc_tel_packed_forward(packed, depth, L, xt, ws, nt));
    sc_transpose_f32(xt, E, L, got);
    char what[96];
    snprintf(what, sizeof what, "%d layer(s), %d tokens, %s, %d thread(s)", depth, L,
             act == SC_TEL_GELU ? "gelu" : "relu", nt);
    sc_test_assert_close(what, got, ref, n, 2e-5, 2e-5);
    for (int l = 0; l < depth; l++) sc_tel_packed_free(packed[l]), free_layer(&lw[l]);
    free(x), free(ref), free(tmp), free(xt), free(got), free(cache), free(ws);
}

static void test_against_tel_forward(void **state) {
    (void)state;
    const int Ls[] = {1, 16, 33, MAXL};
    for (size_t i = 0; i < sizeof Ls / sizeof Ls[0]; i++)
        for (int nt = 1; nt <= 2; nt++) check_stack(1, Ls[i], SC_TEL_GELU, nt);
    check_stack(3, 37, SC_TEL_GELU, 2);
    check_stack(2, 37, SC_TEL_RELU, 2);
}

/* The same input split between one and two threads gives the same output:
 * bit for bit with saccade's kernels (each share sums in a fixed order). */
static void test_threads_same_bits(void **state) {
    (void)state;
    sc_tel_desc d = {1, MAXL, E, NH, F, 0.0f, SC_TEL_GELU, 1, 1e-5f};
    layer_w lw = make_layer(3);
    sc_tel_weights tw = weights_of(&lw);
    sc_tel_packed *p;
    SC_TEST_OK(sc_tel_packed_create(&d, &tw, &p));
    const size_t n = (size_t)MAXL * E;
    float *a = rnd(n, -2.0f, 2.0f, 5), *b = malloc(n * sizeof(float));
    float *ws = malloc(sc_tel_packed_ws_floats(p, MAXL, 2) * sizeof(float));
    assert_true(b && ws);
    memcpy(b, a, n * sizeof(float));
    SC_TEST_OK(sc_tel_packed_forward(&p, 1, MAXL, a, ws, 1));
    SC_TEST_OK(sc_tel_packed_forward(&p, 1, MAXL, b, ws, 2));
    if (strcmp(sc_gemm_packed_kernel(), "openblas") != 0)
        assert_memory_equal(a, b, n * sizeof(float));
    else /* OpenBLAS may split its sums differently */
        sc_test_assert_close("1 and 2 threads", a, b, n, 1e-6, 1e-6);
    sc_tel_packed_free(p), free_layer(&lw), free(a), free(b), free(ws);
}

static void test_gelu_accuracy(void **state) {
    (void)state;
    enum { N = 200001 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float)),
          *want = malloc(N * sizeof(float));
    assert_true(x && y && want);
    for (int i = 0; i < N; i++) { /* -12 .. 12, then values near 0 */
        x[i] = i < N - 1000 ? -12.0f + 24.0f * (float)i / (float)(N - 1001)
                            : ldexpf((float)(i % 2 ? 1 : -1), -(i % 120));
        const double v = x[i];
        want[i] = (float)(0.5 * v * erfc(-v * 0.70710678118654752440)); /* no cancelling */
    }
    sc_vgelu(y, x, N);
    /* relative, also for negative x where gelu is tiny (the erfc form); the
     * float rounding of z^2 in exp(-z^2) dominates for large |x| */
    double worst = sc_test_assert_close("gelu", y, want, N, 2e-6, 1e-9);
    printf("  gelu: largest relative error %.2e\n", worst);
    float nan_in = NAN, nan_out = 0.0f;
    sc_vgelu(&nan_out, &nan_in, 1);
    assert_true(isnan(nan_out));
    free(x), free(y), free(want);
}

/* One head of the fused attention (sc_attn_head) against sc_sdpa_forward
 * (checked against PyTorch in test_attention_parity): BLIP's and ViT-B/16's
 * token counts (577, 197) at head size 64, counts below, at and above the
 * 8-key panels, the 4-key half panels and the 32- or 24-query blocks, head
 * sizes that are not a multiple of 8 or 4, padded row strides. On the
 * fallback path it reports that it needs the AVX2 or AVX-512 kernels (the
 * packed layers then multiply through sc_gemm_packed, checked by
 * test_against_tel_forward). */
static void check_head(int L, int dh, int ld) {
    const size_t n = (size_t)L * dh, nf = (size_t)dh * ld;
    float *q = rnd(n, -1.5f, 1.5f, 31 + (uint64_t)L), *k = rnd(n, -1.5f, 1.5f, 32 + (uint64_t)L),
          *v = rnd(n, -1.0f, 1.0f, 33 + (uint64_t)L), *want = malloc(n * sizeof(float));
    float *qf = calloc(nf, sizeof(float)), *kf = calloc(nf, sizeof(float)),
          *vf = calloc(nf, sizeof(float)), *ctx = malloc(nf * sizeof(float)),
          *got = malloc(n * sizeof(float));
    float *ws = malloc(sc_attn_head_ws_floats(L, dh) * sizeof(float)),
          *attn = malloc((size_t)L * L * sizeof(float));
    assert_true(want && qf && kf && vf && ctx && got && ws && attn);
    SC_TEST_OK(
        sc_sdpa_forward(1, 1, L, L, dh, dh, q, k, v, NULL, NULL, 0.0f, 0, NULL, want, attn, NULL));
    /* feature-major rows ld apart, as the QKV product writes them */
    const float *tm[3] = {q, k, v};
    float *fm[3] = {qf, kf, vf};
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < dh; c++) fm[i][(size_t)c * ld + t] = tm[i][(size_t)t * dh + c];
    for (size_t i = 0; i < nf; i++) ctx[i] = 777.0f;
    sc_status st = sc_attn_head(L, dh, qf, kf, vf, ld, 1.0f / sqrtf((float)dh), ctx, ld, ws);
    if (!sc_vmath_level()) {
        assert_int_equal(st, SC_ERR_UNSUPPORTED);
    } else {
        SC_TEST_OK(st);
        for (int c = 0; c < dh; c++) {
            for (int t = 0; t < L; t++) got[(size_t)t * dh + c] = ctx[(size_t)c * ld + t];
            for (int t = L; t < ld; t++) assert_true(ctx[(size_t)c * ld + t] == 777.0f);
        }
        char what[64];
        snprintf(what, sizeof what, "attention head L %d dh %d", L, dh);
        sc_test_assert_close(what, got, want, n, 1e-5, 1e-5);
    }
    free(q), free(k), free(v), free(want), free(qf), free(kf), free(vf), free(ctx), free(got),
        free(ws), free(attn);
}

static void test_attention_head(void **state) {
    (void)state;
    check_head(577, 64, 577);
    check_head(197, 64, 200);
    const int Ls[] = {1, 3, 7, 8, 9, 23, 24, 25, 31, 32, 33, 49, 65};
    for (size_t i = 0; i < sizeof Ls / sizeof Ls[0]; i++) check_head(Ls[i], 16, Ls[i] + 3);
    check_head(37, 12, 37);
    check_head(29, 10, 30);
    check_head(50, 6, 50);
    float x[4] = {0}, ws[64];
    assert_int_equal(sc_attn_head(0, 4, x, x, x, 1, 1.0f, x, 1, ws), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_attn_head(2, 1, x, x, x, 1, 1.0f, x, 2, ws), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_attn_head(1, 1, x, x, x, 1, 1.0f, NULL, 1, ws), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_attn_head_ws_floats(0, 64), 0);
}

static void test_bad_arguments(void **state) {
    (void)state;
    layer_w lw = make_layer(9);
    sc_tel_weights tw = weights_of(&lw);
    sc_tel_packed *p = (sc_tel_packed *)&lw;
    sc_tel_desc post = {1, 4, E, NH, F, 0.0f, SC_TEL_GELU, 0, 1e-5f};
    assert_int_equal(sc_tel_packed_create(&post, &tw, &p), SC_ERR_INVALID_ARG);
    assert_null(p);
    assert_non_null(strstr(sc_last_error(), "pre-norm"));
    sc_tel_desc odd = {1, 4, E, 5, F, 0.0f, SC_TEL_GELU, 1, 1e-5f};
    assert_int_equal(sc_tel_packed_create(&odd, &tw, &p), SC_ERR_INVALID_ARG);
    tw.linear1_weight = NULL;
    sc_tel_desc d = {1, 4, E, NH, F, 0.0f, SC_TEL_GELU, 1, 1e-5f};
    assert_int_equal(sc_tel_packed_create(&d, &tw, &p), SC_ERR_INVALID_ARG);
    tw = weights_of(&lw);
    SC_TEST_OK(sc_tel_packed_create(&d, &tw, &p));
    float x[E * 4], ws[16];
    assert_int_equal(sc_tel_packed_forward(&p, 1, 0, x, ws, 1), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_tel_packed_forward(&p, 0, 4, x, ws, 1), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_tel_packed_forward(&p, 1, 4, x, NULL, 1), SC_ERR_INVALID_ARG);
    sc_tel_packed_free(p);
    sc_tel_packed_free(NULL);
    free_layer(&lw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_tel_forward), cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_gelu_accuracy),       cmocka_unit_test(test_attention_head),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

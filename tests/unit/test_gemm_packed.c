/* sc_gemm_pack / sc_gemm_packed against a float64 reference: edge panels
 * (rows not a multiple of 8 or 4, columns not a multiple of the AVX-512
 * kernel's 32 or the AVX2 kernel's 24, last panels of at most 16, 8 or 4
 * columns), K and N longer than one block, padded leading dimensions, the
 * fused epilogue (bias, residual, ReLU or the exact GELU), row and column
 * splits giving the same results (bit for bit with saccade's kernels),
 * nothing written outside the rows and columns asked for, and argument
 * errors. The suite runs this three times: with the kernel picked for the
 * CPU (AVX-512, else OpenBLAS), with SACCADE_GEMM=avx2 (the AVX2 tiles, also
 * on an AVX-512 CPU) and with SACCADE_GEMM=openblas (the fallback). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_blas.h"

/* Split products equal the whole one: bitwise with saccade's kernel. */
static void assert_same(const float *a, const float *b, size_t n) {
    if (strcmp(sc_gemm_packed_kernel(), "openblas") != 0)
        assert_memory_equal(a, b, n * sizeof(float));
    else
        sc_test_assert_close("split product", a, b, n, 1e-5, 1e-5);
}

static float *fnew(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

typedef struct shape {
    int M, N, K;
} shape;

static const shape SHAPES[] = {{1, 1, 1},     {13, 5, 7},    {24, 33, 300}, {64, 600, 40},
                               {17, 16, 513}, {40, 48, 256}, {8, 1100, 3},  {9, 31, 257},
                               {19, 36, 300}, {16, 577, 70}, {11, 3, 520},  {9, 1153, 20}};

/* C = A B + bias + res, relu, in double; entries of C the product covers. */
static void reference(const shape *s, const float *A, int lda, const float *B, int ldb,
                      const float *bias, const float *res, int ldc, int relu, double *out,
                      double *scale) {
    for (int m = 0; m < s->M; m++)
        for (int n = 0; n < s->N; n++) {
            double acc = 0, mag = 0;
            for (int k = 0; k < s->K; k++) {
                double p = (double)A[(size_t)m * lda + k] * B[(size_t)k * ldb + n];
                acc += p;
                mag += fabs(p);
            }
            if (bias) acc += bias[m];
            if (res) acc += res[(size_t)m * ldc + n];
            if (relu && acc < 0) acc = 0;
            out[(size_t)m * s->N + n] = acc;
            scale[(size_t)m * s->N + n] = mag + 1.0;
        }
}

static void check_shape(const shape *s, int with_ep) {
    const int lda = s->K + 2, ldb = s->N + 3, ldc = s->N + 5;
    float *A = fnew((size_t)s->M * lda), *B = fnew((size_t)s->K * ldb);
    float *bias = fnew((size_t)s->M), *res = fnew((size_t)s->M * ldc);
    sc_test_fill_uniform(A, (size_t)s->M * lda, -1, 1, 11);
    sc_test_fill_uniform(B, (size_t)s->K * ldb, -1, 1, 12);
    sc_test_fill_uniform(bias, (size_t)s->M, -1, 1, 13);
    sc_test_fill_uniform(res, (size_t)s->M * ldc, -1, 1, 14);
    const size_t np = sc_gemm_pack_floats(s->M, s->K), nws = sc_gemm_packed_workspace_floats(s->N);
    assert_true(np >= (size_t)s->M * s->K);
    assert_true(nws > 0);
    float *Ap = fnew(np), *ws = fnew(nws);
    SC_TEST_OK(sc_gemm_pack(s->M, s->K, A, lda, Ap));

    const sc_gemm_epilogue ep = {bias, res, 1, 0};
    const sc_gemm_epilogue *e = with_ep ? &ep : NULL;
    double *want = calloc((size_t)s->M * s->N, sizeof(double)),
           *scale = calloc((size_t)s->M * s->N, sizeof(double));
    assert_non_null(want);
    assert_non_null(scale);
    reference(s, A, lda, B, ldb, with_ep ? bias : NULL, with_ep ? res : NULL, ldc, with_ep, want,
              scale);

    /* Whole product; the padding columns of C keep a sentinel. */
    const size_t nc = (size_t)s->M * ldc;
    float *C = fnew(nc), *C2 = fnew(nc);
    for (size_t i = 0; i < nc; i++) C[i] = C2[i] = 1234.5f;
    SC_TEST_OK(sc_gemm_packed(Ap, s->M, s->K, 0, s->M, s->N, B, ldb, C, ldc, e, ws));
    for (int m = 0; m < s->M; m++) {
        for (int n = 0; n < s->N; n++) {
            const double got = C[(size_t)m * ldc + n], w = want[(size_t)m * s->N + n];
            if (fabs(got - w) > 2e-6 * scale[(size_t)m * s->N + n])
                fail_msg("M %d N %d K %d ep %d: C[%d][%d] = %.9g, want %.9g", s->M, s->N, s->K,
                         with_ep, m, n, got, w);
        }
        for (int n = s->N; n < ldc; n++) assert_true(C[(size_t)m * ldc + n] == 1234.5f);
    }

    /* Rows split at a multiple of SC_GEMM_ROWS: bit-identical, and a call
     * leaves the other rows alone. */
    if (s->M > SC_GEMM_ROWS) {
        SC_TEST_OK(
            sc_gemm_packed(Ap, s->M, s->K, SC_GEMM_ROWS, s->M, s->N, B, ldb, C2, ldc, e, ws));
        for (size_t i = 0; i < (size_t)SC_GEMM_ROWS * ldc; i++) assert_true(C2[i] == 1234.5f);
        SC_TEST_OK(sc_gemm_packed(Ap, s->M, s->K, 0, SC_GEMM_ROWS, s->N, B, ldb, C2, ldc, e, ws));
        assert_same(C, C2, nc);
    }
    /* Columns split (B and C offset): the same numbers. */
    if (s->N > 1) {
        const int h = s->N / 2;
        for (size_t i = 0; i < nc; i++) C2[i] = 1234.5f;
        sc_gemm_epilogue ep2 = ep;
        SC_TEST_OK(sc_gemm_packed(Ap, s->M, s->K, 0, s->M, h, B, ldb, C2, ldc, e, ws));
        ep2.res = res + h;
        SC_TEST_OK(sc_gemm_packed(Ap, s->M, s->K, 0, s->M, s->N - h, B + h, ldb, C2 + h, ldc,
                                  with_ep ? &ep2 : NULL, ws));
        assert_same(C, C2, nc);
    }
    free(A), free(B), free(bias), free(res), free(Ap), free(ws), free(want), free(scale), free(C),
        free(C2);
}

static void test_products(void **state) {
    (void)state;
    const char *k = sc_gemm_packed_kernel(), *env = getenv("SACCADE_GEMM");
    assert_true(strcmp(k, "avx512") == 0 || strcmp(k, "avx2") == 0 || strcmp(k, "openblas") == 0);
    if (env && strcmp(env, "openblas") == 0) assert_string_equal(k, "openblas");
#if defined(__x86_64__) && defined(__GNUC__)
    if (env && strcmp(env, "avx2") == 0 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        assert_string_equal(k, "avx2");
#endif
    printf("  kernel: %s\n", k);
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++) {
        check_shape(&SHAPES[i], 0);
        check_shape(&SHAPES[i], 1);
    }
}

/* Only the epilogue's parts that are set apply: bias alone, relu alone. */
static void test_partial_epilogue(void **state) {
    (void)state;
    enum { M = 9, N = 20, K = 5 };
    float A[M * K], B[K * N], bias[M], C[M * N], want[M * N];
    sc_test_fill_uniform(A, M * K, -1, 1, 1);
    sc_test_fill_uniform(B, K * N, -1, 1, 2);
    sc_test_fill_uniform(bias, M, -1, 1, 3);
    float *Ap = fnew(sc_gemm_pack_floats(M, K)), *ws = fnew(sc_gemm_packed_workspace_floats(N));
    SC_TEST_OK(sc_gemm_pack(M, K, A, K, Ap));
    for (int relu = 0; relu < 2; relu++) {
        const sc_gemm_epilogue ep = {relu ? NULL : bias, NULL, relu, 0};
        SC_TEST_OK(sc_gemm_packed(Ap, M, K, 0, M, N, B, N, C, N, &ep, ws));
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double acc = relu ? 0 : bias[m];
                for (int k = 0; k < K; k++) acc += (double)A[m * K + k] * B[k * N + n];
                if (relu && acc < 0) acc = 0;
                want[m * N + n] = (float)acc;
            }
        sc_test_assert_close("partial epilogue", C, want, M * N, 1e-5, 1e-6);
    }
    free(Ap), free(ws);
}

/* The exact GELU in the store after bias and residual (a ViT's first MLP
 * product), against erfc in double; column splits moving columns between
 * the wide, 16- and 4-column kernels give the same bits. */
static void test_gelu_epilogue(void **state) {
    (void)state;
    const shape shapes[] = {{16, 577, 70}, {9, 31, 257}, {11, 3, 520}, {24, 36, 300}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        const int ldc = s->N + 1;
        float *A = fnew((size_t)s->M * s->K), *B = fnew((size_t)s->K * s->N);
        float *bias = fnew((size_t)s->M), *res = fnew((size_t)s->M * ldc);
        float *C = fnew((size_t)s->M * ldc), *C2 = fnew((size_t)s->M * ldc);
        double *want = calloc((size_t)s->M * s->N, sizeof(double)),
               *scale = calloc((size_t)s->M * s->N, sizeof(double));
        assert_true(want && scale);
        sc_test_fill_uniform(A, (size_t)s->M * s->K, -1, 1, 21);
        sc_test_fill_uniform(B, (size_t)s->K * s->N, -1, 1, 22);
        sc_test_fill_uniform(bias, (size_t)s->M, -1, 1, 23);
        sc_test_fill_uniform(res, (size_t)s->M * ldc, -1, 1, 24);
        float *Ap = fnew(sc_gemm_pack_floats(s->M, s->K)),
              *ws = fnew(sc_gemm_packed_workspace_floats(s->N));
        SC_TEST_OK(sc_gemm_pack(s->M, s->K, A, s->K, Ap));
        reference(s, A, s->K, B, s->N, bias, res, ldc, 0, want, scale);
        const sc_gemm_epilogue ep = {bias, res, 0, 1};
        SC_TEST_OK(sc_gemm_packed(Ap, s->M, s->K, 0, s->M, s->N, B, s->N, C, ldc, &ep, ws));
        for (int m = 0; m < s->M; m++)
            for (int n = 0; n < s->N; n++) {
                const double x = want[(size_t)m * s->N + n],
                             g = 0.5 * x * erfc(-x * 0.70710678118654752440),
                             got = C[(size_t)m * ldc + n];
                /* the product's rounding (|gelu'| <= 1.13) and the GELU's own */
                if (fabs(got - g) > 2.5e-6 * scale[(size_t)m * s->N + n] + 2e-6 * fabs(g))
                    fail_msg("gelu epilogue M %d N %d K %d: C[%d][%d] = %.9g, want %.9g", s->M,
                             s->N, s->K, m, n, got, g);
            }
        const int h = s->N / 2 > 0 ? s->N / 2 : 1;
        sc_gemm_epilogue ep2 = ep;
        SC_TEST_OK(sc_gemm_packed(Ap, s->M, s->K, 0, s->M, h, B, s->N, C2, ldc, &ep, ws));
        ep2.res = res + h;
        if (s->N > h)
            SC_TEST_OK(sc_gemm_packed(Ap, s->M, s->K, 0, s->M, s->N - h, B + h, s->N, C2 + h, ldc,
                                      &ep2, ws));
        for (int m = 0; m < s->M; m++)
            assert_same(C + (size_t)m * ldc, C2 + (size_t)m * ldc, (size_t)s->N);
        free(A), free(B), free(bias), free(res), free(C), free(C2), free(want), free(scale),
            free(Ap), free(ws);
    }
}

/* A workspace sized for N columns holds any call on fewer columns, whose
 * one block may be wider than N's first (N 1100 takes 480 or 512 columns
 * first; 600 and 640 columns are one block): nothing written past it, and
 * the products right. */
static void test_workspace_bound(void **state) {
    (void)state;
    enum { M = 9, K = 300, NW = 1100, GUARD = 4096 };
    float *A = fnew((size_t)M * K), *B = fnew((size_t)K * NW), *C = fnew((size_t)M * NW);
    double *want = calloc((size_t)M * NW, sizeof(double)),
           *scale = calloc((size_t)M * NW, sizeof(double));
    assert_true(want && scale);
    sc_test_fill_uniform(A, (size_t)M * K, -1, 1, 31);
    sc_test_fill_uniform(B, (size_t)K * NW, -1, 1, 32);
    const size_t wn = sc_gemm_packed_workspace_floats(NW);
    float *Ap = fnew(sc_gemm_pack_floats(M, K)), *ws = fnew(wn + GUARD);
    SC_TEST_OK(sc_gemm_pack(M, K, A, K, Ap));
    const int Ns[] = {NW, 600, 620, 640, 577, 550};
    for (size_t i = 0; i < sizeof Ns / sizeof Ns[0]; i++) {
        for (size_t g = 0; g < GUARD; g++) ws[wn + g] = -7.0f;
        const shape s = {M, Ns[i], K};
        SC_TEST_OK(sc_gemm_packed(Ap, M, K, 0, M, s.N, B, NW, C, NW, NULL, ws));
        for (size_t g = 0; g < GUARD; g++)
            if (ws[wn + g] != -7.0f) fail_msg("N %d: workspace written past its end", s.N);
        reference(&s, A, K, B, NW, NULL, NULL, NW, 0, want, scale);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < s.N; n++)
                if (fabs(C[(size_t)m * NW + n] - want[(size_t)m * s.N + n]) >
                    2e-6 * scale[(size_t)m * s.N + n] + 1e-6)
                    fail_msg("N %d: C[%d][%d] = %.9g, want %.9g", s.N, m, n, C[(size_t)m * NW + n],
                             want[(size_t)m * s.N + n]);
    }
    free(A), free(B), free(C), free(want), free(scale), free(Ap), free(ws);
}

static void test_bad_arguments(void **state) {
    (void)state;
    float A[64] = {0}, B[64] = {0}, C[64], ws[8192];
    assert_int_equal(sc_gemm_pack_floats(0, 3), 0);
    assert_int_equal(sc_gemm_pack_floats(3, -1), 0);
    assert_int_equal(sc_gemm_packed_workspace_floats(0), 0);
    assert_int_equal(sc_gemm_pack(4, 4, A, 3, C), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "sc_gemm_pack"));
    assert_int_equal(sc_gemm_pack(4, 4, NULL, 4, C), SC_ERR_INVALID_ARG);
    float Ap[128];
    SC_TEST_OK(sc_gemm_pack(4, 4, A, 4, Ap));
    /* rows must start on a panel boundary, stay inside M and be non-empty */
    assert_int_equal(sc_gemm_packed(Ap, 16, 4, 3, 8, 4, B, 4, C, 4, NULL, ws), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "multiple of 8"));
    assert_int_equal(sc_gemm_packed(Ap, 4, 4, 0, 5, 4, B, 4, C, 4, NULL, ws), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gemm_packed(Ap, 4, 4, 0, 0, 4, B, 4, C, 4, NULL, ws), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gemm_packed(Ap, 4, 4, 0, 4, 4, B, 3, C, 4, NULL, ws), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_gemm_packed(Ap, 4, 4, 0, 4, 4, B, 4, C, 4, NULL, NULL), SC_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_products),      cmocka_unit_test(test_partial_epilogue),
        cmocka_unit_test(test_gelu_epilogue), cmocka_unit_test(test_workspace_bound),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

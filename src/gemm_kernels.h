/* The AVX2 and FMA register-tile kernels behind sc_gemm_packed and
 * sc_attn_head (src/gemm_avx2.c), for CPUs without AVX-512F; the AVX-512
 * ones live in src/gemm_packed.c, which picks between them at run time.
 * Internal to the library. */
#ifndef SACCADE_GEMM_KERNELS_H
#define SACCADE_GEMM_KERNELS_H

#include <stddef.h>
#include "saccade/sc_blas.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* d[t][r] = s[r][t], an 8 x 8 block (rows of s ld apart, of d 8 apart). */
__attribute__((target("avx2"))) static inline void sc_transpose8x8_avx2(const float *s, size_t ld,
                                                                        float *d) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + (size_t)i * ld);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(d + 8 * i, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(d + 8 * (i + 4), _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}
#endif

/* Query columns per block of sc_attn_block_avx2 (its B panels' width). */
#define SC_ATTN_AVX2_QB 24

/* Floats of workspace sc_gemm_avx2 needs for N columns. */
size_t sc_gemm_avx2_workspace_floats(int N);

/* sc_gemm_packed's product with A packed in panels of SC_GEMM_ROWS rows;
 * arguments checked by the caller, ws of sc_gemm_avx2_workspace_floats(N). */
void sc_gemm_avx2(const float *Ap, int K, int m0, int m1, int N, const float *B, int ldb, float *C,
                  int ldc, const sc_gemm_epilogue *ep, float *ws);

/* One block of nb <= SC_ATTN_AVX2_QB queries (columns n0..n0+nb-1 of q's
 * dh rows, ld apart) of sc_attn_head, from K (scaled) and V^T packed in
 * panels of SC_GEMM_ROWS (kp: L rounded up x dh, vp: dh rounded up x L);
 * qp holds dh x SC_ATTN_AVX2_QB floats, s L rounded up x SC_ATTN_AVX2_QB. */
void sc_attn_block_avx2(int L, int dh, const float *kp, const float *vp, const float *q, int ld,
                        int n0, int nb, float *qp, float *s, float *ctx, int ldc);

#endif

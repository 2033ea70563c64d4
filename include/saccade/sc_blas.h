/* saccade: BLAS access.
 *
 * libsaccade does not link OpenBLAS at build time; it loads it on first use.
 * Why: OpenBLAS picks its kernels in a load-time constructor from
 * OPENBLAS_CORETYPE, and Debian's 0.3.21 misdetects some recent CPUs as a
 * generic SSE3 core (about 5x slower). Loading it ourselves lets the library
 * set OPENBLAS_CORETYPE from the CPU's features first, for every user of the
 * library (CLI, C programs, the Python binding), without re-exec tricks.
 * An OPENBLAS_CORETYPE already in the environment is always respected;
 * SACCADE_BLAS_AUTOFIX=0 disables the fix (used by the benchmark). */
#ifndef SACCADE_SC_BLAS_H
#define SACCADE_SC_BLAS_H

#include <stddef.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_blas_info {
    char library[256];     /* path of the loaded OpenBLAS */
    char core[64];         /* core OpenBLAS runs, from openblas_get_corename() */
    char cpu_best[64];     /* best core type for this CPU by its features */
    char coretype_env[64]; /* OPENBLAS_CORETYPE seen by OpenBLAS ("" if unset) */
    int autofixed;         /* 1 if saccade set OPENBLAS_CORETYPE itself */
    int already_loaded;    /* OpenBLAS was in the process before saccade loaded it */
    int threads;           /* OpenBLAS thread count */
} sc_blas_info;

/* Load OpenBLAS (idempotent, thread-safe). Called implicitly by sc_sgemm. */
sc_status sc_blas_init(void);
sc_status sc_blas_get_info(sc_blas_info *info);

typedef enum { SC_NO_TRANS = 0, SC_TRANS = 1 } sc_transpose;
/* Row-major C = alpha * op(A) @ op(B) + beta * C, op(A) M x K, op(B) K x N. */
void sc_sgemm(sc_transpose ta, sc_transpose tb, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* y = alpha * op(A) x + beta * y, A row-major M x N. */
void sc_sgemv(sc_transpose ta, int M, int N, float alpha, const float *A, int lda, const float *x,
              float beta, float *y);

/* Products with a fixed left operand (weights): pack A once, multiply many
 * times. On CPUs with AVX-512F saccade's own kernel runs them (8 x 32
 * register tiles, B packed per call in blocks of 256 x 512 into the caller's
 * workspace), which skips OpenBLAS's per-call packing of A and fuses the
 * epilogue; elsewhere the packed form is A itself and sc_sgemm runs them
 * (OpenBLAS's Haswell kernels beat saccade's AVX2 tiles on AVX2 CPUs).
 * SACCADE_GEMM=avx2 selects the AVX2 tiles (4 x 24, blocks of 256 x 480),
 * SACCADE_GEMM=openblas the fallback (read once, for tests and benchmarks). With
 * saccade's kernels each output element is summed in the same order
 * whatever rows or columns a call covers, so splitting a product between
 * threads does not change it (OpenBLAS may differ in the last bits). */
#define SC_GEMM_ROWS 8 /* row panels of packed A: m0 of sc_gemm_packed is a multiple */

/* "avx512" or "avx2" (saccade's kernels) or "openblas" (sc_sgemm). */
const char *sc_gemm_packed_kernel(void);
/* Floats of packed A for an M x K operand (0 on bad sizes or overflow). */
size_t sc_gemm_pack_floats(int M, int K);
/* A (M x K, row-major, lda >= K) -> Ap (sc_gemm_pack_floats(M, K) floats). */
sc_status sc_gemm_pack(int M, int K, const float *A, int lda, float *Ap);
/* Floats of workspace one sc_gemm_packed call needs for N columns. */
size_t sc_gemm_packed_workspace_floats(int N);

/* Applied to each output as it is stored: c = c + bias[row] + res[row, col],
 * then max(c, 0) if relu, or the exact (erf) GELU 0.5 c (1 + erf(c / sqrt 2))
 * if gelu (not both). Any pointer may be NULL; res has C's layout. */
typedef struct sc_gemm_epilogue {
    const float *bias;
    const float *res;
    int relu;
    int gelu;
} sc_gemm_epilogue;

/* Rows m0..m1-1 of C = A @ B (+ epilogue), A packed (M x K), B K x N
 * (row-major, ldb), C and the epilogue's res indexed from row 0 (ldc);
 * m0 a multiple of SC_GEMM_ROWS. Single-threaded: callers split rows or
 * columns between threads. ws holds sc_gemm_packed_workspace_floats(N). */
sc_status sc_gemm_packed(const float *Ap, int M, int K, int m0, int m1, int N, const float *B,
                         int ldb, float *C, int ldc, const sc_gemm_epilogue *ep, float *ws);

/* Measure sgemm throughput on an n x n x n product (best of `reps`). */
double sc_blas_measure_gflops(int n, int reps);

#ifdef __cplusplus
}
#endif
#endif

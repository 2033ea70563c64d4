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

#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_blas_info {
    char library[256];   /* path of the loaded OpenBLAS */
    char core[64];       /* core OpenBLAS runs, from openblas_get_corename() */
    char cpu_best[64];   /* best core type for this CPU by its features */
    char coretype_env[64]; /* OPENBLAS_CORETYPE seen by OpenBLAS ("" if unset) */
    int autofixed;       /* 1 if saccade set OPENBLAS_CORETYPE itself */
    int already_loaded;  /* OpenBLAS was in the process before saccade loaded it */
    int threads;         /* OpenBLAS thread count */
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

/* Measure sgemm throughput on an n x n x n product (best of `reps`). */
double sc_blas_measure_gflops(int n, int reps);

#ifdef __cplusplus
}
#endif
#endif

/* OpenBLAS loaded at run time, after choosing its core type (see sc_blas.h). */
#define _GNU_SOURCE
#include <limits.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "sc_internal.h"
#include "saccade/sc_blas.h"

#ifndef SC_OPENBLAS_LIBDIR
#define SC_OPENBLAS_LIBDIR ""
#endif

/* CBLAS enum values are fixed by the CBLAS standard. */
enum { CB_ROW_MAJOR = 101, CB_NO_TRANS = 111, CB_TRANS = 112 };
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *,
                         int, float, float *, int);
typedef void (*sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float,
                         float *, int);
typedef char *(*corename_fn)(void);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);

static struct {
    pthread_once_t once;
    sc_status status;
    char error[512];
    void *handle;
    sgemm_fn sgemm;
    sgemv_fn sgemv;
    corename_fn corename;
    set_threads_fn set_threads;
    get_threads_fn get_threads;
    sc_blas_info info;
    int pending_threads;
} B = {.once = PTHREAD_ONCE_INIT};

/* Best OpenBLAS core for this CPU judged by its instruction set, not by the
 * model number (which is what Debian's 0.3.21 gets wrong on new CPUs). */
static const char *cpu_best_core(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    if (__builtin_cpu_supports("avx")) return "Sandybridge";
#endif
    return "";
}

static void *try_open(const char *name, int flags) {
    void *h = dlopen(name, flags);
    return h;
}

static void blas_load(void) {
    sc_blas_info *info = &B.info;
    snprintf(info->cpu_best, sizeof info->cpu_best, "%s", cpu_best_core());
    /* Already in the process (linked by the host program, or loaded by another
     * library)? Then its kernels were chosen already; use it as it is. */
    corename_fn existing = (corename_fn)dlsym(RTLD_DEFAULT, "openblas_get_corename");
    const char *env = getenv("OPENBLAS_CORETYPE");
    const char *autofix = getenv("SACCADE_BLAS_AUTOFIX");
    if (!existing && (!env || !*env) && !(autofix && strcmp(autofix, "0") == 0) &&
        info->cpu_best[0]) {
        setenv("OPENBLAS_CORETYPE", info->cpu_best, 1);
        info->autofixed = 1;
    }
    env = getenv("OPENBLAS_CORETYPE");
    snprintf(info->coretype_env, sizeof info->coretype_env, "%s", env ? env : "");

    /* SACCADE_OPENBLAS picks a specific build (e.g. Debian's openblas-openmp,
     * which shares libgomp's thread pool with saccade's OpenMP loops). */
    char p_omp[512], p_pth[512];
    snprintf(p_omp, sizeof p_omp, "%s/../openblas-openmp/libopenblas.so.0", SC_OPENBLAS_LIBDIR);
    snprintf(p_pth, sizeof p_pth, "%s/libopenblas.so.0", SC_OPENBLAS_LIBDIR);
    const char *override = getenv("SACCADE_OPENBLAS");
    const char *names[5] = {override, SC_OPENBLAS_LIBDIR[0] ? p_pth : NULL, "libopenblas.so.0",
                            SC_OPENBLAS_LIBDIR[0] ? p_omp : NULL, "libopenblas.so"};
    if (existing) {
        B.handle = RTLD_DEFAULT;
        info->already_loaded = 1;
        snprintf(info->library, sizeof info->library, "(linked into the program)");
    } else {
        for (int i = 0; i < 5 && !B.handle; i++) {
            if (!names[i] || !*names[i]) continue;
            B.handle = try_open(names[i], RTLD_NOW | RTLD_LOCAL);
            if (B.handle) {
                char *real = realpath(names[i], NULL); /* NULL for bare sonames */
                snprintf(info->library, sizeof info->library, "%s", real ? real : names[i]);
                free(real);
            }
        }
    }
    if (!B.handle) {
        B.status = SC_ERR_UNSUPPORTED;
        snprintf(B.error, sizeof B.error,
                 "cannot load OpenBLAS (libopenblas.so.0): %s; install libopenblas0", dlerror());
        return;
    }
    B.sgemm = (sgemm_fn)dlsym(B.handle, "cblas_sgemm");
    B.sgemv = (sgemv_fn)dlsym(B.handle, "cblas_sgemv");
    B.corename = (corename_fn)dlsym(B.handle, "openblas_get_corename");
    B.set_threads = (set_threads_fn)dlsym(B.handle, "openblas_set_num_threads");
    B.get_threads = (get_threads_fn)dlsym(B.handle, "openblas_get_num_threads");
    if (!B.sgemm || !B.sgemv) {
        B.status = SC_ERR_UNSUPPORTED;
        snprintf(B.error, sizeof B.error, "%s has no cblas_sgemm/cblas_sgemv", info->library);
        return;
    }
    if (B.corename) snprintf(info->core, sizeof info->core, "%s", B.corename());
    if (B.pending_threads > 0 && B.set_threads) B.set_threads(B.pending_threads);
    B.status = SC_OK;
}

sc_status sc_blas_init(void) {
    pthread_once(&B.once, blas_load);
    if (B.status) return sc_set_error(B.status, "%s", B.error);
    return SC_OK;
}

sc_status sc_blas_get_info(sc_blas_info *info) {
    sc_status s = sc_blas_init();
    *info = B.info;
    if (B.get_threads) info->threads = B.get_threads();
    return s;
}

void sc_blas_set_threads_internal(int n) {
    B.pending_threads = n;
    if (B.set_threads) B.set_threads(n);
}

/* Nested and concurrent serial sections (forwards on several host threads)
 * share one saved count: the first saves and sets 1, the last restores. */
static pthread_mutex_t g_serial_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_serial_depth, g_serial_prev;

int sc_blas_serial_begin(void) {
    pthread_once(&B.once, blas_load);
    if (B.status || !B.set_threads || !B.get_threads) return 1;
    pthread_mutex_lock(&g_serial_mu);
    if (g_serial_depth++ == 0) {
        g_serial_prev = B.get_threads();
        if (g_serial_prev != 1) B.set_threads(1);
    }
    pthread_mutex_unlock(&g_serial_mu);
    return 2; /* "restore at the end": see sc_blas_serial_end */
}

void sc_blas_serial_end(int prev) {
    if (prev <= 1 || !B.set_threads) return;
    pthread_mutex_lock(&g_serial_mu);
    if (g_serial_depth > 0 && --g_serial_depth == 0 && g_serial_prev > 1)
        B.set_threads(g_serial_prev);
    pthread_mutex_unlock(&g_serial_mu);
}

/* Correct but slow fallback used only when OpenBLAS cannot be loaded (the
 * failure is reported once on stderr and by `saccade info --system`). */
static void naive_sgemm(sc_transpose ta, sc_transpose tb, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *Bm, int ldb, float beta, float *C,
                        int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                float a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
}

static void warn_fallback_once(void) {
    static int warned = 0;
    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        fprintf(stderr, "saccade: warning: %s; using a slow built-in gemm\n", B.error);
}

void sc_sgemm(sc_transpose ta, sc_transpose tb, int M, int N, int K, float alpha, const float *A,
              int lda, const float *Bm, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (sc_blas_init() != SC_OK) {
        warn_fallback_once();
        naive_sgemm(ta, tb, M, N, K, alpha, A, lda, Bm, ldb, beta, C, ldc);
        return;
    }
    B.sgemm(CB_ROW_MAJOR, ta ? CB_TRANS : CB_NO_TRANS, tb ? CB_TRANS : CB_NO_TRANS, M, N, K, alpha,
            A, lda, Bm, ldb, beta, C, ldc);
}

void sc_sgemv(sc_transpose ta, int M, int N, float alpha, const float *A, int lda, const float *x,
              float beta, float *y) {
    if (M <= 0 || N <= 0) return;
    if (sc_blas_init() != SC_OK) {
        /* y has N entries when transposed, M otherwise: treat x as a matrix. */
        warn_fallback_once();
        if (ta)
            naive_sgemm(SC_TRANS, SC_NO_TRANS, N, 1, M, alpha, A, lda, x, 1, beta, y, 1);
        else
            naive_sgemm(SC_NO_TRANS, SC_NO_TRANS, M, 1, N, alpha, A, lda, x, 1, beta, y, 1);
        return;
    }
    B.sgemv(CB_ROW_MAJOR, ta ? CB_TRANS : CB_NO_TRANS, M, N, alpha, A, lda, x, 1, beta, y, 1);
}

double sc_blas_measure_gflops(int n, int reps) {
    if (n <= 0 || reps <= 0) return 0.0;
    size_t nn = (size_t)n * n;
    float *a = sc_malloc(nn * sizeof(float)), *b = sc_malloc(nn * sizeof(float)),
          *c = sc_malloc(nn * sizeof(float));
    double best = 0.0;
    if (a && b && c) {
        for (size_t i = 0; i < nn; i++) {
            a[i] = (float)((i * 7) % 13) * 0.01f;
            b[i] = (float)((i * 5) % 11) * 0.01f;
        }
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
        for (int r = 0; r < reps; r++) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
            double g = 2.0 * n * (double)n * n / s / 1e9;
            if (g > best) best = g;
        }
    }
    sc_free(a);
    sc_free(b);
    sc_free(c);
    return best;
}

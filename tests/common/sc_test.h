/* Shared helpers for saccade's cmocka tests. */
#ifndef SACCADE_SC_TEST_H
#define SACCADE_SC_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "saccade/saccade.h"
#include "saccade/sc_npy.h"

/* Environment set by CTest (see CMakeLists.txt); fails the test if unset. */
const char *sc_test_env(const char *name);
/* $SACCADE_SOURCE_DIR/relpath into a static-per-call buffer the caller frees. */
char *sc_test_source_path(const char *relpath);
/* A fresh empty folder under $SACCADE_BUILD_DIR/testtmp; caller frees the string.
 * sc_test_rmtree removes it. */
char *sc_test_tmpdir(const char *tag);
void sc_test_rmtree(const char *dir);
/* Path join into a malloc'd string. */
char *sc_test_join(const char *dir, const char *name);

/* Run a shell command (printf-style); returns its exit status (or -1). */
int sc_test_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Run $SACCADE_PYTHON $SACCADE_SOURCE_DIR/tools/ref/<script> <args>; fails the
 * test (with the script's output shown) when it exits non-zero. */
void sc_test_python(const char *script, const char *args_fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parity fixture: a fresh folder (tagged `tag`) filled by running
 * tools/ref/<script> <folder> <extra> (extra may redirect output, e.g.
 * ">/dev/null"). sc_test_reference_free removes it and NULLs the pointer. */
char *sc_test_reference(const char *tag, const char *script, const char *extra);
void sc_test_reference_free(char **dir);
/* A parity test's fixture as one cmocka group: defines the folder g_dir and
 * the group's setup (sc_test_reference(tag, script, extra)) and teardown,
 * for cmocka_run_group_tests(tests, setup, teardown). */
#define SC_TEST_REFERENCE_GROUP(tag, script, extra)                                                \
    static char *g_dir;                                                                            \
    static int setup(void **state) {                                                               \
        (void)state;                                                                               \
        g_dir = sc_test_reference(tag, script, extra);                                             \
        return 0;                                                                                  \
    }                                                                                              \
    static int teardown(void **state) {                                                            \
        (void)state;                                                                               \
        sc_test_reference_free(&g_dir);                                                            \
        return 0;                                                                                  \
    }
/* The source tree quoted for a shell command line ("'$SACCADE_SOURCE_DIR'"),
 * for reference scripts that take it as an argument. */
const char *sc_test_source_arg(void);

/* Test buffers: uniform values in [lo, hi) from a seed, or zeros; free(). */
float *sc_test_random(size_t n, float lo, float hi, uint64_t seed);
float *sc_test_zeros(size_t n);
/* Dot product in double (losses for gradient checks). */
double sc_test_dot(const float *a, const float *b, size_t n);

/* Load dir/name.npy or fail the test. */
sc_npy sc_test_npy(const char *dir, const char *name);
/* dir/case_/name.npy: one case's array in a reference folder. */
sc_npy sc_test_case_npy(const char *dir, const char *case_, const char *name);
/* The parity criterion max |a - b| / max |b|: printed with what, the test
 * fails above tol; returns it. */
double sc_test_check_rel(const char *what, const float *a, const float *b, size_t n, double tol);
/* A twin's gradient-weighted cross-attention maps (BLIP, ViT-GPT2): out (n,
 * G, G) (zeroed here) = mean over the H heads of A * max(dA, 0) over the
 * patches at `layer`, from its attention A and gradients dA, both (steps,
 * layers, H, 1 + G*G) with the class token first, for steps 0..n-1. */
void sc_test_gradcam_maps(const float *attn, const float *grad, int n, int layers, int layer, int H,
                          int G, float *out);
/* sc_test_assert_close of a against all of ref's values, then print the
 * largest absolute error and the largest |ref| (for the test log). */
void sc_test_close_to_npy(const char *what, const float *a, const sc_npy *ref, double rtol,
                          double atol);

/* |a - b| <= atol + rtol * |b| elementwise; on failure reports the worst
 * element and fails the test. Returns the max relative error seen. */
double sc_test_assert_close(const char *what, const float *a, const float *b, size_t n, double rtol,
                            double atol);

/* Finite-difference gradient check. loss(ctx) recomputes the forward pass
 * from the current parameter values and returns a scalar in double.
 * For up to max_checks elements of param (spread over the tensor), compare
 * (loss(p + eps) - loss(p - eps)) / 2eps with grad. Fails the test on a
 * mismatch beyond atol + rtol * max(|fd|, |grad|). */
void sc_test_gradcheck(const char *what, double (*loss)(void *ctx), void *ctx, float *param,
                       const float *grad, size_t n, int max_checks, double eps, double rtol,
                       double atol);

/* Fill with uniform values in [lo, hi) from a seeded generator. */
void sc_test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed);

/* KiB of the mapping that holds p resident in this process (/proc/self/smaps). */
long sc_test_mapping_rss_kb(const void *p);

#define SC_TEST_OK(expr)                                                                           \
    do {                                                                                           \
        sc_status st__ = (expr);                                                                   \
        if (st__ != SC_OK) fail_msg("%s failed: %s", #expr, sc_last_error());                      \
    } while (0)

#endif

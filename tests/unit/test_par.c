/* Fork-join pool (src/par.c, sc_par_run / sc_par_share): every tid runs
 * exactly once per job with the job's nt, shares tile [0, n) with aligned
 * boundaries, a job calling sc_par_run runs the inner job in the caller, two
 * host threads using the pool at once both get every item done, and the
 * pool keeps working over many short jobs (the ResNet forward's pattern);
 * OpenBLAS's thread count through nested serial sections; a conv backward
 * run inside a pool job (its shares then run in the caller as one). */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "sc_internal.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"

#define N_ITEMS 1000

typedef struct job {
    atomic_int runs[64];
    atomic_int bad_nt;
    int want_nt;
    int hits[N_ITEMS]; /* each item written by the one thread that owns it */
} job;

static void mark(void *arg, int tid, int nt) {
    job *j = arg;
    atomic_fetch_add(&j->runs[tid], 1);
    if (nt != j->want_nt) atomic_fetch_add(&j->bad_nt, 1);
    int a, b;
    sc_par_share(N_ITEMS, 16, tid, nt, &a, &b);
    for (int i = a; i < b; i++) j->hits[i]++;
}

static void check_job(job *j, int nt) {
    assert_int_equal(atomic_load(&j->bad_nt), 0);
    for (int t = 0; t < 64; t++) assert_int_equal(atomic_load(&j->runs[t]), t < nt ? 1 : 0);
    for (int i = 0; i < N_ITEMS; i++) assert_int_equal(j->hits[i], 1);
}

static void test_every_tid_once(void **state) {
    (void)state;
    const int nts[] = {1, 2, 3, 5, 2, 1, 4};
    for (size_t k = 0; k < sizeof nts / sizeof nts[0]; k++) {
        job *j = calloc(1, sizeof *j);
        assert_non_null(j);
        j->want_nt = nts[k];
        sc_par_run(nts[k], mark, j);
        check_job(j, nts[k]);
        free(j);
    }
    /* many short jobs in a row */
    for (int r = 0; r < 2000; r++) {
        job *j = calloc(1, sizeof *j);
        assert_non_null(j);
        j->want_nt = 2;
        sc_par_run(2, mark, j);
        check_job(j, 2);
        free(j);
    }
}

static void test_shares(void **state) {
    (void)state;
    const int ns[] = {0, 1, 15, 16, 17, 100, 1000, 4097};
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
        for (int nt = 1; nt <= 7; nt++)
            for (int al = 1; al <= 16; al *= 4) {
                int prev = 0;
                for (int t = 0; t < nt; t++) {
                    int a, b;
                    sc_par_share(ns[k], al, t, nt, &a, &b);
                    assert_int_equal(a, prev);
                    assert_true(b >= a);
                    if (b < ns[k]) assert_int_equal(b % al, 0);
                    prev = b;
                }
                assert_int_equal(prev, ns[k]);
            }
}

/* A job that starts another job: the inner one runs in the calling thread
 * with nt = 1 (the pool is busy), and still covers every item. */
static void outer(void *arg, int tid, int nt) {
    (void)nt;
    job *inner = (job *)arg + tid;
    inner->want_nt = 1;
    sc_par_run(2, mark, inner);
}

static void test_nested_runs_inline(void **state) {
    (void)state;
    job *j = calloc(2, sizeof *j);
    assert_non_null(j);
    sc_par_run(2, outer, j);
    check_job(&j[0], 1);
    check_job(&j[1], 1);
    free(j);
}

static void mark_any(void *arg, int tid, int nt) {
    job *j = arg;
    atomic_fetch_add(&j->runs[tid], 1);
    atomic_fetch_or(&j->bad_nt, nt == 1 || nt == 2 ? 0 : 1); /* 2, or 1 when the pool was busy */
    int a, b;
    sc_par_share(N_ITEMS, 16, tid, nt, &a, &b);
    for (int i = a; i < b; i++) j->hits[i]++;
}

static void *host_any(void *arg) {
    job *js = arg;
    for (int r = 0; r < 200; r++) sc_par_run(2, mark_any, &js[r]);
    return NULL;
}

/* Two host threads at once: whichever finds the pool busy runs its job
 * alone; every item of every job is done exactly once. */
static void test_two_callers(void **state) {
    (void)state;
    job *a = calloc(200, sizeof *a), *b = calloc(200, sizeof *b);
    assert_non_null(a), assert_non_null(b);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, host_any, a), 0);
    assert_int_equal(pthread_create(&tb, NULL, host_any, b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    for (int r = 0; r < 200; r++) {
        for (int i = 0; i < N_ITEMS; i++) {
            assert_int_equal(a[r].hits[i], 1);
            assert_int_equal(b[r].hits[i], 1);
        }
        assert_int_equal(atomic_load(&a[r].bad_nt), 0);
        assert_int_equal(atomic_load(&b[r].bad_nt), 0);
        assert_int_equal(atomic_load(&a[r].runs[0]), 1);
        assert_int_equal(atomic_load(&b[r].runs[0]), 1);
    }
    free(a), free(b);
}

/* OpenBLAS single-threaded inside nested/overlapping serial sections, its
 * thread count back after the last one ends. */
static void test_blas_serial_sections(void **state) {
    (void)state;
    SC_TEST_OK(sc_set_num_threads(2));
    sc_blas_info bi;
    SC_TEST_OK(sc_blas_get_info(&bi));
    assert_int_equal(bi.threads, 2);
    int a = sc_blas_serial_begin(), b = sc_blas_serial_begin();
    SC_TEST_OK(sc_blas_get_info(&bi));
    assert_int_equal(bi.threads, 1);
    sc_blas_serial_end(a);
    SC_TEST_OK(sc_blas_get_info(&bi));
    assert_int_equal(bi.threads, 1);
    sc_blas_serial_end(b);
    SC_TEST_OK(sc_blas_get_info(&bi));
    assert_int_equal(bi.threads, 2);
    SC_TEST_OK(sc_set_num_threads(0));
}

/* sc_conv2d_backward splits images between 2 shares; called from inside a
 * pool job it gets one share (nt 1), and the unused dW partial in its
 * workspace (filled with garbage here) must add nothing. */
typedef struct conv_in_job {
    sc_conv2d_desc d;
    const float *x, *w, *dout;
    float *dx, *dw;
    void *ws;
    size_t ws_bytes;
    sc_status st;
} conv_in_job;

static void conv_job(void *arg, int tid, int nt) {
    (void)nt;
    conv_in_job *c = arg;
    if (tid == 0)
        c->st =
            sc_conv2d_backward(&c->d, c->dx, c->dw, NULL, c->dout, c->x, c->w, c->ws, c->ws_bytes);
}

static void test_conv_backward_in_job(void **state) {
    (void)state;
    SC_TEST_OK(sc_set_num_threads(2));
    conv_in_job c;
    memset(&c, 0, sizeof c);
    c.d = sc_conv2d_make(4, 3, 9, 8, 5, 3, 3, 1, 1, 1, 1);
    const size_t nx = 4 * 3 * 72, nw = 5 * 3 * 9, ny = 4 * 5 * 72;
    float *x = malloc(nx * sizeof(float)), *w = malloc(nw * sizeof(float)),
          *dy = malloc(ny * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 37) % 17) / 17.0f - 0.5f;
    for (size_t i = 0; i < nw; i++) w[i] = (float)((i * 11) % 13) / 13.0f - 0.5f;
    for (size_t i = 0; i < ny; i++) dy[i] = (float)((i * 7) % 19) / 19.0f - 0.5f;
    size_t bws;
    SC_TEST_OK(sc_conv2d_workspace_bytes(&c.d, NULL, &bws));
    float *ws = malloc(bws);
    float *dx1 = calloc(nx, sizeof(float)), *dw1 = calloc(nw, sizeof(float));
    float *dx2 = calloc(nx, sizeof(float)), *dw2 = calloc(nw, sizeof(float));
    for (size_t i = 0; i < bws / sizeof(float); i++) ws[i] = 1e6f;
    SC_TEST_OK(sc_conv2d_backward(&c.d, dx1, dw1, NULL, dy, x, w, ws, bws)); /* 2 shares */
    for (size_t i = 0; i < bws / sizeof(float); i++) ws[i] = 1e6f;
    c.x = x, c.w = w, c.dout = dy, c.dx = dx2, c.dw = dw2, c.ws = ws, c.ws_bytes = bws;
    c.st = SC_ERR_INTERNAL;
    sc_par_run(2, conv_job, &c); /* the pool is busy: the conv's shares run as one */
    SC_TEST_OK(c.st);
    for (size_t i = 0; i < nx; i++) assert_true(fabsf(dx1[i] - dx2[i]) <= 1e-5f);
    for (size_t i = 0; i < nw; i++) assert_true(fabsf(dw1[i] - dw2[i]) <= 1e-4f);
    free(x), free(w), free(dy), free(ws), free(dx1), free(dw1), free(dx2), free(dw2);
    SC_TEST_OK(sc_set_num_threads(0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_tid_once),       cmocka_unit_test(test_shares),
        cmocka_unit_test(test_nested_runs_inline),   cmocka_unit_test(test_two_callers),
        cmocka_unit_test(test_blas_serial_sections), cmocka_unit_test(test_conv_backward_in_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

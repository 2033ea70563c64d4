/* Fork-join pool for the inference kernels (see sc_par_run in sc_internal.h).
 *
 * Why not OpenMP: ResNet's forward is ~600 short parallel steps. libgomp's
 * idle threads spin without yielding (up to ~300000 pauses, milliseconds),
 * so when another process holds one of the cores each join waits for the
 * spinning thread's time slice: measured 1048 ms instead of ~116 ms per
 * ResNet-101 forward with one busy core.
 *
 * A job is nt shares with fixed boundaries (share i is always the same work,
 * so results do not depend on which thread runs it). Threads claim shares
 * with a compare-and-swap on (generation, next share); the caller claims too,
 * so a worker that the scheduler has not run yet does not hold the job up:
 * the caller does its share as well (with a busy machine the forward then
 * degrades to one thread's speed instead of waiting for time slices). Waits
 * busy-spin PAUSE_NS (longer than the usual imbalance of a share, so a quiet
 * machine never leaves the spin), then block: the caller on a condition
 * variable until the last share is done (its core going idle lets the
 * scheduler move a preempted worker there), idle workers after SPIN_NS.
 *
 * One job at a time: a caller that finds the pool busy (another thread, or a
 * job calling sc_par_run) runs fn(arg, 0, 1) itself. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "sc_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define PAR_MAX 64
#define PAUSE_NS 30000L  /* busy spin before blocking */
#define SPIN_NS 2000000L /* idle workers yield-spin this long, then sleep */

static pthread_mutex_t g_run = PTHREAD_MUTEX_INITIALIZER; /* held by the running job */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;  /* sleepers */
static pthread_cond_t g_cv_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_cv_done = PTHREAD_COND_INITIALIZER;
static int g_workers; /* created workers; under g_run */

/* the job of generation g lives in slot g & 1 (written before g is published) */
static struct {
    _Atomic(sc_par_fn) fn;
    _Atomic(void *) arg;
    atomic_int n;
} g_slot[2];
static _Atomic uint64_t g_claim; /* generation << 32 | next unclaimed share */
static atomic_int g_done;        /* shares of the current job finished */
static atomic_int g_sleeping;    /* workers blocked on g_cv_work */
static atomic_int g_waiting;     /* caller blocked on g_cv_done */

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static inline void cpu_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claim and run shares of the job published in claim word c until none is
 * left or the job changed. Returns the number of shares run. */
static int run_shares(uint64_t c) {
    int ran = 0;
    for (;;) {
        const uint32_t gen = (uint32_t)(c >> 32), i = (uint32_t)c;
        const int n = atomic_load(&g_slot[gen & 1].n);
        if ((int)i >= n) return ran;
        if (!atomic_compare_exchange_weak(&g_claim, &c, ((uint64_t)gen << 32) | (i + 1)))
            continue; /* c reloaded: retry (another share, or another job) */
        /* share i of generation gen is ours: the job cannot end before it */
        const sc_par_fn fn = atomic_load(&g_slot[gen & 1].fn);
        fn(atomic_load(&g_slot[gen & 1].arg), (int)i, atomic_load(&g_slot[gen & 1].n));
        ran++;
        if (atomic_fetch_add(&g_done, 1) + 1 == atomic_load(&g_slot[gen & 1].n) &&
            atomic_load(&g_waiting)) {
            pthread_mutex_lock(&g_mu);
            pthread_cond_broadcast(&g_cv_done);
            pthread_mutex_unlock(&g_mu);
        }
        c = atomic_load(&g_claim);
    }
}

static void *worker(void *p) {
    (void)p;
#ifdef _OPENMP
    /* Jobs call sc_sgemm meant to run on this thread alone: the OpenMP build
     * of OpenBLAS takes its thread count from this thread's OpenMP setting
     * (openblas_set_num_threads(1) only changed the caller's), and would
     * start a team of its own here (measured: twice the CPU time). */
    omp_set_num_threads(1);
#endif
    uint32_t seen = (uint32_t)(atomic_load(&g_claim) >> 32) - 1;
    for (;;) {
        uint64_t c = atomic_load(&g_claim);
        const long long t0 = now_ns();
        long long t = t0;
        for (unsigned spins = 1; (uint32_t)(c >> 32) == seen; spins++) {
            if ((spins & 63) == 0) t = now_ns();
            if (t - t0 > SPIN_NS) {
                pthread_mutex_lock(&g_mu);
                atomic_fetch_add(&g_sleeping, 1);
                while ((uint32_t)((c = atomic_load(&g_claim)) >> 32) == seen)
                    pthread_cond_wait(&g_cv_work, &g_mu);
                atomic_fetch_sub(&g_sleeping, 1);
                pthread_mutex_unlock(&g_mu);
                break;
            }
            if (t - t0 < PAUSE_NS)
                cpu_pause();
            else
                sched_yield();
            c = atomic_load(&g_claim);
        }
        seen = (uint32_t)(c >> 32);
        run_shares(c);
    }
    return NULL;
}

void sc_par_run(int nt, sc_par_fn fn, void *arg) {
    if (nt > PAR_MAX) nt = PAR_MAX;
    if (nt <= 1 || pthread_mutex_trylock(&g_run) != 0) {
        fn(arg, 0, 1);
        return;
    }
    while (g_workers < nt - 1) {
        pthread_t th;
        pthread_attr_t at;
        if (pthread_attr_init(&at) != 0) break;
        int ok = pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) == 0 &&
                 pthread_create(&th, &at, worker, NULL) == 0;
        pthread_attr_destroy(&at);
        if (!ok) break;
        g_workers++;
    }
    if (g_workers == 0) { /* no threads to be had: the shares run here, in order */
        pthread_mutex_unlock(&g_run);
        for (int i = 0; i < nt; i++) fn(arg, i, nt);
        return;
    }
    const uint32_t gen = (uint32_t)(atomic_load(&g_claim) >> 32) + 1;
    atomic_store(&g_slot[gen & 1].fn, fn);
    atomic_store(&g_slot[gen & 1].arg, arg);
    atomic_store(&g_slot[gen & 1].n, nt);
    atomic_store(&g_done, 0);
    atomic_store(&g_claim, (uint64_t)gen << 32);
    if (atomic_load(&g_sleeping) > 0) {
        pthread_mutex_lock(&g_mu);
        pthread_cond_broadcast(&g_cv_work);
        pthread_mutex_unlock(&g_mu);
    }
    run_shares(atomic_load(&g_claim));
    const long long t0 = now_ns();
    for (unsigned spins = 1; atomic_load(&g_done) < nt; spins++) {
        if ((spins & 63) == 0 && now_ns() - t0 > PAUSE_NS) {
            pthread_mutex_lock(&g_mu);
            atomic_store(&g_waiting, 1);
            while (atomic_load(&g_done) < nt) pthread_cond_wait(&g_cv_done, &g_mu);
            atomic_store(&g_waiting, 0);
            pthread_mutex_unlock(&g_mu);
            break;
        }
        cpu_pause();
    }
    pthread_mutex_unlock(&g_run);
}

void sc_par_share(int n, int align, int tid, int nt, int *a, int *b) {
    if (align < 1) align = 1;
    const long units = ((long)n + align - 1) / align;
    *a = (int)SC_MIN((long)n, units * tid / nt * align);
    *b = (int)SC_MIN((long)n, units * (tid + 1) / nt * align);
}

/* Fork-join pool for the inference kernels (see sc_par_run in sc_internal.h).
 *
 * Why not OpenMP: ResNet's forward is ~500 short parallel steps. libgomp's
 * idle threads spin without yielding (up to ~300000 pauses, milliseconds),
 * so when another process holds one of the cores, each join waits for the
 * spinning thread's time slice: measured 1048 ms instead of 116 ms per
 * ResNet-101 forward with one busy core. Here every wait yields the CPU
 * after a short busy spin (PAUSE_NS, longer than the usual imbalance of a
 * share, so a quiet machine never leaves the spin), and idle workers sleep on
 * a condition variable after SPIN_NS. (Yielding alone hands the core to any
 * other runnable process at every join: with a niced process busy on the
 * machine a 2-thread forward then ran at 1-thread speed.)
 *
 * Protocol: the caller publishes (fn, arg, nt) and bumps the generation
 * counter; every created worker acknowledges every generation (those with
 * tid >= nt without running fn), so the job fields are never rewritten while
 * a worker may still read them. One job at a time: a caller that finds the
 * pool busy (another thread, or a job calling sc_par_run) runs fn itself
 * with nt = 1. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "sc_internal.h"

#define PAR_MAX 64
#define PAUSE_NS 30000L  /* waits first spin this long on the CPU, */
#define SPIN_NS 2000000L /* then yielding up to this long (workers), then sleep */

static pthread_mutex_t g_run = PTHREAD_MUTEX_INITIALIZER; /* held by the running job */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;  /* sleeping workers */
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_workers; /* created workers (tids 1..g_workers); under g_run */
static atomic_uint g_gen;
static atomic_int g_pending;
static atomic_int g_sleeping;
static unsigned g_start[PAR_MAX]; /* generation when worker tid was created */
static sc_par_fn g_fn;
static void *g_arg;
static int g_nt;

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

/* One step of a wait begun at t0 (ns): busy for PAUSE_NS, then yielding. */
static inline void wait_step(unsigned spins, long long t0, int *yielding) {
    if (!*yielding && (spins & 63) == 0 && now_ns() - t0 >= PAUSE_NS) *yielding = 1;
    if (*yielding)
        sched_yield();
    else
        cpu_pause();
}

static void *worker(void *p) {
    const int tid = (int)(intptr_t)p;
    unsigned seen = g_start[tid];
    for (;;) {
        unsigned gen = atomic_load(&g_gen);
        const long long t0 = now_ns();
        int yielding = 0;
        for (unsigned spins = 1; gen == seen; spins++) {
            if ((spins & 255) == 0 && now_ns() - t0 > SPIN_NS) {
                pthread_mutex_lock(&g_mu);
                atomic_fetch_add(&g_sleeping, 1);
                while ((gen = atomic_load(&g_gen)) == seen) pthread_cond_wait(&g_cv, &g_mu);
                atomic_fetch_sub(&g_sleeping, 1);
                pthread_mutex_unlock(&g_mu);
                break;
            }
            wait_step(spins, t0, &yielding);
            gen = atomic_load(&g_gen);
        }
        seen = gen;
        if (tid < g_nt) g_fn(g_arg, tid, g_nt);
        atomic_fetch_sub(&g_pending, 1);
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
        const int tid = g_workers + 1;
        g_start[tid] = atomic_load(&g_gen);
        int ok = pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED) == 0 &&
                 pthread_create(&th, &at, worker, (void *)(intptr_t)tid) == 0;
        pthread_attr_destroy(&at);
        if (!ok) break;
        g_workers++;
    }
    if (nt > g_workers + 1) nt = g_workers + 1;
    if (nt <= 1) {
        pthread_mutex_unlock(&g_run);
        fn(arg, 0, 1);
        return;
    }
    g_fn = fn, g_arg = arg, g_nt = nt;
    atomic_store(&g_pending, g_workers);
    atomic_fetch_add(&g_gen, 1);
    if (atomic_load(&g_sleeping) > 0) {
        pthread_mutex_lock(&g_mu);
        pthread_cond_broadcast(&g_cv);
        pthread_mutex_unlock(&g_mu);
    }
    fn(arg, 0, nt);
    const long long t0 = now_ns();
    int yielding = 0;
    for (unsigned spins = 1; atomic_load(&g_pending) > 0; spins++) wait_step(spins, t0, &yielding);
    pthread_mutex_unlock(&g_run);
}

void sc_par_share(int n, int align, int tid, int nt, int *a, int *b) {
    if (align < 1) align = 1;
    const long units = ((long)n + align - 1) / align;
    *a = (int)SC_MIN((long)n, units * tid / nt * align);
    *b = (int)SC_MIN((long)n, units * (tid + 1) / nt * align);
}

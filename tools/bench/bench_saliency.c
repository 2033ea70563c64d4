/* Benchmark (not a test): saccade's saliency methods on one image.
 * Usage: bench_saliency IMAGE.npy THREADS REPS
 * IMAGE.npy is float32 3 x H x W RGB in [0,1] (tools/bench/bench_saliency.py
 * writes it). Prints "<method> <median ms>" per method, end to end from the
 * float image to the full-resolution map (including resizes and allocation). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "saccade/sc_npy.h"
#include "saccade/sc_saliency.h"
#include "saccade/sc_util.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static sc_status m_sr_cv(const sc_image *im, sc_map *m) { return sc_saliency_sr_opencv(im, m); }
static sc_status m_fg(const sc_image *im, sc_map *m) { return sc_saliency_finegrained(im, m); }
static sc_status m_sr(const sc_image *im, sc_map *m) { return sc_saliency_sr(im, NULL, m); }
static sc_status m_pqft(const sc_image *im, sc_map *m) { return sc_saliency_pqft(im, NULL, m); }

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s IMAGE.npy THREADS REPS\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[2]), reps = atoi(argv[3]);
    if (reps < 1 || reps > 100000) reps = 20;
    sc_npy a;
    if (sc_npy_read(argv[1], &a) || a.ndim != 3 || a.shape[0] != 3) {
        fprintf(stderr, "%s: need a 3 x H x W float image (%s)\n", argv[1], sc_last_error());
        return 1;
    }
    sc_set_num_threads(threads);
    sc_image im = {(int)a.shape[2], (int)a.shape[1], 3, a.data};
    static const struct {
        const char *name;
        sc_status (*fn)(const sc_image *, sc_map *);
    } M[] = {{"sr_opencv", m_sr_cv}, {"finegrained", m_fg}, {"sr_paper", m_sr}, {"pqft", m_pqft}};
    double *t = malloc(sizeof(double) * reps);
    for (size_t k = 0; k < sizeof M / sizeof M[0]; k++) {
        sc_map m;
        if (M[k].fn(&im, &m)) { /* warm-up (plans, page faults) */
            fprintf(stderr, "%s: %s\n", M[k].name, sc_last_error());
            return 1;
        }
        sc_free(m.data);
        for (int r = 0; r < reps; r++) {
            double t0 = now_ms();
            M[k].fn(&im, &m);
            t[r] = now_ms() - t0;
            sc_free(m.data);
        }
        qsort(t, reps, sizeof(double), cmp);
        printf("%s %.4f\n", M[k].name, t[reps / 2]);
    }
    free(t);
    sc_npy_free(&a);
    sc_saliency_fftw_cleanup();
    return 0;
}

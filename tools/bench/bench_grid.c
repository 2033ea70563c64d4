/* Benchmark of sc_grid_sample forward and backward (grad_input + grad_grid),
 * bilinear, zeros padding, align_corners=0, grid from a rotated/scaled
 * affine_grid. The torch counterpart is tools/bench/bench_grid.py; run both
 * with tools/bench/grid.sh.
 *
 * usage: bench_grid THREADS N C H W [REPS]
 *   (input N x C x H x W, grid N x H x W)
 * prints: saccade threads=T shape=NxCxHxW fwd_ms=... bwd_ms=... total_ms=... (best of
 *         REPS, then the medians) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "saccade/sc_grid.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_util.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s THREADS N C H W [REPS]\n", argv[0]);
        return 2;
    }
    int threads = atoi(argv[1]), n = atoi(argv[2]), c = atoi(argv[3]), h = atoi(argv[4]),
        w = atoi(argv[5]);
    int reps = argc > 6 ? atoi(argv[6]) : 20;
    if (threads < 1 || n < 1 || c < 1 || h < 1 || w < 1 || reps < 1 || reps > 10000) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    if (sc_set_num_threads(threads) != SC_OK) {
        fprintf(stderr, "%s\n", sc_last_error());
        return 1;
    }
    size_t nin = (size_t)n * c * h * w, ngrid = (size_t)n * h * w * 2;
    float *in = malloc(nin * sizeof(float)), *out = malloc(nin * sizeof(float));
    float *gout = malloc(nin * sizeof(float)), *gin = malloc(nin * sizeof(float));
    float *grid = malloc(ngrid * sizeof(float)), *ggrid = malloc(ngrid * sizeof(float));
    float *theta = malloc((size_t)n * 6 * sizeof(float));
    if (!in || !out || !gout || !gin || !grid || !ggrid || !theta) return 1;
    sc_rng r;
    sc_rng_seed(&r, 7);
    for (size_t i = 0; i < nin; i++) in[i] = sc_rng_normal(&r), gout[i] = sc_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        float a = 0.3f, s = 0.9f;
        float t[6] = {s * cosf(a), -s * sinf(a), 0.05f, s * sinf(a), s * cosf(a), -0.03f};
        memcpy(theta + (size_t)i * 6, t, sizeof t);
    }
    if (sc_affine_grid(theta, n, h, w, 0, grid) != SC_OK) return 1;
    double *tf = malloc((size_t)reps * sizeof(double)), *tb = malloc((size_t)reps * sizeof(double)),
           *tc = malloc((size_t)reps * sizeof(double));
    for (int k = -2; k < reps; k++) { /* two warm-up rounds */
        double c0 = cpu_ms(), t0 = now_ms();
        if (sc_grid_sample(in, grid, out, n, c, h, w, h, w, SC_GRID_BILINEAR, SC_GRID_PAD_ZEROS,
                           0) != SC_OK)
            return 1;
        double t1 = now_ms();
        /* torch allocates zeroed gradients; count the zeroing here too */
        memset(gin, 0, nin * sizeof(float));
        memset(ggrid, 0, ngrid * sizeof(float));
        if (sc_grid_sample_backward(gout, in, grid, gin, ggrid, n, c, h, w, h, w, SC_GRID_BILINEAR,
                                    SC_GRID_PAD_ZEROS, 0) != SC_OK)
            return 1;
        double t2 = now_ms(), c2 = cpu_ms();
        if (k >= 0) tf[k] = t1 - t0, tb[k] = t2 - t1, tc[k] = c2 - c0;
    }
    /* best of reps: the least disturbed by other load on the machine */
    double f = median(tf, reps), b = median(tb, reps), fb = tf[0], bb = tb[0];
    median(tc, reps);
    double cb = tc[0];
    printf("saccade threads=%d shape=%dx%dx%dx%d fwd_ms=%.3f bwd_ms=%.3f total_ms=%.3f "
           "(median fwd %.3f bwd %.3f; best cpu_ms fwd+bwd %.3f)\n",
           threads, n, c, h, w, fb, bb, fb + bb, f, b, cb);
    free(in), free(out), free(gout), free(gin), free(grid), free(ggrid), free(theta);
    free(tf), free(tb), free(tc);
    return 0;
}

/* ResNet forward time and peak memory (saccade side of tools/bench/resnet.sh).
 * Usage: bench_resnet MODEL.safetensors [threads=2] [reps=10] [winograd=1] [H=256] [W=256]
 *                     [N=1]
 * Loads the model (encoder only, BN folded), plans the arena for Nx3xHxW
 * (N images per forward, times are of the whole batch),
 * runs 2 warm-up forwards and `reps` timed ones on a fixed random input and
 * prints one line: best and median ms, the best process CPU time of one
 * forward (all threads; with 1 thread a load-independent measure of the
 * work), max RSS (getrusage, KiB) and sizes.
 * Never run by the test suite. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include "saccade/saccade.h"
#include "bench_input.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.safetensors [threads] [reps] [winograd] [H] [W] [N]\n",
                argv[0]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 10;
    int wino = argc > 4 ? atoi(argv[4]) : 1, H = argc > 5 ? atoi(argv[5]) : 256,
        W = argc > 6 ? atoi(argv[6]) : 256, N = argc > 7 ? atoi(argv[7]) : 1;
    if (reps < 1) reps = 1;
    if (N < 1) N = 1;
    sc_resnet_params p = sc_resnet_default_params();
    p.threads = threads;
    p.winograd = wino;
    sc_resnet *m = NULL;
    double t0 = now();
    if (sc_resnet_load(argv[1], &p, &m) || sc_resnet_plan(m, N, H, W)) {
        fprintf(stderr, "bench_resnet: %s\n", sc_last_error());
        return 1;
    }
    double tload = now() - t0;
    sc_resnet_info info;
    sc_resnet_get_info(m, &info);
    int FH, FW;
    sc_resnet_feature_size(m, H, W, &FH, &FW);
    size_t nin = (size_t)N * 3 * H * W, nf = (size_t)N * info.feature_channels * FH * FW;
    float *x = sc_malloc(nin * sizeof(float)), *f = sc_malloc(nf * sizeof(float));
    double *t = calloc((size_t)reps, sizeof(double)), best_cpu = 1e30;
    if (!x || !f || !t) return 1;
    bench_fill_input(x, nin);
    for (int r = 0; r < 2; r++)
        if (sc_resnet_forward(m, x, N, H, W, f, NULL)) {
            fprintf(stderr, "bench_resnet: %s\n", sc_last_error());
            return 1;
        }
    for (int r = 0; r < reps; r++) {
        double a = now(), ca = cpu_now();
        sc_resnet_forward(m, x, N, H, W, f, NULL);
        t[r] = now() - a;
        if (cpu_now() - ca < best_cpu) best_cpu = cpu_now() - ca;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp);
    double sum = 0;
    for (size_t i = 0; i < nf; i++) sum += f[i];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    sc_blas_info bi;
    sc_blas_get_info(&bi);
    printf("saccade %s N %d threads %d winograd %d: best_ms %.1f median_ms %.1f cpu_ms %.1f "
           "maxrss_kb %ld "
           "weights_mb %.1f arena_mb %.1f load_s %.2f checksum %.6g blas %s\n",
           info.arch, N, threads, wino, 1e3 * t[0], 1e3 * t[reps / 2], 1e3 * best_cpu, ru.ru_maxrss,
           info.weight_bytes / 1048576.0, info.arena_bytes / 1048576.0, tload, sum, bi.library);
    sc_free(x), sc_free(f), free(t);
    sc_resnet_free(m);
    return 0;
}

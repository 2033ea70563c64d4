/* Benchmark (not a test): multi-head attention forward, batch 8, seq 196,
 * embed 512, 8 heads (ViT-B/16-like token grid), eval mode, no weights output.
 * Usage: bench_mha THREADS [REPS]  -> prints "saccade_mha_ms <median>". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "saccade/saccade.h"
#include "saccade/sc_attention.h"
#include "saccade/sc_blas.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 20;
    if (threads <= 0 || reps <= 0 || reps > 1000) {
        fprintf(stderr, "usage: bench_mha THREADS [REPS]\n");
        return 2;
    }
    if (sc_set_num_threads(threads) || sc_blas_init()) {
        fprintf(stderr, "bench_mha: %s\n", sc_last_error());
        return 1;
    }
    const int B = 8, L = 196, E = 512, H = 8;
    sc_mha_desc d = {B, L, L, E, H, 0.0f};
    size_t nx = (size_t)B * L * E;
    float *x = sc_malloc(nx * sizeof(float)), *out = sc_malloc(nx * sizeof(float));
    float *wi = sc_malloc((size_t)3 * E * E * sizeof(float)),
          *bi = sc_malloc(3 * E * sizeof(float));
    float *wo = sc_malloc((size_t)E * E * sizeof(float)), *bo = sc_malloc(E * sizeof(float));
    float *cache = sc_malloc(sc_mha_cache_floats(&d) * sizeof(float));
    double *t = malloc(reps * sizeof(double));
    if (!x || !out || !wi || !bi || !wo || !bo || !cache || !t) return 1;
    sc_rng r;
    sc_rng_seed(&r, 1);
    for (size_t i = 0; i < nx; i++) x[i] = sc_rng_normal(&r);
    for (size_t i = 0; i < (size_t)3 * E * E; i++) wi[i] = 0.05f * sc_rng_normal(&r);
    for (size_t i = 0; i < (size_t)E * E; i++) wo[i] = 0.05f * sc_rng_normal(&r);
    for (int i = 0; i < 3 * E; i++) bi[i] = 0.01f * sc_rng_normal(&r);
    for (int i = 0; i < E; i++) bo[i] = 0.01f * sc_rng_normal(&r);
    sc_mha_weights w = {wi, bi, wo, bo, NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) /* warm-up */
        if (sc_mha_forward(&d, &w, x, x, x, NULL, NULL, 0, NULL, cache, out, NULL, 0)) {
            fprintf(stderr, "bench_mha: %s\n", sc_last_error());
            return 1;
        }
    for (int i = 0; i < reps; i++) {
        double t0 = now_ms();
        sc_mha_forward(&d, &w, x, x, x, NULL, NULL, 0, NULL, cache, out, NULL, 0);
        t[i] = now_ms() - t0;
    }
    qsort(t, reps, sizeof(double), cmp);
    sc_blas_info info;
    sc_blas_get_info(&info);
    printf("saccade_mha_ms %.3f min %.3f threads %d blas_core %s\n", t[reps / 2], t[0], threads,
           info.core);
    sc_free(x), sc_free(out), sc_free(wi), sc_free(bi), sc_free(wo), sc_free(bo), sc_free(cache);
    free(t);
    return 0;
}

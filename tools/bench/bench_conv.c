/* Conv2d forward throughput vs the sgemm of the same shape (M = OC,
 * N = OH*OW, K = IC*KH*KW), for ResNet-101's 3x3 convs at a 1x3x256x256
 * input and a few 1x1 shapes. Best of several reps, 1 and 2 threads.
 * Usage: bench_conv [reps]   (never run by the test suite) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "saccade/saccade.h"
#include "saccade/sc_nn.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const char *name;
    int C, H, OC, K, stride, pad;
} shape;

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 10;
    if (reps < 1) reps = 1;
    const shape shapes[] = {
        {"layer1 3x3 64ch 64x64", 64, 64, 64, 3, 1, 1},
        {"layer2 3x3 128ch 32x32", 128, 32, 128, 3, 1, 1},
        {"layer3 3x3 256ch 16x16", 256, 16, 256, 3, 1, 1},
        {"layer4 3x3 512ch 8x8", 512, 8, 512, 3, 1, 1},
        {"1x1 256->64 64x64", 256, 64, 64, 1, 1, 0},
        {"1x1 1024->256 16x16", 1024, 16, 256, 1, 1, 0},
        {"1x1 s2 256->512 64x64", 256, 64, 512, 1, 2, 0},
    };
    if (sc_blas_init() != SC_OK) {
        fprintf(stderr, "bench_conv: %s\n", sc_last_error());
        return 1;
    }
    sc_blas_info info;
    sc_blas_get_info(&info);
    printf("OpenBLAS core %s, reps %d (best)\n", info.core, reps);
    const int nthreads[2] = {1, 2};
    for (int ti = 0; ti < 2; ti++) {
        sc_set_num_threads(nthreads[ti]);
        printf("\nthreads %d\n%-26s %10s %10s %7s\n", nthreads[ti], "shape", "conv GF/s",
               "gemm GF/s", "ratio");
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            const shape *sh = &shapes[s];
            sc_conv2d_desc d = sc_conv2d_make(1, sh->C, sh->H, sh->H, sh->OC, sh->K, sh->K,
                                              sh->stride, sh->pad, 1, 1);
            int OH, OW;
            size_t ws_bytes;
            if (sc_conv2d_out_size(&d, &OH, &OW) || sc_conv2d_workspace_bytes(&d, &ws_bytes, NULL))
                return 1;
            int M = sh->OC, N = OH * OW, K = sh->C * sh->K * sh->K;
            size_t nx = (size_t)sh->C * sh->H * sh->H, nw = (size_t)M * K, ny = (size_t)M * N;
            float *x = sc_malloc(nx * 4), *w = sc_malloc(nw * 4), *b = sc_malloc((size_t)M * 4),
                  *y = sc_malloc(ny * 4), *A = sc_malloc((size_t)K * N * 4);
            void *ws = ws_bytes ? sc_malloc(ws_bytes) : NULL;
            if (!x || !w || !b || !y || !A) return 1;
            for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 7) % 13) * 0.01f;
            for (size_t i = 0; i < nw; i++) w[i] = (float)((i * 5) % 11) * 0.01f;
            for (size_t i = 0; i < (size_t)K * N; i++) A[i] = (float)((i * 3) % 7) * 0.01f;
            for (int i = 0; i < M; i++) b[i] = 0.1f;
            double flop = 2.0 * M * N * K, best_conv = 1e30, best_gemm = 1e30;
            sc_conv2d_forward(&d, y, x, w, b, ws, ws_bytes); /* warm-up */
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, M, N, K, 1.0f, w, K, A, N, 0.0f, y, N);
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                sc_conv2d_forward(&d, y, x, w, b, ws, ws_bytes);
                double t1 = now();
                sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, M, N, K, 1.0f, w, K, A, N, 0.0f, y, N);
                double t2 = now();
                if (t1 - t0 < best_conv) best_conv = t1 - t0;
                if (t2 - t1 < best_gemm) best_gemm = t2 - t1;
            }
            double gc = flop / best_conv * 1e-9, gg = flop / best_gemm * 1e-9;
            printf("%-26s %10.1f %10.1f %7.2f\n", sh->name, gc, gg, gc / gg);
            sc_free(x), sc_free(w), sc_free(b), sc_free(y), sc_free(A), sc_free(ws);
        }
    }
    return 0;
}

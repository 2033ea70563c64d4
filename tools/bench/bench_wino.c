/* 3x3 stride-1 conv at ResNet-101's shapes (1x3x256x256 input, plus the
 * 512 input's layer3/4): im2col + sgemm (as vision/encoders/resnet.c does it) vs
 * Winograd F(2x2) and F(4x4) (src/winograd.c, transforms included), and the
 * sgemm alone of the equivalent GEMM shape (M = OC, N = H*W, K = 9 C).
 * Interleaved, best of REPS; GF/s are "effective" (direct conv's 2 M N K
 * flops over the time), so Winograd can exceed the sgemm's figure.
 * With threads = 1 the times are the thread's CPU time (OpenBLAS then runs
 * in the calling thread), which other load on the machine hardly changes.
 * Usage: bench_wino [reps=20] [threads=2]   (never run by the test suite) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "saccade/saccade.h"
#include "winograd.h"

static int g_cpu; /* 1 thread: time this thread's CPU time, not wall time */
static double now(void) {
    struct timespec t;
    clock_gettime(g_cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* im2col for 3x3 stride 1 pad 1 */
static void im2col(const float *x, int C, int H, int W, float *col) {
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
                float *d = col + ((size_t)(c * 3 + kh) * 3 + kw) * H * W;
                for (int y = 0; y < H; y++)
                    for (int xx = 0; xx < W; xx++) {
                        int iy = y + kh - 1, ix = xx + kw - 1;
                        d[(size_t)y * W + xx] = (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                                    ? x[((size_t)c * H + iy) * W + ix]
                                                    : 0.0f;
                    }
            }
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 20, threads = argc > 2 ? atoi(argv[2]) : 2;
    if (reps < 1) reps = 1;
    const int shapes[][2] = {{64, 64}, {128, 32}, {256, 16}, {512, 8}, {256, 32}, {512, 16}};
    if (sc_blas_init() != SC_OK) {
        fprintf(stderr, "bench_wino: %s\n", sc_last_error());
        return 1;
    }
    sc_set_num_threads(threads);
    g_cpu = threads == 1;
    printf("threads %d, best of %d; %s ms and effective GF/s\n", threads, reps,
           g_cpu ? "CPU" : "wall");
    printf("%-14s %15s %15s %15s %15s %6s\n", "C=OC @ HxW", "sgemm only", "im2col+sgemm", "F(2x2)",
           "F(4x4)", "best");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int C = shapes[s][0], H = shapes[s][1], W = H, OC = C, N = H * W, K = 9 * C;
        size_t nx = (size_t)C * H * W, ny = (size_t)OC * H * W;
        float *x = sc_malloc(nx * 4), *w = sc_malloc((size_t)OC * K * 4), *b = sc_malloc(OC * 4),
              *y = sc_malloc(ny * 4), *col = sc_malloc((size_t)K * N * 4);
        size_t nu[2], nws[2];
        float *U[2], *ws[2];
        for (int i = 0; i < 2; i++) {
            int m = 2 + 2 * i;
            nu[i] = sc_winograd_weight_floats(m, C, OC);
            nws[i] = sc_winograd_workspace_floats(m, C, OC, H, W);
            U[i] = sc_malloc(nu[i] * 4);
            ws[i] = sc_malloc(nws[i] * 4);
        }
        for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 7) % 13) * 0.1f - 0.6f;
        for (size_t i = 0; i < (size_t)OC * K; i++) w[i] = (float)((i * 5) % 11) * 0.01f - 0.05f;
        for (int i = 0; i < OC; i++) b[i] = 0.1f;
        for (int i = 0; i < 2; i++) sc_winograd_weights(2 + 2 * i, w, C, OC, U[i]);
        im2col(x, C, H, W, col);
        double best[6] = {1e30, 1e30, 1e30, 1e30, 1e30, 1e30};
        for (int r = 0; r < reps + 1; r++) {
            double t[7];
            t[0] = now();
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, OC, N, K, 1.0f, w, K, col, N, 0.0f, y, N);
            t[1] = now();
            im2col(x, C, H, W, col);
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, OC, N, K, 1.0f, w, K, col, N, 0.0f, y, N);
            t[2] = now();
            sc_winograd_conv3x3(2, U[0], b, x, 1, C, OC, H, W, NULL, 1, y, ws[0], nws[0]);
            t[3] = now();
            sc_winograd_conv3x3(4, U[1], b, x, 1, C, OC, H, W, NULL, 1, y, ws[1], nws[1]);
            t[4] = now();
            for (int i = 0; i < 2; i++) { /* the products alone */
                const int m = 2 + 2 * i, A = m + 2, T = ((H + m - 1) / m) * ((W + m - 1) / m);
                for (int xi = 0; xi < A * A; xi++)
                    sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, OC, T, C, 1.0f, U[i] + (size_t)xi * OC * C,
                             C, ws[i] + (size_t)xi * C * T, T, 0.0f,
                             ws[i] + (size_t)A * A * C * T + (size_t)xi * OC * T, T);
                t[5 + i] = now();
            }
            if (r == 0) continue; /* warm-up */
            for (int k = 0; k < 6; k++)
                if (t[k + 1] - t[k] < best[k]) best[k] = t[k + 1] - t[k];
        }
        const double flop = 2.0 * OC * N * K;
        char name[32];
        snprintf(name, sizeof name, "%d @ %dx%d", C, H, W);
        printf("%-14s", name);
        int bi = 1;
        for (int k = 0; k < 4; k++) {
            printf(" %6.2f (%6.1f)", 1e3 * best[k], flop / best[k] * 1e-9);
            if (k > 1 && best[k] < best[bi]) bi = k;
        }
        printf(" %6s   %6.2f %6.2f\n",
               bi == 1   ? "im2col"
               : bi == 2 ? "F2"
                         : "F4",
               1e3 * best[4], 1e3 * best[5]);
        sc_free(x), sc_free(w), sc_free(b), sc_free(y), sc_free(col);
        for (int i = 0; i < 2; i++) sc_free(U[i]), sc_free(ws[i]);
    }
    return 0;
}

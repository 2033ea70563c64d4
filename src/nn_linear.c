/* Linear layer: out = x W^T + b (PyTorch layout, W is (out, in)). Threads come
 * from OpenBLAS only (see the note on OpenMP in nn_conv.c). */
#include "saccade/sc_nn.h"
#include "saccade/sc_blas.h"
#include "nn_internal.h"

sc_status sc_linear_forward(float *out, const float *x, const float *w, const float *b, int N,
                            int in_f, int out_f) {
    static const char fn[] = "sc_linear_forward";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    NN_REQUIRE(w, fn);
    size_t n;
    sc_status st = nn_count(fn, &n, 3, N, in_f, out_f);
    if (st) return st;
    if (b) {
        for (int i = 0; i < N; i++)
            for (int j = 0; j < out_f; j++) out[(size_t)i * out_f + j] = b[j];
    }
    sc_sgemm(SC_NO_TRANS, SC_TRANS, N, out_f, in_f, 1.0f, x, in_f, w, in_f, b ? 1.0f : 0.0f, out,
             out_f);
    return SC_OK;
}

sc_status sc_linear_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                             const float *w, int N, int in_f, int out_f) {
    static const char fn[] = "sc_linear_backward";
    NN_REQUIRE(dout, fn);
    if (dx) NN_REQUIRE(w, fn);
    if (dw) NN_REQUIRE(x, fn);
    size_t n;
    sc_status st = nn_count(fn, &n, 3, N, in_f, out_f);
    if (st) return st;
    /* dx (N, in) += dout (N, out) @ W (out, in) */
    if (dx)
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, N, in_f, out_f, 1.0f, dout, out_f, w, in_f, 1.0f, dx,
                 in_f);
    /* dW (out, in) += dout^T (out, N) @ x (N, in) */
    if (dw)
        sc_sgemm(SC_TRANS, SC_NO_TRANS, out_f, in_f, N, 1.0f, dout, out_f, x, in_f, 1.0f, dw, in_f);
    if (db) {
        for (int j = 0; j < out_f; j++) {
            double s = 0;
            for (int i = 0; i < N; i++) s += dout[(size_t)i * out_f + j];
            db[j] += (float)s;
        }
    }
    return SC_OK;
}

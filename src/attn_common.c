/* Helpers shared by the attention modules: size products and local dense
 * kernels (linear, layer norm, relu/gelu) used until sc_nn.h lands. */
#include <math.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "attn_internal.h"
#include "sc_internal.h"

size_t attn_prod(int n, const long long *f) {
    size_t p = 1;
    for (int i = 0; i < n; i++) {
        if (f[i] <= 0) return 0;
        if (sc_mul_size(p, (size_t)f[i], &p)) return 0;
    }
    /* keep byte counts representable too */
    if (p > SIZE_MAX / sizeof(float) / 8) return 0;
    return p;
}

void attn_linear_fwd(float *out, const float *x, const float *w, const float *b, int N, int in_f,
                     int out_f) {
    if (b) {
#pragma omp parallel for schedule(static) if ((size_t)N * out_f > 65536)
        for (int r = 0; r < N; r++)
            memcpy(out + (size_t)r * out_f, b, (size_t)out_f * sizeof(float));
    }
    sc_sgemm(SC_NO_TRANS, SC_TRANS, N, out_f, in_f, 1.0f, x, in_f, w, in_f, b ? 1.0f : 0.0f, out,
             out_f);
}

void attn_linear_bwd(float *dx, float *dw, float *db, const float *dout, const float *x,
                     const float *w, int N, int in_f, int out_f) {
    if (dx)
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, N, in_f, out_f, 1.0f, dout, out_f, w, in_f, 1.0f, dx,
                 in_f);
    if (dw)
        sc_sgemm(SC_TRANS, SC_NO_TRANS, out_f, in_f, N, 1.0f, dout, out_f, x, in_f, 1.0f, dw, in_f);
    if (db) {
#pragma omp parallel for schedule(static) if ((size_t)N * out_f > 65536)
        for (int j = 0; j < out_f; j++) {
            double s = 0;
            for (int r = 0; r < N; r++) s += dout[(size_t)r * out_f + j];
            db[j] += (float)s;
        }
    }
}

void attn_layernorm_fwd(float *out, float *mean, float *rstd, const float *x, const float *g,
                        const float *b, int N, int D, float eps) {
#pragma omp parallel for schedule(static) if ((size_t)N * D > 32768)
    for (int r = 0; r < N; r++) {
        const float *xr = x + (size_t)r * D;
        float *o = out + (size_t)r * D;
        double m = 0, v = 0;
        for (int j = 0; j < D; j++) m += xr[j];
        m /= D;
        for (int j = 0; j < D; j++) v += (xr[j] - m) * (xr[j] - m);
        v /= D;
        double rs = 1.0 / sqrt(v + eps);
        for (int j = 0; j < D; j++) {
            double y = (xr[j] - m) * rs;
            if (g) y *= g[j];
            if (b) y += b[j];
            o[j] = (float)y;
        }
        if (mean) mean[r] = (float)m;
        if (rstd) rstd[r] = (float)rs;
    }
}

void attn_layernorm_bwd(float *dx, float *dg, float *db, const float *dout, const float *x,
                        const float *mean, const float *rstd, const float *g, int N, int D) {
    if (dx) {
#pragma omp parallel for schedule(static) if ((size_t)N * D > 32768)
        for (int r = 0; r < N; r++) {
            const float *xr = x + (size_t)r * D, *dr = dout + (size_t)r * D;
            double m = mean[r], rs = rstd[r], s1 = 0, s2 = 0;
            for (int j = 0; j < D; j++) {
                double dxh = dr[j] * (g ? g[j] : 1.0f);
                s1 += dxh;
                s2 += dxh * (xr[j] - m) * rs;
            }
            s1 /= D, s2 /= D;
            float *o = dx + (size_t)r * D;
            for (int j = 0; j < D; j++) {
                double dxh = dr[j] * (g ? g[j] : 1.0f);
                o[j] += (float)(rs * (dxh - s1 - (xr[j] - m) * rs * s2));
            }
        }
    }
    if (dg || db) {
#pragma omp parallel for schedule(static) if ((size_t)N * D > 32768)
        for (int j = 0; j < D; j++) {
            double sg = 0, sb = 0;
            for (int r = 0; r < N; r++) {
                double d = dout[(size_t)r * D + j];
                sg += d * (x[(size_t)r * D + j] - mean[r]) * rstd[r];
                sb += d;
            }
            if (dg) dg[j] += (float)sg;
            if (db) db[j] += (float)sb;
        }
    }
}

void attn_act_fwd(int act, float *out, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        out[i] = act == 0 ? (v > 0 ? v : 0.0f)
                          : (float)(0.5 * v * (1.0 + erf(v * 0.70710678118654752440)));
    }
}

void attn_act_bwd(int act, float *dx, const float *dout, const float *x, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        double v = x[i], d;
        if (act == 0)
            d = v > 0 ? 1.0 : 0.0;
        else
            d = 0.5 * (1.0 + erf(v * 0.70710678118654752440)) +
                v * exp(-0.5 * v * v) * 0.39894228040143267794;
        dx[i] += (float)(d * dout[i]);
    }
}

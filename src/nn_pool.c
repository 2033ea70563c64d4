/* Max / average / adaptive average / global average pooling over NCHW, and
 * masked average pooling over positions, forward and backward, following PyTorch's CPU kernels
 * (output size, window clipping, divisors, NaN and tie handling). Parallel over (n, c) planes:
 * every plane is written by one thread, so results are deterministic. */
#include <math.h>
#include <string.h>
#include "saccade/sc_nn.h"
#include "nn_internal.h"

#define POOL_PAR_MIN 16384

sc_pool2d_desc sc_pool2d_make(int N, int C, int H, int W, int kernel, int stride, int pad,
                              int ceil_mode, int count_include_pad) {
    sc_pool2d_desc d = {N,      C,      H,   W,   kernel,    kernel,
                        stride, stride, pad, pad, ceil_mode, count_include_pad};
    return d;
}

static int64_t pool_out(int64_t in, int64_t k, int64_t s, int64_t p, int ceil_mode) {
    int64_t num = in + 2 * p - (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

typedef struct {
    int OH, OW;
    size_t planes, in_plane, out_plane;
} pool_geom;

static sc_status pool_check(const char *fn, const sc_pool2d_desc *d, pool_geom *g) {
    if (!d) return sc_set_error(SC_ERR_INVALID_ARG, "%s: desc is NULL", fn);
    size_t n;
    sc_status st = nn_count(fn, &n, 4, d->N, d->C, d->H, d->W);
    if (st) return st;
    if (d->KH <= 0 || d->KW <= 0 || d->stride_h <= 0 || d->stride_w <= 0 || d->pad_h < 0 ||
        d->pad_w < 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: kernel (%d, %d) and stride (%d, %d) must be >= 1, padding (%d, "
                            "%d) >= 0",
                            fn, d->KH, d->KW, d->stride_h, d->stride_w, d->pad_h, d->pad_w);
    if (d->pad_h > d->KH / 2 || d->pad_w > d->KW / 2)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: padding (%d, %d) must be at most half the kernel (%d, %d)", fn,
                            d->pad_h, d->pad_w, d->KH, d->KW);
    if ((d->ceil_mode != 0 && d->ceil_mode != 1) ||
        (d->count_include_pad != 0 && d->count_include_pad != 1))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: ceil_mode and count_include_pad must be 0 or 1", fn);
    int64_t oh = pool_out(d->H, d->KH, d->stride_h, d->pad_h, d->ceil_mode);
    int64_t ow = pool_out(d->W, d->KW, d->stride_w, d->pad_w, d->ceil_mode);
    if (oh < 1 || ow < 1)
        return sc_set_error(SC_ERR_SHAPE, "%s: input %dx%d is too small for kernel %dx%d", fn, d->H,
                            d->W, d->KH, d->KW);
    if ((int64_t)d->H * d->W > INT32_MAX)
        return sc_set_error(SC_ERR_LIMIT, "%s: input plane is too large", fn);
    g->OH = (int)oh;
    g->OW = (int)ow;
    g->planes = (size_t)d->N * d->C;
    g->in_plane = (size_t)d->H * d->W;
    g->out_plane = (size_t)oh * ow;
    return nn_count(fn, &n, 4, d->N, d->C, g->OH, g->OW);
}

sc_status sc_pool2d_out_size(const sc_pool2d_desc *d, int *OH, int *OW) {
    pool_geom g = {0};
    sc_status st = pool_check("sc_pool2d_out_size", d, &g);
    if (st) return st;
    if (OH) *OH = g.OH;
    if (OW) *OW = g.OW;
    return SC_OK;
}

sc_status sc_maxpool2d_forward(const sc_pool2d_desc *d, float *out, int32_t *argmax,
                               const float *x) {
    static const char fn[] = "sc_maxpool2d_forward";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    pool_geom g = {0};
    sc_status st = pool_check(fn, d, &g);
    if (st) return st;
    const long long planes = (long long)g.planes;
#pragma omp parallel for schedule(static) if (g.planes * g.out_plane >= POOL_PAR_MIN)
    for (long long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * g.in_plane;
        float *op = out + (size_t)pl * g.out_plane;
        int32_t *ap = argmax ? argmax + (size_t)pl * g.out_plane : NULL;
        for (int oh = 0; oh < g.OH; oh++) {
            int h0 = oh * d->stride_h - d->pad_h, h1 = SC_MIN(h0 + d->KH, d->H);
            h0 = SC_MAX(h0, 0);
            for (int ow = 0; ow < g.OW; ow++) {
                int w0 = ow * d->stride_w - d->pad_w, w1 = SC_MIN(w0 + d->KW, d->W);
                w0 = SC_MAX(w0, 0);
                int32_t best = h0 * d->W + w0;
                float m = -INFINITY;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) {
                        float v = xp[(size_t)ih * d->W + iw];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = ih * d->W + iw;
                        }
                    }
                op[(size_t)oh * g.OW + ow] = m;
                if (ap) ap[(size_t)oh * g.OW + ow] = best;
            }
        }
    }
    return SC_OK;
}

sc_status sc_maxpool2d_backward(const sc_pool2d_desc *d, float *dx, const float *dout,
                                const int32_t *argmax) {
    static const char fn[] = "sc_maxpool2d_backward";
    NN_REQUIRE(dout, fn);
    NN_REQUIRE(argmax, fn);
    pool_geom g = {0};
    sc_status st = pool_check(fn, d, &g);
    if (st) return st;
    if (!dx) return SC_OK;
    /* Validate indices first so that hostile input never writes out of bounds. */
    const size_t total = g.planes * g.out_plane;
    for (size_t i = 0; i < total; i++)
        if (argmax[i] < 0 || (size_t)argmax[i] >= g.in_plane)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "%s: argmax[%zu] = %d is outside the %zu-element plane", fn, i,
                                (int)argmax[i], g.in_plane);
    const long long planes = (long long)g.planes;
#pragma omp parallel for schedule(static) if (total >= POOL_PAR_MIN)
    for (long long pl = 0; pl < planes; pl++) {
        float *dp = dx + (size_t)pl * g.in_plane;
        const float *gp = dout + (size_t)pl * g.out_plane;
        const int32_t *ap = argmax + (size_t)pl * g.out_plane;
        for (size_t i = 0; i < g.out_plane; i++) dp[ap[i]] += gp[i];
    }
    return SC_OK;
}

/* Window of output (oh, ow) clipped to the input, and its divisor. */
typedef struct {
    int h0, h1, w0, w1;
    float div;
} avg_win;

static inline avg_win avg_window(const sc_pool2d_desc *d, int oh, int ow) {
    avg_win a;
    int h0 = oh * d->stride_h - d->pad_h, w0 = ow * d->stride_w - d->pad_w;
    int h1 = SC_MIN(h0 + d->KH, d->H + d->pad_h), w1 = SC_MIN(w0 + d->KW, d->W + d->pad_w);
    int pool = (h1 - h0) * (w1 - w0);
    a.h0 = SC_MAX(h0, 0);
    a.w0 = SC_MAX(w0, 0);
    a.h1 = SC_MIN(h1, d->H);
    a.w1 = SC_MIN(w1, d->W);
    int cnt = (a.h1 - a.h0) * (a.w1 - a.w0);
    a.div = (float)(d->count_include_pad ? pool : cnt);
    if (a.h0 >= a.h1 || a.w0 >= a.w1) a.div = 0; /* empty window: output 0 */
    return a;
}

sc_status sc_avgpool2d_forward(const sc_pool2d_desc *d, float *out, const float *x) {
    static const char fn[] = "sc_avgpool2d_forward";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    pool_geom g = {0};
    sc_status st = pool_check(fn, d, &g);
    if (st) return st;
    const long long planes = (long long)g.planes;
#pragma omp parallel for schedule(static) if (g.planes * g.out_plane >= POOL_PAR_MIN)
    for (long long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * g.in_plane;
        float *op = out + (size_t)pl * g.out_plane;
        for (int oh = 0; oh < g.OH; oh++)
            for (int ow = 0; ow < g.OW; ow++) {
                avg_win a = avg_window(d, oh, ow);
                float s = 0;
                for (int ih = a.h0; ih < a.h1; ih++)
                    for (int iw = a.w0; iw < a.w1; iw++) s += xp[(size_t)ih * d->W + iw];
                op[(size_t)oh * g.OW + ow] = a.div > 0 ? s / a.div : 0.0f;
            }
    }
    return SC_OK;
}

sc_status sc_avgpool2d_backward(const sc_pool2d_desc *d, float *dx, const float *dout) {
    static const char fn[] = "sc_avgpool2d_backward";
    NN_REQUIRE(dout, fn);
    pool_geom g = {0};
    sc_status st = pool_check(fn, d, &g);
    if (st) return st;
    if (!dx) return SC_OK;
    const long long planes = (long long)g.planes;
#pragma omp parallel for schedule(static) if (g.planes * g.out_plane >= POOL_PAR_MIN)
    for (long long pl = 0; pl < planes; pl++) {
        float *dp = dx + (size_t)pl * g.in_plane;
        const float *gp = dout + (size_t)pl * g.out_plane;
        for (int oh = 0; oh < g.OH; oh++)
            for (int ow = 0; ow < g.OW; ow++) {
                avg_win a = avg_window(d, oh, ow);
                if (!(a.div > 0)) continue;
                float v = gp[(size_t)oh * g.OW + ow] / a.div;
                for (int ih = a.h0; ih < a.h1; ih++)
                    for (int iw = a.w0; iw < a.w1; iw++) dp[(size_t)ih * d->W + iw] += v;
            }
    }
    return SC_OK;
}

static inline int bin_start(int i, int in, int out) {
    return (int)(((int64_t)i * in) / out);
}
static inline int bin_end(int i, int in, int out) {
    return (int)((((int64_t)i + 1) * in + out - 1) / out);
}

static sc_status adaptive_check(const char *fn, int N, int C, int H, int W, int OH, int OW) {
    size_t n;
    sc_status st = nn_count(fn, &n, 4, N, C, H, W);
    if (!st) st = nn_count(fn, &n, 4, N, C, OH, OW);
    return st;
}

sc_status sc_adaptive_avgpool2d_forward(float *out, const float *x, int N, int C, int H, int W,
                                        int OH, int OW) {
    static const char fn[] = "sc_adaptive_avgpool2d_forward";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    sc_status st = adaptive_check(fn, N, C, H, W, OH, OW);
    if (st) return st;
    const long long planes = (long long)N * C;
    const size_t ip = (size_t)H * W, op = (size_t)OH * OW;
#pragma omp parallel for schedule(static) if ((size_t)planes * op >= POOL_PAR_MIN)
    for (long long pl = 0; pl < planes; pl++) {
        const float *xp = x + (size_t)pl * ip;
        float *o = out + (size_t)pl * op;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = bin_start(oh, H, OH), h1 = bin_end(oh, H, OH);
            for (int ow = 0; ow < OW; ow++) {
                int w0 = bin_start(ow, W, OW), w1 = bin_end(ow, W, OW);
                float s = 0;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) s += xp[(size_t)ih * W + iw];
                o[(size_t)oh * OW + ow] = s / (float)((h1 - h0) * (w1 - w0));
            }
        }
    }
    return SC_OK;
}

sc_status sc_adaptive_avgpool2d_backward(float *dx, const float *dout, int N, int C, int H, int W,
                                         int OH, int OW) {
    static const char fn[] = "sc_adaptive_avgpool2d_backward";
    NN_REQUIRE(dout, fn);
    sc_status st = adaptive_check(fn, N, C, H, W, OH, OW);
    if (st) return st;
    if (!dx) return SC_OK;
    const long long planes = (long long)N * C;
    const size_t ip = (size_t)H * W, op = (size_t)OH * OW;
#pragma omp parallel for schedule(static) if ((size_t)planes * op >= POOL_PAR_MIN)
    for (long long pl = 0; pl < planes; pl++) {
        float *dp = dx + (size_t)pl * ip;
        const float *g = dout + (size_t)pl * op;
        for (int oh = 0; oh < OH; oh++) {
            int h0 = bin_start(oh, H, OH), h1 = bin_end(oh, H, OH);
            for (int ow = 0; ow < OW; ow++) {
                int w0 = bin_start(ow, W, OW), w1 = bin_end(ow, W, OW);
                float v = g[(size_t)oh * OW + ow] / (float)((h1 - h0) * (w1 - w0));
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++) dp[(size_t)ih * W + iw] += v;
            }
        }
    }
    return SC_OK;
}

sc_status sc_global_avgpool2d_forward(float *out, const float *x, int N, int C, int HW) {
    static const char fn[] = "sc_global_avgpool2d_forward";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    size_t n;
    sc_status st = nn_count(fn, &n, 3, N, C, HW);
    if (st) return st;
    const long long planes = (long long)N * C;
#pragma omp parallel for schedule(static) if (n >= POOL_PAR_MIN)
    for (long long pl = 0; pl < planes; pl++) {
        const float *p = x + (size_t)pl * HW;
        double s = 0;
        for (int i = 0; i < HW; i++) s += p[i];
        out[pl] = (float)(s / HW);
    }
    return SC_OK;
}

sc_status sc_global_avgpool2d_backward(float *dx, const float *dout, int N, int C, int HW) {
    static const char fn[] = "sc_global_avgpool2d_backward";
    NN_REQUIRE(dout, fn);
    size_t n;
    sc_status st = nn_count(fn, &n, 3, N, C, HW);
    if (st) return st;
    if (!dx) return SC_OK;
    const long long planes = (long long)N * C;
#pragma omp parallel for schedule(static) if (n >= POOL_PAR_MIN)
    for (long long pl = 0; pl < planes; pl++) {
        float *p = dx + (size_t)pl * HW;
        const float v = dout[pl] / (float)HW;
        for (int i = 0; i < HW; i++) p[i] += v;
    }
    return SC_OK;
}

/* Shared checks; *total = n * E. */
static sc_status masked_check(const char *fn, int B, int P, int E, const uint8_t *mask,
                              const int32_t *src, int n, size_t *total) {
    size_t m;
    sc_status st = nn_count(fn, &m, 3, B, P, E);
    if (st) return st;
    if (n < 0) return sc_set_error(SC_ERR_INVALID_ARG, "%s: n = %d is negative", fn, n);
    if (n && (!mask || !src)) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL mask or src", fn);
    for (int i = 0; i < n; i++)
        if (src[i] < 0 || src[i] >= B)
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: src[%d] = %d is outside [0, %d)", fn, i,
                                (int)src[i], B);
    *total = (size_t)n * (size_t)E;
    return SC_OK;
}

static int mask_count(const uint8_t *m, int P) {
    int c = 0;
    for (int p = 0; p < P; p++) c += m[p] != 0;
    return c;
}

sc_status sc_masked_avgpool_forward(float *out, const float *x, int B, int P, int E,
                                    const uint8_t *mask, const int32_t *src, int n) {
    static const char fn[] = "sc_masked_avgpool_forward";
    size_t total;
    sc_status st = masked_check(fn, B, P, E, mask, src, n, &total);
    if (st) return st;
    if (!n) return SC_OK;
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    for (int i = 0; i < n; i++) {
        const uint8_t *m = mask + (size_t)i * P;
        const int c = mask_count(m, P);
        float *o = out + (size_t)i * E;
        memset(o, 0, (size_t)E * sizeof(float));
        for (int p = 0; p < P; p++)
            if (m[p]) {
                const float *r = x + ((size_t)src[i] * P + p) * E;
                for (int e = 0; e < E; e++) o[e] += r[e];
            }
        if (c)
            for (int e = 0; e < E; e++) o[e] /= (float)c;
    }
    return SC_OK;
}

sc_status sc_masked_avgpool_backward(float *dx, const float *dout, int B, int P, int E,
                                     const uint8_t *mask, const int32_t *src, int n) {
    static const char fn[] = "sc_masked_avgpool_backward";
    size_t total;
    sc_status st = masked_check(fn, B, P, E, mask, src, n, &total);
    if (st) return st;
    if (!n || !dx) return SC_OK;
    NN_REQUIRE(dout, fn);
    for (int i = 0; i < n; i++) {
        const uint8_t *m = mask + (size_t)i * P;
        const int c = mask_count(m, P);
        const float *g = dout + (size_t)i * E;
        for (int p = 0; p < P; p++)
            if (m[p]) {
                float *d = dx + ((size_t)src[i] * P + p) * E;
                for (int e = 0; e < E; e++) d[e] += g[e] / (float)c;
            }
    }
    return SC_OK;
}

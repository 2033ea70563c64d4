/* Softmax and log-softmax over the last dimension, forward and backward. */
#include <math.h>
#include "saccade/sc_ops.h"
#include "sc_internal.h"

static sc_status check(const char *fn, const void *a, const void *b, const void *c, int rows,
                       int n) {
    if (!a || !b || !c) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    if (rows <= 0 || n <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: rows (%d) and n (%d) must be > 0", fn, rows,
                            n);
    size_t t;
    if (sc_mul_size((size_t)rows, (size_t)n, &t) || sc_mul_size(t, sizeof(float), &t))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return SC_OK;
}

#define PAR_IF(rows, n) if ((size_t)(rows) * (size_t)(n) > 32768)

sc_status sc_softmax_forward(const float *x, int rows, int n, float *y) {
    sc_status st = check("sc_softmax_forward", x, y, y, rows, n);
    if (st != SC_OK) return st;
#pragma omp parallel for schedule(static) PAR_IF(rows, n)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        float mx = xr[0];
        for (int j = 1; j < n; j++) mx = xr[j] > mx ? xr[j] : mx;
        double s = 0.0;
        for (int j = 0; j < n; j++) {
            float e = expf(xr[j] - mx);
            yr[j] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int j = 0; j < n; j++) yr[j] *= inv;
    }
    return SC_OK;
}

sc_status sc_softmax_backward(const float *y, const float *dy, int rows, int n, float *dx) {
    sc_status st = check("sc_softmax_backward", y, dy, dx, rows, n);
    if (st != SC_OK) return st;
#pragma omp parallel for schedule(static) PAR_IF(rows, n)
    for (int r = 0; r < rows; r++) {
        const float *yr = y + (size_t)r * n, *dr = dy + (size_t)r * n;
        float *xr = dx + (size_t)r * n;
        double s = 0.0;
        for (int j = 0; j < n; j++) s += (double)dr[j] * yr[j];
        float sf = (float)s;
        for (int j = 0; j < n; j++) xr[j] += yr[j] * (dr[j] - sf);
    }
    return SC_OK;
}

sc_status sc_log_softmax_forward(const float *x, int rows, int n, float *y) {
    sc_status st = check("sc_log_softmax_forward", x, y, y, rows, n);
    if (st != SC_OK) return st;
#pragma omp parallel for schedule(static) PAR_IF(rows, n)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * n;
        float *yr = y + (size_t)r * n;
        float mx = xr[0];
        for (int j = 1; j < n; j++) mx = xr[j] > mx ? xr[j] : mx;
        double s = 0.0;
        for (int j = 0; j < n; j++) s += exp((double)xr[j] - mx);
        float ls = (float)log(s);
        for (int j = 0; j < n; j++) yr[j] = (xr[j] - mx) - ls;
    }
    return SC_OK;
}

sc_status sc_log_softmax_backward(const float *y, const float *dy, int rows, int n, float *dx) {
    sc_status st = check("sc_log_softmax_backward", y, dy, dx, rows, n);
    if (st != SC_OK) return st;
#pragma omp parallel for schedule(static) PAR_IF(rows, n)
    for (int r = 0; r < rows; r++) {
        const float *yr = y + (size_t)r * n, *dr = dy + (size_t)r * n;
        float *xr = dx + (size_t)r * n;
        double s = 0.0;
        for (int j = 0; j < n; j++) s += dr[j];
        float sf = (float)s;
        for (int j = 0; j < n; j++) xr[j] += dr[j] - expf(yr[j]) * sf;
    }
    return SC_OK;
}

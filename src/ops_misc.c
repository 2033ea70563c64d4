/* Dropout, reductions, concatenation and elementwise add / axpy / mul. */
#include <math.h>
#include <string.h>
#include "saccade/sc_ops.h"
#include "sc_internal.h"

#define PAR_N(n) if ((n) > 65536)

static sc_status check_flat(const char *fn, size_t n, const void *a, const void *b) {
    if (!a || !b) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    if (n == 0) return sc_set_error(SC_ERR_INVALID_ARG, "%s: n must be > 0", fn);
    size_t t;
    if (sc_mul_size(n, sizeof(float), &t))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: size overflows", fn);
    return SC_OK;
}

/* ---------------------------------------------------------------- dropout */

sc_status sc_dropout_forward(const float *x, size_t n, float p, int train, sc_rng *rng, float *mask,
                             float *out) {
    const char *fn = "sc_dropout_forward";
    sc_status st = check_flat(fn, n, x, out);
    if (st != SC_OK) return st;
    if (!(p >= 0.0f && p <= 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: p = %g is outside [0, 1]", fn, (double)p);
    if (!train) {
        if (out != x) memmove(out, x, n * sizeof(float));
        return SC_OK;
    }
    if (!mask) return sc_set_error(SC_ERR_INVALID_ARG, "%s: training needs a mask buffer", fn);
    if (p > 0.0f && p < 1.0f && !rng)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: training with 0 < p < 1 needs an rng", fn);
    if (p == 0.0f) {
        for (size_t i = 0; i < n; i++) mask[i] = 1.0f;
    } else if (p == 1.0f) {
        memset(mask, 0, n * sizeof(float));
    } else {
        /* Serial: the mask is a pure function of the rng state. Keep with
         * probability 1 - p: uniform in [0, 1) compared against p. */
        const float scale = 1.0f / (1.0f - p);
        for (size_t i = 0; i < n; i++) mask[i] = sc_rng_uniform(rng) < p ? 0.0f : scale;
    }
#pragma omp parallel for schedule(static) PAR_N(n)
    for (size_t i = 0; i < n; i++) out[i] = x[i] * mask[i];
    return SC_OK;
}

sc_status sc_dropout_backward(const float *dout, const float *mask, size_t n, float *dx) {
    sc_status st = check_flat("sc_dropout_backward", n, dout, dx);
    if (st != SC_OK) return st;
    if (mask) {
#pragma omp parallel for schedule(static) PAR_N(n)
        for (size_t i = 0; i < n; i++) dx[i] += dout[i] * mask[i];
    } else {
#pragma omp parallel for schedule(static) PAR_N(n)
        for (size_t i = 0; i < n; i++) dx[i] += dout[i];
    }
    return SC_OK;
}

/* ---------------------------------------------------------------- reductions */

static sc_status check_view(const char *fn, int outer, int n, int inner, sc_reduction op,
                            const void *a, const void *b) {
    if (!a || !b) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    if (outer <= 0 || n <= 0 || inner <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: outer (%d), n (%d), inner (%d) must be > 0",
                            fn, outer, n, inner);
    if (op != SC_REDUCE_SUM && op != SC_REDUCE_MEAN)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: op must be SC_REDUCE_SUM or SC_REDUCE_MEAN",
                            fn);
    size_t t;
    if (sc_mul_size((size_t)outer, (size_t)n, &t) || sc_mul_size(t, (size_t)inner, &t) ||
        sc_mul_size(t, sizeof(float), &t))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return SC_OK;
}

sc_status sc_reduce_forward(const float *x, int outer, int n, int inner, sc_reduction op,
                            float *out) {
    sc_status st = check_view("sc_reduce_forward", outer, n, inner, op, x, out);
    if (st != SC_OK) return st;
    const double scale = op == SC_REDUCE_MEAN ? 1.0 / n : 1.0;
#pragma omp parallel for schedule(static) if ((size_t)outer * n * inner > 65536)
    for (int o = 0; o < outer; o++) {
        const float *xo = x + (size_t)o * n * inner;
        if (inner == 1) {
            double s = 0.0;
            for (int j = 0; j < n; j++) s += xo[j];
            out[o] = (float)(s * scale);
            continue;
        }
        for (int k0 = 0; k0 < inner; k0 += 64) {
            /* A block of 64 inner columns summed row by row (cache friendly). */
            double acc[64];
            int kn = SC_MIN(64, inner - k0);
            for (int k = 0; k < kn; k++) acc[k] = 0.0;
            for (int j = 0; j < n; j++) {
                const float *row = xo + (size_t)j * inner + k0;
                for (int k = 0; k < kn; k++) acc[k] += row[k];
            }
            for (int k = 0; k < kn; k++) out[(size_t)o * inner + k0 + k] = (float)(acc[k] * scale);
        }
    }
    return SC_OK;
}

sc_status sc_reduce_backward(const float *dout, int outer, int n, int inner, sc_reduction op,
                             float *dx) {
    sc_status st = check_view("sc_reduce_backward", outer, n, inner, op, dout, dx);
    if (st != SC_OK) return st;
    const float scale = op == SC_REDUCE_MEAN ? (float)(1.0 / n) : 1.0f;
#pragma omp parallel for schedule(static) if ((size_t)outer * n * inner > 65536)
    for (int o = 0; o < outer; o++)
        for (int j = 0; j < n; j++) {
            float *d = dx + ((size_t)o * n + j) * inner;
            const float *g = dout + (size_t)o * inner;
            for (int k = 0; k < inner; k++) d[k] += g[k] * scale;
        }
    return SC_OK;
}

static sc_status sum_all(const char *fn, const float *x, size_t n, float *out, int mean) {
    sc_status st = check_flat(fn, n, x, out);
    if (st != SC_OK) return st;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    *out = (float)(mean ? s / (double)n : s);
    return SC_OK;
}
sc_status sc_sum_all(const float *x, size_t n, float *out) {
    return sum_all("sc_sum_all", x, n, out, 0);
}
sc_status sc_mean_all(const float *x, size_t n, float *out) {
    return sum_all("sc_mean_all", x, n, out, 1);
}

/* ---------------------------------------------------------------- concat */

static sc_status check_concat(const char *fn, int k, const int *ns, int outer, int inner,
                              const void *buf, int *total) {
    if (!ns || !buf) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    if (k <= 0 || outer <= 0 || inner <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: k (%d), outer (%d), inner (%d) must be > 0",
                            fn, k, outer, inner);
    long long tot = 0;
    for (int i = 0; i < k; i++) {
        if (ns[i] < 0)
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: ns[%d] = %d is negative", fn, i, ns[i]);
        tot += ns[i];
        if (tot > INT32_MAX)
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: total length overflows", fn);
    }
    if (tot == 0) return sc_set_error(SC_ERR_INVALID_ARG, "%s: all inputs are empty", fn);
    size_t t;
    if (sc_mul_size((size_t)outer, (size_t)tot, &t) || sc_mul_size(t, (size_t)inner, &t) ||
        sc_mul_size(t, sizeof(float), &t))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    *total = (int)tot;
    return SC_OK;
}

sc_status sc_concat_forward(int k, const float *const *xs, const int *ns, int outer, int inner,
                            float *out) {
    const char *fn = "sc_concat_forward";
    int tot;
    sc_status st = check_concat(fn, k, ns, outer, inner, out, &tot);
    if (st != SC_OK) return st;
    if (!xs) return sc_set_error(SC_ERR_INVALID_ARG, "%s: xs is NULL", fn);
    for (int i = 0; i < k; i++)
        if (ns[i] > 0 && !xs[i])
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: xs[%d] is NULL", fn, i);
#pragma omp parallel for schedule(static) if ((size_t)outer * tot * inner > 65536)
    for (int o = 0; o < outer; o++) {
        float *dst = out + (size_t)o * tot * inner;
        for (int i = 0; i < k; i++) {
            size_t len = (size_t)ns[i] * inner;
            if (len) memcpy(dst, xs[i] + (size_t)o * len, len * sizeof(float));
            dst += len;
        }
    }
    return SC_OK;
}

sc_status sc_concat_backward(int k, const int *ns, int outer, int inner, const float *dout,
                             float *const *dxs) {
    int tot;
    sc_status st = check_concat("sc_concat_backward", k, ns, outer, inner, dout, &tot);
    if (st != SC_OK) return st;
    if (!dxs) return SC_OK;
#pragma omp parallel for schedule(static) if ((size_t)outer * tot * inner > 65536)
    for (int o = 0; o < outer; o++) {
        const float *src = dout + (size_t)o * tot * inner;
        for (int i = 0; i < k; i++) {
            size_t len = (size_t)ns[i] * inner;
            if (dxs[i]) {
                float *d = dxs[i] + (size_t)o * len;
                for (size_t j = 0; j < len; j++) d[j] += src[j];
            }
            src += len;
        }
    }
    return SC_OK;
}

/* ---------------------------------------------------------------- elementwise */

sc_status sc_add_forward(const float *a, const float *b, size_t n, float alpha, float beta,
                         float *out) {
    sc_status st = check_flat("sc_add_forward", n, a, b);
    if (st == SC_OK) st = check_flat("sc_add_forward", n, out, out);
    if (st != SC_OK) return st;
#pragma omp parallel for schedule(static) PAR_N(n)
    for (size_t i = 0; i < n; i++) out[i] = alpha * a[i] + beta * b[i];
    return SC_OK;
}

sc_status sc_add_backward(const float *dout, size_t n, float alpha, float beta, float *da,
                          float *db) {
    sc_status st = check_flat("sc_add_backward", n, dout, dout);
    if (st != SC_OK) return st;
    if (da) sc_axpy(n, alpha, dout, da);
    if (db) sc_axpy(n, beta, dout, db);
    return SC_OK;
}

sc_status sc_axpy(size_t n, float alpha, const float *x, float *y) {
    sc_status st = check_flat("sc_axpy", n, x, y);
    if (st != SC_OK) return st;
#pragma omp parallel for schedule(static) PAR_N(n)
    for (size_t i = 0; i < n; i++) y[i] += alpha * x[i];
    return SC_OK;
}

sc_status sc_mul_forward(const float *a, const float *b, size_t n, float *out) {
    sc_status st = check_flat("sc_mul_forward", n, a, b);
    if (st == SC_OK) st = check_flat("sc_mul_forward", n, out, out);
    if (st != SC_OK) return st;
#pragma omp parallel for schedule(static) PAR_N(n)
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
    return SC_OK;
}

sc_status sc_mul_backward(const float *a, const float *b, const float *dout, size_t n, float *da,
                          float *db) {
    const char *fn = "sc_mul_backward";
    sc_status st = check_flat(fn, n, dout, dout);
    if (st != SC_OK) return st;
    if ((da && !b) || (db && !a))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: da needs b and db needs a", fn);
#pragma omp parallel for schedule(static) PAR_N(n)
    for (size_t i = 0; i < n; i++) {
        float g = dout[i];
        if (da) da[i] += g * b[i];
        if (db) db[i] += g * a[i];
    }
    return SC_OK;
}

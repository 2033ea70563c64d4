/* Saliency metrics as defined by the MIT saliency benchmark's MATLAB code
 * (cvzoya/saliency, code_forMetrics: AUC_Judd.m, NSS.m, CC.m, similarity.m,
 * KLdiv.m), computed in double. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_saliency.h"

#define MATLAB_EPS 2.220446049250313e-16

static sc_status check_pair(const char *fn, const sc_map *a, const sc_map *b, double *score) {
    if (!a || !b || !score) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL argument", fn);
    *score = NAN;
    if (!a->data || !b->data || a->w <= 0 || a->h <= 0 || b->w <= 0 || b->h <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: empty map", fn);
    if (a->w != b->w || a->h != b->h)
        return sc_set_error(SC_ERR_SHAPE, "%s: maps differ in size (%dx%d vs %dx%d); resize first",
                            fn, a->w, a->h, b->w, b->h);
    size_t n = (size_t)a->w * a->h;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(a->data[i]) || !isfinite(b->data[i]))
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: map value at index %zu is not finite", fn,
                                i);
    return SC_OK;
}

static int cmp_double(const void *pa, const void *pb) {
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Number of entries of the ascending array v (length n) that are >= t. */
static size_t count_ge(const double *v, size_t n, double t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n - lo;
}

sc_status sc_saliency_auc_judd(const sc_map *sal, const sc_map *fix, int jitter, uint64_t seed,
                               double *score) {
    sc_status st = check_pair("sc_saliency_auc_judd", sal, fix, score);
    if (st) return st;
    size_t n = (size_t)sal->w * sal->h, nf = 0;
    for (size_t i = 0; i < n; i++) nf += fix->data[i] > 0.f;
    if (nf == 0) return SC_OK; /* no fixations: NaN */
    double *S = sc_malloc(n * sizeof(double) * 2);
    if (!S) return SC_ERR_NOMEM;
    double *sorted = S + n;
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        S[i] = (double)sal->data[i] + (jitter ? (double)sc_rng_uniform(&rng) / 10000000.0 : 0.0);
    double lo = S[0], hi = S[0];
    for (size_t i = 1; i < n; i++) lo = fmin(lo, S[i]), hi = fmax(hi, S[i]);
    if (!(hi > lo)) { /* constant map: MATLAB's normalisation gives all-NaN */
        sc_free(S);
        return SC_OK;
    }
    for (size_t i = 0; i < n; i++) S[i] = (S[i] - lo) / (hi - lo);
    memcpy(sorted, S, n * sizeof(double));
    qsort(sorted, n, sizeof(double), cmp_double);
    /* Thresholds: saliency at fixated pixels, descending. Reuse S's storage. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (fix->data[i] > 0.f) S[k++] = S[i];
    qsort(S, nf, sizeof(double), cmp_double);
    double area = 0, tp_prev = 0, fp_prev = 0;
    for (size_t i = 1; i <= nf; i++) {
        double th = S[nf - i];
        size_t above = count_ge(sorted, n, th);
        double tp = (double)i / (double)nf;
        double fp = n > nf ? ((double)above - (double)i) / (double)(n - nf) : NAN;
        area += (fp - fp_prev) * (tp + tp_prev) * 0.5;
        tp_prev = tp, fp_prev = fp;
    }
    area += (1.0 - fp_prev) * (1.0 + tp_prev) * 0.5;
    *score = area;
    sc_free(S);
    return SC_OK;
}

static void mean_std(const float *x, size_t n, double *mean, double *sd) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m += x[i];
    m /= (double)n;
    double v = 0;
    for (size_t i = 0; i < n; i++) v += ((double)x[i] - m) * ((double)x[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(v / (double)(n - 1)) : NAN;
}

sc_status sc_saliency_nss(const sc_map *sal, const sc_map *fix, double *score) {
    sc_status st = check_pair("sc_saliency_nss", sal, fix, score);
    if (st) return st;
    size_t n = (size_t)sal->w * sal->h, nf = 0;
    double m, sd, acc = 0;
    mean_std(sal->data, n, &m, &sd);
    if (!(sd > 0)) return SC_OK;
    for (size_t i = 0; i < n; i++)
        if (fix->data[i] != 0.f) acc += ((double)sal->data[i] - m) / sd, nf++;
    if (nf) *score = acc / (double)nf;
    return SC_OK;
}

sc_status sc_saliency_cc(const sc_map *sal, const sc_map *gt, double *score) {
    sc_status st = check_pair("sc_saliency_cc", sal, gt, score);
    if (st) return st;
    size_t n = (size_t)sal->w * sal->h;
    double ma, sa, mb, sb;
    mean_std(sal->data, n, &ma, &sa);
    mean_std(gt->data, n, &mb, &sb);
    if (!(sa > 0) || !(sb > 0)) return SC_OK;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        double a = ((double)sal->data[i] - ma) / sa, b = ((double)gt->data[i] - mb) / sb;
        sab += a * b, saa += a * a, sbb += b * b;
    }
    *score = sab / sqrt(saa * sbb);
    return SC_OK;
}

/* similarity.m's normalisation into out: min-max then divide by the sum; an
 * all-zero map stays zero. Returns 0 when the result is all NaN. */
static int sim_norm(const float *x, size_t n, double *out) {
    int any = 0;
    double lo = x[0], hi = x[0];
    for (size_t i = 0; i < n; i++) {
        any |= x[i] != 0.f;
        lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
        out[i] = x[i];
    }
    if (!any) return 1;
    if (!(hi > lo)) return 0;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += out[i] = (out[i] - lo) / (hi - lo);
    for (size_t i = 0; i < n; i++) out[i] /= s;
    return 1;
}

sc_status sc_saliency_sim(const sc_map *sal, const sc_map *gt, double *score) {
    sc_status st = check_pair("sc_saliency_sim", sal, gt, score);
    if (st) return st;
    size_t n = (size_t)sal->w * sal->h;
    double *a = sc_malloc(n * 2 * sizeof(double));
    if (!a) return SC_ERR_NOMEM;
    double *b = a + n;
    if (sim_norm(sal->data, n, a) && sim_norm(gt->data, n, b)) {
        double s = 0;
        for (size_t i = 0; i < n; i++) s += fmin(a[i], b[i]);
        *score = s;
    }
    sc_free(a);
    return SC_OK;
}

sc_status sc_saliency_kld(const sc_map *sal, const sc_map *gt, double *score) {
    sc_status st = check_pair("sc_saliency_kld", sal, gt, score);
    if (st) return st;
    size_t n = (size_t)sal->w * sal->h;
    double sa = 0, sb = 0;
    for (size_t i = 0; i < n; i++) sa += sal->data[i], sb += gt->data[i];
    int anya = 0, anyb = 0;
    for (size_t i = 0; i < n; i++) anya |= sal->data[i] != 0.f, anyb |= gt->data[i] != 0.f;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double a = anya ? sal->data[i] / sa : sal->data[i];
        double b = anyb ? gt->data[i] / sb : gt->data[i];
        s += b * log(MATLAB_EPS + b / (a + MATLAB_EPS));
    }
    *score = s;
    return SC_OK;
}

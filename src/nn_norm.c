/* BatchNorm2d (training and eval) and LayerNorm, forward and backward.
 * Statistics are accumulated in double, one channel / row per iteration, so
 * results do not depend on the thread count. */
#include <math.h>
#include "saccade/sc_nn.h"
#include "nn_internal.h"

static sc_status bn_check(const char *fn, int N, int C, int HW, size_t *total) {
    return nn_count(fn, total, 3, N, C, HW);
}

sc_status sc_batchnorm2d_forward_train(float *out, float *save_mean, float *save_invstd,
                                       float *running_mean, float *running_var, const float *x,
                                       const float *gamma, const float *beta, int N, int C, int HW,
                                       float momentum, float eps) {
    static const char fn[] = "sc_batchnorm2d_forward_train";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    size_t total;
    sc_status st = bn_check(fn, N, C, HW, &total);
    if (st) return st;
    const size_t M = (size_t)N * HW;
    if (M < 2)
        return sc_set_error(
            SC_ERR_SHAPE, "%s: training needs more than one value per channel (N*HW = %zu)", fn, M);
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: eps %g must be >= 0 and momentum %g in [0, 1]",
                            fn, (double)eps, (double)momentum);
    if ((running_mean == NULL) != (running_var == NULL))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: running_mean and running_var must both be given or both NULL", fn);
    const size_t CHW = (size_t)C * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < N; n++) {
            const float *p = x + n * CHW + (size_t)c * HW;
            /* simd: the reduction's order is fixed by the vector width, so the
             * result still does not depend on the thread count. */
#pragma omp simd reduction(+ : s)
            for (int i = 0; i < HW; i++) s += p[i];
        }
        const double mean = s / (double)M;
        double v = 0;
        for (int n = 0; n < N; n++) {
            const float *p = x + n * CHW + (size_t)c * HW;
#pragma omp simd reduction(+ : v)
            for (int i = 0; i < HW; i++) {
                double t = p[i] - mean;
                v += t * t;
            }
        }
        const double var = v / (double)M;
        const double invstd = 1.0 / sqrt(var + eps);
        const double gm = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
        const float scale = (float)(invstd * gm), shift = (float)(bt - mean * invstd * gm);
        for (int n = 0; n < N; n++) {
            const float *p = x + n * CHW + (size_t)c * HW;
            float *o = out + n * CHW + (size_t)c * HW;
            for (int i = 0; i < HW; i++) o[i] = p[i] * scale + shift;
        }
        if (save_mean) save_mean[c] = (float)mean;
        if (save_invstd) save_invstd[c] = (float)invstd;
        if (running_mean) {
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
            running_var[c] = (float)((1.0 - momentum) * running_var[c] +
                                     momentum * var * (double)M / (double)(M - 1));
        }
    }
    return SC_OK;
}

sc_status sc_batchnorm2d_forward_eval(float *out, const float *x, const float *gamma,
                                      const float *beta, const float *running_mean,
                                      const float *running_var, int N, int C, int HW, float eps) {
    static const char fn[] = "sc_batchnorm2d_forward_eval";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    NN_REQUIRE(running_mean, fn);
    NN_REQUIRE(running_var, fn);
    size_t total;
    sc_status st = bn_check(fn, N, C, HW, &total);
    if (st) return st;
    if (!(eps >= 0)) return sc_set_error(SC_ERR_INVALID_ARG, "%s: eps must be >= 0", fn);
    const size_t CHW = (size_t)C * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const double invstd = 1.0 / sqrt((double)running_var[c] + eps);
        const double gm = gamma ? gamma[c] : 1.0, bt = beta ? beta[c] : 0.0;
        const float scale = (float)(invstd * gm);
        const float shift = (float)(bt - running_mean[c] * invstd * gm);
        for (int n = 0; n < N; n++) {
            const float *p = x + n * CHW + (size_t)c * HW;
            float *o = out + n * CHW + (size_t)c * HW;
            for (int i = 0; i < HW; i++) o[i] = p[i] * scale + shift;
        }
    }
    return SC_OK;
}

sc_status sc_batchnorm2d_backward_train(float *dx, float *dgamma, float *dbeta, const float *dout,
                                        const float *x, const float *save_mean,
                                        const float *save_invstd, const float *gamma, int N, int C,
                                        int HW) {
    static const char fn[] = "sc_batchnorm2d_backward_train";
    NN_REQUIRE(dout, fn);
    NN_REQUIRE(x, fn);
    NN_REQUIRE(save_mean, fn);
    NN_REQUIRE(save_invstd, fn);
    size_t total;
    sc_status st = bn_check(fn, N, C, HW, &total);
    if (st) return st;
    const size_t M = (size_t)N * HW, CHW = (size_t)C * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const double mean = save_mean[c], invstd = save_invstd[c];
        double sd = 0, sdx = 0;
        for (int n = 0; n < N; n++) {
            const float *p = x + n * CHW + (size_t)c * HW;
            const float *g = dout + n * CHW + (size_t)c * HW;
#pragma omp simd reduction(+ : sd, sdx)
            for (int i = 0; i < HW; i++) {
                sd += g[i];
                sdx += g[i] * ((p[i] - mean) * invstd);
            }
        }
        if (dbeta) dbeta[c] += (float)sd;
        if (dgamma) dgamma[c] += (float)sdx;
        if (dx) {
            const double gm = gamma ? gamma[c] : 1.0;
            const double k = gm * invstd, md = sd / (double)M, mdx = sdx / (double)M;
            /* dx = k (g - md - xhat mdx), per element in float (the sums above
             * stay in double): ka, kb, kc fold the channel's constants. */
            const float ka = (float)k, kb = (float)(k * md), kc = (float)(k * mdx * invstd);
            const float mf = (float)mean;
            for (int n = 0; n < N; n++) {
                const float *p = x + n * CHW + (size_t)c * HW;
                const float *g = dout + n * CHW + (size_t)c * HW;
                float *o = dx + n * CHW + (size_t)c * HW;
#pragma omp simd
                for (int i = 0; i < HW; i++) o[i] += ka * g[i] - kb - kc * (p[i] - mf);
            }
        }
    }
    return SC_OK;
}

sc_status sc_batchnorm2d_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dout,
                                       const float *x, const float *gamma,
                                       const float *running_mean, const float *running_var, int N,
                                       int C, int HW, float eps) {
    static const char fn[] = "sc_batchnorm2d_backward_eval";
    NN_REQUIRE(dout, fn);
    NN_REQUIRE(running_var, fn);
    if (dgamma) {
        NN_REQUIRE(x, fn);
        NN_REQUIRE(running_mean, fn);
    }
    size_t total;
    sc_status st = bn_check(fn, N, C, HW, &total);
    if (st) return st;
    if (!(eps >= 0)) return sc_set_error(SC_ERR_INVALID_ARG, "%s: eps must be >= 0", fn);
    const size_t CHW = (size_t)C * HW;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const double invstd = 1.0 / sqrt((double)running_var[c] + eps);
        const double gm = gamma ? gamma[c] : 1.0;
        double sd = 0, sdx = 0;
        for (int n = 0; n < N; n++) {
            const float *g = dout + n * CHW + (size_t)c * HW;
            float *o = dx ? dx + n * CHW + (size_t)c * HW : NULL;
            const float *p = dgamma ? x + n * CHW + (size_t)c * HW : NULL;
            for (int i = 0; i < HW; i++) {
                sd += g[i];
                if (p) sdx += g[i] * ((p[i] - running_mean[c]) * invstd);
                if (o) o[i] += (float)(g[i] * gm * invstd);
            }
        }
        if (dbeta) dbeta[c] += (float)sd;
        if (dgamma) dgamma[c] += (float)sdx;
    }
    return SC_OK;
}

sc_status sc_batchnorm2d_fold_into_conv(float *w, float *bias, int OC, int per_oc,
                                        const float *gamma, const float *beta,
                                        const float *running_mean, const float *running_var,
                                        float eps) {
    static const char fn[] = "sc_batchnorm2d_fold_into_conv";
    NN_REQUIRE(w, fn);
    NN_REQUIRE(bias, fn);
    NN_REQUIRE(running_mean, fn);
    NN_REQUIRE(running_var, fn);
    size_t total;
    sc_status st = nn_count(fn, &total, 2, OC, per_oc);
    if (st) return st;
    if (!(eps >= 0)) return sc_set_error(SC_ERR_INVALID_ARG, "%s: eps must be >= 0", fn);
    for (int oc = 0; oc < OC; oc++) {
        const double s = (gamma ? gamma[oc] : 1.0) / sqrt((double)running_var[oc] + eps);
        float *wr = w + (size_t)oc * per_oc;
        for (int i = 0; i < per_oc; i++) wr[i] = (float)(wr[i] * s);
        bias[oc] = (float)((bias[oc] - (double)running_mean[oc]) * s + (beta ? beta[oc] : 0.0));
    }
    return SC_OK;
}

/* mean and 1 / sqrt(var + eps) of one row of D */
static void ln_stats(const float *p, int D, float eps, double *mean, double *rstd) {
    double s = 0, v = 0;
    for (int i = 0; i < D; i++) s += p[i];
    const double m = s / D;
    for (int i = 0; i < D; i++) v += (p[i] - m) * (p[i] - m);
    *mean = m;
    *rstd = 1.0 / sqrt(v / D + eps);
}

sc_status sc_layernorm_forward(float *out, float *save_mean, float *save_rstd, const float *x,
                               const float *gamma, const float *beta, int N, int D, float eps) {
    static const char fn[] = "sc_layernorm_forward";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    size_t total;
    sc_status st = nn_count(fn, &total, 2, N, D);
    if (st) return st;
    if (!(eps >= 0)) return sc_set_error(SC_ERR_INVALID_ARG, "%s: eps must be >= 0", fn);
#pragma omp parallel for schedule(static) if (total >= 4096)
    for (int n = 0; n < N; n++) {
        const float *p = x + (size_t)n * D;
        float *o = out + (size_t)n * D;
        double mean, rstd;
        ln_stats(p, D, eps, &mean, &rstd);
        for (int i = 0; i < D; i++) {
            double y = (p[i] - mean) * rstd;
            if (gamma) y *= gamma[i];
            if (beta) y += beta[i];
            o[i] = (float)y;
        }
        if (save_mean) save_mean[n] = (float)mean;
        if (save_rstd) save_rstd[n] = (float)rstd;
    }
    return SC_OK;
}

/* dx (one row of D) += the LayerNorm backward of g at x with its mean and rstd. */
static void ln_backward_row(float *o, const float *g, const float *p, const float *gamma,
                            double mean, double rstd, int D) {
    double a = 0, b = 0;
    for (int i = 0; i < D; i++) {
        double dxh = g[i] * (gamma ? gamma[i] : 1.0);
        a += dxh;
        b += dxh * (p[i] - mean) * rstd;
    }
    a /= D;
    b /= D;
    for (int i = 0; i < D; i++) {
        double dxh = g[i] * (gamma ? gamma[i] : 1.0);
        o[i] += (float)(rstd * (dxh - a - (p[i] - mean) * rstd * b));
    }
}

sc_status sc_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                                const float *x, const float *save_mean, const float *save_rstd,
                                const float *gamma, int N, int D) {
    static const char fn[] = "sc_layernorm_backward";
    NN_REQUIRE(dout, fn);
    NN_REQUIRE(x, fn);
    NN_REQUIRE(save_mean, fn);
    NN_REQUIRE(save_rstd, fn);
    size_t total;
    sc_status st = nn_count(fn, &total, 2, N, D);
    if (st) return st;
    if (dx) {
#pragma omp parallel for schedule(static) if (total >= 4096)
        for (int n = 0; n < N; n++)
            ln_backward_row(dx + (size_t)n * D, dout + (size_t)n * D, x + (size_t)n * D, gamma,
                            save_mean[n], save_rstd[n], D);
    }
    if (dgamma || dbeta) {
        /* Column sums: each thread owns a block of columns and walks all rows. */
#pragma omp parallel for schedule(static) if (total >= 4096)
        for (int i0 = 0; i0 < D; i0 += 64) {
            const int i1 = i0 + 64 < D ? i0 + 64 : D;
            double sg[64] = {0}, sb[64] = {0};
            for (int n = 0; n < N; n++) {
                const float *p = x + (size_t)n * D, *g = dout + (size_t)n * D;
                const double mean = save_mean[n], rstd = save_rstd[n];
                for (int i = i0; i < i1; i++) {
                    sg[i - i0] += g[i] * (p[i] - mean) * rstd;
                    sb[i - i0] += g[i];
                }
            }
            for (int i = i0; i < i1; i++) {
                if (dgamma) dgamma[i] += (float)sg[i - i0];
                if (dbeta) dbeta[i] += (float)sb[i - i0];
            }
        }
    }
    return SC_OK;
}

sc_status sc_layernorm_backward_input(float *dx, const float *dout, const float *x,
                                      const float *gamma, int N, int D, float eps) {
    static const char fn[] = "sc_layernorm_backward_input";
    NN_REQUIRE(dx, fn);
    NN_REQUIRE(dout, fn);
    NN_REQUIRE(x, fn);
    size_t total;
    sc_status st = nn_count(fn, &total, 2, N, D);
    if (st) return st;
    if (!(eps >= 0)) return sc_set_error(SC_ERR_INVALID_ARG, "%s: eps must be >= 0", fn);
#pragma omp parallel for schedule(static) if (total >= 4096)
    for (int n = 0; n < N; n++) {
        const float *p = x + (size_t)n * D;
        double mean, rstd;
        ln_stats(p, D, eps, &mean, &rstd);
        /* the float statistics sc_layernorm_forward saves */
        ln_backward_row(dx + (size_t)n * D, dout + (size_t)n * D, p, gamma, (float)mean,
                        (float)rstd, D);
    }
    return SC_OK;
}

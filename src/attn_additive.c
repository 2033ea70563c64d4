/* Additive (Bahdanau / Show, Attend and Tell) soft attention over P positions,
 * with the encoder projection split out (precompute once, step per token). */
#include <math.h>
#include <string.h>
#include "saccade/sc_attention.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "attn_internal.h"
#include "sc_internal.h"

static sc_status check_desc(const char *fn, const sc_addatt_desc *d) {
    if (!d) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL desc", fn);
    if (d->B <= 0 || d->P <= 0 || d->E <= 0 || d->H <= 0 || d->A <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: dims B=%d P=%d E=%d H=%d A=%d must all be > 0",
                            fn, d->B, d->P, d->E, d->H, d->A);
    if (d->act != SC_ADDATT_RELU && d->act != SC_ADDATT_TANH)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: unknown activation %d", fn, (int)d->act);
    if (!attn_prod(3, (long long[]){d->B, d->P, d->A}) ||
        !attn_prod(3, (long long[]){d->B, d->P, d->E}) ||
        !attn_prod(2, (long long[]){d->A, d->E > d->H ? d->E : d->H}))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return SC_OK;
}

size_t sc_addatt_step_cache_floats(const sc_addatt_desc *d) {
    if (!d || d->B <= 0 || d->P <= 0 || d->A <= 0) return 0;
    size_t u = attn_prod(3, (long long[]){d->B, d->P, d->A});
    size_t a = attn_prod(2, (long long[]){d->B, d->P});
    return u && a ? u + a : 0;
}

size_t sc_addatt_cache_floats(const sc_addatt_desc *d) {
    size_t s = sc_addatt_step_cache_floats(d);
    if (!s) return 0;
    return s + attn_prod(3, (long long[]){d->B, d->P, d->A});
}

sc_status sc_addatt_precompute(const sc_addatt_desc *d, const float *features,
                               const sc_addatt_weights *w, float *proj) {
    const char *fn = "sc_addatt_precompute";
    sc_status st = check_desc(fn, d);
    if (st) return st;
    if (!features || !w || !w->encoder_att_weight || !proj)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: NULL features, weights, encoder_att.weight or proj", fn);
    ATTN_TRY(sc_linear_forward(proj, features, w->encoder_att_weight, w->encoder_att_bias,
                               d->B * d->P, d->E, d->A));
    return st;
}

sc_status sc_addatt_precompute_backward(const sc_addatt_desc *d, const float *features,
                                        const sc_addatt_weights *w, const float *dproj,
                                        float *dfeatures, sc_addatt_grads *g) {
    const char *fn = "sc_addatt_precompute_backward";
    sc_status st = check_desc(fn, d);
    if (st) return st;
    if (!features || !w || !w->encoder_att_weight || !dproj)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: NULL features, weights, encoder_att.weight or dproj", fn);
    ATTN_TRY(sc_linear_backward(dfeatures, g ? g->encoder_att_weight : NULL,
                                g ? g->encoder_att_bias : NULL, dproj, features,
                                w->encoder_att_weight, d->B * d->P, d->E, d->A));
    return st;
}

sc_status sc_addatt_step_forward(const sc_addatt_desc *d, const float *features, const float *proj,
                                 const float *hidden, const sc_addatt_weights *w, float *context,
                                 float *alpha, float *cache) {
    const char *fn = "sc_addatt_step_forward";
    sc_status st = check_desc(fn, d);
    if (st) return st;
    if (!features || !proj || !hidden || !w || !context || !cache)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: NULL features, proj, hidden, weights, context or cache", fn);
    if (!w->decoder_att_weight || !w->full_att_weight)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL decoder_att.weight or full_att.weight",
                            fn);
    const int B = d->B, P = d->P, E = d->E, H = d->H, A = d->A;
    float *u = cache, *al = cache + (size_t)B * P * A;
    const float fb = w->full_att_bias ? w->full_att_bias[0] : 0.0f;
#pragma omp parallel for schedule(static) if ((size_t)B * P * A > 32768)
    for (int b = 0; b < B; b++) {
        float *ub = u + (size_t)b * P * A;
        /* dec = W_dec h_b + b_dec, staged in the last row of ub: that row is
         * computed last and element a is read before it is overwritten. */
        float *dec = ub + (size_t)(P - 1) * A;
        /* float accumulation in SIMD lanes: this runs once per token and batch
         * row, and double accumulators kept it scalar (15% of a training step) */
        const float *hb = hidden + (size_t)b * H, *fw = w->full_att_weight;
        for (int a = 0; a < A; a++) {
            const float *wr = w->decoder_att_weight + (size_t)a * H;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < H; j++) s += wr[j] * hb[j];
            dec[a] = s + (w->decoder_att_bias ? w->decoder_att_bias[a] : 0.0f);
        }
        for (int p = 0; p < P; p++) {
            const float *pr = proj + ((size_t)b * P + p) * A;
            float *ur = ub + (size_t)p * A;
            float e = 0.0f;
            if (d->act == SC_ADDATT_RELU) {
#pragma omp simd reduction(+ : e)
                for (int a = 0; a < A; a++) {
                    float z = pr[a] + dec[a];
                    float y = z > 0 ? z : 0.0f;
                    ur[a] = y;
                    e += y * fw[a];
                }
            } else {
                for (int a = 0; a < A; a++) {
                    float y = tanhf(pr[a] + dec[a]);
                    ur[a] = y;
                    e += y * fw[a];
                }
            }
            al[(size_t)b * P + p] = e + fb; /* logits for now */
        }
        /* softmax over P */
        float *ab = al + (size_t)b * P;
        float mx = ab[0];
        for (int p = 1; p < P; p++) mx = ab[p] > mx ? ab[p] : mx;
        double s = 0;
        for (int p = 0; p < P; p++) {
            ab[p] = expf(ab[p] - mx);
            s += ab[p];
        }
        for (int p = 0; p < P; p++) ab[p] = (float)(ab[p] / s);
        /* context: rows of the features, weighted (contiguous, vectorised) */
        const float *fbp = features + (size_t)b * P * E;
        float *cb = context + (size_t)b * E;
        memset(cb, 0, (size_t)E * sizeof(float));
        for (int p = 0; p < P; p++) {
            const float ap = ab[p], *fr = fbp + (size_t)p * E;
#pragma omp simd
            for (int e = 0; e < E; e++) cb[e] += ap * fr[e];
        }
    }
    if (alpha) memcpy(alpha, al, (size_t)B * P * sizeof(float));
    return SC_OK;
}

sc_status sc_addatt_step_backward(const sc_addatt_desc *d, const float *features,
                                  const float *hidden, const sc_addatt_weights *w,
                                  const float *cache, const float *dcontext, const float *dalpha,
                                  float *dfeatures, float *dproj, float *dhidden,
                                  sc_addatt_grads *g) {
    const char *fn = "sc_addatt_step_backward";
    sc_status st = check_desc(fn, d);
    if (st) return st;
    if (!features || !hidden || !w || !cache || !w->decoder_att_weight || !w->full_att_weight)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: NULL features, hidden, weights (decoder_att/full_att) or cache",
                            fn);
    const int B = d->B, P = d->P, E = d->E, H = d->H, A = d->A;
    const float *u = cache, *al = cache + (size_t)B * P * A;
    /* Scratch is per batch row only: dz (B, P, A) is never stored. Each row's
     * pass over its P cells adds dz to dproj and sums ddec = sum_p dz and
     * dW_full's share sum_p de u at once (one read of u, one of dproj); the
     * rows' sums are added in row order afterwards (deterministic). */
    float *de = sc_malloc((size_t)B * P * sizeof(float));
    float *ddec = sc_malloc((size_t)B * A * sizeof(float));
    float *dwf = sc_malloc((size_t)B * A * sizeof(float));
    if (!de || !ddec || !dwf) {
        sc_free(de), sc_free(ddec), sc_free(dwf);
        return sc_set_error(SC_ERR_NOMEM, "%s: no memory for scratch", fn);
    }
    const float *fw = w->full_att_weight;
    const int relu = d->act == SC_ADDATT_RELU;
#pragma omp parallel for schedule(static) if ((size_t)B * P * A > 32768)
    for (int b = 0; b < B; b++) {
        const float *ab = al + (size_t)b * P, *fbp = features + (size_t)b * P * E;
        float *deb = de + (size_t)b * P;
        /* dalpha_total = dalpha + f . dcontext; dfeatures += alpha dcontext */
        double dot = 0;
        for (int p = 0; p < P; p++) {
            double da = dalpha ? dalpha[(size_t)b * P + p] : 0.0;
            if (dcontext) {
                const float *dc = dcontext + (size_t)b * E, *fr = fbp + (size_t)p * E;
                float dd = 0.0f;
#pragma omp simd reduction(+ : dd)
                for (int e = 0; e < E; e++) dd += dc[e] * fr[e];
                da += dd;
                if (dfeatures) {
                    float *dfr = dfeatures + ((size_t)b * P + p) * E;
                    for (int e = 0; e < E; e++) dfr[e] += ab[p] * dc[e];
                }
            }
            deb[p] = (float)da;
            dot += da * ab[p];
        }
        /* softmax backward: de = alpha (dalpha - sum dalpha alpha) */
        for (int p = 0; p < P; p++) deb[p] = (float)(ab[p] * (deb[p] - dot));
        /* dz = de * w_full * act'(u), consumed in place */
        float *dd = ddec + (size_t)b * A, *wf = dwf + (size_t)b * A;
        memset(dd, 0, (size_t)A * sizeof(float));
        memset(wf, 0, (size_t)A * sizeof(float));
        for (int p = 0; p < P; p++) {
            const float *ur = u + ((size_t)b * P + p) * A;
            const float dep = deb[p];
            float *dpr = dproj ? dproj + ((size_t)b * P + p) * A : NULL;
            if (dpr) {
#pragma omp simd
                for (int a = 0; a < A; a++) {
                    const float y = ur[a];
                    const float dz = dep * fw[a] * (relu ? (y > 0.0f ? 1.0f : 0.0f) : 1.0f - y * y);
                    dpr[a] += dz;
                    dd[a] += dz;
                    wf[a] += dep * y;
                }
            } else {
#pragma omp simd
                for (int a = 0; a < A; a++) {
                    const float y = ur[a];
                    dd[a] += dep * fw[a] * (relu ? (y > 0.0f ? 1.0f : 0.0f) : 1.0f - y * y);
                    wf[a] += dep * y;
                }
            }
        }
    }
    if (g && g->full_att_weight) /* dW_full (1, A) += sum over rows of de^T u */
        for (int b = 0; b < B; b++)
            for (int a = 0; a < A; a++) g->full_att_weight[a] += dwf[(size_t)b * A + a];
    if (g && g->full_att_bias) {
        double s = 0;
        for (size_t i = 0; i < (size_t)B * P; i++) s += de[i];
        g->full_att_bias[0] += (float)s;
    }
    if (dhidden)
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, B, H, A, 1.0f, ddec, A, w->decoder_att_weight, H, 1.0f,
                 dhidden, H);
    if (g && g->decoder_att_weight)
        sc_sgemm(SC_TRANS, SC_NO_TRANS, A, H, B, 1.0f, ddec, A, hidden, H, 1.0f,
                 g->decoder_att_weight, H);
    if (g && g->decoder_att_bias)
        for (int a = 0; a < A; a++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += ddec[(size_t)b * A + a];
            g->decoder_att_bias[a] += (float)s;
        }
    sc_free(de), sc_free(ddec), sc_free(dwf);
    return SC_OK;
}

sc_status sc_addatt_forward(const sc_addatt_desc *d, const float *features, const float *hidden,
                            const sc_addatt_weights *w, float *context, float *alpha,
                            float *cache) {
    const char *fn = "sc_addatt_forward";
    sc_status st = check_desc(fn, d);
    if (st) return st;
    if (!cache) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL cache", fn);
    float *proj = cache + sc_addatt_step_cache_floats(d);
    st = sc_addatt_precompute(d, features, w, proj);
    if (st) return st;
    return sc_addatt_step_forward(d, features, proj, hidden, w, context, alpha, cache);
}

sc_status sc_addatt_backward(const sc_addatt_desc *d, const float *features, const float *hidden,
                             const sc_addatt_weights *w, const float *cache, const float *dcontext,
                             const float *dalpha, float *dfeatures, float *dhidden,
                             sc_addatt_grads *g) {
    const char *fn = "sc_addatt_backward";
    sc_status st = check_desc(fn, d);
    if (st) return st;
    if (!features || !w || !w->encoder_att_weight || !cache)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL features, weights or cache", fn);
    size_t n = (size_t)d->B * d->P * d->A;
    float *dproj = sc_calloc(n, sizeof(float));
    if (!dproj) return sc_set_error(SC_ERR_NOMEM, "%s: no memory for scratch", fn);
    st = sc_addatt_step_backward(d, features, hidden, w, cache, dcontext, dalpha, dfeatures, dproj,
                                 dhidden, g);
    if (!st) st = sc_addatt_precompute_backward(d, features, w, dproj, dfeatures, g);
    sc_free(dproj);
    return st;
}

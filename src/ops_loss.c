/* Cross-entropy from logits with integer targets (F.cross_entropy). */
#include <math.h>
#include <string.h>
#include "saccade/sc_ops.h"
#include "sc_internal.h"

sc_status sc_cross_entropy(const float *logits, const int32_t *targets, int N, int C,
                           const sc_ce_opts *opts, float *loss, const float *dloss,
                           float *dlogits) {
    const char *fn = "sc_cross_entropy";
    static const sc_ce_opts defaults = SC_CE_OPTS_DEFAULT;
    if (!opts) opts = &defaults;
    if (!logits || !targets || !loss)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: logits, targets and loss must not be NULL",
                            fn);
    if (N <= 0 || C <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: N (%d) and C (%d) must be > 0", fn, N, C);
    size_t t;
    if (sc_mul_size((size_t)N, (size_t)C, &t) || sc_mul_size(t, sizeof(float), &t))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    const sc_reduction red = opts->reduction;
    if (red != SC_REDUCE_MEAN && red != SC_REDUCE_SUM && red != SC_REDUCE_NONE)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: unknown reduction %d", fn, (int)red);
    const float eps = opts->label_smoothing;
    if (!(eps >= 0.0f && eps <= 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: label_smoothing %g is outside [0, 1]", fn,
                            (double)eps);
    const float *w = opts->sample_weight;
    const int ign = opts->ignore_index;
    for (int i = 0; i < N; i++) {
        if (targets[i] == ign) continue;
        if (targets[i] < 0 || targets[i] >= C)
            return sc_set_error(
                SC_ERR_INVALID_ARG,
                "%s: targets[%d] = %d is outside [0, %d) and is not ignore_index %d", fn, i,
                (int)targets[i], C, ign);
        if (w && !(w[i] >= 0.0f && isfinite(w[i])))
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "%s: sample_weight[%d] = %g must be finite and >= 0", fn, i,
                                (double)w[i]);
    }

    /* Per-sample pass: loss l_i (unweighted) and logsumexp kept for backward.
     * Serial over rows with double accumulation: deterministic. */
    double total = 0.0, denom = 0.0;
    for (int i = 0; i < N; i++) {
        if (targets[i] == ign) {
            if (red == SC_REDUCE_NONE) loss[i] = 0.0f;
            continue;
        }
        const float *x = logits + (size_t)i * C;
        float mx = x[0];
        for (int c = 1; c < C; c++) mx = x[c] > mx ? x[c] : mx;
        double s = 0.0, sumx = 0.0;
        for (int c = 0; c < C; c++) {
            s += exp((double)x[c] - mx);
            sumx += (double)x[c] - mx;
        }
        double lse = log(s); /* relative to mx */
        double nll = lse - ((double)x[targets[i]] - mx);
        double li = nll;
        if (eps > 0.0f) li = (1.0 - eps) * nll + eps * (lse - sumx / C);
        double wi = w ? w[i] : 1.0;
        if (red == SC_REDUCE_NONE) loss[i] = (float)(wi * li);
        total += wi * li;
        denom += wi;
    }
    if (red == SC_REDUCE_SUM) *loss = (float)total;
    if (red == SC_REDUCE_MEAN) *loss = denom > 0.0 ? (float)(total / denom) : 0.0f;
    if (!dlogits) return SC_OK;
    if (red == SC_REDUCE_MEAN && !(denom > 0.0)) return SC_OK; /* documented: zero gradient */

    const double up0 = dloss ? dloss[0] : 1.0;
#pragma omp parallel for schedule(static) if ((size_t)N * C > 32768)
    for (int i = 0; i < N; i++) {
        if (targets[i] == ign) continue;
        double coef = w ? w[i] : 1.0;
        if (red == SC_REDUCE_NONE)
            coef *= dloss ? dloss[i] : 1.0;
        else
            coef *= up0;
        if (red == SC_REDUCE_MEAN) coef /= denom;
        const float *x = logits + (size_t)i * C;
        float *d = dlogits + (size_t)i * C;
        float mx = x[0];
        for (int c = 1; c < C; c++) mx = x[c] > mx ? x[c] : mx;
        double s = 0.0;
        for (int c = 0; c < C; c++) s += exp((double)x[c] - mx);
        double inv = 1.0 / s, off = eps / (double)C;
        for (int c = 0; c < C; c++) {
            double g = exp((double)x[c] - mx) * inv - off;
            if (c == targets[i]) g -= 1.0 - eps;
            d[c] += (float)(coef * g);
        }
    }
    return SC_OK;
}

/* Mass of map a inside mask mk (P cells) into *in; 0 if the mask is all zero. */
static int masked_mass(const float *a, const uint8_t *mk, int P, double *in) {
    int any = 0;
    *in = 0;
    for (int p = 0; p < P; p++)
        if (mk[p]) *in += a[p], any = 1;
    return any;
}

sc_status sc_mask_mass_nll(const float *maps, const uint8_t *masks, int n, int P, float w,
                           double *loss, int *count, float *dmaps) {
    if (!maps || !masks || !loss || n < 0 || P <= 0 || !(w >= 0.0f) || !isfinite(w))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_mask_mass_nll: bad arguments (n %d, P %d, w %g)", n, P, (double)w);
    int masked = 0;
    double sum = 0, in;
    for (int i = 0; i < n; i++) /* pass 1: the loss and the number of masked maps */
        if (masked_mass(maps + (size_t)i * P, masks + (size_t)i * P, P, &in)) {
            masked++;
            sum -= log(in + SC_MASK_MASS_EPS);
        }
    *loss = masked ? w * sum / masked : 0.0;
    if (count) *count = masked;
    if (!dmaps) return SC_OK;
    memset(dmaps, 0, (size_t)n * P * sizeof(float));
    for (int i = 0; masked && i < n; i++) { /* pass 2: the gradient (needs the count) */
        const uint8_t *mk = masks + (size_t)i * P;
        if (!masked_mass(maps + (size_t)i * P, mk, P, &in)) continue;
        float g = (float)(-w / ((double)masked * (in + SC_MASK_MASS_EPS)));
        for (int p = 0; p < P; p++)
            if (mk[p]) dmaps[(size_t)i * P + p] = g;
    }
    return SC_OK;
}

/* Hard (stochastic) attention by sampling, for REINFORCE experiments. */
#include <math.h>
#include "saccade/sc_attention.h"
#include "attn_internal.h"
#include "sc_internal.h"

sc_status sc_hard_attention_sample(int B, int P, const float *alpha, sc_rng *rng, int32_t *idx,
                                   float *logp, const float *scale, float *dlogits) {
    const char *fn = "sc_hard_attention_sample";
    if (B <= 0 || P <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: B=%d and P=%d must be > 0", fn, B, P);
    if (!attn_prod(2, (long long[]){B, P}))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    if (!alpha || !rng || !idx)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL alpha, rng or idx", fn);
    for (int b = 0; b < B; b++) { /* validate everything before writing anything */
        const float *a = alpha + (size_t)b * P;
        double s = 0;
        for (int p = 0; p < P; p++) {
            if (!(a[p] >= 0.0f) || !isfinite(a[p]))
                return sc_set_error(SC_ERR_INVALID_ARG,
                                    "%s: alpha[%d, %d] = %g is negative or not finite", fn, b, p,
                                    (double)a[p]);
            s += a[p];
        }
        if (!(s > 0))
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: row %d of alpha sums to 0", fn, b);
    }
    for (int b = 0; b < B; b++) {
        const float *a = alpha + (size_t)b * P;
        double s = 0;
        for (int p = 0; p < P; p++) s += a[p];
        double u = (double)sc_rng_uniform(rng) * s, c = 0;
        int k = -1, last = 0;
        for (int p = 0; p < P; p++) {
            if (a[p] > 0) last = p;
            c += a[p];
            if (k < 0 && a[p] > 0 && u < c) k = p;
        }
        if (k < 0) k = last; /* u rounded up to the total */
        idx[b] = k;
        if (logp) logp[b] = (float)log(a[k] / s);
        if (dlogits) {
            float sc = scale ? scale[b] : 1.0f;
            float *g = dlogits + (size_t)b * P;
            for (int p = 0; p < P; p++) g[p] += (float)(sc * ((p == k) - a[p] / s));
        }
    }
    return SC_OK;
}

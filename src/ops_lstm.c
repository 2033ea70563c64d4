/* LSTM cell (PyTorch nn.LSTMCell semantics), forward and backward. */
#include <math.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_ops.h"
#include "sc_internal.h"

static inline float sigmoidf(float v) {
    return 1.0f / (1.0f + expf(-v));
}

static sc_status check_dims(const char *fn, int B, int I, int H) {
    if (B <= 0 || I <= 0 || H <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: B (%d), I (%d) and H (%d) must be > 0", fn, B,
                            I, H);
    /* The largest buffers are (4H, I), (4H, H) and (B, 5H) floats; gemm takes
     * int strides, so 5H and 4H must fit an int. */
    size_t t;
    if ((size_t)H > (size_t)(INT32_MAX / 5) || sc_mul_size((size_t)B, (size_t)H * 5, &t) ||
        sc_mul_size(t, sizeof(float), &t) || sc_mul_size((size_t)H * 4, (size_t)I, &t) ||
        sc_mul_size(t, sizeof(float), &t) || sc_mul_size((size_t)H * 4, (size_t)H, &t) ||
        sc_mul_size(t, sizeof(float), &t))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return SC_OK;
}

sc_status sc_lstm_cell_forward(int B, int I, int H, const float *x, const float *h_prev,
                               const float *c_prev, const float *w_ih, const float *w_hh,
                               const float *b_ih, const float *b_hh, float *h_out, float *c_out,
                               float *cache) {
    const char *fn = "sc_lstm_cell_forward";
    sc_status st = check_dims(fn, B, I, H);
    if (st != SC_OK) return st;
    if (!x || !w_ih || !w_hh || !h_out || !c_out)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: x, w_ih, w_hh, h_out and c_out must not be NULL", fn);
    float *scratch = NULL;
    if (!cache) {
        scratch = sc_malloc(SC_LSTM_CACHE_FLOATS(B, H) * sizeof(float));
        if (!scratch) return SC_ERR_NOMEM;
        cache = scratch;
    }
    const int ld = 5 * H, G = 4 * H;
    /* Pre-activations straight into the gate part of the cache (ldc = 5H). */
    sc_sgemm(SC_NO_TRANS, SC_TRANS, B, G, I, 1.0f, x, I, w_ih, I, 0.0f, cache, ld);
    if (h_prev) sc_sgemm(SC_NO_TRANS, SC_TRANS, B, G, H, 1.0f, h_prev, H, w_hh, H, 1.0f, cache, ld);
#pragma omp parallel for schedule(static) if ((size_t)B * H > 16384)
    for (int b = 0; b < B; b++) {
        float *gt = cache + (size_t)b * ld;
        for (int j = 0; j < G; j++) {
            float v = gt[j];
            if (b_ih) v += b_ih[j];
            if (b_hh) v += b_hh[j];
            gt[j] = v;
        }
        float *gi = gt, *gf = gt + H, *gg = gt + 2 * H, *go = gt + 3 * H, *tc = gt + 4 * H;
        const float *cp = c_prev ? c_prev + (size_t)b * H : NULL;
        float *co = c_out + (size_t)b * H, *ho = h_out + (size_t)b * H;
        for (int j = 0; j < H; j++) {
            float i = sigmoidf(gi[j]), f = sigmoidf(gf[j]), g = tanhf(gg[j]), o = sigmoidf(go[j]);
            float c = i * g + (cp ? f * cp[j] : 0.0f);
            float t = tanhf(c);
            gi[j] = i;
            gf[j] = f;
            gg[j] = g;
            go[j] = o;
            tc[j] = t;
            co[j] = c;
            ho[j] = o * t;
        }
    }
    sc_free(scratch);
    return SC_OK;
}

sc_status sc_lstm_cell_backward(int B, int I, int H, const float *x, const float *h_prev,
                                const float *c_prev, const float *w_ih, const float *w_hh,
                                const float *cache, const float *dh_out, const float *dc_out,
                                float *dx, float *dh_prev, float *dc_prev, float *dw_ih,
                                float *dw_hh, float *db_ih, float *db_hh) {
    const char *fn = "sc_lstm_cell_backward";
    sc_status st = check_dims(fn, B, I, H);
    if (st != SC_OK) return st;
    if (!x || !w_ih || !w_hh || !cache)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: x, w_ih, w_hh and cache must not be NULL", fn);
    const int ld = 5 * H, G = 4 * H;
    float *dg = sc_malloc((size_t)B * G * sizeof(float)); /* dL/d(pre-activation gates) */
    if (!dg) return SC_ERR_NOMEM;
#pragma omp parallel for schedule(static) if ((size_t)B * H > 16384)
    for (int b = 0; b < B; b++) {
        const float *gt = cache + (size_t)b * ld;
        const float *gi = gt, *gf = gt + H, *gg = gt + 2 * H, *go = gt + 3 * H, *tc = gt + 4 * H;
        const float *dh = dh_out ? dh_out + (size_t)b * H : NULL;
        const float *dcn = dc_out ? dc_out + (size_t)b * H : NULL;
        const float *cp = c_prev ? c_prev + (size_t)b * H : NULL;
        float *d = dg + (size_t)b * G;
        for (int j = 0; j < H; j++) {
            float i = gi[j], f = gf[j], g = gg[j], o = go[j], t = tc[j];
            float dhj = dh ? dh[j] : 0.0f;
            float dc = (dcn ? dcn[j] : 0.0f) + dhj * o * (1.0f - t * t);
            float cpj = cp ? cp[j] : 0.0f;
            d[j] = dc * g * i * (1.0f - i);
            d[H + j] = dc * cpj * f * (1.0f - f);
            d[2 * H + j] = dc * i * (1.0f - g * g);
            d[3 * H + j] = dhj * t * o * (1.0f - o);
            if (dc_prev) dc_prev[(size_t)b * H + j] += dc * f;
        }
    }
    if (dx) sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, B, I, G, 1.0f, dg, G, w_ih, I, 1.0f, dx, I);
    if (dh_prev)
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, B, H, G, 1.0f, dg, G, w_hh, H, 1.0f, dh_prev, H);
    if (dw_ih) sc_sgemm(SC_TRANS, SC_NO_TRANS, G, I, B, 1.0f, dg, G, x, I, 1.0f, dw_ih, I);
    if (dw_hh && h_prev)
        sc_sgemm(SC_TRANS, SC_NO_TRANS, G, H, B, 1.0f, dg, G, h_prev, H, 1.0f, dw_hh, H);
    if (db_ih || db_hh) {
#pragma omp parallel for schedule(static) if ((size_t)B * G > 65536)
        for (int j = 0; j < G; j++) {
            double s = 0.0;
            for (int b = 0; b < B; b++) s += dg[(size_t)b * G + j];
            if (db_ih) db_ih[j] += (float)s;
            if (db_hh) db_hh[j] += (float)s;
        }
    }
    sc_free(dg);
    return SC_OK;
}
